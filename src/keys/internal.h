/*
 * internal.h: the state shared by the files of src/keys. Not for other
 * modules.
 *
 * Locking (always in this order, never the other way):
 *   seal_mu  serialises init, unseal, seal, rekey and barrier rotation;
 *   admin_mu serialises named-key changes (create, rotate, config, destroy);
 *   lock     (rwlock, writer-preferring) guards the in-memory key material:
 *            root, keyring terms, the named-key cache and the audit key.
 *            Readers hold it for the whole of a cryptographic operation so
 *            that a seal (writer) waits for them and then wipes. It is never
 *            taken recursively and never held across mm_store_write().
 * All material pointers are mm_secmem allocations, NULL while sealed.
 */
#ifndef MM_KEYS_INTERNAL_H
#define MM_KEYS_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "crypto/primitives.h"
#include "crypto/sign.h"
#include "keys/keys.h"
#include "keys/named.h"

#define SHARE_LEN 33             /* x || 32-byte y */
#define ROOT_LEN 32
#define CACHE_BUCKETS 1024

struct term {
	uint32_t term;
	int64_t created_ms;
	uint8_t *key;            /* 32 bytes, secmem */
};

/* Distinct shares submitted so far (unseal or rekey). */
struct share_acc {
	unsigned n;
	uint8_t *buf;            /* MM_SHAMIR_MAX_SHARES * SHARE_LEN, secmem */
};

struct kver {
	int64_t version;
	int64_t created_ms;
	int64_t destroyed_ms;
	uint8_t *material;       /* 32 bytes, secmem; NULL when destroyed */
	uint8_t pub[MM_P256_PUB_LEN];
	size_t publen;
};

struct nkey {
	struct nkey *next;
	char *name;
	mm_key_type type;
	int64_t latest, min_dec, auto_rotate_ms;
	bool exportable, deletion_allowed, disabled;
	json_t *policy;
	struct kver *v;          /* v[i] is version i + 1 */
	size_t nv;
};

struct mm_keys {
	mm_store *store;
	char *unseal_key_file;

	pthread_rwlock_t lock;
	bool initialized;
	unsigned shares, threshold;
	int64_t generation;
	uint8_t *root;           /* NULL while sealed */
	struct term *terms;
	size_t nterms;
	uint32_t active_term;
	const char *method;
	int64_t unsealed_ms;
	bool root_locked;
	struct nkey *cache[CACHE_BUCKETS];
	uint64_t cache_gen;
	uint8_t *audit_seed;     /* Ed25519 seed of the audit signing key */
	uint8_t audit_pub[MM_ED25519_PUBLIC_LEN];

	pthread_mutex_t seal_mu;
	struct share_acc unseal;
	bool rekey_active;
	unsigned rekey_shares, rekey_threshold;
	char rekey_nonce[MM_KEYS_NONCE_LEN];
	struct share_acc rekey;

	pthread_mutex_t admin_mu;
};

/* Appends one audit event in its own store job. details is stolen (may be
 * NULL). Errors: those of mm_store_write / mm_audit_append. */
mm_err keys_audit(mm_keys *k, const mm_keys_caller *who, const char *action,
		  const char *target, const char *result, json_t *details);

/* Fills an audit event for who (strings borrowed). */
struct mm_audit_event;
void keys_fill_event(struct mm_audit_event *ev, const mm_keys_caller *who, const char *action,
		     const char *target, const char *result, const json_t *details);

/* The audit details of a key operation on n items (failed of them; call_rc
 * the call's own result): an object with count, error (when call_rc is not
 * MM_OK), failed, key, op and the distinct versions used (at most 64).
 * keys_op_details builds it (caller owns; NULL when out of memory);
 * keys_op_details_text writes its canonical text, as mm_audit_details_text
 * would, into *ret (caller frees). Errors: MM_ERR_NOMEM, MM_ERR_INVALID. */
json_t *keys_op_details(const char *name, const char *op, const mm_keys_item *items, size_t n,
			size_t failed, mm_err call_rc);
mm_err keys_op_details_text(const char *name, const char *op, const mm_keys_item *items,
			    size_t n, size_t failed, mm_err call_rc, char **ret);

/* The actor string of who. */
const char *keys_actor(const mm_keys_caller *who);

/* Barrier with lock held (read or write). */
mm_err keys_wrap_locked(mm_keys *k, const char *aad, const void *pt, size_t n, mm_buf *out);
mm_err keys_unwrap_locked(mm_keys *k, const char *aad, const void *blob, size_t n, mm_buf *out);

/* Ed25519 on raw seeds over crypto/sign.h (ed25519_seed.c). keygen writes a
 * fresh seed (caller wipes) and its public key. Errors: MM_ERR_CRYPTO,
 * MM_ERR_NOMEM. */
mm_err keys_ed25519_keygen(uint8_t seed[MM_ED25519_SEED_LEN], uint8_t pub[MM_ED25519_PUBLIC_LEN]);
mm_err keys_ed25519_public(const uint8_t seed[MM_ED25519_SEED_LEN],
			   uint8_t pub[MM_ED25519_PUBLIC_LEN]);
mm_err keys_ed25519_sign(const uint8_t seed[MM_ED25519_SEED_LEN], const void *msg, size_t n,
			 uint8_t sig[MM_ED25519_SIG_LEN]);

/* Frees every cached named key (wiping material); lock held for writing. */
void keys_cache_clear_locked(mm_keys *k);

#endif
