/*
 * err.c: names, messages and the thread-local detail of mm_err.
 * Invariant: the tables below have exactly MM_ERR__COUNT entries (checked at
 * compile time), so every enum value has a name and a message.
 */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = {
	[MM_OK] = "ok",
	[MM_ERR_NOMEM] = "out_of_memory",
	[MM_ERR_INVALID] = "invalid_argument",
	[MM_ERR_NOT_FOUND] = "not_found",
	[MM_ERR_EXISTS] = "already_exists",
	[MM_ERR_CONFLICT] = "conflict",
	[MM_ERR_UNAUTHENTICATED] = "unauthenticated",
	[MM_ERR_FORBIDDEN] = "permission_denied",
	[MM_ERR_SEALED] = "sealed",
	[MM_ERR_LIMIT] = "limit_exceeded",
	[MM_ERR_RATE_LIMITED] = "rate_limited",
	[MM_ERR_VERIFY] = "verification_failed",
	[MM_ERR_CRYPTO] = "crypto_error",
	[MM_ERR_IO] = "io_error",
	[MM_ERR_STORE] = "store_error",
	[MM_ERR_BUSY] = "busy",
	[MM_ERR_VERSION] = "version_mismatch",
	[MM_ERR_CONFIG] = "invalid_config",
	[MM_ERR_UNAVAILABLE] = "unavailable",
	[MM_ERR_TIMEOUT] = "timeout",
	[MM_ERR_INTERNAL] = "internal",
};

static const char *const messages[] = {
	[MM_OK] = "success",
	[MM_ERR_NOMEM] = "out of memory",
	[MM_ERR_INVALID] = "invalid argument",
	[MM_ERR_NOT_FOUND] = "not found",
	[MM_ERR_EXISTS] = "already exists",
	[MM_ERR_CONFLICT] = "the object is not in a state that allows this",
	[MM_ERR_UNAUTHENTICATED] = "authentication required",
	[MM_ERR_FORBIDDEN] = "permission denied",
	[MM_ERR_SEALED] = "mamori is sealed",
	[MM_ERR_LIMIT] = "limit exceeded",
	[MM_ERR_RATE_LIMITED] = "too many attempts, try again later",
	[MM_ERR_VERIFY] = "verification failed",
	[MM_ERR_CRYPTO] = "cryptographic operation failed",
	[MM_ERR_IO] = "input/output error",
	[MM_ERR_STORE] = "database error",
	[MM_ERR_BUSY] = "busy, try again",
	[MM_ERR_VERSION] = "data was written by a newer version",
	[MM_ERR_CONFIG] = "invalid configuration",
	[MM_ERR_UNAVAILABLE] = "service unavailable",
	[MM_ERR_TIMEOUT] = "timed out",
	[MM_ERR_INTERNAL] = "internal error",
};

_Static_assert(sizeof(names) / sizeof(names[0]) == MM_ERR__COUNT, "error names");
_Static_assert(sizeof(messages) / sizeof(messages[0]) == MM_ERR__COUNT, "error messages");

static _Thread_local struct {
	mm_err code;
	char text[512];
} detail;

const char *mm_err_name(mm_err e)
{
	if ((unsigned)e >= MM_ERR__COUNT)
		return "unknown";
	return names[e];
}

const char *mm_err_message(mm_err e)
{
	if ((unsigned)e >= MM_ERR__COUNT)
		return "unknown error";
	return messages[e];
}

mm_err mm_err_setv(mm_err e, const char *fmt, va_list ap)
{
	detail.code = e;
	vsnprintf(detail.text, sizeof(detail.text), fmt, ap);
	return e;
}

mm_err mm_err_set(mm_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_err_setv(e, fmt, ap);
	va_end(ap);
	return e;
}

const char *mm_err_detail(mm_err e)
{
	if (detail.code == e && detail.text[0] != '\0')
		return detail.text;
	return mm_err_message(e);
}

void mm_err_clear(void)
{
	detail.code = MM_OK;
	detail.text[0] = '\0';
}
