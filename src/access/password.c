/*
 * password.c: password policy and Argon2id hashing; see password.h.
 *
 * Invariants:
 *  - The common-password set holds lowercase entries of at least
 *    MM_PASSWORD_MIN code points (shorter ones can never be accepted
 *    anyway); it is built once and read-only afterwards, so lookups need no
 *    lock.
 *  - Temporary copies of a password (the lowercase form) are wiped.
 */
#include "access/password.h"

#include <argon2.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "crypto/crypto.h"

/* Generated at build time from data/common-passwords.txt. */
extern const char *const mm_password_builtin[];
extern const size_t mm_password_builtin_count;

#define JOHN_LIST "/usr/share/john/password.lst"
#define LIST_MAX_BYTES (64 << 20)

struct mm_password_policy {
	char **slot;      /* open addressing, NULL = empty */
	size_t cap;       /* power of two */
	size_t n;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Code points of valid UTF-8 text, or -1 for invalid UTF-8 or a control
 * character (C0, DEL, C1). */
static long count_code_points(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p) {
		uint32_t cp;
		int len;

		if (*p < 0x80) {
			cp = *p;
			len = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f;
			len = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f;
			len = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			cp = *p & 0x07;
			len = 4;
		} else {
			return -1;
		}
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond Unicode. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return -1;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return -1;
		p += len;
		n++;
	}
	return n;
}

/* ASCII lowercase copy (non-ASCII bytes kept), caller wipes and frees. */
static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	return d;
}

static mm_err set_add(mm_password_policy *p, const char *word, size_t len)
{
	char *w;
	size_t i;

	while (len > 0 && (word[len - 1] == '\r' || word[len - 1] == '\n'))
		len--;
	if (len == 0 || len > MM_PASSWORD_MAX_BYTES)
		return MM_OK;
	w = strndup(word, len);
	if (w == NULL)
		return MM_ERR_NOMEM;
	for (char *c = w; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (count_code_points(w) < MM_PASSWORD_MIN) {
		free(w);
		return MM_OK;
	}
	if ((p->n + 1) * 2 > p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 1024;
		char **ns = calloc(ncap, sizeof(char *));

		if (ns == NULL) {
			free(w);
			return MM_ERR_NOMEM;
		}
		for (size_t j = 0; j < p->cap; j++) {
			if (p->slot[j] == NULL)
				continue;
			for (i = fnv1a(p->slot[j]) & (ncap - 1); ns[i] != NULL; i = (i + 1) & (ncap - 1))
				;
			ns[i] = p->slot[j];
		}
		free(p->slot);
		p->slot = ns;
		p->cap = ncap;
	}
	for (i = fnv1a(w) & (p->cap - 1); p->slot[i] != NULL; i = (i + 1) & (p->cap - 1)) {
		if (strcmp(p->slot[i], w) == 0) {
			free(w);
			return MM_OK;
		}
	}
	p->slot[i] = w;
	p->n++;
	return MM_OK;
}

static bool set_has(const mm_password_policy *p, const char *lower)
{
	if (p->cap == 0)
		return false;
	for (size_t i = fnv1a(lower) & (p->cap - 1); p->slot[i] != NULL; i = (i + 1) & (p->cap - 1))
		if (strcmp(p->slot[i], lower) == 0)
			return true;
	return false;
}

static mm_err load_file(mm_password_policy *p, const char *path, bool required)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t n;
	mm_err rc = MM_OK;

	if (f == NULL) {
		if (!required)
			return MM_OK;
		return mm_err_set(MM_ERR_IO, "identity.password_list: cannot open %s: %s", path,
				  strerror(errno));
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		total += (size_t)n;
		if (total > LIST_MAX_BYTES) {
			rc = mm_err_set(MM_ERR_LIMIT, "password list %s is larger than 64 MiB", path);
			break;
		}
		/* john-data's list starts with "#!comment:" lines. */
		if (strncmp(line, "#!comment:", 10) == 0)
			continue;
		if ((rc = set_add(p, line, (size_t)n)) != MM_OK)
			break;
	}
	free(line);
	fclose(f);
	return rc;
}

mm_err mm_password_policy_new(const char *extra_list, mm_password_policy **ret)
{
	mm_password_policy *p = calloc(1, sizeof(*p));
	mm_err rc = MM_OK;

	if (p == NULL)
		return MM_ERR_NOMEM;
	for (size_t i = 0; i < mm_password_builtin_count && rc == MM_OK; i++)
		rc = set_add(p, mm_password_builtin[i], strlen(mm_password_builtin[i]));
	if (rc == MM_OK)
		rc = load_file(p, JOHN_LIST, false);
	if (rc == MM_OK && extra_list != NULL)
		rc = load_file(p, extra_list, true);
	if (rc != MM_OK) {
		mm_password_policy_free(p);
		return rc;
	}
	*ret = p;
	return MM_OK;
}

void mm_password_policy_free(mm_password_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->cap; i++)
		free(p->slot[i]);
	free(p->slot);
	free(p);
}

size_t mm_password_policy_size(const mm_password_policy *p)
{
	return p->n;
}

/* The whole password is one unit of 1..4 bytes repeated. */
static bool repetitive(const char *s, size_t n)
{
	for (size_t unit = 1; unit <= 4 && unit < n; unit++) {
		bool rep = true;

		for (size_t i = unit; i < n && rep; i++)
			rep = s[i] == s[i - unit];
		if (rep)
			return true;
	}
	return false;
}

/* Every ASCII character is the previous one plus (or minus) one, like
 * "abcdefghijkl" or "987654321098" (digits wrap from 9 to 0). */
static bool sequential(const char *s, size_t n)
{
	for (int dir = -1; dir <= 1; dir += 2) {
		bool seq = true;

		for (size_t i = 1; i < n && seq; i++) {
			int a = (unsigned char)s[i - 1], b = (unsigned char)s[i];

			if (isdigit(a) && isdigit(b))
				seq = (a - '0' + 10 + dir) % 10 == b - '0';
			else
				seq = b - a == dir;
		}
		if (seq)
			return true;
	}
	return false;
}

mm_err mm_password_check(const mm_password_policy *p, const char *pw, const char *user,
			 bool with_mfa)
{
	size_t bytes = pw ? strlen(pw) : 0;
	long cps;
	long min = with_mfa ? MM_PASSWORD_MIN : MM_PASSWORD_MIN_NO_MFA;
	char *lower = NULL;
	mm_err rc = MM_OK;

	if (pw == NULL || bytes > MM_PASSWORD_MAX_BYTES)
		return mm_err_set(MM_ERR_INVALID, "the password must be at most %d characters",
				  MM_PASSWORD_MAX);
	cps = count_code_points(pw);
	if (cps < 0)
		return mm_err_set(MM_ERR_INVALID, "the password must be valid UTF-8 text without "
				  "control characters");
	if (cps < min)
		return mm_err_set(MM_ERR_INVALID, "the password must be at least %ld characters%s",
				  min, with_mfa ? "" : " for an account without a second factor");
	if (cps > MM_PASSWORD_MAX)
		return mm_err_set(MM_ERR_INVALID, "the password must be at most %d characters",
				  MM_PASSWORD_MAX);
	if ((lower = lower_dup(pw)) == NULL)
		return MM_ERR_NOMEM;
	if (set_has(p, lower)) {
		rc = mm_err_set(MM_ERR_INVALID, "this password is on a list of commonly used or "
				"breached passwords; choose another");
		goto out;
	}
	if (strstr(lower, "mamori") != NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "the password must not contain the service name");
		goto out;
	}
	if (user != NULL && strlen(user) >= 3) {
		char *lu = lower_dup(user);
		bool has;

		if (lu == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		has = strstr(lower, lu) != NULL;
		free(lu);
		if (has) {
			rc = mm_err_set(MM_ERR_INVALID, "the password must not contain the user name");
			goto out;
		}
	}
	if (repetitive(lower, bytes) || sequential(lower, bytes)) {
		rc = mm_err_set(MM_ERR_INVALID, "the password must not be a repeated or sequential "
				"run of characters");
		goto out;
	}
out:
	if (lower != NULL) {
		mm_wipe(lower, bytes);
		free(lower);
	}
	return rc;
}

mm_err mm_password_hash(const char *pw, mm_buf *out)
{
	uint8_t salt[MM_ARGON2_SALT];
	char enc[MM_PHC_MAX];
	size_t n = strlen(pw);
	int r;
	mm_err rc;

	if (n > MM_PASSWORD_MAX_BYTES)
		return mm_err_set(MM_ERR_INVALID, "the password is too long");
	if (argon2_encodedlen(MM_ARGON2_T, MM_ARGON2_M_KIB, MM_ARGON2_P, MM_ARGON2_SALT,
			      MM_ARGON2_HASH, Argon2_id) > sizeof(enc))
		return mm_err_set(MM_ERR_INTERNAL, "PHC buffer too small");
	if ((rc = mm_crypto_random(salt, sizeof(salt))) != MM_OK)
		return rc;
	r = argon2id_hash_encoded(MM_ARGON2_T, MM_ARGON2_M_KIB, MM_ARGON2_P, pw, n, salt,
				  sizeof(salt), MM_ARGON2_HASH, enc, sizeof(enc));
	if (r != ARGON2_OK)
		return mm_err_set(r == ARGON2_MEMORY_ALLOCATION_ERROR ? MM_ERR_NOMEM : MM_ERR_CRYPTO,
				  "argon2id: %s", argon2_error_message(r));
	return mm_buf_appends(out, enc);
}

mm_err mm_password_verify(const char *phc, const char *pw)
{
	int r;

	if (phc == NULL || pw == NULL || strncmp(phc, "$argon2id$", 10) != 0 ||
	    strlen(pw) > MM_PASSWORD_MAX_BYTES)
		return mm_err_set(MM_ERR_VERIFY, "password mismatch");
	r = argon2id_verify(phc, pw, strlen(pw));
	if (r == ARGON2_OK)
		return MM_OK;
	if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
		return MM_ERR_NOMEM;
	return mm_err_set(MM_ERR_VERIFY, "password mismatch");
}

bool mm_password_needs_rehash(const char *phc)
{
	char want[64];

	snprintf(want, sizeof(want), "$argon2id$v=%d$m=%d,t=%d,p=%d$", ARGON2_VERSION_NUMBER,
		 MM_ARGON2_M_KIB, MM_ARGON2_T, MM_ARGON2_P);
	return phc == NULL || strncmp(phc, want, strlen(want)) != 0;
}
