/*
 * log.h: structured logging as JSON lines ({"ts","level","event",...}).
 *
 * Each record is written with a single write(2) to a file opened O_APPEND (or
 * stderr), so records from concurrent threads never interleave. Records below
 * the configured level cost one comparison. Never pass a secret to the log:
 * not a password, token, key, share, TOTP code or plaintext.
 */
#ifndef MM_CORE_LOG_H
#define MM_CORE_LOG_H

#include "core/err.h"

typedef enum mm_log_level {
	MM_LOG_DEBUG = 0,
	MM_LOG_INFO,
	MM_LOG_WARN,
	MM_LOG_ERROR,
} mm_log_level;

/* Parses "debug", "info", "warn", "error". Errors: MM_ERR_INVALID. */
mm_err mm_log_level_parse(const char *s, mm_log_level *ret);

/* Directs records to path (created 0600, appended) or stderr when path is NULL
 * or "-". Errors: MM_ERR_IO. Not thread-safe against concurrent mm_log(). */
mm_err mm_log_open(const char *path, mm_log_level level);
void mm_log_set_level(mm_log_level level);
mm_log_level mm_log_get_level(void);
void mm_log_close(void);

/* Logs an event with string fields given as key, value pairs ending in NULL. */
void mm_logkv(mm_log_level level, const char *event, ...) __attribute__((sentinel));

/* Logs an event with a formatted "msg" field. */
void mm_logf(mm_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
