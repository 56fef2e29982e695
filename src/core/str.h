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
/* True when the comma-separated list contains item exactly (a role list,
 * say); an empty item is never contained. */
bool mm_str_list_has(const char *list, const char *item);

#endif
