/*
 * json.c: strict typed JSON field access, and serialisation of API replies;
 * see json.h.
 *
 * Why mm_json_dump_buf copies some strings itself: jansson writes every
 * string one UTF-8 character at a time (a utf8_iterate call and the escaping
 * tests per character, ~75 instructions a byte). For a 1 KiB encrypt or
 * decrypt that was a sixth of the daemon's instructions per request, all in
 * writing one 1.4 KB base64 string that cannot contain anything to escape.
 * Only strings checked to consist of such characters (plain()) skip jansson;
 * the check costs a few instructions a byte and anything else falls back to
 * jansson, so the output is byte for byte what jansson would write.
 */
#include "core/json.h"

#include <stdint.h>
#include <string.h>

mm_err mm_json_parse(const char *data, size_t len, json_t **ret)
{
	json_error_t e;
	json_t *v;

	if (len == 0)
		return mm_err_set(MM_ERR_INVALID, "request body must be a JSON value");
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
	if (v == NULL)
		return mm_err_set(MM_ERR_INVALID, "malformed JSON at line %d column %d: %.100s",
				  e.line, e.column, e.text);
	*ret = v;
	return MM_OK;
}

mm_err mm_json_only(const json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj))
		return mm_err_set(MM_ERR_INVALID, "expected a JSON object");
	json_object_foreach((json_t *)obj, k, v) {
		bool ok = false;

		(void)v;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(allowed[i], k) == 0;
		if (!ok)
			return mm_err_set(MM_ERR_INVALID, "unknown field '%.64s'", k);
	}
	return MM_OK;
}

static mm_err field(const json_t *obj, const char *key, bool required, json_t **ret)
{
	json_t *v;

	if (!json_is_object(obj))
		return mm_err_set(MM_ERR_INVALID, "expected a JSON object");
	v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return mm_err_set(MM_ERR_INVALID, "field '%s' is required", key);
		v = NULL;
	}
	*ret = v;
	return MM_OK;
}

mm_err mm_json_str(const json_t *obj, const char *key, bool required, size_t maxlen,
		   const char **ret)
{
	json_t *v;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL) {
		*ret = NULL;
		return MM_OK;
	}
	if (!json_is_string(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected a string", key);
	if (json_string_length(v) > maxlen)
		return mm_err_set(MM_ERR_INVALID, "field '%s': longer than %zu bytes", key, maxlen);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': contains a NUL character", key);
	*ret = json_string_value(v);
	return MM_OK;
}

mm_err mm_json_int(const json_t *obj, const char *key, bool required, int64_t min,
		   int64_t max, int64_t *ret)
{
	json_t *v;
	json_int_t n;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL)
		return MM_OK; /* *ret keeps the caller's default */
	if (!json_is_integer(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected an integer", key);
	n = json_integer_value(v);
	if (n < min || n > max)
		return mm_err_set(MM_ERR_INVALID, "field '%s': must be between %lld and %lld", key,
				  (long long)min, (long long)max);
	*ret = n;
	return MM_OK;
}

mm_err mm_json_bool(const json_t *obj, const char *key, bool required, bool *ret)
{
	json_t *v;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL)
		return MM_OK;
	if (!json_is_boolean(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected true or false", key);
	*ret = json_is_true(v);
	return MM_OK;
}

char *mm_json_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* plain_tab[c] is 1 for the bytes JSON never escapes and that need no UTF-8
 * check, as far as mm_json_dump_buf is concerned: A-Z a-z 0-9 + / = - _ : .
 * (base64, base64url, the "mamori:v1:" prefix, identifiers). Built at
 * compile time from two 64-bit masks, one per half of ASCII. */
#define RANGE(c, d) ((~0ULL >> (63 - ((d) & 63))) & (~0ULL << ((c) & 63)))
#define BIT(c) (1ULL << ((c) & 63))
#define PLAIN_LO (RANGE('0', '9') | BIT('+') | BIT('-') | BIT('.') | BIT('/') | BIT(':') | BIT('='))
#define PLAIN_HI (RANGE('A', 'Z') | RANGE('a', 'z') | BIT('_'))
#define P1(c) (uint8_t)((((c) < 64 ? PLAIN_LO : (c) < 128 ? PLAIN_HI : 0) >> ((c) & 63)) & 1)
#define P4(c) P1(c), P1((c) + 1), P1((c) + 2), P1((c) + 3)
#define P16(c) P4(c), P4((c) + 4), P4((c) + 8), P4((c) + 12)
#define P64(c) P16(c), P16((c) + 16), P16((c) + 32), P16((c) + 48)
static const uint8_t plain_tab[256] = { P64(0), P64(64), P64(128), P64(192) };

/* True when every byte of s is plain. Four bytes a step, no early exit: the
 * strings checked are almost always plain, and this runs at about three
 * instructions a byte (the first version, a test and branch per byte, took
 * twelve). */
static bool plain(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned ok = 1;
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		ok &= plain_tab[u[i]] & plain_tab[u[i + 1]] & plain_tab[u[i + 2]] & plain_tab[u[i + 3]];
	for (; i < n; i++)
		ok &= plain_tab[u[i]];
	return ok != 0;
}

/* jansson's output callback: appends to b, keeping the first failure. */
struct sink {
	mm_buf *b;
	mm_err rc;
};

static int sink_write(const char *p, size_t n, void *arg)
{
	struct sink *s = arg;

	s->rc = mm_buf_append(s->b, p, n);
	return s->rc == MM_OK ? 0 : -1;
}

/* Appends v as jansson writes it with flags. */
static mm_err dump_jansson(const json_t *v, size_t flags, mm_buf *out)
{
	struct sink s = { out, MM_OK };

	if (json_dump_callback(v, sink_write, &s, flags) != 0)
		return s.rc != MM_OK ? s.rc : MM_ERR_NOMEM; /* as json_dumps' NULL */
	return MM_OK;
}

/* Appends "s" when s is plain, else the jansson text of the string v (or of
 * a new string holding s, for a key; keys were checked when inserted). */
static mm_err put_str(mm_buf *out, const char *s, size_t n, const json_t *v)
{
	json_t *k;
	mm_err rc;

	if (plain(s, n)) {
		if ((rc = mm_buf_grow(out, n + 2)) != MM_OK)
			return rc;
		out->data[out->len++] = '"';
		memcpy(out->data + out->len, s, n);
		out->len += n;
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		return MM_OK;
	}
	if (v != NULL)
		return dump_jansson(v, JSON_ENCODE_ANY, out);
	if ((k = json_stringn_nocheck(s, n)) == NULL)
		return MM_ERR_NOMEM;
	rc = dump_jansson(k, JSON_ENCODE_ANY, out);
	json_decref(k);
	return rc;
}

mm_err mm_json_dump_buf(const json_t *v, mm_buf *out)
{
	const char *k;
	size_t klen;
	json_t *m;
	bool found = false, first = true;
	mm_err rc = MM_OK;

	/* Only objects with a long string take the path below; whether a string
	 * is plain is checked once, as it is written. */
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m)
			if ((found = json_is_string(m) && json_string_length(m) >= MM_JSON_PLAIN_MIN))
				break;
	}
	if (!found)
		return dump_jansson(v, JSON_COMPACT, out);
	/* Member by member, in jansson's order (insertion), with its compact
	 * separators. */
	if ((rc = mm_buf_appendc(out, '{')) != MM_OK)
		return rc;
	json_object_keylen_foreach((json_t *)v, k, klen, m) {
		if (!first && (rc = mm_buf_appendc(out, ',')) != MM_OK)
			return rc;
		first = false;
		if ((rc = put_str(out, k, klen, NULL)) != MM_OK ||
		    (rc = mm_buf_appendc(out, ':')) != MM_OK)
			return rc;
		if (json_is_string(m))
			rc = put_str(out, json_string_value(m), json_string_length(m), m);
		else
			rc = dump_jansson(m, JSON_COMPACT | JSON_ENCODE_ANY, out);
		if (rc != MM_OK)
			return rc;
	}
	return mm_buf_appendc(out, '}');
}
