/*
 * Tests of the "mamori:v<version>:<base64>" format and the AES-256-GCM
 * envelope: strict parsing (prefix, version spelling, base64), round trips,
 * and that tampering, a wrong context or truncation never yields plaintext.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/crypto.h"
#include "keys/envelope.h"

static void test_parse_format(void **state)
{
	mm_buf out = MM_BUF_INIT(256), p = MM_BUF_INIT(256);
	int64_t v = 0;

	assert_int_equal(mm_envelope_format(7, (const uint8_t *)"hello", 5, &out), MM_OK);
	assert_string_equal(out.data, "mamori:v7:aGVsbG8=");
	assert_int_equal(mm_envelope_parse(out.data, out.len, &v, &p), MM_OK);
	assert_int_equal(v, 7);
	assert_int_equal(p.len, 5);
	assert_memory_equal(p.data, "hello", 5);
	mm_buf_reset(&out);
	assert_int_equal(mm_envelope_format(2147483647, (const uint8_t *)"", 0, &out), MM_OK);
	assert_string_equal(out.data, "mamori:v2147483647:");
	assert_int_equal(mm_envelope_format(0, (const uint8_t *)"", 0, &out), MM_ERR_INVALID);
	assert_int_equal(mm_envelope_format(2147483648LL, (const uint8_t *)"", 0, &out),
			 MM_ERR_INVALID);
	mm_buf_release(&out);
	mm_buf_release(&p);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"", "m", "mamori", "mamori:v", "mamori:v:", "mamori:v0:aGVsbG8=", "mamori:v01:aGVsbG8=",
		"mamori:v-1:aGVsbG8=", "mamori:v+1:aGVsbG8=", "mamori:v2147483648:aGVsbG8=",
		"mamori:v99999999999999999999:aGVsbG8=", "mamori:v1aGVsbG8=", "mamori:v1;aGVsbG8=",
		"vault:v1:aGVsbG8=", "MAMORI:v1:aGVsbG8=", "mamori:V1:aGVsbG8=",
		"mamori:v1:aGVsbG8", "mamori:v1:aGVsbG8==", "mamori:v1:aGV sbG8=", "mamori:v1:aGVsbG8=\n",
		"mamori:v1:aGVsbG9=", "mamori:v1:aGVs*G8=", "mamori:v1:a", " mamori:v1:aGVsbG8=",
	};
	mm_buf p = MM_BUF_INIT(256);
	int64_t v = -5;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mm_buf_reset(&p);
		if (mm_envelope_parse(bad[i], strlen(bad[i]), &v, &p) != MM_ERR_INVALID)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_int_equal(p.len, 0);
		assert_int_equal(v, -5);
	}
	/* An embedded NUL is not the end of the input. */
	assert_int_equal(mm_envelope_parse("mamori:v1:aGVs\0G8=", 18, &v, &p), MM_ERR_INVALID);
	/* The parser honours n and does not read past it. */
	assert_int_equal(mm_envelope_parse("mamori:v1:aGVsbG8=XXXX", 18, &v, &p), MM_OK);
	assert_int_equal(v, 1);
	mm_buf_release(&p);
}

static void test_seal_open(void **state)
{
	uint8_t key[32], other[32];
	mm_buf ct = MM_BUF_INIT(1 << 16), p = MM_BUF_INIT(1 << 16), pt = MM_BUF_INIT(1 << 16);
	int64_t v = 0;

	assert_int_equal(mm_crypto_random(key, 32), MM_OK);
	assert_int_equal(mm_crypto_random(other, 32), MM_OK);
	assert_int_equal(mm_envelope_seal(key, 3, "ctx", 3, "attack at dawn", 14, &ct), MM_OK);
	assert_int_equal(strncmp(ct.data, "mamori:v3:", 10), 0);
	assert_int_equal(mm_envelope_parse(ct.data, ct.len, &v, &p), MM_OK);
	assert_int_equal(v, 3);
	assert_int_equal(p.len, 14 + 28);
	assert_int_equal(mm_envelope_open(key, "ctx", 3, (uint8_t *)p.data, p.len, &pt), MM_OK);
	assert_int_equal(pt.len, 14);
	assert_memory_equal(pt.data, "attack at dawn", 14);
	/* Wrong context, no context, wrong key: authentication fails, nothing appended. */
	mm_buf_reset(&pt);
	assert_int_equal(mm_envelope_open(key, "ctY", 3, (uint8_t *)p.data, p.len, &pt), MM_ERR_VERIFY);
	assert_int_equal(mm_envelope_open(key, NULL, 0, (uint8_t *)p.data, p.len, &pt), MM_ERR_VERIFY);
	assert_int_equal(mm_envelope_open(other, "ctx", 3, (uint8_t *)p.data, p.len, &pt),
			 MM_ERR_VERIFY);
	assert_int_equal(pt.len, 0);
	/* Each single bit flip is detected. */
	for (size_t bit = 0; bit < p.len * 8; bit++) {
		p.data[bit / 8] ^= (char)(1 << (bit % 8));
		assert_int_equal(mm_envelope_open(key, "ctx", 3, (uint8_t *)p.data, p.len, &pt),
				 MM_ERR_VERIFY);
		p.data[bit / 8] ^= (char)(1 << (bit % 8));
	}
	assert_int_equal(pt.len, 0);
	/* Truncated payloads. */
	assert_int_equal(mm_envelope_open(key, "ctx", 3, (uint8_t *)p.data, p.len - 1, &pt),
			 MM_ERR_VERIFY);
	assert_int_equal(mm_envelope_open(key, "ctx", 3, (uint8_t *)p.data, 27, &pt), MM_ERR_INVALID);
	assert_int_equal(pt.len, 0);
	/* Empty plaintext round-trips. */
	mm_buf_reset(&ct);
	mm_buf_reset(&p);
	assert_int_equal(mm_envelope_seal(key, 1, NULL, 0, "", 0, &ct), MM_OK);
	assert_int_equal(mm_envelope_parse(ct.data, ct.len, &v, &p), MM_OK);
	assert_int_equal(mm_envelope_open(key, NULL, 0, (uint8_t *)p.data, p.len, &pt), MM_OK);
	assert_int_equal(pt.len, 0);
	/* A large plaintext (beyond the stack buffer) round-trips. */
	{
		static uint8_t big[20000];
		mm_buf bct = MM_BUF_INIT(1 << 20), bp = MM_BUF_INIT(1 << 20), bpt = MM_BUF_INIT(1 << 20);

		memset(big, 0xa5, sizeof(big));
		assert_int_equal(mm_envelope_seal(key, 9, "c", 1, big, sizeof(big), &bct), MM_OK);
		assert_int_equal(mm_envelope_parse(bct.data, bct.len, &v, &bp), MM_OK);
		assert_int_equal(mm_envelope_open(key, "c", 1, (uint8_t *)bp.data, bp.len, &bpt), MM_OK);
		assert_int_equal(bpt.len, sizeof(big));
		assert_memory_equal(bpt.data, big, sizeof(big));
		mm_buf_release(&bct);
		mm_buf_release(&bp);
		mm_buf_release(&bpt);
	}
	mm_buf_release(&ct);
	mm_buf_release(&p);
	mm_buf_release(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_seal_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
