/*
 * time.h: clocks. Wall time is int64 milliseconds since the Unix epoch (UTC),
 * the unit stored everywhere in mamori; monotonic time is for durations and
 * timeouts only and never stored.
 */
#ifndef MM_CORE_TIME_H
#define MM_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MM_TIME_RFC3339_LEN 32

int64_t mm_time_wall_ms(void);
int64_t mm_time_mono_ns(void);
struct timespec;
/* The CLOCK_REALTIME instant ms milliseconds from now, as
 * pthread_cond_timedwait takes it. */
void mm_time_deadline(int64_t ms, struct timespec *ret);
/* Writes "2026-11-23T12:00:00.123Z" into out (at least MM_TIME_RFC3339_LEN). */
void mm_time_format(int64_t ms, char out[MM_TIME_RFC3339_LEN]);
/* Parses RFC 3339 in UTC ("Z") or with an offset; fraction optional.
 * Errors: MM_ERR_INVALID. *ret_ms written only on success. */
mm_err mm_time_parse(const char *s, int64_t *ret_ms);
/* Parses a duration "90s", "15m", "2h", "7d", or a combination "1h30m".
 * Errors: MM_ERR_INVALID (syntax, zero, overflow). */
mm_err mm_time_parse_duration(const char *s, int64_t *ret_ms);

#endif
