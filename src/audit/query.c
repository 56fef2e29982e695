/*
 * query.c: searching the log by sequence range, time range, actor, action
 * and target with cursor pagination (ascending seq).
 *
 * Actor and action have per-row (column, seq) indexes: an equality on either
 * plus "seq >= cursor ORDER BY seq" is an index range scan. The target is
 * indexed in chunks (log.c, mm_audit_merge_index): events below the mark are
 * in audit_key_idx, the newer tail (at most MM_AUDIT_INDEX_CHUNK events) is
 * scanned by rowid. A target-only query reads the index first (every seq
 * there is below the mark) and then the tail, in one read transaction, so
 * the pages concatenate in seq order and a chunk merged in between is
 * neither missed nor seen twice. Other given fields filter the rows. The
 * cursor is simply the next sequence number to return.
 */
#include "audit/internal.h"

#include <limits.h>
#include <string.h>

#define FILTERS \
	" AND (? IS NULL OR e.actor = ?) AND (? IS NULL OR e.action = ?)" \
	" AND (? IS NULL OR e.target = ?)"

static const char q_key[] =
	"SELECT " AUDIT_COLS_E " FROM audit_key_idx k JOIN audit_events e ON e.seq = k.seq"
	" WHERE k.kind = ? AND k.value = ? AND k.seq >= ? AND k.seq <= ?"
	" AND e.time_ms >= ? AND e.time_ms <= ?" FILTERS " ORDER BY k.seq LIMIT ?";
/* "+e.time_ms" keeps the planner on the rowid range of the short tail. */
static const char q_tail[] =
	"SELECT " AUDIT_COLS_E " FROM audit_events e"
	" WHERE e.seq >= MAX(?, (SELECT upto FROM audit_index_mark WHERE id = 0)) AND e.seq <= ?"
	" AND +e.time_ms >= ? AND +e.time_ms <= ?" FILTERS " ORDER BY e.seq LIMIT ?";
/* Actor or action given: their own index ("+e.time_ms" keeps the planner off
 * the time index; the other fields filter). */
static const char q_actor[] =
	"SELECT " AUDIT_COLS_E " FROM audit_events e WHERE e.actor = ? AND e.seq >= ? AND e.seq <= ?"
	" AND +e.time_ms >= ? AND +e.time_ms <= ?" FILTERS " ORDER BY e.seq LIMIT ?";
static const char q_action[] =
	"SELECT " AUDIT_COLS_E " FROM audit_events e WHERE e.action = ? AND e.seq >= ? AND e.seq <= ?"
	" AND +e.time_ms >= ? AND +e.time_ms <= ?" FILTERS " ORDER BY e.seq LIMIT ?";
static const char q_plain[] =
	"SELECT " AUDIT_COLS " FROM audit_events"
	" WHERE seq >= ? AND seq <= ? AND time_ms >= ? AND time_ms <= ? ORDER BY seq LIMIT ?";

void mm_audit_filter_init(mm_audit_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->seq_from = 0;
	f->seq_to = INT64_MAX;
	f->time_from_ms = INT64_MIN;
	f->time_to_ms = INT64_MAX;
	f->limit = 100;
}

/* Runs one statement of a query, appending rows to arr until the page
 * (f->limit) is full; *next becomes the first seq of the next page. For
 * q_key, kind/value name the indexed field. */
static mm_err run(mm_db *db, const char *sql, const mm_audit_filter *f, int kind,
		  const char *value, int64_t lo, json_t *arr, int *n, int64_t *next)
{
	const char *const opt[] = { f->actor, f->action, f->target };
	mm_stmt *st = NULL;
	int i = 1;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if (sql == q_key && ((rc = mm_stmt_bind_int(st, i++, kind)) != MM_OK ||
			     (rc = mm_stmt_bind_text(st, i++, value)) != MM_OK))
		goto out;
	if ((sql == q_actor || sql == q_action) && (rc = mm_stmt_bind_text(st, i++, value)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, i++, lo)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->seq_to)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_from_ms)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, i++, f->time_to_ms)) != MM_OK)
		goto out;
	for (int k = 0; sql != q_plain && k < 3; k++)
		if ((rc = mm_stmt_bind_text(st, i++, opt[k])) != MM_OK ||
		    (rc = mm_stmt_bind_text(st, i++, opt[k])) != MM_OK)
			goto out;
	if ((rc = mm_stmt_bind_int(st, i++, (int64_t)(f->limit - *n) + 1)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_record r;
		json_t *o;

		mm_audit_record_from_stmt(st, &r);
		if (*n == f->limit) {
			*next = r.seq;
			break;
		}
		if ((o = mm_audit_record_json(&r)) == NULL || json_array_append_new(arr, o) != 0) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		(*n)++;
	}
out:
	mm_stmt_done(st);
	return rc;
}

mm_err mm_audit_query(mm_store *s, const mm_audit_filter *f, json_t **ret_events,
		      int64_t *ret_next)
{
	mm_db *db = NULL;
	json_t *arr = NULL;
	int64_t lo = f->seq_from > f->cursor ? f->seq_from : f->cursor, next = -1;
	const char *sql = f->actor ? q_actor : f->action ? q_action : f->target ? q_key : q_plain;
	const char *value = f->actor ? f->actor : f->action ? f->action : f->target;
	bool in_tx = false;
	int n = 0;
	mm_err rc;

	if (f->limit < 1 || f->limit > 1000)
		return mm_err_set(MM_ERR_INVALID, "limit must be 1..1000");
	if (f->seq_from < 0 || f->cursor < 0)
		return mm_err_set(MM_ERR_INVALID, "sequence numbers and cursors are not negative");
	if ((arr = json_array()) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		goto out;
	if (sql != q_key) {
		rc = run(db, sql, f, 0, value, lo, arr, &n, &next);
	} else {
		if ((rc = mm_db_begin(db)) != MM_OK)
			goto out;
		in_tx = true;
		rc = run(db, q_key, f, 3, value, lo, arr, &n, &next);
		if (rc == MM_OK && next < 0)
			rc = run(db, q_tail, f, 0, NULL, lo, arr, &n, &next);
	}
	if (rc != MM_OK)
		goto out;
	*ret_events = arr;
	arr = NULL;
	*ret_next = next;
out:
	if (in_tx)
		mm_db_rollback(db);
	mm_store_release(s, db);
	json_decref(arr);
	return rc;
}
