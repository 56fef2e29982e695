/*
 * ed25519_seed.c: Ed25519 on raw 32-byte seeds for src/keys, over the
 * crypto module's key objects (crypto/sign.h).
 *
 * src/keys keeps Ed25519 private keys only as seeds in mm_secmem memory (the
 * audit signing key, ed25519 named-key versions); an mm_ed25519_key (an
 * EVP_PKEY in OpenSSL's ordinary heap) exists only for the duration of one
 * call and is freed at once, which lets OpenSSL wipe it.
 * Invariants: every key object made here is freed on all paths; seeds are
 * never copied outside the caller's buffers.
 */
#include "keys/internal.h"

#include "crypto/crypto.h"

mm_err keys_ed25519_keygen(uint8_t seed[MM_ED25519_SEED_LEN], uint8_t pub[MM_ED25519_PUBLIC_LEN])
{
	mm_ed25519_key *key = NULL;
	mm_err rc;

	if ((rc = mm_ed25519_generate(&key)) == MM_OK &&
	    (rc = mm_ed25519_export_private(key, seed)) == MM_OK)
		rc = mm_ed25519_export_public(key, pub);
	if (rc != MM_OK)
		mm_crypto_wipe(seed, MM_ED25519_SEED_LEN);
	mm_ed25519_key_free(key);
	return rc;
}

mm_err keys_ed25519_public(const uint8_t seed[MM_ED25519_SEED_LEN],
			   uint8_t pub[MM_ED25519_PUBLIC_LEN])
{
	mm_ed25519_key *key = NULL;
	mm_err rc;

	if ((rc = mm_ed25519_import_private(seed, &key)) == MM_OK)
		rc = mm_ed25519_export_public(key, pub);
	mm_ed25519_key_free(key);
	return rc;
}

mm_err keys_ed25519_sign(const uint8_t seed[MM_ED25519_SEED_LEN], const void *msg, size_t n,
			 uint8_t sig[MM_ED25519_SIG_LEN])
{
	mm_ed25519_key *key = NULL;
	mm_err rc;

	if ((rc = mm_ed25519_import_private(seed, &key)) == MM_OK)
		rc = mm_ed25519_sign(key, msg, n, sig);
	mm_ed25519_key_free(key);
	return rc;
}
