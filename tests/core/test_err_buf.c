/* Unit tests for core errors and bounded buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

static void test_err_names(void **state)
{
	for (int e = 0; e < MM_ERR__COUNT; e++) {
		assert_non_null(mm_err_name((mm_err)e));
		assert_string_not_equal(mm_err_name((mm_err)e), "unknown");
		assert_non_null(mm_err_message((mm_err)e));
	}
	assert_string_equal(mm_err_name(MM_ERR__COUNT), "unknown");
	assert_string_equal(mm_err_name(MM_ERR_INVALID), "invalid_argument");
}

static void test_err_detail(void **state)
{
	mm_err_clear();
	assert_string_equal(mm_err_detail(MM_ERR_NOT_FOUND), "not found");
	assert_int_equal(mm_err_set(MM_ERR_INVALID, "field %s", "x"), MM_ERR_INVALID);
	assert_string_equal(mm_err_detail(MM_ERR_INVALID), "field x");
	/* A detail never leaks into a different error. */
	assert_string_equal(mm_err_detail(MM_ERR_NOT_FOUND), "not found");
}

static void test_buf_limit(void **state)
{
	mm_buf b = MM_BUF_INIT(10);

	assert_int_equal(mm_buf_appends(&b, "0123456789"), MM_OK);
	assert_int_equal(b.len, 10);
	assert_int_equal(mm_buf_appendc(&b, 'x'), MM_ERR_LIMIT);
	assert_int_equal(b.len, 10);
	assert_string_equal(mm_buf_str(&b), "0123456789");
	mm_buf_reset(&b);
	assert_int_equal(mm_buf_appendf(&b, "%d-%s", 42, "abcdefghij"), MM_ERR_LIMIT);
	assert_int_equal(b.len, 0);
	assert_int_equal(mm_buf_appendf(&b, "%d-%s", 42, "ab"), MM_OK);
	assert_string_equal(mm_buf_str(&b), "42-ab");
	mm_buf_release(&b);
	assert_null(b.data);
}

static void test_buf_grow_many(void **state)
{
	mm_buf b = MM_BUF_INIT(MM_BUF_UNLIMITED);
	char *p;
	size_t n;

	for (int i = 0; i < 10000; i++)
		assert_int_equal(mm_buf_appendc(&b, (char)('a' + i % 26)), MM_OK);
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[b.len], '\0');
	p = mm_buf_detach(&b, &n);
	assert_int_equal(n, 10000);
	assert_null(b.data);
	free(p);
	p = mm_buf_detach(&b, &n);
	assert_string_equal(p, "");
	free(p);
}

static void test_buf_json_hex(void **state)
{
	mm_buf b = MM_BUF_INIT(1024);
	const uint8_t raw[] = { 0x00, 0xff, 0x10 };

	assert_int_equal(mm_buf_append_json_escaped(&b, "a\"b\\c\n\x01", 7), MM_OK);
	assert_string_equal(mm_buf_str(&b), "a\\\"b\\\\c\\n\\u0001");
	mm_buf_reset(&b);
	assert_int_equal(mm_buf_append_hex(&b, raw, 3), MM_OK);
	assert_string_equal(mm_buf_str(&b), "00ff10");
	mm_buf_wipe_release(&b);
}

static void test_str(void **state)
{
	char small[4];

	assert_int_equal(mm_str_copy(small, sizeof(small), "abc"), MM_OK);
	assert_string_equal(small, "abc");
	assert_int_equal(mm_str_copy(small, sizeof(small), "abcd"), MM_ERR_LIMIT);
	assert_string_equal(small, "abc");
	assert_true(mm_str_list_has("admin,approver", "approver"));
	assert_false(mm_str_list_has("admin,approver", "approve"));
	assert_false(mm_str_list_has("", "x"));
	assert_false(mm_str_list_has("admin,", ""));
	assert_true(mm_str_list_has("a,admin", "admin"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_err_detail),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_grow_many),
		cmocka_unit_test(test_buf_json_hex),
		cmocka_unit_test(test_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
