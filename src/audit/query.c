/*
 * query.c: searching the log by sequence range, time range, actor, action
 * and target with cursor pagination (ascending seq).
 *
 * The events table has no secondary index: the query index lives in the
 * companion database "audit_index" (index.c), which covers events
 * [0, upto). A query reads the mark first, then answers from the index below
 * it and by scanning the short unindexed tail [upto, ...) of the events
 * table, in that order, so the two parts concatenate in seq order. Reading
 * the mark first also orders the snapshots: the events snapshot starts after
 * the index snapshot, so it holds every event the index names. The index
 * only proposes sequence numbers; every row is filtered on all given fields
 * again, so a stale or damaged index can slow a query but never add a wrong
 * event to its answer.
 *
 * Plans: actor, action or target given: that field's entries in audit_idx
 * (target first, the most selective). Only a time range: the blocks of
 * MM_AUDIT_TIME_BLOCK sequence numbers whose [min_time, max_time] overlaps
 * it, each scanned by seq. Otherwise a seq range scan. The cursor is simply
 * the next sequence number to return.
 */
#include "audit/internal.h"

#include <limits.h>
#include <string.h>

#define FILTERS \
	" AND e.time_ms >= ? AND e.time_ms <= ?" \
	" AND (? IS NULL OR e.actor = ?) AND (? IS NULL OR e.action = ?)" \
	" AND (? IS NULL OR e.target = ?)"

/* CROSS JOIN keeps the index as the outer loop, in seq order. */
static const char q_key[] =
	"SELECT " AUDIT_COLS_E " FROM audit_index.audit_idx k CROSS JOIN audit_events e"
	" ON e.seq = k.seq WHERE k.kind = ? AND k.value = ? AND k.seq >= ? AND k.seq < ?"
	FILTERS " ORDER BY k.seq LIMIT ?";
static const char q_rows[] =
	"SELECT " AUDIT_COLS_E " FROM audit_events e WHERE e.seq >= ? AND e.seq < ?"
	FILTERS " ORDER BY e.seq LIMIT ?";
static const char q_blocks[] =
	"SELECT block FROM audit_index.audit_time_blocks"
	" WHERE block >= ? AND block < ? AND min_time <= ? AND max_time >= ? ORDER BY block";
static const char q_mark[] = "SELECT upto FROM audit_index.audit_idx_mark WHERE id = 0";

void mm_audit_filter_init(mm_audit_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->seq_from = 0;
	f->seq_to = INT64_MAX;
	f->time_from_ms = INT64_MIN;
	f->time_to_ms = INT64_MAX;
	f->limit = 100;
}

struct page {
	const mm_audit_filter *f;
	json_t *arr;
	int n;
	int64_t next;           /* first seq of the next page, or -1 */
};

static bool page_full(const struct page *pg)
{
	return pg->next >= 0;
}

/* Runs q_key (kind > 0) or q_rows over seq [lo, hi), appending to the page;
 * one extra row tells the next page's cursor. */
static mm_err run(mm_db *db, struct page *pg, int kind, const char *value, int64_t lo,
		  int64_t hi)
{
	const mm_audit_filter *f = pg->f;
	const char *const opt[] = { f->actor, f->action, f->target };
	mm_stmt *st = NULL;
	int i = 1;
	bool row;
	mm_err rc;

	if (lo >= hi || page_full(pg))
		return MM_OK;
	if ((rc = mm_db_prepare(db, kind > 0 ? q_key : q_rows, &st)) != MM_OK)
		return rc;
	if (kind > 0 && ((rc = mm_stmt_bind_int(st, i++, kind)) != MM_OK ||
			 (rc = mm_stmt_bind_text(st, i++, value)) != MM_OK))
		goto out;
	if ((rc = mm_stmt_bind_int(st, i++, lo)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, hi)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_from_ms)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_to_ms)) != MM_OK)
		goto out;
	for (int k = 0; k < 3; k++)
		if ((rc = mm_stmt_bind_text(st, i++, opt[k])) != MM_OK ||
		    (rc = mm_stmt_bind_text(st, i++, opt[k])) != MM_OK)
			goto out;
	if ((rc = mm_stmt_bind_int(st, i++, (int64_t)(f->limit - pg->n) + 1)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_record r;
		json_t *o;

		mm_audit_record_from_stmt(st, &r);
		if (pg->n == f->limit) {
			pg->next = r.seq;
			break;
		}
		if ((o = mm_audit_record_json(&r)) == NULL || json_array_append_new(pg->arr, o) != 0) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		pg->n++;
	}
out:
	mm_stmt_done(st);
	return rc;
}

/* Time range only, below the mark: the overlapping blocks, each by seq. */
static mm_err run_blocks(mm_db *db, struct page *pg, int64_t lo, int64_t hi)
{
	const int64_t B = MM_AUDIT_TIME_BLOCK;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if (lo >= hi)
		return MM_OK;
	if ((rc = mm_db_prepare(db, q_blocks, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, lo / B)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, (hi - 1) / B + 1)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 3, pg->f->time_to_ms)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 4, pg->f->time_from_ms)) != MM_OK)
		goto out;
	while (!page_full(pg) && (rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		int64_t b = mm_stmt_int(st, 0), from = b * B, to = from + B;

		if ((rc = run(db, pg, 0, NULL, from > lo ? from : lo, to < hi ? to : hi)) != MM_OK)
			break;
	}
out:
	mm_stmt_done(st);
	return rc;
}

static mm_err read_upto(mm_db *db, int64_t *ret)
{
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_mark, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	return rc;
}

mm_err mm_audit_query(mm_store *s, const mm_audit_filter *f, json_t **ret_events,
		      int64_t *ret_next)
{
	struct page pg = { f, NULL, 0, -1 };
	mm_db *db = NULL;
	int64_t lo = f->seq_from > f->cursor ? f->seq_from : f->cursor, upto = 0, hi, mid;
	int kind = f->target ? 3 : f->actor ? 1 : f->action ? 2 : 0;
	const char *value = f->target ? f->target : f->actor ? f->actor : f->action;
	bool timed = f->time_from_ms != INT64_MIN || f->time_to_ms != INT64_MAX, in_tx = false;
	mm_err rc;

	if (f->limit < 1 || f->limit > 1000)
		return mm_err_set(MM_ERR_INVALID, "limit must be 1..1000");
	if (f->seq_from < 0 || f->cursor < 0)
		return mm_err_set(MM_ERR_INVALID, "sequence numbers and cursors are not negative");
	hi = f->seq_to == INT64_MAX ? INT64_MAX : f->seq_to + 1;
	if ((pg.arr = json_array()) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	in_tx = true;
	/* Without a companion (a store no audit log has opened) everything is
	 * the tail. */
	if ((kind > 0 || timed) && mm_store_has_companion(s, "audit_index") &&
	    (rc = read_upto(db, &upto)) != MM_OK)
		goto out;
	mid = upto < hi ? upto : hi;
	if (kind > 0)
		rc = run(db, &pg, kind, value, lo, mid);
	else if (timed)
		rc = run_blocks(db, &pg, lo, mid);
	if (rc == MM_OK)
		rc = run(db, &pg, 0, NULL, lo > upto ? lo : upto, hi);
	if (rc != MM_OK)
		goto out;
	*ret_events = pg.arr;
	pg.arr = NULL;
	*ret_next = pg.next;
out:
	if (in_tx)
		mm_db_rollback(db);
	mm_store_release(s, db);
	json_decref(pg.arr);
	return rc;
}
