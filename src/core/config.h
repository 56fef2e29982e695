/*
 * config.h: the daemon's configuration.
 *
 * The file format is a small subset of TOML: `[section]` or `[kind.name]`
 * headers, `key = value` lines with a value that is a "string", an integer,
 * true/false, or a ["list", "of", "strings"]; `#` starts a comment.
 * Validation is strict: an unknown key, a wrong type or an out-of-range value
 * is an error naming the key and the line, and the daemon does not start.
 *
 * Named tables (`[role.NAME]`, `[target.NAME]`) carry per-object settings;
 * the keys allowed in each kind are listed in config.c.
 *
 * Ownership: every string in mm_config is owned by the config and freed by
 * mm_config_release().
 */
#ifndef MM_CORE_CONFIG_H
#define MM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mm_config_item {
	char *key;
	int type;            /* MM_CFG_STRING, MM_CFG_INT, MM_CFG_BOOL, MM_CFG_LIST */
	char *str;
	int64_t num;
	char **list;         /* NULL-terminated */
	size_t nlist;
	int line;
} mm_config_item;

typedef struct mm_config_table {
	char *kind;          /* "role", "target" */
	char *name;
	mm_config_item *items;
	size_t nitems;
	int line;
} mm_config_table;

enum { MM_CFG_STRING = 1, MM_CFG_INT, MM_CFG_BOOL, MM_CFG_LIST, MM_CFG_DURATION };

typedef struct mm_config {
	char *listen;              /* "127.0.0.1:8470" */
	char *data_dir;            /* "./var" */
	int64_t threads;           /* HTTP worker threads, 0 = one per core */
	char *log_level;           /* "info" */
	char *log_file;            /* NULL = stderr */
	char *access_log;          /* NULL = into the log; "off" disables */
	char *tls_cert;            /* PEM file; TLS is on when cert and key are set */
	char *tls_key;
	int64_t max_body_bytes;
	int64_t max_header_bytes;
	int64_t max_connections;
	int64_t request_timeout_ms;
	int64_t token_ttl_ms;      /* API token lifetime */
	int64_t bootstrap_ttl_ms;  /* lifetime of the first-run bootstrap token */
	char *sqlite_synchronous;  /* "full" (default) or "normal" */
	/* audit */
	char *audit_origin;        /* checkpoint origin line */
	int64_t audit_checkpoint_interval_ms;
	char *audit_witness_file;
	char *audit_witness_url;
	bool audit_witness_syslog;
	/* keys / seal */
	char *unseal_key_file;     /* unattended unseal (mode 0600 checked) */
	/* identity */
	int64_t session_idle_ms;
	int64_t session_absolute_ms;
	int64_t lockout_threshold;
	int64_t lockout_base_ms;
	int64_t source_lockout_threshold; /* failures per source address in 15 min */
	int64_t dormant_days;
	char *password_list;       /* extra common-password list */
	char *webhook_url;         /* notifications */
	char *breakglass_user;
	int64_t max_grant_ms;
	int64_t request_review_ms;
	/* compliance */
	char *fisc_edition_dir;    /* edition-N.json files replacing built-in editions */
	char *fisc_bindings_file;  /* evidence bindings replacing the built-in ones */

	mm_config_table *tables;
	size_t ntables;
} mm_config;

/* Fills cfg with defaults. Errors: MM_ERR_NOMEM. Release with mm_config_release. */
mm_err mm_config_init(mm_config *cfg);

/* Reads a file over the values already in cfg. On error the detail names
 * the file, line and key; cfg keeps the values set before the bad line.
 * Errors: MM_ERR_IO, MM_ERR_CONFIG, MM_ERR_NOMEM. */
mm_err mm_config_load_file(mm_config *cfg, const char *path);

/* Parses text as if it were a file called name (for tests). */
mm_err mm_config_load_string(mm_config *cfg, const char *name, const char *text);

/* Sets one key from the command line ("listen", "data_dir", "log.level", ...).
 * Errors: MM_ERR_CONFIG naming the key. */
mm_err mm_config_set(mm_config *cfg, const char *key, const char *value);

/* Cross-field checks after all sources are read (TLS needs cert and key...).
 * Errors: MM_ERR_CONFIG. */
mm_err mm_config_validate(const mm_config *cfg);

/* Finds the item key of a table; NULL when absent. */
const mm_config_item *mm_config_table_get(const mm_config_table *t, const char *key);

void mm_config_release(mm_config *cfg);

#endif
