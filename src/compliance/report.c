/*
 * report.c: building the report model of a 対応表 and rendering it as
 * Markdown, HTML (A4, Japanese fonts) and CSV (UTF-8 with BOM); XLSX and
 * OSCAL are in report_xlsx.c and report_oscal.c. User text is escaped for
 * each format; Japanese comes first, English second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/report.h"
#include "core/time.h"

/* ---- formats ---- */

static const char *const fmt_names[] = { "md", "html", "csv", "xlsx", "oscal-cd", "oscal-ar" };

mm_err mm_fisc_format_parse(const char *s, mm_fisc_format *ret)
{
	if (s != NULL && (strcmp(s, "oscal") == 0 || strcmp(s, "markdown") == 0)) {
		*ret = s[0] == 'o' ? MM_FISC_FMT_OSCAL_CD : MM_FISC_FMT_MD;
		return MM_OK;
	}
	for (size_t i = 0; s != NULL && i < sizeof(fmt_names) / sizeof(fmt_names[0]); i++)
		if (strcmp(s, fmt_names[i]) == 0) {
			*ret = (mm_fisc_format)i;
			return MM_OK;
		}
	return mm_err_set(MM_ERR_INVALID, "format must be md, html, csv, xlsx, oscal-cd or oscal-ar");
}

const char *mm_fisc_format_name(mm_fisc_format f)
{
	return (size_t)f < sizeof(fmt_names) / sizeof(fmt_names[0]) ? fmt_names[f] : "?";
}

const char *mm_fisc_format_mime(mm_fisc_format f)
{
	switch (f) {
	case MM_FISC_FMT_MD:
		return "text/markdown; charset=utf-8";
	case MM_FISC_FMT_HTML:
		return "text/html; charset=utf-8";
	case MM_FISC_FMT_CSV:
		return "text/csv; charset=utf-8";
	case MM_FISC_FMT_XLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
	case MM_FISC_FMT_OSCAL_CD:
	case MM_FISC_FMT_OSCAL_AR:
		return "application/json";
	}
	return "application/octet-stream";
}

/* ---- model ---- */

static void model_release(report_model *m)
{
	for (size_t i = 0; i < m->nrows; i++)
		json_decref(m->rows[i].checks);
	free(m->rows);
	fisc_cells_release(&m->cells);
	json_decref(m->reviews);
	json_decref(m->history);
	fisc_eval_release(&m->ev);
	memset(m, 0, sizeof(*m));
}

static mm_err pick_doc(mm_db *db, int edition, char *out, size_t cap, bool *found)
{
	static const char q[] = "SELECT doc_id FROM fisc_docs WHERE edition = ? ORDER BY doc_id";
	mm_stmt *st = NULL;
	size_t n = 0;
	bool row;
	mm_err rc;

	*found = false;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, edition)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		if (n++ == 0)
			snprintf(out, cap, "%s", mm_stmt_text(st, 0));
	}
	if (rc == MM_OK && n > 1)
		rc = mm_err_set(MM_ERR_CONFLICT, "%zu documents answer edition %d; name one", n, edition);
	*found = rc == MM_OK && n == 1;
out:
	mm_stmt_done(st);
	return rc;
}

static mm_err load_history(mm_db *db, const char *doc, json_t **ret)
{
	static const char q[] = "SELECT version, summary, published_ms, published_by, approved_by"
				" FROM fisc_versions WHERE doc_id = ? AND state = 'published'"
				" ORDER BY version";
	json_t *a = json_array();
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (a == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, doc)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		char t[MM_TIME_RFC3339_LEN];

		mm_time_format(mm_stmt_int(st, 2), t);
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s}", "version",
						   (json_int_t)mm_stmt_int(st, 0), "summary",
						   mm_stmt_text(st, 1) ? mm_stmt_text(st, 1) : "",
						   "published", t, "published_by",
						   mm_stmt_text(st, 3) ? mm_stmt_text(st, 3) : "",
						   "approved_by",
						   mm_stmt_text(st, 4) ? mm_stmt_text(st, 4) : ""));
	}
	if (rc == MM_OK) {
		*ret = a;
		a = NULL;
	}
out:
	mm_stmt_done(st);
	json_decref(a);
	return rc;
}

struct model_read_arg {
	const mm_fisc_report_opts *o;
	report_model *m;
};

static mm_err model_read(mm_db *db, void *p)
{
	const mm_fisc_report_opts *o = ((struct model_read_arg *)p)->o;
	report_model *m = ((struct model_read_arg *)p)->m;
	char doc_id[80] = "";
	bool found = false;
	mm_err rc;

	if (o->doc_id != NULL) {
		if (!fisc_doc_id_ok(o->doc_id))
			return fisc_doc_id_error();
		snprintf(doc_id, sizeof(doc_id), "%s", o->doc_id);
		found = true;
	} else if ((rc = pick_doc(db, o->edition, doc_id, sizeof(doc_id), &found)) != MM_OK) {
		return rc;
	}
	if (found) {
		if ((rc = fisc_doc_get(db, doc_id, &m->doc)) != MM_OK)
			return rc;
		if (m->doc.edition != o->edition)
			return mm_err_set(MM_ERR_INVALID, "'%s' answers edition %d, not %d", doc_id,
					  m->doc.edition, o->edition);
		if ((rc = fisc_version_resolve(db, doc_id, o->version, &m->ver)) != MM_OK ||
		    (rc = fisc_cells_load(db, doc_id, m->ver.version, &m->cells)) != MM_OK ||
		    (rc = fisc_reviews_load(db, doc_id, m->ver.version, &m->reviews)) != MM_OK ||
		    (rc = load_history(db, doc_id, &m->history)) != MM_OK)
			return rc;
		m->has_doc = true;
	}
	return fisc_eval_load_latest(db, &m->ev);
}

static mm_err model_build(mm_fisc *f, const mm_fisc_report_opts *o, report_model *m)
{
	struct model_read_arg ra = { o, m };
	mm_err rc;

	memset(m, 0, sizeof(*m));
	m->f = f;
	m->generated_ms = mm_time_wall_ms();
	if ((m->ed = mm_fisc_catalog_edition(f->cat, o->edition)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", o->edition);
	if ((rc = fisc_with_read(f, model_read, &ra)) != MM_OK)
		return rc;
	if (m->reviews == NULL && (m->reviews = json_object()) == NULL)
		return MM_ERR_NOMEM;
	if (m->history == NULL && (m->history = json_array()) == NULL)
		return MM_ERR_NOMEM;
	if ((m->rows = calloc(m->ed->ncriteria + 1, sizeof(*m->rows))) == NULL)
		return MM_ERR_NOMEM;
	m->nrows = m->ed->ncriteria;
	for (size_t i = 0; i < m->nrows; i++) {
		report_row *r = &m->rows[i];

		r->c = &m->ed->criteria[i];
		for (int p = 0; p < MM_FISC_NPARTY; p++)
			r->party[p].ja = "";
		r->review = json_string_value(json_object_get(m->reviews, r->c->id));
		if ((r->checks = json_array()) == NULL)
			return MM_ERR_NOMEM;
		r->evidence = fisc_criterion_evidence(f, m->ed->edition, r->c->id, &m->ev, r->checks);
	}
	for (size_t i = 0; i < m->cells.n; i++) {
		const fisc_cell *c = &m->cells.v[i];
		size_t pos = fisc_order(m->ed, c->crit);
		report_cell *rc2;

		if (pos >= m->nrows) {
			m->unknown_cells++;
			continue;
		}
		rc2 = &m->rows[pos].party[c->party];
		rc2->set = true;
		rc2->mark = c->mark;
		rc2->ja = c->ja;
		rc2->en = c->en;
	}
	for (size_t i = 0; i < m->nrows; i++) {
		const report_row *r = &m->rows[i];
		const char *e = r->evidence;
		mm_fisc_mark pm = r->party[MM_FISC_PROVIDER].set ? r->party[MM_FISC_PROVIDER].mark :
			MM_FISC_MARK_NONE;

		if (r->c->status != MM_FISC_ACTIVE || (pm != MM_FISC_PRIMARY && pm != MM_FISC_PARTIAL))
			continue;
		m->responsible++;
		if (strcmp(e, "pass") == 0 || strcmp(e, "fail") == 0 ||
		    strcmp(e, "not_applicable") == 0 || strcmp(e, "error") == 0)
			m->with_evidence++;
		m->passing += strcmp(e, "pass") == 0;
		m->failing += strcmp(e, "fail") == 0 || strcmp(e, "error") == 0;
	}
	return MM_OK;
}

void report_edition_label(const report_model *m, char *out, size_t cap)
{
	snprintf(out, cap, "第%d版", m->ed->edition);
}

const char *report_mark_label(const report_cell *c, char *buf, size_t cap)
{
	if (!c->set)
		return "";
	snprintf(buf, cap, "%s / %s", mm_fisc_mark_ja(c->mark), mm_fisc_mark_en(c->mark));
	return buf;
}

static const char *review_ja(const char *r)
{
	if (r == NULL)
		return "";
	if (strcmp(r, "new") == 0)
		return "要レビュー（新設）";
	if (strcmp(r, "renumbered") == 0)
		return "要レビュー（番号変更）";
	if (strcmp(r, "unverified") == 0)
		return "要レビュー（未検証の項目）";
	return "要レビュー";
}

static const char *review_en(const char *r)
{
	if (r == NULL)
		return "";
	if (strcmp(r, "new") == 0)
		return "Needs review (new)";
	if (strcmp(r, "renumbered") == 0)
		return "Needs review (renumbered)";
	if (strcmp(r, "unverified") == 0)
		return "Needs review (unverified criterion)";
	return "Needs review";
}

static void fmt_time(int64_t ms, char out[MM_TIME_RFC3339_LEN])
{
	mm_time_format(ms, out);
}

/* ---- escaping ---- */

static mm_err md_esc(mm_buf *b, const char *s)
{
	mm_err rc = MM_OK;

	for (; s && *s && rc == MM_OK; s++) {
		if (*s == '\n')
			rc = mm_buf_appends(b, "<br>");
		else if (*s == '\r')
			continue;
		else if (strchr("\\`*_[]<>|#", *s) != NULL) {
			if ((rc = mm_buf_appendc(b, '\\')) == MM_OK)
				rc = mm_buf_appendc(b, *s);
		} else
			rc = mm_buf_appendc(b, *s);
	}
	return rc;
}

static mm_err html_esc(mm_buf *b, const char *s, bool br)
{
	mm_err rc = MM_OK;

	for (; s && *s && rc == MM_OK; s++) {
		switch (*s) {
		case '&':
			rc = mm_buf_appends(b, "&amp;");
			break;
		case '<':
			rc = mm_buf_appends(b, "&lt;");
			break;
		case '>':
			rc = mm_buf_appends(b, "&gt;");
			break;
		case '"':
			rc = mm_buf_appends(b, "&quot;");
			break;
		case '\'':
			rc = mm_buf_appends(b, "&#39;");
			break;
		case '\r':
			break;
		case '\n':
			rc = mm_buf_appends(b, br ? "<br>" : " ");
			break;
		default:
			rc = mm_buf_appendc(b, *s);
		}
	}
	return rc;
}

/* One quoted CSV field. A cell that a spreadsheet would read as a formula
 * (starting with = + - @ tab or CR) gets a leading apostrophe (OWASP CSV
 * injection); the XLSX report stores text as text and needs no such guard. */
static mm_err csv_field(mm_buf *b, const char *s, bool last)
{
	mm_err rc = mm_buf_appendc(b, '"');

	if (rc == MM_OK && s != NULL && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		rc = mm_buf_appendc(b, '\'');

	for (; rc == MM_OK && s && *s; s++)
		rc = *s == '"' ? mm_buf_appends(b, "\"\"") : mm_buf_appendc(b, *s);
	if (rc == MM_OK)
		rc = mm_buf_appendc(b, '"');
	if (rc == MM_OK)
		rc = mm_buf_appends(b, last ? "\r\n" : ",");
	return rc;
}

/* ---- Markdown ---- */

#define TRY(x) do { if ((rc = (x)) != MM_OK) return rc; } while (0)

static mm_err md_header(const report_model *m, mm_buf *b)
{
	char t[MM_TIME_RFC3339_LEN], ed[32];
	mm_err rc;

	report_edition_label(m, ed, sizeof(ed));
	fmt_time(m->generated_ms, t);
	TRY(mm_buf_appendf(b, "# FISC 安全対策基準 対応表 / FISC security standard response table\n\n"));
	TRY(mm_buf_appends(b, "- 基準 / Standard: "));
	TRY(md_esc(b, m->ed->title_ja));
	TRY(mm_buf_appends(b, " / "));
	TRY(md_esc(b, m->ed->title_en));
	TRY(mm_buf_appendf(b, " (%s)\n", m->ed->published));
	if (m->has_doc) {
		char c[MM_TIME_RFC3339_LEN];

		TRY(mm_buf_appends(b, "- 文書 / Document: "));
		TRY(md_esc(b, m->doc.title));
		TRY(mm_buf_appends(b, " ("));
		TRY(md_esc(b, m->doc.id));
		TRY(mm_buf_appends(b, ")\n"));
		TRY(mm_buf_appendf(b, "- 版数 / Version: %lld (%s)", (long long)m->ver.version,
				   m->ver.state));
		if (m->ver.published_ms) {
			fmt_time(m->ver.published_ms, c);
			TRY(mm_buf_appendf(b, ", 公開 / published %s", c));
		}
		if (m->ver.approved_by[0]) {
			TRY(mm_buf_appends(b, ", 承認者 / approved by "));
			TRY(md_esc(b, m->ver.approved_by));
		}
		TRY(mm_buf_appends(b, "\n"));
	} else {
		TRY(mm_buf_appends(b, "- 文書 / Document: なし（空の雛形） / none (blank template)\n"));
	}
	TRY(mm_buf_appendf(b, "- 作成日時 / Generated: %s\n\n", t));
	if (!m->ed->complete) {
		TRY(mm_buf_appendf(b, "> **注意 / Note:** %s版の基準一覧は不完全です。 / The criteria list "
				   "of this edition is incomplete.\n> ", ed));
		TRY(md_esc(b, m->ed->note_ja));
		TRY(mm_buf_appends(b, "\n> \n> "));
		TRY(md_esc(b, m->ed->note_en));
		TRY(mm_buf_appends(b, "\n\n"));
	}
	TRY(mm_buf_appends(b, "## 改訂履歴 / Revision history\n\n"));
	if (json_array_size(m->history) == 0) {
		TRY(mm_buf_appends(b, "公開版はまだありません。 / No published version yet.\n\n"));
	} else {
		TRY(mm_buf_appends(b, "| 版数 Version | 公開日 Published | 概要 Summary | 承認者 Approved by |\n"
				   "|---|---|---|---|\n"));
		for (size_t i = 0; i < json_array_size(m->history); i++) {
			json_t *h = json_array_get(m->history, i);

			TRY(mm_buf_appendf(b, "| %lld | %s | ",
					   (long long)json_integer_value(json_object_get(h, "version")),
					   json_string_value(json_object_get(h, "published"))));
			TRY(md_esc(b, json_string_value(json_object_get(h, "summary"))));
			TRY(mm_buf_appends(b, " | "));
			TRY(md_esc(b, json_string_value(json_object_get(h, "approved_by"))));
			TRY(mm_buf_appends(b, " |\n"));
		}
		TRY(mm_buf_appends(b, "\n"));
	}
	TRY(mm_buf_appends(b, "## 証跡の概要 / Evidence coverage\n\n"));
	if (m->ev.run) {
		fmt_time(m->ev.time_ms, t);
		TRY(mm_buf_appendf(b, "- 評価日時 / Evaluated: %s (run %lld)\n", t, (long long)m->ev.run));
	} else {
		TRY(mm_buf_appends(b, "- 評価日時 / Evaluated: 未評価 / never\n"));
	}
	TRY(mm_buf_appendf(b, "- サービス提供者が主体・一部の項目 / Criteria the provider is responsible "
			   "for: %zu\n- 証跡あり / With evidence: %zu\n- 合格 / Passing: %zu\n"
			   "- 不合格 / Failing: %zu\n\n", m->responsible, m->with_evidence,
			   m->passing, m->failing));
	return MM_OK;
}

static mm_err md_cell(mm_buf *b, const report_cell *c)
{
	mm_err rc;

	if (!c->set)
		return mm_buf_appends(b, "—");
	TRY(mm_buf_appendf(b, "**%s** %s", mm_fisc_mark_ja(c->mark), mm_fisc_mark_en(c->mark)));
	if (c->ja[0]) {
		TRY(mm_buf_appends(b, "<br>"));
		TRY(md_esc(b, c->ja));
	}
	if (c->en) {
		TRY(mm_buf_appends(b, "<br>"));
		TRY(md_esc(b, c->en));
	}
	return MM_OK;
}

static mm_err render_md(const report_model *m, mm_buf *b)
{
	int cat = -1;
	mm_err rc;

	TRY(md_header(m, b));
	TRY(mm_buf_appends(b, "## 対応表 / Responses\n\n"
			   "表題の † は中立的な表題（主題が手元の資料から特定できないもの）、* は未検証の項目。 / "
			   "† marks a neutral title (subject not known from our sources); * marks an "
			   "unverified criterion.\n"));
	for (size_t i = 0; i < m->nrows; i++) {
		const report_row *r = &m->rows[i];
		char t[MM_TIME_RFC3339_LEN];

		if ((int)r->c->category != cat) {
			cat = (int)r->c->category;
			TRY(mm_buf_appendf(b, "\n### %s / %s\n\n", mm_fisc_category_ja(r->c->category),
					   mm_fisc_category_en(r->c->category)));
			TRY(mm_buf_appends(b, "| 基準番号 ID | 項目 Title | 金融機関 FI | サービス提供者 Provider "
					   "| クラウド事業者 Cloud | 証跡 Evidence |\n|---|---|---|---|---|---|\n"));
		}
		TRY(mm_buf_appends(b, "| "));
		TRY(md_esc(b, r->c->id));
		if (r->c->provisional)
			TRY(mm_buf_appends(b, "\\*"));
		if (r->c->status != MM_FISC_ACTIVE)
			TRY(mm_buf_appendf(b, "<br>%s", mm_fisc_status_ja(r->c->status)));
		if (r->review)
			TRY(mm_buf_appendf(b, "<br>⚠ %s / %s", review_ja(r->review), review_en(r->review)));
		TRY(mm_buf_appends(b, " | "));
		TRY(md_esc(b, r->c->title_ja));
		TRY(mm_buf_appends(b, "<br>"));
		TRY(md_esc(b, r->c->title_en));
		if (r->c->title_neutral)
			TRY(mm_buf_appends(b, " †"));
		for (int p = 0; p < MM_FISC_NPARTY; p++) {
			TRY(mm_buf_appends(b, " | "));
			TRY(md_cell(b, &r->party[p]));
		}
		TRY(mm_buf_appendf(b, " | %s %s", fisc_evidence_ja(r->evidence),
				   fisc_evidence_en(r->evidence)));
		if (m->ev.run && strcmp(r->evidence, "none") != 0) {
			fmt_time(m->ev.time_ms, t);
			TRY(mm_buf_appendf(b, "<br>%s", t));
		}
		TRY(mm_buf_appends(b, " |\n"));
	}
	return MM_OK;
}

/* ---- HTML ---- */

static const char html_css[] =
	"@page { size: A4 landscape; margin: 12mm 10mm; }\n"
	"html { font-family: \"Noto Sans CJK JP\", \"Noto Sans JP\", \"IPAexGothic\", \"IPAGothic\","
	" \"Hiragino Kaku Gothic ProN\", \"Yu Gothic\", \"Meiryo\", sans-serif; font-size: 9pt;"
	" line-height: 1.45; color: #111; }\n"
	"body { margin: 0; }\n"
	"h1 { font-size: 15pt; margin: 0 0 4mm; }\n"
	"h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 0.4pt solid #555; }\n"
	"h3 { font-size: 10.5pt; margin: 5mm 0 2mm; page-break-after: avoid; break-after: avoid; }\n"
	"table { border-collapse: collapse; width: 100%; table-layout: fixed; }\n"
	"thead { display: table-header-group; }\n"
	"tr { page-break-inside: avoid; break-inside: avoid; }\n"
	"th, td { border: 0.4pt solid #777; padding: 1mm 1.2mm; vertical-align: top;"
	" overflow-wrap: anywhere; word-break: break-all; }\n"
	"th { background: #eee; font-weight: bold; }\n"
	"col.id { width: 7%; } col.title { width: 14%; } col.party { width: 22%; }"
	" col.ev { width: 13%; }\n"
	".en { color: #444; }\n"
	".mark { font-weight: bold; }\n"
	".pass { color: #075; } .fail, .error { color: #b00; font-weight: bold; }\n"
	".note { border: 0.6pt solid #b80; padding: 2mm; background: #fff8e6; }\n"
	".review { color: #b60; }\n"
	"dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.5mm 4mm; }\n"
	"dl.meta dt { font-weight: bold; } dl.meta dd { margin: 0; }\n"
	"@media print { a { color: inherit; text-decoration: none; } }\n";

static mm_err html_cell(mm_buf *b, const report_cell *c)
{
	mm_err rc;

	if (!c->set)
		return mm_buf_appends(b, "<td>—</td>");
	TRY(mm_buf_appendf(b, "<td><span class=\"mark\">%s</span> <span class=\"en\">%s</span>",
			   mm_fisc_mark_ja(c->mark), mm_fisc_mark_en(c->mark)));
	if (c->ja[0]) {
		TRY(mm_buf_appends(b, "<div lang=\"ja\">"));
		TRY(html_esc(b, c->ja, true));
		TRY(mm_buf_appends(b, "</div>"));
	}
	if (c->en) {
		TRY(mm_buf_appends(b, "<div lang=\"en\" class=\"en\">"));
		TRY(html_esc(b, c->en, true));
		TRY(mm_buf_appends(b, "</div>"));
	}
	return mm_buf_appends(b, "</td>");
}

static mm_err render_html(const report_model *m, mm_buf *b)
{
	char t[MM_TIME_RFC3339_LEN], ed[32];
	int cat = -1;
	mm_err rc;

	report_edition_label(m, ed, sizeof(ed));
	fmt_time(m->generated_ms, t);
	TRY(mm_buf_appends(b, "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n"
			   "<title>FISC 安全対策基準 対応表 "));
	TRY(mm_buf_appends(b, ed));
	TRY(mm_buf_appends(b, " / FISC response table</title>\n<style>\n"));
	TRY(mm_buf_appends(b, html_css));
	TRY(mm_buf_appends(b, "</style>\n</head>\n<body>\n<h1>FISC 安全対策基準 対応表 "
			   "<span class=\"en\">/ FISC security standard response table</span></h1>\n"
			   "<dl class=\"meta\">\n<dt>基準 / Standard</dt><dd>"));
	TRY(html_esc(b, m->ed->title_ja, false));
	TRY(mm_buf_appends(b, " <span class=\"en\">/ "));
	TRY(html_esc(b, m->ed->title_en, false));
	TRY(mm_buf_appendf(b, "</span> (%s)</dd>\n", m->ed->published));
	if (m->has_doc) {
		TRY(mm_buf_appends(b, "<dt>文書 / Document</dt><dd>"));
		TRY(html_esc(b, m->doc.title, false));
		TRY(mm_buf_appends(b, " ("));
		TRY(html_esc(b, m->doc.id, false));
		TRY(mm_buf_appendf(b, ")</dd>\n<dt>版数 / Version</dt><dd>%lld (%s)",
				   (long long)m->ver.version, m->ver.state));
		if (m->ver.published_ms) {
			char c[MM_TIME_RFC3339_LEN];

			fmt_time(m->ver.published_ms, c);
			TRY(mm_buf_appendf(b, ", 公開 / published %s", c));
		}
		if (m->ver.approved_by[0]) {
			TRY(mm_buf_appends(b, ", 承認者 / approved by "));
			TRY(html_esc(b, m->ver.approved_by, false));
		}
		TRY(mm_buf_appends(b, "</dd>\n"));
	} else {
		TRY(mm_buf_appends(b, "<dt>文書 / Document</dt><dd>なし（空の雛形） / none (blank template)</dd>\n"));
	}
	TRY(mm_buf_appendf(b, "<dt>作成日時 / Generated</dt><dd>%s</dd>\n</dl>\n", t));
	if (!m->ed->complete) {
		TRY(mm_buf_appends(b, "<p class=\"note\"><strong>注意 / Note:</strong> "));
		TRY(html_esc(b, m->ed->note_ja, false));
		TRY(mm_buf_appends(b, "<br><span class=\"en\">"));
		TRY(html_esc(b, m->ed->note_en, false));
		TRY(mm_buf_appends(b, "</span></p>\n"));
	}
	TRY(mm_buf_appends(b, "<h2>改訂履歴 <span class=\"en\">/ Revision history</span></h2>\n"));
	if (json_array_size(m->history) == 0) {
		TRY(mm_buf_appends(b, "<p>公開版はまだありません。 <span class=\"en\">/ No published "
				   "version yet.</span></p>\n"));
	} else {
		TRY(mm_buf_appends(b, "<table><thead><tr><th>版数<br>Version</th><th>公開日<br>Published</th>"
				   "<th>概要<br>Summary</th><th>承認者<br>Approved by</th></tr></thead><tbody>\n"));
		for (size_t i = 0; i < json_array_size(m->history); i++) {
			json_t *h = json_array_get(m->history, i);

			TRY(mm_buf_appendf(b, "<tr><td>%lld</td><td>%s</td><td>",
					   (long long)json_integer_value(json_object_get(h, "version")),
					   json_string_value(json_object_get(h, "published"))));
			TRY(html_esc(b, json_string_value(json_object_get(h, "summary")), true));
			TRY(mm_buf_appends(b, "</td><td>"));
			TRY(html_esc(b, json_string_value(json_object_get(h, "approved_by")), false));
			TRY(mm_buf_appends(b, "</td></tr>\n"));
		}
		TRY(mm_buf_appends(b, "</tbody></table>\n"));
	}
	TRY(mm_buf_appends(b, "<h2>証跡の概要 <span class=\"en\">/ Evidence coverage</span></h2>\n<ul>\n"));
	if (m->ev.run) {
		fmt_time(m->ev.time_ms, t);
		TRY(mm_buf_appendf(b, "<li>評価日時 / Evaluated: %s (run %lld)</li>\n", t,
				   (long long)m->ev.run));
	} else {
		TRY(mm_buf_appends(b, "<li>評価日時 / Evaluated: 未評価 / never</li>\n"));
	}
	TRY(mm_buf_appendf(b, "<li>サービス提供者が主体・一部の項目 / Criteria the provider is "
			   "responsible for: %zu</li>\n<li>証跡あり / With evidence: %zu</li>\n"
			   "<li>合格 / Passing: %zu</li>\n<li>不合格 / Failing: %zu</li>\n</ul>\n",
			   m->responsible, m->with_evidence, m->passing, m->failing));
	TRY(mm_buf_appends(b, "<h2>対応表 <span class=\"en\">/ Responses</span></h2>\n"
			   "<p>† 中立的な表題（主題が手元の資料から特定できないもの）、* 未検証の項目 "
			   "<span class=\"en\">/ † neutral title (subject not known from our sources); "
			   "* unverified criterion</span></p>\n"));
	for (size_t i = 0; i < m->nrows; i++) {
		const report_row *r = &m->rows[i];

		if ((int)r->c->category != cat) {
			if (cat >= 0)
				TRY(mm_buf_appends(b, "</tbody></table>\n"));
			cat = (int)r->c->category;
			TRY(mm_buf_appendf(b, "<h3>%s <span class=\"en\">/ %s</span></h3>\n",
					   mm_fisc_category_ja(r->c->category),
					   mm_fisc_category_en(r->c->category)));
			TRY(mm_buf_appends(b, "<table><colgroup><col class=\"id\"><col class=\"title\">"
					   "<col class=\"party\"><col class=\"party\"><col class=\"party\">"
					   "<col class=\"ev\"></colgroup><thead><tr><th>基準番号<br>ID</th>"
					   "<th>項目<br>Title</th><th>金融機関<br>Financial institution</th>"
					   "<th>サービス提供者<br>Service provider</th><th>クラウド事業者<br>"
					   "Cloud vendor</th><th>証跡<br>Evidence</th></tr></thead><tbody>\n"));
		}
		TRY(mm_buf_appends(b, "<tr><td>"));
		TRY(html_esc(b, r->c->id, false));
		if (r->c->provisional)
			TRY(mm_buf_appends(b, "*"));
		if (r->c->status != MM_FISC_ACTIVE)
			TRY(mm_buf_appendf(b, "<br>%s", mm_fisc_status_ja(r->c->status)));
		if (r->review)
			TRY(mm_buf_appendf(b, "<br><span class=\"review\">%s<br>%s</span>",
					   review_ja(r->review), review_en(r->review)));
		TRY(mm_buf_appends(b, "</td><td>"));
		TRY(html_esc(b, r->c->title_ja, false));
		TRY(mm_buf_appends(b, "<br><span class=\"en\">"));
		TRY(html_esc(b, r->c->title_en, false));
		TRY(mm_buf_appends(b, r->c->title_neutral ? " †</span></td>" : "</span></td>"));
		for (int p = 0; p < MM_FISC_NPARTY; p++)
			TRY(html_cell(b, &r->party[p]));
		TRY(mm_buf_appendf(b, "<td class=\"%s\">%s<br><span class=\"en\">%s</span>", r->evidence,
				   fisc_evidence_ja(r->evidence), fisc_evidence_en(r->evidence)));
		if (m->ev.run && strcmp(r->evidence, "none") != 0) {
			fmt_time(m->ev.time_ms, t);
			TRY(mm_buf_appendf(b, "<br><small>%s</small>", t));
		}
		TRY(mm_buf_appends(b, "</td></tr>\n"));
	}
	if (cat >= 0)
		TRY(mm_buf_appends(b, "</tbody></table>\n"));
	return mm_buf_appends(b, "</body>\n</html>\n");
}

/* ---- CSV ---- */

static const char *const csv_header[] = {
	"基準番号 / ID", "区分 / Category", "中項目 / Group", "項目 / Title (ja)", "Title (en)",
	"状態 / Status", "金融機関 区分 / FI mark", "金融機関 対応内容 / FI response (ja)",
	"FI response (en)", "サービス提供者 区分 / Provider mark",
	"サービス提供者 対応内容 / Provider response (ja)", "Provider response (en)",
	"クラウド事業者 区分 / Cloud mark", "クラウド事業者 対応内容 / Cloud response (ja)",
	"Cloud response (en)", "証跡 / Evidence", "評価日時 / Evaluated", "要レビュー / Review",
};

#define REPORT_COLS (sizeof(csv_header) / sizeof(csv_header[0]))

/* Fills the flat cells of one row (shared by CSV and XLSX). */
static void flat_row(const report_model *m, const report_row *r, const char *v[REPORT_COLS],
		     char bufs[8][160])
{
	const mm_fisc_group *g = r->c->group;

	v[0] = r->c->id;
	snprintf(bufs[0], sizeof(bufs[0]), "%s / %s", mm_fisc_category_ja(r->c->category),
		 mm_fisc_category_en(r->c->category));
	v[1] = bufs[0];
	if (g && g->number)
		snprintf(bufs[1], sizeof(bufs[1]), "%s (%d)", g->section_ja, g->number);
	else if (g)
		snprintf(bufs[1], sizeof(bufs[1]), "%s", g->section_ja);
	else
		bufs[1][0] = '\0';
	v[2] = bufs[1];
	v[3] = r->c->title_ja;
	v[4] = r->c->title_en;
	snprintf(bufs[2], sizeof(bufs[2]), "%s / %s%s", mm_fisc_status_ja(r->c->status),
		 mm_fisc_status_name(r->c->status), r->c->provisional ? " (未検証 / unverified)" : "");
	v[5] = bufs[2];
	for (int p = 0; p < MM_FISC_NPARTY; p++) {
		v[6 + 3 * p] = report_mark_label(&r->party[p], bufs[3 + p], sizeof(bufs[3 + p]));
		v[7 + 3 * p] = r->party[p].ja;
		v[8 + 3 * p] = r->party[p].en ? r->party[p].en : "";
	}
	snprintf(bufs[6], sizeof(bufs[6]), "%s / %s", fisc_evidence_ja(r->evidence),
		 fisc_evidence_en(r->evidence));
	v[15] = bufs[6];
	if (m->ev.run && strcmp(r->evidence, "none") != 0)
		mm_time_format(m->ev.time_ms, bufs[7]);
	else
		bufs[7][0] = '\0';
	v[16] = bufs[7];
	v[17] = r->review ? review_en(r->review) : "";
}

static mm_err render_csv(const report_model *m, mm_buf *b)
{
	mm_err rc;

	TRY(mm_buf_appends(b, "\xEF\xBB\xBF"));
	for (size_t i = 0; i < REPORT_COLS; i++)
		TRY(csv_field(b, csv_header[i], i + 1 == REPORT_COLS));
	for (size_t i = 0; i < m->nrows; i++) {
		const char *v[REPORT_COLS];
		char bufs[8][160];

		flat_row(m, &m->rows[i], v, bufs);
		for (size_t k = 0; k < REPORT_COLS; k++)
			TRY(csv_field(b, v[k], k + 1 == REPORT_COLS));
	}
	return MM_OK;
}

size_t report_ncols(void)
{
	return REPORT_COLS;
}

const char *report_col_header(size_t i)
{
	return i < REPORT_COLS ? csv_header[i] : "";
}

void report_flat_row(const report_model *m, const report_row *r, const char **v,
		     char bufs[8][160])
{
	flat_row(m, r, v, bufs);
}

/* ---- entry ---- */

mm_err mm_fisc_report(mm_fisc *f, const mm_fisc_report_opts *o, mm_buf *out)
{
	report_model m;
	mm_err rc;

	if (o == NULL || (size_t)o->format >= sizeof(fmt_names) / sizeof(fmt_names[0]))
		return mm_err_set(MM_ERR_INVALID, "unknown report format");
	if ((rc = model_build(f, o, &m)) != MM_OK)
		goto out;
	switch (o->format) {
	case MM_FISC_FMT_MD:
		rc = render_md(&m, out);
		break;
	case MM_FISC_FMT_HTML:
		rc = render_html(&m, out);
		break;
	case MM_FISC_FMT_CSV:
		rc = render_csv(&m, out);
		break;
	case MM_FISC_FMT_XLSX:
		rc = report_xlsx(&m, out);
		break;
	case MM_FISC_FMT_OSCAL_CD:
		rc = report_oscal_cd(&m, out);
		break;
	case MM_FISC_FMT_OSCAL_AR:
		rc = report_oscal_ar(&m, out);
		break;
	}
	if (rc == MM_ERR_LIMIT)
		rc = mm_err_set(MM_ERR_LIMIT, "the report is larger than the output limit");
out:
	model_release(&m);
	return rc;
}
