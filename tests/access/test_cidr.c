/* Unit tests for CIDR parsing and matching (IPv4, IPv6, mapped addresses,
 * strictness about host bits, lists, fail-closed text checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "access/cidr.h"

static bool in(const char *cidr, const char *addr)
{
	mm_cidr c;
	mm_ip ip;

	assert_int_equal(mm_cidr_parse(cidr, &c), MM_OK);
	assert_int_equal(mm_ip_parse(addr, &ip), MM_OK);
	return mm_cidr_contains(&c, &ip);
}

static void test_ipv4(void **state)
{
	assert_true(in("10.0.0.0/8", "10.255.1.2"));
	assert_false(in("10.0.0.0/8", "11.0.0.1"));
	assert_true(in("192.168.1.0/24", "192.168.1.255"));
	assert_false(in("192.168.1.0/24", "192.168.2.0"));
	assert_true(in("192.168.1.128/25", "192.168.1.200"));
	assert_false(in("192.168.1.128/25", "192.168.1.127"));
	assert_true(in("0.0.0.0/0", "203.0.113.9"));
	assert_true(in("203.0.113.9", "203.0.113.9"));      /* bare address = /32 */
	assert_false(in("203.0.113.9", "203.0.113.8"));
	assert_true(in("172.16.0.0/12", "172.31.255.255"));
	assert_false(in("172.16.0.0/12", "172.32.0.0"));
}

static void test_ipv6(void **state)
{
	assert_true(in("2001:db8::/32", "2001:db8:1234::1"));
	assert_false(in("2001:db8::/32", "2001:db9::1"));
	assert_true(in("::1/128", "::1"));
	assert_false(in("::1", "::2"));
	assert_true(in("fe80::/10", "febf::1"));
	assert_false(in("fe80::/10", "fec0::1"));
	assert_true(in("::/0", "2001:db8::1"));
	/* Families never match each other... */
	assert_false(in("::/0", "10.0.0.1"));
	assert_false(in("0.0.0.0/0", "2001:db8::1"));
	/* ...except IPv4-mapped IPv6, matched as IPv4. */
	assert_true(in("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_true(in("::ffff:10.0.0.0/104", "10.9.9.9"));
	assert_false(in("::ffff:10.0.0.0/104", "11.9.9.9"));
}

static void test_strict(void **state)
{
	static const char *const bad[] = {
		"10.1.2.3/8",        /* host bits set */
		"2001:db8::1/32",
		"10.0.0.0/33",
		"::/129",
		"10.0.0.0/",
		"10.0.0.0/-1",
		"10.0.0.0/ 8",
		"10.0.0.0/08",
		"10.0.0/8",
		"10.0.0.256/32",
		"example.com/8",
		"",
		"/8",
		"1.2.3.4/8/8",
		"fe80::1%eth0/128",
		"[::1]/128",
		NULL,
	};
	mm_cidr c;
	mm_ip ip;

	for (int i = 0; bad[i] != NULL; i++) {
		if (mm_cidr_parse(bad[i], &c) == MM_OK)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_not_equal(mm_ip_parse("10.0.0.1/32", &ip), MM_OK);
	assert_int_not_equal(mm_ip_parse("localhost", &ip), MM_OK);
	assert_int_not_equal(mm_ip_parse("", &ip), MM_OK);
	assert_int_equal(mm_cidr_parse("0.0.0.0/0", &c), MM_OK);
	assert_int_equal(c.bits, 0);
}

static void test_list(void **state)
{
	mm_cidr_list l;
	mm_buf out = MM_BUF_INIT(4096);
	mm_ip ip;
	char big[64 * 20 + 32];
	size_t n = 0;

	assert_int_equal(mm_cidr_list_parse(" 10.0.0.0/8 ,2001:DB8::/32,192.0.2.7", &l), MM_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(mm_cidr_list_format(&l, &out), MM_OK);
	assert_string_equal(mm_buf_str(&out), "10.0.0.0/8,2001:db8::/32,192.0.2.7/32");
	assert_int_equal(mm_ip_parse("192.0.2.7", &ip), MM_OK);
	assert_true(mm_cidr_list_allows(&l, &ip));
	assert_int_equal(mm_ip_parse("192.0.2.8", &ip), MM_OK);
	assert_false(mm_cidr_list_allows(&l, &ip));
	assert_int_equal(mm_cidr_list_parse("", &l), MM_OK);
	assert_int_equal(l.n, 0);
	assert_true(mm_cidr_list_allows(&l, &ip)); /* empty list: no restriction */
	assert_int_not_equal(mm_cidr_list_parse("10.0.0.0/8,", &l), MM_OK);
	assert_int_not_equal(mm_cidr_list_parse(",10.0.0.0/8", &l), MM_OK);
	assert_int_not_equal(mm_cidr_list_parse("10.0.0.0/8,,::1", &l), MM_OK);
	for (int i = 0; i < MM_CIDR_LIST_MAX + 1; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s10.0.%d.0/24", i ? "," : "", i);
	assert_int_equal(mm_cidr_list_parse(big, &l), MM_ERR_LIMIT);
	mm_buf_release(&out);
}

static void test_text_allows(void **state)
{
	assert_true(mm_cidr_text_allows(NULL, "10.0.0.1"));
	assert_true(mm_cidr_text_allows("", "garbage"));
	assert_true(mm_cidr_text_allows("10.0.0.0/8", "10.0.0.1"));
	assert_false(mm_cidr_text_allows("10.0.0.0/8", "127.0.0.1"));
	/* Fail closed: an unparsable address or list allows nothing. */
	assert_false(mm_cidr_text_allows("10.0.0.0/8", "not-an-address"));
	assert_false(mm_cidr_text_allows("10.0.0.0/99", "10.0.0.1"));
	assert_true(mm_cidr_text_allows("127.0.0.0/8,::1/128", "::1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_text_allows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
