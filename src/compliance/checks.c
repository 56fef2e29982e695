/*
 * checks.c: the evidence checks that need only what exists in this module's
 * dependencies (the audit table, the configuration, the compliance tables).
 * Each is documented in docs/fisc.md ("Evidence checks"). Checks only read.
 *
 *  audit.log_verifiable     audit_events is present, non-empty, sequence
 *                           numbers are dense from 0, every leaf hash equals
 *                           SHA-256(0x00 || body) and the body agrees with the
 *                           row's columns.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/internal.h"
#include "core/json.h"
#include "core/time.h"
#include "crypto/cert.h"
#include "crypto/crypto.h"

#define DAY_MS (86400LL * 1000)

/* ---- audit.log_verifiable ---- */

static bool text_eq(const json_t *v, const char *s)
{
	if (s == NULL)
		return v == NULL || json_is_null(v);
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Checks one row; returns NULL when it verifies, else a short problem. */
static const char *audit_row_problem(mm_stmt *st, int64_t expect)
{
	static const uint8_t zero = 0;
	size_t blen = 0, hlen = 0;
	const void *body = mm_stmt_blob(st, 6, &blen);
	const void *hash = mm_stmt_blob(st, 7, &hlen);
	uint8_t leaf[MM_SHA256_LEN];
	json_t *o;
	const char *p = NULL;

	if (mm_stmt_int(st, 0) != expect)
		return "sequence gap";
	if (body == NULL || hash == NULL || hlen != MM_SHA256_LEN)
		return "missing body or leaf hash";
	mm_sha256_2(&zero, 1, body, blen, leaf);
	if (!mm_crypto_equal(leaf, hash, MM_SHA256_LEN))
		return "leaf hash does not match the body";
	if ((o = json_loadb(body, blen, 0, NULL)) == NULL)
		return "body is not JSON";
	if (!json_is_integer(json_object_get(o, "seq")) ||
	    json_integer_value(json_object_get(o, "seq")) != mm_stmt_int(st, 0))
		p = "body seq differs from the row";
	else if (!json_is_integer(json_object_get(o, "time_ms")) ||
		 json_integer_value(json_object_get(o, "time_ms")) != mm_stmt_int(st, 1))
		p = "body time differs from the row";
	else if (!text_eq(json_object_get(o, "actor"), mm_stmt_text(st, 2)))
		p = "body actor differs from the row";
	else if (!text_eq(json_object_get(o, "action"), mm_stmt_text(st, 3)))
		p = "body action differs from the row";
	else if (!text_eq(json_object_get(o, "target"), mm_stmt_text(st, 4)))
		p = "body target differs from the row";
	else if (!text_eq(json_object_get(o, "result"), mm_stmt_text(st, 5)))
		p = "body result differs from the row";
	json_decref(o);
	return p;
}

static mm_err check_audit_log(const mm_evidence_ctx *ctx, mm_evidence_out *out)
{
	static const char q[] = "SELECT seq, time_ms, actor, action, target, result, body, leaf_hash"
				" FROM audit_events ORDER BY seq";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	int64_t n = 0, bad = 0, first_bad = -1, expect = 0;
	const char *first_problem = NULL;
	char ja[MM_EVIDENCE_FINDING_MAX], en[MM_EVIDENCE_FINDING_MAX];
	bool row;
	mm_err rc;

	if (ctx->store == NULL)
		return mm_err_set(MM_ERR_UNAVAILABLE, "no store is open");
	if ((rc = mm_store_acquire(ctx->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	if (mm_db_prepare(db, q, &st) != MM_OK) {
		char d[200];

		snprintf(d, sizeof(d), "%s", mm_err_detail(MM_ERR_STORE));
		snprintf(ja, sizeof(ja), "監査ログのテーブル audit_events を読めません: %s", d);
		snprintf(en, sizeof(en), "The audit table audit_events cannot be read: %s", d);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
		out->data = json_pack("{s:s}", "problem", "audit_events unreadable");
		mm_db_rollback(db);
		goto out;
	}
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		const char *p = audit_row_problem(st, expect);

		if (p != NULL) {
			bad++;
			if (first_problem == NULL) {
				first_problem = p;
				first_bad = mm_stmt_int(st, 0);
			}
		}
		expect = mm_stmt_int(st, 0) + 1;
		n++;
	}
	mm_stmt_done(st);
	st = NULL;
	if (rc != MM_OK) {
		mm_db_rollback(db);
		goto out;
	}
	if ((rc = mm_db_commit(db)) != MM_OK)
		goto out;
	if (n == 0) {
		mm_evidence_set(out, MM_EVIDENCE_FAIL, "監査ログにイベントが1件もありません",
				"The audit log holds no events");
	} else if (bad > 0) {
		snprintf(ja, sizeof(ja), "監査ログ %lld 件中 %lld 件が検証に失敗しました（最初は seq %lld: %s）",
			 (long long)n, (long long)bad, (long long)first_bad, first_problem);
		snprintf(en, sizeof(en), "%lld of %lld audit events fail verification (first: seq %lld: %s)",
			 (long long)bad, (long long)n, (long long)first_bad, first_problem);
		mm_evidence_set(out, MM_EVIDENCE_FAIL, ja, en);
	} else {
		snprintf(ja, sizeof(ja), "監査ログ %lld 件を検証しました（連番・リーフハッシュ・内容が一致）",
			 (long long)n);
		snprintf(en, sizeof(en), "Verified %lld audit events (sequence, leaf hashes and contents agree)",
			 (long long)n);
		mm_evidence_set(out, MM_EVIDENCE_PASS, ja, en);
	}
	out->data = json_pack("{s:I,s:I}", "events", (json_int_t)n, "problems", (json_int_t)bad);
	if (out->data != NULL && first_problem != NULL) {
		json_object_set_new(out->data, "first_problem_seq", json_integer(first_bad));
		json_object_set_new(out->data, "first_problem", json_string(first_problem));
	}
out:
	mm_stmt_done(st);
	mm_store_release(ctx->store, db);
	return rc;
}

static const mm_evidence_check audit_log_check = {
	.name = "audit.log_verifiable",
	.module = "compliance",
	.title_ja = "監査ログが存在し、改ざんされていないことを検証できる",
	.title_en = "The audit log exists and verifies",
	.description = "Reads every row of audit_events in one snapshot. Passes when there is at "
		       "least one event, sequence numbers run 0..n-1 without gaps, each leaf_hash "
		       "is SHA-256(0x00 || body), and the body's seq, time_ms, actor, action, "
		       "target and result equal the row's columns. Fails otherwise, naming the "
		       "first bad sequence number. Truncation of the newest events is detected "
		       "by the audit module's checkpoint check, not here.",
	.run = check_audit_log,
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
	static const mm_evidence_check *const builtin[] = { &audit_log_check, &tls_check,
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
