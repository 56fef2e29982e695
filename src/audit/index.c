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
 */
#include "audit/internal.h"

#include <inttypes.h>
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
};

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

/* One index job on the companion's writer: the next run of events past the
 * mark, read from the primary in one snapshot. */
static mm_err index_job(mm_db *cdb, void *arg)
{
	static const char q_mark[] = "UPDATE audit_idx_mark SET upto = ?, last_leaf = ? WHERE id = 0";
	mm_audit_index *ix = arg;
	mm_db *pdb = NULL;
	int64_t upto, end;
	uint8_t leaf[HLEN];
	bool has_leaf;
	mm_stmt *st;
	mm_err rc;

	if ((rc = read_mark(cdb, &upto, NULL, &has_leaf)) != MM_OK)
		return rc;
	/* Only what this group's snapshot of the primary holds: ix->end may
	 * already count a commit that happened after the snapshot was taken. */
	if ((rc = snapshot_end(cdb, &end)) != MM_OK)
		return rc;
	pthread_mutex_lock(&ix->mu);
	if (ix->end < end)
		end = ix->end;
	pthread_mutex_unlock(&ix->mu);
	if (end - upto > INDEX_JOB_MAX)
		end = upto + INDEX_JOB_MAX;
	ix->job_upto = upto;
	if (end <= upto)
		return MM_OK;
	if ((rc = mm_store_acquire(ix->primary, &pdb)) != MM_OK)
		return rc;
	if ((rc = index_rows(cdb, upto, end)) != MM_OK ||
	    (rc = mm_audit_leaf_from_db(pdb, end - 1, leaf)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(cdb, q_mark, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, 1, end)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 2, leaf, HLEN)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_OK)
		ix->job_upto = end;
out:
	mm_store_release(ix->primary, pdb);
	return rc;
}

static void index_done(mm_err rc, const char *detail, void *arg);

/* Under ix->mu: queues a job when events wait and none is queued. */
static void kick(mm_audit_index *ix)
{
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
	while (!ix->closing && !ix->hurry && ix->end - ix->upto < INDEX_JOB_MIN &&
	       pthread_cond_timedwait(&ix->cv, &ix->mu, &dl) == 0)
		;
	ix->hurry = false;
}

static void index_done(mm_err rc, const char *detail, void *arg)
{
	mm_audit_index *ix = arg;

	pthread_mutex_lock(&ix->mu);
	if (rc == MM_OK) {
		if (ix->job_upto > ix->upto)
			ix->upto = ix->job_upto;
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
		ix->failures++;
		/* Queries stay correct (they scan the unindexed tail); the next
		 * append retries. Logged once per run of failures. */
		if (!ix->failed_logged)
			mm_logf(MM_LOG_ERROR, "audit.index_failed", "%s", detail);
		ix->failed_logged = true;
	}
	pthread_cond_broadcast(&ix->cv);
	pthread_mutex_unlock(&ix->mu);
}

void mm_audit_index_notify(mm_audit_index *ix, int64_t end)
{
	if (ix == NULL)
		return;
	pthread_mutex_lock(&ix->mu);
	if (end > ix->end)
		ix->end = end;
	if (ix->busy && ix->end - ix->upto >= INDEX_JOB_MIN)
		pthread_cond_broadcast(&ix->cv); /* ends wait_for_more early */
	if (ix->end - ix->upto > INDEX_LAG_HIGH)
		mm_store_set_idle(ix->c, false); /* also when no job ends for long */
	kick(ix);
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

int64_t mm_audit_index_upto(mm_audit_index *ix, uint64_t *ret_failures)
{
	int64_t v;

	pthread_mutex_lock(&ix->mu);
	v = ix->upto;
	if (ret_failures != NULL)
		*ret_failures = ix->failures;
	pthread_mutex_unlock(&ix->mu);
	return v;
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
	pthread_mutex_destroy(&ix->mu);
	pthread_cond_destroy(&ix->cv);
	free(ix);
}
