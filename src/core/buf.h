/*
 * buf.h: bounded, growable byte buffers (after git's strbuf).
 *
 * Invariants: data is NULL or points to cap bytes; len < cap whenever data is
 * non-NULL, and data[len] == '\0', so a buffer of text is always a C string.
 * len never exceeds max: an append that would is refused with MM_ERR_LIMIT
 * and leaves the buffer unchanged. Every buffer that outside input can grow
 * must be created with a finite max.
 *
 * Lifecycle: mm_buf_init() before use, mm_buf_release() to free the memory
 * (the buffer may be reused after a new init), mm_buf_wipe_release() for
 * buffers that held secrets. mm_buf_detach() hands the memory to the caller.
 */
#ifndef MM_CORE_BUF_H
#define MM_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MM_BUF_UNLIMITED SIZE_MAX

typedef struct mm_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
} mm_buf;

#define MM_BUF_INIT(limit) { NULL, 0, 0, (limit) }

void mm_buf_init(mm_buf *b, size_t max);
void mm_buf_release(mm_buf *b);
/* Wipes the whole allocation with a non-elidable wipe, then releases. */
void mm_buf_wipe_release(mm_buf *b);
/* Sets len to 0 and keeps the memory. */
void mm_buf_reset(mm_buf *b);
/* Ensures room for extra more bytes (plus the terminator).
 * Errors: MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_buf_grow(mm_buf *b, size_t extra);
mm_err mm_buf_append(mm_buf *b, const void *p, size_t n);
mm_err mm_buf_appends(mm_buf *b, const char *s);
mm_err mm_buf_appendc(mm_buf *b, char c);
mm_err mm_buf_appendf(mm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
mm_err mm_buf_appendvf(mm_buf *b, const char *fmt, va_list ap);
/* Appends s with JSON string escaping (without the surrounding quotes). */
mm_err mm_buf_append_json_escaped(mm_buf *b, const char *s, size_t n);
/* Appends lowercase hex of n bytes. */
mm_err mm_buf_append_hex(mm_buf *b, const uint8_t *p, size_t n);
/* Returns the data (never NULL: an empty buffer gives a fresh "") and
 * reinitialises b with the same limit; the caller frees the result.
 * Returns NULL only when out of memory. */
char *mm_buf_detach(mm_buf *b, size_t *ret_len);
/* A C string view: "" for an empty buffer, never NULL. */
const char *mm_buf_str(const mm_buf *b);

#endif
