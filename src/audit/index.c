/*
 * index.c: the audit log's query index, kept in the companion database
 * "audit_index" (store.h): derived data, rebuilt from the events when lost,
 * written by the companion's own writer thread so that appends never wait
 * for it. Before this, the per-row indexes on actor, action, time and
 * target were B-tree inserts in every group commit and held the durable
 * append rate to about 80,000 events/s at 10 million events; without them
 * the primary's writer appends about 270,000/s and the index follows on the
 * other core.
 *
 * Companion tables:
 *   audit_idx (kind, value, seq)      kind 1 actor, 2 action, 3 target
 *   audit_time_blocks (block, min_time, max_time)
 *                                     a block-range summary of time_ms per
 *                                     MM_AUDIT_TIME_BLOCK sequence numbers
 *   audit_idx_mark (id 0, upto, last_leaf)
 *                                     events [0, upto) are indexed; last_leaf
 *                                     is the leaf hash of event upto - 1
 * Invariants:
 *  - The mark moves only in the transaction that inserted the rows below it,
 *    so readers never see a mark ahead of its rows.
 *  - The index belongs to the log whose event upto - 1 has last_leaf: at open,
 *    an index that is ahead of the log or whose last leaf differs (the
 *    primary was restored or replaced) is emptied and rebuilt.
 *  - At most one index job is queued at a time (ix->busy); its done callback
 *    queues the next while events remain.
 *  - Where the rows come from: the log's writer hands over, after each
 *    commit, an entry per event (mm_audit_index_handover) to a queue of
 *    consecutive events [q_first, q_end); a job indexes from the queue when
 *    it holds the mark's next event, and otherwise (after a start, a queue
 *    overflow or a failed job) reads the events from the primary. Reading
 *    the primary holds a snapshot of it for the whole job, and an index
 *    writer that runs on idle CPU only may hold it for a long time under
 *    load: the primary's log then cannot restart from its beginning, grows
 *    (to 52 MiB instead of 16 in bench/keys_http.sh) and its writer
 *    checkpoints on the commit path, which cost about 1 ms of p99 latency.
 */
#include "audit/internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"

/* Events per index job: bounds the companion's transaction and the time a
 * caught-up index waits behind a long catch-up job. */
#define INDEX_JOB_MAX 65536
/* Fewer new events than this wait up to INDEX_JOB_WAIT_MS for more. */
#define INDEX_JOB_MIN 4096
#define INDEX_JOB_WAIT_MS 50
/* Lag (events) past which the index's writer leaves idle-only scheduling,
 * and below which it returns to it. */
#define INDEX_LAG_HIGH 1000000
#define INDEX_LAG_LOW 100000
/* Entries the queue holds at most (memory: ~100 bytes each); past this the
 * index reads the primary until it has caught up with the queue. */
#define INDEX_QUEUE_MAX (4 * INDEX_JOB_MAX)

static const char *const ix_steps[] = {
	"CREATE TABLE audit_idx ("
	" kind INTEGER NOT NULL,"
	" value TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" PRIMARY KEY (kind, value, seq)) WITHOUT ROWID;"
	"CREATE TABLE audit_time_blocks ("
	" block INTEGER PRIMARY KEY,"
	" min_time INTEGER NOT NULL,"
	" max_time INTEGER NOT NULL);"
	"CREATE TABLE audit_idx_mark ("
	" id INTEGER PRIMARY KEY,"
	" upto INTEGER NOT NULL,"
	" last_leaf BLOB);"
	"INSERT INTO audit_idx_mark (id, upto, last_leaf) VALUES (0, 0, NULL)",
};

static const mm_migration_set ix_schema = { "audit_index", ix_steps,
					    sizeof(ix_steps) / sizeof(ix_steps[0]) };

struct mm_audit_index {
	mm_store *primary;
	mm_store *c;            /* the companion */
	pthread_mutex_t mu;     /* guards everything below */
	pthread_cond_t cv;      /* upto moved, or busy cleared */
	int64_t end;            /* events [0, end) are committed in the primary */
	int64_t upto;           /* events [0, upto) are indexed */
	int64_t job_upto;       /* set by the running job, read by its callback */
	bool busy;              /* an index job is queued or running */
	bool closing;
	bool hurry;             /* a waiter wants the index now: no batching wait */
	bool failed_logged;
	uint64_t failures;      /* index jobs that failed */
	/* Hand-overs not yet looked at (a stack, pushed without a lock by the
	 * log's writer), and the end of the committed events it last told
	 * (atomic max): see "The log's writer never waits" above. */
	struct ix_batch *inbox;
	int64_t end_pub;
	/* Handed-over entries of the committed events [q_first, q_end), in
	 * order; q_n of them. */
	struct mm_audit_ix_entry *q_head, *q_tail;
	int64_t q_first, q_end;
	size_t q_n;
	bool q_full;            /* refused a hand-over for its size; until drained */
	/* The running job's entries (taken from the queue), or NULL. */
	struct mm_audit_ix_entry *job_entries;
	int64_t job_read;       /* events the running job read from the primary */
	uint64_t read_events;   /* events indexed from reads of the primary */
};

/* One hand-over: the entries of the committed events [first, first + n). */
struct ix_batch {
	struct ix_batch *next;
	int64_t first;
	size_t n;
	struct mm_audit_ix_entry *head, *tail;
};

/* Open indexes whose queue takes hand-overs (atomic): while an index's
 * queue is full it reads the events back anyway, and the log's writer
 * need not make entries for it. */
static int wanting;

bool mm_audit_index_wants_entries(void)
{
	return __atomic_load_n(&wanting, __ATOMIC_RELAXED) > 0;
}

/* Under ix->mu: a full queue stops, and a drained one restarts, the writer's
 * entries. */
static void set_full(mm_audit_index *ix, bool full)
{
	if (full == ix->q_full)
		return;
	ix->q_full = full;
	if (full)
		__atomic_sub_fetch(&wanting, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&wanting, 1, __ATOMIC_RELAXED);
}

struct mm_audit_ix_entry *mm_audit_index_entry_new(const mm_audit_record *r,
						   const uint8_t leaf[HLEN])
{
	size_t la = strlen(r->actor) + 1, lc = strlen(r->action) + 1;
	size_t lt = r->target != NULL ? strlen(r->target) + 1 : 0;
	struct mm_audit_ix_entry *e = malloc(sizeof(*e) + la + lc + lt);

	if (e == NULL)
		return NULL;
	e->next = NULL;
	e->seq = r->seq;
	e->time_ms = r->time_ms;
	memcpy(e->leaf, leaf, HLEN);
	memcpy(e->text, r->actor, la);
	memcpy(e->text + la, r->action, lc);
	e->actor = e->text;
	e->action = e->text + la;
	e->target = NULL;
	if (r->target != NULL) {
		memcpy(e->text + la + lc, r->target, lt);
		e->target = e->text + la + lc;
	}
	return e;
}

static void free_entries(struct mm_audit_ix_entry *e)
{
	while (e != NULL) {
		struct mm_audit_ix_entry *next = e->next;

		free(e);
		e = next;
	}
}

void mm_audit_index_handover(mm_audit_index *ix, int64_t first, struct mm_audit_ix_entry *list,
			     size_t n)
{
	struct ix_batch *b;

	if (ix == NULL || list == NULL || n == 0 || (b = malloc(sizeof(*b))) == NULL) {
		free_entries(list);
		return;
	}
	b->first = first;
	b->n = n;
	b->head = b->tail = list;
	while (b->tail->next != NULL)
		b->tail = b->tail->next;
	b->next = __atomic_load_n(&ix->inbox, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&ix->inbox, &b->next, b, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED))
		;
}

/* Under ix->mu: appends one hand-over to the queue when it continues it
 * (or starts it) and is still needed; frees it otherwise. A queue that
 * would grow too long takes nothing until it has drained: the index then
 * reads those events from the primary. */
static void queue_add(mm_audit_index *ix, struct ix_batch *b)
{
	bool take;

	if (ix->q_n + b->n > INDEX_QUEUE_MAX) {
		take = false;
		set_full(ix, true);
	} else if (ix->q_head != NULL) {
		take = b->first == ix->q_end;
	} else {
		take = b->first + (int64_t)b->n > ix->upto;
	}
	if (!take) {
		free_entries(b->head);
	} else if (ix->q_head == NULL) {
		ix->q_head = b->head;
		ix->q_tail = b->tail;
		ix->q_first = b->first;
		ix->q_n = b->n;
	} else {
		ix->q_tail->next = b->head;
		ix->q_tail = b->tail;
		ix->q_n += b->n;
	}
	if (take)
		ix->q_end = b->first + (int64_t)b->n;
	free(b);
}

/* Under ix->mu: moves the inbox's hand-overs, oldest first, to the queue,
 * and takes in the writer's last end. */
static void drain_inbox(mm_audit_index *ix)
{
	struct ix_batch *b = __atomic_exchange_n(&ix->inbox, NULL, __ATOMIC_ACQUIRE), *rev = NULL;
	int64_t end = __atomic_load_n(&ix->end_pub, __ATOMIC_ACQUIRE);

	while (b != NULL) {
		struct ix_batch *next = b->next;

		b->next = rev;
		rev = b;
		b = next;
	}
	while (rev != NULL) {
		struct ix_batch *next = rev->next;

		queue_add(ix, rev);
		rev = next;
	}
	if (end > ix->end)
		ix->end = end;
}

/* Under ix->mu: drops queued entries below upto, then takes the entries of
 * [upto, upto + max) if the queue starts at upto; returns how many. */
static size_t queue_take(mm_audit_index *ix, int64_t upto, int64_t max,
			 struct mm_audit_ix_entry **ret)
{
	struct mm_audit_ix_entry *head, *e;
	size_t n = 0;

	*ret = NULL;
	drain_inbox(ix);
	while (ix->q_head != NULL && ix->q_first < upto) {
		e = ix->q_head;
		ix->q_head = e->next;
		ix->q_first++;
		ix->q_n--;
		free(e);
	}
	if (ix->q_head == NULL) {
		ix->q_tail = NULL;
		ix->q_n = 0;
		set_full(ix, false);
		return 0;
	}
	if (ix->q_first != upto)
		return 0;
	head = e = ix->q_head;
	for (n = 1; e->next != NULL && (int64_t)n < max; n++)
		e = e->next;
	ix->q_head = e->next;
	e->next = NULL;
	ix->q_first += (int64_t)n;
	ix->q_n -= n;
	if (ix->q_head == NULL) {
		ix->q_tail = NULL;
		set_full(ix, false);
	}
	*ret = head;
	return n;
}

static mm_err read_mark(mm_db *db, int64_t *ret_upto, uint8_t leaf[HLEN], bool *ret_has_leaf)
{
	static const char sql[] = "SELECT upto, last_leaf FROM audit_idx_mark WHERE id = 0";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_STORE, "the audit index has no mark");
		goto out;
	}
	*ret_upto = mm_stmt_int(st, 0);
	*ret_has_leaf = false;
	if (leaf != NULL && !mm_stmt_is_null(st, 1)) {
		size_t n;
		const void *p = mm_stmt_blob(st, 1, &n);

		if (n == HLEN) {
			memcpy(leaf, p, HLEN);
			*ret_has_leaf = true;
		}
	}
out:
	mm_stmt_done(st);
	return rc;
}

/* Runs one of the index statements over seq [from, to). */
static mm_err run_range(mm_db *db, const char *sql, int64_t from, int64_t to, int64_t *ret_changes)
{
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, from)) == MM_OK && (rc = mm_stmt_bind_int(st, 2, to)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_OK && ret_changes != NULL)
		*ret_changes = mm_db_changes(db);
	return rc;
}

/* Indexes the committed events [from, to), read from the primary's snapshot
 * of this job group, in SQL: no row crosses into C. Target entries are
 * inserted in key order, so each of the many distinct targets' pages is
 * written once per job; actors and actions are few, and in seq order each
 * value's entries already append at the end of its range (sorting them cost
 * about a tenth of the job). */
static mm_err index_rows(mm_db *cdb, int64_t from, int64_t to)
{
	static const char *const q_put[] = {
		"INSERT INTO audit_idx (kind, value, seq) SELECT 1, actor, seq"
		" FROM primary_db.audit_events WHERE seq >= ?1 AND seq < ?2",
		"INSERT INTO audit_idx (kind, value, seq) SELECT 2, action, seq"
		" FROM primary_db.audit_events WHERE seq >= ?1 AND seq < ?2",
		"INSERT INTO audit_idx (kind, value, seq) SELECT 3, target, seq"
		" FROM primary_db.audit_events WHERE seq >= ?1 AND seq < ?2 AND target IS NOT NULL"
		" ORDER BY target, seq",
		/* "WHERE true" tells SQLite's parser that ON CONFLICT is the upsert. */
		"INSERT INTO audit_time_blocks (block, min_time, max_time)"
		" SELECT seq / " MM_AUDIT_TIME_BLOCK_S ", MIN(time_ms), MAX(time_ms)"
		" FROM primary_db.audit_events WHERE seq >= ?1 AND seq < ?2 AND true"
		" GROUP BY seq / " MM_AUDIT_TIME_BLOCK_S
		" ON CONFLICT (block) DO UPDATE SET"
		" min_time = MIN(min_time, excluded.min_time),"
		" max_time = MAX(max_time, excluded.max_time)",
	};
	int64_t rows = 0;
	mm_err rc;

	/* The actor column is NOT NULL: its row count is the event count. */
	if ((rc = run_range(cdb, q_put[0], from, to, &rows)) != MM_OK)
		return rc;
	if (rows != to - from)
		return mm_err_set(MM_ERR_INTERNAL, "audit events %" PRId64 "..%" PRId64
				  " are not all stored: run `mamori audit verify`", from, to - 1);
	for (size_t i = 1; i < sizeof(q_put) / sizeof(q_put[0]); i++)
		if ((rc = run_range(cdb, q_put[i], from, to, NULL)) != MM_OK)
			return rc;
	return MM_OK;
}

static int target_cmp(const void *a, const void *b)
{
	const struct mm_audit_ix_entry *x = *(const struct mm_audit_ix_entry *const *)a;
	const struct mm_audit_ix_entry *y = *(const struct mm_audit_ix_entry *const *)b;
	int c = strcmp(x->target, y->target);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Runs sql with three parameters: an integer, text (or, when text is
 * NULL, the integer v2) and an integer. */
static mm_err run3(mm_db *cdb, const char *sql, int64_t v1, const char *text, int64_t v2,
		   int64_t v3)
{
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(cdb, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, v1)) == MM_OK &&
	    (rc = text != NULL ? mm_stmt_bind_text(st, 2, text) : mm_stmt_bind_int(st, 2, v2)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, v3)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

static mm_err put_idx(mm_db *cdb, int kind, const char *value, int64_t seq)
{
	static const char sql[] = "INSERT INTO audit_idx (kind, value, seq) VALUES (?, ?, ?)";

	return run3(cdb, sql, kind, value, 0, seq);
}

/* Index rows go in IDX_CHUNK at a time, through one statement with as many
 * rows of parameters: per statement SQLite's fixed work (step, halt, reset)
 * cost about as much as a row's insert. Built once, at a fixed address (the
 * statement cache's key). */
#define IDX_CHUNK 64
static char idx_chunk_sql[64 + IDX_CHUNK * 8];
static pthread_once_t idx_chunk_once = PTHREAD_ONCE_INIT;

static void idx_chunk_init(void)
{
	size_t off = (size_t)snprintf(idx_chunk_sql, sizeof(idx_chunk_sql),
				      "INSERT INTO audit_idx (kind, value, seq) VALUES (?,?,?)");

	for (int i = 1; i < IDX_CHUNK; i++)
		off += (size_t)snprintf(idx_chunk_sql + off, sizeof(idx_chunk_sql) - off, ",(?,?,?)");
}

struct idx_row {
	int kind;
	const char *value;
	int64_t seq;
};

static mm_err put_idx_rows(mm_db *cdb, const struct idx_row *rows, size_t n)
{
	size_t i = 0;
	mm_stmt *st;
	mm_err rc = MM_OK;

	pthread_once(&idx_chunk_once, idx_chunk_init);
	for (; i + IDX_CHUNK <= n && rc == MM_OK; i += IDX_CHUNK) {
		if ((rc = mm_db_prepare(cdb, idx_chunk_sql, &st)) != MM_OK)
			return rc;
		for (int r = 0; r < IDX_CHUNK && rc == MM_OK; r++) {
			const struct idx_row *x = &rows[i + (size_t)r];

			if ((rc = mm_stmt_bind_int(st, 3 * r + 1, x->kind)) == MM_OK &&
			    (rc = mm_stmt_bind_text(st, 3 * r + 2, x->value)) == MM_OK)
				rc = mm_stmt_bind_int(st, 3 * r + 3, x->seq);
		}
		if (rc == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
	}
	for (; i < n && rc == MM_OK; i++)
		rc = put_idx(cdb, rows[i].kind, rows[i].value, rows[i].seq);
	return rc;
}

static mm_err put_block(mm_db *cdb, int64_t block, int64_t lo, int64_t hi)
{
	static const char sql[] =
		"INSERT INTO audit_time_blocks (block, min_time, max_time) VALUES (?, ?, ?)"
		" ON CONFLICT (block) DO UPDATE SET"
		" min_time = MIN(min_time, excluded.min_time),"
		" max_time = MAX(max_time, excluded.max_time)";

	return run3(cdb, sql, block, NULL, lo, hi);
}

/* The same rows as index_rows, from n handed-over entries of consecutive
 * events (no read of the primary). */
static mm_err index_entries(mm_db *cdb, const struct mm_audit_ix_entry *list, size_t n)
{
	const struct mm_audit_ix_entry **tg = NULL, *e;
	struct idx_row *rows = NULL;
	size_t nt = 0, nr = 0;
	int64_t block = -1, lo = 0, hi = 0;
	mm_err rc = MM_OK;

	if ((tg = malloc(n * sizeof(*tg))) == NULL || (rows = malloc(3 * n * sizeof(*rows))) == NULL) {
		free(tg);
		return MM_ERR_NOMEM;
	}
	/* Actors, then actions, in seq order; then targets in key order, as
	 * index_rows does: each value's entries append at the end of its range. */
	for (e = list; e != NULL; e = e->next)
		rows[nr++] = (struct idx_row){ 1, e->actor, e->seq };
	for (e = list; e != NULL; e = e->next) {
		rows[nr++] = (struct idx_row){ 2, e->action, e->seq };
		if (e->target != NULL)
			tg[nt++] = e;
	}
	qsort(tg, nt, sizeof(*tg), target_cmp);
	for (size_t i = 0; i < nt; i++)
		rows[nr++] = (struct idx_row){ 3, tg[i]->target, tg[i]->seq };
	rc = put_idx_rows(cdb, rows, nr);
	for (e = list; e != NULL && rc == MM_OK; e = e->next) {
		int64_t b = e->seq / MM_AUDIT_TIME_BLOCK;

		if (b != block) {
			if (block >= 0 && (rc = put_block(cdb, block, lo, hi)) != MM_OK)
				break;
			block = b;
			lo = hi = e->time_ms;
		}
		if (e->time_ms < lo)
			lo = e->time_ms;
		if (e->time_ms > hi)
			hi = e->time_ms;
	}
	if (rc == MM_OK && block >= 0)
		rc = put_block(cdb, block, lo, hi);
	free(rows);
	free(tg);
	return rc;
}

static mm_err snapshot_end(mm_db *cdb, int64_t *ret)
{
	static const char sql[] = "SELECT COALESCE(MAX(seq) + 1, 0) FROM primary_db.audit_events";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(cdb, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	return rc;
}

static mm_err put_mark(mm_db *cdb, int64_t upto, const uint8_t leaf[HLEN])
{
	static const char q_mark[] = "UPDATE audit_idx_mark SET upto = ?, last_leaf = ? WHERE id = 0";
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(cdb, q_mark, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, upto)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 2, leaf, HLEN)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

/* One index job on the companion's writer: the next run of events past the
 * mark, from the handed-over entries when the queue holds them, else read
 * from the primary in one snapshot. */
static mm_err index_job(mm_db *cdb, void *arg)
{
	mm_audit_index *ix = arg;
	struct mm_audit_ix_entry *list = NULL, *last;
	mm_db *pdb = NULL;
	int64_t upto, end, q_first;
	uint8_t leaf[HLEN];
	bool has_leaf, queued;
	size_t n;
	mm_err rc;

	if ((rc = read_mark(cdb, &upto, NULL, &has_leaf)) != MM_OK)
		return rc;
	ix->job_upto = upto;
	ix->job_read = 0;
	pthread_mutex_lock(&ix->mu);
	n = queue_take(ix, upto, INDEX_JOB_MAX, &list);
	queued = ix->q_head != NULL;
	q_first = ix->q_first;
	ix->job_entries = list;
	pthread_mutex_unlock(&ix->mu);
	if (n > 0) {
		/* Entries are handed over only after their commit. */
		for (last = list; last->next != NULL; last = last->next)
			;
		if ((rc = index_entries(cdb, list, n)) != MM_OK ||
		    (rc = put_mark(cdb, upto + (int64_t)n, last->leaf)) != MM_OK)
			return rc;
		ix->job_upto = upto + (int64_t)n;
		return MM_OK;
	}
	/* Only what this group's snapshot of the primary holds: ix->end may
	 * already count a commit that happened after the snapshot was taken;
	 * and only up to the queue, which the next job then takes. */
	if ((rc = snapshot_end(cdb, &end)) != MM_OK)
		return rc;
	pthread_mutex_lock(&ix->mu);
	if (ix->end < end)
		end = ix->end;
	pthread_mutex_unlock(&ix->mu);
	if (queued && q_first > upto && q_first < end)
		end = q_first;
	if (end - upto > INDEX_JOB_MAX)
		end = upto + INDEX_JOB_MAX;
	if (end <= upto)
		return MM_OK;
	if ((rc = mm_store_acquire(ix->primary, &pdb)) != MM_OK)
		return rc;
	if ((rc = index_rows(cdb, upto, end)) != MM_OK ||
	    (rc = mm_audit_leaf_from_db(pdb, end - 1, leaf)) != MM_OK)
		goto out;
	if ((rc = put_mark(cdb, end, leaf)) != MM_OK)
		goto out;
	ix->job_upto = end;
	ix->job_read = end - upto;
out:
	mm_store_release(ix->primary, pdb);
	return rc;
}

static void index_done(mm_err rc, const char *detail, void *arg);

/* Under ix->mu: queues a job when events wait and none is queued. */
static void kick(mm_audit_index *ix)
{
	drain_inbox(ix);
	if (ix->busy || ix->closing || ix->end <= ix->upto)
		return;
	ix->busy = true;
	if (mm_store_write_async(ix->c, index_job, ix, index_done, ix) != MM_OK)
		ix->busy = false;
}

/* Under ix->mu, on the companion's writer between jobs (outside any
 * transaction): a few new events wait up to INDEX_JOB_WAIT_MS for more, so
 * that a steady stream of small commits (each access check, each key
 * operation) costs a few index jobs a second instead of one per commit.
 * Only index jobs run on this thread; queries scan the tail meanwhile. */
static void wait_for_more(mm_audit_index *ix)
{
	struct timespec dl;

	mm_time_deadline(INDEX_JOB_WAIT_MS, &dl);
	drain_inbox(ix);
	while (!ix->closing && !ix->hurry && ix->end - ix->upto < INDEX_JOB_MIN &&
	       pthread_cond_timedwait(&ix->cv, &ix->mu, &dl) == 0)
		drain_inbox(ix);
	ix->hurry = false;
}

static void index_done(mm_err rc, const char *detail, void *arg)
{
	mm_audit_index *ix = arg;

	/* The job's entries are done with, indexed or not (after a failure
	 * the next job reads those events from the primary). */
	free_entries(ix->job_entries);
	ix->job_entries = NULL;
	pthread_mutex_lock(&ix->mu);
	if (rc == MM_OK) {
		if (ix->job_upto > ix->upto)
			__atomic_store_n(&ix->upto, ix->job_upto, __ATOMIC_RELAXED);
		__atomic_store_n(&ix->read_events, ix->read_events + (uint64_t)ix->job_read,
				 __ATOMIC_RELAXED);
		ix->failed_logged = false;
		/* Idle CPU only, unless far behind: then at nice 10 until nearly
		 * caught up, so the lag of a sustained overload stays bounded. */
		if (ix->end - ix->upto > INDEX_LAG_HIGH)
			mm_store_set_idle(ix->c, false);
		else if (ix->end - ix->upto < INDEX_LAG_LOW)
			mm_store_set_idle(ix->c, true);
		pthread_cond_broadcast(&ix->cv);
		if (ix->end - ix->upto < INDEX_JOB_MIN)
			wait_for_more(ix);
		ix->busy = false;
		kick(ix);
	} else {
		ix->busy = false;
		__atomic_store_n(&ix->failures, ix->failures + 1, __ATOMIC_RELAXED);
		/* Queries stay correct (they scan the unindexed tail); the next
		 * append retries. Logged once per run of failures. */
		if (!ix->failed_logged)
			mm_logf(MM_LOG_ERROR, "audit.index_failed", "%s", detail);
		ix->failed_logged = true;
	}
	pthread_cond_broadcast(&ix->cv);
	pthread_mutex_unlock(&ix->mu);
}

/* Under ix->mu: what a notification does once end is published. */
static void notified(mm_audit_index *ix)
{
	drain_inbox(ix);
	if (ix->busy && ix->end - ix->upto >= INDEX_JOB_MIN)
		pthread_cond_broadcast(&ix->cv); /* ends wait_for_more early */
	if (ix->end - ix->upto > INDEX_LAG_HIGH)
		mm_store_set_idle(ix->c, false); /* also when no job ends for long */
	kick(ix);
}

static void publish_end(mm_audit_index *ix, int64_t end)
{
	int64_t cur = __atomic_load_n(&ix->end_pub, __ATOMIC_RELAXED);

	while (end > cur && !__atomic_compare_exchange_n(&ix->end_pub, &cur, end, true,
							 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

void mm_audit_index_notify(mm_audit_index *ix, int64_t end)
{
	if (ix == NULL)
		return;
	publish_end(ix, end);
	pthread_mutex_lock(&ix->mu);
	notified(ix);
	pthread_mutex_unlock(&ix->mu);
}

void mm_audit_index_notify_nowait(mm_audit_index *ix, int64_t end)
{
	if (ix == NULL)
		return;
	publish_end(ix, end);
	if (pthread_mutex_trylock(&ix->mu) != 0)
		return;
	notified(ix);
	pthread_mutex_unlock(&ix->mu);
}

static mm_err reset_job(mm_db *cdb, void *arg)
{
	mm_err rc;

	(void)arg;
	if ((rc = mm_db_exec(cdb, "DELETE FROM audit_idx")) != MM_OK ||
	    (rc = mm_db_exec(cdb, "DELETE FROM audit_time_blocks")) != MM_OK)
		return rc;
	return mm_db_exec(cdb, "UPDATE audit_idx_mark SET upto = 0, last_leaf = NULL WHERE id = 0");
}

/* Whether the index describes the first upto events of this log. */
static mm_err index_matches(mm_audit_index *ix, int64_t size, bool *ret)
{
	mm_db *cdb = NULL, *pdb = NULL;
	uint8_t want[HLEN], got[HLEN];
	int64_t upto = 0;
	bool has_leaf = false;
	mm_err rc;

	*ret = false;
	if ((rc = mm_store_acquire(ix->c, &cdb)) != MM_OK)
		return rc;
	rc = read_mark(cdb, &upto, want, &has_leaf);
	mm_store_release(ix->c, cdb);
	if (rc != MM_OK)
		return rc;
	ix->upto = upto;
	if (upto == 0) {
		*ret = true;
		return MM_OK;
	}
	if (upto > size || !has_leaf)
		return MM_OK;
	if ((rc = mm_store_acquire(ix->primary, &pdb)) != MM_OK)
		return rc;
	rc = mm_audit_leaf_from_db(pdb, upto - 1, got);
	mm_store_release(ix->primary, pdb);
	if (rc == MM_ERR_NOT_FOUND) {
		mm_err_clear();
		return MM_OK;
	}
	if (rc == MM_OK)
		*ret = mm_crypto_equal(want, got, HLEN);
	return rc;
}

mm_err mm_audit_index_open(mm_store *primary, int64_t size, mm_audit_index **ret)
{
	mm_audit_index *ix;
	bool ok = false;
	mm_err rc;

	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return MM_ERR_NOMEM;
	__atomic_add_fetch(&wanting, 1, __ATOMIC_RELAXED);
	ix->primary = primary;
	pthread_mutex_init(&ix->mu, NULL);
	pthread_cond_init(&ix->cv, NULL);
	if ((rc = mm_store_open_companion(primary, "audit_index", &ix_schema, &ix->c)) != MM_OK)
		goto fail;
	if ((rc = index_matches(ix, size, &ok)) != MM_OK)
		goto fail;
	if (!ok) {
		mm_logf(MM_LOG_WARN, "audit.index_rebuild",
			"the audit index does not match the log; rebuilding it");
		if ((rc = mm_store_write(ix->c, reset_job, NULL)) != MM_OK)
			goto fail;
		ix->upto = 0;
	}
	mm_audit_index_notify(ix, size);
	*ret = ix;
	return MM_OK;
fail:
	mm_audit_index_close(ix);
	return rc;
}

mm_err mm_audit_index_wait(mm_audit_index *ix, int64_t end, int64_t timeout_ms)
{
	struct timespec dl;
	mm_err rc = MM_OK;

	mm_time_deadline(timeout_ms, &dl);
	pthread_mutex_lock(&ix->mu);
	while (ix->upto < end && rc == MM_OK) {
		ix->hurry = true;
		pthread_cond_broadcast(&ix->cv);
		kick(ix);
		if (pthread_cond_timedwait(&ix->cv, &ix->mu, &dl) != 0)
			rc = mm_err_set(MM_ERR_TIMEOUT, "the audit index is at %" PRId64 " of %" PRId64,
					ix->upto, end);
	}
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

/* Without ix->mu: a metrics scrape must not wait for an index writer that
 * runs on idle CPU only. */
int64_t mm_audit_index_upto(mm_audit_index *ix, uint64_t *ret_failures, uint64_t *ret_read)
{
	if (ret_failures != NULL)
		*ret_failures = __atomic_load_n(&ix->failures, __ATOMIC_RELAXED);
	if (ret_read != NULL)
		*ret_read = __atomic_load_n(&ix->read_events, __ATOMIC_RELAXED);
	return __atomic_load_n(&ix->upto, __ATOMIC_RELAXED);
}

void mm_audit_index_close(mm_audit_index *ix)
{
	if (ix == NULL)
		return;
	pthread_mutex_lock(&ix->mu);
	ix->closing = true;
	pthread_cond_broadcast(&ix->cv);
	while (ix->busy)
		pthread_cond_wait(&ix->cv, &ix->mu);
	pthread_mutex_unlock(&ix->mu);
	mm_store_close(ix->c);
	drain_inbox(ix);
	free_entries(ix->q_head);
	free_entries(ix->job_entries);
	if (!ix->q_full)
		__atomic_sub_fetch(&wanting, 1, __ATOMIC_RELAXED);
	pthread_mutex_destroy(&ix->mu);
	pthread_cond_destroy(&ix->cv);
	free(ix);
}
