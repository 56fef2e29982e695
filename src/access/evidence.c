/*
 * evidence.c: the access module's evidence checks for the FISC response
 * table (core/evidence.h). Each reads the access tables and the
 * configuration, never writes, and names what it found in Japanese and
 * English with the data behind it. The checks need the running module
 * (role definitions come from the configuration), so registration records
 * it; there is one access module per process.
 *
 * Checks (bindings to criteria are data: data/fisc/evidence-bindings.json):
 *   access.no_standing_privilege   no user holds a privileged role outside a
 *                                  grant; administrators at most max_admins
 *   access.grants_approved_by_other every approved grant has its required
 *                                  approvals, none by the requester
 *   access.grants_ended_on_time    no grant open past its end; closed ones
 *                                  closed within grace_s of their end
 *   access.work_reports_confirmed  required work reports confirmed within
 *                                  max_days of the grant's end
 *   identity.mfa_privileged        every enabled user whose roles need MFA
 *                                  has it enrolled
 *   identity.password_policy       the 800-63B policy and Argon2id hashes
 *   identity.lockout               lockout configured within sane bounds
 *   identity.inventory_reviewed    an account review within max_age_days
 */
#include <stdio.h>
#include <string.h>

#include "access/internal.h"
#include "access/password.h"
#include "core/evidence.h"
#include "core/json.h"
#include "core/time.h"

#define DAY_MS (86400LL * 1000)

static mm_access *ev_access;

typedef mm_err (*row_fn)(mm_stmt *st, void *arg);

/* Runs a read query, calling fn for every row. */
static mm_err each_row(mm_store *s, const char *sql, const int64_t *binds, size_t nbinds,
		       row_fn fn, void *arg)
{
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (s == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "no store");
	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	for (size_t i = 0; i < nbinds && rc == MM_OK; i++)
		rc = mm_stmt_bind_int(st, (int)i + 1, binds[i]);
	while (rc == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK && row)
		rc = fn(st, arg);
out:
	mm_stmt_done(st);
	mm_store_release(s, db);
	return rc;
}

static int64_t param(const mm_evidence_ctx *ctx, const char *key, int64_t def, int64_t min,
		     int64_t max, mm_err *rc)
{
	int64_t v = def;

	if (ctx->params != NULL && *rc == MM_OK)
		*rc = mm_json_int(ctx->params, key, false, min, max, &v);
	return v;
}

static void verdict(mm_evidence_out *out, size_t bad, const char *first, const char *ja_bad,
		    const char *en_bad, const char *ja_ok, const char *en_ok)
{
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];

	if (bad > 0) {
		snprintf(ja, sizeof(ja), "%s: %zu 件（最初: %s）", ja_bad, bad, first);
		snprintf(en, sizeof(en), "%s: %zu (first: %s)", en_bad, bad, first);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja_ok, en_ok);
	}
}

static const char *first_str(const json_t *arr, const char *key)
{
	const json_t *o = json_array_get(arr, 0);
	const json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : "-";
}

/* ---- access.no_standing_privilege ---- */

struct standing {
	json_t *offenders;
	int64_t admins, users;
};

static mm_err standing_row(mm_stmt *st, void *arg)
{
	struct standing *s = arg;
	const char *name = mm_stmt_text(st, 0), *roles = mm_stmt_text(st, 1);
	char buf[MM_ROLES_MAX + 1], *save = NULL, *r;

	s->users++;
	mm_str_copy(buf, sizeof(buf), roles);
	for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save)) {
		if (strcmp(r, "admin") == 0)
			s->admins++;
		else if (mm_access_role_is_privileged(ev_access, r))
			json_array_append_new(s->offenders, json_pack("{s:s,s:s}", "user", name,
								      "role", r));
	}
	return MM_OK;
}

static mm_err check_standing(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] = "SELECT name, roles FROM users WHERE disabled = 0 ORDER BY name";
	struct standing s = { json_array(), 0, 0 };
	mm_err rc = MM_OK;
	int64_t max_admins = param(ctx, "max_admins", 2, 1, 100, &rc);
	char first[160];

	if (s.offenders == NULL)
		return MM_ERR_NOMEM;
	if (rc != MM_OK || (rc = each_row(ctx->store, sql, NULL, 0, standing_row, &s)) != MM_OK)
		goto out;
	snprintf(first, sizeof(first), "%s (%s)", first_str(s.offenders, "user"),
		 first_str(s.offenders, "role"));
	if (s.users == 0) {
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "利用者がいません", "No users");
	} else if (json_array_size(s.offenders) > 0) {
		verdict(out, json_array_size(s.offenders), first,
			"特権ロールが申請・承認なしで常時付与されています",
			"Privileged roles are held standing, outside a grant", NULL, NULL);
	} else if (s.admins > max_admins) {
		char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];

		snprintf(ja, sizeof(ja), "管理者が %lld 人で、上限 %lld 人を超えています",
			 (long long)s.admins, (long long)max_admins);
		snprintf(en, sizeof(en), "%lld administrators exceed the limit of %lld",
			 (long long)s.admins, (long long)max_admins);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		mm_evidence_set(out, MM_EVIDENCE_PASS,
				"特権ロールは承認された期限付きの付与によってのみ保持されています",
				"Privileged roles are held only through approved, time-limited grants");
	}
	out->data = json_pack("{s:I,s:I,s:I,s:O}", "enabled_users", (json_int_t)s.users,
			      "administrators", (json_int_t)s.admins, "max_admins",
			      (json_int_t)max_admins, "standing", s.offenders);
out:
	json_decref(s.offenders);
	return rc;
}

/* ---- access.grants_approved_by_other ---- */

struct approvals {
	json_t *bad;
	int64_t grants, breakglass;
};

static mm_err approvals_row(mm_stmt *st, void *arg)
{
	struct approvals *a = arg;
	int64_t id = mm_stmt_int(st, 0), required = mm_stmt_int(st, 2), others = mm_stmt_int(st, 3),
		self = mm_stmt_int(st, 4);
	char gid[32];

	if (mm_stmt_int(st, 1) != 0) {
		a->breakglass++;
		return MM_OK;
	}
	a->grants++;
	if (self == 0 && others >= required)
		return MM_OK;
	snprintf(gid, sizeof(gid), "%lld", (long long)id);
	json_array_append_new(a->bad, json_pack("{s:s,s:I,s:I,s:b}", "grant", gid, "required",
						(json_int_t)required, "approvals_by_others",
						(json_int_t)others, "self_approved", self != 0));
	return MM_OK;
}

static mm_err check_approvals(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] =
		"SELECT g.id, g.breakglass, g.approvals_required,"
		" (SELECT COUNT(*) FROM grant_approvals p WHERE p.grant_id = g.id"
		"   AND p.approver_id <> g.user_id),"
		" (SELECT COUNT(*) FROM grant_approvals p WHERE p.grant_id = g.id"
		"   AND p.approver_id = g.user_id)"
		" FROM grants g WHERE g.state IN ('approved', 'active', 'ended', 'revoked')"
		" AND g.decided_ms IS NOT NULL ORDER BY g.id";
	struct approvals a = { json_array(), 0, 0 };
	mm_err rc;

	if (a.bad == NULL)
		return MM_ERR_NOMEM;
	if ((rc = each_row(ctx->store, sql, NULL, 0, approvals_row, &a)) != MM_OK)
		goto out;
	if (a.grants == 0 && a.breakglass == 0)
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "承認された付与がありません",
				"No approved grants yet");
	else
		verdict(out, json_array_size(a.bad), first_str(a.bad, "grant"),
			"必要な承認が揃っていない、または申請者自身が承認した付与があります",
			"Grants lack their approvals by others, or were approved by the requester",
			"すべての付与が申請者以外の必要数の承認を得ています（緊急用を除く）",
			"Every grant has its required approvals by people other than the requester "
			"(break-glass grants excepted and counted)");
	out->data = json_pack("{s:I,s:I,s:O}", "grants", (json_int_t)a.grants, "breakglass",
			      (json_int_t)a.breakglass, "violations", a.bad);
out:
	json_decref(a.bad);
	return rc;
}

/* ---- access.grants_ended_on_time ---- */

struct ended {
	json_t *bad;
	int64_t n;
};

static mm_err ended_row(mm_stmt *st, void *arg)
{
	struct ended *e = arg;
	char gid[32], end[MM_TIME_RFC3339_LEN];

	e->n++;
	if (mm_stmt_int(st, 3) == 0)
		return MM_OK;
	snprintf(gid, sizeof(gid), "%lld", (long long)mm_stmt_int(st, 0));
	mm_time_format(mm_stmt_int(st, 2), end);
	json_array_append_new(e->bad, json_pack("{s:s,s:s,s:s}", "grant", gid, "state",
						mm_stmt_text(st, 1), "end", end));
	return MM_OK;
}

static mm_err check_ended(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	/* Column 3 is 1 for a violation: still open after end + grace, or
	 * closed later than end + grace. */
	static const char sql[] =
		"SELECT id, state, end_ms,"
		" CASE WHEN state IN ('approved', 'active') THEN end_ms + ? < ?"
		"      WHEN state = 'ended' THEN COALESCE(closed_ms, ?) > end_ms + ?"
		"      ELSE 0 END"
		" FROM grants WHERE state IN ('approved', 'active', 'ended', 'revoked') ORDER BY id";
	struct ended e = { json_array(), 0 };
	mm_err rc = MM_OK;
	int64_t grace_ms = param(ctx, "grace_s", 5, 0, 3600, &rc) * 1000;
	int64_t binds[4] = { grace_ms, ctx->now_ms, ctx->now_ms, grace_ms };

	if (e.bad == NULL)
		return MM_ERR_NOMEM;
	if (rc != MM_OK || (rc = each_row(ctx->store, sql, binds, 4, ended_row, &e)) != MM_OK)
		goto out;
	if (e.n == 0)
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "付与がありません", "No grants yet");
	else
		verdict(out, json_array_size(e.bad), first_str(e.bad, "grant"),
			"期限を過ぎても終了していない付与があります",
			"Grants stayed open past their end",
			"すべての付与が期限どおりに終了しています",
			"Every grant ended on time");
	out->data = json_pack("{s:I,s:I,s:O}", "grants", (json_int_t)e.n, "grace_s",
			      (json_int_t)(grace_ms / 1000), "late", e.bad);
out:
	json_decref(e.bad);
	return rc;
}

/* ---- access.work_reports_confirmed ---- */

static mm_err check_reports(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] =
		"SELECT id, state, end_ms, report_ms IS NULL"
		" FROM grants WHERE report_required = 1 AND state IN ('ended', 'revoked')"
		" AND report_confirmed_ms IS NULL AND COALESCE(closed_ms, end_ms) + ? < ? ORDER BY id";
	static const char q_n[] =
		"SELECT id, state, end_ms, 0 FROM grants"
		" WHERE report_required = 1 AND state IN ('ended', 'revoked')";
	struct ended late = { json_array(), 0 }, all = { json_array(), 0 };
	mm_err rc = MM_OK;
	int64_t max_days = param(ctx, "max_days", 7, 0, 365, &rc);
	int64_t binds[2] = { max_days * DAY_MS, ctx->now_ms };

	if (late.bad == NULL || all.bad == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if (rc != MM_OK || (rc = each_row(ctx->store, q_n, NULL, 0, ended_row, &all)) != MM_OK ||
	    (rc = each_row(ctx->store, sql, binds, 2, ended_row, &late)) != MM_OK)
		goto out;
	if (all.n == 0)
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "作業報告が必要な終了済みの付与がありません",
				"No closed grants that require a work report");
	else
		verdict(out, (size_t)late.n, json_array_size(late.bad) ? first_str(late.bad, "grant") : "-",
			"期限内に確認されていない作業報告があります",
			"Work reports were not confirmed in time",
			"作業報告はすべて期限内に確認されています",
			"Every required work report was confirmed in time");
	out->data = json_pack("{s:I,s:I,s:O}", "closed_with_report_required", (json_int_t)all.n,
			      "max_days", (json_int_t)max_days, "unconfirmed", late.bad);
out:
	json_decref(late.bad);
	json_decref(all.bad);
	return rc;
}

/* ---- identity.mfa_privileged ---- */

struct mfa {
	json_t *missing;
	int64_t need;
};

static mm_err mfa_row(mm_stmt *st, void *arg)
{
	struct mfa *m = arg;

	if (!mm_access_roles_require_mfa(ev_access, mm_stmt_text(st, 1)))
		return MM_OK;
	m->need++;
	if (mm_stmt_int(st, 2) == 0)
		json_array_append_new(m->missing, json_pack("{s:s}", "user", mm_stmt_text(st, 0)));
	return MM_OK;
}

static mm_err check_mfa(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] =
		"SELECT name, roles, mfa_enrolled_ms IS NOT NULL FROM users WHERE disabled = 0"
		" ORDER BY name";
	struct mfa m = { json_array(), 0 };
	mm_err rc;

	if (m.missing == NULL)
		return MM_ERR_NOMEM;
	if ((rc = each_row(ctx->store, sql, NULL, 0, mfa_row, &m)) != MM_OK)
		goto out;
	if (m.need == 0)
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "多要素認証が必要な利用者がいません",
				"No users whose roles require MFA");
	else
		verdict(out, json_array_size(m.missing), first_str(m.missing, "user"),
			"多要素認証が必要なのに登録していない利用者がいます",
			"Users whose roles require MFA have not enrolled it",
			"多要素認証が必要な利用者は全員 TOTP を登録しています",
			"Every user whose roles require MFA has TOTP enrolled");
	out->data = json_pack("{s:I,s:O}", "users_requiring_mfa", (json_int_t)m.need, "without_mfa",
			      m.missing);
out:
	json_decref(m.missing);
	return rc;
}

/* ---- identity.password_policy ---- */

struct hashes {
	json_t *weak;
	int64_t with_password;
};

static mm_err hash_row(mm_stmt *st, void *arg)
{
	struct hashes *h = arg;
	const char *phc = mm_stmt_text(st, 1);

	if (phc == NULL)
		return MM_OK;
	h->with_password++;
	if (strncmp(phc, "$argon2id$", 10) != 0 || mm_password_needs_rehash(phc))
		json_array_append_new(h->weak, json_pack("{s:s}", "user", mm_stmt_text(st, 0)));
	return MM_OK;
}

static mm_err check_password(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] = "SELECT name, password FROM users WHERE disabled = 0 ORDER BY name";
	struct hashes h = { json_array(), 0 };
	size_t list = mm_password_policy_size(ev_access->pw);
	mm_err rc;

	if (h.weak == NULL)
		return MM_ERR_NOMEM;
	if ((rc = each_row(ctx->store, sql, NULL, 0, hash_row, &h)) != MM_OK)
		goto out;
	if (list == 0)
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "よく使われるパスワードの一覧が読み込まれていません",
				"No common-password list is loaded");
	else
		verdict(out, json_array_size(h.weak), first_str(h.weak, "user"),
			"現在の Argon2id パラメータでハッシュされていないパスワードがあります",
			"Passwords are not hashed with the current Argon2id parameters",
			"パスワードは 12 文字以上（多要素認証なしは 15 文字以上）、一般的なパスワードを拒否し、"
			"Argon2id（19 MiB, t=2, p=1）で保存されています",
			"Passwords need 12 characters (15 without MFA), common ones are refused, and "
			"they are stored with Argon2id (19 MiB, t=2, p=1)");
	out->data = json_pack("{s:i,s:i,s:i,s:I,s:s,s:I,s:O}", "min_length", MM_PASSWORD_MIN,
			      "min_length_without_mfa", MM_PASSWORD_MIN_NO_MFA, "max_length",
			      MM_PASSWORD_MAX, "common_passwords", (json_int_t)list, "hash",
			      "argon2id m=19456 t=2 p=1", "users_with_password",
			      (json_int_t)h.with_password, "outdated_hashes", h.weak);
out:
	json_decref(h.weak);
	return rc;
}

/* ---- identity.lockout ---- */

static mm_err check_lockout(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	const mm_config *cfg = ctx->cfg ? ctx->cfg : ev_access->cfg;
	mm_err rc = MM_OK;
	int64_t max_threshold = param(ctx, "max_threshold", 10, 1, 100, &rc);
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];

	if (rc != MM_OK)
		return rc;
	if (cfg->lockout_threshold > max_threshold || cfg->lockout_base_ms < 1000) {
		snprintf(ja, sizeof(ja), "ロックアウトが弱すぎます（%lld 回失敗、%lld 秒）",
			 (long long)cfg->lockout_threshold, (long long)(cfg->lockout_base_ms / 1000));
		snprintf(en, sizeof(en), "Lockout is too lax (%lld failures, %lld s)",
			 (long long)cfg->lockout_threshold, (long long)(cfg->lockout_base_ms / 1000));
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		snprintf(ja, sizeof(ja), "%lld 回の認証失敗で %lld 秒から段階的にロックされます",
			 (long long)cfg->lockout_threshold, (long long)(cfg->lockout_base_ms / 1000));
		snprintf(en, sizeof(en), "%lld failed sign-ins lock the account, from %lld s with back-off",
			 (long long)cfg->lockout_threshold, (long long)(cfg->lockout_base_ms / 1000));
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	out->data = json_pack("{s:I,s:I,s:I,s:I}", "threshold", (json_int_t)cfg->lockout_threshold,
			      "base_s", (json_int_t)(cfg->lockout_base_ms / 1000),
			      "source_threshold", (json_int_t)cfg->source_lockout_threshold,
			      "max_threshold", (json_int_t)max_threshold);
	return MM_OK;
}

/* ---- identity.inventory_reviewed ---- */

static mm_err last_review_row(mm_stmt *st, void *arg)
{
	int64_t *t = arg;

	if (!mm_stmt_is_null(st, 0))
		*t = mm_stmt_int(st, 0);
	return MM_OK;
}

static mm_err check_inventory(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char sql[] = "SELECT MAX(reviewed_ms) FROM account_reviews";
	mm_err rc = MM_OK;
	int64_t max_days = param(ctx, "max_age_days", 90, 1, 3650, &rc), last = 0;
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX], t[MM_TIME_RFC3339_LEN];

	if (rc != MM_OK || (rc = each_row(ctx->store, sql, NULL, 0, last_review_row, &last)) != MM_OK)
		return rc;
	if (last == 0) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "利用者の棚卸が記録されていません",
				"No account inventory review is recorded");
	} else {
		mm_time_format(last, t);
		if (ctx->now_ms - last > max_days * DAY_MS) {
			snprintf(ja, sizeof(ja), "最後の棚卸（%s）から %lld 日を超えています", t,
				 (long long)max_days);
			snprintf(en, sizeof(en), "The last review (%s) is older than %lld days", t,
				 (long long)max_days);
			mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
		} else {
			snprintf(ja, sizeof(ja), "最後の棚卸は %s（%lld 日以内）", t, (long long)max_days);
			snprintf(en, sizeof(en), "Last review %s (within %lld days)", t, (long long)max_days);
			mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
		}
	}
	out->data = json_pack("{s:I,s:I}", "last_review_ms", (json_int_t)last, "max_age_days",
			      (json_int_t)max_days);
	return MM_OK;
}

static const mm_evidence_check checks[] = {
	{ "access.no_standing_privilege", "access", "常時付与された特権アクセスがない",
	  "No standing privileged access",
	  "Reads enabled users and their roles. Fails when a user holds a role marked privileged "
	  "directly (it must only come through a grant) or when administrators exceed "
	  "params.max_admins (default 2).", check_standing },
	{ "access.grants_approved_by_other", "access", "特権付与は申請者以外が承認している",
	  "Privileged grants are approved by someone other than the requester",
	  "Reads every decided grant and its approvals. Fails for a grant with fewer approvals by "
	  "people other than the requester than its policy required, or with an approval by the "
	  "requester. Break-glass grants are counted, not failed.", check_approvals },
	{ "access.grants_ended_on_time", "access", "特権付与が期限どおりに終了している",
	  "Privileged grants end on time",
	  "Fails for a grant still approved or active after its end plus params.grace_s "
	  "(default 5), or one ended later than that.", check_ended },
	{ "access.work_reports_confirmed", "access", "作業報告が確認されている",
	  "Work reports are confirmed",
	  "Fails for a closed grant whose policy required a work report that was not confirmed "
	  "within params.max_days (default 7) of the grant's end.", check_reports },
	{ "identity.mfa_privileged", "access", "特権利用者が多要素認証を使っている",
	  "Privileged users use multi-factor authentication",
	  "Fails for an enabled user whose roles require MFA (privileged or approving roles) "
	  "without TOTP enrolled.", check_mfa },
	{ "identity.password_policy", "access", "パスワード規則が設定されている",
	  "A password policy is enforced",
	  "Passes when the common-password list is loaded and every stored password is an "
	  "Argon2id hash with the current parameters.", check_password },
	{ "identity.lockout", "access", "認証失敗時のロックアウトが有効",
	  "Lockout after failed authentication is enabled",
	  "Passes when identity.lockout_threshold is at most params.max_threshold (default 10) "
	  "and the lockout lasts at least one second.", check_lockout },
	{ "identity.inventory_reviewed", "access", "利用者の棚卸が一定日数内に行われている",
	  "The user inventory was reviewed within N days",
	  "Passes when an account inventory review was recorded within params.max_age_days "
	  "(default 90).", check_inventory },
};

mm_err mm_access_register_checks(mm_access *a)
{
	mm_err rc;

	ev_access = a;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if ((rc = mm_evidence_register(&checks[i])) != MM_OK)
			return rc;
	return MM_OK;
}
