/*
 * note.h: C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, and
 * the C2SP tlog-checkpoint body they carry (https://c2sp.org/tlog-checkpoint).
 *
 * A signed note is a text (UTF-8, ending in a newline, no other control
 * characters, no blank line), then a blank line, then signature lines
 * "— <key name> <base64(key ID || signature)>\n". For Ed25519 the key ID is
 * the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key) and
 * the signature covers the text including its final newline.
 *
 * A checkpoint text is "<origin>\n<tree size, decimal>\n<base64 root>\n"
 * optionally followed by extension lines.
 */
#ifndef MM_AUDIT_NOTE_H
#define MM_AUDIT_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_NOTE_MAX_NAME 255
#define MM_NOTE_MAX_LEN 65536

typedef struct mm_audit_note_key {
	char name[MM_NOTE_MAX_NAME + 1];
	uint8_t pub[32];
	uint8_t id[4];
} mm_audit_note_key;

/* Fills k from a key name (non-empty, no whitespace, no '+', printable
 * UTF-8) and an Ed25519 public key; computes the key ID.
 * Errors: MM_ERR_INVALID. */
mm_err mm_audit_note_key_init(mm_audit_note_key *k, const char *name, const uint8_t pub[32]);

/* Appends the verifier key "<name>+<hex key ID>+<base64(0x01 || pub)>".
 * Errors: MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_audit_note_vkey(const mm_audit_note_key *k, mm_buf *out);
/* Parses a verifier key. Errors: MM_ERR_INVALID (syntax, algorithm other
 * than Ed25519, key ID that does not match). */
mm_err mm_audit_note_vkey_parse(const char *vkey, mm_audit_note_key *ret);

typedef mm_err (*mm_audit_note_sign_fn)(void *ctx, const uint8_t *msg, size_t len,
					uint8_t sig[64]);

/* Appends text, the blank line and one signature line by k (signing with
 * sign(ctx, ...)). Errors: MM_ERR_INVALID (text is not a valid note text),
 * the signer's errors, MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_audit_note_sign(const char *text, size_t len, const mm_audit_note_key *k,
			  mm_audit_note_sign_fn sign, void *ctx, mm_buf *out);

/* Verifies a signed note of len bytes against the known keys: every
 * signature line by a known key (same name and key ID) must verify and at
 * least one must exist; lines by unknown keys are ignored. On success
 * *ret_text_len is the length of the signed text and *ret_key (may be
 * NULL) the index of the first key that signed. Errors: MM_ERR_INVALID
 * (malformed), MM_ERR_VERIFY (bad signature or no known signer). */
mm_err mm_audit_note_verify(const char *note, size_t len, const mm_audit_note_key *keys,
			    size_t nkeys, size_t *ret_text_len, size_t *ret_key);

/* Appends a checkpoint text. Errors: MM_ERR_INVALID (origin), MM_ERR_NOMEM. */
mm_err mm_audit_checkpoint_text(const char *origin, int64_t size, const uint8_t root[32],
				mm_buf *out);
/* Parses the first three lines of a checkpoint text (extension lines are
 * allowed and ignored). origin receives the origin line (NUL-terminated,
 * truncated to origin_cap - 1 is an error). Errors: MM_ERR_INVALID. */
mm_err mm_audit_checkpoint_parse(const char *text, size_t len, char *origin, size_t origin_cap,
				 int64_t *ret_size, uint8_t root[32]);

#endif
