/*
 * response.c: the compliance tables, response documents and their versions:
 * create, edit the working copy, four-eyes approval, publication, history,
 * version diff and carry-forward to a new edition (model in fisc.h).
 *
 * Invariants kept by the jobs here:
 *  - per doc, versions are 1..N; versions 1..N-1 are "published"; version N
 *    is "draft", "approved" or "published";
 *  - cells, authors and review flags are only written for the working copy;
 *  - an "approved" version has approved_by not among its authors;
 *  - every job that changes a row appends its audit event in the same job.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compliance/internal.h"
#include "core/mem.h"
#include "core/time.h"
#include "crypto/crypto.h"

static const char *const steps[] = {
	"CREATE TABLE fisc_docs ("
	" doc_id TEXT PRIMARY KEY,"
	" edition INTEGER NOT NULL,"
	" title TEXT NOT NULL,"
	" created_ms BIGINT NOT NULL,"
	" created_by TEXT NOT NULL,"
	" carried_from TEXT,"
	" catalog_sha256 TEXT NOT NULL)",
	"CREATE TABLE fisc_versions ("
	" doc_id TEXT NOT NULL REFERENCES fisc_docs (doc_id),"
	" version INTEGER NOT NULL,"
	" state TEXT NOT NULL,"
	" created_ms BIGINT NOT NULL,"
	" created_by TEXT NOT NULL,"
	" approved_by TEXT,"
	" approved_ms BIGINT,"
	" published_by TEXT,"
	" published_ms BIGINT,"
	" summary TEXT,"
	" PRIMARY KEY (doc_id, version))",
	"CREATE TABLE fisc_authors ("
	" doc_id TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" PRIMARY KEY (doc_id, version, actor),"
	" FOREIGN KEY (doc_id, version) REFERENCES fisc_versions (doc_id, version))",
	"CREATE TABLE fisc_responses ("
	" doc_id TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" criterion TEXT NOT NULL,"
	" party TEXT NOT NULL,"
	" mark TEXT NOT NULL,"
	" text_ja TEXT NOT NULL,"
	" text_en TEXT,"
	" PRIMARY KEY (doc_id, version, criterion, party),"
	" FOREIGN KEY (doc_id, version) REFERENCES fisc_versions (doc_id, version))",
	"CREATE TABLE fisc_reviews ("
	" doc_id TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" criterion TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" PRIMARY KEY (doc_id, version, criterion),"
	" FOREIGN KEY (doc_id, version) REFERENCES fisc_versions (doc_id, version))",
	"CREATE TABLE fisc_eval_runs ("
	" run_id BIGINT PRIMARY KEY,"
	" time_ms BIGINT NOT NULL,"
	" actor TEXT NOT NULL)",
	"CREATE TABLE fisc_eval_results ("
	" run_id BIGINT NOT NULL REFERENCES fisc_eval_runs (run_id),"
	" check_name TEXT NOT NULL,"
	" result TEXT NOT NULL,"
	" finding_ja TEXT NOT NULL,"
	" finding_en TEXT NOT NULL,"
	" data TEXT NOT NULL,"
	" PRIMARY KEY (run_id, check_name))",
};

const mm_migration_set mm_compliance_migrations = {
	"compliance", steps, sizeof(steps) / sizeof(steps[0])
};

/* ---- names ---- */

static const char *const party_names[MM_FISC_NPARTY] = { "fi", "provider", "cloud" };
static const char *const party_ja[MM_FISC_NPARTY] = { "金融機関", "サービス提供者", "クラウド事業者" };
static const char *const party_en[MM_FISC_NPARTY] = { "Financial institution", "Service provider",
						      "Cloud vendor" };
static const char *const mark_names[] = { "", "primary", "partial", "not_applicable", "customer" };
static const char *const mark_ja[] = { "", "主体", "一部", "対象外", "お客様対応" };
static const char *const mark_en[] = { "", "Primary", "Partial", "Not applicable", "Customer" };

const char *mm_fisc_party_name(mm_fisc_party p)
{
	return p < MM_FISC_NPARTY ? party_names[p] : "?";
}

const char *mm_fisc_party_ja(mm_fisc_party p)
{
	return p < MM_FISC_NPARTY ? party_ja[p] : "?";
}

const char *mm_fisc_party_en(mm_fisc_party p)
{
	return p < MM_FISC_NPARTY ? party_en[p] : "?";
}

const char *mm_fisc_mark_name(mm_fisc_mark m)
{
	return m <= MM_FISC_CUSTOMER ? mark_names[m] : "?";
}

const char *mm_fisc_mark_ja(mm_fisc_mark m)
{
	return m <= MM_FISC_CUSTOMER ? mark_ja[m] : "?";
}

const char *mm_fisc_mark_en(mm_fisc_mark m)
{
	return m <= MM_FISC_CUSTOMER ? mark_en[m] : "?";
}

/* Compares s (trimmed of ASCII spaces) with want, ASCII case ignored. */
static bool label_eq(const char *s, const char *want)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

bool mm_fisc_party_parse(const char *s, mm_fisc_party *ret)
{
	static const char *const extra[MM_FISC_NPARTY] = { "financial_institution",
							   "service_provider", "cloud_vendor" };

	for (int p = 0; s != NULL && p < MM_FISC_NPARTY; p++)
		if (label_eq(s, party_names[p]) || label_eq(s, party_ja[p]) ||
		    label_eq(s, party_en[p]) || label_eq(s, extra[p])) {
			*ret = (mm_fisc_party)p;
			return true;
		}
	return false;
}

bool mm_fisc_mark_parse(const char *s, mm_fisc_mark *ret)
{
	for (int m = MM_FISC_PRIMARY; s != NULL && m <= MM_FISC_CUSTOMER; m++)
		if (label_eq(s, mark_names[m]) || label_eq(s, mark_ja[m]) || label_eq(s, mark_en[m])) {
			*ret = (mm_fisc_mark)m;
			return true;
		}
	return false;
}

static bool mark_from_db(const char *s, mm_fisc_mark *ret)
{
	for (int m = MM_FISC_PRIMARY; s != NULL && m <= MM_FISC_CUSTOMER; m++)
		if (strcmp(s, mark_names[m]) == 0) {
			*ret = (mm_fisc_mark)m;
			return true;
		}
	return false;
}

static bool party_from_db(const char *s, mm_fisc_party *ret)
{
	for (int p = 0; s != NULL && p < MM_FISC_NPARTY; p++)
		if (strcmp(s, party_names[p]) == 0) {
			*ret = (mm_fisc_party)p;
			return true;
		}
	return false;
}

/* ---- shared helpers ---- */

bool fisc_doc_id_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-') || n >= 64)
			return false;
	return true;
}

mm_err fisc_doc_id_error(void)
{
	return mm_err_set(MM_ERR_INVALID, "document id must match [a-z0-9][a-z0-9._-]{0,63}");
}

mm_err fisc_who_check(const mm_fisc_who *who)
{
	if (who == NULL || who->actor == NULL || who->actor[0] == '\0' || strlen(who->actor) > 128)
		return mm_err_set(MM_ERR_INVALID, "an actor (at most 128 bytes) is required");
	return MM_OK;
}

size_t fisc_order(const mm_fisc_edition *ed, const char *id)
{
	const mm_fisc_criterion *c = ed ? mm_fisc_edition_find(ed, id) : NULL;

	return c ? (size_t)(c - ed->criteria) : (ed ? ed->ncriteria : 0);
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

static mm_err text_check(const char *what, const char *s, size_t max, bool required)
{
	if (s == NULL || s[0] == '\0') {
		if (required)
			return mm_err_set(MM_ERR_INVALID, "%s is required", what);
		return MM_OK;
	}
	if (strlen(s) > max)
		return mm_err_set(MM_ERR_INVALID, "%s is longer than %zu bytes", what, max);
	if (!fisc_utf8_valid(s, strlen(s)))
		return mm_err_set(MM_ERR_INVALID, "%s is not valid UTF-8", what);
	return MM_OK;
}

mm_err fisc_audit(mm_db *db, const mm_fisc_who *who, const char *action, const char *target,
		  const char *result, json_t *details)
{
	mm_audit_event ev = {
		.actor = who->actor,
		.action = action,
		.target = target,
		.result = result,
		.source = who->source,
		.request_id = who->request_id,
		.details = details,
	};
	mm_err rc = mm_audit_append(db, &ev, NULL);

	json_decref(details);
	return rc;
}

static void sha_hex(const char *s, char out[65])
{
	uint8_t d[MM_SHA256_LEN];

	mm_sha256(s ? s : "", s ? strlen(s) : 0, d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

mm_err fisc_doc_get(mm_db *db, const char *doc_id, fisc_doc *ret)
{
	static const char q[] = "SELECT edition, title, created_ms, carried_from FROM fisc_docs"
				" WHERE doc_id = ?";
	mm_stmt *st = NULL;
	fisc_doc d;
	bool row;
	mm_err rc;

	memset(&d, 0, sizeof(d));
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, doc_id)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no FISC response document '%.64s'", doc_id);
		goto out;
	}
	copy(d.id, sizeof(d.id), doc_id);
	d.edition = (int)mm_stmt_int(st, 0);
	copy(d.title, sizeof(d.title), mm_stmt_text(st, 1));
	d.created_ms = mm_stmt_int(st, 2);
	copy(d.carried_from, sizeof(d.carried_from), mm_stmt_text(st, 3));
	*ret = d;
out:
	mm_stmt_done(st);
	return rc;
}

static void version_row(mm_stmt *st, fisc_version *v)
{
	memset(v, 0, sizeof(*v));
	v->version = mm_stmt_int(st, 0);
	copy(v->state, sizeof(v->state), mm_stmt_text(st, 1));
	v->created_ms = mm_stmt_int(st, 2);
	copy(v->approved_by, sizeof(v->approved_by), mm_stmt_text(st, 3));
	v->approved_ms = mm_stmt_int(st, 4);
	copy(v->published_by, sizeof(v->published_by), mm_stmt_text(st, 5));
	v->published_ms = mm_stmt_int(st, 6);
}

mm_err fisc_version_resolve(mm_db *db, const char *doc_id, int64_t sel, fisc_version *ret)
{
	static const char q_num[] =
		"SELECT version, state, created_ms, approved_by, approved_ms, published_by,"
		" published_ms FROM fisc_versions WHERE doc_id = ? AND version = ?";
	static const char q_latest[] =
		"SELECT version, state, created_ms, approved_by, approved_ms, published_by,"
		" published_ms FROM fisc_versions WHERE doc_id = ? AND state = 'published'"
		" ORDER BY version DESC LIMIT 1";
	static const char q_working[] =
		"SELECT version, state, created_ms, approved_by, approved_ms, published_by,"
		" published_ms FROM fisc_versions WHERE doc_id = ? ORDER BY version DESC LIMIT 1";
	const char *q = sel > 0 ? q_num : sel == MM_FISC_LATEST ? q_latest : q_working;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (sel < MM_FISC_WORKING)
		return mm_err_set(MM_ERR_INVALID, "version must be a positive number");
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, doc_id)) != MM_OK ||
	    (sel > 0 && (rc = mm_stmt_bind_int(st, 2, sel)) != MM_OK) ||
	    (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		if (sel > 0)
			rc = mm_err_set(MM_ERR_NOT_FOUND, "'%.64s' has no version %lld", doc_id,
					(long long)sel);
		else if (sel == MM_FISC_LATEST)
			rc = mm_err_set(MM_ERR_NOT_FOUND, "'%.64s' has no published version", doc_id);
		else
			rc = mm_err_set(MM_ERR_NOT_FOUND, "'%.64s' has no versions", doc_id);
		goto out;
	}
	version_row(st, ret);
out:
	mm_stmt_done(st);
	return rc;
}

void fisc_cells_release(fisc_cells *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].crit);
		free(c->v[i].ja);
		free(c->v[i].en);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static mm_err cells_push(fisc_cells *c, const char *crit, mm_fisc_party p, mm_fisc_mark m,
			 const char *ja, const char *en)
{
	fisc_cell *x;

	if (c->n == c->cap) {
		fisc_cell *v = mm_grow(c->v, &c->cap, 256, sizeof(*v));

		if (v == NULL)
			return MM_ERR_NOMEM;
		c->v = v;
	}
	x = &c->v[c->n];
	x->crit = xstrdup(crit);
	x->ja = xstrdup(ja ? ja : "");
	x->en = en && en[0] ? xstrdup(en) : NULL;
	x->party = p;
	x->mark = m;
	if (x->crit == NULL || x->ja == NULL || (en && en[0] && x->en == NULL)) {
		free(x->crit);
		free(x->ja);
		free(x->en);
		return MM_ERR_NOMEM;
	}
	c->n++;
	return MM_OK;
}

mm_err fisc_cells_load(mm_db *db, const char *doc_id, int64_t version, fisc_cells *ret)
{
	static const char q[] = "SELECT criterion, party, mark, text_ja, text_en FROM fisc_responses"
				" WHERE doc_id = ? AND version = ?";
	fisc_cells c = { 0 };
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, doc_id)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, version)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_fisc_party p;
		mm_fisc_mark m;

		if (!party_from_db(mm_stmt_text(st, 1), &p) || !mark_from_db(mm_stmt_text(st, 2), &m)) {
			rc = mm_err_set(MM_ERR_INTERNAL, "fisc_responses holds an unknown party or mark");
			goto out;
		}
		if ((rc = cells_push(&c, mm_stmt_text(st, 0), p, m, mm_stmt_text(st, 3),
				     mm_stmt_text(st, 4))) != MM_OK)
			goto out;
	}
	if (rc == MM_OK) {
		*ret = c;
		memset(&c, 0, sizeof(c));
	}
out:
	mm_stmt_done(st);
	fisc_cells_release(&c);
	return rc;
}

mm_err fisc_reviews_load(mm_db *db, const char *doc_id, int64_t version, json_t **ret)
{
	static const char q[] = "SELECT criterion, reason FROM fisc_reviews"
				" WHERE doc_id = ? AND version = ?";
	json_t *o = json_object();
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (o == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, doc_id)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, version)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
		json_object_set_new(o, mm_stmt_text(st, 0), json_string(mm_stmt_text(st, 1)));
	if (rc == MM_OK) {
		*ret = o;
		o = NULL;
	}
out:
	mm_stmt_done(st);
	json_decref(o);
	return rc;
}

mm_err fisc_with_read(mm_fisc *f, mm_err (*fn)(mm_db *db, void *arg), void *arg)
{
	mm_db *db = NULL;
	mm_err rc;

	if ((rc = mm_store_acquire(f->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(db)) == MM_OK) {
		rc = fn(db, arg);
		if (rc == MM_OK)
			rc = mm_db_commit(db);
		else
			mm_db_rollback(db);
	}
	mm_store_release(f->store, db);
	return rc;
}

/* Checks doc_id, runs fn(arg) in a read transaction and on success hands
 * *out (the JSON fn built in arg) to *ret. */
static mm_err doc_read_json(mm_fisc *f, const char *doc_id, mm_err (*fn)(mm_db *db, void *arg),
			    void *arg, json_t *const *out, json_t **ret)
{
	mm_err rc;

	if (!fisc_doc_id_ok(doc_id))
		return fisc_doc_id_error();
	if ((rc = fisc_with_read(f, fn, arg)) != MM_OK)
		return rc;
	*ret = *out;
	return MM_OK;
}

static mm_err bind_va(mm_stmt *st, const char *spec, va_list ap)
{
	mm_err rc = MM_OK;

	for (int i = 0; spec[i] != '\0' && rc == MM_OK; i++) {
		if (spec[i] == 't')
			rc = mm_stmt_bind_text(st, i + 1, va_arg(ap, const char *));
		else if (spec[i] == 'i')
			rc = mm_stmt_bind_int(st, i + 1, va_arg(ap, int64_t));
		else
			rc = mm_err_set(MM_ERR_INTERNAL, "bind spec '%s'", spec);
	}
	return rc;
}

mm_err fisc_sql_run(mm_db *db, const char *sql, const char *spec, ...)
{
	mm_stmt *st = NULL;
	va_list ap;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	va_start(ap, spec);
	rc = bind_va(st, spec, ap);
	va_end(ap);
	if (rc == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

mm_err fisc_sql_int(mm_db *db, const char *sql, int64_t *ret, const char *spec, ...)
{
	mm_stmt *st = NULL;
	va_list ap;
	bool row = false;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	va_start(ap, spec);
	rc = bind_va(st, spec, ap);
	va_end(ap);
	if (rc == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	return rc;
}

static mm_err add_author(mm_db *db, const char *doc, int64_t version, const char *actor)
{
	static const char q[] =
		"INSERT INTO fisc_authors (doc_id, version, actor) SELECT ?, ?, ?"
		" WHERE NOT EXISTS (SELECT 1 FROM fisc_authors WHERE doc_id = ? AND version = ?"
		" AND actor = ?)";
	return fisc_sql_run(db, q, "tittit", doc, version, actor, doc, version, actor);
}

static mm_err insert_version(mm_db *db, const char *doc, int64_t version, const char *actor,
			     int64_t now)
{
	static const char q[] = "INSERT INTO fisc_versions (doc_id, version, state, created_ms,"
				" created_by) VALUES (?, ?, 'draft', ?, ?)";

	return fisc_sql_run(db, q, "tiit", doc, version, now, actor);
}

/*
 * Inside a job: makes sure the doc has a working copy and returns its
 * version. A published head is copied into a new draft; an approved head
 * goes back to draft (the edit invalidates the approval). The actor becomes
 * an author.
 */
static mm_err ensure_working(mm_db *db, const char *doc, const char *actor, int64_t now,
			     int64_t *ret_version)
{
	static const char q_copy[] =
		"INSERT INTO fisc_responses (doc_id, version, criterion, party, mark, text_ja, text_en)"
		" SELECT doc_id, ?, criterion, party, mark, text_ja, text_en FROM fisc_responses"
		" WHERE doc_id = ? AND version = ?";
	static const char q_unapprove[] =
		"UPDATE fisc_versions SET state = 'draft', approved_by = NULL, approved_ms = NULL"
		" WHERE doc_id = ? AND version = ?";
	fisc_version head;
	int64_t v;
	mm_err rc;

	if ((rc = fisc_version_resolve(db, doc, MM_FISC_WORKING, &head)) != MM_OK)
		return rc;
	v = head.version;
	if (strcmp(head.state, "published") == 0) {
		v = head.version + 1;
		if ((rc = insert_version(db, doc, v, actor, now)) != MM_OK ||
		    (rc = fisc_sql_run(db, q_copy, "iti", v, doc, head.version)) != MM_OK)
			return rc;
	} else if (strcmp(head.state, "approved") == 0) {
		if ((rc = fisc_sql_run(db, q_unapprove, "ti", doc, v)) != MM_OK)
			return rc;
	}
	if ((rc = add_author(db, doc, v, actor)) != MM_OK)
		return rc;
	*ret_version = v;
	return MM_OK;
}

static void target_of(char *out, size_t cap, const char *doc)
{
	snprintf(out, cap, "fisc:%s", doc);
}

/* ---- create ---- */

struct create_arg {
	mm_fisc *f;
	const mm_fisc_who *who;
	const char *doc;
	int edition;
	const char *title;
	const char *digest;
};

static mm_err create_job(mm_db *db, void *p)
{
	static const char q[] = "INSERT INTO fisc_docs (doc_id, edition, title, created_ms,"
				" created_by, carried_from, catalog_sha256) VALUES (?, ?, ?, ?, ?, NULL, ?)";
	struct create_arg *a = p;
	int64_t now = mm_time_wall_ms();
	char target[96];
	mm_err rc;

	rc = fisc_sql_run(db, q, "tititt", a->doc, (int64_t)a->edition, a->title, now, a->who->actor,
			  a->digest);
	if (rc == MM_ERR_EXISTS)
		return mm_err_set(MM_ERR_EXISTS, "FISC response document '%s' already exists", a->doc);
	if (rc != MM_OK)
		return rc;
	if ((rc = insert_version(db, a->doc, 1, a->who->actor, now)) != MM_OK ||
	    (rc = add_author(db, a->doc, 1, a->who->actor)) != MM_OK)
		return rc;
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.doc.create", target, "success",
			  json_pack("{s:i,s:s,s:s}", "edition", a->edition, "title", a->title,
				    "catalog_sha256", a->digest));
}

mm_err mm_fisc_doc_create(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int edition,
			  const char *title)
{
	const mm_fisc_edition *ed;
	struct create_arg a = { f, who, doc_id, edition, title, NULL };
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if (!fisc_doc_id_ok(doc_id))
		return fisc_doc_id_error();
	if ((rc = text_check("title", title, MM_FISC_TITLE_MAX, true)) != MM_OK)
		return rc;
	if ((ed = mm_fisc_catalog_edition(f->cat, edition)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", edition);
	a.digest = ed->digest;
	return mm_store_write(f->store, create_job, &a);
}

/* ---- listing ---- */

static mm_err docs_read(mm_db *db, void *p)
{
	static const char q[] =
		"SELECT d.doc_id, d.edition, d.title, d.created_ms, d.carried_from,"
		" (SELECT MAX(version) FROM fisc_versions v WHERE v.doc_id = d.doc_id"
		"  AND v.state = 'published'),"
		" (SELECT MAX(version) FROM fisc_versions v WHERE v.doc_id = d.doc_id"
		"  AND v.state <> 'published')"
		" FROM fisc_docs d ORDER BY d.edition, d.doc_id";
	static const char q_state[] = "SELECT state FROM fisc_versions WHERE doc_id = ? AND version = ?";
	json_t *arr = p;
	mm_stmt *st = NULL, *st2 = NULL;
	bool row, row2;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		char t[MM_TIME_RFC3339_LEN];
		json_t *o;

		mm_time_format(mm_stmt_int(st, 3), t);
		o = json_pack("{s:s,s:I,s:s,s:s}", "id", mm_stmt_text(st, 0), "edition",
			      (json_int_t)mm_stmt_int(st, 1), "title", mm_stmt_text(st, 2),
			      "created", t);
		if (o == NULL) {
			rc = MM_ERR_NOMEM;
			break;
		}
		json_object_set_new(o, "carried_from", mm_stmt_is_null(st, 4) ? json_null() :
				    json_string(mm_stmt_text(st, 4)));
		json_object_set_new(o, "latest_published", mm_stmt_is_null(st, 5) ? json_null() :
				    json_integer(mm_stmt_int(st, 5)));
		if (mm_stmt_is_null(st, 6)) {
			json_object_set_new(o, "working_version", json_null());
			json_object_set_new(o, "working_state", json_null());
		} else {
			json_object_set_new(o, "working_version", json_integer(mm_stmt_int(st, 6)));
			if ((rc = mm_db_prepare(db, q_state, &st2)) != MM_OK) {
				json_decref(o);
				break;
			}
			if ((rc = mm_stmt_bind_text(st2, 1, mm_stmt_text(st, 0))) == MM_OK &&
			    (rc = mm_stmt_bind_int(st2, 2, mm_stmt_int(st, 6))) == MM_OK &&
			    (rc = mm_stmt_step(st2, &row2)) == MM_OK && row2)
				json_object_set_new(o, "working_state", json_string(mm_stmt_text(st2, 0)));
			mm_stmt_done(st2);
			st2 = NULL;
		}
		json_array_append_new(arr, o);
		if (rc != MM_OK)
			break;
	}
	mm_stmt_done(st);
	return rc;
}

mm_err mm_fisc_docs(mm_fisc *f, json_t **ret)
{
	json_t *arr = json_array();
	mm_err rc;

	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = fisc_with_read(f, docs_read, arr)) != MM_OK) {
		json_decref(arr);
		return rc;
	}
	*ret = arr;
	return MM_OK;
}

/* ---- editing ---- */

struct edit_arg {
	mm_fisc *f;
	const mm_fisc_who *who;
	const char *doc;
	const char *crit;
	mm_fisc_party party;
	mm_fisc_mark mark;
	const char *ja, *en;
	int64_t version;
};

static mm_err put_cell(mm_db *db, const char *doc, int64_t v, const char *crit,
		       mm_fisc_party party, mm_fisc_mark mark, const char *ja, const char *en)
{
	static const char q_del[] = "DELETE FROM fisc_responses WHERE doc_id = ? AND version = ?"
				    " AND criterion = ? AND party = ?";
	static const char q_ins[] = "INSERT INTO fisc_responses (doc_id, version, criterion, party,"
				    " mark, text_ja, text_en) VALUES (?, ?, ?, ?, ?, ?, ?)";
	mm_err rc;

	if ((rc = fisc_sql_run(db, q_del, "titt", doc, v, crit, party_names[party])) != MM_OK)
		return rc;
	return fisc_sql_run(db, q_ins, "tittttt", doc, v, crit, party_names[party], mark_names[mark],
			    ja ? ja : "", en && en[0] ? en : NULL);
}

static mm_err clear_review(mm_db *db, const char *doc, int64_t v, const char *crit)
{
	static const char q[] = "DELETE FROM fisc_reviews WHERE doc_id = ? AND version = ?"
				" AND criterion = ?";

	return fisc_sql_run(db, q, "tit", doc, v, crit);
}

static mm_err set_job(mm_db *db, void *p)
{
	struct edit_arg *a = p;
	char target[96], hja[65], hen[65];
	int64_t v;
	mm_err rc;

	if ((rc = ensure_working(db, a->doc, a->who->actor, mm_time_wall_ms(), &v)) != MM_OK ||
	    (rc = put_cell(db, a->doc, v, a->crit, a->party, a->mark, a->ja, a->en)) != MM_OK ||
	    (rc = clear_review(db, a->doc, v, a->crit)) != MM_OK)
		return rc;
	a->version = v;
	sha_hex(a->ja, hja);
	sha_hex(a->en, hen);
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.response.set", target, "success",
			  json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "version", (json_int_t)v,
				    "criterion", a->crit, "party", party_names[a->party], "mark",
				    mark_names[a->mark], "text_ja_sha256", hja, "text_en_sha256", hen));
}

/* Reads the doc's edition and normalises/validates a criterion ID of it. */
static mm_err doc_criterion(mm_fisc *f, const char *doc, const char *in, char *out, size_t cap,
			    fisc_doc *ret_doc)
{
	mm_db *db = NULL;
	const mm_fisc_edition *ed;
	const mm_fisc_criterion *c;
	fisc_doc d;
	mm_err rc;

	if (!fisc_doc_id_ok(doc))
		return fisc_doc_id_error();
	if ((rc = mm_store_acquire(f->store, &db)) != MM_OK)
		return rc;
	rc = fisc_doc_get(db, doc, &d);
	mm_store_release(f->store, db);
	if (rc != MM_OK)
		return rc;
	if (ret_doc)
		*ret_doc = d;
	if (in == NULL)
		return MM_OK;
	if ((ed = mm_fisc_catalog_edition(f->cat, d.edition)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d of '%s' is no longer in the catalog",
				  d.edition, doc);
	if (!mm_fisc_id_normalize(in, out, cap))
		return mm_err_set(MM_ERR_INVALID, "malformed criterion ID '%.40s'", in);
	if ((c = mm_fisc_edition_find(ed, out)) == NULL)
		return mm_err_set(MM_ERR_INVALID, "criterion '%s' is not in edition %d", out, d.edition);
	if (c->status == MM_FISC_RETIRED)
		return mm_err_set(MM_ERR_INVALID, "criterion '%s' is retired (欠番) in edition %d", out,
				  d.edition);
	return MM_OK;
}

mm_err mm_fisc_response_set(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			    const char *criterion, mm_fisc_party party, mm_fisc_mark mark,
			    const char *text_ja, const char *text_en, int64_t *ret_version)
{
	char id[64];
	struct edit_arg a;
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if (party >= MM_FISC_NPARTY || mark < MM_FISC_PRIMARY || mark > MM_FISC_CUSTOMER)
		return mm_err_set(MM_ERR_INVALID, "unknown party or mark");
	if ((rc = text_check("text_ja", text_ja, MM_FISC_TEXT_MAX,
			     mark != MM_FISC_NOT_APPLICABLE)) != MM_OK ||
	    (rc = text_check("text_en", text_en, MM_FISC_TEXT_MAX, false)) != MM_OK)
		return rc;
	if ((rc = doc_criterion(f, doc_id, criterion, id, sizeof(id), NULL)) != MM_OK)
		return rc;
	a = (struct edit_arg){ f, who, doc_id, id, party, mark, text_ja, text_en, 0 };
	if ((rc = mm_store_write(f->store, set_job, &a)) != MM_OK)
		return rc;
	if (ret_version)
		*ret_version = a.version;
	return MM_OK;
}

static mm_err delete_job(mm_db *db, void *p)
{
	static const char q[] = "DELETE FROM fisc_responses WHERE doc_id = ? AND version = ?"
				" AND criterion = ? AND party = ?";
	struct edit_arg *a = p;
	char target[96];
	int64_t v;
	mm_err rc;

	if ((rc = ensure_working(db, a->doc, a->who->actor, mm_time_wall_ms(), &v)) != MM_OK ||
	    (rc = fisc_sql_run(db, q, "titt", a->doc, v, a->crit, party_names[a->party])) != MM_OK)
		return rc;
	if (mm_db_changes(db) == 0)
		return mm_err_set(MM_ERR_NOT_FOUND, "no response for %s (%s) in the working copy",
				  a->crit, party_names[a->party]);
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.response.delete", target, "success",
			  json_pack("{s:I,s:s,s:s}", "version", (json_int_t)v, "criterion", a->crit,
				    "party", party_names[a->party]));
}

mm_err mm_fisc_response_delete(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			       const char *criterion, mm_fisc_party party)
{
	char id[64];
	struct edit_arg a;
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if (party >= MM_FISC_NPARTY)
		return mm_err_set(MM_ERR_INVALID, "unknown party");
	if ((rc = doc_criterion(f, doc_id, criterion, id, sizeof(id), NULL)) != MM_OK)
		return rc;
	a = (struct edit_arg){ f, who, doc_id, id, party, MM_FISC_MARK_NONE, NULL, NULL, 0 };
	return mm_store_write(f->store, delete_job, &a);
}

static mm_err review_job(mm_db *db, void *p)
{
	struct edit_arg *a = p;
	fisc_version head;
	char target[96];
	int64_t v;
	mm_err rc;

	if ((rc = fisc_version_resolve(db, a->doc, MM_FISC_WORKING, &head)) != MM_OK)
		return rc;
	if (strcmp(head.state, "published") == 0)
		return mm_err_set(MM_ERR_NOT_FOUND, "'%s' has no working copy to review", a->doc);
	if ((rc = ensure_working(db, a->doc, a->who->actor, mm_time_wall_ms(), &v)) != MM_OK ||
	    (rc = clear_review(db, a->doc, v, a->crit)) != MM_OK)
		return rc;
	if (mm_db_changes(db) == 0)
		return mm_err_set(MM_ERR_NOT_FOUND, "%s is not marked \"needs review\"", a->crit);
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.review.done", target, "success",
			  json_pack("{s:I,s:s}", "version", (json_int_t)v, "criterion", a->crit));
}

mm_err mm_fisc_review_done(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			   const char *criterion)
{
	char id[64];
	struct edit_arg a;
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if ((rc = doc_criterion(f, doc_id, criterion, id, sizeof(id), NULL)) != MM_OK)
		return rc;
	a = (struct edit_arg){ f, who, doc_id, id, MM_FISC_FI, MM_FISC_MARK_NONE, NULL, NULL, 0 };
	return mm_store_write(f->store, review_job, &a);
}

/* ---- approval and publication ---- */

struct state_arg {
	mm_fisc *f;
	const mm_fisc_who *who;
	const char *doc;
	int64_t version;
	const char *summary;
	int64_t done_version;
};

static mm_err approve_job(mm_db *db, void *p)
{
	static const char q_author[] = "SELECT COUNT(*) FROM fisc_authors WHERE doc_id = ?"
				       " AND version = ? AND actor = ?";
	static const char q_reviews[] = "SELECT COUNT(*) FROM fisc_reviews WHERE doc_id = ?"
					" AND version = ?";
	static const char q_cells[] = "SELECT COUNT(*) FROM fisc_responses WHERE doc_id = ?"
				      " AND version = ?";
	static const char q_upd[] = "UPDATE fisc_versions SET state = 'approved', approved_by = ?,"
				    " approved_ms = ? WHERE doc_id = ? AND version = ?";
	struct state_arg *a = p;
	fisc_version head;
	char target[96];
	int64_t n = 0, now = mm_time_wall_ms();
	mm_err rc;

	if ((rc = fisc_version_resolve(db, a->doc, MM_FISC_WORKING, &head)) != MM_OK)
		return rc;
	if (strcmp(head.state, "draft") != 0)
		return mm_err_set(MM_ERR_CONFLICT, "'%s' has no draft to approve (version %lld is %s)",
				  a->doc, (long long)head.version, head.state);
	if (a->version != 0 && a->version != head.version)
		return mm_err_set(MM_ERR_CONFLICT, "the draft of '%s' is version %lld, not %lld",
				  a->doc, (long long)head.version, (long long)a->version);
	if ((rc = fisc_sql_int(db, q_author, &n, "tit", a->doc, head.version, a->who->actor)) != MM_OK)
		return rc;
	if (n > 0)
		return mm_err_set(MM_ERR_FORBIDDEN, "%.128s edited version %lld of '%s' and cannot "
				  "approve it; a second person must approve", a->who->actor,
				  (long long)head.version, a->doc);
	if ((rc = fisc_sql_int(db, q_reviews, &n, "ti", a->doc, head.version)) != MM_OK)
		return rc;
	if (n > 0)
		return mm_err_set(MM_ERR_CONFLICT, "%lld criteria of '%s' still need review",
				  (long long)n, a->doc);
	if ((rc = fisc_sql_int(db, q_cells, &n, "ti", a->doc, head.version)) != MM_OK)
		return rc;
	if (n == 0)
		return mm_err_set(MM_ERR_CONFLICT, "version %lld of '%s' has no responses",
				  (long long)head.version, a->doc);
	if ((rc = fisc_sql_run(db, q_upd, "titi", a->who->actor, now, a->doc, head.version)) != MM_OK)
		return rc;
	a->done_version = head.version;
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.approve", target, "success",
			  json_pack("{s:I,s:I}", "version", (json_int_t)head.version, "responses",
				    (json_int_t)n));
}

struct denied_arg {
	const mm_fisc_who *who;
	const char *doc;
	const char *action;
	const char *reason;
};

static mm_err denied_job(mm_db *db, void *p)
{
	struct denied_arg *a = p;
	char target[96];

	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, a->action, target, "denied",
			  json_pack("{s:s}", "reason", a->reason));
}

mm_err mm_fisc_approve(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int64_t version)
{
	struct state_arg a = { f, who, doc_id, version, NULL, 0 };
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if (!fisc_doc_id_ok(doc_id))
		return fisc_doc_id_error();
	if (version < 0)
		return mm_err_set(MM_ERR_INVALID, "version must be a positive number");
	rc = mm_store_write(f->store, approve_job, &a);
	if (rc == MM_ERR_FORBIDDEN) {
		/* Record the refused self-approval; the refusal stands either way. */
		char reason[256];
		struct denied_arg d = { who, doc_id, "fisc.approve", reason };

		snprintf(reason, sizeof(reason), "%s", mm_err_detail(rc));
		(void)mm_store_write(f->store, denied_job, &d);
		rc = mm_err_set(MM_ERR_FORBIDDEN, "%s", reason);
	}
	return rc;
}

static mm_err publish_job(mm_db *db, void *p)
{
	static const char q_upd[] = "UPDATE fisc_versions SET state = 'published', published_by = ?,"
				    " published_ms = ?, summary = ? WHERE doc_id = ? AND version = ?";
	struct state_arg *a = p;
	fisc_version head;
	char target[96];
	int64_t now = mm_time_wall_ms();
	mm_err rc;

	if ((rc = fisc_version_resolve(db, a->doc, MM_FISC_WORKING, &head)) != MM_OK)
		return rc;
	if (strcmp(head.state, "approved") != 0)
		return mm_err_set(MM_ERR_CONFLICT, "version %lld of '%s' is %s; only an approved "
				  "version can be published", (long long)head.version, a->doc,
				  head.state);
	if (a->version != 0 && a->version != head.version)
		return mm_err_set(MM_ERR_CONFLICT, "the approved version of '%s' is %lld, not %lld",
				  a->doc, (long long)head.version, (long long)a->version);
	if ((rc = fisc_sql_run(db, q_upd, "titti", a->who->actor, now, a->summary, a->doc,
			       head.version)) != MM_OK)
		return rc;
	a->done_version = head.version;
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.publish", target, "success",
			  json_pack("{s:I,s:s,s:s}", "version", (json_int_t)head.version, "summary",
				    a->summary, "approved_by", head.approved_by));
}

mm_err mm_fisc_publish(mm_fisc *f, const mm_fisc_who *who, const char *doc_id, int64_t version,
		       const char *summary)
{
	struct state_arg a = { f, who, doc_id, version, summary, 0 };
	mm_err rc;

	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if (!fisc_doc_id_ok(doc_id))
		return fisc_doc_id_error();
	if (version < 0)
		return mm_err_set(MM_ERR_INVALID, "version must be a positive number");
	if ((rc = text_check("summary", summary, MM_FISC_SUMMARY_MAX, true)) != MM_OK)
		return rc;
	return mm_store_write(f->store, publish_job, &a);
}

/* ---- history, versions, diff ---- */

struct hist_arg {
	const char *doc;
	json_t *out;
};

static json_t *time_or_null(int64_t ms, bool present)
{
	char t[MM_TIME_RFC3339_LEN];

	if (!present)
		return json_null();
	mm_time_format(ms, t);
	return json_string(t);
}

static mm_err hist_read(mm_db *db, void *p)
{
	static const char q[] =
		"SELECT version, state, summary, created_ms, created_by, approved_by, approved_ms,"
		" published_by, published_ms FROM fisc_versions WHERE doc_id = ?"
		" ORDER BY version DESC";
	static const char q_auth[] = "SELECT actor FROM fisc_authors WHERE doc_id = ?"
				     " AND version = ? ORDER BY actor";
	struct hist_arg *a = p;
	json_t *vs = json_array();
	fisc_doc d;
	mm_stmt *st = NULL, *sa = NULL;
	bool row;
	mm_err rc;

	if (vs == NULL)
		return MM_ERR_NOMEM;
	if ((rc = fisc_doc_get(db, a->doc, &d)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 1, a->doc)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		json_t *authors = json_array(), *o;
		bool r2;

		if ((rc = mm_db_prepare(db, q_auth, &sa)) != MM_OK) {
			json_decref(authors);
			goto out;
		}
		if ((rc = mm_stmt_bind_text(sa, 1, a->doc)) == MM_OK &&
		    (rc = mm_stmt_bind_int(sa, 2, mm_stmt_int(st, 0))) == MM_OK)
			while ((rc = mm_stmt_step(sa, &r2)) == MM_OK && r2)
				json_array_append_new(authors, json_string(mm_stmt_text(sa, 0)));
		mm_stmt_done(sa);
		sa = NULL;
		o = json_pack("{s:I,s:s,s:o,s:o,s:s,s:o}", "version", (json_int_t)mm_stmt_int(st, 0),
			      "state", mm_stmt_text(st, 1),
			      "summary", mm_stmt_is_null(st, 2) ? json_null() : json_string(mm_stmt_text(st, 2)),
			      "created", time_or_null(mm_stmt_int(st, 3), true),
			      "created_by", mm_stmt_text(st, 4), "authors", authors);
		if (o == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		json_object_set_new(o, "approved_by", mm_stmt_is_null(st, 5) ? json_null() :
				    json_string(mm_stmt_text(st, 5)));
		json_object_set_new(o, "approved", time_or_null(mm_stmt_int(st, 6), !mm_stmt_is_null(st, 6)));
		json_object_set_new(o, "published_by", mm_stmt_is_null(st, 7) ? json_null() :
				    json_string(mm_stmt_text(st, 7)));
		json_object_set_new(o, "published", time_or_null(mm_stmt_int(st, 8), !mm_stmt_is_null(st, 8)));
		json_array_append_new(vs, o);
		if (rc != MM_OK)
			goto out;
	}
	if (rc != MM_OK)
		goto out;
	a->out = json_pack("{s:s,s:i,s:s,s:o}", "doc", d.id, "edition", d.edition, "title", d.title,
			   "versions", vs);
	vs = NULL;
	if (a->out == NULL)
		rc = MM_ERR_NOMEM;
out:
	mm_stmt_done(sa);
	mm_stmt_done(st);
	json_decref(vs);
	return rc;
}

mm_err mm_fisc_history(mm_fisc *f, const char *doc_id, json_t **ret)
{
	struct hist_arg a = { doc_id, NULL };

	return doc_read_json(f, doc_id, hist_read, &a, &a.out, ret);
}

/* Sorting cells: by catalog order, then party. */
static const mm_fisc_edition *sort_ed;

static int cmp_cell_order(const void *x, const void *y)
{
	const fisc_cell *a = x, *b = y;
	size_t oa = fisc_order(sort_ed, a->crit), ob = fisc_order(sort_ed, b->crit);
	int c;

	if (oa != ob)
		return oa < ob ? -1 : 1;
	if ((c = strcmp(a->crit, b->crit)) != 0)
		return c;
	return (int)a->party - (int)b->party;
}

static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static void cells_sort(fisc_cells *c, const mm_fisc_edition *ed)
{
	pthread_mutex_lock(&sort_mu);
	sort_ed = ed;
	qsort(c->v, c->n, sizeof(*c->v), cmp_cell_order);
	sort_ed = NULL;
	pthread_mutex_unlock(&sort_mu);
}

static json_t *cell_json(const fisc_cell *c)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "mark", mark_names[c->mark], "mark_ja",
			 mark_ja[c->mark], "text_ja", c->ja, "text_en",
			 c->en ? json_string(c->en) : json_null());
}

struct vget_arg {
	mm_fisc *f;
	const char *doc;
	int64_t sel;
	json_t *out;
};

static mm_err vget_read(mm_db *db, void *p)
{
	struct vget_arg *a = p;
	fisc_doc d;
	fisc_version v;
	fisc_cells cells = { 0 };
	json_t *rs = NULL, *reviews = NULL, *rv = NULL;
	const char *k;
	json_t *x;
	mm_err rc;

	if ((rc = fisc_doc_get(db, a->doc, &d)) != MM_OK ||
	    (rc = fisc_version_resolve(db, a->doc, a->sel, &v)) != MM_OK ||
	    (rc = fisc_cells_load(db, a->doc, v.version, &cells)) != MM_OK ||
	    (rc = fisc_reviews_load(db, a->doc, v.version, &reviews)) != MM_OK)
		goto out;
	cells_sort(&cells, mm_fisc_catalog_edition(a->f->cat, d.edition));
	rs = json_array();
	rv = json_array();
	if (rs == NULL || rv == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < cells.n; i++) {
		json_t *o = cell_json(&cells.v[i]);

		json_object_set_new(o, "id", json_string(cells.v[i].crit));
		json_object_set_new(o, "party", json_string(party_names[cells.v[i].party]));
		json_array_append_new(rs, o);
	}
	json_object_foreach(reviews, k, x)
		json_array_append_new(rv, json_pack("{s:s,s:O}", "id", k, "reason", x));
	a->out = json_pack("{s:s,s:i,s:I,s:s,s:o,s:o}", "doc", d.id, "edition", d.edition,
			   "version", (json_int_t)v.version, "state", v.state, "responses", rs,
			   "needs_review", rv);
	rs = rv = NULL;
	if (a->out == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(rs);
	json_decref(rv);
	json_decref(reviews);
	fisc_cells_release(&cells);
	return rc;
}

mm_err mm_fisc_version_get(mm_fisc *f, const char *doc_id, int64_t version, json_t **ret)
{
	struct vget_arg a = { f, doc_id, version, NULL };

	return doc_read_json(f, doc_id, vget_read, &a, &a.out, ret);
}

static int cmp_cell_key(const fisc_cell *a, const fisc_cell *b)
{
	int c = strcmp(a->crit, b->crit);

	return c ? c : (int)a->party - (int)b->party;
}

static int cmp_cell_qsort(const void *x, const void *y)
{
	return cmp_cell_key(x, y);
}

static bool same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

struct diff_arg {
	mm_fisc *f;
	const char *doc;
	int64_t sa, sb;
	json_t *out;
};

static mm_err diff_read(mm_db *db, void *p)
{
	struct diff_arg *a = p;
	fisc_doc d;
	fisc_version va, vb;
	fisc_cells ca = { 0 }, cb = { 0 };
	json_t *changes = json_array();
	size_t i = 0, j = 0;
	mm_err rc;

	if (changes == NULL)
		return MM_ERR_NOMEM;
	if ((rc = fisc_doc_get(db, a->doc, &d)) != MM_OK ||
	    (rc = fisc_version_resolve(db, a->doc, a->sa, &va)) != MM_OK ||
	    (rc = fisc_version_resolve(db, a->doc, a->sb, &vb)) != MM_OK ||
	    (rc = fisc_cells_load(db, a->doc, va.version, &ca)) != MM_OK ||
	    (rc = fisc_cells_load(db, a->doc, vb.version, &cb)) != MM_OK)
		goto out;
	qsort(ca.v, ca.n, sizeof(*ca.v), cmp_cell_qsort);
	qsort(cb.v, cb.n, sizeof(*cb.v), cmp_cell_qsort);
	while (i < ca.n || j < cb.n) {
		int c = i == ca.n ? 1 : j == cb.n ? -1 : cmp_cell_key(&ca.v[i], &cb.v[j]);
		const fisc_cell *x = c <= 0 ? &ca.v[i] : NULL, *y = c >= 0 ? &cb.v[j] : NULL;
		const fisc_cell *k = x ? x : y;
		json_t *o;

		if (x && y && x->mark == y->mark && same_text(x->ja, y->ja) && same_text(x->en, y->en)) {
			i++;
			j++;
			continue;
		}
		o = json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", k->crit, "party", party_names[k->party],
			      "change", x && y ? "changed" : x ? "removed" : "added",
			      "old", x ? cell_json(x) : json_null(), "new", y ? cell_json(y) : json_null());
		if (o == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		json_array_append_new(changes, o);
		if (x)
			i++;
		if (y)
			j++;
	}
	{
		/* Present the changes in catalog order. */
		const mm_fisc_edition *ed = mm_fisc_catalog_edition(a->f->cat, d.edition);
		size_t n = json_array_size(changes);
		json_t *sorted = json_array();

		for (size_t pos = 0; pos <= (ed ? ed->ncriteria : 0) && sorted; pos++)
			for (size_t q = 0; q < n; q++) {
				json_t *o = json_array_get(changes, q);

				if (fisc_order(ed, json_string_value(json_object_get(o, "id"))) == pos)
					json_array_append(sorted, o);
			}
		if (sorted == NULL || json_array_size(sorted) != n) {
			json_decref(sorted);
		} else {
			json_decref(changes);
			changes = sorted;
		}
	}
	a->out = json_pack("{s:s,s:i,s:I,s:I,s:o}", "doc", d.id, "edition", d.edition, "from",
			   (json_int_t)va.version, "to", (json_int_t)vb.version, "changes", changes);
	changes = NULL;
	if (a->out == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(changes);
	fisc_cells_release(&ca);
	fisc_cells_release(&cb);
	return rc;
}

mm_err mm_fisc_version_diff(mm_fisc *f, const char *doc_id, int64_t a, int64_t b, json_t **ret)
{
	struct diff_arg d = { f, doc_id, a, b, NULL };

	return doc_read_json(f, doc_id, diff_read, &d, &d.out, ret);
}

/* ---- CSV import (parsing in csv.c) ---- */

struct import_arg {
	mm_fisc *f;
	const mm_fisc_who *who;
	const char *doc;
	const mm_fisc_csv_rows *rows;
	bool replace;
	const char *sha;
	int64_t version;
};

static mm_err import_job(mm_db *db, void *p)
{
	static const char q_clear[] = "DELETE FROM fisc_responses WHERE doc_id = ? AND version = ?";
	struct import_arg *a = p;
	char target[96];
	int64_t v;
	mm_err rc;

	if ((rc = ensure_working(db, a->doc, a->who->actor, mm_time_wall_ms(), &v)) != MM_OK)
		return rc;
	if (a->replace && (rc = fisc_sql_run(db, q_clear, "ti", a->doc, v)) != MM_OK)
		return rc;
	for (size_t i = 0; i < a->rows->n; i++) {
		const mm_fisc_csv_row *r = &a->rows->rows[i];

		if ((rc = put_cell(db, a->doc, v, r->id, r->party, r->mark, r->text_ja, r->text_en)) != MM_OK ||
		    (rc = clear_review(db, a->doc, v, r->id)) != MM_OK)
			return rc;
	}
	a->version = v;
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.import", target, "success",
			  json_pack("{s:I,s:I,s:b,s:s}", "version", (json_int_t)v, "rows",
				    (json_int_t)a->rows->n, "replace", a->replace, "csv_sha256", a->sha));
}

mm_err mm_fisc_import_csv(mm_fisc *f, const mm_fisc_who *who, const char *doc_id,
			  const char *data, size_t len, bool replace, mm_fisc_import_result *ret)
{
	mm_fisc_csv_rows rows = { 0 };
	const mm_fisc_edition *ed;
	fisc_doc d;
	uint8_t dg[MM_SHA256_LEN];
	char sha[65];
	struct import_arg a;
	mm_err rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = fisc_who_check(who)) != MM_OK)
		return rc;
	if ((rc = doc_criterion(f, doc_id, NULL, NULL, 0, &d)) != MM_OK)
		return rc;
	if ((ed = mm_fisc_catalog_edition(f->cat, d.edition)) == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", d.edition);
	if ((rc = mm_fisc_csv_parse_responses(ed, data, len, &rows, ret)) != MM_OK)
		return rc;
	mm_sha256(data, len, dg);
	for (size_t i = 0; i < sizeof(dg); i++)
		snprintf(sha + 2 * i, 3, "%02x", dg[i]);
	a = (struct import_arg){ f, who, doc_id, &rows, replace, sha, 0 };
	rc = mm_store_write(f->store, import_job, &a);
	if (rc == MM_OK) {
		ret->rows = rows.n;
		ret->version = a.version;
	}
	mm_fisc_csv_rows_release(&rows);
	return rc;
}

/* ---- carry forward ---- */

struct carry_arg {
	const mm_fisc_who *who;
	const char *from_doc;
	int64_t from_version;
	const char *doc;
	int edition;
	const char *title;
	const char *digest;
	const fisc_cells *cells;    /* cells to write (already mapped) */
	json_t *reviews;            /* {id: reason} */
	json_t *dropped;            /* [ids] */
};

static mm_err carry_job(mm_db *db, void *p)
{
	static const char q_doc[] = "INSERT INTO fisc_docs (doc_id, edition, title, created_ms,"
				    " created_by, carried_from, catalog_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)";
	static const char q_rev[] = "INSERT INTO fisc_reviews (doc_id, version, criterion, reason)"
				    " VALUES (?, 1, ?, ?)";
	struct carry_arg *a = p;
	int64_t now = mm_time_wall_ms();
	char from[128], target[96];
	const char *k;
	json_t *x;
	mm_err rc;

	snprintf(from, sizeof(from), "%s@%lld", a->from_doc, (long long)a->from_version);
	rc = fisc_sql_run(db, q_doc, "titittt", a->doc, (int64_t)a->edition, a->title, now,
			  a->who->actor, from, a->digest);
	if (rc == MM_ERR_EXISTS)
		return mm_err_set(MM_ERR_EXISTS, "FISC response document '%s' already exists", a->doc);
	if (rc != MM_OK)
		return rc;
	if ((rc = insert_version(db, a->doc, 1, a->who->actor, now)) != MM_OK ||
	    (rc = add_author(db, a->doc, 1, a->who->actor)) != MM_OK)
		return rc;
	for (size_t i = 0; i < a->cells->n; i++) {
		const fisc_cell *c = &a->cells->v[i];

		if ((rc = put_cell(db, a->doc, 1, c->crit, c->party, c->mark, c->ja, c->en)) != MM_OK)
			return rc;
	}
	json_object_foreach(a->reviews, k, x)
		if ((rc = fisc_sql_run(db, q_rev, "ttt", a->doc, k, json_string_value(x))) != MM_OK)
			return rc;
	target_of(target, sizeof(target), a->doc);
	return fisc_audit(db, a->who, "fisc.carry_forward", target, "success",
			  json_pack("{s:s,s:i,s:I,s:I,s:O}", "from", from, "edition", a->edition,
				    "copied", (json_int_t)a->cells->n, "needs_review",
				    (json_int_t)json_object_size(a->reviews), "dropped", a->dropped));
}

struct carry_read {
	const char *doc;
	int64_t sel;
	fisc_doc d;
	fisc_version v;
	fisc_cells cells;
};

static mm_err carry_read_fn(mm_db *db, void *p)
{
	struct carry_read *r = p;
	mm_err rc;

	if ((rc = fisc_doc_get(db, r->doc, &r->d)) != MM_OK ||
	    (rc = fisc_version_resolve(db, r->doc, r->sel, &r->v)) != MM_OK)
		return rc;
	if (strcmp(r->v.state, "published") != 0)
		return mm_err_set(MM_ERR_CONFLICT, "version %lld of '%s' is not published; only a "
				  "published version can be carried forward", (long long)r->v.version,
				  r->doc);
	return fisc_cells_load(db, r->doc, r->v.version, &r->cells);
}

mm_err mm_fisc_carry_forward(mm_fisc *f, const mm_fisc_who *who, const char *from_doc_id,
			     int64_t from_version, const char *new_doc_id, int new_edition,
			     const char *title, json_t **ret)
{
	struct carry_read r;
	const mm_fisc_edition *ea, *eb;
	fisc_cells out = { 0 };
	json_t *reviews = json_object(), *dropped = json_array(), *nr = NULL;
	struct carry_arg a;
	mm_err rc;

	memset(&r, 0, sizeof(r));
	r.doc = from_doc_id;
	r.sel = from_version;
	if (reviews == NULL || dropped == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = fisc_who_check(who)) != MM_OK)
		goto out;
	if (!fisc_doc_id_ok(from_doc_id) || !fisc_doc_id_ok(new_doc_id)) {
		rc = fisc_doc_id_error();
		goto out;
	}
	if ((rc = text_check("title", title, MM_FISC_TITLE_MAX, true)) != MM_OK)
		goto out;
	if ((eb = mm_fisc_catalog_edition(f->cat, new_edition)) == NULL) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", new_edition);
		goto out;
	}
	if ((rc = fisc_with_read(f, carry_read_fn, &r)) != MM_OK)
		goto out;
	if ((ea = mm_fisc_catalog_edition(f->cat, r.d.edition)) == NULL) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "edition %d is not in the catalog", r.d.edition);
		goto out;
	}
	if (r.d.edition >= new_edition) {
		rc = mm_err_set(MM_ERR_INVALID, "'%s' answers edition %d; carry forward needs a newer "
				"edition", from_doc_id, r.d.edition);
		goto out;
	}
	/* Map every live criterion of the new edition to its source cells. */
	for (size_t i = 0; i < eb->ncriteria; i++) {
		const mm_fisc_criterion *c = &eb->criteria[i];
		const char *reason = NULL;
		bool from_other = false, any_source = false;

		if (c->status == MM_FISC_RETIRED)
			continue;
		for (size_t k = 0; k < c->npredecessors; k++)
			if (strcmp(c->predecessors[k], c->id) != 0)
				from_other = true;
		for (size_t j = 0; j < r.cells.n; j++) {
			const fisc_cell *s = &r.cells.v[j];
			bool match = false;

			if (c->npredecessors > 0) {
				for (size_t k = 0; k < c->npredecessors; k++)
					match |= strcmp(c->predecessors[k], s->crit) == 0;
			} else {
				match = strcmp(c->id, s->crit) == 0;
			}
			if (!match)
				continue;
			/* With several predecessors the first one's cell per party wins. */
			bool dup = false;
			for (size_t q = 0; q < out.n; q++)
				dup |= strcmp(out.v[q].crit, c->id) == 0 && out.v[q].party == s->party;
			if (dup)
				continue;
			if ((rc = cells_push(&out, c->id, s->party, s->mark, s->ja, s->en)) != MM_OK)
				goto out;
		}
		if (c->npredecessors > 0) {
			for (size_t k = 0; k < c->npredecessors; k++)
				any_source |= mm_fisc_edition_find(ea, c->predecessors[k]) != NULL;
		} else {
			const mm_fisc_criterion *old = mm_fisc_edition_find(ea, c->id);

			any_source = old != NULL && old->status != MM_FISC_RETIRED;
		}
		if (!any_source)
			reason = "new";
		else if (from_other)
			reason = "renumbered";
		else if (c->provisional)
			reason = "unverified";
		if (reason != NULL)
			json_object_set_new(reviews, c->id, json_string(reason));
	}
	/* Cells whose criterion did not make it into the new edition. */
	for (size_t j = 0; j < r.cells.n; j++) {
		const char *id = r.cells.v[j].crit;
		bool used = false;

		for (size_t q = 0; q < out.n && !used; q++) {
			const mm_fisc_criterion *c = mm_fisc_edition_find(eb, out.v[q].crit);

			if (strcmp(out.v[q].crit, id) == 0 && c != NULL && c->npredecessors == 0)
				used = true;
			for (size_t k = 0; c != NULL && k < c->npredecessors && !used; k++)
				used = strcmp(c->predecessors[k], id) == 0;
		}
		if (!used) {
			bool seen = false;

			for (size_t q = 0; q < json_array_size(dropped); q++)
				seen |= strcmp(json_string_value(json_array_get(dropped, q)), id) == 0;
			if (!seen)
				json_array_append_new(dropped, json_string(id));
		}
	}
	a = (struct carry_arg){ who, from_doc_id, r.v.version, new_doc_id, new_edition, title,
				eb->digest, &out, reviews, dropped };
	if ((rc = mm_store_write(f->store, carry_job, &a)) != MM_OK)
		goto out;
	if (ret != NULL) {
		json_t *x;

		if ((nr = json_array()) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < eb->ncriteria; i++)
			if ((x = json_object_get(reviews, eb->criteria[i].id)) != NULL)
				json_array_append_new(nr, json_pack("{s:s,s:O}", "id",
								    eb->criteria[i].id, "reason", x));
		*ret = json_pack("{s:s,s:i,s:s,s:I,s:I,s:o,s:O}", "doc", new_doc_id, "edition",
				 new_edition, "from_doc", from_doc_id, "from_version",
				 (json_int_t)r.v.version, "copied", (json_int_t)out.n,
				 "needs_review", nr, "dropped", dropped);
		nr = NULL;
		if (*ret == NULL)
			rc = MM_ERR_NOMEM;
	}
out:
	json_decref(nr);
	json_decref(reviews);
	json_decref(dropped);
	fisc_cells_release(&out);
	fisc_cells_release(&r.cells);
	return rc;
}
