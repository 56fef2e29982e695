/*
 * buf.c: bounded growable buffers. See buf.h for the invariants.
 * Growth doubles capacity (amortised O(1) appends) but never past max + 1.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void mm_buf_init(mm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void mm_buf_release(mm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void mm_buf_wipe_release(mm_buf *b)
{
	if (b->data != NULL)
		mm_wipe(b->data, b->cap);
	mm_buf_release(b);
}

void mm_buf_reset(mm_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

mm_err mm_buf_grow(mm_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return mm_err_set(MM_ERR_LIMIT, "buffer limit of %zu bytes exceeded", b->max);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return MM_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (b->max != MM_BUF_UNLIMITED && ncap > b->max + 1)
		ncap = b->max + 1;
	if (ncap < need)
		ncap = need;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return MM_ERR_NOMEM;
	b->data = p;
	b->cap = ncap;
	return MM_OK;
}

mm_err mm_buf_append(mm_buf *b, const void *p, size_t n)
{
	mm_err rc;

	if ((rc = mm_buf_grow(b, n)) != MM_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MM_OK;
}

mm_err mm_buf_appends(mm_buf *b, const char *s)
{
	return mm_buf_append(b, s, strlen(s));
}

mm_err mm_buf_appendc(mm_buf *b, char c)
{
	return mm_buf_append(b, &c, 1);
}

mm_err mm_buf_appendvf(mm_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	mm_err rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return mm_err_set(MM_ERR_INTERNAL, "bad format");
	if ((rc = mm_buf_grow(b, (size_t)n)) != MM_OK)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return MM_OK;
}

mm_err mm_buf_appendf(mm_buf *b, const char *fmt, ...)
{
	va_list ap;
	mm_err rc;

	va_start(ap, fmt);
	rc = mm_buf_appendvf(b, fmt, ap);
	va_end(ap);
	return rc;
}

mm_err mm_buf_append_json_escaped(mm_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	mm_err rc = MM_OK;
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((rc = mm_buf_append(b, s + start, i - start)) != MM_OK)
			return rc;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
			elen = 6;
		}
		if ((rc = mm_buf_append(b, esc, elen)) != MM_OK)
			return rc;
		start = i + 1;
	}
	return mm_buf_append(b, s + start, n - start);
}

mm_err mm_buf_append_hex(mm_buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	mm_err rc;
	size_t i;

	if (n > SIZE_MAX / 2)
		return MM_ERR_LIMIT;
	if ((rc = mm_buf_grow(b, n * 2)) != MM_OK)
		return rc;
	for (i = 0; i < n; i++) {
		b->data[b->len++] = hex[p[i] >> 4];
		b->data[b->len++] = hex[p[i] & 15];
	}
	b->data[b->len] = '\0';
	return MM_OK;
}

char *mm_buf_detach(mm_buf *b, size_t *ret_len)
{
	char *p = b->data;
	size_t len = b->len;

	if (p == NULL) {
		p = strdup("");
		if (p == NULL)
			return NULL;
	}
	mm_buf_init(b, b->max);
	if (ret_len != NULL)
		*ret_len = len;
	return p;
}

const char *mm_buf_str(const mm_buf *b)
{
	return b->data != NULL ? b->data : "";
}
