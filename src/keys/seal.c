/*
 * seal.c: root key, keyring, seal/unseal, rekey, the barrier and the audit
 * signing key. See keys.h for the model and internal.h for the locking.
 *
 * Stored forms:
 *  - keys_seal (one row, id 1): N, K, generation and the keyring blob =
 *    nonce || AES-256-GCM(root, aad "mamori/keyring/v1", keyring) || tag.
 *    The keyring plaintext is "MMKR" 01 active:u32 count:u32 then per term
 *    term:u32 created_ms:i64 key[32] (big-endian integers).
 *  - barrier blobs: 01 term:u32 nonce ct tag, with additional data
 *    "mamori/barrier/v1" NUL header(5 bytes) aad, so a blob is bound to its
 *    place (aad) and to its term.
 *
 * Invariants: a share is never stored, logged or audited; shares and
 * candidate root keys are wiped on every path; the root key is installed
 * only after the keyring decrypted under it AND the "sys.unseal" audit event
 * committed; a seal wipes first and audits second.
 */
#include "keys/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "crypto/crypto.h"

static const char *const steps[] = {
	"CREATE TABLE keys_seal ("
	" id INTEGER PRIMARY KEY,"
	" shares INTEGER NOT NULL,"
	" threshold INTEGER NOT NULL,"
	" generation INTEGER NOT NULL,"
	" keyring BLOB NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL)",
	"CREATE TABLE keys_named ("
	" name TEXT PRIMARY KEY,"
	" type TEXT NOT NULL,"
	" latest INTEGER NOT NULL,"
	" min_decryption INTEGER NOT NULL,"
	" exportable INTEGER NOT NULL,"
	" deletion_allowed INTEGER NOT NULL,"
	" disabled INTEGER NOT NULL,"
	" auto_rotate_ms INTEGER NOT NULL,"
	" policy TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" rotated_ms INTEGER NOT NULL)",
	"CREATE TABLE keys_versions ("
	" name TEXT NOT NULL REFERENCES keys_named (name),"
	" version INTEGER NOT NULL,"
	" material BLOB NOT NULL,"
	" public_key BLOB,"
	" created_ms INTEGER NOT NULL,"
	" destroyed_ms INTEGER,"
	" PRIMARY KEY (name, version))",
	"CREATE TABLE keys_internal ("
	" name TEXT PRIMARY KEY,"
	" material BLOB NOT NULL,"
	" public_key BLOB NOT NULL,"
	" created_ms INTEGER NOT NULL)",
};

const mm_migration_set mm_keys_migrations = { "keys", steps, sizeof(steps) / sizeof(steps[0]) };

#define KEYRING_AAD "mamori/keyring/v1"
#define BARRIER_AAD "mamori/barrier/v1"
#define BARRIER_FORMAT 1
#define BARRIER_HDR 5
#define MAX_WRAP (16u << 20)
#define AUDIT_KEY_NAME "audit-signing"
#define AUDIT_KEY_AAD "internal/audit-signing"

/* ---- small helpers ---- */

const char *keys_actor(const mm_keys_caller *who)
{
	return who != NULL && who->actor != NULL ? who->actor : "system";
}

struct audit_arg {
	mm_audit_event ev;
};

static mm_err audit_job(mm_db *db, void *arg)
{
	struct audit_arg *a = arg;

	return mm_audit_append(db, &a->ev, NULL);
}

void keys_fill_event(mm_audit_event *ev, const mm_keys_caller *who, const char *action,
		       const char *target, const char *result, const json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = keys_actor(who);
	ev->source = who ? who->source : NULL;
	ev->request_id = who ? who->request_id : NULL;
	ev->action = action;
	ev->target = target;
	ev->result = result;
	ev->details = details;
}

mm_err keys_audit(mm_keys *k, const mm_keys_caller *who, const char *action, const char *target,
		  const char *result, json_t *details)
{
	struct audit_arg a;
	mm_err rc;

	/* Always an object: mm_audit_append leaks the {} it makes for NULL
	 * details (json_object_set on a fresh object), so never pass NULL. */
	if (details == NULL)
		details = json_object();
	keys_fill_event(&a.ev, who, action, target, result, details);
	rc = mm_store_write(k->store, audit_job, &a);
	json_decref(details);
	if (rc != MM_OK)
		mm_logkv(MM_LOG_ERROR, "keys.audit_failed", "action", action, "error",
			 mm_err_name(rc), NULL);
	return rc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, int64_t v)
{
	put_be32(p, (uint32_t)((uint64_t)v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static int64_t get_be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));
}

static void terms_free(struct term *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mm_secmem_free(t[i].key, ROOT_LEN);
	free(t);
}

/* Same rules as mm_shamir_split, checked before anything is generated. */
static mm_err check_counts(unsigned shares, unsigned threshold)
{
	if (shares < 1 || shares > MM_SHAMIR_MAX_SHARES)
		return mm_err_set(MM_ERR_INVALID, "secret_shares must be 1 to %d", MM_SHAMIR_MAX_SHARES);
	if (threshold < 1 || threshold > shares)
		return mm_err_set(MM_ERR_INVALID, "secret_threshold must be 1 to secret_shares");
	if (threshold == 1 && shares > 1)
		return mm_err_set(MM_ERR_INVALID, "secret_threshold must be at least 2 with several shares");
	return MM_OK;
}

/* ---- keyring ---- */

#define KR_HDR 13
#define KR_ENTRY 44

/* Serialises terms into a fresh secmem buffer. */
static mm_err keyring_encode(const struct term *t, size_t n, uint32_t active, uint8_t **ret,
			     size_t *ret_len)
{
	size_t len = KR_HDR + n * KR_ENTRY;
	uint8_t *p = mm_secmem_alloc(len);

	if (p == NULL)
		return MM_ERR_NOMEM;
	memcpy(p, "MMKR", 4);
	p[4] = 1;
	put_be32(p + 5, active);
	put_be32(p + 9, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = p + KR_HDR + i * KR_ENTRY;
		put_be32(e, t[i].term);
		put_be64(e + 4, t[i].created_ms);
		memcpy(e + 12, t[i].key, ROOT_LEN);
	}
	*ret = p;
	*ret_len = len;
	return MM_OK;
}

static mm_err keyring_decode(const uint8_t *p, size_t len, struct term **ret, size_t *ret_n,
			     uint32_t *ret_active)
{
	struct term *t = NULL;
	uint32_t n, active;
	bool found = false;
	mm_err rc = MM_OK;

	if (len < KR_HDR || memcmp(p, "MMKR", 4) != 0 || p[4] != 1)
		return mm_err_set(MM_ERR_VERSION, "unknown keyring format");
	active = get_be32(p + 5);
	n = get_be32(p + 9);
	if (n == 0 || n > 1000000 || len != KR_HDR + (size_t)n * KR_ENTRY)
		return mm_err_set(MM_ERR_INTERNAL, "keyring is damaged");
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return MM_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + KR_HDR + (size_t)i * KR_ENTRY;
		t[i].term = get_be32(e);
		t[i].created_ms = get_be64(e + 4);
		if ((t[i].key = mm_secmem_alloc(ROOT_LEN)) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		memcpy(t[i].key, e + 12, ROOT_LEN);
		found |= t[i].term == active;
	}
	if (!found) {
		rc = mm_err_set(MM_ERR_INTERNAL, "keyring has no active term");
		goto out;
	}
	*ret = t;
	*ret_n = n;
	*ret_active = active;
	t = NULL;
out:
	if (t != NULL)
		terms_free(t, n);
	return rc;
}

/* Encrypts the keyring under root into blob (a fresh mm_buf content). */
static mm_err keyring_seal(const uint8_t *root, const struct term *t, size_t n, uint32_t active,
			   mm_buf *blob)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	mm_err rc;

	if ((rc = keyring_encode(t, n, active, &plain, &len)) != MM_OK)
		return rc;
	if ((rc = mm_buf_grow(blob, len + MM_AEAD_OVERHEAD)) == MM_OK &&
	    (rc = mm_aead_seal_random(root, KEYRING_AAD, sizeof(KEYRING_AAD) - 1, plain, len,
				      (uint8_t *)blob->data)) == MM_OK) {
		blob->len = len + MM_AEAD_OVERHEAD;
		blob->data[blob->len] = '\0';
	}
	mm_secmem_free(plain, len);
	return rc;
}

/* Reads the stored keyring blob and N/K/generation. Errors: MM_ERR_CONFLICT
 * (not initialised), MM_ERR_STORE. */
static mm_err load_seal_row(mm_keys *k, mm_buf *blob, unsigned *ret_n, unsigned *ret_k,
			    int64_t *ret_gen)
{
	static const char q[] = "SELECT shares, threshold, generation, keyring FROM keys_seal WHERE id = 1";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	const void *p;
	size_t n;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_CONFLICT, "the key manager is not initialised");
		goto out;
	}
	*ret_n = (unsigned)mm_stmt_int(st, 0);
	*ret_k = (unsigned)mm_stmt_int(st, 1);
	*ret_gen = mm_stmt_int(st, 2);
	if (blob != NULL) {
		p = mm_stmt_blob(st, 3, &n);
		rc = mm_buf_append(blob, p, n);
	}
out:
	mm_stmt_done(st);
	mm_store_release(k->store, db);
	return rc;
}

/* ---- shares ---- */

static mm_err share_decode(const char *s, uint8_t out[SHARE_LEN])
{
	mm_buf b = MM_BUF_INIT(64);
	size_t n = s ? strlen(s) : 0;
	mm_err rc = MM_OK;

	if (n != MM_KEYS_SHARE_TEXT_LEN || mm_base64_decode(&b, s, n) != MM_OK || b.len != SHARE_LEN ||
	    b.data[0] == 0) {
		rc = mm_err_set(MM_ERR_INVALID, "malformed unseal share (expected %d base64 characters)",
				MM_KEYS_SHARE_TEXT_LEN);
		goto out;
	}
	memcpy(out, b.data, SHARE_LEN);
out:
	mm_buf_wipe_release(&b);
	return rc;
}

void mm_keys_shares_release(mm_keys_shares *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		mm_free_secret(s->shares[i]);
	free(s->shares);
	s->shares = NULL;
	s->n = 0;
}

/* Splits root into text shares. */
static mm_err make_shares(const uint8_t *root, unsigned n, unsigned thr, mm_keys_shares *ret)
{
	size_t rawlen = (size_t)n * SHARE_LEN;
	uint8_t *raw = mm_secmem_alloc(rawlen);
	mm_keys_shares out = { 0, NULL };
	mm_err rc;

	if (raw == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_shamir_split(root, ROOT_LEN, n, thr, raw)) != MM_OK)
		goto out;
	if ((out.shares = calloc(n, sizeof(char *))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		mm_buf b = MM_BUF_INIT(64);

		if ((rc = mm_base64_encode(&b, raw + (size_t)i * SHARE_LEN, SHARE_LEN)) != MM_OK ||
		    (out.shares[i] = mm_buf_detach(&b, NULL)) == NULL) {
			mm_buf_wipe_release(&b);
			rc = rc != MM_OK ? rc : MM_ERR_NOMEM;
			goto out;
		}
		out.n++;
	}
	*ret = out;
	out.shares = NULL;
	out.n = 0;
out:
	mm_keys_shares_release(&out);
	mm_secmem_free(raw, rawlen);
	return rc;
}

enum { ACC_ADDED, ACC_DUPLICATE, ACC_CONFLICT };

static int acc_add(struct share_acc *a, const uint8_t s[SHARE_LEN])
{
	for (unsigned i = 0; i < a->n; i++) {
		const uint8_t *have = a->buf + (size_t)i * SHARE_LEN;
		if (have[0] == s[0])
			return mm_crypto_equal(have, s, SHARE_LEN) ? ACC_DUPLICATE : ACC_CONFLICT;
	}
	memcpy(a->buf + (size_t)a->n * SHARE_LEN, s, SHARE_LEN);
	a->n++;
	return ACC_ADDED;
}

static void acc_reset(struct share_acc *a)
{
	mm_crypto_wipe(a->buf, (size_t)MM_SHAMIR_MAX_SHARES * SHARE_LEN);
	a->n = 0;
}

/* Recombines the accumulated shares into a fresh secmem key. */
static mm_err acc_combine(const struct share_acc *a, uint8_t **ret)
{
	const uint8_t *ptrs[MM_SHAMIR_MAX_SHARES];
	uint8_t *key = mm_secmem_alloc(ROOT_LEN);
	mm_err rc;

	if (key == NULL)
		return MM_ERR_NOMEM;
	for (unsigned i = 0; i < a->n; i++)
		ptrs[i] = a->buf + (size_t)i * SHARE_LEN;
	if ((rc = mm_shamir_combine(ptrs, a->n, ROOT_LEN, key)) != MM_OK) {
		mm_secmem_free(key, ROOT_LEN);
		return rc;
	}
	*ret = key;
	return MM_OK;
}

/* ---- open / close ---- */

mm_err mm_keys_open(const mm_keys_opts *o, mm_keys **ret)
{
	pthread_rwlockattr_t attr;
	mm_keys *k;
	mm_err rc;

	if (o == NULL || o->store == NULL)
		return mm_err_set(MM_ERR_INVALID, "keys: a store is required");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return MM_ERR_NOMEM;
	k->store = o->store;
	pthread_rwlockattr_init(&attr);
	/* Writer preference: a seal never waits behind a stream of readers. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&k->seal_mu, NULL);
	pthread_mutex_init(&k->admin_mu, NULL);
	if ((o->unseal_key_file && (k->unseal_key_file = strdup(o->unseal_key_file)) == NULL) ||
	    (k->unseal.buf = mm_secmem_alloc((size_t)MM_SHAMIR_MAX_SHARES * SHARE_LEN)) == NULL ||
	    (k->rekey.buf = mm_secmem_alloc((size_t)MM_SHAMIR_MAX_SHARES * SHARE_LEN)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	rc = load_seal_row(k, NULL, &k->shares, &k->threshold, &k->generation);
	if (rc == MM_OK)
		k->initialized = true;
	else if (rc != MM_ERR_CONFLICT)
		goto fail;
	*ret = k;
	return MM_OK;
fail:
	mm_keys_close(k);
	return rc;
}

/* Wipes every key from memory; lock held for writing. */
static void wipe_all_locked(mm_keys *k)
{
	mm_secmem_free(k->root, ROOT_LEN);
	k->root = NULL;
	terms_free(k->terms, k->nterms);
	k->terms = NULL;
	k->nterms = 0;
	k->active_term = 0;
	keys_cache_clear_locked(k);
	mm_secmem_free(k->audit_seed, MM_ED25519_SEED_LEN);
	k->audit_seed = NULL;
	k->method = NULL;
	k->unsealed_ms = 0;
}

void mm_keys_close(mm_keys *k)
{
	if (k == NULL)
		return;
	pthread_rwlock_wrlock(&k->lock);
	wipe_all_locked(k);
	pthread_rwlock_unlock(&k->lock);
	mm_secmem_free(k->unseal.buf, (size_t)MM_SHAMIR_MAX_SHARES * SHARE_LEN);
	mm_secmem_free(k->rekey.buf, (size_t)MM_SHAMIR_MAX_SHARES * SHARE_LEN);
	free(k->unseal_key_file);
	pthread_rwlock_destroy(&k->lock);
	pthread_mutex_destroy(&k->seal_mu);
	pthread_mutex_destroy(&k->admin_mu);
	free(k);
}

/* ---- init ---- */

struct init_arg {
	unsigned shares, threshold;
	const mm_buf *blob;
	int64_t now;
	mm_audit_event ev;
};

static mm_err init_job(mm_db *db, void *arg)
{
	static const char q[] = "INSERT INTO keys_seal (id, shares, threshold, generation, keyring,"
				" created_ms, updated_ms) VALUES (1, ?, ?, 1, ?, ?, ?)";
	struct init_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, a->shares)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, a->threshold)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 3, a->blob->data, a->blob->len)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, a->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_ERR_EXISTS)
		return mm_err_set(MM_ERR_CONFLICT, "the key manager is already initialised");
	if (rc != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_init(mm_keys *k, const mm_keys_caller *who, unsigned shares, unsigned threshold,
		    mm_keys_shares *ret)
{
	struct term t = { 1, 0, NULL };
	uint8_t *root = NULL;
	mm_buf blob = MM_BUF_INIT(1 << 20);
	mm_keys_shares out = { 0, NULL };
	struct init_arg a;
	json_t *d = NULL;
	mm_err rc;

	if ((rc = check_counts(shares, threshold)) != MM_OK)
		return rc;
	pthread_mutex_lock(&k->seal_mu);
	if (k->initialized) {
		rc = mm_err_set(MM_ERR_CONFLICT, "the key manager is already initialised");
		goto out;
	}
	t.created_ms = mm_time_wall_ms();
	if ((root = mm_secmem_alloc(ROOT_LEN)) == NULL || (t.key = mm_secmem_alloc(ROOT_LEN)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = mm_crypto_random(root, ROOT_LEN)) != MM_OK ||
	    (rc = mm_crypto_random(t.key, ROOT_LEN)) != MM_OK ||
	    (rc = keyring_seal(root, &t, 1, 1, &blob)) != MM_OK ||
	    (rc = make_shares(root, shares, threshold, &out)) != MM_OK)
		goto out;
	d = json_pack("{s:I, s:I, s:I}", "shares", (json_int_t)shares, "threshold",
		      (json_int_t)threshold, "generation", (json_int_t)1);
	a.shares = shares;
	a.threshold = threshold;
	a.blob = &blob;
	a.now = t.created_ms;
	keys_fill_event(&a.ev, who, "sys.init", "keys:root", "success", d);
	if ((rc = mm_store_write(k->store, init_job, &a)) != MM_OK)
		goto out;
	pthread_rwlock_wrlock(&k->lock);
	k->initialized = true;
	k->shares = shares;
	k->threshold = threshold;
	k->generation = 1;
	pthread_rwlock_unlock(&k->lock);
	*ret = out;
	out.shares = NULL;
	out.n = 0;
out:
	pthread_mutex_unlock(&k->seal_mu);
	json_decref(d);
	mm_keys_shares_release(&out);
	mm_buf_release(&blob);
	mm_secmem_free(root, ROOT_LEN);
	mm_secmem_free(t.key, ROOT_LEN);
	return rc;
}

/* ---- status ---- */

void mm_keys_status_get(mm_keys *k, mm_keys_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&k->seal_mu);
	pthread_rwlock_rdlock(&k->lock);
	ret->initialized = k->initialized;
	ret->sealed = k->root == NULL;
	ret->shares = k->shares;
	ret->threshold = k->threshold;
	ret->progress = k->unseal.n;
	ret->unseal_method = k->method;
	ret->unsealed_ms = k->unsealed_ms;
	ret->generation = k->generation;
	ret->barrier_term = k->active_term;
	ret->memory_locked = k->root != NULL && mm_secmem_is_secure(k->root);
	ret->rekey_active = k->rekey_active;
	ret->rekey_progress = k->rekey.n;
	ret->rekey_shares = k->rekey_shares;
	ret->rekey_threshold = k->rekey_threshold;
	pthread_rwlock_unlock(&k->lock);
	pthread_mutex_unlock(&k->seal_mu);
}

bool mm_keys_is_unsealed(mm_keys *k)
{
	bool r;

	pthread_rwlock_rdlock(&k->lock);
	r = k->root != NULL;
	pthread_rwlock_unlock(&k->lock);
	return r;
}

bool mm_keys_is_sealed(mm_keys *k)
{
	bool r;

	pthread_rwlock_rdlock(&k->lock);
	r = k->initialized && k->root == NULL;
	pthread_rwlock_unlock(&k->lock);
	return r;
}

/* ---- audit signing key ---- */

static mm_err audit_sign(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64])
{
	mm_keys *k = ctx;
	mm_err rc;

	pthread_rwlock_rdlock(&k->lock);
	if (k->audit_seed == NULL)
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
	else
		rc = keys_ed25519_sign(k->audit_seed, msg, n, sig);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

struct internal_arg {
	const mm_buf *wrapped;
	const uint8_t *pub;
	int64_t now;
	mm_audit_event ev;
};

static mm_err internal_insert_job(mm_db *db, void *arg)
{
	static const char q[] = "INSERT INTO keys_internal (name, material, public_key, created_ms)"
				" VALUES ('" AUDIT_KEY_NAME "', ?, ?, ?)";
	struct internal_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_blob(st, 1, a->wrapped->data, a->wrapped->len)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 2, a->pub, MM_ED25519_PUBLIC_LEN)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, a->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

/* Creates or loads the audit signing key; seal_mu held, lock not held. */
static mm_err ensure_audit_key(mm_keys *k)
{
	static const char q[] = "SELECT material, public_key FROM keys_internal WHERE name = '"
				AUDIT_KEY_NAME "'";
	uint8_t pub[MM_ED25519_PUBLIC_LEN], chk[MM_ED25519_PUBLIC_LEN];
	mm_buf wrapped = MM_BUF_INIT(4096), seedbuf = MM_BUF_INIT(64);
	uint8_t *seed = NULL;
	bool have, row = false;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	mm_err rc;

	pthread_rwlock_rdlock(&k->lock);
	have = k->audit_seed != NULL;
	rc = k->root == NULL ? mm_err_set(MM_ERR_SEALED, "the key manager is sealed") : MM_OK;
	pthread_rwlock_unlock(&k->lock);
	if (have || rc != MM_OK)
		return rc;
	if ((seed = mm_secmem_alloc(MM_ED25519_SEED_LEN)) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q, &st)) == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK &&
	    row) {
		size_t n, pn;
		const void *p = mm_stmt_blob(st, 0, &n), *pp = mm_stmt_blob(st, 1, &pn);

		if (pn != MM_ED25519_PUBLIC_LEN)
			rc = mm_err_set(MM_ERR_INTERNAL, "audit signing key is damaged");
		else if ((rc = mm_buf_append(&wrapped, p, n)) == MM_OK)
			memcpy(pub, pp, MM_ED25519_PUBLIC_LEN);
	}
	mm_stmt_done(st);
	mm_store_release(k->store, db);
	if (rc != MM_OK)
		goto out;
	pthread_rwlock_rdlock(&k->lock);
	if (row) {
		rc = keys_unwrap_locked(k, AUDIT_KEY_AAD, wrapped.data, wrapped.len, &seedbuf);
		if (rc == MM_OK && seedbuf.len != MM_ED25519_SEED_LEN)
			rc = mm_err_set(MM_ERR_INTERNAL, "audit signing key is damaged");
		if (rc == MM_OK) {
			memcpy(seed, seedbuf.data, MM_ED25519_SEED_LEN);
			if ((rc = keys_ed25519_public(seed, chk)) == MM_OK &&
			    !mm_crypto_equal(chk, pub, sizeof(pub)))
				rc = mm_err_set(MM_ERR_INTERNAL, "audit signing key does not match its public key");
		}
	} else if ((rc = keys_ed25519_keygen(seed, pub)) == MM_OK) {
		rc = keys_wrap_locked(k, AUDIT_KEY_AAD, seed, MM_ED25519_SEED_LEN, &wrapped);
	}
	pthread_rwlock_unlock(&k->lock);
	if (rc != MM_OK)
		goto out;
	if (!row) {
		struct internal_arg a = { &wrapped, pub, mm_time_wall_ms(), { 0 } };
		json_t *d = json_pack("{s:s}", "key", AUDIT_KEY_NAME);
		mm_buf hx = MM_BUF_INIT(128);

		if (d != NULL && mm_buf_append_hex(&hx, pub, sizeof(pub)) == MM_OK)
			json_object_set_new(d, "public_key_hex", json_string(hx.data));
		mm_buf_release(&hx);
		keys_fill_event(&a.ev, NULL, "keys.internal.create", "key:internal/" AUDIT_KEY_NAME,
			   "success", d);
		rc = mm_store_write(k->store, internal_insert_job, &a);
		json_decref(d);
		if (rc != MM_OK)
			goto out;
	}
	pthread_rwlock_wrlock(&k->lock);
	if (k->root != NULL && k->audit_seed == NULL) {
		k->audit_seed = seed;
		memcpy(k->audit_pub, pub, sizeof(pub));
		seed = NULL;
	}
	pthread_rwlock_unlock(&k->lock);
out:
	mm_secmem_free(seed, MM_ED25519_SEED_LEN);
	mm_buf_wipe_release(&seedbuf);
	mm_buf_release(&wrapped);
	return rc;
}

mm_err mm_keys_audit_signer(mm_keys *k, mm_keys_signer *ret)
{
	mm_err rc;

	pthread_mutex_lock(&k->seal_mu);
	rc = ensure_audit_key(k);
	pthread_mutex_unlock(&k->seal_mu);
	if (rc != MM_OK)
		return rc;
	pthread_rwlock_rdlock(&k->lock);
	if (k->audit_seed == NULL) {
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
	} else {
		ret->sign = audit_sign;
		ret->ctx = k;
		memcpy(ret->public_key, k->audit_pub, sizeof(ret->public_key));
	}
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

/* ---- unseal ---- */

static json_t *unseal_details(mm_keys *k, const char *method, const char *reason)
{
	json_t *d = json_pack("{s:s, s:I, s:I}", "method", method, "progress",
			      (json_int_t)k->unseal.n, "threshold", (json_int_t)k->threshold);

	if (d != NULL && reason != NULL)
		json_object_set_new(d, "reason", json_string(reason));
	return d;
}

/* Tries the accumulated shares; seal_mu held. */
static mm_err try_unseal(mm_keys *k, const mm_keys_caller *who, const char *method)
{
	mm_buf blob = MM_BUF_INIT(64 << 20);
	uint8_t *cand = NULL, *plain = NULL;
	struct term *terms = NULL;
	size_t nterms = 0, plen = 0;
	uint32_t active = 0;
	unsigned n = 0, thr = 0;
	int64_t gen = 0;
	mm_err rc;

	if ((rc = acc_combine(&k->unseal, &cand)) != MM_OK)
		goto fail;
	if ((rc = load_seal_row(k, &blob, &n, &thr, &gen)) != MM_OK)
		goto fail;
	if (blob.len < MM_AEAD_OVERHEAD) {
		rc = mm_err_set(MM_ERR_INTERNAL, "stored keyring is damaged");
		goto fail;
	}
	plen = blob.len - MM_AEAD_OVERHEAD;
	if ((plain = mm_secmem_alloc(plen ? plen : 1)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	rc = mm_aead_open_packed(cand, KEYRING_AAD, sizeof(KEYRING_AAD) - 1,
				 (const uint8_t *)blob.data, blob.len, plain);
	if (rc == MM_ERR_VERIFY) {
		keys_audit(k, who, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, method, "shares do not reconstruct the root key"));
		rc = mm_err_set(MM_ERR_VERIFY,
				"unseal failed: the shares do not reconstruct the root key; progress reset");
		goto fail;
	}
	if (rc != MM_OK || (rc = keyring_decode(plain, plen, &terms, &nterms, &active)) != MM_OK)
		goto fail;
	/* Fail closed: no unseal without its audit record. */
	if ((rc = keys_audit(k, who, "sys.unseal", "keys:root", "success",
			     unseal_details(k, method, NULL))) != MM_OK)
		goto fail;
	pthread_rwlock_wrlock(&k->lock);
	k->root = cand;
	k->terms = terms;
	k->nterms = nterms;
	k->active_term = active;
	k->method = method;
	k->unsealed_ms = mm_time_wall_ms();
	k->shares = n;
	k->threshold = thr;
	k->generation = gen;
	pthread_rwlock_unlock(&k->lock);
	cand = NULL;
	terms = NULL;
	acc_reset(&k->unseal);
	mm_secmem_free(plain, plen ? plen : 1);
	mm_buf_release(&blob);
	mm_logkv(MM_LOG_INFO, "keys.unsealed", "method", method, NULL);
	/* The audit module needs its key from the first unseal on; a failure
	 * here leaves the daemon unsealed and is retried by mm_keys_audit_signer. */
	if (ensure_audit_key(k) != MM_OK)
		mm_logkv(MM_LOG_ERROR, "keys.audit_key_failed", NULL);
	return MM_OK;
fail:
	acc_reset(&k->unseal);
	terms_free(terms, nterms);
	mm_secmem_free(plain, plen ? plen : 1);
	mm_secmem_free(cand, ROOT_LEN);
	mm_buf_release(&blob);
	return rc;
}

/* One share; seal_mu held. */
static mm_err submit_locked(mm_keys *k, const mm_keys_caller *who, const char *share,
			    const char *method)
{
	uint8_t s[SHARE_LEN];
	bool unsealed;
	mm_err rc;

	if (!k->initialized) {
		keys_audit(k, who, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, method, "not initialised"));
		return mm_err_set(MM_ERR_CONFLICT, "the key manager is not initialised");
	}
	pthread_rwlock_rdlock(&k->lock);
	unsealed = k->root != NULL;
	pthread_rwlock_unlock(&k->lock);
	if (unsealed)
		return keys_audit(k, who, "sys.unseal", "keys:root", "success",
				  unseal_details(k, method, "already unsealed"));
	if ((rc = share_decode(share, s)) != MM_OK) {
		keys_audit(k, who, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, method, "malformed share"));
		return mm_err_set(MM_ERR_INVALID, "malformed unseal share (expected %d base64 characters)",
				  MM_KEYS_SHARE_TEXT_LEN);
	}
	switch (acc_add(&k->unseal, s)) {
	case ACC_DUPLICATE:
		mm_crypto_wipe(s, sizeof(s));
		return keys_audit(k, who, "sys.unseal", "keys:root", "duplicate",
				  unseal_details(k, method, "share already submitted"));
	case ACC_CONFLICT:
		mm_crypto_wipe(s, sizeof(s));
		acc_reset(&k->unseal);
		keys_audit(k, who, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, method, "two different shares with the same index"));
		return mm_err_set(MM_ERR_VERIFY, "unseal failed: two different shares have the same "
				  "index; progress reset");
	default:
		break;
	}
	mm_crypto_wipe(s, sizeof(s));
	if (k->unseal.n < k->threshold) {
		rc = keys_audit(k, who, "sys.unseal", "keys:root", "progress",
				unseal_details(k, method, NULL));
		if (rc != MM_OK)
			acc_reset(&k->unseal);  /* unaudited shares do not count */
		return rc;
	}
	return try_unseal(k, who, method);
}

mm_err mm_keys_unseal_submit(mm_keys *k, const mm_keys_caller *who, const char *share,
			     mm_keys_status *ret_status)
{
	mm_err rc;

	pthread_mutex_lock(&k->seal_mu);
	rc = submit_locked(k, who, share, "shares");
	pthread_mutex_unlock(&k->seal_mu);
	if (ret_status != NULL) {
		char detail[512];

		/* status_get takes the locks; keep this call's error detail. */
		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		mm_keys_status_get(k, ret_status);
		if (rc != MM_OK)
			mm_err_set(rc, "%s", detail);
	}
	return rc;
}

mm_err mm_keys_unseal_reset(mm_keys *k, const mm_keys_caller *who)
{
	mm_err rc;

	pthread_mutex_lock(&k->seal_mu);
	acc_reset(&k->unseal);
	rc = keys_audit(k, who, "sys.unseal_reset", "keys:root", "success", NULL);
	pthread_mutex_unlock(&k->seal_mu);
	return rc;
}

/* Opens path for unattended unseal after checking type, owner and mode on
 * the opened descriptor (no race between check and read). */
static mm_err open_key_file(const char *path, FILE **ret)
{
	struct stat st;
	FILE *f;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ELOOP)
			return mm_err_set(MM_ERR_CONFIG, "unseal key file %s is a symbolic link", path);
		return mm_err_set(MM_ERR_IO, "cannot open unseal key file %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return mm_err_set(MM_ERR_IO, "cannot stat unseal key file %s", path);
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
	    (st.st_mode & 0700) == 0) {
		close(fd);
		return mm_err_set(MM_ERR_CONFIG,
				  "unseal key file %s refused: it must be a regular file owned by uid %u "
				  "with mode 0600 (found mode %04o, uid %u)",
				  path, (unsigned)geteuid(), (unsigned)(st.st_mode & 07777),
				  (unsigned)st.st_uid);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return MM_ERR_NOMEM;
	}
	*ret = f;
	return MM_OK;
}

mm_err mm_keys_unseal_from_file(mm_keys *k, const char *path)
{
	char line[256];
	FILE *f = NULL;
	bool unsealed = false;
	unsigned lines = 0;
	mm_err rc;

	if (path == NULL)
		path = k->unseal_key_file;
	if (path == NULL)
		return mm_err_set(MM_ERR_CONFIG, "no seal.unseal_key_file is configured");
	pthread_mutex_lock(&k->seal_mu);
	if ((rc = open_key_file(path, &f)) != MM_OK) {
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		keys_audit(k, NULL, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, "key_file", "key file refused or unreadable"));
		mm_err_set(rc, "%s", detail);
		goto out;
	}
	/* A run from the file starts from nothing and leaves nothing behind. */
	acc_reset(&k->unseal);
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");

		line[n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		lines++;
		if ((rc = submit_locked(k, NULL, line, "key_file")) != MM_OK)
			break;
		pthread_rwlock_rdlock(&k->lock);
		unsealed = k->root != NULL;
		pthread_rwlock_unlock(&k->lock);
		if (unsealed)
			break;
	}
	mm_crypto_wipe(line, sizeof(line));
	if (rc == MM_OK && !unsealed) {
		acc_reset(&k->unseal);
		keys_audit(k, NULL, "sys.unseal", "keys:root", "failure",
			   unseal_details(k, "key_file", "not enough shares in key file"));
		rc = mm_err_set(MM_ERR_VERIFY, "unseal key file %s holds %u share(s), %u needed", path,
				lines, k->threshold);
	}
	if (rc != MM_OK)
		acc_reset(&k->unseal);
out:
	if (f != NULL)
		fclose(f);
	pthread_mutex_unlock(&k->seal_mu);
	return rc;
}

/* ---- seal ---- */

mm_err mm_keys_seal(mm_keys *k, const mm_keys_caller *who)
{
	bool was_sealed;
	mm_err rc;

	pthread_mutex_lock(&k->seal_mu);
	/* Wipe first: sealing is the emergency brake and must not wait on the store. */
	pthread_rwlock_wrlock(&k->lock);
	was_sealed = k->root == NULL;
	wipe_all_locked(k);
	pthread_rwlock_unlock(&k->lock);
	acc_reset(&k->unseal);
	acc_reset(&k->rekey);
	k->rekey_active = false;
	rc = keys_audit(k, who, "sys.seal", "keys:root", "success",
			json_pack("{s:b}", "was_sealed", was_sealed));
	pthread_mutex_unlock(&k->seal_mu);
	mm_logkv(MM_LOG_INFO, "keys.sealed", NULL);
	return rc;
}

/* ---- rekey ---- */

mm_err mm_keys_rekey_start(mm_keys *k, const mm_keys_caller *who, unsigned shares,
			   unsigned threshold, char nonce_out[MM_KEYS_NONCE_LEN])
{
	uint8_t raw[16];
	mm_buf hx = MM_BUF_INIT(64);
	bool sealed;
	mm_err rc;

	if ((rc = check_counts(shares, threshold)) != MM_OK)
		return rc;
	pthread_mutex_lock(&k->seal_mu);
	pthread_rwlock_rdlock(&k->lock);
	sealed = k->root == NULL;
	pthread_rwlock_unlock(&k->lock);
	if (sealed) {
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
		goto out;
	}
	if (k->rekey_active) {
		rc = mm_err_set(MM_ERR_CONFLICT, "a rekey is already in progress");
		goto out;
	}
	if ((rc = mm_crypto_random(raw, sizeof(raw))) != MM_OK ||
	    (rc = mm_buf_append_hex(&hx, raw, sizeof(raw))) != MM_OK)
		goto out;
	if ((rc = keys_audit(k, who, "sys.rekey", "keys:root", "started",
			     json_pack("{s:I, s:I}", "shares", (json_int_t)shares, "threshold",
				       (json_int_t)threshold))) != MM_OK)
		goto out;
	acc_reset(&k->rekey);
	k->rekey_active = true;
	k->rekey_shares = shares;
	k->rekey_threshold = threshold;
	memcpy(k->rekey_nonce, hx.data, MM_KEYS_NONCE_LEN - 1);
	k->rekey_nonce[MM_KEYS_NONCE_LEN - 1] = '\0';
	memcpy(nonce_out, k->rekey_nonce, MM_KEYS_NONCE_LEN);
out:
	pthread_mutex_unlock(&k->seal_mu);
	mm_buf_release(&hx);
	return rc;
}

struct rekey_arg {
	const mm_buf *blob;
	unsigned shares, threshold;
	int64_t now;
	mm_audit_event ev;
};

static mm_err rekey_job(mm_db *db, void *arg)
{
	static const char q[] = "UPDATE keys_seal SET keyring = ?, shares = ?, threshold = ?,"
				" generation = generation + 1, updated_ms = ? WHERE id = 1";
	struct rekey_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_blob(st, 1, a->blob->data, a->blob->len)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, a->shares)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, a->threshold)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, a->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_INTERNAL, "keys_seal row missing");
	return mm_audit_append(db, &a->ev, NULL);
}

static json_t *rekey_details(mm_keys *k, const char *reason)
{
	json_t *d = json_pack("{s:I, s:I}", "progress", (json_int_t)k->rekey.n, "threshold",
			      (json_int_t)k->threshold);

	if (d != NULL && reason != NULL)
		json_object_set_new(d, "reason", json_string(reason));
	return d;
}

/* Completes a rekey whose K shares are in; seal_mu held. */
static mm_err rekey_finish(mm_keys *k, const mm_keys_caller *who, mm_keys_shares *ret)
{
	uint8_t *cand = NULL, *root = NULL;
	mm_buf blob = MM_BUF_INIT(64 << 20);
	mm_keys_shares out = { 0, NULL };
	struct rekey_arg a;
	json_t *d = NULL;
	bool match;
	mm_err rc;

	if ((rc = acc_combine(&k->rekey, &cand)) != MM_OK)
		goto out;
	pthread_rwlock_rdlock(&k->lock);
	match = k->root != NULL && mm_crypto_equal(cand, k->root, ROOT_LEN);
	pthread_rwlock_unlock(&k->lock);
	if (!match) {
		keys_audit(k, who, "sys.rekey", "keys:root", "failure",
			   rekey_details(k, "shares do not reconstruct the current root key"));
		rc = mm_err_set(MM_ERR_VERIFY, "rekey refused: the shares do not reconstruct the "
				"current root key; rekey progress reset");
		goto out;
	}
	if ((root = mm_secmem_alloc(ROOT_LEN)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = mm_crypto_random(root, ROOT_LEN)) != MM_OK)
		goto out;
	pthread_rwlock_rdlock(&k->lock);
	rc = k->root == NULL ? mm_err_set(MM_ERR_SEALED, "the key manager is sealed")
			     : keyring_seal(root, k->terms, k->nterms, k->active_term, &blob);
	pthread_rwlock_unlock(&k->lock);
	if (rc != MM_OK ||
	    (rc = make_shares(root, k->rekey_shares, k->rekey_threshold, &out)) != MM_OK)
		goto out;
	d = json_pack("{s:I, s:I, s:I}", "shares", (json_int_t)k->rekey_shares, "threshold",
		      (json_int_t)k->rekey_threshold, "generation", (json_int_t)(k->generation + 1));
	a.blob = &blob;
	a.shares = k->rekey_shares;
	a.threshold = k->rekey_threshold;
	a.now = mm_time_wall_ms();
	keys_fill_event(&a.ev, who, "sys.rekey", "keys:root", "success", d);
	if ((rc = mm_store_write(k->store, rekey_job, &a)) != MM_OK)
		goto out;
	pthread_rwlock_wrlock(&k->lock);
	mm_secmem_free(k->root, ROOT_LEN);
	k->root = root;
	k->shares = k->rekey_shares;
	k->threshold = k->rekey_threshold;
	k->generation++;
	pthread_rwlock_unlock(&k->lock);
	root = NULL;
	k->rekey_active = false;
	*ret = out;
	out.shares = NULL;
	out.n = 0;
	mm_logkv(MM_LOG_INFO, "keys.rekeyed", NULL);
out:
	acc_reset(&k->rekey);
	json_decref(d);
	mm_keys_shares_release(&out);
	mm_buf_release(&blob);
	mm_secmem_free(root, ROOT_LEN);
	mm_secmem_free(cand, ROOT_LEN);
	return rc;
}

mm_err mm_keys_rekey_submit(mm_keys *k, const mm_keys_caller *who, const char *nonce,
			    const char *share, mm_keys_shares *ret, unsigned *ret_progress)
{
	uint8_t s[SHARE_LEN];
	bool sealed;
	mm_err rc = MM_OK;

	ret->n = 0;
	ret->shares = NULL;
	pthread_mutex_lock(&k->seal_mu);
	pthread_rwlock_rdlock(&k->lock);
	sealed = k->root == NULL;
	pthread_rwlock_unlock(&k->lock);
	if (sealed) {
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
		goto out;
	}
	if (!k->rekey_active || nonce == NULL || strcmp(nonce, k->rekey_nonce) != 0) {
		rc = mm_err_set(MM_ERR_CONFLICT, "no rekey with this nonce is in progress");
		goto out;
	}
	if ((rc = share_decode(share, s)) != MM_OK) {
		keys_audit(k, who, "sys.rekey", "keys:root", "failure",
			   rekey_details(k, "malformed share"));
		rc = mm_err_set(MM_ERR_INVALID, "malformed unseal share");
		goto out;
	}
	switch (acc_add(&k->rekey, s)) {
	case ACC_DUPLICATE:
		rc = keys_audit(k, who, "sys.rekey", "keys:root", "duplicate",
				rekey_details(k, "share already submitted"));
		goto out;
	case ACC_CONFLICT:
		acc_reset(&k->rekey);
		keys_audit(k, who, "sys.rekey", "keys:root", "failure",
			   rekey_details(k, "two different shares with the same index"));
		rc = mm_err_set(MM_ERR_VERIFY, "rekey refused: two different shares have the same "
				"index; rekey progress reset");
		goto out;
	default:
		break;
	}
	if (k->rekey.n < k->threshold) {
		if ((rc = keys_audit(k, who, "sys.rekey", "keys:root", "progress",
				     rekey_details(k, NULL))) != MM_OK)
			acc_reset(&k->rekey);
		goto out;
	}
	rc = rekey_finish(k, who, ret);
out:
	mm_crypto_wipe(s, sizeof(s));
	if (ret_progress != NULL)
		*ret_progress = k->rekey.n;
	pthread_mutex_unlock(&k->seal_mu);
	return rc;
}

mm_err mm_keys_rekey_cancel(mm_keys *k, const mm_keys_caller *who)
{
	mm_err rc = MM_OK;

	pthread_mutex_lock(&k->seal_mu);
	if (k->rekey_active) {
		acc_reset(&k->rekey);
		k->rekey_active = false;
		rc = keys_audit(k, who, "sys.rekey", "keys:root", "cancelled", NULL);
	}
	pthread_mutex_unlock(&k->seal_mu);
	return rc;
}

/* ---- barrier key rotation ---- */

struct keyring_arg {
	const mm_buf *blob;
	int64_t now;
	mm_audit_event ev;
};

static mm_err keyring_job(mm_db *db, void *arg)
{
	static const char q[] = "UPDATE keys_seal SET keyring = ?, updated_ms = ? WHERE id = 1";
	struct keyring_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_blob(st, 1, a->blob->data, a->blob->len)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, a->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_barrier_rotate(mm_keys *k, const mm_keys_caller *who, uint32_t *ret_term)
{
	mm_buf blob = MM_BUF_INIT(64 << 20);
	struct term *nt = NULL;
	size_t n = 0;
	uint32_t next = 0;
	struct keyring_arg a;
	json_t *d = NULL;
	mm_err rc = MM_OK;

	pthread_mutex_lock(&k->seal_mu);
	pthread_rwlock_rdlock(&k->lock);
	if (k->root == NULL) {
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
		goto unlock;
	}
	n = k->nterms + 1;
	if ((nt = calloc(n, sizeof(*nt))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto unlock;
	}
	for (size_t i = 0; i < n; i++) {
		if ((nt[i].key = mm_secmem_alloc(ROOT_LEN)) == NULL) {
			rc = MM_ERR_NOMEM;
			goto unlock;
		}
		if (i + 1 < n) {
			nt[i].term = k->terms[i].term;
			nt[i].created_ms = k->terms[i].created_ms;
			memcpy(nt[i].key, k->terms[i].key, ROOT_LEN);
			next = nt[i].term > next ? nt[i].term : next;
		}
	}
	nt[n - 1].term = ++next;
	nt[n - 1].created_ms = mm_time_wall_ms();
	if ((rc = mm_crypto_random(nt[n - 1].key, ROOT_LEN)) == MM_OK)
		rc = keyring_seal(k->root, nt, n, next, &blob);
unlock:
	pthread_rwlock_unlock(&k->lock);
	if (rc != MM_OK)
		goto out;
	d = json_pack("{s:I}", "term", (json_int_t)next);
	a.blob = &blob;
	a.now = mm_time_wall_ms();
	keys_fill_event(&a.ev, who, "sys.barrier_rotate", "keys:keyring", "success", d);
	if ((rc = mm_store_write(k->store, keyring_job, &a)) != MM_OK)
		goto out;
	pthread_rwlock_wrlock(&k->lock);
	terms_free(k->terms, k->nterms);
	k->terms = nt;
	k->nterms = n;
	k->active_term = next;
	pthread_rwlock_unlock(&k->lock);
	nt = NULL;
	if (ret_term != NULL)
		*ret_term = next;
out:
	pthread_mutex_unlock(&k->seal_mu);
	json_decref(d);
	if (nt != NULL)
		terms_free(nt, n);
	mm_buf_release(&blob);
	return rc;
}

/* ---- barrier ---- */

/* Builds the additional data: domain, NUL, header, aad. */
static mm_err barrier_aad(const uint8_t hdr[BARRIER_HDR], const char *aad, mm_buf *b)
{
	mm_err rc;

	if ((rc = mm_buf_append(b, BARRIER_AAD, sizeof(BARRIER_AAD))) == MM_OK &&
	    (rc = mm_buf_append(b, hdr, BARRIER_HDR)) == MM_OK && aad != NULL)
		rc = mm_buf_appends(b, aad);
	return rc;
}

static const struct term *find_term(const mm_keys *k, uint32_t term)
{
	for (size_t i = 0; i < k->nterms; i++)
		if (k->terms[i].term == term)
			return &k->terms[i];
	return NULL;
}

mm_err keys_wrap_locked(mm_keys *k, const char *aad, const void *pt, size_t n, mm_buf *out)
{
	uint8_t hdr[BARRIER_HDR];
	mm_buf ad = MM_BUF_INIT(1 << 16);
	const struct term *t;
	size_t total;
	mm_err rc;

	if (k->root == NULL)
		return mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
	if (n > MAX_WRAP)
		return mm_err_set(MM_ERR_LIMIT, "secret too large to wrap");
	if ((t = find_term(k, k->active_term)) == NULL)
		return mm_err_set(MM_ERR_INTERNAL, "active barrier term missing");
	hdr[0] = BARRIER_FORMAT;
	put_be32(hdr + 1, t->term);
	total = BARRIER_HDR + n + MM_AEAD_OVERHEAD;
	if ((rc = barrier_aad(hdr, aad, &ad)) != MM_OK || (rc = mm_buf_grow(out, total)) != MM_OK)
		goto out;
	memcpy(out->data + out->len, hdr, BARRIER_HDR);
	if ((rc = mm_aead_seal_random(t->key, ad.data, ad.len, pt, n,
				      (uint8_t *)out->data + out->len + BARRIER_HDR)) != MM_OK)
		goto out;
	out->len += total;
	out->data[out->len] = '\0';
out:
	mm_buf_release(&ad);
	return rc;
}

mm_err keys_unwrap_locked(mm_keys *k, const char *aad, const void *blob, size_t n, mm_buf *out)
{
	const uint8_t *b = blob;
	mm_buf ad = MM_BUF_INIT(1 << 16);
	const struct term *t;
	size_t m;
	mm_err rc;

	if (k->root == NULL)
		return mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
	if (n < BARRIER_HDR + MM_AEAD_OVERHEAD || b[0] != BARRIER_FORMAT)
		return mm_err_set(MM_ERR_INVALID, "malformed wrapped secret");
	if ((t = find_term(k, get_be32(b + 1))) == NULL)
		return mm_err_set(MM_ERR_INVALID, "wrapped secret names an unknown barrier term");
	m = n - BARRIER_HDR - MM_AEAD_OVERHEAD;
	if ((rc = barrier_aad(b, aad, &ad)) != MM_OK || (rc = mm_buf_grow(out, m)) != MM_OK)
		goto out;
	if ((rc = mm_aead_open_packed(t->key, ad.data, ad.len, b + BARRIER_HDR, n - BARRIER_HDR,
				      (uint8_t *)out->data + out->len)) != MM_OK) {
		if (rc == MM_ERR_VERIFY)
			rc = mm_err_set(MM_ERR_VERIFY, "wrapped secret failed authentication");
		goto out;
	}
	out->len += m;
	out->data[out->len] = '\0';
out:
	mm_buf_release(&ad);
	return rc;
}

mm_err mm_keys_wrap(mm_keys *k, const char *aad, const void *plaintext, size_t n, mm_buf *out)
{
	mm_err rc;

	pthread_rwlock_rdlock(&k->lock);
	rc = keys_wrap_locked(k, aad, plaintext, n, out);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

mm_err mm_keys_unwrap(mm_keys *k, const char *aad, const void *blob, size_t n, mm_buf *out)
{
	mm_err rc;

	pthread_rwlock_rdlock(&k->lock);
	rc = keys_unwrap_locked(k, aad, blob, n, out);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}
