/* Unit tests for the password policy (NIST SP 800-63B) and Argon2id PHC
 * hashing: lengths in code points, blocklists, context words, repetition,
 * hashing parameters, verification and the rehash signal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/password.h"

static mm_password_policy *pol;
static char extra[64];

static int setup(void **state)
{
	FILE *f;
	int fd;

	snprintf(extra, sizeof(extra), "/tmp/mm-pwlist-XXXXXX");
	fd = mkstemp(extra);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("Our-Bank-Name-2026\nshort\n", f);
	fclose(f);
	assert_int_equal(mm_password_policy_new(extra, &pol), MM_OK);
	return 0;
}

static int teardown(void **state)
{
	mm_password_policy_free(pol);
	unlink(extra);
	return 0;
}

static void test_lengths(void **state)
{
	char big[600];

	assert_int_equal(mm_password_check(pol, "Blue kettle 9", "alice", true), MM_OK);
	assert_int_equal(mm_password_check(pol, "Blue kettle", "alice", true), MM_ERR_INVALID);
	/* 15 without a second factor. */
	assert_int_equal(mm_password_check(pol, "Blue kettle 9", "alice", false), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "Blue kettle 9 go", "alice", false), MM_OK);
	/* Code points, not bytes: 12 kanji (36 bytes) pass with MFA, 11 do not. */
	assert_int_equal(mm_password_check(pol, "東京都千代田区丸の内一丁目", NULL, true), MM_OK);
	assert_int_equal(mm_password_check(pol, "東京都千代田区丸の内一", NULL, true), MM_ERR_INVALID);
	/* At most 128 code points. */
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 129; i++)
		big[i] = (char)('a' + (i * 7) % 26);
	big[129] = '\0';
	assert_int_equal(mm_password_check(pol, big, NULL, true), MM_ERR_INVALID);
	big[128] = '\0';
	assert_int_equal(mm_password_check(pol, big, NULL, true), MM_OK);
	/* Spaces and any printable character are fine: no composition rules. */
	assert_int_equal(mm_password_check(pol, "all lower case words here", NULL, false), MM_OK);
}

static void test_refusals(void **state)
{
	/* Control characters and invalid UTF-8. */
	assert_int_equal(mm_password_check(pol, "Blue kettle\t99", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "Blue kettle \xff\xfe 9", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "Blue kettle \xc0\xaf 9", NULL, true), MM_ERR_INVALID);
	/* The project's list, case-insensitively. */
	assert_int_equal(mm_password_check(pol, "password1234", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "PassWord1234", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "Summer2024!!", NULL, true), MM_ERR_INVALID);
	/* The configured extra list. */
	assert_int_equal(mm_password_check(pol, "our-bank-name-2026", NULL, true), MM_ERR_INVALID);
	/* Context words. */
	assert_int_equal(mm_password_check(pol, "I am alice the admin", "alice", true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "my Mamori password 1", NULL, true), MM_ERR_INVALID);
	/* Repetition and sequences. */
	assert_int_equal(mm_password_check(pol, "aaaaaaaaaaaa", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "abcabcabcabc", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "abcdefghijklm", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "7890123456789", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, "zyxwvutsrqpo", NULL, true), MM_ERR_INVALID);
	assert_int_equal(mm_password_check(pol, NULL, NULL, true), MM_ERR_INVALID);
	assert_true(mm_password_policy_size(pol) > 1000);
}

static void test_john_list(void **state)
{
	/* Debian john-data's list is loaded when present (an entry of 12+
	 * characters from it must be refused). */
	FILE *f = fopen("/usr/share/john/password.lst", "r");
	char line[256];
	bool tested = false;

	if (f == NULL)
		skip();
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");

		line[n] = '\0';
		if (strncmp(line, "#!comment", 9) == 0 || n < 12 || n > 60)
			continue;
		assert_int_equal(mm_password_check(pol, line, NULL, true), MM_ERR_INVALID);
		tested = true;
		break;
	}
	fclose(f);
	if (!tested)
		skip();
}

static void test_hash(void **state)
{
	mm_buf h = MM_BUF_INIT(MM_PHC_MAX), h2 = MM_BUF_INIT(MM_PHC_MAX);
	char weak[MM_PHC_MAX];
	const uint8_t salt[16] = "0123456789abcdef";

	assert_int_equal(mm_password_hash("Blue kettle 9", &h), MM_OK);
	assert_true(strncmp(mm_buf_str(&h), "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_int_equal(mm_password_verify(mm_buf_str(&h), "Blue kettle 9"), MM_OK);
	assert_int_equal(mm_password_verify(mm_buf_str(&h), "Blue kettle 8"), MM_ERR_VERIFY);
	assert_int_equal(mm_password_verify(mm_buf_str(&h), ""), MM_ERR_VERIFY);
	assert_false(mm_password_needs_rehash(mm_buf_str(&h)));
	/* Fresh salt each time. */
	assert_int_equal(mm_password_hash("Blue kettle 9", &h2), MM_OK);
	assert_string_not_equal(mm_buf_str(&h), mm_buf_str(&h2));
	/* Malformed or other-algorithm strings never verify. */
	assert_int_equal(mm_password_verify("$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", "x"),
			 MM_ERR_VERIFY);
	assert_int_equal(mm_password_verify("garbage", "x"), MM_ERR_VERIFY);
	assert_int_equal(mm_password_verify(NULL, "x"), MM_ERR_VERIFY);
	/* A hash made with weaker parameters verifies and asks for a rehash. */
	assert_int_equal(argon2id_hash_encoded(1, 4096, 1, "Blue kettle 9", 13, salt, sizeof(salt),
					       32, weak, sizeof(weak)), ARGON2_OK);
	assert_int_equal(mm_password_verify(weak, "Blue kettle 9"), MM_OK);
	assert_true(mm_password_needs_rehash(weak));
	mm_buf_release(&h);
	mm_buf_release(&h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_john_list),
		cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
