/* Unit tests of identity over a real store and the real key manager
 * (mm_keys_wrap/unwrap as the sealer): bootstrap and restricted first
 * session, TOTP enrolment with a sealed secret (never stored in plaintext,
 * bound to its user), code replay refused, one step of drift accepted and
 * two refused, sealed key manager, recovery codes, idle and absolute session
 * timeouts, lockout arithmetic and the in-memory throttle. Codes come from
 * liboath's generator with explicit times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access/access.h"
#include "access/internal.h"
#include "audit/audit.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "keys/keys.h"

static char dir[64], dir2[64];
static mm_store *store, *store2;
static mm_config cfg;
static mm_access *acc;
static mm_keys *keys, *other_keys;

static mm_err wrap(void *ctx, const char *context, const uint8_t *pt, size_t n, mm_buf *out)
{
	return mm_keys_wrap(ctx, context, pt, n, out);
}

static mm_err unwrap(void *ctx, const char *context, const uint8_t *in, size_t n, mm_buf *out)
{
	return mm_keys_unwrap(ctx, context, in, n, out);
}

/* A key manager over its own store, initialised with one share and
 * unsealed. */
static char share[MM_KEYS_SHARE_TEXT_LEN + 1];

static mm_keys *open_keys(char *d, size_t cap, mm_store **ret_store)
{
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_access_migrations,
					   &mm_keys_migrations };
	mm_store_opts o = { 0 };
	mm_keys_opts ko = { 0 };
	mm_keys_shares sh = { 0 };
	mm_keys_status st;
	mm_keys *k = NULL;

	snprintf(d, cap, "/tmp/mm-access-XXXXXX");
	assert_non_null(mkdtemp(d));
	o.dir = d;
	assert_int_equal(mm_store_open(&o, ret_store), MM_OK);
	assert_int_equal(mm_store_migrate(*ret_store, sets, 3), MM_OK);
	ko.store = *ret_store;
	assert_int_equal(mm_keys_open(&ko, &k), MM_OK);
	assert_int_equal(mm_keys_init(k, NULL, 1, 1, &sh), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(k, NULL, sh.shares[0], &st), MM_OK);
	assert_false(st.sealed);
	snprintf(share, sizeof(share), "%s", sh.shares[0]);
	mm_keys_shares_release(&sh);
	return k;
}

static int setup(void **state)
{
	mm_access_sealer s;
	int64_t now = mm_time_wall_ms() % 30000;

	/* Keep the whole test inside one 30-second TOTP step. */
	if (now > 20000)
		sleep((unsigned)((30000 - now) / 1000 + 1));
	other_keys = open_keys(dir2, sizeof(dir2), &store2);
	keys = open_keys(dir, sizeof(dir), &store); /* last: its share is kept */
	assert_int_equal(mm_config_init(&cfg), MM_OK);
	cfg.lockout_threshold = 20;
	assert_int_equal(mm_access_open(store, &cfg, &acc), MM_OK);
	s = (mm_access_sealer){ wrap, unwrap, NULL, keys };
	mm_access_set_sealer(acc, &s);
	assert_int_equal(oath_init(), OATH_OK);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	mm_access_free(acc);
	mm_keys_close(keys);
	mm_keys_close(other_keys);
	mm_store_close(store);
	mm_store_close(store2);
	mm_config_release(&cfg);
	oath_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, dir2);
	return system(cmd);
}

static char secret_b32[64];
static char admin_session[128];
static char recovery[10][24];

static void code_at(int64_t t_s, char out[7])
{
	char *raw = NULL;
	size_t n = 0;

	assert_int_equal(oath_base32_decode(secret_b32, strlen(secret_b32), &raw, &n), OATH_OK);
	assert_int_equal(oath_totp_generate(raw, n, (time_t)t_s, 30, 0, 6, out), OATH_OK);
	free(raw);
}

static mm_err login(const char *user, const char *pw, const char *code, const char *rec,
		    mm_buf *tok, mm_access_session *s)
{
	mm_access_login in = { user, pw, code, rec, "192.0.2.10", "test" };
	int64_t retry;

	mm_buf_reset(tok);
	return mm_access_login_run(acc, &in, tok, s, &retry);
}

struct blob {
	mm_buf b;
};

static mm_err read_secret_job(mm_db *db, void *arg)
{
	static const char sql[] = "SELECT mfa_secret FROM users WHERE name = 'alice'";
	struct blob *o = arg;
	const void *p;
	size_t n = 0;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK && row && (p = mm_stmt_blob(st, 0, &n)) != NULL)
		rc = mm_buf_append(&o->b, p, n);
	mm_stmt_done(st);
	return rc;
}

static void test_bootstrap_enrol(void **state)
{
	mm_buf boot = MM_BUF_INIT(128), tok = MM_BUF_INIT(128);
	mm_principal p, bp;
	mm_access_ctx ctx = { &bp, "192.0.2.10", "t1" };
	json_t *enr = NULL, *codes = NULL;
	struct blob sec = { MM_BUF_INIT(4096) };
	char *raw = NULL, code[7];
	size_t rawn = 0;

	assert_int_equal(mm_access_bootstrap_issue(acc, &boot), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&boot), "192.0.2.10", &bp), MM_OK);
	assert_int_equal(bp.kind, MM_PRINCIPAL_BOOTSTRAP);
	assert_int_equal(mm_access_init_admin(acc, &ctx, "alice", "password1234", &tok),
			 MM_ERR_INVALID);
	assert_int_equal(mm_access_init_admin(acc, &ctx, "alice", "Velvet thunder 88", &tok), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&boot), "192.0.2.10", &p),
			 MM_ERR_UNAUTHENTICATED);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&tok), "192.0.2.10", &p), MM_OK);
	assert_true(p.restricted && p.session && !p.mfa);
	assert_false(mm_access_permits(acc, &p, "self"));
	snprintf(admin_session, sizeof(admin_session), "%s", mm_buf_str(&tok));

	ctx.who = &p;
	assert_int_equal(mm_access_mfa_enroll(acc, &ctx, NULL, &enr), MM_OK);
	snprintf(secret_b32, sizeof(secret_b32), "%s", json_string_value(json_object_get(enr, "secret")));
	assert_non_null(strstr(json_string_value(json_object_get(enr, "otpauth_uri")), secret_b32));
	assert_true(strlen(json_string_value(json_object_get(enr, "qr"))) > 100);
	json_decref(enr);
	/* Wrong first code: refused, still restricted. */
	code_at(time(NULL) + 120, code);
	assert_int_equal(mm_access_mfa_confirm(acc, &ctx, code, &codes), MM_ERR_VERIFY);
	code_at(time(NULL), code);
	assert_int_equal(mm_access_mfa_confirm(acc, &ctx, code, &codes), MM_OK);
	assert_int_equal(json_array_size(json_object_get(codes, "recovery_codes")), 10);
	for (int i = 0; i < 10; i++)
		snprintf(recovery[i], sizeof(recovery[i]), "%s",
			 json_string_value(json_array_get(json_object_get(codes, "recovery_codes"), (size_t)i)));
	json_decref(codes);
	assert_int_equal(mm_access_authenticate(acc, admin_session, "192.0.2.10", &p), MM_OK);
	assert_true(!p.restricted && p.mfa);
	assert_true(mm_access_permits(acc, &p, "user.admin"));

	/* The stored secret is sealed: not the raw bytes, 28 bytes longer. */
	assert_int_equal(mm_store_write(store, read_secret_job, &sec), MM_OK);
	assert_int_equal(oath_base32_decode(secret_b32, strlen(secret_b32), &raw, &rawn), OATH_OK);
	assert_true(sec.b.len >= rawn + 28); /* nonce and tag at least */
	assert_null(memmem(sec.b.data, sec.b.len, raw, rawn));
	free(raw);
	mm_buf_release(&sec.b);
	mm_buf_release(&boot);
	mm_buf_release(&tok);
}

static void test_replay_and_drift(void **state)
{
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_session s;
	int64_t now = time(NULL);
	char code[7];

	/* The enrolment consumed the current step: its code is a replay. */
	code_at(now, code);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* Two steps ahead: outside the one-step window. */
	code_at(now + 60, code);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* One step ahead: accepted once. */
	code_at(now + 30, code);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s), MM_OK);
	assert_true(s.mfa && !s.restricted);
	assert_true(strncmp(mm_buf_str(&tok), "mms_", 4) == 0);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* Older steps are replays too. */
	code_at(now - 30, code);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* Missing code, wrong password with a right-looking code. */
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	mm_buf_release(&tok);
}

static void test_sealer_key_and_binding(void **state)
{
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_sealer wrong = { wrap, unwrap, NULL, other_keys }, right = { wrap, unwrap, NULL, keys };
	mm_access_session s;
	char code[7];

	/* Under another installation's keys the secret does not open. */
	mm_access_set_sealer(acc, &wrong);
	code_at(time(NULL) + 30, code);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* While the key manager is sealed, sign-in with TOTP says so. */
	mm_access_set_sealer(acc, &right);
	assert_int_equal(mm_keys_seal(keys, NULL), MM_OK);
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s), MM_ERR_SEALED);
	{
		mm_keys_status st;

		assert_int_equal(mm_keys_unseal_submit(keys, NULL, share, &st), MM_OK);
		assert_false(st.sealed);
	}
	/* Unsealed again: the secret opens, and this code (used in the drift
	 * test) is a replay. */
	assert_int_equal(login("alice", "Velvet thunder 88", code, NULL, &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	mm_buf_release(&tok);
}

static void test_recovery_codes(void **state)
{
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_session s;
	char upper[24];

	for (size_t i = 0; i <= strlen(recovery[0]); i++)
		upper[i] = (char)(recovery[0][i] >= 'a' && recovery[0][i] <= 'z' ? recovery[0][i] - 32
										 : recovery[0][i]);
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, upper, &tok, &s), MM_OK);
	assert_int_equal(s.recovery_codes_left, 9);
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, recovery[0], &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, "aaaa-bbbb-cccc-dddd", &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	assert_int_equal(login("alice", "Wrong thunder 88", NULL, recovery[1], &tok, &s),
			 MM_ERR_UNAUTHENTICATED);
	/* A failed password attempt does not burn the code. */
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, recovery[1], &tok, &s), MM_OK);
	assert_int_equal(s.recovery_codes_left, 8);
	mm_buf_release(&tok);
}

struct set_tok {
	const char *token;
	const char *sql;
	int64_t v;
};

/* Edits a token row behind the module's back, then drops the module's
 * authentication cache as a restart would (the cache is invalidated by the
 * module's own writes only). */
static mm_err set_tok_job(mm_db *db, void *arg)
{
	struct set_tok *t = arg;
	char hash[MM_TOKEN_HASH_HEX];
	mm_stmt *st;
	mm_err rc;

	mm_token_hash(t->token, hash);
	if ((rc = mm_db_prepare(db, t->sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, t->v)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, hash)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

static void test_session_timeouts(void **state)
{
	static const char idle[] = "UPDATE tokens SET last_seen_ms = ? WHERE hash = ?";
	static const char absolute[] = "UPDATE tokens SET expires_ms = ? WHERE hash = ?";
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_session s;
	mm_principal p;
	struct set_tok t;

	assert_int_equal(login("alice", "Velvet thunder 88", NULL, recovery[2], &tok, &s), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&tok), "192.0.2.10", &p), MM_OK);
	/* Idle for just under the limit: still valid. */
	t = (struct set_tok){ mm_buf_str(&tok), idle, mm_time_wall_ms() - cfg.session_idle_ms + 5000 };
	assert_int_equal(mm_access_write_auth(acc, set_tok_job, &t), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&tok), "192.0.2.10", &p), MM_OK);
	/* Idle past the limit: refused. */
	t.v = mm_time_wall_ms() - cfg.session_idle_ms - 1;
	assert_int_equal(mm_access_write_auth(acc, set_tok_job, &t), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&tok), "192.0.2.10", &p),
			 MM_ERR_UNAUTHENTICATED);
	/* Absolute timeout, even when recently used. */
	assert_int_equal(login("alice", "Velvet thunder 88", NULL, recovery[3], &tok, &s), MM_OK);
	t = (struct set_tok){ mm_buf_str(&tok), absolute, mm_time_wall_ms() - 1 };
	assert_int_equal(mm_access_write_auth(acc, set_tok_job, &t), MM_OK);
	assert_int_equal(mm_access_authenticate(acc, mm_buf_str(&tok), "192.0.2.10", &p),
			 MM_ERR_UNAUTHENTICATED);
	mm_buf_release(&tok);
}

static void test_lockout_math(void **state)
{
	mm_throttle *t;
	int64_t now = 1000000;

	assert_int_equal(mm_lockout_ms(3, 3, 1000), 1000);
	assert_int_equal(mm_lockout_ms(4, 3, 1000), 2000);
	assert_int_equal(mm_lockout_ms(6, 3, 1000), 8000);
	assert_int_equal(mm_lockout_ms(200, 3, 1000), 86400000);
	assert_int_equal(mm_throttle_new(64, &t), MM_OK);
	assert_int_equal(mm_throttle_fail(t, "s:a", now, 3, 1000, 60000), 0);
	assert_int_equal(mm_throttle_fail(t, "s:a", now, 3, 1000, 60000), 0);
	assert_int_equal(mm_throttle_locked_until(t, "s:a", now), 0);
	assert_int_equal(mm_throttle_fail(t, "s:a", now, 3, 1000, 60000), now + 1000);
	assert_int_equal(mm_throttle_locked_until(t, "s:a", now + 999), now + 1000);
	assert_int_equal(mm_throttle_locked_until(t, "s:a", now + 1000), 0);
	assert_int_equal(mm_throttle_fail(t, "s:a", now + 1000, 3, 1000, 60000), now + 3000);
	assert_int_equal(mm_throttle_locked_until(t, "s:b", now), 0);
	mm_throttle_reset(t, "s:a");
	assert_int_equal(mm_throttle_locked_until(t, "s:a", now + 1001), 0);
	/* Failures outside the window start a new count. */
	assert_int_equal(mm_throttle_fail(t, "s:c", now, 2, 1000, 5000), 0);
	assert_int_equal(mm_throttle_fail(t, "s:c", now + 6000, 2, 1000, 5000), 0);
	/* Bounded memory: many keys never fail. */
	for (int i = 0; i < 10000; i++) {
		char k[32];

		snprintf(k, sizeof(k), "s:%d", i);
		mm_throttle_fail(t, k, now, 3, 1000, 60000);
	}
	mm_throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bootstrap_enrol),
		cmocka_unit_test(test_replay_and_drift),
		cmocka_unit_test(test_sealer_key_and_binding),
		cmocka_unit_test(test_recovery_codes),
		cmocka_unit_test(test_session_timeouts),
		cmocka_unit_test(test_lockout_math),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
