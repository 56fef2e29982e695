/*
 * internal.h (private to src/compliance): the mm_fisc handle, evidence
 * bindings, cells of a response version, and helpers shared by the files of
 * the module.
 *
 * Invariants: an mm_fisc is immutable after mm_fisc_open except for the
 * store it points to; bindings (ids) name only criteria that exist (and are
 * not retired) in the loaded catalog edition they are listed under. IDs of
 * the built-in bindings that a user-supplied edition lacks are moved to
 * unresolved (and logged) instead of failing; a user-supplied bindings file
 * must match exactly.
 */
#ifndef MM_COMPLIANCE_INTERNAL_H
#define MM_COMPLIANCE_INTERNAL_H

#include "audit/audit.h"
#include "compliance/fisc.h"
#include "core/evidence.h"

typedef struct fisc_binding_ed {
	int edition;
	const char **ids;
	size_t n;
	const char **unresolved;  /* IDs dropped: not in a user-supplied edition */
	size_t nunresolved;
} fisc_binding_ed;

typedef struct fisc_binding {
	const char *check;
	const char *status;       /* "implemented" / "planned" */
	const char *module;
	const char *title_ja, *title_en;
	const json_t *params;     /* object or NULL */
	fisc_binding_ed *eds;
	size_t neds;
} fisc_binding;

struct mm_fisc {
	mm_store *store;
	const mm_config *cfg;
	mm_fisc_catalog *cat;
	json_t *bindings_root;
	fisc_binding *bind;
	size_t nbind;
};

/* One cell of a response version. */
typedef struct fisc_cell {
	char *crit;
	mm_fisc_party party;
	mm_fisc_mark mark;
	char *ja;
	char *en;           /* NULL when absent */
} fisc_cell;

typedef struct fisc_cells {
	fisc_cell *v;
	size_t n, cap;
} fisc_cells;

/* Basic facts about a doc. */
typedef struct fisc_doc {
	char id[80];
	int edition;
	char title[MM_FISC_TITLE_MAX + 1];
	int64_t created_ms;
	char carried_from[128];
} fisc_doc;

typedef struct fisc_version {
	int64_t version;
	char state[16];     /* draft / approved / published */
	int64_t created_ms, approved_ms, published_ms;
	char approved_by[130];
	char published_by[130];
} fisc_version;

/* ---- catalog.c ---- */
/* n bytes of valid UTF-8 without NUL bytes (no overlongs, no surrogates). */
bool fisc_utf8_valid(const char *s, size_t n);
/* Appends the file's bytes to out (whose max bounds the size).
 * Errors: MM_ERR_IO, MM_ERR_LIMIT naming the file. */
mm_err fisc_read_file(const char *path, mm_buf *out);

/* ---- response.c ---- */
/* Runs sql (a string literal: statements are cached by address) with one
 * parameter per letter of spec: 't' const char * (NULL binds NULL), 'i'
 * int64_t (pass int64_t, not int). fisc_sql_int returns the first column of
 * the first row (0 when there is none). Errors: MM_ERR_STORE, MM_ERR_EXISTS. */
mm_err fisc_sql_run(mm_db *db, const char *sql, const char *spec, ...);
mm_err fisc_sql_int(mm_db *db, const char *sql, int64_t *ret, const char *spec, ...);
/* Runs fn on a pooled read connection inside one snapshot. */
mm_err fisc_with_read(mm_fisc *f, mm_err (*fn)(mm_db *db, void *arg), void *arg);
mm_err fisc_doc_get(mm_db *db, const char *doc_id, fisc_doc *ret);
/* Resolves a version selector (number, MM_FISC_LATEST, MM_FISC_WORKING). */
mm_err fisc_version_resolve(mm_db *db, const char *doc_id, int64_t sel, fisc_version *ret);
mm_err fisc_cells_load(mm_db *db, const char *doc_id, int64_t version, fisc_cells *ret);
void fisc_cells_release(fisc_cells *c);
/* Needs-review flags of a version as {id: reason} (caller owns). */
mm_err fisc_reviews_load(mm_db *db, const char *doc_id, int64_t version, json_t **ret);
/* Appends the audit event of a change; details is stolen (may be NULL). */
mm_err fisc_audit(mm_db *db, const mm_fisc_who *who, const char *action, const char *target,
		  const char *result, json_t *details);
bool fisc_doc_id_ok(const char *s);
/* MM_ERR_INVALID with the document id rule. */
mm_err fisc_doc_id_error(void);
mm_err fisc_who_check(const mm_fisc_who *who);
/* Catalog position of an ID in ed (ncriteria when unknown), for sorting. */
size_t fisc_order(const mm_fisc_edition *ed, const char *id);

/* ---- evidence.c ---- */
/* strict: every listed ID must resolve (user-supplied bindings). Otherwise
 * IDs that a user-supplied edition lacks become unresolved. */
mm_err fisc_bindings_load(mm_fisc *f, const char *name, const char *data, size_t len,
			  bool strict);
void fisc_bindings_release(mm_fisc *f);
mm_err fisc_register_builtin_checks(void);

/* Latest evaluation: per check its result and time. */
typedef struct fisc_eval_result {
	char *check;
	char *result;        /* pass / fail / not_applicable / no_evidence / error */
	char *finding_ja, *finding_en;
	char *data;          /* JSON text */
} fisc_eval_result;

typedef struct fisc_eval {
	int64_t run;         /* 0 when there was no run */
	int64_t time_ms;
	fisc_eval_result *r;
	size_t n;
} fisc_eval;

mm_err fisc_eval_load_latest(mm_db *db, fisc_eval *ret);
void fisc_eval_release(fisc_eval *e);
const fisc_eval_result *fisc_eval_find(const fisc_eval *e, const char *check);

/* Evidence status of one criterion of an edition: "pass", "fail",
 * "not_applicable", "error", "no_evidence" (bound checks without results)
 * or "none" (no check bound). checks (may be NULL) receives
 * [{check, result, time}]. */
const char *fisc_criterion_evidence(const mm_fisc *f, int edition, const char *id,
				    const fisc_eval *ev, json_t *checks);

/* ---- report labels ---- */
const char *fisc_evidence_ja(const char *status);
const char *fisc_evidence_en(const char *status);

#endif
