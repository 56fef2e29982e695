/* Unit tests for the store: migrations, version refusal, group commit,
 * per-job rollback, durability across reopen and concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char dir[256];

static const char *const steps_v1[] = {
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
};
static const char *const steps_v2[] = {
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
	"ALTER TABLE kv ADD COLUMN note TEXT",
};
static const mm_migration_set set_v1 = { "test", steps_v1, 1 };
static const mm_migration_set set_v2 = { "test", steps_v2, 2 };

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/mm-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static mm_store *open_with(const mm_migration_set *set, mm_err want)
{
	mm_store_opts o = { .dir = dir, .sync_full = true };
	const mm_migration_set *sets[] = { set };
	mm_store *s = NULL;

	assert_int_equal(mm_store_open(&o, &s), MM_OK);
	assert_int_equal(mm_store_migrate(s, sets, 1), want);
	if (want != MM_OK) {
		mm_store_close(s);
		return NULL;
	}
	return s;
}

struct put {
	const char *k;
	int64_t v;
};

static mm_err put_job(mm_db *db, void *arg)
{
	static const char sql[] = "INSERT INTO kv (k, v) VALUES (?, ?)";
	struct put *p = arg;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, p->k)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, p->v)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

static int64_t count_rows(mm_store *s)
{
	static const char sql[] = "SELECT COUNT(*) FROM kv";
	mm_db *db;
	mm_stmt *st;
	bool row;
	int64_t n;

	assert_int_equal(mm_store_acquire(s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, sql, &st), MM_OK);
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	assert_true(row);
	n = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	mm_store_release(s, db);
	return n;
}

static void test_migrate_and_refuse_newer(void **state)
{
	mm_store *s = open_with(&set_v2, MM_OK);
	struct put p = { "a", 1 };

	assert_int_equal(mm_store_write(s, put_job, &p), MM_OK);
	mm_store_close(s);
	/* A binary that knows only v1 refuses a v2 database. */
	assert_null(open_with(&set_v1, MM_ERR_VERSION));
	/* Reopening with v2 is idempotent and keeps the data. */
	s = open_with(&set_v2, MM_OK);
	assert_int_equal(count_rows(s), 1);
	mm_store_close(s);
}

static mm_err failing_job(mm_db *db, void *arg)
{
	struct put p = { "partial", 9 };
	mm_err rc = put_job(db, &p);

	assert_int_equal(rc, MM_OK);
	return mm_err_set(MM_ERR_CONFLICT, "deliberate failure");
}

static void test_job_rollback_alone(void **state)
{
	mm_store *s = open_with(&set_v1, MM_OK);
	struct put dup = { "x", 1 };

	assert_int_equal(mm_store_write(s, put_job, &dup), MM_OK);
	/* A constraint violation maps to MM_ERR_EXISTS. */
	assert_int_equal(mm_store_write(s, put_job, &dup), MM_ERR_EXISTS);
	/* A failing job's own writes are rolled back, with its detail kept. */
	assert_int_equal(mm_store_write(s, failing_job, NULL), MM_ERR_CONFLICT);
	assert_string_equal(mm_err_detail(MM_ERR_CONFLICT), "deliberate failure");
	assert_int_equal(count_rows(s), 1);
	mm_store_close(s);
}

#define THREADS 8
#define PER_THREAD 200

struct worker {
	mm_store *s;
	int id;
	int ok;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	char key[32];

	for (int i = 0; i < PER_THREAD; i++) {
		struct put put = { key, i };

		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		if (mm_store_write(w->s, put_job, &put) == MM_OK)
			w->ok++;
	}
	return NULL;
}

static void test_concurrent_group_commit(void **state)
{
	mm_store *s = open_with(&set_v1, MM_OK);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	mm_store_stats st;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ s, i, 0 };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, PER_THREAD);
	}
	assert_int_equal(count_rows(s), THREADS * PER_THREAD);
	mm_store_get_stats(s, &st);
	assert_true(st.jobs >= THREADS * PER_THREAD);
	/* Concurrent writers shared commits: fewer groups than jobs. */
	assert_true(st.groups < st.jobs);
	mm_store_close(s);
	s = open_with(&set_v1, MM_OK);
	assert_int_equal(count_rows(s), THREADS * PER_THREAD);
	mm_store_close(s);
}

struct async_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int ok;
};

static void async_done(mm_err rc, const char *detail, void *arg)
{
	struct async_ctx *c = arg;

	pthread_mutex_lock(&c->mu);
	c->done++;
	c->ok += rc == MM_OK;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void test_async(void **state)
{
	mm_store *s = open_with(&set_v1, MM_OK);
	struct async_ctx c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	static struct put puts[100];
	static char keys[100][16];

	for (int i = 0; i < 100; i++) {
		snprintf(keys[i], sizeof(keys[i]), "async%d", i);
		puts[i] = (struct put){ keys[i], i };
		assert_int_equal(mm_store_write_async(s, put_job, &puts[i], async_done, &c), MM_OK);
	}
	pthread_mutex_lock(&c.mu);
	while (c.done < 100)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	assert_int_equal(c.ok, 100);
	assert_int_equal(count_rows(s), 100);
	mm_store_close(s);
}

/* ---- companions ---- */

static const char *const comp_steps[] = {
	"CREATE TABLE copy (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
};
static const mm_migration_set comp_set = { "comp", comp_steps, 1 };

/* A companion job: copies the primary's kv rows (read-only view). */
static mm_err copy_job(mm_db *db, void *arg)
{
	(void)arg;
	return mm_db_exec(db, "INSERT OR REPLACE INTO copy (k, v) SELECT k, v FROM primary_db.kv");
}

static mm_err write_primary_job(mm_db *db, void *arg)
{
	(void)arg;
	return mm_db_exec(db, "INSERT INTO primary_db.kv (k, v) VALUES ('x', 1)");
}

static int hold_done;

static mm_err hold_job(mm_db *db, void *arg)
{
	/* Holds the companion's write transaction (and its read snapshot of
	 * the primary) for a while. */
	(void)db;
	(void)arg;
	usleep(2000 * 1000);
	__atomic_store_n(&hold_done, 1, __ATOMIC_SEQ_CST);
	return MM_OK;
}

static void *hold_main(void *arg)
{
	mm_store *c = arg;

	assert_int_equal(mm_store_write(c, hold_job, NULL), MM_OK);
	return NULL;
}

static void test_companion(void **state)
{
	char sub[400];
	mm_store_opts o = { .sync_full = true };
	const mm_migration_set *sets[] = { &set_v1 };
	mm_store *s = NULL, *c = NULL, *bad = NULL;
	struct put p1 = { "a", 1 }, p2 = { "b", 2 };
	pthread_t t;
	mm_db *db;
	mm_stmt *st;
	bool row;

	/* A data directory whose path needs escaping in a URI. */
	snprintf(sub, sizeof(sub), "%s/data dir %%41?x#y", dir);
	o.dir = sub;
	assert_int_equal(mm_store_open(&o, &s), MM_OK);
	assert_int_equal(mm_store_migrate(s, sets, 1), MM_OK);
	assert_int_equal(mm_store_write(s, put_job, &p1), MM_OK);
	assert_false(mm_store_has_companion(s, "comp"));
	assert_int_equal(mm_store_open_companion(s, "Bad-Name", NULL, &bad), MM_ERR_INVALID);
	assert_int_equal(mm_store_open_companion(s, "main", NULL, &bad), MM_ERR_INVALID);
	assert_int_equal(mm_store_open_companion(s, "comp", &comp_set, &c), MM_OK);
	assert_true(mm_store_has_companion(s, "comp"));

	/* Its jobs read the primary, and cannot write it. */
	assert_int_equal(mm_store_write(c, copy_job, NULL), MM_OK);
	assert_int_equal(mm_store_write(c, write_primary_job, NULL), MM_ERR_STORE);

	/* The primary's readers see the companion under its name. */
	assert_int_equal(mm_store_acquire(s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, "SELECT v FROM comp.copy WHERE k = 'a'", &st), MM_OK);
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	assert_true(row);
	assert_int_equal(mm_stmt_int(st, 0), 1);
	mm_stmt_done(st);
	mm_store_release(s, db);

	/* A long companion transaction never holds up the primary's writer. */
	assert_int_equal(pthread_create(&t, NULL, hold_main, c), 0);
	usleep(50 * 1000);
	assert_int_equal(mm_store_write(s, put_job, &p2), MM_OK);
	assert_int_equal(__atomic_load_n(&hold_done, __ATOMIC_SEQ_CST), 0);
	pthread_join(t, NULL);
	assert_int_equal(count_rows(s), 2);
	mm_store_close(c);
	mm_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_and_refuse_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_rollback_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_companion, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
