/*
 * note.c: C2SP signed notes with Ed25519 and tlog-checkpoint texts (see
 * note.h). Parsing is strict: anything the specifications do not allow is
 * MM_ERR_INVALID, and a signature by a known key that fails rejects the
 * whole note (as the specification requires).
 */
#include "audit/note.h"
#include "audit/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/sign.h"

static const char em_dash[] = "\xe2\x80\x94 ";

/* See internal.h. */
bool mm_audit_utf8_ok(const char *s, size_t n, bool newline_ok, bool c1_ok)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && !(newline_ok && c == '\n')) || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t j = 1; j < len; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (!c1_ok && cp >= 0x80 && cp <= 0x9f))
			return false;
		i += len;
	}
	return true;
}

/* Strict UTF-8 check of n bytes; control characters other than \n
 * rejected. */
static bool note_chars_ok(const char *s, size_t n)
{
	return mm_audit_utf8_ok(s, n, true, true);
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MM_NOTE_MAX_NAME || !note_chars_ok(name, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == ' ' || name[i] == '\n' || name[i] == '+')
			return false;
	return true;
}

mm_err mm_audit_note_key_init(mm_audit_note_key *k, const char *name, const uint8_t pub[32])
{
	uint8_t buf[MM_NOTE_MAX_NAME + 2 + 32];
	uint8_t h[MM_SHA256_LEN];
	size_t n;

	if (name == NULL || !name_ok(name))
		return mm_err_set(MM_ERR_INVALID, "key name must be 1..%d printable characters "
				  "without spaces or '+'", MM_NOTE_MAX_NAME);
	n = strlen(name);
	memcpy(k->name, name, n + 1);
	memcpy(k->pub, pub, 32);
	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = 0x01;
	memcpy(buf + n + 2, pub, 32);
	mm_sha256(buf, n + 2 + 32, h);
	memcpy(k->id, h, 4);
	return MM_OK;
}

mm_err mm_audit_note_vkey(const mm_audit_note_key *k, mm_buf *out)
{
	uint8_t raw[33];
	mm_err rc;

	raw[0] = 0x01;
	memcpy(raw + 1, k->pub, 32);
	if ((rc = mm_buf_appends(out, k->name)) != MM_OK || (rc = mm_buf_appendc(out, '+')) != MM_OK ||
	    (rc = mm_buf_append_hex(out, k->id, 4)) != MM_OK ||
	    (rc = mm_buf_appendc(out, '+')) != MM_OK)
		return rc;
	return mm_base64_encode(out, raw, sizeof(raw));
}

mm_err mm_audit_note_vkey_parse(const char *vkey, mm_audit_note_key *ret)
{
	char name[MM_NOTE_MAX_NAME + 1];
	const char *p1 = strchr(vkey, '+'), *p2;
	uint8_t id[4];
	char idhex[9];
	mm_buf raw = MM_BUF_INIT(64);
	mm_audit_note_key k;
	mm_err rc;

	if (p1 == NULL || (size_t)(p1 - vkey) > MM_NOTE_MAX_NAME || (p2 = strchr(p1 + 1, '+')) == NULL ||
	    p2 - p1 - 1 != 8) {
		rc = mm_err_set(MM_ERR_INVALID, "verifier key: expected name+keyid+key");
		goto out;
	}
	memcpy(name, vkey, (size_t)(p1 - vkey));
	name[p1 - vkey] = '\0';
	memcpy(idhex, p1 + 1, 8);
	idhex[8] = '\0';
	if (mm_hex_decode(idhex, id, 4) != MM_OK ||
	    mm_base64_decode(&raw, p2 + 1, strlen(p2 + 1)) != MM_OK || raw.len != 33 ||
	    (uint8_t)raw.data[0] != 0x01) {
		rc = mm_err_set(MM_ERR_INVALID, "verifier key: not an Ed25519 key");
		goto out;
	}
	if ((rc = mm_audit_note_key_init(&k, name, (const uint8_t *)raw.data + 1)) != MM_OK)
		goto out;
	if (memcmp(k.id, id, 4) != 0) {
		rc = mm_err_set(MM_ERR_INVALID, "verifier key: key ID does not match the key");
		goto out;
	}
	*ret = k;
out:
	mm_buf_release(&raw);
	return rc;
}

static bool text_ok(const char *text, size_t len)
{
	if (len == 0 || len > MM_NOTE_MAX_LEN || text[len - 1] != '\n')
		return false;
	if (memmem(text, len, "\n\n", 2) != NULL || text[0] == '\n')
		return false;
	return note_chars_ok(text, len);
}

mm_err mm_audit_note_sign(const char *text, size_t len, const mm_audit_note_key *k,
			  mm_audit_note_sign_fn sign, void *ctx, mm_buf *out)
{
	uint8_t blob[4 + 64];
	mm_err rc;

	if (!text_ok(text, len))
		return mm_err_set(MM_ERR_INVALID, "note text must be UTF-8 lines ending in a newline");
	memcpy(blob, k->id, 4);
	if ((rc = sign(ctx, (const uint8_t *)text, len, blob + 4)) != MM_OK)
		return rc;
	if ((rc = mm_buf_append(out, text, len)) != MM_OK || (rc = mm_buf_appendc(out, '\n')) != MM_OK ||
	    (rc = mm_buf_appends(out, em_dash)) != MM_OK || (rc = mm_buf_appends(out, k->name)) != MM_OK ||
	    (rc = mm_buf_appendc(out, ' ')) != MM_OK ||
	    (rc = mm_base64_encode(out, blob, sizeof(blob))) != MM_OK)
		return rc;
	return mm_buf_appendc(out, '\n');
}

mm_err mm_audit_note_verify(const char *note, size_t len, const mm_audit_note_key *keys,
			    size_t nkeys, size_t *ret_text_len, size_t *ret_key)
{
	const char *sep = NULL, *p, *end = note + len;
	mm_buf blob = MM_BUF_INIT(256);
	size_t textlen, lines = 0, signer = SIZE_MAX;
	mm_err rc = MM_OK;

	if (len == 0 || len > MM_NOTE_MAX_LEN || note[len - 1] != '\n' || !note_chars_ok(note, len))
		return mm_err_set(MM_ERR_INVALID, "malformed signed note");
	for (p = note; p + 1 < end; p++)
		if (p[0] == '\n' && p[1] == '\n')
			sep = p;
	if (sep == NULL)
		return mm_err_set(MM_ERR_INVALID, "malformed signed note: no signatures");
	textlen = (size_t)(sep - note) + 1;
	for (p = sep + 2; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		size_t namelen;

		if (++lines > 100) {
			rc = mm_err_set(MM_ERR_INVALID, "malformed signed note: too many signatures");
			goto out;
		}
		if ((size_t)(nl - p) < sizeof(em_dash) - 1 ||
		    memcmp(p, em_dash, sizeof(em_dash) - 1) != 0) {
			rc = mm_err_set(MM_ERR_INVALID, "malformed signed note: bad signature line");
			goto out;
		}
		p += sizeof(em_dash) - 1;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL || sp == p) {
			rc = mm_err_set(MM_ERR_INVALID, "malformed signed note: bad signature line");
			goto out;
		}
		namelen = (size_t)(sp - p);
		mm_buf_reset(&blob);
		if (mm_base64_decode(&blob, sp + 1, (size_t)(nl - sp - 1)) != MM_OK || blob.len < 5) {
			rc = mm_err_set(MM_ERR_INVALID, "malformed signed note: bad signature encoding");
			goto out;
		}
		for (size_t i = 0; i < nkeys; i++) {
			const mm_audit_note_key *k = &keys[i];

			if (strlen(k->name) != namelen || memcmp(k->name, p, namelen) != 0 ||
			    memcmp(k->id, blob.data, 4) != 0)
				continue;
			if (blob.len != 4 + 64 ||
			    mm_ed25519_verify_raw(k->pub, note, textlen,
						  (const uint8_t *)blob.data + 4) != MM_OK) {
				rc = mm_err_set(MM_ERR_VERIFY, "the signature by '%s' does not verify",
						k->name);
				goto out;
			}
			if (signer == SIZE_MAX)
				signer = i;
			break;
		}
		p = nl + 1;
	}
	if (signer == SIZE_MAX) {
		rc = mm_err_set(MM_ERR_VERIFY, "the note is not signed by a known key");
		goto out;
	}
	*ret_text_len = textlen;
	if (ret_key != NULL)
		*ret_key = signer;
out:
	mm_buf_release(&blob);
	return rc;
}

mm_err mm_audit_checkpoint_text(const char *origin, int64_t size, const uint8_t root[32],
				mm_buf *out)
{
	mm_err rc;

	if (origin == NULL || origin[0] == '\0' || strchr(origin, '\n') != NULL ||
	    !note_chars_ok(origin, strlen(origin)) || size < 0)
		return mm_err_set(MM_ERR_INVALID, "checkpoint origin must be one non-empty line");
	if ((rc = mm_buf_appendf(out, "%s\n%" PRId64 "\n", origin, size)) != MM_OK ||
	    (rc = mm_base64_encode(out, root, 32)) != MM_OK)
		return rc;
	return mm_buf_appendc(out, '\n');
}

mm_err mm_audit_checkpoint_parse(const char *text, size_t len, char *origin, size_t origin_cap,
				 int64_t *ret_size, uint8_t root[32])
{
	const char *end = text + len, *l1, *l2, *l3;
	char num[24];
	mm_buf raw = MM_BUF_INIT(64);
	int64_t size = 0;
	mm_err rc = MM_OK;

	if ((l1 = memchr(text, '\n', len)) == NULL || l1 == text ||
	    (l2 = memchr(l1 + 1, '\n', (size_t)(end - l1 - 1))) == NULL ||
	    (l3 = memchr(l2 + 1, '\n', (size_t)(end - l2 - 1))) == NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "checkpoint: expected origin, size and root lines");
		goto out;
	}
	if ((size_t)(l1 - text) >= origin_cap) {
		rc = mm_err_set(MM_ERR_INVALID, "checkpoint: origin too long");
		goto out;
	}
	if (l2 - l1 - 1 < 1 || l2 - l1 - 1 > 19 || (l1[1] == '0' && l2 - l1 - 1 > 1)) {
		rc = mm_err_set(MM_ERR_INVALID, "checkpoint: bad tree size");
		goto out;
	}
	memcpy(num, l1 + 1, (size_t)(l2 - l1 - 1));
	num[l2 - l1 - 1] = '\0';
	for (const char *c = num; *c; c++) {
		if (*c < '0' || *c > '9') {
			rc = mm_err_set(MM_ERR_INVALID, "checkpoint: bad tree size");
			goto out;
		}
	}
	errno = 0;
	size = (int64_t)strtoll(num, NULL, 10);
	if (errno != 0 || size < 0) {
		rc = mm_err_set(MM_ERR_INVALID, "checkpoint: bad tree size");
		goto out;
	}
	if (mm_base64_decode(&raw, l2 + 1, (size_t)(l3 - l2 - 1)) != MM_OK || raw.len != 32) {
		rc = mm_err_set(MM_ERR_INVALID, "checkpoint: bad root hash");
		goto out;
	}
	memcpy(origin, text, (size_t)(l1 - text));
	origin[l1 - text] = '\0';
	*ret_size = size;
	memcpy(root, raw.data, 32);
out:
	mm_buf_release(&raw);
	return rc;
}
