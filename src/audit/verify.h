/*
 * verify.h: export bundles and the offline verifier.
 *
 * A bundle (docs/audit.md, "Export bundle") is a JSON Lines file holding a
 * range of events, the signed checkpoints that cover them, the public keys
 * and the few tree hashes needed to connect a partial range to the signed
 * roots. The verifier recomputes every leaf hash and the tree from the
 * events, checks every checkpoint's signature and root, and optionally the
 * consistency with an older checkpoint kept elsewhere; it works on a bundle
 * or directly on a data directory's database opened read-only.
 *
 * The verifier trusts nothing it reads except the keys it is given (or, if
 * none, the keys found in the input, which the caller should then compare
 * with a fingerprint obtained out of band). Stored hashes (tiles, the
 * bundle's "leaf" fields) are used only to locate and explain a problem,
 * after they themselves have been checked against a signed root.
 */
#ifndef MM_AUDIT_VERIFY_H
#define MM_AUDIT_VERIFY_H

#include <stdint.h>

#include "audit/audit.h"

typedef enum mm_audit_problem {
	MM_AUDIT_INTACT = 0,
	MM_AUDIT_MODIFIED,        /* an event's content was changed */
	MM_AUDIT_MISSING,         /* events were deleted */
	MM_AUDIT_REORDERED,       /* events were moved */
	MM_AUDIT_INSERTED,        /* events were inserted */
	MM_AUDIT_TRUNCATED,       /* events at the end were removed (vs a checkpoint) */
	MM_AUDIT_BAD_CHECKPOINT,  /* a checkpoint is malformed or its signature fails */
	MM_AUDIT_HISTORY,         /* the log does not extend an older checkpoint */
	MM_AUDIT_INDEX,           /* the stored tree index disagrees with the events */
	MM_AUDIT_FORMAT,          /* the bundle is malformed */
} mm_audit_problem;

/* "intact", "modified", "missing", ... */
const char *mm_audit_problem_name(mm_audit_problem p);

/* Called about every 65536 events and at the end; total may be an estimate. */
typedef void (*mm_audit_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct mm_audit_verify_opts {
	/* An older signed checkpoint (note text) that the log must extend,
	 * e.g. one kept by a witness; NULL for none. */
	const char *older_checkpoint;
	/* Verifier keys ("name+id+base64") to trust, NULL-terminated; NULL to
	 * use the keys recorded in the input. */
	const char *const *trusted_vkeys;
	mm_audit_progress_fn progress;
	void *progress_ctx;
} mm_audit_verify_opts;

typedef struct mm_audit_verify_report {
	int64_t first_seq;        /* first event checked */
	int64_t events;           /* events checked */
	int64_t tree_size;        /* size of the recomputed tree */
	uint8_t root[32];         /* its root */
	int64_t checkpoints;      /* checkpoints verified (signature and root) */
	int64_t covered;          /* events up to here are under a verified checkpoint */
	char key[512];            /* verifier key of the (first) key used */
	bool keys_from_input;     /* no trusted key was given */
	mm_audit_problem problem;
	int64_t bad_seq;          /* first bad sequence number, -1 if none */
	char detail[512];
} mm_audit_verify_report;

/* Verifies a bundle file. Returns MM_OK when intact, MM_ERR_VERIFY when a
 * problem was found (report->problem, ->bad_seq, ->detail say which), or
 * MM_ERR_IO / MM_ERR_INVALID (bad options) / MM_ERR_NOMEM. */
mm_err mm_audit_verify_bundle(const char *path, const mm_audit_verify_opts *o,
			      mm_audit_verify_report *ret);

/* Verifies the database of a data directory, opened read-only (the daemon
 * may be running). Same results as mm_audit_verify_bundle; also
 * MM_ERR_STORE. */
mm_err mm_audit_verify_data_dir(const char *dir, const mm_audit_verify_opts *o,
				mm_audit_verify_report *ret);

/* Receives the bundle bytes. */
typedef mm_err (*mm_audit_write_fn)(void *ctx, const void *p, size_t n);

/* Writes a bundle of events [from, to) (to = 0: up to the current size)
 * from one consistent snapshot. Errors: MM_ERR_INVALID (range), the
 * writer's, MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_audit_export(mm_store *s, int64_t from, int64_t to, mm_audit_write_fn w, void *ctx);
/* Same, into a new file (mode 0600; refuses to overwrite). Errors: also
 * MM_ERR_EXISTS, MM_ERR_IO. */
mm_err mm_audit_export_file(mm_store *s, int64_t from, int64_t to, const char *path);

#endif
