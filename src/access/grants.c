/*
 * grants.c: just-in-time privileged access: requests, approvals, grants,
 * work reports, break-glass, access checks and the expiry tick.
 *
 * State machine (mm_grant_transition is the only authority):
 *
 *   pending --approve(N-th)--> approved --activate(start)--> active
 *   pending --deny--> denied        pending --expire(review time)--> expired
 *   pending|approved --cancel--> cancelled
 *   approved|active --end(end time)--> ended
 *   approved|active --revoke--> revoked
 *
 * Invariants:
 *  - Every transition is one UPDATE guarded by the expected current state
 *    (WHERE state = ?) plus its audit record, in the same write job.
 *  - A requester never approves, denies or confirms their own request, even
 *    holding the approver role; an approver counts once per request
 *    (primary key (grant_id, approver_id)).
 *  - Access is decided from time, not only state: a grant allows access
 *    only while start_ms <= now < end_ms, so it stops at its end even
 *    before the tick records the transition, and after a restart.
 *  - Every access decision is audited in the same job that evaluates it, so
 *    the record matches the state the decision saw. A decision under a grant
 *    has the audit target "grant:ID" (like every other event of the grant),
 *    so the audit log's target index lists the operations under a grant;
 *    other decisions have the target "user:NAME".
 *  - Refused approval attempts are audited too (result "denied"): the job
 *    commits the record and reports the refusal through its struct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "core/log.h"
#include "core/time.h"

#define REASON_MAX 1024
#define TICKET_MAX 128
#define REPORT_MAX 16384
#define LIST_MAX 1000
#define START_SKEW_MS 60000LL
#define START_AHEAD_MS (30LL * 86400 * 1000)

static const char *const state_names[MM_GRANT__COUNT] = {
	[MM_GRANT_PENDING] = "pending",
	[MM_GRANT_APPROVED] = "approved",
	[MM_GRANT_ACTIVE] = "active",
	[MM_GRANT_DENIED] = "denied",
	[MM_GRANT_EXPIRED] = "expired",
	[MM_GRANT_CANCELLED] = "cancelled",
	[MM_GRANT_ENDED] = "ended",
	[MM_GRANT_REVOKED] = "revoked",
};

const char *mm_grant_state_name(mm_grant_state s)
{
	return s < MM_GRANT__COUNT ? state_names[s] : "unknown";
}

mm_err mm_grant_state_parse(const char *name, mm_grant_state *ret)
{
	for (int i = 0; i < MM_GRANT__COUNT; i++) {
		if (name != NULL && strcmp(state_names[i], name) == 0) {
			*ret = (mm_grant_state)i;
			return MM_OK;
		}
	}
	return mm_err_set(MM_ERR_INVALID, "unknown grant state '%.32s'", name ? name : "");
}

mm_err mm_grant_transition(mm_grant_state from, mm_grant_event ev, mm_grant_state *ret)
{
	static const signed char next[MM_GRANT__COUNT][MM_GEV__COUNT] = {
		/*                APPROVE            DENY              EXPIRE
		 *                CANCEL             ACTIVATE          END
		 *                REVOKE */
		[MM_GRANT_PENDING] = { MM_GRANT_APPROVED, MM_GRANT_DENIED, MM_GRANT_EXPIRED,
				       MM_GRANT_CANCELLED, -1, -1, -1 },
		[MM_GRANT_APPROVED] = { -1, -1, -1, MM_GRANT_CANCELLED, MM_GRANT_ACTIVE,
					MM_GRANT_ENDED, MM_GRANT_REVOKED },
		[MM_GRANT_ACTIVE] = { -1, -1, -1, -1, -1, MM_GRANT_ENDED, MM_GRANT_REVOKED },
		[MM_GRANT_DENIED] = { -1, -1, -1, -1, -1, -1, -1 },
		[MM_GRANT_EXPIRED] = { -1, -1, -1, -1, -1, -1, -1 },
		[MM_GRANT_CANCELLED] = { -1, -1, -1, -1, -1, -1, -1 },
		[MM_GRANT_ENDED] = { -1, -1, -1, -1, -1, -1, -1 },
		[MM_GRANT_REVOKED] = { -1, -1, -1, -1, -1, -1, -1 },
	};
	static const char *const ev_names[MM_GEV__COUNT] = { "approved", "denied", "expired",
		"cancelled", "activated", "ended", "revoked" };

	if (from >= MM_GRANT__COUNT || ev >= MM_GEV__COUNT)
		return mm_err_set(MM_ERR_INVALID, "bad state or event");
	if (next[from][ev] < 0)
		return mm_err_set(MM_ERR_CONFLICT, "a %s request cannot be %s", state_names[from],
				  ev_names[ev]);
	*ret = (mm_grant_state)next[from][ev];
	return MM_OK;
}

/* ---- loading and rendering ---- */

#define GRANT_COLS                                                                          \
	"id, user_name, target, role, reason, ticket, state, created_ms, review_by_ms,"     \
	" start_ms, end_ms, approver_role, approvals_required, report_required, breakglass," \
	" decided_ms, decided_by, decision_note, closed_ms, closed_by, close_reason,"       \
	" report_text, report_ms, report_confirmed_by, report_confirmed_ms, user_id"

struct grant {
	int64_t id, user_id;
	char user[MM_NAME_MAX + 1];
	char target[MM_NAME_MAX + 1];
	char role[MM_NAME_MAX + 1];
	mm_grant_state state;
	int64_t created_ms, review_by_ms, start_ms, end_ms;
	char approver_role[MM_NAME_MAX + 1];
	int64_t approvals_required;
	bool report_required, breakglass, has_report, report_confirmed;
};

static void grant_from_row(mm_stmt *st, struct grant *g)
{
	memset(g, 0, sizeof(*g));
	g->id = mm_stmt_int(st, 0);
	mm_str_copy(g->user, sizeof(g->user), mm_stmt_text(st, 1));
	mm_str_copy(g->target, sizeof(g->target), mm_stmt_text(st, 2));
	mm_str_copy(g->role, sizeof(g->role), mm_stmt_text(st, 3));
	if (mm_grant_state_parse(mm_stmt_text(st, 6), &g->state) != MM_OK)
		g->state = MM_GRANT_REVOKED; /* unknown text: treat as closed */
	g->created_ms = mm_stmt_int(st, 7);
	g->review_by_ms = mm_stmt_int(st, 8);
	g->start_ms = mm_stmt_int(st, 9);
	g->end_ms = mm_stmt_int(st, 10);
	mm_str_copy(g->approver_role, sizeof(g->approver_role), mm_stmt_text(st, 11));
	g->approvals_required = mm_stmt_int(st, 12);
	g->report_required = mm_stmt_int(st, 13) != 0;
	g->breakglass = mm_stmt_int(st, 14) != 0;
	g->has_report = !mm_stmt_is_null(st, 21);
	g->report_confirmed = !mm_stmt_is_null(st, 24);
	g->user_id = mm_stmt_int(st, 25);
}

static json_t *tjson(int64_t ms)
{
	char t[MM_TIME_RFC3339_LEN];

	if (ms <= 0)
		return json_null();
	mm_time_format(ms, t);
	return json_string(t);
}

static json_t *opt_time(mm_stmt *st, int col)
{
	return mm_stmt_is_null(st, col) ? json_null() : tjson(mm_stmt_int(st, col));
}

static json_t *opt_text(mm_stmt *st, int col)
{
	return mm_stmt_is_null(st, col) ? json_null() : json_string(mm_stmt_text(st, col));
}

static mm_err approvals_json(mm_db *db, int64_t id, json_t **ret)
{
	static const char sql[] =
		"SELECT approver, approved_ms, comment FROM grant_approvals WHERE grant_id = ?"
		" ORDER BY approved_ms, approver";
	json_t *arr = json_array();
	mm_stmt *st;
	bool row;
	mm_err rc;

	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK) {
		json_decref(arr);
		return rc;
	}
	if ((rc = mm_stmt_bind_int(st, 1, id)) == MM_OK)
		while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
			json_array_append_new(arr, json_pack("{s:s,s:o,s:o}", "by", mm_stmt_text(st, 0),
				"at", tjson(mm_stmt_int(st, 1)), "comment", opt_text(st, 2)));
	mm_stmt_done(st);
	if (rc != MM_OK) {
		json_decref(arr);
		return rc;
	}
	*ret = arr;
	return MM_OK;
}

/* Renders the GRANT_COLS row (without approvals). */
static json_t *grant_row_json(mm_stmt *st, int64_t now)
{
	struct grant g;
	json_t *o, *report;
	bool live;

	grant_from_row(st, &g);
	live = (g.state == MM_GRANT_APPROVED || g.state == MM_GRANT_ACTIVE) &&
	       g.start_ms <= now && now < g.end_ms;
	report = g.has_report || g.report_required
		 ? json_pack("{s:b,s:o,s:o,s:o,s:o}", "required", g.report_required, "text",
			     opt_text(st, 21), "submitted", opt_time(st, 22), "confirmed_by",
			     opt_text(st, 23), "confirmed", opt_time(st, 24))
		 : json_null();
	o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:I,s:s,s:I,s:b,s:b,s:I,"
		      "s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		      "id", (json_int_t)g.id, "requester", g.user, "target", g.target, "role",
		      g.role, "reason", opt_text(st, 4), "ticket", opt_text(st, 5), "state",
		      mm_grant_state_name(g.state), "created", tjson(g.created_ms), "review_by",
		      tjson(g.review_by_ms), "start", tjson(g.start_ms), "end", tjson(g.end_ms),
		      "duration_s", (json_int_t)((g.end_ms - g.start_ms) / 1000), "approver_role",
		      g.approver_role, "approvals_required", (json_int_t)g.approvals_required,
		      "breakglass", g.breakglass, "access_now", live, "remaining_s",
		      (json_int_t)(live ? (g.end_ms - now) / 1000 : 0),
		      "decided", opt_time(st, 15), "decided_by", opt_text(st, 16),
		      "decision_note", opt_text(st, 17), "closed", opt_time(st, 18),
		      "closed_by", opt_text(st, 19), "close_reason", opt_text(st, 20),
		      "report", report);
	return o;
}

static mm_err grant_json(mm_db *db, int64_t id, json_t **ret)
{
	static const char sql[] = "SELECT " GRANT_COLS " FROM grants WHERE id = ?";
	json_t *o = NULL, *apps = NULL;
	mm_stmt *st;
	bool row = false;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, id)) == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK &&
	    row && (o = grant_row_json(st, mm_time_wall_ms())) == NULL)
		rc = MM_ERR_NOMEM;
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (!row)
		return mm_err_set(MM_ERR_NOT_FOUND, "no request %lld", (long long)id);
	if ((rc = approvals_json(db, id, &apps)) != MM_OK) {
		json_decref(o);
		return rc;
	}
	json_object_set_new(o, "approvals", apps);
	*ret = o;
	return MM_OK;
}

static mm_err load_grant(mm_db *db, int64_t id, struct grant *g)
{
	static const char sql[] = "SELECT " GRANT_COLS " FROM grants WHERE id = ?";
	mm_stmt *st;
	bool row = false;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, id)) == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK &&
	    row)
		grant_from_row(st, g);
	mm_stmt_done(st);
	if (rc == MM_OK && !row)
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no request %lld", (long long)id);
	return rc;
}

mm_err mm_grants_active_json(mm_access *a, mm_db *db, int64_t uid, json_t **ret)
{
	static const char sql[] =
		"SELECT id, target, role, end_ms, breakglass FROM grants WHERE user_id = ?"
		" AND state IN ('approved', 'active') AND start_ms <= ? AND end_ms > ?"
		" ORDER BY id";
	int64_t now = mm_time_wall_ms();
	json_t *arr = json_array();
	mm_stmt *st;
	bool row;
	mm_err rc;

	(void)a;
	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK) {
		json_decref(arr);
		return rc;
	}
	if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, now)) == MM_OK)
		while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
			json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:o,s:b}", "id",
				(json_int_t)mm_stmt_int(st, 0), "target", mm_stmt_text(st, 1),
				"role", mm_stmt_text(st, 2), "end", tjson(mm_stmt_int(st, 3)),
				"breakglass", mm_stmt_int(st, 4) != 0));
	mm_stmt_done(st);
	if (rc != MM_OK) {
		json_decref(arr);
		return rc;
	}
	*ret = arr;
	return MM_OK;
}

/* ---- transitions ---- */

static mm_err audit_grant(mm_db *db, const mm_access_ctx *ctx, const char *action,
			  const struct grant *g, const char *result, json_t *details)
{
	char actor[MM_NAME_MAX + 8], target[48];
	mm_audit_event ev;
	mm_err rc;

	snprintf(target, sizeof(target), "grant:%lld", (long long)g->id);
	if (ctx != NULL) {
		mm_access_event(&ev, ctx, actor, action, target, result);
	} else {
		memset(&ev, 0, sizeof(ev));
		ev.actor = "system";
		ev.action = action;
		ev.target = target;
		ev.result = result;
	}
	if (details == NULL)
		details = json_object();
	if (details != NULL) {
		json_object_set_new(details, "requester", json_string(g->user));
		json_object_set_new(details, "target", json_string(g->target));
		json_object_set_new(details, "role", json_string(g->role));
		if (g->breakglass)
			json_object_set_new(details, "breakglass", json_true());
	}
	ev.details = details;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(details);
	return rc;
}

/* Moves g through ev, guarded by its current state; extra columns: closed
 * or decided (by whom, note). Audits `action`. */
static mm_err transition(mm_access *a, mm_db *db, const mm_access_ctx *ctx, struct grant *g,
			 mm_grant_event ev, const char *action, const char *note,
			 json_t *details)
{
	static const char q_decide[] =
		"UPDATE grants SET state = ?, decided_ms = ?, decided_by = ?, decision_note = ?"
		" WHERE id = ? AND state = ?";
	static const char q_close[] =
		"UPDATE grants SET state = ?, closed_ms = ?, closed_by = ?, close_reason = ?"
		" WHERE id = ? AND state = ?";
	static const char q_plain[] = "UPDATE grants SET state = ? WHERE id = ? AND state = ?";
	char actor[MM_NAME_MAX + 8];
	mm_grant_state to;
	int64_t now = mm_time_wall_ms();
	mm_stmt *st;
	mm_err rc;

	(void)a;
	if ((rc = mm_grant_transition(g->state, ev, &to)) != MM_OK) {
		json_decref(details);
		return rc;
	}
	if (ctx != NULL && ctx->who != NULL)
		snprintf(actor, sizeof(actor), "user:%s", ctx->who->name);
	else
		snprintf(actor, sizeof(actor), "system");
	if (ev == MM_GEV_ACTIVATE) {
		if ((rc = mm_db_prepare(db, q_plain, &st)) != MM_OK)
			goto fail;
		if ((rc = mm_stmt_bind_text(st, 1, state_names[to])) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, g->id)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, state_names[g->state])) == MM_OK)
			rc = mm_stmt_run(st);
	} else {
		bool decide = ev == MM_GEV_APPROVE || ev == MM_GEV_DENY;

		if ((rc = mm_db_prepare(db, decide ? q_decide : q_close, &st)) != MM_OK)
			goto fail;
		if ((rc = mm_stmt_bind_text(st, 1, state_names[to])) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, actor)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 4, note)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 5, g->id)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 6, state_names[g->state])) == MM_OK)
			rc = mm_stmt_run(st);
	}
	mm_stmt_done(st);
	if (rc != MM_OK)
		goto fail;
	if (mm_db_changes(db) != 1) {
		rc = mm_err_set(MM_ERR_CONFLICT, "request %lld changed meanwhile", (long long)g->id);
		goto fail;
	}
	if (details == NULL)
		details = json_object();
	if (details != NULL) {
		json_object_set_new(details, "from", json_string(state_names[g->state]));
		json_object_set_new(details, "to", json_string(state_names[to]));
		if (note != NULL)
			json_object_set_new(details, "note", json_string(note));
	}
	g->state = to;
	return audit_grant(db, ctx, action, g, "success", details);
fail:
	json_decref(details);
	return rc;
}

static json_t *notify_body(const struct grant *g, const char *by)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:b,s:s?}", "id", (json_int_t)g->id,
			 "requester", g->user, "target", g->target, "role", g->role, "state",
			 mm_grant_state_name(g->state), "start", tjson(g->start_ms), "end",
			 tjson(g->end_ms), "breakglass", g->breakglass, "by", by);
}

static mm_err notify(mm_access *a, mm_db *db, const char *event, const struct grant *g,
		     const char *by, const char *reason)
{
	json_t *b = notify_body(g, by);
	mm_err rc;

	if (b == NULL)
		return MM_ERR_NOMEM;
	if (reason != NULL)
		json_object_set_new(b, "reason", json_string(reason));
	rc = mm_notify_queue(a, db, event, b);
	json_decref(b);
	return rc;
}

/* ---- requests ---- */

struct create_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const mm_access_request *req;
	const mm_policy *pol;
	int64_t start_ms, end_ms;
	int64_t id;   /* out */
};

static mm_err create_job(mm_db *db, void *arg)
{
	static const char q_open[] =
		"SELECT id FROM grants WHERE user_id = ? AND target = ? AND role = ?"
		" AND state IN ('pending', 'approved', 'active') AND end_ms > ? LIMIT 1";
	static const char q_ins[] =
		"INSERT INTO grants (user_id, user_name, target, role, reason, ticket, state,"
		" created_ms, review_by_ms, start_ms, end_ms, approver_role, approvals_required,"
		" report_required, breakglass, decided_ms, decided_by)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id";
	struct create_job *j = arg;
	const mm_access_request *r = j->req;
	const mm_principal *who = j->ctx->who;
	int64_t now = mm_time_wall_ms(), review_by;
	bool bg = r->breakglass, row = false;
	char actor[MM_NAME_MAX + 8];
	struct grant g;
	json_t *d;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_open, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, who->user_id)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, r->target)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 3, r->role)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, now)) == MM_OK)
		rc = mm_stmt_step(st, &row);
	if (rc == MM_OK && row)
		rc = mm_err_set(MM_ERR_CONFLICT, "request %lld for %s on %s is still open",
				(long long)mm_stmt_int(st, 0), r->role, r->target);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	review_by = now + j->a->cfg->request_review_ms;
	if (review_by > j->end_ms)
		review_by = j->end_ms;
	snprintf(actor, sizeof(actor), "user:%s", who->name);
	if ((rc = mm_db_prepare(db, q_ins, &st)) != MM_OK)
		return rc;
	row = false;
	if ((rc = mm_stmt_bind_int(st, 1, who->user_id)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, who->name)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 3, r->target)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, r->role)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 5, r->reason)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 6, r->ticket)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 7, bg ? "active" : "pending")) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 8, now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 9, bg ? now : review_by)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 10, j->start_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 11, j->end_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 12, j->pol->approver_role)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 13, bg ? 0 : j->pol->approvals)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 14, bg || j->pol->report_required)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 15, bg)) == MM_OK &&
	    (rc = bg ? mm_stmt_bind_int(st, 16, now) : mm_stmt_bind_null(st, 16)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 17, bg ? "break-glass" : NULL)) == MM_OK)
		rc = mm_stmt_step(st, &row);
	if (rc == MM_OK && row)
		j->id = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = load_grant(db, j->id, &g)) != MM_OK)
		return rc;
	d = json_pack("{s:s,s:s?,s:o,s:o,s:s,s:I,s:b}", "reason", r->reason, "ticket", r->ticket,
		      "start", tjson(j->start_ms), "end", tjson(j->end_ms), "approver_role",
		      j->pol->approver_role, "approvals_required",
		      (json_int_t)(bg ? 0 : j->pol->approvals), "report_required",
		      bg || j->pol->report_required);
	if (bg) {
		/* Break-glass: granted at once, marked, audited, notified. */
		if ((rc = audit_grant(db, j->ctx, "access.breakglass", &g, "success", d)) != MM_OK)
			return rc;
		return notify(j->a, db, "access.breakglass", &g, actor, r->reason);
	}
	if ((rc = audit_grant(db, j->ctx, "access.request.create", &g, "success", d)) != MM_OK)
		return rc;
	return notify(j->a, db, "access.request.created", &g, actor, r->reason);
}

static mm_err with_db(mm_access *a, int64_t id, json_t **ret)
{
	mm_db *db = NULL;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	rc = grant_json(db, id, ret);
	mm_store_release(a->store, db);
	return rc;
}

static mm_err require_user(const mm_access_ctx *ctx)
{
	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users take part in access requests");
	return MM_OK;
}

static mm_err require_mfa(const mm_access_ctx *ctx, const char *what)
{
	if (!ctx->who->mfa)
		return mm_err_set(MM_ERR_FORBIDDEN, "%s needs a sign-in with a TOTP code", what);
	return MM_OK;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
			return false;
	return true;
}

mm_err mm_access_request_create(mm_access *a, const mm_access_ctx *ctx,
				const mm_access_request *req, json_t **ret)
{
	int64_t now = mm_time_wall_ms(), start, cap;
	struct create_job j;
	mm_policy pol;
	mm_err rc;

	if ((rc = require_user(ctx)) != MM_OK || (rc = require_mfa(ctx, "requesting access")) != MM_OK)
		return rc;
	if (req->target == NULL || req->role == NULL)
		return mm_err_set(MM_ERR_INVALID, "target and role are required");
	if (req->reason == NULL || req->reason[0] == '\0' || strlen(req->reason) > REASON_MAX ||
	    !printable(req->reason))
		return mm_err_set(MM_ERR_INVALID, "a reason of 1 to %d characters is required",
				  REASON_MAX);
	if (req->ticket != NULL && (strlen(req->ticket) > TICKET_MAX || !printable(req->ticket)))
		return mm_err_set(MM_ERR_INVALID, "the ticket must be at most %d characters",
				  TICKET_MAX);
	if ((rc = mm_targets_policy(a, req->target, req->role, &pol)) != MM_OK)
		return rc;
	if (req->breakglass &&
	    (a->cfg->breakglass_user == NULL || strcmp(a->cfg->breakglass_user, ctx->who->name) != 0))
		return mm_err_set(MM_ERR_FORBIDDEN, "only the configured break-glass account may "
				  "use break-glass access");
	cap = pol.max_ms < a->cfg->max_grant_ms ? pol.max_ms : a->cfg->max_grant_ms;
	if (req->duration_ms <= 0)
		return mm_err_set(MM_ERR_INVALID, "a positive duration is required");
	if (req->duration_ms > cap)
		return mm_err_set(MM_ERR_INVALID, "the longest grant for %s on %s is %llds",
				  req->role, req->target, (long long)(cap / 1000));
	start = req->start_ms ? req->start_ms : now;
	if (req->breakglass)
		start = now;
	if (start < now - START_SKEW_MS || start > now + START_AHEAD_MS)
		return mm_err_set(MM_ERR_INVALID, "the start must be between now and 30 days ahead");
	if (start < now)
		start = now;
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.req = req;
	j.pol = &pol;
	j.start_ms = start;
	j.end_ms = start + req->duration_ms;
	if ((rc = mm_store_write(a->store, create_job, &j)) != MM_OK)
		return rc;
	mm_notify_kick(a);
	return with_db(a, j.id, ret);
}

static bool sees_all(mm_access *a, const mm_principal *p)
{
	return mm_access_permits(a, p, "access.approve") || mm_access_permits(a, p, "access.admin") ||
	       mm_access_permits(a, p, "audit.read");
}

mm_err mm_access_request_list(mm_access *a, const mm_access_ctx *ctx, mm_access_filter f,
			      json_t **ret)
{
	static const char q_all[] =
		"SELECT " GRANT_COLS " FROM grants WHERE (? = 0 OR user_id = ?)"
		" ORDER BY id DESC LIMIT 1000";
	static const char q_pending[] =
		"SELECT " GRANT_COLS " FROM grants WHERE (? = 0 OR user_id = ?)"
		" AND state = 'pending' ORDER BY id DESC LIMIT 1000";
	static const char q_active[] =
		"SELECT " GRANT_COLS " FROM grants WHERE (? = 0 OR user_id = ?)"
		" AND state IN ('approved', 'active') AND end_ms > ? ORDER BY id DESC LIMIT 1000";
	static const char q_unconf[] =
		"SELECT " GRANT_COLS " FROM grants WHERE (? = 0 OR user_id = ?)"
		" AND report_required = 1 AND report_confirmed_ms IS NULL"
		" AND state IN ('active', 'ended', 'revoked') ORDER BY id DESC LIMIT 1000";
	const char *sql = f == MM_FILTER_PENDING ? q_pending : f == MM_FILTER_ACTIVE ? q_active
			: f == MM_FILTER_UNCONFIRMED ? q_unconf : q_all;
	bool own = !sees_all(a, ctx->who);
	int64_t now = mm_time_wall_ms();
	json_t *arr = json_array();
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = require_user(ctx)) != MM_OK)
		goto out;
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto rollback;
	if ((rc = mm_stmt_bind_int(st, 1, own)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, ctx->who->user_id)) != MM_OK ||
	    (f == MM_FILTER_ACTIVE && (rc = mm_stmt_bind_int(st, 3, now)) != MM_OK))
		goto rollback;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
		json_array_append_new(arr, grant_row_json(st, now));
	mm_stmt_done(st);
	st = NULL;
	if (rc == MM_OK) {
		size_t i;
		json_t *g;

		json_array_foreach(arr, i, g) {
			json_t *apps = NULL;

			if ((rc = approvals_json(db, json_integer_value(json_object_get(g, "id")),
						 &apps)) != MM_OK)
				break;
			json_object_set_new(g, "approvals", apps);
		}
	}
rollback:
	mm_stmt_done(st);
	st = NULL;
	mm_db_rollback(db);
	if (rc == MM_OK && (*ret = json_pack("{s:O}", "requests", arr)) == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(arr);
	mm_store_release(a->store, db);
	return rc;
}

mm_err mm_access_request_get(mm_access *a, const mm_access_ctx *ctx, int64_t id, json_t **ret)
{
	json_t *g = NULL;
	mm_err rc;

	if ((rc = require_user(ctx)) != MM_OK)
		return rc;
	if ((rc = with_db(a, id, &g)) != MM_OK)
		return rc;
	if (!sees_all(a, ctx->who) &&
	    strcmp(json_string_value(json_object_get(g, "requester")), ctx->who->name) != 0) {
		json_decref(g);
		return mm_err_set(MM_ERR_NOT_FOUND, "no request %lld", (long long)id);
	}
	*ret = g;
	return MM_OK;
}

/* ---- decisions ---- */

enum op {
	OP_APPROVE, OP_DENY, OP_CANCEL, OP_REVOKE, OP_REPORT, OP_CONFIRM,
};

struct decide_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	int64_t id;
	enum op op;
	const char *text;      /* comment, reason or report */
	mm_err refused;        /* a refusal recorded in the audit log */
	char refused_msg[256];
	bool notified;
};

/* Records a refused attempt (committed) and remembers the error. */
static mm_err refuse(mm_db *db, struct decide_job *j, const struct grant *g, const char *action,
		     mm_err e, const char *msg)
{
	j->refused = e;
	mm_str_copy(j->refused_msg, sizeof(j->refused_msg), msg);
	return audit_grant(db, j->ctx, action, g, "denied", json_pack("{s:s}", "refusal", msg));
}

/* May the caller act as an approver of g? Returns NULL or why not. */
static const char *approver_problem(const struct decide_job *j, const struct grant *g)
{
	const mm_principal *who = j->ctx->who;

	if (who->user_id == g->user_id)
		return "you cannot approve, deny or confirm your own request";
	if (!mm_str_list_has(who->roles, g->approver_role))
		return "this request needs a holder of its approver role";
	if (!who->mfa)
		return "approving needs a sign-in with a TOTP code";
	return NULL;
}

static mm_err decide_job(mm_db *db, void *arg)
{
	static const char q_app[] =
		"INSERT INTO grant_approvals (grant_id, approver_id, approver, approved_ms, comment)"
		" VALUES (?, ?, ?, ?, ?)";
	static const char q_count[] = "SELECT COUNT(*) FROM grant_approvals WHERE grant_id = ?";
	static const char q_report[] =
		"UPDATE grants SET report_text = ?, report_ms = ? WHERE id = ?"
		" AND report_confirmed_ms IS NULL";
	static const char q_confirm[] =
		"UPDATE grants SET report_confirmed_by = ?, report_confirmed_ms = ? WHERE id = ?"
		" AND report_text IS NOT NULL AND report_confirmed_ms IS NULL";
	struct decide_job *j = arg;
	const mm_principal *who = j->ctx->who;
	int64_t now = mm_time_wall_ms(), count = 0;
	char actor[MM_NAME_MAX + 8];
	const char *why;
	struct grant g;
	mm_stmt *st;
	mm_err rc;

	if ((rc = load_grant(db, j->id, &g)) != MM_OK)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", who->name);
	switch (j->op) {
	case OP_APPROVE:
	case OP_DENY: {
		const char *action = j->op == OP_APPROVE ? "access.request.approve"
							 : "access.request.deny";

		if (g.state == MM_GRANT_PENDING && now >= g.review_by_ms) {
			/* Not reviewed in time: expire it now and refuse. */
			if ((rc = transition(j->a, db, NULL, &g, MM_GEV_EXPIRE, "access.request.expire",
					     "not reviewed in time", NULL)) != MM_OK)
				return rc;
			return refuse(db, j, &g, action, MM_ERR_CONFLICT,
				      "the request expired before it was reviewed");
		}
		if (g.state != MM_GRANT_PENDING) {
			char msg[96];

			snprintf(msg, sizeof(msg), "the request is %s, not pending",
				 mm_grant_state_name(g.state));
			return refuse(db, j, &g, action, MM_ERR_CONFLICT, msg);
		}
		if ((why = approver_problem(j, &g)) != NULL)
			return refuse(db, j, &g, action, MM_ERR_FORBIDDEN, why);
		if (j->op == OP_DENY) {
			if ((rc = transition(j->a, db, j->ctx, &g, MM_GEV_DENY, action, j->text,
					     NULL)) != MM_OK)
				return rc;
			j->notified = true;
			return notify(j->a, db, "access.request.denied", &g, actor, j->text);
		}
		if ((rc = mm_db_prepare(db, q_app, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, g.id)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, who->user_id)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, who->name)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 4, now)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 5, j->text)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc == MM_ERR_EXISTS)
			return refuse(db, j, &g, action, MM_ERR_CONFLICT,
				      "you already approved this request; one person counts once");
		if (rc != MM_OK)
			return rc;
		if ((rc = mm_access_query_int(db, q_count, NULL, g.id, NULL, &count)) != MM_OK)
			return rc;
		if ((rc = audit_grant(db, j->ctx, action, &g, "success",
				      json_pack("{s:I,s:I,s:s?}", "approvals", (json_int_t)count,
						"required", (json_int_t)g.approvals_required,
						"comment", j->text))) != MM_OK)
			return rc;
		if (count < g.approvals_required)
			return MM_OK;
		if ((rc = transition(j->a, db, j->ctx, &g, MM_GEV_APPROVE, "access.grant.approve",
				     j->text, json_pack("{s:I}", "approvals",
							(json_int_t)count))) != MM_OK)
			return rc;
		if (g.start_ms <= now &&
		    (rc = transition(j->a, db, j->ctx, &g, MM_GEV_ACTIVATE, "access.grant.activate",
				     NULL, NULL)) != MM_OK)
			return rc;
		j->notified = true;
		return notify(j->a, db, "access.request.approved", &g, actor, j->text);
	}
	case OP_CANCEL:
		if (who->user_id != g.user_id)
			return refuse(db, j, &g, "access.request.cancel", MM_ERR_FORBIDDEN,
				      "only the requester can cancel a request");
		if (g.state == MM_GRANT_APPROVED && g.start_ms <= now)
			return refuse(db, j, &g, "access.request.cancel", MM_ERR_CONFLICT,
				      "access has begun: revoke it instead");
		return transition(j->a, db, j->ctx, &g, MM_GEV_CANCEL, "access.request.cancel",
				  j->text, NULL);
	case OP_REVOKE: {
		bool ok = who->user_id == g.user_id || mm_access_permits(j->a, who, "access.admin") ||
			  (mm_str_list_has(who->roles, g.approver_role) && who->mfa);

		if (!ok)
			return refuse(db, j, &g, "access.grant.revoke", MM_ERR_FORBIDDEN,
				      "only the requester, an approver or an administrator can revoke");
		if (g.state != MM_GRANT_APPROVED && g.state != MM_GRANT_ACTIVE) {
			char msg[96];

			snprintf(msg, sizeof(msg), "the request is %s; only approved or active access "
				 "can be revoked", mm_grant_state_name(g.state));
			return refuse(db, j, &g, "access.grant.revoke", MM_ERR_CONFLICT, msg);
		}
		if ((rc = transition(j->a, db, j->ctx, &g, MM_GEV_REVOKE, "access.grant.revoke",
				     j->text, NULL)) != MM_OK)
			return rc;
		j->notified = true;
		return notify(j->a, db, "access.grant.revoked", &g, actor, j->text);
	}
	case OP_REPORT:
		if (who->user_id != g.user_id)
			return refuse(db, j, &g, "access.report.submit", MM_ERR_FORBIDDEN,
				      "only the requester writes the work report");
		if (g.state != MM_GRANT_ACTIVE && g.state != MM_GRANT_ENDED &&
		    g.state != MM_GRANT_REVOKED)
			return refuse(db, j, &g, "access.report.submit", MM_ERR_CONFLICT,
				      "a work report is written once access has begun");
		if (g.report_confirmed)
			return refuse(db, j, &g, "access.report.submit", MM_ERR_CONFLICT,
				      "the report is already confirmed");
		if ((rc = mm_db_prepare(db, q_report, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, j->text)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, g.id)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		return audit_grant(db, j->ctx, "access.report.submit", &g, "success",
				   json_pack("{s:s}", "report", j->text));
	case OP_CONFIRM:
		if ((why = approver_problem(j, &g)) != NULL)
			return refuse(db, j, &g, "access.report.confirm", MM_ERR_FORBIDDEN, why);
		if (!g.has_report || g.report_confirmed)
			return refuse(db, j, &g, "access.report.confirm", MM_ERR_CONFLICT,
				      g.has_report ? "the report is already confirmed"
						   : "no work report has been submitted");
		if ((rc = mm_db_prepare(db, q_confirm, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, actor)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, g.id)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		return audit_grant(db, j->ctx, "access.report.confirm", &g, "success", NULL);
	}
	return mm_err_set(MM_ERR_INTERNAL, "unknown operation");
}

static mm_err decide(mm_access *a, const mm_access_ctx *ctx, int64_t id, enum op op,
		     const char *text, json_t **ret)
{
	struct decide_job j;
	mm_err rc;

	if ((rc = require_user(ctx)) != MM_OK)
		return rc;
	if (text != NULL && (!printable(text) || strlen(text) > (op == OP_REPORT ? REPORT_MAX
										 : REASON_MAX)))
		return mm_err_set(MM_ERR_INVALID, "the text is too long or has control characters");
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.id = id;
	j.op = op;
	j.text = text;
	if ((rc = mm_store_write(a->store, decide_job, &j)) != MM_OK)
		return rc;
	if (j.notified)
		mm_notify_kick(a);
	if (j.refused != MM_OK)
		return mm_err_set(j.refused, "%s", j.refused_msg);
	return with_db(a, id, ret);
}

mm_err mm_access_request_approve(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				 const char *comment, json_t **ret)
{
	return decide(a, ctx, id, OP_APPROVE, comment, ret);
}

mm_err mm_access_request_deny(mm_access *a, const mm_access_ctx *ctx, int64_t id,
			      const char *reason, json_t **ret)
{
	if (reason == NULL || reason[0] == '\0')
		return mm_err_set(MM_ERR_INVALID, "a reason is required to deny a request");
	return decide(a, ctx, id, OP_DENY, reason, ret);
}

mm_err mm_access_request_cancel(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				json_t **ret)
{
	return decide(a, ctx, id, OP_CANCEL, NULL, ret);
}

mm_err mm_access_request_revoke(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				const char *reason, json_t **ret)
{
	return decide(a, ctx, id, OP_REVOKE, reason, ret);
}

mm_err mm_access_request_report(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				const char *text, json_t **ret)
{
	if (text == NULL || text[0] == '\0')
		return mm_err_set(MM_ERR_INVALID, "the report text is required");
	return decide(a, ctx, id, OP_REPORT, text, ret);
}

mm_err mm_access_request_confirm(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				 json_t **ret)
{
	return decide(a, ctx, id, OP_CONFIRM, NULL, ret);
}

#define OPS_MAX 10000

mm_err mm_access_request_operations(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				    json_t **ret)
{
	char target[48];
	mm_audit_filter f;
	json_t *g = NULL, *ops = NULL, *history = NULL, *page = NULL, *e;
	int64_t next = 0;
	size_t i, total = 0;
	mm_err rc;

	if ((rc = mm_access_request_get(a, ctx, id, &g)) != MM_OK)
		return rc;
	if ((ops = json_array()) == NULL || (history = json_array()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	snprintf(target, sizeof(target), "grant:%lld", (long long)id);
	mm_audit_filter_init(&f);
	f.target = target;
	f.limit = 1000;
	do {
		f.cursor = next;
		if ((rc = mm_audit_query(a->store, &f, &page, &next)) != MM_OK)
			goto out;
		json_array_foreach(page, i, e) {
			const char *action = json_string_value(json_object_get(e, "action"));
			json_t *d = json_object_get(e, "details");

			if (action == NULL || strcmp(action, "access.check") != 0) {
				json_array_append(history, e);
				continue;
			}
			json_array_append_new(ops, json_pack("{s:O,s:O,s:b,s:O,s:O,s:O}",
				"time", json_object_get(e, "time"),
				"action", json_object_get(d, "action"),
				"allowed", strcmp(json_string_value(json_object_get(e, "result")), "allowed") == 0,
				"caller", json_object_get(e, "actor"),
				"source", json_object_get(d, "client_source") ? json_object_get(d, "client_source")
									   : json_object_get(e, "source"),
				"audit_seq", json_object_get(e, "seq")));
		}
		total += json_array_size(page);
		json_decref(page);
		page = NULL;
	} while (next >= 0 && total < OPS_MAX);
	*ret = json_pack("{s:O,s:O,s:O,s:b}", "request", g, "operations", ops, "history", history,
			 "truncated", next >= 0);
	if (*ret == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(page);
	json_decref(g);
	json_decref(ops);
	json_decref(history);
	return rc;
}

/* ---- access checks ---- */

struct check_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const char *user, *target, *action, *client_source;
	mm_access_check_done done;
	void *arg;
	mm_access_decision d;
};

static void check_decide(mm_access *a, mm_db *db, struct check_job *j, int64_t now,
			 mm_err *ret)
{
	/* One statement per check: the user, and their grants on the target
	 * that are in force now, latest end first (index grants_check); a user
	 * without any comes back as one row with a NULL grant. */
	static const char q[] =
		"SELECT u.id, u.disabled, u.allow_cidrs, g.id, g.role, g.end_ms, g.breakglass"
		" FROM users u LEFT JOIN grants g ON g.user_id = u.id AND g.target = ?"
		" AND g.state IN ('approved', 'active') AND g.start_ms <= ? AND g.end_ms > ?"
		" WHERE u.name = ? ORDER BY g.end_ms DESC";
	mm_access_decision *d = &j->d;
	bool row = false, exists = false;
	const char *cidrs;
	mm_stmt *st = NULL;
	mm_err rc;

	mm_str_copy(d->reason, sizeof(d->reason), "no active grant");
	if ((rc = mm_targets_exists(a, j->target, &exists)) != MM_OK || !exists) {
		mm_str_copy(d->reason, sizeof(d->reason), "unknown target");
		rc = MM_OK;
		goto out;
	}
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, j->target)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, now)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 3, now)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 4, j->user)) != MM_OK ||
	    (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		mm_str_copy(d->reason, sizeof(d->reason), "unknown user");
		goto out;
	}
	if (mm_stmt_int(st, 1) != 0) {
		mm_str_copy(d->reason, sizeof(d->reason), "user disabled");
		goto out;
	}
	cidrs = mm_stmt_text(st, 2);
	if (j->client_source != NULL && cidrs != NULL && cidrs[0] != '\0' &&
	    !mm_cidr_text_allows(cidrs, j->client_source)) {
		mm_str_copy(d->reason, sizeof(d->reason), "source address not allowed for the user");
		goto out;
	}
	for (; rc == MM_OK && row && !mm_stmt_is_null(st, 3); rc = mm_stmt_step(st, &row)) {
		const char *role = mm_stmt_text(st, 4);
		bool ok = false;

		if (d->grant_id == 0) {
			/* Denials under a grant are recorded under it too. */
			d->grant_id = mm_stmt_int(st, 3);
			mm_str_copy(d->role, sizeof(d->role), role);
			mm_str_copy(d->reason, sizeof(d->reason),
				    "action not allowed for the granted role");
		}
		if (mm_targets_action_allowed(a, j->target, role, j->action, &ok) == MM_OK && ok) {
			d->allowed = true;
			d->grant_id = mm_stmt_int(st, 3);
			d->remaining_ms = mm_stmt_int(st, 5) - now;
			d->breakglass = mm_stmt_int(st, 6) != 0;
			mm_str_copy(d->role, sizeof(d->role), role);
			mm_str_copy(d->reason, sizeof(d->reason), "active grant");
			break;
		}
	}
out:
	mm_stmt_done(st);
	if (rc != MM_OK)
		d->allowed = false;
	*ret = rc;
}

/* The decision's audit details, NULL when out of memory. Built key by key
 * rather than with json_pack: this runs on the store's writer thread for
 * every check, and the format parsing and key checks of json_pack cost
 * more than the object itself (the keys here are literals). */
static json_t *check_details(const struct check_job *j)
{
	const mm_access_decision *d = &j->d;
	json_t *det = json_object();
	int bad = 0;

	bad |= json_object_set_new_nocheck(det, "user", json_string(j->user));
	bad |= json_object_set_new_nocheck(det, "target", json_string(j->target));
	bad |= json_object_set_new_nocheck(det, "action", json_string(j->action));
	bad |= json_object_set_new_nocheck(det, "reason", json_string(d->reason));
	if (d->grant_id != 0) {
		bad |= json_object_set_new_nocheck(det, "grant_id", json_integer(d->grant_id));
		bad |= json_object_set_new_nocheck(det, "role", json_string(d->role));
	}
	if (d->breakglass)
		bad |= json_object_set_new_nocheck(det, "breakglass", json_true());
	if (j->client_source != NULL)
		bad |= json_object_set_new_nocheck(det, "client_source",
						   json_string(j->client_source));
	if (bad != 0) {
		json_decref(det);
		return NULL;
	}
	return det;
}

static mm_err check_job(mm_db *db, void *arg)
{
	struct check_job *j = arg;
	mm_access_decision *d = &j->d;
	int64_t now = mm_time_wall_ms(), seq = 0;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	json_t *det;
	mm_err rc;

	memset(d, 0, sizeof(*d));
	check_decide(j->a, db, j, now, &rc);
	if (rc != MM_OK)
		return rc;
	/* Under a grant the event belongs to the grant (its target index lists
	 * the operations); otherwise to the user. */
	if (d->grant_id != 0)
		snprintf(target, sizeof(target), "grant:%lld", (long long)d->grant_id);
	else
		snprintf(target, sizeof(target), "user:%s", j->user);
	mm_access_event(&ev, j->ctx, actor, "access.check", target,
			d->allowed ? "allowed" : "denied");
	if ((det = check_details(j)) == NULL)
		return MM_ERR_NOMEM;
	ev.details = det;
	rc = mm_audit_append(db, &ev, &seq);
	json_decref(det);
	if (rc != MM_OK)
		return rc;
	d->audit_seq = seq;
	return MM_OK;
}

static void check_done(mm_err rc, const char *detail, void *arg)
{
	struct check_job *j = arg;

	if (rc != MM_OK)
		j->d.allowed = false; /* not recorded: fail closed */
	j->done(rc, detail, &j->d, j->arg);
	free(j);
}

mm_err mm_access_check(mm_access *a, const mm_access_ctx *ctx, const char *user,
		       const char *target, const char *action, const char *client_source,
		       mm_access_check_done done, void *arg)
{
	struct check_job *j;
	mm_err rc;

	if (mm_access_check_name("user", user) != MM_OK ||
	    mm_access_check_name("target", target) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "user and target must be valid names");
	if (action == NULL || action[0] == '\0' || strlen(action) > 128 || !printable(action))
		return mm_err_set(MM_ERR_INVALID, "action must be 1 to 128 printable characters");
	if (client_source != NULL) {
		mm_ip ip;

		if (mm_ip_parse(client_source, &ip) != MM_OK)
			return mm_err_set(MM_ERR_INVALID, "field 'source': not an IP address");
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return MM_ERR_NOMEM;
	*j = (struct check_job){ .a = a, .ctx = ctx, .user = user, .target = target,
				 .action = action, .client_source = client_source, .done = done,
				 .arg = arg };
	if ((rc = mm_store_write_async(a->store, check_job, j, check_done, j)) != MM_OK)
		free(j);
	return rc;
}

/* ---- tick ---- */

struct tick_job {
	mm_access *a;
	int64_t now;
	int changed;
};

static mm_err tick_job(mm_db *db, void *arg)
{
	static const char q_due[] =
		"SELECT " GRANT_COLS " FROM grants WHERE"
		" (state = 'pending' AND review_by_ms <= ?)"
		" OR (state = 'approved' AND start_ms <= ?)"
		" OR (state IN ('approved', 'active') AND end_ms <= ?)"
		" ORDER BY id LIMIT 256";
	struct tick_job *j = arg;
	struct grant due[256];
	size_t n = 0;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_due, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, j->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, j->now)) == MM_OK)
		while (n < 256 && (rc = mm_stmt_step(st, &row)) == MM_OK && row)
			grant_from_row(st, &due[n++]);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct grant *g = &due[i];

		if (g->state == MM_GRANT_PENDING) {
			if ((rc = transition(j->a, db, NULL, g, MM_GEV_EXPIRE, "access.request.expire",
					     "not reviewed in time", NULL)) != MM_OK)
				return rc;
			if ((rc = notify(j->a, db, "access.request.expired", g, "system", NULL)) != MM_OK)
				return rc;
			j->changed++;
			continue;
		}
		if (g->state == MM_GRANT_APPROVED && g->start_ms <= j->now && g->end_ms > j->now) {
			if ((rc = transition(j->a, db, NULL, g, MM_GEV_ACTIVATE,
					     "access.grant.activate", NULL, NULL)) != MM_OK)
				return rc;
			j->changed++;
			continue;
		}
		if (g->end_ms <= j->now) {
			if ((rc = transition(j->a, db, NULL, g, MM_GEV_END, "access.grant.end",
					     "end time reached", NULL)) != MM_OK)
				return rc;
			if (g->breakglass &&
			    (rc = notify(j->a, db, "access.breakglass.ended", g, "system", NULL)) != MM_OK)
				return rc;
			j->changed++;
		}
	}
	return MM_OK;
}

mm_err mm_access_tick(mm_access *a)
{
	static const char q_any[] =
		"SELECT COUNT(*) FROM grants WHERE"
		" (state = 'pending' AND review_by_ms <= ?)"
		" OR (state = 'approved' AND start_ms <= ?)"
		" OR (state IN ('approved', 'active') AND end_ms <= ?)";
	struct tick_job j = { a, mm_time_wall_ms(), 0 };
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	int64_t due = 0;
	bool row;
	mm_err rc;

	/* A cheap read first: most ticks have nothing to do and must not cost
	 * a commit. */
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q_any, &st)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 1, j.now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j.now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, j.now)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK && row)
		due = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	if (rc != MM_OK || due == 0)
		return rc;
	if ((rc = mm_store_write(a->store, tick_job, &j)) != MM_OK)
		return rc;
	if (j.changed > 0)
		mm_notify_kick(a);
	return MM_OK;
}
