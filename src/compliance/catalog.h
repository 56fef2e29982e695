/*
 * catalog.h: the FISC criterion catalog, one edition per file
 * (data/fisc/edition-N.json, format in docs/fisc.md), and the diff between
 * two editions.
 *
 * The built-in editions (9, 12, 13) are compiled into the binary from
 * data/fisc/; a user-supplied edition file replaces the built-in edition with
 * the same number (the 13th edition is only partly known, so users with the
 * complete text load their own file).
 *
 * Invariants checked when an edition is loaded (a violation refuses the whole
 * file with MM_ERR_INVALID naming the criterion):
 *  - format "mamori-fisc-catalog", format_version 1, no unknown keys;
 *  - every ID is well formed (統|実|設|監, a number, optional "-n"), unique,
 *    and its prefix matches its category; its category is one the file lists
 *    in categories_listed;
 *  - every fact names its source: "source", "group_source", "title_source"
 *    and the applicability source are keys of the file's "sources" object;
 *  - titles are non-empty in both languages and title_kind is "paraphrase"
 *    or "neutral"; status is active, retired or out_of_scope_default;
 *  - a group reference names a group of the same category;
 *  - an incomplete file ("complete": false) carries note_ja and note_en.
 *
 * Ownership: every string and array reachable from an mm_fisc_edition belongs
 * to it (strings are borrowed from the parsed JSON it keeps) and lives until
 * the edition or its catalog is freed. An mm_fisc_catalog is immutable after
 * loading and may be read from several threads.
 */
#ifndef MM_COMPLIANCE_CATALOG_H
#define MM_COMPLIANCE_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef enum mm_fisc_category {
	MM_FISC_GOV = 0,      /* 統 統制基準 governance */
	MM_FISC_PRACTICE,     /* 実 実務基準 practice */
	MM_FISC_FACILITY,     /* 設 設備基準 facilities */
	MM_FISC_AUDIT,        /* 監 監査基準 audit */
	MM_FISC_NCAT
} mm_fisc_category;

typedef enum mm_fisc_status {
	MM_FISC_ACTIVE = 0,
	MM_FISC_RETIRED,          /* 欠番 */
	MM_FISC_OUT_OF_SCOPE,     /* out_of_scope_default: not for a data-centre provider */
} mm_fisc_status;

/* Applicability of a criterion to a system class (risk-based approach). */
typedef enum mm_fisc_applic {
	MM_FISC_APPLIC_REQUIRED = 0,  /* applies */
	MM_FISC_APPLIC_RISK_BASED,    /* decided by the institution's risk assessment */
	MM_FISC_APPLIC_NOT_APPLICABLE,
	MM_FISC_APPLIC_UNKNOWN,
} mm_fisc_applic;

typedef struct mm_fisc_group {
	const char *id;            /* "PS-3" */
	mm_fisc_category category;
	const char *section_ja;    /* "情報セキュリティ" */
	const char *section_en;
	int number;                /* 中項目 (n); 0 for a section-level group */
	const char *range;         /* "実14–実15", informational; may be NULL */
	const char *source;
} mm_fisc_group;

typedef struct mm_fisc_criterion {
	const char *id;            /* "実14-1" */
	mm_fisc_category category;
	int num, sub;              /* 14, 1 */
	const mm_fisc_group *group;   /* NULL when not known */
	const char *group_source;     /* NULL when group is NULL */
	const char *title_ja, *title_en;
	bool title_neutral;        /* derived from the group, not a paraphrase */
	const char *title_source;
	mm_fisc_status status;
	bool provisional;          /* existence or number not verified */
	const char *source;
	const char *note;          /* may be NULL */
	const char **predecessors; /* IDs in the previous edition this one replaces */
	size_t npredecessors;
	mm_fisc_applic specific;   /* 特定システム */
	mm_fisc_applic normal;     /* 通常システム */
	const char *applic_source;
} mm_fisc_criterion;

typedef struct mm_fisc_edition {
	int edition;
	const char *title_ja, *title_en;
	const char *published;     /* "2024", "2025-03" */
	bool complete;
	const char *note_ja, *note_en; /* may be NULL when complete */
	bool listed[MM_FISC_NCAT]; /* categories whose IDs the file lists */
	mm_fisc_group *groups;
	size_t ngroups;
	mm_fisc_criterion *criteria;   /* in file order */
	size_t ncriteria;
	char origin[256];          /* "builtin:edition-12.json" or the file path */
	char digest[65];           /* SHA-256 (hex) of the file bytes */
	json_t *root;              /* private: owns the strings above */
	const mm_fisc_criterion **by_id; /* private: sorted by id */
} mm_fisc_edition;

typedef struct mm_fisc_catalog mm_fisc_catalog;

/* Parses one edition file. name is used in error details and origin.
 * The caller owns *ret (mm_fisc_edition_free). Errors: MM_ERR_INVALID with a
 * detail naming the file and criterion, MM_ERR_NOMEM. */
mm_err mm_fisc_edition_parse(const char *name, const char *data, size_t len,
			     mm_fisc_edition **ret);
void mm_fisc_edition_free(mm_fisc_edition *ed);

/* The criterion with this exact ID, or NULL. */
const mm_fisc_criterion *mm_fisc_edition_find(const mm_fisc_edition *ed, const char *id);

/* Number of criteria in category cat with the given status. */
size_t mm_fisc_edition_count(const mm_fisc_edition *ed, mm_fisc_category cat,
			     mm_fisc_status status);

/* A catalog with the built-in editions. Caller owns *ret
 * (mm_fisc_catalog_free). Errors: as mm_fisc_edition_parse (a broken
 * built-in file is a build bug and is reported, not ignored). */
mm_err mm_fisc_catalog_new_builtin(mm_fisc_catalog **ret);

/* An empty catalog. Errors: MM_ERR_NOMEM. */
mm_err mm_fisc_catalog_new_empty(mm_fisc_catalog **ret);

/* Reads an edition file and adds it, replacing an edition with the same
 * number. Errors: MM_ERR_IO, MM_ERR_LIMIT (over 16 MiB), and those of
 * mm_fisc_edition_parse; on error the catalog is unchanged. */
mm_err mm_fisc_catalog_load_file(mm_fisc_catalog *cat, const char *path);

/* Same for a buffer (name labels it). */
mm_err mm_fisc_catalog_load_buffer(mm_fisc_catalog *cat, const char *name, const char *data,
				   size_t len);

void mm_fisc_catalog_free(mm_fisc_catalog *cat);

/* Editions in ascending order. */
size_t mm_fisc_catalog_count(const mm_fisc_catalog *cat);
const mm_fisc_edition *mm_fisc_catalog_at(const mm_fisc_catalog *cat, size_t i);
/* The edition with this number, or NULL. */
const mm_fisc_edition *mm_fisc_catalog_edition(const mm_fisc_catalog *cat, int edition);

/* ---- IDs and names ---- */

/* Parses a criterion ID exactly as stored ("実14-1"). Returns false for
 * anything else. Outputs may be NULL. */
bool mm_fisc_id_parse(const char *id, mm_fisc_category *cat, int *num, int *sub);

/* Normalises user input to a stored ID: strips ASCII and ideographic spaces,
 * maps full-width digits and hyphen/minus variants (－ − ‐ – —) to ASCII.
 * Returns false when the result is not a well-formed ID. */
bool mm_fisc_id_normalize(const char *in, char *out, size_t cap);

/* "統", "実", "設", "監" */
const char *mm_fisc_category_prefix(mm_fisc_category c);
/* "統制基準" / "Governance criteria" */
const char *mm_fisc_category_ja(mm_fisc_category c);
const char *mm_fisc_category_en(mm_fisc_category c);
/* "active", "retired", "out_of_scope_default" */
const char *mm_fisc_status_name(mm_fisc_status s);
/* "有効" / "欠番" / "対象外（既定）" */
const char *mm_fisc_status_ja(mm_fisc_status s);
/* "required", "risk_based", "not_applicable", "unknown" */
const char *mm_fisc_applic_name(mm_fisc_applic a);

/* ---- edition diff ---- */

typedef struct mm_fisc_renumber {
	const char *from;          /* ID in the older edition */
	const char **to;           /* IDs in the newer edition that replace it */
	size_t nto;
} mm_fisc_renumber;

typedef struct mm_fisc_edition_diff {
	int from, to;
	const char **added;        /* in `to` only (and active there), no predecessor */
	size_t nadded;
	const char **retired;      /* active in `from`, absent or retired in `to`, no successor */
	size_t nretired;
	mm_fisc_renumber *renumbered; /* replaced by other IDs (renumbered or split) */
	size_t nrenumbered;
	const char **unverified;   /* in both, but provisional in `to` */
	size_t nunverified;
	size_t unchanged;          /* same ID active in both */
	bool skipped[MM_FISC_NCAT]; /* categories not listed by one of the editions */
} mm_fisc_edition_diff;

/* Compares editions a (older) and b (newer). Strings point into a and b,
 * which must outlive the diff. Caller frees with mm_fisc_edition_diff_free.
 * Errors: MM_ERR_NOMEM. */
mm_err mm_fisc_edition_diff_new(const mm_fisc_edition *a, const mm_fisc_edition *b,
				mm_fisc_edition_diff **ret);
void mm_fisc_edition_diff_free(mm_fisc_edition_diff *d);
/* JSON form (see docs/fisc.md); NULL when out of memory. */
json_t *mm_fisc_edition_diff_json(const mm_fisc_edition_diff *d);

/* Summary of an edition as JSON (number, titles, complete, note, counts per
 * category and status, origin, digest); with criteria=true also every
 * criterion. NULL when out of memory. */
json_t *mm_fisc_edition_json(const mm_fisc_edition *ed, bool criteria);

#endif
