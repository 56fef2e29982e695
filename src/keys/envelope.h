/*
 * envelope.h: the text format of named-key outputs and the AES-256-GCM
 * envelope under one key version.
 *
 *   mamori:v<version>:<base64(payload)>
 *
 * version is a decimal 1..2^31-1 without sign or leading zeros; base64 is
 * RFC 4648 section 4 with padding, strictly decoded (no whitespace). For
 * ciphertexts the payload is nonce (12) || ciphertext || tag (16) and the
 * caller's context is the GCM additional data.
 *
 * Invariants: the parser reads exactly n bytes (no NUL needed), never reads
 * outside them, accepts one canonical spelling per value, and reports every
 * malformation as MM_ERR_INVALID (never a crash, never a partial output).
 * mm_envelope_open returns plaintext only after the tag verified.
 */
#ifndef MM_KEYS_ENVELOPE_H
#define MM_KEYS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_ENVELOPE_PREFIX "mamori:v"
#define MM_ENVELOPE_MAX_VERSION 2147483647LL

/* Parses s (n bytes) and appends the decoded payload to payload.
 * Errors: MM_ERR_INVALID (with a detail naming the part that is wrong),
 * MM_ERR_LIMIT (payload's max). */
mm_err mm_envelope_parse(const char *s, size_t n, int64_t *ret_version, mm_buf *payload);

/* Appends "mamori:v<version>:<base64(p)>" to out.
 * Errors: MM_ERR_INVALID (version), MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_envelope_format(int64_t version, const uint8_t *p, size_t n, mm_buf *out);

/* Encrypts pt under key (one version's 32 bytes) with a random nonce and
 * appends the envelope text to out. Errors: MM_ERR_LIMIT, MM_ERR_CRYPTO,
 * MM_ERR_NOMEM. */
mm_err mm_envelope_seal(const uint8_t key[32], int64_t version, const void *ctx, size_t ctx_len,
			const void *pt, size_t n, mm_buf *out);

/* Decrypts a parsed payload (nonce || ct || tag) and appends the plaintext
 * to out; on any failure out is left as it was (nothing appended).
 * Errors: MM_ERR_INVALID (payload shorter than 28 bytes), MM_ERR_VERIFY,
 * MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_envelope_open(const uint8_t key[32], const void *ctx, size_t ctx_len,
			const uint8_t *payload, size_t n, mm_buf *out);

#endif
