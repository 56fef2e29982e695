/*
 * eddsa_keys.c: Ed25519 (RFC 8032, pure mode) for src/keys over OpenSSL 3
 * EVP. See primitives.h. The mm_keys_ prefix keeps these apart from the
 * general Ed25519 module (sign.h) developed on another branch.
 *
 * Invariants: the secret seed becomes an EVP_PKEY only for one call (OpenSSL
 * clears the key when it is freed); a public key that does not decode to a
 * curve point fails verification.
 */
#include "crypto/primitives.h"

#include <openssl/evp.h>

#include "crypto/crypto.h"

mm_err mm_keys_ed25519_public(const uint8_t seed[MM_ED25519_SEED_LEN],
			      uint8_t pub[MM_ED25519_PUB_LEN])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
						      MM_ED25519_SEED_LEN);
	size_t len = MM_ED25519_PUB_LEN;
	mm_err rc = MM_OK;

	if (pkey == NULL || EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 ||
	    len != MM_ED25519_PUB_LEN)
		rc = mm_err_set(MM_ERR_CRYPTO, "Ed25519 public key derivation failed");
	EVP_PKEY_free(pkey);
	return rc;
}

mm_err mm_keys_ed25519_keygen(uint8_t seed[MM_ED25519_SEED_LEN], uint8_t pub[MM_ED25519_PUB_LEN])
{
	mm_err rc;

	if ((rc = mm_crypto_random(seed, MM_ED25519_SEED_LEN)) == MM_OK)
		rc = mm_keys_ed25519_public(seed, pub);
	if (rc != MM_OK)
		mm_crypto_wipe(seed, MM_ED25519_SEED_LEN);
	return rc;
}

mm_err mm_keys_ed25519_sign(const uint8_t seed[MM_ED25519_SEED_LEN], const void *msg, size_t n,
			    uint8_t sig[MM_ED25519_SIG_LEN])
{
	static const uint8_t empty = 0;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	size_t len = MM_ED25519_SIG_LEN;
	mm_err rc = MM_OK;

	if ((pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
						 MM_ED25519_SEED_LEN)) == NULL ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(md, sig, &len, n ? msg : &empty, n) != 1 || len != MM_ED25519_SIG_LEN)
		rc = mm_err_set(MM_ERR_CRYPTO, "Ed25519 signing failed");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

mm_err mm_keys_ed25519_verify(const uint8_t pub[MM_ED25519_PUB_LEN], const void *msg, size_t n,
			      const uint8_t sig[MM_ED25519_SIG_LEN])
{
	static const uint8_t empty = 0;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	mm_err rc = MM_OK;

	if ((pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
						MM_ED25519_PUB_LEN)) == NULL ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "Ed25519 verification setup failed");
		goto out;
	}
	if (EVP_DigestVerify(md, sig, MM_ED25519_SIG_LEN, n ? msg : &empty, n) != 1)
		rc = mm_err_set(MM_ERR_VERIFY, "Ed25519 signature does not verify");
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}
