/* Unit tests for the FISC catalog: every built-in edition loads and its
 * invariants hold (checked again here, independently of the loader), the
 * counts match the facts in shared/fisc/editions.md, broken files are
 * refused with the offending entry named, a user-supplied edition replaces
 * a built-in one, IDs normalise, and edition diffs find added, retired and
 * renumbered criteria. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compliance/catalog.h"

static const char *const cats[] = { "統", "実", "設", "監" };

/* Reads data/fisc/edition-N.json from the source tree (MAMORI_SRC). */
static json_t *raw_edition(int n)
{
	const char *src = getenv("MAMORI_SRC");
	char path[1024];
	json_error_t e;
	json_t *j;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/data/fisc/edition-%d.json", src, n);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL)
		fail_msg("%s: %s", path, e.text);
	return j;
}

/* The invariants, checked on the raw JSON without the loader. */
static void check_raw_invariants(int n)
{
	json_t *j = raw_edition(n), *sources = json_object_get(j, "sources");
	json_t *crit = json_object_get(j, "criteria"), *c;
	size_t i;

	assert_true(json_is_object(sources));
	json_array_foreach(crit, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		const char *cat = json_string_value(json_object_get(c, "category"));
		const char *keys[] = { "source", "title_source", "group_source" };

		assert_non_null(id);
		/* unique */
		for (size_t k = 0; k < i; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(crit, k), "id")), id) == 0)
				fail_msg("edition %d: duplicate %s", n, id);
		/* known category, matching the ID prefix */
		assert_non_null(cat);
		assert_true(strcmp(cat, "統") == 0 || strcmp(cat, "実") == 0 ||
			    strcmp(cat, "設") == 0 || strcmp(cat, "監") == 0);
		assert_int_equal(strncmp(id, cat, strlen(cat)), 0);
		/* every fact names a source that exists */
		for (size_t k = 0; k < 3; k++) {
			json_t *s = json_object_get(c, keys[k]);

			if (s == NULL && k == 2 && json_object_get(c, "group") == NULL)
				continue;
			if (!json_is_string(s) || json_object_get(sources, json_string_value(s)) == NULL)
				fail_msg("edition %d: %s: %s missing or unknown", n, id, keys[k]);
		}
		assert_true(json_string_length(json_object_get(c, "title_ja")) > 0);
		assert_true(json_string_length(json_object_get(c, "title_en")) > 0);
	}
	json_decref(j);
}

static void test_builtin_editions_load(void **state)
{
	mm_fisc_catalog *cat = NULL;
	const mm_fisc_edition *e9, *e12, *e13;

	assert_int_equal(mm_fisc_catalog_new_builtin(&cat), MM_OK);
	assert_int_equal(mm_fisc_catalog_count(cat), 3);
	e9 = mm_fisc_catalog_edition(cat, 9);
	e12 = mm_fisc_catalog_edition(cat, 12);
	e13 = mm_fisc_catalog_edition(cat, 13);
	assert_non_null(e9);
	assert_non_null(e12);
	assert_non_null(e13);
	assert_int_equal(mm_fisc_catalog_at(cat, 0)->edition, 9);
	assert_int_equal(mm_fisc_catalog_at(cat, 2)->edition, 13);
	for (int n = 9; n <= 13; n += (n == 9 ? 3 : 1))
		check_raw_invariants(n);

	/* 9th edition: 統1–26, 実1–141, 監1; facility IDs unknown. */
	assert_false(e9->complete);
	assert_non_null(e9->note_ja);
	assert_false(e9->listed[MM_FISC_FACILITY]);
	assert_int_equal(mm_fisc_edition_count(e9, MM_FISC_GOV, MM_FISC_ACTIVE), 26);
	assert_int_equal(mm_fisc_edition_count(e9, MM_FISC_PRACTICE, MM_FISC_ACTIVE), 141);
	assert_int_equal(mm_fisc_edition_count(e9, MM_FISC_AUDIT, MM_FISC_ACTIVE), 1);
	assert_string_equal(mm_fisc_edition_find(e9, "実19")->group->id, "PS-5");
	assert_int_equal(mm_fisc_edition_find(e9, "実140")->group->number, 10);

	/* 12th edition: 統1–27, 実1–149 + 実103-1 with 実127 retired, 設1–83 + 設83-1,
	 * 設84–137 out of scope by default, 監1. */
	assert_true(e12->complete);
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_GOV, MM_FISC_ACTIVE), 27);
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_PRACTICE, MM_FISC_ACTIVE), 149);
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_PRACTICE, MM_FISC_RETIRED), 1);
	assert_int_equal(mm_fisc_edition_find(e12, "実127")->status, MM_FISC_RETIRED);
	assert_non_null(mm_fisc_edition_find(e12, "実103-1"));
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_FACILITY, MM_FISC_ACTIVE), 84);
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_FACILITY, MM_FISC_OUT_OF_SCOPE), 54);
	assert_int_equal(mm_fisc_edition_find(e12, "設84")->status, MM_FISC_OUT_OF_SCOPE);
	assert_int_equal(mm_fisc_edition_count(e12, MM_FISC_AUDIT, MM_FISC_ACTIVE), 1);
	assert_null(mm_fisc_edition_find(e12, "実150"));
	/* applicability: the documented default rule */
	assert_int_equal(mm_fisc_edition_find(e12, "実1")->specific, MM_FISC_APPLIC_REQUIRED);
	assert_int_equal(mm_fisc_edition_find(e12, "実1")->normal, MM_FISC_APPLIC_RISK_BASED);
	/* titles: paraphrase where the subject is known, neutral otherwise */
	assert_false(mm_fisc_edition_find(e12, "統14")->title_neutral);
	assert_true(mm_fisc_edition_find(e12, "実50")->title_neutral);
	assert_string_equal(mm_fisc_edition_find(e12, "実50")->title_ja, "各種設備管理 (2)");

	/* 13th edition: partial; practice criteria known, others provisional. */
	assert_false(e13->complete);
	assert_int_equal(mm_fisc_edition_count(e13, MM_FISC_PRACTICE, MM_FISC_ACTIVE), 156);
	assert_non_null(mm_fisc_edition_find(e13, "実14-1"));
	assert_non_null(mm_fisc_edition_find(e13, "実14-2"));
	assert_non_null(mm_fisc_edition_find(e13, "実73-1"));
	assert_non_null(mm_fisc_edition_find(e13, "実153"));
	assert_false(mm_fisc_edition_find(e13, "実150")->provisional);
	assert_true(mm_fisc_edition_find(e13, "統28")->provisional);
	assert_int_equal(mm_fisc_edition_find(e13, "統5")->status, MM_FISC_RETIRED);
	assert_int_equal(mm_fisc_edition_find(e13, "統5-3")->npredecessors, 1);
	assert_int_equal(mm_fisc_edition_count(e13, MM_FISC_GOV, MM_FISC_ACTIVE), 36);
	assert_int_equal(mm_fisc_edition_count(e13, MM_FISC_AUDIT, MM_FISC_ACTIVE), 2);
	mm_fisc_catalog_free(cat);
}

static void test_id_parse_normalize(void **state)
{
	mm_fisc_category c;
	int n, s;
	char out[64];

	assert_true(mm_fisc_id_parse("実14-1", &c, &n, &s));
	assert_int_equal(c, MM_FISC_PRACTICE);
	assert_int_equal(n, 14);
	assert_int_equal(s, 1);
	assert_true(mm_fisc_id_parse("監1", &c, &n, &s));
	assert_int_equal(c, MM_FISC_AUDIT);
	assert_false(mm_fisc_id_parse("実0", NULL, NULL, NULL));
	assert_false(mm_fisc_id_parse("実14-", NULL, NULL, NULL));
	assert_false(mm_fisc_id_parse("実014", NULL, NULL, NULL));
	assert_false(mm_fisc_id_parse("実 14", NULL, NULL, NULL));
	assert_false(mm_fisc_id_parse("技1", NULL, NULL, NULL));
	assert_false(mm_fisc_id_parse("実12345", NULL, NULL, NULL));
	assert_true(mm_fisc_id_normalize("実１４－１", out, sizeof(out)));
	assert_string_equal(out, "実14-1");
	assert_true(mm_fisc_id_normalize(" 統 1 ", out, sizeof(out)));
	assert_string_equal(out, "統1");
	assert_true(mm_fisc_id_normalize("設83−1", out, sizeof(out)));
	assert_string_equal(out, "設83-1");
	assert_false(mm_fisc_id_normalize("X1", out, sizeof(out)));
	assert_false(mm_fisc_id_normalize("実\xff", out, sizeof(out)));
}

/* A minimal valid edition with one criterion whose JSON is crit. */
static mm_err load_with(const char *crit, const char *extra_top)
{
	char doc[4096];
	mm_fisc_edition *ed = NULL;
	mm_err rc;

	snprintf(doc, sizeof(doc),
		 "{\"format\":\"mamori-fisc-catalog\",\"format_version\":1,\"edition\":50,"
		 "\"title_ja\":\"t\",\"title_en\":\"t\",\"published\":\"2030\",\"complete\":true,%s"
		 "\"categories_listed\":[\"統\",\"実\"],"
		 "\"applicability\":{\"specific\":\"required\",\"normal\":\"risk_based\",\"source\":\"s\"},"
		 "\"sources\":{\"s\":{\"ja\":\"出典\",\"en\":\"source\"}},"
		 "\"groups\":[{\"id\":\"G\",\"category\":\"統\",\"section_ja\":\"a\",\"section_en\":\"a\","
		 "\"number\":1,\"source\":\"s\"}],"
		 "\"criteria\":[%s]}", extra_top, crit);
	rc = mm_fisc_edition_parse("t.json", doc, strlen(doc), &ed);
	mm_fisc_edition_free(ed);
	return rc;
}

#define GOOD1 "{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\"," \
	      "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}"

static void expect_refused(const char *crit, const char *extra, const char *needle)
{
	assert_int_equal(load_with(crit, extra), MM_ERR_INVALID);
	if (strstr(mm_err_detail(MM_ERR_INVALID), needle) == NULL)
		fail_msg("detail '%s' lacks '%s'", mm_err_detail(MM_ERR_INVALID), needle);
}

static void test_invariants_refused(void **state)
{
	assert_int_equal(load_with(GOOD1, ""), MM_OK);
	expect_refused(GOOD1 "," GOOD1, "", "統1: duplicate criterion ID");
	expect_refused("{\"id\":\"設1\",\"category\":\"設\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}",
		       "", "設1: category is not in categories_listed");
	expect_refused("{\"id\":\"統1\",\"category\":\"実\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}",
		       "", "category does not match");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\"}",
		       "", "'source' is required");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"nope\"}",
		       "", "names source 'nope'");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"gone\",\"source\":\"s\"}",
		       "", "status must be");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"group\":\"G\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}",
		       "", "'group_source' is required");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}",
		       "", "title_ja");
	expect_refused("{\"id\":\"統01\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\"}",
		       "", "malformed ID");
	expect_refused("{\"id\":\"統1\",\"category\":\"統\",\"title_ja\":\"a\",\"title_en\":\"a\","
		       "\"title_kind\":\"neutral\",\"title_source\":\"s\",\"status\":\"active\",\"source\":\"s\","
		       "\"colour\":1}", "", "unknown field 'colour'");
	/* incomplete editions must say why */
	{
		char doc[2048];
		mm_fisc_edition *ed = NULL;

		snprintf(doc, sizeof(doc),
			 "{\"format\":\"mamori-fisc-catalog\",\"format_version\":1,\"edition\":50,"
			 "\"title_ja\":\"t\",\"title_en\":\"t\",\"published\":\"2030\",\"complete\":false,"
			 "\"categories_listed\":[\"統\"],"
			 "\"applicability\":{\"specific\":\"required\",\"normal\":\"risk_based\",\"source\":\"s\"},"
			 "\"sources\":{\"s\":{\"ja\":\"出典\",\"en\":\"source\"}},\"criteria\":[%s]}", GOOD1);
		assert_int_equal(mm_fisc_edition_parse("t.json", doc, strlen(doc), &ed), MM_ERR_INVALID);
		assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "note_ja and note_en"));
	}
}

#define USER13(src) \
	"{\"format\":\"mamori-fisc-catalog\",\"format_version\":1,\"edition\":13," \
	"\"title_ja\":\"第13版（利用者提供）\",\"title_en\":\"13th (user)\",\"published\":\"2025-03\"," \
	"\"complete\":true,\"categories_listed\":[\"統\",\"実\",\"設\",\"監\"]," \
	"\"applicability\":{\"specific\":\"required\",\"normal\":\"risk_based\",\"source\":\"" src "\"}," \
	"\"sources\":{\"" src "\":{\"ja\":\"利用者の完全版\",\"en\":\"user's complete edition\"}}," \
	"\"criteria\":[" GOOD1 "]}"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_user_edition_replaces_builtin(void **state)
{
	mm_fisc_catalog *cat = NULL;
	char path[] = "/tmp/mm-cat-XXXXXX";
	int fd = mkstemp(path);
	const mm_fisc_edition *e13;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mm_fisc_catalog_new_builtin(&cat), MM_OK);
	/* GOOD1 cites source "s", which this file lacks: refused, built-in kept. */
	write_file(path, USER13("u"));
	assert_int_equal(mm_fisc_catalog_load_file(cat, path), MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "names source 's'"));
	assert_false(mm_fisc_catalog_edition(cat, 13)->complete);
	/* A valid user file replaces the built-in edition. */
	write_file(path, USER13("s"));
	assert_int_equal(mm_fisc_catalog_load_file(cat, path), MM_OK);
	e13 = mm_fisc_catalog_edition(cat, 13);
	assert_true(e13->complete);
	assert_int_equal(e13->ncriteria, 1);
	assert_string_equal(e13->origin, path);
	assert_int_equal(mm_fisc_catalog_count(cat), 3);
	assert_int_equal(mm_fisc_catalog_load_file(cat, "/nonexistent/edition.json"), MM_ERR_IO);
	unlink(path);
	mm_fisc_catalog_free(cat);
}

static bool has(const char *const *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], id) == 0)
			return true;
	return false;
}

static void test_edition_diff(void **state)
{
	mm_fisc_catalog *cat = NULL;
	mm_fisc_edition_diff *d = NULL;
	json_t *j;

	assert_int_equal(mm_fisc_catalog_new_builtin(&cat), MM_OK);
	/* 12 -> 13 */
	assert_int_equal(mm_fisc_edition_diff_new(mm_fisc_catalog_edition(cat, 12),
						  mm_fisc_catalog_edition(cat, 13), &d), MM_OK);
	assert_true(has(d->added, d->nadded, "実14-1"));
	assert_true(has(d->added, d->nadded, "実73-1"));
	assert_true(has(d->added, d->nadded, "実150"));
	assert_true(has(d->added, d->nadded, "統28"));
	assert_true(has(d->added, d->nadded, "監1-1"));
	assert_false(has(d->added, d->nadded, "統5-1"));
	assert_int_equal(d->nrenumbered, 1);
	assert_string_equal(d->renumbered[0].from, "統5");
	assert_int_equal(d->renumbered[0].nto, 5);
	assert_false(has(d->retired, d->nretired, "統5"));
	assert_int_equal(d->nretired, 0);
	assert_true(has(d->unverified, d->nunverified, "統1"));
	assert_false(has(d->unverified, d->nunverified, "実1"));
	j = mm_fisc_edition_diff_json(d);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "to")), 13);
	json_decref(j);
	mm_fisc_edition_diff_free(d);
	/* 9 -> 12: 実127 retired, 統27 and 実142–149 added, facilities skipped */
	assert_int_equal(mm_fisc_edition_diff_new(mm_fisc_catalog_edition(cat, 9),
						  mm_fisc_catalog_edition(cat, 12), &d), MM_OK);
	assert_int_equal(d->nretired, 1);
	assert_string_equal(d->retired[0], "実127");
	assert_true(has(d->added, d->nadded, "統27"));
	assert_true(has(d->added, d->nadded, "実142"));
	assert_true(has(d->added, d->nadded, "実149"));
	assert_true(has(d->added, d->nadded, "実103-1"));
	assert_false(has(d->added, d->nadded, "設1"));
	assert_true(d->skipped[MM_FISC_FACILITY]);
	assert_false(d->skipped[MM_FISC_PRACTICE]);
	assert_int_equal(d->nadded, 10);
	mm_fisc_edition_diff_free(d);
	(void)cats;
	mm_fisc_catalog_free(cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_editions_load),
		cmocka_unit_test(test_id_parse_normalize),
		cmocka_unit_test(test_invariants_refused),
		cmocka_unit_test(test_user_edition_replaces_builtin),
		cmocka_unit_test(test_edition_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
