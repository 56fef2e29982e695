/*
 * mem.h: memory helpers that core may use without OpenSSL.
 * mm_wipe is a non-elidable wipe (explicit_bzero); src/crypto code uses
 * OPENSSL_cleanse, which gives the same guarantee. Constant-time comparison
 * of secrets is mm_crypto_equal (src/crypto, CRYPTO_memcmp).
 */
#ifndef MM_CORE_MEM_H
#define MM_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>

void mm_wipe(void *p, size_t n);
/* Frees a NUL-terminated secret after wiping it; NULL is allowed. */
void mm_free_secret(char *s);
/* Grows an array of elem-byte elements that holds *cap of them: reallocates
 * p to twice *cap (first when *cap is 0) and updates *cap. Returns the new
 * array, or NULL (p and *cap unchanged, p still owned by the caller) when out
 * of memory. */
void *mm_grow(void *p, size_t *cap, size_t first, size_t elem);

#endif
