/*
 * backend.h: what a storage backend provides (internal to src/store).
 * store.c owns pooling, the writer thread, group commit and migrations; a
 * backend only speaks to its database. Adding PostgreSQL means writing one
 * more table of these functions (over libpq) and choosing it in
 * mm_store_open(); no module above src/store changes.
 */
#ifndef MM_STORE_BACKEND_H
#define MM_STORE_BACKEND_H

#include "store/store.h"

typedef struct mm_backend {
	const char *name;
	/* Opens one connection; writer=true for the single writer. */
	mm_err (*open)(const mm_store_opts *o, const char *path, bool writer, void **ret);
	void (*close)(void *conn);
	mm_err (*exec)(void *conn, const char *sql);
	mm_err (*prepare)(void *conn, const char *sql, void **ret_stmt);
	void (*finalize)(void *stmt);
	mm_err (*bind_int)(void *stmt, int i, int64_t v);
	mm_err (*bind_text)(void *stmt, int i, const char *s);
	mm_err (*bind_blob)(void *stmt, int i, const void *p, size_t n);
	mm_err (*bind_null)(void *stmt, int i);
	mm_err (*step)(void *stmt, bool *ret_row);
	int64_t (*col_int)(void *stmt, int c);
	const char *(*col_text)(void *stmt, int c);
	const void *(*col_blob)(void *stmt, int c, size_t *ret_len);
	bool (*col_null)(void *stmt, int c);
	void (*reset)(void *stmt);
	int64_t (*changes)(void *conn);
	/* Makes the database at path visible to conn under the schema name
	 * (not in a transaction); read_only: conn can never write it. */
	mm_err (*attach)(void *conn, const char *path, const char *name, bool read_only);
	/* Moves committed data out of the write-ahead log without blocking the
	 * writer or readers (SQLite: a PASSIVE checkpoint); NULL when the
	 * backend has no such log. Run by the store's checkpointer thread. */
	mm_err (*checkpoint)(void *conn);
} mm_backend;

extern const mm_backend mm_backend_sqlite;
/* Process-wide SQLite settings; called once before the first connection. */
void mm_backend_sqlite_global_setup(void);

#endif
