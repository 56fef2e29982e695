/*
 * cli.h: the `mamori` command-line client.
 *
 * Commands are declared in tables (mm_cli_cmd arrays ending in a zeroed
 * entry), one per module file (cmd_sys.c, cmd_audit.c...), listed in
 * commands.c. A command's name may have several words ("audit proof
 * inclusion"); dispatch picks the longest name matching the arguments.
 *
 * Exit codes: 0 success, 1 failure (server refused, not found, network),
 * 2 usage error or bad input (including an HTTP 400 from the server).
 * Every command honours --json: the server's JSON is printed as is; otherwise
 * a readable rendering. Errors go to stderr as "mamori: message".
 *
 * Credentials: --token, else $MAMORI_TOKEN, else the session file
 * (~/.config/mamori/session.json, mode 0600, or $MAMORI_CONFIG_DIR). The
 * address: --addr, else $MAMORI_ADDR, else the session's, else
 * http://127.0.0.1:8470.
 */
#ifndef MM_CLI_CLI_H
#define MM_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"

typedef struct mm_cli {
	char addr[512];
	char token[512];
	char cacert[512];
	bool json;
	bool quiet;
	const char *prog;
	const char *cmd_name;
	const char *cmd_usage;
	long last_status;      /* HTTP status of the last call */
} mm_cli;

typedef int (*mm_cli_fn)(mm_cli *c, int argc, char **argv);

typedef struct mm_cli_cmd {
	const char *name;      /* "audit verify" */
	const char *usage;     /* "BUNDLE | --data DIR [--checkpoint FILE]" */
	const char *summary;   /* one line for the help listing */
	mm_cli_fn fn;          /* argv[0] is the command name; options follow */
} mm_cli_cmd;

extern const mm_cli_cmd *const mm_cli_tables[];

enum { MM_EXIT_OK = 0, MM_EXIT_FAIL = 1, MM_EXIT_USAGE = 2 };

/* Prints "mamori: msg" and the command's usage to stderr; returns 2. */
int mm_cli_usage(mm_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "mamori: msg" to stderr; returns code. */
int mm_cli_fail(mm_cli *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Calls the API. body is borrowed (may be NULL). On a 2xx reply *ret (if not
 * NULL) receives the parsed JSON (caller decrefs) and 0 is returned. On an
 * error reply the server's message is printed and 1 or 2 is returned. */
int mm_cli_call(mm_cli *c, const char *method, const char *path, json_t *body, json_t **ret);
/* Like mm_cli_call but returns the raw body (for /metrics, reports). */
int mm_cli_call_raw(mm_cli *c, const char *method, const char *path, const char *ctype,
		    const void *data, size_t n, mm_buf *ret_body);

/* Appends a percent-encoded path segment or query value. */
int mm_cli_escape(mm_buf *b, const char *s);

/* Prints v as indented JSON on stdout (for --json or as fallback). */
void mm_cli_print_json(const json_t *v);
/* Prints reply[field] (a string) as one line, or the whole reply as JSON with --json. */
void mm_cli_print_field(const mm_cli *c, const json_t *reply, const char *field);
/* Calls the API like mm_cli_call and, on success, prints the reply: as JSON with
 * --json, else with text(reply). body is borrowed. Returns mm_cli_call's code. */
int mm_cli_call_show(mm_cli *c, const char *method, const char *path, json_t *body,
		     void (*text)(const json_t *reply));

/* Progress "label: done/total (pct%)" on stderr when it is a terminal, or
 * always when force; a final call with done == total ends the line. */
void mm_cli_progress(const char *label, unsigned long long done, unsigned long long total);

/* Session file: save after login/init, remove at logout. Returns 0 or 1. */
int mm_cli_session_save(mm_cli *c, const char *addr, const char *token, const char *user);
int mm_cli_session_remove(mm_cli *c);

/* Reads a secret (password, code) into out: one line from stdin when
 * from_stdin, else from the terminal with echo off after printing prompt on
 * stderr. Returns 0, or 2 when there is no terminal to ask or the line is
 * too long. The caller wipes out. */
int mm_cli_read_secret(mm_cli *c, const char *prompt, bool from_stdin, char *out, size_t cap);

/* Prints a JSON value as text ("-" for null, RFC 3339 strings as is). */
const char *mm_cli_str(const json_t *obj, const char *key);

/* Reads a whole file ("-" for stdin) into out. Returns 0, or 2 with a message. */
int mm_cli_read_file(mm_cli *c, const char *path, mm_buf *out);

#endif
