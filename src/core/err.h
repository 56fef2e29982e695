/*
 * err.h: the one error type of mamori.
 *
 * Every fallible function returns an mm_err. MM_OK is zero so that
 * `if ((rc = f()) != MM_OK) goto out;` reads naturally. A function that fails
 * may attach a human-readable detail with mm_err_set(); the detail lives in a
 * thread-local buffer and describes only the most recent failure on this
 * thread. Details are shown to API callers, so they must never contain
 * secrets (passwords, tokens, key material, plaintext).
 *
 * Only src/api maps an mm_err to an HTTP status, and only src/cli maps it to
 * an exit code.
 */
#ifndef MM_CORE_ERR_H
#define MM_CORE_ERR_H

#include <stdarg.h>

typedef enum mm_err {
	MM_OK = 0,
	MM_ERR_NOMEM,           /* allocation failed */
	MM_ERR_INVALID,         /* caller input is malformed or out of range */
	MM_ERR_NOT_FOUND,       /* the named object does not exist */
	MM_ERR_EXISTS,          /* an object with that name already exists */
	MM_ERR_CONFLICT,        /* the object is not in a state that allows this */
	MM_ERR_UNAUTHENTICATED, /* no valid credentials */
	MM_ERR_FORBIDDEN,       /* authenticated but not permitted */
	MM_ERR_SEALED,          /* the root key is not in memory */
	MM_ERR_LIMIT,           /* a size, count or length limit was exceeded */
	MM_ERR_RATE_LIMITED,    /* too many attempts; try again later */
	MM_ERR_VERIFY,          /* a signature, MAC, proof or hash did not verify */
	MM_ERR_CRYPTO,          /* the crypto library failed (not the caller's input) */
	MM_ERR_IO,              /* an operating-system call failed */
	MM_ERR_STORE,           /* the database failed */
	MM_ERR_BUSY,            /* the database or a resource is busy; retry */
	MM_ERR_VERSION,         /* data written by a newer mamori */
	MM_ERR_CONFIG,          /* configuration is invalid */
	MM_ERR_UNAVAILABLE,     /* a dependency (webhook, peer) is unreachable */
	MM_ERR_TIMEOUT,         /* an operation took longer than allowed */
	MM_ERR_INTERNAL,        /* a bug: an invariant was broken */
	MM_ERR__COUNT
} mm_err;

/* Stable snake_case name of an error, used as the JSON error code. */
const char *mm_err_name(mm_err e);

/* Generic English message for an error. */
const char *mm_err_message(mm_err e);

/*
 * Record a detail for error e on this thread and return e, so that callers can
 * write `return mm_err_set(MM_ERR_INVALID, "field %s: expected string", k);`.
 * The detail is truncated at 511 bytes.
 */
mm_err mm_err_set(mm_err e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
mm_err mm_err_setv(mm_err e, const char *fmt, va_list ap);

/* The detail of the most recent mm_err_set() on this thread, or the generic
 * message of e when the recorded detail belongs to another error. Never NULL. */
const char *mm_err_detail(mm_err e);

/* Forget the detail (used before an operation whose failure we report). */
void mm_err_clear(void);

#endif
