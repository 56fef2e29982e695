/*
 * Tests of named keys: encrypt/decrypt/rewrap/datakey, HMAC, Ed25519 and
 * ECDSA signatures (cross-checked against the primitives with exported
 * material), versions (rotate, min_decryption_version, destroy = shredding,
 * auto-rotation), disable, export, policies, batches, sealed refusal, and
 * one audit event per operation that never carries data, whose details text
 * is what jansson writes for the same object.
 */
#include "helpers.h"

#include <pthread.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "crypto/sign.h"
#include "audit/audit.h"
#include "keys/envelope.h"
#include "keys/internal.h"
#include "keys/named.h"
#include "core/time.h"

static const mm_keys_caller alice = { "user:alice", "127.0.0.1", "req-1" };

static struct env *setup_env(void)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };

	env_init_unseal(e, 1, 1, &sh);
	mm_keys_shares_release(&sh);
	return e;
}

static void create(struct env *e, const char *name, mm_key_type t, bool exportable)
{
	mm_keys_create_opts o = { .type = t, .exportable = exportable };

	assert_int_equal(mm_keys_create(e->keys, &alice, name, &o), MM_OK);
}

static void test_encrypt_decrypt(void **state)
{
	struct env *e = setup_env();
	mm_buf ct = MM_BUF_INIT(4096), pt = MM_BUF_INIT(4096), tmp = MM_BUF_INIT(4096);
	int64_t before;

	create(e, "payments", MM_KEY_AES256_GCM, false);
	before = audit_count(e, NULL, NULL);
	assert_int_equal(mm_keys_encrypt(e->keys, &alice, "payments", "4111-1111-1111-1111", 19,
					 "customer:42", 11, &ct), MM_OK);
	assert_int_equal(strncmp(ct.data, "mamori:v1:", 10), 0);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", ct.data, ct.len, "customer:42",
					 11, &pt), MM_OK);
	assert_int_equal(pt.len, 19);
	assert_memory_equal(pt.data, "4111-1111-1111-1111", 19);
	/* One audit event per operation, naming key, op and caller only. */
	assert_int_equal(audit_count(e, NULL, NULL), before + 2);
	assert_int_equal(audit_count(e, "keys.encrypt", "success"), 1);
	assert_int_equal(audit_count(e, "keys.decrypt", "success"), 1);
	assert_false(audit_contains(e, "4111", 4));
	assert_false(audit_contains(e, "customer:42", 11));
	assert_false(audit_contains(e, ct.data + 10, 16));
	assert_true(audit_contains(e, "user:alice", 10));

	/* Wrong context. */
	mm_buf_reset(&pt);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", ct.data, ct.len, "customer:43",
					 11, &pt), MM_ERR_VERIFY);
	assert_int_equal(pt.len, 0);
	assert_int_equal(audit_count(e, "keys.decrypt", "failure"), 1);
	/* One flipped bit in the payload (a base64 character changed). */
	assert_int_equal(mm_buf_append(&tmp, ct.data, ct.len), MM_OK);
	tmp.data[20] = tmp.data[20] == 'A' ? 'B' : 'A';
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", tmp.data, tmp.len, "customer:42",
					 11, &pt), MM_ERR_VERIFY);
	assert_int_equal(pt.len, 0);
	/* Truncated: shorter base64 (still valid base64 but a cut ciphertext), and cut mid-quad. */
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", ct.data, ct.len - 4,
					 "customer:42", 11, &pt), MM_ERR_VERIFY);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", ct.data, ct.len - 1,
					 "customer:42", 11, &pt), MM_ERR_INVALID);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", "mamori:v1:AAAA", 14,
					 "customer:42", 11, &pt), MM_ERR_INVALID);
	/* Not base64, not our format, unknown version. */
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", "mamori:v1:@@@@", 14, NULL, 0,
					 &pt), MM_ERR_INVALID);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", "hello", 5, NULL, 0, &pt),
			 MM_ERR_INVALID);
	mm_buf_reset(&tmp);
	assert_int_equal(mm_buf_appendf(&tmp, "mamori:v9:%s", ct.data + 10), MM_OK);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "payments", tmp.data, tmp.len, "customer:42",
					 11, &pt), MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "does not exist"));
	assert_int_equal(pt.len, 0);
	/* Unknown key, bad name. */
	assert_int_equal(mm_keys_encrypt(e->keys, &alice, "nope", "x", 1, NULL, 0, &tmp),
			 MM_ERR_NOT_FOUND);
	assert_int_equal(mm_keys_encrypt(e->keys, &alice, "../x", "x", 1, NULL, 0, &tmp),
			 MM_ERR_INVALID);
	/* Wrong operation for the type. */
	assert_int_equal(mm_keys_sign(e->keys, &alice, "payments", "x", 1, MM_SIG_DER, &tmp),
			 MM_ERR_INVALID);
	mm_buf_release(&ct);
	mm_buf_release(&pt);
	mm_buf_release(&tmp);
	env_free(e);
}

/* keys_op_details_text must write exactly mm_audit_details_text's canonical
 * text of keys_op_details, on the direct path and on jansson's. */
static void assert_details_like_jansson(const char *name, const char *op, const mm_keys_item *items,
					size_t n, size_t failed, mm_err rc)
{
	json_t *d = keys_op_details(name, op, items, n, failed, rc);
	char *want = NULL, *got = NULL;

	assert_non_null(d);
	assert_int_equal(mm_audit_details_text(d, &want), MM_OK);
	assert_int_equal(keys_op_details_text(name, op, items, n, failed, rc, &got), MM_OK);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(d);
}

static void test_details_text(void **state)
{
	static mm_keys_item items[70];
	static const char *const names[] = { "bench", "a.b_c-D9", "k", "x\"y", "\u00e9t\u00e9", "-bad", "" };
	static const mm_err rcs[] = { MM_OK, MM_ERR_INVALID, MM_ERR_NOT_FOUND, MM_ERR_SEALED };

	(void)state;
	for (size_t i = 0; i < 70; i++)
		items[i].used_version = (int64_t)(i % 3 == 0 ? 0 : i * 7919 % 1000003);
	items[1].used_version = 2;
	items[2].used_version = 2;
	for (size_t a = 0; a < sizeof(names) / sizeof(names[0]); a++)
		for (size_t r = 0; r < sizeof(rcs) / sizeof(rcs[0]); r++) {
			assert_details_like_jansson(names[a], "encrypt", items, 1, 0, rcs[r]);
			assert_details_like_jansson(names[a], "decrypt", items + 1, 2, 1, rcs[r]);
			assert_details_like_jansson(names[a], "sign", items, 70, 70, rcs[r]);
			assert_details_like_jansson(names[a], "hmac", items, 0, 0, rcs[r]);
		}
}

static void test_versions(void **state)
{
	struct env *e = setup_env();
	mm_buf c1 = MM_BUF_INIT(4096), c2 = MM_BUF_INIT(4096), rw = MM_BUF_INIT(4096),
	       pt = MM_BUF_INIT(4096);
	mm_keys_config cfg = { 0 };
	mm_keys_info info;
	int64_t v = 0, one = 1, two = 2;

	create(e, "k", MM_KEY_AES256_GCM, false);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "old", 3, NULL, 0, &c1), MM_OK);
	assert_int_equal(mm_keys_rotate(e->keys, &alice, "k", &v), MM_OK);
	assert_int_equal(v, 2);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "new", 3, NULL, 0, &c2), MM_OK);
	assert_int_equal(strncmp(c2.data, "mamori:v2:", 10), 0);
	/* Old ciphertexts still decrypt. */
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", c1.data, c1.len, NULL, 0, &pt), MM_OK);
	assert_string_equal(pt.data, "old");
	/* Rewrap moves v1 to v2 without the caller seeing plaintext. */
	assert_int_equal(mm_keys_rewrap(e->keys, NULL, "k", c1.data, c1.len, NULL, 0, &rw), MM_OK);
	assert_int_equal(strncmp(rw.data, "mamori:v2:", 10), 0);
	mm_buf_reset(&pt);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", rw.data, rw.len, NULL, 0, &pt), MM_OK);
	assert_string_equal(pt.data, "old");
	/* min_decryption_version refuses v1. */
	cfg.set_min_decryption_version = true;
	cfg.min_decryption_version = 2;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "k", &cfg), MM_OK);
	mm_buf_reset(&pt);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", c1.data, c1.len, NULL, 0, &pt),
			 MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "min_decryption_version"));
	cfg.min_decryption_version = 3;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "k", &cfg), MM_ERR_INVALID);
	cfg.min_decryption_version = 1;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "k", &cfg), MM_OK);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", c1.data, c1.len, NULL, 0, &pt), MM_OK);
	/* The latest version cannot be destroyed; v1 can, and then nothing reads it. */
	assert_int_equal(mm_keys_destroy_versions(e->keys, &alice, "k", &two, 1), MM_ERR_INVALID);
	assert_int_equal(mm_keys_destroy_versions(e->keys, &alice, "k", &one, 1), MM_OK);
	mm_buf_reset(&pt);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", c1.data, c1.len, NULL, 0, &pt),
			 MM_ERR_INVALID);
	assert_non_null(strstr(mm_err_detail(MM_ERR_INVALID), "destroyed"));
	assert_int_equal(pt.len, 0);
	/* Destroying again is a no-op; the row's material bytes are all zero. */
	assert_int_equal(mm_keys_destroy_versions(e->keys, &alice, "k", &one, 1), MM_OK);
	{
		static const char q[] = "SELECT material FROM keys_versions WHERE name = 'k' AND version = 1";
		mm_db *db;
		mm_stmt *st;
		bool row;
		size_t len;
		const uint8_t *m;

		assert_int_equal(mm_store_acquire(e->store, &db), MM_OK);
		assert_int_equal(mm_db_prepare(db, q, &st), MM_OK);
		assert_int_equal(mm_stmt_step(st, &row), MM_OK);
		assert_true(row);
		m = mm_stmt_blob(st, 0, &len);
		assert_true(len > 32);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(m[i], 0);
		mm_stmt_done(st);
		mm_store_release(e->store, db);
	}
	assert_int_equal(mm_keys_show(e->keys, "k", &info), MM_OK);
	assert_int_equal(info.latest, 2);
	assert_int_equal(info.nversions, 2);
	assert_true(info.versions[0].destroyed_ms > 0);
	assert_int_equal(info.versions[1].destroyed_ms, 0);
	{
		json_t *j = mm_keys_info_json(&info);
		char *s = json_dumps(j, JSON_COMPACT);

		assert_non_null(strstr(s, "\"latest_version\":2"));
		assert_non_null(strstr(s, "\"destroyed\":true"));
		free(s);
		json_decref(j);
	}
	mm_keys_info_release(&info);
	/* Unknown versions. */
	{
		int64_t nine = 9;
		assert_int_equal(mm_keys_destroy_versions(e->keys, &alice, "k", &nine, 1), MM_ERR_INVALID);
	}
	assert_int_equal(audit_count(e, "keys.rotate", "success"), 1);
	assert_int_equal(audit_count(e, "keys.destroy", "success"), 2);
	assert_int_equal(audit_count(e, "keys.destroy", "failure"), 2);
	mm_buf_release(&c1);
	mm_buf_release(&c2);
	mm_buf_release(&rw);
	mm_buf_release(&pt);
	env_free(e);
}

static void test_restart_persists(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };
	mm_buf ct = MM_BUF_INIT(4096), pt = MM_BUF_INIT(4096);
	int64_t one = 1;

	env_init_unseal(e, 3, 2, &sh);
	create(e, "k", MM_KEY_AES256_GCM, false);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "v1 data", 7, NULL, 0, &ct), MM_OK);
	mm_buf_reset(&ct);
	assert_int_equal(mm_keys_rotate(e->keys, NULL, "k", NULL), MM_OK);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "v2 data", 7, "c", 1, &ct), MM_OK);
	assert_int_equal(mm_keys_destroy_versions(e->keys, NULL, "k", &one, 1), MM_OK);
	env_restart(e, NULL);
	/* Sealed after the restart: every operation refuses. */
	{
		mm_buf x = MM_BUF_INIT(4096);
		mm_keys_create_opts o = { .type = MM_KEY_AES256_GCM };

		assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", ct.data, ct.len, "c", 1, &x),
				 MM_ERR_SEALED);
		assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "a", 1, NULL, 0, &x), MM_ERR_SEALED);
		assert_int_equal(mm_keys_rotate(e->keys, NULL, "k", NULL), MM_ERR_SEALED);
		assert_int_equal(mm_keys_create(e->keys, NULL, "k2", &o), MM_ERR_SEALED);
		assert_int_equal(mm_keys_export(e->keys, NULL, "k", 0, &x), MM_ERR_SEALED);
		assert_int_equal(mm_keys_tick(e->keys, 0, NULL), MM_ERR_SEALED);
		assert_int_equal(x.len, 0);
		mm_buf_release(&x);
	}
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[1], NULL), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[2], NULL), MM_OK);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", ct.data, ct.len, "c", 1, &pt), MM_OK);
	assert_string_equal(pt.data, "v2 data");
	mm_buf_reset(&ct);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "k", "x", 1, NULL, 0, &ct), MM_OK);
	assert_int_equal(strncmp(ct.data, "mamori:v2:", 10), 0);
	/* Seal with the key cached, unseal, still works (cache wiped and reloaded). */
	assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", ct.data, ct.len, NULL, 0, &pt),
			 MM_ERR_SEALED);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], NULL), MM_OK);
	assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[2], NULL), MM_OK);
	mm_buf_reset(&pt);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "k", ct.data, ct.len, NULL, 0, &pt), MM_OK);
	assert_string_equal(pt.data, "x");
	mm_keys_shares_release(&sh);
	mm_buf_release(&ct);
	mm_buf_release(&pt);
	env_free(e);
}

static void test_datakey(void **state)
{
	struct env *e = setup_env();
	mm_buf w = MM_BUF_INIT(4096), p = MM_BUF_INIT(64), back = MM_BUF_INIT(64), w2 = MM_BUF_INIT(4096);

	create(e, "dk", MM_KEY_AES256_GCM, false);
	assert_int_equal(mm_keys_datakey(e->keys, &alice, "dk", "file:1", 6, &w, &p), MM_OK);
	assert_int_equal(p.len, 32);
	assert_int_equal(mm_keys_decrypt(e->keys, &alice, "dk", w.data, w.len, "file:1", 6, &back),
			 MM_OK);
	assert_int_equal(back.len, 32);
	assert_memory_equal(back.data, p.data, 32);
	/* Wrapped only. */
	assert_int_equal(mm_keys_datakey(e->keys, &alice, "dk", NULL, 0, &w2, NULL), MM_OK);
	assert_int_equal(strncmp(w2.data, "mamori:v1:", 10), 0);
	assert_int_equal(audit_count(e, "keys.datakey", "success"), 2);
	mm_buf_release(&w);
	mm_buf_wipe_release(&p);
	mm_buf_wipe_release(&back);
	mm_buf_release(&w2);
	env_free(e);
}

static void test_hmac_and_export(void **state)
{
	struct env *e = setup_env();
	mm_buf mac = MM_BUF_INIT(256), key = MM_BUF_INIT(256), raw = MM_BUF_INIT(64),
	       dec = MM_BUF_INIT(256);
	uint8_t want[32];
	mm_keys_config cfg = { 0 };
	int64_t v = 0;

	create(e, "mac", MM_KEY_HMAC_SHA256, false);
	assert_int_equal(mm_keys_hmac(e->keys, &alice, "mac", "message", 7, &mac), MM_OK);
	assert_int_equal(strncmp(mac.data, "mamori:v1:", 10), 0);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "mac", "message", 7, mac.data, mac.len,
					MM_SIG_DER), MM_OK);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "mac", "messagf", 7, mac.data, mac.len,
					MM_SIG_DER), MM_ERR_VERIFY);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "mac", "message", 7, "mamori:v1:AAAA", 14,
					MM_SIG_DER), MM_ERR_VERIFY);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "mac", "message", 7, "garbage", 7,
					MM_SIG_DER), MM_ERR_INVALID);
	/* Not exportable: material never returned. */
	assert_int_equal(mm_keys_export(e->keys, &alice, "mac", 0, &key), MM_ERR_FORBIDDEN);
	assert_int_equal(key.len, 0);
	assert_int_equal(audit_count(e, "keys.export", "failure"), 1);
	/* Exportable, then never back. */
	cfg.set_exportable = true;
	cfg.exportable = true;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "mac", &cfg), MM_OK);
	cfg.exportable = false;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "mac", &cfg), MM_ERR_INVALID);
	assert_int_equal(mm_keys_export(e->keys, &alice, "mac", 1, &key), MM_OK);
	/* The MAC is HMAC-SHA256 under the exported key. */
	assert_int_equal(mm_base64_decode(&raw, key.data, key.len), MM_OK);
	assert_int_equal(raw.len, 32);
	assert_int_equal(mm_hmac_sha256((uint8_t *)raw.data, 32, "message", 7, want), MM_OK);
	assert_int_equal(mm_envelope_parse(mac.data, mac.len, &v, &dec), MM_OK);
	assert_int_equal(dec.len, 32);
	assert_memory_equal(dec.data, want, 32);
	assert_int_equal(mm_keys_export(e->keys, &alice, "mac", 2, &key), MM_ERR_INVALID);
	assert_false(audit_contains(e, key.data, 16));
	mm_buf_release(&mac);
	mm_buf_wipe_release(&key);
	mm_buf_wipe_release(&raw);
	mm_buf_release(&dec);
	env_free(e);
}

static void test_signatures(void **state)
{
	struct env *e = setup_env();
	mm_buf sig = MM_BUF_INIT(512), key = MM_BUF_INIT(256), raw = MM_BUF_INIT(64),
	       payload = MM_BUF_INIT(256);
	mm_keys_info info;
	int64_t v = 0;

	/* Ed25519: deterministic, so the signature equals one made with the
	 * exported seed through the primitive. */
	create(e, "ed", MM_KEY_ED25519, true);
	assert_int_equal(mm_keys_sign(e->keys, &alice, "ed", "doc", 3, MM_SIG_DER, &sig), MM_OK);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "ed", "doc", 3, sig.data, sig.len,
					MM_SIG_DER), MM_OK);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "ed", "dog", 3, sig.data, sig.len,
					MM_SIG_DER), MM_ERR_VERIFY);
	assert_int_equal(mm_keys_export(e->keys, &alice, "ed", 0, &key), MM_OK);
	assert_int_equal(mm_base64_decode(&raw, key.data, key.len), MM_OK);
	{
		uint8_t s2[64], pub[32];
		mm_buf pk = MM_BUF_INIT(64);
		mm_ed25519_key *ek = NULL;

		assert_int_equal(mm_ed25519_import_private((uint8_t *)raw.data, &ek), MM_OK);
		assert_int_equal(mm_ed25519_sign(ek, "doc", 3, s2), MM_OK);
		assert_int_equal(mm_envelope_parse(sig.data, sig.len, &v, &payload), MM_OK);
		assert_int_equal(payload.len, 64);
		assert_memory_equal(payload.data, s2, 64);
		/* show publishes the public key. */
		assert_int_equal(mm_keys_show(e->keys, "ed", &info), MM_OK);
		assert_non_null(info.versions[0].public_key);
		assert_int_equal(mm_base64_decode(&pk, info.versions[0].public_key,
						  strlen(info.versions[0].public_key)), MM_OK);
		assert_int_equal(mm_ed25519_export_public(ek, pub), MM_OK);
		assert_memory_equal(pk.data, pub, 32);
		mm_ed25519_key_free(ek);
		mm_keys_info_release(&info);
		mm_buf_release(&pk);
	}
	/* ECDSA P-256, DER and raw r||s; checked with the primitive and the
	 * public key derived from the exported scalar. */
	create(e, "ec", MM_KEY_ECDSA_P256, true);
	mm_buf_reset(&key);
	mm_buf_reset(&raw);
	assert_int_equal(mm_keys_export(e->keys, &alice, "ec", 0, &key), MM_OK);
	assert_int_equal(mm_base64_decode(&raw, key.data, key.len), MM_OK);
	for (int f = 0; f < 2; f++) {
		uint8_t pub[65];

		mm_buf_reset(&sig);
		mm_buf_reset(&payload);
		assert_int_equal(mm_keys_sign(e->keys, &alice, "ec", "doc", 3, (mm_sig_format)f, &sig),
				 MM_OK);
		assert_int_equal(mm_keys_verify(e->keys, &alice, "ec", "doc", 3, sig.data, sig.len,
						(mm_sig_format)f), MM_OK);
		assert_int_equal(mm_keys_verify(e->keys, &alice, "ec", "dOc", 3, sig.data, sig.len,
						(mm_sig_format)f), MM_ERR_VERIFY);
		assert_int_equal(mm_envelope_parse(sig.data, sig.len, &v, &payload), MM_OK);
		if (f == MM_SIG_RAW)
			assert_int_equal(payload.len, 64);
		assert_int_equal(mm_ecdsa_p256_public((uint8_t *)raw.data, pub), MM_OK);
		assert_int_equal(mm_ecdsa_p256_verify(pub, "doc", 3, (uint8_t *)payload.data, payload.len,
						      (mm_sig_format)f), MM_OK);
	}
	/* A raw signature checked as DER fails. */
	assert_int_equal(mm_keys_verify(e->keys, &alice, "ec", "doc", 3, sig.data, sig.len, MM_SIG_DER),
			 MM_ERR_VERIFY);
	assert_int_equal(mm_keys_show(e->keys, "ec", &info), MM_OK);
	assert_non_null(strstr(info.versions[0].public_key, "BEGIN PUBLIC KEY"));
	mm_keys_info_release(&info);
	/* Signing keys do not encrypt. */
	assert_int_equal(mm_keys_encrypt(e->keys, &alice, "ec", "x", 1, NULL, 0, &sig), MM_ERR_INVALID);
	/* After rotation, old signatures still verify (down to min_decryption_version). */
	mm_buf_reset(&sig);
	assert_int_equal(mm_keys_sign(e->keys, &alice, "ed", "doc", 3, MM_SIG_DER, &sig), MM_OK);
	assert_int_equal(mm_keys_rotate(e->keys, &alice, "ed", NULL), MM_OK);
	assert_int_equal(mm_keys_verify(e->keys, &alice, "ed", "doc", 3, sig.data, sig.len,
					MM_SIG_DER), MM_OK);
	mm_buf_release(&sig);
	mm_buf_wipe_release(&key);
	mm_buf_wipe_release(&raw);
	mm_buf_release(&payload);
	env_free(e);
}

static void test_disable_policy_delete(void **state)
{
	struct env *e = setup_env();
	mm_keys_config cfg = { 0 };
	mm_buf ct = MM_BUF_INIT(4096);
	json_t *pol = json_pack("{s:[s], s:[s,s], s:[s]}", "encrypt", "app", "decrypt", "app",
				"auditor", "read", "*");
	json_t *badpol = json_pack("{s:[s]}", "launch", "app");
	json_t *pol2 = json_pack("{s:[s]}", "encrypt", "auditor");
	mm_keys_create_opts o = { .type = MM_KEY_AES256_GCM, .policy = pol };
	const char *app[] = { "app" }, *aud[] = { "other", "auditor" }, *none[] = { "x" };
	json_t *list = NULL;

	assert_int_equal(mm_keys_create(e->keys, &alice, "pk", &o), MM_OK);
	assert_int_equal(mm_keys_create(e->keys, &alice, "pk", &o), MM_ERR_EXISTS);
	assert_int_equal(audit_count(e, "keys.create", "failure"), 1);
	o.policy = badpol;
	assert_int_equal(mm_keys_create(e->keys, &alice, "pk2", &o), MM_ERR_INVALID);
	o.policy = NULL;
	o.auto_rotate_ms = 1000;
	assert_int_equal(mm_keys_create(e->keys, &alice, "pk2", &o), MM_ERR_INVALID);
	/* Policy as data for the API layer. */
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", app, 1), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", aud, 2), MM_ERR_FORBIDDEN);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "decrypt", aud, 2), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "read", none, 1), MM_OK);
	/* Not mentioned: the global permission decides. */
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "rotate", app, 1), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "launch", app, 1), MM_ERR_INVALID);
	assert_int_equal(mm_keys_policy_check(e->keys, "zz", "read", app, 1), MM_ERR_NOT_FOUND);
	/* Cached path gives the same answers. */
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "pk", "x", 1, NULL, 0, &ct), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", app, 1), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", aud, 2), MM_ERR_FORBIDDEN);
	/* Changing the policy takes effect at once. */
	cfg.set_policy = true;
	cfg.policy = badpol;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "pk", &cfg), MM_ERR_INVALID);
	cfg.policy = NULL;
	cfg.policy = pol2;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "pk", &cfg), MM_OK);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", app, 1), MM_ERR_FORBIDDEN);
	assert_int_equal(mm_keys_policy_check(e->keys, "pk", "encrypt", aud, 2), MM_OK);
	/* Disabled keys refuse every operation. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.set_disabled = true;
	cfg.disabled = true;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "pk", &cfg), MM_OK);
	assert_int_equal(mm_keys_decrypt(e->keys, NULL, "pk", ct.data, ct.len, NULL, 0, &ct),
			 MM_ERR_CONFLICT);
	cfg.disabled = false;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "pk", &cfg), MM_OK);
	/* Deletion needs deletion_allowed. */
	assert_int_equal(mm_keys_delete(e->keys, &alice, "pk"), MM_ERR_CONFLICT);
	memset(&cfg, 0, sizeof(cfg));
	cfg.set_deletion_allowed = true;
	cfg.deletion_allowed = true;
	assert_int_equal(mm_keys_configure(e->keys, &alice, "pk", &cfg), MM_OK);
	assert_int_equal(mm_keys_list(e->keys, &list), MM_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(mm_keys_delete(e->keys, &alice, "pk"), MM_OK);
	assert_int_equal(mm_keys_encrypt(e->keys, NULL, "pk", "x", 1, NULL, 0, &ct), MM_ERR_NOT_FOUND);
	assert_int_equal(mm_keys_list(e->keys, &list), MM_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* A new key with the old name does not read the old key's data. */
	o.auto_rotate_ms = 0;
	assert_int_equal(mm_keys_create(e->keys, &alice, "pk", &o), MM_OK);
	{
		mm_buf pt = MM_BUF_INIT(64);
		assert_int_equal(mm_keys_decrypt(e->keys, NULL, "pk", ct.data, ct.len, NULL, 0, &pt),
				 MM_ERR_VERIFY);
		mm_buf_release(&pt);
	}
	assert_int_equal(audit_count(e, "keys.delete", "success"), 1);
	json_decref(pol);
	json_decref(badpol);
	json_decref(pol2);
	mm_buf_release(&ct);
	env_free(e);
}

static void test_batch(void **state)
{
	struct env *e = setup_env();
	mm_keys_item it[3];
	const char *msgs[3] = { "one", "two", "three" };
	int64_t before;

	create(e, "b", MM_KEY_AES256_GCM, false);
	memset(it, 0, sizeof(it));
	for (int i = 0; i < 3; i++) {
		it[i].input = msgs[i];
		it[i].input_len = strlen(msgs[i]);
		it[i].context = "ctx";
		it[i].context_len = 3;
		mm_buf_init(&it[i].output, 4096);
		mm_buf_init(&it[i].aux, 64);
	}
	before = audit_count(e, NULL, NULL);
	assert_int_equal(mm_keys_batch(e->keys, &alice, "b", MM_KEYS_OP_ENCRYPT, NULL, it, 3), MM_OK);
	assert_int_equal(audit_count(e, NULL, NULL), before + 1);  /* one event per batch */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(it[i].result, MM_OK);
		assert_int_equal(it[i].used_version, 1);
	}
	/* Decrypt the batch with item 1 damaged. */
	{
		mm_keys_item d[3];
		char *ct1 = strdup(it[1].output.data);

		ct1[15] = ct1[15] == 'A' ? 'B' : 'A';
		memset(d, 0, sizeof(d));
		for (int i = 0; i < 3; i++) {
			d[i].input = i == 1 ? ct1 : it[i].output.data;
			d[i].input_len = it[i].output.len;
			d[i].context = "ctx";
			d[i].context_len = 3;
			mm_buf_init(&d[i].output, 4096);
			mm_buf_init(&d[i].aux, 64);
		}
		assert_int_equal(mm_keys_batch(e->keys, &alice, "b", MM_KEYS_OP_DECRYPT, NULL, d, 3),
				 MM_OK);
		assert_int_equal(d[0].result, MM_OK);
		assert_string_equal(d[0].output.data, "one");
		assert_int_equal(d[1].result, MM_ERR_VERIFY);
		assert_int_equal(d[1].output.len, 0);
		assert_true(strlen(d[1].detail) > 0);
		assert_int_equal(d[2].result, MM_OK);
		assert_string_equal(d[2].output.data, "three");
		assert_int_equal(audit_count(e, "keys.decrypt", "partial"), 1);
		for (int i = 0; i < 3; i++) {
			mm_buf_wipe_release(&d[i].output);
			mm_buf_release(&d[i].aux);
		}
		free(ct1);
	}
	assert_int_equal(mm_keys_batch(e->keys, &alice, "b", MM_KEYS_OP_ENCRYPT, NULL, it, 0),
			 MM_ERR_INVALID);
	assert_int_equal(mm_keys_batch(e->keys, &alice, "missing", MM_KEYS_OP_ENCRYPT, NULL, it, 3),
			 MM_ERR_NOT_FOUND);
	assert_int_equal(it[0].result, MM_ERR_NOT_FOUND);
	for (int i = 0; i < 3; i++) {
		mm_buf_release(&it[i].output);
		mm_buf_release(&it[i].aux);
	}
	env_free(e);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	mm_err rc;
	char detail[256];
};

static void on_done(mm_err rc, const char *detail, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	snprintf(w->detail, sizeof(w->detail), "%s", detail ? detail : "");
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static mm_err wait_done(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	w->done = false;
	pthread_mutex_unlock(&w->mu);
	return w->rc;
}

static void test_batch_async(void **state)
{
	struct env *e = setup_env();
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, MM_OK, "" };
	mm_keys_item it = { .input = "queued", .input_len = 6 }, d = { 0 };
	int64_t before;

	create(e, "q", MM_KEY_AES256_GCM, false);
	mm_buf_init(&it.output, 4096);
	mm_buf_init(&it.aux, 64);
	mm_buf_init(&d.output, 4096);
	mm_buf_init(&d.aux, 64);
	before = audit_count(e, NULL, NULL);
	mm_keys_batch_async(e->keys, &alice, "q", MM_KEYS_OP_ENCRYPT, NULL, &it, 1, on_done, &w);
	assert_int_equal(wait_done(&w), MM_OK);
	assert_int_equal(it.result, MM_OK);
	assert_int_equal(audit_count(e, NULL, NULL), before + 1);
	d.input = it.output.data;
	d.input_len = it.output.len;
	mm_keys_batch_async(e->keys, &alice, "q", MM_KEYS_OP_DECRYPT, NULL, &d, 1, on_done, &w);
	assert_int_equal(wait_done(&w), MM_OK);
	assert_int_equal(d.result, MM_OK);
	assert_string_equal(d.output.data, "queued");
	/* A call-level failure is reported through done with its detail. */
	mm_keys_batch_async(e->keys, &alice, "absent", MM_KEYS_OP_DECRYPT, NULL, &d, 1, on_done, &w);
	assert_int_equal(wait_done(&w), MM_ERR_NOT_FOUND);
	assert_non_null(strstr(w.detail, "absent"));
	assert_int_equal(audit_count(e, NULL, NULL), before + 3);
	mm_buf_release(&it.output);
	mm_buf_release(&it.aux);
	mm_buf_wipe_release(&d.output);
	mm_buf_release(&d.aux);
	env_free(e);
}

struct racer {
	struct env *e;
	bool stop;
	uint64_t ok, sealed, bad;  /* counted here: cmocka asserts are for the main thread */
	mm_err first_bad;          /* what the first bad outcome was, for the failure message */
	char first_detail[256];
};

static void *race_main(void *p)
{
	struct racer *r = p;
	mm_buf ct = MM_BUF_INIT(4096), pt = MM_BUF_INIT(4096);

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		mm_err rc;

		mm_buf_reset(&ct);
		mm_buf_reset(&pt);
		rc = mm_keys_encrypt(r->e->keys, NULL, "race", "payload", 7, NULL, 0, &ct);
		if (rc == MM_OK)
			rc = mm_keys_decrypt(r->e->keys, NULL, "race", ct.data, ct.len, NULL, 0, &pt);
		if (rc == MM_OK && pt.len == 7 && memcmp(pt.data, "payload", 7) == 0)
			__atomic_add_fetch(&r->ok, 1, __ATOMIC_RELAXED);
		else if (rc == MM_ERR_SEALED && pt.len == 0)  /* the only acceptable failure */
			__atomic_add_fetch(&r->sealed, 1, __ATOMIC_RELAXED);
		else if (__atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED) == 1) {
			r->first_bad = rc;
			snprintf(r->first_detail, sizeof(r->first_detail), "%s (pt.len %zu)",
				 rc == MM_OK ? "wrong plaintext" : mm_err_detail(rc), pt.len);
		}
	}
	mm_buf_release(&ct);
	mm_buf_release(&pt);
	return NULL;
}

/* Operations racing with seal, unseal and rotation: each call either works
 * or reports MM_ERR_SEALED, never a crash, a wrong plaintext or a leak. */
static void test_race_seal(void **state)
{
	struct env *e = env_new();
	mm_keys_shares sh = { 0, NULL };
	struct racer r = { e, false, 0, 0, 0, MM_OK, "" };
	pthread_t th[2];

	env_init_unseal(e, 1, 1, &sh);
	create(e, "race", MM_KEY_AES256_GCM, false);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_main, &r), 0);
	for (int i = 0; i < 10; i++) {
		usleep(20000);
		assert_int_equal(mm_keys_seal(e->keys, NULL), MM_OK);
		usleep(5000);
		assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, sh.shares[0], NULL), MM_OK);
		if (i % 3 == 0)
			assert_int_equal(mm_keys_rotate(e->keys, NULL, "race", NULL), MM_OK);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(r.ok > 0);
	if (r.bad != 0)
		fail_msg("%llu bad outcomes; first: %s: %s", (unsigned long long)r.bad,
			 mm_err_name(r.first_bad), r.first_detail);
	mm_keys_shares_release(&sh);
	env_free(e);
}

static void test_auto_rotate(void **state)
{
	struct env *e = setup_env();
	mm_keys_create_opts o = { .type = MM_KEY_HMAC_SHA256, .auto_rotate_ms = MM_KEYS_MIN_ROTATE_MS };
	mm_keys_info info;
	size_t n = 99;
	int64_t now = mm_time_wall_ms();

	assert_int_equal(mm_keys_create(e->keys, NULL, "auto", &o), MM_OK);
	create(e, "manual", MM_KEY_HMAC_SHA256, false);
	assert_int_equal(mm_keys_tick(e->keys, now + 60000, &n), MM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(mm_keys_tick(e->keys, now + 2 * MM_KEYS_MIN_ROTATE_MS, &n), MM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(mm_keys_show(e->keys, "auto", &info), MM_OK);
	assert_int_equal(info.latest, 2);
	mm_keys_info_release(&info);
	assert_int_equal(mm_keys_show(e->keys, "manual", &info), MM_OK);
	assert_int_equal(info.latest, 1);
	mm_keys_info_release(&info);
	assert_int_equal(audit_count(e, "keys.rotate", "success"), 1);
	env_free(e);
}

static void test_algorithms(void **state)
{
	json_t *a = mm_keys_algorithms_json(), *algs, *v;
	size_t i, named = 0;

	assert_non_null(a);
	algs = json_object_get(a, "algorithms");
	json_array_foreach(algs, i, v) {
		mm_key_type t;
		if (strcmp(json_string_value(json_object_get(v, "use")), "named-key") == 0) {
			assert_int_equal(mm_key_type_parse(json_string_value(json_object_get(v, "name")), &t),
					 MM_OK);
			named++;
		}
	}
	assert_int_equal(named, MM_KEY__COUNT);
	assert_non_null(strstr(json_string_value(json_object_get(a, "source")), "CRYPTREC"));
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encrypt_decrypt),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_restart_persists),
		cmocka_unit_test(test_datakey),
		cmocka_unit_test(test_hmac_and_export),
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_disable_policy_delete),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_async),
		cmocka_unit_test(test_race_seal),
		cmocka_unit_test(test_auto_rotate),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_details_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
