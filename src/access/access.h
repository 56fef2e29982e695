/*
 * access.h: who is calling and what they may do.
 *
 * Authentication turns a bearer token into an mm_principal; authorization
 * answers whether a principal holds a permission. Tokens are 256-bit random
 * values shown once; only their SHA-256 is stored, so a copy of the database
 * does not hold usable credentials.
 *
 * Permissions are dotted names ("audit.read"); roles are named sets of
 * permissions. Built-in roles: admin, approver, operator, auditor; custom
 * roles come from `[role.NAME]` tables in the configuration. Every
 * permission a route may require must be in mm_access_permissions, so a
 * typo in a route table is caught at start-up and by the authorization
 * matrix test.
 *
 * Besides tokens, this module holds users (Argon2id passwords, TOTP second
 * factor, recovery codes, source-address allowlists), interactive sessions
 * (login with throttling and lockout; idle and absolute timeouts), the
 * account inventory (棚卸) and just-in-time access: targets with per-role
 * policies, requests, N-of-M approvals, grants that end on time, work
 * reports, break-glass and webhook notifications. See docs/access.md.
 *
 * Secrets at rest: token and recovery-code hashes (SHA-256 of 256/80-bit
 * random values), password hashes (Argon2id PHC strings), TOTP secrets
 * sealed by the injected mm_access_sealer (the key module's barrier).
 * Nothing secret is ever logged, audited or put into an error detail.
 */
#ifndef MM_ACCESS_ACCESS_H
#define MM_ACCESS_ACCESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

#define MM_NAME_MAX 64
#define MM_ROLES_MAX 256

typedef enum mm_principal_kind {
	MM_PRINCIPAL_NONE = 0,
	MM_PRINCIPAL_USER,      /* a user's API token or session */
	MM_PRINCIPAL_BOOTSTRAP, /* the one-time first-run token */
} mm_principal_kind;

typedef struct mm_principal {
	mm_principal_kind kind;
	int64_t user_id;
	char name[MM_NAME_MAX + 1];
	char roles[MM_ROLES_MAX + 1];   /* effective roles, comma-separated: the
					 * user's roles minus those whose allowlist
					 * excludes the source address */
	char token_id[33];              /* public id of the token (not the secret) */
	int64_t expires_ms;
	bool session;                   /* an interactive login session */
	bool mfa;                       /* signed in with a second factor */
	bool restricted;                /* may only enrol TOTP, change the
					 * password, whoami and log out */
} mm_principal;

typedef struct mm_access mm_access;

/* Every permission a route may declare (NULL-terminated). */
extern const char *const mm_access_permissions[];
/* The built-in roles (NULL-terminated). */
extern const char *const mm_access_builtin_roles[];

extern const mm_migration_set mm_access_migrations;

/* Creates the module over an open, migrated store. cfg must outlive it.
 * Errors: MM_ERR_CONFIG (a custom role names an unknown permission),
 * MM_ERR_NOMEM. */
mm_err mm_access_open(mm_store *store, const mm_config *cfg, mm_access **ret);
void mm_access_free(mm_access *a);

bool mm_access_is_permission(const char *perm);
/* True when name is a built-in or configured role. */
bool mm_access_is_role(const mm_access *a, const char *name);
/* True when principal p holds permission perm through one of its roles. */
bool mm_access_permits(const mm_access *a, const mm_principal *p, const char *perm);
/* True when a role's permissions include perm (for the authorization matrix). */
bool mm_access_role_permits(const mm_access *a, const char *role, const char *perm);

/* Resolves a bearer token presented from address source ("192.0.2.1",
 * "2001:db8::1"). Sessions past their idle or absolute timeout, tokens of
 * disabled users and callers outside the user's allowlist are refused;
 * roles whose allowlist excludes source are dropped from ret->roles.
 * Errors: MM_ERR_UNAUTHENTICATED (one message for every reason, so callers
 * learn nothing), MM_ERR_STORE. */
mm_err mm_access_authenticate(mm_access *a, const char *token, const char *source,
			      mm_principal *ret);

/* True when a role can approve or hold privileged access (admin, a custom
 * role marked privileged, or a role with an approving or administrative
 * permission): its holders must use TOTP. */
bool mm_access_role_requires_mfa(const mm_access *a, const char *role);
/* The same for a comma-separated role list. */
bool mm_access_roles_require_mfa(const mm_access *a, const char *roles);
/* True when a role is standing privilege (admin or a custom role marked
 * privileged), for the account inventory. */
bool mm_access_role_is_privileged(const mm_access *a, const char *role);

/* The sealer for secrets at rest (TOTP secrets). wrap appends the sealed
 * form of pt to out, bound to `context` (used as associated data, so a
 * sealed value cannot be moved to another user); unwrap reverses it,
 * appending the plaintext (the caller wipes it). Errors of either:
 * MM_ERR_SEALED (no key in memory), MM_ERR_VERIFY (tampered), MM_ERR_CRYPTO. */
typedef struct mm_access_sealer {
	mm_err (*wrap)(void *ctx, const char *context, const uint8_t *pt, size_t n, mm_buf *out);
	mm_err (*unwrap)(void *ctx, const char *context, const uint8_t *in, size_t n,
			 mm_buf *out);
	/* True while secrets can be protected (the key manager is unsealed);
	 * NULL means always. TOTP is enforced at sign-in for roles that require
	 * it only then: before the first seal initialisation nothing could hold
	 * a TOTP secret and the first administrator must be able to initialise
	 * the seal; while sealed only the seal routes are served anyway.
	 * Requesting and approving access always need TOTP. */
	bool (*available)(void *ctx);
	void *ctx;
} mm_access_sealer;

/* True when TOTP is enforced at sign-in now (a sealer is installed and
 * available). */
bool mm_access_mfa_enforced(const mm_access *a);

/* Installs the sealer (copied); call before serving. Without one, TOTP
 * enrolment and verification fail with MM_ERR_SEALED and TOTP is not
 * enforced at sign-in (but still required to request or approve access). */
void mm_access_set_sealer(mm_access *a, const mm_access_sealer *s);

/* True once the first administrator exists. Errors: MM_ERR_STORE. */
mm_err mm_access_initialized(mm_access *a, bool *ret);

/* On a store without administrators, issues a new bootstrap token (any
 * earlier unused one is revoked), valid for cfg->bootstrap_ttl_ms, and
 * writes it to ret_token (shown once; the caller wipes it). On an
 * initialised store writes nothing and returns MM_ERR_CONFLICT.
 * Errors: MM_ERR_CONFLICT, MM_ERR_STORE. */
mm_err mm_access_bootstrap_issue(mm_access *a, mm_buf *ret_token);

/* Request context for audit records. */
typedef struct mm_access_ctx {
	const mm_principal *who;
	const char *source;
	const char *request_id;
} mm_access_ctx;

/* Consumes the bootstrap token in ctx->who (single use) and creates the
 * first administrator `name` with `password` (policy-checked), returning a
 * session in ret_token. Administrators must use TOTP: once the seal is
 * initialised the session is restricted to enrolment until a code confirms
 * it (see mm_access_sealer.available).
 * Errors: MM_ERR_FORBIDDEN (not a bootstrap principal), MM_ERR_CONFLICT
 * (already initialised or token already used), MM_ERR_INVALID (bad name or
 * password), MM_ERR_STORE. */
mm_err mm_access_init_admin(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    const char *password, mm_buf *ret_token);

/* Creates an API token for the calling user (ttl_ms 0 = configured default,
 * capped by it); it carries the caller's MFA state. ret_id receives the
 * public token id. Errors: MM_ERR_FORBIDDEN (not a user, or a restricted
 * session), MM_ERR_INVALID, MM_ERR_STORE. */
mm_err mm_access_token_create(mm_access *a, const mm_access_ctx *ctx, int64_t ttl_ms,
			      mm_buf *ret_token, char ret_id[33]);

/* Revokes the token used by ctx->who (logout). Errors: MM_ERR_STORE. */
mm_err mm_access_token_revoke_self(mm_access *a, const mm_access_ctx *ctx);

/* Validates a user or role name: 1..64 of [a-z0-9._-], starting alphanumeric.
 * Errors: MM_ERR_INVALID. */
mm_err mm_access_check_name(const char *what, const char *name);

/* The store and config the module was opened with (for sibling files). */
mm_store *mm_access_store(mm_access *a);
const mm_config *mm_access_config(const mm_access *a);

/* ---- sessions ---- */

typedef struct mm_access_login {
	const char *user;
	const char *password;
	const char *totp;           /* 6 digits, or NULL */
	const char *recovery_code;  /* instead of totp, or NULL */
	const char *source;         /* client address */
	const char *request_id;
} mm_access_login;

typedef struct mm_access_session {
	char user[MM_NAME_MAX + 1];
	bool restricted;            /* TOTP enrolment still required */
	bool mfa;
	int64_t expires_ms;         /* absolute timeout */
	int64_t idle_ms;
	int recovery_codes_left;    /* when a recovery code was used, else -1 */
} mm_access_session;

/* Signs a user in with password and TOTP code (or a recovery code) and
 * issues a new session token (256-bit, only its SHA-256 stored) into
 * ret_token. Blocks for one Argon2id computation (tens of ms): call it off
 * the event loop. Unknown users are verified against a dummy hash, so they
 * cost the same time and get the same error. Every outcome is audited with
 * the source address. A user whose roles require TOTP but who has not
 * enrolled gets a restricted session.
 * Errors: MM_ERR_UNAUTHENTICATED ("invalid user name, password or code" for
 * every reason), MM_ERR_RATE_LIMITED (account or source locked out;
 * *ret_retry_ms says for how long), MM_ERR_INVALID (malformed input),
 * MM_ERR_STORE. */
mm_err mm_access_login_run(mm_access *a, const mm_access_login *in, mm_buf *ret_token,
			   mm_access_session *ret, int64_t *ret_retry_ms);

/* Changes the caller's own password (current one required, new one
 * policy-checked) and ends every session and token of the user.
 * Errors: MM_ERR_UNAUTHENTICATED (wrong current password), MM_ERR_INVALID,
 * MM_ERR_FORBIDDEN, MM_ERR_STORE. */
mm_err mm_access_password_change(mm_access *a, const mm_access_ctx *ctx, const char *current,
				 const char *new_password);

/* Starts TOTP enrolment for the caller: a fresh 160-bit secret, sealed and
 * kept pending until confirmed. When TOTP is already active, `code` (the
 * current code) is required. *ret receives {otpauth_uri, secret, qr}
 * (qr: the QR code as terminal text); the caller owns it.
 * Errors: MM_ERR_SEALED, MM_ERR_FORBIDDEN, MM_ERR_VERIFY, MM_ERR_STORE. */
mm_err mm_access_mfa_enroll(mm_access *a, const mm_access_ctx *ctx, const char *code,
			    json_t **ret);

/* Confirms the pending enrolment with a first code: TOTP becomes active,
 * ten one-time recovery codes are issued (returned once, stored hashed) and
 * a restricted session becomes a full one. *ret: {recovery_codes: [...]}.
 * Errors: MM_ERR_CONFLICT (nothing pending), MM_ERR_VERIFY (wrong code),
 * MM_ERR_SEALED, MM_ERR_STORE. */
mm_err mm_access_mfa_confirm(mm_access *a, const mm_access_ctx *ctx, const char *code,
			     json_t **ret);

/* ---- users (user.read / user.admin / user.review) ---- */

typedef struct mm_access_user_spec {
	const char *name;
	const json_t *roles;        /* array of role names, or NULL (unchanged) */
	const char *password;       /* NULL: unchanged (create: required) */
	const json_t *allow_cidrs;  /* array of CIDR strings, or NULL */
} mm_access_user_spec;

/* Creates a user. Roles that are only granted just-in-time (named by a
 * target policy) are refused. *ret: the user as JSON.
 * Errors: MM_ERR_INVALID, MM_ERR_EXISTS, MM_ERR_STORE. */
mm_err mm_access_user_create(mm_access *a, const mm_access_ctx *ctx,
			     const mm_access_user_spec *spec, json_t **ret);
/* Changes roles and/or the allowlist. Errors: as create, MM_ERR_NOT_FOUND. */
mm_err mm_access_user_update(mm_access *a, const mm_access_ctx *ctx,
			     const mm_access_user_spec *spec, json_t **ret);
/* Disables (ending every session and token at once) or enables a user.
 * An administrator cannot disable themself. Errors: MM_ERR_NOT_FOUND,
 * MM_ERR_CONFLICT, MM_ERR_STORE. */
mm_err mm_access_user_set_disabled(mm_access *a, const mm_access_ctx *ctx, const char *name,
				   bool disabled, json_t **ret);
/* Sets a new password for another user (administrator reset); ends the
 * user's sessions. Errors: MM_ERR_INVALID, MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_access_user_set_password(mm_access *a, const mm_access_ctx *ctx, const char *name,
				   const char *password);
/* Removes a user's TOTP and recovery codes (lost device) and ends their
 * sessions; they must enrol again at the next login. */
mm_err mm_access_user_reset_mfa(mm_access *a, const mm_access_ctx *ctx, const char *name);
/* One user / all users as JSON (no secrets). Errors: MM_ERR_NOT_FOUND,
 * MM_ERR_STORE. */
mm_err mm_access_user_get(mm_access *a, const char *name, json_t **ret);
mm_err mm_access_user_list(mm_access *a, json_t **ret);

/* The account inventory: every account with roles, MFA state, last login,
 * active grants, dormant flag (no login for identity.dormant_days) and
 * standing-privilege flag, with totals and the last recorded review. */
mm_err mm_access_inventory(mm_access *a, json_t **ret);
/* Records that the caller reviewed the inventory (with a note); audited.
 * Errors: MM_ERR_INVALID, MM_ERR_STORE. */
mm_err mm_access_inventory_review(mm_access *a, const mm_access_ctx *ctx, const char *note,
				  json_t **ret);
mm_err mm_access_inventory_reviews(mm_access *a, json_t **ret);

/* ---- just-in-time access ---- */

/* Grant states (stored as these strings). */
typedef enum mm_grant_state {
	MM_GRANT_PENDING = 0,
	MM_GRANT_APPROVED,   /* approved, start in the future */
	MM_GRANT_ACTIVE,
	MM_GRANT_DENIED,
	MM_GRANT_EXPIRED,    /* not reviewed in time */
	MM_GRANT_CANCELLED,
	MM_GRANT_ENDED,
	MM_GRANT_REVOKED,
	MM_GRANT__COUNT
} mm_grant_state;

typedef enum mm_grant_event {
	MM_GEV_APPROVE = 0,  /* the last required approval arrived */
	MM_GEV_DENY,
	MM_GEV_EXPIRE,
	MM_GEV_CANCEL,
	MM_GEV_ACTIVATE,     /* start time reached */
	MM_GEV_END,          /* end time reached */
	MM_GEV_REVOKE,
	MM_GEV__COUNT
} mm_grant_event;

const char *mm_grant_state_name(mm_grant_state s);
/* Errors: MM_ERR_INVALID for an unknown name. */
mm_err mm_grant_state_parse(const char *name, mm_grant_state *ret);
/* The state machine: the state after event in state from.
 * Errors: MM_ERR_CONFLICT (event not allowed in that state). */
mm_err mm_grant_transition(mm_grant_state from, mm_grant_event ev, mm_grant_state *ret);

/* Targets: {description, actions: [...], roles: [{role, approver_role,
 * approvals, max_duration, report_required}]}. Targets from the
 * configuration are read-only. */
mm_err mm_access_target_list(mm_access *a, json_t **ret);
mm_err mm_access_target_get(mm_access *a, const char *name, json_t **ret);
/* Errors: MM_ERR_INVALID, MM_ERR_CONFLICT (defined in the configuration),
 * MM_ERR_STORE. */
mm_err mm_access_target_put(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    const json_t *spec, json_t **ret);
mm_err mm_access_target_delete(mm_access *a, const mm_access_ctx *ctx, const char *name);

typedef struct mm_access_request {
	const char *target;
	const char *role;
	const char *reason;
	const char *ticket;    /* may be NULL */
	int64_t start_ms;      /* 0 = now */
	int64_t duration_ms;
	bool breakglass;       /* only the configured break-glass user */
} mm_access_request;

/* Files a request for the caller (who must have signed in with TOTP).
 * Duration is capped by the policy and access.max_grant (longer is
 * refused). A break-glass request by the configured account is granted at
 * once, marked, audited and notified. *ret: the request as JSON.
 * Errors: MM_ERR_INVALID, MM_ERR_NOT_FOUND (target/role), MM_ERR_FORBIDDEN,
 * MM_ERR_CONFLICT (an open request for the same target and role exists),
 * MM_ERR_STORE. */
mm_err mm_access_request_create(mm_access *a, const mm_access_ctx *ctx,
				const mm_access_request *req, json_t **ret);

typedef enum mm_access_filter {
	MM_FILTER_ALL = 0,
	MM_FILTER_PENDING,
	MM_FILTER_ACTIVE,
	MM_FILTER_UNCONFIRMED, /* report required and missing or unconfirmed */
} mm_access_filter;

/* Lists requests; callers who cannot approve or audit see only their own. */
mm_err mm_access_request_list(mm_access *a, const mm_access_ctx *ctx, mm_access_filter f,
			      json_t **ret);
mm_err mm_access_request_get(mm_access *a, const mm_access_ctx *ctx, int64_t id, json_t **ret);

/* Decisions. approve: the caller must hold the policy's approver role, have
 * signed in with TOTP and not be the requester; one person counts once; the
 * last required approval makes the grant approved/active. deny ends the
 * request. Errors: MM_ERR_FORBIDDEN, MM_ERR_CONFLICT (wrong state, expired,
 * already approved by the caller), MM_ERR_NOT_FOUND, MM_ERR_STORE. */
mm_err mm_access_request_approve(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				 const char *comment, json_t **ret);
mm_err mm_access_request_deny(mm_access *a, const mm_access_ctx *ctx, int64_t id,
			      const char *reason, json_t **ret);
/* By the requester, while pending or approved but not yet started. */
mm_err mm_access_request_cancel(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				json_t **ret);
/* Ends an approved or active grant early: by the requester, an eligible
 * approver or a holder of access.admin. */
mm_err mm_access_request_revoke(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				const char *reason, json_t **ret);
/* Work report (作業報告) by the requester once access began; confirmation by
 * an eligible approver other than the requester. */
mm_err mm_access_request_report(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				const char *text, json_t **ret);
mm_err mm_access_request_confirm(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				 json_t **ret);
/* Access decisions recorded under a grant. */
mm_err mm_access_request_operations(mm_access *a, const mm_access_ctx *ctx, int64_t id,
				    json_t **ret);

typedef struct mm_access_decision {
	bool allowed;
	int64_t grant_id;          /* 0 when no grant applies */
	int64_t remaining_ms;
	bool breakglass;
	char role[MM_NAME_MAX + 1];
	char reason[128];
	int64_t audit_seq;
} mm_access_decision;

typedef void (*mm_access_check_done)(mm_err rc, const char *detail,
				     const mm_access_decision *d, void *arg);

/* Decides whether `user` may perform `action` on `target` now (an active
 * grant whose role allows the action), then records the decision in the
 * audit log (with the grant id) without blocking: done() runs on the store's
 * writer thread once the record is durable, with rc != MM_OK if it is not
 * (the caller must then treat the decision as denied). client_source, when
 * given, is checked against the user's allowlist. ctx and the strings must
 * stay valid until done() runs. Errors (synchronous, done not called):
 * MM_ERR_INVALID, MM_ERR_STORE, MM_ERR_UNAVAILABLE. */
mm_err mm_access_check(mm_access *a, const mm_access_ctx *ctx, const char *user,
		       const char *target, const char *action, const char *client_source,
		       mm_access_check_done done, void *arg);

/* Periodic work (every 200 ms from the daemon): expires unreviewed
 * requests, activates approved grants whose start came, ends grants whose
 * end passed (each transition audited). Errors: MM_ERR_STORE. */
mm_err mm_access_tick(mm_access *a);

/* Lines for the daemon's start-up banner. */
void mm_access_banner(mm_access *a, FILE *f);

/* Registers the access module's evidence checks (access.*, identity.*:
 * see evidence.c) for the FISC response table; a was opened by
 * mm_access_open and must outlive the checks' use. Errors: as
 * mm_evidence_register. */
mm_err mm_access_register_checks(mm_access *a);

#endif
