/* Tamper tests: a log of 200 events with checkpoints at 100 and 200 is
 * copied, altered directly with raw sqlite3 (or by editing an exported
 * bundle), and the offline verifier must fail naming the right sequence
 * number and the kind of damage. Also: a rewritten history signed with the
 * real key is caught only by consistency with an older checkpoint, and a
 * clean truncation (events, checkpoints and state) only by a witnessed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include "helpers.h"
#include "audit/internal.h"

static struct fx base;
static char ckpt100[4096], ckpt200[4096];
static char work[300];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static void sql(const char *dir, const char *q)
{
	char path[400];
	sqlite3 *db;
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/mamori.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql: %s: %s", q, msg);
	sqlite3_close(db);
}

static void take(char *dst, size_t cap)
{
	mm_audit_checkpoint c;

	assert_int_equal(mm_audit_checkpoint_now(base.log, &c), MM_OK);
	snprintf(dst, cap, "%s", c.note);
	mm_audit_checkpoint_release(&c);
}

static int setup(void **state)
{
	fx_init(&base, NULL);
	fx_add(&base, 0, 100);
	take(ckpt100, sizeof(ckpt100));
	fx_add(&base, 100, 100);
	take(ckpt200, sizeof(ckpt200));
	fx_close_store(&base);
	snprintf(work, sizeof(work), "%s-work", base.dir);
	return 0;
}

static int teardown(void **state)
{
	sh("rm -rf '%s'", work);
	fx_free(&base);
	return 0;
}

static void fresh_copy(void)
{
	sh("rm -rf '%s' && cp -a '%s' '%s'", work, base.dir, work);
}

static int64_t progress_done, progress_calls;

static void on_progress(void *ctx, int64_t done, int64_t total)
{
	progress_done = done;
	progress_calls++;
}

static mm_err verify_dir(const char *dir, const char *older, mm_audit_verify_report *r)
{
	const char *keys[] = { base.vkey, NULL };
	mm_audit_verify_opts o = { .older_checkpoint = older, .trusted_vkeys = keys,
				   .progress = on_progress };

	return mm_audit_verify_data_dir(dir, &o, r);
}

static void expect_dir(mm_audit_problem p, int64_t seq, const char *older)
{
	mm_audit_verify_report r;

	assert_int_equal(verify_dir(work, older, &r), MM_ERR_VERIFY);
	if (r.problem != p || r.bad_seq != seq)
		fail_msg("expected %s at %lld, got %s at %lld: %s", mm_audit_problem_name(p),
			 (long long)seq, mm_audit_problem_name(r.problem), (long long)r.bad_seq,
			 r.detail);
}

static void test_intact(void **state)
{
	mm_audit_verify_report r;

	fresh_copy();
	progress_calls = 0;
	assert_int_equal(verify_dir(work, ckpt100, &r), MM_OK);
	assert_int_equal(r.problem, MM_AUDIT_INTACT);
	assert_int_equal(r.events, 200);
	assert_int_equal(r.checkpoints, 2);
	assert_int_equal(r.covered, 200);
	assert_int_equal(r.bad_seq, -1);
	assert_string_equal(r.key, base.vkey);
	assert_false(r.keys_from_input);
	assert_true(progress_calls >= 1);
	assert_int_equal(progress_done, 200);
	/* Without trusted keys the keys in the database are used, and said so. */
	assert_int_equal(mm_audit_verify_data_dir(work, NULL, &r), MM_OK);
	assert_true(r.keys_from_input);
	assert_string_equal(r.key, base.vkey);
	/* The verifier changed nothing. */
	assert_int_equal(verify_dir(work, ckpt200, &r), MM_OK);
}

static void test_modified(void **state)
{
	fresh_copy();
	sql(work, "UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 42");
	expect_dir(MM_AUDIT_MODIFIED, 42, NULL);
	fresh_copy();
	sql(work, "UPDATE audit_events SET details = '{\"i\":151}' WHERE seq = 150");
	expect_dir(MM_AUDIT_MODIFIED, 150, NULL);
	fresh_copy();
	sql(work, "UPDATE audit_events SET time_ms = time_ms + 1 WHERE seq = 0");
	expect_dir(MM_AUDIT_MODIFIED, 0, NULL);
}

static void test_deleted(void **state)
{
	fresh_copy();
	sql(work, "DELETE FROM audit_events WHERE seq = 42");
	expect_dir(MM_AUDIT_MISSING, 42, NULL);
	/* Deleted and the later events renumbered to hide the gap. */
	fresh_copy();
	sql(work, "DELETE FROM audit_events WHERE seq = 42;"
		  "UPDATE audit_events SET seq = -seq WHERE seq > 42;"
		  "UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0;");
	expect_dir(MM_AUDIT_MISSING, 42, NULL);
}

static void test_reordered(void **state)
{
	fresh_copy();
	sql(work, "UPDATE audit_events SET seq = -1 WHERE seq = 42;"
		  "UPDATE audit_events SET seq = 42 WHERE seq = 45;"
		  "UPDATE audit_events SET seq = 45 WHERE seq = -1;");
	expect_dir(MM_AUDIT_REORDERED, 42, NULL);
}

static void test_inserted(void **state)
{
	fresh_copy();
	sql(work, "UPDATE audit_events SET seq = -seq - 1 WHERE seq >= 42;"
		  "UPDATE audit_events SET seq = -seq WHERE seq < 0;"
		  "INSERT INTO audit_events (seq, time_ms, actor, action, result) "
		  "VALUES (42, 1700000000042, 'user:mallory', 'user.create', 'success');");
	expect_dir(MM_AUDIT_INSERTED, 42, NULL);
	/* Appended at the end, outside mamori. */
	fresh_copy();
	sql(work, "INSERT INTO audit_events (seq, time_ms, actor, action, result) "
		  "VALUES (200, 1700000000200, 'user:mallory', 'user.create', 'success');");
	expect_dir(MM_AUDIT_INSERTED, 200, NULL);
}

static void test_truncated(void **state)
{
	mm_audit_verify_report r;

	fresh_copy();
	sql(work, "DELETE FROM audit_events WHERE seq >= 150");
	expect_dir(MM_AUDIT_TRUNCATED, 150, NULL);
	/* A careful attacker also removes the checkpoint, the tiles and the
	 * state: only a checkpoint kept elsewhere (a witness) shows it. */
	fresh_copy();
	sql(work, "DELETE FROM audit_events WHERE seq >= 150;"
		  "DELETE FROM audit_checkpoints WHERE tree_size > 150;"
		  "UPDATE audit_state SET tree_size = 150;");
	assert_int_equal(verify_dir(work, NULL, &r), MM_OK);
	expect_dir(MM_AUDIT_TRUNCATED, 150, ckpt200);
}

static void test_hashes_rewritten_too(void **state)
{
	char path[400], q[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	mm_audit_record r;
	uint8_t tile[16][32];

	fresh_copy();
	/* Change event 42 and rewrite its stored leaf hash to match. */
	sql(work, "UPDATE audit_events SET actor = 'user:mallory' WHERE seq = 42");
	snprintf(path, sizeof(path), "%s/mamori.db", work);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(q, sizeof(q), "SELECT " AUDIT_COLS " FROM audit_events WHERE seq = 42");
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	r.seq = 42;
	r.time_ms = sqlite3_column_int64(st, 1);
	r.actor = (const char *)sqlite3_column_text(st, 2);
	r.action = (const char *)sqlite3_column_text(st, 3);
	r.target = (const char *)sqlite3_column_text(st, 4);
	r.result = (const char *)sqlite3_column_text(st, 5);
	r.source = (const char *)sqlite3_column_text(st, 6);
	r.request_id = (const char *)sqlite3_column_text(st, 7);
	r.details = (const char *)sqlite3_column_text(st, 8);
	r.details_len = r.details ? strlen(r.details) : 0;
	{
		sqlite3_stmt *t;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT hashes FROM audit_tiles WHERE level = 0 "
						    "AND idx = 2", -1, &t, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(t), SQLITE_ROW);
		memcpy(tile, sqlite3_column_blob(t, 0), sizeof(tile));
		sqlite3_finalize(t);
	}
	assert_int_equal(mm_audit_record_leaf(&r, tile[42 % 16]), MM_OK);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit_tiles SET hashes = ? WHERE level = 0 "
					    "AND idx = 2", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, tile, sizeof(tile), SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* Still caught by the signed checkpoint; located to its range. */
	expect_dir(MM_AUDIT_MODIFIED, 0, NULL);
}

static void test_bad_checkpoint(void **state)
{
	mm_audit_verify_report r;
	const char *other[] = { "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
				NULL };
	mm_audit_verify_opts o = { .trusted_vkeys = other };

	fresh_copy();
	sql(work, "UPDATE audit_checkpoints SET note = replace(note, '\n100\n', '\n101\n') "
		  "WHERE tree_size = 100");
	expect_dir(MM_AUDIT_BAD_CHECKPOINT, 100, NULL);
	/* A key we do not trust. */
	fresh_copy();
	assert_int_equal(mm_audit_verify_data_dir(work, &o, &r), MM_ERR_VERIFY);
	assert_int_equal(r.problem, MM_AUDIT_BAD_CHECKPOINT);
	/* The tree index (tiles) altered while the events are intact. */
	fresh_copy();
	sql(work, "UPDATE audit_tiles SET hashes = zeroblob(512) WHERE level = 0 AND idx = 3");
	expect_dir(MM_AUDIT_INDEX, 48, NULL);
}

static void test_rewritten_history(void **state)
{
	struct fx other;
	mm_audit_checkpoint c;
	mm_audit_event ev = { .actor = "user:mallory", .action = "action.0", .result = "success",
			      .time_ms = 1700000000042 };
	int64_t seq;
	mm_audit_verify_report r;

	/* The same key signs a log whose event 42 differs (an insider with the
	 * key rebuilt everything consistently). */
	fx_init(&other, NULL);
	mm_ed25519_key_free(other.key);
	other.key = NULL;
	other.signer.ctx = base.key;
	memcpy(other.signer.public_key, base.signer.public_key, 32);
	assert_int_equal(mm_audit_set_signer(other.log, &other.signer), MM_OK);
	fx_add(&other, 0, 42);
	assert_int_equal(mm_audit_submit(other.log, &ev, 1, &seq), MM_OK);
	assert_int_equal(seq, 42);
	fx_add(&other, 43, 157);
	assert_int_equal(mm_audit_checkpoint_now(other.log, &c), MM_OK);
	mm_audit_checkpoint_release(&c);
	/* Self-consistent, so it verifies on its own... */
	assert_int_equal(verify_dir(other.dir, NULL, &r), MM_OK);
	/* ...but not against a checkpoint of the real log kept elsewhere. */
	assert_int_equal(verify_dir(other.dir, ckpt100, &r), MM_ERR_VERIFY);
	assert_int_equal(r.problem, MM_AUDIT_HISTORY);
	assert_int_equal(r.bad_seq, 99);
	/* And a consistency proof from the real checkpoint fails too. */
	{
		mm_merkle_proof p;
		uint8_t r1[32], r2[32], real[32];
		char origin[64];
		int64_t size;
		size_t tl;
		mm_audit_note_key k;

		assert_int_equal(mm_audit_note_vkey_parse(base.vkey, &k), MM_OK);
		assert_int_equal(mm_audit_note_verify(ckpt100, strlen(ckpt100), &k, 1, &tl, NULL), MM_OK);
		assert_int_equal(mm_audit_checkpoint_parse(ckpt100, tl, origin, sizeof(origin), &size,
							   real), MM_OK);
		assert_int_equal(mm_audit_consistency_proof(other.s, 100, 200, &p, r1, r2), MM_OK);
		assert_int_equal(mm_merkle_verify_consistency(100, 200, real, r2,
							      (const uint8_t (*)[32])p.h, p.n),
				 MM_ERR_VERIFY);
	}
	other.signer.ctx = NULL;
	fx_free(&other);
}

/* ---- bundles ---- */

static void export_to(const char *path, int64_t from, int64_t to)
{
	mm_store_opts so = { .dir = base.dir, .read_only = true };
	mm_store *s;

	unlink(path);
	assert_int_equal(mm_store_open(&so, &s), MM_OK);
	assert_int_equal(mm_audit_export_file(s, from, to, path), MM_OK);
	assert_int_equal(mm_audit_export_file(s, from, to, path), MM_ERR_EXISTS);
	mm_store_close(s);
}

static mm_err verify_bundle(const char *path, const char *older, mm_audit_verify_report *r)
{
	const char *keys[] = { base.vkey, NULL };
	mm_audit_verify_opts o = { .older_checkpoint = older, .trusted_vkeys = keys };

	return mm_audit_verify_bundle(path, &o, r);
}

static void expect_bundle(const char *path, mm_audit_problem p, int64_t seq)
{
	mm_audit_verify_report r;

	assert_int_equal(verify_bundle(path, NULL, &r), MM_ERR_VERIFY);
	if (r.problem != p || r.bad_seq != seq)
		fail_msg("bundle: expected %s at %lld, got %s at %lld: %s", mm_audit_problem_name(p),
			 (long long)seq, mm_audit_problem_name(r.problem), (long long)r.bad_seq,
			 r.detail);
}

static void test_bundles(void **state)
{
	char b[400], t[400];
	mm_audit_verify_report r;

	sh("mkdir -p '%s'", work);
	snprintf(b, sizeof(b), "%s/full.jsonl", work);
	snprintf(t, sizeof(t), "%s/t.jsonl", work);
	export_to(b, 0, 0);
	assert_int_equal(verify_bundle(b, ckpt100, &r), MM_OK);
	assert_int_equal(r.events, 200);
	assert_int_equal(r.checkpoints, 2);
	assert_int_equal(r.covered, 200);
	/* Partial ranges: a prefix of hashes and an anchor checkpoint. */
	export_to(b, 50, 150);
	assert_int_equal(verify_bundle(b, ckpt100, &r), MM_OK);
	assert_int_equal(r.first_seq, 50);
	assert_int_equal(r.events, 100);
	assert_int_equal(r.checkpoints, 2);
	export_to(b, 101, 133);
	assert_int_equal(verify_bundle(b, NULL, &r), MM_OK);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(verify_bundle(b, ckpt100, &r), MM_ERR_INVALID);
	export_to(b, 0, 0);
	/* Edits of the bundle. */
	sh("sed 's/\"seq\":42,\\(.*\\)user:actor-2/\"seq\":42,\\1user:mallory/' '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_MODIFIED, 42);
	sh("grep -v '\"seq\":42,' '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_MISSING, 42);
	sh("awk '/\"seq\":42,/{h=$0;next} {print} /\"seq\":43,/{print h}' '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_REORDERED, 42);
	sh("awk '{print} /\"seq\":42,/{print}' '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_INSERTED, 43);
	sh("head -n 120 '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_TRUNCATED, 118);
	sh("sed 's/\"prefix\":\\[\\]/\"prefix\":[1]/' '%s' > '%s'", b, t);
	expect_bundle(t, MM_AUDIT_FORMAT, -1);
	sh("rm -f '%s' '%s'", b, t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intact),
		cmocka_unit_test(test_modified),
		cmocka_unit_test(test_deleted),
		cmocka_unit_test(test_reordered),
		cmocka_unit_test(test_inserted),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_hashes_rewritten_too),
		cmocka_unit_test(test_bad_checkpoint),
		cmocka_unit_test(test_rewritten_history),
		cmocka_unit_test(test_bundles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
