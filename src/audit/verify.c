/*
 * verify.c: the offline verifier, over a bundle or a read-only database.
 *
 * One engine consumes events in sequence order and checkpoints at the point
 * where the tree reaches their size:
 *  - every event's leaf hash is recomputed from its fields and appended to a
 *    fresh compact range (f); nothing stored is trusted for this;
 *  - every checkpoint's signature is checked with the trusted keys and its
 *    root compared with the recomputed root at its size (directly, or through
 *    the bundle's "suffix" hashes for the anchor beyond the range);
 *  - an older checkpoint given by the caller is compared the same way.
 * For diagnosis, stored leaf hashes (level-0 tiles, a bundle's "leaf") are
 * compared with the recomputed ones; from the first difference a second
 * compact range (fs) over the stored hashes is kept, and when a checkpoint
 * fails, fs tells whether the stored hashes are authentic (then the first
 * difference is exactly the first tampered event, and neighbouring rows
 * tell whether it was modified, deleted, inserted or moved).
 *
 * Invariant: the report names the first problem found and the engine stops
 * there (MM_ERR_VERIFY); MM_OK means every check passed.
 */
#include "audit/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "crypto/crypto.h"

#define MAX_KEYS 32
#define DIAG_WINDOW 32
#define PROGRESS_EVERY 65536

const char *mm_audit_problem_name(mm_audit_problem p)
{
	static const char *const names[] = { "intact", "modified", "missing", "reordered",
					     "inserted", "truncated", "bad_checkpoint", "history",
					     "index", "format" };

	return (size_t)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

struct engine {
	mm_audit_verify_report *rep;
	const mm_audit_verify_opts *o;
	mm_audit_note_key keys[MAX_KEYS];
	size_t nkeys;
	char origin[MM_NOTE_MAX_NAME * 4 + 1];
	bool have_origin;

	mm_merkle_frontier f;     /* recomputed from events */
	mm_merkle_frontier fs;    /* over stored leaf hashes, once they differ */
	bool diverged;
	int64_t first_diff;
	int64_t next_seq;
	int64_t last_good;        /* size of the last verified checkpoint */
	int64_t total;

	bool have_old;
	int64_t old_size;
	uint8_t old_root[32];
	bool old_done;

	int64_t gap;              /* bundle mode: a missing seq seen, or -1 */
	int64_t gap_lines;

	mm_db *db;                /* data-dir mode: diagnosis and tile checks */
	uint8_t tile[TILE_LEVELS][TILE_W][HLEN];
};

static mm_err fail(struct engine *e, mm_audit_problem p, int64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static mm_err fail(struct engine *e, mm_audit_problem p, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	e->rep->problem = p;
	e->rep->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(e->rep->detail, sizeof(e->rep->detail), fmt, ap);
	va_end(ap);
	return mm_err_set(MM_ERR_VERIFY, "%s", e->rep->detail);
}

static mm_err add_key(struct engine *e, const mm_audit_note_key *k)
{
	for (size_t i = 0; i < e->nkeys; i++)
		if (memcmp(e->keys[i].id, k->id, 4) == 0 && strcmp(e->keys[i].name, k->name) == 0)
			return MM_OK;
	if (e->nkeys == MAX_KEYS)
		return mm_err_set(MM_ERR_LIMIT, "more than %d keys", MAX_KEYS);
	e->keys[e->nkeys++] = *k;
	if (e->nkeys == 1) {
		mm_buf v = MM_BUF_INIT(sizeof(e->rep->key) - 1);

		if (mm_audit_note_vkey(k, &v) == MM_OK)
			snprintf(e->rep->key, sizeof(e->rep->key), "%s", mm_buf_str(&v));
		mm_buf_release(&v);
	}
	return MM_OK;
}

static mm_err engine_init(struct engine *e, const mm_audit_verify_opts *o,
			  mm_audit_verify_report *rep)
{
	mm_err rc;

	memset(e, 0, sizeof(*e));
	memset(rep, 0, sizeof(*rep));
	e->gap = -1;
	rep->bad_seq = -1;
	e->rep = rep;
	e->o = o;
	mm_merkle_frontier_init(&e->f);
	rep->keys_from_input = true;
	if (o != NULL && o->trusted_vkeys != NULL) {
		rep->keys_from_input = false;
		for (size_t i = 0; o->trusted_vkeys[i] != NULL; i++) {
			mm_audit_note_key k;

			if ((rc = mm_audit_note_vkey_parse(o->trusted_vkeys[i], &k)) != MM_OK ||
			    (rc = add_key(e, &k)) != MM_OK)
				return rc;
		}
	}
	return MM_OK;
}

/* Input keys are used only when the caller trusts none of its own. */
static mm_err input_key(struct engine *e, const mm_audit_note_key *k)
{
	return e->rep->keys_from_input ? add_key(e, k) : MM_OK;
}

/* Verifies note's signature; parses size and root. */
static mm_err open_checkpoint(struct engine *e, const char *note, size_t len, bool older,
			      int64_t *size, uint8_t root[32])
{
	char origin[sizeof(e->origin)];
	size_t textlen;
	mm_err rc;

	rc = mm_audit_note_verify(note, len, e->keys, e->nkeys, &textlen, NULL);
	if (rc == MM_OK)
		rc = mm_audit_checkpoint_parse(note, textlen, origin, sizeof(origin), size, root);
	if (rc != MM_OK)
		return fail(e, older ? MM_AUDIT_HISTORY : MM_AUDIT_BAD_CHECKPOINT, e->next_seq,
			    "%s checkpoint: %s", older ? "the older" : "a", mm_err_detail(rc));
	if (!e->have_origin) {
		snprintf(e->origin, sizeof(e->origin), "%s", origin);
		e->have_origin = true;
	} else if (strcmp(origin, e->origin) != 0) {
		return fail(e, MM_AUDIT_BAD_CHECKPOINT, e->next_seq,
			    "checkpoint of size %" PRId64 " has origin '%s', expected '%s'", *size,
			    origin, e->origin);
	}
	return MM_OK;
}

/* Root at size >= f->size: f extended by the suffix hashes. */
static mm_err root_with_suffix(const mm_merkle_frontier *f, int64_t size,
			       const uint8_t (*suffix)[32], size_t n, uint8_t out[32])
{
	mm_merkle_frontier g = *f;
	size_t i = 0;
	mm_err rc;

	while (g.size < (uint64_t)size) {
		unsigned l = g.size == 0 ? 63 : (unsigned)__builtin_ctzll(g.size);

		while (g.size + ((uint64_t)1 << l) > (uint64_t)size)
			l--;
		if (i == n)
			return mm_err_set(MM_ERR_INVALID, "too few suffix hashes");
		if ((rc = mm_merkle_frontier_append_node(&g, l, suffix[i++])) != MM_OK)
			return rc;
	}
	if (i != n)
		return mm_err_set(MM_ERR_INVALID, "too many suffix hashes");
	mm_merkle_frontier_root(&g, out);
	return MM_OK;
}

/* ---- diagnosis (data-dir mode) ---- */

static mm_err stored_leaf(mm_db *db, int64_t seq, bool *have, uint8_t out[32])
{
	uint8_t t[TILE_W][HLEN];
	unsigned count;
	mm_err rc;

	if ((rc = mm_audit_tile_get(db, 0, (uint64_t)seq / TILE_W, &count, t)) != MM_OK)
		return rc;
	*have = (unsigned)(seq % TILE_W) < count;
	if (*have)
		memcpy(out, t[seq % TILE_W], 32);
	return MM_OK;
}

/* Leaf of the row stored at seq `row`, hashed as if it were event `as`. */
static mm_err row_leaf_as(mm_db *db, int64_t row, int64_t as, bool *have, uint8_t out[32])
{
	static const char sql[] = "SELECT " AUDIT_COLS " FROM audit_events WHERE seq = ?";
	mm_audit_record r;
	mm_stmt *st;
	bool found;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, row)) == MM_OK && (rc = mm_stmt_step(st, &found)) == MM_OK) {
		*have = found;
		if (found) {
			mm_audit_record_from_stmt(st, &r);
			r.seq = as;
			rc = mm_audit_record_leaf(&r, out);
		}
	}
	mm_stmt_done(st);
	return rc;
}

/* The stored hashes are authentic and event s differs: say how. */
static mm_err classify(struct engine *e, int64_t s)
{
	uint8_t want[32], got[32];
	int64_t moved_from = -1, orig_at = -1;
	bool have, hrow;
	mm_err rc;

	if (e->db == NULL)
		return fail(e, MM_AUDIT_MODIFIED, s, "event %" PRId64 " was modified", s);
	for (int64_t t = s + 1; t <= s + DIAG_WINDOW && moved_from < 0; t++) {
		if ((rc = stored_leaf(e->db, t, &have, want)) != MM_OK)
			return rc;
		if (!have)
			break;
		if ((rc = row_leaf_as(e->db, s, t, &hrow, got)) != MM_OK)
			return rc;
		if (hrow && memcmp(got, want, 32) == 0)
			moved_from = t;
	}
	if ((rc = stored_leaf(e->db, s, &have, want)) != MM_OK)
		return rc;
	for (int64_t q = s + 1; have && q <= s + DIAG_WINDOW && orig_at < 0; q++) {
		if ((rc = row_leaf_as(e->db, q, s, &hrow, got)) != MM_OK)
			return rc;
		if (!hrow)
			break;
		if (memcmp(got, want, 32) == 0)
			orig_at = q;
	}
	if (moved_from >= 0 && orig_at >= 0)
		return fail(e, MM_AUDIT_REORDERED, s,
			    "events were reordered: seq %" PRId64 " holds the event signed as %" PRId64
			    ", and the event signed as %" PRId64 " is now at %" PRId64,
			    s, moved_from, s, orig_at);
	if (moved_from >= 0)
		return fail(e, MM_AUDIT_MISSING, s,
			    "%" PRId64 " event(s) deleted at seq %" PRId64
			    " and the later events renumbered", moved_from - s, s);
	if (orig_at >= 0)
		return fail(e, MM_AUDIT_INSERTED, s,
			    "%" PRId64 " event(s) inserted at seq %" PRId64 " (the event signed as %"
			    PRId64 " is now at %" PRId64 ")", orig_at - s, s, s, orig_at);
	return fail(e, MM_AUDIT_MODIFIED, s, "event %" PRId64 " was modified", s);
}

/* A signed root R of size n does not match the recomputed tree. */
static mm_err explain_mismatch(struct engine *e, int64_t n, const uint8_t root[32],
			       const uint8_t (*suffix)[32], size_t nsuffix, bool older)
{
	uint8_t sroot[32];
	const char *what = older ? "the older checkpoint" : "the signed checkpoint";

	if (e->diverged &&
	    root_with_suffix(&e->fs, n, suffix, nsuffix, sroot) == MM_OK &&
	    memcmp(sroot, root, 32) == 0) {
		mm_err rc = classify(e, e->first_diff);

		if (older && e->rep->problem == MM_AUDIT_MODIFIED)
			e->rep->problem = MM_AUDIT_HISTORY;
		return rc;
	}
	if (e->diverged)
		return fail(e, older ? MM_AUDIT_HISTORY : MM_AUDIT_MODIFIED, e->first_diff,
			    "event %" PRId64 " does not match %s of size %" PRId64
			    " (its stored hashes were altered too)", e->first_diff, what, n);
	if (older)
		return fail(e, MM_AUDIT_HISTORY, n - 1,
			    "history was rewritten: the first %" PRId64 " events do not match %s "
			    "(an event at or before seq %" PRId64 " differs)", n, what, n - 1);
	return fail(e, MM_AUDIT_MODIFIED, e->last_good,
		    "events in [%" PRId64 ", %" PRId64 ") do not match %s of size %" PRId64
		    " (their stored hashes were rewritten too)", e->last_good, n, what, n);
}

static mm_err check_root(struct engine *e, int64_t n, const uint8_t root[32],
			 const uint8_t (*suffix)[32], size_t nsuffix, bool older)
{
	uint8_t mine[32];
	mm_err rc;

	if ((rc = root_with_suffix(&e->f, n, suffix, nsuffix, mine)) != MM_OK)
		return fail(e, MM_AUDIT_FORMAT, e->next_seq, "checkpoint of size %" PRId64 ": %s", n,
			    mm_err_detail(rc));
	if (memcmp(mine, root, 32) != 0)
		return explain_mismatch(e, n, root, suffix, nsuffix, older);
	if (e->diverged && nsuffix == 0)
		return fail(e, MM_AUDIT_INDEX, e->first_diff,
			    "the stored hash of event %" PRId64 " is wrong although the events match "
			    "the checkpoint of size %" PRId64 ": the tree index was altered",
			    e->first_diff, n);
	if (!older) {
		e->rep->checkpoints++;
		if (n <= (int64_t)e->f.size) {
			e->last_good = n;
			e->rep->covered = n;
		} else {
			e->rep->covered = (int64_t)e->f.size;
		}
	}
	return MM_OK;
}

static mm_err engine_checkpoint(struct engine *e, const char *note, size_t len,
				const uint8_t (*suffix)[32], size_t nsuffix)
{
	uint8_t root[32];
	int64_t n;
	mm_err rc;

	if ((rc = open_checkpoint(e, note, len, false, &n, root)) != MM_OK)
		return rc;
	if (n < (int64_t)e->f.size)
		return fail(e, MM_AUDIT_FORMAT, n, "checkpoint of size %" PRId64 " out of order", n);
	return check_root(e, n, root, suffix, nsuffix, false);
}

static mm_err check_old(struct engine *e)
{
	if (e->have_old && !e->old_done && (int64_t)e->f.size == e->old_size) {
		e->old_done = true;
		return check_root(e, e->old_size, e->old_root, NULL, 0, true);
	}
	return MM_OK;
}

struct tile_check {
	struct engine *e;
};

static mm_err on_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct engine *e = ctx;
	unsigned t = level / TILE_H;
	uint8_t stored[TILE_W][HLEN];
	unsigned count;
	bool have;
	mm_err rc;

	if (level % TILE_H != 0 || level == 0 || t >= TILE_LEVELS || e->diverged)
		return MM_OK;
	memcpy(e->tile[t][index % TILE_W], hash, 32);
	if (index % TILE_W != TILE_W - 1)
		return MM_OK;
	if ((rc = mm_audit_tile_get(e->db, t, index / TILE_W, &count, stored)) != MM_OK)
		return rc;
	have = count == TILE_W;
	if (!have || memcmp(stored, e->tile[t], sizeof(stored)) != 0) {
		int64_t first = (int64_t)((index / TILE_W) * TILE_W) << (TILE_H * t);

		return fail(e, MM_AUDIT_INDEX, first,
			    "stored tree tile (%u, %" PRIu64 ") covering seq %" PRId64 "..%" PRId64
			    " is %s", t, index / TILE_W, first,
			    first + ((int64_t)TILE_W << (TILE_H * t)) - 1,
			    have ? "altered" : "missing");
	}
	return MM_OK;
}

static void progress(struct engine *e, bool final)
{
	if (e->o != NULL && e->o->progress != NULL &&
	    (final || e->rep->events % PROGRESS_EVERY == 0))
		e->o->progress(e->o->progress_ctx, e->rep->events, e->total);
}

/* stored: the stored leaf hash, or NULL when none is available. */
static mm_err engine_event(struct engine *e, const mm_audit_record *r, const uint8_t *stored)
{
	uint8_t leaf[32];
	mm_err rc;

	if (r->seq != e->next_seq) {
		if (r->seq > e->next_seq && e->db == NULL && e->gap < 0) {
			/* Missing, or moved further down the bundle: look ahead. */
			e->gap = e->next_seq;
			e->gap_lines = 0;
			return MM_OK;
		}
		if (r->seq > e->next_seq)
			return fail(e, MM_AUDIT_MISSING, e->next_seq,
				    "event%s %" PRId64 "%s%.0" PRId64 " %s missing (deleted)",
				    r->seq - e->next_seq > 1 ? "s" : "", e->next_seq,
				    r->seq - e->next_seq > 1 ? ".." : "",
				    r->seq - e->next_seq > 1 ? r->seq - 1 : 0,
				    r->seq - e->next_seq > 1 ? "are" : "is");
		return fail(e, r->seq == e->next_seq - 1 ? MM_AUDIT_INSERTED : MM_AUDIT_REORDERED,
			    e->next_seq,
			    "event %" PRId64 " appears where event %" PRId64 " should be",
			    r->seq, e->next_seq);
	}
	if ((rc = mm_audit_record_leaf(r, leaf)) != MM_OK)
		return rc;
	if (stored != NULL && !e->diverged && memcmp(stored, leaf, 32) != 0) {
		e->diverged = true;
		e->first_diff = r->seq;
		e->fs = e->f;
	}
	if ((rc = mm_merkle_frontier_append(&e->f, leaf, e->db ? on_node : NULL, e)) != MM_OK)
		return rc;
	if (e->diverged &&
	    (rc = mm_merkle_frontier_append(&e->fs, stored ? stored : leaf, NULL, NULL)) != MM_OK)
		return rc;
	e->next_seq++;
	e->rep->events++;
	progress(e, false);
	return check_old(e);
}

static mm_err engine_start(struct engine *e, int64_t first)
{
	const char *old = e->o ? e->o->older_checkpoint : NULL;
	mm_err rc;

	e->next_seq = first;
	e->last_good = first;
	e->rep->first_seq = first;
	e->rep->covered = first;
	if (old != NULL) {
		if ((rc = open_checkpoint(e, old, strlen(old), true, &e->old_size, e->old_root)) != MM_OK)
			return rc;
		e->have_old = true;
		if (e->old_size < first)
			return mm_err_set(MM_ERR_INVALID, "the older checkpoint (size %" PRId64 ") is "
					  "before the first event checked (%" PRId64 "): export a "
					  "range that starts at or before it", e->old_size, first);
	}
	return check_old(e);
}

static mm_err engine_finish(struct engine *e, int64_t stored_size)
{
	e->rep->tree_size = (int64_t)e->f.size;
	mm_merkle_frontier_root(&e->f, e->rep->root);
	progress(e, true);
	if (e->have_old && !e->old_done)
		return fail(e, MM_AUDIT_TRUNCATED, (int64_t)e->f.size,
			    "the log ends at %" PRId64 " events but the older checkpoint covers %"
			    PRId64 ": events from seq %" PRId64 " were removed", (int64_t)e->f.size,
			    e->old_size, (int64_t)e->f.size);
	if (stored_size > (int64_t)e->f.size)
		return fail(e, MM_AUDIT_TRUNCATED, (int64_t)e->f.size,
			    "the tree records %" PRId64 " events but only %" PRId64
			    " exist: events from seq %" PRId64 " were removed",
			    stored_size, (int64_t)e->f.size, (int64_t)e->f.size);
	if (e->diverged)
		return fail(e, MM_AUDIT_MODIFIED, e->first_diff,
			    "event %" PRId64 " does not match its stored hash (it is after the last "
			    "checkpoint, size %" PRId64 ")", e->first_diff, e->last_good);
	if (stored_size >= 0 && stored_size < (int64_t)e->f.size)
		return fail(e, MM_AUDIT_INSERTED, stored_size,
			    "events from seq %" PRId64 " are not in the stored tree (added outside "
			    "mamori)", stored_size);
	return MM_OK;
}

/* ---- data directory ---- */

static mm_err db_keys(struct engine *e, mm_db *db)
{
	static const char sql[] = "SELECT key_name, public_key FROM audit_keys";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_note_key k;
		size_t n;
		const void *p = mm_stmt_blob(st, 1, &n);

		if (n == 32 && mm_audit_note_key_init(&k, mm_stmt_text(st, 0), p) == MM_OK &&
		    (rc = input_key(e, &k)) != MM_OK)
			break;
	}
	mm_stmt_done(st);
	return rc;
}

static mm_err db_checkpoints_upto(struct engine *e, mm_stmt *ck, bool *have, int64_t size)
{
	bool row;
	mm_err rc;

	while (*have && mm_stmt_int(ck, 0) <= size) {
		const char *note = mm_stmt_text(ck, 1);

		if (mm_stmt_int(ck, 0) == size) {
			if (note == NULL)
				return fail(e, MM_AUDIT_BAD_CHECKPOINT, size, "checkpoint %" PRId64
					    " has no note", size);
			if ((rc = engine_checkpoint(e, note, strlen(note), NULL, 0)) != MM_OK)
				return rc;
		}
		if ((rc = mm_stmt_step(ck, &row)) != MM_OK)
			return rc;
		*have = row;
	}
	return MM_OK;
}

mm_err mm_audit_verify_data_dir(const char *dir, const mm_audit_verify_opts *o,
				mm_audit_verify_report *ret)
{
	static const char q_events[] = "SELECT " AUDIT_COLS " FROM audit_events ORDER BY seq";
	static const char q_ckpts[] =
		"SELECT tree_size, note FROM audit_checkpoints ORDER BY tree_size";
	static const char q_count[] = "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_events";
	mm_store_opts so = { .dir = dir, .read_only = true };
	struct engine *e = calloc(1, sizeof(*e));
	mm_store *s = NULL;
	mm_db *db = NULL;
	mm_stmt *ev = NULL, *ck = NULL, *cnt = NULL;
	uint8_t tile0[TILE_W][HLEN];
	unsigned tile0_count = 0;
	bool row, have_ck, txn = false;
	int64_t stored_size = 0;
	mm_err rc;

	if (e == NULL)
		return MM_ERR_NOMEM;
	if ((rc = engine_init(e, o, ret)) != MM_OK)
		goto out;
	if ((rc = mm_store_open(&so, &s)) != MM_OK || (rc = mm_store_acquire(s, &db)) != MM_OK)
		goto out;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	txn = true;
	e->db = db;
	if ((rc = db_keys(e, db)) != MM_OK || (rc = mm_audit_state_size(db, &stored_size)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_count, &cnt)) != MM_OK || (rc = mm_stmt_step(cnt, &row)) != MM_OK)
		goto out;
	e->total = row ? mm_stmt_int(cnt, 0) : 0;
	if ((rc = engine_start(e, 0)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_ckpts, &ck)) != MM_OK || (rc = mm_stmt_step(ck, &have_ck)) != MM_OK)
		goto out;
	if ((rc = db_checkpoints_upto(e, ck, &have_ck, 0)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_events, &ev)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(ev, &row)) == MM_OK && row) {
		mm_audit_record r;

		mm_audit_record_from_stmt(ev, &r);
		if (r.seq == e->next_seq && r.seq % TILE_W == 0) {
			if ((rc = mm_audit_tile_get(db, 0, (uint64_t)r.seq / TILE_W, &tile0_count,
						    tile0)) != MM_OK)
				goto out;
		}
		if ((rc = engine_event(e, &r, (unsigned)(r.seq % TILE_W) < tile0_count
					      ? tile0[r.seq % TILE_W] : NULL)) != MM_OK ||
		    (rc = db_checkpoints_upto(e, ck, &have_ck, r.seq + 1)) != MM_OK)
			goto out;
	}
	if (rc != MM_OK)
		goto out;
	if (have_ck) {
		int64_t n = mm_stmt_int(ck, 0);

		rc = fail(e, MM_AUDIT_TRUNCATED, (int64_t)e->f.size,
			  "a checkpoint covers %" PRId64 " events but the log ends at %" PRId64
			  ": events from seq %" PRId64 " were removed", n, (int64_t)e->f.size,
			  (int64_t)e->f.size);
		goto out;
	}
	rc = engine_finish(e, stored_size);
out:
	mm_stmt_done(ev);
	mm_stmt_done(ck);
	mm_stmt_done(cnt);
	if (txn)
		mm_db_rollback(db);
	if (db != NULL)
		mm_store_release(s, db);
	mm_store_close(s);
	free(e);
	return rc;
}

/* ---- bundle ---- */

static mm_err b64_hash(const json_t *v, uint8_t out[32])
{
	mm_buf b = MM_BUF_INIT(64);
	mm_err rc = MM_ERR_INVALID;

	if (json_is_string(v) &&
	    mm_base64_decode(&b, json_string_value(v), json_string_length(v)) == MM_OK && b.len == 32) {
		memcpy(out, b.data, 32);
		rc = MM_OK;
	}
	mm_buf_release(&b);
	return rc;
}

static const char *opt_str(const json_t *o, const char *k, bool *ok)
{
	const json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		*ok = false;
		return NULL;
	}
	return json_string_value(v);
}

static mm_err bundle_event(struct engine *e, const json_t *o, int64_t line)
{
	mm_audit_record r;
	uint8_t leaf[32];
	const json_t *d = json_object_get(o, "details");
	bool ok = true, have_leaf;

	if (!json_is_integer(json_object_get(o, "seq")) ||
	    !json_is_integer(json_object_get(o, "time_ms")))
		return fail(e, MM_AUDIT_FORMAT, e->next_seq, "line %" PRId64 ": bad event", line);
	r.seq = json_integer_value(json_object_get(o, "seq"));
	r.time_ms = json_integer_value(json_object_get(o, "time_ms"));
	r.actor = opt_str(o, "actor", &ok);
	r.action = opt_str(o, "action", &ok);
	r.target = opt_str(o, "target", &ok);
	r.result = opt_str(o, "result", &ok);
	r.source = opt_str(o, "source", &ok);
	r.request_id = opt_str(o, "request_id", &ok);
	if (d == NULL || json_is_null(d)) {
		r.details = NULL;
		r.details_len = 0;
	} else if (json_is_string(d)) {
		r.details = json_string_value(d);
		r.details_len = json_string_length(d);
	} else {
		ok = false;
	}
	if (!ok)
		return fail(e, MM_AUDIT_FORMAT, r.seq, "line %" PRId64 ": bad event field", line);
	have_leaf = b64_hash(json_object_get(o, "leaf"), leaf) == MM_OK;
	return engine_event(e, &r, have_leaf ? leaf : NULL);
}

static mm_err bundle_checkpoint(struct engine *e, const json_t *o, int64_t line)
{
	const json_t *note = json_object_get(o, "checkpoint"), *sfx = json_object_get(o, "suffix");
	uint8_t (*suffix)[32] = NULL;
	size_t n = 0;
	mm_err rc;

	if (!json_is_string(note) || (sfx != NULL && !json_is_array(sfx)) ||
	    (sfx != NULL && json_array_size(sfx) > 64))
		return fail(e, MM_AUDIT_FORMAT, e->next_seq, "line %" PRId64 ": bad checkpoint", line);
	if (sfx != NULL && (n = json_array_size(sfx)) > 0) {
		if ((suffix = calloc(n, 32)) == NULL)
			return MM_ERR_NOMEM;
		for (size_t i = 0; i < n; i++)
			if (b64_hash(json_array_get(sfx, i), suffix[i]) != MM_OK) {
				free(suffix);
				return fail(e, MM_AUDIT_FORMAT, e->next_seq,
					    "line %" PRId64 ": bad suffix hash", line);
			}
	}
	rc = engine_checkpoint(e, json_string_value(note), json_string_length(note),
			       (const uint8_t (*)[32])suffix, n);
	free(suffix);
	return rc;
}

static mm_err bundle_header(struct engine *e, const json_t *h, int64_t *ret_from, int64_t *ret_to)
{
	const json_t *keys = json_object_get(h, "keys"), *prefix = json_object_get(h, "prefix"), *v;
	int64_t from, to;
	size_t i, j = 0;
	mm_err rc;

	if (!json_is_object(h) ||
	    !json_is_string(json_object_get(h, "format")) ||
	    strcmp(json_string_value(json_object_get(h, "format")), "mamori-audit-bundle") != 0 ||
	    json_integer_value(json_object_get(h, "version")) != 1 ||
	    !json_is_integer(json_object_get(h, "from")) || !json_is_integer(json_object_get(h, "to")) ||
	    !json_is_array(keys) || !json_is_array(prefix))
		return fail(e, MM_AUDIT_FORMAT, -1, "not a mamori audit bundle (version 1)");
	from = json_integer_value(json_object_get(h, "from"));
	to = json_integer_value(json_object_get(h, "to"));
	if (from < 0 || to < from)
		return fail(e, MM_AUDIT_FORMAT, -1, "bundle header: bad range");
	json_array_foreach(keys, i, v) {
		mm_audit_note_key k;

		if (!json_is_string(v) || mm_audit_note_vkey_parse(json_string_value(v), &k) != MM_OK)
			return fail(e, MM_AUDIT_FORMAT, -1, "bundle header: bad key");
		if ((rc = input_key(e, &k)) != MM_OK)
			return rc;
	}
	/* The prefix is the compact range of [0, from), largest subtree first. */
	if ((int)json_array_size(prefix) != __builtin_popcountll((uint64_t)from))
		return fail(e, MM_AUDIT_FORMAT, -1, "bundle header: wrong number of prefix hashes");
	for (int l = 63; l >= 0; l--) {
		if (!((uint64_t)from & ((uint64_t)1 << l)))
			continue;
		if (b64_hash(json_array_get(prefix, j++), e->f.h[l]) != MM_OK)
			return fail(e, MM_AUDIT_FORMAT, -1, "bundle header: bad prefix hash");
	}
	e->f.size = (uint64_t)from;
	*ret_from = from;
	*ret_to = to;
	return MM_OK;
}

static mm_err gap_missing(struct engine *e)
{
	return fail(e, MM_AUDIT_MISSING, e->gap, "event %" PRId64 " is missing (deleted)", e->gap);
}

mm_err mm_audit_verify_bundle(const char *path, const mm_audit_verify_opts *o,
			      mm_audit_verify_report *ret)
{
	struct engine *e = calloc(1, sizeof(*e));
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int64_t lineno = 0, from = 0, to = 0;
	json_t *j = NULL;
	mm_err rc;

	if (e == NULL)
		return MM_ERR_NOMEM;
	if ((rc = engine_init(e, o, ret)) != MM_OK)
		goto out;
	if ((f = fopen(path, "re")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (n > 4 * MM_AUDIT_MAX_DETAILS * 6) {
			rc = fail(e, MM_AUDIT_FORMAT, e->next_seq, "line %" PRId64 " is too long", lineno);
			goto out;
		}
		j = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(j)) {
			rc = fail(e, MM_AUDIT_FORMAT, e->next_seq, "line %" PRId64 " is not a JSON object",
				  lineno);
			goto out;
		}
		if (e->gap >= 0) {
			const json_t *sq = json_object_get(j, "seq");

			if (json_is_integer(sq) && json_integer_value(sq) == e->gap) {
				rc = fail(e, MM_AUDIT_REORDERED, e->gap,
					  "event %" PRId64 " appears later in the bundle (line %" PRId64
					  "): events were reordered", e->gap, lineno);
				goto out;
			}
			if (++e->gap_lines > DIAG_WINDOW || json_object_get(j, "checkpoint") != NULL) {
				rc = gap_missing(e);
				goto out;
			}
		} else if (lineno == 1) {
			if ((rc = bundle_header(e, j, &from, &to)) != MM_OK)
				goto out;
			e->total = to - from;
			if ((rc = engine_start(e, from)) != MM_OK)
				goto out;
		} else if (json_object_get(j, "checkpoint") != NULL) {
			if ((rc = bundle_checkpoint(e, j, lineno)) != MM_OK)
				goto out;
		} else if ((rc = bundle_event(e, j, lineno)) != MM_OK) {
			goto out;
		}
		json_decref(j);
		j = NULL;
	}
	if (ferror(f)) {
		rc = mm_err_set(MM_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (e->gap >= 0) {
		rc = gap_missing(e);
		goto out;
	}
	if (lineno == 0) {
		rc = fail(e, MM_AUDIT_FORMAT, -1, "the bundle is empty");
		goto out;
	}
	if ((int64_t)e->f.size < to) {
		rc = fail(e, MM_AUDIT_TRUNCATED, (int64_t)e->f.size,
			  "the bundle declares events up to %" PRId64 " but ends at seq %" PRId64, to,
			  (int64_t)e->f.size);
		goto out;
	}
	if (e->have_old && !e->old_done && e->old_size > to) {
		rc = mm_err_set(MM_ERR_INVALID, "the older checkpoint (size %" PRId64 ") is beyond "
				"this bundle (events up to %" PRId64 "): export a range that includes "
				"it", e->old_size, to);
		goto out;
	}
	rc = engine_finish(e, -1);
out:
	json_decref(j);
	free(line);
	if (f != NULL)
		fclose(f);
	free(e);
	return rc;
}
