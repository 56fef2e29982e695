/*
 * named.c: named, versioned keys and their operations. See named.h.
 *
 * Storage: keys_named holds a key's settings, keys_versions one row per
 * version with the material wrapped under the barrier (additional data
 * "keys/<name>/v<version>", so a row copied to another key or version does
 * not unwrap). A destroyed version keeps its row with the material bytes
 * overwritten by zeros of the same length (so the old bytes are overwritten
 * in place in the database page) and destroyed_ms set.
 *
 * Memory: a key is unwrapped once into the cache (internal.h) and used from
 * there under the read lock; every change invalidates the key's entry and
 * bumps cache_gen, so an entry loaded before a change is never inserted
 * after it. Changes are serialised by admin_mu.
 *
 * Invariants: material is copied only into secmem memory and the caller's
 * output of mm_keys_export; outputs of failed items are truncated back to
 * where they started and the truncated bytes wiped; each public operation
 * appends one audit event that names the key, op, versions and caller only.
 */
#include "keys/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "keys/envelope.h"

#define NAME_MAX_LEN 128
#define AAD_MAX 160

static const char *const type_names[MM_KEY__COUNT] = {
	"aes256-gcm", "hmac-sha256", "ed25519", "ecdsa-p256",
};

static const char *const op_names[MM_KEYS_OP__COUNT] = {
	"encrypt", "decrypt", "rewrap", "datakey", "hmac", "sign", "verify",
};

static const char *const policy_ops[] = {
	"encrypt", "decrypt", "rewrap", "datakey", "hmac", "sign", "verify",
	"export", "read", "rotate", "config", "destroy", "delete", NULL,
};

const char *mm_key_type_name(mm_key_type t)
{
	return (unsigned)t < MM_KEY__COUNT ? type_names[t] : "unknown";
}

mm_err mm_key_type_parse(const char *s, mm_key_type *ret)
{
	for (int i = 0; s != NULL && i < MM_KEY__COUNT; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*ret = (mm_key_type)i;
			return MM_OK;
		}
	return mm_err_set(MM_ERR_INVALID,
			  "unknown key type; expected aes256-gcm, hmac-sha256, ed25519 or ecdsa-p256");
}

const char *mm_keys_op_name(mm_keys_op op)
{
	return (unsigned)op < MM_KEYS_OP__COUNT ? op_names[op] : "unknown";
}

/* True for a valid key name (mm_keys_name_check without its error). */
static bool name_plain(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

mm_err mm_keys_name_check(const char *name)
{
	if (name_plain(name))
		return MM_OK;
	return mm_err_set(MM_ERR_INVALID, "key name must be 1 to %d characters of A-Z a-z 0-9 . _ - "
			  "not starting with . or -", NAME_MAX_LEN);
}

static bool is_policy_op(const char *op)
{
	for (int i = 0; policy_ops[i] != NULL; i++)
		if (strcmp(op, policy_ops[i]) == 0)
			return true;
	return false;
}

mm_err mm_keys_policy_validate(const json_t *policy)
{
	const char *op;
	json_t *roles, *r;
	size_t i;

	if (policy == NULL)
		return MM_OK;
	if (!json_is_object(policy))
		return mm_err_set(MM_ERR_INVALID, "policy must be an object mapping operations to roles");
	json_object_foreach((json_t *)policy, op, roles) {
		if (!is_policy_op(op))
			return mm_err_set(MM_ERR_INVALID, "policy: unknown operation '%.40s'", op);
		if (!json_is_array(roles) || json_array_size(roles) > 64)
			return mm_err_set(MM_ERR_INVALID, "policy.%s: expected an array of at most 64 roles", op);
		json_array_foreach(roles, i, r) {
			const char *s = json_string_value(r);
			size_t n = s ? strlen(s) : 0;

			if (n == 0 || n > 64)
				return mm_err_set(MM_ERR_INVALID, "policy.%s: roles are strings of 1 to 64 "
						  "characters", op);
			for (size_t j = 0; j < n; j++)
				if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
				      (s[j] >= '0' && s[j] <= '9') || strchr("._:-*", s[j]) != NULL))
					return mm_err_set(MM_ERR_INVALID, "policy.%s: invalid character in "
							  "role name", op);
		}
	}
	return MM_OK;
}

static bool type_supports(mm_key_type t, mm_keys_op op)
{
	switch (op) {
	case MM_KEYS_OP_ENCRYPT:
	case MM_KEYS_OP_DECRYPT:
	case MM_KEYS_OP_REWRAP:
	case MM_KEYS_OP_DATAKEY:
		return t == MM_KEY_AES256_GCM;
	case MM_KEYS_OP_HMAC:
		return t == MM_KEY_HMAC_SHA256;
	case MM_KEYS_OP_SIGN:
		return t == MM_KEY_ED25519 || t == MM_KEY_ECDSA_P256;
	case MM_KEYS_OP_VERIFY:
		return t != MM_KEY_AES256_GCM;
	default:
		return false;
	}
}

static void material_aad(char out[AAD_MAX], const char *name, int64_t version)
{
	snprintf(out, AAD_MAX, "keys/%s/v%lld", name, (long long)version);
}

static mm_err check_unsealed(mm_keys *k)
{
	mm_err rc = MM_OK;

	pthread_rwlock_rdlock(&k->lock);
	if (k->root == NULL)
		rc = mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

/* ---- cache ---- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void nkey_free(struct nkey *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nv; i++)
		mm_secmem_free(e->v[i].material, MM_AES256_KEY_LEN);
	free(e->v);
	json_decref(e->policy);
	free(e->name);
	free(e);
}

void keys_cache_clear_locked(mm_keys *k)
{
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		struct nkey *e = k->cache[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			nkey_free(e);
		}
		k->cache[i] = NULL;
	}
	k->cache_gen++;
}

static struct nkey *cache_find(mm_keys *k, const char *name)
{
	struct nkey *e = k->cache[name_hash(name) % CACHE_BUCKETS];

	while (e != NULL && strcmp(e->name, name) != 0)
		e = e->next;
	return e;
}

static void cache_invalidate(mm_keys *k, const char *name)
{
	struct nkey **pp;

	pthread_rwlock_wrlock(&k->lock);
	for (pp = &k->cache[name_hash(name) % CACHE_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			struct nkey *e = *pp;
			*pp = e->next;
			nkey_free(e);
			break;
		}
	k->cache_gen++;
	pthread_rwlock_unlock(&k->lock);
}

/* ---- rows ---- */

struct row {
	mm_key_type type;
	int64_t latest, min_dec, auto_rotate_ms, created_ms, updated_ms, rotated_ms;
	bool exportable, deletion_allowed, disabled;
	json_t *policy;          /* owned */
};

/* Reads a key's settings with db (a read connection or the writer's).
 * Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE, MM_ERR_INTERNAL. */
static mm_err read_row(mm_db *db, const char *name, struct row *r)
{
	static const char q[] =
		"SELECT type, latest, min_decryption, exportable, deletion_allowed, disabled,"
		" auto_rotate_ms, policy, created_ms, updated_ms, rotated_ms"
		" FROM keys_named WHERE name = ?";
	mm_stmt *st = NULL;
	const char *pol;
	bool row;
	mm_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, name)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no key named '%s'", name);
		goto out;
	}
	if ((rc = mm_key_type_parse(mm_stmt_text(st, 0), &r->type)) != MM_OK) {
		rc = mm_err_set(MM_ERR_VERSION, "key '%s' has a type this version does not know", name);
		goto out;
	}
	r->latest = mm_stmt_int(st, 1);
	r->min_dec = mm_stmt_int(st, 2);
	r->exportable = mm_stmt_int(st, 3) != 0;
	r->deletion_allowed = mm_stmt_int(st, 4) != 0;
	r->disabled = mm_stmt_int(st, 5) != 0;
	r->auto_rotate_ms = mm_stmt_int(st, 6);
	pol = mm_stmt_text(st, 7);
	r->created_ms = mm_stmt_int(st, 8);
	r->updated_ms = mm_stmt_int(st, 9);
	r->rotated_ms = mm_stmt_int(st, 10);
	if (pol == NULL || (r->policy = json_loads(pol, 0, NULL)) == NULL)
		rc = mm_err_set(MM_ERR_INTERNAL, "key '%s' has a damaged policy", name);
out:
	mm_stmt_done(st);
	return rc;
}

static mm_err read_row_conn(mm_keys *k, const char *name, struct row *r)
{
	mm_db *db = NULL;
	mm_err rc;

	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		return rc;
	rc = read_row(db, name, r);
	mm_store_release(k->store, db);
	return rc;
}

/* Loads and unwraps a key; lock held (read). */
static mm_err load_key_locked(mm_keys *k, const char *name, struct nkey **ret)
{
	static const char q[] =
		"SELECT version, material, public_key, created_ms, destroyed_ms"
		" FROM keys_versions WHERE name = ? ORDER BY version";
	struct nkey *e = NULL;
	mm_buf plain = MM_BUF_INIT(64);
	struct row r;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		return rc;
	/* One snapshot for the key row and its versions: a rotation committed
	 * between the two reads would otherwise show a latest version that the
	 * version list does not have yet (or the reverse). */
	if ((rc = mm_db_begin(db)) != MM_OK) {
		mm_store_release(k->store, db);
		return rc;
	}
	if ((rc = read_row(db, name, &r)) != MM_OK)
		goto out;
	if (r.latest < 1 || r.latest > MM_ENVELOPE_MAX_VERSION) {
		rc = mm_err_set(MM_ERR_INTERNAL, "key '%s' is damaged", name);
		goto out;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->name = strdup(name)) == NULL ||
	    (e->v = calloc((size_t)r.latest, sizeof(*e->v))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	e->nv = (size_t)r.latest;
	e->type = r.type;
	e->latest = r.latest;
	e->min_dec = r.min_dec;
	e->auto_rotate_ms = r.auto_rotate_ms;
	e->exportable = r.exportable;
	e->deletion_allowed = r.deletion_allowed;
	e->disabled = r.disabled;
	e->policy = r.policy;
	r.policy = NULL;
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK || (rc = mm_stmt_bind_text(st, 1, name)) != MM_OK)
		goto out;
	for (int64_t want = 1; (rc = mm_stmt_step(st, &row)) == MM_OK && row; want++) {
		int64_t v = mm_stmt_int(st, 0);
		struct kver *kv;
		size_t mlen = 0, plen = 0;
		const void *m = mm_stmt_blob(st, 1, &mlen), *p = mm_stmt_blob(st, 2, &plen);
		char aad[AAD_MAX];

		if (v != want || v > e->latest || plen > sizeof(kv->pub)) {
			rc = mm_err_set(MM_ERR_INTERNAL, "key '%s' has damaged versions", name);
			break;
		}
		kv = &e->v[v - 1];
		kv->version = v;
		kv->created_ms = mm_stmt_int(st, 3);
		if (!mm_stmt_is_null(st, 4)) {
			kv->destroyed_ms = mm_stmt_int(st, 4);
			continue;
		}
		if (plen > 0)
			memcpy(kv->pub, p, plen);
		kv->publen = plen;
		material_aad(aad, name, v);
		mm_buf_reset(&plain);
		if ((rc = keys_unwrap_locked(k, aad, m, mlen, &plain)) != MM_OK)
			break;
		if (plain.len != MM_AES256_KEY_LEN) {
			rc = mm_err_set(MM_ERR_INTERNAL, "key '%s' has damaged material", name);
			break;
		}
		if ((kv->material = mm_secmem_alloc(MM_AES256_KEY_LEN)) == NULL) {
			rc = MM_ERR_NOMEM;
			break;
		}
		memcpy(kv->material, plain.data, MM_AES256_KEY_LEN);
	}
	if (rc == MM_OK && e->v[e->nv - 1].version != e->latest)
		rc = mm_err_set(MM_ERR_INTERNAL, "key '%s' is missing versions", name);
	if (rc == MM_OK) {
		*ret = e;
		e = NULL;
	}
out:
	mm_stmt_done(st);
	mm_db_rollback(db);
	mm_store_release(k->store, db);
	mm_buf_wipe_release(&plain);
	json_decref(r.policy);
	nkey_free(e);
	return rc;
}

/* Finds or loads a key. Called and returns with the read lock held (it is
 * released and re-taken while a loaded entry is inserted). */
static mm_err get_key_rd(mm_keys *k, const char *name, struct nkey **ret)
{
	for (;;) {
		struct nkey *e;
		uint64_t gen;
		mm_err rc;

		if (k->root == NULL)
			return mm_err_set(MM_ERR_SEALED, "the key manager is sealed");
		if ((e = cache_find(k, name)) != NULL) {
			*ret = e;
			return MM_OK;
		}
		gen = k->cache_gen;
		if ((rc = load_key_locked(k, name, &e)) != MM_OK)
			return rc;
		pthread_rwlock_unlock(&k->lock);
		pthread_rwlock_wrlock(&k->lock);
		if (k->cache_gen == gen && k->root != NULL && cache_find(k, name) == NULL) {
			struct nkey **head = &k->cache[name_hash(name) % CACHE_BUCKETS];
			e->next = *head;
			*head = e;
		} else {
			nkey_free(e);  /* changed meanwhile: load again */
		}
		pthread_rwlock_unlock(&k->lock);
		pthread_rwlock_rdlock(&k->lock);
	}
}

/* ---- versions ---- */

/* A version usable for decryption or verification. */
static mm_err usable_version(const struct nkey *e, int64_t v, const struct kver **ret)
{
	const struct kver *kv;

	if (v < 1 || v > e->latest)
		return mm_err_set(MM_ERR_INVALID, "key version %lld does not exist", (long long)v);
	if (v < e->min_dec)
		return mm_err_set(MM_ERR_INVALID, "key version %lld is below min_decryption_version %lld",
				  (long long)v, (long long)e->min_dec);
	kv = &e->v[v - 1];
	if (kv->material == NULL)
		return mm_err_set(MM_ERR_INVALID, "key version %lld was destroyed", (long long)v);
	*ret = kv;
	return MM_OK;
}

/* The version to produce new output with: want, or the latest when 0. */
static mm_err pick_version(const struct nkey *e, int64_t want, const struct kver **ret)
{
	return usable_version(e, want == 0 ? e->latest : want, ret);
}

/* ---- operations ---- */

/* Parses an envelope and decrypts it into out. */
static mm_err decrypt_into(const struct nkey *e, const void *in, size_t n, const void *ctx,
			   size_t ctx_len, mm_buf *out, int64_t *ret_version)
{
	mm_buf payload = MM_BUF_INIT(MM_KEYS_MAX_INPUT);
	const struct kver *kv;
	int64_t v = 0;
	mm_err rc;

	if ((rc = mm_envelope_parse(in, n, &v, &payload)) != MM_OK)
		goto out;
	*ret_version = v;
	if ((rc = usable_version(e, v, &kv)) != MM_OK)
		goto out;
	rc = mm_envelope_open(kv->material, ctx, ctx_len, (const uint8_t *)payload.data, payload.len,
			      out);
out:
	mm_buf_release(&payload);
	return rc;
}

static mm_err sign_with(const struct nkey *e, const struct kver *kv, const void *msg, size_t n,
			mm_sig_format fmt, mm_buf *out)
{
	uint8_t sig[MM_ED25519_SIG_LEN];
	mm_buf s = MM_BUF_INIT(128);
	mm_err rc;

	if (e->type == MM_KEY_ED25519) {
		if ((rc = keys_ed25519_sign(kv->material, msg, n, sig)) == MM_OK)
			rc = mm_envelope_format(kv->version, sig, sizeof(sig), out);
		return rc;
	}
	if ((rc = mm_ecdsa_p256_sign(kv->material, msg, n, fmt, &s)) == MM_OK)
		rc = mm_envelope_format(kv->version, (const uint8_t *)s.data, s.len, out);
	mm_buf_release(&s);
	return rc;
}

static mm_err verify_with(const struct nkey *e, const mm_keys_item *it, mm_sig_format fmt,
			  int64_t *ret_version)
{
	mm_buf proof = MM_BUF_INIT(256);
	const struct kver *kv;
	int64_t v = 0;
	mm_err rc;

	if (it->proof == NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "a MAC or signature to verify is required");
		goto out;
	}
	if ((rc = mm_envelope_parse(it->proof, it->proof_len, &v, &proof)) != MM_OK) {
		if (rc == MM_ERR_LIMIT)
			rc = mm_err_set(MM_ERR_INVALID, "signature too long");
		goto out;
	}
	*ret_version = v;
	if ((rc = usable_version(e, v, &kv)) != MM_OK)
		goto out;
	switch (e->type) {
	case MM_KEY_HMAC_SHA256:
		if (proof.len != MM_HMAC_SHA256_LEN)
			rc = mm_err_set(MM_ERR_VERIFY, "HMAC does not match");
		else
			rc = mm_hmac_sha256_verify(kv->material, MM_AES256_KEY_LEN, it->input,
						   it->input_len, (const uint8_t *)proof.data, proof.len);
		break;
	case MM_KEY_ED25519:
		if (proof.len != MM_ED25519_SIG_LEN)
			rc = mm_err_set(MM_ERR_VERIFY, "Ed25519 signature does not verify");
		else
			rc = mm_ed25519_verify_raw(kv->pub, it->input, it->input_len,
						    (const uint8_t *)proof.data);
		break;
	case MM_KEY_ECDSA_P256:
		rc = mm_ecdsa_p256_verify(kv->pub, it->input, it->input_len,
					  (const uint8_t *)proof.data, proof.len, fmt);
		break;
	default:
		rc = mm_err_set(MM_ERR_INTERNAL, "bad key type");
	}
out:
	mm_buf_release(&proof);
	return rc;
}

static mm_err run_item(const struct nkey *e, mm_keys_op op, const mm_keys_op_opts *o,
		       mm_keys_item *it)
{
	const struct kver *kv = NULL;
	uint8_t buf[MM_HMAC_SHA256_LEN];
	mm_err rc;

	if (it->input_len > MM_KEYS_MAX_INPUT || it->context_len > MM_KEYS_MAX_INPUT)
		return mm_err_set(MM_ERR_LIMIT, "input larger than %u bytes", MM_KEYS_MAX_INPUT);
	if ((it->input == NULL && it->input_len > 0) || (it->context == NULL && it->context_len > 0))
		return mm_err_set(MM_ERR_INVALID, "missing input");
	switch (op) {
	case MM_KEYS_OP_ENCRYPT:
		if ((rc = pick_version(e, it->version, &kv)) != MM_OK)
			return rc;
		it->used_version = kv->version;
		return mm_envelope_seal(kv->material, kv->version, it->context, it->context_len,
					it->input, it->input_len, &it->output);
	case MM_KEYS_OP_DECRYPT:
		return decrypt_into(e, it->input, it->input_len, it->context, it->context_len,
				    &it->output, &it->used_version);
	case MM_KEYS_OP_REWRAP: {
		mm_buf tmp = MM_BUF_INIT(MM_KEYS_MAX_INPUT);

		rc = decrypt_into(e, it->input, it->input_len, it->context, it->context_len, &tmp,
				  &it->used_version);
		if (rc == MM_OK && (rc = pick_version(e, 0, &kv)) == MM_OK) {
			it->used_version = kv->version;
			rc = mm_envelope_seal(kv->material, kv->version, it->context, it->context_len,
					      tmp.data, tmp.len, &it->output);
		}
		mm_buf_wipe_release(&tmp);
		return rc;
	}
	case MM_KEYS_OP_DATAKEY:
		if ((rc = pick_version(e, it->version, &kv)) != MM_OK)
			return rc;
		it->used_version = kv->version;
		if ((rc = mm_crypto_random(buf, MM_AES256_KEY_LEN)) == MM_OK &&
		    (rc = mm_envelope_seal(kv->material, kv->version, it->context, it->context_len, buf,
					   MM_AES256_KEY_LEN, &it->output)) == MM_OK &&
		    o->want_plaintext)
			rc = mm_buf_append(&it->aux, buf, MM_AES256_KEY_LEN);
		mm_crypto_wipe(buf, sizeof(buf));
		return rc;
	case MM_KEYS_OP_HMAC:
		if ((rc = pick_version(e, it->version, &kv)) != MM_OK)
			return rc;
		it->used_version = kv->version;
		if ((rc = mm_hmac_sha256(kv->material, MM_AES256_KEY_LEN, it->input, it->input_len,
					 buf)) == MM_OK)
			rc = mm_envelope_format(kv->version, buf, sizeof(buf), &it->output);
		return rc;
	case MM_KEYS_OP_SIGN:
		if ((rc = pick_version(e, it->version, &kv)) != MM_OK)
			return rc;
		it->used_version = kv->version;
		return sign_with(e, kv, it->input, it->input_len, o->sig_format, &it->output);
	case MM_KEYS_OP_VERIFY:
		return verify_with(e, it, o->sig_format, &it->used_version);
	default:
		return mm_err_set(MM_ERR_INVALID, "unknown operation");
	}
}

/* Copies an error detail into an item, truncated to fit. */
static void set_detail(mm_keys_item *it, const char *src)
{
	size_t n = strnlen(src, sizeof(it->detail) - 1);

	memcpy(it->detail, src, n);
	it->detail[n] = '\0';
}

/* Cuts b back to mark, wiping what is cut. */
static void truncate_wipe(mm_buf *b, size_t mark)
{
	if (b->data == NULL || b->len <= mark)
		return;
	mm_crypto_wipe(b->data + mark, b->len - mark);
	b->len = mark;
	b->data[mark] = '\0';
}

/* The distinct versions a batch used, in order of first use, at most
 * MAX_DETAIL_VERSIONS; returns how many. */
#define MAX_DETAIL_VERSIONS 64
static size_t op_versions(const mm_keys_item *items, size_t n, int64_t out[MAX_DETAIL_VERSIONS])
{
	size_t nv = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t v = items[i].used_version;
		bool seen = v == 0;

		for (size_t j = 0; !seen && j < nv; j++)
			seen = out[j] == v;
		if (!seen && nv < MAX_DETAIL_VERSIONS)
			out[nv++] = v;
	}
	return nv;
}

json_t *keys_op_details(const char *name, const char *op, const mm_keys_item *items, size_t n,
			size_t failed, mm_err call_rc)
{
	json_t *d = json_pack("{s:s, s:s, s:I, s:I}", "key", name ? name : "", "op", op, "count",
			      (json_int_t)n, "failed", (json_int_t)failed);
	json_t *vs = json_array();
	int64_t v[MAX_DETAIL_VERSIONS];
	size_t nv = op_versions(items, n, v);

	for (size_t i = 0; vs != NULL && i < nv; i++)
		json_array_append_new(vs, json_integer(v[i]));
	if (d != NULL) {
		json_object_set_new(d, "versions", vs ? vs : json_array());
		if (call_rc != MM_OK)
			json_object_set_new(d, "error", json_string(mm_err_name(call_rc)));
	} else {
		json_decref(vs);
	}
	return d;
}

/*
 * Why the details of an operation are written here and not by jansson: every
 * encrypt or decrypt is audited, and building the object and serialising it
 * with sorted keys cost ~20,000 instructions and a dozen allocations per
 * request (about an eighth of an HTTP worker's work for a 1 KiB encrypt).
 * The text is what mm_audit_details_text(keys_op_details(...)) gives, byte
 * for byte (tests/keys/test_named.c): members in sorted order, compact, and
 * only strings that JSON writes as they are — a valid key name ([A-Za-z0-9._-]),
 * an operation name and an error name (lower-case identifiers). Any other
 * name (the call then failed its name check) goes through jansson.
 */
mm_err keys_op_details_text(const char *name, const char *op, const mm_keys_item *items,
			    size_t n, size_t failed, mm_err call_rc, char **ret)
{
	mm_buf b = MM_BUF_INIT(MM_AUDIT_MAX_DETAILS);
	int64_t v[MAX_DETAIL_VERSIONS];
	size_t nv = op_versions(items, n, v);
	json_t *d;
	mm_err rc;

	if (!name_plain(name)) {
		if ((d = keys_op_details(name, op, items, n, failed, call_rc)) == NULL)
			return MM_ERR_NOMEM;
		rc = mm_audit_details_text(d, ret);
		json_decref(d);
		return rc;
	}
	rc = mm_buf_appendf(&b, "{\"count\":%zu,", n);
	if (rc == MM_OK && call_rc != MM_OK)
		rc = mm_buf_appendf(&b, "\"error\":\"%s\",", mm_err_name(call_rc));
	if (rc == MM_OK)
		rc = mm_buf_appendf(&b, "\"failed\":%zu,\"key\":\"%s\",\"op\":\"%s\",\"versions\":[",
				    failed, name, op);
	for (size_t i = 0; rc == MM_OK && i < nv; i++)
		rc = mm_buf_appendf(&b, i ? ",%lld" : "%lld", (long long)v[i]);
	if (rc == MM_OK)
		rc = mm_buf_appends(&b, "]}");
	if (rc != MM_OK) {
		mm_buf_release(&b);
		return rc;
	}
	*ret = mm_buf_detach(&b, NULL);
	return MM_OK;
}

static mm_err op_target(const char *name, char out[AAD_MAX])
{
	snprintf(out, AAD_MAX, "key:%s", name ? name : "");
	return MM_OK;
}

/* One batch from start to audit; shared by the blocking and queued forms. */
struct batch {
	mm_keys *k;
	mm_keys_item *items;
	size_t n, failed;
	size_t *marks;
	mm_err rc;
	char detail[512];
	char action[32], target[AAD_MAX];
	char *details_text;     /* the event's details, canonical */
	bool details_failed;    /* ... could not be made: the audit fails */
	mm_audit_event ev;
	mm_keys_done_fn done;
	void *done_arg;
};

/* Validates, runs every item under the read lock and prepares the audit
 * event; b->rc is the call-level result. */
static void batch_run(struct batch *b, const mm_keys_caller *who, const char *name,
		      mm_keys_op op, const mm_keys_op_opts *opts)
{
	static const mm_keys_op_opts defaults = { MM_SIG_DER, false };
	mm_keys *k = b->k;
	const char *opname = mm_keys_op_name(op);
	struct nkey *e = NULL;
	size_t n = b->n;
	mm_err rc = MM_OK;

	if (opts == NULL)
		opts = &defaults;
	snprintf(b->action, sizeof(b->action), "keys.%s", opname);
	op_target(name, b->target);
	if ((unsigned)op >= MM_KEYS_OP__COUNT) {
		rc = mm_err_set(MM_ERR_INVALID, "unknown operation");
		n = 0;
	} else if (n == 0 || n > MM_KEYS_MAX_BATCH) {
		rc = mm_err_set(MM_ERR_INVALID, "a batch holds 1 to %d items", MM_KEYS_MAX_BATCH);
		n = 0;
	} else if ((rc = mm_keys_name_check(name)) != MM_OK) {
		n = 0;
	} else if (opts->sig_format != MM_SIG_DER && opts->sig_format != MM_SIG_RAW) {
		rc = mm_err_set(MM_ERR_INVALID, "unknown signature format");
		n = 0;
	} else if ((b->marks = calloc(n, 2 * sizeof(size_t))) == NULL) {
		rc = MM_ERR_NOMEM;
		n = 0;
	}
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		mm_keys_item *it = &b->items[i];

		it->result = MM_OK;
		it->used_version = 0;
		it->detail[0] = '\0';
		b->marks[2 * i] = it->output.len;
		b->marks[2 * i + 1] = it->aux.len;
	}
	if (rc == MM_OK) {
		pthread_rwlock_rdlock(&k->lock);
		if ((rc = get_key_rd(k, name, &e)) == MM_OK) {
			if (e->disabled)
				rc = mm_err_set(MM_ERR_CONFLICT, "key '%s' is disabled", name);
			else if (!type_supports(e->type, op))
				rc = mm_err_set(MM_ERR_INVALID, "a %s key does not support %s",
						mm_key_type_name(e->type), opname);
		}
		for (size_t i = 0; rc == MM_OK && i < n; i++) {
			mm_keys_item *it = &b->items[i];

			it->result = run_item(e, op, opts, it);
			if (it->result != MM_OK) {
				set_detail(it, mm_err_detail(it->result));
				truncate_wipe(&it->output, b->marks[2 * i]);
				truncate_wipe(&it->aux, b->marks[2 * i + 1]);
				b->failed++;
			}
		}
		pthread_rwlock_unlock(&k->lock);
	}
	if (rc != MM_OK) {
		snprintf(b->detail, sizeof(b->detail), "%s", mm_err_detail(rc));
		b->failed = n;
		for (size_t i = 0; i < n; i++) {
			b->items[i].result = rc;
			set_detail(&b->items[i], b->detail);
		}
	}
	b->rc = rc;
	keys_fill_event(&b->ev, who, b->action, b->target,
			b->failed == 0 ? "success" : b->failed == n ? "failure" : "partial", NULL);
	/* Made here, on the caller's thread, not on the store's writer (which
	 * would otherwise do it for every operation, serially). Without its
	 * details the event is not written: the job then fails, and with it
	 * the operation (batch_finish). */
	if (keys_op_details_text(name, opname, b->items, n, b->failed, rc, &b->details_text) == MM_OK)
		b->ev.details_text = b->details_text;
	else {
		b->details_failed = true;
		mm_err_clear();
	}
}

/* Applies the audit outcome: without its record no output survives. */
static void batch_finish(struct batch *b, mm_err audit_rc)
{
	if (audit_rc != MM_OK) {
		mm_logkv(MM_LOG_ERROR, "keys.audit_failed", "action", b->action, "error",
			 mm_err_name(audit_rc), NULL);
		for (size_t i = 0; i < b->n; i++) {
			truncate_wipe(&b->items[i].output, b->marks[2 * i]);
			truncate_wipe(&b->items[i].aux, b->marks[2 * i + 1]);
			b->items[i].result = MM_ERR_STORE;
			set_detail(&b->items[i], "the operation could not be audited");
		}
		b->rc = MM_ERR_STORE;
		snprintf(b->detail, sizeof(b->detail), "the operation could not be audited");
	}
	free(b->details_text);
	b->details_text = NULL;
	free(b->marks);
	b->marks = NULL;
}

static mm_err batch_audit_job(mm_db *db, void *arg)
{
	struct batch *b = arg;

	if (b->details_failed)
		return mm_err_set(MM_ERR_NOMEM, "the audit details could not be made");
	return mm_audit_append(db, &b->ev, NULL);
}

mm_err mm_keys_batch(mm_keys *k, const mm_keys_caller *who, const char *name, mm_keys_op op,
		     const mm_keys_op_opts *opts, mm_keys_item *items, size_t n)
{
	struct batch b;
	mm_err arc;

	memset(&b, 0, sizeof(b));
	b.k = k;
	b.items = items;
	b.n = n;
	batch_run(&b, who, name, op, opts);
	arc = mm_store_write(k->store, batch_audit_job, &b);
	batch_finish(&b, arc);
	if (b.rc != MM_OK)
		return mm_err_set(b.rc, "%s", b.detail);
	return MM_OK;
}

static void batch_async_done(mm_err rc, const char *detail, void *arg)
{
	struct batch *b = arg;

	(void)detail;
	batch_finish(b, rc);
	b->done(b->rc, b->rc == MM_OK ? NULL : b->detail, b->done_arg);
	free(b);
}

void mm_keys_batch_async(mm_keys *k, const mm_keys_caller *who, const char *name, mm_keys_op op,
			 const mm_keys_op_opts *opts, mm_keys_item *items, size_t n,
			 mm_keys_done_fn done, void *arg)
{
	struct batch *b = calloc(1, sizeof(*b));
	mm_err rc;

	if (b == NULL) {
		done(MM_ERR_NOMEM, "out of memory", arg);
		return;
	}
	b->k = k;
	b->items = items;
	b->n = n;
	b->done = done;
	b->done_arg = arg;
	batch_run(b, who, name, op, opts);
	if ((rc = mm_store_write_async(k->store, batch_audit_job, b, batch_async_done, b)) != MM_OK)
		batch_async_done(rc, NULL, b);
}

/* Runs one item and returns its result with its detail restored. */
static mm_err run_one(mm_keys *k, const mm_keys_caller *who, const char *name, mm_keys_op op,
		      const mm_keys_op_opts *o, mm_keys_item *it)
{
	mm_err rc = mm_keys_batch(k, who, name, op, o, it, 1);

	if (rc != MM_OK)
		return rc;
	if (it->result != MM_OK)
		return mm_err_set(it->result, "%s", it->detail);
	return MM_OK;
}

/* Runs one item whose result goes to *out (the caller's buffer, lent to the item and handed
 * back whatever the outcome). */
static mm_err run_one_buf(mm_keys *k, const mm_keys_caller *who, const char *name,
			  mm_keys_op op, const mm_keys_op_opts *o, mm_keys_item *it, mm_buf *out)
{
	mm_err rc;

	it->output = *out;
	mm_buf_init(&it->aux, 0);
	rc = run_one(k, who, name, op, o, it);
	*out = it->output;
	return rc;
}

mm_err mm_keys_encrypt(mm_keys *k, const mm_keys_caller *who, const char *name, const void *pt,
		       size_t n, const void *ctx, size_t ctx_len, mm_buf *out)
{
	mm_keys_item it = { .input = pt, .input_len = n, .context = ctx, .context_len = ctx_len };

	return run_one_buf(k, who, name, MM_KEYS_OP_ENCRYPT, NULL, &it, out);
}

mm_err mm_keys_decrypt(mm_keys *k, const mm_keys_caller *who, const char *name, const char *ct,
		       size_t n, const void *ctx, size_t ctx_len, mm_buf *out)
{
	mm_keys_item it = { .input = ct, .input_len = n, .context = ctx, .context_len = ctx_len };

	return run_one_buf(k, who, name, MM_KEYS_OP_DECRYPT, NULL, &it, out);
}

mm_err mm_keys_rewrap(mm_keys *k, const mm_keys_caller *who, const char *name, const char *ct,
		      size_t n, const void *ctx, size_t ctx_len, mm_buf *out)
{
	mm_keys_item it = { .input = ct, .input_len = n, .context = ctx, .context_len = ctx_len };

	return run_one_buf(k, who, name, MM_KEYS_OP_REWRAP, NULL, &it, out);
}

mm_err mm_keys_datakey(mm_keys *k, const mm_keys_caller *who, const char *name, const void *ctx,
		       size_t ctx_len, mm_buf *wrapped_out, mm_buf *plaintext_out)
{
	mm_keys_item it = { .context = ctx, .context_len = ctx_len };
	mm_keys_op_opts o = { MM_SIG_DER, plaintext_out != NULL };
	mm_err rc;

	it.output = *wrapped_out;
	if (plaintext_out != NULL)
		it.aux = *plaintext_out;
	else
		mm_buf_init(&it.aux, 0);
	rc = run_one(k, who, name, MM_KEYS_OP_DATAKEY, &o, &it);
	*wrapped_out = it.output;
	if (plaintext_out != NULL)
		*plaintext_out = it.aux;
	return rc;
}

mm_err mm_keys_hmac(mm_keys *k, const mm_keys_caller *who, const char *name, const void *msg,
		    size_t n, mm_buf *out)
{
	mm_keys_item it = { .input = msg, .input_len = n };

	return run_one_buf(k, who, name, MM_KEYS_OP_HMAC, NULL, &it, out);
}

mm_err mm_keys_sign(mm_keys *k, const mm_keys_caller *who, const char *name, const void *msg,
		    size_t n, mm_sig_format fmt, mm_buf *out)
{
	mm_keys_item it = { .input = msg, .input_len = n };
	mm_keys_op_opts o = { fmt, false };

	return run_one_buf(k, who, name, MM_KEYS_OP_SIGN, &o, &it, out);
}

mm_err mm_keys_verify(mm_keys *k, const mm_keys_caller *who, const char *name, const void *msg,
		      size_t n, const char *proof, size_t proof_len, mm_sig_format fmt)
{
	mm_keys_item it = { .input = msg, .input_len = n, .proof = proof, .proof_len = proof_len };
	mm_keys_op_opts o = { fmt, false };

	mm_buf_init(&it.output, 0);
	mm_buf_init(&it.aux, 0);
	return run_one(k, who, name, MM_KEYS_OP_VERIFY, &o, &it);
}

/* ---- audited failures of key management calls ---- */

/* Audits a failed management call and returns rc with its detail kept. */
static mm_err fail_audited(mm_keys *k, const mm_keys_caller *who, const char *action,
			   const char *name, mm_err rc)
{
	char detail[512], target[AAD_MAX];

	if (rc == MM_OK)
		return rc;
	snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
	op_target(name, target);
	keys_audit(k, who, action, target, "failure",
		   json_pack("{s:s, s:s}", "key", name ? name : "", "error", mm_err_name(rc)));
	return mm_err_set(rc, "%s", detail);
}

/* ---- create / rotate ---- */

/* New material for a version of type t. */
static mm_err gen_material(mm_key_type t, uint8_t *mat, uint8_t pub[MM_P256_PUB_LEN],
			   size_t *publen)
{
	switch (t) {
	case MM_KEY_AES256_GCM:
	case MM_KEY_HMAC_SHA256:
		*publen = 0;
		return mm_crypto_random(mat, MM_AES256_KEY_LEN);
	case MM_KEY_ED25519:
		*publen = MM_ED25519_PUBLIC_LEN;
		return keys_ed25519_keygen(mat, pub);
	case MM_KEY_ECDSA_P256:
		*publen = MM_P256_PUB_LEN;
		return mm_ecdsa_p256_keygen(mat, pub);
	default:
		return mm_err_set(MM_ERR_INVALID, "unknown key type");
	}
}

/* Generates a version's material and wraps it under the barrier. */
static mm_err new_version(mm_keys *k, const char *name, mm_key_type t, int64_t version,
			  mm_buf *wrapped, uint8_t pub[MM_P256_PUB_LEN], size_t *publen)
{
	uint8_t *mat = mm_secmem_alloc(MM_AES256_KEY_LEN);
	char aad[AAD_MAX];
	mm_err rc;

	if (mat == NULL)
		return MM_ERR_NOMEM;
	material_aad(aad, name, version);
	if ((rc = gen_material(t, mat, pub, publen)) == MM_OK) {
		pthread_rwlock_rdlock(&k->lock);
		rc = keys_wrap_locked(k, aad, mat, MM_AES256_KEY_LEN, wrapped);
		pthread_rwlock_unlock(&k->lock);
	}
	mm_secmem_free(mat, MM_AES256_KEY_LEN);
	return rc;
}

static mm_err insert_version(mm_db *db, const char *name, int64_t version, const mm_buf *wrapped,
			     const uint8_t *pub, size_t publen, int64_t now)
{
	static const char q[] = "INSERT INTO keys_versions (name, version, material, public_key,"
				" created_ms) VALUES (?, ?, ?, ?, ?)";
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, version)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 3, wrapped->data, wrapped->len)) == MM_OK &&
	    (rc = publen ? mm_stmt_bind_blob(st, 4, pub, publen) : mm_stmt_bind_null(st, 4)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

struct create_arg {
	const char *name;
	const mm_keys_create_opts *o;
	const char *policy;
	const mm_buf *wrapped;
	const uint8_t *pub;
	size_t publen;
	int64_t now;
	mm_audit_event ev;
};

static mm_err create_job(mm_db *db, void *arg)
{
	static const char q[] =
		"INSERT INTO keys_named (name, type, latest, min_decryption, exportable,"
		" deletion_allowed, disabled, auto_rotate_ms, policy, created_ms, updated_ms,"
		" rotated_ms) VALUES (?, ?, 1, 1, ?, ?, 0, ?, ?, ?, ?, ?)";
	struct create_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, a->name)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, mm_key_type_name(a->o->type))) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, a->o->exportable)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, a->o->deletion_allowed)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, a->o->auto_rotate_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 6, a->policy)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 7, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 8, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 9, a->now)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_ERR_EXISTS)
		return mm_err_set(MM_ERR_EXISTS, "a key named '%s' already exists", a->name);
	if (rc != MM_OK ||
	    (rc = insert_version(db, a->name, 1, a->wrapped, a->pub, a->publen, a->now)) != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

static mm_err check_rotate_period(int64_t ms)
{
	if (ms != 0 && (ms < MM_KEYS_MIN_ROTATE_MS || ms > 100LL * 365 * 86400 * 1000))
		return mm_err_set(MM_ERR_INVALID, "auto_rotate_period must be 0 (off) or between 1h and "
				  "100 years");
	return MM_OK;
}

mm_err mm_keys_create(mm_keys *k, const mm_keys_caller *who, const char *name,
		      const mm_keys_create_opts *o)
{
	uint8_t pub[MM_P256_PUB_LEN];
	size_t publen = 0;
	mm_buf wrapped = MM_BUF_INIT(4096);
	char target[AAD_MAX], *policy = NULL;
	struct create_arg a;
	json_t *d = NULL;
	mm_err rc;

	if ((rc = mm_keys_name_check(name)) != MM_OK)
		goto out;
	if (o == NULL || (unsigned)o->type >= MM_KEY__COUNT) {
		rc = mm_err_set(MM_ERR_INVALID, "unknown key type");
		goto out;
	}
	if ((rc = check_rotate_period(o->auto_rotate_ms)) != MM_OK ||
	    (rc = mm_keys_policy_validate(o->policy)) != MM_OK || (rc = check_unsealed(k)) != MM_OK)
		goto out;
	if ((policy = o->policy ? json_dumps(o->policy, JSON_COMPACT | JSON_SORT_KEYS)
				: strdup("{}")) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_lock(&k->admin_mu);
	rc = new_version(k, name, o->type, 1, &wrapped, pub, &publen);
	if (rc == MM_OK) {
		d = json_pack("{s:s, s:s, s:I, s:b, s:b, s:I}", "key", name, "type",
			      mm_key_type_name(o->type), "version", (json_int_t)1, "exportable",
			      o->exportable, "deletion_allowed", o->deletion_allowed,
			      "auto_rotate_ms", (json_int_t)o->auto_rotate_ms);
		if (d != NULL && o->policy != NULL)
			json_object_set(d, "policy", (json_t *)o->policy);
		op_target(name, target);
		a = (struct create_arg){ name, o, policy, &wrapped, pub, publen, mm_time_wall_ms(), { 0 } };
		keys_fill_event(&a.ev, who, "keys.create", target, "success", d);
		rc = mm_store_write(k->store, create_job, &a);
		cache_invalidate(k, name);
	}
	pthread_mutex_unlock(&k->admin_mu);
out:
	json_decref(d);
	free(policy);
	mm_buf_release(&wrapped);
	if (rc != MM_OK && rc != MM_ERR_STORE)
		rc = fail_audited(k, who, "keys.create", name, rc);
	return rc;
}

struct rotate_arg {
	const char *name;
	int64_t expect_latest;
	const mm_buf *wrapped;
	const uint8_t *pub;
	size_t publen;
	int64_t now;
	mm_audit_event ev;
};

static mm_err rotate_job(mm_db *db, void *arg)
{
	static const char q[] = "UPDATE keys_named SET latest = ?, rotated_ms = ?, updated_ms = ?"
				" WHERE name = ? AND latest = ?";
	struct rotate_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, a->expect_latest + 1)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, a->name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, a->expect_latest)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_CONFLICT, "key '%s' changed meanwhile", a->name);
	if ((rc = insert_version(db, a->name, a->expect_latest + 1, a->wrapped, a->pub, a->publen,
				 a->now)) != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_rotate(mm_keys *k, const mm_keys_caller *who, const char *name,
		      int64_t *ret_version)
{
	uint8_t pub[MM_P256_PUB_LEN];
	size_t publen = 0;
	mm_buf wrapped = MM_BUF_INIT(4096);
	char target[AAD_MAX];
	struct row r = { 0 };
	struct rotate_arg a;
	json_t *d = NULL;
	mm_err rc;

	if ((rc = mm_keys_name_check(name)) != MM_OK || (rc = check_unsealed(k)) != MM_OK)
		goto out;
	pthread_mutex_lock(&k->admin_mu);
	if ((rc = read_row_conn(k, name, &r)) != MM_OK)
		goto unlock;
	if (r.latest >= MM_ENVELOPE_MAX_VERSION) {
		rc = mm_err_set(MM_ERR_LIMIT, "key '%s' has reached the last version", name);
		goto unlock;
	}
	if ((rc = new_version(k, name, r.type, r.latest + 1, &wrapped, pub, &publen)) != MM_OK)
		goto unlock;
	d = json_pack("{s:s, s:I}", "key", name, "version", (json_int_t)(r.latest + 1));
	op_target(name, target);
	a = (struct rotate_arg){ name, r.latest, &wrapped, pub, publen, mm_time_wall_ms(), { 0 } };
	keys_fill_event(&a.ev, who, "keys.rotate", target, "success", d);
	rc = mm_store_write(k->store, rotate_job, &a);
	cache_invalidate(k, name);
	if (rc == MM_OK && ret_version != NULL)
		*ret_version = r.latest + 1;
unlock:
	pthread_mutex_unlock(&k->admin_mu);
out:
	json_decref(d);
	json_decref(r.policy);
	mm_buf_release(&wrapped);
	if (rc != MM_OK && rc != MM_ERR_STORE)
		rc = fail_audited(k, who, "keys.rotate", name, rc);
	return rc;
}

/* ---- configure ---- */

struct config_arg {
	const char *name;
	const struct row *r;     /* the new settings */
	const char *policy;
	int64_t now;
	mm_audit_event ev;
};

static mm_err config_job(mm_db *db, void *arg)
{
	static const char q[] =
		"UPDATE keys_named SET min_decryption = ?, auto_rotate_ms = ?, exportable = ?,"
		" deletion_allowed = ?, disabled = ?, policy = ?, updated_ms = ?"
		" WHERE name = ? AND latest = ?";
	struct config_arg *a = arg;
	mm_stmt *st = NULL;
	mm_err rc;

	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, a->r->min_dec)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, a->r->auto_rotate_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 3, a->r->exportable)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, a->r->deletion_allowed)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 5, a->r->disabled)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 6, a->policy)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 7, a->now)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 8, a->name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 9, a->r->latest)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	if (mm_db_changes(db) != 1)
		return mm_err_set(MM_ERR_CONFLICT, "key '%s' changed meanwhile", a->name);
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_configure(mm_keys *k, const mm_keys_caller *who, const char *name,
			 const mm_keys_config *c)
{
	char target[AAD_MAX], *policy = NULL;
	struct row r = { 0 };
	struct config_arg a;
	json_t *d = NULL, *ch = NULL;
	mm_err rc;

	if ((rc = mm_keys_name_check(name)) != MM_OK || (rc = check_unsealed(k)) != MM_OK)
		goto out;
	if (c->set_policy && (rc = mm_keys_policy_validate(c->policy)) != MM_OK)
		goto out;
	if (c->set_auto_rotate && (rc = check_rotate_period(c->auto_rotate_ms)) != MM_OK)
		goto out;
	pthread_mutex_lock(&k->admin_mu);
	if ((rc = read_row_conn(k, name, &r)) != MM_OK)
		goto unlock;
	if ((ch = json_object()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto unlock;
	}
	if (c->set_min_decryption_version) {
		if (c->min_decryption_version < 1 || c->min_decryption_version > r.latest) {
			rc = mm_err_set(MM_ERR_INVALID, "min_decryption_version must be 1 to %lld",
					(long long)r.latest);
			goto unlock;
		}
		r.min_dec = c->min_decryption_version;
		json_object_set_new(ch, "min_decryption_version", json_integer(r.min_dec));
	}
	if (c->set_auto_rotate) {
		r.auto_rotate_ms = c->auto_rotate_ms;
		json_object_set_new(ch, "auto_rotate_ms", json_integer(r.auto_rotate_ms));
	}
	if (c->set_exportable) {
		if (r.exportable && !c->exportable) {
			rc = mm_err_set(MM_ERR_INVALID, "an exportable key cannot be made non-exportable");
			goto unlock;
		}
		r.exportable = c->exportable;
		json_object_set_new(ch, "exportable", json_boolean(r.exportable));
	}
	if (c->set_deletion_allowed) {
		r.deletion_allowed = c->deletion_allowed;
		json_object_set_new(ch, "deletion_allowed", json_boolean(r.deletion_allowed));
	}
	if (c->set_disabled) {
		r.disabled = c->disabled;
		json_object_set_new(ch, "disabled", json_boolean(r.disabled));
	}
	if (c->set_policy) {
		json_decref(r.policy);
		r.policy = c->policy ? json_deep_copy(c->policy) : json_object();
		json_object_set(ch, "policy", r.policy);
	}
	if ((policy = json_dumps(r.policy, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto unlock;
	}
	d = json_pack("{s:s, s:O}", "key", name, "changes", ch);
	op_target(name, target);
	a = (struct config_arg){ name, &r, policy, mm_time_wall_ms(), { 0 } };
	keys_fill_event(&a.ev, who, "keys.config", target, "success", d);
	rc = mm_store_write(k->store, config_job, &a);
	cache_invalidate(k, name);
unlock:
	pthread_mutex_unlock(&k->admin_mu);
out:
	json_decref(d);
	json_decref(ch);
	json_decref(r.policy);
	free(policy);
	if (rc != MM_OK && rc != MM_ERR_STORE)
		rc = fail_audited(k, who, "keys.config", name, rc);
	return rc;
}

/* ---- destroy / delete ---- */

/* Overwrites the stored material of one version with zeros of the same
 * length and marks it destroyed. Destroyed versions are left alone. */
static mm_err shred_version(mm_db *db, const char *name, int64_t version, int64_t now)
{
	static const char qs[] = "SELECT material FROM keys_versions"
				 " WHERE name = ? AND version = ? AND destroyed_ms IS NULL";
	static const char qu[] = "UPDATE keys_versions SET material = ?, destroyed_ms = ?"
				 " WHERE name = ? AND version = ?";
	mm_stmt *st = NULL;
	uint8_t *zero = NULL;
	size_t len = 0;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, qs, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, name)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, version)) == MM_OK && (rc = mm_stmt_step(st, &row)) == MM_OK &&
	    row)
		mm_stmt_blob(st, 0, &len);
	mm_stmt_done(st);
	if (rc != MM_OK || !row)
		return rc;
	if ((zero = calloc(1, len ? len : 1)) == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, qu, &st)) == MM_OK) {
		if ((rc = mm_stmt_bind_blob(st, 1, zero, len)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, now)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, name)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 4, version)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
	}
	free(zero);
	return rc;
}

struct destroy_arg {
	const char *name;
	const int64_t *versions;
	size_t n;
	int64_t expect_latest;
	int64_t now;
	mm_audit_event ev;
};

static mm_err destroy_job(mm_db *db, void *arg)
{
	struct destroy_arg *a = arg;
	struct row r;
	mm_err rc;

	/* Re-check under the writer: the latest version is never destroyed. */
	if ((rc = read_row(db, a->name, &r)) != MM_OK)
		return rc;
	json_decref(r.policy);
	if (r.latest != a->expect_latest)
		return mm_err_set(MM_ERR_CONFLICT, "key '%s' changed meanwhile", a->name);
	for (size_t i = 0; i < a->n; i++)
		if ((rc = shred_version(db, a->name, a->versions[i], a->now)) != MM_OK)
			return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_destroy_versions(mm_keys *k, const mm_keys_caller *who, const char *name,
				const int64_t *versions, size_t n)
{
	char target[AAD_MAX];
	struct row r = { 0 };
	struct destroy_arg a;
	json_t *d = NULL, *vs = NULL;
	mm_err rc;

	if ((rc = mm_keys_name_check(name)) != MM_OK || (rc = check_unsealed(k)) != MM_OK)
		goto out;
	if (n == 0 || n > MM_KEYS_MAX_BATCH) {
		rc = mm_err_set(MM_ERR_INVALID, "give 1 to %d versions to destroy", MM_KEYS_MAX_BATCH);
		goto out;
	}
	pthread_mutex_lock(&k->admin_mu);
	if ((rc = read_row_conn(k, name, &r)) != MM_OK)
		goto unlock;
	if ((vs = json_array()) == NULL) {
		rc = MM_ERR_NOMEM;
		goto unlock;
	}
	for (size_t i = 0; i < n; i++) {
		if (versions[i] < 1 || versions[i] > r.latest) {
			rc = mm_err_set(MM_ERR_INVALID, "key version %lld does not exist",
					(long long)versions[i]);
			goto unlock;
		}
		if (versions[i] == r.latest) {
			rc = mm_err_set(MM_ERR_INVALID, "the latest version (%lld) cannot be destroyed; "
					"rotate the key first", (long long)r.latest);
			goto unlock;
		}
		json_array_append_new(vs, json_integer(versions[i]));
	}
	d = json_pack("{s:s, s:O}", "key", name, "versions", vs);
	op_target(name, target);
	a = (struct destroy_arg){ name, versions, n, r.latest, mm_time_wall_ms(), { 0 } };
	keys_fill_event(&a.ev, who, "keys.destroy", target, "success", d);
	rc = mm_store_write(k->store, destroy_job, &a);
	cache_invalidate(k, name);
unlock:
	pthread_mutex_unlock(&k->admin_mu);
out:
	json_decref(d);
	json_decref(vs);
	json_decref(r.policy);
	if (rc != MM_OK && rc != MM_ERR_STORE)
		rc = fail_audited(k, who, "keys.destroy", name, rc);
	return rc;
}

static mm_err delete_job(mm_db *db, void *arg)
{
	static const char qv[] = "DELETE FROM keys_versions WHERE name = ?";
	static const char qn[] = "DELETE FROM keys_named WHERE name = ?";
	struct destroy_arg *a = arg;
	mm_stmt *st = NULL;
	struct row r;
	mm_err rc;

	if ((rc = read_row(db, a->name, &r)) != MM_OK)
		return rc;
	json_decref(r.policy);
	if (!r.deletion_allowed)
		return mm_err_set(MM_ERR_CONFLICT, "key '%s' does not allow deletion", a->name);
	for (int64_t v = 1; v <= r.latest; v++)
		if ((rc = shred_version(db, a->name, v, a->now)) != MM_OK)
			return rc;
	if ((rc = mm_db_prepare(db, qv, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, a->name)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK || (rc = mm_db_prepare(db, qn, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, a->name)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc != MM_OK)
		return rc;
	return mm_audit_append(db, &a->ev, NULL);
}

mm_err mm_keys_delete(mm_keys *k, const mm_keys_caller *who, const char *name)
{
	char target[AAD_MAX];
	struct row r = { 0 };
	struct destroy_arg a;
	json_t *d = NULL;
	mm_err rc;

	if ((rc = mm_keys_name_check(name)) != MM_OK || (rc = check_unsealed(k)) != MM_OK)
		goto out;
	pthread_mutex_lock(&k->admin_mu);
	if ((rc = read_row_conn(k, name, &r)) != MM_OK)
		goto unlock;
	if (!r.deletion_allowed) {
		rc = mm_err_set(MM_ERR_CONFLICT, "key '%s' does not allow deletion "
				"(set deletion_allowed first)", name);
		goto unlock;
	}
	d = json_pack("{s:s, s:I}", "key", name, "versions", (json_int_t)r.latest);
	op_target(name, target);
	a = (struct destroy_arg){ name, NULL, 0, r.latest, mm_time_wall_ms(), { 0 } };
	keys_fill_event(&a.ev, who, "keys.delete", target, "success", d);
	rc = mm_store_write(k->store, delete_job, &a);
	cache_invalidate(k, name);
unlock:
	pthread_mutex_unlock(&k->admin_mu);
out:
	json_decref(d);
	json_decref(r.policy);
	if (rc != MM_OK && rc != MM_ERR_STORE)
		rc = fail_audited(k, who, "keys.delete", name, rc);
	return rc;
}

/* ---- export ---- */

mm_err mm_keys_export(mm_keys *k, const mm_keys_caller *who, const char *name, int64_t version,
		      mm_buf *out)
{
	char target[AAD_MAX], detail[512] = "";
	const struct kver *kv = NULL;
	struct nkey *e;
	size_t mark = out->len;
	int64_t used = 0;
	mm_err rc, arc;

	if ((rc = mm_keys_name_check(name)) == MM_OK) {
		pthread_rwlock_rdlock(&k->lock);
		if ((rc = get_key_rd(k, name, &e)) == MM_OK) {
			if (!e->exportable)
				rc = mm_err_set(MM_ERR_FORBIDDEN, "key '%s' is not exportable", name);
			else if ((rc = pick_version(e, version, &kv)) == MM_OK) {
				used = kv->version;
				rc = mm_base64_encode(out, kv->material, MM_AES256_KEY_LEN);
			}
		}
		pthread_rwlock_unlock(&k->lock);
	}
	if (rc != MM_OK) {
		snprintf(detail, sizeof(detail), "%s", mm_err_detail(rc));
		truncate_wipe(out, mark);
	}
	op_target(name, target);
	arc = keys_audit(k, who, "keys.export", target, rc == MM_OK ? "success" : "failure",
			 json_pack("{s:s, s:I, s:s}", "key", name ? name : "", "version",
				   (json_int_t)used, "error", rc == MM_OK ? "" : mm_err_name(rc)));
	if (arc != MM_OK) {
		truncate_wipe(out, mark);
		return mm_err_set(MM_ERR_STORE, "the operation could not be audited");
	}
	if (rc != MM_OK)
		mm_err_set(rc, "%s", detail);
	return rc;
}

/* ---- reading ---- */

void mm_keys_info_release(mm_keys_info *info)
{
	if (info == NULL)
		return;
	for (size_t i = 0; i < info->nversions; i++)
		free(info->versions[i].public_key);
	free(info->versions);
	json_decref(info->policy);
	free(info->name);
	memset(info, 0, sizeof(*info));
}

static mm_err public_text(mm_key_type t, const uint8_t *pub, size_t len, char **ret)
{
	mm_buf b = MM_BUF_INIT(4096);
	mm_err rc = MM_OK;

	*ret = NULL;
	if (t == MM_KEY_ED25519 && len == MM_ED25519_PUBLIC_LEN)
		rc = mm_base64_encode(&b, pub, len);
	else if (t == MM_KEY_ECDSA_P256 && len == MM_P256_PUB_LEN)
		rc = mm_ecdsa_p256_public_pem(pub, &b);
	else {
		mm_buf_release(&b);
		return MM_OK;
	}
	if (rc == MM_OK && (*ret = mm_buf_detach(&b, NULL)) == NULL)
		rc = MM_ERR_NOMEM;
	mm_buf_release(&b);
	return rc;
}

mm_err mm_keys_show(mm_keys *k, const char *name, mm_keys_info *ret)
{
	static const char q[] = "SELECT version, public_key, created_ms, destroyed_ms"
				" FROM keys_versions WHERE name = ? ORDER BY version";
	mm_keys_info info;
	struct row r;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	memset(&info, 0, sizeof(info));
	if ((rc = mm_keys_name_check(name)) != MM_OK)
		return rc;
	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	if ((rc = read_row(db, name, &r)) != MM_OK)
		goto end;
	info.type = r.type;
	info.latest = r.latest;
	info.min_decryption_version = r.min_dec;
	info.exportable = r.exportable;
	info.deletion_allowed = r.deletion_allowed;
	info.disabled = r.disabled;
	info.auto_rotate_ms = r.auto_rotate_ms;
	info.created_ms = r.created_ms;
	info.updated_ms = r.updated_ms;
	info.rotated_ms = r.rotated_ms;
	info.policy = r.policy;
	if ((info.name = strdup(name)) == NULL ||
	    (info.versions = calloc(r.latest > 0 ? (size_t)r.latest : 1, sizeof(*info.versions))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto end;
	}
	if ((rc = mm_db_prepare(db, q, &st)) != MM_OK || (rc = mm_stmt_bind_text(st, 1, name)) != MM_OK)
		goto end;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row && info.nversions < (size_t)r.latest) {
		mm_keys_version_info *v = &info.versions[info.nversions];
		size_t plen = 0;
		const void *p = mm_stmt_blob(st, 1, &plen);

		v->version = mm_stmt_int(st, 0);
		v->created_ms = mm_stmt_int(st, 2);
		v->destroyed_ms = mm_stmt_is_null(st, 3) ? 0 : mm_stmt_int(st, 3);
		info.nversions++;
		if ((rc = public_text(info.type, p, plen, &v->public_key)) != MM_OK)
			break;
	}
end:
	mm_stmt_done(st);
	mm_db_rollback(db);
out:
	mm_store_release(k->store, db);
	if (rc == MM_OK)
		*ret = info;
	else
		mm_keys_info_release(&info);
	return rc;
}

static json_t *time_json(int64_t ms)
{
	char s[MM_TIME_RFC3339_LEN];

	if (ms == 0)
		return json_null();
	mm_time_format(ms, s);
	return json_string(s);
}

json_t *mm_keys_info_json(const mm_keys_info *info)
{
	json_t *o = json_object(), *vs = json_array();

	if (o == NULL || vs == NULL) {
		json_decref(o);
		json_decref(vs);
		return NULL;
	}
	for (size_t i = 0; i < info->nversions; i++) {
		const mm_keys_version_info *v = &info->versions[i];
		json_t *vo = json_object();

		if (vo == NULL)
			continue;
		json_object_set_new(vo, "version", json_integer(v->version));
		json_object_set_new(vo, "created", time_json(v->created_ms));
		json_object_set_new(vo, "destroyed", v->destroyed_ms ? json_true() : json_false());
		if (v->destroyed_ms)
			json_object_set_new(vo, "destroyed_at", time_json(v->destroyed_ms));
		if (v->public_key)
			json_object_set_new(vo, "public_key", json_string(v->public_key));
		json_array_append_new(vs, vo);
	}
	json_object_set_new(o, "name", json_string(info->name));
	json_object_set_new(o, "type", json_string(mm_key_type_name(info->type)));
	json_object_set_new(o, "latest_version", json_integer(info->latest));
	json_object_set_new(o, "min_decryption_version", json_integer(info->min_decryption_version));
	json_object_set_new(o, "exportable", json_boolean(info->exportable));
	json_object_set_new(o, "deletion_allowed", json_boolean(info->deletion_allowed));
	json_object_set_new(o, "disabled", json_boolean(info->disabled));
	json_object_set_new(o, "auto_rotate_period_ms", json_integer(info->auto_rotate_ms));
	json_object_set_new(o, "created", time_json(info->created_ms));
	json_object_set_new(o, "updated", time_json(info->updated_ms));
	json_object_set_new(o, "rotated", time_json(info->rotated_ms));
	json_object_set(o, "policy", info->policy ? info->policy : json_object());
	json_object_set_new(o, "versions", vs);
	return o;
}

mm_err mm_keys_list(mm_keys *k, json_t **ret)
{
	static const char q[] = "SELECT name, type, latest FROM keys_named ORDER BY name";
	json_t *a = json_array();
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if (a == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q, &st)) == MM_OK)
		while ((rc = mm_stmt_step(st, &row)) == MM_OK && row)
			json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "name", mm_stmt_text(st, 0),
							   "type", mm_stmt_text(st, 1), "latest_version",
							   (json_int_t)mm_stmt_int(st, 2)));
	mm_stmt_done(st);
	mm_store_release(k->store, db);
out:
	if (rc == MM_OK)
		*ret = a;
	else
		json_decref(a);
	return rc;
}

/* 1 when roles may perform op, 0 when not, -1 when the policy does not
 * mention op (the route's permission decides alone). */
static int policy_allows(const json_t *policy, const char *op, const char *const *roles,
			 size_t nroles)
{
	const json_t *arr = json_object_get(policy, op), *v;
	size_t i;

	if (arr == NULL)
		return -1;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL)
			continue;
		if (strcmp(s, "*") == 0)
			return 1;
		for (size_t j = 0; j < nroles; j++)
			if (roles[j] != NULL && strcmp(roles[j], s) == 0)
				return 1;
	}
	return 0;
}

mm_err mm_keys_policy_check(mm_keys *k, const char *name, const char *op,
			    const char *const *roles, size_t nroles)
{
	struct nkey *e;
	struct row r;
	int found = -2;
	mm_err rc;

	if (op == NULL || !is_policy_op(op))
		return mm_err_set(MM_ERR_INVALID, "unknown key operation '%.40s'", op ? op : "");
	if ((rc = mm_keys_name_check(name)) != MM_OK)
		return rc;
	pthread_rwlock_rdlock(&k->lock);
	if ((e = cache_find(k, name)) != NULL)
		found = policy_allows(e->policy, op, roles, nroles);
	pthread_rwlock_unlock(&k->lock);
	if (found == -2) {
		if ((rc = read_row_conn(k, name, &r)) != MM_OK)
			return rc;
		found = policy_allows(r.policy, op, roles, nroles);
		json_decref(r.policy);
	}
	if (found == 0)
		return mm_err_set(MM_ERR_FORBIDDEN, "the policy of key '%s' does not allow %s for your "
				  "roles", name, op);
	return MM_OK;
}

/* ---- auto-rotation ---- */

mm_err mm_keys_tick(mm_keys *k, int64_t now_ms, size_t *ret_rotated)
{
	static const char q[] = "SELECT name FROM keys_named WHERE auto_rotate_ms > 0 AND disabled = 0"
				" AND rotated_ms + auto_rotate_ms <= ? ORDER BY name";
	char **names = NULL;
	size_t n = 0, cap = 0, done = 0;
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc, first = MM_OK;

	if ((rc = check_unsealed(k)) != MM_OK)
		return rc;
	if ((rc = mm_store_acquire(k->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, q, &st)) == MM_OK && (rc = mm_stmt_bind_int(st, 1, now_ms)) == MM_OK)
		while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
			if (n == cap) {
				char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nn));
				if (nn == NULL) {
					rc = MM_ERR_NOMEM;
					break;
				}
				names = nn;
			}
			if ((names[n] = strdup(mm_stmt_text(st, 0))) == NULL) {
				rc = MM_ERR_NOMEM;
				break;
			}
			n++;
		}
	mm_stmt_done(st);
	mm_store_release(k->store, db);
	for (size_t i = 0; i < n; i++) {
		mm_err e = mm_keys_rotate(k, NULL, names[i], NULL);

		if (e == MM_OK)
			done++;
		else if (first == MM_OK)
			first = e;
		free(names[i]);
	}
	free(names);
	if (ret_rotated != NULL)
		*ret_rotated = done;
	if (rc == MM_OK && first != MM_OK)
		rc = first;
	return rc;
}
