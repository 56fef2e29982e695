/* Unit tests for configuration loading: strictness with key and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/config.h"

static void load_fails(const char *text, const char *needle)
{
	mm_config c;

	assert_int_equal(mm_config_init(&c), MM_OK);
	assert_int_equal(mm_config_load_string(&c, "t.conf", text), MM_ERR_CONFIG);
	if (strstr(mm_err_detail(MM_ERR_CONFIG), needle) == NULL)
		fail_msg("detail '%s' lacks '%s'", mm_err_detail(MM_ERR_CONFIG), needle);
	mm_config_release(&c);
}

static void test_defaults(void **state)
{
	mm_config c;

	assert_int_equal(mm_config_init(&c), MM_OK);
	assert_string_equal(c.listen, "127.0.0.1:8470");
	assert_string_equal(c.data_dir, "./var");
	assert_int_equal(c.max_body_bytes, 4 << 20);
	assert_int_equal(mm_config_validate(&c), MM_OK);
	mm_config_release(&c);
}

static void test_good_file(void **state)
{
	mm_config c;
	const char *text =
		"# comment\n"
		"listen = \"0.0.0.0:9000\"  # trailing comment\n"
		"threads = 4\n"
		"\n"
		"[log]\n"
		"level = \"debug\"\n"
		"[limits]\n"
		"max_body_bytes = 65536\n"
		"request_timeout = \"10s\"\n"
		"[audit]\n"
		"witness_syslog = true\n"
		"[role.dba]\n"
		"permissions = [\"access.request\", \"access.check\"]\n"
		"privileged = true\n"
		"[target.core-db]\n"
		"max_duration = \"2h\"\n"
		"approvals = 2\n";

	assert_int_equal(mm_config_init(&c), MM_OK);
	assert_int_equal(mm_config_load_string(&c, "t.conf", text), MM_OK);
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_int_equal(c.threads, 4);
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.max_body_bytes, 65536);
	assert_int_equal(c.request_timeout_ms, 10000);
	assert_true(c.audit_witness_syslog);
	assert_int_equal(c.ntables, 2);
	assert_string_equal(c.tables[0].kind, "role");
	assert_string_equal(c.tables[0].name, "dba");
	assert_int_equal(mm_config_table_get(&c.tables[0], "permissions")->nlist, 2);
	assert_int_equal(mm_config_table_get(&c.tables[1], "max_duration")->num, 7200000);
	mm_config_release(&c);
}

static void test_errors_name_key_and_line(void **state)
{
	load_fails("listen = \"a:1\"\nbogus = 1\n", "t.conf:2: bogus: unknown key");
	load_fails("threads = \"four\"\n", "t.conf:1: threads: expected an integer");
	load_fails("[log]\nlevel = 3\n", "t.conf:2: log.level: expected a string");
	load_fails("[nosuch]\n", "t.conf:1: nosuch: unknown section");
	load_fails("threads = 100000\n", "threads: out of range");
	load_fails("[limits]\nrequest_timeout = \"soon\"\n", "t.conf:2: limits.request_timeout");
	load_fails("listen = \"unterminated\n", "unterminated string");
	load_fails("listen \"x\"\n", "expected key = value");
	load_fails("[role.x]\nfoo = 1\n", "role.x.foo: unknown key");
	load_fails("[role.x]\n[role.x]\n", "table defined twice");
	load_fails("threads = 4 5\n", "unexpected text");
}

static void test_overrides(void **state)
{
	mm_config c;

	assert_int_equal(mm_config_init(&c), MM_OK);
	assert_int_equal(mm_config_set(&c, "listen", "127.0.0.1:1"), MM_OK);
	assert_string_equal(c.listen, "127.0.0.1:1");
	assert_int_equal(mm_config_set(&c, "threads", "3"), MM_OK);
	assert_int_equal(c.threads, 3);
	assert_int_equal(mm_config_set(&c, "threads", "x"), MM_ERR_CONFIG);
	assert_int_equal(mm_config_set(&c, "nope", "x"), MM_ERR_CONFIG);
	assert_int_equal(mm_config_set(&c, "tls.cert", "/x.pem"), MM_OK);
	assert_int_equal(mm_config_validate(&c), MM_ERR_CONFIG);
	mm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_errors_name_key_and_line),
		cmocka_unit_test(test_overrides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
