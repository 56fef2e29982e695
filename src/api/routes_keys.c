/*
 * routes_keys.c: the seal (/v1/sys/seal-status, /v1/sys/seal/init,
 * /v1/sys/unseal, /v1/sys/seal, /v1/sys/rekey...) and named keys (/v1/keys...).
 *
 * Binary values travel as standard base64 (plaintext, context, input, data
 * keys); ciphertexts, MACs and signatures as "mamori:v<n>:<base64>".
 * Operations accept either one item or "batch_input": [...] (up to
 * MM_KEYS_MAX_BATCH) and answer "batch_results" with one entry per item.
 *
 * Invariants:
 *  - Key operations never block the event loop on the group commit: they use
 *    mm_keys_batch_async and complete the deferred reply from its callback,
 *    so the response is sent only after the operation's audit event is
 *    durable. Seal and key management calls are rare and call the library
 *    directly.
 *  - After the route's global permission, every /v1/keys/{name} route checks
 *    the key's own policy (mm_keys_policy_check) before touching the key.
 *  - Decoded plaintexts and returned data keys are wiped once the reply is
 *    built; no handler logs a request or response body.
 *  - While sealed, only seal-status, unseal, seal and seal/init are served
 *    (MM_ROUTE_SEALED); the server refuses every other route with 503.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/routes.h"
#include "core/json.h"
#include "core/str.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "keys/envelope.h"
#include "keys/keys.h"
#include "keys/named.h"

/* Longest base64 field: the largest input, encoded. */
#define B64_MAX ((size_t)MM_KEYS_MAX_INPUT / 3 * 4 + 4)
#define TEXT_MAX ((size_t)MM_KEYS_MAX_INPUT / 3 * 4 + 64)

static mm_keys *keys_of(mm_req *r)
{
	return mm_req_app(r)->keys;
}

#define NEED_KEYS(k)                                                                           \
	do {                                                                                   \
		if ((k) == NULL)                                                               \
			return mm_err_set(MM_ERR_UNAVAILABLE, "the key manager is not running"); \
	} while (0)

static void caller_of(mm_req *r, mm_keys_caller *c)
{
	c->actor = mm_req_actor(r);
	c->source = mm_req_source(r);
	c->request_id = mm_req_id(r);
}

/* Checks the key's own policy for op against the caller's roles. */
static mm_err key_policy(mm_req *r, const char *name, const char *op)
{
	const mm_principal *p = mm_req_principal(r);
	char buf[MM_ROLES_MAX + 1], *save = NULL, *role;
	const char *roles[32];
	size_t n = 0;

	memcpy(buf, p->roles, sizeof(buf));
	buf[MM_ROLES_MAX] = '\0';
	for (role = strtok_r(buf, ",", &save); role != NULL && n < 32; role = strtok_r(NULL, ",", &save))
		roles[n++] = role;
	return mm_keys_policy_check(keys_of(r), name, op, roles, n);
}

/* Optional base64 field decoded into out. Errors: MM_ERR_INVALID naming it. */
static mm_err b64_field(const json_t *o, const char *key, bool required, mm_buf *out,
			bool *ret_present)
{
	const char *s = NULL;
	mm_err rc;

	if ((rc = mm_json_str(o, key, required, B64_MAX, &s)) != MM_OK)
		return rc;
	if (ret_present != NULL)
		*ret_present = s != NULL;
	if (s == NULL)
		return MM_OK;
	if (mm_base64_decode(out, s, strlen(s)) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "field '%s': not valid base64", key);
	return MM_OK;
}

/* A JSON string of text this file or the key manager produced: base64, or
 * "mamori:v<n>:<base64>" (mm_envelope_format). It is ASCII by construction,
 * so jansson's UTF-8 check (a function call per character, 21,000
 * instructions for a 1 KiB ciphertext) is skipped. Never for client text. */
static json_t *ascii_json(const char *p, size_t n)
{
	return json_stringn_nocheck(p ? p : "", n);
}

static json_t *b64_json(const void *p, size_t n)
{
	mm_buf b = MM_BUF_INIT(SIZE_MAX / 2);
	json_t *s = NULL;

	if (mm_base64_encode(&b, p, n) == MM_OK)
		s = ascii_json(b.data, b.len);
	mm_buf_wipe_release(&b);
	return s;
}

static json_t *status_json(const mm_keys_status *s)
{
	char t[MM_TIME_RFC3339_LEN] = "";

	if (s->unsealed_ms)
		mm_time_format(s->unsealed_ms, t);
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:s?, s:s?, s:I, s:I, s:b, s:{s:b, s:I, s:I, s:I}}",
			 "initialized", s->initialized, "sealed", s->sealed,
			 "threshold", (json_int_t)s->threshold, "shares", (json_int_t)s->shares,
			 "progress", (json_int_t)s->progress, "unseal_method", s->unseal_method,
			 "unsealed_at", s->unsealed_ms ? t : NULL,
			 "generation", (json_int_t)s->generation,
			 "barrier_term", (json_int_t)s->barrier_term,
			 "memory_locked", s->memory_locked,
			 "rekey", "active", s->rekey_active, "progress", (json_int_t)s->rekey_progress,
			 "shares", (json_int_t)s->rekey_shares, "threshold",
			 (json_int_t)s->rekey_threshold);
}

static json_t *shares_json(const mm_keys_shares *sh)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < sh->n; i++)
		json_array_append_new(a, json_string(sh->shares[i]));
	return a;
}

/* ---- seal ---- */

static mm_err seal_status(mm_req *r)
{
	mm_keys *k = keys_of(r);
	mm_keys_status s;

	NEED_KEYS(k);
	mm_keys_status_get(k, &s);
	mm_req_reply(r, 200, status_json(&s));
	return MM_OK;
}

static mm_err counts(json_t *body, unsigned *ret_n, unsigned *ret_k)
{
	int64_t n, t;
	mm_err rc;

	if ((rc = mm_json_int(body, "secret_shares", true, 1, MM_SHAMIR_MAX_SHARES, &n)) != MM_OK ||
	    (rc = mm_json_int(body, "secret_threshold", true, 1, MM_SHAMIR_MAX_SHARES, &t)) != MM_OK)
		return rc;
	*ret_n = (unsigned)n;
	*ret_k = (unsigned)t;
	return MM_OK;
}

static mm_err seal_init(mm_req *r)
{
	static const char *const allowed[] = { "secret_shares", "secret_threshold", NULL };
	mm_keys *k = keys_of(r);
	mm_keys_shares sh = { 0, NULL };
	mm_keys_caller who;
	unsigned n = 0, t = 0;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = counts(body, &n, &t)) != MM_OK)
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_init(k, &who, n, t, &sh)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:o, s:I, s:I}", "shares", shares_json(&sh), "secret_shares",
				       (json_int_t)n, "secret_threshold", (json_int_t)t));
	mm_keys_shares_release(&sh);
	return MM_OK;
}

static mm_err unseal(mm_req *r)
{
	static const char *const allowed[] = { "key", "reset", NULL };
	mm_keys *k = keys_of(r);
	mm_keys_caller who;
	mm_keys_status s;
	const char *share = NULL;
	bool reset = false;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "key", false, 128, &share)) != MM_OK ||
	    (rc = mm_json_bool(body, "reset", false, &reset)) != MM_OK)
		return rc;
	caller_of(r, &who);
	if (reset)
		rc = mm_keys_unseal_reset(k, &who);
	else if (share == NULL)
		rc = mm_err_set(MM_ERR_INVALID, "field 'key': required (or \"reset\": true)");
	else
		rc = mm_keys_unseal_submit(k, &who, share, NULL);
	if (rc != MM_OK)
		return rc;
	mm_keys_status_get(k, &s);
	mm_req_reply(r, 200, status_json(&s));
	return MM_OK;
}

/* Runs fn for the caller; on success replies {"<done>": true}. */
static mm_err caller_call(mm_req *r, mm_err (*fn)(mm_keys *k, const mm_keys_caller *who),
			  const char *done)
{
	mm_keys *k = keys_of(r);
	mm_keys_caller who;
	mm_err rc;

	NEED_KEYS(k);
	caller_of(r, &who);
	if ((rc = fn(k, &who)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b}", done, 1));
	return MM_OK;
}

static mm_err seal(mm_req *r)
{
	return caller_call(r, mm_keys_seal, "sealed");
}

static mm_err rekey_start(mm_req *r)
{
	static const char *const allowed[] = { "secret_shares", "secret_threshold", NULL };
	mm_keys *k = keys_of(r);
	char nonce[MM_KEYS_NONCE_LEN];
	mm_keys_caller who;
	unsigned n = 0, t = 0;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = counts(body, &n, &t)) != MM_OK)
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_rekey_start(k, &who, n, t, nonce)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:s, s:I, s:I}", "nonce", nonce, "secret_shares",
				       (json_int_t)n, "secret_threshold", (json_int_t)t));
	return MM_OK;
}

static mm_err rekey_update(mm_req *r)
{
	static const char *const allowed[] = { "nonce", "key", NULL };
	mm_keys *k = keys_of(r);
	mm_keys_shares sh = { 0, NULL };
	const char *nonce, *share;
	mm_keys_caller who;
	unsigned progress = 0;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "nonce", true, 64, &nonce)) != MM_OK ||
	    (rc = mm_json_str(body, "key", true, 128, &share)) != MM_OK)
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_rekey_submit(k, &who, nonce, share, &sh, &progress)) != MM_OK)
		return rc;
	if (sh.n > 0)
		mm_req_reply(r, 200, json_pack("{s:b, s:o}", "complete", 1, "shares", shares_json(&sh)));
	else
		mm_req_reply(r, 200, json_pack("{s:b, s:I}", "complete", 0, "progress",
					       (json_int_t)progress));
	mm_keys_shares_release(&sh);
	return MM_OK;
}

static mm_err rekey_cancel(mm_req *r)
{
	return caller_call(r, mm_keys_rekey_cancel, "cancelled");
}

static mm_err barrier_rotate(mm_req *r)
{
	mm_keys *k = keys_of(r);
	mm_keys_caller who;
	uint32_t term = 0;
	mm_err rc;

	NEED_KEYS(k);
	caller_of(r, &who);
	if ((rc = mm_keys_barrier_rotate(k, &who, &term)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:I}", "term", (json_int_t)term));
	return MM_OK;
}

/* ---- key management ---- */

static mm_err algorithms(mm_req *r)
{
	json_t *a = mm_keys_algorithms_json();

	if (a == NULL)
		return MM_ERR_NOMEM;
	mm_req_reply(r, 200, a);
	return MM_OK;
}

static mm_err list(mm_req *r)
{
	mm_keys *k = keys_of(r);
	json_t *a = NULL;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_keys_list(k, &a)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:o}", "keys", a));
	return MM_OK;
}

/* "24h" or 0 / "0" / "off" for no auto-rotation. */
static mm_err rotate_period(const json_t *body, bool *ret_set, int64_t *ret_ms)
{
	const char *s = NULL;
	mm_err rc;

	*ret_set = false;
	if ((rc = mm_json_str(body, "auto_rotate_period", false, 32, &s)) != MM_OK)
		return rc;
	if (s == NULL)
		return MM_OK;
	*ret_set = true;
	if (strcmp(s, "0") == 0 || strcmp(s, "off") == 0) {
		*ret_ms = 0;
		return MM_OK;
	}
	if (mm_time_parse_duration(s, ret_ms) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "field 'auto_rotate_period': expected a duration "
				  "such as \"720h\", or \"off\"");
	return MM_OK;
}

/* Replies status with the metadata of key name as it is now. */
static mm_err reply_info(mm_req *r, mm_keys *k, const char *name, int status)
{
	mm_keys_info info;
	mm_err rc;

	if ((rc = mm_keys_show(k, name, &info)) != MM_OK)
		return rc;
	mm_req_reply(r, status, mm_keys_info_json(&info));
	mm_keys_info_release(&info);
	return MM_OK;
}

static mm_err create(mm_req *r)
{
	static const char *const allowed[] = { "name", "type", "exportable", "deletion_allowed",
		"auto_rotate_period", "policy", NULL };
	mm_keys *k = keys_of(r);
	mm_keys_create_opts o = { 0 };
	mm_keys_caller who;
	const char *name, *type;
	bool set = false;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "name", true, 128, &name)) != MM_OK ||
	    (rc = mm_json_str(body, "type", true, 32, &type)) != MM_OK ||
	    (rc = mm_key_type_parse(type, &o.type)) != MM_OK ||
	    (rc = mm_json_bool(body, "exportable", false, &o.exportable)) != MM_OK ||
	    (rc = mm_json_bool(body, "deletion_allowed", false, &o.deletion_allowed)) != MM_OK ||
	    (rc = rotate_period(body, &set, &o.auto_rotate_ms)) != MM_OK)
		return rc;
	o.policy = json_object_get(body, "policy");
	caller_of(r, &who);
	if ((rc = mm_keys_create(k, &who, name, &o)) != MM_OK)
		return rc;
	return reply_info(r, k, name, 201);
}

static mm_err show(mm_req *r)
{
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "read")) != MM_OK)
		return rc;
	return reply_info(r, k, name, 200);
}

static mm_err config(mm_req *r)
{
	static const char *const allowed[] = { "min_decryption_version", "auto_rotate_period",
		"exportable", "deletion_allowed", "disabled", "policy", NULL };
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	mm_keys_config c = { 0 };
	mm_keys_caller who;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "config")) != MM_OK || (rc = mm_req_json(r, &body)) != MM_OK ||
	    (rc = mm_json_only(body, allowed)) != MM_OK)
		return rc;
	c.set_min_decryption_version = json_object_get(body, "min_decryption_version") != NULL;
	c.set_exportable = json_object_get(body, "exportable") != NULL;
	c.set_deletion_allowed = json_object_get(body, "deletion_allowed") != NULL;
	c.set_disabled = json_object_get(body, "disabled") != NULL;
	c.set_policy = json_object_get(body, "policy") != NULL;
	c.policy = json_object_get(body, "policy");
	if ((rc = mm_json_int(body, "min_decryption_version", false, 1, MM_ENVELOPE_MAX_VERSION,
			      &c.min_decryption_version)) != MM_OK ||
	    (rc = mm_json_bool(body, "exportable", false, &c.exportable)) != MM_OK ||
	    (rc = mm_json_bool(body, "deletion_allowed", false, &c.deletion_allowed)) != MM_OK ||
	    (rc = mm_json_bool(body, "disabled", false, &c.disabled)) != MM_OK ||
	    (rc = rotate_period(body, &c.set_auto_rotate, &c.auto_rotate_ms)) != MM_OK)
		return rc;
	if (c.set_policy && json_is_null(c.policy))
		c.policy = NULL;
	caller_of(r, &who);
	if ((rc = mm_keys_configure(k, &who, name, &c)) != MM_OK)
		return rc;
	return reply_info(r, k, name, 200);
}

static mm_err rotate(mm_req *r)
{
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	mm_keys_caller who;
	int64_t v = 0;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "rotate")) != MM_OK)
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_rotate(k, &who, name, &v)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:s, s:I}", "name", name, "latest_version", (json_int_t)v));
	return MM_OK;
}

static mm_err destroy(mm_req *r)
{
	static const char *const allowed[] = { "versions", NULL };
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	int64_t vs[MM_KEYS_MAX_BATCH];
	mm_keys_caller who;
	json_t *body, *arr, *v;
	size_t i, n;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "destroy")) != MM_OK || (rc = mm_req_json(r, &body)) != MM_OK ||
	    (rc = mm_json_only(body, allowed)) != MM_OK)
		return rc;
	arr = json_object_get(body, "versions");
	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0 || n > MM_KEYS_MAX_BATCH)
		return mm_err_set(MM_ERR_INVALID, "field 'versions': expected an array of 1 to %d "
				  "version numbers", MM_KEYS_MAX_BATCH);
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v))
			return mm_err_set(MM_ERR_INVALID, "field 'versions': expected integers");
		vs[i] = json_integer_value(v);
	}
	caller_of(r, &who);
	if ((rc = mm_keys_destroy_versions(k, &who, name, vs, n)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:s, s:O}", "name", name, "destroyed", arr));
	return MM_OK;
}

static mm_err delete_key(mm_req *r)
{
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	mm_keys_caller who;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "delete")) != MM_OK)
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_delete(k, &who, name)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
	return MM_OK;
}

static mm_err export_key(mm_req *r)
{
	static const char *const allowed[] = { "version", NULL };
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	mm_buf out = MM_BUF_INIT(256);
	mm_keys_caller who;
	int64_t v = 0;
	size_t blen;
	json_t *body;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = key_policy(r, name, "export")) != MM_OK)
		return rc;
	mm_req_body(r, &blen);
	if (blen > 0 && ((rc = mm_req_json(r, &body)) != MM_OK ||
			 (rc = mm_json_only(body, allowed)) != MM_OK ||
			 (rc = mm_json_int(body, "version", false, 0, MM_ENVELOPE_MAX_VERSION, &v)) !=
				 MM_OK))
		return rc;
	caller_of(r, &who);
	if ((rc = mm_keys_export(k, &who, name, v, &out)) == MM_OK)
		mm_req_reply(r, 200, json_pack("{s:s, s:s}", "name", name, "key", mm_buf_str(&out)));
	mm_buf_wipe_release(&out);
	return rc;
}

/* ---- operations ---- */

/* Per-item inputs decoded from the request; freed (wiped) with the request. */
struct op_item {
	mm_buf input;
	mm_buf context;
	bool has_context;
};

struct opreq {
	mm_req *r;
	mm_keys_op op;
	bool batch;
	size_t n;
	mm_keys_op_opts opts;
	mm_keys_caller who;
	char name[130];
	struct op_item *in;
	mm_keys_item *items;
};

static void opreq_free(struct opreq *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++) {
		if (q->in != NULL) {
			mm_buf_wipe_release(&q->in[i].input);
			mm_buf_wipe_release(&q->in[i].context);
		}
		if (q->items != NULL) {
			mm_buf_wipe_release(&q->items[i].output);
			mm_buf_wipe_release(&q->items[i].aux);
		}
	}
	free(q->in);
	free(q->items);
	free(q);
}

/* The input field of each operation and the text fields it takes. */
static const char *input_field(mm_keys_op op)
{
	switch (op) {
	case MM_KEYS_OP_ENCRYPT: return "plaintext";
	case MM_KEYS_OP_DECRYPT:
	case MM_KEYS_OP_REWRAP: return "ciphertext";
	case MM_KEYS_OP_DATAKEY: return NULL;
	default: return "input";
	}
}

/* Fills item i from one JSON object: a batch_input entry, or in the single
 * form the request body, which may also hold the options shared by all items
 * (read by run_op). */
static mm_err parse_item(struct opreq *q, size_t i, const json_t *o)
{
	static const char *const f_enc[] = { "plaintext", "context", "key_version", NULL };
	static const char *const f_dec[] = { "ciphertext", "context", NULL };
	static const char *const f_dk[] = { "context", "key_version", NULL };
	static const char *const f_hmac[] = { "input", "key_version", NULL };
	static const char *const f_ver[] = { "input", "signature", "hmac", NULL };
	struct op_item *in = &q->in[i];
	mm_keys_item *it = &q->items[i];
	const char *const *fields;
	const char *allowed[8];
	const char *field = input_field(q->op);
	size_t n = 0;
	mm_err rc;

	if (!json_is_object(o))
		return q->batch ? mm_err_set(MM_ERR_INVALID, "batch_input[%zu]: expected an object", i)
				: mm_err_set(MM_ERR_INVALID, "request body: expected an object");
	switch (q->op) {
	case MM_KEYS_OP_ENCRYPT: fields = f_enc; break;
	case MM_KEYS_OP_DECRYPT:
	case MM_KEYS_OP_REWRAP: fields = f_dec; break;
	case MM_KEYS_OP_DATAKEY: fields = f_dk; break;
	case MM_KEYS_OP_VERIFY: fields = f_ver; break;
	default: fields = f_hmac; break;
	}
	while (fields[n] != NULL) {
		allowed[n] = fields[n];
		n++;
	}
	if (!q->batch) {
		allowed[n++] = "marshaling";
		allowed[n++] = "plaintext_wanted";
	}
	allowed[n] = NULL;
	if ((rc = mm_json_only(o, allowed)) != MM_OK)
		return rc;
	if (q->op == MM_KEYS_OP_DECRYPT || q->op == MM_KEYS_OP_REWRAP) {
		const char *ct;

		if ((rc = mm_json_str(o, "ciphertext", true, TEXT_MAX, &ct)) != MM_OK ||
		    (rc = mm_buf_appends(&in->input, ct)) != MM_OK)
			return rc;
	} else if (field != NULL && (rc = b64_field(o, field, true, &in->input, NULL)) != MM_OK) {
		return rc;
	}
	if (q->op == MM_KEYS_OP_ENCRYPT || q->op == MM_KEYS_OP_DECRYPT || q->op == MM_KEYS_OP_REWRAP ||
	    q->op == MM_KEYS_OP_DATAKEY) {
		if ((rc = b64_field(o, "context", false, &in->context, &in->has_context)) != MM_OK)
			return rc;
	}
	if (q->op == MM_KEYS_OP_ENCRYPT || q->op == MM_KEYS_OP_DATAKEY || q->op == MM_KEYS_OP_HMAC ||
	    q->op == MM_KEYS_OP_SIGN) {
		if ((rc = mm_json_int(o, "key_version", false, 0, MM_ENVELOPE_MAX_VERSION,
				      &it->version)) != MM_OK)
			return rc;
	}
	if (q->op == MM_KEYS_OP_VERIFY) {
		const char *sig = NULL, *mac = NULL;

		if ((rc = mm_json_str(o, "signature", false, 1024, &sig)) != MM_OK ||
		    (rc = mm_json_str(o, "hmac", false, 1024, &mac)) != MM_OK)
			return rc;
		if ((sig == NULL) == (mac == NULL))
			return mm_err_set(MM_ERR_INVALID, "give exactly one of 'signature' and 'hmac'");
		it->proof = sig ? sig : mac;
		it->proof_len = strlen(it->proof);
	}
	it->input = in->input.data ? in->input.data : "";
	it->input_len = in->input.len;
	it->context = in->has_context ? (in->context.data ? in->context.data : "") : NULL;
	it->context_len = in->context.len;
	return MM_OK;
}

static json_t *error_json(mm_err rc, const char *detail)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", mm_err_name(rc), "message",
			 detail && detail[0] ? detail : mm_err_message(rc));
}

/* The reply object for one successful item. */
static json_t *item_json(const struct opreq *q, const mm_keys_item *it)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	switch (q->op) {
	case MM_KEYS_OP_ENCRYPT:
	case MM_KEYS_OP_REWRAP:
		json_object_set_new(o, "ciphertext", ascii_json(it->output.data, it->output.len));
		break;
	case MM_KEYS_OP_DECRYPT:
		json_object_set_new(o, "plaintext", b64_json(it->output.data, it->output.len));
		return o;
	case MM_KEYS_OP_DATAKEY:
		json_object_set_new(o, "ciphertext", ascii_json(it->output.data, it->output.len));
		if (q->opts.want_plaintext)
			json_object_set_new(o, "plaintext", b64_json(it->aux.data, it->aux.len));
		break;
	case MM_KEYS_OP_HMAC:
		json_object_set_new(o, "hmac", ascii_json(it->output.data, it->output.len));
		break;
	case MM_KEYS_OP_SIGN:
		json_object_set_new(o, "signature", ascii_json(it->output.data, it->output.len));
		break;
	case MM_KEYS_OP_VERIFY:
		json_object_set_new(o, "valid", json_true());
		return o;
	default:
		break;
	}
	json_object_set_new(o, "key_version", json_integer(it->used_version));
	return o;
}

/* Builds the reply on the request's worker: op_done runs on the store's
 * writer thread, which every audited operation queues behind, so it only
 * hands the request over (the reply of a 1 KiB encrypt, with its 1.4 KB
 * strings, was a tenth of the writer's work per request). */
static mm_err op_build(mm_req *r, const void *data)
{
	struct opreq *q;
	json_t *body = NULL;
	mm_err rc = MM_OK;

	memcpy(&q, data, sizeof(q));
	if (!q->batch) {
		mm_keys_item *it = &q->items[0];

		if (it->result == MM_ERR_VERIFY && q->op == MM_KEYS_OP_VERIFY)
			body = json_pack("{s:b}", "valid", 0);
		else if (it->result != MM_OK) {
			rc = mm_err_set(it->result, "%s", it->detail);
			goto out;
		} else
			body = item_json(q, it);
	} else {
		json_t *a = json_array();

		for (size_t i = 0; a != NULL && i < q->n; i++) {
			mm_keys_item *it = &q->items[i];

			if (it->result == MM_ERR_VERIFY && q->op == MM_KEYS_OP_VERIFY)
				json_array_append_new(a, json_pack("{s:b}", "valid", 0));
			else if (it->result != MM_OK)
				json_array_append_new(a, error_json(it->result, it->detail));
			else
				json_array_append_new(a, item_json(q, it));
		}
		body = a ? json_pack("{s:o}", "batch_results", a) : NULL;
	}
	if (body == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	mm_req_reply(r, 200, body);
out:
	opreq_free(q);
	return rc;
}

static void op_done(mm_err rc, const char *detail, void *arg)
{
	struct opreq *q = arg;

	if (rc != MM_OK) {
		mm_req_complete(q->r, rc, detail, 0, NULL);
		opreq_free(q);
		return;
	}
	/* op_build always runs (deliver calls it for every completion) and
	 * frees q there. */
	mm_req_complete_build(q->r, op_build, &q, sizeof(q));
}

static mm_err run_op(mm_req *r, mm_keys_op op)
{
	static const char *const top_batch[] = { "batch_input", "marshaling", NULL };
	const char *name = mm_req_param(r, "name");
	mm_keys *k = keys_of(r);
	struct opreq *q = NULL;
	const char *marshal = NULL;
	json_t *body = NULL, *batch;
	size_t blen;
	mm_err rc;

	NEED_KEYS(k);
	if ((rc = mm_keys_name_check(name)) != MM_OK ||
	    (rc = key_policy(r, name, mm_keys_op_name(op))) != MM_OK)
		return rc;
	mm_req_body(r, &blen);
	if (blen == 0 && op == MM_KEYS_OP_DATAKEY)
		body = NULL;
	else if ((rc = mm_req_json(r, &body)) != MM_OK)
		return rc;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return MM_ERR_NOMEM;
	q->r = r;
	q->op = op;
	mm_str_copy(q->name, sizeof(q->name), name);
	caller_of(r, &q->who);
	batch = body ? json_object_get(body, "batch_input") : NULL;
	q->batch = batch != NULL;
	if (q->batch) {
		if (op == MM_KEYS_OP_DATAKEY) {
			rc = mm_err_set(MM_ERR_INVALID, "datakey takes no batch_input");
			goto fail;
		}
		if ((rc = mm_json_only(body, top_batch)) != MM_OK)
			goto fail;
		if (!json_is_array(batch) || json_array_size(batch) == 0 ||
		    json_array_size(batch) > MM_KEYS_MAX_BATCH) {
			rc = mm_err_set(MM_ERR_INVALID, "field 'batch_input': expected an array of 1 to "
					"%d items", MM_KEYS_MAX_BATCH);
			goto fail;
		}
	}
	q->n = q->batch ? json_array_size(batch) : 1;
	if ((q->in = calloc(q->n, sizeof(*q->in))) == NULL ||
	    (q->items = calloc(q->n, sizeof(*q->items))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < q->n; i++) {
		mm_buf_init(&q->in[i].input, MM_KEYS_MAX_INPUT);
		mm_buf_init(&q->in[i].context, MM_KEYS_MAX_INPUT);
		mm_buf_init(&q->items[i].output, (size_t)MM_KEYS_MAX_INPUT * 2);
		mm_buf_init(&q->items[i].aux, 64);
	}
	/* Options common to all items. */
	if (body != NULL && (op == MM_KEYS_OP_SIGN || op == MM_KEYS_OP_VERIFY)) {
		if ((rc = mm_json_str(body, "marshaling", false, 16, &marshal)) != MM_OK)
			goto fail;
		if (marshal == NULL || strcmp(marshal, "asn1") == 0)
			q->opts.sig_format = MM_SIG_DER;
		else if (strcmp(marshal, "raw") == 0)
			q->opts.sig_format = MM_SIG_RAW;
		else {
			rc = mm_err_set(MM_ERR_INVALID, "field 'marshaling': expected \"asn1\" or \"raw\"");
			goto fail;
		}
	}
	if (op == MM_KEYS_OP_DATAKEY && body != NULL &&
	    (rc = mm_json_bool(body, "plaintext_wanted", false, &q->opts.want_plaintext)) != MM_OK)
		goto fail;
	for (size_t i = 0; i < q->n; i++) {
		if (q->batch) {
			rc = parse_item(q, i, json_array_get(batch, i));
		} else if (body != NULL) {
			rc = parse_item(q, i, body);
		} else {
			/* datakey without a body: an item with no fields. */
			json_t *empty = json_object();

			rc = empty ? parse_item(q, i, empty) : MM_ERR_NOMEM;
			json_decref(empty);
		}
		if (rc != MM_OK)
			goto fail;
	}
	mm_req_defer(r);
	mm_keys_batch_async(k, &q->who, q->name, op, &q->opts, q->items, q->n, op_done, q);
	return MM_OK;
fail:
	opreq_free(q);
	return rc;
}

static mm_err encrypt(mm_req *r) { return run_op(r, MM_KEYS_OP_ENCRYPT); }
static mm_err decrypt(mm_req *r) { return run_op(r, MM_KEYS_OP_DECRYPT); }
static mm_err rewrap(mm_req *r) { return run_op(r, MM_KEYS_OP_REWRAP); }
static mm_err datakey(mm_req *r) { return run_op(r, MM_KEYS_OP_DATAKEY); }
static mm_err hmac(mm_req *r) { return run_op(r, MM_KEYS_OP_HMAC); }
static mm_err sign(mm_req *r) { return run_op(r, MM_KEYS_OP_SIGN); }
static mm_err verify(mm_req *r) { return run_op(r, MM_KEYS_OP_VERIFY); }

const mm_route mm_routes_keys[] = {
	{ "GET", "/v1/sys/seal-status", NULL, MM_ROUTE_PUBLIC | MM_ROUTE_SEALED, seal_status },
	{ "POST", "/v1/sys/seal/init", "sys.seal", MM_ROUTE_SEALED, seal_init },
	{ "POST", "/v1/sys/unseal", NULL, MM_ROUTE_PUBLIC | MM_ROUTE_SEALED, unseal },
	{ "POST", "/v1/sys/seal", "sys.seal", MM_ROUTE_SEALED, seal },
	{ "POST", "/v1/sys/rekey", "sys.seal", 0, rekey_start },
	{ "POST", "/v1/sys/rekey/update", NULL, MM_ROUTE_PUBLIC, rekey_update },
	{ "DELETE", "/v1/sys/rekey", "sys.seal", 0, rekey_cancel },
	{ "POST", "/v1/sys/rotate", "sys.seal", 0, barrier_rotate },
	{ "GET", "/v1/keys/algorithms", "keys.read", 0, algorithms },
	{ "GET", "/v1/keys", "keys.read", 0, list },
	{ "POST", "/v1/keys", "keys.admin", 0, create },
	{ "GET", "/v1/keys/{name}", "keys.read", 0, show },
	{ "DELETE", "/v1/keys/{name}", "keys.admin", 0, delete_key },
	{ "POST", "/v1/keys/{name}/config", "keys.admin", 0, config },
	{ "POST", "/v1/keys/{name}/rotate", "keys.admin", 0, rotate },
	{ "POST", "/v1/keys/{name}/destroy", "keys.admin", 0, destroy },
	{ "POST", "/v1/keys/{name}/export", "keys.admin", 0, export_key },
	{ "POST", "/v1/keys/{name}/encrypt", "keys.use", 0, encrypt },
	{ "POST", "/v1/keys/{name}/decrypt", "keys.use", 0, decrypt },
	{ "POST", "/v1/keys/{name}/rewrap", "keys.use", 0, rewrap },
	{ "POST", "/v1/keys/{name}/datakey", "keys.use", 0, datakey },
	{ "POST", "/v1/keys/{name}/hmac", "keys.use", 0, hmac },
	{ "POST", "/v1/keys/{name}/sign", "keys.use", 0, sign },
	{ "POST", "/v1/keys/{name}/verify", "keys.use", 0, verify },
	{ NULL, NULL, NULL, 0, NULL },
};
