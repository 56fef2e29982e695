/*
 * users.c: user administration and the account inventory (棚卸).
 *
 * Invariants:
 *  - At least one enabled administrator always remains: disabling or
 *    demoting the last one is refused inside the write job.
 *  - Disabling a user revokes every session and token of the user in the
 *    same job, so nothing they hold works after the reply.
 *  - Roles named by a target policy are never assigned directly (a
 *    privileged role on a target is only ever held through a grant).
 *  - User JSON never contains password hashes, TOTP secrets or codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "core/time.h"
#include "crypto/crypto.h"

#define DAY_MS (86400LL * 1000)

#define USER_COLS                                                                          \
	"id, name, roles, disabled, created_ms, mfa_secret IS NOT NULL,"                   \
	" mfa_pending IS NOT NULL, mfa_enrolled_ms, last_login_ms, last_login_source,"     \
	" password_changed_ms, allow_cidrs, locked_until_ms, failed_logins, disabled_ms"

static json_t *time_or_null(mm_stmt *st, int col)
{
	char t[MM_TIME_RFC3339_LEN];

	if (mm_stmt_is_null(st, col) || mm_stmt_int(st, col) == 0)
		return json_null();
	mm_time_format(mm_stmt_int(st, col), t);
	return json_string(t);
}

static json_t *split_list(const char *s)
{
	json_t *arr = json_array();
	char buf[4096], *save = NULL, *r;

	if (arr == NULL)
		return NULL;
	mm_str_copy(buf, sizeof(buf), s);
	for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(r));
	return arr;
}

static bool any_privileged(const mm_access *a, const char *roles)
{
	char buf[MM_ROLES_MAX + 1], *save = NULL, *r;

	mm_str_copy(buf, sizeof(buf), roles);
	for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
		if (mm_access_role_is_privileged(a, r))
			return true;
	return false;
}

/* Renders the USER_COLS row. */
static json_t *user_json(mm_access *a, mm_stmt *st)
{
	const char *roles = mm_stmt_text(st, 2);
	bool active = mm_stmt_int(st, 5) != 0, pending = mm_stmt_int(st, 6) != 0;
	int64_t now = mm_time_wall_ms();
	const char *bg = a->cfg->breakglass_user;
	json_t *u;

	u = json_pack("{s:s,s:o,s:b,s:o,s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:b}",
		      "name", mm_stmt_text(st, 1),
		      "roles", split_list(roles),
		      "disabled", mm_stmt_int(st, 3) != 0,
		      "created", time_or_null(st, 4),
		      "mfa", active ? "active" : pending ? "pending" : "none",
		      "mfa_required", mm_access_roles_require_mfa(a, roles),
		      "mfa_enrolled", time_or_null(st, 7),
		      "last_login", time_or_null(st, 8),
		      "last_login_source", mm_stmt_is_null(st, 9) ? json_null()
								 : json_string(mm_stmt_text(st, 9)),
		      "password_changed", time_or_null(st, 10),
		      "allow_cidrs", split_list(mm_stmt_text(st, 11)),
		      "failed_logins", (json_int_t)mm_stmt_int(st, 13),
		      "disabled_at", time_or_null(st, 14),
		      "breakglass", bg != NULL && strcmp(bg, mm_stmt_text(st, 1)) == 0);
	if (u != NULL && mm_stmt_int(st, 12) > now)
		json_object_set_new(u, "locked_until", time_or_null(st, 12));
	return u;
}

mm_err mm_access_user_get(mm_access *a, const char *name, json_t **ret)
{
	static const char sql[] = "SELECT " USER_COLS " FROM users WHERE name = ?";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	json_t *u = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, name)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no user '%.64s'", name);
		goto out;
	}
	if ((u = user_json(a, st)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	{
		int64_t uid = mm_stmt_int(st, 0);
		json_t *g = NULL;

		mm_stmt_done(st);
		st = NULL;
		if ((rc = mm_grants_active_json(a, db, uid, &g)) != MM_OK)
			goto out;
		json_object_set_new(u, "active_grants", g);
	}
	*ret = u;
	u = NULL;
out:
	json_decref(u);
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

mm_err mm_access_user_list(mm_access *a, json_t **ret)
{
	static const char sql[] = "SELECT " USER_COLS " FROM users ORDER BY name";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	json_t *arr = json_array();
	bool row;
	mm_err rc;

	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		if (json_array_append_new(arr, user_json(a, st)) != 0) {
			rc = MM_ERR_NOMEM;
			break;
		}
	}
	if (rc != MM_OK)
		goto out;
	*ret = json_pack("{s:O}", "users", arr);
	if (*ret == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(arr);
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

/* JSON array of CIDR strings → canonical comma-separated text. */
static mm_err cidrs_canon(const json_t *arr, mm_buf *out)
{
	mm_buf text = MM_BUF_INIT(1 << 16);
	mm_cidr_list *l = NULL;
	size_t i;
	json_t *v;
	mm_err rc = MM_OK;

	if (!json_is_array(arr))
		return mm_err_set(MM_ERR_INVALID, "field 'allow_cidrs': expected a list of CIDR "
				  "prefixes");
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			rc = mm_err_set(MM_ERR_INVALID, "field 'allow_cidrs': entry %zu is not a "
					"string", i);
			goto out;
		}
		if ((rc = mm_buf_appendf(&text, "%s%s", i ? "," : "", json_string_value(v))) != MM_OK)
			goto out;
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = mm_cidr_list_parse(mm_buf_str(&text), l)) != MM_OK)
		goto out;
	rc = mm_cidr_list_format(l, out);
out:
	free(l);
	mm_buf_release(&text);
	return rc;
}

/* Enabled administrators other than uid. */
static mm_err other_admins(mm_db *db, int64_t uid, int64_t *ret)
{
	static const char sql[] =
		"SELECT COUNT(*) FROM users WHERE disabled = 0 AND id <> ?"
		" AND (',' || roles || ',') LIKE '%,admin,%'";

	*ret = 0;
	return mm_access_query_int(db, sql, NULL, uid, NULL, ret);
}

struct user_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const char *name;
	const char *roles;       /* NULL = unchanged */
	const char *cidrs;       /* NULL = unchanged */
	const char *phc;
	bool disable;
	int64_t uid;             /* out */
};

static mm_err audit_user(mm_db *db, const mm_access_ctx *ctx, const char *action,
			 const char *name, json_t *details)
{
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	mm_err rc;

	snprintf(target, sizeof(target), "user:%s", name);
	mm_access_event(&ev, ctx, actor, action, target, "success");
	ev.details = details;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(details);
	return rc;
}

static mm_err create_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"INSERT INTO users (name, roles, created_ms, password, password_changed_ms,"
		" allow_cidrs) VALUES (?, ?, ?, ?, ?, ?)";
	struct user_job *j = arg;
	int64_t now = mm_time_wall_ms();
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->name)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, j->roles)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, j->phc)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 6, j->cidrs ? j->cidrs : "")) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_ERR_EXISTS)
		return mm_err_set(MM_ERR_EXISTS, "user '%s' already exists", j->name);
	if (rc != MM_OK)
		return rc;
	return audit_user(db, j->ctx, "user.create", j->name,
			  json_pack("{s:s,s:s}", "roles", j->roles, "allow_cidrs",
				    j->cidrs ? j->cidrs : ""));
}

mm_err mm_access_user_create(mm_access *a, const mm_access_ctx *ctx,
			     const mm_access_user_spec *spec, json_t **ret)
{
	mm_buf roles = MM_BUF_INIT(MM_ROLES_MAX), cidrs = MM_BUF_INIT(4096),
	       phc = MM_BUF_INIT(MM_PHC_MAX);
	struct user_job j;
	mm_err rc;

	if ((rc = mm_access_check_name("user name", spec->name)) != MM_OK)
		return rc;
	if (spec->roles == NULL)
		return mm_err_set(MM_ERR_INVALID, "field 'roles' is required");
	if (spec->password == NULL)
		return mm_err_set(MM_ERR_INVALID, "field 'password' is required");
	if ((rc = mm_access_roles_canon(a, spec->roles, &roles)) != MM_OK)
		goto out;
	if (spec->allow_cidrs != NULL && (rc = cidrs_canon(spec->allow_cidrs, &cidrs)) != MM_OK)
		goto out;
	if ((rc = mm_password_check(a->pw, spec->password, spec->name,
				    mm_access_roles_require_mfa(a, mm_buf_str(&roles)))) != MM_OK)
		goto out;
	if ((rc = mm_password_hash(spec->password, &phc)) != MM_OK)
		goto out;
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.name = spec->name;
	j.roles = mm_buf_str(&roles);
	j.cidrs = mm_buf_str(&cidrs);
	j.phc = mm_buf_str(&phc);
	if ((rc = mm_store_write(a->store, create_job, &j)) != MM_OK)
		goto out;
	rc = mm_access_user_get(a, spec->name, ret);
out:
	mm_buf_release(&roles);
	mm_buf_release(&cidrs);
	mm_buf_release(&phc);
	return rc;
}

static mm_err lookup_uid(mm_db *db, const char *name, int64_t *uid, char *roles, size_t cap)
{
	static const char sql[] = "SELECT id, roles FROM users WHERE name = ?";
	mm_stmt *st;
	bool row = false;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, name)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		*uid = mm_stmt_int(st, 0);
		if (roles != NULL)
			mm_str_copy(roles, cap, mm_stmt_text(st, 1));
	}
	mm_stmt_done(st);
	if (rc == MM_OK && !row)
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no user '%.64s'", name);
	return rc;
}

static mm_err update_job(mm_db *db, void *arg)
{
	static const char q_roles[] = "UPDATE users SET roles = ? WHERE id = ?";
	static const char q_cidrs[] = "UPDATE users SET allow_cidrs = ? WHERE id = ?";
	struct user_job *j = arg;
	char before[MM_ROLES_MAX + 1];
	int64_t uid = 0, admins = 0;
	json_t *d;
	mm_stmt *st;
	mm_err rc;

	if ((rc = lookup_uid(db, j->name, &uid, before, sizeof(before))) != MM_OK)
		return rc;
	if (j->roles != NULL) {
		if (mm_str_list_has(before, "admin") && !mm_str_list_has(j->roles, "admin")) {
			if ((rc = other_admins(db, uid, &admins)) != MM_OK)
				return rc;
			if (admins == 0)
				return mm_err_set(MM_ERR_CONFLICT, "'%s' is the last enabled "
						  "administrator", j->name);
		}
		if ((rc = mm_db_prepare(db, q_roles, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, j->roles)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, uid)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
	}
	if (j->cidrs != NULL) {
		if ((rc = mm_db_prepare(db, q_cidrs, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, j->cidrs)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, uid)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
	}
	d = json_pack("{s:s}", "roles_before", before);
	if (d != NULL && j->roles != NULL)
		json_object_set_new(d, "roles", json_string(j->roles));
	if (d != NULL && j->cidrs != NULL)
		json_object_set_new(d, "allow_cidrs", json_string(j->cidrs));
	return audit_user(db, j->ctx, "user.update", j->name, d);
}

mm_err mm_access_user_update(mm_access *a, const mm_access_ctx *ctx,
			     const mm_access_user_spec *spec, json_t **ret)
{
	mm_buf roles = MM_BUF_INIT(MM_ROLES_MAX), cidrs = MM_BUF_INIT(4096);
	struct user_job j;
	mm_err rc;

	if (spec->roles == NULL && spec->allow_cidrs == NULL)
		return mm_err_set(MM_ERR_INVALID, "nothing to change: give roles and/or allow_cidrs");
	if (spec->roles != NULL && (rc = mm_access_roles_canon(a, spec->roles, &roles)) != MM_OK)
		goto out;
	if (spec->allow_cidrs != NULL && (rc = cidrs_canon(spec->allow_cidrs, &cidrs)) != MM_OK)
		goto out;
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.name = spec->name;
	j.roles = spec->roles ? mm_buf_str(&roles) : NULL;
	j.cidrs = spec->allow_cidrs ? mm_buf_str(&cidrs) : NULL;
	if ((rc = mm_access_write_auth(a, update_job, &j)) != MM_OK)
		goto out;
	rc = mm_access_user_get(a, spec->name, ret);
out:
	mm_buf_release(&roles);
	mm_buf_release(&cidrs);
	return rc;
}

static mm_err disable_job(mm_db *db, void *arg)
{
	static const char q_dis[] =
		"UPDATE users SET disabled = 1, disabled_ms = ? WHERE id = ? AND disabled = 0";
	static const char q_en[] =
		"UPDATE users SET disabled = 0, disabled_ms = NULL, failed_logins = 0,"
		" locked_until_ms = 0 WHERE id = ? AND disabled = 1";
	struct user_job *j = arg;
	char roles[MM_ROLES_MAX + 1];
	int64_t uid = 0, admins = 0;
	mm_stmt *st;
	mm_err rc;

	if ((rc = lookup_uid(db, j->name, &uid, roles, sizeof(roles))) != MM_OK)
		return rc;
	if (j->disable) {
		if (j->ctx->who != NULL && j->ctx->who->user_id == uid)
			return mm_err_set(MM_ERR_CONFLICT, "you cannot disable yourself");
		if (mm_str_list_has(roles, "admin")) {
			if ((rc = other_admins(db, uid, &admins)) != MM_OK)
				return rc;
			if (admins == 0)
				return mm_err_set(MM_ERR_CONFLICT, "'%s' is the last enabled "
						  "administrator", j->name);
		}
		if ((rc = mm_db_prepare(db, q_dis, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, mm_time_wall_ms())) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, uid)) == MM_OK)
			rc = mm_stmt_run(st);
	} else {
		if ((rc = mm_db_prepare(db, q_en, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK)
			rc = mm_stmt_run(st);
	}
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_CONFLICT, "user '%s' is already %s", j->name,
				  j->disable ? "disabled" : "enabled");
	/* Sessions and tokens die with the account, at once. */
	if (j->disable && (rc = mm_access_revoke_user_tokens(db, uid)) != MM_OK)
		return rc;
	return audit_user(db, j->ctx, j->disable ? "user.disable" : "user.enable", j->name, NULL);
}

mm_err mm_access_user_set_disabled(mm_access *a, const mm_access_ctx *ctx, const char *name,
				   bool disabled, json_t **ret)
{
	struct user_job j;
	mm_err rc;

	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.name = name;
	j.disable = disabled;
	if ((rc = mm_access_write_auth(a, disable_job, &j)) != MM_OK)
		return rc;
	return mm_access_user_get(a, name, ret);
}

mm_err mm_access_user_set_password(mm_access *a, const mm_access_ctx *ctx, const char *name,
				   const char *password)
{
	char roles[MM_ROLES_MAX + 1] = "";
	int64_t uid = 0;
	mm_db *db = NULL;
	mm_err rc;

	if (password == NULL)
		return mm_err_set(MM_ERR_INVALID, "field 'password' is required");
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	rc = lookup_uid(db, name, &uid, roles, sizeof(roles));
	mm_store_release(a->store, db);
	if (rc != MM_OK)
		return rc;
	return mm_access_set_password_for(a, ctx, uid, name, roles, password,
					  "user.password.reset");
}

static mm_err mfa_reset_job(mm_db *db, void *arg)
{
	static const char q_user[] =
		"UPDATE users SET mfa_secret = NULL, mfa_pending = NULL, mfa_enrolled_ms = NULL"
		" WHERE id = ?";
	static const char q_codes[] = "DELETE FROM recovery_codes WHERE user_id = ?";
	struct user_job *j = arg;
	int64_t uid = 0;
	mm_stmt *st;
	mm_err rc;

	if ((rc = lookup_uid(db, j->name, &uid, NULL, 0)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q_user, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q_codes, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if ((rc = mm_access_revoke_user_tokens(db, uid)) != MM_OK)
		return rc;
	return audit_user(db, j->ctx, "user.mfa.reset", j->name, NULL);
}

mm_err mm_access_user_reset_mfa(mm_access *a, const mm_access_ctx *ctx, const char *name)
{
	struct user_job j;

	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.name = name;
	return mm_access_write_auth(a, mfa_reset_job, &j);
}

/* ---- inventory ---- */

struct inv_totals {
	int64_t accounts, dormant, privileged, without_mfa, disabled;
};

static mm_err build_inventory(mm_access *a, mm_db *db, json_t **ret, struct inv_totals *t)
{
	static const char sql[] = "SELECT " USER_COLS " FROM users ORDER BY name";
	int64_t now = mm_time_wall_ms(), dormant_ms = a->cfg->dormant_days * DAY_MS;
	json_t *arr = json_array();
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	memset(t, 0, sizeof(*t));
	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		json_t *u = user_json(a, st);
		const char *roles = mm_stmt_text(st, 2);
		bool disabled = mm_stmt_int(st, 3) != 0;
		int64_t seen = mm_stmt_is_null(st, 8) ? mm_stmt_int(st, 4) : mm_stmt_int(st, 8);
		bool dormant = !disabled && now - seen > dormant_ms;
		bool priv = any_privileged(a, roles);
		bool nomfa = mm_stmt_int(st, 5) == 0;

		if (u == NULL) {
			rc = MM_ERR_NOMEM;
			break;
		}
		json_object_set_new(u, "dormant", json_boolean(dormant));
		json_object_set_new(u, "standing_privileged", json_boolean(priv));
		json_object_set_new(u, "id", json_integer(mm_stmt_int(st, 0)));
		json_array_append_new(arr, u);
		t->accounts++;
		t->dormant += dormant;
		t->privileged += priv && !disabled;
		t->without_mfa += nomfa && !disabled;
		t->disabled += disabled;
	}
	mm_stmt_done(st);
	st = NULL;
	if (rc != MM_OK)
		goto out;
	/* Active grants per account (a second pass: one statement at a time). */
	{
		size_t i;
		json_t *u;

		json_array_foreach(arr, i, u) {
			json_t *g = NULL;

			if ((rc = mm_grants_active_json(a, db, json_integer_value(json_object_get(u, "id")),
							&g)) != MM_OK)
				goto out;
			json_object_set_new(u, "active_grants", g);
			json_object_del(u, "id");
		}
	}
	*ret = arr;
	arr = NULL;
out:
	mm_stmt_done(st);
	json_decref(arr);
	return rc;
}

static mm_err last_review(mm_db *db, json_t **ret)
{
	static const char sql[] =
		"SELECT reviewer, reviewed_ms, note, accounts, dormant, privileged, without_mfa"
		" FROM account_reviews ORDER BY id DESC LIMIT 1";
	char t[MM_TIME_RFC3339_LEN];
	mm_stmt *st;
	bool row;
	mm_err rc;

	*ret = json_null();
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_time_format(mm_stmt_int(st, 1), t);
		*ret = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "reviewer", mm_stmt_text(st, 0),
				 "reviewed", t, "note", mm_stmt_text(st, 2),
				 "accounts", (json_int_t)mm_stmt_int(st, 3),
				 "dormant", (json_int_t)mm_stmt_int(st, 4),
				 "standing_privileged", (json_int_t)mm_stmt_int(st, 5),
				 "without_mfa", (json_int_t)mm_stmt_int(st, 6));
	}
	mm_stmt_done(st);
	return rc;
}

mm_err mm_access_inventory(mm_access *a, json_t **ret)
{
	char now[MM_TIME_RFC3339_LEN];
	struct inv_totals t;
	json_t *accounts = NULL, *review = NULL;
	mm_db *db = NULL;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	rc = build_inventory(a, db, &accounts, &t);
	if (rc == MM_OK)
		rc = last_review(db, &review);
	mm_db_rollback(db);
	if (rc != MM_OK)
		goto out;
	mm_time_format(mm_time_wall_ms(), now);
	*ret = json_pack("{s:s,s:I,s:o,s:{s:I,s:I,s:I,s:I,s:I},s:O}", "generated", now,
			 "dormant_days", (json_int_t)a->cfg->dormant_days, "last_review", review,
			 "totals", "accounts", (json_int_t)t.accounts, "dormant",
			 (json_int_t)t.dormant, "standing_privileged", (json_int_t)t.privileged,
			 "without_mfa", (json_int_t)t.without_mfa, "disabled", (json_int_t)t.disabled,
			 "accounts", accounts);
	review = NULL;
	if (*ret == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(accounts);
	json_decref(review);
	mm_store_release(a->store, db);
	return rc;
}

struct review_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const char *note;
	struct inv_totals t;
};

static mm_err review_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"INSERT INTO account_reviews (reviewer, reviewed_ms, note, accounts, dormant,"
		" privileged, without_mfa) VALUES (?, ?, ?, ?, ?, ?, ?)";
	struct review_job *j = arg;
	char actor[MM_NAME_MAX + 8];
	json_t *accounts = NULL, *d;
	mm_audit_event ev;
	mm_stmt *st;
	mm_err rc;

	/* Counted inside the job: the totals recorded are those of the
	 * committed state the review attests. */
	if ((rc = build_inventory(j->a, db, &accounts, &j->t)) != MM_OK)
		return rc;
	json_decref(accounts);
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->ctx->who->name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, mm_time_wall_ms())) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 3, j->note)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, j->t.accounts)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, j->t.dormant)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 6, j->t.privileged)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 7, j->t.without_mfa)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	mm_access_event(&ev, j->ctx, actor, "user.inventory.review", "inventory", "success");
	d = json_pack("{s:s,s:I,s:I,s:I,s:I}", "note", j->note, "accounts",
		      (json_int_t)j->t.accounts, "dormant", (json_int_t)j->t.dormant,
		      "standing_privileged", (json_int_t)j->t.privileged, "without_mfa",
		      (json_int_t)j->t.without_mfa);
	ev.details = d;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(d);
	return rc;
}

mm_err mm_access_inventory_review(mm_access *a, const mm_access_ctx *ctx, const char *note,
				  json_t **ret)
{
	struct review_job j;
	mm_db *db = NULL;
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users record reviews");
	if (note == NULL || note[0] == '\0')
		return mm_err_set(MM_ERR_INVALID, "field 'note': describe what was reviewed");
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.ctx = ctx;
	j.note = note;
	if ((rc = mm_store_write(a->store, review_job, &j)) != MM_OK)
		return rc;
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	rc = last_review(db, ret);
	mm_store_release(a->store, db);
	return rc;
}

mm_err mm_access_inventory_reviews(mm_access *a, json_t **ret)
{
	static const char sql[] =
		"SELECT reviewer, reviewed_ms, note, accounts, dormant, privileged, without_mfa"
		" FROM account_reviews ORDER BY id DESC LIMIT 100";
	char t[MM_TIME_RFC3339_LEN];
	json_t *arr = json_array();
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (arr == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_time_format(mm_stmt_int(st, 1), t);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "reviewer",
			mm_stmt_text(st, 0), "reviewed", t, "note", mm_stmt_text(st, 2),
			"accounts", (json_int_t)mm_stmt_int(st, 3), "dormant",
			(json_int_t)mm_stmt_int(st, 4), "standing_privileged",
			(json_int_t)mm_stmt_int(st, 5), "without_mfa", (json_int_t)mm_stmt_int(st, 6)));
	}
	if (rc == MM_OK && (*ret = json_pack("{s:O}", "reviews", arr)) == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(arr);
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}
