/*
 * uuid.h: random (version 4) UUIDs, RFC 9562 §5.4, from OpenSSL's CSPRNG.
 * The text form is lower-case, 36 characters plus NUL.
 */
#ifndef MM_CRYPTO_UUID_H
#define MM_CRYPTO_UUID_H

#include "core/err.h"

#define MM_UUID_LEN 37

/* Writes a fresh v4 UUID ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx") into
 * out. Errors: MM_ERR_CRYPTO when the random generator fails (out is then
 * set to the empty string). */
mm_err mm_uuid_v4(char out[MM_UUID_LEN]);

#endif
