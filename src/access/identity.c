/*
 * identity.c: the module's schema, role-based permissions, token
 * authentication (API tokens, sessions, the bootstrap token), first-run
 * initialisation and API tokens.
 *
 * Invariants:
 *  - tokens.hash is SHA-256(token) in hex; the token itself is never stored
 *    or logged. Authentication looks up by hash, so comparison time does not
 *    depend on how much of a guessed token is right.
 *  - At most one unrevoked bootstrap token exists, and only while no
 *    administrator exists; using it revokes it in the same transaction that
 *    creates the administrator (single use).
 *  - Every change is audited in its own store job (fail closed). The one
 *    exception is a session's last-seen time (idle-timeout bookkeeping), which
 *    is written at most every SESSION_TOUCH_MS per session and not audited.
 *  - A session is valid while now < expires_ms (absolute timeout) and
 *    now - last_seen_ms < identity.session_idle.
 */
#include "access/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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
static const char *const role_auditor[] = { "self", "sys.read", "user.read", "user.review",
	"audit.read", "keys.read", "access.read", "fisc.read", "risk.read", NULL };

/* Permissions that approve, hold privileged access or administer: a role
 * with any of them requires TOTP. */
static const char *const mfa_perms[] = { "user.admin", "access.approve", "access.request",
	"access.admin", "keys.admin", "sys.seal", "audit.admin", "fisc.approve", "risk.admin",
	NULL };

#define SESSION_TOUCH_MS 30000

static mm_err cache_new(mm_access *a);
static void cache_free(mm_access *a);

static const char *const steps[] = {
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" roles TEXT NOT NULL,"
	" disabled INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL,"
	" password TEXT,"
	" password_changed_ms INTEGER,"
	" allow_cidrs TEXT NOT NULL DEFAULT '',"
	" mfa_secret BLOB,"
	" mfa_pending BLOB,"
	" mfa_enrolled_ms INTEGER,"
	" mfa_last_step INTEGER NOT NULL DEFAULT 0,"
	" failed_logins INTEGER NOT NULL DEFAULT 0,"
	" locked_until_ms INTEGER NOT NULL DEFAULT 0,"
	" last_login_ms INTEGER,"
	" last_login_source TEXT,"
	" disabled_ms INTEGER)",
	"CREATE TABLE tokens ("
	" hash TEXT PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" user_id INTEGER REFERENCES users(id),"
	" kind TEXT NOT NULL,"
	" scope TEXT NOT NULL DEFAULT 'full',"
	" mfa INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" last_seen_ms INTEGER NOT NULL DEFAULT 0,"
	" source TEXT,"
	" revoked INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX tokens_user ON tokens(user_id)",
	"CREATE TABLE recovery_codes ("
	" user_id INTEGER NOT NULL REFERENCES users(id),"
	" hash TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" used_ms INTEGER,"
	" PRIMARY KEY (user_id, hash))",
	"CREATE TABLE account_reviews ("
	" id INTEGER PRIMARY KEY,"
	" reviewer TEXT NOT NULL,"
	" reviewed_ms INTEGER NOT NULL,"
	" note TEXT NOT NULL,"
	" accounts INTEGER NOT NULL,"
	" dormant INTEGER NOT NULL,"
	" privileged INTEGER NOT NULL,"
	" without_mfa INTEGER NOT NULL)",
	"CREATE TABLE targets ("
	" name TEXT PRIMARY KEY,"
	" spec TEXT NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" updated_by TEXT NOT NULL)",
	"CREATE TABLE grants ("
	" id INTEGER PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id),"
	" user_name TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" role TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" ticket TEXT,"
	" state TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" review_by_ms INTEGER NOT NULL,"
	" start_ms INTEGER NOT NULL,"
	" end_ms INTEGER NOT NULL,"
	" approver_role TEXT NOT NULL,"
	" approvals_required INTEGER NOT NULL,"
	" report_required INTEGER NOT NULL,"
	" breakglass INTEGER NOT NULL DEFAULT 0,"
	" decided_ms INTEGER,"
	" decided_by TEXT,"
	" decision_note TEXT,"
	" closed_ms INTEGER,"
	" closed_by TEXT,"
	" close_reason TEXT,"
	" report_text TEXT,"
	" report_ms INTEGER,"
	" report_confirmed_by TEXT,"
	" report_confirmed_ms INTEGER)",
	"CREATE INDEX grants_state ON grants(state, end_ms)",
	"CREATE INDEX grants_user ON grants(user_id, target, state)",
	"CREATE TABLE grant_approvals ("
	" grant_id INTEGER NOT NULL REFERENCES grants(id),"
	" approver_id INTEGER NOT NULL,"
	" approver TEXT NOT NULL,"
	" approved_ms INTEGER NOT NULL,"
	" comment TEXT,"
	" PRIMARY KEY (grant_id, approver_id))",
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY,"
	" created_ms INTEGER NOT NULL,"
	" event TEXT NOT NULL,"
	" body TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_ms INTEGER NOT NULL,"
	" delivered_ms INTEGER,"
	" failed INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT)",
	"CREATE INDEX outbox_due ON outbox(delivered_ms, failed, next_ms)",
	/* For the access check (per request): the caller's grants on one target
	 * by end time, covering every column the check reads. Without it SQLite
	 * picked grants_state, which walks every user's active grants and sorts
	 * them, and built a temporary table for the state list on every check. */
	"CREATE INDEX grants_check ON grants(user_id, target, end_ms, state, start_ms, role,"
	" breakglass)",
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

static bool is_builtin(const char *name)
{
	for (size_t i = 0; mm_access_builtin_roles[i] != NULL; i++)
		if (strcmp(mm_access_builtin_roles[i], name) == 0)
			return true;
	return false;
}

const struct custom_role *mm_access_role_entry(const mm_access *a, const char *role)
{
	for (size_t i = 0; i < a->ncustom; i++)
		if (strcmp(a->custom[i].name, role) == 0)
			return &a->custom[i];
	return NULL;
}

bool mm_access_is_role(const mm_access *a, const char *name)
{
	return is_builtin(name) || mm_access_role_entry(a, name) != NULL;
}

bool mm_access_role_permits(const mm_access *a, const char *role, const char *perm)
{
	const char *const *list;
	const struct custom_role *c;

	if (strcmp(role, "admin") == 0)
		return true;
	if ((list = builtin_perms(role)) != NULL) {
		for (size_t i = 0; list[i] != NULL; i++)
			if (strcmp(list[i], perm) == 0)
				return true;
		return false;
	}
	if ((c = mm_access_role_entry(a, role)) == NULL || c->perms == NULL)
		return false;
	for (size_t j = 0; j < c->perms->nlist; j++)
		if (strcmp(c->perms->list[j], perm) == 0)
			return true;
	return false;
}

bool mm_access_permits(const mm_access *a, const mm_principal *p, const char *perm)
{
	char roles[MM_ROLES_MAX + 1], *save = NULL, *r;

	if (p == NULL || p->kind != MM_PRINCIPAL_USER || p->restricted)
		return false;
	memcpy(roles, p->roles, sizeof(roles));
	for (r = strtok_r(roles, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
		if (mm_access_role_permits(a, r, perm))
			return true;
	return false;
}

bool mm_access_role_is_privileged(const mm_access *a, const char *role)
{
	const struct custom_role *c = mm_access_role_entry(a, role);

	return strcmp(role, "admin") == 0 || (c != NULL && !c->builtin && c->privileged);
}

bool mm_access_role_requires_mfa(const mm_access *a, const char *role)
{
	if (mm_access_role_is_privileged(a, role))
		return true;
	for (size_t i = 0; mfa_perms[i] != NULL; i++)
		if (mm_access_role_permits(a, role, mfa_perms[i]))
			return true;
	return false;
}

bool mm_access_roles_require_mfa(const mm_access *a, const char *roles)
{
	char buf[MM_ROLES_MAX + 1], *save = NULL, *r;

	mm_str_copy(buf, sizeof(buf), roles);
	for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
		if (mm_access_role_requires_mfa(a, r))
			return true;
	return false;
}

bool mm_access_role_assignable(mm_access *a, const char *role)
{
	return mm_access_is_role(a, role) && !mm_targets_role_is_target_role(a, role);
}

mm_err mm_access_roles_canon(mm_access *a, const json_t *arr, mm_buf *out)
{
	size_t i, n = 0;
	json_t *v;
	mm_err rc;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return mm_err_set(MM_ERR_INVALID, "field 'roles': expected a non-empty list of role "
				  "names");
	json_array_foreach(arr, i, v) {
		const char *r = json_string_value(v);
		bool dup = false;

		if (r == NULL || mm_access_check_name("role", r) != MM_OK)
			return mm_err_set(MM_ERR_INVALID, "field 'roles': entry %zu is not a role name",
					  i);
		if (mm_targets_role_is_target_role(a, r))
			return mm_err_set(MM_ERR_INVALID, "role '%s' is granted only just-in-time "
					  "through an access request", r);
		if (!mm_access_is_role(a, r))
			return mm_err_set(MM_ERR_INVALID, "unknown role '%s'", r);
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(json_string_value(json_array_get(arr, j)), r) == 0;
		if (dup)
			continue;
		if ((rc = mm_buf_appendf(out, "%s%s", n++ ? "," : "", r)) != MM_OK)
			return rc == MM_ERR_LIMIT ? mm_err_set(MM_ERR_INVALID, "too many roles") : rc;
	}
	if (out->len > MM_ROLES_MAX)
		return mm_err_set(MM_ERR_INVALID, "too many roles");
	return MM_OK;
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

static mm_err add_role_table(mm_access *a, const mm_config_table *t)
{
	const mm_config_item *perms = mm_config_table_get(t, "permissions");
	const mm_config_item *priv = mm_config_table_get(t, "privileged");
	const mm_config_item *cidrs = mm_config_table_get(t, "allow_cidrs");
	struct custom_role *c;
	bool builtin = is_builtin(t->name);
	mm_err rc;

	if (mm_access_check_name("role name", t->name) != MM_OK)
		return mm_err_set(MM_ERR_CONFIG, "line %d: role.%s: role names are lowercase "
				  "letters, digits, '.', '_' and '-'", t->line, t->name);
	if (builtin && (perms != NULL || priv != NULL))
		return mm_err_set(MM_ERR_CONFIG, "line %d: role.%s: a built-in role's permissions "
				  "cannot be changed (only allow_cidrs)", t->line, t->name);
	c = realloc(a->custom, (a->ncustom + 1) * sizeof(*c));
	if (c == NULL)
		return MM_ERR_NOMEM;
	a->custom = c;
	c = &a->custom[a->ncustom++];
	memset(c, 0, sizeof(*c));
	c->name = t->name;
	c->perms = perms;
	c->builtin = builtin;
	c->privileged = priv != NULL && priv->num != 0;
	for (size_t j = 0; perms != NULL && j < perms->nlist; j++)
		if (!mm_access_is_permission(perms->list[j]))
			return mm_err_set(MM_ERR_CONFIG, "line %d: role.%s.permissions: unknown "
					  "permission '%s'", perms->line, t->name, perms->list[j]);
	if (cidrs != NULL) {
		mm_buf text = MM_BUF_INIT(1 << 16);

		c->cidrs = calloc(1, sizeof(*c->cidrs));
		if (c->cidrs == NULL)
			return MM_ERR_NOMEM;
		for (size_t j = 0; j < cidrs->nlist; j++) {
			if ((rc = mm_buf_appendf(&text, "%s%s", j ? "," : "", cidrs->list[j])) != MM_OK)
				break;
		}
		rc = mm_cidr_list_parse(mm_buf_str(&text), c->cidrs);
		mm_buf_release(&text);
		if (rc != MM_OK)
			return mm_err_set(MM_ERR_CONFIG, "line %d: role.%s.allow_cidrs: %s", cidrs->line,
					  t->name, mm_err_detail(rc));
	}
	return MM_OK;
}

mm_err mm_access_open(mm_store *store, const mm_config *cfg, mm_access **ret)
{
	mm_access *a = calloc(1, sizeof(*a));
	mm_buf dummy = MM_BUF_INIT(MM_PHC_MAX);
	uint8_t rnd[32];
	char pw[65];
	mm_err rc = MM_OK;

	if (a == NULL)
		return MM_ERR_NOMEM;
	a->store = store;
	a->cfg = cfg;
	pthread_rwlock_init(&a->tlock, NULL);
	for (size_t i = 0; i < cfg->ntables; i++) {
		const mm_config_table *t = &cfg->tables[i];

		if (strcmp(t->kind, "role") == 0 && (rc = add_role_table(a, t)) != MM_OK)
			goto out;
	}
	if ((rc = mm_password_policy_new(cfg->password_list, &a->pw)) != MM_OK)
		goto out;
	if ((rc = mm_throttle_new(1 << 16, &a->throttle)) != MM_OK)
		goto out;
	if ((rc = cache_new(a)) != MM_OK)
		goto out;
	/* The dummy hash that unknown users are verified against: same
	 * parameters as real ones, so the time taken does not tell them apart. */
	if ((rc = mm_crypto_random(rnd, sizeof(rnd))) != MM_OK)
		goto out;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	rc = mm_password_hash(pw, &dummy);
	mm_crypto_wipe(pw, sizeof(pw));
	mm_crypto_wipe(rnd, sizeof(rnd));
	if (rc != MM_OK)
		goto out;
	mm_str_copy(a->dummy_phc, sizeof(a->dummy_phc), mm_buf_str(&dummy));
	if ((rc = mm_targets_open(a)) != MM_OK)
		goto out;
	if (cfg->breakglass_user != NULL &&
	    (rc = mm_access_check_name("access.breakglass_user", cfg->breakglass_user)) != MM_OK) {
		rc = mm_err_set(MM_ERR_CONFIG, "%s", mm_err_detail(rc));
		goto out;
	}
	if ((rc = mm_notifier_start(a)) != MM_OK)
		goto out;
out:
	mm_buf_release(&dummy);
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
	mm_notifier_stop(a);
	mm_targets_free(a);
	for (size_t i = 0; i < a->ncustom; i++)
		free(a->custom[i].cidrs);
	free(a->custom);
	mm_password_policy_free(a->pw);
	mm_throttle_free(a->throttle);
	cache_free(a);
	pthread_rwlock_destroy(&a->tlock);
	free(a);
}

void mm_access_set_sealer(mm_access *a, const mm_access_sealer *s)
{
	a->sealer = *s;
	a->have_sealer = s->wrap != NULL && s->unwrap != NULL;
}

bool mm_access_mfa_enforced(const mm_access *a)
{
	return a->have_sealer && (a->sealer.available == NULL || a->sealer.available(a->sealer.ctx));
}

mm_store *mm_access_store(mm_access *a)
{
	return a->store;
}

const mm_config *mm_access_config(const mm_access *a)
{
	return a->cfg;
}

void mm_access_event(mm_audit_event *ev, const mm_access_ctx *ctx, char *actor,
		     const char *action, const char *target, const char *result)
{
	const mm_principal *p = ctx->who;

	if (p == NULL || p->kind == MM_PRINCIPAL_NONE)
		snprintf(actor, MM_NAME_MAX + 8, "anonymous");
	else if (p->kind == MM_PRINCIPAL_BOOTSTRAP)
		snprintf(actor, MM_NAME_MAX + 8, "bootstrap");
	else
		snprintf(actor, MM_NAME_MAX + 8, "user:%s", p->name);
	memset(ev, 0, sizeof(*ev));
	ev->actor = actor;
	ev->source = ctx->source;
	ev->request_id = ctx->request_id;
	ev->action = action;
	ev->target = target;
	ev->result = result;
}

mm_err mm_access_query_int(mm_db *db, const char *sql, const char *text, int64_t num,
			   bool *ret_found, int64_t *ret)
{
	mm_stmt *st;
	bool row = false;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if (strchr(sql, '?') == NULL)
		rc = MM_OK; /* no parameter */
	else
		rc = text ? mm_stmt_bind_text(st, 1, text) : mm_stmt_bind_int(st, 1, num);
	if (rc == MM_OK)
		rc = mm_stmt_step(st, &row);
	if (rc == MM_OK && row && ret != NULL)
		*ret = mm_stmt_int(st, 0);
	if (ret_found != NULL)
		*ret_found = row;
	mm_stmt_done(st);
	return rc;
}

/* ---- authentication ---- */

struct touch {
	char id[33];
	int64_t now;
};

static mm_err touch_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"UPDATE tokens SET last_seen_ms = ? WHERE id = ? AND last_seen_ms < ?";
	struct touch *t = arg;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, t->now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, t->id)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, t->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

static void touch_done(mm_err rc, const char *detail, void *arg)
{
	(void)rc;
	(void)detail;
	free(arg);
}

static bool any_role_cidrs(const mm_access *a)
{
	for (size_t i = 0; i < a->ncustom; i++)
		if (a->custom[i].cidrs != NULL && a->custom[i].cidrs->n > 0)
			return true;
	return false;
}

/* Keeps the roles whose allowlist admits source. */
static void effective_roles(const mm_access *a, const char *roles, const char *source,
			    char *out, size_t cap)
{
	char buf[MM_ROLES_MAX + 1], *save = NULL, *r;
	mm_ip ip;
	bool ip_ok;
	size_t used = 0;

	/* Runs for every request: without role allowlists (the usual case)
	 * the stored list, canonical already, is the answer. */
	if (!any_role_cidrs(a)) {
		mm_str_copy(out, cap, roles);
		return;
	}
	ip_ok = mm_ip_parse(source, &ip) == MM_OK;
	out[0] = '\0';
	mm_str_copy(buf, sizeof(buf), roles);
	for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save)) {
		const struct custom_role *c = mm_access_role_entry(a, r);

		if (c != NULL && c->cidrs != NULL && c->cidrs->n > 0 &&
		    !(ip_ok && mm_cidr_list_allows(c->cidrs, &ip)))
			continue;
		used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", r);
		if (used >= cap) {
			out[cap - 1] = '\0';
			break;
		}
	}
}

/*
 * Authentication cache: valid tokens resolved recently, keyed by their
 * SHA-256, so a busy client does not cost a database read per request.
 * Correctness rests on the generation: every write that changes users or
 * tokens bumps a->auth_gen after its commit (mm_access_write_auth), and an
 * entry is used only while its generation (read *before* the database read
 * that filled it) is current. Timeouts are evaluated on every use; the
 * session's last-seen time is kept in the entry.
 */
#define CACHE_SLOTS 4096
#define CACHE_STRIPES 16
#define CACHE_CIDRS 512

struct auth_entry {
	char hash[MM_TOKEN_HASH_HEX];
	uint64_t gen;
	bool used;
	bool session, full, mfa;
	char token_id[33];
	int64_t expires_ms, last_seen_ms;
	int64_t user_id;
	char name[MM_NAME_MAX + 1];
	char roles[MM_ROLES_MAX + 1];
	char cidrs[CACHE_CIDRS];
};

struct auth_cache {
	pthread_mutex_t mu[CACHE_STRIPES];
	struct auth_entry e[CACHE_SLOTS];
};

static mm_err cache_new(mm_access *a)
{
	struct auth_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return MM_ERR_NOMEM;
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	a->cache = c;
	return MM_OK;
}

static void cache_free(mm_access *a)
{
	if (a->cache == NULL)
		return;
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&a->cache->mu[i]);
	mm_crypto_wipe(a->cache, sizeof(*a->cache));
	free(a->cache);
	a->cache = NULL;
}

/* The slot of a token: the first 32 bits of its SHA-256 (hex). */
static size_t cache_slot(const char *hash)
{
	uint32_t v = 0;

	for (int i = 0; i < 8; i++) {
		char c = hash[i];

		v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v % CACHE_SLOTS;
}

mm_err mm_access_write_auth(mm_access *a, mm_store_job_fn fn, void *arg)
{
	mm_err rc = mm_store_write(a->store, fn, arg);

	/* After the commit (or the failure), before the caller replies. */
	__atomic_add_fetch(&a->auth_gen, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static void build_principal(mm_access *a, const struct auth_entry *e, const char *source,
			    mm_principal *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = MM_PRINCIPAL_USER;
	p->user_id = e->user_id;
	memcpy(p->name, e->name, sizeof(p->name));
	memcpy(p->token_id, e->token_id, sizeof(p->token_id));
	p->expires_ms = e->expires_ms;
	effective_roles(a, e->roles, source, p->roles, sizeof(p->roles));
	p->session = e->session;
	p->mfa = e->mfa;
	p->restricted = !e->full || (!p->mfa && mm_access_roles_require_mfa(a, p->roles) &&
				     mm_access_mfa_enforced(a));
}

/* Checks timeouts and the user's allowlist for entry e at now; decides
 * whether the session's last-seen time is due for a write. */
static bool entry_valid(mm_access *a, struct auth_entry *e, const char *source, int64_t now,
			bool *touch)
{
	*touch = false;
	if (e->expires_ms <= now)
		return false;
	if (e->cidrs[0] != '\0' && !mm_cidr_text_allows(e->cidrs, source))
		return false;
	if (e->session) {
		if (now - e->last_seen_ms >= a->cfg->session_idle_ms)
			return false;
		if (now - e->last_seen_ms >= SESSION_TOUCH_MS) {
			*touch = true;
			e->last_seen_ms = now;
		}
	}
	return true;
}

static void queue_touch(mm_access *a, const char *token_id, int64_t now)
{
	struct touch *t = malloc(sizeof(*t));

	if (t == NULL)
		return;
	memcpy(t->id, token_id, sizeof(t->id));
	t->now = now;
	if (mm_store_write_async(a->store, touch_job, t, touch_done, t) != MM_OK)
		free(t);
}

mm_err mm_access_authenticate(mm_access *a, const char *token, const char *source,
			      mm_principal *ret)
{
	static const char sql[] =
		"SELECT t.id, t.kind, t.expires_ms, t.revoked, u.id, u.name, u.roles, u.disabled,"
		" t.scope, t.mfa, t.last_seen_ms, u.allow_cidrs"
		" FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?";
	char hash[MM_TOKEN_HASH_HEX];
	struct auth_entry e, *slot;
	pthread_mutex_t *mu;
	mm_principal p;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	int64_t now = mm_time_wall_ms();
	uint64_t gen;
	size_t idx;
	bool row, touch = false, hit = false, ok = false;
	mm_err rc = MM_OK;

	if (token == NULL || strlen(token) < 16 || strlen(token) > 256)
		return mm_err_set(MM_ERR_UNAUTHENTICATED, "invalid or expired token");
	mm_token_hash(token, hash);
	idx = cache_slot(hash);
	slot = &a->cache->e[idx];
	mu = &a->cache->mu[idx % CACHE_STRIPES];

	/* The generation is read before anything else, cached or not. */
	gen = __atomic_load_n(&a->auth_gen, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(mu);
	if (slot->used && slot->gen == gen && strcmp(slot->hash, hash) == 0) {
		hit = true;
		ok = entry_valid(a, slot, source, now, &touch);
		if (ok)
			build_principal(a, slot, source, &p);
	}
	pthread_mutex_unlock(mu);
	if (hit) {
		if (!ok)
			goto deny;
		goto done;
	}

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, hash)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row || mm_stmt_int(st, 3) != 0 || mm_stmt_int(st, 2) <= now)
		goto deny;
	if (strcmp(mm_stmt_text(st, 1), "bootstrap") == 0) {
		/* Used once, never cached. */
		memset(&p, 0, sizeof(p));
		p.kind = MM_PRINCIPAL_BOOTSTRAP;
		mm_str_copy(p.token_id, sizeof(p.token_id), mm_stmt_text(st, 0));
		mm_str_copy(p.name, sizeof(p.name), "bootstrap");
		p.expires_ms = mm_stmt_int(st, 2);
		goto done;
	}
	if (mm_stmt_is_null(st, 4) || mm_stmt_int(st, 7) != 0)
		goto deny;
	memset(&e, 0, sizeof(e));
	memcpy(e.hash, hash, sizeof(e.hash));
	e.gen = gen;
	e.used = true;
	e.session = strcmp(mm_stmt_text(st, 1), "session") == 0;
	e.full = strcmp(mm_stmt_text(st, 8), "full") == 0;
	e.mfa = mm_stmt_int(st, 9) != 0;
	mm_str_copy(e.token_id, sizeof(e.token_id), mm_stmt_text(st, 0));
	e.expires_ms = mm_stmt_int(st, 2);
	e.last_seen_ms = mm_stmt_int(st, 10);
	e.user_id = mm_stmt_int(st, 4);
	mm_str_copy(e.name, sizeof(e.name), mm_stmt_text(st, 5));
	mm_str_copy(e.roles, sizeof(e.roles), mm_stmt_text(st, 6));
	{
		const char *cidrs = mm_stmt_text(st, 11);
		size_t n = cidrs ? strlen(cidrs) : 0;

		if (n >= sizeof(e.cidrs)) {
			/* Too long to cache: check it here, do not cache. */
			e.used = false;
			if (!mm_cidr_text_allows(cidrs, source))
				goto deny;
		} else {
			memcpy(e.cidrs, cidrs ? cidrs : "", n + 1);
		}
	}
	if (!entry_valid(a, &e, source, now, &touch))
		goto deny;
	build_principal(a, &e, source, &p);
	if (e.used) {
		pthread_mutex_lock(mu);
		*slot = e;
		pthread_mutex_unlock(mu);
	}
	mm_crypto_wipe(&e, sizeof(e));
	goto done;
deny:
	rc = mm_err_set(MM_ERR_UNAUTHENTICATED, "invalid or expired token");
	goto out;
done:
	*ret = p;
out:
	mm_stmt_done(st);
	if (db != NULL)
		mm_store_release(a->store, db);
	if (rc == MM_OK && touch)
		queue_touch(a, ret->token_id, now);
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

mm_err mm_access_insert_token(mm_db *db, const char *token, const char *id, int64_t user_id,
			      const char *kind, const char *scope, bool mfa, int64_t expires_ms,
			      const char *source)
{
	static const char sql[] =
		"INSERT INTO tokens (hash, id, user_id, kind, scope, mfa, created_ms, expires_ms,"
		" last_seen_ms, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	char hash[MM_TOKEN_HASH_HEX];
	int64_t now = mm_time_wall_ms();
	mm_stmt *st;
	mm_err rc;

	mm_token_hash(token, hash);
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, hash)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, id)) == MM_OK &&
	    (rc = user_id ? mm_stmt_bind_int(st, 3, user_id) : mm_stmt_bind_null(st, 3)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, kind)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 5, scope)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 6, mfa ? 1 : 0)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 7, now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 8, expires_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 9, now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 10, source)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

mm_err mm_access_revoke_user_tokens(mm_db *db, int64_t user_id)
{
	static const char sql[] = "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0";
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, user_id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

/* A public token id: a separate random id keeps ids unlinkable to tokens. */
mm_err mm_access_new_token_id(char id[33])
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
	int64_t n = 0;
	mm_err rc;

	if ((rc = mm_access_query_int(db, q_users, NULL, 0, NULL, &n)) != MM_OK)
		return rc;
	if (n > 0)
		return mm_err_set(MM_ERR_CONFLICT, "mamori is already initialised");
	if ((rc = mm_db_prepare(db, q_revoke, &st)) != MM_OK)
		return rc;
	rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = mm_access_insert_token(db, j->token, j->id, 0, "bootstrap", "full", false,
					 mm_time_wall_ms() + j->a->cfg->bootstrap_ttl_ms,
					 NULL)) != MM_OK)
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
	if ((rc = mm_access_new_token_id(id)) != MM_OK)
		goto out;
	j = (struct bootstrap_job){ a, mm_buf_str(&tok), id };
	if ((rc = mm_access_write_auth(a, bootstrap_job, &j)) != MM_OK)
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
	const char *phc;
	const char *token;
	const char *id;
};

static mm_err init_job(mm_db *db, void *arg)
{
	static const char q_use[] =
		"UPDATE tokens SET revoked = 1 WHERE id = ? AND kind = 'bootstrap' AND revoked = 0";
	static const char q_users[] = "SELECT COUNT(*) FROM users";
	static const char q_user[] =
		"INSERT INTO users (name, roles, created_ms, password, password_changed_ms)"
		" VALUES (?, 'admin', ?, ?, ?) RETURNING id";
	struct init_job *j = arg;
	mm_audit_event ev;
	json_t *details = NULL;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	int64_t uid = 0, n = 0, now = mm_time_wall_ms();
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_access_query_int(db, q_users, NULL, 0, NULL, &n)) != MM_OK)
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
	    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 3, j->phc)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, now)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK && row)
		uid = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	/* Restricted to TOTP enrolment while the seal is initialised and no
	 * code confirmed it (computed at each authentication). */
	if ((rc = mm_access_insert_token(db, j->token, j->id, uid, "session", "full", false,
					 now + j->a->cfg->session_absolute_ms,
					 j->ctx->source)) != MM_OK)
		return rc;
	details = json_pack("{s:s}", "roles", "admin");
	snprintf(target, sizeof(target), "user:%s", j->name);
	mm_access_event(&ev, j->ctx, actor, "sys.init", target, "success");
	ev.details = details;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(details);
	return rc;
}

mm_err mm_access_init_admin(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    const char *password, mm_buf *ret_token)
{
	mm_buf tok = MM_BUF_INIT(128), phc = MM_BUF_INIT(MM_PHC_MAX);
	struct init_job j;
	char id[33];
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_BOOTSTRAP)
		return mm_err_set(MM_ERR_FORBIDDEN, "initialisation needs the bootstrap token");
	if ((rc = mm_access_check_name("user name", name)) != MM_OK)
		return rc;
	if ((rc = mm_password_check(a->pw, password, name, true)) != MM_OK)
		return rc;
	if ((rc = mm_password_hash(password, &phc)) != MM_OK)
		goto out;
	if ((rc = mm_token_new("mms_", &tok)) != MM_OK)
		goto out;
	if ((rc = mm_access_new_token_id(id)) != MM_OK)
		goto out;
	j = (struct init_job){ a, ctx, name, mm_buf_str(&phc), mm_buf_str(&tok), id };
	if ((rc = mm_access_write_auth(a, init_job, &j)) != MM_OK)
		goto out;
	rc = mm_buf_append(ret_token, tok.data, tok.len);
out:
	mm_buf_wipe_release(&tok);
	mm_buf_release(&phc);
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
	mm_audit_event ev;
	char actor[MM_NAME_MAX + 8], target[48];
	mm_err rc;

	if ((rc = mm_access_insert_token(db, j->token, j->id, j->ctx->who->user_id, "api", "full",
					 j->ctx->who->mfa, j->expires_ms, j->ctx->source)) != MM_OK)
		return rc;
	snprintf(target, sizeof(target), "token:%s", j->id);
	mm_access_event(&ev, j->ctx, actor, "token.create", target, "success");
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
	if (ctx->who->restricted)
		return mm_err_set(MM_ERR_FORBIDDEN, "enrol a TOTP authenticator first");
	if (ttl_ms < 0)
		return mm_err_set(MM_ERR_INVALID, "ttl must be positive");
	if (ttl_ms == 0 || ttl_ms > a->cfg->token_ttl_ms)
		ttl_ms = a->cfg->token_ttl_ms;
	if ((rc = mm_token_new("mmt_", &tok)) != MM_OK)
		goto out;
	if ((rc = mm_access_new_token_id(id)) != MM_OK)
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
	mm_audit_event ev;
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
	snprintf(target, sizeof(target), "token:%s", ctx->who->token_id);
	mm_access_event(&ev, ctx, actor, ctx->who->session ? "auth.logout" : "token.revoke",
			target, "success");
	return mm_audit_append(db, &ev, NULL);
}

mm_err mm_access_token_revoke_self(mm_access *a, const mm_access_ctx *ctx)
{
	return mm_access_write_auth(a, revoke_job, (void *)ctx);
}

void mm_access_banner(mm_access *a, FILE *f)
{
	if (!a->have_sealer)
		fprintf(f, "Warning: no sealer for TOTP secrets: TOTP enrolment and sign-in with a "
			"second factor are unavailable.\n");
	if (a->cfg->breakglass_user != NULL)
		fprintf(f, "Break-glass account: %s (every use is audited and notified).\n",
			a->cfg->breakglass_user);
}
