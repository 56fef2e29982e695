/* Unit tests for time parsing/formatting, strict JSON field access, the
 * request parser's fast path (mm_json_parse_fast, checked against jansson)
 * and the reply serialiser (mm_json_dump_buf, checked against jansson). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"

static void test_rfc3339(void **state)
{
	char out[MM_TIME_RFC3339_LEN];
	int64_t ms;

	mm_time_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	assert_int_equal(mm_time_parse("2026-11-23T12:00:00.5Z", &ms), MM_OK);
	mm_time_format(ms, out);
	assert_string_equal(out, "2026-11-23T12:00:00.500Z");
	assert_int_equal(mm_time_parse("2026-11-23T21:00:00+09:00", &ms), MM_OK);
	mm_time_format(ms, out);
	assert_string_equal(out, "2026-11-23T12:00:00.000Z");
	assert_int_equal(mm_time_parse("2026-13-01T00:00:00Z", &ms), MM_ERR_INVALID);
	assert_int_equal(mm_time_parse("2026-11-23", &ms), MM_ERR_INVALID);
	assert_int_equal(mm_time_parse("2026-11-23T12:00:00Zjunk", &ms), MM_ERR_INVALID);
	assert_true(mm_time_wall_ms() > 1700000000000LL);
	assert_true(mm_time_mono_ns() > 0);
}

static void test_duration(void **state)
{
	int64_t ms;

	assert_int_equal(mm_time_parse_duration("90s", &ms), MM_OK);
	assert_int_equal(ms, 90000);
	assert_int_equal(mm_time_parse_duration("1h30m", &ms), MM_OK);
	assert_int_equal(ms, 5400000);
	assert_int_equal(mm_time_parse_duration("7d", &ms), MM_OK);
	assert_int_equal(mm_time_parse_duration("", &ms), MM_ERR_INVALID);
	assert_int_equal(mm_time_parse_duration("0s", &ms), MM_ERR_INVALID);
	assert_int_equal(mm_time_parse_duration("5", &ms), MM_ERR_INVALID);
	assert_int_equal(mm_time_parse_duration("99999999999999h", &ms), MM_ERR_INVALID);
}

static void test_json_fields(void **state)
{
	static const char *const allowed[] = { "name", "n", "b", NULL };
	const char *body = "{\"name\":\"x\",\"n\":5,\"b\":true}";
	json_t *o;
	const char *s;
	int64_t n = 0;
	bool b = false;

	assert_int_equal(mm_json_parse(body, strlen(body), &o), MM_OK);
	assert_int_equal(mm_json_only(o, allowed), MM_OK);
	assert_int_equal(mm_json_str(o, "name", true, 10, &s), MM_OK);
	assert_string_equal(s, "x");
	assert_int_equal(mm_json_int(o, "n", true, 0, 10, &n), MM_OK);
	assert_int_equal(n, 5);
	assert_int_equal(mm_json_bool(o, "b", true, &b), MM_OK);
	assert_true(b);
	assert_int_equal(mm_json_int(o, "n", true, 6, 10, &n), MM_ERR_INVALID);
	assert_int_equal(mm_json_str(o, "n", true, 10, &s), MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "'n'"));
	assert_int_equal(mm_json_str(o, "missing", true, 10, &s), MM_ERR_INVALID);
	assert_int_equal(mm_json_str(o, "missing", false, 10, &s), MM_OK);
	assert_null(s);
	json_decref(o);

	assert_int_equal(mm_json_parse("{\"a\":1,\"a\":2}", 13, &o), MM_ERR_INVALID);
	assert_int_equal(mm_json_parse("{", 1, &o), MM_ERR_INVALID);
	assert_int_equal(mm_json_parse("", 0, &o), MM_ERR_INVALID);
	assert_int_equal(mm_json_parse("{\"zz\":1}", 8, &o), MM_OK);
	assert_int_equal(mm_json_only(o, allowed), MM_ERR_INVALID);
	json_decref(o);
}

/* What mm_json_parse_fast does with text: it must either give up (false) or
 * give exactly jansson's value; fast says which of the two this text must do. */
static void assert_parses_like_jansson(const char *text, size_t len, bool fast)
{
	json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *got = NULL, *p = NULL;
	bool took = mm_json_parse_fast(text, len, &got);

	if (took != fast)
		fail_msg("fast path %s for: %.80s", took ? "taken" : "not taken", text);
	if (took) {
		assert_non_null(want);
		assert_true(json_equal(want, got));
		json_decref(got);
	}
	/* mm_json_parse agrees with jansson on every text, fast or not. */
	assert_int_equal(mm_json_parse(text, len, &p), want != NULL ? MM_OK : MM_ERR_INVALID);
	if (want != NULL) {
		assert_true(json_equal(want, p));
		json_decref(p);
	}
	json_decref(want);
}

static void test_json_parse_fast(void **state)
{
	/* Texts the fast path handles. */
	static const char *const fast[] = {
		"{}", "[]", " \t\r\n{ } \n", "{\"a\":\"x\",\"b\":[1,-2,3.5,-0,0.0,1e3,2E-2,true,false,null]}",
		"{\"plaintext\":\"aGVsbG8gd29ybGQ=\",\"context\":\"Y3VzdG9tZXI6NDI=\"}",
		"[[[[[[]]]]]]", "[{\"\":{}}]", "{\"n\":9223372036854775807,\"m\":-9223372036854775808}",
		"{\"tiny\":1e-400,\"neg\":-1.5e-300}", "[\"~ DEL-free ASCII !#$%&'()*+,-./:;<=>?@[]^_`{|}\"]",
		"{\"a\":{\"a\":{\"a\":1}}}", "{\"a\":[]}  \r\n\t",
	};
	/* Texts it leaves to jansson: invalid ones, and valid ones outside its
	 * subset or its limits. */
	static const char *const slow[] = {
		"{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[+1]",
		"[tru]", "[nul]", "[NaN]", "[Infinity]", "{}{}", "{} x", "[] []", "1", "\"str\"", "true",
		"null", "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":1}}", "[9223372036854775808]",
		"[-9223372036854775809]", "[1e400]", "[-1e400]", "{\"k\":\"\\u00e9\"}", "[\"a\\\"b\"]",
		"[\"\\u0000\"]", "[\"\\ud800\"]", "[\"caf\xc3\xa9\"]", "[\"\xff\"]", "[\"a\x01\"]",
		"[\x0c]", "[\x0b1]", "[1]\x0c", "/* c */ []", "[1] // c", "['a']", "[\"\x7f\"]",
		"[\"unterminated]", "{}\"r{easo", "[1] \"x", "{} \"]", "[]\"", "{}\"a\"", "{\"a\"}", "{1:2}", "[,]", "[1 2]",
	};
	char deep[2 * 80 + 1], key[400], num[200];

	(void)state;
	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		assert_parses_like_jansson(fast[i], strlen(fast[i]), true);
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		assert_parses_like_jansson(slow[i], strlen(slow[i]), false);
	/* An embedded NUL is outside the subset. */
	assert_parses_like_jansson("[\"a\0b\"]", 7, false);
	assert_parses_like_jansson("[]\0", 3, false);
	/* Nesting: 64 levels fast, deeper left to jansson (which takes 80). */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	assert_parses_like_jansson(deep, 128, true);
	memset(deep, '[', 80);
	memset(deep + 80, ']', 80);
	assert_parses_like_jansson(deep, 160, false);
	/* Keys of 255 bytes fast, longer ones left to jansson. */
	memset(key, 'k', sizeof(key));
	memcpy(key, "{\"", 2);
	memcpy(key + 2 + 255, "\":1}", 4);
	assert_parses_like_jansson(key, 2 + 255 + 4, true);
	memcpy(key + 2 + 256, "\":1}", 4);
	assert_parses_like_jansson(key, 2 + 256 + 4, false);
	/* Number literals of 63 characters fast, longer ones left to jansson. */
	memset(num, '0', sizeof(num));
	memcpy(num, "[0.", 3);
	num[64] = '1';
	num[65] = ']';
	assert_parses_like_jansson(num, 66, false);
	num[63] = '1';
	num[64] = ']';
	assert_parses_like_jansson(num, 65, true);
}

/* mm_json_dump_buf(v) must be byte for byte json_dumps(v, JSON_COMPACT). */
static void assert_dumps_like_jansson(const json_t *v)
{
	mm_buf b = MM_BUF_INIT(MM_BUF_UNLIMITED);
	char *want = json_dumps(v, JSON_COMPACT);

	assert_non_null(want);
	assert_int_equal(mm_json_dump_buf(v, &b), MM_OK);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	free(want);
	mm_buf_release(&b);
}

static void test_json_dump_buf(void **state)
{
	char b64[MM_JSON_PLAIN_MIN * 2 + 1], odd[MM_JSON_PLAIN_MIN + 8];
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_:.";
	mm_buf small = MM_BUF_INIT(64);
	json_t *o, *n;

	(void)state;
	for (size_t i = 0; i < sizeof(b64) - 1; i++)
		b64[i] = alpha[i % strlen(alpha)];
	b64[sizeof(b64) - 1] = '\0';
	/* Objects without a long string, and arrays: jansson's own path. */
	o = json_pack("{s:s, s:I, s:[i, s], s:n}", "a", "x\"y", "n", (json_int_t)-5, "l", 1, "\u00e9",
		      "z");
	assert_dumps_like_jansson(o);
	json_decref(o);
	o = json_pack("[s, i]", b64, 1);
	assert_dumps_like_jansson(o);
	json_decref(o);
	/* A long plain string among members of every kind, keys needing
	 * escapes, non-ASCII and NUL in keys, member order kept. */
	o = json_pack("{s:s, s:I, s:b, s:n, s:f, s:{s:s}, s:[s], s:s, s:s, s:s}", "ciphertext", b64,
		      "key_version", (json_int_t)7, "t", 1, "nul", "real", 2.5, "nested", "k", b64,
		      "arr", b64, "q\"uote\\", "v", "\u65e5\u672c", "\u00e9t\u00e9", "short", "x/y");
	assert_non_null(o);
	json_object_setn_new(o, "a\0b", 3, json_stringn("c\0d", 3));
	json_object_set_new(o, "second", json_string(b64));
	assert_dumps_like_jansson(o);
	/* Long strings that are not plain: escapes, control and non-ASCII. */
	memcpy(odd, b64, sizeof(odd) - 1);
	odd[sizeof(odd) - 1] = '\0';
	for (const char *c = "\"\\\n\x01\xc3"; *c != '\0'; c++) {
		odd[10] = *c;
		odd[11] = *c == '\xc3' ? '\xa9' : 'A';
		n = json_pack("{s:s, s:s}", "first", "1", "data", odd);
		assert_non_null(n);
		assert_dumps_like_jansson(n);
		json_decref(n);
	}
	/* What jansson cannot write fails, and the buffer's limit holds. */
	n = json_integer(1);
	assert_int_equal(mm_json_dump_buf(n, &small), MM_ERR_NOMEM);
	json_decref(n);
	mm_buf_reset(&small);
	assert_int_equal(mm_json_dump_buf(o, &small), MM_ERR_LIMIT);
	mm_buf_release(&small);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_json_parse_fast),
		cmocka_unit_test(test_json_dump_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
