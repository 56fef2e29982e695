/* aesgcm.c: AES-256-GCM over OpenSSL 3 EVP; see aesgcm.h. */
#include "crypto/aesgcm.h"

#include <limits.h>
#include <openssl/evp.h>
#include <string.h>

#include "crypto/crypto.h"

#define NONCE 12
#define TAG 16

mm_err mm_aesgcm_seal(const uint8_t key[MM_AESGCM_KEY_LEN], const void *aad, size_t aad_len,
		      const uint8_t *pt, size_t n, mm_buf *out)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t *dst;
	size_t mark = out->len;
	int len = 0;
	mm_err rc = MM_OK;

	if (n > INT_MAX - 64 || aad_len > INT_MAX)
		return mm_err_set(MM_ERR_LIMIT, "message too large to seal");
	if ((rc = mm_buf_grow(out, n + NONCE + TAG)) != MM_OK)
		return rc;
	dst = (uint8_t *)out->data + out->len;
	if ((rc = mm_crypto_random(dst, NONCE)) != MM_OK)
		return rc;
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, dst) != 1 ||
	    (aad_len > 0 && EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_EncryptUpdate(c, dst + NONCE, &len, pt, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, dst + NONCE + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, dst + NONCE + n) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM encryption failed");
		goto out;
	}
	out->len = mark + NONCE + n + TAG;
	out->data[out->len] = '\0';
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

mm_err mm_aesgcm_open(const uint8_t key[MM_AESGCM_KEY_LEN], const void *aad, size_t aad_len,
		      const uint8_t *in, size_t n, mm_buf *out)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t tag[TAG];
	uint8_t *dst;
	size_t ptlen;
	int len = 0, ok;
	mm_err rc = MM_OK;

	if (n < NONCE + TAG)
		return mm_err_set(MM_ERR_INVALID, "sealed blob too short");
	if (n > INT_MAX || aad_len > INT_MAX)
		return mm_err_set(MM_ERR_LIMIT, "sealed blob too large");
	ptlen = n - NONCE - TAG;
	if ((rc = mm_buf_grow(out, ptlen)) != MM_OK)
		return rc;
	dst = (uint8_t *)out->data + out->len;
	memcpy(tag, in + n - TAG, TAG);
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE, NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key, in) != 1 ||
	    (aad_len > 0 && EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_DecryptUpdate(c, dst, &len, in + NONCE, (int)ptlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag) != 1) {
		mm_crypto_wipe(dst, ptlen);
		rc = mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM decryption failed");
		goto out;
	}
	ok = EVP_DecryptFinal_ex(c, dst + len, &len);
	if (ok != 1) {
		mm_crypto_wipe(dst, ptlen);
		rc = mm_err_set(MM_ERR_VERIFY, "sealed data failed authentication");
		goto out;
	}
	out->len += ptlen;
	out->data[out->len] = '\0';
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}
