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
 */
#ifndef MM_AUDIT_AUDIT_H
#define MM_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdint.h>

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
} mm_audit_event;

/* Migrations of the audit tables, for mm_store_migrate(). */
extern const mm_migration_set mm_audit_migrations;

/* Appends ev. Must run inside a store write job (db is the writer's
 * connection). On success *ret_seq (if not NULL) is the event's sequence
 * number. Errors: MM_ERR_INVALID (missing field, over-long value),
 * MM_ERR_STORE, MM_ERR_NOMEM. */
mm_err mm_audit_append(mm_db *db, const mm_audit_event *ev, int64_t *ret_seq);

#endif
