/* uuid.c: version 4 UUIDs from RAND_bytes (via mm_crypto_random); see uuid.h. */
#include "crypto/uuid.h"

#include <stdint.h>
#include <stdio.h>

#include "crypto/crypto.h"

mm_err mm_uuid_v4(char out[MM_UUID_LEN])
{
	uint8_t b[16];
	mm_err rc;

	out[0] = '\0';
	if ((rc = mm_crypto_random(b, sizeof(b))) != MM_OK)
		return rc;
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10xx */
	snprintf(out, MM_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
	return MM_OK;
}
