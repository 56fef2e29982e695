/* Unit tests for time parsing/formatting, strict JSON field access and the
 * reply serialiser (mm_json_dump_buf, checked against jansson). */
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
		cmocka_unit_test(test_json_dump_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
