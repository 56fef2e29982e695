/*
 * Tests of FISC response tables against a real store: a full 12th-edition
 * table generated here goes through CSV import, four-eyes approval,
 * publication and every report format, and comes back identical cell by
 * cell (CSV and XLSX are read back by check_report.py with the Python
 * standard library); later versions, history and diffs; carrying a table
 * forward to the 13th edition; bad CSV files rejected with line numbers and
 * nothing imported; evidence checks that flip from pass to fail when the
 * system is put in the failing state; a check registered the way another
 * module would; coverage; and the audit events of every change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "compliance/fisc.h"
#include "core/evidence.h"
#include "crypto/sign.h"
#include "keys/named.h"

struct env {
	char dir[256];
	mm_store *store;
	mm_audit_log *audit;
	mm_config cfg;
	mm_fisc *f;
};

static const mm_fisc_who alice = { "user:alice", "127.0.0.1", "req-a" };
static const mm_fisc_who bob = { "user:bob", "127.0.0.1", "req-b" };
static const mm_fisc_who carol = { "user:carol", NULL, NULL };
static const mm_fisc_who dave = { "user:dave", NULL, NULL };

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_keys_migrations,
					   &mm_compliance_migrations };
	mm_store_opts so;
	mm_fisc_opts fo;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/mm-fisc-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	memset(&so, 0, sizeof(so));
	so.dir = e->dir;
	so.sync_full = false;
	assert_int_equal(mm_store_open(&so, &e->store), MM_OK);
	assert_int_equal(mm_store_migrate(e->store, sets, 3), MM_OK);
	{
		/* The audit log keeps its tree as the daemon's does (no signer:
		 * no checkpoints). */
		mm_audit_opts ao = { .origin = "mamori.test/audit" };

		assert_int_equal(mm_audit_open(e->store, &ao, &e->audit), MM_OK);
	}
	assert_int_equal(mm_config_init(&e->cfg), MM_OK);
	memset(&fo, 0, sizeof(fo));
	fo.store = e->store;
	fo.cfg = &e->cfg;
	assert_int_equal(mm_fisc_open(&fo, &e->f), MM_OK);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[300];

	mm_fisc_close(e->f);
	mm_audit_close(e->audit);
	mm_store_close(e->store);
	mm_config_release(&e->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* ---- helpers ---- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void csv_field(mm_buf *b, const char *s, bool last)
{
	assert_int_equal(mm_buf_appendc(b, '"'), MM_OK);
	for (; *s; s++)
		assert_int_equal(*s == '"' ? mm_buf_appends(b, "\"\"") : mm_buf_appendc(b, *s), MM_OK);
	assert_int_equal(mm_buf_appends(b, last ? "\"\r\n" : "\","), MM_OK);
}

static const char *const party_key[] = { "fi", "provider", "cloud" };
static const char *const party_csv[] = { "金融機関", "provider", "クラウド事業者" };
static const mm_fisc_mark marks[] = { MM_FISC_PRIMARY, MM_FISC_PARTIAL, MM_FISC_NOT_APPLICABLE,
				      MM_FISC_CUSTOMER };
#define NASTY "<script>alert(1)</script>"

/*
 * Generates a full table for edition ed: every non-retired criterion, all
 * three parties, with commas, quotes, newlines, markup and English text in
 * some cells, and an empty 対象外 cell now and then. Fills csv (with BOM,
 * Japanese header names) and exp (check_report.py's EXPECTED format).
 */
static void gen_table(const mm_fisc_edition *ed, mm_buf *csv, json_t *exp, size_t *ret_cells)
{
	json_t *ids = json_array(), *titles = json_object(), *cells = json_object();
	json_t *prov = json_array();
	size_t n = 0;

	assert_int_equal(mm_buf_appends(csv, "\xEF\xBB\xBF基準番号,対応者,区分,対応内容,response_en\r\n"), MM_OK);
	for (size_t i = 0; i < ed->ncriteria; i++) {
		const mm_fisc_criterion *c = &ed->criteria[i];
		json_t *row = json_object();

		json_array_append_new(ids, json_string(c->id));
		json_object_set_new(titles, c->id, json_pack("[s,s]", c->title_ja, c->title_en));
		if (c->status == MM_FISC_RETIRED) {
			json_decref(row);
			continue;
		}
		for (int p = 0; p < MM_FISC_NPARTY; p++) {
			mm_fisc_mark m = marks[(i + (size_t)p) % 4];
			char ja[512], en[256], label[64];

			if (m == MM_FISC_NOT_APPLICABLE && i % 3 == 0)
				ja[0] = '\0';
			else if (i % 7 == 0)
				snprintf(ja, sizeof(ja), "%s の対応（%s）、\"引用\", カンマ\n二行目 %s", c->id,
					 party_key[p], i == 14 ? NASTY : "");
			else
				snprintf(ja, sizeof(ja), "%s について%sが対応します。", c->id, party_key[p]);
			if (i % 2 == 0)
				snprintf(en, sizeof(en), "%s: handled by %s, see \"manual\"", c->id, party_key[p]);
			else
				en[0] = '\0';
			csv_field(csv, c->id, false);
			csv_field(csv, party_csv[p], false);
			csv_field(csv, mm_fisc_mark_ja(m), false);
			csv_field(csv, ja, false);
			csv_field(csv, en, true);
			snprintf(label, sizeof(label), "%s / %s", mm_fisc_mark_ja(m), mm_fisc_mark_en(m));
			json_object_set_new(row, party_key[p], json_pack("[s,s,s]", label, ja, en));
			if (p == MM_FISC_PROVIDER && c->status == MM_FISC_ACTIVE &&
			    (m == MM_FISC_PRIMARY || m == MM_FISC_PARTIAL))
				json_array_append_new(prov, json_string(c->id));
			n++;
		}
		json_object_set_new(cells, c->id, row);
	}
	json_object_set_new(exp, "ids", ids);
	json_object_set_new(exp, "titles", titles);
	json_object_set_new(exp, "cells", cells);
	json_object_set_new(exp, "provider_ids", prov);
	json_object_set_new(exp, "must_escape", json_string(NASTY));
	*ret_cells = n;
}

static void report_to(struct env *e, int edition, const char *doc, int64_t version,
		      mm_fisc_format fmt, const char *path)
{
	mm_fisc_report_opts o = { edition, doc, version, fmt };
	mm_buf b = MM_BUF_INIT(64u << 20);

	mm_err rc = mm_fisc_report(e->f, &o, &b);

	if (rc != MM_OK)
		fail_msg("report %s: %s", mm_fisc_format_name(fmt), mm_err_detail(rc));
	assert_true(b.len > 0);
	write_file(path, b.data, b.len);
	mm_buf_release(&b);
}

static void run_checker(const char *kind, const char *file, const char *expected)
{
	const char *src = getenv("MAMORI_SRC");
	char cmd[2048];

	assert_non_null(src);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/compliance/check_report.py' %s '%s' '%s'", src,
		 kind, file, expected);
	if (system(cmd) != 0)
		fail_msg("check_report.py %s failed for %s", kind, file);
}

static int64_t count_audit(struct env *e, const char *action, const char *result)
{
	static const char q[] = "SELECT COUNT(*) FROM audit_events WHERE action = ? AND result = ?";
	mm_db *db;
	mm_stmt *st;
	bool row;
	int64_t n;

	assert_int_equal(mm_store_acquire(e->store, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, q, &st), MM_OK);
	assert_int_equal(mm_stmt_bind_text(st, 1, action), MM_OK);
	assert_int_equal(mm_stmt_bind_text(st, 2, result), MM_OK);
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	n = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	mm_store_release(e->store, db);
	return n;
}

static const char *state_of(struct env *e, const char *doc)
{
	static char buf[32];
	json_t *h;

	assert_int_equal(mm_fisc_history(e->f, doc, &h), MM_OK);
	snprintf(buf, sizeof(buf), "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(h, "versions"), 0), "state")));
	json_decref(h);
	return buf;
}

/* Compares a stored version with exp["cells"], cell by cell. */
static void compare_version(struct env *e, const char *doc, int64_t version, json_t *exp,
			    size_t ncells)
{
	json_t *v, *rs, *r, *cells = json_object_get(exp, "cells");
	size_t i;

	assert_int_equal(mm_fisc_version_get(e->f, doc, version, &v), MM_OK);
	rs = json_object_get(v, "responses");
	assert_int_equal(json_array_size(rs), ncells);
	json_array_foreach(rs, i, r) {
		const char *id = json_string_value(json_object_get(r, "id"));
		const char *party = json_string_value(json_object_get(r, "party"));
		json_t *want = json_object_get(json_object_get(cells, id), party);
		char label[64];
		mm_fisc_mark m;
		const char *en = json_string_value(json_object_get(r, "text_en"));

		assert_non_null(want);
		assert_true(mm_fisc_mark_parse(json_string_value(json_object_get(r, "mark")), &m));
		snprintf(label, sizeof(label), "%s / %s", mm_fisc_mark_ja(m), mm_fisc_mark_en(m));
		assert_string_equal(label, json_string_value(json_array_get(want, 0)));
		assert_string_equal(json_string_value(json_object_get(r, "text_ja")),
				    json_string_value(json_array_get(want, 1)));
		assert_string_equal(en ? en : "", json_string_value(json_array_get(want, 2)));
	}
	json_decref(v);
}

static void import_full_12(struct env *e, const char *doc, json_t *exp, size_t *ncells)
{
	const mm_fisc_edition *ed = mm_fisc_catalog_edition(mm_fisc_get_catalog(e->f), 12);
	mm_buf csv = MM_BUF_INIT(MM_FISC_CSV_MAX_BYTES);
	mm_fisc_import_result res;

	gen_table(ed, &csv, exp, ncells);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, doc, 12, "テストサービス 対応表 / Test service"), MM_OK);
	if (mm_fisc_import_csv(e->f, &alice, doc, csv.data, csv.len, true, &res) != MM_OK)
		fail_msg("import: %s", mm_err_detail(MM_ERR_INVALID));
	assert_int_equal(res.rows, *ncells);
	assert_int_equal(res.version, 1);
	mm_fisc_import_result_release(&res);
	mm_buf_release(&csv);
}

/* ---- round trip ---- */

static void test_round_trip_12(void **state)
{
	struct env *e = *state;
	json_t *exp = json_object(), *h, *d;
	size_t ncells = 0;
	char path[512], expected[512];
	int64_t v = 0;
	mm_fisc_report_opts ro = { 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_MD };
	mm_buf b = MM_BUF_INIT(1 << 20);

	import_full_12(e, "svc-12", exp, &ncells);
	assert_true(ncells > 900);
	/* No published version yet: the latest-published report is refused. */
	assert_int_equal(mm_fisc_report(e->f, &ro, &b), MM_ERR_NOT_FOUND);

	/* Four eyes: the author cannot approve; the refusal is audited. */
	assert_int_equal(mm_fisc_approve(e->f, &alice, "svc-12", 0), MM_ERR_FORBIDDEN);
	assert_non_null(strstr(mm_err_detail(MM_ERR_FORBIDDEN), "second person"));
	assert_int_equal(count_audit(e, "fisc.approve", "denied"), 1);
	assert_int_equal(mm_fisc_publish(e->f, &alice, "svc-12", 0, "初版"), MM_ERR_CONFLICT);
	assert_int_equal(mm_fisc_approve(e->f, &bob, "svc-12", 2), MM_ERR_CONFLICT);
	assert_int_equal(mm_fisc_approve(e->f, &bob, "svc-12", 1), MM_OK);
	assert_string_equal(state_of(e, "svc-12"), "approved");
	assert_int_equal(mm_fisc_approve(e->f, &carol, "svc-12", 0), MM_ERR_CONFLICT);
	assert_int_equal(mm_fisc_publish(e->f, &bob, "svc-12", 1, ""), MM_ERR_INVALID);
	assert_int_equal(mm_fisc_publish(e->f, &bob, "svc-12", 1, "初版 / first edition"), MM_OK);
	assert_string_equal(state_of(e, "svc-12"), "published");

	/* The stored table equals the generated one, cell by cell. */
	compare_version(e, "svc-12", MM_FISC_LATEST, exp, ncells);

	/* Every report format. */
	json_object_set_new(exp, "history", json_pack("[s]", "初版 / first edition"));
	snprintf(expected, sizeof(expected), "%s/expected.json", e->dir);
	assert_int_equal(json_dump_file(exp, expected, 0), 0);
	snprintf(path, sizeof(path), "%s/r.csv", e->dir);
	report_to(e, 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_CSV, path);
	run_checker("csv", path, expected);
	snprintf(path, sizeof(path), "%s/r.xlsx", e->dir);
	report_to(e, 12, "svc-12", 1, MM_FISC_FMT_XLSX, path);
	run_checker("xlsx", path, expected);
	snprintf(path, sizeof(path), "%s/r.html", e->dir);
	report_to(e, 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_HTML, path);
	run_checker("html", path, expected);
	snprintf(path, sizeof(path), "%s/r.md", e->dir);
	report_to(e, 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_MD, path);
	run_checker("md", path, expected);
	snprintf(path, sizeof(path), "%s/cd.json", e->dir);
	report_to(e, 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_OSCAL_CD, path);
	run_checker("oscal-cd", path, expected);
	assert_int_equal(mm_fisc_evaluate(e->f, &carol, NULL), MM_OK);
	snprintf(path, sizeof(path), "%s/ar.json", e->dir);
	report_to(e, 12, NULL, MM_FISC_LATEST, MM_FISC_FMT_OSCAL_AR, path);
	run_checker("oscal-ar", path, expected);

	/* A later version: carol edits (a new draft copied from v1), cannot
	 * approve her own edit; alice approves; dave's edit after approval sends
	 * it back to draft. */
	assert_int_equal(mm_fisc_response_set(e->f, &carol, "svc-12", "実１０", MM_FISC_PROVIDER,
					      MM_FISC_PRIMARY, "アクセス履歴を保存し点検します。",
					      "Access logs are kept and reviewed.", &v), MM_OK);
	assert_int_equal(v, 2);
	assert_string_equal(state_of(e, "svc-12"), "draft");
	assert_int_equal(mm_fisc_approve(e->f, &carol, "svc-12", 2), MM_ERR_FORBIDDEN);
	assert_int_equal(mm_fisc_approve(e->f, &alice, "svc-12", 2), MM_OK);
	assert_int_equal(mm_fisc_response_set(e->f, &dave, "svc-12", "監1", MM_FISC_CLOUD,
					      MM_FISC_NOT_APPLICABLE, "", NULL, &v), MM_OK);
	assert_int_equal(v, 2);
	assert_string_equal(state_of(e, "svc-12"), "draft");
	assert_int_equal(mm_fisc_publish(e->f, &alice, "svc-12", 2, "x"), MM_ERR_CONFLICT);
	assert_int_equal(mm_fisc_approve(e->f, &dave, "svc-12", 2), MM_ERR_FORBIDDEN);
	assert_int_equal(mm_fisc_approve(e->f, &alice, "svc-12", 2), MM_OK);
	assert_int_equal(mm_fisc_publish(e->f, &carol, "svc-12", 2, "実10 と監1 を更新"), MM_OK);
	/* Retired and unknown IDs are refused. */
	assert_int_equal(mm_fisc_response_set(e->f, &carol, "svc-12", "実127", MM_FISC_FI,
					      MM_FISC_PRIMARY, "x", NULL, NULL), MM_ERR_INVALID);
	assert_int_equal(mm_fisc_response_set(e->f, &carol, "svc-12", "実150", MM_FISC_FI,
					      MM_FISC_PRIMARY, "x", NULL, NULL), MM_ERR_INVALID);

	/* History, newest first, and the diff between the two versions. */
	assert_int_equal(mm_fisc_history(e->f, "svc-12", &h), MM_OK);
	assert_int_equal(json_array_size(json_object_get(h, "versions")), 2);
	{
		json_t *v2 = json_array_get(json_object_get(h, "versions"), 0);
		json_t *authors = json_object_get(v2, "authors");

		assert_int_equal(json_integer_value(json_object_get(v2, "version")), 2);
		assert_string_equal(json_string_value(json_object_get(v2, "summary")), "実10 と監1 を更新");
		assert_string_equal(json_string_value(json_object_get(v2, "approved_by")), "user:alice");
		assert_int_equal(json_array_size(authors), 2);
	}
	json_decref(h);
	assert_int_equal(mm_fisc_version_diff(e->f, "svc-12", 1, 2, &d), MM_OK);
	{
		json_t *ch = json_object_get(d, "changes");
		json_t *c0 = json_array_get(ch, 0), *c1 = json_array_get(ch, 1);

		assert_int_equal(json_array_size(ch), 2);
		assert_string_equal(json_string_value(json_object_get(c0, "id")), "実10");
		assert_string_equal(json_string_value(json_object_get(c0, "party")), "provider");
		assert_string_equal(json_string_value(json_object_get(c0, "change")), "changed");
		assert_string_equal(json_string_value(json_object_get(json_object_get(c0, "new"), "text_en")),
				    "Access logs are kept and reviewed.");
		assert_string_equal(json_string_value(json_object_get(c1, "id")), "監1");
	}
	json_decref(d);
	/* Deleting a cell shows up as removed. */
	assert_int_equal(mm_fisc_response_delete(e->f, &dave, "svc-12", "実1", MM_FISC_FI), MM_OK);
	assert_int_equal(mm_fisc_response_delete(e->f, &dave, "svc-12", "実1", MM_FISC_FI), MM_ERR_NOT_FOUND);
	assert_int_equal(mm_fisc_version_diff(e->f, "svc-12", 2, MM_FISC_WORKING, &d), MM_OK);
	assert_int_equal(json_array_size(json_object_get(d, "changes")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(d, "changes"), 0),
							       "change")), "removed");
	json_decref(d);

	/* Every change left its audit event. */
	assert_int_equal(count_audit(e, "fisc.doc.create", "success"), 1);
	assert_int_equal(count_audit(e, "fisc.import", "success"), 1);
	assert_int_equal(count_audit(e, "fisc.approve", "success"), 3);
	assert_int_equal(count_audit(e, "fisc.approve", "denied"), 3);
	assert_int_equal(count_audit(e, "fisc.publish", "success"), 2);
	assert_int_equal(count_audit(e, "fisc.response.set", "success"), 2);
	assert_int_equal(count_audit(e, "fisc.response.delete", "success"), 1);
	assert_int_equal(count_audit(e, "fisc.evaluate", "success"), 1);
	mm_buf_release(&b);
	json_decref(exp);
}

/* ---- bad CSV ---- */

static void expect_lines(const mm_fisc_import_result *r, const size_t *lines, size_t n)
{
	if (r->nerrors != n) {
		for (size_t i = 0; i < r->nerrors; i++)
			print_message("line %zu: %s\n", r->errors[i].line, r->errors[i].message);
		fail_msg("expected %zu errors, got %zu", n, r->nerrors);
	}
	for (size_t i = 0; i < n; i++)
		if (r->errors[i].line != lines[i])
			fail_msg("error %zu on line %zu (%s), expected line %zu", i, r->errors[i].line,
				 r->errors[i].message, lines[i]);
}

static void test_bad_csv(void **state)
{
	struct env *e = *state;
	mm_fisc_import_result r;
	json_t *v;
	const char *good = "id,party,mark,response_ja\n実1,fi,主体,元の回答\n";
	const char *bad =
		"\xEF\xBB\xBFid,party,mark,response_ja,response_en\r\n"       /* 1 */
		"実2,provider,主体,ok,\r\n"                                   /* 2 */
		"実999,provider,主体,unknown id,\r\n"                         /* 3 */
		"実3,provider,一部,\"two\nlines\",\r\n"                       /* 4-5 */
		"実2,provider,一部,duplicate of line 2,\r\n"                  /* 6 */
		"実4,fi,主体,bad\"quote,\r\n"                                 /* 7 */
		"実5,fi,主体,too,many,fields\r\n"                             /* 8 */
		"実6,fi,たぶん,bad mark,\r\n"                                 /* 9 */
		"実127,fi,主体,retired,\r\n"                                  /* 10 */
		"実7,someone,主体,bad party,\r\n"                             /* 11 */
		"実8,fi,主体,,\r\n"                                           /* 12: empty text */
		"実9,cloud,対象外,,\r\n"                                      /* 13: fine */
		"\"実10\"x,fi,主体,after quote,\r\n"                           /* 14 */
		"実11,fi,主体,\"never closed,\r\n"                            /* 15 */
		"実12,fi,主体,x,\r\n";
	static const size_t lines[] = { 3, 6, 7, 8, 9, 10, 11, 12, 14, 15 };

	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "bad", 12, "bad"), MM_OK);
	assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", good, strlen(good), true, &r), MM_OK);
	mm_fisc_import_result_release(&r);

	assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", bad, strlen(bad), true, &r),
			 MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "nothing imported"));
	expect_lines(&r, lines, sizeof(lines) / sizeof(lines[0]));
	assert_non_null(strstr(r.errors[0].message, "unknown criterion '実999'"));
	assert_non_null(strstr(r.errors[1].message, "first on line 2"));
	assert_non_null(strstr(r.errors[2].message, "quote inside an unquoted field"));
	assert_non_null(strstr(r.errors[3].message, "expected 5 fields, found 6"));
	assert_non_null(strstr(r.errors[5].message, "retired"));
	assert_non_null(strstr(r.errors[9].message, "unterminated"));
	assert_int_equal(r.rows, 0);
	mm_fisc_import_result_release(&r);

	/* Nothing was imported: the working copy still holds the one good cell. */
	assert_int_equal(mm_fisc_version_get(e->f, "bad", MM_FISC_WORKING, &v), MM_OK);
	assert_int_equal(json_array_size(json_object_get(v, "responses")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(v, "responses"), 0),
							       "text_ja")), "元の回答");
	json_decref(v);
	assert_int_equal(count_audit(e, "fisc.import", "success"), 1);

	/* Header problems and empty files. */
	{
		static const size_t one[] = { 1 };
		const char *no_cols = "id,party,response_ja\n実1,fi,x\n";
		const char *unknown_col = "id,party,mark,response_ja,colour\n実1,fi,主体,x,red\n";
		const char *only_header = "\xEF\xBB\xBFid,party,mark,response_ja\r\n";

		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", no_cols, strlen(no_cols), false, &r),
				 MM_ERR_INVALID);
		expect_lines(&r, one, 1);
		mm_fisc_import_result_release(&r);
		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", unknown_col, strlen(unknown_col),
						    false, &r), MM_ERR_INVALID);
		assert_non_null(strstr(r.errors[0].message, "unknown column 'colour'"));
		mm_fisc_import_result_release(&r);
		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", only_header, strlen(only_header),
						    false, &r), MM_ERR_INVALID);
		assert_non_null(strstr(r.errors[0].message, "no data rows"));
		mm_fisc_import_result_release(&r);
		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", "", 0, false, &r), MM_ERR_INVALID);
		mm_fisc_import_result_release(&r);
		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "nope", good, strlen(good), false, &r),
				 MM_ERR_NOT_FOUND);
		mm_fisc_import_result_release(&r);
	}
	/* Many errors: capped at 100, flagged as truncated. */
	{
		mm_buf b = MM_BUF_INIT(1 << 20);

		assert_int_equal(mm_buf_appends(&b, "id,party,mark,response_ja\n"), MM_OK);
		for (int i = 0; i < 150; i++)
			assert_int_equal(mm_buf_appendf(&b, "実%d,fi,主体,x\n", 1000 + i), MM_OK);
		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", b.data, b.len, false, &r),
				 MM_ERR_INVALID);
		assert_int_equal(r.nerrors, MM_FISC_CSV_MAX_ERRORS);
		assert_true(r.errors_truncated);
		assert_int_equal(r.errors[0].line, 2);
		mm_fisc_import_result_release(&r);
		mm_buf_release(&b);
	}
	/* Merge (not replace) keeps other cells; LF line ends without BOM work. */
	{
		const char *more = "基準番号,対応者,区分,対応内容\n実2,サービス提供者,一部,追加\n";

		assert_int_equal(mm_fisc_import_csv(e->f, &alice, "bad", more, strlen(more), false, &r), MM_OK);
		mm_fisc_import_result_release(&r);
		assert_int_equal(mm_fisc_version_get(e->f, "bad", MM_FISC_WORKING, &v), MM_OK);
		assert_int_equal(json_array_size(json_object_get(v, "responses")), 2);
		json_decref(v);
	}
}

/* ---- carry forward ---- */

static const char *reason_of(json_t *list, const char *id)
{
	size_t i;
	json_t *x;

	json_array_foreach(list, i, x)
		if (strcmp(json_string_value(json_object_get(x, "id")), id) == 0)
			return json_string_value(json_object_get(x, "reason"));
	return NULL;
}

static void test_carry_forward(void **state)
{
	struct env *e = *state;
	json_t *exp = json_object(), *res, *v;
	size_t ncells, i;
	json_t *x;

	import_full_12(e, "svc-12", exp, &ncells);
	/* Only a published version can be carried. */
	assert_int_equal(mm_fisc_carry_forward(e->f, &carol, "svc-12", MM_FISC_WORKING, "svc-13", 13,
					       "第13版", &res), MM_ERR_CONFLICT);
	assert_int_equal(mm_fisc_approve(e->f, &bob, "svc-12", 0), MM_OK);
	assert_int_equal(mm_fisc_publish(e->f, &bob, "svc-12", 0, "初版"), MM_OK);
	assert_int_equal(mm_fisc_carry_forward(e->f, &carol, "svc-12", MM_FISC_LATEST, "svc-13", 9,
					       "第9版", &res), MM_ERR_INVALID);
	assert_int_equal(mm_fisc_carry_forward(e->f, &carol, "svc-12", MM_FISC_LATEST, "svc-13", 13,
					       "第13版 対応表", &res), MM_OK);
	{
		json_t *nr = json_object_get(res, "needs_review");

		assert_string_equal(reason_of(nr, "実14-1"), "new");
		assert_string_equal(reason_of(nr, "実150"), "new");
		assert_string_equal(reason_of(nr, "統28"), "new");
		assert_string_equal(reason_of(nr, "監1-1"), "new");
		assert_string_equal(reason_of(nr, "統5-1"), "renumbered");
		assert_string_equal(reason_of(nr, "統5-5"), "renumbered");
		assert_string_equal(reason_of(nr, "統1"), "unverified");
		assert_string_equal(reason_of(nr, "設1"), "unverified");
		assert_null(reason_of(nr, "実1"));
		assert_null(reason_of(nr, "実149"));
		assert_int_equal(json_array_size(json_object_get(res, "dropped")), 0);
	}
	/* Cells: 実1 kept, 統5's cells now under each of 統5-1..5, new IDs empty. */
	assert_int_equal(mm_fisc_version_get(e->f, "svc-13", MM_FISC_WORKING, &v), MM_OK);
	{
		size_t n51 = 0, n5 = 0, n141 = 0;

		json_array_foreach(json_object_get(v, "responses"), i, x) {
			const char *id = json_string_value(json_object_get(x, "id"));

			n51 += strcmp(id, "統5-1") == 0;
			n5 += strcmp(id, "統5") == 0;
			n141 += strcmp(id, "実14-1") == 0;
		}
		assert_int_equal(n51, 3);
		assert_int_equal(n5, 0);
		assert_int_equal(n141, 0);
	}
	json_decref(v);
	/* Approval waits until every flagged criterion is reviewed. */
	assert_int_equal(mm_fisc_approve(e->f, &bob, "svc-13", 0), MM_ERR_CONFLICT);
	assert_non_null(strstr(mm_err_detail(MM_ERR_CONFLICT), "still need review"));
	json_array_foreach(json_object_get(res, "needs_review"), i, x) {
		const char *id = json_string_value(json_object_get(x, "id"));

		if (strcmp(id, "実14-1") == 0)
			assert_int_equal(mm_fisc_response_set(e->f, &carol, "svc-13", id, MM_FISC_PROVIDER,
							      MM_FISC_PRIMARY, "新設項目への対応", NULL, NULL), MM_OK);
		else
			assert_int_equal(mm_fisc_review_done(e->f, &carol, "svc-13", id), MM_OK);
	}
	assert_int_equal(mm_fisc_review_done(e->f, &carol, "svc-13", "実1"), MM_ERR_NOT_FOUND);
	assert_int_equal(mm_fisc_approve(e->f, &carol, "svc-13", 0), MM_ERR_FORBIDDEN);
	assert_int_equal(mm_fisc_approve(e->f, &bob, "svc-13", 0), MM_OK);
	assert_int_equal(mm_fisc_publish(e->f, &bob, "svc-13", 0, "第13版へ移行"), MM_OK);
	assert_int_equal(count_audit(e, "fisc.carry_forward", "success"), 1);
	assert_int_equal(count_audit(e, "fisc.review.done", "success"),
			 (int64_t)json_array_size(json_object_get(res, "needs_review")) - 1);
	json_decref(res);
	/* The docs listing. */
	assert_int_equal(mm_fisc_docs(e->f, &v), MM_OK);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "carried_from")),
			    "svc-12@1");
	json_decref(v);
	json_decref(exp);
}

/* ---- evidence ---- */

static const char *result_of(json_t *run, const char *check)
{
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(run, "results"), i, x)
		if (strcmp(json_string_value(json_object_get(x, "check")), check) == 0)
			return json_string_value(json_object_get(x, "result"));
	return NULL;
}

static char last_result[32];

static const char *evaluate(struct env *e, const char *check)
{
	json_t *run;

	assert_int_equal(mm_fisc_evaluate(e->f, &carol, &run), MM_OK);
	snprintf(last_result, sizeof(last_result), "%s", result_of(run, check) ? result_of(run, check) : "(none)");
	json_decref(run);
	return last_result;
}

/* Changes the database behind mamori's back, as someone with access to the
 * file could: plain SQLite, outside any store job (so no audit hook runs). */
static void tamper(struct env *e, const char *sql)
{
	char path[300];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/mamori.db", e->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("tamper: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void test_audit_check_flips(void **state)
{
	struct env *e = *state;

	/* An empty log is not evidence (the checks run before the evaluation
	 * appends its own event). */
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "fail");
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d", 12, "d"), MM_OK);
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "pass");
	/* Change one recorded field: fails. */
	tamper(e, "UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 1");
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "fail");
	{
		json_t *run;
		json_t *x;
		size_t i;

		assert_int_equal(mm_fisc_evaluate(e->f, &carol, &run), MM_OK);
		json_array_foreach(json_object_get(run, "results"), i, x)
			if (strcmp(json_string_value(json_object_get(x, "check")), "audit.log_verifiable") == 0) {
				assert_int_equal(json_integer_value(json_object_get(json_object_get(x, "data"),
										    "bad_seq")), 1);
				assert_string_equal(json_string_value(json_object_get(json_object_get(x, "data"),
										      "problem")), "modified");
				assert_non_null(strstr(json_string_value(json_object_get(x, "finding_en")),
						       "seq 1"));
			}
		json_decref(run);
	}
}

static void test_audit_check_inserted(void **state)
{
	struct env *e = *state;

	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d", 12, "d"), MM_OK);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d2", 12, "d2"), MM_OK);
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "pass");
	/* An event added outside mamori (not in the tree): fails. */
	tamper(e, "INSERT INTO audit_events (seq, time_ms, actor, action, target, result, source,"
		  " request_id, details) SELECT MAX(seq) + 1, 0, 'user:mallory', 'fisc.approve', NULL,"
		  " 'success', NULL, NULL, NULL FROM audit_events");
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "fail");
}

static void test_audit_check_deleted_row(void **state)
{
	struct env *e = *state;

	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d", 12, "d"), MM_OK);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d2", 12, "d2"), MM_OK);
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "pass");
	tamper(e, "DELETE FROM audit_events WHERE seq = 1");
	assert_string_equal(evaluate(e, "audit.log_verifiable"), "fail");
}

static mm_err sign_ed25519(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	return mm_ed25519_sign(ctx, msg, len, sig);
}

static void test_checkpoint_check_flips(void **state)
{
	struct env *e = *state;
	mm_ed25519_key *key = NULL;
	mm_audit_signer signer;

	/* An empty log: nothing to cover. */
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "not_applicable");
	/* Fresh events without any checkpoint yet: within the allowed 24 h. */
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d", 12, "d"), MM_OK);
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "pass");
	/* The oldest unsigned event is days old: fails. */
	tamper(e, "UPDATE audit_events SET time_ms = 1000 WHERE seq = 0");
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "fail");
	/* A signed checkpoint over everything: passes. */
	memset(&signer, 0, sizeof(signer));
	assert_int_equal(mm_ed25519_generate(&key), MM_OK);
	assert_int_equal(mm_ed25519_export_public(key, signer.public_key), MM_OK);
	signer.key_name = "mamori.test/audit";
	signer.sign = sign_ed25519;
	signer.ctx = key;
	assert_int_equal(mm_audit_set_signer(e->audit, &signer), MM_OK);
	assert_int_equal(mm_audit_checkpoint_now(e->audit, NULL), MM_OK);
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "pass");
	/* New events after it, then left unsigned for too long: fails again. */
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "d2", 12, "d2"), MM_OK);
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "pass");
	tamper(e, "UPDATE audit_events SET time_ms = 1000 WHERE seq = (SELECT MAX(tree_size)"
		  " FROM audit_checkpoints)");
	assert_string_equal(evaluate(e, "audit.checkpoint_published"), "fail");
	assert_int_equal(mm_audit_set_signer(e->audit, NULL), MM_OK);
	mm_ed25519_key_free(key);
}

/* Keys checks against the real key manager: a listed algorithm passes, a
 * stale key fails until it is rotated, an unlisted type fails. */
static void test_keys_checks_flip(void **state)
{
	struct env *e = *state;
	mm_keys_opts ko = { e->store, NULL };
	mm_keys_create_opts co;
	mm_keys_shares sh;
	mm_keys *k = NULL;

	assert_string_equal(evaluate(e, "keys.cryptrec_algorithms"), "not_applicable");
	assert_string_equal(evaluate(e, "keys.rotated"), "not_applicable");
	assert_int_equal(mm_keys_open(&ko, &k), MM_OK);
	memset(&sh, 0, sizeof(sh));
	assert_int_equal(mm_keys_init(k, NULL, 1, 1, &sh), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(k, NULL, sh.shares[0], NULL), MM_OK);
	mm_keys_shares_release(&sh);
	memset(&co, 0, sizeof(co));
	co.type = MM_KEY_AES256_GCM;
	assert_int_equal(mm_keys_create(k, NULL, "customer-data", &co), MM_OK);
	co.type = MM_KEY_ED25519;
	assert_int_equal(mm_keys_create(k, NULL, "report-signing", &co), MM_OK);
	assert_string_equal(evaluate(e, "keys.cryptrec_algorithms"), "pass");
	assert_string_equal(evaluate(e, "keys.rotated"), "pass");
	/* Not rotated for two years: fails; rotating it passes again. */
	tamper(e, "UPDATE keys_named SET created_ms = 1000, rotated_ms = 1000"
		  " WHERE name = 'customer-data'");
	assert_string_equal(evaluate(e, "keys.rotated"), "fail");
	assert_int_equal(mm_keys_rotate(k, NULL, "customer-data", NULL), MM_OK);
	assert_string_equal(evaluate(e, "keys.rotated"), "pass");
	/* A key whose type is not on the list: fails. */
	tamper(e, "UPDATE keys_named SET type = 'des-cbc' WHERE name = 'report-signing'");
	assert_string_equal(evaluate(e, "keys.cryptrec_algorithms"), "fail");
	mm_keys_close(k);
}

/* Writes a self-signed certificate and key. kind 0: EC P-256, 1: RSA 1024.
 * key_of: when not NULL, the key file gets this key instead (mismatch). */
static EVP_PKEY *make_cert(const char *cert, const char *key, int kind, long from_s, long to_s,
			   EVP_PKEY *key_of)
{
	EVP_PKEY *pk = kind == 0 ? EVP_EC_gen("P-256") : EVP_RSA_gen(1024);
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	assert_non_null(pk);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mamori.test", -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	f = fopen(cert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, key_of ? key_of : pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(key, 0600);
	X509_free(x);
	return pk;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

static void test_tls_check_flips(void **state)
{
	struct env *e = *state;
	char cert[300], key[300];
	EVP_PKEY *k1, *k2;

	snprintf(cert, sizeof(cert), "%s/cert.pem", e->dir);
	snprintf(key, sizeof(key), "%s/key.pem", e->dir);
	/* Default: no TLS, loopback only: not applicable. */
	assert_string_equal(evaluate(e, "tls.configured"), "not_applicable");
	/* Listening on every address without TLS: fail. */
	set_str(&e->cfg.listen, "0.0.0.0:8470");
	assert_string_equal(evaluate(e, "tls.configured"), "fail");
	/* A valid P-256 certificate: pass. */
	k1 = make_cert(cert, key, 0, -60, 86400L * 90, NULL);
	set_str(&e->cfg.tls_cert, cert);
	set_str(&e->cfg.tls_key, key);
	assert_string_equal(evaluate(e, "tls.configured"), "pass");
	/* Expired: fail. */
	EVP_PKEY_free(make_cert(cert, key, 0, -86400L * 10, -86400L, NULL));
	assert_string_equal(evaluate(e, "tls.configured"), "fail");
	/* Key that does not match the certificate: fail. */
	k2 = make_cert(cert, key, 0, -60, 86400L * 90, k1);
	assert_string_equal(evaluate(e, "tls.configured"), "fail");
	/* RSA 1024 is below the CRYPTREC minimum: fail. */
	EVP_PKEY_free(make_cert(cert, key, 1, -60, 86400L * 90, NULL));
	assert_string_equal(evaluate(e, "tls.configured"), "fail");
	/* Unreadable certificate: fail, not an error. */
	set_str(&e->cfg.tls_cert, "/nonexistent/cert.pem");
	assert_string_equal(evaluate(e, "tls.configured"), "fail");
	/* Back to a good one: pass again. */
	EVP_PKEY_free(make_cert(cert, key, 0, -60, 86400L * 90, NULL));
	set_str(&e->cfg.tls_cert, cert);
	assert_string_equal(evaluate(e, "tls.configured"), "pass");
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* A check as another module would add it: one registration call. */
static bool standing_ok = true;

static mm_err fake_no_standing(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	if (standing_ok)
		mm_evidence_set(out, MM_EVIDENCE_PASS, "常時特権はありません", "No standing privilege");
	else
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "常時特権があります", "Standing privilege found");
	out->data = json_pack("{s:b}", "ok", standing_ok);
	return MM_OK;
}

static const mm_evidence_check fake_check = {
	.name = "access.no_standing_privilege",
	.module = "access",
	.title_ja = "常時付与された特権アクセスがない",
	.title_en = "No standing privileged access",
	.description = "test double registered by the test, standing in for src/access",
	.run = fake_no_standing,
};

static mm_err broken_check_fn(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	return mm_err_set(MM_ERR_UNAVAILABLE, "the directory is down");
}

static const mm_evidence_check broken_check = {
	.name = "test.broken", .module = "test", .title_ja = "壊れたチェック",
	.title_en = "Broken check", .description = "always errors", .run = broken_check_fn,
};

static void test_evidence_registry_and_coverage(void **state)
{
	struct env *e = *state;
	mm_fisc_import_result r;
	json_t *run, *cov, *checks;
	const char *csv =
		"id,party,mark,response_ja\n"
		"実10,provider,主体,監査ログを保管\n"
		"実4,provider,主体,TLS で暗号化\n"
		"実3,provider,主体,特権は都度付与\n"
		"統24,provider,一部,対応表を公開\n"
		"実13,provider,主体,鍵管理\n"
		"実2,provider,主体,対象チェックなし\n"
		"実1,provider,対象外,\n"
		"実1,fi,主体,金融機関が対応\n";

	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "cov", 12, "coverage"), MM_OK);
	assert_int_equal(mm_fisc_import_csv(e->f, &alice, "cov", csv, strlen(csv), true, &r), MM_OK);
	mm_fisc_import_result_release(&r);

	/* Bound but unregistered checks are "no_evidence", and nothing crashes. */
	assert_int_equal(mm_fisc_evaluate(e->f, &carol, &run), MM_OK);
	assert_string_equal(result_of(run, "keys.rotated"), "not_applicable");
	assert_string_equal(result_of(run, "access.grants_ended_on_time"), "no_evidence");
	assert_string_equal(result_of(run, "fisc.response_published"), "fail");
	json_decref(run);
	assert_int_equal(mm_fisc_coverage(e->f, "cov", MM_FISC_WORKING, &cov), MM_OK);
	assert_int_equal(json_integer_value(json_object_get(cov, "responsible")), 6);
	/* 実10 (audit: pass), 実4 (tls: n/a), 実13 (no keys: n/a), 統24 (published: fail)
	 * have evidence; 実3 (unregistered) and 実2 (nothing bound) do not. */
	assert_int_equal(json_integer_value(json_object_get(cov, "with_evidence")), 4);
	assert_int_equal(json_integer_value(json_object_get(cov, "passing")), 1);
	assert_int_equal(json_integer_value(json_object_get(cov, "failing")), 1);
	json_decref(cov);

	/* Another module registers its check with one call. */
	assert_int_equal(mm_evidence_register(&fake_check), MM_OK);
	assert_int_equal(mm_evidence_register(&fake_check), MM_OK); /* idempotent */
	{
		mm_evidence_check dup = fake_check;

		assert_int_equal(mm_evidence_register(&dup), MM_ERR_EXISTS);
		dup.name = "Bad Name";
		assert_int_equal(mm_evidence_register(&dup), MM_ERR_INVALID);
	}
	assert_int_equal(mm_evidence_register(&broken_check), MM_OK);
	standing_ok = true;
	assert_int_equal(mm_fisc_approve(e->f, &bob, "cov", 0), MM_OK);
	assert_int_equal(mm_fisc_publish(e->f, &bob, "cov", 0, "初版"), MM_OK);
	assert_int_equal(mm_fisc_evaluate(e->f, &carol, &run), MM_OK);
	assert_string_equal(result_of(run, "access.no_standing_privilege"), "pass");
	assert_string_equal(result_of(run, "fisc.response_published"), "pass");
	assert_string_equal(result_of(run, "test.broken"), "error");
	json_decref(run);
	assert_int_equal(mm_fisc_coverage(e->f, "cov", MM_FISC_LATEST, &cov), MM_OK);
	assert_int_equal(json_integer_value(json_object_get(cov, "responsible")), 6);
	assert_int_equal(json_integer_value(json_object_get(cov, "with_evidence")), 5);
	assert_int_equal(json_integer_value(json_object_get(cov, "passing")), 3);
	assert_int_equal(json_integer_value(json_object_get(cov, "failing")), 0);
	json_decref(cov);
	/* Put the system in the failing state: the same criterion fails. */
	standing_ok = false;
	assert_int_equal(mm_fisc_evaluate(e->f, &carol, NULL), MM_OK);
	assert_int_equal(mm_fisc_coverage(e->f, "cov", MM_FISC_LATEST, &cov), MM_OK);
	assert_int_equal(json_integer_value(json_object_get(cov, "passing")), 2);
	assert_int_equal(json_integer_value(json_object_get(cov, "failing")), 1);
	{
		size_t i;
		json_t *x;

		json_array_foreach(json_object_get(cov, "criteria"), i, x)
			if (strcmp(json_string_value(json_object_get(x, "id")), "実3") == 0)
				assert_string_equal(json_string_value(json_object_get(x, "evidence")), "fail");
	}
	json_decref(cov);
	/* The registry listing shows planned and registered checks. */
	assert_int_equal(mm_fisc_checks(e->f, &checks), MM_OK);
	{
		size_t i, planned = 0;
		json_t *x;

		json_array_foreach(checks, i, x) {
			const char *n = json_string_value(json_object_get(x, "check"));

			if (strcmp(n, "access.no_standing_privilege") == 0)
				assert_true(json_is_true(json_object_get(x, "registered")));
			if (strcmp(n, "access.grants_ended_on_time") == 0)
				assert_false(json_is_true(json_object_get(x, "registered")));
			planned += strcmp(json_string_value(json_object_get(x, "status")), "planned") == 0;
		}
		assert_int_equal(planned, 0); /* every bound check has an owner now */
	}
	json_decref(checks);

	/* Reports carry the evidence; CSV and OSCAL agree with coverage. */
	{
		json_t *exp = json_pack("{s:{s:s,s:s,s:s,s:s}}", "evidence", "実3", "fail", "実10", "pass",
					"統24", "pass", "実2", "none");
		char path[512], expected[512];
		const mm_fisc_edition *ed = mm_fisc_catalog_edition(mm_fisc_get_catalog(e->f), 12);
		json_t *ids = json_array(), *titles = json_object();

		for (size_t i = 0; i < ed->ncriteria; i++) {
			json_array_append_new(ids, json_string(ed->criteria[i].id));
			json_object_set_new(titles, ed->criteria[i].id,
					    json_pack("[s,s]", ed->criteria[i].title_ja, ed->criteria[i].title_en));
		}
		json_object_set_new(exp, "ids", ids);
		json_object_set_new(exp, "titles", titles);
		json_object_set_new(exp, "cells", json_pack(
			"{s:{s:[s,s,s]},s:{s:[s,s,s]},s:{s:[s,s,s]},s:{s:[s,s,s]},s:{s:[s,s,s]},s:{s:[s,s,s]},s:{s:[s,s,s],s:[s,s,s]}}",
			"実10", "provider", "主体 / Primary", "監査ログを保管", "",
			"実4", "provider", "主体 / Primary", "TLS で暗号化", "",
			"実3", "provider", "主体 / Primary", "特権は都度付与", "",
			"統24", "provider", "一部 / Partial", "対応表を公開", "",
			"実13", "provider", "主体 / Primary", "鍵管理", "",
			"実2", "provider", "主体 / Primary", "対象チェックなし", "",
			"実1", "provider", "対象外 / Not applicable", "", "", "fi", "主体 / Primary", "金融機関が対応", ""));
		json_object_set_new(exp, "provider_ids", json_pack("[s,s,s,s,s,s]", "統24", "実2", "実3",
								   "実4", "実10", "実13"));
		snprintf(expected, sizeof(expected), "%s/expected-cov.json", e->dir);
		assert_int_equal(json_dump_file(exp, expected, 0), 0);
		snprintf(path, sizeof(path), "%s/cov.csv", e->dir);
		report_to(e, 12, "cov", MM_FISC_LATEST, MM_FISC_FMT_CSV, path);
		run_checker("csv", path, expected);
		snprintf(path, sizeof(path), "%s/cov.xlsx", e->dir);
		report_to(e, 12, "cov", MM_FISC_LATEST, MM_FISC_FMT_XLSX, path);
		run_checker("xlsx", path, expected);
		snprintf(path, sizeof(path), "%s/cov-cd.json", e->dir);
		report_to(e, 12, "cov", MM_FISC_LATEST, MM_FISC_FMT_OSCAL_CD, path);
		run_checker("oscal-cd", path, expected);
		snprintf(path, sizeof(path), "%s/cov-ar.json", e->dir);
		report_to(e, 12, "cov", MM_FISC_LATEST, MM_FISC_FMT_OSCAL_AR, path);
		run_checker("oscal-ar", path, expected);
		json_decref(exp);
	}
}

static void test_reports_template_and_selection(void **state)
{
	struct env *e = *state;
	mm_fisc_report_opts o = { 13, NULL, MM_FISC_LATEST, MM_FISC_FMT_MD };
	mm_buf b = MM_BUF_INIT(8u << 20);
	mm_fisc_import_result r;
	mm_fisc_format fmt;
	const char *one = "id,party,mark,response_ja\n実1,fi,主体,=1+1\n";

	/* No document: a blank template of the edition, with its caveat. */
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_OK);
	assert_non_null(strstr(mm_buf_str(&b), "blank template"));
	assert_non_null(strstr(mm_buf_str(&b), "incomplete"));
	assert_non_null(strstr(mm_buf_str(&b), "| 実14-1"));
	mm_buf_reset(&b);
	o.format = MM_FISC_FMT_OSCAL_AR;
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_OK);
	mm_buf_reset(&b);
	o.edition = 11;
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_ERR_NOT_FOUND);
	/* Two documents for one edition: the caller must choose. */
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "a-12", 12, "A"), MM_OK);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "b-12", 12, "B"), MM_OK);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "a-12", 12, "A"), MM_ERR_EXISTS);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "Bad Id", 12, "A"), MM_ERR_INVALID);
	assert_int_equal(mm_fisc_doc_create(e->f, &alice, "c-11", 11, "A"), MM_ERR_NOT_FOUND);
	o.edition = 12;
	o.format = MM_FISC_FMT_CSV;
	o.version = MM_FISC_WORKING;
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_ERR_CONFLICT);
	o.doc_id = "b-12";
	assert_int_equal(mm_fisc_import_csv(e->f, &alice, "b-12", one, strlen(one), true, &r), MM_OK);
	mm_fisc_import_result_release(&r);
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_OK);
	assert_int_equal(memcmp(b.data, "\xEF\xBB\xBF", 3), 0);
	/* A formula-looking response is neutralised in CSV. */
	assert_non_null(strstr(mm_buf_str(&b), "\"'=1+1\""));
	assert_null(strstr(mm_buf_str(&b), "\"=1+1\""));
	o.edition = 13;
	mm_buf_reset(&b);
	assert_int_equal(mm_fisc_report(e->f, &o, &b), MM_ERR_INVALID);
	/* Formats. */
	assert_int_equal(mm_fisc_format_parse("oscal", &fmt), MM_OK);
	assert_int_equal(fmt, MM_FISC_FMT_OSCAL_CD);
	assert_int_equal(mm_fisc_format_parse("xlsx", &fmt), MM_OK);
	assert_int_equal(fmt, MM_FISC_FMT_XLSX);
	assert_int_equal(mm_fisc_format_parse("pdf", &fmt), MM_ERR_INVALID);
	mm_buf_release(&b);
}

/* A user-supplied edition that lacks bound IDs: the built-in bindings
 * tolerate it (listed as unresolved); a user bindings file must match. */
static void test_bindings_with_user_files(void **state)
{
	struct env *e = *state;
	char ed13[300], bind[300];
	const char *files[] = { ed13, NULL };
	mm_fisc_opts fo;
	mm_fisc *f = NULL;
	json_t *checks, *x;
	size_t i;
	FILE *fp;

	snprintf(ed13, sizeof(ed13), "%s/edition-13.json", e->dir);
	snprintf(bind, sizeof(bind), "%s/bindings.json", e->dir);
	fp = fopen(ed13, "w");
	assert_non_null(fp);
	fputs("{\"format\":\"mamori-fisc-catalog\",\"format_version\":1,\"edition\":13,"
	      "\"title_ja\":\"第13版\",\"title_en\":\"13th\",\"published\":\"2025-03\",\"complete\":true,"
	      "\"categories_listed\":[\"実\"],"
	      "\"applicability\":{\"specific\":\"required\",\"normal\":\"risk_based\",\"source\":\"u\"},"
	      "\"sources\":{\"u\":{\"ja\":\"利用者\",\"en\":\"user\"}},"
	      "\"criteria\":[{\"id\":\"実10\",\"category\":\"実\",\"title_ja\":\"a\",\"title_en\":\"a\","
	      "\"title_kind\":\"paraphrase\",\"title_source\":\"u\",\"status\":\"active\",\"source\":\"u\"}]}", fp);
	fclose(fp);
	memset(&fo, 0, sizeof(fo));
	fo.store = e->store;
	fo.cfg = &e->cfg;
	fo.edition_files = files;
	assert_int_equal(mm_fisc_open(&fo, &f), MM_OK);
	assert_true(mm_fisc_catalog_edition(mm_fisc_get_catalog(f), 13)->complete);
	assert_int_equal(mm_fisc_checks(f, &checks), MM_OK);
	json_array_foreach(checks, i, x)
		if (strcmp(json_string_value(json_object_get(x, "check")), "audit.log_verifiable") == 0) {
			/* 実10 resolves, 実38 is missing from the user's edition */
			assert_int_equal(json_array_size(json_object_get(json_object_get(x, "criteria"), "13")), 1);
			assert_string_equal(json_string_value(json_array_get(
				json_object_get(json_object_get(x, "unresolved"), "13"), 0)), "実38");
		}
	json_decref(checks);
	mm_fisc_close(f);
	f = NULL;

	/* A user bindings file naming a criterion that does not exist is refused. */
	fp = fopen(bind, "w");
	assert_non_null(fp);
	fputs("{\"format\":\"mamori-fisc-evidence-bindings\",\"format_version\":1,\"checks\":["
	      "{\"check\":\"audit.log_verifiable\",\"status\":\"implemented\",\"module\":\"audit\","
	      "\"title_ja\":\"a\",\"title_en\":\"a\",\"criteria\":{\"12\":[\"実999\"]}}]}", fp);
	fclose(fp);
	fo.edition_files = NULL;
	fo.bindings_file = bind;
	assert_int_equal(mm_fisc_open(&fo, &f), MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "実999 is not in edition 12"));
	assert_null(f);
	/* ...and one naming a real criterion is used as given. */
	fp = fopen(bind, "w");
	assert_non_null(fp);
	fputs("{\"format\":\"mamori-fisc-evidence-bindings\",\"format_version\":1,\"checks\":["
	      "{\"check\":\"tls.configured\",\"status\":\"implemented\",\"module\":\"compliance\","
	      "\"title_ja\":\"a\",\"title_en\":\"a\",\"criteria\":{\"12\":[\"実7\"]}}]}", fp);
	fclose(fp);
	assert_int_equal(mm_fisc_open(&fo, &f), MM_OK);
	assert_int_equal(mm_fisc_checks(f, &checks), MM_OK);
	assert_string_equal(json_string_value(json_object_get(json_array_get(checks, 0), "check")),
			    "tls.configured");
	json_decref(checks);
	mm_fisc_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carry_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_check_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_check_inserted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_check_deleted_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_check_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_checks_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_check_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evidence_registry_and_coverage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports_template_and_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bindings_with_user_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
