/*
 * internal.h: state and helpers shared by the files of src/access only.
 *
 * Invariants:
 *  - mm_access fields set at open (store, cfg, roles, password policy,
 *    dummy hash) are read-only afterwards and need no lock.
 *  - The sealer is set once by the daemon before serving.
 *  - The target cache is swapped whole under `tlock`; readers copy what
 *    they need while holding the read lock.
 */
#ifndef MM_ACCESS_INTERNAL_H
#define MM_ACCESS_INTERNAL_H

#include <pthread.h>

#include "access/access.h"
#include "access/cidr.h"
#include "access/password.h"
#include "audit/audit.h"
#include "core/str.h"
#include "crypto/crypto.h"

struct custom_role {
	const char *name;
	const mm_config_item *perms;   /* NULL for a built-in role's table */
	bool builtin;                  /* [role.admin] etc.: only allow_cidrs */
	bool privileged;
	mm_cidr_list *cidrs;           /* NULL = no restriction */
};

typedef struct mm_throttle mm_throttle;
typedef struct mm_notifier mm_notifier;
struct target_set;

struct auth_cache;

struct mm_access {
	mm_store *store;
	struct auth_cache *cache;
	uint64_t auth_gen;             /* bumped after every commit that changes
					* users or tokens (atomic) */
	const mm_config *cfg;
	struct custom_role *custom;
	size_t ncustom;
	mm_password_policy *pw;
	char dummy_phc[MM_PHC_MAX];
	mm_access_sealer sealer;
	bool have_sealer;
	mm_throttle *throttle;
	pthread_rwlock_t tlock;
	struct target_set *targets;
	mm_notifier *notifier;
};

/* ---- identity.c ---- */
/* Runs a write job that changes users or tokens, then invalidates the
 * authentication cache (after the commit, before the caller replies). */
mm_err mm_access_write_auth(mm_access *a, mm_store_job_fn fn, void *arg);
/* Fills actor/source/request id of an audit event from ctx. actor is a
 * caller-provided buffer of at least MM_NAME_MAX + 8 bytes. */
void mm_access_event(mm_audit_event *ev, const mm_access_ctx *ctx, char *actor,
		     const char *action, const char *target, const char *result);
/* The custom/override entry for a role, or NULL. */
const struct custom_role *mm_access_role_entry(const mm_access *a, const char *role);
/* A role may be given to a user directly (not grant-only). */
bool mm_access_role_assignable(mm_access *a, const char *role);
/* Role list text → validated, deduplicated, canonical "a,b,c".
 * Errors: MM_ERR_INVALID naming the bad role. */
mm_err mm_access_roles_canon(mm_access *a, const json_t *arr, mm_buf *out);
/* Inserts a token row. */
mm_err mm_access_insert_token(mm_db *db, const char *token, const char *id, int64_t user_id,
			      const char *kind, const char *scope, bool mfa, int64_t expires_ms,
			      const char *source);
mm_err mm_access_new_token_id(char id[33]);
/* Revokes every token of a user. */
mm_err mm_access_revoke_user_tokens(mm_db *db, int64_t user_id);
/* Runs a single-row integer query "SELECT x ... WHERE a = ?" with one text
 * (when text != NULL) or integer parameter, or none when sql has no '?';
 * *ret untouched when there is no row. */
mm_err mm_access_query_int(mm_db *db, const char *sql, const char *text, int64_t num,
			   bool *ret_found, int64_t *ret);

/* ---- session.c ---- */
/* Policy-checks and sets a user's password, ending all their sessions and
 * tokens; audited as `action`. */
mm_err mm_access_set_password_for(mm_access *a, const mm_access_ctx *ctx, int64_t uid,
				  const char *name, const char *roles, const char *password,
				  const char *action);

/* ---- throttle.c: in-memory failure counters ---- */
mm_err mm_throttle_new(size_t cap, mm_throttle **ret);
void mm_throttle_free(mm_throttle *t);
/* Time until which key is locked (0 = not locked). */
int64_t mm_throttle_locked_until(mm_throttle *t, const char *key, int64_t now);
/* Records a failure: after `threshold` failures inside `window_ms` the key is
 * locked for base_ms, doubling with each further failure (capped at a day).
 * Returns the new locked-until time (0 when not locked). */
int64_t mm_throttle_fail(mm_throttle *t, const char *key, int64_t now, int64_t threshold,
			 int64_t base_ms, int64_t window_ms);
void mm_throttle_reset(mm_throttle *t, const char *key);
/* Lockout duration after `failures` (>= threshold) failures. */
int64_t mm_lockout_ms(int64_t failures, int64_t threshold, int64_t base_ms);

/* ---- mfa.c ---- */
/* Verifies a 6-digit TOTP code against the sealed secret of user uid at
 * time now (±1 step); returns the matched time step. Does not check
 * replay (the caller's job compares with mfa_last_step atomically).
 * Errors: MM_ERR_VERIFY, MM_ERR_SEALED, MM_ERR_CRYPTO. */
mm_err mm_mfa_verify(mm_access *a, int64_t uid, const void *sealed, size_t n,
		     const char *code, int64_t now_ms, int64_t *ret_step);
/* The SHA-256 lookup hash of a normalised recovery code (hex, 65 bytes). */
mm_err mm_mfa_recovery_hash(int64_t uid, const char *code, char out[MM_TOKEN_HASH_HEX]);

/* ---- targets.c ---- */
mm_err mm_targets_open(mm_access *a);
void mm_targets_free(mm_access *a);
/* Reloads the cache from config and database. */
mm_err mm_targets_reload(mm_access *a);
/* True when role is named by some target policy (grant-only). */
bool mm_targets_role_is_target_role(mm_access *a, const char *role);

typedef struct mm_policy {
	char role[MM_NAME_MAX + 1];
	char approver_role[MM_NAME_MAX + 1];
	int64_t approvals;
	int64_t max_ms;
	bool report_required;
} mm_policy;

/* Looks up target/role: *ret_policy is a copy. Errors: MM_ERR_NOT_FOUND
 * (no such target, or role not offered by it). */
mm_err mm_targets_policy(mm_access *a, const char *target, const char *role,
			 mm_policy *ret_policy);
/* Whether action is allowed on target for role (ROLE:ACTION or ACTION
 * entries; a target without actions allows any). Errors: MM_ERR_NOT_FOUND. */
mm_err mm_targets_action_allowed(mm_access *a, const char *target, const char *role,
				 const char *action, bool *ret);
mm_err mm_targets_exists(mm_access *a, const char *target, bool *ret);

/* ---- notify.c ---- */
mm_err mm_notifier_start(mm_access *a);
void mm_notifier_stop(mm_access *a);
/* Inside a write job: queues a webhook notification (no-op without a
 * webhook URL). body is borrowed. */
mm_err mm_notify_queue(mm_access *a, mm_db *db, const char *event, json_t *body);
/* Wakes the notifier after a commit. */
void mm_notify_kick(mm_access *a);

/* ---- grants.c ---- */
mm_err mm_grants_active_json(mm_access *a, mm_db *db, int64_t uid, json_t **ret);

#endif
