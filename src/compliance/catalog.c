/*
 * catalog.c: loading and checking FISC edition files, looking criteria up,
 * and diffing two editions (see catalog.h for the invariants enforced).
 *
 * Strings in mm_fisc_edition point into the jansson tree kept in ed->root;
 * arrays (groups, criteria, predecessors, by_id) are allocated here and
 * freed by mm_fisc_edition_free.
 */
#include "compliance/catalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/builtin.h"
#include "compliance/internal.h"
#include "core/buf.h"
#include "core/json.h"
#include "crypto/crypto.h"

#define EDITION_MAX_BYTES (16u << 20)
#define MAX_CRITERIA 4096
#define MAX_GROUPS 512
#define MAX_PREDECESSORS 16

struct mm_fisc_catalog {
	mm_fisc_edition **ed;   /* ascending edition numbers */
	size_t n;
};

static const char *const prefixes[MM_FISC_NCAT] = { "統", "実", "設", "監" };
static const char *const cat_ja[MM_FISC_NCAT] = { "統制基準", "実務基準", "設備基準", "監査基準" };
static const char *const cat_en[MM_FISC_NCAT] = { "Governance criteria", "Practice criteria",
						  "Facility criteria", "Audit criteria" };

const char *mm_fisc_category_prefix(mm_fisc_category c)
{
	return c < MM_FISC_NCAT ? prefixes[c] : "?";
}

const char *mm_fisc_category_ja(mm_fisc_category c)
{
	return c < MM_FISC_NCAT ? cat_ja[c] : "?";
}

const char *mm_fisc_category_en(mm_fisc_category c)
{
	return c < MM_FISC_NCAT ? cat_en[c] : "?";
}

const char *mm_fisc_status_name(mm_fisc_status s)
{
	switch (s) {
	case MM_FISC_ACTIVE:
		return "active";
	case MM_FISC_RETIRED:
		return "retired";
	case MM_FISC_OUT_OF_SCOPE:
		return "out_of_scope_default";
	}
	return "?";
}

const char *mm_fisc_status_ja(mm_fisc_status s)
{
	switch (s) {
	case MM_FISC_ACTIVE:
		return "有効";
	case MM_FISC_RETIRED:
		return "欠番";
	case MM_FISC_OUT_OF_SCOPE:
		return "対象外（既定）";
	}
	return "?";
}

const char *mm_fisc_applic_name(mm_fisc_applic a)
{
	switch (a) {
	case MM_FISC_APPLIC_REQUIRED:
		return "required";
	case MM_FISC_APPLIC_RISK_BASED:
		return "risk_based";
	case MM_FISC_APPLIC_NOT_APPLICABLE:
		return "not_applicable";
	case MM_FISC_APPLIC_UNKNOWN:
		return "unknown";
	}
	return "?";
}

static bool parse_applic(const char *s, mm_fisc_applic *ret)
{
	for (int a = MM_FISC_APPLIC_REQUIRED; a <= MM_FISC_APPLIC_UNKNOWN; a++)
		if (s != NULL && strcmp(s, mm_fisc_applic_name((mm_fisc_applic)a)) == 0) {
			*ret = (mm_fisc_applic)a;
			return true;
		}
	return false;
}

/* ---- IDs ---- */

/* Parses [1-9][0-9]{0,maxd-1} at *p; advances. */
static bool parse_num(const char **p, int maxd, int *ret)
{
	const char *s = *p;
	int v = 0, d = 0;

	if (*s < '1' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		if (++d > maxd)
			return false;
		v = v * 10 + (*s - '0');
		s++;
	}
	*p = s;
	*ret = v;
	return true;
}

bool mm_fisc_id_parse(const char *id, mm_fisc_category *cat, int *num, int *sub)
{
	int c = -1, n = 0, sb = 0;
	const char *p;

	if (id == NULL)
		return false;
	for (int i = 0; i < MM_FISC_NCAT; i++)
		if (strncmp(id, prefixes[i], strlen(prefixes[i])) == 0) {
			c = i;
			break;
		}
	if (c < 0)
		return false;
	p = id + strlen(prefixes[c]);
	if (!parse_num(&p, 4, &n))
		return false;
	if (*p == '-') {
		p++;
		if (!parse_num(&p, 3, &sb))
			return false;
	}
	if (*p != '\0')
		return false;
	if (cat)
		*cat = (mm_fisc_category)c;
	if (num)
		*num = n;
	if (sub)
		*sub = sb;
	return true;
}

/* Decodes one UTF-8 code point; returns its length or 0 when malformed. */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) {
		*cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
		return *cp >= 0x80 ? 2 : 0;
	}
	if ((s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
		*cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
		return *cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF) ? 3 : 0;
	}
	if ((s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
	    (s[3] & 0xC0) == 0x80) {
		*cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
		      (s[3] & 0x3Fu);
		return *cp >= 0x10000 && *cp <= 0x10FFFF ? 4 : 0;
	}
	return 0;
}

bool fisc_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t need = p[i] < 0x80 ? 1 : (p[i] & 0xE0) == 0xC0 ? 2 : (p[i] & 0xF0) == 0xE0 ? 3 :
			      (p[i] & 0xF8) == 0xF0 ? 4 : 0;
		unsigned cp;

		if (p[i] == 0 || need == 0 || i + need > n || utf8_next(p + i, &cp) != need)
			return false;
		i += need;
	}
	return true;
}

mm_err fisc_read_file(const char *path, mm_buf *out)
{
	char chunk[65536];
	FILE *f;
	size_t n;
	mm_err rc = MM_OK;

	if ((f = fopen(path, "rb")) == NULL)
		return mm_err_set(MM_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = mm_buf_append(out, chunk, n)) != MM_OK)
			break;
	if (rc == MM_ERR_LIMIT)
		rc = mm_err_set(MM_ERR_LIMIT, "%.200s is larger than %zu bytes", path, out->max);
	else if (rc == MM_OK && ferror(f))
		rc = mm_err_set(MM_ERR_IO, "cannot read %.200s", path);
	fclose(f);
	return rc;
}

bool mm_fisc_id_normalize(const char *in, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	if (in == NULL || cap == 0)
		return false;
	while (*s) {
		unsigned cp;
		size_t n = utf8_next(s, &cp);
		char ch = 0;

		if (n == 0)
			return false;
		if (cp == ' ' || cp == '\t' || cp == 0x3000) {
			s += n;
			continue;
		}
		if (cp >= 0xFF10 && cp <= 0xFF19)
			ch = (char)('0' + (cp - 0xFF10));
		else if (cp == 0xFF0D || cp == 0x2212 || cp == 0x2010 || cp == 0x2011 ||
			 cp == 0x2012 || cp == 0x2013 || cp == 0x2014 || cp == 0x30FC)
			ch = '-';
		if (ch != 0) {
			if (o + 1 >= cap)
				return false;
			out[o++] = ch;
		} else {
			if (o + n >= cap)
				return false;
			memcpy(out + o, s, n);
			o += n;
		}
		s += n;
	}
	out[o] = '\0';
	return mm_fisc_id_parse(out, NULL, NULL, NULL);
}

/* ---- parsing an edition ---- */

static int cmp_by_id(const void *a, const void *b)
{
	const mm_fisc_criterion *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

const mm_fisc_criterion *mm_fisc_edition_find(const mm_fisc_edition *ed, const char *id)
{
	mm_fisc_criterion key;
	const mm_fisc_criterion *kp = &key, **hit;

	if (ed == NULL || id == NULL)
		return NULL;
	key.id = id;
	hit = bsearch(&kp, ed->by_id, ed->ncriteria, sizeof(*ed->by_id), cmp_by_id);
	return hit ? *hit : NULL;
}

size_t mm_fisc_edition_count(const mm_fisc_edition *ed, mm_fisc_category cat,
			     mm_fisc_status status)
{
	size_t n = 0;

	for (size_t i = 0; i < ed->ncriteria; i++)
		n += ed->criteria[i].category == cat && ed->criteria[i].status == status;
	return n;
}

void mm_fisc_edition_free(mm_fisc_edition *ed)
{
	if (ed == NULL)
		return;
	for (size_t i = 0; i < ed->ncriteria; i++)
		free(ed->criteria[i].predecessors);
	free(ed->criteria);
	free(ed->groups);
	free(ed->by_id);
	json_decref(ed->root);
	free(ed);
}

/* Parse state: file name for error details. */
struct ps {
	const char *name;
	json_t *sources;
};

static mm_err bad(const struct ps *ps, const char *where, const char *what)
{
	char w[256];

	/* what may be the thread's current detail, which mm_err_set overwrites. */
	snprintf(w, sizeof(w), "%s", what);
	return mm_err_set(MM_ERR_INVALID, "%.120s: %.80s: %.200s", ps->name, where, w);
}

/* A required non-empty string member. */
static mm_err str_member(const struct ps *ps, const char *where, json_t *o, const char *key,
			 bool required, const char **ret)
{
	json_t *v = json_object_get(o, key);
	char what[96];

	if (v == NULL) {
		if (!required) {
			*ret = NULL;
			return MM_OK;
		}
		snprintf(what, sizeof(what), "'%s' is required", key);
		return bad(ps, where, what);
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(what, sizeof(what), "'%s' must be a non-empty string", key);
		return bad(ps, where, what);
	}
	*ret = json_string_value(v);
	return MM_OK;
}

/* A source reference must be a key of "sources". */
static mm_err source_ref(const struct ps *ps, const char *where, json_t *o, const char *key,
			 bool required, const char **ret)
{
	const char *s;
	char what[160];
	mm_err rc;

	if ((rc = str_member(ps, where, o, key, required, &s)) != MM_OK)
		return rc;
	if (s != NULL && json_object_get(ps->sources, s) == NULL) {
		snprintf(what, sizeof(what), "'%s' names source '%.60s', which is not in \"sources\"",
			 key, s);
		return bad(ps, where, what);
	}
	*ret = s;
	return MM_OK;
}

static bool category_of(const char *s, mm_fisc_category *ret)
{
	for (int i = 0; i < MM_FISC_NCAT; i++)
		if (s != NULL && strcmp(s, prefixes[i]) == 0) {
			*ret = (mm_fisc_category)i;
			return true;
		}
	return false;
}

static mm_err parse_applic_obj(const struct ps *ps, const char *where, json_t *o,
			       mm_fisc_applic *spec, mm_fisc_applic *norm, const char **src)
{
	static const char *const keys[] = { "specific", "normal", "source", NULL };
	const char *s, *n;
	mm_err rc;

	if (!json_is_object(o))
		return bad(ps, where, "'applicability' must be an object");
	if (mm_json_only(o, keys) != MM_OK)
		return bad(ps, where, "'applicability' allows specific, normal, source");
	if ((rc = str_member(ps, where, o, "specific", true, &s)) != MM_OK ||
	    (rc = str_member(ps, where, o, "normal", true, &n)) != MM_OK ||
	    (rc = source_ref(ps, where, o, "source", true, src)) != MM_OK)
		return rc;
	if (!parse_applic(s, spec) || !parse_applic(n, norm))
		return bad(ps, where, "applicability values are required, risk_based, "
			   "not_applicable or unknown");
	return MM_OK;
}

static mm_err parse_group(const struct ps *ps, json_t *o, mm_fisc_group *g)
{
	static const char *const keys[] = { "id", "category", "section_ja", "section_en", "number",
					    "range", "source", NULL };
	const char *cat;
	json_t *num;
	mm_err rc;

	if (!json_is_object(o))
		return bad(ps, "groups", "each group must be an object");
	if ((rc = str_member(ps, "group", o, "id", true, &g->id)) != MM_OK)
		return rc;
	if (mm_json_only(o, keys) != MM_OK)
		return bad(ps, g->id, mm_err_detail(MM_ERR_INVALID));
	if ((rc = str_member(ps, g->id, o, "category", true, &cat)) != MM_OK ||
	    (rc = str_member(ps, g->id, o, "section_ja", true, &g->section_ja)) != MM_OK ||
	    (rc = str_member(ps, g->id, o, "section_en", true, &g->section_en)) != MM_OK ||
	    (rc = str_member(ps, g->id, o, "range", false, &g->range)) != MM_OK ||
	    (rc = source_ref(ps, g->id, o, "source", true, &g->source)) != MM_OK)
		return rc;
	if (!category_of(cat, &g->category))
		return bad(ps, g->id, "category must be 統, 実, 設 or 監");
	num = json_object_get(o, "number");
	g->number = 0;
	if (num != NULL) {
		if (!json_is_integer(num) || json_integer_value(num) < 1 ||
		    json_integer_value(num) > 99)
			return bad(ps, g->id, "'number' must be an integer 1..99");
		g->number = (int)json_integer_value(num);
	}
	return MM_OK;
}

static mm_err parse_criterion(const struct ps *ps, const mm_fisc_edition *ed, json_t *o,
			      mm_fisc_criterion *c)
{
	static const char *const keys[] = { "id", "category", "group", "group_source", "title_ja",
					    "title_en", "title_kind", "title_source", "status",
					    "source", "provisional", "predecessors", "note",
					    "applicability", NULL };
	const char *cat, *group, *kind, *status;
	mm_fisc_category idcat, fcat;
	json_t *v;
	mm_err rc;

	if (!json_is_object(o))
		return bad(ps, "criteria", "each criterion must be an object");
	if ((rc = str_member(ps, "criterion", o, "id", true, &c->id)) != MM_OK)
		return rc;
	if (!mm_fisc_id_parse(c->id, &idcat, &c->num, &c->sub))
		return bad(ps, c->id, "malformed ID (expected 統|実|設|監, a number, optional -n)");
	if (mm_json_only(o, keys) != MM_OK)
		return bad(ps, c->id, mm_err_detail(MM_ERR_INVALID));
	if ((rc = str_member(ps, c->id, o, "category", true, &cat)) != MM_OK)
		return rc;
	if (!category_of(cat, &fcat))
		return bad(ps, c->id, "category must be 統, 実, 設 or 監");
	if (fcat != idcat)
		return bad(ps, c->id, "category does not match the ID prefix");
	c->category = fcat;
	if (!ed->listed[fcat])
		return bad(ps, c->id, "category is not in categories_listed");
	if ((rc = str_member(ps, c->id, o, "group", false, &group)) != MM_OK)
		return rc;
	c->group = NULL;
	c->group_source = NULL;
	if (group != NULL) {
		for (size_t i = 0; i < ed->ngroups; i++)
			if (strcmp(ed->groups[i].id, group) == 0)
				c->group = &ed->groups[i];
		if (c->group == NULL)
			return bad(ps, c->id, "names a group that is not in \"groups\"");
		if (c->group->category != c->category)
			return bad(ps, c->id, "group is of another category");
		if ((rc = source_ref(ps, c->id, o, "group_source", true, &c->group_source)) != MM_OK)
			return rc;
	} else if (json_object_get(o, "group_source") != NULL) {
		return bad(ps, c->id, "group_source without group");
	}
	if ((rc = str_member(ps, c->id, o, "title_ja", true, &c->title_ja)) != MM_OK ||
	    (rc = str_member(ps, c->id, o, "title_en", true, &c->title_en)) != MM_OK ||
	    (rc = str_member(ps, c->id, o, "title_kind", true, &kind)) != MM_OK ||
	    (rc = source_ref(ps, c->id, o, "title_source", true, &c->title_source)) != MM_OK ||
	    (rc = str_member(ps, c->id, o, "status", true, &status)) != MM_OK ||
	    (rc = source_ref(ps, c->id, o, "source", true, &c->source)) != MM_OK ||
	    (rc = str_member(ps, c->id, o, "note", false, &c->note)) != MM_OK)
		return rc;
	if (strcmp(kind, "paraphrase") == 0)
		c->title_neutral = false;
	else if (strcmp(kind, "neutral") == 0)
		c->title_neutral = true;
	else
		return bad(ps, c->id, "title_kind must be paraphrase or neutral");
	if (strcmp(status, "active") == 0)
		c->status = MM_FISC_ACTIVE;
	else if (strcmp(status, "retired") == 0)
		c->status = MM_FISC_RETIRED;
	else if (strcmp(status, "out_of_scope_default") == 0)
		c->status = MM_FISC_OUT_OF_SCOPE;
	else
		return bad(ps, c->id, "status must be active, retired or out_of_scope_default");
	c->provisional = false;
	if ((v = json_object_get(o, "provisional")) != NULL) {
		if (!json_is_boolean(v))
			return bad(ps, c->id, "provisional must be true or false");
		c->provisional = json_is_true(v);
	}
	c->predecessors = NULL;
	c->npredecessors = 0;
	if ((v = json_object_get(o, "predecessors")) != NULL) {
		size_t n = json_array_size(v);

		if (!json_is_array(v) || n == 0 || n > MAX_PREDECESSORS)
			return bad(ps, c->id, "predecessors must be a non-empty array of IDs");
		if ((c->predecessors = calloc(n, sizeof(*c->predecessors))) == NULL)
			return MM_ERR_NOMEM;
		for (size_t i = 0; i < n; i++) {
			const char *p = json_string_value(json_array_get(v, i));

			if (!mm_fisc_id_parse(p, NULL, NULL, NULL))
				return bad(ps, c->id, "predecessors holds a malformed ID");
			c->predecessors[c->npredecessors++] = p;
		}
	}
	if ((v = json_object_get(o, "applicability")) != NULL)
		return parse_applic_obj(ps, c->id, v, &c->specific, &c->normal, &c->applic_source);
	return MM_OK;
}

mm_err mm_fisc_edition_parse(const char *name, const char *data, size_t len,
			     mm_fisc_edition **ret)
{
	static const char *const keys[] = { "format", "format_version", "edition", "title_ja",
					    "title_en", "published", "revisions", "complete",
					    "note_ja", "note_en", "categories_listed",
					    "reported_totals", "applicability", "sources", "groups",
					    "criteria", NULL };
	struct ps ps = { name, NULL };
	mm_fisc_edition *ed = NULL;
	json_error_t je;
	json_t *root = NULL, *v, *arr;
	const char *fmt;
	mm_fisc_applic dspec, dnorm;
	const char *dsrc;
	uint8_t digest[MM_SHA256_LEN];
	mm_err rc = MM_OK;

	if ((ed = calloc(1, sizeof(*ed))) == NULL)
		return MM_ERR_NOMEM;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "%.120s: malformed JSON at line %d: %.100s", name,
				je.line, je.text);
		goto out;
	}
	ed->root = root;
	if (!json_is_object(root)) {
		rc = bad(&ps, "file", "must be a JSON object");
		goto out;
	}
	if (mm_json_only(root, keys) != MM_OK) {
		rc = bad(&ps, "file", mm_err_detail(MM_ERR_INVALID));
		goto out;
	}
	if ((rc = str_member(&ps, "file", root, "format", true, &fmt)) != MM_OK)
		goto out;
	if (strcmp(fmt, "mamori-fisc-catalog") != 0) {
		rc = bad(&ps, "format", "must be \"mamori-fisc-catalog\"");
		goto out;
	}
	v = json_object_get(root, "format_version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = bad(&ps, "format_version", "must be 1");
		goto out;
	}
	v = json_object_get(root, "edition");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 99) {
		rc = bad(&ps, "edition", "must be an integer 1..99");
		goto out;
	}
	ed->edition = (int)json_integer_value(v);
	ps.sources = json_object_get(root, "sources");
	if (!json_is_object(ps.sources) || json_object_size(ps.sources) == 0) {
		rc = bad(&ps, "sources", "must be a non-empty object");
		goto out;
	}
	{
		const char *k;
		json_t *s;

		json_object_foreach(ps.sources, k, s) {
			const char *x;

			if ((rc = str_member(&ps, k, s, "ja", true, &x)) != MM_OK ||
			    (rc = str_member(&ps, k, s, "en", true, &x)) != MM_OK)
				goto out;
		}
	}
	if ((rc = str_member(&ps, "file", root, "title_ja", true, &ed->title_ja)) != MM_OK ||
	    (rc = str_member(&ps, "file", root, "title_en", true, &ed->title_en)) != MM_OK ||
	    (rc = str_member(&ps, "file", root, "published", true, &ed->published)) != MM_OK ||
	    (rc = str_member(&ps, "file", root, "note_ja", false, &ed->note_ja)) != MM_OK ||
	    (rc = str_member(&ps, "file", root, "note_en", false, &ed->note_en)) != MM_OK)
		goto out;
	v = json_object_get(root, "complete");
	if (!json_is_boolean(v)) {
		rc = bad(&ps, "complete", "must be true or false");
		goto out;
	}
	ed->complete = json_is_true(v);
	if (!ed->complete && (ed->note_ja == NULL || ed->note_en == NULL)) {
		rc = bad(&ps, "complete", "an incomplete edition needs note_ja and note_en");
		goto out;
	}
	arr = json_object_get(root, "categories_listed");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		rc = bad(&ps, "categories_listed", "must be a non-empty array");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		mm_fisc_category c;

		if (!category_of(json_string_value(json_array_get(arr, i)), &c)) {
			rc = bad(&ps, "categories_listed", "holds an unknown category");
			goto out;
		}
		ed->listed[c] = true;
	}
	if ((rc = parse_applic_obj(&ps, "applicability", json_object_get(root, "applicability"),
				   &dspec, &dnorm, &dsrc)) != MM_OK)
		goto out;
	arr = json_object_get(root, "groups");
	if (arr != NULL) {
		if (!json_is_array(arr) || json_array_size(arr) > MAX_GROUPS) {
			rc = bad(&ps, "groups", "must be an array of at most 512 groups");
			goto out;
		}
		ed->groups = calloc(json_array_size(arr) + 1, sizeof(*ed->groups));
		if (ed->groups == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < json_array_size(arr); i++) {
			if ((rc = parse_group(&ps, json_array_get(arr, i), &ed->groups[i])) != MM_OK)
				goto out;
			for (size_t j = 0; j < i; j++)
				if (strcmp(ed->groups[j].id, ed->groups[i].id) == 0) {
					rc = bad(&ps, ed->groups[i].id, "duplicate group id");
					goto out;
				}
			ed->ngroups++;
		}
	}
	arr = json_object_get(root, "criteria");
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > MAX_CRITERIA) {
		rc = bad(&ps, "criteria", "must be a non-empty array of at most 4096 criteria");
		goto out;
	}
	ed->criteria = calloc(json_array_size(arr), sizeof(*ed->criteria));
	ed->by_id = calloc(json_array_size(arr), sizeof(*ed->by_id));
	if (ed->criteria == NULL || ed->by_id == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		mm_fisc_criterion *c = &ed->criteria[i];

		c->specific = dspec;
		c->normal = dnorm;
		c->applic_source = dsrc;
		ed->ncriteria++;
		if ((rc = parse_criterion(&ps, ed, json_array_get(arr, i), c)) != MM_OK)
			goto out;
		ed->by_id[i] = c;
	}
	qsort(ed->by_id, ed->ncriteria, sizeof(*ed->by_id), cmp_by_id);
	for (size_t i = 1; i < ed->ncriteria; i++)
		if (strcmp(ed->by_id[i - 1]->id, ed->by_id[i]->id) == 0) {
			rc = bad(&ps, ed->by_id[i]->id, "duplicate criterion ID");
			goto out;
		}
	snprintf(ed->origin, sizeof(ed->origin), "%s", name);
	mm_sha256(data, len, digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(ed->digest + 2 * i, 3, "%02x", digest[i]);
	*ret = ed;
	ed = NULL;
out:
	mm_fisc_edition_free(ed);
	return rc;
}

/* ---- catalog ---- */

mm_err mm_fisc_catalog_new_empty(mm_fisc_catalog **ret)
{
	mm_fisc_catalog *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return MM_ERR_NOMEM;
	*ret = c;
	return MM_OK;
}

void mm_fisc_catalog_free(mm_fisc_catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->n; i++)
		mm_fisc_edition_free(cat->ed[i]);
	free(cat->ed);
	free(cat);
}

static mm_err catalog_put(mm_fisc_catalog *cat, mm_fisc_edition *ed)
{
	size_t i;
	mm_fisc_edition **n;

	for (i = 0; i < cat->n; i++)
		if (cat->ed[i]->edition == ed->edition) {
			mm_fisc_edition_free(cat->ed[i]);
			cat->ed[i] = ed;
			return MM_OK;
		}
	if ((n = realloc(cat->ed, (cat->n + 1) * sizeof(*n))) == NULL)
		return MM_ERR_NOMEM;
	cat->ed = n;
	for (i = cat->n; i > 0 && cat->ed[i - 1]->edition > ed->edition; i--)
		cat->ed[i] = cat->ed[i - 1];
	cat->ed[i] = ed;
	cat->n++;
	return MM_OK;
}

mm_err mm_fisc_catalog_load_buffer(mm_fisc_catalog *cat, const char *name, const char *data,
				   size_t len)
{
	mm_fisc_edition *ed = NULL;
	mm_err rc;

	if ((rc = mm_fisc_edition_parse(name, data, len, &ed)) != MM_OK)
		return rc;
	if ((rc = catalog_put(cat, ed)) != MM_OK)
		mm_fisc_edition_free(ed);
	return rc;
}

mm_err mm_fisc_catalog_load_file(mm_fisc_catalog *cat, const char *path)
{
	mm_buf b = MM_BUF_INIT(EDITION_MAX_BYTES);
	mm_err rc;

	if ((rc = fisc_read_file(path, &b)) == MM_OK)
		rc = mm_fisc_catalog_load_buffer(cat, path, mm_buf_str(&b), b.len);
	mm_buf_release(&b);
	return rc;
}

const mm_fisc_blob *mm_fisc_builtin_find(const char *name)
{
	for (size_t i = 0; i < mm_fisc_builtin_nblobs; i++)
		if (strcmp(mm_fisc_builtin_blobs[i].name, name) == 0)
			return &mm_fisc_builtin_blobs[i];
	return NULL;
}

mm_err mm_fisc_catalog_new_builtin(mm_fisc_catalog **ret)
{
	mm_fisc_catalog *cat = NULL;
	mm_err rc;

	if ((rc = mm_fisc_catalog_new_empty(&cat)) != MM_OK)
		return rc;
	for (size_t i = 0; i < mm_fisc_builtin_nblobs; i++) {
		const mm_fisc_blob *b = &mm_fisc_builtin_blobs[i];
		char name[128];

		if (strncmp(b->name, "edition-", 8) != 0)
			continue;
		snprintf(name, sizeof(name), "builtin:%s", b->name);
		if ((rc = mm_fisc_catalog_load_buffer(cat, name, (const char *)b->data, b->len)) != MM_OK) {
			mm_fisc_catalog_free(cat);
			return rc;
		}
	}
	*ret = cat;
	return MM_OK;
}

size_t mm_fisc_catalog_count(const mm_fisc_catalog *cat)
{
	return cat->n;
}

const mm_fisc_edition *mm_fisc_catalog_at(const mm_fisc_catalog *cat, size_t i)
{
	return i < cat->n ? cat->ed[i] : NULL;
}

const mm_fisc_edition *mm_fisc_catalog_edition(const mm_fisc_catalog *cat, int edition)
{
	for (size_t i = 0; cat != NULL && i < cat->n; i++)
		if (cat->ed[i]->edition == edition)
			return cat->ed[i];
	return NULL;
}

/* ---- diff ---- */

void mm_fisc_edition_diff_free(mm_fisc_edition_diff *d)
{
	if (d == NULL)
		return;
	free(d->added);
	free(d->retired);
	for (size_t i = 0; i < d->nrenumbered; i++)
		free(d->renumbered[i].to);
	free(d->renumbered);
	free(d->unverified);
	free(d);
}

static bool live(const mm_fisc_criterion *c)
{
	return c != NULL && c->status != MM_FISC_RETIRED;
}

/* Does some criterion of b name id as a predecessor? */
static bool has_successor(const mm_fisc_edition *b, const char *id)
{
	for (size_t i = 0; i < b->ncriteria; i++)
		for (size_t j = 0; j < b->criteria[i].npredecessors; j++)
			if (strcmp(b->criteria[i].predecessors[j], id) == 0 &&
			    strcmp(b->criteria[i].id, id) != 0)
				return true;
	return false;
}

mm_err mm_fisc_edition_diff_new(const mm_fisc_edition *a, const mm_fisc_edition *b,
				mm_fisc_edition_diff **ret)
{
	mm_fisc_edition_diff *d = calloc(1, sizeof(*d));
	size_t cap = a->ncriteria + b->ncriteria + 1;
	mm_err rc = MM_ERR_NOMEM;

	if (d == NULL)
		return MM_ERR_NOMEM;
	d->from = a->edition;
	d->to = b->edition;
	d->added = calloc(cap, sizeof(*d->added));
	d->retired = calloc(cap, sizeof(*d->retired));
	d->renumbered = calloc(cap, sizeof(*d->renumbered));
	d->unverified = calloc(cap, sizeof(*d->unverified));
	if (!d->added || !d->retired || !d->renumbered || !d->unverified)
		goto out;
	for (int c = 0; c < MM_FISC_NCAT; c++)
		d->skipped[c] = !a->listed[c] || !b->listed[c];
	/* Walk the newer edition: added, renumbered, unchanged, unverified. */
	for (size_t i = 0; i < b->ncriteria; i++) {
		const mm_fisc_criterion *cb = &b->criteria[i];
		const mm_fisc_criterion *ca = mm_fisc_edition_find(a, cb->id);
		bool renum = false;

		if (d->skipped[cb->category] || !live(cb))
			continue;
		for (size_t j = 0; j < cb->npredecessors; j++) {
			const char *from = cb->predecessors[j];
			mm_fisc_renumber *r = NULL;

			if (strcmp(from, cb->id) == 0)
				continue;
			renum = true;
			for (size_t k = 0; k < d->nrenumbered; k++)
				if (strcmp(d->renumbered[k].from, from) == 0)
					r = &d->renumbered[k];
			if (r == NULL) {
				r = &d->renumbered[d->nrenumbered++];
				r->from = from;
				if ((r->to = calloc(b->ncriteria, sizeof(*r->to))) == NULL)
					goto out;
			}
			r->to[r->nto++] = cb->id;
		}
		if (renum)
			continue;
		if (!live(ca))
			d->added[d->nadded++] = cb->id;
		else if (cb->provisional)
			d->unverified[d->nunverified++] = cb->id;
		else
			d->unchanged++;
	}
	/* Walk the older edition: retired. */
	for (size_t i = 0; i < a->ncriteria; i++) {
		const mm_fisc_criterion *ca = &a->criteria[i];

		if (d->skipped[ca->category] || !live(ca))
			continue;
		if (!live(mm_fisc_edition_find(b, ca->id)) && !has_successor(b, ca->id))
			d->retired[d->nretired++] = ca->id;
	}
	*ret = d;
	d = NULL;
	rc = MM_OK;
out:
	mm_fisc_edition_diff_free(d);
	return rc;
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *mm_fisc_edition_diff_json(const mm_fisc_edition_diff *d)
{
	json_t *o = json_object(), *ren = json_array(), *sk = json_array();

	if (o == NULL || ren == NULL || sk == NULL) {
		json_decref(o);
		json_decref(ren);
		json_decref(sk);
		return NULL;
	}
	for (size_t i = 0; i < d->nrenumbered; i++)
		json_array_append_new(ren, json_pack("{s:s,s:o}", "from", d->renumbered[i].from, "to",
						     str_array(d->renumbered[i].to, d->renumbered[i].nto)));
	for (int c = 0; c < MM_FISC_NCAT; c++)
		if (d->skipped[c])
			json_array_append_new(sk, json_string(prefixes[c]));
	json_object_set_new(o, "from", json_integer(d->from));
	json_object_set_new(o, "to", json_integer(d->to));
	json_object_set_new(o, "added", str_array(d->added, d->nadded));
	json_object_set_new(o, "retired", str_array(d->retired, d->nretired));
	json_object_set_new(o, "renumbered", ren);
	json_object_set_new(o, "unverified", str_array(d->unverified, d->nunverified));
	json_object_set_new(o, "unchanged", json_integer((json_int_t)d->unchanged));
	json_object_set_new(o, "skipped_categories", sk);
	return o;
}

json_t *mm_fisc_edition_json(const mm_fisc_edition *ed, bool criteria)
{
	json_t *o = json_object(), *counts = json_object(), *list = NULL;

	if (o == NULL || counts == NULL)
		goto fail;
	for (int c = 0; c < MM_FISC_NCAT; c++) {
		if (!ed->listed[c])
			continue;
		json_object_set_new(counts, prefixes[c],
				    json_pack("{s:I,s:I,s:I}",
					      "active", (json_int_t)mm_fisc_edition_count(ed, (mm_fisc_category)c, MM_FISC_ACTIVE),
					      "retired", (json_int_t)mm_fisc_edition_count(ed, (mm_fisc_category)c, MM_FISC_RETIRED),
					      "out_of_scope_default", (json_int_t)mm_fisc_edition_count(ed, (mm_fisc_category)c, MM_FISC_OUT_OF_SCOPE)));
	}
	json_object_set_new(o, "edition", json_integer(ed->edition));
	json_object_set_new(o, "title_ja", json_string(ed->title_ja));
	json_object_set_new(o, "title_en", json_string(ed->title_en));
	json_object_set_new(o, "published", json_string(ed->published));
	json_object_set_new(o, "complete", json_boolean(ed->complete));
	if (ed->note_ja)
		json_object_set_new(o, "note_ja", json_string(ed->note_ja));
	if (ed->note_en)
		json_object_set_new(o, "note_en", json_string(ed->note_en));
	json_object_set_new(o, "counts", counts);
	counts = NULL;
	json_object_set_new(o, "origin", json_string(ed->origin));
	json_object_set_new(o, "sha256", json_string(ed->digest));
	if (criteria) {
		if ((list = json_array()) == NULL)
			goto fail;
		for (size_t i = 0; i < ed->ncriteria; i++) {
			const mm_fisc_criterion *c = &ed->criteria[i];
			json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:s,s:s}",
					      "id", c->id, "category", prefixes[c->category],
					      "title_ja", c->title_ja, "title_en", c->title_en,
					      "title_neutral", c->title_neutral,
					      "status", mm_fisc_status_name(c->status),
					      "provisional", c->provisional,
					      "specific", mm_fisc_applic_name(c->specific),
					      "normal", mm_fisc_applic_name(c->normal));
			if (j == NULL)
				goto fail;
			if (c->group)
				json_object_set_new(j, "group", json_string(c->group->id));
			json_array_append_new(list, j);
		}
		json_object_set_new(o, "criteria", list);
		list = NULL;
	}
	return o;
fail:
	json_decref(o);
	json_decref(counts);
	json_decref(list);
	return NULL;
}
