/*
 * shamir.c: Shamir secret sharing over GF(2^8) with libgfshare 2.0.
 * See primitives.h.
 *
 * libgfshare takes its randomness from the global gfshare_fill_rand, which is
 * NULL by default (the library crashes if it is used unset) and must never be
 * the random()-based filler the library offers. We install fill_rand (OpenSSL
 * RAND_bytes) once, under pthread_once, before any libgfshare call.
 *
 * Invariants: share coordinates are 1..N, so never 0 (which would be the
 * secret itself) and never repeated; combine refuses repeated or zero
 * coordinates (libgfshare would divide by zero and return garbage); if
 * RAND_bytes fails while coefficients are drawn, the split fails and no share
 * leaves this file. Scratch buffers holding shares are wiped.
 */
#include "crypto/primitives.h"

#include <libgfshare.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "crypto/crypto.h"

#define SHAMIR_MAX_LEN 1024

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Set when RAND_bytes failed inside the filler on this thread. */
static _Thread_local int rand_failed;

static void fill_rand(unsigned char *buf, unsigned int n)
{
	if (n == 0)
		return;
	if (RAND_bytes(buf, (int)n) != 1) {
		/* Scrubbing (gfshare_ctx_free) still gets a wipe; a split
		 * notices the flag and discards its output. */
		OPENSSL_cleanse(buf, n);
		rand_failed = 1;
	}
}

static void install_filler(void)
{
	gfshare_fill_rand = fill_rand;
}

mm_err mm_shamir_split(const uint8_t *secret, size_t len, unsigned shares, unsigned threshold,
		       uint8_t *out)
{
	unsigned char xs[MM_SHAMIR_MAX_SHARES];
	gfshare_ctx *ctx;
	unsigned i;
	mm_err rc = MM_OK;

	if (len == 0 || len > SHAMIR_MAX_LEN)
		return mm_err_set(MM_ERR_INVALID, "secret length must be 1 to %d bytes", SHAMIR_MAX_LEN);
	if (shares < 1 || shares > MM_SHAMIR_MAX_SHARES)
		return mm_err_set(MM_ERR_INVALID, "number of shares must be 1 to %d",
				  MM_SHAMIR_MAX_SHARES);
	if (threshold < 1 || threshold > shares)
		return mm_err_set(MM_ERR_INVALID, "threshold must be 1 to the number of shares");
	if (threshold == 1 && shares > 1)
		return mm_err_set(MM_ERR_INVALID, "threshold must be at least 2 with several shares");
	pthread_once(&once, install_filler);
	for (i = 0; i < shares; i++)
		xs[i] = (unsigned char)(i + 1);
	if ((ctx = gfshare_ctx_init_enc(xs, shares, (unsigned char)threshold, (unsigned)len)) == NULL)
		return mm_err_set(MM_ERR_NOMEM, "cannot allocate secret-sharing context");
	rand_failed = 0;
	/* libgfshare copies the secret; it does not modify it. */
	gfshare_ctx_enc_setsecret(ctx, (unsigned char *)secret);
	if (rand_failed) {
		rc = mm_err_set(MM_ERR_CRYPTO, "random number generator failed");
		goto out;
	}
	for (i = 0; i < shares; i++) {
		uint8_t *s = out + (size_t)i * (len + 1);

		s[0] = xs[i];
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, s + 1);
	}
out:
	gfshare_ctx_free(ctx);
	return rc;
}

mm_err mm_shamir_combine(const uint8_t *const *shares, size_t count, size_t len, uint8_t *secret)
{
	unsigned char xs[MM_SHAMIR_MAX_SHARES];
	uint8_t *y = NULL;
	gfshare_ctx *ctx;
	size_t i, j;

	if (count == 0 || count > MM_SHAMIR_MAX_SHARES)
		return mm_err_set(MM_ERR_INVALID, "need 1 to %d shares", MM_SHAMIR_MAX_SHARES);
	if (len == 0 || len > SHAMIR_MAX_LEN)
		return mm_err_set(MM_ERR_INVALID, "secret length must be 1 to %d bytes", SHAMIR_MAX_LEN);
	for (i = 0; i < count; i++) {
		xs[i] = shares[i][0];
		if (xs[i] == 0)
			return mm_err_set(MM_ERR_INVALID, "share has coordinate 0");
		for (j = 0; j < i; j++)
			if (xs[j] == xs[i])
				return mm_err_set(MM_ERR_INVALID, "two shares have the same coordinate");
	}
	pthread_once(&once, install_filler);
	if ((ctx = gfshare_ctx_init_dec(xs, (unsigned)count, (unsigned)len)) == NULL)
		return mm_err_set(MM_ERR_NOMEM, "cannot allocate secret-sharing context");
	if ((y = OPENSSL_secure_malloc(len)) == NULL) {
		gfshare_ctx_free(ctx);
		return mm_err_set(MM_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < count; i++) {
		/* giveshare takes a non-const pointer; hand it a copy. */
		memcpy(y, shares[i] + 1, len);
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, y);
	}
	gfshare_ctx_dec_extract(ctx, secret);
	OPENSSL_secure_clear_free(y, len);
	gfshare_ctx_free(ctx);
	return MM_OK;
}
