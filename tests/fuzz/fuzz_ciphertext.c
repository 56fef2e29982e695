/*
 * fuzz_ciphertext.c: the "mamori:v<n>:<base64>" parser and the AES-256-GCM
 * envelope behind decrypt (src/keys/envelope.h).
 *
 * Invariants checked on every input:
 *  - parsing either succeeds or fails with MM_ERR_INVALID / MM_ERR_LIMIT and
 *    then leaves the version and payload untouched;
 *  - an accepted input is canonical: formatting its version and payload
 *    gives back exactly the input bytes;
 *  - opening an accepted payload under a fixed key never returns plaintext
 *    unless the tag verifies: on failure nothing is appended; a payload
 *    shorter than nonce + tag is MM_ERR_INVALID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 0x6d, 0x61, 0x6d, 0x6f, 0x72, 0x69, 0x2d, 0x66,
					 0x75, 0x7a, 0x7a };
	mm_buf payload = MM_BUF_INIT(1 << 20), text = MM_BUF_INIT(2 << 20), pt = MM_BUF_INIT(1 << 20);
	int64_t v = -1;
	mm_err rc;

	rc = mm_envelope_parse((const char *)data, size, &v, &payload);
	if (rc != MM_OK) {
		if ((rc != MM_ERR_INVALID && rc != MM_ERR_LIMIT) || v != -1 || payload.len != 0)
			abort();
		goto out;
	}
	if (v < 1 || v > MM_ENVELOPE_MAX_VERSION)
		abort();
	if (mm_envelope_format(v, (const uint8_t *)payload.data, payload.len, &text) != MM_OK ||
	    text.len != size || memcmp(text.data, data, size) != 0)
		abort();
	rc = mm_envelope_open(key, data, size > 8 ? 8 : size, (const uint8_t *)payload.data,
			      payload.len, &pt);
	if (rc == MM_OK) {
		if (pt.len + 28 != payload.len)
			abort();
	} else if (pt.len != 0 || (payload.len < 28 && rc != MM_ERR_INVALID) ||
		   (payload.len >= 28 && rc != MM_ERR_VERIFY && rc != MM_ERR_LIMIT)) {
		abort();
	}
out:
	mm_buf_release(&payload);
	mm_buf_release(&text);
	mm_buf_release(&pt);
	return 0;
}
