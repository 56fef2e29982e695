/*
 * named.h: named, versioned keys and the cryptographic operations on them
 * (encryption as a service, like Vault's transit engine).
 *
 * Types: aes256-gcm (encrypt, decrypt, rewrap, datakey), hmac-sha256 (hmac,
 * verify), ed25519 and ecdsa-p256 (sign, verify). Each key has versions
 * 1..latest; new work uses the latest version, old versions still decrypt
 * and verify down to min_decryption_version. A destroyed version's material
 * is overwritten in the store and dropped from memory (crypto-shredding):
 * what it encrypted can no longer be decrypted by anyone.
 *
 * Outputs carry their version: "mamori:v<version>:<base64>", where the
 * base64 holds nonce || ciphertext || tag (AES-256-GCM, the context as
 * additional data), the MAC, or the signature.
 *
 * Invariants:
 *  - Key material never leaves this module except through mm_keys_export
 *    on a key created or configured exportable; it is never in an error
 *    detail, a log record or an audit event.
 *  - Every call below that names a key appends exactly one audit event
 *    ("keys.<op>", target "key:<name>", details: key, op, versions, count,
 *    error) in a store job before it returns, also when the operation fails;
 *    never plaintext, ciphertext, context, MACs or signatures. An operation
 *    whose audit event cannot be written fails (MM_ERR_STORE) and returns no
 *    output (fail closed).
 *  - Bad input gives MM_ERR_INVALID (malformed, unknown or destroyed version,
 *    version below min_decryption_version, wrong key type) or MM_ERR_VERIFY
 *    (authentication failed: modified ciphertext, wrong context, bad MAC or
 *    signature) and never any plaintext.
 *  - While sealed every call returns MM_ERR_SEALED.
 */
#ifndef MM_KEYS_NAMED_H
#define MM_KEYS_NAMED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "crypto/primitives.h"
#include "keys/keys.h"

typedef enum mm_key_type {
	MM_KEY_AES256_GCM = 0,
	MM_KEY_HMAC_SHA256,
	MM_KEY_ED25519,
	MM_KEY_ECDSA_P256,
	MM_KEY__COUNT
} mm_key_type;

/* "aes256-gcm", "hmac-sha256", "ed25519", "ecdsa-p256". */
const char *mm_key_type_name(mm_key_type t);
/* Errors: MM_ERR_INVALID naming the accepted types. */
mm_err mm_key_type_parse(const char *s, mm_key_type *ret);

/* Key names: 1 to 128 characters of [A-Za-z0-9._-], not starting with '.'
 * or '-'. Errors: MM_ERR_INVALID. */
mm_err mm_keys_name_check(const char *name);

/* Largest plaintext, message or ciphertext accepted by one operation. */
#define MM_KEYS_MAX_INPUT (16u << 20)
/* Largest batch. */
#define MM_KEYS_MAX_BATCH 1024
/* Shortest auto-rotation period (1 hour). */
#define MM_KEYS_MIN_ROTATE_MS (3600LL * 1000)

/*
 * Per-key policy: a JSON object mapping an operation to the roles allowed to
 * use it, e.g. {"encrypt": ["app-billing"], "decrypt": ["app-billing",
 * "auditor"], "read": ["*"]}. Operations: encrypt decrypt rewrap datakey hmac
 * sign verify export read rotate config destroy delete. "*" allows every role;
 * an operation the policy does not mention is governed by the global
 * permission alone. mamori stores the policy; the API layer enforces it with
 * mm_keys_policy_check() after its global permission check.
 */
mm_err mm_keys_policy_validate(const json_t *policy);

typedef struct mm_keys_create_opts {
	mm_key_type type;
	bool exportable;         /* material may be exported (cannot be undone) */
	bool deletion_allowed;   /* the key may be deleted with mm_keys_delete */
	int64_t auto_rotate_ms;  /* 0 = off, else >= MM_KEYS_MIN_ROTATE_MS */
	const json_t *policy;    /* NULL = {} */
} mm_keys_create_opts;

/* Creates a key with version 1. Errors: MM_ERR_SEALED, MM_ERR_INVALID,
 * MM_ERR_EXISTS, MM_ERR_STORE, MM_ERR_CRYPTO. */
mm_err mm_keys_create(mm_keys *k, const mm_keys_caller *who, const char *name,
		      const mm_keys_create_opts *o);

/* Adds version latest+1 and makes it the latest. *ret_version may be NULL.
 * Errors: MM_ERR_SEALED, MM_ERR_NOT_FOUND, MM_ERR_STORE, MM_ERR_CRYPTO. */
mm_err mm_keys_rotate(mm_keys *k, const mm_keys_caller *who, const char *name,
		      int64_t *ret_version);

/* Settings to change: each has a set_ flag. */
typedef struct mm_keys_config {
	bool set_min_decryption_version;
	int64_t min_decryption_version;   /* 1..latest */
	bool set_auto_rotate;
	int64_t auto_rotate_ms;           /* 0 = off */
	bool set_exportable;
	bool exportable;                  /* true only: never back to false */
	bool set_deletion_allowed;
	bool deletion_allowed;
	bool set_disabled;
	bool disabled;                    /* a disabled key refuses every operation */
	bool set_policy;
	const json_t *policy;
} mm_keys_config;

/* Errors: MM_ERR_SEALED, MM_ERR_NOT_FOUND, MM_ERR_INVALID (out of range,
 * exportable back to false), MM_ERR_STORE. */
mm_err mm_keys_configure(mm_keys *k, const mm_keys_caller *who, const char *name,
			 const mm_keys_config *c);

/* Destroys the material of the given versions (crypto-shredding). The
 * latest version cannot be destroyed (rotate first); destroying a destroyed
 * version is a no-op. Errors: MM_ERR_SEALED, MM_ERR_NOT_FOUND,
 * MM_ERR_INVALID (unknown version, the latest), MM_ERR_STORE. */
mm_err mm_keys_destroy_versions(mm_keys *k, const mm_keys_caller *who, const char *name,
				const int64_t *versions, size_t n);

/* Deletes a key and shreds all its versions; the key must have
 * deletion_allowed. Errors: MM_ERR_SEALED, MM_ERR_NOT_FOUND,
 * MM_ERR_CONFLICT (deletion not allowed), MM_ERR_STORE. */
mm_err mm_keys_delete(mm_keys *k, const mm_keys_caller *who, const char *name);

typedef struct mm_keys_version_info {
	int64_t version;
	int64_t created_ms;
	int64_t destroyed_ms;    /* 0 unless destroyed */
	char *public_key;        /* ed25519: base64 of 32 bytes; ecdsa-p256: PEM; else NULL */
} mm_keys_version_info;

typedef struct mm_keys_info {
	char *name;
	mm_key_type type;
	int64_t latest;
	int64_t min_decryption_version;
	bool exportable, deletion_allowed, disabled;
	int64_t auto_rotate_ms;
	int64_t created_ms, updated_ms, rotated_ms;
	json_t *policy;          /* owned */
	mm_keys_version_info *versions;
	size_t nversions;
} mm_keys_info;

/* Reads a key's metadata (never material). Works sealed too (public data).
 * Not audited: the API layer audits reads it wants recorded.
 * Release with mm_keys_info_release. Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE,
 * MM_ERR_NOMEM. */
mm_err mm_keys_show(mm_keys *k, const char *name, mm_keys_info *ret);
void mm_keys_info_release(mm_keys_info *info);
/* JSON form of info for the API (caller owns). NULL when out of memory. */
json_t *mm_keys_info_json(const mm_keys_info *info);

/* Lists keys as a JSON array of {"name","type","latest_version"} sorted by
 * name (caller owns). Errors: MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_keys_list(mm_keys *k, json_t **ret);

/* Checks op on key name against the key's policy: MM_OK when the policy
 * lists op with "*" or one of roles, or does not mention op at all (then the
 * route's global permission decides alone); MM_ERR_FORBIDDEN when it lists op
 * but none of roles. Roles get no exemption (an administrator must be
 * listed too). Errors: MM_ERR_NOT_FOUND, MM_ERR_INVALID (unknown op),
 * MM_ERR_STORE. Works sealed (reads the stored policy). */
mm_err mm_keys_policy_check(mm_keys *k, const char *name, const char *op,
			    const char *const *roles, size_t nroles);

/* ---- operations ---- */

typedef enum mm_keys_op {
	MM_KEYS_OP_ENCRYPT = 0,  /* input plaintext -> output "mamori:v..." */
	MM_KEYS_OP_DECRYPT,      /* input ciphertext -> output plaintext */
	MM_KEYS_OP_REWRAP,       /* input ciphertext -> output ciphertext under latest */
	MM_KEYS_OP_DATAKEY,      /* no input -> output ciphertext of a new 256-bit key,
				    plaintext of it in aux when requested */
	MM_KEYS_OP_HMAC,         /* input message -> output "mamori:v...:<mac>" */
	MM_KEYS_OP_SIGN,         /* input message -> output "mamori:v...:<sig>" */
	MM_KEYS_OP_VERIFY,       /* input message + proof (MAC or signature) -> MM_OK or MM_ERR_VERIFY */
	MM_KEYS_OP__COUNT
} mm_keys_op;

/* "encrypt", "decrypt", ... (the policy operation names). */
const char *mm_keys_op_name(mm_keys_op op);

typedef struct mm_keys_item {
	/* in */
	const void *input;       /* plaintext, ciphertext or message */
	size_t input_len;
	const void *context;     /* AES-GCM additional data; NULL = none */
	size_t context_len;
	const char *proof;       /* VERIFY: "mamori:v<n>:<base64>" MAC or signature */
	size_t proof_len;
	int64_t version;         /* ENCRYPT, DATAKEY, HMAC, SIGN: 0 = latest */
	/* out: the caller initialises output (and aux) with a limit */
	mm_err result;
	mm_buf output;           /* ciphertext, plaintext, MAC or signature text */
	mm_buf aux;              /* DATAKEY with want_plaintext: the raw key */
	int64_t used_version;    /* the key version the item used, 0 if none */
	char detail[160];        /* why result is not MM_OK ("" when it is) */
} mm_keys_item;

typedef struct mm_keys_op_opts {
	mm_sig_format sig_format; /* ecdsa-p256: DER (default) or raw r||s */
	bool want_plaintext;      /* DATAKEY: also return the key in aux */
} mm_keys_op_opts;

/*
 * Runs op on each of n items (1..MM_KEYS_MAX_BATCH) with key name and
 * records one audit event for the batch. Each item gets its own result; the
 * return value is MM_OK when the call itself worked (look at each item's
 * result), or the error that stopped all items (MM_ERR_SEALED,
 * MM_ERR_NOT_FOUND, MM_ERR_CONFLICT for a disabled key, MM_ERR_INVALID for a
 * wrong key type or batch size, MM_ERR_STORE when the audit failed: then
 * every output is wiped). Outputs of failed items are empty; a decrypted
 * plaintext is in output only when the item's result is MM_OK.
 */
mm_err mm_keys_batch(mm_keys *k, const mm_keys_caller *who, const char *name, mm_keys_op op,
		     const mm_keys_op_opts *opts, mm_keys_item *items, size_t n);

/* Called once when a queued batch is complete: rc and detail as
 * mm_keys_batch would return them (detail NULL when rc is MM_OK). */
typedef void (*mm_keys_done_fn)(mm_err rc, const char *detail, void *arg);

/*
 * mm_keys_batch for callers that must not block (HTTP event loops): the
 * cryptography runs now on the calling thread; the audit event is queued on
 * the store's writer (group commit) and done(rc, detail, arg) is called
 * exactly once, on the writer thread (or on this thread if the store refused
 * the job), after the event committed. If it did not, every output is wiped
 * and rc is MM_ERR_STORE, as in mm_keys_batch. who, name, opts and items
 * (with their inputs and buffers) must stay valid until done is called.
 */
void mm_keys_batch_async(mm_keys *k, const mm_keys_caller *who, const char *name, mm_keys_op op,
			 const mm_keys_op_opts *opts, mm_keys_item *items, size_t n,
			 mm_keys_done_fn done, void *arg);

/* Single-item forms. Each appends its output to out and returns the item's
 * result (or the call's error). */
mm_err mm_keys_encrypt(mm_keys *k, const mm_keys_caller *who, const char *name,
		       const void *pt, size_t n, const void *ctx, size_t ctx_len, mm_buf *out);
mm_err mm_keys_decrypt(mm_keys *k, const mm_keys_caller *who, const char *name,
		       const char *ct, size_t n, const void *ctx, size_t ctx_len, mm_buf *out);
mm_err mm_keys_rewrap(mm_keys *k, const mm_keys_caller *who, const char *name,
		      const char *ct, size_t n, const void *ctx, size_t ctx_len, mm_buf *out);
/* plaintext_out NULL: only the wrapped key is returned. */
mm_err mm_keys_datakey(mm_keys *k, const mm_keys_caller *who, const char *name,
		       const void *ctx, size_t ctx_len, mm_buf *wrapped_out, mm_buf *plaintext_out);
mm_err mm_keys_hmac(mm_keys *k, const mm_keys_caller *who, const char *name,
		    const void *msg, size_t n, mm_buf *out);
mm_err mm_keys_sign(mm_keys *k, const mm_keys_caller *who, const char *name,
		    const void *msg, size_t n, mm_sig_format fmt, mm_buf *out);
/* MAC (hmac-sha256 keys) or signature (ed25519, ecdsa-p256) check.
 * Errors: MM_ERR_VERIFY, MM_ERR_INVALID, ... */
mm_err mm_keys_verify(mm_keys *k, const mm_keys_caller *who, const char *name,
		      const void *msg, size_t n, const char *proof, size_t proof_len,
		      mm_sig_format fmt);

/* Appends base64 of the material of `version` (0 = latest) to out when the
 * key is exportable. Audited as "keys.export". Errors: MM_ERR_FORBIDDEN (not
 * exportable), MM_ERR_SEALED, MM_ERR_NOT_FOUND, MM_ERR_INVALID (version). */
mm_err mm_keys_export(mm_keys *k, const mm_keys_caller *who, const char *name,
		      int64_t version, mm_buf *out);

/*
 * Auto-rotation, called by the daemon's timer: rotates every key whose
 * auto_rotate period has passed since its last rotation (actor "system").
 * *ret_rotated (may be NULL) counts them. Errors: MM_ERR_SEALED (nothing
 * done), MM_ERR_STORE (some keys may have rotated).
 */
mm_err mm_keys_tick(mm_keys *k, int64_t now_ms, size_t *ret_rotated);

/* The CRYPTREC algorithm list as JSON for GET /v1/keys/algorithms (caller
 * owns). NULL when out of memory. */
json_t *mm_keys_algorithms_json(void);

#endif
