/*
 * ed25519.c: Ed25519 keys, signing and verification over OpenSSL 3 EVP
 * (see sign.h).
 *
 * Invariants: an mm_ed25519_key is exactly an EVP_PKEY of type ED25519
 * (the struct is never defined; the pointer is cast). Every EVP_MD_CTX is
 * freed on all paths; seeds copied to the stack are wiped before return.
 */
#include "crypto/sign.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"

static EVP_PKEY *pk(const mm_ed25519_key *k)
{
	return (EVP_PKEY *)k;
}

static mm_err crypto_fail(const char *what)
{
	ERR_clear_error();
	return mm_err_set(MM_ERR_CRYPTO, "ed25519: %s failed", what);
}

mm_err mm_ed25519_generate(mm_ed25519_key **ret)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (k == NULL)
		return crypto_fail("key generation");
	*ret = (mm_ed25519_key *)k;
	return MM_OK;
}

mm_err mm_ed25519_import_private(const uint8_t seed[MM_ED25519_SEED_LEN],
				 mm_ed25519_key **ret)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
						   MM_ED25519_SEED_LEN);

	if (k == NULL)
		return crypto_fail("private key import");
	*ret = (mm_ed25519_key *)k;
	return MM_OK;
}

mm_err mm_ed25519_import_public(const uint8_t pub[MM_ED25519_PUBLIC_LEN], mm_ed25519_key **ret)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
						  MM_ED25519_PUBLIC_LEN);

	if (k == NULL) {
		ERR_clear_error();
		return mm_err_set(MM_ERR_INVALID, "not a valid Ed25519 public key");
	}
	*ret = (mm_ed25519_key *)k;
	return MM_OK;
}

mm_err mm_ed25519_export_public(const mm_ed25519_key *k, uint8_t pub[MM_ED25519_PUBLIC_LEN])
{
	size_t n = MM_ED25519_PUBLIC_LEN;

	if (EVP_PKEY_get_raw_public_key(pk(k), pub, &n) != 1 || n != MM_ED25519_PUBLIC_LEN)
		return crypto_fail("public key export");
	return MM_OK;
}

bool mm_ed25519_has_private(const mm_ed25519_key *k)
{
	size_t n = 0;
	bool ok = EVP_PKEY_get_raw_private_key(pk(k), NULL, &n) == 1 && n == MM_ED25519_SEED_LEN;

	ERR_clear_error();
	return ok;
}

mm_err mm_ed25519_export_private(const mm_ed25519_key *k, uint8_t seed[MM_ED25519_SEED_LEN])
{
	size_t n = MM_ED25519_SEED_LEN;

	if (!mm_ed25519_has_private(k))
		return mm_err_set(MM_ERR_INVALID, "the key has no private part");
	if (EVP_PKEY_get_raw_private_key(pk(k), seed, &n) != 1 || n != MM_ED25519_SEED_LEN)
		return crypto_fail("private key export");
	return MM_OK;
}

mm_err mm_ed25519_sign(const mm_ed25519_key *k, const void *msg, size_t n,
		       uint8_t sig[MM_ED25519_SIG_LEN])
{
	EVP_MD_CTX *c = NULL;
	size_t siglen = MM_ED25519_SIG_LEN;
	mm_err rc = MM_OK;

	if (!mm_ed25519_has_private(k))
		return mm_err_set(MM_ERR_INVALID, "the key has no private part");
	if ((c = EVP_MD_CTX_new()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(c, NULL, NULL, NULL, pk(k)) != 1 ||
	    EVP_DigestSign(c, sig, &siglen, msg, n) != 1 || siglen != MM_ED25519_SIG_LEN) {
		rc = crypto_fail("signing");
		goto out;
	}
out:
	EVP_MD_CTX_free(c);
	return rc;
}

mm_err mm_ed25519_verify(const mm_ed25519_key *k, const void *msg, size_t n,
			 const uint8_t sig[MM_ED25519_SIG_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	mm_err rc = MM_OK;
	int v;

	if (c == NULL)
		return MM_ERR_NOMEM;
	if (EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk(k)) != 1) {
		rc = crypto_fail("verify init");
		goto out;
	}
	v = EVP_DigestVerify(c, sig, MM_ED25519_SIG_LEN, msg, n);
	if (v != 1) {
		ERR_clear_error();
		rc = mm_err_set(MM_ERR_VERIFY, "Ed25519 signature does not verify");
	}
out:
	EVP_MD_CTX_free(c);
	return rc;
}

mm_err mm_ed25519_verify_raw(const uint8_t pub[MM_ED25519_PUBLIC_LEN], const void *msg,
			     size_t n, const uint8_t sig[MM_ED25519_SIG_LEN])
{
	mm_ed25519_key *k = NULL;
	mm_err rc;

	if ((rc = mm_ed25519_import_public(pub, &k)) != MM_OK)
		return rc;
	rc = mm_ed25519_verify(k, msg, n, sig);
	mm_ed25519_key_free(k);
	return rc;
}

void mm_ed25519_key_free(mm_ed25519_key *k)
{
	EVP_PKEY_free(pk(k));
}
