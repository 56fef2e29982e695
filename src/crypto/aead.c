/*
 * aead.c: AES-256-GCM over OpenSSL 3 EVP. See primitives.h.
 *
 * Invariants: the cipher is fetched once (pthread_once) and each thread
 * reuses one EVP_CIPHER_CTX that is reset after every operation, so the key
 * schedule never outlives a call (the provider's free clears it). Tags are
 * always 16 bytes and nonces 12 bytes. On a failed open the output is wiped.
 *
 * Random nonces: 96 random bits per encryption (NIST SP 800-38D 8.2.2; keys
 * are rotated long before 2^32 encryptions). A RAND_bytes call costs about
 * as much as encrypting 1 KiB, so each thread draws nonce bytes from
 * RAND_bytes in blocks of NONCE_POOL bytes and hands out 12 at a time.
 * Nonces are public (they travel in the ciphertext) and only have to be
 * unique; the pool holds nothing secret. Every byte is used once; a fork
 * child discards its copy of the pool (pthread_atfork bumps a generation),
 * so parent and child never share a nonce.
 */
#include "crypto/primitives.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "crypto/crypto.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm;
static pthread_key_t ctx_key;
static int ctx_key_ok;

static void ctx_destroy(void *p)
{
	EVP_CIPHER_CTX_free(p);
}

static void on_fork_child(void);

static void init_once(void)
{
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	ctx_key_ok = pthread_key_create(&ctx_key, ctx_destroy) == 0;
	pthread_atfork(NULL, NULL, on_fork_child);
}

#define NONCE_POOL 480

static unsigned long fork_gen;

static void on_fork_child(void)
{
	fork_gen++;
}

static _Thread_local struct {
	uint8_t bytes[NONCE_POOL];
	size_t used;             /* NONCE_POOL when empty */
	unsigned long gen;
	bool init;
} pool;

/* Writes a fresh 96-bit random nonce. Errors: MM_ERR_CRYPTO. */
static mm_err next_nonce(uint8_t nonce[MM_GCM_NONCE_LEN])
{
	if (!pool.init || pool.gen != fork_gen || pool.used + MM_GCM_NONCE_LEN > NONCE_POOL) {
		if (RAND_bytes(pool.bytes, NONCE_POOL) != 1) {
			pool.used = NONCE_POOL;
			return mm_err_set(MM_ERR_CRYPTO, "random number generator failed");
		}
		pool.used = 0;
		pool.gen = fork_gen;
		pool.init = true;
	}
	memcpy(nonce, pool.bytes + pool.used, MM_GCM_NONCE_LEN);
	/* Each byte is handed out once. */
	memset(pool.bytes + pool.used, 0, MM_GCM_NONCE_LEN);
	pool.used += MM_GCM_NONCE_LEN;
	return MM_OK;
}

/* The calling thread's context, created on first use; NULL on failure. */
static EVP_CIPHER_CTX *thread_ctx(void)
{
	EVP_CIPHER_CTX *c;

	pthread_once(&once, init_once);
	if (gcm == NULL || !ctx_key_ok)
		return NULL;
	c = pthread_getspecific(ctx_key);
	if (c == NULL) {
		if ((c = EVP_CIPHER_CTX_new()) == NULL)
			return NULL;
		if (pthread_setspecific(ctx_key, c) != 0) {
			EVP_CIPHER_CTX_free(c);
			return NULL;
		}
	}
	return c;
}

mm_err mm_aead_seal(const uint8_t key[MM_AES256_KEY_LEN], const uint8_t nonce[MM_GCM_NONCE_LEN],
		    const void *aad, size_t aad_len, const uint8_t *pt, size_t n, uint8_t *ct,
		    uint8_t tag[MM_GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *c;
	int len = 0, fin = 0;
	mm_err rc = MM_OK;

	if (n > INT_MAX || aad_len > INT_MAX)
		return mm_err_set(MM_ERR_LIMIT, "AES-GCM input too long");
	if ((c = thread_ctx()) == NULL)
		return mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM unavailable");
	if (EVP_EncryptInit_ex2(c, gcm, key, nonce, NULL) != 1 ||
	    (aad_len > 0 && EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, ct + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, MM_GCM_TAG_LEN, tag) != 1)
		rc = mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM encryption failed");
	EVP_CIPHER_CTX_reset(c);
	return rc;
}

mm_err mm_aead_seal_random(const uint8_t key[MM_AES256_KEY_LEN], const void *aad,
			   size_t aad_len, const uint8_t *pt, size_t n, uint8_t *out)
{
	mm_err rc;

	pthread_once(&once, init_once);
	if ((rc = next_nonce(out)) != MM_OK)
		return rc;
	return mm_aead_seal(key, out, aad, aad_len, pt, n, out + MM_GCM_NONCE_LEN,
			    out + MM_GCM_NONCE_LEN + n);
}

mm_err mm_aead_open(const uint8_t key[MM_AES256_KEY_LEN], const uint8_t nonce[MM_GCM_NONCE_LEN],
		    const void *aad, size_t aad_len, const uint8_t *ct, size_t n,
		    const uint8_t tag[MM_GCM_TAG_LEN], uint8_t *pt)
{
	EVP_CIPHER_CTX *c;
	uint8_t t[MM_GCM_TAG_LEN];
	int len = 0, fin = 0;
	mm_err rc = MM_OK;

	if (n > INT_MAX || aad_len > INT_MAX)
		return mm_err_set(MM_ERR_LIMIT, "AES-GCM input too long");
	if ((c = thread_ctx()) == NULL)
		return mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM unavailable");
	/* The tag is copied first: pt may alias ct, and tag may follow ct. */
	memcpy(t, tag, sizeof(t));
	if (EVP_DecryptInit_ex2(c, gcm, key, nonce, NULL) != 1 ||
	    (aad_len > 0 && EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_DecryptUpdate(c, pt, &len, ct, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, MM_GCM_TAG_LEN, t) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "AES-256-GCM decryption failed");
		goto out;
	}
	if (EVP_DecryptFinal_ex(c, pt + len, &fin) != 1)
		rc = mm_err_set(MM_ERR_VERIFY, "ciphertext failed authentication");
out:
	if (rc != MM_OK)
		mm_crypto_wipe(pt, n);
	EVP_CIPHER_CTX_reset(c);
	return rc;
}

mm_err mm_aead_open_packed(const uint8_t key[MM_AES256_KEY_LEN], const void *aad,
			   size_t aad_len, const uint8_t *in, size_t len, uint8_t *pt)
{
	size_t n;

	if (len < MM_AEAD_OVERHEAD)
		return mm_err_set(MM_ERR_INVALID, "ciphertext too short");
	n = len - MM_AEAD_OVERHEAD;
	return mm_aead_open(key, in, aad, aad_len, in + MM_GCM_NONCE_LEN, n,
			    in + MM_GCM_NONCE_LEN + n, pt);
}
