/*
 * password.h: password policy (NIST SP 800-63B §5.1.1.2) and Argon2id
 * hashing (libargon2).
 *
 * Policy: at least MM_PASSWORD_MIN code points (MM_PASSWORD_MIN_NO_MFA for
 * accounts that will not use a second factor), at most MM_PASSWORD_MAX;
 * every printable character including spaces and non-ASCII is allowed and
 * there are no composition rules. Refused: control characters, invalid
 * UTF-8, entries of the common-password lists (case-insensitive), the user
 * name or the service name inside the password, one character or a short
 * unit repeated ("abcabcabcabc"), and straight sequences ("123456789012").
 *
 * Hashes are PHC strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") with
 * the OWASP parameters; mm_password_needs_rehash() tells when a stored hash
 * was made with other parameters so the caller can upgrade it at the next
 * successful login. Verification is libargon2's argon2id_verify, which
 * recomputes the hash and compares it in constant time.
 *
 * Passwords are never logged, returned or put in error details.
 */
#ifndef MM_ACCESS_PASSWORD_H
#define MM_ACCESS_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_PASSWORD_MIN 12
#define MM_PASSWORD_MIN_NO_MFA 15
#define MM_PASSWORD_MAX 128
/* Longest accepted input in bytes (128 code points of up to 4 bytes). */
#define MM_PASSWORD_MAX_BYTES (MM_PASSWORD_MAX * 4)

/* OWASP Password Storage Cheat Sheet, Argon2id option 2 (19 MiB, t=2, p=1). */
#define MM_ARGON2_M_KIB 19456
#define MM_ARGON2_T 2
#define MM_ARGON2_P 1
#define MM_ARGON2_SALT 16
#define MM_ARGON2_HASH 32
#define MM_PHC_MAX 160

typedef struct mm_password_policy mm_password_policy;

/* Builds the policy: the list compiled in from data/common-passwords.txt,
 * Debian john-data's /usr/share/john/password.lst when present, and
 * extra_list (one password a line) when not NULL. The caller frees with
 * mm_password_policy_free. Errors: MM_ERR_IO (extra_list unreadable),
 * MM_ERR_NOMEM. */
mm_err mm_password_policy_new(const char *extra_list, mm_password_policy **ret);
void mm_password_policy_free(mm_password_policy *p);
/* Number of distinct list entries long enough to matter (for the banner). */
size_t mm_password_policy_size(const mm_password_policy *p);

/* Checks pw for user `user` (may be NULL). with_mfa selects the minimum
 * length. Errors: MM_ERR_INVALID with a detail that never quotes pw. */
mm_err mm_password_check(const mm_password_policy *p, const char *pw, const char *user,
			 bool with_mfa);

/* Hashes pw with a fresh random salt into out as a PHC string.
 * Errors: MM_ERR_INVALID (too long), MM_ERR_CRYPTO, MM_ERR_NOMEM. */
mm_err mm_password_hash(const char *pw, mm_buf *out);

/* Verifies pw against a PHC string. Errors: MM_ERR_VERIFY (mismatch or a
 * string that is not a valid argon2id hash), MM_ERR_NOMEM. */
mm_err mm_password_verify(const char *phc, const char *pw);

/* True when phc was made with other parameters than the current ones. */
bool mm_password_needs_rehash(const char *phc);

#endif
