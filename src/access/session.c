/*
 * session.c: interactive sign-in (password + TOTP or recovery code),
 * throttling and lockout, and password changes.
 *
 * Invariants:
 *  - No account enumeration: an unknown user, a disabled user, a wrong
 *    password, a wrong or replayed code and a refused source address all
 *    give the same error; unknown users are verified against a dummy
 *    Argon2id hash with the real parameters so they take the same time, and
 *    their failures are counted in memory exactly like an account's (an
 *    unknown name locks out too). The audit record keeps the real reason.
 *  - Lockout: identity.lockout_threshold consecutive failures lock the
 *    account for identity.lockout_base, doubling with each further failure
 *    (capped at a day); the count is persisted for accounts (survives a
 *    restart) and reset by a success. A source address that fails
 *    identity.source_lockout_threshold times within 15 minutes is locked the
 *    same way. Locked attempts are refused before any password work.
 *  - Argon2id never runs on the store's writer thread: hashes are computed
 *    before the write job is queued.
 *  - Every attempt writes exactly one audit record (auth.login) with the
 *    source address, in the same job as its state change.
 *  - A new session token is issued at each login; sessions never reuse ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"

#define SOURCE_WINDOW_MS (15 * 60 * 1000LL)
#define GENERIC_FAIL "invalid user name, password or code"

struct login_user {
	bool found;
	int64_t id;
	char name[MM_NAME_MAX + 1];
	char roles[MM_ROLES_MAX + 1];
	char phc[MM_PHC_MAX];
	bool disabled;
	char cidrs[2048];
	mm_buf secret;          /* sealed TOTP secret; empty when not enrolled */
	int64_t last_step;
	int64_t failed;
	int64_t locked_until;
};

static mm_err load_login_user(mm_access *a, const char *name, struct login_user *u)
{
	static const char sql[] =
		"SELECT id, roles, password, disabled, allow_cidrs, mfa_secret, mfa_last_step,"
		" failed_logins, locked_until_ms, name FROM users WHERE name = ?";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	const void *p;
	size_t n;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_text(st, 1, name)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row)
		goto out;
	u->found = true;
	u->id = mm_stmt_int(st, 0);
	mm_str_copy(u->roles, sizeof(u->roles), mm_stmt_text(st, 1));
	mm_str_copy(u->phc, sizeof(u->phc), mm_stmt_text(st, 2));
	u->disabled = mm_stmt_int(st, 3) != 0;
	mm_str_copy(u->cidrs, sizeof(u->cidrs), mm_stmt_text(st, 4));
	if (!mm_stmt_is_null(st, 5) && (p = mm_stmt_blob(st, 5, &n)) != NULL &&
	    (rc = mm_buf_append(&u->secret, p, n)) != MM_OK)
		goto out;
	u->last_step = mm_stmt_int(st, 6);
	u->failed = mm_stmt_int(st, 7);
	u->locked_until = mm_stmt_int(st, 8);
	mm_str_copy(u->name, sizeof(u->name), mm_stmt_text(st, 9));
out:
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

struct login_job {
	mm_access *a;
	const mm_access_login *in;
	struct login_user *u;
	int64_t now;
	/* decided before the job */
	bool ok;
	const char *reason;      /* failure reason for the audit record */
	bool restricted;
	bool mfa;
	int64_t step;            /* TOTP step to consume, 0 = none */
	char recovery_hash[MM_TOKEN_HASH_HEX];  /* "" = none */
	const char *new_phc;     /* rehash with current parameters, or NULL */
	const char *token;
	const char *token_id;
	/* results */
	int64_t locked_until;
	int recovery_left;
};

static mm_err audit_login(mm_db *db, struct login_job *j, const char *result,
			  const char *reason)
{
	char target[MM_NAME_MAX + 8];
	mm_audit_event ev = { 0 };
	json_t *d;
	mm_err rc;

	snprintf(target, sizeof(target), "user:%.64s", j->in->user ? j->in->user : "");
	if (reason != NULL)
		d = json_pack("{s:s}", "reason", reason);
	else
		d = json_pack("{s:b,s:b,s:s}", "mfa", j->mfa, "restricted", j->restricted,
			      "session", j->token_id);
	if (d == NULL)
		return MM_ERR_NOMEM;
	if (reason == NULL && j->recovery_hash[0] != '\0')
		json_object_set_new(d, "recovery_code_used", json_true());
	if (j->locked_until > 0)
		json_object_set_new(d, "locked_until_ms", json_integer(j->locked_until));
	ev.actor = target;
	ev.action = "auth.login";
	ev.target = target;
	ev.result = result;
	ev.source = j->in->source;
	ev.request_id = j->in->request_id;
	ev.details = d;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(d);
	return rc;
}

/* Records a failure for a real account: count, maybe lock, audit. */
static mm_err fail_account(mm_db *db, struct login_job *j, const char *reason)
{
	static const char sql[] =
		"UPDATE users SET failed_logins = failed_logins + 1, locked_until_ms = ?"
		" WHERE id = ?";
	const mm_config *cfg = j->a->cfg;
	int64_t failed = j->u->failed + 1, until = 0;
	mm_stmt *st;
	mm_err rc;

	if (failed >= cfg->lockout_threshold)
		until = j->now + mm_lockout_ms(failed, cfg->lockout_threshold, cfg->lockout_base_ms);
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, until)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j->u->id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	j->locked_until = until;
	return audit_login(db, j, "failure", reason);
}

static mm_err login_job(mm_db *db, void *arg)
{
	static const char q_step[] =
		"UPDATE users SET mfa_last_step = ? WHERE id = ? AND mfa_last_step < ?";
	static const char q_rec[] =
		"UPDATE recovery_codes SET used_ms = ? WHERE user_id = ? AND hash = ?"
		" AND used_ms IS NULL";
	static const char q_left[] =
		"SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_ms IS NULL";
	static const char q_ok[] =
		"UPDATE users SET failed_logins = 0, locked_until_ms = 0, last_login_ms = ?,"
		" last_login_source = ? WHERE id = ?";
	static const char q_phc[] =
		"UPDATE users SET password = ? WHERE id = ?";
	struct login_job *j = arg;
	const mm_config *cfg = j->a->cfg;
	mm_stmt *st;
	int64_t left = 0;
	mm_err rc;

	if (!j->u->found)
		return audit_login(db, j, "failure", j->reason);
	if (!j->ok)
		return fail_account(db, j, j->reason);
	if (j->step > 0) {
		/* Replay check and consumption in one statement. */
		if ((rc = mm_db_prepare(db, q_step, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, j->step)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, j->u->id)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, j->step)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		if (mm_db_changes(db) != 1) {
			j->ok = false;
			return fail_account(db, j, "replayed_code");
		}
	}
	if (j->recovery_hash[0] != '\0') {
		if ((rc = mm_db_prepare(db, q_rec, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, j->now)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, j->u->id)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, j->recovery_hash)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		if (mm_db_changes(db) != 1) {
			j->ok = false;
			return fail_account(db, j, "bad_recovery_code");
		}
		if ((rc = mm_access_query_int(db, q_left, NULL, j->u->id, NULL, &left)) != MM_OK)
			return rc;
		j->recovery_left = (int)left;
	}
	if ((rc = mm_db_prepare(db, q_ok, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, j->now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, j->in->source)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, j->u->id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (j->new_phc != NULL) {
		if ((rc = mm_db_prepare(db, q_phc, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, j->new_phc)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, j->u->id)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
	}
	if ((rc = mm_access_insert_token(db, j->token, j->token_id, j->u->id, "session",
					 "full", j->mfa,
					 j->now + cfg->session_absolute_ms, j->in->source)) != MM_OK)
		return rc;
	return audit_login(db, j, "success", NULL);
}

/* Audits a refusal that happens before any password work (lockout,
 * malformed input) in its own job. */
static mm_err audit_refusal(mm_access *a, const mm_access_login *in, const char *reason,
			    int64_t until)
{
	struct login_user u;
	struct login_job j;

	memset(&u, 0, sizeof(u));
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.in = in;
	j.u = &u;
	j.reason = reason;
	j.locked_until = until;
	return mm_store_write(a->store, login_job, &j);
}

mm_err mm_access_login_run(mm_access *a, const mm_access_login *in, mm_buf *ret_token,
			   mm_access_session *ret, int64_t *ret_retry_ms)
{
	const mm_config *cfg = a->cfg;
	struct login_user *u = NULL;
	struct login_job j;
	mm_buf tok = MM_BUF_INIT(128), phc = MM_BUF_INIT(MM_PHC_MAX);
	char skey[80], ukey[80], id[33];
	int64_t now = mm_time_wall_ms(), until;
	bool pw_ok, name_ok;
	mm_err rc;

	*ret_retry_ms = 0;
	if (in->user == NULL || in->password == NULL || in->source == NULL)
		return mm_err_set(MM_ERR_INVALID, "user and password are required");
	name_ok = mm_access_check_name("user", in->user) == MM_OK;
	snprintf(skey, sizeof(skey), "s:%s", in->source);
	snprintf(ukey, sizeof(ukey), "u:%.64s", in->user);

	/* 1. Source lockout, before anything else. */
	if ((until = mm_throttle_locked_until(a->throttle, skey, now)) > 0) {
		*ret_retry_ms = until - now;
		(void)audit_refusal(a, in, "source_locked", until);
		return mm_err_set(MM_ERR_RATE_LIMITED, "too many failed sign-ins from this address; "
				  "try again later");
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return MM_ERR_NOMEM;
	mm_buf_init(&u->secret, 4096);
	if (name_ok && (rc = load_login_user(a, in->user, u)) != MM_OK)
		goto out;

	/* 2. Account lockout (persisted for accounts, in memory for names). */
	until = u->found ? (u->locked_until > now ? u->locked_until : 0)
			 : mm_throttle_locked_until(a->throttle, ukey, now);
	if (until > 0) {
		*ret_retry_ms = until - now;
		(void)audit_refusal(a, in, u->found ? "account_locked" : "account_locked_unknown",
				    until);
		rc = mm_err_set(MM_ERR_RATE_LIMITED, "too many failed sign-ins; try again later");
		goto out;
	}

	/* 3. Password, always one Argon2id computation. */
	pw_ok = mm_password_verify(u->found && u->phc[0] ? u->phc : a->dummy_phc,
				   in->password) == MM_OK;
	memset(&j, 0, sizeof(j));
	j.a = a;
	j.in = in;
	j.u = u;
	j.now = now;
	j.recovery_left = -1;
	j.ok = u->found && u->phc[0] && pw_ok;
	j.reason = !u->found ? "unknown_user" : !j.ok ? "bad_password" : NULL;
	if (j.ok && u->disabled) {
		j.ok = false;
		j.reason = "disabled";
	}
	if (j.ok && u->cidrs[0] != '\0' && !mm_cidr_text_allows(u->cidrs, in->source)) {
		j.ok = false;
		j.reason = "source_not_allowed";
	}

	/* 4. Second factor. */
	if (j.ok && u->secret.len > 0) {
		if (in->recovery_code != NULL && in->recovery_code[0] != '\0') {
			if (mm_mfa_recovery_hash(u->id, in->recovery_code, j.recovery_hash) != MM_OK) {
				j.ok = false;
				j.reason = "bad_recovery_code";
			}
		} else if (in->totp == NULL || in->totp[0] == '\0') {
			j.ok = false;
			j.reason = "code_missing";
		} else if ((rc = mm_mfa_verify(a, u->id, u->secret.data, u->secret.len, in->totp,
					       now, &j.step)) != MM_OK) {
			if (rc == MM_ERR_SEALED) {
				/* Not the user's fault: say so, but audit it too. */
				j.ok = false;
				j.reason = "sealed";
			} else {
				j.ok = false;
				j.reason = "bad_code";
			}
		} else if (j.step <= u->last_step) {
			j.ok = false;
			j.reason = "replayed_code";
		}
		j.mfa = j.ok;
	} else if (j.ok) {
		j.restricted = mm_access_roles_require_mfa(a, u->roles) && mm_access_mfa_enforced(a);
	}
	if (j.ok) {
		if (mm_password_needs_rehash(u->phc) &&
		    mm_password_hash(in->password, &phc) == MM_OK)
			j.new_phc = mm_buf_str(&phc);
		if ((rc = mm_token_new("mms_", &tok)) != MM_OK ||
		    (rc = mm_access_new_token_id(id)) != MM_OK)
			goto out;
		j.token = mm_buf_str(&tok);
		j.token_id = id;
	}
	if ((rc = mm_store_write(a->store, login_job, &j)) != MM_OK)
		goto out;

	/* 5. In-memory counters after the outcome is durable. */
	if (!j.ok) {
		mm_throttle_fail(a->throttle, skey, now, cfg->source_lockout_threshold,
				 cfg->lockout_base_ms, SOURCE_WINDOW_MS);
		if (!u->found)
			mm_throttle_fail(a->throttle, ukey, now, cfg->lockout_threshold,
					 cfg->lockout_base_ms, 0);
		if (j.reason != NULL && strcmp(j.reason, "sealed") == 0)
			rc = mm_err_set(MM_ERR_SEALED, "mamori is sealed: sign-in with a second "
					"factor is unavailable");
		else
			rc = mm_err_set(MM_ERR_UNAUTHENTICATED, GENERIC_FAIL);
		goto out;
	}
	mm_throttle_reset(a->throttle, skey);
	if ((rc = mm_buf_append(ret_token, tok.data, tok.len)) != MM_OK)
		goto out;
	memset(ret, 0, sizeof(*ret));
	mm_str_copy(ret->user, sizeof(ret->user), u->name);
	ret->restricted = j.restricted;
	ret->mfa = j.mfa;
	ret->expires_ms = now + cfg->session_absolute_ms;
	ret->idle_ms = cfg->session_idle_ms;
	ret->recovery_codes_left = j.recovery_left;
out:
	mm_buf_wipe_release(&tok);
	mm_buf_release(&phc);
	if (u != NULL) {
		mm_buf_release(&u->secret);
		mm_crypto_wipe(u->phc, sizeof(u->phc));
		free(u);
	}
	return rc;
}

/* ---- password change ---- */

struct passwd_job {
	const mm_access_ctx *ctx;
	int64_t uid;
	const char *user;
	const char *phc;
	const char *action;
};

static mm_err passwd_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"UPDATE users SET password = ?, password_changed_ms = ?, failed_logins = 0,"
		" locked_until_ms = 0 WHERE id = ?";
	struct passwd_job *j = arg;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->phc)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, mm_time_wall_ms())) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, j->uid)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_NOT_FOUND, "no such user");
	/* Every session and token of the user ends with the old password. */
	if ((rc = mm_access_revoke_user_tokens(db, j->uid)) != MM_OK)
		return rc;
	snprintf(target, sizeof(target), "user:%s", j->user);
	mm_access_event(&ev, j->ctx, actor, j->action, target, "success");
	return mm_audit_append(db, &ev, NULL);
}

/* A password change refused for a wrong current password is audited too. */
static mm_err passwd_fail_job(mm_db *db, void *arg)
{
	const mm_access_ctx *ctx = arg;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	json_t *d = json_pack("{s:s}", "reason", "bad_current_password");
	mm_err rc;

	snprintf(target, sizeof(target), "user:%s", ctx->who->name);
	mm_access_event(&ev, ctx, actor, "user.password.change", target, "failure");
	ev.details = d;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(d);
	return rc;
}

/* Whether the user has TOTP active (for the minimum password length). */
static mm_err user_has_mfa(mm_access *a, int64_t uid, bool *ret)
{
	static const char sql[] = "SELECT mfa_secret IS NOT NULL FROM users WHERE id = ?";
	mm_db *db = NULL;
	int64_t v = 0;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	rc = mm_access_query_int(db, sql, NULL, uid, NULL, &v);
	mm_store_release(a->store, db);
	*ret = v != 0;
	return rc;
}

mm_err mm_access_set_password_for(mm_access *a, const mm_access_ctx *ctx, int64_t uid,
				  const char *name, const char *roles, const char *password,
				  const char *action)
{
	mm_buf phc = MM_BUF_INIT(MM_PHC_MAX);
	struct passwd_job j;
	bool mfa = false;
	mm_err rc;

	if ((rc = user_has_mfa(a, uid, &mfa)) != MM_OK)
		return rc;
	/* An account that must use TOTP gets the lower minimum. */
	mfa = mfa || mm_access_roles_require_mfa(a, roles);
	if ((rc = mm_password_check(a->pw, password, name, mfa)) != MM_OK)
		return rc;
	if ((rc = mm_password_hash(password, &phc)) != MM_OK)
		goto out;
	j = (struct passwd_job){ ctx, uid, name, mm_buf_str(&phc), action };
	rc = mm_access_write_auth(a, passwd_job, &j);
out:
	mm_buf_release(&phc);
	return rc;
}

mm_err mm_access_password_change(mm_access *a, const mm_access_ctx *ctx, const char *current,
				 const char *new_password)
{
	static const char sql[] = "SELECT password, roles FROM users WHERE id = ? AND disabled = 0";
	char phc[MM_PHC_MAX] = "", roles[MM_ROLES_MAX + 1] = "";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row = false;
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users have passwords");
	if (current == NULL || new_password == NULL)
		return mm_err_set(MM_ERR_INVALID, "the current and the new password are required");
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 1, ctx->who->user_id)) == MM_OK &&
	    (rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_str_copy(phc, sizeof(phc), mm_stmt_text(st, 0));
		mm_str_copy(roles, sizeof(roles), mm_stmt_text(st, 1));
	}
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	if (rc != MM_OK)
		return rc;
	if (mm_password_verify(row && phc[0] ? phc : a->dummy_phc, current) != MM_OK || !row) {
		mm_crypto_wipe(phc, sizeof(phc));
		(void)mm_store_write(a->store, passwd_fail_job, (void *)ctx);
		return mm_err_set(MM_ERR_UNAUTHENTICATED, "the current password is wrong");
	}
	mm_crypto_wipe(phc, sizeof(phc));
	if (strcmp(current, new_password) == 0)
		return mm_err_set(MM_ERR_INVALID, "the new password must differ from the current one");
	return mm_access_set_password_for(a, ctx, ctx->who->user_id, ctx->who->name, roles,
					  new_password, "user.password.change");
}
