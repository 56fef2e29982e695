/*
 * helpers.h: a temporary store with the audit and keys schemas for the keys
 * tests, and small queries on the audit log. Header-only (static inline).
 */
#ifndef MM_TESTS_KEYS_HELPERS_H
#define MM_TESTS_KEYS_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "keys/keys.h"
#include "store/store.h"

struct env {
	char dir[256];
	mm_store *store;
	mm_keys *keys;
};

static inline void env_open_store(struct env *e)
{
	mm_store_opts o = { .dir = e->dir, .sync_full = false };
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_keys_migrations };

	assert_int_equal(mm_store_open(&o, &e->store), MM_OK);
	assert_int_equal(mm_store_migrate(e->store, sets, 2), MM_OK);
}

static inline void env_open_keys(struct env *e, const char *key_file)
{
	mm_keys_opts ko = { e->store, key_file };

	assert_int_equal(mm_keys_open(&ko, &e->keys), MM_OK);
}

static inline struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/mm-keys-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	env_open_store(e);
	env_open_keys(e, NULL);
	return e;
}

/* Closes keys and store and opens both again (a daemon restart). */
static inline void env_restart(struct env *e, const char *key_file)
{
	mm_keys_close(e->keys);
	mm_store_close(e->store);
	env_open_store(e);
	env_open_keys(e, key_file);
}

static inline void env_free(struct env *e)
{
	char cmd[300];

	mm_keys_close(e->keys);
	mm_store_close(e->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
}

/* Number of audit events, optionally only those with action. */
static inline int64_t audit_count(struct env *e, const char *action, const char *result)
{
	static const char q_all[] = "SELECT COUNT(*) FROM audit_events";
	static const char q_act[] =
		"SELECT COUNT(*) FROM audit_events WHERE action = ? AND (? IS NULL OR result = ?)";
	mm_db *db;
	mm_stmt *st;
	bool row;
	int64_t n;

	assert_int_equal(mm_store_acquire(e->store, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, action ? q_act : q_all, &st), MM_OK);
	if (action) {
		assert_int_equal(mm_stmt_bind_text(st, 1, action), MM_OK);
		assert_int_equal(mm_stmt_bind_text(st, 2, result), MM_OK);
		assert_int_equal(mm_stmt_bind_text(st, 3, result), MM_OK);
	}
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	assert_true(row);
	n = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	mm_store_release(e->store, db);
	return n;
}

/* True when any audit event body contains needle (bytes). */
static inline bool audit_contains(struct env *e, const void *needle, size_t n)
{
	static const char q[] = "SELECT actor || ' ' || action || ' ' || COALESCE(target, '') || ' ' || result || ' ' || COALESCE(source, '') || ' ' || COALESCE(request_id, '') || ' ' || COALESCE(details, '') FROM audit_events";
	mm_db *db;
	mm_stmt *st;
	bool row, found = false;

	assert_int_equal(mm_store_acquire(e->store, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, q, &st), MM_OK);
	while (!found && mm_stmt_step(st, &row) == MM_OK && row) {
		size_t len;
		const char *b = mm_stmt_text(st, 0);
		len = b ? strlen(b) : 0;
		found = memmem(b, len, needle, n) != NULL;
		if (found) /* say where, so a failure can be read */
			fprintf(stderr, "audit event containing the needle: %.*s\n", (int)len, b);
	}
	mm_stmt_done(st);
	mm_store_release(e->store, db);
	return found;
}

/* Initialises with n/k and unseals with the first k shares. */
static inline void env_init_unseal(struct env *e, unsigned n, unsigned k, mm_keys_shares *shares)
{
	mm_keys_status s;

	assert_int_equal(mm_keys_init(e->keys, NULL, n, k, shares), MM_OK);
	for (unsigned i = 0; i < k; i++)
		assert_int_equal(mm_keys_unseal_submit(e->keys, NULL, shares->shares[i], &s), MM_OK);
	assert_false(s.sealed);
}

#endif
