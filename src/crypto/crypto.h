/*
 * crypto.h: the primitives mamori uses, over OpenSSL 3 libcrypto.
 *
 * src/crypto is the only directory that includes OpenSSL headers; everything
 * above it calls these wrappers. Every algorithm here is on the CRYPTREC
 * e-Government Recommended Ciphers List (SHA-256, HMAC, AES-GCM, Ed25519/EdDSA,
 * ECDSA P-256) or is a random number generator (CTR-DRBG inside OpenSSL).
 * Buffers that held secrets are wiped with mm_crypto_wipe (OPENSSL_cleanse).
 */
#ifndef MM_CRYPTO_CRYPTO_H
#define MM_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_SHA256_LEN 32

/* Fills p with n bytes from OpenSSL's CSPRNG. Errors: MM_ERR_CRYPTO. */
mm_err mm_crypto_random(void *p, size_t n);

void mm_crypto_wipe(void *p, size_t n);
/* Constant-time equality (CRYPTO_memcmp). */
bool mm_crypto_equal(const void *a, const void *b, size_t n);

void mm_sha256(const void *p, size_t n, uint8_t out[MM_SHA256_LEN]);
/* SHA-256 over the concatenation of two pieces (prefix || data). */
void mm_sha256_2(const void *a, size_t na, const void *b, size_t nb,
		 uint8_t out[MM_SHA256_LEN]);

/* Base64 (RFC 4648 §4, with padding) and base64url (§5, no padding). */
mm_err mm_base64_encode(mm_buf *out, const uint8_t *p, size_t n);
mm_err mm_base64url_encode(mm_buf *out, const uint8_t *p, size_t n);
/* Strict decoding: rejects whitespace, bad characters and bad padding.
 * Errors: MM_ERR_INVALID, MM_ERR_LIMIT (out's max). */
mm_err mm_base64_decode(mm_buf *out, const char *s, size_t n);
mm_err mm_base64url_decode(mm_buf *out, const char *s, size_t n);
/* Lowercase hex decode of exactly 2*outlen characters. Errors: MM_ERR_INVALID. */
mm_err mm_hex_decode(const char *s, uint8_t *out, size_t outlen);

/*
 * Secret tokens (API tokens, sessions, bootstrap): a prefix plus 32 random
 * bytes in base64url, e.g. "mmt_...". Only SHA-256(token) is ever stored;
 * mm_token_hash gives that lookup key as lowercase hex (65 bytes with NUL).
 */
#define MM_TOKEN_HASH_HEX 65
mm_err mm_token_new(const char *prefix, mm_buf *ret_token);
void mm_token_hash(const char *token, char out[MM_TOKEN_HASH_HEX]);

#endif
