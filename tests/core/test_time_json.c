/* Unit tests for time parsing/formatting and strict JSON field access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_json_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
