/* str.c: bounded string helpers; see str.h. */
#include "core/str.h"

#include <string.h>

mm_err mm_str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (cap == 0)
		return MM_ERR_LIMIT;
	if (n >= cap) {
		memcpy(dst, src, cap - 1);
		dst[cap - 1] = '\0';
		return MM_ERR_LIMIT;
	}
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return MM_OK;
}

bool mm_str_list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	if (n == 0)
		return false;
	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && memcmp(p, item, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}
