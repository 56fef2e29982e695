/*
 * keys.h: the root key, the seal, the barrier and the audit signing key.
 *
 * Key hierarchy (see docs/keys.md):
 *
 *   unseal shares --Shamir(K of N)--> root key (256-bit, memory only)
 *   root key --AES-256-GCM--> keyring (terms of 256-bit barrier keys, in the store)
 *   barrier key --AES-256-GCM--> every stored secret: named-key versions, the
 *                                audit signing key, other modules' secrets
 *                                (mm_keys_wrap / mm_keys_unwrap)
 *
 * The daemon starts sealed: the root key and the keyring exist only in
 * memory, after K distinct shares were submitted (or an unattended key file
 * was read) and the keyring decrypted under the recombined key. That
 * decryption is the verification value: a wrong combination of shares fails
 * the GCM tag, is refused with MM_ERR_VERIFY and resets progress. Rekey makes
 * a new root key and new shares and re-wraps only the keyring, so no data key
 * is re-encrypted and shares from before the rekey no longer unseal.
 *
 * Invariants:
 *  - Key material (root key, keyring, cached named-key versions, the audit
 *    signing key) lives in mm_secmem memory (mlock'ed when the secure heap
 *    could be locked), is wiped on seal and never logged, never put in an
 *    error detail, never in an audit event.
 *  - Init, every unseal attempt (success, progress, duplicate or failure,
 *    never the share), seal and rekey append an audit event with
 *    mm_audit_append inside the store job that records them; an unseal whose
 *    audit event cannot be written does not unseal (fail closed).
 *  - Sealed means: every function that needs a key returns MM_ERR_SEALED.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef MM_KEYS_KEYS_H
#define MM_KEYS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

typedef struct mm_keys mm_keys;

/* Migrations of the keys tables (keys_seal, keys_named, keys_versions,
 * keys_internal), for mm_store_migrate(). */
extern const mm_migration_set mm_keys_migrations;

/* Who asks, for audit events. NULL everywhere means the daemon itself
 * ("system"). Strings are borrowed for the duration of the call. */
typedef struct mm_keys_caller {
	const char *actor;       /* "user:alice", "app:billing"; NULL = "system" */
	const char *source;      /* client address or NULL */
	const char *request_id;  /* or NULL */
} mm_keys_caller;

typedef struct mm_keys_opts {
	mm_store *store;             /* required; migrated with mm_keys_migrations */
	const char *unseal_key_file; /* config seal.unseal_key_file, or NULL */
} mm_keys_opts;

/* Opens the key manager over a migrated store; it starts sealed. The
 * caller owns *ret (mm_keys_close). Errors: MM_ERR_INVALID, MM_ERR_STORE,
 * MM_ERR_NOMEM. */
mm_err mm_keys_open(const mm_keys_opts *opts, mm_keys **ret);

/* Wipes every key from memory and frees k (no audit event: use
 * mm_keys_seal first for an audited seal). NULL is allowed. */
void mm_keys_close(mm_keys *k);

/* ---- init, seal status, unseal, seal ---- */

/* Unseal shares as text: standard base64 of x || y (33 bytes, 44 characters). */
#define MM_KEYS_SHARE_TEXT_LEN 44

/* A list of shares handed to the caller once, at init or rekey. */
typedef struct mm_keys_shares {
	size_t n;
	char **shares;           /* n NUL-terminated strings */
} mm_keys_shares;

/* Wipes and frees the shares; the struct may be reused. NULL is allowed. */
void mm_keys_shares_release(mm_keys_shares *s);

/*
 * Initialises the seal: creates the root key and a keyring with one barrier
 * key, stores the keyring encrypted under the root key, and splits the root
 * key into `shares` shares with threshold `threshold` (1 <= threshold <=
 * shares <= 255, threshold >= 2 when shares > 1). The shares are returned
 * once in *ret (the caller hands them to their custodians and releases
 * them); mamori never stores them. The daemon stays sealed. Audited as
 * "sys.init". Errors: MM_ERR_CONFLICT (already initialised), MM_ERR_INVALID,
 * MM_ERR_CRYPTO, MM_ERR_STORE, MM_ERR_NOMEM.
 */
mm_err mm_keys_init(mm_keys *k, const mm_keys_caller *who, unsigned shares, unsigned threshold,
		    mm_keys_shares *ret);

typedef struct mm_keys_status {
	bool initialized;
	bool sealed;
	unsigned shares;         /* N */
	unsigned threshold;      /* K */
	unsigned progress;       /* distinct shares submitted toward the next unseal */
	const char *unseal_method; /* "shares", "key_file", or NULL while sealed */
	int64_t unsealed_ms;     /* wall time of the unseal, 0 while sealed */
	int64_t generation;      /* 1 at init, +1 per rekey */
	uint32_t barrier_term;   /* active keyring term, 0 while sealed */
	bool memory_locked;      /* root key lies in mlock'ed memory */
	bool rekey_active;
	unsigned rekey_progress;
	unsigned rekey_shares, rekey_threshold;
} mm_keys_status;

/* Snapshot of the seal state (static strings only; nothing to free). */
void mm_keys_status_get(mm_keys *k, mm_keys_status *ret);

/* True when the root key is in memory. */
bool mm_keys_is_unsealed(mm_keys *k);

/* True when the seal is initialised and the root key is not in memory (what
 * the API layer refuses requests for). Cheap: one read lock, no store access. */
bool mm_keys_is_sealed(mm_keys *k);

/*
 * Submits one unseal share (the text form). Shares accumulate until
 * `threshold` distinct ones are present; the same share twice counts once.
 * At the threshold the root key is recombined and checked by decrypting
 * the keyring: on success the daemon is unsealed, the audit signing key is
 * created or loaded, and *ret_status (may be NULL) reports it.
 * Returns MM_OK for an accepted share (check ret_status->sealed), also when
 * already unsealed (nothing changes). Errors: MM_ERR_INVALID (malformed share;
 * progress is kept), MM_ERR_VERIFY (the combination is wrong, or a second
 * different share with the same coordinate: progress is reset),
 * MM_ERR_CONFLICT (not initialised), MM_ERR_STORE (the attempt could not be
 * audited: still sealed), MM_ERR_NOMEM, MM_ERR_CRYPTO.
 */
mm_err mm_keys_unseal_submit(mm_keys *k, const mm_keys_caller *who, const char *share,
			     mm_keys_status *ret_status);

/* Forgets the shares submitted so far (audited). Errors: MM_ERR_STORE. */
mm_err mm_keys_unseal_reset(mm_keys *k, const mm_keys_caller *who);

/*
 * Unattended unseal from a key file holding unseal shares, one per line
 * (blank lines and lines starting with '#' ignored). path NULL means the
 * configured unseal_key_file. The file must be a regular file owned by the
 * effective user with no permission bits for group or others (0600 or 0400),
 * opened without following a symlink; otherwise it is refused unread.
 * Reports unseal_method "key_file". Audited like manual shares.
 * Errors: MM_ERR_CONFIG (no file configured, or refused mode/owner/type),
 * MM_ERR_IO, MM_ERR_INVALID (malformed line), MM_ERR_VERIFY (the shares do
 * not unseal, including too few of them), and those of unseal_submit.
 */
mm_err mm_keys_unseal_from_file(mm_keys *k, const char *path);

/*
 * Seals: wipes the root key, the keyring, every cached key and the audit
 * signing key from memory and forgets unseal and rekey progress. The
 * daemon is sealed when this returns, whatever the result; the result only
 * says whether the "sys.seal" audit event was written (MM_ERR_STORE when not).
 * Sealing a sealed daemon is MM_OK (audited).
 */
mm_err mm_keys_seal(mm_keys *k, const mm_keys_caller *who);

/* ---- rekey (new root key and shares; the keyring is only re-wrapped) ---- */

/*
 * Starts a rekey towards `shares`/`threshold` (same rules as init). The
 * holders of the current shares then each submit theirs with
 * mm_keys_rekey_submit(); with K correct current shares the new root key
 * is made. Requires unsealed. nonce_out (33 bytes) receives a hex nonce that
 * every submission must quote, so that a submission cannot land in a rekey
 * started later. Audited. Errors: MM_ERR_SEALED, MM_ERR_CONFLICT (a rekey is
 * already running), MM_ERR_INVALID, MM_ERR_STORE.
 */
#define MM_KEYS_NONCE_LEN 33
mm_err mm_keys_rekey_start(mm_keys *k, const mm_keys_caller *who, unsigned shares,
			   unsigned threshold, char nonce_out[MM_KEYS_NONCE_LEN]);

/*
 * Submits one current share to the running rekey. While fewer than K
 * distinct shares are in, returns MM_OK with ret->n == 0 and *ret_progress
 * (may be NULL) the count. At K the shares must recombine to the current
 * root key (else MM_ERR_VERIFY and rekey progress resets); then a new root
 * key is made, the keyring is re-encrypted under it in one audited store
 * job ("sys.rekey"), the new shares are returned in *ret, and the old
 * shares stop working. Errors: MM_ERR_SEALED, MM_ERR_CONFLICT (no rekey or a
 * different nonce), MM_ERR_INVALID, MM_ERR_VERIFY, MM_ERR_STORE, MM_ERR_CRYPTO.
 */
mm_err mm_keys_rekey_submit(mm_keys *k, const mm_keys_caller *who, const char *nonce,
			    const char *share, mm_keys_shares *ret, unsigned *ret_progress);

/* Abandons a running rekey (audited). MM_OK when none runs. */
mm_err mm_keys_rekey_cancel(mm_keys *k, const mm_keys_caller *who);

/* Adds a fresh barrier key to the keyring and makes it the one new wraps
 * use (older terms stay for unwrapping). Audited as "sys.barrier_rotate".
 * Errors: MM_ERR_SEALED, MM_ERR_STORE, MM_ERR_CRYPTO. */
mm_err mm_keys_barrier_rotate(mm_keys *k, const mm_keys_caller *who, uint32_t *ret_term);

/* ---- the barrier: storing other modules' secrets ---- */

/*
 * Encrypts n bytes under the active barrier key and appends the result
 * (binary: format byte, term, nonce, ciphertext, tag) to out. aad names the
 * secret's place ("identity/totp/alice") and must be given again to unwrap:
 * a blob moved to another place does not unwrap. Nothing is audited here
 * (the caller audits its own change). Errors: MM_ERR_SEALED, MM_ERR_LIMIT
 * (n > 16 MiB or out's max), MM_ERR_CRYPTO, MM_ERR_NOMEM.
 */
mm_err mm_keys_wrap(mm_keys *k, const char *aad, const void *plaintext, size_t n, mm_buf *out);

/*
 * Decrypts a blob from mm_keys_wrap and appends the plaintext to out (the
 * caller wipes it: mm_buf_wipe_release). Errors: MM_ERR_SEALED, MM_ERR_INVALID
 * (malformed or unknown term), MM_ERR_VERIFY (modified, or other aad),
 * MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
mm_err mm_keys_unwrap(mm_keys *k, const char *aad, const void *blob, size_t n, mm_buf *out);

/* ---- the audit module's signing key ---- */

/* Signs msg with the key behind ctx. Errors: MM_ERR_SEALED, MM_ERR_CRYPTO. */
typedef mm_err (*mm_keys_sign_fn)(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64]);

typedef struct mm_keys_signer {
	mm_keys_sign_fn sign;
	void *ctx;               /* the mm_keys; valid while it is open */
	uint8_t public_key[32];  /* Ed25519 public key */
} mm_keys_signer;

/*
 * Returns the internal Ed25519 signer for the audit log. The key pair is
 * created at the first unseal (wrapped under the barrier, audited as
 * "keys.internal.create") and loaded at later unseals; the private key
 * never leaves memory of this module. The signer works while unsealed and
 * returns MM_ERR_SEALED while sealed. Errors: MM_ERR_SEALED, MM_ERR_STORE,
 * MM_ERR_CRYPTO.
 */
mm_err mm_keys_audit_signer(mm_keys *k, mm_keys_signer *ret);

/* ---- process hardening for the daemon ---- */

typedef struct mm_keys_hardening {
	bool not_dumpable;       /* prctl(PR_SET_DUMPABLE, 0) succeeded */
	bool no_core;            /* RLIMIT_CORE set to 0 */
	bool secure_heap;        /* OpenSSL secure heap created */
	bool memory_locked;      /* ... and mlock'ed */
} mm_keys_hardening;

/*
 * Makes the process unfit to leak keys: no core dumps (RLIMIT_CORE 0), not
 * dumpable or ptrace-attachable by same-uid processes (PR_SET_DUMPABLE 0),
 * and a locked secure heap of secure_heap_bytes (power of two, 0 = 1 MiB)
 * for key material. Call once early in main, before threads start.
 * *ret (may be NULL) says what took effect. Errors: MM_ERR_IO (prctl or
 * setrlimit failed), MM_ERR_INVALID, MM_ERR_NOMEM.
 */
mm_err mm_keys_harden_process(size_t secure_heap_bytes, mm_keys_hardening *ret);

#endif
