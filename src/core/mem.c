/* mem.c: wiping and growing arrays; see mem.h. */
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

void mm_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
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
