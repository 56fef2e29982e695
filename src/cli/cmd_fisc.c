/*
 * cmd_fisc.c: `mamori fisc ...` — the FISC catalog, response tables (対応表),
 * approval, publication, CSV import, evidence and reports, over
 * /v1/fisc/... (docs/fisc.md). Each command builds its request, calls the
 * API, and prints JSON with --json or a short readable rendering otherwise.
 * Invariant: path segments from the user (document ids, criterion IDs such
 * as 実14-1) are always percent-encoded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define REPORT_MAX (64u << 20)

/* ---- helpers ---- */

/* path = prefix + escaped segments separated by '/'. Returns 0 or 1. */
static int build_path(mm_cli *c, mm_buf *b, const char *prefix, const char *const *segs, size_t n)
{
	if (mm_buf_appends(b, prefix) != MM_OK)
		return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (mm_buf_appendc(b, '/') != MM_OK || mm_cli_escape(b, segs[i]) != 0)
			return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	return 0;
}

/* Appends "?k=v&..." pairs whose value is not NULL. */
static int add_query(mm_cli *c, mm_buf *b, const char *const *kv, size_t n)
{
	bool first = strchr(mm_buf_str(b), '?') == NULL;

	for (size_t i = 0; i + 1 < n; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		if (mm_buf_appendc(b, first ? '?' : '&') != MM_OK || mm_buf_appends(b, kv[i]) != MM_OK ||
		    mm_buf_appendc(b, '=') != MM_OK || mm_cli_escape(b, kv[i + 1]) != 0)
			return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
		first = false;
	}
	return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* GET/POST with JSON, print with --json or via show(). */
static int call_show(mm_cli *c, const char *method, const char *path, json_t *body,
		     void (*show)(const json_t *))
{
	json_t *r = NULL;
	int rc = mm_cli_call(c, method, path, body, &r);

	if (rc != 0)
		return rc;
	if (c->json || show == NULL)
		mm_cli_print_json(r);
	else
		show(r);
	json_decref(r);
	return 0;
}

static int no_args(mm_cli *c, int argc, char **argv)
{
	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	return 0;
}

/* ---- catalog ---- */

static void show_editions(const json_t *r)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(r, "editions"), i, e) {
		json_t *counts = json_object_get(e, "counts"), *v;
		const char *k;

		printf("%-3lld %-10s %s\n    %s\n   ", (long long)json_integer_value(json_object_get(e, "edition")),
		       json_is_true(json_object_get(e, "complete")) ? "complete" : "incomplete",
		       jstr(e, "title_ja"), jstr(e, "title_en"));
		json_object_foreach(counts, k, v)
			printf(" %s: %lld", k, (long long)json_integer_value(json_object_get(v, "active")));
		printf("  (%s)\n", jstr(e, "origin"));
	}
}

static int editions_cmd(mm_cli *c, int argc, char **argv)
{
	int rc = no_args(c, argc, argv);

	return rc ? rc : call_show(c, "GET", "/v1/fisc/editions", NULL, show_editions);
}

static void show_edition(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("%s / %s (%s)\n", jstr(r, "title_ja"), jstr(r, "title_en"), jstr(r, "published"));
	if (!json_is_true(json_object_get(r, "complete")))
		printf("注意 / note: %s\n  %s\n", jstr(r, "note_ja"), jstr(r, "note_en"));
	json_array_foreach(json_object_get(r, "criteria"), i, x)
		printf("%-8s %-22s %s / %s%s%s\n", jstr(x, "id"), jstr(x, "status"), jstr(x, "title_ja"),
		       jstr(x, "title_en"), json_is_true(json_object_get(x, "title_neutral")) ? " †" : "",
		       json_is_true(json_object_get(x, "provisional")) ? " *" : "");
}

static int edition_cmd(mm_cli *c, int argc, char **argv)
{
	char path[64];

	if (argc != 2)
		return mm_cli_usage(c, "give one edition number");
	snprintf(path, sizeof(path), "/v1/fisc/editions/%d", atoi(argv[1]));
	return call_show(c, "GET", path, NULL, show_edition);
}

static int edition_validate_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf in = MM_BUF_INIT(16u << 20), out = MM_BUF_INIT(1u << 20);
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give one edition file");
	if ((rc = mm_cli_read_file(c, argv[1], &in)) == 0 &&
	    (rc = mm_cli_call_raw(c, "POST", "/v1/fisc/editions/validate", "application/json",
				  in.data ? in.data : "", in.len, &out)) == 0) {
		json_t *r = json_loadb(mm_buf_str(&out), out.len, 0, NULL);

		if (c->json && r)
			mm_cli_print_json(r);
		else
			printf("%s: valid edition %lld (%s)\n", argv[1],
			       (long long)json_integer_value(json_object_get(r, "edition")),
			       json_is_true(json_object_get(r, "complete")) ? "complete" : "incomplete");
		json_decref(r);
	}
	mm_buf_release(&in);
	mm_buf_release(&out);
	return rc;
}

static void print_ids(const char *label, const json_t *a)
{
	size_t i;
	json_t *v;

	printf("%s (%zu):", label, json_array_size(a));
	json_array_foreach(a, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

static void show_diff(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("第%lld版 → 第%lld版 / edition %lld → %lld\n",
	       (long long)json_integer_value(json_object_get(r, "from")),
	       (long long)json_integer_value(json_object_get(r, "to")),
	       (long long)json_integer_value(json_object_get(r, "from")),
	       (long long)json_integer_value(json_object_get(r, "to")));
	print_ids("新設 / added", json_object_get(r, "added"));
	print_ids("廃止 / retired", json_object_get(r, "retired"));
	printf("番号変更 / renumbered (%zu):", json_array_size(json_object_get(r, "renumbered")));
	json_array_foreach(json_object_get(r, "renumbered"), i, x) {
		json_t *v;
		size_t k;

		printf(" %s →", jstr(x, "from"));
		json_array_foreach(json_object_get(x, "to"), k, v)
			printf(" %s", json_string_value(v));
		printf(";");
	}
	printf("\n未検証 / unverified: %zu, 変更なし / unchanged: %lld\n",
	       json_array_size(json_object_get(r, "unverified")),
	       (long long)json_integer_value(json_object_get(r, "unchanged")));
	if (json_array_size(json_object_get(r, "skipped_categories")) > 0)
		print_ids("比較対象外の区分 / categories not compared", json_object_get(r, "skipped_categories"));
}

static int diff_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	mm_buf path = MM_BUF_INIT(4096);
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'f')
			from = optarg;
		else if (o == 't')
			to = optarg;
		else
			return mm_cli_usage(c, "bad option");
	}
	if (optind + 2 == argc && from == NULL && to == NULL) {
		from = argv[optind];
		to = argv[optind + 1];
	} else if (optind != argc) {
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	}
	if (from == NULL || to == NULL)
		return mm_cli_usage(c, "--from EDITION and --to EDITION are required");
	{
		const char *kv[] = { "from", from, "to", to };

		if ((rc = build_path(c, &path, "/v1/fisc/diff", NULL, 0)) == 0 &&
		    (rc = add_query(c, &path, kv, 4)) == 0)
			rc = call_show(c, "GET", mm_buf_str(&path), NULL, show_diff);
	}
	mm_buf_release(&path);
	return rc;
}

/* ---- documents ---- */

static void show_docs(const json_t *r)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(r, "documents"), i, d) {
		json_t *lp = json_object_get(d, "latest_published"), *wv = json_object_get(d, "working_version");
		char pub[32] = "-", work[48] = "-";

		if (json_is_integer(lp))
			snprintf(pub, sizeof(pub), "v%lld", (long long)json_integer_value(lp));
		if (json_is_integer(wv))
			snprintf(work, sizeof(work), "v%lld (%s)", (long long)json_integer_value(wv),
				 jstr(d, "working_state"));
		printf("%-20s 第%lld版  published %-6s working %-16s %s\n", jstr(d, "id"),
		       (long long)json_integer_value(json_object_get(d, "edition")), pub, work,
		       jstr(d, "title"));
	}
}

static int docs_cmd(mm_cli *c, int argc, char **argv)
{
	int rc = no_args(c, argc, argv);

	return rc ? rc : call_show(c, "GET", "/v1/fisc/docs", NULL, show_docs);
}

static void show_created(const json_t *r)
{
	printf("Created %s for edition %lld (draft version 1).\n", jstr(r, "id"),
	       (long long)json_integer_value(json_object_get(r, "edition")));
}

static int doc_create_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "edition", required_argument, NULL, 'e' },
		{ "title", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *title = NULL;
	int edition = 0, o, rc;
	json_t *body;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'e')
			edition = atoi(optarg);
		else if (o == 't')
			title = optarg;
		else
			return mm_cli_usage(c, "bad option");
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give one document id");
	if (edition <= 0 || title == NULL)
		return mm_cli_usage(c, "--edition N and --title TEXT are required");
	body = json_pack("{s:s,s:i,s:s}", "id", argv[optind], "edition", edition, "title", title);
	rc = call_show(c, "POST", "/v1/fisc/docs", body, show_created);
	json_decref(body);
	return rc;
}

static void show_history(const json_t *r)
{
	size_t i;
	json_t *v;

	printf("%s (第%lld版) %s\n", jstr(r, "doc"), (long long)json_integer_value(json_object_get(r, "edition")),
	       jstr(r, "title"));
	json_array_foreach(json_object_get(r, "versions"), i, v) {
		printf("  v%-4lld %-9s", (long long)json_integer_value(json_object_get(v, "version")),
		       jstr(v, "state"));
		if (json_is_string(json_object_get(v, "published")))
			printf(" %s  承認 / approved by %s  %s", jstr(v, "published"), jstr(v, "approved_by"),
			       jstr(v, "summary"));
		else if (json_is_string(json_object_get(v, "approved_by")))
			printf(" approved by %s", jstr(v, "approved_by"));
		printf("\n");
	}
}

static int history_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give one document id");
	{
		const char *segs[] = { argv[1] };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 1)) == 0)
			rc = call_show(c, "GET", mm_buf_str(&path), NULL, show_history);
	}
	mm_buf_release(&path);
	return rc;
}

static void show_version(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("%s v%lld (%s)\n", jstr(r, "doc"), (long long)json_integer_value(json_object_get(r, "version")),
	       jstr(r, "state"));
	json_array_foreach(json_object_get(r, "responses"), i, x)
		printf("  %-8s %-8s %-10s %s%s%s\n", jstr(x, "id"), jstr(x, "party"), jstr(x, "mark_ja"),
		       jstr(x, "text_ja"), json_is_string(json_object_get(x, "text_en")) ? " / " : "",
		       jstr(x, "text_en"));
	json_array_foreach(json_object_get(r, "needs_review"), i, x)
		printf("  要レビュー / needs review: %s (%s)\n", jstr(x, "id"), jstr(x, "reason"));
}

/* Parses --version V and --from/--to for a few commands. */
static int doc_opts(mm_cli *c, int argc, char **argv, const char **version, const char **from,
		    const char **to)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'v' && version)
			*version = optarg;
		else if (o == 'f' && from)
			*from = optarg;
		else if (o == 't' && to)
			*to = optarg;
		else
			return mm_cli_usage(c, "bad option");
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give one document id");
	return 0;
}

static int show_cmd(mm_cli *c, int argc, char **argv)
{
	const char *version = "latest";
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if ((rc = doc_opts(c, argc, argv, &version, NULL, NULL)) != 0)
		return rc;
	{
		const char *segs[] = { argv[optind], "versions", version };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 3)) == 0)
			rc = call_show(c, "GET", mm_buf_str(&path), NULL, show_version);
	}
	mm_buf_release(&path);
	return rc;
}

static void show_doc_diff(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("%s v%lld → v%lld: %zu change(s)\n", jstr(r, "doc"),
	       (long long)json_integer_value(json_object_get(r, "from")),
	       (long long)json_integer_value(json_object_get(r, "to")),
	       json_array_size(json_object_get(r, "changes")));
	json_array_foreach(json_object_get(r, "changes"), i, x) {
		json_t *n = json_object_get(x, "new"), *o = json_object_get(x, "old");

		printf("  %-8s %-8s %-7s %s → %s\n", jstr(x, "id"), jstr(x, "party"), jstr(x, "change"),
		       json_is_object(o) ? jstr(o, "mark_ja") : "-", json_is_object(n) ? jstr(n, "mark_ja") : "-");
	}
}

static int doc_diff_cmd(mm_cli *c, int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if ((rc = doc_opts(c, argc, argv, NULL, &from, &to)) != 0)
		return rc;
	if (from == NULL)
		return mm_cli_usage(c, "--from VERSION is required");
	{
		const char *segs[] = { argv[optind], "diff" };
		const char *kv[] = { "from", from, "to", to };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 2)) == 0 &&
		    (rc = add_query(c, &path, kv, 4)) == 0)
			rc = call_show(c, "GET", mm_buf_str(&path), NULL, show_doc_diff);
	}
	mm_buf_release(&path);
	return rc;
}

static int import_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	mm_buf path = MM_BUF_INIT(4096), in = MM_BUF_INIT(32u << 20), out = MM_BUF_INIT(4u << 20);
	bool replace = false;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'r')
			return mm_cli_usage(c, "bad option");
		replace = true;
	}
	if (optind + 2 != argc)
		return mm_cli_usage(c, "give a document id and a CSV file");
	{
		const char *segs[] = { argv[optind], "import" };
		const char *kv[] = { "replace", replace ? "true" : "false" };

		if ((rc = mm_cli_read_file(c, argv[optind + 1], &in)) != 0 ||
		    (rc = build_path(c, &path, "/v1/fisc/docs", segs, 2)) != 0 ||
		    (rc = add_query(c, &path, kv, 2)) != 0)
			goto out;
	}
	rc = mm_cli_call_raw(c, "POST", mm_buf_str(&path), "text/csv; charset=utf-8",
			     in.data ? in.data : "", in.len, &out);
	{
		json_t *r = json_loadb(mm_buf_str(&out), out.len, 0, NULL);

		if (rc == 0) {
			if (c->json)
				mm_cli_print_json(r);
			else
				printf("Imported %lld rows into %s (working version %lld).\n",
				       (long long)json_integer_value(json_object_get(r, "rows")), argv[optind],
				       (long long)json_integer_value(json_object_get(r, "version")));
		} else if (!c->json && r != NULL) {
			size_t i;
			json_t *p;

			/* Every problem with its line; nothing was imported. */
			json_array_foreach(json_object_get(r, "problems"), i, p)
				fprintf(stderr, "%s:%lld: %s\n", argv[optind + 1],
					(long long)json_integer_value(json_object_get(p, "line")), jstr(p, "message"));
			if (json_is_true(json_object_get(r, "truncated")))
				fprintf(stderr, "%s: more problems not shown\n", argv[optind + 1]);
		}
		json_decref(r);
	}
out:
	mm_buf_release(&path);
	mm_buf_release(&in);
	mm_buf_release(&out);
	return rc;
}

static void show_set(const json_t *r)
{
	printf("%s %s %s: %s (working version %lld)\n", jstr(r, "doc"), jstr(r, "id"), jstr(r, "party"),
	       jstr(r, "mark"), (long long)json_integer_value(json_object_get(r, "version")));
}

static int response_set_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ja", required_argument, NULL, 'j' },
		{ "en", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ja = NULL, *en = NULL;
	mm_buf path = MM_BUF_INIT(4096);
	json_t *body;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'j')
			ja = optarg;
		else if (o == 'e')
			en = optarg;
		else
			return mm_cli_usage(c, "bad option");
	}
	if (optind + 4 != argc)
		return mm_cli_usage(c, "give DOC ID PARTY MARK");
	{
		const char *segs[] = { argv[optind], "responses", argv[optind + 1], argv[optind + 2] };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 4)) != 0)
			goto out;
	}
	body = json_pack("{s:s}", "mark", argv[optind + 3]);
	if (ja)
		json_object_set_new(body, "text_ja", json_string(ja));
	if (en)
		json_object_set_new(body, "text_en", json_string(en));
	rc = call_show(c, "PUT", mm_buf_str(&path), body, show_set);
	json_decref(body);
out:
	mm_buf_release(&path);
	return rc;
}

static void show_ok(const json_t *r)
{
	printf("OK\n");
	(void)r;
}

static int response_delete_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if (argc != 4)
		return mm_cli_usage(c, "give DOC ID PARTY");
	{
		const char *segs[] = { argv[1], "responses", argv[2], argv[3] };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 4)) == 0)
			rc = call_show(c, "DELETE", mm_buf_str(&path), NULL, show_ok);
	}
	mm_buf_release(&path);
	return rc;
}

static int review_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if (argc != 3)
		return mm_cli_usage(c, "give DOC ID");
	{
		const char *segs[] = { argv[1], "reviews", argv[2] };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 3)) == 0)
			rc = call_show(c, "POST", mm_buf_str(&path), NULL, show_ok);
	}
	mm_buf_release(&path);
	return rc;
}

static void show_state(const json_t *r)
{
	printf("%s: %s\n", jstr(r, "doc"), jstr(r, "state"));
}

static int approve_publish(mm_cli *c, int argc, char **argv, const char *what)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "summary", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *summary = NULL;
	long version = 0;
	mm_buf path = MM_BUF_INIT(4096);
	json_t *body;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'v')
			version = atol(optarg);
		else if (o == 's' && strcmp(what, "publish") == 0)
			summary = optarg;
		else
			return mm_cli_usage(c, "bad option");
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give one document id");
	if (strcmp(what, "publish") == 0 && summary == NULL)
		return mm_cli_usage(c, "--summary TEXT (the revision summary) is required");
	{
		const char *segs[] = { argv[optind], what };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 2)) != 0)
			goto out;
	}
	body = json_object();
	if (version > 0)
		json_object_set_new(body, "version", json_integer(version));
	if (summary)
		json_object_set_new(body, "summary", json_string(summary));
	rc = call_show(c, "POST", mm_buf_str(&path), body, show_state);
	json_decref(body);
out:
	mm_buf_release(&path);
	return rc;
}

static int approve_cmd(mm_cli *c, int argc, char **argv)
{
	return approve_publish(c, argc, argv, "approve");
}

static int publish_cmd(mm_cli *c, int argc, char **argv)
{
	return approve_publish(c, argc, argv, "publish");
}

static void show_carry(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("Created %s (第%lld版) from %s v%lld: %lld cells copied, %zu criteria need review, %zu "
	       "dropped.\n", jstr(r, "doc"), (long long)json_integer_value(json_object_get(r, "edition")),
	       jstr(r, "from_doc"), (long long)json_integer_value(json_object_get(r, "from_version")),
	       (long long)json_integer_value(json_object_get(r, "copied")),
	       json_array_size(json_object_get(r, "needs_review")),
	       json_array_size(json_object_get(r, "dropped")));
	json_array_foreach(json_object_get(r, "needs_review"), i, x)
		printf("  要レビュー / needs review: %s (%s)\n", jstr(x, "id"), jstr(x, "reason"));
}

static int carry_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "edition", required_argument, NULL, 'e' },
		{ "title", required_argument, NULL, 'T' },
		{ "from-version", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL, *title = NULL, *fv = NULL;
	int edition = 0, o, rc;
	mm_buf path = MM_BUF_INIT(4096);
	json_t *body;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': to = optarg; break;
		case 'e': edition = atoi(optarg); break;
		case 'T': title = optarg; break;
		case 'f': fv = optarg; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give the source document id");
	if (to == NULL || edition <= 0 || title == NULL)
		return mm_cli_usage(c, "--to DOC, --edition N and --title TEXT are required");
	{
		const char *segs[] = { argv[optind], "carry-forward" };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 2)) != 0)
			goto out;
	}
	body = json_pack("{s:s,s:i,s:s}", "to", to, "edition", edition, "title", title);
	if (fv)
		json_object_set_new(body, "from_version", json_string(fv));
	rc = call_show(c, "POST", mm_buf_str(&path), body, show_carry);
	json_decref(body);
out:
	mm_buf_release(&path);
	return rc;
}

/* ---- evidence ---- */

static void show_eval(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("Evaluation run %lld at %s\n", (long long)json_integer_value(json_object_get(r, "run")),
	       jstr(r, "time"));
	json_array_foreach(json_object_get(r, "results"), i, x)
		printf("  %-34s %-15s %s\n", jstr(x, "check"), jstr(x, "result"), jstr(x, "finding_ja"));
}

static int evaluate_cmd(mm_cli *c, int argc, char **argv)
{
	int rc = no_args(c, argc, argv);

	return rc ? rc : call_show(c, "POST", "/v1/fisc/evaluate", NULL, show_eval);
}

static void show_checks(const json_t *r)
{
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(r, "checks"), i, x)
		printf("%-34s %-12s %-11s %s\n", jstr(x, "check"), jstr(x, "status"),
		       json_is_true(json_object_get(x, "registered")) ? "registered" : "-", jstr(x, "title_ja"));
}

static int checks_cmd(mm_cli *c, int argc, char **argv)
{
	int rc = no_args(c, argc, argv);

	return rc ? rc : call_show(c, "GET", "/v1/fisc/checks", NULL, show_checks);
}

static void show_coverage(const json_t *r)
{
	size_t i;
	json_t *x;

	printf("%s v%lld: provider responsible for %lld criteria; with evidence %lld; passing %lld; "
	       "failing %lld (run %s)\n", jstr(r, "doc"), (long long)json_integer_value(json_object_get(r, "version")),
	       (long long)json_integer_value(json_object_get(r, "responsible")),
	       (long long)json_integer_value(json_object_get(r, "with_evidence")),
	       (long long)json_integer_value(json_object_get(r, "passing")),
	       (long long)json_integer_value(json_object_get(r, "failing")),
	       json_is_string(json_object_get(r, "run_time")) ? jstr(r, "run_time") : "never");
	json_array_foreach(json_object_get(r, "criteria"), i, x)
		if (strcmp(jstr(x, "evidence"), "none") != 0)
			printf("  %-8s %-8s %s\n", jstr(x, "id"), jstr(x, "provider_mark"), jstr(x, "evidence"));
}

static int coverage_cmd(mm_cli *c, int argc, char **argv)
{
	const char *version = NULL;
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if ((rc = doc_opts(c, argc, argv, &version, NULL, NULL)) != 0)
		return rc;
	{
		const char *segs[] = { argv[optind], "coverage" };
		const char *kv[] = { "version", version };

		if ((rc = build_path(c, &path, "/v1/fisc/docs", segs, 2)) == 0 &&
		    (rc = add_query(c, &path, kv, 2)) == 0)
			rc = call_show(c, "GET", mm_buf_str(&path), NULL, show_coverage);
	}
	mm_buf_release(&path);
	return rc;
}

/* ---- reports ---- */

static int write_out(mm_cli *c, const char *path, const mm_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");

	if (f == NULL)
		return mm_cli_fail(c, MM_EXIT_FAIL, "cannot write %s", path);
	if (b->len > 0 && fwrite(b->data, 1, b->len, f) != b->len) {
		if (f != stdout)
			fclose(f);
		return mm_cli_fail(c, MM_EXIT_FAIL, "cannot write %s", path);
	}
	if (f != stdout && fclose(f) != 0)
		return mm_cli_fail(c, MM_EXIT_FAIL, "cannot write %s", path);
	return 0;
}

static int fetch_report(mm_cli *c, const char *edition, const char *format, const char *doc,
			const char *version, const char *out)
{
	mm_buf path = MM_BUF_INIT(4096), body = MM_BUF_INIT(REPORT_MAX);
	const char *kv[] = { "edition", edition, "format", format, "doc", doc, "version", version };
	int rc;

	if ((rc = build_path(c, &path, "/v1/fisc/report", NULL, 0)) == 0 &&
	    (rc = add_query(c, &path, kv, 8)) == 0 &&
	    (rc = mm_cli_call_raw(c, "GET", mm_buf_str(&path), NULL, NULL, 0, &body)) == 0 &&
	    (rc = write_out(c, out, &body)) == 0 && strcmp(out, "-") != 0 && !c->quiet)
		fprintf(stderr, "mamori: wrote %s (%zu bytes)\n", out, body.len);
	mm_buf_release(&path);
	mm_buf_release(&body);
	return rc;
}

static int report_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "edition", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'f' },
		{ "doc", required_argument, NULL, 'd' },
		{ "version", required_argument, NULL, 'v' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *edition = NULL, *format = "md", *doc = NULL, *version = NULL, *out = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'e': edition = optarg; break;
		case 'f': format = optarg; break;
		case 'd': doc = optarg; break;
		case 'v': version = optarg; break;
		case 'o': out = optarg; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if (edition == NULL || out == NULL)
		return mm_cli_usage(c, "--edition N and --out FILE are required");
	if (strcmp(format, "oscal") == 0) {
		/* Both OSCAL documents: FILE and FILE with ".ar" before its extension. */
		char ar[4096];
		const char *dot = strrchr(out, '.');
		const char *slash = strrchr(out, '/');

		if (strcmp(out, "-") == 0)
			return mm_cli_usage(c, "--format oscal writes two files; give --out FILE");
		if (dot != NULL && (slash == NULL || dot > slash))
			snprintf(ar, sizeof(ar), "%.*s.ar%s", (int)(dot - out), out, dot);
		else
			snprintf(ar, sizeof(ar), "%s.ar", out);
		if ((rc = fetch_report(c, edition, "oscal-cd", doc, version, out)) != 0)
			return rc;
		return fetch_report(c, edition, "oscal-ar", doc, version, ar);
	}
	return fetch_report(c, edition, format, doc, version, out);
}

const mm_cli_cmd mm_cli_cmds_fisc[] = {
	{ "fisc editions", "", "list the FISC editions in the catalog", editions_cmd },
	{ "fisc edition", "N", "show the criteria of one edition", edition_cmd },
	{ "fisc edition validate", "FILE", "check an edition file (docs/fisc.md) without loading it",
	  edition_validate_cmd },
	{ "fisc diff", "--from N --to M", "criteria added, retired and renumbered between editions",
	  diff_cmd },
	{ "fisc docs", "", "list response documents (対応表)", docs_cmd },
	{ "fisc doc create", "DOC --edition N --title TEXT", "create a response document", doc_create_cmd },
	{ "fisc doc diff", "DOC --from V [--to V]", "cell-by-cell differences between two versions",
	  doc_diff_cmd },
	{ "fisc history", "DOC", "versions and revision history of a document", history_cmd },
	{ "fisc show", "DOC [--version latest|working|N]", "the responses of one version", show_cmd },
	{ "fisc import", "DOC FILE.csv [--replace]",
	  "import responses from CSV (all or nothing; problems listed by line)", import_cmd },
	{ "fisc response set", "DOC ID PARTY MARK [--ja TEXT] [--en TEXT]",
	  "set one response (PARTY fi|provider|cloud, MARK 主体|一部|対象外|お客様対応)", response_set_cmd },
	{ "fisc response delete", "DOC ID PARTY", "remove one response from the working copy",
	  response_delete_cmd },
	{ "fisc review", "DOC ID", "mark a criterion flagged \"needs review\" as reviewed", review_cmd },
	{ "fisc approve", "DOC [--version N]", "approve the draft (not by one of its authors)", approve_cmd },
	{ "fisc publish", "DOC --summary TEXT [--version N]", "publish the approved version", publish_cmd },
	{ "fisc carry-forward", "DOC --to NEWDOC --edition N --title TEXT [--from-version V]",
	  "start a table for a new edition from a published one", carry_cmd },
	{ "fisc evaluate", "", "run the evidence checks and store the results", evaluate_cmd },
	{ "fisc checks", "", "evidence checks, their bindings and registration", checks_cmd },
	{ "fisc coverage", "DOC [--version V]", "evidence coverage of the provider's responsibilities",
	  coverage_cmd },
	{ "fisc report", "--edition N --format md|html|csv|xlsx|oscal|oscal-cd|oscal-ar [--doc DOC] "
	  "[--version V] --out FILE", "write the 対応表 report", report_cmd },
	{ NULL, NULL, NULL, NULL },
};
