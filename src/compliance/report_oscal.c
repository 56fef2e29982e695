/*
 * report_oscal.c: OSCAL 1.1 JSON documents for a 対応表.
 *
 *  - component-definition: one component (the provider's service) whose
 *    control implementation lists, per criterion where the provider's mark is
 *    主体 or 一部, an implemented-requirement with the FISC ID as control-id
 *    and the provider's response (Japanese, then English) as description.
 *    The FISC edition is a back-matter resource, referenced as the source.
 *  - assessment-results: one result for the latest evaluation run, each
 *    check's outcome as an observation (method TEST, collected at the run
 *    time, data as relevant evidence) and, per bound criterion with a pass or
 *    fail, a finding whose target status is satisfied / not-satisfied.
 *
 * Every uuid is a fresh version 4 UUID (mm_uuid_v4, RAND via src/crypto).
 * mamori-specific props use the namespace urn:mamori:fisc. FISC IDs are
 * valid OSCAL tokens (a letter, then letters, digits, '-').
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/report.h"
#include "core/time.h"
#include "crypto/uuid.h"

#define OSCAL_VERSION "1.1.2"
#define NS "urn:mamori:fisc"

struct gen {
	mm_err rc;
};

/* A fresh uuid as a JSON string; records a failure in g. */
static json_t *uuid(struct gen *g)
{
	char u[MM_UUID_LEN];

	if (g->rc == MM_OK)
		g->rc = mm_uuid_v4(u);
	return json_string(g->rc == MM_OK ? u : "00000000-0000-4000-8000-000000000000");
}

static json_t *prop(const char *name, const char *value)
{
	return json_pack("{s:s,s:s,s:s}", "name", name, "ns", NS, "value", value);
}

/* "ja\n\nen" or just ja. */
static json_t *bilingual(const char *ja, const char *en)
{
	char *s;
	json_t *v;
	size_t n;

	if (en == NULL || en[0] == '\0')
		return json_string(ja && ja[0] ? ja : "-");
	n = strlen(ja) + strlen(en) + 3;
	if ((s = malloc(n)) == NULL)
		return NULL;
	snprintf(s, n, "%s\n\n%s", ja, en);
	v = json_string(s);
	free(s);
	return v;
}

/* A one-line title: newlines become spaces. */
static json_t *line(const char *s)
{
	char *d = strdup(s ? s : "");
	json_t *v;

	if (d == NULL)
		return NULL;
	for (char *p = d; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	v = json_string(d);
	free(d);
	return v;
}

static json_t *metadata(const report_model *m, const char *title_ja, const char *title_en,
			json_t *roles)
{
	char t[MM_TIME_RFC3339_LEN], ver[64], title[512], ed[16];
	json_t *md;

	mm_time_format(m->generated_ms, t);
	if (m->has_doc)
		snprintf(ver, sizeof(ver), "%lld", (long long)m->ver.version);
	else
		snprintf(ver, sizeof(ver), "template");
	snprintf(title, sizeof(title), "%s / %s", title_ja, title_en);
	snprintf(ed, sizeof(ed), "%d", m->ed->edition);
	md = json_pack("{s:o,s:s,s:s,s:s,s:o,s:[o,o]}", "title", line(title), "last-modified", t,
		       "version", ver, "oscal-version", OSCAL_VERSION, "roles", roles, "props",
		       prop("fisc-edition", ed), prop("document-state", m->has_doc ? m->ver.state :
						      "template"));
	if (md != NULL && m->has_doc && m->ver.published_ms) {
		mm_time_format(m->ver.published_ms, t);
		json_object_set_new(md, "published", json_string(t));
	}
	return md;
}

static json_t *edition_resource(const report_model *m, json_t *res_uuid)
{
	char desc[1024];

	snprintf(desc, sizeof(desc), "%s\n\n%s\n\n%s: %s (sha256 %s)", m->ed->title_ja,
		 m->ed->title_en, m->ed->complete ? "Catalog" : "Incomplete catalog", m->ed->origin,
		 m->ed->digest);
	return json_pack("{s:O,s:o,s:s}", "uuid", res_uuid, "title", line(m->ed->title_en),
			 "description", desc);
}

static mm_err dump(json_t *doc, mm_buf *out)
{
	char *s;
	mm_err rc;

	if (doc == NULL)
		return MM_ERR_NOMEM;
	s = json_dumps(doc, JSON_INDENT(2));
	if (s == NULL)
		return MM_ERR_NOMEM;
	rc = mm_buf_appends(out, s);
	if (rc == MM_OK)
		rc = mm_buf_appendc(out, '\n');
	free(s);
	return rc;
}

mm_err report_oscal_cd(const report_model *m, mm_buf *out)
{
	struct gen g = { MM_OK };
	json_t *doc = NULL, *reqs = json_array(), *res_uuid = uuid(&g), *comp, *roles;
	char source[64], title[512];
	mm_err rc;

	if (reqs == NULL || res_uuid == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	snprintf(source, sizeof(source), "#%s", json_string_value(res_uuid));
	for (size_t i = 0; i < m->nrows; i++) {
		const report_row *r = &m->rows[i];
		const report_cell *pc = &r->party[MM_FISC_PROVIDER];
		json_t *props, *req;

		if (r->c->status != MM_FISC_ACTIVE || !pc->set ||
		    (pc->mark != MM_FISC_PRIMARY && pc->mark != MM_FISC_PARTIAL))
			continue;
		props = json_pack("[o,o,o]", prop("responsibility", mm_fisc_mark_name(pc->mark)),
				  prop("responsibility-ja", mm_fisc_mark_ja(pc->mark)),
				  prop("evidence-status", r->evidence));
		for (int p = 0; props && p < MM_FISC_NPARTY; p++) {
			char name[48];

			if (p == MM_FISC_PROVIDER || !r->party[p].set)
				continue;
			snprintf(name, sizeof(name), "%s-responsibility",
				 p == MM_FISC_FI ? "financial-institution" : "cloud-vendor");
			json_array_append_new(props, prop(name, mm_fisc_mark_name(r->party[p].mark)));
		}
		if (r->c->provisional)
			json_array_append_new(props, prop("criterion-unverified", "true"));
		req = json_pack("{s:o,s:s,s:o,s:o,s:[{s:s}]}", "uuid", uuid(&g), "control-id", r->c->id,
				"description", bilingual(pc->ja, pc->en), "props", props,
				"responsible-roles", "role-id", "provider");
		if (req == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		json_array_append_new(reqs, req);
	}
	snprintf(title, sizeof(title), "%s", m->has_doc ? m->doc.title : "FISC response table (template)");
	comp = json_pack("{s:o,s:s,s:o,s:o,s:[{s:s}]}", "uuid", uuid(&g), "type", "service",
			 "title", line(title), "description",
			 bilingual("FISC 安全対策基準に対するサービス提供者の対応（対応表のうち提供者が主体・一部の項目）",
				   "The service provider's responses to the FISC security standard (the "
				   "criteria where the provider's mark is primary or partial)"),
			 "responsible-roles", "role-id", "provider");
	if (comp == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if (json_array_size(reqs) > 0) {
		char desc[512];

		snprintf(desc, sizeof(desc), "%s / %s", m->ed->title_ja, m->ed->title_en);
		json_object_set_new(comp, "control-implementations",
				    json_pack("[{s:o,s:s,s:s,s:O}]", "uuid", uuid(&g), "source", source,
					      "description", desc, "implemented-requirements", reqs));
	}
	roles = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
			  "id", "provider", "title", "サービス提供者 / Service provider",
			  "id", "customer", "title", "金融機関 / Financial institution",
			  "id", "cloud-vendor", "title", "クラウド事業者 / Cloud vendor");
	doc = json_pack("{s:{s:o,s:o,s:[o],s:{s:[o]}}}", "component-definition",
			"uuid", uuid(&g),
			"metadata", metadata(m, "FISC 安全対策基準 対応表", "FISC security standard response table", roles),
			"components", comp,
			"back-matter", "resources", edition_resource(m, res_uuid));
	if ((rc = g.rc) == MM_OK)
		rc = dump(doc, out);
out:
	json_decref(doc);
	json_decref(reqs);
	json_decref(res_uuid);
	return rc;
}

mm_err report_oscal_ar(const report_model *m, mm_buf *out)
{
	struct gen g = { MM_OK };
	json_t *doc = NULL, *obs = json_array(), *findings = json_array(), *ctrls = json_array();
	json_t *res_uuid = uuid(&g), *ap_uuid = uuid(&g), *obs_uuid = json_object(), *result, *sel;
	char t[MM_TIME_RFC3339_LEN], href[64], title[160];
	mm_err rc;

	if (!obs || !findings || !ctrls || !res_uuid || !ap_uuid || !obs_uuid) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	mm_time_format(m->ev.run ? m->ev.time_ms : m->generated_ms, t);
	for (size_t i = 0; i < m->ev.n; i++) {
		const fisc_eval_result *r = &m->ev.r[i];
		json_t *u = uuid(&g), *o;

		json_object_set(obs_uuid, r->check, u);
		o = json_pack("{s:o,s:s,s:o,s:[s],s:[o,o],s:s,s:[{s:s}]}", "uuid", u, "title", r->check,
			      "description", bilingual(r->finding_ja, r->finding_en), "methods", "TEST",
			      "props", prop("check", r->check), prop("result", r->result),
			      "collected", t, "relevant-evidence", "description", r->data);
		if (o == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		json_array_append_new(obs, o);
	}
	for (size_t i = 0; i < m->nrows; i++) {
		const report_row *r = &m->rows[i];
		json_t *rel, *fnd;
		const char *state;

		if (strcmp(r->evidence, "none") == 0)
			continue;
		json_array_append_new(ctrls, json_pack("{s:s}", "control-id", r->c->id));
		if (strcmp(r->evidence, "pass") == 0)
			state = "satisfied";
		else if (strcmp(r->evidence, "fail") == 0 || strcmp(r->evidence, "error") == 0)
			state = "not-satisfied";
		else
			continue;
		if ((rel = json_array()) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		for (size_t k = 0; rel && k < json_array_size(r->checks); k++) {
			const char *ck = json_string_value(json_object_get(json_array_get(r->checks, k), "check"));
			json_t *u = json_object_get(obs_uuid, ck);

			if (u != NULL)
				json_array_append_new(rel, json_pack("{s:O}", "observation-uuid", u));
		}
		snprintf(title, sizeof(title), "%s %s", r->c->id, r->c->title_ja);
		fnd = json_pack("{s:o,s:o,s:o,s:{s:s,s:s,s:{s:s}},s:[o]}", "uuid", uuid(&g),
				"title", line(title),
				"description", bilingual(r->c->title_ja, r->c->title_en),
				"target", "type", "objective-id", "target-id", r->c->id, "status",
				"state", state, "props", prop("evidence-status", r->evidence));
		if (fnd == NULL) {
			json_decref(rel);
			rc = MM_ERR_NOMEM;
			goto out;
		}
		if (json_array_size(rel) > 0)
			json_object_set_new(fnd, "related-observations", rel);
		else
			json_decref(rel);
		json_array_append_new(findings, fnd);
	}
	if (json_array_size(ctrls) > 0)
		sel = json_pack("[{s:O}]", "include-controls", ctrls);
	else
		sel = json_pack("[{s:{}}]", "include-all");
	if (m->ev.run)
		snprintf(title, sizeof(title), "証跡評価 run %lld / Evidence evaluation run %lld",
			 (long long)m->ev.run, (long long)m->ev.run);
	else
		snprintf(title, sizeof(title), "証跡評価なし / No evidence evaluation yet");
	result = json_pack("{s:o,s:s,s:o,s:s,s:s,s:{s:o}}", "uuid", uuid(&g), "title", title,
			   "description",
			   bilingual("mamori の証跡チェックによる自動評価。各チェックの結果を観察事項として、"
				     "対応付けられた基準ごとの合否を所見として記録する。",
				     "Automated evaluation by mamori's evidence checks: each check's "
				     "outcome is an observation; each bound criterion's pass or fail "
				     "is a finding."),
			   "start", t, "end", t, "reviewed-controls", "control-selections", sel);
	if (result == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if (json_array_size(obs) > 0)
		json_object_set(result, "observations", obs);
	if (json_array_size(findings) > 0)
		json_object_set(result, "findings", findings);
	snprintf(href, sizeof(href), "#%s", json_string_value(ap_uuid));
	doc = json_pack("{s:{s:o,s:o,s:{s:s},s:[o],s:{s:[o,{s:O,s:s,s:s}]}}}", "assessment-results",
			"uuid", uuid(&g),
			"metadata", metadata(m, "FISC 安全対策基準 証跡評価結果", "FISC security standard evidence assessment results",
					     json_pack("[{s:s,s:s}]", "id", "assessor", "title",
						       "mamori（自動評価） / mamori automated evaluation")),
			"import-ap", "href", href,
			"results", result,
			"back-matter", "resources", edition_resource(m, res_uuid),
			"uuid", ap_uuid, "title", "mamori evidence bindings",
			"description", "The assessment plan: mamori's evidence checks and their bindings "
				       "to FISC criteria (data/fisc/evidence-bindings.json).");
	if ((rc = g.rc) == MM_OK)
		rc = dump(doc, out);
out:
	json_decref(doc);
	json_decref(obs);
	json_decref(findings);
	json_decref(ctrls);
	json_decref(res_uuid);
	json_decref(ap_uuid);
	json_decref(obs_uuid);
	return rc;
}
