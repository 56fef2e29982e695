/*
 * primitives.h: the key-management primitives over OpenSSL 3 libcrypto and
 * libgfshare: AES-256-GCM, HMAC-SHA256, ECDSA P-256, Shamir secret sharing
 * and locked ("secure heap") memory for key material. Ed25519 is in sign.h.
 *
 * Every algorithm here is on the CRYPTREC e-Government Recommended Ciphers
 * List (AES, GCM, HMAC, SHA-256, ECDSA P-256, EdDSA Ed25519); Shamir sharing
 * is information-theoretic and uses no cipher.
 *
 * Invariants:
 *  - No function keeps a copy of a key after it returns; temporaries holding
 *    key material are wiped (OPENSSL_cleanse) on every path.
 *  - Verification failures (bad tag, bad MAC, bad signature) return
 *    MM_ERR_VERIFY and never write plaintext to the caller's buffer
 *    (mm_aead_open wipes the output before returning MM_ERR_VERIFY).
 *  - Malformed input (wrong lengths, bad encodings) is MM_ERR_INVALID; a failure
 *    of the library itself is MM_ERR_CRYPTO.
 *  - libgfshare's global random filler is set to an OpenSSL RAND_bytes
 *    function exactly once (pthread_once) before the first libgfshare call;
 *    its random()-based filler is never used.
 */
#ifndef MM_CRYPTO_PRIMITIVES_H
#define MM_CRYPTO_PRIMITIVES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- AES-256-GCM (aead.c) ---- */

#define MM_AES256_KEY_LEN 32
#define MM_GCM_NONCE_LEN 12
#define MM_GCM_TAG_LEN 16

/*
 * Encrypts n bytes of pt into ct (n bytes; may equal pt) under key with a
 * 96-bit nonce and writes the 128-bit tag. aad may be NULL when aad_len is 0.
 * The caller owns every buffer; nothing is retained. The caller must never
 * reuse a (key, nonce) pair: use mm_aead_seal_random() unless a test vector
 * dictates the nonce. Errors: MM_ERR_LIMIT (n or aad_len > INT_MAX),
 * MM_ERR_CRYPTO.
 */
mm_err mm_aead_seal(const uint8_t key[MM_AES256_KEY_LEN],
		    const uint8_t nonce[MM_GCM_NONCE_LEN],
		    const void *aad, size_t aad_len,
		    const uint8_t *pt, size_t n,
		    uint8_t *ct, uint8_t tag[MM_GCM_TAG_LEN]);

/*
 * Encrypts pt into out as nonce || ciphertext || tag (n + 28 bytes) with a
 * fresh random nonce, in one call. out must hold n + MM_AEAD_OVERHEAD bytes.
 * Errors: as mm_aead_seal.
 */
#define MM_AEAD_OVERHEAD (MM_GCM_NONCE_LEN + MM_GCM_TAG_LEN)
mm_err mm_aead_seal_random(const uint8_t key[MM_AES256_KEY_LEN],
			   const void *aad, size_t aad_len,
			   const uint8_t *pt, size_t n, uint8_t *out);

/*
 * Decrypts and authenticates. On MM_ERR_VERIFY (wrong key, wrong aad,
 * modified ciphertext or tag) the n bytes of pt are wiped, so no unverified
 * plaintext is ever visible. pt may equal ct.
 * Errors: MM_ERR_VERIFY, MM_ERR_LIMIT, MM_ERR_CRYPTO.
 */
mm_err mm_aead_open(const uint8_t key[MM_AES256_KEY_LEN],
		    const uint8_t nonce[MM_GCM_NONCE_LEN],
		    const void *aad, size_t aad_len,
		    const uint8_t *ct, size_t n,
		    const uint8_t tag[MM_GCM_TAG_LEN], uint8_t *pt);

/* Opens nonce || ciphertext || tag (len >= MM_AEAD_OVERHEAD) into pt
 * (len - MM_AEAD_OVERHEAD bytes). Errors: MM_ERR_INVALID (too short), and
 * those of mm_aead_open. */
mm_err mm_aead_open_packed(const uint8_t key[MM_AES256_KEY_LEN],
			   const void *aad, size_t aad_len,
			   const uint8_t *in, size_t len, uint8_t *pt);

/* ---- HMAC-SHA256 (hmac.c) ---- */

#define MM_HMAC_SHA256_LEN 32

/* mac = HMAC-SHA256(key, msg). Any key length (RFC 2104 hashes long keys).
 * Errors: MM_ERR_CRYPTO. */
mm_err mm_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t n,
		      uint8_t mac[MM_HMAC_SHA256_LEN]);

/* Recomputes the MAC and compares in constant time. mac_len may be shorter
 * than 32 (truncated MAC, RFC 4231 4.6) but not below 16.
 * Errors: MM_ERR_VERIFY, MM_ERR_INVALID (bad length), MM_ERR_CRYPTO. */
mm_err mm_hmac_sha256_verify(const uint8_t *key, size_t key_len, const void *msg, size_t n,
			     const uint8_t *mac, size_t mac_len);

/* ---- ECDSA P-256 with SHA-256 (ecdsa.c) ---- */

#define MM_P256_PRIV_LEN 32
#define MM_P256_PUB_LEN 65       /* uncompressed SEC1 point: 04 || X || Y */
#define MM_P256_RAW_SIG_LEN 64   /* r || s, 32 bytes each, big-endian */
#define MM_P256_DER_SIG_MAX 72

typedef enum mm_sig_format {
	MM_SIG_DER = 0,          /* ASN.1 DER SEQUENCE { r, s } (X9.62) */
	MM_SIG_RAW = 1,          /* fixed-length r || s (JWS / IEEE P1363) */
} mm_sig_format;

/* Generates a key pair. priv is secret: the caller wipes it.
 * Errors: MM_ERR_CRYPTO. */
mm_err mm_ecdsa_p256_keygen(uint8_t priv[MM_P256_PRIV_LEN], uint8_t pub[MM_P256_PUB_LEN]);

/* Derives the public point of a private scalar.
 * Errors: MM_ERR_INVALID (scalar zero or >= n), MM_ERR_CRYPTO. */
mm_err mm_ecdsa_p256_public(const uint8_t priv[MM_P256_PRIV_LEN], uint8_t pub[MM_P256_PUB_LEN]);

/* Signs SHA-256(msg); appends the signature to sig in the chosen format.
 * Errors: MM_ERR_INVALID, MM_ERR_CRYPTO, MM_ERR_LIMIT (sig's max). */
mm_err mm_ecdsa_p256_sign(const uint8_t priv[MM_P256_PRIV_LEN], const void *msg, size_t n,
			  mm_sig_format fmt, mm_buf *sig);

/* Verifies a signature over SHA-256(msg). DER signatures must be strictly
 * DER (re-encoding must give the same bytes). Errors: MM_ERR_VERIFY (bad
 * signature, including malformed signature bytes), MM_ERR_INVALID (pub is
 * not a point on P-256), MM_ERR_CRYPTO. */
mm_err mm_ecdsa_p256_verify(const uint8_t pub[MM_P256_PUB_LEN], const void *msg, size_t n,
			    const uint8_t *sig, size_t sig_len, mm_sig_format fmt);

/* Appends the public key as a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC
 * KEY-----"). Errors: MM_ERR_INVALID, MM_ERR_CRYPTO, MM_ERR_LIMIT. */
mm_err mm_ecdsa_p256_public_pem(const uint8_t pub[MM_P256_PUB_LEN], mm_buf *out);

/* ---- Shamir secret sharing over GF(2^8) (shamir.c, libgfshare) ---- */

#define MM_SHAMIR_MAX_SHARES 255

/*
 * Splits secret (len bytes, 1..1024) into `shares` shares any `threshold` of
 * which recover it (2 <= threshold <= shares <= 255; threshold 1 is allowed
 * only together with shares == 1, where the single share is the secret).
 * Share i is written to out + i * (len + 1) as x || y where x = i + 1 is
 * the share's coordinate and y its len bytes. The caller wipes out.
 * Errors: MM_ERR_INVALID (counts, len), MM_ERR_NOMEM, MM_ERR_CRYPTO (the
 * random source failed: no share is produced).
 */
mm_err mm_shamir_split(const uint8_t *secret, size_t len, unsigned shares, unsigned threshold,
		       uint8_t *out);

/*
 * Recombines count shares, each x || y of len + 1 bytes, into secret (len
 * bytes). The shares' x coordinates must be distinct and non-zero; a
 * wrong share silently gives a wrong secret, so callers verify the result
 * (e.g. by decrypting a known AEAD blob with it).
 * Errors: MM_ERR_INVALID (count 0 or > 255, duplicate or zero x), MM_ERR_NOMEM.
 */
mm_err mm_shamir_combine(const uint8_t *const *shares, size_t count, size_t len,
			 uint8_t *secret);

/* ---- memory for key material (secmem.c) ---- */

/*
 * Creates OpenSSL's secure heap (mmap'ed, mlock'ed, guard pages, excluded
 * from core dumps) of `size` bytes (a power of two). Call once at process
 * start, before any thread starts. *ret_locked is true when the heap could
 * be mlock'ed (RLIMIT_MEMLOCK may forbid it: the heap then still works,
 * unlocked). A second call is a no-op reporting the first call's result.
 * Errors: MM_ERR_INVALID (size), MM_ERR_NOMEM.
 */
mm_err mm_secmem_init(size_t size, bool *ret_locked);

/* Zeroed memory for secrets: from the secure heap when it exists and has
 * room, else from the ordinary heap. NULL when out of memory. */
void *mm_secmem_alloc(size_t n);
/* Wipes n bytes and frees memory from mm_secmem_alloc; NULL is allowed. */
void mm_secmem_free(void *p, size_t n);
/* Whether p lies in the secure (locked) heap. */
bool mm_secmem_is_secure(const void *p);

#endif
