/*
 * sign.h: digital signatures over OpenSSL 3 EVP.
 *
 * Ed25519 (RFC 8032, pure EdDSA; on the CRYPTREC list) is used to sign audit
 * checkpoints. Keys are opaque mm_ed25519_key objects wrapping an EVP_PKEY;
 * they can be imported from and exported to their raw 32-byte forms (the
 * private "seed" and the public key), which is what the key-management
 * module encrypts under the root key and what verifiers publish.
 *
 * Invariants: a key object holding a private key is freed with
 * mm_ed25519_key_free(), which lets OpenSSL wipe the secret; exported seeds
 * are the caller's to wipe (mm_crypto_wipe). Other algorithms (ECDSA P-256)
 * live in their own files with their own mm_<alg>_* prefix.
 */
#ifndef MM_CRYPTO_SIGN_H
#define MM_CRYPTO_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MM_ED25519_PUBLIC_LEN 32
#define MM_ED25519_SEED_LEN 32
#define MM_ED25519_SIG_LEN 64

typedef struct mm_ed25519_key mm_ed25519_key;

/* Generates a fresh private key from OpenSSL's CSPRNG. The caller owns *ret.
 * Errors: MM_ERR_CRYPTO, MM_ERR_NOMEM. */
mm_err mm_ed25519_generate(mm_ed25519_key **ret);

/* Imports a private key from its 32-byte seed (RFC 8032 private key). The
 * seed is copied; the caller keeps and wipes its own copy.
 * Errors: MM_ERR_CRYPTO, MM_ERR_NOMEM. */
mm_err mm_ed25519_import_private(const uint8_t seed[MM_ED25519_SEED_LEN],
				 mm_ed25519_key **ret);

/* Imports a verify-only key from its raw 32-byte public key.
 * Errors: MM_ERR_INVALID (not a valid encoding), MM_ERR_NOMEM. */
mm_err mm_ed25519_import_public(const uint8_t pub[MM_ED25519_PUBLIC_LEN],
				mm_ed25519_key **ret);

/* Writes the raw public key. Errors: MM_ERR_CRYPTO. */
mm_err mm_ed25519_export_public(const mm_ed25519_key *k, uint8_t pub[MM_ED25519_PUBLIC_LEN]);

/* Writes the 32-byte seed of a private key; the caller must wipe it.
 * Errors: MM_ERR_INVALID (k has no private part), MM_ERR_CRYPTO. */
mm_err mm_ed25519_export_private(const mm_ed25519_key *k, uint8_t seed[MM_ED25519_SEED_LEN]);

/* True when k holds a private key. */
bool mm_ed25519_has_private(const mm_ed25519_key *k);

/* Signs n bytes of msg (pure Ed25519, deterministic). Thread-safe for a
 * shared key. Errors: MM_ERR_INVALID (no private part), MM_ERR_CRYPTO. */
mm_err mm_ed25519_sign(const mm_ed25519_key *k, const void *msg, size_t n,
		       uint8_t sig[MM_ED25519_SIG_LEN]);

/* Verifies sig over msg. Returns MM_OK or MM_ERR_VERIFY; MM_ERR_CRYPTO only
 * when the library itself fails. */
mm_err mm_ed25519_verify(const mm_ed25519_key *k, const void *msg, size_t n,
			 const uint8_t sig[MM_ED25519_SIG_LEN]);

/* Convenience: verifies against a raw public key (import + verify + free).
 * Errors: as mm_ed25519_import_public and mm_ed25519_verify. */
mm_err mm_ed25519_verify_raw(const uint8_t pub[MM_ED25519_PUBLIC_LEN], const void *msg,
			     size_t n, const uint8_t sig[MM_ED25519_SIG_LEN]);

/* Frees k (NULL allowed); OpenSSL wipes private material. */
void mm_ed25519_key_free(mm_ed25519_key *k);

#endif
