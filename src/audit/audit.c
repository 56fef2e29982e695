/*
 * audit.c: appending events to the log.
 * Invariant: audit_events rows are only ever inserted, with seq equal to the
 * number of rows before the insert; nothing updates or deletes them.
 */
#include "audit/audit.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/time.h"
#include "crypto/crypto.h"

static const char *const steps[] = {
	"CREATE TABLE audit_events ("
	" seq INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT,"
	" result TEXT NOT NULL,"
	" body BLOB NOT NULL,"
	" leaf_hash BLOB NOT NULL)",
};

const mm_migration_set mm_audit_migrations = { "audit", steps, sizeof(steps) / sizeof(steps[0]) };

static mm_err serialise(const mm_audit_event *ev, int64_t seq, int64_t t, mm_buf *out)
{
	json_t *o = json_object();
	char *s = NULL;
	mm_err rc = MM_OK;

	if (o == NULL)
		return MM_ERR_NOMEM;
	json_object_set_new(o, "seq", json_integer(seq));
	json_object_set_new(o, "time_ms", json_integer(t));
	json_object_set_new(o, "actor", json_string(ev->actor));
	json_object_set_new(o, "action", json_string(ev->action));
	json_object_set_new(o, "target", ev->target ? json_string(ev->target) : json_null());
	json_object_set_new(o, "result", json_string(ev->result));
	json_object_set_new(o, "source", ev->source ? json_string(ev->source) : json_null());
	json_object_set_new(o, "request_id", ev->request_id ? json_string(ev->request_id) : json_null());
	json_object_set_new(o, "details", ev->details ? json_incref((json_t *)ev->details) : json_object());
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (s == NULL)
		rc = mm_err_set(MM_ERR_INVALID, "audit event is not valid UTF-8 text");
	else
		rc = mm_buf_appends(out, s);
	free(s);
	json_decref(o);
	return rc;
}

mm_err mm_audit_append(mm_db *db, const mm_audit_event *ev, int64_t *ret_seq)
{
	static const char q_next[] = "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_events";
	static const char q_ins[] =
		"INSERT INTO audit_events (seq, time_ms, actor, action, target, result, body, leaf_hash)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	mm_buf body = MM_BUF_INIT(1 << 20);
	uint8_t leaf[MM_SHA256_LEN];
	mm_stmt *st = NULL;
	int64_t seq = 0, t;
	bool row;
	mm_err rc;

	if (ev->actor == NULL || ev->action == NULL || ev->result == NULL)
		return mm_err_set(MM_ERR_INVALID, "audit event needs actor, action and result");
	t = ev->time_ms ? ev->time_ms : mm_time_wall_ms();
	if ((rc = mm_db_prepare(db, q_next, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	seq = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	st = NULL;
	if ((rc = serialise(ev, seq, t, &body)) != MM_OK)
		goto out;
	{
		static const uint8_t zero = 0;
		mm_sha256_2(&zero, 1, body.data, body.len, leaf);
	}
	if ((rc = mm_db_prepare(db, q_ins, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, 1, seq)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, t)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 3, ev->actor)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 4, ev->action)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 5, ev->target)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 6, ev->result)) != MM_OK ||
	    (rc = mm_stmt_bind_blob(st, 7, body.data, body.len)) != MM_OK ||
	    (rc = mm_stmt_bind_blob(st, 8, leaf, sizeof(leaf))) != MM_OK)
		goto out;
	if ((rc = mm_stmt_run(st)) != MM_OK)
		goto out;
	if (ret_seq != NULL)
		*ret_seq = seq;
out:
	mm_stmt_done(st);
	mm_buf_release(&body);
	return rc;
}
