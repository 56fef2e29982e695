/*
 * Known-answer and negative tests for src/crypto/primitives.h, run through
 * mamori's own wrappers: AES-256-GCM (GCM specification test cases 13-16 and
 * a NIST CAVP gcmEncryptExtIV256 vector), HMAC-SHA256 (RFC 4231), ECDSA
 * P-256 (RFC 6979 A.2.5 and the NIST P256_SHA256 example), Ed25519 through
 * crypto/sign.h as src/keys uses it (RFC 8032 7.1), Shamir sharing
 * (libgfshare), base64 (RFC 4648) and the secure heap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "crypto/sign.h"

/* Decodes hex of any case into a fresh buffer; *n gets the length. */
static uint8_t *hex(const char *s, size_t *n)
{
	size_t len = strlen(s) / 2;
	uint8_t *p = malloc(len + 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		p[i] = (uint8_t)v;
	}
	if (n)
		*n = len;
	return p;
}

/* ---- AES-256-GCM ---- */

struct gcm_vec {
	const char *key, *iv, *aad, *pt, *ct, *tag;
};

static const struct gcm_vec gcm_vecs[] = {
	/* GCM specification (McGrew & Viega, submitted to NIST), test case 13 */
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
	/* test case 14 */
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	/* test case 15 */
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	/* test case 16 (with additional data) */
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
	/* NIST CAVP gcmEncryptExtIV256.rsp, [Keylen = 256] [IVlen = 96] [PTlen = 128]
	 * [AADlen = 160] [Taglen = 128] */
	{ "83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a",
	  "0b459724904e010a46901cf3", "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
	  "33d893a2114ce06fc15d55e454cf90c3", "cc66bee423e3fcd4c0865715e9586696",
	  "0fb291bd3dba94a1dfd8b286cfb97ac5" },
};

static void test_gcm_known_answers(void **state)
{
	for (size_t i = 0; i < sizeof(gcm_vecs) / sizeof(gcm_vecs[0]); i++) {
		const struct gcm_vec *v = &gcm_vecs[i];
		size_t kn, ivn, an, pn, cn, tn;
		uint8_t *key = hex(v->key, &kn), *iv = hex(v->iv, &ivn), *aad = hex(v->aad, &an),
			*pt = hex(v->pt, &pn), *ct = hex(v->ct, &cn), *tag = hex(v->tag, &tn);
		uint8_t out[128], back[128], t[16];

		assert_int_equal(kn, 32);
		assert_int_equal(ivn, 12);
		assert_int_equal(pn, cn);
		assert_int_equal(mm_aead_seal(key, iv, aad, an, pt, pn, out, t), MM_OK);
		assert_memory_equal(out, ct, cn);
		assert_memory_equal(t, tag, 16);
		assert_int_equal(mm_aead_open(key, iv, aad, an, ct, cn, tag, back), MM_OK);
		assert_memory_equal(back, pt, pn);
		/* One bit flipped in the tag: refused. */
		tag[15] ^= 1;
		assert_int_equal(mm_aead_open(key, iv, aad, an, ct, cn, tag, back), MM_ERR_VERIFY);
		tag[15] ^= 1;
		/* Wrong additional data: refused. */
		assert_int_equal(mm_aead_open(key, iv, "x", 1, ct, cn, tag, back), MM_ERR_VERIFY);
		free(key), free(iv), free(aad), free(pt), free(ct), free(tag);
	}
}

static void test_gcm_tamper_wipes_output(void **state)
{
	uint8_t key[32], msg[100], packed[100 + MM_AEAD_OVERHEAD], out[100];

	assert_int_equal(mm_crypto_random(key, sizeof(key)), MM_OK);
	memset(msg, 'A', sizeof(msg));
	assert_int_equal(mm_aead_seal_random(key, "ctx", 3, msg, sizeof(msg), packed), MM_OK);
	assert_int_equal(mm_aead_open_packed(key, "ctx", 3, packed, sizeof(packed), out), MM_OK);
	assert_memory_equal(out, msg, sizeof(msg));
	for (size_t bit = 0; bit < sizeof(packed) * 8; bit += 37) {
		packed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 'Z', sizeof(out));
		assert_int_equal(mm_aead_open_packed(key, "ctx", 3, packed, sizeof(packed), out),
				 MM_ERR_VERIFY);
		/* No unauthenticated plaintext is left behind. */
		for (size_t i = 0; i < sizeof(out); i++)
			assert_int_equal(out[i], 0);
		packed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Truncated input. */
	assert_int_equal(mm_aead_open_packed(key, "ctx", 3, packed, MM_AEAD_OVERHEAD - 1, out),
			 MM_ERR_INVALID);
	assert_int_equal(mm_aead_open_packed(key, "ctx", 3, packed, sizeof(packed) - 1, out),
			 MM_ERR_VERIFY);
	/* Two encryptions of the same message differ (fresh nonce). */
	{
		uint8_t p2[sizeof(packed)];
		assert_int_equal(mm_aead_seal_random(key, "ctx", 3, msg, sizeof(msg), p2), MM_OK);
		assert_memory_not_equal(p2, packed, sizeof(packed));
	}
}

/* ---- HMAC-SHA256, RFC 4231 section 4 ---- */

static void test_hmac_rfc4231(void **state)
{
	static const char tc7_data[] =
		"This is a test using a larger than block-size key and a larger than block-size "
		"data. The key needs to be hashed before being used by the HMAC algorithm.";
	uint8_t k20[20], kaa20[20], d50[50], k25[25], dcd[50], k131[131], mac[32];
	struct hmac_tc {
		const uint8_t *key;
		size_t klen;
		const void *data;
		size_t dlen;
		const char *mac;
	} tc[6];
	size_t n = 0, mlen;

	memset(k20, 0x0b, sizeof(k20));
	memset(kaa20, 0xaa, sizeof(kaa20));
	memset(d50, 0xdd, sizeof(d50));
	for (int i = 0; i < 25; i++)
		k25[i] = (uint8_t)(i + 1);
	memset(dcd, 0xcd, sizeof(dcd));
	memset(k131, 0xaa, sizeof(k131));
	tc[n++] = (struct hmac_tc){ k20, 20, "Hi There", 8,
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" };
	tc[n++] = (struct hmac_tc){ (const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" };
	tc[n++] = (struct hmac_tc){ kaa20, 20, d50, 50,
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" };
	tc[n++] = (struct hmac_tc){ k25, 25, dcd, 50,
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" };
	tc[n++] = (struct hmac_tc){ k131, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
		54, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" };
	tc[n++] = (struct hmac_tc){ k131, 131, tc7_data, strlen(tc7_data),
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" };
	for (size_t i = 0; i < n; i++) {
		uint8_t *want = hex(tc[i].mac, &mlen);

		assert_int_equal(mm_hmac_sha256(tc[i].key, tc[i].klen, tc[i].data, tc[i].dlen, mac),
				 MM_OK);
		assert_memory_equal(mac, want, 32);
		assert_int_equal(mm_hmac_sha256_verify(tc[i].key, tc[i].klen, tc[i].data, tc[i].dlen,
						       want, 32), MM_OK);
		want[0] ^= 0x80;
		assert_int_equal(mm_hmac_sha256_verify(tc[i].key, tc[i].klen, tc[i].data, tc[i].dlen,
						       want, 32), MM_ERR_VERIFY);
		free(want);
	}
	/* Test case 5: output truncated to 128 bits. */
	{
		uint8_t k0c[20], *want = hex("a3b6167473100ee06e0c796c2955552b", &mlen);

		memset(k0c, 0x0c, sizeof(k0c));
		assert_int_equal(mm_hmac_sha256_verify(k0c, 20, "Test With Truncation", 20, want, 16),
				 MM_OK);
		assert_int_equal(mm_hmac_sha256_verify(k0c, 20, "Test With Truncation", 20, want, 15),
				 MM_ERR_INVALID);
		free(want);
	}
}

/* ---- ECDSA P-256 ---- */

/* RFC 6979 appendix A.2.5 key. */
#define RFC6979_X "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
#define RFC6979_Q "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" \
		  "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
/* SHA-256, message "sample" */
#define RFC6979_RS "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" \
		   "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"

static void test_ecdsa_published_vectors(void **state)
{
	uint8_t *x = hex(RFC6979_X, NULL), *q = hex(RFC6979_Q, NULL), *rs = hex(RFC6979_RS, NULL);
	uint8_t pub[65];
	mm_buf der = MM_BUF_INIT(256);

	/* The public point derived by our wrapper is the published one. */
	assert_int_equal(mm_ecdsa_p256_public(x, pub), MM_OK);
	assert_memory_equal(pub, q, 65);
	/* The published signature verifies, raw and re-encoded as DER. */
	assert_int_equal(mm_ecdsa_p256_verify(q, "sample", 6, rs, 64, MM_SIG_RAW), MM_OK);
	assert_int_equal(mm_ecdsa_p256_verify(q, "sample", 6, rs, 64, MM_SIG_DER), MM_ERR_VERIFY);
	assert_int_equal(mm_ecdsa_p256_verify(q, "samplf", 6, rs, 64, MM_SIG_RAW), MM_ERR_VERIFY);
	rs[63] ^= 1;
	assert_int_equal(mm_ecdsa_p256_verify(q, "sample", 6, rs, 64, MM_SIG_RAW), MM_ERR_VERIFY);
	rs[63] ^= 1;
	/* DER form of (r, s): both have the top bit set, so each INTEGER gets a
	 * leading zero: 30 46 02 21 00 r 02 21 00 s. */
	assert_int_equal(mm_buf_append(&der, "\x30\x46\x02\x21\x00", 5), MM_OK);
	assert_int_equal(mm_buf_append(&der, rs, 32), MM_OK);
	assert_int_equal(mm_buf_append(&der, "\x02\x21\x00", 3), MM_OK);
	assert_int_equal(mm_buf_append(&der, rs + 32, 32), MM_OK);
	assert_int_equal(mm_ecdsa_p256_verify(q, "sample", 6, (uint8_t *)der.data, der.len,
					      MM_SIG_DER), MM_OK);
	/* Trailing garbage after the DER signature is refused. */
	assert_int_equal(mm_buf_appendc(&der, 0), MM_OK);
	assert_int_equal(mm_ecdsa_p256_verify(q, "sample", 6, (uint8_t *)der.data, der.len,
					      MM_SIG_DER), MM_ERR_VERIFY);
	mm_buf_release(&der);
	free(x), free(q), free(rs);

	/* NIST CSRC example "P256_SHA256.pdf": message "Example of ECDSA with P-256". */
	q = hex("04b7e08afdfe94bad3f1dc8c734798ba1c62b3a0ad1e9ea2a38201cd0889bc7a19"
		"3603f747959dbf7a4bb226e41928729063adc7ae43529e61b563bbc606cc5e09", NULL);
	rs = hex("2b42f576d07f4165ff65d1f3b1500f81e44c316f1f0b3ef57325b69aca46104f"
		 "dc42c2122d6392cd3e3a993a89502a8198c1886fe69d262c4b329bdb6b63faf1", NULL);
	assert_int_equal(mm_ecdsa_p256_verify(q, "Example of ECDSA with P-256", 27, rs, 64,
					      MM_SIG_RAW), MM_OK);
	/* A point not on the curve is refused as a key. */
	q[64] ^= 1;
	assert_int_equal(mm_ecdsa_p256_verify(q, "Example of ECDSA with P-256", 27, rs, 64,
					      MM_SIG_RAW), MM_ERR_INVALID);
	free(q), free(rs);
}

static void test_ecdsa_roundtrip(void **state)
{
	uint8_t priv[32], pub[65], zero[32] = { 0 };
	mm_buf sig = MM_BUF_INIT(256), pem = MM_BUF_INIT(1024);

	assert_int_equal(mm_ecdsa_p256_keygen(priv, pub), MM_OK);
	for (int f = 0; f < 2; f++) {
		mm_buf_reset(&sig);
		assert_int_equal(mm_ecdsa_p256_sign(priv, "hello", 5, (mm_sig_format)f, &sig), MM_OK);
		if (f == MM_SIG_RAW)
			assert_int_equal(sig.len, 64);
		else
			assert_true(sig.len >= 8 && sig.len <= 72 && (uint8_t)sig.data[0] == 0x30);
		assert_int_equal(mm_ecdsa_p256_verify(pub, "hello", 5, (uint8_t *)sig.data, sig.len,
						      (mm_sig_format)f), MM_OK);
		assert_int_equal(mm_ecdsa_p256_verify(pub, "hellO", 5, (uint8_t *)sig.data, sig.len,
						      (mm_sig_format)f), MM_ERR_VERIFY);
		/* Truncated signature. */
		assert_int_equal(mm_ecdsa_p256_verify(pub, "hello", 5, (uint8_t *)sig.data,
						      sig.len - 1, (mm_sig_format)f), MM_ERR_VERIFY);
	}
	assert_int_equal(mm_ecdsa_p256_public_pem(pub, &pem), MM_OK);
	assert_non_null(strstr(pem.data, "-----BEGIN PUBLIC KEY-----"));
	assert_int_equal(mm_ecdsa_p256_public(zero, pub), MM_ERR_INVALID);
	mm_crypto_wipe(priv, sizeof(priv));
	mm_buf_release(&sig);
	mm_buf_release(&pem);
}

/* ---- Ed25519 (crypto/sign.h, used by src/keys), RFC 8032 section 7.1 ---- */

static void test_ed25519_rfc8032(void **state)
{
	static const struct {
		const char *sk, *pk, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
		  "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da0"
		  "85ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	};
	for (size_t i = 0; i < 2; i++) {
		size_t mlen;
		uint8_t *sk = hex(v[i].sk, NULL), *pk = hex(v[i].pk, NULL), *msg = hex(v[i].msg, &mlen),
			*want = hex(v[i].sig, NULL);
		uint8_t pub[32], sig[64];
		mm_ed25519_key *key = NULL;

		assert_int_equal(mm_ed25519_import_private(sk, &key), MM_OK);
		assert_int_equal(mm_ed25519_export_public(key, pub), MM_OK);
		assert_memory_equal(pub, pk, 32);
		assert_int_equal(mm_ed25519_sign(key, msg, mlen, sig), MM_OK);
		assert_memory_equal(sig, want, 64);
		assert_int_equal(mm_ed25519_verify_raw(pk, msg, mlen, sig), MM_OK);
		sig[10] ^= 4;
		assert_int_equal(mm_ed25519_verify_raw(pk, msg, mlen, sig), MM_ERR_VERIFY);
		mm_ed25519_key_free(key);
		free(sk), free(pk), free(msg), free(want);
	}
}

/* ---- Shamir ---- */

static void test_shamir(void **state)
{
	uint8_t secret[32], out[5 * 33], got[32];
	const uint8_t *pick[5];

	assert_int_equal(mm_crypto_random(secret, sizeof(secret)), MM_OK);
	assert_int_equal(mm_shamir_split(secret, 32, 5, 3, out), MM_OK);
	/* Every 3-subset recovers the secret. */
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				pick[0] = out + a * 33, pick[1] = out + b * 33, pick[2] = out + c * 33;
				assert_int_equal(mm_shamir_combine(pick, 3, 32, got), MM_OK);
				assert_memory_equal(got, secret, 32);
			}
	/* All five recover it too. */
	for (int i = 0; i < 5; i++)
		pick[i] = out + i * 33;
	assert_int_equal(mm_shamir_combine(pick, 5, 32, got), MM_OK);
	assert_memory_equal(got, secret, 32);
	/* Two shares (below the threshold) give something else. */
	assert_int_equal(mm_shamir_combine(pick, 2, 32, got), MM_OK);
	assert_memory_not_equal(got, secret, 32);
	/* The same share twice is refused (same coordinate). */
	pick[1] = pick[0];
	assert_int_equal(mm_shamir_combine(pick, 3, 32, got), MM_ERR_INVALID);
	/* A modified share gives a wrong secret (callers verify). */
	{
		uint8_t bad[33];
		memcpy(bad, out + 33, 33);
		bad[5] ^= 1;
		pick[0] = out, pick[1] = bad, pick[2] = out + 66;
		assert_int_equal(mm_shamir_combine(pick, 3, 32, got), MM_OK);
		assert_memory_not_equal(got, secret, 32);
		bad[0] = 0;
		assert_int_equal(mm_shamir_combine(pick, 3, 32, got), MM_ERR_INVALID);
	}
	/* Bad parameters. */
	assert_int_equal(mm_shamir_split(secret, 32, 5, 6, out), MM_ERR_INVALID);
	assert_int_equal(mm_shamir_split(secret, 32, 5, 1, out), MM_ERR_INVALID);
	assert_int_equal(mm_shamir_split(secret, 32, 0, 0, out), MM_ERR_INVALID);
	assert_int_equal(mm_shamir_split(secret, 32, 256, 2, out), MM_ERR_INVALID);
	assert_int_equal(mm_shamir_split(secret, 0, 2, 2, out), MM_ERR_INVALID);
	/* 1-of-1: the share carries the secret. */
	assert_int_equal(mm_shamir_split(secret, 32, 1, 1, out), MM_OK);
	pick[0] = out;
	assert_int_equal(mm_shamir_combine(pick, 1, 32, got), MM_OK);
	assert_memory_equal(got, secret, 32);
	/* Two splits of the same secret give different shares. */
	{
		uint8_t out2[5 * 33];
		assert_int_equal(mm_shamir_split(secret, 32, 5, 3, out), MM_OK);
		assert_int_equal(mm_shamir_split(secret, 32, 5, 3, out2), MM_OK);
		assert_memory_not_equal(out + 1, out2 + 1, 32);
	}
}

/* RFC 4648 section 10 vectors, both alphabets, and strict rejection. */
static void test_base64_rfc4648(void **state)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	static const char *const bad[] = { "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n",
					   "Zm-v", "Zm_v", "=Zm9" };
	mm_buf b = MM_BUF_INIT(256);
	uint8_t all[256];

	for (size_t i = 0; i < 7; i++) {
		mm_buf_reset(&b);
		assert_int_equal(mm_base64_encode(&b, (const uint8_t *)in[i], strlen(in[i])), MM_OK);
		assert_string_equal(b.data ? b.data : "", std[i]);
		mm_buf_reset(&b);
		assert_int_equal(mm_base64url_encode(&b, (const uint8_t *)in[i], strlen(in[i])), MM_OK);
		assert_string_equal(b.data ? b.data : "", url[i]);
		mm_buf_reset(&b);
		assert_int_equal(mm_base64_decode(&b, std[i], strlen(std[i])), MM_OK);
		assert_int_equal(b.len, strlen(in[i]));
		assert_memory_equal(b.data ? b.data : "", in[i], b.len);
		mm_buf_reset(&b);
		assert_int_equal(mm_base64url_decode(&b, url[i], strlen(url[i])), MM_OK);
		assert_int_equal(b.len, strlen(in[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mm_buf_reset(&b);
		assert_int_equal(mm_buf_appends(&b, "kept"), MM_OK);
		assert_int_equal(mm_base64_decode(&b, bad[i], strlen(bad[i])), MM_ERR_INVALID);
		assert_string_equal(b.data, "kept");  /* unchanged on failure */
	}
	/* Every byte value round-trips through both alphabets, and the
	 * alphabets' characters 62/63 are not interchangeable. */
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)(255 - i);
	for (int url_mode = 0; url_mode < 2; url_mode++) {
		mm_buf e = MM_BUF_INIT(1024), d = MM_BUF_INIT(1024);

		assert_int_equal(url_mode ? mm_base64url_encode(&e, all, 256) : mm_base64_encode(&e, all, 256),
				 MM_OK);
		assert_int_equal(url_mode ? mm_base64url_decode(&d, e.data, e.len)
					  : mm_base64_decode(&d, e.data, e.len), MM_OK);
		assert_int_equal(d.len, 256);
		assert_memory_equal(d.data, all, 256);
		mm_buf_reset(&d);
		assert_int_equal(url_mode ? mm_base64_decode(&d, e.data, e.len)
					  : mm_base64url_decode(&d, e.data, e.len), MM_ERR_INVALID);
		mm_buf_release(&e);
		mm_buf_release(&d);
	}
	mm_buf_release(&b);
}

static void test_secmem(void **state)
{
	bool locked = false;
	uint8_t *p;

	assert_int_equal(mm_secmem_init(3000, &locked), MM_ERR_INVALID);
	assert_int_equal(mm_secmem_init(1 << 16, &locked), MM_OK);
	p = mm_secmem_alloc(32);
	assert_non_null(p);
	assert_true(mm_secmem_is_secure(p));
	for (int i = 0; i < 32; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0x5a, 32);
	mm_secmem_free(p, 32);
	/* A second init is a no-op. */
	assert_int_equal(mm_secmem_init(1 << 16, NULL), MM_OK);
	mm_secmem_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_known_answers),
		cmocka_unit_test(test_gcm_tamper_wipes_output),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_ecdsa_published_vectors),
		cmocka_unit_test(test_ecdsa_roundtrip),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_shamir),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_secmem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
