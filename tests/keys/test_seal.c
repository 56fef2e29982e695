/*
 * Tests of the seal: init, unseal with correct, wrong and duplicated shares,
 * seal, rekey (old shares refused afterwards, data keys untouched), barrier
 * wrap/unwrap and term rotation, unattended unseal from a key file (mode
 * and owner checks), the audit signing key, auditing of every attempt
 * without the share, and process hardening.
 */
#include "helpers.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "crypto/sign.h"

static mm_keys_status status(struct env *e)
{
	mm_keys_status s;

	mm_keys_status_get(e->keys, &s);
	return s;
}

static void test_init_and_unseal(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL }, again = { 0, NULL };
	mm_keys_status s;
	mm_buf out = MM_BUF_INIT(1024);

	/* Before init: nothing to unseal. */
	s = status(e);
	assert_false(s.initialized);
	assert_true(s.sealed);
	assert_int_equal(mm_keys_wrap(e->keys, "x", "a", 1, &out), MM_ERR_SEALED);
	assert_int_equal(mm_keys_init(e->keys, NULL, 5, 1, &sh), MM_ERR_INVALID);
	assert_int_equal(mm_keys_init(e->keys, NULL, 3, 4, &sh), MM_ERR_INVALID);
	assert_int_equal(mm_keys_init(e->keys, NULL, 5, 3, &sh), MM_OK);
	assert_int_equal(sh.n, 5);
	for (size_t i = 0; i < sh.n; i++)
		assert_int_equal(strlen(sh.shares[i]), MM_KEYS_SHARE_TEXT_LEN);
	assert_int_equal(mm_keys_init(e->keys, NULL, 5, 3, &again), MM_ERR_CONFLICT);
	assert_int_equal(audit_count(e, "sys.init", "success"), 1);
	s = status(e);
	assert_true(s.initialized);
	assert_true(s.sealed);
	assert_int_equal(s.threshold, 3);
	assert_int_equal(s.shares, 5);
	assert_null(s.unseal_method);

	/* Two shares: progress, still sealed. The same share again counts once. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[4], &s), MM_OK);
	assert_int_equal(s.progress, 1);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[4], &s), MM_OK);
	assert_int_equal(s.progress, 1);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[1], &s), MM_OK);
	assert_int_equal(s.progress, 2);
	assert_true(s.sealed);
	/* A malformed share is refused and keeps progress. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, "not-a-share", &s), MM_ERR_INVALID);
	assert_int_equal(s.progress, 2);
	assert_true(s.sealed);
	/* The third distinct share unseals. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[2], &s), MM_OK);
	assert_false(s.sealed);
	assert_int_equal(s.progress, 0);
	assert_string_equal(s.unseal_method, "shares");
	assert_true(s.unsealed_ms > 0);
	assert_int_equal(s.barrier_term, 1);
	assert_true(mm_keys_is_unsealed(e->keys));
	/* Submitting while unsealed changes nothing. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_false(s.sealed);

	/* Every attempt was audited; no event contains a share. */
	assert_int_equal(audit_count(e, "sys.unseal", "progress"), 2);
	assert_int_equal(audit_count(e, "sys.unseal", "duplicate"), 1);
	assert_int_equal(audit_count(e, "sys.unseal", "failure"), 1);
	assert_int_equal(audit_count(e, "sys.unseal", "success"), 2);
	for (size_t i = 0; i < sh.n; i++)
		assert_false(audit_contains(e, sh.shares[i], strlen(sh.shares[i])));

	/* Seal wipes: barrier refuses, status says sealed, and it is audited. */
	assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
	assert_true(status(e).sealed);
	assert_int_equal(mm_keys_wrap(e->keys, "x", "a", 1, &out), MM_ERR_SEALED);
	assert_int_equal(audit_count(e, "sys.seal", "success"), 1);
	/* Any other three shares unseal too, also after a restart. */
	env_restart(e, NULL);
	assert_true(status(e).initialized);
	assert_true(status(e).sealed);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[i], &s), MM_OK);
	assert_false(s.sealed);
	mm_buf_release(&out);
	mm_keys_shares_release(&sh);
	env_free(e);
}

static void test_wrong_shares(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL }, other = { 0, NULL };
	struct env *e2 = env_new();
	mm_keys_status s;
	uint8_t raw[33];
	mm_buf fake = MM_BUF_INIT(64);

	assert_int_equal(mm_keys_init(e->keys, NULL, 3, 2, &sh), MM_OK);
	/* Shares of another installation have the same indexes but do not fit. */
	assert_int_equal(mm_keys_init(e2->keys, NULL, 3, 2, &other), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, other.shares[1], &s), MM_ERR_VERIFY);
	assert_true(s.sealed);
	assert_int_equal(s.progress, 0);   /* progress reset */
	/* A second, different share with the same index: refused, reset. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, other.shares[0], &s), MM_ERR_VERIFY);
	assert_int_equal(s.progress, 0);
	assert_true(s.sealed);
	/* A share with one bit flipped. */
	assert_int_equal(mm_base64_decode(&fake, sh.shares[1], strlen(sh.shares[1])), MM_OK);
	memcpy(raw, fake.data, 33);
	raw[10] ^= 0x01;
	mm_buf_reset(&fake);
	assert_int_equal(mm_base64_encode(&fake, raw, 33), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, fake.data, &s), MM_ERR_VERIFY);
	assert_true(s.sealed);
	/* A share with index 0 is malformed. */
	raw[0] = 0;
	mm_buf_reset(&fake);
	assert_int_equal(mm_base64_encode(&fake, raw, 33), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, fake.data, &s), MM_ERR_INVALID);
	/* Reset forgets progress. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_reset(e->keys, NULL), MM_OK);
	assert_int_equal(status(e).progress, 0);
	/* The right shares still work after all that. */
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[2], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[1], &s), MM_OK);
	assert_false(s.sealed);
	assert_true(audit_count(e, "sys.unseal", "failure") >= 3);
	mm_buf_release(&fake);
	mm_keys_shares_release(&sh);
	mm_keys_shares_release(&other);
	env_free(e);
	env_free(e2);
}

static void test_barrier(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };
	mm_buf w1 = MM_BUF_INIT(1024), w2 = MM_BUF_INIT(1024), out = MM_BUF_INIT(1024);
	uint32_t term = 0;

	env_init_unseal(e, 1, 1, &sh);
	assert_int_equal(mm_keys_wrap(e->keys, "identity/totp/alice", "JBSWY3DPEHPK3PXP", 16, &w1),
			 MM_OK);
	assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/alice", w1.data, w1.len, &out), MM_OK);
	assert_int_equal(out.len, 16);
	assert_memory_equal(out.data, "JBSWY3DPEHPK3PXP", 16);
	/* Another place: refused. */
	mm_buf_reset(&out);
	assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/bob", w1.data, w1.len, &out),
			 MM_ERR_VERIFY);
	assert_int_equal(out.len, 0);
	/* One bit flipped anywhere in the body: refused. */
	for (size_t i = 5; i < w1.len; i += 7) {
		w1.data[i] ^= 0x20;
		assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/alice", w1.data, w1.len, &out),
				 MM_ERR_VERIFY);
		assert_int_equal(out.len, 0);
		w1.data[i] ^= 0x20;
	}
	/* Truncated, unknown term. */
	assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/alice", w1.data, 10, &out),
			 MM_ERR_INVALID);
	w1.data[4] ^= 0x7;
	assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/alice", w1.data, w1.len, &out),
			 MM_ERR_INVALID);
	w1.data[4] ^= 0x7;
	/* Rotating the barrier key: old blobs still unwrap, new ones use term 2. */
	assert_int_equal(mm_keys_barrier_rotate(e->keys, NULL, &term), MM_OK);
	assert_int_equal(term, 2);
	assert_int_equal(mm_keys_wrap(e->keys, "p", "new", 3, &w2), MM_OK);
	assert_int_equal((uint8_t)w2.data[4], 2);
	env_restart(e, NULL);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], NULL), MM_OK);
	mm_buf_reset(&out);
	assert_int_equal(mm_keys_unwrap(e->keys, "identity/totp/alice", w1.data, w1.len, &out), MM_OK);
	mm_buf_reset(&out);
	assert_int_equal(mm_keys_unwrap(e->keys, "p", w2.data, w2.len, &out), MM_OK);
	assert_string_equal(out.data, "new");
	assert_int_equal(audit_count(e, "sys.barrier_rotate", "success"), 1);
	mm_buf_release(&w1);
	mm_buf_release(&w2);
	mm_buf_wipe_release(&out);
	mm_keys_shares_release(&sh);
	env_free(e);
}

static void test_rekey(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL }, fresh = { 0, NULL }, none = { 0, NULL };
	mm_buf w = MM_BUF_INIT(1024), out = MM_BUF_INIT(1024);
	char nonce[MM_KEYS_NONCE_LEN];
	unsigned progress = 0;
	mm_keys_status s;

	env_init_unseal(e, 5, 3, &sh);
	assert_int_equal(mm_keys_wrap(e->keys, "data", "secret", 6, &w), MM_OK);
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, "00", sh.shares[0], &none, NULL),
			 MM_ERR_CONFLICT);
	assert_int_equal(mm_keys_rekey_start(e->keys, NULL, 3, 2, nonce), MM_OK);
	assert_int_equal(mm_keys_rekey_start(e->keys, NULL, 3, 2, nonce), MM_ERR_CONFLICT);
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, "wrong", sh.shares[0], &none, NULL),
			 MM_ERR_CONFLICT);
	/* A wrong share among them: refused, rekey progress reset. */
	{
		mm_keys_shares other = { 0, NULL };
		struct env *e2 = env_new();

		assert_int_equal(mm_keys_init(e2->keys, NULL, 5, 3, &other), MM_OK);
		assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[0], &none,
						      &progress), MM_OK);
		assert_int_equal(progress, 1);
		assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[1], &none,
						      &progress), MM_OK);
		assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, other.shares[2], &none,
						      &progress), MM_ERR_VERIFY);
		assert_int_equal(progress, 0);
		assert_int_equal(none.n, 0);
		mm_keys_shares_release(&other);
		env_free(e2);
	}
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[4], &none, &progress),
			 MM_OK);
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[4], &none, &progress),
			 MM_OK);
	assert_int_equal(progress, 1);
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[3], &none, &progress),
			 MM_OK);
	assert_int_equal(none.n, 0);
	assert_int_equal(mm_keys_rekey_submit(e->keys, NULL, nonce, sh.shares[2], &fresh, &progress),
			 MM_OK);
	assert_int_equal(fresh.n, 3);
	s = status(e);
	assert_false(s.sealed);
	assert_false(s.rekey_active);
	assert_int_equal(s.generation, 2);
	assert_int_equal(s.threshold, 2);
	assert_int_equal(s.shares, 3);
	assert_int_equal(audit_count(e, "sys.rekey", "success"), 1);
	/* Data wrapped before the rekey is readable without re-encryption. */
	assert_int_equal(mm_keys_unwrap(e->keys, "data", w.data, w.len, &out), MM_OK);
	assert_string_equal(out.data, "secret");

	/* After a restart the old shares do not unseal, the new ones do. */
	env_restart(e, NULL);
	assert_int_equal(status(e).threshold, 2);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[1], &s), MM_ERR_VERIFY);
	assert_true(s.sealed);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, fresh.shares[2], &s), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, fresh.shares[0], &s), MM_OK);
	assert_false(s.sealed);
	mm_buf_reset(&out);
	assert_int_equal(mm_keys_unwrap(e->keys, "data", w.data, w.len, &out), MM_OK);
	/* Cancelling a rekey. */
	assert_int_equal(mm_keys_rekey_start(e->keys, NULL, 2, 2, nonce), MM_OK);
	assert_int_equal(mm_keys_rekey_cancel(e->keys, NULL), MM_OK);
	assert_false(status(e).rekey_active);
	/* Sealed: no rekey. */
	assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
	assert_int_equal(mm_keys_rekey_start(e->keys, NULL, 2, 2, nonce), MM_ERR_SEALED);
	mm_buf_release(&w);
	mm_buf_wipe_release(&out);
	mm_keys_shares_release(&sh);
	mm_keys_shares_release(&fresh);
	env_free(e);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_unseal_key_file(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };
	char path[300], link[300], text[512];
	mm_keys_status s;

	assert_int_equal(mm_keys_init(e->keys, NULL, 3, 2, &sh), MM_OK);
	snprintf(path, sizeof(path), "%s/unseal.key", e->dir);
	snprintf(text, sizeof(text), "# mamori unseal shares\n%s\n\n%s\n", sh.shares[0], sh.shares[2]);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, NULL), MM_ERR_CONFIG);  /* none configured */
	/* Readable by group or others: refused unread. */
	write_file(path, text, 0644);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, path), MM_ERR_CONFIG);
	assert_true(status(e).sealed);
	write_file(path, text, 0640);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, path), MM_ERR_CONFIG);
	/* A symbolic link to a good file: refused. */
	write_file(path, text, 0600);
	snprintf(link, sizeof(link), "%s/link.key", e->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, link), MM_ERR_CONFIG);
	/* Missing file. */
	snprintf(link, sizeof(link), "%s/missing.key", e->dir);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, link), MM_ERR_IO);
	/* Too few shares. */
	snprintf(text, sizeof(text), "%s\n", sh.shares[1]);
	write_file(path, text, 0600);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, path), MM_ERR_VERIFY);
	assert_int_equal(status(e).progress, 0);
	/* A good 0600 file, configured: unseals and says how. */
	snprintf(text, sizeof(text), "%s\n%s\n", sh.shares[0], sh.shares[2]);
	write_file(path, text, 0600);
	env_restart(e, path);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, NULL), MM_OK);
	s = status(e);
	assert_false(s.sealed);
	assert_string_equal(s.unseal_method, "key_file");
	/* 0400 is accepted too. */
	assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(mm_keys_unseal_from_file(e->keys, NULL), MM_OK);
	assert_false(status(e).sealed);
	assert_false(audit_contains(e, sh.shares[0], strlen(sh.shares[0])));
	mm_keys_shares_release(&sh);
	env_free(e);
}

static void test_audit_signer(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };
	mm_keys_signer sg, sg2;
	uint8_t sig[64];

	assert_int_equal(mm_keys_init(e->keys, NULL, 1, 1, &sh), MM_OK);
	assert_int_equal(mm_keys_audit_signer(e->keys, &sg), MM_ERR_SEALED);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], NULL), MM_OK);
	/* Created at the first unseal, audited once. */
	assert_int_equal(audit_count(e, "keys.internal.create", "success"), 1);
	assert_int_equal(mm_keys_audit_signer(e->keys, &sg), MM_OK);
	assert_int_equal(sg.sign(sg.ctx, (const uint8_t *)"tree head", 9, sig), MM_OK);
	assert_int_equal(mm_ed25519_verify_raw(sg.public_key, "tree head", 9, sig), MM_OK);
	assert_int_equal(mm_ed25519_verify_raw(sg.public_key, "tree heaD", 9, sig), MM_ERR_VERIFY);
	/* Sealed: the signer refuses. */
	assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
	assert_int_equal(sg.sign(sg.ctx, (const uint8_t *)"x", 1, sig), MM_ERR_SEALED);
	/* After a restart the same key is loaded, not a new one made. */
	env_restart(e, NULL);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], NULL), MM_OK);
	assert_int_equal(mm_keys_audit_signer(e->keys, &sg2), MM_OK);
	assert_memory_equal(sg.public_key, sg2.public_key, 32);
	assert_int_equal(audit_count(e, "keys.internal.create", NULL), 1);
	assert_int_equal(sg2.sign(sg2.ctx, (const uint8_t *)"x", 1, sig), MM_OK);
	assert_int_equal(mm_ed25519_verify_raw(sg.public_key, "x", 1, sig), MM_OK);
	mm_keys_shares_release(&sh);
	env_free(e);
}

static void test_harden(void **state)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		mm_keys_hardening h;
		struct rlimit rl;
		int ok = mm_keys_harden_process(1 << 16, &h) == MM_OK && h.not_dumpable && h.no_core &&
			 h.secure_heap && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 &&
			 getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0;
		void *p = mm_secmem_alloc(32);

		ok = ok && p != NULL && mm_secmem_is_secure(p);
		mm_secmem_free(p, 32);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_unseal),
		cmocka_unit_test(test_wrong_shares),
		cmocka_unit_test(test_barrier),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_unseal_key_file),
		cmocka_unit_test(test_audit_signer),
		cmocka_unit_test(test_harden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
