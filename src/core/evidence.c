/*
 * evidence.c: the process-wide registry of evidence checks (see evidence.h).
 * Invariant: checks[0..n) are distinct names; entries are only appended.
 */
#include "core/evidence.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const mm_evidence_check *checks[MM_EVIDENCE_MAX_CHECKS];
static size_t nchecks;

bool mm_evidence_name_ok(const char *s)
{
	size_t seg = 0, dots = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (seg == 0)
				return false;
			seg = 0;
			dots++;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_') {
			seg++;
		} else {
			return false;
		}
	}
	return seg > 0 && dots > 0;
}

mm_err mm_evidence_register(const mm_evidence_check *c)
{
	mm_err rc = MM_OK;

	if (c == NULL || !mm_evidence_name_ok(c->name) || c->run == NULL || c->module == NULL ||
	    c->title_ja == NULL || c->title_en == NULL)
		return mm_err_set(MM_ERR_INVALID, "evidence check '%.64s': needs a name "
				  "module.check ([a-z0-9_]), module, titles and a function",
				  c && c->name ? c->name : "");
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nchecks; i++) {
		if (checks[i] == c)
			goto out;
		if (strcmp(checks[i]->name, c->name) == 0) {
			rc = mm_err_set(MM_ERR_EXISTS, "evidence check '%s' is already registered",
					c->name);
			goto out;
		}
	}
	if (nchecks == MM_EVIDENCE_MAX_CHECKS) {
		rc = mm_err_set(MM_ERR_LIMIT, "too many evidence checks");
		goto out;
	}
	checks[nchecks++] = c;
out:
	pthread_mutex_unlock(&mu);
	return rc;
}

const mm_evidence_check *mm_evidence_find(const char *name)
{
	const mm_evidence_check *c = NULL;

	if (name == NULL)
		return NULL;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nchecks && c == NULL; i++)
		if (strcmp(checks[i]->name, name) == 0)
			c = checks[i];
	pthread_mutex_unlock(&mu);
	return c;
}

size_t mm_evidence_count(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = nchecks;
	pthread_mutex_unlock(&mu);
	return n;
}

const mm_evidence_check *mm_evidence_at(size_t i)
{
	const mm_evidence_check *c = NULL;

	pthread_mutex_lock(&mu);
	if (i < nchecks)
		c = checks[i];
	pthread_mutex_unlock(&mu);
	return c;
}

/* Copies s into dst[cap], cutting at a UTF-8 boundary. */
static void copy_utf8(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

void mm_evidence_set(mm_evidence_out *out, mm_evidence_result result, const char *ja,
		     const char *en)
{
	out->result = result;
	copy_utf8(out->finding_ja, sizeof(out->finding_ja), ja);
	copy_utf8(out->finding_en, sizeof(out->finding_en), en);
}

const char *mm_evidence_result_name(mm_evidence_result r)
{
	switch (r) {
	case MM_EVIDENCE_PASS:
		return "pass";
	case MM_EVIDENCE_FAIL:
		return "fail";
	case MM_EVIDENCE_NOT_APPLICABLE:
		return "not_applicable";
	}
	return "unknown";
}
