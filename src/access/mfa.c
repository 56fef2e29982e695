/*
 * mfa.c: TOTP second factor (RFC 6238 via liboath, 30-second steps, six
 * digits, HMAC-SHA1 as every authenticator app implements), enrolment with
 * an otpauth:// URI and a QR code (libqrencode), and one-time recovery codes.
 *
 * Invariants:
 *  - A TOTP secret exists in plaintext only in memory, briefly, and is wiped
 *    after use; at rest it is sealed by the injected sealer with the context
 *    "mamori/totp/user:ID", so a sealed secret copied to another user's row
 *    does not open.
 *  - A code is accepted at most once: the time step of the last accepted
 *    code is stored per user (users.mfa_last_step) and a code is accepted
 *    only for a later step, checked and updated atomically inside the write
 *    job that consumes it. liboath validates statelessly; replay protection
 *    is ours.
 *  - At most one step of clock drift either way (window 1).
 *  - Recovery codes are 80-bit random values; only SHA-256 over a
 *    domain-separated (user id, code) string is stored, and a code is
 *    consumed by a conditional update (used_ms IS NULL), so it works once.
 */
#include <liboath/oath.h>
#include <pthread.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"

#define TOTP_STEP 30
#define TOTP_DIGITS 6
#define SECRET_LEN 20
#define RECOVERY_CODES 10
#define RECOVERY_BYTES 10

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_status = OATH_OK;

static void init_oath(void)
{
	oath_status = oath_init();
}

static mm_err need_oath(void)
{
	pthread_once(&oath_once, init_oath);
	if (oath_status != OATH_OK)
		return mm_err_set(MM_ERR_CRYPTO, "liboath failed to initialise");
	return MM_OK;
}

static void seal_context(int64_t uid, char out[64])
{
	snprintf(out, 64, "mamori/totp/user:%lld", (long long)uid);
}

static mm_err unseal(mm_access *a, int64_t uid, const void *sealed, size_t n, mm_buf *out)
{
	char ctx[64];

	if (!a->have_sealer)
		return mm_err_set(MM_ERR_SEALED, "no key is available to open TOTP secrets");
	seal_context(uid, ctx);
	return a->sealer.unwrap(a->sealer.ctx, ctx, sealed, n, out);
}

static bool six_digits(const char *code)
{
	if (code == NULL || strlen(code) != TOTP_DIGITS)
		return false;
	for (int i = 0; i < TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

static mm_err verify_secret(const uint8_t *secret, size_t n, const char *code, int64_t now_ms,
			    int64_t *ret_step)
{
	uint64_t counter = 0;
	int pos = 0, r;
	mm_err rc;

	if (!six_digits(code))
		return mm_err_set(MM_ERR_VERIFY, "the code must be %d digits", TOTP_DIGITS);
	if ((rc = need_oath()) != MM_OK)
		return rc;
	r = oath_totp_validate3((const char *)secret, n, (time_t)(now_ms / 1000), TOTP_STEP, 0, 1,
				&pos, &counter, code);
	if (r < 0)
		return mm_err_set(MM_ERR_VERIFY, "wrong code");
	*ret_step = (int64_t)counter;
	return MM_OK;
}

mm_err mm_mfa_verify(mm_access *a, int64_t uid, const void *sealed, size_t n,
		     const char *code, int64_t now_ms, int64_t *ret_step)
{
	mm_buf secret = MM_BUF_INIT(256);
	mm_err rc;

	if (!six_digits(code))
		return mm_err_set(MM_ERR_VERIFY, "the code must be %d digits", TOTP_DIGITS);
	if ((rc = unseal(a, uid, sealed, n, &secret)) != MM_OK)
		goto out;
	rc = verify_secret((const uint8_t *)secret.data, secret.len, code, now_ms, ret_step);
out:
	mm_buf_wipe_release(&secret);
	return rc;
}

/* Lowercase base32 letters and digits 2-7 only, dashes and spaces dropped. */
static bool normalise_recovery(const char *in, char out[RECOVERY_BYTES * 8 / 5 + 1])
{
	size_t n = 0, want = RECOVERY_BYTES * 8 / 5;

	for (; in != NULL && *in; in++) {
		char c = *in;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) || n == want)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == want;
}

mm_err mm_mfa_recovery_hash(int64_t uid, const char *code, char out[MM_TOKEN_HASH_HEX])
{
	char norm[RECOVERY_BYTES * 8 / 5 + 1], buf[128];

	if (!normalise_recovery(code, norm))
		return mm_err_set(MM_ERR_VERIFY, "malformed recovery code");
	snprintf(buf, sizeof(buf), "mamori-recovery:%lld:%s", (long long)uid, norm);
	mm_token_hash(buf, out);
	mm_crypto_wipe(norm, sizeof(norm));
	mm_crypto_wipe(buf, sizeof(buf));
	return MM_OK;
}

/* The QR code as terminal text: two modules per character cell with upper
 * and lower half blocks, light modules drawn (for dark terminals), with a
 * two-module quiet zone. */
static mm_err qr_text(const char *uri, mm_buf *out)
{
	QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	const int quiet = 2;
	mm_err rc = MM_OK;
	int w;

	if (q == NULL)
		return mm_err_set(MM_ERR_INTERNAL, "libqrencode could not encode the URI");
	w = q->width;
	for (int y = -quiet; y < w + quiet && rc == MM_OK; y += 2) {
		for (int x = -quiet; x < w + quiet && rc == MM_OK; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w && (q->data[y * w + x] & 1);
			bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
				   (q->data[(y + 1) * w + x] & 1);
			const char *cell = !top && !bot ? "\xe2\x96\x88"   /* full block */
					 : !top         ? "\xe2\x96\x80"   /* upper half */
					 : !bot         ? "\xe2\x96\x84"   /* lower half */
							: " ";
			rc = mm_buf_appends(out, cell);
		}
		if (rc == MM_OK)
			rc = mm_buf_appendc(out, '\n');
	}
	QRcode_free(q);
	return rc;
}

/* ---- enrolment ---- */

struct user_mfa {
	int64_t uid;
	char name[MM_NAME_MAX + 1];
	mm_buf active;   /* sealed secrets */
	mm_buf pending;
	int64_t last_step;
};

static mm_err load_user_mfa(mm_access *a, int64_t uid, struct user_mfa *u)
{
	static const char sql[] =
		"SELECT name, mfa_secret, mfa_pending, mfa_last_step FROM users"
		" WHERE id = ? AND disabled = 0";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	const void *p;
	size_t n;
	bool row;
	mm_err rc;

	u->uid = uid;
	mm_buf_init(&u->active, 4096);
	mm_buf_init(&u->pending, 4096);
	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, 1, uid)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no such user");
		goto out;
	}
	mm_str_copy(u->name, sizeof(u->name), mm_stmt_text(st, 0));
	if (!mm_stmt_is_null(st, 1) && (p = mm_stmt_blob(st, 1, &n)) != NULL &&
	    (rc = mm_buf_append(&u->active, p, n)) != MM_OK)
		goto out;
	if (!mm_stmt_is_null(st, 2) && (p = mm_stmt_blob(st, 2, &n)) != NULL &&
	    (rc = mm_buf_append(&u->pending, p, n)) != MM_OK)
		goto out;
	u->last_step = mm_stmt_int(st, 3);
out:
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

static void free_user_mfa(struct user_mfa *u)
{
	mm_buf_release(&u->active);
	mm_buf_release(&u->pending);
}

struct enroll_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const mm_buf *sealed;
	int64_t step;          /* current-code step when re-enrolling, else 0 */
};

static mm_err enroll_job(mm_db *db, void *arg)
{
	static const char q_set[] = "UPDATE users SET mfa_pending = ? WHERE id = ?";
	static const char q_step[] =
		"UPDATE users SET mfa_last_step = ? WHERE id = ? AND mfa_last_step < ?";
	struct enroll_job *j = arg;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	mm_stmt *st;
	mm_err rc;

	if (j->step > 0) {
		if ((rc = mm_db_prepare(db, q_step, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, j->step)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, j->ctx->who->user_id)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, j->step)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		if (mm_db_changes(db) != 1)
			return mm_err_set(MM_ERR_VERIFY, "this code was already used");
	}
	if ((rc = mm_db_prepare(db, q_set, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_blob(st, 1, j->sealed->data, j->sealed->len)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j->ctx->who->user_id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	snprintf(target, sizeof(target), "user:%s", j->ctx->who->name);
	mm_access_event(&ev, j->ctx, actor, "user.mfa.enroll_start", target, "success");
	return mm_audit_append(db, &ev, NULL);
}

mm_err mm_access_mfa_enroll(mm_access *a, const mm_access_ctx *ctx, const char *code,
			    json_t **ret)
{
	struct user_mfa u;
	uint8_t secret[SECRET_LEN];
	char *b32 = NULL, sctx[64];
	size_t b32len = 0;
	mm_buf sealed = MM_BUF_INIT(4096), uri = MM_BUF_INIT(512), qr = MM_BUF_INIT(1 << 16);
	struct enroll_job j;
	json_t *out;
	int64_t step = 0;
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users enrol TOTP");
	if (!a->have_sealer)
		return mm_err_set(MM_ERR_SEALED, "no key is available to protect TOTP secrets");
	if ((rc = need_oath()) != MM_OK)
		return rc;
	if ((rc = load_user_mfa(a, ctx->who->user_id, &u)) != MM_OK) {
		free_user_mfa(&u);
		return rc;
	}
	if (u.active.len > 0) {
		/* Replacing an active authenticator needs its current code. */
		if (code == NULL) {
			rc = mm_err_set(MM_ERR_FORBIDDEN, "TOTP is already active: give the current "
					"code to enrol a new authenticator");
			goto out;
		}
		if ((rc = mm_mfa_verify(a, u.uid, u.active.data, u.active.len, code,
					mm_time_wall_ms(), &step)) != MM_OK)
			goto out;
		if (step <= u.last_step) {
			rc = mm_err_set(MM_ERR_VERIFY, "this code was already used");
			goto out;
		}
	}
	if ((rc = mm_crypto_random(secret, sizeof(secret))) != MM_OK)
		goto out;
	seal_context(u.uid, sctx);
	if ((rc = a->sealer.wrap(a->sealer.ctx, sctx, secret, sizeof(secret), &sealed)) != MM_OK)
		goto out;
	if (oath_base32_encode((const char *)secret, sizeof(secret), &b32, &b32len) != OATH_OK) {
		rc = mm_err_set(MM_ERR_CRYPTO, "base32 encoding failed");
		goto out;
	}
	if ((rc = mm_buf_appendf(&uri, "otpauth://totp/mamori:%s?secret=%s&issuer=mamori"
				 "&algorithm=SHA1&digits=%d&period=%d", u.name, b32, TOTP_DIGITS,
				 TOTP_STEP)) != MM_OK)
		goto out;
	if ((rc = qr_text(mm_buf_str(&uri), &qr)) != MM_OK)
		goto out;
	j = (struct enroll_job){ a, ctx, &sealed, step };
	if ((rc = mm_store_write(a->store, enroll_job, &j)) != MM_OK)
		goto out;
	out = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "otpauth_uri", mm_buf_str(&uri), "secret",
			b32, "qr", mm_buf_str(&qr), "algorithm", "SHA1", "digits", TOTP_DIGITS,
			"period", TOTP_STEP);
	if (out == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	*ret = out;
out:
	mm_crypto_wipe(secret, sizeof(secret));
	if (b32 != NULL) {
		mm_crypto_wipe(b32, b32len);
		free(b32);
	}
	mm_buf_wipe_release(&uri);
	mm_buf_wipe_release(&qr);
	mm_buf_release(&sealed);
	free_user_mfa(&u);
	return rc;
}

struct confirm_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const mm_buf *pending;
	int64_t step;
	char hashes[RECOVERY_CODES][MM_TOKEN_HASH_HEX];
};

static mm_err confirm_job(mm_db *db, void *arg)
{
	static const char q_user[] =
		"UPDATE users SET mfa_secret = mfa_pending, mfa_pending = NULL, mfa_enrolled_ms = ?,"
		" mfa_last_step = ? WHERE id = ? AND mfa_pending = ?";
	static const char q_del[] = "DELETE FROM recovery_codes WHERE user_id = ?";
	static const char q_ins[] =
		"INSERT INTO recovery_codes (user_id, hash, created_ms) VALUES (?, ?, ?)";
	static const char q_tok[] = "UPDATE tokens SET scope = 'full', mfa = 1 WHERE id = ?";
	struct confirm_job *j = arg;
	int64_t uid = j->ctx->who->user_id, now = mm_time_wall_ms();
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	json_t *details;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q_user, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j->step)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, uid)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 4, j->pending->data, j->pending->len)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_CONFLICT, "the enrolment changed meanwhile: start again");
	if ((rc = mm_db_prepare(db, q_del, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	for (int i = 0; i < RECOVERY_CODES && rc == MM_OK; i++) {
		if ((rc = mm_db_prepare(db, q_ins, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_int(st, 1, uid)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 2, j->hashes[i])) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, now)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
	}
	if (rc != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q_tok, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, j->ctx->who->token_id)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	snprintf(target, sizeof(target), "user:%s", j->ctx->who->name);
	mm_access_event(&ev, j->ctx, actor, "user.mfa.enroll", target, "success");
	details = json_pack("{s:i}", "recovery_codes", RECOVERY_CODES);
	ev.details = details;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(details);
	return rc;
}

mm_err mm_access_mfa_confirm(mm_access *a, const mm_access_ctx *ctx, const char *code,
			     json_t **ret)
{
	struct user_mfa u;
	struct confirm_job *j = NULL;
	json_t *codes = NULL;
	mm_err rc;

	if (ctx->who == NULL || ctx->who->kind != MM_PRINCIPAL_USER)
		return mm_err_set(MM_ERR_FORBIDDEN, "only users enrol TOTP");
	if ((rc = load_user_mfa(a, ctx->who->user_id, &u)) != MM_OK)
		goto out;
	if (u.pending.len == 0) {
		rc = mm_err_set(MM_ERR_CONFLICT, "no enrolment is pending: run the enrolment first");
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL || (codes = json_array()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = mm_mfa_verify(a, u.uid, u.pending.data, u.pending.len, code, mm_time_wall_ms(),
				&j->step)) != MM_OK)
		goto out;
	for (int i = 0; i < RECOVERY_CODES; i++) {
		uint8_t raw[RECOVERY_BYTES];
		char *b32 = NULL, text[24];
		size_t len = 0;

		if ((rc = mm_crypto_random(raw, sizeof(raw))) != MM_OK)
			goto out;
		if (oath_base32_encode((const char *)raw, sizeof(raw), &b32, &len) != OATH_OK ||
		    len != 16) {
			free(b32);
			rc = mm_err_set(MM_ERR_CRYPTO, "base32 encoding failed");
			goto out;
		}
		for (size_t k = 0; k < len; k++)
			if (b32[k] >= 'A' && b32[k] <= 'Z')
				b32[k] = (char)(b32[k] - 'A' + 'a');
		snprintf(text, sizeof(text), "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8, b32 + 12);
		mm_crypto_wipe(b32, len);
		free(b32);
		mm_crypto_wipe(raw, sizeof(raw));
		rc = mm_mfa_recovery_hash(u.uid, text, j->hashes[i]);
		if (rc == MM_OK && json_array_append_new(codes, json_string(text)) != 0)
			rc = MM_ERR_NOMEM;
		mm_crypto_wipe(text, sizeof(text));
		if (rc != MM_OK)
			goto out;
	}
	j->a = a;
	j->ctx = ctx;
	j->pending = &u.pending;
	if ((rc = mm_access_write_auth(a, confirm_job, j)) != MM_OK)
		goto out;
	*ret = json_pack("{s:O,s:s}", "recovery_codes", codes, "note",
			 "Store these one-time recovery codes offline; each works once.");
	if (*ret == NULL)
		rc = MM_ERR_NOMEM;
out:
	json_decref(codes);
	free(j);
	free_user_mfa(&u);
	return rc;
}
