/*
 * routes_access.c: just-in-time access: targets, requests and their
 * decisions, work reports, and the access check used by gateways.
 *
 * The check route is the hot path: it is answered without the blocking
 * pool, deferring its reply until the decision's audit record is durable
 * (mm_access_check → store group commit → mm_req_complete_build, the reply
 * then built on the worker's loop). A decision whose record could not be
 * written is an error reply, never an "allowed".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/routes.h"
#include "core/json.h"
#include "core/time.h"

static mm_err param_id(mm_req *r, int64_t *ret)
{
	const char *s = mm_req_param(r, "id");
	char *end;
	long long v;

	errno = 0;
	v = s ? strtoll(s, &end, 10) : 0;
	if (s == NULL || *s < '1' || *s > '9' || *end != '\0' || errno != 0 || v <= 0)
		return mm_err_set(MM_ERR_INVALID, "request id must be a positive integer");
	*ret = v;
	return MM_OK;
}

static mm_err reply(mm_req *r, mm_err rc, json_t *out, int status)
{
	if (rc != MM_OK)
		return rc;
	mm_req_reply(r, status, out);
	return MM_OK;
}

/* ---- targets ---- */

static mm_err targets(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc = mm_access_target_list(mm_req_app(r)->access, &out);

	return reply(r, rc, out, 200);
}

static mm_err target_get(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc = mm_access_target_get(mm_req_app(r)->access, mm_req_param(r, "name"), &out);

	return reply(r, rc, out, 200);
}

static mm_err target_put(mm_req *r)
{
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	rc = mm_access_target_put(mm_req_app(r)->access, &ctx, mm_req_param(r, "name"),
					     body, &out);

	return reply(r, rc, out, 200);
}

static mm_err target_delete(mm_req *r)
{
	mm_access_ctx ctx;
	mm_err rc;

	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_target_delete(mm_req_app(r)->access, &ctx,
					  mm_req_param(r, "name"))) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b}", "deleted", 1));
	return MM_OK;
}

/* ---- requests ---- */

static mm_err request_create(mm_req *r)
{
	static const char *const allowed[] = { "target", "role", "reason", "ticket", "start",
		"duration", "breakglass", NULL };
	mm_access_request q = { 0 };
	const char *start = NULL, *dur = NULL;
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "target", true, MM_NAME_MAX, &q.target)) != MM_OK ||
	    (rc = mm_json_str(body, "role", true, MM_NAME_MAX, &q.role)) != MM_OK ||
	    (rc = mm_json_str(body, "reason", true, 1024, &q.reason)) != MM_OK ||
	    (rc = mm_json_str(body, "ticket", false, 128, &q.ticket)) != MM_OK ||
	    (rc = mm_json_str(body, "start", false, 64, &start)) != MM_OK ||
	    (rc = mm_json_str(body, "duration", true, 32, &dur)) != MM_OK ||
	    (rc = mm_json_bool(body, "breakglass", false, &q.breakglass)) != MM_OK)
		return rc;
	if (mm_time_parse_duration(dur, &q.duration_ms) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "field 'duration': expected a duration such as "
				  "\"2h\"");
	if (start != NULL && mm_time_parse(start, &q.start_ms) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "field 'start': expected an RFC 3339 time");
	mm_req_ctx(r, &ctx);
	rc = mm_access_request_create(mm_req_app(r)->access, &ctx, &q, &out);

	return reply(r, rc, out, 201);
}

static mm_err request_list(mm_req *r)
{
	const char *state = mm_req_query(r, "state");
	mm_access_filter f = MM_FILTER_ALL;
	mm_access_ctx ctx;
	json_t *out = NULL;
	mm_err rc;

	if (state != NULL) {
		if (strcmp(state, "pending") == 0)
			f = MM_FILTER_PENDING;
		else if (strcmp(state, "active") == 0)
			f = MM_FILTER_ACTIVE;
		else if (strcmp(state, "unconfirmed") == 0)
			f = MM_FILTER_UNCONFIRMED;
		else if (strcmp(state, "all") != 0)
			return mm_err_set(MM_ERR_INVALID, "state must be pending, active, unconfirmed "
					  "or all");
	}
	mm_req_ctx(r, &ctx);
	rc = mm_access_request_list(mm_req_app(r)->access, &ctx, f, &out);
	return reply(r, rc, out, 200);
}

typedef mm_err (*by_id_fn)(mm_access *a, const mm_access_ctx *ctx, int64_t id, json_t **ret);

/* A call on the request {id} without a body, replied as 200. */
static mm_err by_id(mm_req *r, by_id_fn fn)
{
	mm_access_ctx ctx;
	json_t *out = NULL;
	int64_t id;
	mm_err rc;

	if ((rc = param_id(r, &id)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	rc = fn(mm_req_app(r)->access, &ctx, id, &out);

	return reply(r, rc, out, 200);
}

static mm_err request_get(mm_req *r)
{
	return by_id(r, mm_access_request_get);
}

static mm_err operations(mm_req *r)
{
	return by_id(r, mm_access_request_operations);
}

/* The optional or required text field of a decision body. */
static mm_err text_field(mm_req *r, const char *key, bool required, size_t max,
			 const char **ret)
{
	const char *const allowed[] = { key, NULL };
	json_t *body;
	size_t blen;
	mm_err rc;

	*ret = NULL;
	mm_req_body(r, &blen);
	if (blen == 0 && !required)
		return MM_OK;
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK)
		return rc;
	return mm_json_str(body, key, required, max, ret);
}

typedef mm_err (*decision_fn)(mm_access *a, const mm_access_ctx *ctx, int64_t id,
			      const char *text, json_t **ret);

static mm_err decision(mm_req *r, decision_fn fn, const char *key, bool required, size_t max)
{
	const char *text = NULL;
	mm_access_ctx ctx;
	json_t *out = NULL;
	int64_t id;
	mm_err rc;

	if ((rc = param_id(r, &id)) != MM_OK)
		return rc;
	if ((rc = text_field(r, key, required, max, &text)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	rc = fn(mm_req_app(r)->access, &ctx, id, text, &out);

	return reply(r, rc, out, 200);
}

static mm_err approve(mm_req *r)
{
	return decision(r, mm_access_request_approve, "comment", false, 1024);
}

static mm_err deny(mm_req *r)
{
	return decision(r, mm_access_request_deny, "reason", true, 1024);
}

static mm_err cancel(mm_req *r)
{
	return by_id(r, mm_access_request_cancel);
}

static mm_err revoke(mm_req *r)
{
	return decision(r, mm_access_request_revoke, "reason", false, 1024);
}

static mm_err report(mm_req *r)
{
	return decision(r, mm_access_request_report, "text", true, 16384);
}

static mm_err confirm(mm_req *r)
{
	return by_id(r, mm_access_request_confirm);
}

/* ---- the access check ---- */

struct check {
	mm_req *r;
	mm_access_ctx ctx;
};

_Static_assert(sizeof(mm_access_decision) <= MM_REQ_DATA_MAX,
	       "a decision must fit mm_req_complete_build's copy");

/* The reply to a recorded decision, built on the request's loop thread.
 * Key by key rather than with json_pack (half the instructions): it runs
 * for every check, and the keys are literals. */
static mm_err check_reply(mm_req *r, const void *data)
{
	const mm_access_decision *d = data;
	json_int_t remaining = d->allowed ? (d->remaining_ms + 999) / 1000 : 0;
	json_t *out = json_object();
	int bad = 0;

	bad |= json_object_set_new_nocheck(out, "allowed", json_boolean(d->allowed));
	bad |= json_object_set_new_nocheck(out, "grant_id",
					   d->grant_id ? json_integer(d->grant_id) : json_null());
	bad |= json_object_set_new_nocheck(out, "role",
					   d->role[0] ? json_string(d->role) : json_null());
	bad |= json_object_set_new_nocheck(out, "remaining_s", json_integer(remaining));
	bad |= json_object_set_new_nocheck(out, "breakglass", json_boolean(d->breakglass));
	bad |= json_object_set_new_nocheck(out, "reason", json_string(d->reason));
	bad |= json_object_set_new_nocheck(out, "audit_seq", json_integer(d->audit_seq));
	if (bad != 0) {
		json_decref(out);
		return MM_ERR_NOMEM;
	}
	mm_req_reply(r, 200, out);
	return MM_OK;
}

/* Runs on the store's writer thread, which every check queues behind: the
 * decision is only copied here, the reply is built by check_reply. */
static void check_done(mm_err rc, const char *detail, const mm_access_decision *d, void *arg)
{
	struct check *c = arg;
	mm_req *r = c->r;

	free(c);
	if (rc != MM_OK)
		mm_req_complete(r, rc, detail, 0, NULL);
	else
		mm_req_complete_build(r, check_reply, d, sizeof(*d));
}

static mm_err check(mm_req *r)
{
	static const char *const allowed[] = { "user", "target", "action", "source", NULL };
	const char *user, *target, *action, *source = NULL;
	struct check *c;
	json_t *body;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "user", true, MM_NAME_MAX, &user)) != MM_OK ||
	    (rc = mm_json_str(body, "target", true, MM_NAME_MAX, &target)) != MM_OK ||
	    (rc = mm_json_str(body, "action", true, 128, &action)) != MM_OK ||
	    (rc = mm_json_str(body, "source", false, 64, &source)) != MM_OK)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MM_ERR_NOMEM;
	c->r = r;
	mm_req_ctx(r, &c->ctx);
	/* Deferred before queueing: check_done may run on the writer at once
	 * (its delivery still waits for this loop). */
	mm_req_defer(r);
	rc = mm_access_check(mm_req_app(r)->access, &c->ctx, user, target, action, source,
			     check_done, c);
	if (rc != MM_OK)
		free(c);
	return rc;
}

const mm_route mm_routes_access[] = {
	{ "GET", "/v1/access/targets", "access.read", 0, targets },
	{ "GET", "/v1/access/targets/{name}", "access.read", 0, target_get },
	{ "PUT", "/v1/access/targets/{name}", "access.admin", MM_ROUTE_BLOCKING, target_put },
	{ "DELETE", "/v1/access/targets/{name}", "access.admin", MM_ROUTE_BLOCKING, target_delete },
	{ "POST", "/v1/access/requests", "access.request", MM_ROUTE_BLOCKING, request_create },
	{ "GET", "/v1/access/requests", "access.read", 0, request_list },
	{ "GET", "/v1/access/requests/{id}", "access.read", 0, request_get },
	{ "GET", "/v1/access/requests/{id}/operations", "access.read", 0, operations },
	{ "POST", "/v1/access/requests/{id}/approve", "access.approve", MM_ROUTE_BLOCKING, approve },
	{ "POST", "/v1/access/requests/{id}/deny", "access.approve", MM_ROUTE_BLOCKING, deny },
	{ "POST", "/v1/access/requests/{id}/cancel", "access.request", MM_ROUTE_BLOCKING, cancel },
	/* Object-level check inside: the requester, an eligible approver or an
	 * access.admin holder. */
	{ "POST", "/v1/access/requests/{id}/revoke", "access.read", MM_ROUTE_BLOCKING, revoke },
	{ "POST", "/v1/access/requests/{id}/report", "access.request", MM_ROUTE_BLOCKING, report },
	{ "POST", "/v1/access/requests/{id}/confirm", "access.approve", MM_ROUTE_BLOCKING, confirm },
	{ "POST", "/v1/access/check", "access.check", 0, check },
	{ NULL, NULL, NULL, 0, NULL },
};
