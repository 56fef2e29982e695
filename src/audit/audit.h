/*
 * audit.h: the append-only, tamper-evident audit log.
 *
 * Every state change in mamori calls mm_audit_append() inside the same store
 * write job as the change itself, so the change and its record commit
 * together or not at all (fail closed: if the append fails, the job fails and
 * the action is rolled back).
 *
 * Each event becomes one leaf of an RFC 9162 Merkle tree over its canonical
 * serialisation (see docs/audit.md). Sequence numbers start at 0 and are
 * dense: event N is leaf N.
 *
 * The tree itself is maintained by an mm_audit_log (mm_audit_open), which
 * registers a store group hook: once per group commit it hashes the group's
 * new events into the tree and stores the completed tiles in the same
 * transaction. Signed checkpoints (C2SP tlog-checkpoint notes, Ed25519) are
 * issued by mm_audit_checkpoint_now() / mm_audit_tick() and published to the
 * configured witnesses. Proofs and queries need only the store.
 */
#ifndef MM_AUDIT_AUDIT_H
#define MM_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/merkle.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

typedef struct mm_audit_event {
	int64_t time_ms;          /* 0 = now */
	const char *actor;        /* "user:alice", "system", "app:billing"; required */
	const char *action;       /* "user.create", "auth.login"; required */
	const char *target;       /* "user:bob"; may be NULL */
	const char *result;       /* "success", "failure", "denied"; required */
	const char *source;       /* client address; may be NULL */
	const char *request_id;   /* may be NULL */
	const json_t *details;    /* object or NULL; never secrets */
	const char *details_text; /* or details already made canonical by
	                           * mm_audit_details_text (then details is
	                           * ignored): lets a caller do it off the
	                           * writer thread */
} mm_audit_event;

/* The canonical text of a details object (compact, sorted keys), as an
 * event stores and hashes it; the caller frees *ret. Errors: MM_ERR_INVALID
 * (not serialisable, or longer than MM_AUDIT_MAX_DETAILS). */
mm_err mm_audit_details_text(const json_t *details, char **ret);

/* Limits, in bytes of UTF-8, checked by mm_audit_append. */
#define MM_AUDIT_MAX_NAME 256      /* actor, action, result */
#define MM_AUDIT_MAX_TEXT 1024     /* target, source, request_id */
#define MM_AUDIT_MAX_DETAILS 65536 /* details, as canonical JSON */
#define MM_AUDIT_MAX_BATCH 10000   /* events per mm_audit_submit / batch */

/* Migrations of the audit tables, for mm_store_migrate(). */
extern const mm_migration_set mm_audit_migrations;

/* Appends ev. Must run inside a store write job (db is the writer's
 * connection). On success *ret_seq (if not NULL) is the event's sequence
 * number. Errors: MM_ERR_INVALID (missing field, over-long value, text that
 * is not UTF-8 or has control characters, details not an object),
 * MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_audit_append(mm_db *db, const mm_audit_event *ev, int64_t *ret_seq);

/* Appends n events (1..MM_AUDIT_MAX_BATCH) with consecutive sequence numbers
 * inside a store write job; all or none (the caller's job fails). Errors as
 * mm_audit_append, naming the index of the bad event, and MM_ERR_LIMIT. */
mm_err mm_audit_append_batch(mm_db *db, const mm_audit_event *evs, size_t n,
			     int64_t *ret_first_seq);

/* ---- canonical form ---- */

/* One stored event: what is serialised and hashed. details is the exact
 * canonical JSON text recorded at append time (or NULL). */
typedef struct mm_audit_record {
	int64_t seq;
	int64_t time_ms;
	const char *actor;
	const char *action;
	const char *target;
	const char *result;
	const char *source;
	const char *request_id;
	const char *details;
	size_t details_len;
} mm_audit_record;

/* Appends the canonical serialisation of r (docs/audit.md, "Leaf format").
 * Errors: MM_ERR_LIMIT, MM_ERR_NOMEM (out's limit). */
mm_err mm_audit_serialise(const mm_audit_record *r, mm_buf *out);
/* leaf = SHA-256(0x00 || serialisation). Errors: MM_ERR_NOMEM. */
mm_err mm_audit_record_leaf(const mm_audit_record *r, uint8_t leaf[MM_MERKLE_HASH_LEN]);
/* A JSON string of the base64 of n bytes (hashes, roots: n small), or NULL
 * when out of memory. The caller owns the result. (bundle.c) */
json_t *mm_audit_b64_json(const uint8_t *p, size_t n);

/* JSON form of a record as returned by queries and written in bundles
 * (details parsed back into an object). Caller owns the result; NULL when
 * out of memory. */
json_t *mm_audit_record_json(const mm_audit_record *r);

/* ---- the log ---- */

typedef struct mm_audit_log mm_audit_log;

/* Signs msg with the checkpoint key; the signing key itself stays with the
 * key-management module. Must be thread-safe. Errors are passed through
 * (MM_ERR_SEALED when the key is not available). */
typedef mm_err (*mm_audit_sign_fn)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64]);

typedef struct mm_audit_signer {
	const char *key_name;     /* signed-note key name; NULL = the origin */
	uint8_t public_key[32];   /* Ed25519 public key of the signing key */
	mm_audit_sign_fn sign;
	void *ctx;                /* passed to sign; owned by the caller */
} mm_audit_signer;

typedef struct mm_audit_opts {
	const char *origin;              /* checkpoint origin line; required */
	int64_t checkpoint_interval_ms;  /* mm_audit_tick period; 0 = 10 s */
	const char *witness_file;        /* append each checkpoint here, or NULL */
	const char *witness_url;         /* POST each checkpoint here, or NULL */
	bool witness_syslog;             /* log each checkpoint to syslog */
	int64_t witness_timeout_ms;      /* HTTP timeout; 0 = 5 s */
} mm_audit_opts;

/* Opens the audit log over a migrated store: loads the tree, checks it
 * against the stored root, registers the group hook (call before writes
 * that append events start) and hashes any events not yet in the tree.
 * Strings in o are copied. The caller owns *ret and closes it with
 * mm_audit_close() before mm_store_close(). At most one log per store.
 * Errors: MM_ERR_VERIFY (the
 * stored tree does not match its root: run `mamori audit verify`),
 * MM_ERR_INVALID, MM_ERR_STORE, MM_ERR_NOMEM, MM_ERR_LIMIT (hooks). */
mm_err mm_audit_open(mm_store *s, const mm_audit_opts *o, mm_audit_log **ret);
/* Unregisters the hook (events appended later are hashed by the next
 * mm_audit_open) and frees log. NULL is allowed. */
void mm_audit_close(mm_audit_log *log);

/* Installs (copying the struct and key name, not ctx) or, with NULL,
 * removes the checkpoint signer; records a new public key in audit_keys
 * (a store write: never call it from inside a store job). The key-management
 * module calls it after unseal and with NULL on seal.
 * Errors: MM_ERR_INVALID (bad key name), MM_ERR_STORE. */
mm_err mm_audit_set_signer(mm_audit_log *log, const mm_audit_signer *signer);

/* Durably appends n events (1..MM_AUDIT_MAX_BATCH) in one store job and
 * returns the first sequence number; they are committed (fsync) before
 * this returns. Errors as mm_audit_append_batch, MM_ERR_STORE. */
mm_err mm_audit_submit(mm_audit_log *log, const mm_audit_event *evs, size_t n,
		       int64_t *ret_first_seq);

/* The committed tree size and root. */
void mm_audit_head(mm_audit_log *log, int64_t *ret_size, uint8_t root[MM_MERKLE_HASH_LEN]);

/* ---- checkpoints ---- */

typedef struct mm_audit_checkpoint {
	int64_t size;
	int64_t time_ms;
	uint8_t root[MM_MERKLE_HASH_LEN];
	char *note;               /* the signed note, owned */
} mm_audit_checkpoint;

void mm_audit_checkpoint_release(mm_audit_checkpoint *c);

/* Signs and stores a checkpoint of the current tree (unless the latest
 * checkpoint already has this size, which is then returned), then
 * publishes it to the witnesses (failures there are logged and counted,
 * not returned). ret may be NULL. Errors: MM_ERR_SEALED (no signer), the
 * signer's errors, MM_ERR_CRYPTO (the signature does not verify under the
 * signer's public key), MM_ERR_STORE. */
mm_err mm_audit_checkpoint_now(mm_audit_log *log, mm_audit_checkpoint *ret);

/* For the daemon's timer: issues a checkpoint when the tree grew and the
 * interval has elapsed since the last one. Does nothing without a signer.
 * May block for a witness HTTP request (bounded by witness_timeout_ms).
 * Errors: as mm_audit_checkpoint_now. */
mm_err mm_audit_tick(mm_audit_log *log, int64_t now_ms);

/* The latest stored checkpoint. Errors: MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_audit_latest_checkpoint(mm_store *s, mm_audit_checkpoint *ret);

/* The signing key as JSON {"key_name","public_key" (base64),"key_id"
 * (hex),"vkey","algorithm":"ed25519"}. Errors: MM_ERR_SEALED (no signer). */
mm_err mm_audit_public_key(mm_audit_log *log, json_t **ret);

typedef struct mm_audit_stats {
	uint64_t checkpoints;
	uint64_t witness_failures;
	int64_t tree_size;         /* events in the committed tree */
	int64_t indexed;           /* events [0, indexed) are in the query index */
	uint64_t index_failures;   /* index jobs that failed (each retried) */
	uint64_t index_read_events; /* events the index read back from the
	                             * database (after a start, a backlog or a
	                             * failure) rather than took from the writer */
} mm_audit_stats;
void mm_audit_get_stats(mm_audit_log *log, mm_audit_stats *ret);

/* Waits until the query index covers every event of the committed tree.
 * Queries are complete without it (they scan the events not yet indexed);
 * this is for tests, benchmarks and shutdown. Errors: MM_ERR_TIMEOUT. */
mm_err mm_audit_index_sync(mm_audit_log *log, int64_t timeout_ms);

/* ---- proofs (read-only; any thread) ---- */

/* Inclusion proof of event seq in the tree of size (0 = current), with the
 * leaf hash and root it leads to. Errors: MM_ERR_INVALID (seq >= size),
 * MM_ERR_NOT_FOUND (size larger than the tree), MM_ERR_STORE. */
mm_err mm_audit_inclusion_proof(mm_store *s, int64_t seq, int64_t size, mm_merkle_proof *ret,
				uint8_t leaf[MM_MERKLE_HASH_LEN], uint8_t root[MM_MERKLE_HASH_LEN]);
/* Consistency proof between tree sizes from <= to (to = 0: current), with
 * both roots. Errors: as mm_audit_inclusion_proof. */
mm_err mm_audit_consistency_proof(mm_store *s, int64_t from, int64_t to, mm_merkle_proof *ret,
				  uint8_t root1[MM_MERKLE_HASH_LEN],
				  uint8_t root2[MM_MERKLE_HASH_LEN]);
/* The root of the stored tree at any size <= the current one (0..). */
mm_err mm_audit_root_at(mm_store *s, int64_t size, uint8_t root[MM_MERKLE_HASH_LEN]);
/* The committed tree size as stored. Errors: MM_ERR_STORE. */
mm_err mm_audit_tree_size(mm_store *s, int64_t *ret);

/* ---- queries ---- */

typedef struct mm_audit_filter {
	int64_t seq_from;          /* inclusive; default 0 */
	int64_t seq_to;            /* inclusive; default INT64_MAX */
	int64_t time_from_ms;      /* inclusive; default INT64_MIN */
	int64_t time_to_ms;        /* inclusive; default INT64_MAX */
	const char *actor;         /* exact match, or NULL */
	const char *action;        /* exact match, or NULL */
	const char *target;        /* exact match, or NULL */
	int64_t cursor;            /* from a previous page's next cursor; 0 = start */
	int limit;                 /* 1..1000; default 100 */
} mm_audit_filter;

void mm_audit_filter_init(mm_audit_filter *f);

/* Events matching f in ascending seq order, as a JSON array of
 * mm_audit_record_json objects (caller owns). *ret_next is the cursor of
 * the next page, or -1 when there is none. Errors: MM_ERR_INVALID,
 * MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_audit_query(mm_store *s, const mm_audit_filter *f, json_t **ret_events,
		      int64_t *ret_next);

#endif
