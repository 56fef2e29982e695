/*
 * mem.h: memory helpers that core may use without OpenSSL.
 * mm_wipe is a non-elidable wipe (explicit_bzero); src/crypto code uses
 * OPENSSL_cleanse, which gives the same guarantee.
 * mm_ct_equal compares in time that depends only on n, never on the data.
 */
#ifndef MM_CORE_MEM_H
#define MM_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>

void mm_wipe(void *p, size_t n);
bool mm_ct_equal(const void *a, const void *b, size_t n);
/* Frees a NUL-terminated secret after wiping it; NULL is allowed. */
void mm_free_secret(char *s);

#endif
