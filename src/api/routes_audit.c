/*
 * routes_audit.c: the audit log over HTTP.
 *
 *   GET  /v1/audit/public-key                 the checkpoint key (vkey)
 *   POST /v1/audit/events                     one event, or {"events":[...]} (1..10,000);
 *                                             durable (group commit) before the reply
 *   GET  /v1/audit/events                     query: seq_from, seq_to, since, until,
 *                                             actor, action, target, cursor, limit
 *   GET  /v1/audit/checkpoint                 the latest signed checkpoint
 *   POST /v1/audit/checkpoint                 sign one now (and publish to witnesses)
 *   GET  /v1/audit/proof/inclusion?seq=&size= RFC 9162 inclusion proof
 *   GET  /v1/audit/proof/consistency?from=&to=
 *   GET  /v1/audit/export?from=&to=           a bundle (JSON Lines), at most
 *                                             MAX_EXPORT events per request
 *
 * Invariants: appends never block an event loop (deferred until the group
 * commit); the caller is always recorded: an event whose actor differs from
 * the caller gets details.submitted_by = the caller. Hashes are base64.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/routes.h"
#include "audit/audit.h"
#include "audit/verify.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/time.h"
#include "crypto/crypto.h"

#define MAX_EXPORT 200000

static mm_err need_log(mm_req *r, mm_audit_log **ret)
{
	mm_app *app = mm_req_app(r);

	if (app->audit == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "the audit log is not open");
	*ret = app->audit;
	return MM_OK;
}

static json_t *proof_json(const mm_merkle_proof *p)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < p->n; i++)
		json_array_append_new(a, mm_audit_b64_json(p->h[i], 32));
	return a;
}

/* Integer query parameter; absent gives def. */
static mm_err q_int(mm_req *r, const char *name, int64_t def, int64_t min, int64_t max,
		    int64_t *ret)
{
	const char *s = mm_req_query(r, name);
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0') {
		*ret = def;
		return MM_OK;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return mm_err_set(MM_ERR_INVALID, "parameter '%s' must be an integer in %" PRId64
				  "..%" PRId64, name, min, max);
	*ret = v;
	return MM_OK;
}

/* Time query parameter: RFC 3339 or milliseconds since the epoch. */
static mm_err q_time(mm_req *r, const char *name, int64_t def, int64_t *ret)
{
	const char *s = mm_req_query(r, name);

	if (s != NULL && s[0] != '\0' && strchr(s, 'T') != NULL) {
		if (mm_time_parse(s, ret) != MM_OK)
			return mm_err_set(MM_ERR_INVALID, "parameter '%s' must be RFC 3339 time", name);
		return MM_OK;
	}
	return q_int(r, name, def, INT64_MIN, INT64_MAX, ret);
}

static mm_err public_key(mm_req *r)
{
	mm_audit_log *log = NULL;
	json_t *o;
	mm_err rc;

	if ((rc = need_log(r, &log)) != MM_OK || (rc = mm_audit_public_key(log, &o)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, o);
	return MM_OK;
}

/* ---- appends ---- */

struct submit {
	mm_req *req;
	json_t *body;              /* keeps every string alive */
	size_t n;
	mm_audit_event *evs;
	json_t **details;          /* our copies with submitted_by, or NULL */
	int64_t first;
};

static void submit_free(struct submit *s)
{
	for (size_t i = 0; s->details != NULL && i < s->n; i++)
		json_decref(s->details[i]);
	free(s->details);
	free(s->evs);
	json_decref(s->body);
	free(s);
}

static mm_err submit_job(mm_db *db, void *arg)
{
	struct submit *s = arg;

	return mm_audit_append_batch(db, s->evs, s->n, &s->first);
}

static void submit_done(mm_err rc, const char *detail, void *arg)
{
	struct submit *s = arg;
	json_t *o = NULL;

	if (rc == MM_OK)
		o = s->n == 1 ? json_pack("{s:I}", "seq", (json_int_t)s->first)
			      : json_pack("{s:I,s:I,s:I}", "first_seq", (json_int_t)s->first,
					  "last_seq", (json_int_t)(s->first + (int64_t)s->n - 1),
					  "count", (json_int_t)s->n);
	mm_req_complete(s->req, rc, detail, 201, o);
	submit_free(s);
}

static mm_err parse_event(mm_req *r, size_t idx, const json_t *e, mm_audit_event *ev,
			  json_t **ret_details)
{
	static const char *const allowed[] = { "actor", "action", "target", "result", "source",
					       "request_id", "time", "details", NULL };
	const char *caller = mm_req_actor(r), *time = NULL;
	const json_t *d;
	mm_err rc;

	if (!json_is_object(e))
		return mm_err_set(MM_ERR_INVALID, "event %zu: expected an object", idx);
	memset(ev, 0, sizeof(*ev));
	if ((rc = mm_json_only(e, allowed)) != MM_OK ||
	    (rc = mm_json_str(e, "actor", false, MM_AUDIT_MAX_NAME, &ev->actor)) != MM_OK ||
	    (rc = mm_json_str(e, "action", true, MM_AUDIT_MAX_NAME, &ev->action)) != MM_OK ||
	    (rc = mm_json_str(e, "result", true, MM_AUDIT_MAX_NAME, &ev->result)) != MM_OK ||
	    (rc = mm_json_str(e, "target", false, MM_AUDIT_MAX_TEXT, &ev->target)) != MM_OK ||
	    (rc = mm_json_str(e, "source", false, MM_AUDIT_MAX_TEXT, &ev->source)) != MM_OK ||
	    (rc = mm_json_str(e, "request_id", false, MM_AUDIT_MAX_TEXT, &ev->request_id)) != MM_OK ||
	    (rc = mm_json_str(e, "time", false, 64, &time)) != MM_OK) {
		char detail[512];

		/* Copy first: the detail lives in the buffer mm_err_set writes. */
		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		return mm_err_set(rc, "event %zu: %s", idx, detail);
	}
	if (time != NULL && mm_time_parse(time, &ev->time_ms) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "event %zu: field 'time' must be RFC 3339", idx);
	d = json_object_get(e, "details");
	if (d != NULL && !json_is_null(d) && !json_is_object(d))
		return mm_err_set(MM_ERR_INVALID, "event %zu: field 'details' must be an object", idx);
	if (ev->source == NULL)
		ev->source = mm_req_source(r);
	if (ev->request_id == NULL)
		ev->request_id = mm_req_id(r);
	*ret_details = NULL;
	if (ev->actor == NULL) {
		ev->actor = caller;
		ev->details = json_is_object(d) ? d : NULL;
	} else if (strcmp(ev->actor, caller) != 0) {
		json_t *c = json_is_object(d) ? json_deep_copy(d) : json_object();

		if (c == NULL || json_object_set_new(c, "submitted_by", json_string(caller)) != 0) {
			json_decref(c);
			return MM_ERR_NOMEM;
		}
		*ret_details = c;
		ev->details = c;
	} else {
		ev->details = json_is_object(d) ? d : NULL;
	}
	return MM_OK;
}

static mm_err events_post(mm_req *r)
{
	mm_app *app = mm_req_app(r);
	mm_audit_log *log = NULL;
	struct submit *s = NULL;
	json_t *body, *list;
	mm_err rc;

	if ((rc = need_log(r, &log)) != MM_OK || (rc = mm_req_json(r, &body)) != MM_OK)
		return rc;
	if (!json_is_object(body))
		return mm_err_set(MM_ERR_INVALID, "expected an event object or {\"events\": [...]}");
	list = json_object_get(body, "events");
	if (list != NULL && (!json_is_array(list) || json_object_size(body) != 1))
		return mm_err_set(MM_ERR_INVALID, "expected {\"events\": [...]} and nothing else");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return MM_ERR_NOMEM;
	s->n = list ? json_array_size(list) : 1;
	if (s->n == 0 || s->n > MM_AUDIT_MAX_BATCH) {
		free(s);
		return mm_err_set(MM_ERR_LIMIT, "a request holds 1..%d events", MM_AUDIT_MAX_BATCH);
	}
	s->req = r;
	s->body = json_incref(body);
	s->evs = calloc(s->n, sizeof(*s->evs));
	s->details = calloc(s->n, sizeof(*s->details));
	if (s->evs == NULL || s->details == NULL) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < s->n; i++)
		if ((rc = parse_event(r, i, list ? json_array_get(list, i) : body, &s->evs[i],
				      &s->details[i])) != MM_OK)
			goto fail;
	mm_req_defer(r);
	if ((rc = mm_store_write_async(app->store, submit_job, s, submit_done, s)) != MM_OK) {
		mm_req_complete(r, rc, mm_err_detail(rc), 0, NULL);
		submit_free(s);
	}
	return MM_OK;
fail:
	submit_free(s);
	return rc;
}

/* ---- queries ---- */

static mm_err events_get(mm_req *r)
{
	mm_app *app = mm_req_app(r);
	mm_audit_filter f;
	json_t *arr = NULL;
	int64_t next, limit, size;
	mm_err rc;

	mm_audit_filter_init(&f);
	if ((rc = q_int(r, "seq_from", 0, 0, INT64_MAX, &f.seq_from)) != MM_OK ||
	    (rc = q_int(r, "seq_to", INT64_MAX, 0, INT64_MAX, &f.seq_to)) != MM_OK ||
	    (rc = q_time(r, "since", INT64_MIN, &f.time_from_ms)) != MM_OK ||
	    (rc = q_time(r, "until", INT64_MAX, &f.time_to_ms)) != MM_OK ||
	    (rc = q_int(r, "cursor", 0, 0, INT64_MAX, &f.cursor)) != MM_OK ||
	    (rc = q_int(r, "limit", 100, 1, 1000, &limit)) != MM_OK)
		return rc;
	f.limit = (int)limit;
	f.actor = mm_req_query(r, "actor");
	f.action = mm_req_query(r, "action");
	f.target = mm_req_query(r, "target");
	if ((rc = mm_audit_tree_size(app->store, &size)) != MM_OK ||
	    (rc = mm_audit_query(app->store, &f, &arr, &next)) != MM_OK)
		return rc;
	if (next >= 0) {
		char cur[24];

		snprintf(cur, sizeof(cur), "%" PRId64, next);
		mm_req_reply(r, 200, json_pack("{s:o,s:s,s:I}", "events", arr, "next_cursor", cur,
					       "tree_size", (json_int_t)size));
	} else {
		mm_req_reply(r, 200, json_pack("{s:o,s:n,s:I}", "events", arr, "next_cursor",
					       "tree_size", (json_int_t)size));
	}
	return MM_OK;
}

static json_t *checkpoint_json(const mm_audit_checkpoint *c)
{
	char ts[MM_TIME_RFC3339_LEN];

	mm_time_format(c->time_ms, ts);
	return json_pack("{s:I,s:o,s:s,s:s}", "size", (json_int_t)c->size, "root",
			 mm_audit_b64_json(c->root, 32), "time", ts, "note", c->note);
}

static mm_err checkpoint_get(mm_req *r)
{
	mm_audit_checkpoint c = { 0 };
	mm_err rc;

	if ((rc = mm_audit_latest_checkpoint(mm_req_app(r)->store, &c)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, checkpoint_json(&c));
	mm_audit_checkpoint_release(&c);
	return MM_OK;
}

struct ckpt_req {
	mm_req *req;
	mm_audit_log *log;
};

/* Signing may wait for the key and witnesses may take seconds: off loop. */
static void *checkpoint_thread(void *p)
{
	struct ckpt_req *cr = p;
	mm_audit_checkpoint c = { 0 };
	mm_err rc = mm_audit_checkpoint_now(cr->log, &c);

	if (rc == MM_OK)
		mm_req_complete(cr->req, MM_OK, NULL, 201, checkpoint_json(&c));
	else
		mm_req_complete(cr->req, rc, mm_err_detail(rc), 0, NULL);
	mm_audit_checkpoint_release(&c);
	free(cr);
	return NULL;
}

static mm_err checkpoint_post(mm_req *r)
{
	struct ckpt_req *cr;
	pthread_attr_t at;
	pthread_t t;
	mm_audit_log *log = NULL;
	mm_err rc;
	int e;

	if ((rc = need_log(r, &log)) != MM_OK)
		return rc;
	if ((cr = malloc(sizeof(*cr))) == NULL)
		return MM_ERR_NOMEM;
	cr->req = r;
	cr->log = log;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	mm_req_defer(r);
	e = pthread_create(&t, &at, checkpoint_thread, cr);
	pthread_attr_destroy(&at);
	if (e != 0) {
		free(cr);
		rc = mm_err_set(MM_ERR_UNAVAILABLE, "cannot start the checkpoint thread");
		mm_req_complete(r, rc, mm_err_detail(rc), 0, NULL);
	}
	return MM_OK;
}

static mm_err proof_inclusion(mm_req *r)
{
	mm_merkle_proof p;
	uint8_t leaf[32], root[32];
	int64_t seq, size;
	mm_err rc;

	if (mm_req_query(r, "seq") == NULL)
		return mm_err_set(MM_ERR_INVALID, "parameter 'seq' is required");
	if ((rc = q_int(r, "seq", 0, 0, INT64_MAX, &seq)) != MM_OK ||
	    (rc = q_int(r, "size", 0, 0, INT64_MAX, &size)) != MM_OK)
		return rc;
	if (size == 0 && (rc = mm_audit_tree_size(mm_req_app(r)->store, &size)) != MM_OK)
		return rc;
	if ((rc = mm_audit_inclusion_proof(mm_req_app(r)->store, seq, size, &p, leaf, root)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:I,s:I,s:o,s:o,s:o}", "seq", (json_int_t)seq, "size",
				       (json_int_t)size, "leaf_hash", mm_audit_b64_json(leaf, 32), "root",
				       mm_audit_b64_json(root, 32), "proof", proof_json(&p)));
	return MM_OK;
}

static mm_err proof_consistency(mm_req *r)
{
	mm_merkle_proof p;
	uint8_t r1[32], r2[32];
	int64_t from, to;
	mm_err rc;

	if (mm_req_query(r, "from") == NULL)
		return mm_err_set(MM_ERR_INVALID, "parameter 'from' is required");
	if ((rc = q_int(r, "from", 0, 0, INT64_MAX, &from)) != MM_OK ||
	    (rc = q_int(r, "to", 0, 0, INT64_MAX, &to)) != MM_OK)
		return rc;
	if (to == 0 && (rc = mm_audit_tree_size(mm_req_app(r)->store, &to)) != MM_OK)
		return rc;
	if ((rc = mm_audit_consistency_proof(mm_req_app(r)->store, from, to, &p, r1, r2)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:I,s:I,s:o,s:o,s:o}", "from", (json_int_t)from, "to",
				       (json_int_t)to, "root1", mm_audit_b64_json(r1, 32), "root2",
				       mm_audit_b64_json(r2, 32), "proof", proof_json(&p)));
	return MM_OK;
}

static mm_err buf_write(void *ctx, const void *p, size_t n)
{
	return mm_buf_append(ctx, p, n);
}

static mm_err export_get(mm_req *r)
{
	mm_buf out = MM_BUF_INIT((size_t)1 << 30);
	int64_t from, to;
	mm_err rc;

	if ((rc = q_int(r, "from", 0, 0, INT64_MAX, &from)) != MM_OK ||
	    (rc = q_int(r, "to", 0, 0, INT64_MAX, &to)) != MM_OK)
		return rc;
	if (to == 0 && (rc = mm_audit_tree_size(mm_req_app(r)->store, &to)) != MM_OK)
		return rc;
	if (to - from > MAX_EXPORT)
		return mm_err_set(MM_ERR_LIMIT, "at most %d events per export request: use from/to, "
				  "or `mamori audit export --data DIR` on the server", MAX_EXPORT);
	if (to == from && to == 0)
		to = 0;
	if ((rc = mm_audit_export(mm_req_app(r)->store, from, to, buf_write, &out)) == MM_OK)
		mm_req_reply_raw(r, 200, "application/x-ndjson", out.data ? out.data : "", out.len);
	mm_buf_release(&out);
	return rc;
}

const mm_route mm_routes_audit[] = {
	{ "GET", "/v1/audit/public-key", "audit.read", 0, public_key },
	{ "POST", "/v1/audit/events", "audit.write", 0, events_post },
	{ "GET", "/v1/audit/events", "audit.read", 0, events_get },
	{ "GET", "/v1/audit/checkpoint", "audit.read", 0, checkpoint_get },
	{ "POST", "/v1/audit/checkpoint", "audit.admin", 0, checkpoint_post },
	{ "GET", "/v1/audit/proof/inclusion", "audit.read", 0, proof_inclusion },
	{ "GET", "/v1/audit/proof/consistency", "audit.read", 0, proof_consistency },
	{ "GET", "/v1/audit/export", "audit.read", 0, export_get },
	{ NULL, NULL, NULL, 0, NULL },
};
