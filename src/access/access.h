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
 */
#ifndef MM_ACCESS_ACCESS_H
#define MM_ACCESS_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

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
	char roles[MM_ROLES_MAX + 1];   /* comma-separated role names */
	char token_id[33];              /* public id of the token (not the secret) */
	int64_t expires_ms;
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

/* Resolves a bearer token. Errors: MM_ERR_UNAUTHENTICATED (unknown, expired,
 * revoked, or user disabled: one message for all, so callers learn nothing),
 * MM_ERR_STORE. */
mm_err mm_access_authenticate(mm_access *a, const char *token, mm_principal *ret);

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
 * first administrator `name`, returning a new API token for it in
 * ret_token. Errors: MM_ERR_FORBIDDEN (not a bootstrap principal),
 * MM_ERR_CONFLICT (already initialised or token already used),
 * MM_ERR_INVALID (bad name), MM_ERR_STORE. */
mm_err mm_access_init_admin(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    mm_buf *ret_token);

/* Creates an API token for the calling user (ttl_ms 0 = configured default,
 * capped by it). ret_id receives the public token id.
 * Errors: MM_ERR_FORBIDDEN, MM_ERR_INVALID, MM_ERR_STORE. */
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

#endif
