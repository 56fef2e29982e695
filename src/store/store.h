/*
 * store.h: the one storage interface of mamori.
 *
 * Modules above the store see only this header: connections (mm_db),
 * prepared statements (mm_stmt), transactions and versioned migrations. SQL
 * uses `?` placeholders and the portable subset shared by SQLite and
 * PostgreSQL (INTEGER/BIGINT, TEXT, BLOB/BYTEA via the backend, no
 * AUTOINCREMENT tricks), so that a PostgreSQL backend is one more
 * mm_store_backend and nothing above changes.
 *
 * Concurrency model:
 *  - Reads: any thread takes a connection with mm_store_acquire() and gives it
 *    back with mm_store_release(). Under WAL, readers never block the writer.
 *  - Writes: every state change is a job run by the single writer thread,
 *    submitted with mm_store_write() (blocking) or mm_store_write_async().
 *    The writer runs all queued jobs in one transaction, each inside its own
 *    savepoint (a failing job is rolled back alone), runs the group hooks
 *    once, commits with one fsync, and only then reports each job's result.
 *    This is group commit: nothing is acknowledged before it is durable, and
 *    concurrent writers share one fsync. A job's result is MM_OK only if its
 *    own statements succeeded AND the group committed.
 *  - A job must touch only the database (and its own arg): the group can still
 *    fail at COMMIT after the job returned MM_OK.
 */
#ifndef MM_STORE_STORE_H
#define MM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mm_store mm_store;
typedef struct mm_db mm_db;
typedef struct mm_stmt mm_stmt;

/* A component's schema: steps[i] takes the schema from version i to i+1.
 * Steps are append-only: a released step is never edited. */
typedef struct mm_migration_set {
	const char *component;
	const char *const *steps;
	size_t nsteps;
} mm_migration_set;

typedef struct mm_store_opts {
	const char *dir;            /* data directory (SQLite: DIR/mamori.db) */
	bool sync_full;             /* synchronous=FULL (durable) or NORMAL */
	int busy_timeout_ms;        /* default 5000 */
	size_t max_group;           /* max jobs per group commit, default 4096 */
	bool read_only;             /* open an existing database for reading only:
	                             * no writer thread, writes fail with
	                             * MM_ERR_UNAVAILABLE (offline verification) */
	bool companion;             /* set by mm_store_open_companion only */
} mm_store_opts;

/* Opens (creating if needed) the store and starts the writer thread.
 * Errors: MM_ERR_IO, MM_ERR_STORE, MM_ERR_NOMEM. The caller owns *ret
 * and closes it with mm_store_close(). */
mm_err mm_store_open(const mm_store_opts *opts, mm_store **ret);

/* Applies pending migrations of every set (each set in one transaction).
 * Refuses a database that has a newer version of any component, or a
 * component this binary does not know: MM_ERR_VERSION. Also MM_ERR_STORE. */
mm_err mm_store_migrate(mm_store *s, const mm_migration_set *const *sets, size_t nsets);

/* Drains and stops the writer (queued jobs are completed), closes every
 * connection. NULL is allowed. */
void mm_store_close(mm_store *s);

/* Backend name ("sqlite") and the database path, for health and evidence. */
const char *mm_store_backend_name(const mm_store *s);
const char *mm_store_path(const mm_store *s);

/* ---- connections and statements ---- */

/* Takes a read connection (never used for writes). Errors: MM_ERR_STORE. */
mm_err mm_store_acquire(mm_store *s, mm_db **ret);
void mm_store_release(mm_store *s, mm_db *db);

/* Explicit read transaction for a consistent snapshot across statements. */
mm_err mm_db_begin(mm_db *db);
mm_err mm_db_commit(mm_db *db);
void mm_db_rollback(mm_db *db);

/* Runs SQL without results (DDL). Errors: MM_ERR_STORE. */
mm_err mm_db_exec(mm_db *db, const char *sql);

/* Prepares (or takes from the connection's cache) a statement. sql must be a
 * string that lives as long as the connection (normally a literal): the
 * cache is keyed on its address. The statement belongs to the connection;
 * call mm_stmt_done() when finished, which resets it for reuse.
 * Errors: MM_ERR_STORE. */
mm_err mm_db_prepare(mm_db *db, const char *sql, mm_stmt **ret);

/* Parameters are 1-based, like SQL. Text and blobs are copied. */
mm_err mm_stmt_bind_int(mm_stmt *st, int i, int64_t v);
mm_err mm_stmt_bind_text(mm_stmt *st, int i, const char *s); /* NULL binds NULL */
mm_err mm_stmt_bind_blob(mm_stmt *st, int i, const void *p, size_t n);
mm_err mm_stmt_bind_null(mm_stmt *st, int i);

/* Steps: *ret_row is true when a row is available. Errors: MM_ERR_STORE,
 * MM_ERR_EXISTS (unique constraint), MM_ERR_BUSY. */
mm_err mm_stmt_step(mm_stmt *st, bool *ret_row);
/* Runs a statement that returns no rows. */
mm_err mm_stmt_run(mm_stmt *st);

/* Columns are 0-based. Returned pointers are valid until the next step. */
int64_t mm_stmt_int(mm_stmt *st, int col);
const char *mm_stmt_text(mm_stmt *st, int col); /* NULL for SQL NULL */
const void *mm_stmt_blob(mm_stmt *st, int col, size_t *ret_len);
bool mm_stmt_is_null(mm_stmt *st, int col);

/* Resets and clears bindings; the statement goes back to the cache. */
void mm_stmt_done(mm_stmt *st);

/* Rows changed by the last write statement on this connection. */
int64_t mm_db_changes(mm_db *db);

/* ---- writes ---- */

/* A write job. Runs on the writer thread inside a savepoint. */
typedef mm_err (*mm_store_job_fn)(mm_db *db, void *arg);
/* Called on the writer thread after the group's outcome is known; detail is
 * the job's error detail (valid only during the call). */
typedef void (*mm_store_done_fn)(mm_err rc, const char *detail, void *arg);

/* Runs fn durably and waits. Returns fn's error, or MM_ERR_STORE when the
 * group commit failed. Must not be called from the writer thread (a job). */
mm_err mm_store_write(mm_store *s, mm_store_job_fn fn, void *arg);

/* Queues fn; done(rc, done_arg) is called from the writer thread once rc is
 * final. Errors: MM_ERR_UNAVAILABLE when the store is closing (done is then
 * not called). */
mm_err mm_store_write_async(mm_store *s, mm_store_job_fn fn, void *arg,
			    mm_store_done_fn done, void *done_arg);

/* Group hooks run once per group on the writer thread: pre inside the
 * transaction after all jobs (a failure rolls back the whole group), post
 * after the commit with the group's result. Register before writes start. */
typedef mm_err (*mm_store_pre_fn)(mm_db *db, void *arg);
typedef void (*mm_store_post_fn)(mm_err rc, void *arg);
mm_err mm_store_add_group_hook(mm_store *s, mm_store_pre_fn pre, mm_store_post_fn post,
			       void *arg);
/* Removes every hook registered with arg; runs as a write job, so when it
 * returns no group is using them and none will. Call before
 * mm_store_close(). Errors: MM_ERR_UNAVAILABLE (store closing). */
mm_err mm_store_remove_group_hooks(mm_store *s, void *arg);

/* ---- companions ---- */

/* A companion is a second database beside the primary, for data that can be
 * rebuilt from the primary (query indexes). It has its own writer thread, so
 * its writes never delay the primary's group commits; it commits without
 * fsync (after a crash it may lag behind the primary, never be damaged), and
 * its writer runs only on otherwise idle CPU (mm_store_set_idle).
 * Every read connection of the primary sees its tables under the schema
 * `name` (SQL: name.table, the same spelling a PostgreSQL schema would use);
 * the companion's own jobs see them unqualified, and the primary's tables,
 * read-only, under the schema `primary_db` (one snapshot per job group).
 * SQLite: file DIR/name.db.
 * name: 1..31 of [a-z_]. schema (may be NULL) is applied to the companion
 * before any reader of the primary can see it. The caller owns *ret and
 * closes it with mm_store_close() before closing the primary. Errors:
 * MM_ERR_INVALID (bad name), MM_ERR_UNAVAILABLE (read-only primary),
 * MM_ERR_VERSION, MM_ERR_IO, MM_ERR_STORE, MM_ERR_NOMEM, MM_ERR_LIMIT (too
 * many companions). */
mm_err mm_store_open_companion(mm_store *primary, const char *name,
			       const mm_migration_set *schema, mm_store **ret);

/* A companion's writer runs only on otherwise idle CPU (true, the default),
 * or at nice 10 (false), e.g. while its owner has fallen far behind under
 * sustained load. Takes effect at the writer's next group. No-op on a
 * primary. */
void mm_store_set_idle(mm_store *c, bool idle);

/* Whether read connections of s see the companion `name` (one was opened
 * on s since s was opened). */
bool mm_store_has_companion(mm_store *s, const char *name);

/* Statistics for /metrics. */
/* Upper bounds (seconds) of the group-commit duration histograms; the
 * last bucket of each histogram is everything above the last bound. */
#define MM_STORE_HIST_BOUNDS { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0 }
#define MM_STORE_HIST_N 9

typedef struct mm_store_stats {
	uint64_t groups;
	uint64_t jobs;
	uint64_t failed_groups;
	uint64_t checkpoints;       /* background WAL checkpoints run */
	/* Of this store's groups: whole duration (from BEGIN to the jobs'
	 * results) and commit phase (COMMIT: the log write and its fsync),
	 * as sums and as non-cumulative histogram counts over the bounds. */
	uint64_t group_ns, commit_ns;
	uint64_t group_hist[MM_STORE_HIST_N], commit_hist[MM_STORE_HIST_N];
} mm_store_stats;
void mm_store_get_stats(mm_store *s, mm_store_stats *ret);

#endif
