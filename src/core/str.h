/*
 * str.h: bounded C-string helpers (curl's rule: no strcpy/strcat/sprintf;
 * every copy names its destination size).
 */
#ifndef MM_CORE_STR_H
#define MM_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* Copies src into dst of cap bytes, always NUL-terminated. Returns MM_OK, or
 * MM_ERR_LIMIT when src did not fit (dst then holds the truncated prefix). */
mm_err mm_str_copy(char *dst, size_t cap, const char *src);
bool mm_str_has_prefix(const char *s, const char *prefix);
/* True when s is non-NULL and non-empty. */
bool mm_str_present(const char *s);
/* Splits s at sep into at most max pieces written as pointers into buf (a
 * copy of s of bufcap bytes). Returns the number of pieces, or -1 when s
 * does not fit in buf or has more than max pieces. Empty pieces are kept. */
int mm_str_split(const char *s, char sep, char *buf, size_t bufcap, char **pieces, int max);
/* True when the comma-separated list contains item exactly. */
bool mm_str_list_has(const char *list, const char *item);

#endif
