/*
 * aesgcm.h: AES-256-GCM sealing of small secrets into one self-contained
 * blob: nonce (12 bytes, random) || ciphertext || tag (16 bytes).
 *
 * Used by the access module's interim sealer (TOTP secrets) until the key
 * module's barrier (mm_keys_wrap/unwrap) is available, and by tests. A
 * random 96-bit nonce per message keeps the (key, nonce) collision
 * probability negligible for the small number of secrets sealed under one
 * key (NIST SP 800-38D §8.3: below 2^32 messages).
 *
 * Invariants: on MM_ERR_VERIFY nothing is appended to out, so unverified
 * plaintext is never visible; temporaries are wiped.
 */
#ifndef MM_CRYPTO_AESGCM_H
#define MM_CRYPTO_AESGCM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_AESGCM_KEY_LEN 32
#define MM_AESGCM_OVERHEAD 28

/* Appends nonce || AES-256-GCM(key, aad, pt) || tag to out. aad may be NULL
 * when aad_len is 0. Errors: MM_ERR_LIMIT (sizes, out's max), MM_ERR_CRYPTO. */
mm_err mm_aesgcm_seal(const uint8_t key[MM_AESGCM_KEY_LEN], const void *aad, size_t aad_len,
		      const uint8_t *pt, size_t n, mm_buf *out);

/* Verifies and decrypts a blob made by mm_aesgcm_seal, appending the
 * plaintext to out (the caller wipes it). Errors: MM_ERR_VERIFY (wrong key,
 * wrong aad, modified blob), MM_ERR_INVALID (too short), MM_ERR_LIMIT,
 * MM_ERR_CRYPTO. */
mm_err mm_aesgcm_open(const uint8_t key[MM_AESGCM_KEY_LEN], const void *aad, size_t aad_len,
		      const uint8_t *in, size_t n, mm_buf *out);

#endif
