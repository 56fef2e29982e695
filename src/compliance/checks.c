/*
 * checks.c: the evidence checks that need only what exists in this module's
 * dependencies (the audit table, the configuration, the compliance tables).
 * Each is documented in docs/fisc.md ("Evidence checks"). Checks only read.
 *
 *  audit.log_verifiable     the audit module's verifier (mm_audit_verify_data_dir)
 *                           finds the log non-empty and intact against the
 *                           stored tree and every signed checkpoint.
 *  audit.checkpoint_published  no audit event stays outside a signed
 *                           checkpoint for longer than params.max_age_hours.
 *  keys.cryptrec_algorithms every named key's type is on the key manager's
 *                           CRYPTREC list.
 *  keys.rotated             every enabled named key was created or rotated
 *                           within params.max_age_days.
 *  tls.configured           the API listens with TLS: certificate and key set,
 *                           readable, matching, currently valid, on the
 *                           CRYPTREC list; not applicable when the daemon
 *                           listens on loopback only without TLS (a front
 *                           proxy must terminate TLS; not verified here).
 *  fisc.response_published  a FISC response table was published (approved by a
 *                           second person) within params.max_age_days.
 *
 * The audit module, once it owns log verification, may register its own
 * audit.log_verifiable before mm_fisc_open; the compliance version then
 * stays unregistered (see fisc_register_builtin_checks).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/internal.h"
#include "core/json.h"
#include "core/time.h"
#include "audit/verify.h"
#include "crypto/cert.h"
#include "keys/named.h"

#define DAY_MS (86400LL * 1000)

/* ---- audit.log_verifiable ---- */

static void hex32(const uint8_t *p, char out[65])
{
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/*
 * Runs the audit module's verifier (mm_audit_verify_data_dir) over the
 * database this store uses, opened read-only: every leaf is recomputed from
 * the events, the tree rebuilt and compared with the stored tree and every
 * signed checkpoint (with the keys recorded in the database).
 */
static mm_err check_audit_log(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	char dir[PATH_MAX], root[65], ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	mm_audit_verify_report rep;
	const char *path, *slash;
	mm_err rc;

	if (ctx->store == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "no store is open");
	path = mm_store_path(ctx->store);
	slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return mm_err_set(MM_ERR_INTERNAL, "unexpected store path");
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	rc = mm_audit_verify_data_dir(dir, NULL, &rep);
	if (rc != MM_OK && rc != MM_ERR_VERIFY)
		return rc;
	hex32(rep.root, root);
	out->data = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s}", "events", (json_int_t)rep.events,
			      "tree_size", (json_int_t)rep.tree_size, "checkpoints",
			      (json_int_t)rep.checkpoints, "covered", (json_int_t)rep.covered,
			      "root", root, "problem", mm_audit_problem_name(rep.problem));
	if (rc == MM_ERR_VERIFY) {
		if (out->data != NULL) {
			json_object_set_new(out->data, "bad_seq", json_integer(rep.bad_seq));
			json_object_set_new(out->data, "detail", json_string(rep.detail));
		}
		/* The full detail is in data; the finding carries its start. */
		snprintf(ja, sizeof(ja), "監査ログの検証に失敗しました（%s、seq %lld）: %.300s",
			 mm_audit_problem_name(rep.problem), (long long)rep.bad_seq, rep.detail);
		snprintf(en, sizeof(en), "The audit log fails verification (%s at seq %lld): %.300s",
			 mm_audit_problem_name(rep.problem), (long long)rep.bad_seq, rep.detail);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else if (rep.events == 0) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "監査ログにイベントが1件もありません",
				"The audit log holds no events");
	} else {
		snprintf(ja, sizeof(ja), "監査ログ %lld 件を検証しました（署名済みチェックポイント %lld 件、"
			 "うち %lld 件目までが署名で保護）", (long long)rep.events,
			 (long long)rep.checkpoints, (long long)rep.covered);
		snprintf(en, sizeof(en), "Verified %lld audit events (%lld signed checkpoints; the first "
			 "%lld events are under a signature)", (long long)rep.events,
			 (long long)rep.checkpoints, (long long)rep.covered);
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	return MM_OK;
}

static const mm_evidence_check audit_log_check = {
	.name = "audit.log_verifiable",
	.module = "compliance",
	.title_ja = "監査ログが存在し、改ざんされていないことを検証できる",
	.title_en = "The audit log exists and verifies",
	.description = "Runs the audit module's verifier over this store's database (read-only): "
		       "every leaf is recomputed from the events, the RFC 9162 tree rebuilt and "
		       "compared with the stored tree and with every signed checkpoint. Passes "
		       "when there is at least one event and nothing was modified, deleted, "
		       "reordered, inserted or truncated; fails naming the problem and the first "
		       "bad sequence number. Freshness of checkpoints is the separate "
		       "audit.checkpoint_published check.",
	.run = check_audit_log,
};

/* ---- audit.checkpoint_published ---- */

static mm_err check_checkpoint(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	char cpt[MM_TIME_RFC3339_LEN] = "", evt[MM_TIME_RFC3339_LEN];
	mm_audit_checkpoint cp;
	mm_audit_filter flt;
	json_t *events = NULL;
	int64_t size = 0, covered = 0, oldest = 0, next, max_age = 24;
	bool have_cp = false;
	mm_err rc;

	memset(&cp, 0, sizeof(cp));
	if (ctx->store == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "no store is open");
	if (ctx->params != NULL &&
	    (rc = mm_json_int(ctx->params, "max_age_hours", false, 1, 8760, &max_age)) != MM_OK)
		return rc;
	if ((rc = mm_audit_tree_size(ctx->store, &size)) != MM_OK)
		return rc;
	rc = mm_audit_latest_checkpoint(ctx->store, &cp);
	if (rc == MM_OK) {
		have_cp = true;
		covered = cp.size;
		mm_time_format(cp.time_ms, cpt);
	} else if (rc != MM_ERR_NOT_FOUND) {
		return rc;
	}
	if (size > covered) {
		/* The oldest event not yet under a signed checkpoint. */
		mm_audit_filter_init(&flt);
		flt.seq_from = covered;
		flt.limit = 1;
		if ((rc = mm_audit_query(ctx->store, &flt, &events, &next)) != MM_OK)
			goto out;
		oldest = json_integer_value(json_object_get(json_array_get(events, 0), "time_ms"));
	}
	out->data = json_pack("{s:I,s:I,s:I,s:o}", "tree_size", (json_int_t)size, "covered",
			      (json_int_t)covered, "max_age_hours", (json_int_t)max_age,
			      "checkpoint_time", have_cp ? json_string(cpt) : json_null());
	if (size == 0) {
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "監査ログにまだイベントがありません",
				"The audit log has no events yet");
	} else if (size <= covered) {
		snprintf(ja, sizeof(ja), "%s の署名済みチェックポイントが全 %lld 件を保護しています", cpt,
			 (long long)size);
		snprintf(en, sizeof(en), "The checkpoint signed at %s covers all %lld events", cpt,
			 (long long)size);
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	} else {
		bool late = ctx->now_ms - oldest > max_age * 3600 * 1000;

		mm_time_format(oldest, evt);
		snprintf(ja, sizeof(ja), "%lld 件（%s 以降）が署名済みチェックポイントの外です%s",
			 (long long)(size - covered), evt,
			 late ? "（許容時間を超過）" : "（許容時間内）");
		snprintf(en, sizeof(en), "%lld events (since %s) are not yet under a signed checkpoint%s",
			 (long long)(size - covered), evt,
			 late ? ", for longer than allowed" : ", within the allowed time");
		mm_evidence_set(out, late ? MM_EVIDENCE_FAIL : MM_EVIDENCE_PASS, ja, en);
	}
	rc = MM_OK;
out:
	json_decref(events);
	mm_audit_checkpoint_release(&cp);
	return rc;
}

static const mm_evidence_check checkpoint_check = {
	.name = "audit.checkpoint_published",
	.module = "compliance",
	.title_ja = "監査ログのチェックポイントが一定時間内に署名・公開されている",
	.title_en = "Audit events are under a signed checkpoint within N hours",
	.description = "Compares the audit tree size with the latest signed checkpoint. Passes "
		       "when every event is covered, or when the oldest uncovered event is younger "
		       "than params.max_age_hours (default 24); fails when it is older (including "
		       "when no checkpoint was ever signed); not applicable on an empty log.",
	.run = check_checkpoint,
};

/* ---- keys.cryptrec_algorithms, keys.rotated ---- */

/* Reads the named keys' metadata (never material) straight from the keys
 * module's table, so that the checks need no key-manager handle and work
 * sealed. Calls fn for each key; a store without the keys tables is an
 * error (the keys module is not installed). */
typedef void (*key_fn)(void *arg, const char *name, const char *type, bool disabled,
		       int64_t created_ms, int64_t rotated_ms);

static mm_err each_key(mm_store *store, key_fn fn, void *arg, int64_t *ret_n)
{
	static const char q[] = "SELECT name, type, disabled, created_ms, rotated_ms FROM keys_named"
				" ORDER BY name";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	int64_t n = 0;
	bool row;
	mm_err rc;

	if (store == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "no store is open");
	if ((rc = mm_store_acquire(store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK) {
		rc = mm_err_set(MM_ERR_UNAVAILABLE, "the key manager's tables are not in this store");
		goto out;
	}
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		fn(arg, mm_stmt_text(st, 0), mm_stmt_text(st, 1), mm_stmt_int(st, 2) != 0,
		   mm_stmt_int(st, 3), mm_stmt_int(st, 4));
		n++;
	}
	if (rc == MM_OK)
		*ret_n = n;
out:
	mm_stmt_done(st);
	mm_store_release(store, db);
	return rc;
}

struct alg_scan {
	json_t *listed;   /* algorithm names on the list, from the keys module */
	json_t *keys;     /* [{name, type, listed}] */
	json_t *bad;      /* names of keys whose type is not listed */
};

static void alg_one(void *p, const char *name, const char *type, bool disabled, int64_t created_ms,
		    int64_t rotated_ms)
{
	struct alg_scan *a = p;
	bool ok = false;
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(a->listed, "algorithms"), i, x)
		ok |= strcmp(json_string_value(json_object_get(x, "name")), type) == 0 &&
		      strcmp(json_string_value(json_object_get(x, "use")), "named-key") == 0;
	json_array_append_new(a->keys, json_pack("{s:s,s:s,s:b}", "name", name, "type", type,
						 "cryptrec", ok));
	if (!ok)
		json_array_append_new(a->bad, json_string(name));
}

static mm_err check_key_algorithms(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	struct alg_scan a = { mm_keys_algorithms_json(), json_array(), json_array() };
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	int64_t n = 0;
	mm_err rc;

	if (a.listed == NULL || a.keys == NULL || a.bad == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = each_key(ctx->store, alg_one, &a, &n)) != MM_OK)
		goto out;
	if (n == 0) {
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "鍵管理に名前付き鍵がありません",
				"The key manager holds no named keys");
	} else if (json_array_size(a.bad) > 0) {
		snprintf(ja, sizeof(ja), "%zu 件の鍵が CRYPTREC 暗号リスト外の方式です（最初: %s）",
			 json_array_size(a.bad), json_string_value(json_array_get(a.bad, 0)));
		snprintf(en, sizeof(en), "%zu keys use an algorithm that is not on the CRYPTREC list "
			 "(first: %s)", json_array_size(a.bad), json_string_value(json_array_get(a.bad, 0)));
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		snprintf(ja, sizeof(ja), "名前付き鍵 %lld 件はすべて CRYPTREC 電子政府推奨暗号の方式です",
			 (long long)n);
		snprintf(en, sizeof(en), "All %lld named keys use algorithms on the CRYPTREC "
			 "e-Government Recommended Ciphers List", (long long)n);
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	out->data = json_pack("{s:O,s:O,s:O}", "keys", a.keys, "not_listed", a.bad, "list",
			      json_object_get(a.listed, "source"));
out:
	json_decref(a.listed);
	json_decref(a.keys);
	json_decref(a.bad);
	return rc;
}

static const mm_evidence_check key_algorithms_check = {
	.name = "keys.cryptrec_algorithms",
	.module = "compliance",
	.title_ja = "鍵が CRYPTREC 推奨の方式を使っている",
	.title_en = "Keys use algorithms on the CRYPTREC list",
	.description = "Reads the named keys (metadata only) and compares each key's type with the "
		       "key manager's list of algorithms on the CRYPTREC e-Government Recommended "
		       "Ciphers List (mm_keys_algorithms_json). Passes when every key's type is "
		       "listed; fails naming the first key that is not; not applicable without "
		       "named keys.",
	.run = check_key_algorithms,
};

struct rot_scan {
	int64_t now, max_ms, enabled;
	json_t *stale;    /* [{name, last_rotated}] */
};

static void rot_one(void *p, const char *name, const char *type, bool disabled, int64_t created_ms,
		    int64_t rotated_ms)
{
	struct rot_scan *r = p;
	int64_t last = rotated_ms > created_ms ? rotated_ms : created_ms;
	char t[MM_TIME_RFC3339_LEN];

	if (disabled)
		return;
	r->enabled++;
	if (r->now - last <= r->max_ms)
		return;
	mm_time_format(last, t);
	json_array_append_new(r->stale, json_pack("{s:s,s:s}", "name", name, "last_rotated", t));
}

static mm_err check_key_rotation(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	struct rot_scan r = { ctx->now_ms, 0, 0, json_array() };
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	int64_t max_days = 365, n = 0;
	mm_err rc;

	if (r.stale == NULL)
		return MM_ERR_NOMEM;
	if (ctx->params != NULL &&
	    (rc = mm_json_int(ctx->params, "max_age_days", false, 1, 3650, &max_days)) != MM_OK)
		goto out;
	r.max_ms = max_days * DAY_MS;
	if ((rc = each_key(ctx->store, rot_one, &r, &n)) != MM_OK)
		goto out;
	if (r.enabled == 0) {
		mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, "有効な名前付き鍵がありません",
				"The key manager holds no enabled named keys");
	} else if (json_array_size(r.stale) > 0) {
		const char *first = json_string_value(json_object_get(json_array_get(r.stale, 0), "name"));

		snprintf(ja, sizeof(ja), "%zu 件の鍵が %lld 日以上更新されていません（最初: %s）",
			 json_array_size(r.stale), (long long)max_days, first);
		snprintf(en, sizeof(en), "%zu keys were not rotated for more than %lld days (first: %s)",
			 json_array_size(r.stale), (long long)max_days, first);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		snprintf(ja, sizeof(ja), "有効な鍵 %lld 件はすべて %lld 日以内に作成または更新されています",
			 (long long)r.enabled, (long long)max_days);
		snprintf(en, sizeof(en), "All %lld enabled keys were created or rotated within %lld days",
			 (long long)r.enabled, (long long)max_days);
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	out->data = json_pack("{s:I,s:I,s:O}", "enabled_keys", (json_int_t)r.enabled, "max_age_days",
			      (json_int_t)max_days, "stale", r.stale);
out:
	json_decref(r.stale);
	return rc;
}

static const mm_evidence_check key_rotation_check = {
	.name = "keys.rotated",
	.module = "compliance",
	.title_ja = "鍵が一定日数内に更新されている",
	.title_en = "Keys were rotated within N days",
	.description = "Reads the named keys (metadata only). Passes when every enabled key was "
		       "created or last rotated within params.max_age_days (default 365); fails "
		       "naming the first stale key; not applicable without enabled keys.",
	.run = check_key_rotation,
};

/* ---- tls.configured ---- */

static bool loopback_only(const char *listen)
{
	char host[256];
	const char *colon;
	size_t n;

	if (listen == NULL)
		return false;
	if (listen[0] == '[') {
		const char *e = strchr(listen, ']');

		if (e == NULL)
			return false;
		n = (size_t)(e - listen - 1);
		if (n >= sizeof(host))
			return false;
		memcpy(host, listen + 1, n);
		host[n] = '\0';
	} else {
		colon = strrchr(listen, ':');
		n = colon ? (size_t)(colon - listen) : strlen(listen);
		if (n >= sizeof(host))
			return false;
		memcpy(host, listen, n);
		host[n] = '\0';
	}
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

static mm_err check_tls(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	const mm_config *cfg = ctx->cfg;
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	char na[MM_TIME_RFC3339_LEN];
	mm_cert_info ci;
	int64_t warn_days = 30;
	mm_err rc;

	if (cfg == NULL)
		return mm_err_set(MM_ERR_CONFIG, "no daemon configuration was given to the evaluation");
	if (ctx->params != NULL &&
	    (rc = mm_json_int(ctx->params, "warn_days", false, 0, 3650, &warn_days)) != MM_OK)
		return rc;
	if (cfg->tls_cert == NULL && cfg->tls_key == NULL) {
		if (loopback_only(cfg->listen)) {
			snprintf(ja, sizeof(ja), "TLS は未設定ですが、%s（ループバックのみ）で待ち受けています。"
				 "前段のプロキシで TLS を終端してください（本チェックでは未確認）",
				 cfg->listen);
			snprintf(en, sizeof(en), "TLS is not configured, but the daemon listens on %s "
				 "(loopback only); a front proxy must terminate TLS (not verified here)",
				 cfg->listen);
			mm_evidence_set(out, MM_EVIDENCE_NOT_APPLICABLE, ja, en);
		} else {
			snprintf(ja, sizeof(ja), "TLS が設定されていないまま %s で待ち受けています", cfg->listen);
			snprintf(en, sizeof(en), "The daemon listens on %s without TLS", cfg->listen);
			mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
		}
		out->data = json_pack("{s:s,s:b}", "listen", cfg->listen, "tls", 0);
		return MM_OK;
	}
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "tls.cert と tls.key の一方しか設定されていません",
				"Only one of tls.cert and tls.key is set");
		out->data = json_pack("{s:s}", "listen", cfg->listen);
		return MM_OK;
	}
	if ((rc = mm_crypto_cert_inspect(cfg->tls_cert, cfg->tls_key, &ci)) != MM_OK) {
		char d[300];

		if (rc != MM_ERR_IO && rc != MM_ERR_INVALID)
			return rc;
		snprintf(d, sizeof(d), "%s", mm_err_detail(rc));
		snprintf(ja, sizeof(ja), "TLS の証明書または鍵を読めません: %s", d);
		snprintf(en, sizeof(en), "The TLS certificate or key cannot be read: %s", d);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
		out->data = json_pack("{s:s,s:s}", "listen", cfg->listen, "cert", cfg->tls_cert);
		return MM_OK;
	}
	mm_time_format(ci.not_after_ms, na);
	out->data = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:b,s:b}", "listen", cfg->listen,
			      "subject", ci.subject, "key_type", ci.key_type, "key_bits", ci.key_bits,
			      "curve", ci.curve, "signature", ci.sig_alg, "not_after", na,
			      "key_matches", ci.key_matches, "cryptrec", ci.cryptrec_ok);
	if (!ci.key_matches) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "TLS の秘密鍵が証明書と一致しません",
				"The TLS private key does not match the certificate");
	} else if (ci.not_after_ms <= ctx->now_ms) {
		snprintf(ja, sizeof(ja), "TLS 証明書の有効期限が切れています（%s）", na);
		snprintf(en, sizeof(en), "The TLS certificate expired at %s", na);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else if (ci.not_before_ms > ctx->now_ms) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "TLS 証明書がまだ有効になっていません",
				"The TLS certificate is not valid yet");
	} else if (!ci.cryptrec_ok) {
		snprintf(ja, sizeof(ja), "TLS の鍵または署名が CRYPTREC 推奨の条件を満たしません（%s）",
			 ci.cryptrec_reason);
		snprintf(en, sizeof(en), "The TLS key or signature is not on the CRYPTREC list (%s)",
			 ci.cryptrec_reason);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		bool soon = ci.not_after_ms - ctx->now_ms < warn_days * DAY_MS;

		snprintf(ja, sizeof(ja), "TLS が有効です（%s %d ビット、有効期限 %s%s）", ci.key_type,
			 ci.key_bits, na, soon ? "、まもなく期限切れ" : "");
		snprintf(en, sizeof(en), "TLS is on (%s %d bits, valid until %s%s)", ci.key_type,
			 ci.key_bits, na, soon ? ", expiring soon" : "");
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	return MM_OK;
}

static const mm_evidence_check tls_check = {
	.name = "tls.configured",
	.module = "compliance",
	.title_ja = "API の通信が TLS で保護されている",
	.title_en = "API traffic is protected by TLS",
	.description = "Reads tls.cert and tls.key from the daemon configuration. Passes when both "
		       "are set, the certificate and key parse and match, the certificate is "
		       "within its validity period, and its key (RSA >= 2048, P-256/384/521, "
		       "Ed25519/Ed448) and signature hash (not SHA-1/MD5) are on the CRYPTREC "
		       "list; the finding notes expiry within params.warn_days (default 30). Not "
		       "applicable when TLS is off and the daemon listens on loopback only. Fails "
		       "otherwise.",
	.run = check_tls,
};

/* ---- fisc.response_published ---- */

static mm_err check_published(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char q[] = "SELECT doc_id, MAX(published_ms) FROM fisc_versions"
				" WHERE state = 'published' GROUP BY doc_id ORDER BY doc_id";
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX], t[MM_TIME_RFC3339_LEN];
	int64_t max_age = 365, newest = 0;
	const char *newest_doc = NULL;
	char newest_buf[80] = "";
	json_t *docs = json_array();
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (docs == NULL)
		return MM_ERR_NOMEM;
	if (ctx->store == NULL) {
		rc = mm_err_set(MM_ERR_UNAVAILABLE, "no store is open");
		goto out;
	}
	if (ctx->params != NULL &&
	    (rc = mm_json_int(ctx->params, "max_age_days", false, 1, 3650, &max_age)) != MM_OK)
		goto out;
	if ((rc = mm_store_acquire(ctx->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		int64_t ms = mm_stmt_int(st, 1);

		mm_time_format(ms, t);
		json_array_append_new(docs, json_pack("{s:s,s:s}", "doc", mm_stmt_text(st, 0),
						      "published", t));
		if (ms > newest) {
			newest = ms;
			snprintf(newest_buf, sizeof(newest_buf), "%s", mm_stmt_text(st, 0));
			newest_doc = newest_buf;
		}
	}
	if (rc != MM_OK)
		goto out;
	if (newest_doc == NULL) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "公開済みの FISC 対応表がありません",
				"No FISC response table has been published");
	} else {
		mm_time_format(newest, t);
		if (ctx->now_ms - newest > max_age * DAY_MS) {
			snprintf(ja, sizeof(ja), "最新の対応表（%s）の公開は %s で、%lld 日より前です",
				 newest_doc, t, (long long)max_age);
			snprintf(en, sizeof(en), "The newest response table (%s) was published %s, more "
				 "than %lld days ago", newest_doc, t, (long long)max_age);
			mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
		} else {
			snprintf(ja, sizeof(ja), "対応表 %s が %s に承認・公開されています", newest_doc, t);
			snprintf(en, sizeof(en), "Response table %s was approved and published %s",
				 newest_doc, t);
			mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
		}
	}
	out->data = json_pack("{s:O,s:I}", "documents", docs, "max_age_days", (json_int_t)max_age);
out:
	mm_stmt_done(st);
	if (db != NULL)
		mm_store_release(ctx->store, db);
	json_decref(docs);
	return rc;
}

static const mm_evidence_check published_check = {
	.name = "fisc.response_published",
	.module = "compliance",
	.title_ja = "承認済みの対応表が公開されている",
	.title_en = "An approved response table is published",
	.description = "Passes when the newest published FISC response table (every published "
		       "version was approved by someone other than its authors) was published "
		       "within params.max_age_days (default 365). Fails when none is published "
		       "or the newest is older.",
	.run = check_published,
};

mm_err fisc_register_builtin_checks(void)
{
	static const mm_evidence_check *const builtin[] = { &audit_log_check, &checkpoint_check,
							    &key_algorithms_check,
							    &key_rotation_check, &tls_check,
							    &published_check };
	mm_err rc;

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		const mm_evidence_check *c = mm_evidence_find(builtin[i]->name);

		if (c != NULL)
			continue; /* the owning module registered its own */
		if ((rc = mm_evidence_register(builtin[i])) != MM_OK && rc != MM_ERR_EXISTS)
			return rc;
	}
	return MM_OK;
}
