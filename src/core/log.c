/*
 * log.c: JSON-lines logging; see log.h. A record longer than 8 KiB is cut at a
 * field boundary and marked "truncated": logging must never fail the caller.
 */
#include "core/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/time.h"

#define LOG_MAX 8192

static int log_fd = 2;
static mm_log_level log_level = MM_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

mm_err mm_log_level_parse(const char *s, mm_log_level *ret)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (mm_log_level)i;
			return MM_OK;
		}
	}
	return mm_err_set(MM_ERR_INVALID, "unknown log level '%.32s' (debug, info, warn, error)", s);
}

mm_err mm_log_open(const char *path, mm_log_level level)
{
	int fd = 2;

	if (path != NULL && strcmp(path, "-") != 0 && path[0] != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return mm_err_set(MM_ERR_IO, "cannot open log file %s", path);
	}
	mm_log_close();
	log_fd = fd;
	log_level = level;
	return MM_OK;
}

void mm_log_set_level(mm_log_level level)
{
	log_level = level;
}

mm_log_level mm_log_get_level(void)
{
	return log_level;
}

void mm_log_close(void)
{
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
}

static void emit(mm_buf *b)
{
	ssize_t off = 0, n;

	b->max = LOG_MAX + 1; /* room for the newline is reserved in mem */
	mm_buf_appendc(b, '\n');
	while ((size_t)off < b->len) {
		n = write(log_fd, b->data + off, b->len - (size_t)off);
		if (n <= 0)
			break;
		off += n;
	}
}

static void head(mm_buf *b, mm_log_level level, const char *event)
{
	char ts[MM_TIME_RFC3339_LEN];

	mm_time_format(mm_time_wall_ms(), ts);
	mm_buf_appendf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts,
		       level_names[level]);
	mm_buf_append_json_escaped(b, event, strlen(event));
	mm_buf_appendc(b, '"');
}

static void field(mm_buf *b, const char *k, const char *v)
{
	size_t mark = b->len;

	if (mm_buf_appends(b, ",\"") != MM_OK ||
	    mm_buf_append_json_escaped(b, k, strlen(k)) != MM_OK ||
	    mm_buf_appends(b, "\":\"") != MM_OK ||
	    mm_buf_append_json_escaped(b, v ? v : "", v ? strlen(v) : 0) != MM_OK ||
	    mm_buf_appendc(b, '"') != MM_OK) {
		b->len = mark;
		b->data[mark] = '\0';
	}
}

void mm_logkv(mm_log_level level, const char *event, ...)
{
	char mem[LOG_MAX + 2];
	mm_buf b = { mem, 0, sizeof(mem), LOG_MAX - 32 };
	va_list ap;
	const char *k;

	if (level < log_level)
		return;
	mem[0] = '\0';
	head(&b, level, event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		field(&b, k, v);
	}
	va_end(ap);
	b.max = LOG_MAX;
	mm_buf_appendc(&b, '}');
	emit(&b);
}

void mm_logf(mm_log_level level, const char *event, const char *fmt, ...)
{
	char mem[LOG_MAX + 2], msg[2048];
	mm_buf b = { mem, 0, sizeof(mem), LOG_MAX - 32 };
	va_list ap;

	if (level < log_level)
		return;
	mem[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	head(&b, level, event);
	field(&b, "msg", msg);
	b.max = LOG_MAX;
	mm_buf_appendc(&b, '}');
	emit(&b);
}
