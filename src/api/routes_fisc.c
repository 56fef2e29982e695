/*
 * routes_fisc.c: /v1/fisc/... — the FISC catalog, response tables (対応表),
 * their approval and publication, CSV import, evidence evaluation, coverage
 * and reports (see docs/fisc.md for the list).
 *
 * Calls that write (they wait for the store's group commit) or that can run
 * long (evaluation reads the whole audit log) run on a short-lived worker
 * thread: the handler copies everything it needs out of the request on the
 * loop thread, defers the reply, and the thread completes it with
 * mm_req_complete(). At most FISC_MAX_CALLS such calls run at once; beyond
 * that the route answers 503 busy. Reads of a few rows and the report (whose
 * body is not JSON, which mm_req_complete cannot carry) run on the loop
 * thread.
 *
 * Invariants: a worker thread never touches the mm_req except through
 * mm_req_complete(), called exactly once; every string it uses is its own
 * copy.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/routes.h"
#include "core/json.h"

#define FISC_MAX_CALLS 16

static int calls_running;

/* ---- helpers ---- */

static mm_fisc *fisc_of(mm_req *r)
{
	return mm_req_app(r)->fisc;
}

static mm_err need_fisc(mm_req *r)
{
	if (fisc_of(r) == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "the compliance module is not running");
	return MM_OK;
}

/* "latest", "working" (or "draft") or a positive number. */
static mm_err parse_version(const char *s, int64_t dflt, int64_t *ret)
{
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0') {
		*ret = dflt;
		return MM_OK;
	}
	if (strcmp(s, "latest") == 0) {
		*ret = MM_FISC_LATEST;
		return MM_OK;
	}
	if (strcmp(s, "working") == 0 || strcmp(s, "draft") == 0) {
		*ret = MM_FISC_WORKING;
		return MM_OK;
	}
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 1000000)
		return mm_err_set(MM_ERR_INVALID, "version must be latest, working or a positive number");
	*ret = v;
	return MM_OK;
}

static mm_err parse_edition(const char *s, int *ret)
{
	char *end;
	long v;

	if (s == NULL)
		return mm_err_set(MM_ERR_INVALID, "an edition number is required");
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 99)
		return mm_err_set(MM_ERR_INVALID, "edition must be a number 1..99");
	*ret = (int)v;
	return MM_OK;
}

/* ---- calls on a worker thread ---- */

typedef struct call call;
typedef mm_err (*call_fn)(call *c, int *status, json_t **body);

struct call {
	mm_req *r;
	mm_fisc *f;
	call_fn fn;
	char actor[MM_NAME_MAX + 16];
	char source[64];
	char rid[64];
	mm_fisc_who who;
	char doc[80], doc2[80], crit[64];
	int edition;
	int64_t version;
	mm_fisc_party party;
	mm_fisc_mark mark;
	bool replace;
	char *s1, *s2, *s3;   /* owned copies: texts, title, summary, CSV */
	size_t len3;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void call_free(call *c)
{
	free(c->s1);
	free(c->s2);
	free(c->s3);
	free(c);
}

static void *call_main(void *p)
{
	call *c = p;
	json_t *body = NULL;
	int status = 200;
	mm_err rc;

	mm_err_clear();
	rc = c->fn(c, &status, &body);
	if (rc != MM_OK) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		json_decref(body);
		mm_req_complete(c->r, rc, detail, 0, NULL);
	} else {
		mm_req_complete(c->r, MM_OK, NULL, status, body ? body : json_object());
	}
	call_free(c);
	__atomic_fetch_sub(&calls_running, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Allocates a call with the request's audit context. */
static call *call_new(mm_req *r, call_fn fn)
{
	call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->r = r;
	c->f = fisc_of(r);
	c->fn = fn;
	snprintf(c->actor, sizeof(c->actor), "%s", mm_req_actor(r));
	snprintf(c->source, sizeof(c->source), "%s", mm_req_source(r) ? mm_req_source(r) : "");
	snprintf(c->rid, sizeof(c->rid), "%s", mm_req_id(r) ? mm_req_id(r) : "");
	c->who.actor = c->actor;
	c->who.source = c->source[0] ? c->source : NULL;
	c->who.request_id = c->rid[0] ? c->rid : NULL;
	return c;
}

/* Hands c to a worker thread and defers the reply. On MM_OK the thread owns
 * c; on error the caller still does. */
static mm_err call_start(call *c)
{
	pthread_attr_t at;
	pthread_t th;
	int e;

	if (__atomic_add_fetch(&calls_running, 1, __ATOMIC_RELAXED) > FISC_MAX_CALLS) {
		__atomic_fetch_sub(&calls_running, 1, __ATOMIC_RELAXED);
		return mm_err_set(MM_ERR_BUSY, "too many FISC operations in progress; retry");
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	mm_req_defer(c->r);
	e = pthread_create(&th, &at, call_main, c);
	pthread_attr_destroy(&at);
	if (e != 0) {
		mm_req_complete(c->r, MM_ERR_BUSY, "cannot start a worker thread", 0, NULL);
		call_free(c);
		__atomic_fetch_sub(&calls_running, 1, __ATOMIC_RELAXED);
	}
	return MM_OK;
}

/* ---- catalog ---- */

static mm_err editions(mm_req *r)
{
	const mm_fisc_catalog *cat;
	json_t *list;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	cat = mm_fisc_get_catalog(fisc_of(r));
	if ((list = json_array()) == NULL)
		return MM_ERR_NOMEM;
	for (size_t i = 0; i < mm_fisc_catalog_count(cat); i++)
		json_array_append_new(list, mm_fisc_edition_json(mm_fisc_catalog_at(cat, i), false));
	mm_req_reply(r, 200, json_pack("{s:o}", "editions", list));
	return MM_OK;
}

static mm_err edition_get(mm_req *r)
{
	const mm_fisc_edition *ed;
	json_t *j;
	int n;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK || (rc = parse_edition(mm_req_param(r, "edition"), &n)) != MM_OK)
		return rc;
	if ((ed = mm_fisc_catalog_edition(mm_fisc_get_catalog(fisc_of(r)), n)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", n);
	if ((j = mm_fisc_edition_json(ed, true)) == NULL)
		return MM_ERR_NOMEM;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err edition_validate(mm_req *r)
{
	mm_fisc_edition *ed = NULL;
	const char *body;
	size_t n;
	json_t *j;
	mm_err rc;

	body = mm_req_body(r, &n);
	if (n == 0)
		return mm_err_set(MM_ERR_INVALID, "send the edition file as the request body");
	if ((rc = mm_fisc_edition_parse("request body", body, n, &ed)) != MM_OK)
		return rc;
	j = mm_fisc_edition_json(ed, false);
	mm_fisc_edition_free(ed);
	if (j == NULL)
		return MM_ERR_NOMEM;
	json_object_set_new(j, "valid", json_true());
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err edition_diff(mm_req *r)
{
	const mm_fisc_catalog *cat;
	const mm_fisc_edition *a, *b;
	mm_fisc_edition_diff *d = NULL;
	json_t *j;
	int from, to;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK ||
	    (rc = parse_edition(mm_req_query(r, "from"), &from)) != MM_OK ||
	    (rc = parse_edition(mm_req_query(r, "to"), &to)) != MM_OK)
		return rc;
	cat = mm_fisc_get_catalog(fisc_of(r));
	if ((a = mm_fisc_catalog_edition(cat, from)) == NULL ||
	    (b = mm_fisc_catalog_edition(cat, to)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", a ? to : from);
	if ((rc = mm_fisc_edition_diff_new(a, b, &d)) != MM_OK)
		return rc;
	j = mm_fisc_edition_diff_json(d);
	mm_fisc_edition_diff_free(d);
	if (j == NULL)
		return MM_ERR_NOMEM;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

/* ---- documents (reads) ---- */

static mm_err docs_list(mm_req *r)
{
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK || (rc = mm_fisc_docs(fisc_of(r), &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:o}", "documents", j));
	return MM_OK;
}

static mm_err doc_history(mm_req *r)
{
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK ||
	    (rc = mm_fisc_history(fisc_of(r), mm_req_param(r, "doc"), &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err doc_version(mm_req *r)
{
	int64_t v;
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK ||
	    (rc = parse_version(mm_req_param(r, "version"), MM_FISC_LATEST, &v)) != MM_OK ||
	    (rc = mm_fisc_version_get(fisc_of(r), mm_req_param(r, "doc"), v, &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err doc_diff(mm_req *r)
{
	int64_t a, b;
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	if (mm_req_query(r, "from") == NULL)
		return mm_err_set(MM_ERR_INVALID, "from (a version) is required");
	if ((rc = parse_version(mm_req_query(r, "from"), MM_FISC_LATEST, &a)) != MM_OK ||
	    (rc = parse_version(mm_req_query(r, "to"), MM_FISC_WORKING, &b)) != MM_OK ||
	    (rc = mm_fisc_version_diff(fisc_of(r), mm_req_param(r, "doc"), a, b, &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err doc_coverage(mm_req *r)
{
	int64_t v;
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK ||
	    (rc = parse_version(mm_req_query(r, "version"), MM_FISC_LATEST, &v)) != MM_OK ||
	    (rc = mm_fisc_coverage(fisc_of(r), mm_req_param(r, "doc"), v, &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, j);
	return MM_OK;
}

static mm_err checks_list(mm_req *r)
{
	json_t *j;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK || (rc = mm_fisc_checks(fisc_of(r), &j)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:o}", "checks", j));
	return MM_OK;
}

/* ---- documents (writes, on a worker thread) ---- */

static mm_err do_create(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_doc_create(c->f, &c->who, c->doc, c->edition, c->s1);

	if (rc == MM_OK) {
		*status = 201;
		*body = json_pack("{s:s,s:i,s:s,s:i,s:s}", "id", c->doc, "edition", c->edition,
				  "title", c->s1, "version", 1, "state", "draft");
	}
	return rc;
}

static mm_err doc_create(mm_req *r)
{
	static const char *const allowed[] = { "id", "edition", "title", NULL };
	const char *id, *title;
	int64_t ed;
	json_t *b;
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK || (rc = mm_req_json(r, &b)) != MM_OK ||
	    (rc = mm_json_only(b, allowed)) != MM_OK ||
	    (rc = mm_json_str(b, "id", true, 64, &id)) != MM_OK ||
	    (rc = mm_json_int(b, "edition", true, 1, 99, &ed)) != MM_OK ||
	    (rc = mm_json_str(b, "title", true, MM_FISC_TITLE_MAX, &title)) != MM_OK)
		return rc;
	if ((c = call_new(r, do_create)) == NULL || (c->s1 = strdup(title)) == NULL)
		goto nomem;
	snprintf(c->doc, sizeof(c->doc), "%s", id);
	c->edition = (int)ed;
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
nomem:
	if (c)
		call_free(c);
	return MM_ERR_NOMEM;
}

static mm_err do_set(call *c, int *status, json_t **body)
{
	int64_t v = 0;
	mm_err rc = mm_fisc_response_set(c->f, &c->who, c->doc, c->crit, c->party, c->mark, c->s1,
					 c->s2, &v);

	if (rc == MM_OK)
		*body = json_pack("{s:s,s:s,s:s,s:s,s:I}", "doc", c->doc, "id", c->crit, "party",
				  mm_fisc_party_name(c->party), "mark", mm_fisc_mark_name(c->mark),
				  "version", (json_int_t)v);
	return rc;
}

static mm_err do_delete(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_response_delete(c->f, &c->who, c->doc, c->crit, c->party);

	if (rc == MM_OK)
		*body = json_pack("{s:s,s:s,s:s,s:b}", "doc", c->doc, "id", c->crit, "party",
				  mm_fisc_party_name(c->party), "deleted", 1);
	return rc;
}

static mm_err response_common(mm_req *r, call_fn fn, bool with_body)
{
	static const char *const allowed[] = { "mark", "text_ja", "text_en", NULL };
	const char *mark = NULL, *ja = NULL, *en = NULL, *party = mm_req_param(r, "party");
	mm_fisc_party p;
	mm_fisc_mark m = MM_FISC_MARK_NONE;
	json_t *b;
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	if (!mm_fisc_party_parse(party, &p))
		return mm_err_set(MM_ERR_INVALID, "party must be fi, provider or cloud");
	if (with_body) {
		if ((rc = mm_req_json(r, &b)) != MM_OK || (rc = mm_json_only(b, allowed)) != MM_OK ||
		    (rc = mm_json_str(b, "mark", true, 32, &mark)) != MM_OK ||
		    (rc = mm_json_str(b, "text_ja", false, MM_FISC_TEXT_MAX, &ja)) != MM_OK ||
		    (rc = mm_json_str(b, "text_en", false, MM_FISC_TEXT_MAX, &en)) != MM_OK)
			return rc;
		if (!mm_fisc_mark_parse(mark, &m))
			return mm_err_set(MM_ERR_INVALID, "mark must be primary, partial, not_applicable "
					  "or customer (主体, 一部, 対象外, お客様対応)");
	}
	if ((c = call_new(r, fn)) == NULL)
		return MM_ERR_NOMEM;
	snprintf(c->doc, sizeof(c->doc), "%s", mm_req_param(r, "doc"));
	/* Echo the stored spelling (実１ → 実1); a bad ID is reported by the library. */
	if (!mm_fisc_id_normalize(mm_req_param(r, "id"), c->crit, sizeof(c->crit)))
		snprintf(c->crit, sizeof(c->crit), "%s", mm_req_param(r, "id"));
	c->party = p;
	c->mark = m;
	c->s1 = dup_or_null(ja);
	c->s2 = dup_or_null(en);
	if ((ja && !c->s1) || (en && !c->s2)) {
		call_free(c);
		return MM_ERR_NOMEM;
	}
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

static mm_err response_set(mm_req *r)
{
	return response_common(r, do_set, true);
}

static mm_err response_delete(mm_req *r)
{
	return response_common(r, do_delete, false);
}

static mm_err do_review(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_review_done(c->f, &c->who, c->doc, c->crit);

	if (rc == MM_OK)
		*body = json_pack("{s:s,s:s,s:b}", "doc", c->doc, "id", c->crit, "reviewed", 1);
	return rc;
}

static mm_err review_done(mm_req *r)
{
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	if ((c = call_new(r, do_review)) == NULL)
		return MM_ERR_NOMEM;
	snprintf(c->doc, sizeof(c->doc), "%s", mm_req_param(r, "doc"));
	snprintf(c->crit, sizeof(c->crit), "%s", mm_req_param(r, "id"));
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

static mm_err do_import(call *c, int *status, json_t **body)
{
	mm_fisc_import_result res;
	mm_err rc = mm_fisc_import_csv(c->f, &c->who, c->doc, c->s3, c->len3, c->replace, &res);

	if (rc == MM_OK) {
		*body = json_pack("{s:s,s:I,s:I,s:b}", "doc", c->doc, "rows", (json_int_t)res.rows,
				  "version", (json_int_t)res.version, "replace", c->replace);
	} else if (rc == MM_ERR_INVALID && res.nerrors > 0) {
		/* The standard error body, plus every problem with its line. */
		json_t *probs = json_array();
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", mm_err_detail(rc));
		for (size_t i = 0; probs && i < res.nerrors; i++)
			json_array_append_new(probs, json_pack("{s:I,s:s}", "line",
							       (json_int_t)res.errors[i].line, "message",
							       res.errors[i].message));
		*status = 400;
		*body = json_pack("{s:{s:s,s:s,s:s},s:o,s:b}", "error", "code", "invalid_argument",
				  "message", msg, "request_id", c->rid, "problems", probs,
				  "truncated", res.errors_truncated);
		rc = *body ? MM_OK : MM_ERR_NOMEM;
	}
	mm_fisc_import_result_release(&res);
	return rc;
}

static mm_err doc_import(mm_req *r)
{
	const char *data, *rep = mm_req_query(r, "replace");
	size_t n;
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	data = mm_req_body(r, &n);
	if (n == 0)
		return mm_err_set(MM_ERR_INVALID, "send the CSV as the request body");
	if (rep != NULL && strcmp(rep, "true") != 0 && strcmp(rep, "false") != 0)
		return mm_err_set(MM_ERR_INVALID, "replace must be true or false");
	if ((c = call_new(r, do_import)) == NULL || (c->s3 = malloc(n)) == NULL) {
		if (c)
			call_free(c);
		return MM_ERR_NOMEM;
	}
	memcpy(c->s3, data, n);
	c->len3 = n;
	c->replace = rep != NULL && strcmp(rep, "true") == 0;
	snprintf(c->doc, sizeof(c->doc), "%s", mm_req_param(r, "doc"));
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

static mm_err do_approve(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_approve(c->f, &c->who, c->doc, c->version);

	if (rc == MM_OK)
		*body = json_pack("{s:s,s:s,s:s}", "doc", c->doc, "state", "approved", "approved_by",
				  c->actor);
	return rc;
}

static mm_err do_publish(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_publish(c->f, &c->who, c->doc, c->version, c->s1);

	if (rc == MM_OK)
		*body = json_pack("{s:s,s:s,s:s}", "doc", c->doc, "state", "published", "summary", c->s1);
	return rc;
}

static mm_err state_common(mm_req *r, call_fn fn, bool summary)
{
	static const char *const allowed[] = { "version", "summary", NULL };
	const char *sum = NULL;
	int64_t v = 0;
	size_t blen;
	json_t *b;
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	mm_req_body(r, &blen);
	if (blen > 0 || summary) {
		if ((rc = mm_req_json(r, &b)) != MM_OK || (rc = mm_json_only(b, allowed)) != MM_OK ||
		    (rc = mm_json_int(b, "version", false, 0, 1000000, &v)) != MM_OK ||
		    (rc = mm_json_str(b, "summary", summary, MM_FISC_SUMMARY_MAX, &sum)) != MM_OK)
			return rc;
		if (!summary && sum != NULL)
			return mm_err_set(MM_ERR_INVALID, "unknown field 'summary'");
	}
	if ((c = call_new(r, fn)) == NULL || (sum && (c->s1 = strdup(sum)) == NULL)) {
		if (c)
			call_free(c);
		return MM_ERR_NOMEM;
	}
	snprintf(c->doc, sizeof(c->doc), "%s", mm_req_param(r, "doc"));
	c->version = v;
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

static mm_err doc_approve(mm_req *r)
{
	return state_common(r, do_approve, false);
}

static mm_err doc_publish(mm_req *r)
{
	return state_common(r, do_publish, true);
}

static mm_err do_carry(call *c, int *status, json_t **body)
{
	mm_err rc = mm_fisc_carry_forward(c->f, &c->who, c->doc, c->version, c->doc2, c->edition,
					  c->s1, body);

	if (rc == MM_OK)
		*status = 201;
	return rc;
}

static mm_err doc_carry(mm_req *r)
{
	static const char *const allowed[] = { "to", "edition", "title", "from_version", NULL };
	const char *to, *title, *fv = NULL;
	int64_t ed, v;
	json_t *b;
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK || (rc = mm_req_json(r, &b)) != MM_OK ||
	    (rc = mm_json_only(b, allowed)) != MM_OK ||
	    (rc = mm_json_str(b, "to", true, 64, &to)) != MM_OK ||
	    (rc = mm_json_int(b, "edition", true, 1, 99, &ed)) != MM_OK ||
	    (rc = mm_json_str(b, "title", true, MM_FISC_TITLE_MAX, &title)) != MM_OK ||
	    (rc = mm_json_str(b, "from_version", false, 16, &fv)) != MM_OK ||
	    (rc = parse_version(fv, MM_FISC_LATEST, &v)) != MM_OK)
		return rc;
	if ((c = call_new(r, do_carry)) == NULL || (c->s1 = strdup(title)) == NULL) {
		if (c)
			call_free(c);
		return MM_ERR_NOMEM;
	}
	snprintf(c->doc, sizeof(c->doc), "%s", mm_req_param(r, "doc"));
	snprintf(c->doc2, sizeof(c->doc2), "%s", to);
	c->edition = (int)ed;
	c->version = v;
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

static mm_err do_evaluate(call *c, int *status, json_t **body)
{
	return mm_fisc_evaluate(c->f, &c->who, body);
}

static mm_err evaluate(mm_req *r)
{
	call *c;
	mm_err rc;

	if ((rc = need_fisc(r)) != MM_OK)
		return rc;
	if ((c = call_new(r, do_evaluate)) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = call_start(c)) != MM_OK)
		call_free(c);
	return rc;
}

/* ---- reports ---- */

static mm_err report(mm_req *r)
{
	mm_fisc_report_opts o;
	mm_buf out = MM_BUF_INIT(64u << 20);
	char disp[128];
	static const char *const ext[] = { "md", "html", "csv", "xlsx", "oscal-cd.json",
					   "oscal-ar.json" };
	mm_err rc;

	memset(&o, 0, sizeof(o));
	if ((rc = need_fisc(r)) != MM_OK ||
	    (rc = parse_edition(mm_req_query(r, "edition"), &o.edition)) != MM_OK ||
	    (rc = mm_fisc_format_parse(mm_req_query(r, "format") ? mm_req_query(r, "format") : "md",
				       &o.format)) != MM_OK ||
	    (rc = parse_version(mm_req_query(r, "version"), MM_FISC_LATEST, &o.version)) != MM_OK)
		return rc;
	o.doc_id = mm_req_query(r, "doc");
	if ((rc = mm_fisc_report(fisc_of(r), &o, &out)) != MM_OK)
		goto out;
	snprintf(disp, sizeof(disp), "attachment; filename=\"fisc-%d.%s\"", o.edition, ext[o.format]);
	mm_req_add_header(r, "Content-Disposition", disp);
	mm_req_reply_raw(r, 200, mm_fisc_format_mime(o.format), out.data ? out.data : "", out.len);
out:
	mm_buf_release(&out);
	return rc;
}

const mm_route mm_routes_fisc[] = {
	{ "GET", "/v1/fisc/editions", "fisc.read", 0, editions },
	{ "POST", "/v1/fisc/editions/validate", "fisc.read", 0, edition_validate },
	{ "GET", "/v1/fisc/editions/{edition}", "fisc.read", 0, edition_get },
	{ "GET", "/v1/fisc/diff", "fisc.read", 0, edition_diff },
	{ "GET", "/v1/fisc/checks", "fisc.read", 0, checks_list },
	{ "POST", "/v1/fisc/evaluate", "fisc.write", 0, evaluate },
	{ "GET", "/v1/fisc/report", "fisc.read", 0, report },
	{ "GET", "/v1/fisc/docs", "fisc.read", 0, docs_list },
	{ "POST", "/v1/fisc/docs", "fisc.write", 0, doc_create },
	{ "GET", "/v1/fisc/docs/{doc}", "fisc.read", 0, doc_history },
	{ "GET", "/v1/fisc/docs/{doc}/versions/{version}", "fisc.read", 0, doc_version },
	{ "GET", "/v1/fisc/docs/{doc}/diff", "fisc.read", 0, doc_diff },
	{ "GET", "/v1/fisc/docs/{doc}/coverage", "fisc.read", 0, doc_coverage },
	{ "POST", "/v1/fisc/docs/{doc}/import", "fisc.write", 0, doc_import },
	{ "PUT", "/v1/fisc/docs/{doc}/responses/{id}/{party}", "fisc.write", 0, response_set },
	{ "DELETE", "/v1/fisc/docs/{doc}/responses/{id}/{party}", "fisc.write", 0, response_delete },
	{ "POST", "/v1/fisc/docs/{doc}/reviews/{id}", "fisc.write", 0, review_done },
	{ "POST", "/v1/fisc/docs/{doc}/approve", "fisc.approve", 0, doc_approve },
	{ "POST", "/v1/fisc/docs/{doc}/publish", "fisc.approve", 0, doc_publish },
	{ "POST", "/v1/fisc/docs/{doc}/carry-forward", "fisc.write", 0, doc_carry },
	{ NULL, NULL, NULL, 0, NULL },
};
