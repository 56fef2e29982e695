/*
 * query.c: searching the log by sequence range, time range, actor, action
 * and target with cursor pagination (ascending seq).
 *
 * Each filter shape has its own literal statement so that the statement
 * cache works and the planner can use the matching index: actor, action
 * and target have (column, seq) indexes (seq is the rowid), so an equality
 * filter plus "seq >= cursor ORDER BY seq" is an index range scan. The
 * cursor is simply the next sequence number to return.
 */
#include "audit/internal.h"

#include <limits.h>
#include <string.h>

#define COLS "SELECT " AUDIT_COLS " FROM audit_events WHERE "
#define RANGE "seq >= ? AND seq <= ? AND time_ms >= ? AND time_ms <= ?"

static const char q_actor[] = COLS "actor = ? AND " RANGE
	" AND (? IS NULL OR action = ?) AND (? IS NULL OR target = ?) ORDER BY seq LIMIT ?";
static const char q_action[] = COLS "action = ? AND " RANGE
	" AND (? IS NULL OR target = ?) ORDER BY seq LIMIT ?";
static const char q_target[] = COLS "target = ? AND " RANGE " ORDER BY seq LIMIT ?";
static const char q_plain[] = COLS RANGE " ORDER BY seq LIMIT ?";

void mm_audit_filter_init(mm_audit_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->seq_from = 0;
	f->seq_to = INT64_MAX;
	f->time_from_ms = INT64_MIN;
	f->time_to_ms = INT64_MAX;
	f->limit = 100;
}

mm_err mm_audit_query(mm_store *s, const mm_audit_filter *f, json_t **ret_events,
		      int64_t *ret_next)
{
	const char *sql;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	json_t *arr = NULL;
	int64_t lo = f->seq_from > f->cursor ? f->seq_from : f->cursor, next = -1;
	int i = 1, n = 0;
	bool row;
	mm_err rc;

	if (f->limit < 1 || f->limit > 1000)
		return mm_err_set(MM_ERR_INVALID, "limit must be 1..1000");
	if (f->seq_from < 0 || f->cursor < 0)
		return mm_err_set(MM_ERR_INVALID, "sequence numbers and cursors are not negative");
	if ((arr = json_array()) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		goto out;
	sql = f->actor ? q_actor : f->action ? q_action : f->target ? q_target : q_plain;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if (sql == q_actor)
		rc = mm_stmt_bind_text(st, i++, f->actor);
	else if (sql == q_action)
		rc = mm_stmt_bind_text(st, i++, f->action);
	else if (sql == q_target)
		rc = mm_stmt_bind_text(st, i++, f->target);
	if (rc != MM_OK || (rc = mm_stmt_bind_int(st, i++, lo)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->seq_to)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_from_ms)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_to_ms)) != MM_OK)
		goto out;
	if (sql == q_actor) {
		if ((rc = mm_stmt_bind_text(st, i++, f->action)) != MM_OK ||
		    (rc = mm_stmt_bind_text(st, i++, f->action)) != MM_OK)
			goto out;
	}
	if (sql == q_actor || sql == q_action) {
		if ((rc = mm_stmt_bind_text(st, i++, f->target)) != MM_OK ||
		    (rc = mm_stmt_bind_text(st, i++, f->target)) != MM_OK)
			goto out;
	}
	if ((rc = mm_stmt_bind_int(st, i++, (int64_t)f->limit + 1)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_record r;
		json_t *o;

		mm_audit_record_from_stmt(st, &r);
		if (n == f->limit) {
			next = r.seq;
			break;
		}
		if ((o = mm_audit_record_json(&r)) == NULL || json_array_append_new(arr, o) != 0) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (rc != MM_OK)
		goto out;
	*ret_events = arr;
	arr = NULL;
	*ret_next = next;
out:
	mm_stmt_done(st);
	mm_store_release(s, db);
	json_decref(arr);
	return rc;
}
