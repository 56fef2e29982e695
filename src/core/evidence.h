/*
 * evidence.h: the interface between a module that can prove something about
 * the running system (an evidence check) and the compliance module that binds
 * checks to FISC criteria, runs them and reports on them.
 *
 * It lives in core so that every module (audit, keys, access, ...) can
 * register its checks with one call, mm_evidence_register(), without
 * depending on src/compliance, which sits above them.
 *
 * A check is a named function that reads the system (through ctx->store and
 * ctx->cfg, read-only) and fills an mm_evidence_out: a result (pass / fail /
 * not_applicable), a short finding in Japanese and English, and optional
 * machine-readable data (a JSON object). A check must not write to the store:
 * the compliance module records results, audited, in its own store job.
 *
 * Invariants: check names are unique in the registry and match
 * [a-z0-9_]+(\.[a-z0-9_]+)+ (module "." check); a registered check is never
 * removed, and the mm_evidence_check it points to must live for the rest of
 * the process (normally a static const). The registry is safe to use from
 * several threads.
 */
#ifndef MM_CORE_EVIDENCE_H
#define MM_CORE_EVIDENCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct mm_store;
struct mm_config;

typedef enum mm_evidence_result {
	MM_EVIDENCE_PASS = 1,
	MM_EVIDENCE_FAIL,
	MM_EVIDENCE_NOT_APPLICABLE,
} mm_evidence_result;

#define MM_EVIDENCE_FINDING_MAX 512
#define MM_EVIDENCE_MAX_CHECKS 256

typedef struct mm_evidence_ctx {
	struct mm_store *store;         /* may be NULL when no store is open */
	const struct mm_config *cfg;    /* may be NULL when no configuration */
	const json_t *params;           /* the binding's "params" object, or NULL */
	int64_t now_ms;                 /* evaluation time (wall clock, ms) */
} mm_evidence_ctx;

typedef struct mm_evidence_out {
	mm_evidence_result result;
	char finding_ja[MM_EVIDENCE_FINDING_MAX];
	char finding_en[MM_EVIDENCE_FINDING_MAX];
	json_t *data;                   /* object or NULL; owned by out */
} mm_evidence_out;

/*
 * Runs the check. On MM_OK, out->result and both findings are set. A check
 * that cannot reach a verdict (the store failed, a file is unreadable in a
 * way that is not itself a finding) returns an error with a detail; the
 * compliance module records that as result "error". Never put a secret into
 * a finding or into data.
 */
typedef mm_err (*mm_evidence_fn)(const mm_evidence_ctx *ctx, mm_evidence_out *out);

typedef struct mm_evidence_check {
	const char *name;        /* "audit.log_verifiable" */
	const char *module;      /* "audit" */
	const char *title_ja;    /* short, e.g. "監査ログが存在し検証できる" */
	const char *title_en;
	const char *description; /* what passes and what fails, English */
	mm_evidence_fn run;
} mm_evidence_check;

/* True when name is a valid check name: module.check, [a-z0-9_] segments
 * separated by dots, at most 64 bytes. */
bool mm_evidence_name_ok(const char *name);

/* Adds c to the process-wide registry. Registering the same pointer again is
 * a no-op. Errors: MM_ERR_INVALID (bad name, missing field), MM_ERR_EXISTS
 * (another check has that name), MM_ERR_LIMIT (MM_EVIDENCE_MAX_CHECKS). */
mm_err mm_evidence_register(const mm_evidence_check *c);

/* The registered check called name, or NULL. */
const mm_evidence_check *mm_evidence_find(const char *name);

/* Number of registered checks and the i-th one (registration order). */
size_t mm_evidence_count(void);
const mm_evidence_check *mm_evidence_at(size_t i);

/* Sets result and both findings (truncated to MM_EVIDENCE_FINDING_MAX - 1
 * bytes at a UTF-8 character boundary). */
void mm_evidence_set(mm_evidence_out *out, mm_evidence_result result, const char *ja,
		     const char *en);

/* Stable lower-case name of a result: "pass", "fail", "not_applicable". */
const char *mm_evidence_result_name(mm_evidence_result r);

#endif
