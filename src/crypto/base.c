/*
 * base.c: randomness, hashing, constant-time comparison, encodings and token
 * generation over OpenSSL 3. See crypto.h.
 */
#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

mm_err mm_crypto_random(void *p, size_t n)
{
	if (n > INT32_MAX || RAND_bytes(p, (int)n) != 1)
		return mm_err_set(MM_ERR_CRYPTO, "random number generator failed");
	return MM_OK;
}

void mm_crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

bool mm_crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void mm_sha256(const void *p, size_t n, uint8_t out[MM_SHA256_LEN])
{
	/* Not OpenSSL's one-shot SHA256(): in 3.0 it fetches the algorithm on
	 * every call, which costs more than hashing a token (done per request
	 * to look up the caller's session). */
	mm_sha256_2(p, n, NULL, 0, out);
}

void mm_sha256_2(const void *a, size_t na, const void *b, size_t nb,
		 uint8_t out[MM_SHA256_LEN])
{
	SHA256_CTX c;

	/* The low-level SHA256_* calls are deprecated in 3.0 but are ~3x faster
	 * than EVP for the 65-byte Merkle node inputs that dominate audit work. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	SHA256_Init(&c);
	SHA256_Update(&c, a, na);
	SHA256_Update(&c, b, nb);
	SHA256_Final(out, &c);
#pragma GCC diagnostic pop
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encoding tables: entry v (12 bits) holds the two characters for v, in
 * memory order, for the standard [0] and URL [1] alphabets. */
static uint16_t etab[2][4096];
static pthread_once_t etab_once = PTHREAD_ONCE_INIT;

static void etab_init(void)
{
	for (int a = 0; a < 2; a++) {
		const char *alpha = a ? b64url : b64;

		for (int v = 0; v < 4096; v++) {
			char two[2] = { alpha[v >> 6], alpha[v & 63] };
			memcpy(&etab[a][v], two, 2);
		}
	}
}

static mm_err encode(mm_buf *out, const uint8_t *p, size_t n, const char *alpha, bool pad)
{
	size_t i;
	mm_err rc;

	if (n > SIZE_MAX / 2)
		return MM_ERR_LIMIT;
	if ((rc = mm_buf_grow(out, (n + 2) / 3 * 4)) != MM_OK)
		return rc;
	{
		/* Two output characters per lookup (12 bits -> 2 chars), through a
		 * local cursor: stores through out->data would alias out->len. */
		const uint16_t *pair;
		char *o = out->data + out->len;

		pthread_once(&etab_once, etab_init);
		pair = etab[alpha == b64url];
		for (i = 0; i + 2 < n; i += 3) {
			uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
			memcpy(o, &pair[v >> 12], 2);
			memcpy(o + 2, &pair[v & 0xfff], 2);
			o += 4;
		}
		out->len = (size_t)(o - out->data);
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out->data[out->len++] = alpha[v >> 18];
		out->data[out->len++] = alpha[(v >> 12) & 63];
		if (i + 1 < n)
			out->data[out->len++] = alpha[(v >> 6) & 63];
		else if (pad)
			out->data[out->len++] = '=';
		if (pad)
			out->data[out->len++] = '=';
	}
	out->data[out->len] = '\0';
	return MM_OK;
}

mm_err mm_base64_encode(mm_buf *out, const uint8_t *p, size_t n)
{
	return encode(out, p, n, b64, true);
}

mm_err mm_base64url_encode(mm_buf *out, const uint8_t *p, size_t n)
{
	return encode(out, p, n, b64url, false);
}

/* Decoding tables: value 0..63, or -1 for a character outside the alphabet. */
static int8_t dtab[2][256];
static pthread_once_t dtab_once = PTHREAD_ONCE_INIT;

static void dtab_init(void)
{
	memset(dtab, -1, sizeof(dtab));
	for (int i = 0; i < 64; i++) {
		dtab[0][(uint8_t)b64[i]] = (int8_t)i;
		dtab[1][(uint8_t)b64url[i]] = (int8_t)i;
	}
}

static int dval(char c, bool url)
{
	return dtab[url][(uint8_t)c];
}

static mm_err decode(mm_buf *out, const char *s, size_t n, bool url)
{
	size_t i, full, rem;
	mm_err rc;

	if (!url) {
		if (n % 4 != 0)
			goto bad;
		if (n > 0 && s[n - 1] == '=')
			n--;
		if (n > 0 && s[n - 1] == '=')
			n--;
	}
	rem = n % 4;
	if (rem == 1)
		goto bad;
	full = n - rem;
	if ((rc = mm_buf_grow(out, n / 4 * 3 + 3)) != MM_OK)
		return rc;
	pthread_once(&dtab_once, dtab_init);
	{
		const int8_t *t = dtab[url];
		char *o = out->data + out->len;

		for (i = 0; i < full; i += 4) {
			int a = t[(uint8_t)s[i]], b = t[(uint8_t)s[i + 1]], c = t[(uint8_t)s[i + 2]],
			    d = t[(uint8_t)s[i + 3]];
			if ((a | b | c | d) < 0)
				goto bad;
			uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
				     (uint32_t)d;
			o[0] = (char)(v >> 16);
			o[1] = (char)(v >> 8);
			o[2] = (char)v;
			o += 3;
		}
		out->len = (size_t)(o - out->data);
	}
	if (rem > 0) {
		int a = dval(s[i], url), b = dval(s[i + 1], url), c = rem == 3 ? dval(s[i + 2], url) : 0;
		if ((a | b | c) < 0)
			goto bad;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		/* Non-canonical encodings (stray low bits) are rejected. */
		if ((rem == 2 && (v & 0xffff) != 0) || (rem == 3 && (v & 0xff) != 0))
			goto bad;
		out->data[out->len++] = (char)(v >> 16);
		if (rem == 3)
			out->data[out->len++] = (char)(v >> 8);
	}
	out->data[out->len] = '\0';
	return MM_OK;
bad:
	return mm_err_set(MM_ERR_INVALID, "invalid %s encoding", url ? "base64url" : "base64");
}

/* Decodes and leaves out unchanged on failure. */
static mm_err decode_keep(mm_buf *out, const char *s, size_t n, bool url)
{
	size_t mark = out->len;
	mm_err rc = decode(out, s, n, url);

	if (rc != MM_OK && out->data != NULL) {
		out->len = mark;
		out->data[mark] = '\0';
	}
	return rc;
}

mm_err mm_base64_decode(mm_buf *out, const char *s, size_t n)
{
	return decode_keep(out, s, n, false);
}

mm_err mm_base64url_decode(mm_buf *out, const char *s, size_t n)
{
	return decode_keep(out, s, n, true);
}

mm_err mm_hex_decode(const char *s, uint8_t *out, size_t outlen)
{
	size_t i;

	if (strlen(s) != outlen * 2)
		return mm_err_set(MM_ERR_INVALID, "expected %zu hex characters", outlen * 2);
	for (i = 0; i < outlen * 2; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return mm_err_set(MM_ERR_INVALID, "invalid hex character");
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return MM_OK;
}

mm_err mm_token_new(const char *prefix, mm_buf *ret_token)
{
	uint8_t raw[32];
	mm_err rc;

	if ((rc = mm_crypto_random(raw, sizeof(raw))) != MM_OK)
		goto out;
	if ((rc = mm_buf_appends(ret_token, prefix)) != MM_OK)
		goto out;
	rc = mm_base64url_encode(ret_token, raw, sizeof(raw));
out:
	mm_crypto_wipe(raw, sizeof(raw));
	return rc;
}

void mm_token_hash(const char *token, char out[MM_TOKEN_HASH_HEX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[MM_SHA256_LEN];

	mm_sha256(token, strlen(token), h);
	for (int i = 0; i < MM_SHA256_LEN; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = '\0';
}
