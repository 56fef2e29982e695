/*
 * config.c: strict parser for the TOML subset described in config.h.
 *
 * Invariant: every key the daemon accepts is in `keys` (global settings) or
 * `table_keys` (named tables); anything else is rejected with its line, so a
 * misspelt setting is never silently ignored.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/time.h"

#define CONFIG_MAX_BYTES (1 << 20)
#define CONFIG_MAX_LIST 256

struct key_desc {
	const char *name;     /* "section.key" or "key" for the top level */
	int type;
	size_t off;
	int64_t min, max;     /* for integers and durations */
};

#define OFF(f) offsetof(mm_config, f)
#define DAY (86400LL * 1000)

static const struct key_desc keys[] = {
	{ "listen", MM_CFG_STRING, OFF(listen), 0, 0 },
	{ "data_dir", MM_CFG_STRING, OFF(data_dir), 0, 0 },
	{ "threads", MM_CFG_INT, OFF(threads), 0, 256 },
	{ "log.level", MM_CFG_STRING, OFF(log_level), 0, 0 },
	{ "log.file", MM_CFG_STRING, OFF(log_file), 0, 0 },
	{ "log.access_log", MM_CFG_STRING, OFF(access_log), 0, 0 },
	{ "tls.cert", MM_CFG_STRING, OFF(tls_cert), 0, 0 },
	{ "tls.key", MM_CFG_STRING, OFF(tls_key), 0, 0 },
	{ "limits.max_body_bytes", MM_CFG_INT, OFF(max_body_bytes), 1024, 256LL << 20 },
	{ "limits.max_header_bytes", MM_CFG_INT, OFF(max_header_bytes), 1024, 1 << 20 },
	{ "limits.max_connections", MM_CFG_INT, OFF(max_connections), 1, 1000000 },
	{ "limits.request_timeout", MM_CFG_DURATION, OFF(request_timeout_ms), 1000, 3600000 },
	{ "auth.token_ttl", MM_CFG_DURATION, OFF(token_ttl_ms), 60000, 365 * DAY },
	{ "auth.bootstrap_ttl", MM_CFG_DURATION, OFF(bootstrap_ttl_ms), 60000, 30 * DAY },
	{ "store.synchronous", MM_CFG_STRING, OFF(sqlite_synchronous), 0, 0 },
	{ "audit.origin", MM_CFG_STRING, OFF(audit_origin), 0, 0 },
	{ "audit.checkpoint_interval", MM_CFG_DURATION, OFF(audit_checkpoint_interval_ms), 1000, DAY },
	{ "audit.witness_file", MM_CFG_STRING, OFF(audit_witness_file), 0, 0 },
	{ "audit.witness_url", MM_CFG_STRING, OFF(audit_witness_url), 0, 0 },
	{ "audit.witness_syslog", MM_CFG_BOOL, OFF(audit_witness_syslog), 0, 0 },
	{ "seal.unseal_key_file", MM_CFG_STRING, OFF(unseal_key_file), 0, 0 },
	{ "identity.session_idle", MM_CFG_DURATION, OFF(session_idle_ms), 60000, DAY },
	{ "identity.session_absolute", MM_CFG_DURATION, OFF(session_absolute_ms), 60000, 30 * DAY },
	{ "identity.lockout_threshold", MM_CFG_INT, OFF(lockout_threshold), 1, 100 },
	{ "identity.lockout_base", MM_CFG_DURATION, OFF(lockout_base_ms), 1000, DAY },
	{ "identity.source_lockout_threshold", MM_CFG_INT, OFF(source_lockout_threshold), 1, 100000 },
	{ "identity.dormant_days", MM_CFG_INT, OFF(dormant_days), 1, 3650 },
	{ "identity.password_list", MM_CFG_STRING, OFF(password_list), 0, 0 },
	{ "notify.webhook_url", MM_CFG_STRING, OFF(webhook_url), 0, 0 },
	{ "access.breakglass_user", MM_CFG_STRING, OFF(breakglass_user), 0, 0 },
	{ "access.max_grant", MM_CFG_DURATION, OFF(max_grant_ms), 60000, 30 * DAY },
	{ "access.request_review", MM_CFG_DURATION, OFF(request_review_ms), 1000, 30 * DAY },
	{ "fisc.edition_dir", MM_CFG_STRING, OFF(fisc_edition_dir), 0, 0 },
	{ "fisc.bindings_file", MM_CFG_STRING, OFF(fisc_bindings_file), 0, 0 },
};

/* Keys allowed inside named tables, per kind. */
struct table_key {
	const char *kind;
	const char *key;
	int type;
};

static const struct table_key table_keys[] = {
	{ "role", "permissions", MM_CFG_LIST },
	{ "role", "description", MM_CFG_STRING },
	{ "role", "privileged", MM_CFG_BOOL },
	{ "role", "allow_cidrs", MM_CFG_LIST },
	{ "target", "description", MM_CFG_STRING },
	{ "target", "roles", MM_CFG_LIST },
	{ "target", "approver_role", MM_CFG_STRING },
	{ "target", "approvals", MM_CFG_INT },
	{ "target", "max_duration", MM_CFG_DURATION },
	{ "target", "report_required", MM_CFG_BOOL },
	{ "target", "actions", MM_CFG_LIST },
	{ "policy", "target", MM_CFG_STRING },
	{ "policy", "role", MM_CFG_STRING },
	{ "policy", "approver_role", MM_CFG_STRING },
	{ "policy", "approvals", MM_CFG_INT },
	{ "policy", "max_duration", MM_CFG_DURATION },
	{ "policy", "report_required", MM_CFG_BOOL },
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

mm_err mm_config_init(mm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = xstrdup("127.0.0.1:8470");
	cfg->data_dir = xstrdup("./var");
	cfg->log_level = xstrdup("info");
	cfg->sqlite_synchronous = xstrdup("full");
	cfg->audit_origin = xstrdup("mamori.local/audit");
	if (!cfg->listen || !cfg->data_dir || !cfg->log_level || !cfg->sqlite_synchronous ||
	    !cfg->audit_origin) {
		mm_config_release(cfg);
		return MM_ERR_NOMEM;
	}
	cfg->threads = 0;
	cfg->max_body_bytes = 4 << 20;
	cfg->max_header_bytes = 16 << 10;
	cfg->max_connections = 4096;
	cfg->request_timeout_ms = 30000;
	cfg->token_ttl_ms = 8 * 3600 * 1000LL;
	cfg->bootstrap_ttl_ms = 24 * 3600 * 1000LL;
	cfg->audit_checkpoint_interval_ms = 10000;
	cfg->session_idle_ms = 15 * 60 * 1000LL;
	cfg->session_absolute_ms = 8 * 3600 * 1000LL;
	cfg->lockout_threshold = 5;
	cfg->lockout_base_ms = 30000;
	cfg->source_lockout_threshold = 50;
	cfg->dormant_days = 90;
	cfg->max_grant_ms = 8 * 3600 * 1000LL;
	cfg->request_review_ms = 24 * 3600 * 1000LL;
	return MM_OK;
}

static void item_release(mm_config_item *it)
{
	free(it->key);
	free(it->str);
	if (it->list != NULL) {
		for (size_t i = 0; i < it->nlist; i++)
			free(it->list[i]);
		free(it->list);
	}
	memset(it, 0, sizeof(*it));
}

void mm_config_release(mm_config *cfg)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].type == MM_CFG_STRING) {
			char **p = (char **)((char *)cfg + keys[i].off);
			free(*p);
			*p = NULL;
		}
	}
	for (size_t i = 0; i < cfg->ntables; i++) {
		mm_config_table *t = &cfg->tables[i];
		for (size_t j = 0; j < t->nitems; j++)
			item_release(&t->items[j]);
		free(t->items);
		free(t->kind);
		free(t->name);
	}
	free(cfg->tables);
	cfg->tables = NULL;
	cfg->ntables = 0;
}

/* ---- lexer over one line ---- */

struct parse {
	const char *file;
	int line;
	const char *p;
};

static mm_err perr(const struct parse *ps, const char *key, const char *what)
{
	if (key != NULL)
		return mm_err_set(MM_ERR_CONFIG, "%s:%d: %s: %s", ps->file, ps->line, key, what);
	return mm_err_set(MM_ERR_CONFIG, "%s:%d: %s", ps->file, ps->line, what);
}

static void skip_ws(struct parse *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static bool at_end(struct parse *ps)
{
	skip_ws(ps);
	return *ps->p == '\0' || *ps->p == '#' || *ps->p == '\r';
}

static mm_err parse_string(struct parse *ps, const char *key, char **ret)
{
	mm_buf b = MM_BUF_INIT(64 << 10);
	mm_err rc = MM_OK;

	ps->p++; /* opening quote */
	while (*ps->p != '"') {
		char c = *ps->p;

		if (c == '\0' || c == '\n') {
			rc = perr(ps, key, "unterminated string");
			goto out;
		}
		if (c == '\\') {
			ps->p++;
			switch (*ps->p) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			default:
				rc = perr(ps, key, "unknown escape in string");
				goto out;
			}
		}
		if ((rc = mm_buf_appendc(&b, c)) != MM_OK)
			goto out;
		ps->p++;
	}
	ps->p++;
	if ((*ret = mm_buf_detach(&b, NULL)) == NULL)
		rc = MM_ERR_NOMEM;
out:
	mm_buf_release(&b);
	return rc;
}

static mm_err parse_value(struct parse *ps, mm_config_item *it)
{
	mm_err rc = MM_OK;

	skip_ws(ps);
	if (*ps->p == '"') {
		it->type = MM_CFG_STRING;
		rc = parse_string(ps, it->key, &it->str);
	} else if (*ps->p == '[') {
		it->type = MM_CFG_LIST;
		it->list = calloc(CONFIG_MAX_LIST + 1, sizeof(char *));
		if (it->list == NULL)
			return MM_ERR_NOMEM;
		ps->p++;
		for (;;) {
			skip_ws(ps);
			if (*ps->p == ']') {
				ps->p++;
				break;
			}
			if (*ps->p != '"')
				return perr(ps, it->key, "expected a list of strings");
			if (it->nlist == CONFIG_MAX_LIST)
				return perr(ps, it->key, "list too long");
			if ((rc = parse_string(ps, it->key, &it->list[it->nlist])) != MM_OK)
				return rc;
			it->nlist++;
			skip_ws(ps);
			if (*ps->p == ',')
				ps->p++;
			else if (*ps->p != ']')
				return perr(ps, it->key, "expected ',' or ']' in list");
		}
	} else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
		it->type = MM_CFG_BOOL;
		it->num = ps->p[0] == 't';
		ps->p += it->num ? 4 : 5;
	} else if (*ps->p == '-' || isdigit((unsigned char)*ps->p)) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(ps->p, &end, 10);
		if (errno != 0 || end == ps->p)
			return perr(ps, it->key, "invalid integer");
		it->type = MM_CFG_INT;
		it->num = v;
		ps->p = end;
	} else {
		return perr(ps, it->key, "expected a string, integer, boolean or list");
	}
	if (!at_end(ps))
		return perr(ps, it->key, "unexpected text after the value");
	return rc;
}

static const char *type_name(int t)
{
	switch (t) {
	case MM_CFG_STRING: return "a string";
	case MM_CFG_INT: return "an integer";
	case MM_CFG_BOOL: return "a boolean";
	case MM_CFG_LIST: return "a list of strings";
	case MM_CFG_DURATION: return "a duration string such as \"15m\"";
	default: return "?";
	}
}

/* Stores a parsed or command-line value into the global key k. */
static mm_err apply_key(mm_config *cfg, const struct key_desc *k, mm_config_item *it,
			struct parse *ps)
{
	char *base = (char *)cfg + k->off;
	char msg[160];

	if (k->type == MM_CFG_DURATION) {
		int64_t ms;

		if (it->type != MM_CFG_STRING || mm_time_parse_duration(it->str, &ms) != MM_OK) {
			snprintf(msg, sizeof(msg), "expected %s", type_name(k->type));
			return perr(ps, k->name, msg);
		}
		if (ms < k->min || ms > k->max) {
			snprintf(msg, sizeof(msg), "out of range (%llds to %llds)",
				 (long long)(k->min / 1000), (long long)(k->max / 1000));
			return perr(ps, k->name, msg);
		}
		*(int64_t *)base = ms;
		return MM_OK;
	}
	if (it->type != k->type) {
		snprintf(msg, sizeof(msg), "expected %s", type_name(k->type));
		return perr(ps, k->name, msg);
	}
	switch (k->type) {
	case MM_CFG_STRING:
		free(*(char **)base);
		*(char **)base = it->str;
		it->str = NULL;
		break;
	case MM_CFG_INT:
		if (it->num < k->min || it->num > k->max) {
			snprintf(msg, sizeof(msg), "out of range (%lld to %lld)",
				 (long long)k->min, (long long)k->max);
			return perr(ps, k->name, msg);
		}
		*(int64_t *)base = it->num;
		break;
	case MM_CFG_BOOL:
		*(bool *)base = it->num != 0;
		break;
	default:
		return MM_ERR_INTERNAL;
	}
	return MM_OK;
}

static const struct key_desc *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static mm_config_table *find_table(mm_config *cfg, const char *kind, const char *name)
{
	for (size_t i = 0; i < cfg->ntables; i++)
		if (strcmp(cfg->tables[i].kind, kind) == 0 && strcmp(cfg->tables[i].name, name) == 0)
			return &cfg->tables[i];
	return NULL;
}

static bool valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static mm_err add_table(mm_config *cfg, struct parse *ps, const char *kind, const char *name,
			mm_config_table **ret)
{
	mm_config_table *t;

	if (find_table(cfg, kind, name) != NULL)
		return perr(ps, NULL, "table defined twice");
	t = realloc(cfg->tables, (cfg->ntables + 1) * sizeof(*t));
	if (t == NULL)
		return MM_ERR_NOMEM;
	cfg->tables = t;
	t = &cfg->tables[cfg->ntables];
	memset(t, 0, sizeof(*t));
	t->kind = strdup(kind);
	t->name = strdup(name);
	t->line = ps->line;
	if (t->kind == NULL || t->name == NULL) {
		free(t->kind);
		free(t->name);
		return MM_ERR_NOMEM;
	}
	cfg->ntables++;
	*ret = t;
	return MM_OK;
}

static mm_err table_put(mm_config_table *t, struct parse *ps, mm_config_item *it)
{
	const struct table_key *tk = NULL;
	mm_config_item *items;
	char full[160];

	snprintf(full, sizeof(full), "%s.%s.%s", t->kind, t->name, it->key);
	for (size_t i = 0; i < sizeof(table_keys) / sizeof(table_keys[0]); i++)
		if (strcmp(table_keys[i].kind, t->kind) == 0 && strcmp(table_keys[i].key, it->key) == 0)
			tk = &table_keys[i];
	if (tk == NULL)
		return perr(ps, full, "unknown key");
	if (tk->type == MM_CFG_DURATION) {
		int64_t ms;

		if (it->type != MM_CFG_STRING || mm_time_parse_duration(it->str, &ms) != MM_OK)
			return perr(ps, full, "expected a duration string such as \"2h\"");
		it->type = MM_CFG_DURATION;
		it->num = ms;
	} else if (tk->type != it->type) {
		char msg[80];

		snprintf(msg, sizeof(msg), "expected %s", type_name(tk->type));
		return perr(ps, full, msg);
	}
	if (mm_config_table_get(t, it->key) != NULL)
		return perr(ps, full, "key set twice");
	items = realloc(t->items, (t->nitems + 1) * sizeof(*items));
	if (items == NULL)
		return MM_ERR_NOMEM;
	t->items = items;
	items[t->nitems++] = *it;
	memset(it, 0, sizeof(*it));
	return MM_OK;
}

const mm_config_item *mm_config_table_get(const mm_config_table *t, const char *key)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (strcmp(t->items[i].key, key) == 0)
			return &t->items[i];
	return NULL;
}

mm_err mm_config_load_string(mm_config *cfg, const char *name, const char *text)
{
	struct parse ps = { name, 0, NULL };
	char section[128] = "";
	mm_config_table *table = NULL;
	mm_config_item it;
	const char *line = text;
	mm_err rc = MM_OK;

	memset(&it, 0, sizeof(it));
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[4096], full[256];
		const char *ks;
		size_t klen;

		ps.line++;
		if (len >= sizeof(buf)) {
			rc = perr(&ps, NULL, "line too long");
			goto out;
		}
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = nl ? nl + 1 : NULL;
		ps.p = buf;
		if (at_end(&ps))
			continue;
		if (*ps.p == '[') {
			const char *end = strchr(ps.p, ']');
			char *dot;

			if (end == NULL || (size_t)(end - ps.p - 1) >= sizeof(section)) {
				rc = perr(&ps, NULL, "bad section header");
				goto out;
			}
			memcpy(section, ps.p + 1, (size_t)(end - ps.p - 1));
			section[end - ps.p - 1] = '\0';
			ps.p = end + 1;
			if (!at_end(&ps)) {
				rc = perr(&ps, NULL, "unexpected text after section header");
				goto out;
			}
			table = NULL;
			dot = strchr(section, '.');
			if (dot != NULL) {
				*dot = '\0';
				if ((strcmp(section, "role") != 0 && strcmp(section, "target") != 0 &&
				     strcmp(section, "policy") != 0) ||
				    !valid_name(dot + 1)) {
					*dot = '.';
					rc = perr(&ps, section, "unknown section");
					goto out;
				}
				if ((rc = add_table(cfg, &ps, section, dot + 1, &table)) != MM_OK)
					goto out;
				*dot = '.';
			} else {
				static const char *const known[] = { "log", "tls", "limits", "auth",
					"store", "audit", "seal", "identity", "notify", "access", "fisc" };
				bool ok = false;

				for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
					ok = ok || strcmp(section, known[i]) == 0;
				if (!ok) {
					rc = perr(&ps, section, "unknown section");
					goto out;
				}
			}
			continue;
		}
		ks = ps.p;
		while (isalnum((unsigned char)*ps.p) || *ps.p == '_')
			ps.p++;
		klen = (size_t)(ps.p - ks);
		skip_ws(&ps);
		if (klen == 0 || klen > 64 || *ps.p != '=') {
			rc = perr(&ps, NULL, "expected key = value");
			goto out;
		}
		ps.p++;
		it.key = strndup(ks, klen);
		if (it.key == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		if ((rc = parse_value(&ps, &it)) != MM_OK)
			goto out;
		if (table != NULL) {
			if ((rc = table_put(table, &ps, &it)) != MM_OK)
				goto out;
			continue;
		}
		if (section[0] != '\0')
			snprintf(full, sizeof(full), "%s.%s", section, it.key);
		else
			snprintf(full, sizeof(full), "%s", it.key);
		{
			const struct key_desc *k = find_key(full);

			if (k == NULL) {
				rc = perr(&ps, full, "unknown key");
				goto out;
			}
			if ((rc = apply_key(cfg, k, &it, &ps)) != MM_OK)
				goto out;
		}
		item_release(&it);
	}
out:
	item_release(&it);
	return rc;
}

mm_err mm_config_load_file(mm_config *cfg, const char *path)
{
	mm_buf b = MM_BUF_INIT(CONFIG_MAX_BYTES);
	char chunk[4096];
	FILE *f;
	size_t n;
	mm_err rc = MM_OK;

	f = fopen(path, "re");
	if (f == NULL)
		return mm_err_set(MM_ERR_IO, "cannot open config file %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if ((rc = mm_buf_append(&b, chunk, n)) != MM_OK) {
			rc = mm_err_set(MM_ERR_CONFIG, "%s: file larger than 1 MiB", path);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = mm_err_set(MM_ERR_IO, "cannot read %s", path);
		goto out;
	}
	if (memchr(mm_buf_str(&b), '\0', b.len) != NULL) {
		rc = mm_err_set(MM_ERR_CONFIG, "%s: contains a NUL byte", path);
		goto out;
	}
	rc = mm_config_load_string(cfg, path, mm_buf_str(&b));
out:
	fclose(f);
	mm_buf_release(&b);
	return rc;
}

mm_err mm_config_set(mm_config *cfg, const char *key, const char *value)
{
	const struct key_desc *k = find_key(key);
	struct parse ps = { "command line", 0, NULL };
	mm_config_item it;
	mm_err rc;

	if (k == NULL)
		return mm_err_set(MM_ERR_CONFIG, "command line: %s: unknown key", key);
	memset(&it, 0, sizeof(it));
	it.key = strdup(key);
	if (it.key == NULL)
		return MM_ERR_NOMEM;
	if (k->type == MM_CFG_STRING || k->type == MM_CFG_DURATION) {
		it.type = MM_CFG_STRING;
		it.str = strdup(value);
		if (it.str == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		rc = apply_key(cfg, k, &it, &ps);
	} else {
		char line[512];

		snprintf(line, sizeof(line), "%s", value);
		ps.p = line;
		if ((rc = parse_value(&ps, &it)) == MM_OK)
			rc = apply_key(cfg, k, &it, &ps);
	}
out:
	item_release(&it);
	return rc;
}

mm_err mm_config_validate(const mm_config *cfg)
{
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		return mm_err_set(MM_ERR_CONFIG, "tls.cert and tls.key must be set together");
	if (strcmp(cfg->sqlite_synchronous, "full") != 0 &&
	    strcmp(cfg->sqlite_synchronous, "normal") != 0)
		return mm_err_set(MM_ERR_CONFIG, "store.synchronous: expected \"full\" or \"normal\"");
	if (strchr(cfg->listen, ':') == NULL)
		return mm_err_set(MM_ERR_CONFIG, "listen: expected HOST:PORT");
	if (strchr(cfg->audit_origin, '\n') != NULL || cfg->audit_origin[0] == '\0')
		return mm_err_set(MM_ERR_CONFIG, "audit.origin: must be one non-empty line");
	return MM_OK;
}
