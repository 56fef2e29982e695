/* mem.c: wiping and constant-time comparison; see mem.h. */
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

void mm_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

bool mm_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void *mm_grow(void *p, size_t *cap, size_t first, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : first;
	void *v = realloc(p, ncap * elem);

	if (v != NULL)
		*cap = ncap;
	return v;
}

void mm_free_secret(char *s)
{
	if (s != NULL) {
		mm_wipe(s, strlen(s));
		free(s);
	}
}
