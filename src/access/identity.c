/*
 * identity.c: users, API tokens, the bootstrap token and role-based
 * permissions.
 *
 * Invariants:
 *  - tokens.hash is SHA-256(token) in hex; the token itself is never stored
 *    or logged. Authentication looks up by hash, so comparison time does not
 *    depend on how much of a guessed token is right.
 *  - At most one unrevoked bootstrap token exists, and only while no
 *    administrator exists; using it revokes it in the same transaction that
 *    creates the administrator (single use).
 *  - Every change is audited in its own store job (fail closed).
 */
#include "access/access.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"

const char *const mm_access_permissions[] = {
	"sys.read",          /* status beyond health, metrics */
	"self",              /* own profile, own tokens, logout */
	"user.read",
	"user.admin",
	"user.review",       /* record an account inventory review */
	"audit.read",
	"audit.write",       /* append application events */
	"audit.admin",       /* checkpoints on demand */
	"keys.read",
	"keys.admin",
	"keys.use",
	"sys.seal",
	"access.request",
	"access.approve",
	"access.read",
	"access.admin",
	"access.check",
	"fisc.read",
	"fisc.write",
	"fisc.approve",
	"risk.read",
	"risk.score",
	"risk.admin",
	NULL,
};

const char *const mm_access_builtin_roles[] = { "admin", "approver", "operator", "auditor", NULL };

/* Built-in role → permissions. admin holds every permission. */
static const char *const role_approver[] = { "self", "access.approve", "access.read",
	"access.check", "user.read", NULL };
static const char *const role_operator[] = { "self", "access.request", "access.read", NULL };
static const char *const role_auditor[] = { "self", "sys.read", "user.read", "audit.read",
	"keys.read", "access.read", "fisc.read", "risk.read", NULL };

struct custom_role {
	const char *name;
	const mm_config_item *perms;
};

struct mm_access {
	mm_store *store;
	const mm_config *cfg;
	struct custom_role *custom;
	size_t ncustom;
};

static const char *const steps[] = {
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" roles TEXT NOT NULL,"
	" disabled INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL)",
	"CREATE TABLE tokens ("
	" hash TEXT PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" user_id INTEGER REFERENCES users(id),"
	" kind TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX tokens_user ON tokens(user_id)",
};

const mm_migration_set mm_access_migrations = { "access", steps, sizeof(steps) / sizeof(steps[0]) };

bool mm_access_is_permission(const char *perm)
{
	for (size_t i = 0; mm_access_permissions[i] != NULL; i++)
		if (strcmp(mm_access_permissions[i], perm) == 0)
			return true;
	return false;
}

static const char *const *builtin_perms(const char *role)
{
	if (strcmp(role, "approver") == 0)
		return role_approver;
	if (strcmp(role, "operator") == 0)
		return role_operator;
	if (strcmp(role, "auditor") == 0)
		return role_auditor;
	return NULL;
}

bool mm_access_is_role(const mm_access *a, const char *name)
{
	for (size_t i = 0; mm_access_builtin_roles[i] != NULL; i++)
		if (strcmp(mm_access_builtin_roles[i], name) == 0)
			return true;
	for (size_t i = 0; i < a->ncustom; i++)
		if (strcmp(a->custom[i].name, name) == 0)
			return true;
	return false;
}

bool mm_access_role_permits(const mm_access *a, const char *role, const char *perm)
{
	const char *const *list;

	if (strcmp(role, "admin") == 0)
		return true;
	if ((list = builtin_perms(role)) != NULL) {
		for (size_t i = 0; list[i] != NULL; i++)
			if (strcmp(list[i], perm) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; i < a->ncustom; i++) {
		if (strcmp(a->custom[i].name, role) != 0 || a->custom[i].perms == NULL)
			continue;
		for (size_t j = 0; j < a->custom[i].perms->nlist; j++)
			if (strcmp(a->custom[i].perms->list[j], perm) == 0)
				return true;
	}
	return false;
}

bool mm_access_permits(const mm_access *a, const mm_principal *p, const char *perm)
{
	char roles[MM_ROLES_MAX + 1], *save = NULL, *r;

	if (p == NULL || p->kind != MM_PRINCIPAL_USER)
		return false;
	memcpy(roles, p->roles, sizeof(roles));
	for (r = strtok_r(roles, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
		if (mm_access_role_permits(a, r, perm))
			return true;
	return false;
}

mm_err mm_access_check_name(const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > MM_NAME_MAX || !isalnum((unsigned char)name[0]))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	return MM_OK;
bad:
	return mm_err_set(MM_ERR_INVALID,
			  "%s must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', "
			  "starting with a letter or digit", what);
}

mm_err mm_access_open(mm_store *store, const mm_config *cfg, mm_access **ret)
{
	mm_access *a = calloc(1, sizeof(*a));
	mm_err rc = MM_OK;

	if (a == NULL)
		return MM_ERR_NOMEM;
	a->store = store;
	a->cfg = cfg;
	for (size_t i = 0; i < cfg->ntables; i++) {
		const mm_config_table *t = &cfg->tables[i];
		struct custom_role *c;

		if (strcmp(t->kind, "role") != 0)
			continue;
		if (mm_access_is_role(a, t->name)) {
			rc = mm_err_set(MM_ERR_CONFIG, "line %d: role.%s: duplicates a built-in role",
					t->line, t->name);
			goto out;
		}
		c = realloc(a->custom, (a->ncustom + 1) * sizeof(*c));
		if (c == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		a->custom = c;
		c = &a->custom[a->ncustom++];
		c->name = t->name;
		c->perms = mm_config_table_get(t, "permissions");
		for (size_t j = 0; c->perms != NULL && j < c->perms->nlist; j++) {
			if (!mm_access_is_permission(c->perms->list[j])) {
				rc = mm_err_set(MM_ERR_CONFIG, "line %d: role.%s.permissions: unknown "
						"permission '%s'", c->perms->line, t->name,
						c->perms->list[j]);
				goto out;
			}
		}
	}
out:
	if (rc != MM_OK) {
		mm_access_free(a);
		return rc;
	}
	*ret = a;
	return MM_OK;
}

void mm_access_free(mm_access *a)
{
	if (a == NULL)
		return;
	free(a->custom);
	free(a);
}

mm_store *mm_access_store(mm_access *a)
{
	return a->store;
}

const mm_config *mm_access_config(const mm_access *a)
{
	return a->cfg;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

mm_err mm_access_authenticate(mm_access *a, const char *token, mm_principal *ret)
{
	static const char sql[] =
		"SELECT t.id, t.kind, t.expires_ms, t.revoked, u.id, u.name, u.roles, u.disabled"
		" FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?";
	char hash[MM_TOKEN_HASH_HEX];
	mm_principal p;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (token == NULL || strlen(token) < 16 || strlen(token) > 256)
		return mm_err_set(MM_ERR_UNAUTHENTICATED, "invalid or expired token");
	mm_token_hash(token, hash);
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, hash)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row || mm_stmt_int(st, 3) != 0 || mm_stmt_int(st, 2) <= mm_time_wall_ms()) {
		rc = mm_err_set(MM_ERR_UNAUTHENTICATED, "invalid or expired token");
		goto out;
	}
	memset(&p, 0, sizeof(p));
	copy_str(p.token_id, sizeof(p.token_id), mm_stmt_text(st, 0));
	p.expires_ms = mm_stmt_int(st, 2);
	if (strcmp(mm_stmt_text(st, 1), "bootstrap") == 0) {
		p.kind = MM_PRINCIPAL_BOOTSTRAP;
		copy_str(p.name, sizeof(p.name), "bootstrap");
	} else {
		if (mm_stmt_is_null(st, 4) || mm_stmt_int(st, 7) != 0) {
			rc = mm_err_set(MM_ERR_UNAUTHENTICATED, "invalid or expired token");
			goto out;
		}
		p.kind = MM_PRINCIPAL_USER;
		p.user_id = mm_stmt_int(st, 4);
		copy_str(p.name, sizeof(p.name), mm_stmt_text(st, 5));
		copy_str(p.roles, sizeof(p.roles), mm_stmt_text(st, 6));
	}
	*ret = p;
out:
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

mm_err mm_access_initialized(mm_access *a, bool *ret)
{
	static const char sql[] = "SELECT COUNT(*) FROM users";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = row && mm_stmt_int(st, 0) > 0;
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

/* Inserts a token row; token_hash/id computed from the fresh token. */
static mm_err insert_token(mm_db *db, const char *token, const char *id, int64_t user_id,
			   const char *kind, int64_t expires_ms)
{
	static const char sql[] =
		"INSERT INTO tokens (hash, id, user_id, kind, created_ms, expires_ms)"
		" VALUES (?, ?, ?, ?, ?, ?)";
	char hash[MM_TOKEN_HASH_HEX];
	mm_stmt *st;
	mm_err rc;

	mm_token_hash(token, hash);
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, hash)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, id)) == MM_OK &&
	    (rc = user_id ? mm_stmt_bind_int(st, 3, user_id) : mm_stmt_bind_null(st, 3)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, kind)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, mm_time_wall_ms())) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 6, expires_ms)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

/* A public token id: the first 16 hex characters of SHA-256(token) would
 * leak nothing either, but a separate random id keeps ids unlinkable. */
static mm_err new_token_id(char id[33])
{
	uint8_t raw[16];
	static const char hex[] = "0123456789abcdef";
	mm_err rc;

	if ((rc = mm_crypto_random(raw, sizeof(raw))) != MM_OK)
		return rc;
	for (int i = 0; i < 16; i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	id[32] = '\0';
	return MM_OK;
}

struct bootstrap_job {
	mm_access *a;
	const char *token;
	const char *id;
};

static mm_err bootstrap_job(mm_db *db, void *arg)
{
	static const char q_users[] = "SELECT COUNT(*) FROM users";
	static const char q_revoke[] =
		"UPDATE tokens SET revoked = 1 WHERE kind = 'bootstrap' AND revoked = 0";
	struct bootstrap_job *j = arg;
	mm_audit_event ev = { 0 };
	mm_stmt *st;
	bool row;
	int64_t n;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_users, &st)) != MM_OK)
		return rc;
	rc = mm_stmt_step(st, &row);
	n = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (n > 0)
		return mm_err_set(MM_ERR_CONFLICT, "mamori is already initialised");
	if ((rc = mm_db_prepare(db, q_revoke, &st)) != MM_OK)
		return rc;
	rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = insert_token(db, j->token, j->id, 0, "bootstrap",
			       mm_time_wall_ms() + j->a->cfg->bootstrap_ttl_ms)) != MM_OK)
		return rc;
	ev.actor = "system";
	ev.action = "sys.bootstrap_token.issue";
	ev.target = "token:bootstrap";
	ev.result = "success";
	return mm_audit_append(db, &ev, NULL);
}

mm_err mm_access_bootstrap_issue(mm_access *a, mm_buf *ret_token)
{
	mm_buf tok = MM_BUF_INIT(128);
	char id[33];
	struct bootstrap_job j;
	mm_err rc;

	if ((rc = mm_token_new("mmb_", &tok)) != MM_OK)
		goto out;
	if ((rc = new_token_id(id)) != MM_OK)
		goto out;
	j = (struct bootstrap_job){ a, mm_buf_str(&tok), id };
	if ((rc = mm_store_write(a->store, bootstrap_job, &j)) != MM_OK)
		goto out;
	rc = mm_buf_append(ret_token, tok.data, tok.len);
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

struct init_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const char *name;
	const char *token;
	const char *id;
};

static void fill_event(mm_audit_event *ev, const mm_access_ctx *ctx, const char *actor)
{
	ev->actor = actor;
	ev->source = ctx->source;
	ev->request_id = ctx->request_id;
}

static mm_err init_job(mm_db *db, void *arg)
{
	static const char q_use[] =
		"UPDATE tokens SET revoked = 1 WHERE id = ? AND kind = 'bootstrap' AND revoked = 0";
	static const char q_users[] = "SELECT COUNT(*) FROM users";
	static const char q_user[] =
		"INSERT INTO users (name, roles, created_ms) VALUES (?, 'admin', ?) RETURNING id";
	struct init_job *j = arg;
	mm_audit_event ev = { 0 };
	json_t *details = NULL;
	mm_stmt *st;
	int64_t uid = 0, n = 0;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_users, &st)) != MM_OK)
		return rc;
	rc = mm_stmt_step(st, &row);
	n = row ? mm_stmt_int(st, 0) : 0;
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (n > 0)
		return mm_err_set(MM_ERR_CONFLICT, "mamori is already initialised");
	if ((rc = mm_db_prepare(db, q_use, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->ctx->who->token_id)) == MM_OK)
		rc = mm_stmt_run(st);
	n = mm_db_changes(db);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (n != 1)
		return mm_err_set(MM_ERR_CONFLICT, "the bootstrap token was already used");
	if ((rc = mm_db_prepare(db, q_user, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, mm_time_wall_ms())) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK && row)
		uid = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = insert_token(db, j->token, j->id, uid, "api",
			       mm_time_wall_ms() + j->a->cfg->token_ttl_ms)) != MM_OK)
		return rc;
	details = json_pack("{s:s}", "roles", "admin");
	fill_event(&ev, j->ctx, "bootstrap");
	ev.action = "sys.init";
	ev.target = NULL;
	ev.result = "success";
	ev.details = details;
	{
		char target[MM_NAME_MAX + 8];

		snprintf(target, sizeof(target), "user:%s", j->name);
		ev.target = target;
		rc = mm_audit_append(db, &ev, NULL);
	}
	json_decref(details);
	return rc;
}

mm_err mm_access_init_admin(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    mm_buf *ret_token)
{
	mm_buf tok = MM_BUF_INIT(128);
	struct init_job j;
	char id[33];
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_BOOTSTRAP)
		return mm_err_set(MM_ERR_FORBIDDEN, "initialisation needs the bootstrap token");
	if ((rc = mm_access_check_name("user name", name)) != MM_OK)
		return rc;
	if ((rc = mm_token_new("mmt_", &tok)) != MM_OK)
		goto out;
	if ((rc = new_token_id(id)) != MM_OK)
		goto out;
	j = (struct init_job){ a, ctx, name, mm_buf_str(&tok), id };
	if ((rc = mm_store_write(a->store, init_job, &j)) != MM_OK)
		goto out;
	rc = mm_buf_append(ret_token, tok.data, tok.len);
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

struct token_job {
	const mm_access_ctx *ctx;
	const char *token;
	const char *id;
	int64_t expires_ms;
};

static mm_err token_job(mm_db *db, void *arg)
{
	struct token_job *j = arg;
	mm_audit_event ev = { 0 };
	char actor[MM_NAME_MAX + 8], target[48];
	mm_err rc;

	if ((rc = insert_token(db, j->token, j->id, j->ctx->who->user_id, "api",
			       j->expires_ms)) != MM_OK)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", j->ctx->who->name);
	snprintf(target, sizeof(target), "token:%s", j->id);
	fill_event(&ev, j->ctx, actor);
	ev.action = "token.create";
	ev.target = target;
	ev.result = "success";
	return mm_audit_append(db, &ev, NULL);
}

mm_err mm_access_token_create(mm_access *a, const mm_access_ctx *ctx, int64_t ttl_ms,
			      mm_buf *ret_token, char ret_id[33])
{
	mm_buf tok = MM_BUF_INIT(128);
	struct token_job j;
	char id[33];
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users can create tokens");
	if (ttl_ms < 0)
		return mm_err_set(MM_ERR_INVALID, "ttl must be positive");
	if (ttl_ms == 0 || ttl_ms > a->cfg->token_ttl_ms)
		ttl_ms = a->cfg->token_ttl_ms;
	if ((rc = mm_token_new("mmt_", &tok)) != MM_OK)
		goto out;
	if ((rc = new_token_id(id)) != MM_OK)
		goto out;
	j = (struct token_job){ ctx, mm_buf_str(&tok), id, mm_time_wall_ms() + ttl_ms };
	if ((rc = mm_store_write(a->store, token_job, &j)) != MM_OK)
		goto out;
	if ((rc = mm_buf_append(ret_token, tok.data, tok.len)) != MM_OK)
		goto out;
	memcpy(ret_id, id, sizeof(id));
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

static mm_err revoke_job(mm_db *db, void *arg)
{
	static const char sql[] = "UPDATE tokens SET revoked = 1 WHERE id = ?";
	const mm_access_ctx *ctx = arg;
	mm_audit_event ev = { 0 };
	char actor[MM_NAME_MAX + 8], target[48];
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, ctx->who->token_id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", ctx->who->name);
	snprintf(target, sizeof(target), "token:%s", ctx->who->token_id);
	fill_event(&ev, ctx, actor);
	ev.action = "token.revoke";
	ev.target = target;
	ev.result = "success";
	return mm_audit_append(db, &ev, NULL);
}

mm_err mm_access_token_revoke_self(mm_access *a, const mm_access_ctx *ctx)
{
	return mm_store_write(a->store, revoke_job, (void *)ctx);
}
