/*
 * csv.c: RFC 4180 parsing of response tables and their validation against a
 * catalog edition (see mm_fisc_csv_parse_responses in fisc.h).
 *
 * Parser rules: UTF-8, an optional BOM at the start; records end with CRLF,
 * LF or CR; a field is either unquoted (no '"', no ',' and no line break) or
 * quoted, where '""' stands for '"' and commas and line breaks are literal;
 * after a closing quote only ',' or the end of the record may follow. Blank
 * lines are skipped. NUL bytes and invalid UTF-8 are errors.
 *
 * Invariants: line numbers are 1-based physical lines of the record's first
 * character; every problem found is reported (up to MM_FISC_CSV_MAX_ERRORS),
 * and rows are handed out only when there is no problem at all, so an import
 * is all-or-nothing. Buffers that the input can grow are bounded mm_bufs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compliance/internal.h"
#include "core/mem.h"

#define FIELD_MAX (1u << 20)
#define MAX_FIELDS 64
#define MAX_ROWS 100000

struct parser {
	const char *p, *end;
	size_t line;            /* current physical line */
	mm_buf fields[MAX_FIELDS];
	size_t nfields;
	size_t rec_line;        /* line where the current record started */
};

/* ---- errors ---- */

static mm_err add_error(mm_fisc_import_result *r, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static mm_err add_error(mm_fisc_import_result *r, size_t line, const char *fmt, ...)
{
	va_list ap;
	mm_fisc_csv_error *e;

	if (r->nerrors == MM_FISC_CSV_MAX_ERRORS) {
		r->errors_truncated = true;
		return MM_OK;
	}
	if (r->errors == NULL &&
	    (r->errors = calloc(MM_FISC_CSV_MAX_ERRORS, sizeof(*r->errors))) == NULL)
		return MM_ERR_NOMEM;
	e = &r->errors[r->nerrors++];
	e->line = line;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return MM_OK;
}

void mm_fisc_import_result_release(mm_fisc_import_result *r)
{
	if (r == NULL)
		return;
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

/* ---- parser ---- */

static bool at_eol(const struct parser *ps)
{
	return ps->p < ps->end && (*ps->p == '\n' || *ps->p == '\r');
}

/* Consumes one line break (CRLF, LF or CR). */
static void eat_eol(struct parser *ps)
{
	if (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
		ps->p++;
	ps->p++;
	ps->line++;
}

/* After a syntax error: skip to the start of the next physical line. */
static void skip_line(struct parser *ps)
{
	while (ps->p < ps->end && !at_eol(ps))
		ps->p++;
	if (ps->p < ps->end)
		eat_eol(ps);
}

/*
 * Reads the next record into ps->fields. Returns 1 for a record, 0 at the
 * end, -1 for a syntax error (reported in r; the parser has moved past the
 * bad line, or to the end for an unterminated quote), -2 when out of memory.
 */
static int next_record(struct parser *ps, mm_fisc_import_result *r)
{
	/* Skip blank lines. */
	while (ps->p < ps->end && at_eol(ps))
		eat_eol(ps);
	if (ps->p >= ps->end)
		return 0;
	ps->rec_line = ps->line;
	ps->nfields = 0;
	for (;;) {
		mm_buf *f;

		if (ps->nfields == MAX_FIELDS) {
			if (add_error(r, ps->rec_line, "more than %d fields", MAX_FIELDS) != MM_OK)
				return -2;
			skip_line(ps);
			return -1;
		}
		f = &ps->fields[ps->nfields++];
		mm_buf_reset(f);
		if (ps->p < ps->end && *ps->p == '"') {
			size_t open_line = ps->line;

			ps->p++;
			for (;;) {
				const char *q;

				if (ps->p >= ps->end) {
					if (add_error(r, open_line, "unterminated quoted field") != MM_OK)
						return -2;
					return -1;
				}
				/* Copy the run up to the next quote or line break. */
				q = ps->p;
				while (q < ps->end && *q != '"' && *q != '\n' && *q != '\r')
					q++;
				if (q > ps->p) {
					mm_err rc = mm_buf_append(f, ps->p, (size_t)(q - ps->p));

					if (rc == MM_ERR_LIMIT) {
						if (add_error(r, ps->rec_line, "field longer than %u bytes",
							      FIELD_MAX) != MM_OK)
							return -2;
						ps->p = ps->end;
						return -1;
					}
					if (rc != MM_OK)
						return -2;
					ps->p = q;
					continue;
				}
				if (*ps->p == '\n' || *ps->p == '\r') {
					/* A line break inside quotes is part of the value. */
					bool crlf = *ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n';

					if (mm_buf_append(f, crlf ? "\r\n" : ps->p, crlf ? 2 : 1) != MM_OK)
						return -2;
					eat_eol(ps);
					continue;
				}
				/* A quote: doubled, or the end of the field. */
				if (ps->p + 1 < ps->end && ps->p[1] == '"') {
					if (mm_buf_appendc(f, '"') != MM_OK)
						return -2;
					ps->p += 2;
					continue;
				}
				ps->p++;
				break;
			}
			if (ps->p < ps->end && *ps->p != ',' && !at_eol(ps)) {
				if (add_error(r, ps->line, "unexpected character after a closing quote") != MM_OK)
					return -2;
				skip_line(ps);
				return -1;
			}
		} else {
			const char *q = ps->p;

			while (q < ps->end && *q != ',' && *q != '\n' && *q != '\r' && *q != '"')
				q++;
			if (q < ps->end && *q == '"') {
				if (add_error(r, ps->line, "a quote inside an unquoted field") != MM_OK)
					return -2;
				skip_line(ps);
				return -1;
			}
			if (mm_buf_append(f, ps->p, (size_t)(q - ps->p)) != MM_OK) {
				if (add_error(r, ps->rec_line, "field longer than %u bytes", FIELD_MAX) != MM_OK)
					return -2;
				skip_line(ps);
				return -1;
			}
			ps->p = q;
		}
		if (!fisc_utf8_valid(mm_buf_str(f), f->len)) {
			if (add_error(r, ps->rec_line, "field %zu is not valid UTF-8 text", ps->nfields) != MM_OK)
				return -2;
			skip_line(ps);
			return -1;
		}
		if (ps->p >= ps->end)
			return 1;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		eat_eol(ps);
		return 1;
	}
}

/* ---- response columns ---- */

enum col { COL_ID, COL_PARTY, COL_MARK, COL_JA, COL_EN, COL_IGNORE, NCOL };

static const struct {
	const char *name;
	enum col col;
} col_names[] = {
	{ "id", COL_ID }, { "criterion", COL_ID }, { "基準番号", COL_ID }, { "項目番号", COL_ID },
	{ "party", COL_PARTY }, { "対応者", COL_PARTY }, { "当事者", COL_PARTY },
	{ "mark", COL_MARK }, { "区分", COL_MARK }, { "責任区分", COL_MARK },
	{ "response_ja", COL_JA }, { "response", COL_JA }, { "text_ja", COL_JA },
	{ "対応内容", COL_JA }, { "対応状況", COL_JA },
	{ "response_en", COL_EN }, { "text_en", COL_EN }, { "対応内容（英語）", COL_EN },
	{ "title", COL_IGNORE }, { "title_ja", COL_IGNORE }, { "title_en", COL_IGNORE },
	{ "項目", COL_IGNORE }, { "note", COL_IGNORE }, { "備考", COL_IGNORE },
};

static bool col_of(const char *s, enum col *ret)
{
	char t[128];
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	snprintf(t, sizeof(t), "%s", s);
	n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	for (size_t i = 0; i < sizeof(col_names) / sizeof(col_names[0]); i++)
		if (strcasecmp(t, col_names[i].name) == 0) {
			*ret = col_names[i].col;
			return true;
		}
	return false;
}

void mm_fisc_csv_rows_release(mm_fisc_csv_rows *rows)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < rows->n; i++) {
		free(rows->rows[i].id);
		free(rows->rows[i].text_ja);
		free(rows->rows[i].text_en);
	}
	free(rows->rows);
	memset(rows, 0, sizeof(*rows));
}

static int cmp_row_key(const void *x, const void *y)
{
	const mm_fisc_csv_row *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	if (c)
		return c;
	if (a->party != b->party)
		return (int)a->party - (int)b->party;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int cmp_row_line(const void *x, const void *y)
{
	const mm_fisc_csv_row *a = x, *b = y;

	return a->line < b->line ? -1 : a->line > b->line;
}

static int cmp_error(const void *x, const void *y)
{
	const mm_fisc_csv_error *a = x, *b = y;

	return a->line < b->line ? -1 : a->line > b->line;
}

mm_err mm_fisc_csv_parse_responses(const mm_fisc_edition *ed, const char *data, size_t len,
				   mm_fisc_csv_rows *rows, mm_fisc_import_result *errs)
{
	struct parser ps;
	int colidx[NCOL];
	size_t ncols = 0, cap = 0;
	mm_fisc_csv_rows out = { 0 };
	bool header = false;
	mm_err rc = MM_OK;
	int k;

	memset(rows, 0, sizeof(*rows));
	memset(errs, 0, sizeof(*errs));
	if (len > MM_FISC_CSV_MAX_BYTES)
		return mm_err_set(MM_ERR_LIMIT, "CSV larger than %u bytes", MM_FISC_CSV_MAX_BYTES);
	memset(&ps, 0, sizeof(ps));
	for (int i = 0; i < MAX_FIELDS; i++)
		mm_buf_init(&ps.fields[i], FIELD_MAX);
	ps.p = data ? data : "";
	ps.end = ps.p + (data ? len : 0);
	ps.line = 1;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		ps.p += 3;
	for (int c = 0; c < NCOL; c++)
		colidx[c] = -1;

	while ((k = next_record(&ps, errs)) != 0) {
		mm_fisc_csv_row row;
		const mm_fisc_criterion *c;
		char id[64];
		const char *f;

		if (k == -2) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		if (k < 0)
			continue;
		if (!header) {
			/* The header row: column names. */
			header = true;
			ncols = ps.nfields;
			for (size_t i = 0; i < ps.nfields; i++) {
				enum col cl;

				if (!col_of(mm_buf_str(&ps.fields[i]), &cl)) {
					if ((rc = add_error(errs, ps.rec_line, "unknown column '%.60s'",
							    mm_buf_str(&ps.fields[i]))) != MM_OK)
						goto out;
					continue;
				}
				if (cl == COL_IGNORE)
					continue;
				if (colidx[cl] >= 0) {
					if ((rc = add_error(errs, ps.rec_line, "column '%.60s' given twice",
							    mm_buf_str(&ps.fields[i]))) != MM_OK)
						goto out;
					continue;
				}
				colidx[cl] = (int)i;
			}
			if (colidx[COL_ID] < 0 || colidx[COL_PARTY] < 0 || colidx[COL_MARK] < 0 ||
			    colidx[COL_JA] < 0) {
				rc = add_error(errs, ps.rec_line, "the header needs columns id, party, "
					       "mark and response_ja (基準番号, 対応者, 区分, 対応内容)");
				if (rc != MM_OK)
					goto out;
				goto finish; /* rows cannot be read without a header */
			}
			continue;
		}
		if (ps.nfields != ncols) {
			if ((rc = add_error(errs, ps.rec_line, "expected %zu fields, found %zu", ncols,
					    ps.nfields)) != MM_OK)
				goto out;
			continue;
		}
		if (out.n + errs->nerrors >= MAX_ROWS) {
			if ((rc = add_error(errs, ps.rec_line, "more than %d rows", MAX_ROWS)) != MM_OK)
				goto out;
			goto finish;
		}
		memset(&row, 0, sizeof(row));
		row.line = ps.rec_line;
		f = mm_buf_str(&ps.fields[colidx[COL_ID]]);
		if (!mm_fisc_id_normalize(f, id, sizeof(id))) {
			if ((rc = add_error(errs, row.line, "malformed criterion ID '%.40s'", f)) != MM_OK)
				goto out;
			continue;
		}
		if ((c = mm_fisc_edition_find(ed, id)) == NULL) {
			if ((rc = add_error(errs, row.line, "unknown criterion '%s' (not in edition %d)",
					    id, ed->edition)) != MM_OK)
				goto out;
			continue;
		}
		if (c->status == MM_FISC_RETIRED) {
			if ((rc = add_error(errs, row.line, "criterion '%s' is retired (欠番)", id)) != MM_OK)
				goto out;
			continue;
		}
		f = mm_buf_str(&ps.fields[colidx[COL_PARTY]]);
		if (!mm_fisc_party_parse(f, &row.party)) {
			if ((rc = add_error(errs, row.line, "unknown party '%.40s' (fi, provider, cloud "
					    "/ 金融機関, サービス提供者, クラウド事業者)", f)) != MM_OK)
				goto out;
			continue;
		}
		f = mm_buf_str(&ps.fields[colidx[COL_MARK]]);
		if (!mm_fisc_mark_parse(f, &row.mark)) {
			if ((rc = add_error(errs, row.line, "unknown mark '%.40s' (主体, 一部, 対象外, "
					    "お客様対応)", f)) != MM_OK)
				goto out;
			continue;
		}
		if (ps.fields[colidx[COL_JA]].len > MM_FISC_TEXT_MAX ||
		    (colidx[COL_EN] >= 0 && ps.fields[colidx[COL_EN]].len > MM_FISC_TEXT_MAX)) {
			if ((rc = add_error(errs, row.line, "response longer than %u bytes",
					    MM_FISC_TEXT_MAX)) != MM_OK)
				goto out;
			continue;
		}
		if (ps.fields[colidx[COL_JA]].len == 0 && row.mark != MM_FISC_NOT_APPLICABLE) {
			if ((rc = add_error(errs, row.line, "response_ja is empty (allowed only for "
					    "対象外)")) != MM_OK)
				goto out;
			continue;
		}
		if (out.n == cap) {
			mm_fisc_csv_row *v = mm_grow(out.rows, &cap, 256, sizeof(*v));

			if (v == NULL) {
				rc = MM_ERR_NOMEM;
				goto out;
			}
			out.rows = v;
		}
		row.id = strdup(id);
		row.text_ja = strdup(mm_buf_str(&ps.fields[colidx[COL_JA]]));
		if (colidx[COL_EN] >= 0 && ps.fields[colidx[COL_EN]].len > 0)
			row.text_en = strdup(mm_buf_str(&ps.fields[colidx[COL_EN]]));
		out.rows[out.n++] = row;
		if (row.id == NULL || row.text_ja == NULL ||
		    (colidx[COL_EN] >= 0 && ps.fields[colidx[COL_EN]].len > 0 && row.text_en == NULL)) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
	}
	if (!header && (rc = add_error(errs, 1, "empty file: a header row is required")) != MM_OK)
		goto out;
	if (header && out.n == 0 && errs->nerrors == 0 &&
	    (rc = add_error(errs, 1, "no data rows")) != MM_OK)
		goto out;
	/* Duplicates of (id, party): report each later line against the first. */
	if (out.n > 1) {
		qsort(out.rows, out.n, sizeof(*out.rows), cmp_row_key);
		for (size_t i = 1; i < out.n; i++) {
			const mm_fisc_csv_row *a = &out.rows[i - 1], *b = &out.rows[i];
			size_t first = i - 1;

			if (strcmp(a->id, b->id) != 0 || a->party != b->party)
				continue;
			while (first > 0 && strcmp(out.rows[first - 1].id, b->id) == 0 &&
			       out.rows[first - 1].party == b->party)
				first--;
			if ((rc = add_error(errs, b->line, "duplicate response for %s (%s), first on line %zu",
					    b->id, mm_fisc_party_name(b->party), out.rows[first].line)) != MM_OK)
				goto out;
		}
	}
finish:
	if (errs->nerrors > 0) {
		qsort(errs->errors, errs->nerrors, sizeof(*errs->errors), cmp_error);
		rc = mm_err_set(MM_ERR_INVALID, "CSV rejected, nothing imported: %zu problem%s; line %zu: %s",
				errs->nerrors, errs->nerrors == 1 ? "" : "s", errs->errors[0].line,
				errs->errors[0].message);
		goto out;
	}
	/* Hand rows out in file order. */
	if (out.n > 1)
		qsort(out.rows, out.n, sizeof(*out.rows), cmp_row_line);
	*rows = out;
	memset(&out, 0, sizeof(out));
out:
	for (int i = 0; i < MAX_FIELDS; i++)
		mm_buf_release(&ps.fields[i]);
	mm_fisc_csv_rows_release(&out);
	return rc;
}
