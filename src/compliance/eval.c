/*
 * eval.c: evidence bindings (data/fisc/evidence-bindings.json, format in
 * docs/fisc.md), evaluation runs and coverage.
 *
 * Invariants: a binding names a check once; its criteria exist and are not
 * retired in the loaded edition they are listed under (bindings for an
 * edition that is not loaded are kept but unused). A bound check that is not
 * registered evaluates to "no_evidence"; nothing about an unregistered check
 * is ever called. An evaluation run is stored with all its results and its
 * audit event in one store job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/internal.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

#define BINDINGS_MAX 256

/* ---- bindings ---- */

void fisc_bindings_release(mm_fisc *f)
{
	for (size_t i = 0; i < f->nbind; i++) {
		for (size_t j = 0; j < f->bind[i].neds; j++) {
			free(f->bind[i].eds[j].ids);
			free(f->bind[i].eds[j].unresolved);
		}
		free(f->bind[i].eds);
	}
	free(f->bind);
	f->bind = NULL;
	f->nbind = 0;
	json_decref(f->bindings_root);
	f->bindings_root = NULL;
}

static mm_err bbad(const char *name, const char *where, const char *what)
{
	char w[256];

	snprintf(w, sizeof(w), "%s", what);
	return mm_err_set(MM_ERR_INVALID, "%.120s: %.64s: %.200s", name, where, w);
}

static mm_err str_field(const char *name, const char *where, json_t *o, const char *key,
			bool required, const char **ret)
{
	json_t *v = json_object_get(o, key);
	char what[96];

	if (v == NULL && !required) {
		*ret = NULL;
		return MM_OK;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(what, sizeof(what), "'%s' must be a non-empty string", key);
		return bbad(name, where, what);
	}
	*ret = json_string_value(v);
	return MM_OK;
}

static mm_err parse_binding(mm_fisc *f, const char *name, json_t *o, fisc_binding *b, bool strict)
{
	static const char *const keys[] = { "check", "status", "module", "title_ja", "title_en",
					    "params", "criteria", "basis_ja", "basis_en", NULL };
	const char *x, *ek;
	json_t *crit, *ids;
	mm_err rc;

	if (!json_is_object(o))
		return bbad(name, "checks", "each entry must be an object");
	if ((rc = str_field(name, "check", o, "check", true, &b->check)) != MM_OK)
		return rc;
	if (!mm_evidence_name_ok(b->check))
		return bbad(name, b->check, "check names are module.check in [a-z0-9_]");
	if (mm_json_only(o, keys) != MM_OK)
		return bbad(name, b->check, mm_err_detail(MM_ERR_INVALID));
	if ((rc = str_field(name, b->check, o, "status", true, &b->status)) != MM_OK ||
	    (rc = str_field(name, b->check, o, "module", true, &b->module)) != MM_OK ||
	    (rc = str_field(name, b->check, o, "title_ja", true, &b->title_ja)) != MM_OK ||
	    (rc = str_field(name, b->check, o, "title_en", true, &b->title_en)) != MM_OK ||
	    (rc = str_field(name, b->check, o, "basis_ja", false, &x)) != MM_OK ||
	    (rc = str_field(name, b->check, o, "basis_en", false, &x)) != MM_OK)
		return rc;
	if (strcmp(b->status, "implemented") != 0 && strcmp(b->status, "planned") != 0)
		return bbad(name, b->check, "status must be implemented or planned");
	b->params = json_object_get(o, "params");
	if (b->params != NULL && !json_is_object(b->params))
		return bbad(name, b->check, "params must be an object");
	crit = json_object_get(o, "criteria");
	if (!json_is_object(crit) || json_object_size(crit) == 0)
		return bbad(name, b->check, "criteria must map editions to arrays of IDs");
	if ((b->eds = calloc(json_object_size(crit), sizeof(*b->eds))) == NULL)
		return MM_ERR_NOMEM;
	json_object_foreach(crit, ek, ids) {
		fisc_binding_ed *e = &b->eds[b->neds];
		const mm_fisc_edition *ed;
		char *endp;
		long n = strtol(ek, &endp, 10);

		if (*ek == '\0' || *endp != '\0' || n < 1 || n > 99)
			return bbad(name, b->check, "criteria keys are edition numbers");
		if (!json_is_array(ids) || json_array_size(ids) == 0)
			return bbad(name, b->check, "each edition needs a non-empty array of IDs");
		e->edition = (int)n;
		if ((e->ids = calloc(json_array_size(ids), sizeof(*e->ids))) == NULL ||
		    (e->unresolved = calloc(json_array_size(ids), sizeof(*e->unresolved))) == NULL)
			return MM_ERR_NOMEM;
		b->neds++;
		ed = mm_fisc_catalog_edition(f->cat, e->edition);
		for (size_t i = 0; i < json_array_size(ids); i++) {
			const char *id = json_string_value(json_array_get(ids, i));
			const mm_fisc_criterion *c;
			char what[160];

			if (!mm_fisc_id_parse(id, NULL, NULL, NULL))
				return bbad(name, b->check, "criteria hold a malformed ID");
			for (size_t j = 0; j < e->n; j++)
				if (strcmp(e->ids[j], id) == 0) {
					snprintf(what, sizeof(what), "%s listed twice for edition %d", id,
						 e->edition);
					return bbad(name, b->check, what);
				}
			if (ed != NULL) {
				c = mm_fisc_edition_find(ed, id);
				if ((c == NULL || c->status == MM_FISC_RETIRED) && !strict &&
				    strncmp(ed->origin, "builtin:", 8) != 0) {
					e->unresolved[e->nunresolved++] = id;
					mm_logkv(MM_LOG_WARN, "fisc.binding_unresolved", "check", b->check,
						 "criterion", id, "edition", ek, "origin", ed->origin, NULL);
					continue;
				}
				if (c == NULL || c->status == MM_FISC_RETIRED) {
					snprintf(what, sizeof(what), "%s is %s in edition %d", id,
						 c ? "retired" : "not", e->edition);
					return bbad(name, b->check, what);
				}
			}
			e->ids[e->n++] = id;
		}
	}
	return MM_OK;
}

mm_err fisc_bindings_load(mm_fisc *f, const char *name, const char *data, size_t len,
			  bool strict)
{
	static const char *const keys[] = { "format", "format_version", "note_ja", "note_en",
					    "checks", NULL };
	json_error_t je;
	json_t *root, *arr, *v;
	mm_err rc = MM_OK;

	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return mm_err_set(MM_ERR_INVALID, "%.120s: malformed JSON at line %d: %.100s", name,
				  je.line, je.text);
	f->bindings_root = root;
	if (!json_is_object(root) || mm_json_only(root, keys) != MM_OK) {
		rc = bbad(name, "file", "must be an object with format, format_version, note_ja, "
			  "note_en, checks");
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), "mamori-fisc-evidence-bindings") != 0) {
		rc = bbad(name, "format", "must be \"mamori-fisc-evidence-bindings\"");
		goto out;
	}
	v = json_object_get(root, "format_version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = bbad(name, "format_version", "must be 1");
		goto out;
	}
	arr = json_object_get(root, "checks");
	if (!json_is_array(arr) || json_array_size(arr) > BINDINGS_MAX) {
		rc = bbad(name, "checks", "must be an array of at most 256 entries");
		goto out;
	}
	if ((f->bind = calloc(json_array_size(arr) + 1, sizeof(*f->bind))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		fisc_binding *b = &f->bind[f->nbind++];

		if ((rc = parse_binding(f, name, json_array_get(arr, i), b, strict)) != MM_OK)
			goto out;
		for (size_t j = 0; j + 1 < f->nbind; j++)
			if (strcmp(f->bind[j].check, b->check) == 0) {
				rc = bbad(name, b->check, "check bound twice");
				goto out;
			}
	}
out:
	if (rc != MM_OK)
		fisc_bindings_release(f);
	return rc;
}

static const fisc_binding *binding_of(const mm_fisc *f, const char *check)
{
	for (size_t i = 0; i < f->nbind; i++)
		if (strcmp(f->bind[i].check, check) == 0)
			return &f->bind[i];
	return NULL;
}

/* ---- labels ---- */

const char *fisc_evidence_ja(const char *s)
{
	if (strcmp(s, "pass") == 0)
		return "合格";
	if (strcmp(s, "fail") == 0)
		return "不合格";
	if (strcmp(s, "not_applicable") == 0)
		return "該当なし";
	if (strcmp(s, "error") == 0)
		return "評価エラー";
	if (strcmp(s, "no_evidence") == 0)
		return "証跡なし";
	return "対象チェックなし";
}

const char *fisc_evidence_en(const char *s)
{
	if (strcmp(s, "pass") == 0)
		return "Pass";
	if (strcmp(s, "fail") == 0)
		return "Fail";
	if (strcmp(s, "not_applicable") == 0)
		return "Not applicable";
	if (strcmp(s, "error") == 0)
		return "Evaluation error";
	if (strcmp(s, "no_evidence") == 0)
		return "No evidence";
	return "No check bound";
}

/* ---- evaluation ---- */

void fisc_eval_release(fisc_eval *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->r[i].check);
		free(e->r[i].result);
		free(e->r[i].finding_ja);
		free(e->r[i].finding_en);
		free(e->r[i].data);
	}
	free(e->r);
	memset(e, 0, sizeof(*e));
}

const fisc_eval_result *fisc_eval_find(const fisc_eval *e, const char *check)
{
	for (size_t i = 0; e != NULL && i < e->n; i++)
		if (strcmp(e->r[i].check, check) == 0)
			return &e->r[i];
	return NULL;
}

mm_err fisc_eval_load_latest(mm_db *db, fisc_eval *ret)
{
	static const char q_run[] = "SELECT run_id, time_ms FROM fisc_eval_runs"
				    " ORDER BY run_id DESC LIMIT 1";
	static const char q_res[] = "SELECT check_name, result, finding_ja, finding_en, data"
				    " FROM fisc_eval_results WHERE run_id = ? ORDER BY check_name";
	fisc_eval e = { 0 };
	mm_stmt *st = NULL;
	size_t cap = 0;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_run, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		e.run = mm_stmt_int(st, 0);
		e.time_ms = mm_stmt_int(st, 1);
	}
	mm_stmt_done(st);
	st = NULL;
	if (rc != MM_OK || e.run == 0)
		goto done;
	if ((rc = mm_db_prepare(db, q_res, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, 1, e.run)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		fisc_eval_result *r;

		if (e.n == cap) {
			fisc_eval_result *v = mm_grow(e.r, &cap, 32, sizeof(*v));

			if (v == NULL) {
				rc = MM_ERR_NOMEM;
				goto out;
			}
			e.r = v;
		}
		r = &e.r[e.n++];
		r->check = strdup(mm_stmt_text(st, 0));
		r->result = strdup(mm_stmt_text(st, 1));
		r->finding_ja = strdup(mm_stmt_text(st, 2));
		r->finding_en = strdup(mm_stmt_text(st, 3));
		r->data = strdup(mm_stmt_text(st, 4));
		if (!r->check || !r->result || !r->finding_ja || !r->finding_en || !r->data) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
	}
done:
	if (rc == MM_OK) {
		*ret = e;
		memset(&e, 0, sizeof(e));
	}
out:
	mm_stmt_done(st);
	fisc_eval_release(&e);
	return rc;
}

const char *fisc_criterion_evidence(const mm_fisc *f, int edition, const char *id,
				    const fisc_eval *ev, json_t *checks)
{
	bool bound = false, fail = false, err = false, pass = false, na = false;

	for (size_t i = 0; i < f->nbind; i++) {
		const fisc_binding *b = &f->bind[i];

		for (size_t j = 0; j < b->neds; j++) {
			const fisc_binding_ed *e = &b->eds[j];
			bool hit = false;

			if (e->edition != edition)
				continue;
			for (size_t k = 0; k < e->n && !hit; k++)
				hit = strcmp(e->ids[k], id) == 0;
			if (!hit)
				continue;
			{
				const fisc_eval_result *r = fisc_eval_find(ev, b->check);
				const char *res = r ? r->result : "no_evidence";

				bound = true;
				fail |= strcmp(res, "fail") == 0;
				err |= strcmp(res, "error") == 0;
				pass |= strcmp(res, "pass") == 0;
				na |= strcmp(res, "not_applicable") == 0;
				if (checks != NULL) {
					char t[MM_TIME_RFC3339_LEN];

					mm_time_format(ev ? ev->time_ms : 0, t);
					json_array_append_new(checks, json_pack("{s:s,s:s,s:o}", "check",
										b->check, "result", res, "time",
										r ? json_string(t) : json_null()));
				}
			}
		}
	}
	if (!bound)
		return "none";
	if (fail)
		return "fail";
	if (err)
		return "error";
	if (pass)
		return "pass";
	if (na)
		return "not_applicable";
	return "no_evidence";
}

struct result {
	const char *check;
	const char *result;
	char finding_ja[MM_EVIDENCE_FINDING_MAX];
	char finding_en[MM_EVIDENCE_FINDING_MAX];
	char *data;        /* JSON text */
};

struct eval_arg {
	const mm_fisc_who *who;
	struct result *r;
	size_t n;
	int64_t now;
	int64_t run;
};

static mm_err eval_job(mm_db *db, void *p)
{
	static const char q_next[] = "SELECT COALESCE(MAX(run_id), 0) + 1 FROM fisc_eval_runs";
	static const char q_run[] = "INSERT INTO fisc_eval_runs (run_id, time_ms, actor) VALUES (?, ?, ?)";
	static const char q_res[] = "INSERT INTO fisc_eval_results (run_id, check_name, result,"
				    " finding_ja, finding_en, data) VALUES (?, ?, ?, ?, ?, ?)";
	struct eval_arg *a = p;
	json_t *counts = json_object();
	int64_t run = 0;
	mm_err rc;

	if (counts == NULL)
		return MM_ERR_NOMEM;
	if ((rc = fisc_sql_int(db, q_next, &run, "")) != MM_OK ||
	    (rc = fisc_sql_run(db, q_run, "iit", run, a->now, a->who->actor)) != MM_OK)
		goto out;
	for (size_t i = 0; i < a->n; i++) {
		const struct result *r = &a->r[i];
		json_t *c = json_object_get(counts, r->result);

		json_object_set_new(counts, r->result, json_integer(c ? json_integer_value(c) + 1 : 1));
		if ((rc = fisc_sql_run(db, q_res, "ittttt", run, r->check, r->result, r->finding_ja,
				       r->finding_en, r->data)) != MM_OK)
			goto out;
	}
	a->run = run;
	rc = fisc_audit(db, a->who, "fisc.evaluate", "fisc:evidence", "success",
			json_pack("{s:I,s:O}", "run", (json_int_t)run, "counts", counts));
out:
	json_decref(counts);
	return rc;
}

/* Runs one registered check and fills r. */
static void run_check(mm_fisc *f, const mm_evidence_check *c, const json_t *params, int64_t now,
		      struct result *r)
{
	mm_evidence_ctx ctx = { f->store, f->cfg, params, now };
	mm_evidence_out out;
	mm_err rc;

	memset(&out, 0, sizeof(out));
	mm_err_clear();
	rc = c->run(&ctx, &out);
	if (rc == MM_OK && (out.result < MM_EVIDENCE_PASS || out.result > MM_EVIDENCE_NOT_APPLICABLE))
		rc = mm_err_set(MM_ERR_INTERNAL, "check %s returned no result", c->name);
	if (rc == MM_OK && out.data != NULL && !json_is_object(out.data))
		rc = mm_err_set(MM_ERR_INTERNAL, "check %s returned data that is not an object", c->name);
	if (rc != MM_OK) {
		char detail[400];
		json_t *d;

		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		r->result = "error";
		snprintf(r->finding_ja, sizeof(r->finding_ja), "チェックを実行できませんでした: %s", detail);
		snprintf(r->finding_en, sizeof(r->finding_en), "The check could not run: %s", detail);
		d = json_pack("{s:s}", "error", mm_err_name(rc));
		r->data = d ? mm_json_dump(d) : NULL;
		json_decref(d);
	} else {
		r->result = mm_evidence_result_name(out.result);
		memcpy(r->finding_ja, out.finding_ja, sizeof(r->finding_ja));
		memcpy(r->finding_en, out.finding_en, sizeof(r->finding_en));
		r->finding_ja[sizeof(r->finding_ja) - 1] = '\0';
		r->finding_en[sizeof(r->finding_en) - 1] = '\0';
		r->data = out.data ? json_dumps(out.data, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	}
	json_decref(out.data);
}

mm_err mm_fisc_evaluate(mm_fisc *f, const mm_fisc_who *who, json_t **ret)
{
	size_t cap = f->nbind + mm_evidence_count() + 1, n = 0;
	struct result *r = calloc(cap, sizeof(*r));
	struct eval_arg a;
	int64_t now = mm_time_wall_ms();
	mm_err rc;

	if (r == NULL)
		return MM_ERR_NOMEM;
	if ((rc = fisc_who_check(who)) != MM_OK)
		goto out;
	for (size_t i = 0; i < f->nbind; i++) {
		const mm_evidence_check *c = mm_evidence_find(f->bind[i].check);

		r[n].check = f->bind[i].check;
		if (c != NULL) {
			run_check(f, c, f->bind[i].params, now, &r[n]);
		} else {
			r[n].result = "no_evidence";
			snprintf(r[n].finding_ja, sizeof(r[n].finding_ja),
				 "チェック %s は登録されていません（%s モジュールで実装予定）",
				 f->bind[i].check, f->bind[i].module);
			snprintf(r[n].finding_en, sizeof(r[n].finding_en),
				 "Check %s is not registered (planned in module %s)", f->bind[i].check,
				 f->bind[i].module);
			r[n].data = strdup("{}");
		}
		n++;
	}
	for (size_t i = 0; i < mm_evidence_count() && n < cap; i++) {
		const mm_evidence_check *c = mm_evidence_at(i);

		if (c == NULL || binding_of(f, c->name) != NULL)
			continue;
		r[n].check = c->name;
		run_check(f, c, NULL, now, &r[n]);
		n++;
	}
	for (size_t i = 0; i < n; i++)
		if (r[i].data == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
	a = (struct eval_arg){ who, r, n, now, 0 };
	if ((rc = mm_store_write(f->store, eval_job, &a)) != MM_OK)
		goto out;
	if (ret != NULL) {
		json_t *list = json_array();
		char t[MM_TIME_RFC3339_LEN];

		if (list == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *d = json_loads(r[i].data, 0, NULL);

			json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:o}", "check",
							      r[i].check, "result", r[i].result,
							      "finding_ja", r[i].finding_ja,
							      "finding_en", r[i].finding_en,
							      "data", d ? d : json_object()));
		}
		mm_time_format(now, t);
		*ret = json_pack("{s:I,s:s,s:o}", "run", (json_int_t)a.run, "time", t, "results", list);
		if (*ret == NULL)
			rc = MM_ERR_NOMEM;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(r[i].data);
	free(r);
	return rc;
}

/* ---- coverage ---- */

struct cov_arg {
	mm_fisc *f;
	const char *doc;
	int64_t sel;
	json_t *out;
};

static mm_err cov_read(mm_db *db, void *p)
{
	struct cov_arg *a = p;
	fisc_doc d;
	fisc_version v;
	fisc_cells cells = { 0 };
	fisc_eval ev = { 0 };
	const mm_fisc_edition *ed;
	json_t *list = NULL;
	size_t responsible = 0, with = 0, passing = 0, failing = 0;
	char t[MM_TIME_RFC3339_LEN];
	mm_err rc;

	if ((rc = fisc_doc_get(db, a->doc, &d)) != MM_OK ||
	    (rc = fisc_version_resolve(db, a->doc, a->sel, &v)) != MM_OK ||
	    (rc = fisc_cells_load(db, a->doc, v.version, &cells)) != MM_OK ||
	    (rc = fisc_eval_load_latest(db, &ev)) != MM_OK)
		goto out;
	if ((ed = mm_fisc_catalog_edition(a->f->cat, d.edition)) == NULL) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", d.edition);
		goto out;
	}
	if ((list = json_array()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < ed->ncriteria; i++) {
		const mm_fisc_criterion *c = &ed->criteria[i];
		mm_fisc_mark pm = MM_FISC_MARK_NONE;
		json_t *checks;
		const char *st;

		if (c->status != MM_FISC_ACTIVE)
			continue;
		for (size_t j = 0; j < cells.n; j++)
			if (cells.v[j].party == MM_FISC_PROVIDER && strcmp(cells.v[j].crit, c->id) == 0)
				pm = cells.v[j].mark;
		if (pm != MM_FISC_PRIMARY && pm != MM_FISC_PARTIAL)
			continue;
		responsible++;
		if ((checks = json_array()) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		st = fisc_criterion_evidence(a->f, d.edition, c->id, &ev, checks);
		if (strcmp(st, "pass") == 0 || strcmp(st, "fail") == 0 ||
		    strcmp(st, "not_applicable") == 0 || strcmp(st, "error") == 0)
			with++;
		passing += strcmp(st, "pass") == 0;
		failing += strcmp(st, "fail") == 0 || strcmp(st, "error") == 0;
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o}", "id", c->id,
						      "provider_mark", mm_fisc_mark_name(pm),
						      "evidence", st, "checks", checks));
	}
	mm_time_format(ev.time_ms, t);
	a->out = json_pack("{s:s,s:i,s:I,s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:o}", "doc", d.id, "edition",
			   d.edition, "version", (json_int_t)v.version, "state", v.state, "run",
			   ev.run ? json_integer(ev.run) : json_null(), "run_time",
			   ev.run ? json_string(t) : json_null(), "responsible",
			   (json_int_t)responsible, "with_evidence", (json_int_t)with, "passing",
			   (json_int_t)passing, "failing", (json_int_t)failing, "criteria", list);
	list = NULL;
	if (a->out == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(list);
	fisc_cells_release(&cells);
	fisc_eval_release(&ev);
	return rc;
}

mm_err mm_fisc_coverage(mm_fisc *f, const char *doc_id, int64_t version, json_t **ret)
{
	struct cov_arg a = { f, doc_id, version, NULL };
	mm_err rc;

	if (!fisc_doc_id_ok(doc_id))
		return fisc_doc_id_error();
	if ((rc = fisc_with_read(f, cov_read, &a)) != MM_OK) {
		json_decref(a.out);
		return rc;
	}
	*ret = a.out;
	return MM_OK;
}

mm_err mm_fisc_checks(mm_fisc *f, json_t **ret)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return MM_ERR_NOMEM;
	for (size_t i = 0; i < f->nbind; i++) {
		const fisc_binding *b = &f->bind[i];
		json_t *crit = json_object(), *unres = json_object();
		char k[8];

		for (size_t j = 0; crit && unres && j < b->neds; j++) {
			json_t *ids = json_array(), *un = json_array();

			for (size_t q = 0; ids && q < b->eds[j].n; q++)
				json_array_append_new(ids, json_string(b->eds[j].ids[q]));
			for (size_t q = 0; un && q < b->eds[j].nunresolved; q++)
				json_array_append_new(un, json_string(b->eds[j].unresolved[q]));
			snprintf(k, sizeof(k), "%d", b->eds[j].edition);
			json_object_set_new(crit, k, ids);
			if (json_array_size(un) > 0)
				json_object_set_new(unres, k, un);
			else
				json_decref(un);
		}
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "check", b->check,
						     "status", b->status, "module", b->module,
						     "title_ja", b->title_ja, "title_en", b->title_en,
						     "registered", mm_evidence_find(b->check) != NULL,
						     "criteria", crit, "unresolved", unres));
	}
	for (size_t i = 0; i < mm_evidence_count(); i++) {
		const mm_evidence_check *c = mm_evidence_at(i);

		if (c == NULL || binding_of(f, c->name) != NULL)
			continue;
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "check", c->name,
						     "status", "implemented", "module", c->module,
						     "title_ja", c->title_ja, "title_en", c->title_en,
						     "registered", 1, "criteria", json_object(),
						     "unresolved", json_object()));
	}
	*ret = arr;
	return MM_OK;
}
