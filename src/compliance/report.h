/*
 * report.h (private to src/compliance): the report model shared by the
 * renderers. report.c builds it from one consistent read of the store; the
 * renderers (Markdown, HTML, CSV in report.c; XLSX in report_xlsx.c; OSCAL
 * in report_oscal.c) only read it.
 *
 * Invariants: rows are in catalog order, one per criterion of the edition;
 * every string in the model lives until report_model_release().
 */
#ifndef MM_COMPLIANCE_REPORT_H
#define MM_COMPLIANCE_REPORT_H

#include "compliance/internal.h"

typedef struct report_cell {
	bool set;
	mm_fisc_mark mark;
	const char *ja;        /* "" when unset */
	const char *en;        /* NULL when absent */
} report_cell;

typedef struct report_row {
	const mm_fisc_criterion *c;
	report_cell party[MM_FISC_NPARTY];
	const char *review;    /* reason ("new", ...) or NULL */
	const char *evidence;  /* pass / fail / not_applicable / error / no_evidence / none */
	json_t *checks;        /* [{check, result, time}] */
} report_row;

typedef struct report_model {
	const mm_fisc *f;
	const mm_fisc_edition *ed;
	bool has_doc;
	fisc_doc doc;
	fisc_version ver;
	fisc_cells cells;
	json_t *reviews;       /* {id: reason} */
	json_t *history;       /* [{version, summary, published, published_by, approved_by}] */
	fisc_eval ev;
	report_row *rows;
	size_t nrows;
	size_t unknown_cells;  /* cells whose ID the loaded edition lacks */
	size_t responsible, with_evidence, passing, failing;
	int64_t generated_ms;
} report_model;

/* Renderers append to out. Errors: MM_ERR_LIMIT, MM_ERR_NOMEM, MM_ERR_IO. */
mm_err report_xlsx(const report_model *m, mm_buf *out);
mm_err report_oscal_cd(const report_model *m, mm_buf *out);
mm_err report_oscal_ar(const report_model *m, mm_buf *out);

/* "第12版" */
void report_edition_label(const report_model *m, char *out, size_t cap);
/* Text of a cell for flat formats: "主体 / Primary" or "" when unset. */
const char *report_mark_label(const report_cell *c, char *buf, size_t cap);

/* The flat (CSV / XLSX) layout: column count, bilingual headers, and the
 * cells of one row. bufs is scratch space that v may point into. */
size_t report_ncols(void);
const char *report_col_header(size_t i);
void report_flat_row(const report_model *m, const report_row *r, const char **v,
		     char bufs[8][160]);

#endif
