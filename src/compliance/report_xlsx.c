/*
 * report_xlsx.c: the 対応表 as an Excel workbook through libxlsxwriter.
 *
 * Sheets: 対応表 (one row per criterion, same columns as the CSV report,
 * printable on A4 landscape with the header row repeated), 改訂履歴
 * (revision history), 証跡 (the latest evaluation run) and 概要 (edition,
 * document and coverage). libxlsxwriter writes to a file, so the workbook is
 * built in a private temporary directory (mode 0700) that is removed before
 * returning; the bytes are appended to out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "compliance/report.h"
#include "core/time.h"

#define TRYX(x) do { lxw_error e_ = (x); if (e_ != LXW_NO_ERROR) { \
	rc = mm_err_set(MM_ERR_IO, "xlsx: %s", lxw_strerror(e_)); goto out; } } while (0)

static mm_err read_into(const char *path, mm_buf *out)
{
	char chunk[65536];
	FILE *f = fopen(path, "rb");
	size_t n;
	mm_err rc = MM_OK;

	if (f == NULL)
		return mm_err_set(MM_ERR_IO, "xlsx: cannot reopen the workbook: %s", strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = mm_buf_append(out, chunk, n)) != MM_OK)
			break;
	if (rc == MM_OK && ferror(f))
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot read the workbook");
	fclose(f);
	return rc;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

mm_err report_xlsx(const report_model *m, mm_buf *out)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600];
	lxw_workbook_options wo;
	lxw_workbook *wb = NULL;
	lxw_worksheet *ws;
	lxw_format *head, *wrap, *bold;
	char t[MM_TIME_RFC3339_LEN], ed[32];
	bool made_dir = false;
	mm_err rc = MM_OK;
	lxw_row_t row;

	snprintf(dir, sizeof(dir), "%s/mamori-xlsx-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return mm_err_set(MM_ERR_IO, "xlsx: cannot create a temporary directory: %s",
				  strerror(errno));
	made_dir = true;
	snprintf(path, sizeof(path), "%s/report.xlsx", dir);
	memset(&wo, 0, sizeof(wo));
	wo.tmpdir = dir;
	if ((wb = workbook_new_opt(path, &wo)) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot create the workbook");
		goto out;
	}
	head = workbook_add_format(wb);
	format_set_bold(head);
	format_set_text_wrap(head);
	format_set_align(head, LXW_ALIGN_VERTICAL_TOP);
	format_set_bg_color(head, 0xE7E6E6);
	format_set_border(head, LXW_BORDER_THIN);
	wrap = workbook_add_format(wb);
	format_set_text_wrap(wrap);
	format_set_align(wrap, LXW_ALIGN_VERTICAL_TOP);
	format_set_border(wrap, LXW_BORDER_THIN);
	bold = workbook_add_format(wb);
	format_set_bold(bold);

	/* Sheet 1: the table. */
	if ((ws = workbook_add_worksheet(wb, "対応表")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot add a worksheet");
		goto out;
	}
	worksheet_set_landscape(ws);
	worksheet_set_paper(ws, 9); /* A4 */
	worksheet_fit_to_pages(ws, 1, 0);
	TRYX(worksheet_repeat_rows(ws, 0, 0));
	worksheet_freeze_panes(ws, 1, 1);
	{
		static const double widths[] = { 9, 14, 16, 24, 24, 14, 12, 40, 30, 12, 40, 30, 12, 40,
						 30, 16, 22, 18 };

		for (size_t c = 0; c < report_ncols(); c++) {
			TRYX(worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c,
						  c < sizeof(widths) / sizeof(widths[0]) ? widths[c] : 16, NULL));
			TRYX(worksheet_write_string(ws, 0, (lxw_col_t)c, report_col_header(c), head));
		}
	}
	for (size_t i = 0; i < m->nrows; i++) {
		const char *v[32];
		char bufs[8][160];

		report_flat_row(m, &m->rows[i], v, bufs);
		for (size_t c = 0; c < report_ncols(); c++)
			TRYX(worksheet_write_string(ws, (lxw_row_t)(i + 1), (lxw_col_t)c, v[c], wrap));
	}
	TRYX(worksheet_autofilter(ws, 0, 0, (lxw_row_t)m->nrows, (lxw_col_t)(report_ncols() - 1)));

	/* Sheet 2: revision history. */
	if ((ws = workbook_add_worksheet(wb, "改訂履歴")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot add a worksheet");
		goto out;
	}
	worksheet_set_paper(ws, 9);
	TRYX(worksheet_set_column(ws, 0, 0, 10, NULL));
	TRYX(worksheet_set_column(ws, 1, 1, 26, NULL));
	TRYX(worksheet_set_column(ws, 2, 2, 60, NULL));
	TRYX(worksheet_set_column(ws, 3, 4, 24, NULL));
	TRYX(worksheet_write_string(ws, 0, 0, "版数 / Version", head));
	TRYX(worksheet_write_string(ws, 0, 1, "公開日 / Published", head));
	TRYX(worksheet_write_string(ws, 0, 2, "概要 / Summary", head));
	TRYX(worksheet_write_string(ws, 0, 3, "公開者 / Published by", head));
	TRYX(worksheet_write_string(ws, 0, 4, "承認者 / Approved by", head));
	for (size_t i = 0; i < json_array_size(m->history); i++) {
		json_t *h = json_array_get(m->history, i);

		row = (lxw_row_t)(i + 1);
		TRYX(worksheet_write_number(ws, row, 0,
					    (double)json_integer_value(json_object_get(h, "version")), wrap));
		TRYX(worksheet_write_string(ws, row, 1,
					    str_or_empty(json_string_value(json_object_get(h, "published"))), wrap));
		TRYX(worksheet_write_string(ws, row, 2,
					    str_or_empty(json_string_value(json_object_get(h, "summary"))), wrap));
		TRYX(worksheet_write_string(ws, row, 3,
					    str_or_empty(json_string_value(json_object_get(h, "published_by"))), wrap));
		TRYX(worksheet_write_string(ws, row, 4,
					    str_or_empty(json_string_value(json_object_get(h, "approved_by"))), wrap));
	}

	/* Sheet 3: evidence of the latest run. */
	if ((ws = workbook_add_worksheet(wb, "証跡")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot add a worksheet");
		goto out;
	}
	worksheet_set_landscape(ws);
	worksheet_set_paper(ws, 9);
	TRYX(worksheet_set_column(ws, 0, 0, 30, NULL));
	TRYX(worksheet_set_column(ws, 1, 1, 14, NULL));
	TRYX(worksheet_set_column(ws, 2, 3, 50, NULL));
	TRYX(worksheet_set_column(ws, 4, 4, 22, NULL));
	TRYX(worksheet_write_string(ws, 0, 0, "チェック / Check", head));
	TRYX(worksheet_write_string(ws, 0, 1, "結果 / Result", head));
	TRYX(worksheet_write_string(ws, 0, 2, "所見 / Finding (ja)", head));
	TRYX(worksheet_write_string(ws, 0, 3, "Finding (en)", head));
	TRYX(worksheet_write_string(ws, 0, 4, "評価日時 / Evaluated", head));
	mm_time_format(m->ev.time_ms, t);
	for (size_t i = 0; i < m->ev.n; i++) {
		const fisc_eval_result *r = &m->ev.r[i];
		char res[64];

		row = (lxw_row_t)(i + 1);
		snprintf(res, sizeof(res), "%s / %s", fisc_evidence_ja(r->result),
			 fisc_evidence_en(r->result));
		TRYX(worksheet_write_string(ws, row, 0, r->check, wrap));
		TRYX(worksheet_write_string(ws, row, 1, res, wrap));
		TRYX(worksheet_write_string(ws, row, 2, r->finding_ja, wrap));
		TRYX(worksheet_write_string(ws, row, 3, r->finding_en, wrap));
		TRYX(worksheet_write_string(ws, row, 4, t, wrap));
	}

	/* Sheet 4: summary. */
	if ((ws = workbook_add_worksheet(wb, "概要")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "xlsx: cannot add a worksheet");
		goto out;
	}
	worksheet_set_paper(ws, 9);
	TRYX(worksheet_set_column(ws, 0, 0, 44, NULL));
	TRYX(worksheet_set_column(ws, 1, 1, 70, wrap));
	report_edition_label(m, ed, sizeof(ed));
	row = 0;
	TRYX(worksheet_write_string(ws, row, 0, "基準 / Standard", bold));
	TRYX(worksheet_write_string(ws, row++, 1, m->ed->title_ja, NULL));
	TRYX(worksheet_write_string(ws, row++, 1, m->ed->title_en, NULL));
	TRYX(worksheet_write_string(ws, row, 0, "基準一覧 / Criteria list", bold));
	TRYX(worksheet_write_string(ws, row++, 1, m->ed->complete ? "完全 / complete" :
				    "不完全 / incomplete", NULL));
	if (!m->ed->complete) {
		TRYX(worksheet_write_string(ws, row++, 1, m->ed->note_ja, NULL));
		TRYX(worksheet_write_string(ws, row++, 1, m->ed->note_en, NULL));
	}
	TRYX(worksheet_write_string(ws, row, 0, "文書 / Document", bold));
	TRYX(worksheet_write_string(ws, row++, 1, m->has_doc ? m->doc.title :
				    "なし（空の雛形） / none (blank template)", NULL));
	if (m->has_doc) {
		char v[96];

		snprintf(v, sizeof(v), "%lld (%s)", (long long)m->ver.version, m->ver.state);
		TRYX(worksheet_write_string(ws, row, 0, "版数 / Version", bold));
		TRYX(worksheet_write_string(ws, row++, 1, v, NULL));
	}
	TRYX(worksheet_write_string(ws, row, 0, "評価日時 / Evaluated", bold));
	TRYX(worksheet_write_string(ws, row++, 1, m->ev.run ? t : "未評価 / never", NULL));
	TRYX(worksheet_write_string(ws, row, 0, "提供者が主体・一部の項目 / Provider responsible", bold));
	TRYX(worksheet_write_number(ws, row++, 1, (double)m->responsible, NULL));
	TRYX(worksheet_write_string(ws, row, 0, "証跡あり / With evidence", bold));
	TRYX(worksheet_write_number(ws, row++, 1, (double)m->with_evidence, NULL));
	TRYX(worksheet_write_string(ws, row, 0, "合格 / Passing", bold));
	TRYX(worksheet_write_number(ws, row++, 1, (double)m->passing, NULL));
	TRYX(worksheet_write_string(ws, row, 0, "不合格 / Failing", bold));
	TRYX(worksheet_write_number(ws, row++, 1, (double)m->failing, NULL));

	{
		lxw_error e = workbook_close(wb);

		wb = NULL;
		if (e != LXW_NO_ERROR) {
			rc = mm_err_set(MM_ERR_IO, "xlsx: %s", lxw_strerror(e));
			goto out;
		}
	}
	rc = read_into(path, out);
out:
	if (wb != NULL)
		(void)workbook_close(wb); /* frees it; the half-written file is removed below */
	unlink(path);
	if (made_dir)
		rmdir(dir);
	return rc;
}
