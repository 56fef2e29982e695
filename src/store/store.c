/*
 * store.c: connection pool, statement cache, group-commit writer and
 * migrations over a backend (see store.h for the model, backend.h for the
 * backend contract).
 *
 * Invariants:
 *  - Only the writer thread uses s->wconn, and only inside a group transaction
 *    (or a migration job, which is a group like any other).
 *  - A job's result is published (done flag / callback) only after COMMIT
 *    returned, i.e. after the backend's fsync.
 *  - Statements are owned by their connection; the cache never holds a
 *    statement that is in use (mm_stmt_done returns it).
 *  - The companion registry of a primary only grows while it is open; a read
 *    connection attaches entries [nattached, ncomp) when it is acquired.
 *  - WAL checkpoints of a primary run on its checkpointer thread with a
 *    connection of their own, never inside a group commit (see sqlite.c).
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "store/backend.h"

#define STMT_SLOTS 256
#define DETAIL_LEN 256
#define MAX_COMPANIONS 4
#define COMPANION_NAME 32
/* Least time between two background checkpoints: each ends with an fsync
 * of the database file, which competes with the writer's log fsyncs. */
#define CKPT_GAP_NS 20000000L
/* A primary's group commit whose commit phase (the fsync) took longer than
 * this, or whose whole took ten times as long, is logged with its phases:
 * every request waiting on the writer waited that long. */
#define SLOW_GROUP_NS 50000000LL

struct mm_stmt {
	mm_db *db;
	void *h;
	const char *sql;
	bool cached;
};

struct mm_db {
	const mm_backend *be;
	void *conn;
	mm_stmt slots[STMT_SLOTS];
	mm_db *next_free;
	unsigned nattached;         /* companions attached, in registry order */
};

struct job {
	mm_store_job_fn fn;
	void *arg;
	mm_store_done_fn done;
	void *done_arg;
	mm_err rc;
	bool finished;
	char detail[DETAIL_LEN];
	struct job *next;
};

struct hook {
	mm_store_pre_fn pre;
	mm_store_post_fn post;
	void *arg;
};

struct mm_store {
	const mm_backend *be;
	mm_store_opts opts;
	char dir[PATH_MAX];
	char path[PATH_MAX];

	/* Companions (under pool_mu): name and file of each ever opened. */
	char comp_name[MAX_COMPANIONS][COMPANION_NAME];
	char comp_path[MAX_COMPANIONS][PATH_MAX];
	unsigned ncomp;

	bool want_idle;             /* companion: see apply_background */

	/* Checkpointer (primary only): woken by commits, under mu. */
	pthread_t ckpt;
	bool ckpt_started;
	pthread_cond_t ckpt_cv;
	uint64_t commits;

	pthread_mutex_t pool_mu;
	mm_db *free_list;

	mm_db *writer_db;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	pthread_cond_t done_cv;
	struct job *head, *tail;
	bool stopping;

	struct hook hooks[8];
	size_t nhooks;

	mm_store_stats stats;
};

/* ---- connections ---- */

static mm_err db_open(mm_store *s, bool writer, mm_db **ret)
{
	mm_db *db = calloc(1, sizeof(*db));
	mm_err rc;

	if (db == NULL)
		return MM_ERR_NOMEM;
	db->be = s->be;
	if ((rc = s->be->open(&s->opts, s->path, writer, &db->conn)) != MM_OK) {
		free(db);
		return rc;
	}
	*ret = db;
	return MM_OK;
}

static void db_close(mm_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < STMT_SLOTS; i++)
		if (db->slots[i].h != NULL)
			db->be->finalize(db->slots[i].h);
	db->be->close(db->conn);
	free(db);
}

/* Attaches the companions registered since db last looked (the registry is
 * append-only, so entries below ncomp never change). */
static mm_err attach_new(mm_store *s, mm_db *db)
{
	char name[COMPANION_NAME], path[PATH_MAX];
	mm_err rc;

	for (;;) {
		pthread_mutex_lock(&s->pool_mu);
		if (db->nattached >= s->ncomp) {
			pthread_mutex_unlock(&s->pool_mu);
			return MM_OK;
		}
		memcpy(name, s->comp_name[db->nattached], sizeof(name));
		memcpy(path, s->comp_path[db->nattached], sizeof(path));
		pthread_mutex_unlock(&s->pool_mu);
		if ((rc = s->be->attach(db->conn, path, name, false)) != MM_OK)
			return rc;
		db->nattached++;
	}
}

mm_err mm_store_acquire(mm_store *s, mm_db **ret)
{
	mm_db *db;
	unsigned ncomp;
	mm_err rc;

	pthread_mutex_lock(&s->pool_mu);
	db = s->free_list;
	if (db != NULL)
		s->free_list = db->next_free;
	ncomp = s->ncomp;
	pthread_mutex_unlock(&s->pool_mu);
	if (db == NULL && (rc = db_open(s, false, &db)) != MM_OK)
		return rc;
	db->next_free = NULL;
	/* Usually nothing new: no second trip through the pool's lock. */
	if (db->nattached < ncomp && (rc = attach_new(s, db)) != MM_OK) {
		db_close(db);
		return rc;
	}
	*ret = db;
	return MM_OK;
}

void mm_store_release(mm_store *s, mm_db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&s->pool_mu);
	db->next_free = s->free_list;
	s->free_list = db;
	pthread_mutex_unlock(&s->pool_mu);
}

mm_err mm_db_begin(mm_db *db)
{
	return db->be->exec(db->conn, "BEGIN");
}

mm_err mm_db_commit(mm_db *db)
{
	return db->be->exec(db->conn, "COMMIT");
}

void mm_db_rollback(mm_db *db)
{
	(void)db->be->exec(db->conn, "ROLLBACK");
}

mm_err mm_db_exec(mm_db *db, const char *sql)
{
	return db->be->exec(db->conn, sql);
}

int64_t mm_db_changes(mm_db *db)
{
	return db->be->changes(db->conn);
}

static size_t slot_of(const char *sql)
{
	uintptr_t v = (uintptr_t)sql;

	v ^= v >> 17;
	v *= 0x9E3779B97F4A7C15ULL;
	return (size_t)(v >> 56) % STMT_SLOTS;
}

mm_err mm_db_prepare(mm_db *db, const char *sql, mm_stmt **ret)
{
	size_t i = slot_of(sql);
	mm_stmt *st;
	mm_err rc;

	for (size_t probe = 0; probe < 8; probe++) {
		st = &db->slots[(i + probe) % STMT_SLOTS];
		if (st->h != NULL && st->sql == sql) {
			*ret = st;
			return MM_OK;
		}
		if (st->h == NULL) {
			if ((rc = db->be->prepare(db->conn, sql, &st->h)) != MM_OK)
				return rc;
			st->db = db;
			st->sql = sql;
			st->cached = true;
			*ret = st;
			return MM_OK;
		}
	}
	/* The probe window is full: a heap statement freed by mm_stmt_done. */
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return MM_ERR_NOMEM;
	if ((rc = db->be->prepare(db->conn, sql, &st->h)) != MM_OK) {
		free(st);
		return rc;
	}
	st->db = db;
	st->sql = sql;
	*ret = st;
	return MM_OK;
}

mm_err mm_stmt_bind_int(mm_stmt *st, int i, int64_t v)
{
	return st->db->be->bind_int(st->h, i, v);
}

mm_err mm_stmt_bind_text(mm_stmt *st, int i, const char *s)
{
	return st->db->be->bind_text(st->h, i, s);
}

mm_err mm_stmt_bind_blob(mm_stmt *st, int i, const void *p, size_t n)
{
	return st->db->be->bind_blob(st->h, i, p, n);
}

mm_err mm_stmt_bind_null(mm_stmt *st, int i)
{
	return st->db->be->bind_null(st->h, i);
}

mm_err mm_stmt_step(mm_stmt *st, bool *ret_row)
{
	return st->db->be->step(st->h, ret_row);
}

mm_err mm_stmt_run(mm_stmt *st)
{
	bool row;
	mm_err rc;

	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
		;
	return rc;
}

int64_t mm_stmt_int(mm_stmt *st, int col)
{
	return st->db->be->col_int(st->h, col);
}

const char *mm_stmt_text(mm_stmt *st, int col)
{
	return st->db->be->col_text(st->h, col);
}

const void *mm_stmt_blob(mm_stmt *st, int col, size_t *ret_len)
{
	return st->db->be->col_blob(st->h, col, ret_len);
}

bool mm_stmt_is_null(mm_stmt *st, int col)
{
	return st->db->be->col_null(st->h, col);
}

void mm_stmt_done(mm_stmt *st)
{
	if (st == NULL)
		return;
	st->db->be->reset(st->h);
	if (!st->cached) {
		st->db->be->finalize(st->h);
		free(st);
	}
}

/* ---- writer ---- */

static void finish(mm_store *s, struct job *j, mm_err rc)
{
	j->rc = rc;
	if (rc != MM_OK && j->detail[0] == '\0')
		snprintf(j->detail, sizeof(j->detail), "%s", mm_err_detail(rc));
	if (j->done != NULL) {
		j->done(rc, j->detail, j->done_arg);
		free(j);
		return;
	}
	pthread_mutex_lock(&s->mu);
	j->finished = true;
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->mu);
}

/* Runs a fixed statement through the statement cache: the writer issues a
 * savepoint and its release for every job and a BEGIN and COMMIT for every
 * group, and parsing them each time (sqlite3_exec, ~10,000 instructions a
 * group) showed up in profiles of single-event writes. */
static mm_err run_fixed(mm_db *db, const char *sql)
{
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

static const char sql_begin[] = "BEGIN IMMEDIATE";
/* A companion's group: BEGIN IMMEDIATE would also open a transaction on the
 * attached primary and hold a snapshot of it until the commit, whether the
 * jobs read it or not; the companion has no other writer to race with. */
static const char sql_begin_deferred[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_rollback_to[] = "ROLLBACK TO job";
static const char sql_release[] = "RELEASE job";

static size_t hist_bucket(int64_t ns)
{
	static const double bounds[] = MM_STORE_HIST_BOUNDS;
	size_t i = 0;

	while (i < MM_STORE_HIST_N - 1 && (double)ns > bounds[i] * 1e9)
		i++;
	return i;
}

static void run_group(mm_store *s, struct job *list)
{
	mm_db *db = s->writer_db;
	mm_err grc;
	struct job *j, *next;
	size_t n = 0;

	int64_t t0 = mm_time_mono_ns(), t1, t2, t3;

	grc = run_fixed(db, s->opts.companion ? sql_begin_deferred : sql_begin);
	for (j = list; j != NULL; j = j->next) {
		n++;
		if (grc != MM_OK) {
			j->rc = grc;
			continue;
		}
		mm_err_clear();
		if ((j->rc = run_fixed(db, sql_savepoint)) != MM_OK)
			continue;
		j->rc = j->fn(db, j->arg);
		if (j->rc != MM_OK) {
			snprintf(j->detail, sizeof(j->detail), "%s", mm_err_detail(j->rc));
			(void)run_fixed(db, sql_rollback_to);
		}
		(void)run_fixed(db, sql_release);
	}
	t1 = t2 = mm_time_mono_ns();
	if (grc == MM_OK) {
		for (size_t i = 0; i < s->nhooks && grc == MM_OK; i++)
			if (s->hooks[i].pre != NULL)
				grc = s->hooks[i].pre(db, s->hooks[i].arg);
		t2 = mm_time_mono_ns();
		if (grc == MM_OK)
			grc = run_fixed(db, sql_commit);
		if (grc != MM_OK) {
			mm_logf(MM_LOG_ERROR, "store.group_failed", "%s", mm_err_detail(grc));
			(void)run_fixed(db, sql_rollback);
		}
	}
	t3 = mm_time_mono_ns();
	for (size_t i = 0; i < s->nhooks; i++)
		if (s->hooks[i].post != NULL)
			s->hooks[i].post(grc, s->hooks[i].arg);
	/* A slow commit phase is the disk (fsync); slow jobs alone are usually
	 * large batches, and a companion's groups are large by design. */
	if (!s->opts.companion && (t3 - t2 > SLOW_GROUP_NS || t3 - t0 > 10 * SLOW_GROUP_NS))
		mm_logf(MM_LOG_WARN, "store.slow_group",
			"%zu jobs, %.1f ms (jobs %.1f, hooks %.1f, commit %.1f)", n,
			(double)(t3 - t0) / 1e6, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
			(double)(t3 - t2) / 1e6);
	pthread_mutex_lock(&s->mu);
	s->stats.groups++;
	s->stats.jobs += n;
	s->stats.group_ns += (uint64_t)(t3 - t0);
	s->stats.commit_ns += (uint64_t)(t3 - t2);
	s->stats.group_hist[hist_bucket(t3 - t0)]++;
	s->stats.commit_hist[hist_bucket(t3 - t2)]++;
	if (grc != MM_OK)
		s->stats.failed_groups++;
	else
		s->commits++;
	if (s->ckpt_started)
		pthread_cond_signal(&s->ckpt_cv);
	pthread_mutex_unlock(&s->mu);
	for (j = list; j != NULL; j = next) {
		next = j->next;
		if (grc != MM_OK && j->rc == MM_OK) {
			snprintf(j->detail, sizeof(j->detail), "the database could not commit");
			finish(s, j, MM_ERR_STORE);
		} else {
			finish(s, j, j->rc);
		}
	}
}

/* A companion's writer runs only on otherwise idle CPU (SCHED_IDLE), unless
 * its owner asked it to catch up (mm_store_set_idle false): then as a normal
 * thread at nice 10. Even nice 10 alone woke up often enough between request
 * threads on a saturated CPU to cost the access-check benchmark about half a
 * millisecond of p99. Linux scheduling attributes are per thread; *cur is
 * this thread's state. Leaving SCHED_IDLE needs RLIMIT_NICE >= 10 (systemd:
 * LimitNICE=+10) or CAP_SYS_NICE; without either the writer stays idle-only
 * and says so once. */
static void apply_background(mm_store *s, bool *cur, bool *warned)
{
	bool want = __atomic_load_n(&s->want_idle, __ATOMIC_RELAXED);
	struct sched_param sp = { 0 };

	if (want == *cur)
		return;
	if (sched_setscheduler(0, want ? SCHED_IDLE : SCHED_OTHER, &sp) != 0) {
		if (!*warned)
			mm_logf(MM_LOG_WARN, "store.background_priority",
				"cannot leave idle-only scheduling (%s): allow nice 10 with "
				"RLIMIT_NICE (systemd LimitNICE=+10) so that a companion can catch up "
				"under sustained load", strerror(errno));
		*warned = true;
		return;
	}
	*cur = want;
}

static void *writer_main(void *p)
{
	mm_store *s = p;

	bool idle = false, warned = false;

	/* nice 10 first: SCHED_IDLE keeps it, and it is the level RLIMIT_NICE
	 * must allow for leaving SCHED_IDLE again. */
	if (s->opts.companion)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	for (;;) {
		struct job *list, *last;
		size_t n = 1;

		if (s->opts.companion)
			apply_background(s, &idle, &warned);
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (s->head == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		list = last = s->head;
		while (last->next != NULL && n < s->opts.max_group) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (s->head == NULL)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);
		run_group(s, list);
	}
	return NULL;
}

static mm_err enqueue(mm_store *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		if (s->opts.read_only)
			return mm_err_set(MM_ERR_UNAVAILABLE, "the store is open read-only");
		return mm_err_set(MM_ERR_UNAVAILABLE, "the store is closing");
	}
	j->next = NULL;
	if (s->tail != NULL)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	return MM_OK;
}

mm_err mm_store_write(mm_store *s, mm_store_job_fn fn, void *arg)
{
	struct job j;
	mm_err rc;

	memset(&j, 0, sizeof(j));
	j.fn = fn;
	j.arg = arg;
	if ((rc = enqueue(s, &j)) != MM_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	while (!j.finished)
		pthread_cond_wait(&s->done_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (j.rc != MM_OK)
		return mm_err_set(j.rc, "%s", j.detail);
	return MM_OK;
}

mm_err mm_store_write_async(mm_store *s, mm_store_job_fn fn, void *arg,
			    mm_store_done_fn done, void *done_arg)
{
	struct job *j = calloc(1, sizeof(*j));
	mm_err rc;

	if (j == NULL)
		return MM_ERR_NOMEM;
	j->fn = fn;
	j->arg = arg;
	j->done = done;
	j->done_arg = done_arg;
	if ((rc = enqueue(s, j)) != MM_OK)
		free(j);
	return rc;
}

static void *ckpt_main(void *p)
{
	mm_store *s = p;
	mm_db *db = NULL;
	uint64_t seen = 0;
	mm_err rc;

	if ((rc = db_open(s, false, &db)) != MM_OK) {
		/* The writer's own fallback checkpoints still bound the log. */
		mm_logf(MM_LOG_ERROR, "store.checkpointer_failed", "%s", mm_err_detail(rc));
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct timespec gap = { 0, CKPT_GAP_NS };
		int64_t c0;

		while (!s->stopping && s->commits == seen)
			pthread_cond_wait(&s->ckpt_cv, &s->mu);
		if (s->stopping)
			break;
		seen = s->commits;
		pthread_mutex_unlock(&s->mu);
		c0 = mm_time_mono_ns();
		if ((rc = s->be->checkpoint(db->conn)) != MM_OK)
			mm_logf(MM_LOG_WARN, "store.checkpoint_failed", "%s", mm_err_detail(rc));
		/* Slow checkpoints are slow fsyncs: commits in the same window
		 * usually show up as store.slow_group too. */
		if (mm_time_mono_ns() - c0 > SLOW_GROUP_NS)
			mm_logf(MM_LOG_WARN, "store.slow_checkpoint", "%.1f ms",
				(double)(mm_time_mono_ns() - c0) / 1e6);
		nanosleep(&gap, NULL);
		pthread_mutex_lock(&s->mu);
		s->stats.checkpoints++;
	}
	pthread_mutex_unlock(&s->mu);
	db_close(db);
	return NULL;
}

mm_err mm_store_add_group_hook(mm_store *s, mm_store_pre_fn pre, mm_store_post_fn post,
			       void *arg)
{
	if (s->nhooks == sizeof(s->hooks) / sizeof(s->hooks[0]))
		return mm_err_set(MM_ERR_LIMIT, "too many store hooks");
	s->hooks[s->nhooks].pre = pre;
	s->hooks[s->nhooks].post = post;
	s->hooks[s->nhooks].arg = arg;
	s->nhooks++;
	return MM_OK;
}

struct unhook {
	mm_store *s;
	void *arg;
};

static void unhook(mm_store *s, void *arg)
{
	size_t j = 0;

	for (size_t i = 0; i < s->nhooks; i++)
		if (s->hooks[i].arg != arg)
			s->hooks[j++] = s->hooks[i];
	s->nhooks = j;
}

static mm_err unhook_job(mm_db *db, void *p)
{
	struct unhook *u = p;

	/* On the writer thread, between jobs: the hook loops of this group
	 * read nhooks afresh, so they simply no longer see the hook. */
	unhook(u->s, u->arg);
	return MM_OK;
}

mm_err mm_store_remove_group_hooks(mm_store *s, void *arg)
{
	struct unhook u = { s, arg };

	if (!s->writer_started) {
		unhook(s, arg);
		return MM_OK;
	}
	return mm_store_write(s, unhook_job, &u);
}

void mm_store_get_stats(mm_store *s, mm_store_stats *ret)
{
	pthread_mutex_lock(&s->mu);
	*ret = s->stats;
	pthread_mutex_unlock(&s->mu);
}

/* ---- open / close ---- */

static void sqlite_global_setup(void)
{
	/* SQLite's memory statistics take a global mutex on every allocation;
	 * mamori does not read them. Must precede sqlite3_initialize(). */
	mm_backend_sqlite_global_setup();
}

static mm_err store_open(const mm_store_opts *opts, const char *file, const char *primary_path,
			 mm_store **ret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	mm_store *s;
	mm_err rc;

	if (opts->dir == NULL || opts->dir[0] == '\0')
		return mm_err_set(MM_ERR_CONFIG, "data directory not set");
	if (!opts->read_only && mkdir(opts->dir, 0700) != 0 && errno != EEXIST)
		return mm_err_set(MM_ERR_IO, "cannot create %s: %s", opts->dir, strerror(errno));
	pthread_once(&once, sqlite_global_setup);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return MM_ERR_NOMEM;
	s->be = &mm_backend_sqlite;
	s->opts = *opts;
	if (s->opts.max_group == 0)
		s->opts.max_group = 4096;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", opts->dir) >= sizeof(s->dir) ||
	    (size_t)snprintf(s->path, sizeof(s->path), "%s/%s", opts->dir, file) >= sizeof(s->path)) {
		free(s);
		return mm_err_set(MM_ERR_CONFIG, "data directory path too long");
	}
	s->opts.dir = NULL; /* not owned; never used after open */
	s->want_idle = s->opts.companion;
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	pthread_cond_init(&s->ckpt_cv, NULL);
	if (s->opts.read_only) {
		struct stat sb;
		mm_db *db = NULL;

		if (stat(s->path, &sb) != 0) {
			rc = mm_err_set(MM_ERR_IO, "cannot open %s: %s", s->path, strerror(errno));
			goto fail;
		}
		/* Open one reader now so that errors surface here. */
		if ((rc = db_open(s, false, &db)) != MM_OK)
			goto fail;
		s->free_list = db;
		s->stopping = true; /* refuses writes */
		*ret = s;
		return MM_OK;
	}
	if ((rc = db_open(s, true, &s->writer_db)) != MM_OK)
		goto fail;
	(void)chmod(s->path, 0600);
	if (primary_path != NULL &&
	    (rc = s->be->attach(s->writer_db->conn, primary_path, "primary_db", true)) != MM_OK)
		goto fail;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		rc = mm_err_set(MM_ERR_IO, "cannot start the writer thread");
		goto fail;
	}
	s->writer_started = true;
	/* Thread names (top -H, perf, /proc): at most 15 characters. */
	(void)pthread_setname_np(s->writer, s->opts.companion ? "mm-store-2nd" : "mm-store");
	if (!s->opts.companion && s->be->checkpoint != NULL) {
		if (pthread_create(&s->ckpt, NULL, ckpt_main, s) != 0) {
			rc = mm_err_set(MM_ERR_IO, "cannot start the checkpointer thread");
			goto fail;
		}
		s->ckpt_started = true;
		(void)pthread_setname_np(s->ckpt, "mm-checkpoint");
	}
	*ret = s;
	return MM_OK;
fail:
	mm_store_close(s);
	return rc;
}

mm_err mm_store_open(const mm_store_opts *opts, mm_store **ret)
{
	mm_store_opts o = *opts;

	o.companion = false;
	return store_open(&o, "mamori.db", NULL, ret);
}

static bool companion_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= COMPANION_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'))
			return false;
	return true;
}

mm_err mm_store_open_companion(mm_store *primary, const char *name,
				const mm_migration_set *schema, mm_store **ret)
{
	const mm_migration_set *sets[] = { schema };
	mm_store_opts o = { .dir = primary->dir, .sync_full = false, .companion = true,
			    .busy_timeout_ms = primary->opts.busy_timeout_ms };
	char file[COMPANION_NAME + 3];
	mm_store *c = NULL;
	unsigned i;
	mm_err rc;

	if (!companion_name_ok(name) || strcmp(name, "main") == 0 || strcmp(name, "temp") == 0)
		return mm_err_set(MM_ERR_INVALID, "bad companion name");
	if (primary->opts.read_only)
		return mm_err_set(MM_ERR_UNAVAILABLE, "the store is open read-only");
	snprintf(file, sizeof(file), "%s.db", name);
	if ((rc = store_open(&o, file, primary->path, &c)) != MM_OK)
		return rc;
	/* Migrated before it is registered: readers must never see it without
	 * its tables. */
	if (schema != NULL && (rc = mm_store_migrate(c, sets, 1)) != MM_OK) {
		mm_store_close(c);
		return rc;
	}
	pthread_mutex_lock(&primary->pool_mu);
	for (i = 0; i < primary->ncomp; i++)
		if (strcmp(primary->comp_name[i], name) == 0)
			break;
	if (i == primary->ncomp) {
		if (i == MAX_COMPANIONS) {
			pthread_mutex_unlock(&primary->pool_mu);
			mm_store_close(c);
			return mm_err_set(MM_ERR_LIMIT, "too many companion databases");
		}
		snprintf(primary->comp_name[i], COMPANION_NAME, "%s", name);
		snprintf(primary->comp_path[i], PATH_MAX, "%s", c->path);
		primary->ncomp++;
	}
	pthread_mutex_unlock(&primary->pool_mu);
	*ret = c;
	return MM_OK;
}

void mm_store_set_idle(mm_store *c, bool idle)
{
	__atomic_store_n(&c->want_idle, idle && c->opts.companion, __ATOMIC_RELAXED);
}

bool mm_store_has_companion(mm_store *s, const char *name)
{
	bool found = false;

	pthread_mutex_lock(&s->pool_mu);
	for (unsigned i = 0; i < s->ncomp && !found; i++)
		found = strcmp(s->comp_name[i], name) == 0;
	pthread_mutex_unlock(&s->pool_mu);
	return found;
}

void mm_store_close(mm_store *s)
{
	mm_db *db;

	if (s == NULL)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_signal(&s->work_cv);
		pthread_cond_signal(&s->ckpt_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		if (s->ckpt_started)
			pthread_join(s->ckpt, NULL);
	}
	db_close(s->writer_db);
	while ((db = s->free_list) != NULL) {
		s->free_list = db->next_free;
		db_close(db);
	}
	pthread_mutex_destroy(&s->pool_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->done_cv);
	pthread_cond_destroy(&s->ckpt_cv);
	free(s);
}

const char *mm_store_backend_name(const mm_store *s)
{
	return s->be->name;
}

const char *mm_store_path(const mm_store *s)
{
	return s->path;
}

/* ---- migrations ---- */

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS mm_schema ("
	" component TEXT PRIMARY KEY,"
	" version INTEGER NOT NULL)";

struct migrate_ctx {
	const mm_migration_set *const *sets;
	size_t nsets;
	size_t cur;
};

static mm_err get_version(mm_db *db, const char *component, int64_t *ret)
{
	static const char sql[] = "SELECT version FROM mm_schema WHERE component = ?";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, component)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	return rc;
}

static mm_err check_known(mm_db *db, void *arg)
{
	static const char sql[] = "SELECT component, version FROM mm_schema";
	struct migrate_ctx *m = arg;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_exec(db, schema_sql)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		const char *c = mm_stmt_text(st, 0);
		int64_t v = mm_stmt_int(st, 1);
		const mm_migration_set *set = NULL;

		for (size_t i = 0; i < m->nsets; i++)
			if (strcmp(m->sets[i]->component, c) == 0)
				set = m->sets[i];
		if (set == NULL) {
			rc = mm_err_set(MM_ERR_VERSION,
					"the database has component '%s' that this mamori does not know: "
					"it was written by a newer version", c);
			break;
		}
		if (v > (int64_t)set->nsteps) {
			rc = mm_err_set(MM_ERR_VERSION,
					"the database schema of '%s' is version %lld but this mamori "
					"knows only up to %zu: refusing to start", c, (long long)v,
					set->nsteps);
			break;
		}
	}
	mm_stmt_done(st);
	return rc;
}

static mm_err migrate_one(mm_db *db, void *arg)
{
	static const char upsert[] =
		"INSERT INTO mm_schema (component, version) VALUES (?, ?) "
		"ON CONFLICT (component) DO UPDATE SET version = excluded.version";
	struct migrate_ctx *m = arg;
	const mm_migration_set *set = m->sets[m->cur];
	int64_t v = 0;
	mm_stmt *st;
	mm_err rc;

	if ((rc = get_version(db, set->component, &v)) != MM_OK)
		return rc;
	if (v == (int64_t)set->nsteps)
		return MM_OK;
	for (size_t i = (size_t)v; i < set->nsteps; i++) {
		if ((rc = mm_db_exec(db, set->steps[i])) != MM_OK) {
			char why[256];

			/* Copied first: the detail buffer is also mm_err_set's target. */
			snprintf(why, sizeof(why), "%s", mm_err_detail(rc));
			return mm_err_set(rc, "migration %s step %zu: %s", set->component, i + 1, why);
		}
	}
	if ((rc = mm_db_prepare(db, upsert, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, set->component)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, (int64_t)set->nsteps)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_OK)
		mm_logkv(MM_LOG_INFO, "store.migrated", "component", set->component, NULL);
	return rc;
}

mm_err mm_store_migrate(mm_store *s, const mm_migration_set *const *sets, size_t nsets)
{
	struct migrate_ctx m = { sets, nsets, 0 };
	mm_err rc;

	if ((rc = mm_store_write(s, check_known, &m)) != MM_OK)
		return rc;
	for (m.cur = 0; m.cur < nsets; m.cur++)
		if ((rc = mm_store_write(s, migrate_one, &m)) != MM_OK)
			return rc;
	return MM_OK;
}
