/* Unit tests for Ed25519 (crypto/sign.h) and C2SP signed notes and
 * checkpoints (audit/note.h), including the reference note of Go's
 * golang.org/x/mod/sumdb/note (key "PeterNeumann"), which our signer must
 * reproduce byte for byte since Ed25519 is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "audit/note.h"
#include "crypto/crypto.h"
#include "crypto/sign.h"

static const char go_skey_b64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
			      "then you don't know what your problem is.\n";
static const char go_note[] =
	"If you think cryptography is the answer to your problem,\n"
	"then you don't know what your problem is.\n"
	"\n"
	"\xe2\x80\x94 PeterNeumann "
	"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static mm_err sign_with(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	return mm_ed25519_sign(ctx, msg, len, sig);
}

static mm_ed25519_key *go_key(void)
{
	mm_buf raw = MM_BUF_INIT(64);
	mm_ed25519_key *k = NULL;

	assert_int_equal(mm_base64_decode(&raw, go_skey_b64, strlen(go_skey_b64)), MM_OK);
	assert_int_equal(raw.len, 33);
	assert_int_equal((uint8_t)raw.data[0], 0x01);
	assert_int_equal(mm_ed25519_import_private((const uint8_t *)raw.data + 1, &k), MM_OK);
	mm_buf_wipe_release(&raw);
	return k;
}

static void test_ed25519_roundtrip(void **state)
{
	mm_ed25519_key *k = NULL, *p = NULL, *k2 = NULL;
	uint8_t pub[32], seed[32], sig[64];
	const char msg[] = "mamori";

	assert_int_equal(mm_ed25519_generate(&k), MM_OK);
	assert_true(mm_ed25519_has_private(k));
	assert_int_equal(mm_ed25519_export_public(k, pub), MM_OK);
	assert_int_equal(mm_ed25519_sign(k, msg, sizeof(msg), sig), MM_OK);
	assert_int_equal(mm_ed25519_verify_raw(pub, msg, sizeof(msg), sig), MM_OK);
	assert_int_equal(mm_ed25519_import_public(pub, &p), MM_OK);
	assert_false(mm_ed25519_has_private(p));
	assert_int_equal(mm_ed25519_sign(p, msg, sizeof(msg), sig), MM_ERR_INVALID);
	assert_int_equal(mm_ed25519_export_private(p, seed), MM_ERR_INVALID);
	/* A round trip through the seed gives the same key. */
	assert_int_equal(mm_ed25519_export_private(k, seed), MM_OK);
	assert_int_equal(mm_ed25519_import_private(seed, &k2), MM_OK);
	mm_crypto_wipe(seed, sizeof(seed));
	{
		uint8_t pub2[32], sig2[64];

		assert_int_equal(mm_ed25519_export_public(k2, pub2), MM_OK);
		assert_memory_equal(pub, pub2, 32);
		assert_int_equal(mm_ed25519_sign(k, msg, sizeof(msg), sig), MM_OK);
		assert_int_equal(mm_ed25519_sign(k2, msg, sizeof(msg), sig2), MM_OK);
		assert_memory_equal(sig, sig2, 64);
	}
	/* Tampering breaks verification. */
	sig[10] ^= 1;
	assert_int_equal(mm_ed25519_verify(p, msg, sizeof(msg), sig), MM_ERR_VERIFY);
	sig[10] ^= 1;
	assert_int_equal(mm_ed25519_verify(p, "mamorI", sizeof(msg), sig), MM_ERR_VERIFY);
	mm_ed25519_key_free(k);
	mm_ed25519_key_free(k2);
	mm_ed25519_key_free(p);
}

static void test_go_reference_note(void **state)
{
	mm_ed25519_key *k = go_key();
	mm_audit_note_key nk, parsed;
	mm_buf note = MM_BUF_INIT(4096), vkey = MM_BUF_INIT(256);
	uint8_t pub[32];
	size_t textlen = 0, which = 9;

	assert_int_equal(mm_ed25519_export_public(k, pub), MM_OK);
	assert_int_equal(mm_audit_note_key_init(&nk, "PeterNeumann", pub), MM_OK);
	assert_int_equal(mm_audit_note_vkey(&nk, &vkey), MM_OK);
	assert_string_equal(mm_buf_str(&vkey), go_vkey);
	assert_int_equal(mm_audit_note_vkey_parse(go_vkey, &parsed), MM_OK);
	assert_memory_equal(parsed.pub, pub, 32);
	assert_int_equal(mm_audit_note_sign(go_text, strlen(go_text), &nk, sign_with, k, &note), MM_OK);
	assert_string_equal(mm_buf_str(&note), go_note);
	assert_int_equal(mm_audit_note_verify(go_note, strlen(go_note), &parsed, 1, &textlen, &which),
			 MM_OK);
	assert_int_equal(textlen, strlen(go_text));
	assert_int_equal(which, 0);
	mm_buf_release(&note);
	mm_buf_release(&vkey);
	mm_ed25519_key_free(k);
}

static void test_note_rejections(void **state)
{
	mm_audit_note_key k, other;
	char buf[sizeof(go_note)];
	size_t tl;
	uint8_t pub[32];

	assert_int_equal(mm_audit_note_vkey_parse(go_vkey, &k), MM_OK);
	/* A changed text. */
	memcpy(buf, go_note, sizeof(go_note));
	buf[3] = 'Y';
	assert_int_equal(mm_audit_note_verify(buf, strlen(buf), &k, 1, &tl, NULL), MM_ERR_VERIFY);
	/* A changed signature byte (in the base64). */
	memcpy(buf, go_note, sizeof(go_note));
	buf[strlen(buf) - 10] = buf[strlen(buf) - 10] == 'A' ? 'B' : 'A';
	assert_int_equal(mm_audit_note_verify(buf, strlen(buf), &k, 1, &tl, NULL), MM_ERR_VERIFY);
	/* An unknown key: no known signer. */
	memset(pub, 7, sizeof(pub));
	assert_int_equal(mm_audit_note_key_init(&other, "PeterNeumann", pub), MM_OK);
	assert_int_equal(mm_audit_note_verify(go_note, strlen(go_note), &other, 1, &tl, NULL),
			 MM_ERR_VERIFY);
	/* Malformed: no blank line, no final newline, control characters. */
	assert_int_equal(mm_audit_note_verify(go_text, strlen(go_text), &k, 1, &tl, NULL),
			 MM_ERR_INVALID);
	assert_int_equal(mm_audit_note_verify(go_note, strlen(go_note) - 1, &k, 1, &tl, NULL),
			 MM_ERR_INVALID);
	memcpy(buf, go_note, sizeof(go_note));
	buf[5] = '\t';
	assert_int_equal(mm_audit_note_verify(buf, strlen(buf), &k, 1, &tl, NULL), MM_ERR_INVALID);
	/* Bad key names and verifier keys. */
	assert_int_equal(mm_audit_note_key_init(&other, "a b", pub), MM_ERR_INVALID);
	assert_int_equal(mm_audit_note_key_init(&other, "a+b", pub), MM_ERR_INVALID);
	assert_int_equal(mm_audit_note_key_init(&other, "", pub), MM_ERR_INVALID);
	assert_int_equal(mm_audit_note_vkey_parse(
				 "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
				 &other), MM_ERR_INVALID);
	assert_int_equal(mm_audit_note_vkey_parse("PeterNeumann", &other), MM_ERR_INVALID);
}

static void test_checkpoint_text(void **state)
{
	mm_buf t = MM_BUF_INIT(1024);
	uint8_t root[32], back[32];
	char origin[64];
	int64_t size = -1;

	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)i;
	assert_int_equal(mm_audit_checkpoint_text("example.com/log", 12345, root, &t), MM_OK);
	assert_string_equal(mm_buf_str(&t),
			    "example.com/log\n12345\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	assert_int_equal(mm_audit_checkpoint_parse(t.data, t.len, origin, sizeof(origin), &size, back),
			 MM_OK);
	assert_string_equal(origin, "example.com/log");
	assert_int_equal(size, 12345);
	assert_memory_equal(root, back, 32);
	/* Extension lines are allowed; bad sizes and roots are not. */
	assert_int_equal(mm_buf_appends(&t, "ext line\n"), MM_OK);
	assert_int_equal(mm_audit_checkpoint_parse(t.data, t.len, origin, sizeof(origin), &size, back),
			 MM_OK);
	{
		static const char *const bad[] = {
			"o\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
			"o\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
			"o\n1\nAAEC\n",
			"o\n1x\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
			"o\n1\n",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(mm_audit_checkpoint_parse(bad[i], strlen(bad[i]), origin,
								   sizeof(origin), &size, back),
					 MM_ERR_INVALID);
	}
	mm_buf_reset(&t);
	assert_int_equal(mm_audit_checkpoint_text("two\nlines", 1, root, &t), MM_ERR_INVALID);
	mm_buf_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519_roundtrip),
		cmocka_unit_test(test_go_reference_note),
		cmocka_unit_test(test_note_rejections),
		cmocka_unit_test(test_checkpoint_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
