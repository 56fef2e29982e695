/*
 * json.c: strict typed JSON field access, and serialisation of API replies;
 * see json.h.
 *
 * Why mm_json_dump_buf copies some strings itself: jansson writes every
 * string one UTF-8 character at a time (a utf8_iterate call and the escaping
 * tests per character, ~75 instructions a byte). For a 1 KiB encrypt or
 * decrypt that was a sixth of the daemon's instructions per request, all in
 * writing one 1.4 KB base64 string that cannot contain anything to escape.
 * Only strings checked to consist of such characters (plain_tab) skip jansson;
 * the check costs a few instructions a byte and anything else falls back to
 * jansson, so the output is byte for byte what jansson would write.
 *
 * Why request bodies are parsed by yajl first: jansson's lexer reads a string
 * one character at a time through a callback and appends each to a buffer,
 * about 144 instructions a byte; for a 1 KiB encrypt request (1,368 bytes of
 * base64) that was 38 % of the daemon's instructions. yajl's lexer checks a
 * string with a table and hands out a pointer into the text, about 11 times
 * fewer instructions for the same body (docs/core.md). jansson stays the
 * definition of what is valid: yajl only parses texts of a subset on which
 * the two agree by construction (printable ASCII, tab, CR and LF; no
 * backslash escape, so every string is its own bytes), builds jansson values
 * directly, and gives up on anything it does not accept or represent exactly
 * as jansson would (a top-level scalar, a duplicate key, a number out of
 * range, deep nesting, a long key or number); jansson then parses the text
 * and its answer, value or error message, is the result. The fuzz target
 * checks that every value yajl produces is one jansson produces.
 */
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* Byte tables are built at compile time from two 64-bit masks, one per half
 * of ASCII: RANGE(c, d) has the bits c..d (within one half), BIT(c) bit c,
 * and TABLE(lo, hi) is the uint8_t[256] with 1 where the mask has the bit
 * (bytes >= 128 are never in). */
#define RANGE(c, d) ((~0ULL >> (63 - ((d) & 63))) & (~0ULL << ((c) & 63)))
#define BIT(c) (1ULL << ((c) & 63))
#define T1(lo, hi, c) (uint8_t)((((c) < 64 ? (lo) : (c) < 128 ? (hi) : 0) >> ((c) & 63)) & 1)
#define T4(lo, hi, c) T1(lo, hi, c), T1(lo, hi, (c) + 1), T1(lo, hi, (c) + 2), T1(lo, hi, (c) + 3)
#define T16(lo, hi, c) T4(lo, hi, c), T4(lo, hi, (c) + 4), T4(lo, hi, (c) + 8), T4(lo, hi, (c) + 12)
#define T64(lo, hi, c) T16(lo, hi, c), T16(lo, hi, (c) + 16), T16(lo, hi, (c) + 32), T16(lo, hi, (c) + 48)
#define TABLE(lo, hi) { T64(lo, hi, 0), T64(lo, hi, 64), T64(lo, hi, 128), T64(lo, hi, 192) }

/* True when every byte of s is in tab. Four bytes a step, no early exit: the
 * texts checked almost always pass, and this runs at about three
 * instructions a byte (the first version, a test and branch per byte, took
 * twelve). */
static bool all_in(const uint8_t tab[256], const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned ok = 1;
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		ok &= tab[u[i]] & tab[u[i + 1]] & tab[u[i + 2]] & tab[u[i + 3]];
	for (; i < n; i++)
		ok &= tab[u[i]];
	return ok != 0;
}

/* simple_tab[c] is 1 for the bytes of the fast path's subset: tab, LF, CR
 * and printable ASCII but the backslash. Leaving out every other control
 * character also leaves out yajl's extra whitespace (VT, FF) and NUL; leaving
 * out bytes >= 0x7f leaves UTF-8 checking (which jansson does more strictly)
 * to jansson. */
static const uint8_t simple_tab[256] =
	TABLE(RANGE(' ', 63) | BIT('\t') | BIT('\n') | BIT('\r'), RANGE(64, 126) & ~BIT('\\'));

/* Nesting the fast path follows; deeper texts go to jansson (its limit is
 * 2048). Keys and number literals longer than their buffers also do. */
#define FAST_DEPTH 64
#define FAST_KEY 256
#define FAST_NUMBER 64

/* The parse under way: open containers, and the key of the member whose
 * value comes next (copied: yajl does not promise its pointer outlives the
 * callback). Every value is linked into its parent as soon as it is made, so
 * releasing root releases everything. */
struct fast {
	yajl_handle h;
	size_t end; /* bytes up to the end of root, once root is closed */
	json_t *root;
	json_t *open[FAST_DEPTH];
	size_t depth;
	char key[FAST_KEY];
	size_t keylen;
};

/* Links v (a new reference, consumed) into the open container; 0 stops yajl. */
static int fast_add(struct fast *f, json_t *v)
{
	json_t *parent;

	if (v == NULL)
		return 0;
	if (f->depth == 0) {
		/* jansson's json_loadb without JSON_DECODE_ANY wants an
		 * object or array at the top; yajl takes any value. */
		if (!json_is_object(v) && !json_is_array(v)) {
			json_decref(v);
			return 0;
		}
		f->root = v;
		return 1;
	}
	parent = f->open[f->depth - 1];
	if (json_is_object(parent))
		return json_object_setn_new_nocheck(parent, f->key, f->keylen, v) == 0;
	return json_array_append_new(parent, v) == 0;
}

/* Links the new container v (consumed) and makes it the open one; the
 * reference stays borrowed from its parent (or root). */
static int fast_open(struct fast *f, json_t *v)
{
	if (f->depth == FAST_DEPTH) {
		json_decref(v);
		return 0;
	}
	if (!fast_add(f, v))
		return 0;
	f->open[f->depth++] = v;
	return 1;
}

static int fast_null(void *ctx)
{
	return fast_add(ctx, json_null());
}

static int fast_boolean(void *ctx, int b)
{
	return fast_add(ctx, json_boolean(b));
}

/* A number as jansson makes it: an integer when the literal has no fraction
 * or exponent (out of json_int_t's range is jansson's error), else a real
 * (overflow is its error; underflow is not). The daemon never calls
 * setlocale, so strtod reads '.' as jansson does. */
static int fast_number(void *ctx, const char *s, size_t n)
{
	char lit[FAST_NUMBER], *end;

	if (n >= sizeof(lit))
		return 0;
	memcpy(lit, s, n);
	lit[n] = '\0';
	errno = 0;
	if (strpbrk(lit, ".eE") == NULL) {
		long long i = strtoll(lit, &end, 10);

		if (errno == ERANGE || *end != '\0')
			return 0;
		return fast_add(ctx, json_integer((json_int_t)i));
	} else {
		double d = strtod(lit, &end);

		if (*end != '\0' || ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE))
			return 0;
		return fast_add(ctx, json_real(d));
	}
}

/* The subset has no escapes and only ASCII, so the string is its bytes:
 * no UTF-8 check is needed and it holds no NUL. */
static int fast_string(void *ctx, const unsigned char *s, size_t n)
{
	return fast_add(ctx, json_stringn_nocheck((const char *)s, n));
}

static int fast_key(void *ctx, const unsigned char *s, size_t n)
{
	struct fast *f = ctx;

	/* A duplicate is jansson's error (JSON_REJECT_DUPLICATES). */
	if (n >= sizeof(f->key) || json_object_getn(f->open[f->depth - 1], (const char *)s, n) != NULL)
		return 0;
	memcpy(f->key, s, n);
	f->key[n] = '\0';
	f->keylen = n;
	return 1;
}

static int fast_start_map(void *ctx)
{
	return fast_open(ctx, json_object());
}

static int fast_start_array(void *ctx)
{
	return fast_open(ctx, json_array());
}

/* Where root ends is noted because yajl, past a complete value, takes an
 * unterminated string as text still to come, and accepts "{}\"x" as if the
 * rest were whitespace; the caller checks the rest itself. */
static int fast_end(void *ctx)
{
	struct fast *f = ctx;

	if (--f->depth == 0)
		f->end = yajl_get_bytes_consumed(f->h);
	return 1;
}

static const yajl_callbacks fast_callbacks = {
	.yajl_null = fast_null,
	.yajl_boolean = fast_boolean,
	.yajl_number = fast_number,
	.yajl_string = fast_string,
	.yajl_start_map = fast_start_map,
	.yajl_map_key = fast_key,
	.yajl_end_map = fast_end,
	.yajl_start_array = fast_start_array,
	.yajl_end_array = fast_end,
};

bool mm_json_parse_fast(const char *data, size_t len, json_t **ret)
{
	struct fast f = { .h = NULL, .end = 0, .root = NULL, .depth = 0 };
	bool ok;

	if (len == 0 || !all_in(simple_tab, data, len))
		return false;
	/* Default options: no comments, strings checked, one value, nothing
	 * after it (but see fast_end). */
	if ((f.h = yajl_alloc(&fast_callbacks, NULL, &f)) == NULL)
		return false;
	ok = yajl_parse(f.h, (const unsigned char *)data, len) == yajl_status_ok &&
	     yajl_complete_parse(f.h) == yajl_status_ok && f.root != NULL && f.depth == 0 &&
	     f.end > 0 && f.end <= len;
	yajl_free(f.h);
	for (size_t i = f.end; ok && i < len; i++)
		ok = data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r';
	if (!ok) {
		json_decref(f.root);
		return false;
	}
	*ret = f.root;
	return true;
}

mm_err mm_json_parse(const char *data, size_t len, json_t **ret)
{
	json_error_t e;
	json_t *v;

	if (len == 0)
		return mm_err_set(MM_ERR_INVALID, "request body must be a JSON value");
	if (mm_json_parse_fast(data, len, ret))
		return MM_OK;
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
 * (base64, base64url, the "mamori:v1:" prefix, identifiers). */
static const uint8_t plain_tab[256] =
	TABLE(RANGE('0', '9') | BIT('+') | BIT('-') | BIT('.') | BIT('/') | BIT(':') | BIT('='),
	      RANGE('A', 'Z') | RANGE('a', 'z') | BIT('_'));

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

	if (all_in(plain_tab, s, n)) {
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
