/*
 * envelope.c: "mamori:v<version>:<base64>" parsing and formatting, and the
 * AES-256-GCM envelope of one key version. See envelope.h.
 * Invariant: parsing is a single bounded left-to-right pass over n bytes.
 */
#include "keys/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"

mm_err mm_envelope_parse(const char *s, size_t n, int64_t *ret_version, mm_buf *payload)
{
	static const size_t plen = sizeof(MM_ENVELOPE_PREFIX) - 1;
	int64_t v = 0;
	size_t i;

	if (n < plen || memcmp(s, MM_ENVELOPE_PREFIX, plen) != 0)
		return mm_err_set(MM_ERR_INVALID, "value must start with \"" MM_ENVELOPE_PREFIX "\"");
	i = plen;
	if (i >= n || s[i] < '1' || s[i] > '9')
		return mm_err_set(MM_ERR_INVALID, "invalid version in value");
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > MM_ENVELOPE_MAX_VERSION)
			return mm_err_set(MM_ERR_INVALID, "version out of range");
	}
	if (i >= n || s[i] != ':')
		return mm_err_set(MM_ERR_INVALID, "expected ':' after the version");
	i++;
	if (mm_base64_decode(payload, s + i, n - i) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "value is not valid base64");
	*ret_version = v;
	return MM_OK;
}

mm_err mm_envelope_format(int64_t version, const uint8_t *p, size_t n, mm_buf *out)
{
	size_t mark = out->len;
	mm_err rc;

	if (version < 1 || version > MM_ENVELOPE_MAX_VERSION)
		return mm_err_set(MM_ERR_INVALID, "version out of range");
	{
		/* "mamori:v" digits ":" without printf: this is on every operation's path. */
		char head[sizeof(MM_ENVELOPE_PREFIX) + 12], digits[12];
		size_t plen = sizeof(MM_ENVELOPE_PREFIX) - 1, nd = 0;

		memcpy(head, MM_ENVELOPE_PREFIX, plen);
		for (int64_t v = version; v > 0; v /= 10)
			digits[nd++] = (char)('0' + v % 10);
		while (nd > 0)
			head[plen++] = digits[--nd];
		head[plen++] = ':';
		rc = mm_buf_append(out, head, plen);
	}
	if (rc == MM_OK)
		rc = mm_base64_encode(out, p, n);
	if (rc != MM_OK && out->data != NULL) {
		out->len = mark;
		out->data[mark] = '\0';
	}
	return rc;
}

mm_err mm_envelope_seal(const uint8_t key[32], int64_t version, const void *ctx, size_t ctx_len,
			const void *pt, size_t n, mm_buf *out)
{
	uint8_t stackbuf[4096 + MM_AEAD_OVERHEAD], *raw = stackbuf;
	size_t rawlen = n + MM_AEAD_OVERHEAD;
	mm_err rc;

	if (n > SIZE_MAX - MM_AEAD_OVERHEAD)
		return mm_err_set(MM_ERR_LIMIT, "input too long");
	if (rawlen > sizeof(stackbuf) && (raw = malloc(rawlen)) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_aead_seal_random(key, ctx, ctx_len, pt, n, raw)) == MM_OK)
		rc = mm_envelope_format(version, raw, rawlen, out);
	/* raw holds only nonce, ciphertext and tag: nothing secret to wipe. */
	if (raw != stackbuf)
		free(raw);
	return rc;
}

mm_err mm_envelope_open(const uint8_t key[32], const void *ctx, size_t ctx_len,
			const uint8_t *payload, size_t n, mm_buf *out)
{
	size_t m;
	mm_err rc;

	if (n < MM_AEAD_OVERHEAD)
		return mm_err_set(MM_ERR_INVALID, "ciphertext too short");
	m = n - MM_AEAD_OVERHEAD;
	if ((rc = mm_buf_grow(out, m)) != MM_OK)
		return rc;
	rc = mm_aead_open_packed(key, ctx, ctx_len, payload, n, (uint8_t *)out->data + out->len);
	if (rc != MM_OK)
		return rc;
	out->len += m;
	out->data[out->len] = '\0';
	return MM_OK;
}
