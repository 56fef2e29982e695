/*
 * sqlite.c: the SQLite backend.
 *
 * Invariants: every connection runs in WAL mode with foreign keys on and a
 * busy timeout; the writer uses synchronous=FULL when durability is promised
 * (the default), so a commit returns only after fsync of the WAL.
 * Constraint violations map to MM_ERR_EXISTS so callers can report
 * "already exists" without parsing SQLite messages; other SQLite errors are
 * MM_ERR_STORE with SQLite's message (it never contains bound values).
 * A read-only store (offline verification) opens SQLITE_OPEN_READONLY with
 * query_only set and changes no pragma that would write the file.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/backend.h"

static mm_err sq_err(sqlite3 *db, int rc, const char *what)
{
	int base = rc & 0xff;

	if (base == SQLITE_CONSTRAINT)
		return mm_err_set(MM_ERR_EXISTS, "%s: %s", what, sqlite3_errmsg(db));
	if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
		return mm_err_set(MM_ERR_BUSY, "%s: database busy", what);
	return mm_err_set(MM_ERR_STORE, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static mm_err sq_exec(void *conn, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		mm_err e = sq_err(conn, rc, "exec");
		sqlite3_free(msg);
		return e;
	}
	return MM_OK;
}

static mm_err sq_open(const mm_store_opts *o, const char *path, bool writer, void **ret)
{
	sqlite3 *db = NULL;
	char pragma[128];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc;
	mm_err e;

	if (o->read_only)
		flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	/* A companion's writer attaches its primary as a read-only URI. Its own
	 * path is never a URI: it ends in a fixed "/name.db". */
	if (o->companion && writer)
		flags |= SQLITE_OPEN_URI;
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		e = mm_err_set(MM_ERR_STORE, "cannot open %s: %s", path, sqlite3_errstr(rc));
		sqlite3_close(db);
		return e;
	}
	sqlite3_busy_timeout(db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
	if (o->read_only) {
		/* Never change the file: no journal-mode switch, queries only. */
		if ((e = sq_exec(db, "PRAGMA query_only=1;")) != MM_OK) {
			sqlite3_close(db);
			return e;
		}
		*ret = db;
		return MM_OK;
	}
	snprintf(pragma, sizeof(pragma),
		 "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;",
		 writer && o->sync_full ? "FULL" : "NORMAL");
	if ((e = sq_exec(db, pragma)) != MM_OK) {
		sqlite3_close(db);
		return e;
	}
	/* Reads through a memory map (no copy per page read) and, for the
	 * writer, a 64 MiB page cache: appends touch index pages all over the
	 * audit indexes, and with SQLite's 2 MiB default each batch re-read
	 * them from the OS cache (a third of the append time in profiles). */
	if ((e = sq_exec(db, "PRAGMA mmap_size=1073741824;")) != MM_OK) {
		sqlite3_close(db);
		return e;
	}
	/* The primary's checkpoints run on the store's checkpointer thread
	 * (sq_checkpoint): done by the writer after a commit, copying up to
	 * 64 MiB of log into the database held every waiting request for
	 * tens of milliseconds. The writer still checkpoints at 16 MiB of log:
	 * under continuous commits a background checkpoint never quite
	 * catches up (one that started during a commit stops short of it), so
	 * the log would never restart from its beginning and would grow; by
	 * then nearly every frame is already copied, so the writer's own
	 * checkpoint is short and the next transaction reuses the log's blocks.
	 * A companion (sync NORMAL, off every request's path) keeps SQLite's
	 * default. */
	if (writer && !o->companion &&
	    (e = sq_exec(db, "PRAGMA wal_autocheckpoint=4096;")) != MM_OK) {
		sqlite3_close(db);
		return e;
	}
	/* Statement journals (a multi-row statement inside a job's savepoint
	 * keeps one) and temporary b-trees in memory: they need no durability,
	 * and as files they cost a write system call per page (the audit
	 * index's 64-row inserts made ~9,000 a second). */
	if (writer && (e = sq_exec(db, "PRAGMA temp_store=MEMORY;")) != MM_OK) {
		sqlite3_close(db);
		return e;
	}
	if (writer && (e = sq_exec(db, "PRAGMA cache_size=-65536;")) != MM_OK) {
		sqlite3_close(db);
		return e;
	}
	*ret = db;
	return MM_OK;
}

static void sq_close(void *conn)
{
	sqlite3_close_v2(conn);
}

static mm_err sq_prepare(void *conn, const char *sql, void **ret)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_err(conn, rc, "prepare");
	*ret = st;
	return MM_OK;
}

static void sq_finalize(void *st)
{
	sqlite3_finalize(st);
}

static mm_err bind_rc(void *st, int rc)
{
	if (rc != SQLITE_OK)
		return sq_err(sqlite3_db_handle(st), rc, "bind");
	return MM_OK;
}

static mm_err sq_bind_int(void *st, int i, int64_t v)
{
	return bind_rc(st, sqlite3_bind_int64(st, i, v));
}

static mm_err sq_bind_text(void *st, int i, const char *s)
{
	if (s == NULL)
		return bind_rc(st, sqlite3_bind_null(st, i));
	return bind_rc(st, sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT));
}

static mm_err sq_bind_blob(void *st, int i, const void *p, size_t n)
{
	return bind_rc(st, sqlite3_bind_blob64(st, i, n ? p : "", n, SQLITE_TRANSIENT));
}

static mm_err sq_bind_null(void *st, int i)
{
	return bind_rc(st, sqlite3_bind_null(st, i));
}

static mm_err sq_step(void *st, bool *ret_row)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*ret_row = true;
		return MM_OK;
	}
	if (rc == SQLITE_DONE) {
		*ret_row = false;
		return MM_OK;
	}
	return sq_err(sqlite3_db_handle(st), rc, "step");
}

static int64_t sq_col_int(void *st, int c)
{
	return sqlite3_column_int64(st, c);
}

static const char *sq_col_text(void *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

static const void *sq_col_blob(void *st, int c, size_t *ret_len)
{
	const void *p = sqlite3_column_blob(st, c);

	*ret_len = (size_t)sqlite3_column_bytes(st, c);
	return p;
}

static bool sq_col_null(void *st, int c)
{
	return sqlite3_column_type(st, c) == SQLITE_NULL;
}

static void sq_reset(void *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int64_t sq_changes(void *conn)
{
	return sqlite3_changes64(conn);
}

static mm_err sq_attach(void *conn, const char *path, const char *name, bool read_only)
{
	static const char hex[] = "0123456789ABCDEF";
	char sql[96], uri[3 * 4096 + 32];
	size_t n = 0;
	sqlite3_stmt *st = NULL;
	int rc;

	/* Read-only needs a URI (file:PATH?mode=ro): every byte that is not
	 * unreserved is percent-encoded. A read-only schema takes only a read
	 * transaction even under BEGIN IMMEDIATE, so the attaching writer never
	 * locks the primary against its own writer. */
	if (read_only) {
		n = (size_t)snprintf(uri, sizeof(uri), "file:");
		for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
			if (n + 4 >= sizeof(uri) - 16)
				return mm_err_set(MM_ERR_CONFIG, "data directory path too long");
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' || *p == '-' || *p == '_') {
				uri[n++] = (char)*p;
			} else {
				uri[n++] = '%';
				uri[n++] = hex[*p >> 4];
				uri[n++] = hex[*p & 15];
			}
		}
		snprintf(uri + n, sizeof(uri) - n, "?mode=ro");
	}
	/* The name is checked by the store ([a-z_], short); the path is bound. */
	snprintf(sql, sizeof(sql), "ATTACH DATABASE ? AS %s", name);
	rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, read_only ? uri : path, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		return sq_err(conn, rc, "attach");
	/* Read through a memory map like the main schema (mmap_size is per
	 * schema): an attached primary is read in bulk by companion jobs. */
	snprintf(sql, sizeof(sql), "PRAGMA %s.mmap_size=1073741824", name);
	return sq_exec(conn, sql);
}

static mm_err sq_checkpoint(void *conn)
{
	int rc = sqlite3_wal_checkpoint_v2(conn, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	/* BUSY: another checkpoint (the writer's fallback) is running. */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return sq_err(conn, rc, "checkpoint");
	return MM_OK;
}

void mm_backend_sqlite_global_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

const mm_backend mm_backend_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.bind_int = sq_bind_int,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.col_int = sq_col_int,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.col_null = sq_col_null,
	.reset = sq_reset,
	.changes = sq_changes,
	.attach = sq_attach,
	.checkpoint = sq_checkpoint,
};
