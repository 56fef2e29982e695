/*
 * secmem.c: memory for key material on OpenSSL's secure heap. See primitives.h.
 *
 * The secure heap is one mmap'ed arena with guard pages that OpenSSL mlock()s
 * and marks MADV_DONTDUMP, so material there is never swapped out nor written
 * to a core file. When the heap does not exist or is full, allocations fall
 * back to the ordinary heap (still wiped on free); mm_secmem_is_secure tells
 * which, for status reporting.
 */
#include "crypto/primitives.h"

#include <openssl/crypto.h>
#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int init_result = -1; /* -1 not tried, 0 failed, 1 locked, 2 unlocked */

mm_err mm_secmem_init(size_t size, bool *ret_locked)
{
	mm_err rc = MM_OK;

	if (size < 4096 || (size & (size - 1)) != 0)
		return mm_err_set(MM_ERR_INVALID, "secure heap size must be a power of two >= 4096");
	pthread_mutex_lock(&lock);
	if (init_result < 0)
		init_result = CRYPTO_secure_malloc_init(size, 16);
	if (init_result == 0)
		rc = mm_err_set(MM_ERR_NOMEM, "cannot create the secure heap");
	else if (ret_locked != NULL)
		*ret_locked = init_result == 1;
	pthread_mutex_unlock(&lock);
	return rc;
}

void *mm_secmem_alloc(size_t n)
{
	void *p = NULL;

	if (CRYPTO_secure_malloc_initialized())
		p = OPENSSL_secure_zalloc(n);
	if (p == NULL)
		p = OPENSSL_zalloc(n);
	return p;
}

void mm_secmem_free(void *p, size_t n)
{
	/* Handles both heaps: memory outside the secure heap is cleansed and
	 * given back with OPENSSL_free. */
	if (p != NULL)
		OPENSSL_secure_clear_free(p, n);
}

bool mm_secmem_is_secure(const void *p)
{
	return p != NULL && CRYPTO_secure_allocated(p);
}
