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

bool mm_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool mm_str_present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int mm_str_split(const char *s, char sep, char *buf, size_t bufcap, char **pieces, int max)
{
	int n = 0;
	char *p;

	if (mm_str_copy(buf, bufcap, s) != MM_OK || max <= 0)
		return -1;
	p = buf;
	for (;;) {
		char *e = strchr(p, sep);

		if (n == max)
			return -1;
		pieces[n++] = p;
		if (e == NULL)
			break;
		*e = '\0';
		p = e + 1;
	}
	return n;
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
