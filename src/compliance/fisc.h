/*
 * fisc.h: FISC response tables (対応表), their versions and approval, CSV
 * import, carrying a table forward to a new edition, evidence evaluation and
 * coverage, and reports. The catalog itself is in compliance/catalog.h.
 *
 * Model (tables in mm_compliance_migrations, see docs/fisc.md):
 *  - A response document (doc) answers one edition for one service; its id is
 *    a slug chosen by the user ("mamori-12").
 *  - A doc has versions 1, 2, 3 ... At most one version is a working copy
 *    (state "draft" or "approved") and it is always the highest version;
 *    every lower version is "published" and never changes again.
 *  - A version holds, per criterion and per party (financial institution,
 *    service provider, cloud vendor), a responsibility mark and response text
 *    (Japanese required, English optional).
 *  - Editing (set, delete, import, review) touches only the working copy; if
 *    there is none, one is created as a copy of the latest published version.
 *    Every actor who edits a working copy becomes one of its authors. Editing
 *    an approved working copy sends it back to draft.
 *  - Approval needs an actor who is not an author (four-eyes, enforced with
 *    MM_ERR_FORBIDDEN), no criterion still marked "needs review", and at
 *    least one response. Publishing needs an approved copy and a summary; the
 *    published versions with their summaries and dates are the revision
 *    history.
 *  - Every change runs as one store job that also appends its audit event
 *    (mm_audit_append), so the change and its record commit together.
 *
 * Ownership and threads: an mm_fisc holds a catalog, bindings and borrowed
 * pointers to the store and configuration (which must outlive it). All
 * functions may be called from several threads. JSON results (json_t **ret)
 * belong to the caller (json_decref). Strings passed in are copied.
 */
#ifndef MM_COMPLIANCE_FISC_H
#define MM_COMPLIANCE_FISC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compliance/catalog.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

/* Migrations of the compliance tables, for mm_store_migrate() (the audit set
 * must be applied too). */
extern const mm_migration_set mm_compliance_migrations;

typedef struct mm_fisc mm_fisc;

typedef struct mm_fisc_opts {
	mm_store *store;                   /* required */
	const mm_config *cfg;              /* for configuration checks; may be NULL */
	const char *edition_dir;           /* NULL, or a directory whose edition-*.json
	                                    * files replace built-in editions (in name
	                                    * order); config key fisc.edition_dir */
	const char *const *edition_files;  /* NULL-terminated list or NULL: more edition
	                                    * files, loaded after edition_dir */
	const char *bindings_file;         /* NULL: built-in evidence bindings;
	                                    * config key fisc.bindings_file */
} mm_fisc_opts;

/* Loads the catalog (built-in editions, then edition_dir, then edition_files), the evidence
 * bindings, and registers the built-in checks (a check already registered
 * under the same name by its own module is kept). A user-supplied bindings
 * file must name only criteria of the loaded editions; the built-in
 * bindings tolerate (and list as unresolved) IDs missing from a
 * user-supplied edition. Caller owns *ret
 * (mm_fisc_close). Errors: MM_ERR_INVALID / MM_ERR_IO from a data file, with
 * the file and entry in the detail; MM_ERR_NOMEM. */
mm_err mm_fisc_open(const mm_fisc_opts *o, mm_fisc **ret);
void mm_fisc_close(mm_fisc *f);

const mm_fisc_catalog *mm_fisc_get_catalog(const mm_fisc *f);

/* ---- parties and marks ---- */

typedef enum mm_fisc_party {
	MM_FISC_FI = 0,       /* 金融機関 financial institution */
	MM_FISC_PROVIDER,     /* サービス提供者 service provider */
	MM_FISC_CLOUD,        /* クラウド事業者 cloud vendor */
	MM_FISC_NPARTY
} mm_fisc_party;

typedef enum mm_fisc_mark {
	MM_FISC_MARK_NONE = 0,
	MM_FISC_PRIMARY,          /* 主体 */
	MM_FISC_PARTIAL,          /* 一部 */
	MM_FISC_NOT_APPLICABLE,   /* 対象外 */
	MM_FISC_CUSTOMER,         /* お客様対応 */
} mm_fisc_mark;

/* "fi" / "provider" / "cloud"; "金融機関" / "サービス提供者" / "クラウド事業者";
 * English labels. */
const char *mm_fisc_party_name(mm_fisc_party p);
const char *mm_fisc_party_ja(mm_fisc_party p);
const char *mm_fisc_party_en(mm_fisc_party p);
/* Accepts the name, the Japanese label or the English label (ASCII case
 * ignored, surrounding spaces ignored). */
bool mm_fisc_party_parse(const char *s, mm_fisc_party *ret);

/* "primary" / "partial" / "not_applicable" / "customer"; "主体" / "一部" /
 * "対象外" / "お客様対応"; English labels. */
const char *mm_fisc_mark_name(mm_fisc_mark m);
const char *mm_fisc_mark_ja(mm_fisc_mark m);
const char *mm_fisc_mark_en(mm_fisc_mark m);
bool mm_fisc_mark_parse(const char *s, mm_fisc_mark *ret);

/* Who acts, for authorship, four-eyes checks and the audit event. actor is
 * required ("user:alice"); source and request_id may be NULL. */
typedef struct mm_fisc_who {
	const char *actor;
	const char *source;
	const char *request_id;
} mm_fisc_who;

#define MM_FISC_TEXT_MAX (16u << 10)   /* bytes per response text */
#define MM_FISC_TITLE_MAX 200
#define MM_FISC_SUMMARY_MAX 2000

/* Version selectors accepted where a version is read. */
#define MM_FISC_LATEST 0     /* latest published version */
#define MM_FISC_WORKING (-1) /* the working copy (draft/approved), else latest */

/* ---- documents and responses ---- */

/* Creates doc doc_id ([a-z0-9][a-z0-9._-]{0,63}) answering edition, with an
 * empty draft version 1. Errors: MM_ERR_INVALID (id, title), MM_ERR_NOT_FOUND
 * (edition not in the catalog), MM_ERR_EXISTS, MM_ERR_STORE. */
mm_err mm_fisc_doc_create(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int edition,
			  const char *title);

/* All docs: [{id, edition, title, created, carried_from, latest_published,
 * working_version, working_state}]. Errors: MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_fisc_docs(mm_fisc *f, json_t **ret);

/* Sets one cell of the working copy (created if needed). criterion must be a
 * non-retired ID of the doc's edition (user spellings are normalised, see
 * mm_fisc_id_normalize); text_ja is required unless mark is 対象外; text_en
 * may be NULL. Clears the criterion's "needs review". *ret_version (may be
 * NULL) is the working version. Errors: MM_ERR_INVALID, MM_ERR_NOT_FOUND
 * (doc), MM_ERR_STORE. */
mm_err mm_fisc_response_set(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			    const char *criterion, mm_fisc_party party, mm_fisc_mark mark,
			    const char *text_ja, const char *text_en, int64_t *ret_version);

/* Removes one cell from the working copy. Errors: MM_ERR_NOT_FOUND (doc or
 * cell), MM_ERR_INVALID, MM_ERR_STORE. */
mm_err mm_fisc_response_delete(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			       const char *criterion, mm_fisc_party party);

/* Records that a criterion flagged "needs review" was reviewed and its
 * responses stand. Errors: MM_ERR_NOT_FOUND (doc or flag), MM_ERR_STORE. */
mm_err mm_fisc_review_done(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			   const char *criterion);

/* Approves the working copy, which must be version `version` (0 = whatever
 * the working version is) and in state draft. Errors: MM_ERR_FORBIDDEN (the
 * actor is an author), MM_ERR_CONFLICT (no draft, wrong version, open
 * reviews, no responses), MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_fisc_approve(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int64_t version);

/* Publishes the approved working copy with a revision summary (1..2000
 * bytes). Errors: MM_ERR_CONFLICT (not approved, wrong version),
 * MM_ERR_INVALID (summary), MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_fisc_publish(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int64_t version,
		       const char *summary);

/* Revision history, newest first: {doc, edition, title, versions: [{version,
 * state, summary, created, created_by, authors[], approved_by, approved,
 * published_by, published}]}. Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_fisc_history(mm_fisc *f, const char *doc_id, json_t **ret);

/* One version's cells: {doc, edition, version, state, responses: [{id,
 * party, mark, text_ja, text_en}], needs_review: [{id, reason}]}.
 * version: a number, MM_FISC_LATEST or MM_FISC_WORKING.
 * Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_fisc_version_get(mm_fisc *f, const char *doc_id, int64_t version, json_t **ret);

/* Cell-by-cell differences from version a to version b of a doc:
 * {doc, from, to, changes: [{id, party, change: added|removed|changed,
 * old: {mark, text_ja, text_en}, new: {...}}]}. Errors: as version_get. */
mm_err mm_fisc_version_diff(mm_fisc *f, const char *doc_id, int64_t a, int64_t b, json_t **ret);

/* ---- CSV import (RFC 4180, UTF-8 with or without BOM) ---- */

typedef struct mm_fisc_csv_error {
	size_t line;        /* physical line where the record starts (1-based) */
	char message[192];  /* "unknown criterion '実999'" */
} mm_fisc_csv_error;

typedef struct mm_fisc_import_result {
	size_t rows;                 /* data records accepted (0 when rejected) */
	int64_t version;             /* working version written */
	mm_fisc_csv_error *errors;   /* up to MM_FISC_CSV_MAX_ERRORS, by line */
	size_t nerrors;
	bool errors_truncated;
} mm_fisc_import_result;

#define MM_FISC_CSV_MAX_ERRORS 100
#define MM_FISC_CSV_MAX_BYTES (32u << 20)

/*
 * Imports a response CSV into the working copy of doc_id. The header row
 * names the columns (any order, see docs/fisc.md): id (基準番号), party
 * (対応者), mark (区分), response_ja (対応内容), and optionally response_en.
 * The whole file is checked first; any malformed record, unknown or retired
 * ID, bad party or mark, or duplicate (id, party) rejects the whole file with
 * MM_ERR_INVALID, nothing written, and every problem (up to 100) listed with
 * its line in ret. With replace=true the working copy's cells are replaced
 * by the file; otherwise the file's cells are upserted.
 * Release ret with mm_fisc_import_result_release (also after an error).
 * Errors: MM_ERR_INVALID, MM_ERR_LIMIT (file over 32 MiB), MM_ERR_NOT_FOUND,
 * MM_ERR_STORE, MM_ERR_NOMEM.
 */
mm_err mm_fisc_import_csv(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			  const char *data, size_t len, bool replace, mm_fisc_import_result *ret);
void mm_fisc_import_result_release(mm_fisc_import_result *r);

/* Parsed, validated import rows (used by mm_fisc_import_csv and the fuzz
 * target). */
typedef struct mm_fisc_csv_row {
	size_t line;
	char *id;            /* normalised criterion ID */
	mm_fisc_party party;
	mm_fisc_mark mark;
	char *text_ja;
	char *text_en;       /* NULL when empty or absent */
} mm_fisc_csv_row;

typedef struct mm_fisc_csv_rows {
	mm_fisc_csv_row *rows;
	size_t n;
} mm_fisc_csv_rows;

/* Parses and validates data against edition ed without touching any store.
 * On MM_OK *rows holds every row and errors is empty; on MM_ERR_INVALID rows
 * is empty and errors lists the problems. Release both with the functions
 * below. Errors: MM_ERR_INVALID, MM_ERR_LIMIT, MM_ERR_NOMEM. */
mm_err mm_fisc_csv_parse_responses(const mm_fisc_edition *ed, const char *data, size_t len,
				   mm_fisc_csv_rows *rows, mm_fisc_import_result *errors);
void mm_fisc_csv_rows_release(mm_fisc_csv_rows *rows);

/* ---- carrying a table forward ---- */

/*
 * Creates doc new_doc_id for edition new_edition as draft version 1, copying
 * the cells of version from_version (MM_FISC_LATEST or a number) of
 * from_doc_id: a criterion takes the cells of its predecessors (when the
 * catalog lists them) or of the same ID. A criterion is flagged "needs
 * review" with reason "new" (no source), "renumbered" (from other IDs) or
 * "unverified" (provisional in the catalog). Cells of criteria that the new
 * edition retires or drops are not copied and are listed in the result:
 * {doc, edition, copied, needs_review: [{id, reason}], dropped: [ids]}.
 * Errors: MM_ERR_NOT_FOUND, MM_ERR_EXISTS, MM_ERR_INVALID, MM_ERR_STORE.
 */
mm_err mm_fisc_carry_forward(mm_fisc *f, const mm_fisc_who *who, const char *from_doc_id,
			     int64_t from_version, const char *new_doc_id, int new_edition,
			     const char *title, json_t **ret);

/* ---- evidence ---- */

/*
 * Runs every check named in the bindings and every registered check, then
 * stores the results as one evaluation run with its audit event. A bound
 * check that is not registered is recorded as "no_evidence"; a check that
 * returns an error is recorded as "error" with the error detail as finding.
 * Returns {run, time, results: [{check, result, finding_ja, finding_en,
 * data}]} in *ret (may be NULL). Errors: MM_ERR_STORE, MM_ERR_NOMEM.
 */
mm_err mm_fisc_evaluate(mm_fisc *f, const mm_fisc_who *who, json_t **ret);

/*
 * Coverage of a doc version against the latest evaluation run:
 * {doc, edition, version, run, run_time, responsible, with_evidence,
 * passing, failing, criteria: [{id, provider_mark, evidence, checks:
 * [{check, result, time}]}]}. "responsible" counts active criteria whose
 * provider mark is 主体 or 一部; "with_evidence" those with at least one bound
 * check that produced pass, fail, not_applicable or error; "passing" those
 * whose checks all passed or were not applicable with at least one pass.
 * Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE, MM_ERR_NOMEM.
 */
mm_err mm_fisc_coverage(mm_fisc *f, const char *doc_id, int64_t version, json_t **ret);

/* The bindings and check registry state: [{check, status, module, title_ja,
 * title_en, registered, criteria: {edition: [ids]}, unresolved: {edition:
 * [ids]}}]. "unresolved" lists IDs of the built-in bindings that a
 * user-supplied edition does not contain (they are ignored and were logged
 * as fisc.binding_unresolved at start). */
mm_err mm_fisc_checks(mm_fisc *f, json_t **ret);

/* ---- reports ---- */

typedef enum mm_fisc_format {
	MM_FISC_FMT_MD = 0,
	MM_FISC_FMT_HTML,
	MM_FISC_FMT_CSV,
	MM_FISC_FMT_XLSX,
	MM_FISC_FMT_OSCAL_CD,   /* OSCAL 1.1 component-definition */
	MM_FISC_FMT_OSCAL_AR,   /* OSCAL 1.1 assessment-results */
} mm_fisc_format;

/* "md", "html", "csv", "xlsx", "oscal-cd", "oscal-ar" ("oscal" parses as
 * oscal-cd). Errors: MM_ERR_INVALID. */
mm_err mm_fisc_format_parse(const char *s, mm_fisc_format *ret);
const char *mm_fisc_format_name(mm_fisc_format f);
/* MIME type of a format ("text/markdown; charset=utf-8", ...). */
const char *mm_fisc_format_mime(mm_fisc_format f);

typedef struct mm_fisc_report_opts {
	int edition;           /* required */
	const char *doc_id;    /* NULL: the only doc of the edition, or a blank
	                        * template when the edition has no doc */
	int64_t version;       /* MM_FISC_LATEST, MM_FISC_WORKING or a number */
	mm_fisc_format format;
} mm_fisc_report_opts;

/*
 * The 対応表 of one edition: per criterion its ID, category, group, title,
 * status, per party the mark and text (Japanese first, English second), the
 * evidence status with the time of the evaluation run, and (for a working
 * copy) "needs review"; with the revision history and coverage. XLSX bytes
 * are binary; other formats are UTF-8 text (CSV with a BOM). The report is
 * appended to out (give out a limit of at least 64 MiB for large tables).
 * Errors: MM_ERR_NOT_FOUND (edition, doc, version), MM_ERR_CONFLICT (several
 * docs answer the edition and none was named), MM_ERR_IO (XLSX temporary
 * file), MM_ERR_LIMIT, MM_ERR_STORE, MM_ERR_NOMEM.
 */
mm_err mm_fisc_report(mm_fisc *f, const mm_fisc_report_opts *o, mm_buf *out);

#endif
