/*
 * hmac.c: HMAC-SHA256 (RFC 2104, FIPS 198-1) over OpenSSL 3. See primitives.h.
 * Invariant: MACs are compared only with CRYPTO_memcmp (mm_crypto_equal), and
 * the recomputed MAC is wiped after comparison.
 */
#include "crypto/primitives.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/crypto.h"

mm_err mm_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t n,
		      uint8_t mac[MM_HMAC_SHA256_LEN])
{
	static const uint8_t empty = 0;
	unsigned int len = 0;

	if (key_len > INT32_MAX)
		return mm_err_set(MM_ERR_LIMIT, "HMAC key too long");
	/* OpenSSL rejects a NULL pointer even with length 0. */
	if (HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len,
		 n ? msg : &empty, n, mac, &len) == NULL || len != MM_HMAC_SHA256_LEN)
		return mm_err_set(MM_ERR_CRYPTO, "HMAC-SHA256 failed");
	return MM_OK;
}

mm_err mm_hmac_sha256_verify(const uint8_t *key, size_t key_len, const void *msg, size_t n,
			     const uint8_t *mac, size_t mac_len)
{
	uint8_t want[MM_HMAC_SHA256_LEN];
	mm_err rc;

	if (mac_len < 16 || mac_len > MM_HMAC_SHA256_LEN)
		return mm_err_set(MM_ERR_INVALID, "HMAC length must be 16 to 32 bytes");
	if ((rc = mm_hmac_sha256(key, key_len, msg, n, want)) != MM_OK)
		goto out;
	if (!mm_crypto_equal(want, mac, mac_len))
		rc = mm_err_set(MM_ERR_VERIFY, "HMAC does not match");
out:
	mm_crypto_wipe(want, sizeof(want));
	return rc;
}
