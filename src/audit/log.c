/*
 * log.c: appending events, the canonical leaf form, and the tree kept by the
 * store's group hook.
 *
 * Invariants:
 *  - audit_events rows are only ever inserted, with seq equal to the number
 *    of rows before the insert (MAX(seq) + 1 inside the writer's
 *    transaction); nothing updates or deletes them.
 *  - After every committed group, audit_state.tree_size equals the number of
 *    events, audit_state.root is the RFC 9162 root over them, and every tile
 *    whose nodes are all complete is stored (see internal.h). The hook runs
 *    inside the group's transaction, so events and tree commit together.
 *  - mm_audit_append hashes each event once and leaves (seq, leaf) in a
 *    per-writer-thread list; a later append with a seq already in the list
 *    (after a job's rollback freed it) truncates the list there. The hook
 *    uses the list only if it covers exactly the group's new seqs, and
 *    otherwise re-reads the rows, so the list is an optimisation that can
 *    never change a result.
 *  - log->cur is changed only by the post hook, on the writer thread, under
 *    log->mu; log->next and log->staged only on the writer thread.
 */
#include "audit/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"

static const char *const steps[] = {
	"CREATE TABLE audit_events ("
	" seq INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT,"
	" result TEXT NOT NULL,"
	" source TEXT,"
	" request_id TEXT,"
	" details TEXT);"
	"CREATE INDEX audit_events_time ON audit_events (time_ms);"
	"CREATE INDEX audit_events_actor ON audit_events (actor);"
	"CREATE INDEX audit_events_action ON audit_events (action);"
	"CREATE INDEX audit_events_target ON audit_events (target);"
	"CREATE TABLE audit_tiles ("
	" level INTEGER NOT NULL,"
	" idx INTEGER NOT NULL,"
	" hashes BLOB NOT NULL,"
	" PRIMARY KEY (level, idx));"
	"CREATE TABLE audit_state ("
	" id INTEGER PRIMARY KEY,"
	" tree_size INTEGER NOT NULL,"
	" root BLOB);"
	"INSERT INTO audit_state (id, tree_size, root) VALUES (0, 0, NULL);"
	"CREATE TABLE audit_checkpoints ("
	" tree_size INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" root BLOB NOT NULL,"
	" key_name TEXT NOT NULL,"
	" note TEXT NOT NULL);"
	"CREATE TABLE audit_keys ("
	" key_id TEXT PRIMARY KEY,"
	" key_name TEXT NOT NULL,"
	" public_key BLOB NOT NULL,"
	" first_used_ms INTEGER NOT NULL)",
	/* 2: the target is indexed in chunks (see mm_audit_merge_index): a
	 * per-row B-tree index on target dirtied about one page per distinct
	 * target in every group commit, which more than halved the append
	 * rate. Actor and action keep their per-row indexes: few distinct
	 * values, so their inserts land on the same few pages. audit_key_idx
	 * has a kind column (3 = target) so that other fields can move there. */
	"DROP INDEX audit_events_target;"
	"CREATE TABLE audit_key_idx ("
	" kind INTEGER NOT NULL,"
	" value TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" PRIMARY KEY (kind, value, seq)) WITHOUT ROWID;"
	"CREATE TABLE audit_index_mark ("
	" id INTEGER PRIMARY KEY,"
	" upto INTEGER NOT NULL);"
	"INSERT INTO audit_key_idx (kind, value, seq)"
	" SELECT 3, target, seq FROM audit_events WHERE target IS NOT NULL;"
	"INSERT INTO audit_index_mark (id, upto)"
	" SELECT 0, COALESCE(MAX(seq) + 1, 0) FROM audit_events",
	/* 3: every query index moves to the companion database (index.c),
	 * written off the commit path; it is rebuilt there from the events. */
	"DROP INDEX audit_events_time;"
	"DROP INDEX audit_events_actor;"
	"DROP INDEX audit_events_action;"
	"DROP TABLE audit_key_idx;"
	"DROP TABLE audit_index_mark",
};

const mm_migration_set mm_audit_migrations = { "audit", steps, sizeof(steps) / sizeof(steps[0]) };

/* ---- canonical form ---- */

#define LEAF_VERSION 0x01

static size_t field_len(const char *s, size_t n)
{
	return s == NULL ? 1 : 1 + 4 + n;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_field(uint8_t *p, const char *s, size_t n)
{
	if (s == NULL) {
		*p++ = 0;
		return p;
	}
	*p++ = 1;
	*p++ = (uint8_t)(n >> 24);
	*p++ = (uint8_t)(n >> 16);
	*p++ = (uint8_t)(n >> 8);
	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return p + n;
}

/* Writes the serialisation into buf if it fits in cap; returns its length. */
static size_t serialise_to(const mm_audit_record *r, uint8_t *buf, size_t cap)
{
	const char *f[7] = { r->actor, r->action, r->target, r->result, r->source, r->request_id,
			     r->details };
	size_t l[7], total = 1 + 8 + 8;
	uint8_t *p = buf;

	for (int i = 0; i < 7; i++) {
		l[i] = f[i] == NULL ? 0 : i == 6 ? r->details_len : strlen(f[i]);
		total += field_len(f[i], l[i]);
	}
	if (total > cap)
		return total;
	*p++ = LEAF_VERSION;
	p = put_u64(p, (uint64_t)r->seq);
	p = put_u64(p, (uint64_t)r->time_ms);
	for (int i = 0; i < 7; i++)
		p = put_field(p, f[i], l[i]);
	return total;
}

mm_err mm_audit_serialise(const mm_audit_record *r, mm_buf *out)
{
	size_t n = serialise_to(r, NULL, 0);
	mm_err rc;

	if ((rc = mm_buf_grow(out, n)) != MM_OK)
		return rc;
	serialise_to(r, (uint8_t *)out->data + out->len, n);
	out->len += n;
	out->data[out->len] = '\0';
	return MM_OK;
}

mm_err mm_audit_record_leaf(const mm_audit_record *r, uint8_t leaf[MM_MERKLE_HASH_LEN])
{
	uint8_t stackbuf[2048], *heap;
	size_t n = serialise_to(r, stackbuf, sizeof(stackbuf));

	if (n <= sizeof(stackbuf)) {
		mm_merkle_leaf_hash(stackbuf, n, leaf);
		return MM_OK;
	}
	if ((heap = malloc(n)) == NULL)
		return MM_ERR_NOMEM;
	serialise_to(r, heap, n);
	mm_merkle_leaf_hash(heap, n, leaf);
	free(heap);
	return MM_OK;
}

static json_t *str_or_null(const char *s)
{
	return s == NULL ? json_null() : json_string(s);
}

json_t *mm_audit_record_json(const mm_audit_record *r)
{
	char ts[MM_TIME_RFC3339_LEN];
	json_t *o = json_object(), *d = NULL;

	if (o == NULL)
		return NULL;
	mm_time_format(r->time_ms, ts);
	if (r->details != NULL) {
		d = json_loadb(r->details, r->details_len, JSON_DECODE_ANY, NULL);
		if (d == NULL) /* not JSON (a damaged row): show the raw text */
			d = json_stringn(r->details, r->details_len);
	}
	if (json_object_set_new(o, "seq", json_integer(r->seq)) != 0 ||
	    json_object_set_new(o, "time", json_string(ts)) != 0 ||
	    json_object_set_new(o, "time_ms", json_integer(r->time_ms)) != 0 ||
	    json_object_set_new(o, "actor", str_or_null(r->actor)) != 0 ||
	    json_object_set_new(o, "action", str_or_null(r->action)) != 0 ||
	    json_object_set_new(o, "target", str_or_null(r->target)) != 0 ||
	    json_object_set_new(o, "result", str_or_null(r->result)) != 0 ||
	    json_object_set_new(o, "source", str_or_null(r->source)) != 0 ||
	    json_object_set_new(o, "request_id", str_or_null(r->request_id)) != 0 ||
	    json_object_set_new(o, "details", d != NULL ? d : json_null()) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void mm_audit_record_from_stmt(mm_stmt *st, mm_audit_record *r)
{
	size_t dl = 0;
	const void *d;

	r->seq = mm_stmt_int(st, 0);
	r->time_ms = mm_stmt_int(st, 1);
	r->actor = mm_stmt_text(st, 2);
	r->action = mm_stmt_text(st, 3);
	r->target = mm_stmt_text(st, 4);
	r->result = mm_stmt_text(st, 5);
	r->source = mm_stmt_text(st, 6);
	r->request_id = mm_stmt_text(st, 7);
	if (mm_stmt_is_null(st, 8)) {
		r->details = NULL;
		r->details_len = 0;
	} else {
		d = mm_stmt_blob(st, 8, &dl);
		r->details = d != NULL ? d : "";
		r->details_len = dl;
	}
}

/* ---- validation ---- */

/* Strict UTF-8 without control characters (C0, DEL, C1). */
static bool text_ok(const char *s, size_t n)
{
	return mm_audit_utf8_ok(s, n, false, false);
}

static mm_err check_field(size_t idx, const char *name, const char *s, bool required, size_t max)
{
	size_t n;

	if (s == NULL) {
		if (required)
			return mm_err_set(MM_ERR_INVALID, "event %zu: field '%s' is required", idx, name);
		return MM_OK;
	}
	n = strlen(s);
	if ((required && n == 0) || n > max)
		return mm_err_set(MM_ERR_INVALID, "event %zu: field '%s' must be %s1..%zu bytes", idx,
				  name, required ? "" : "0..", max);
	if (!text_ok(s, n))
		return mm_err_set(MM_ERR_INVALID,
				  "event %zu: field '%s' must be UTF-8 without control characters",
				  idx, name);
	return MM_OK;
}

static mm_err check_event(size_t idx, const mm_audit_event *ev)
{
	mm_err rc;

	if ((rc = check_field(idx, "actor", ev->actor, true, MM_AUDIT_MAX_NAME)) != MM_OK ||
	    (rc = check_field(idx, "action", ev->action, true, MM_AUDIT_MAX_NAME)) != MM_OK ||
	    (rc = check_field(idx, "result", ev->result, true, MM_AUDIT_MAX_NAME)) != MM_OK ||
	    (rc = check_field(idx, "target", ev->target, false, MM_AUDIT_MAX_TEXT)) != MM_OK ||
	    (rc = check_field(idx, "source", ev->source, false, MM_AUDIT_MAX_TEXT)) != MM_OK ||
	    (rc = check_field(idx, "request_id", ev->request_id, false, MM_AUDIT_MAX_TEXT)) != MM_OK)
		return rc;
	if (ev->time_ms < 0)
		return mm_err_set(MM_ERR_INVALID, "event %zu: time must not be negative", idx);
	if (ev->details != NULL && !json_is_object(ev->details))
		return mm_err_set(MM_ERR_INVALID, "event %zu: details must be an object", idx);
	return MM_OK;
}

/* ---- pending leaves of the writer thread ---- */

#define PENDING_MAX ((size_t)1 << 20)

struct pending {
	int64_t base;
	size_t len, cap;
	uint8_t (*h)[HLEN];
	/* The index's entry of each leaf, when an index wants them (NULL
	 * where one could not be made: the index then reads the rows). */
	struct mm_audit_ix_entry **e;
};

/* Frees the index entries [from, len) of pd. */
static void pending_drop_entries(struct pending *pd, size_t from)
{
	if (pd->e == NULL)
		return;
	for (size_t i = from; i < pd->len; i++) {
		free(pd->e[i]);
		pd->e[i] = NULL;
	}
}

static pthread_key_t pending_key;
static pthread_once_t pending_once = PTHREAD_ONCE_INIT;

static void pending_free(void *p)
{
	struct pending *pd = p;

	pending_drop_entries(pd, 0);
	free(pd->e);
	free(pd->h);
	free(pd);
}

static void pending_init(void)
{
	(void)pthread_key_create(&pending_key, pending_free);
}

static struct pending *pending_get(bool create)
{
	struct pending *pd;

	pthread_once(&pending_once, pending_init);
	pd = pthread_getspecific(pending_key);
	if (pd == NULL && create) {
		pd = calloc(1, sizeof(*pd));
		if (pd != NULL && pthread_setspecific(pending_key, pd) != 0) {
			free(pd);
			pd = NULL;
		}
	}
	return pd;
}

/* Records leaf (and the index entry of r) for seq; on any difficulty the
 * list is just emptied (the hook then reads the rows). A seq at or below
 * the end replaces the leaves from there on: the job that appended them
 * was rolled back and its numbers are being used again. */
static void pending_put(int64_t seq, const mm_audit_record *r, const uint8_t leaf[HLEN])
{
	struct pending *pd = pending_get(true);

	if (pd == NULL)
		return;
	if (pd->len == 0 || seq < pd->base || seq > pd->base + (int64_t)pd->len) {
		pending_drop_entries(pd, 0);
		pd->base = seq;
		pd->len = 0;
	}
	pending_drop_entries(pd, (size_t)(seq - pd->base));
	pd->len = (size_t)(seq - pd->base);
	if (pd->len == pd->cap) {
		size_t ncap = pd->cap ? pd->cap * 2 : 1024;
		void *nh, *ne;

		if (ncap > PENDING_MAX || (nh = realloc(pd->h, ncap * HLEN)) == NULL) {
			pending_drop_entries(pd, 0);
			pd->len = 0;
			return;
		}
		pd->h = nh;
		if ((ne = realloc(pd->e, ncap * sizeof(*pd->e))) == NULL) {
			pending_drop_entries(pd, 0);
			pd->len = 0;
			return;
		}
		pd->e = ne;
		memset(pd->e + pd->cap, 0, (ncap - pd->cap) * sizeof(*pd->e));
		pd->cap = ncap;
	}
	pd->e[pd->len] = mm_audit_index_wants_entries() ? mm_audit_index_entry_new(r, leaf) : NULL;
	memcpy(pd->h[pd->len++], leaf, HLEN);
}

static void pending_clear(void)
{
	struct pending *pd = pending_get(false);

	if (pd != NULL) {
		pending_drop_entries(pd, 0);
		pd->len = 0;
	}
}

/* Hands the index entries of the committed events [first, end) to ix, when
 * pending holds exactly those and an entry for each; else the index reads
 * them from the primary. */
static void pending_handover(mm_audit_index *ix, int64_t first, int64_t end)
{
	struct pending *pd = pending_get(false);
	struct mm_audit_ix_entry *head = NULL, **tail = &head;
	size_t n;

	if (ix == NULL || pd == NULL || pd->e == NULL || pd->len == 0 || pd->base != first ||
	    pd->base + (int64_t)pd->len != end)
		return;
	n = pd->len;
	for (size_t i = 0; i < n; i++)
		if (pd->e[i] == NULL)
			return;
	for (size_t i = 0; i < n; i++) {
		pd->e[i]->next = NULL;
		*tail = pd->e[i];
		tail = &pd->e[i]->next;
		pd->e[i] = NULL;
	}
	mm_audit_index_handover(ix, first, head, n);
}

/* ---- appending ---- */

static mm_err next_seq(mm_db *db, int64_t *ret)
{
	static const char sql[] = "SELECT MAX(seq) FROM audit_events";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK)
		*ret = (!row || mm_stmt_is_null(st, 0)) ? 0 : mm_stmt_int(st, 0) + 1;
	mm_stmt_done(st);
	return rc;
}

mm_err mm_audit_details_text(const json_t *details, char **ret)
{
	char *d;

	*ret = NULL;
	if (details == NULL)
		return MM_OK;
	if ((d = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return mm_err_set(MM_ERR_INVALID, "details cannot be serialised");
	if (strlen(d) > MM_AUDIT_MAX_DETAILS) {
		free(d);
		return mm_err_set(MM_ERR_INVALID, "details longer than %d bytes", MM_AUDIT_MAX_DETAILS);
	}
	*ret = d;
	return MM_OK;
}

/* ev's details text, in *ret when it had to be made here (caller frees). */
static mm_err dump_details(const mm_audit_event *ev, char **ret)
{
	*ret = NULL;
	if (ev->details_text != NULL) {
		if (strlen(ev->details_text) > MM_AUDIT_MAX_DETAILS)
			return mm_err_set(MM_ERR_INVALID, "details longer than %d bytes",
					  MM_AUDIT_MAX_DETAILS);
		return MM_OK;
	}
	return mm_audit_details_text(ev->details, ret);
}

static mm_err insert_one(mm_db *db, const mm_audit_event *ev, int64_t seq, int64_t now)
{
	static const char sql[] =
		"INSERT INTO audit_events (" AUDIT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
	mm_audit_record r;
	uint8_t leaf[HLEN];
	char *details = NULL;
	mm_stmt *st = NULL;
	mm_err rc;

	r.seq = seq;
	r.time_ms = ev->time_ms ? ev->time_ms : now;
	r.actor = ev->actor;
	r.action = ev->action;
	r.target = ev->target;
	r.result = ev->result;
	r.source = ev->source;
	r.request_id = ev->request_id;
	if ((rc = dump_details(ev, &details)) != MM_OK)
		goto out;
	r.details = details != NULL ? details : ev->details_text;
	r.details_len = r.details != NULL ? strlen(r.details) : 0;
	if ((rc = mm_audit_record_leaf(&r, leaf)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_bind_int(st, 1, r.seq)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, r.time_ms)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 3, r.actor)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 4, r.action)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 5, r.target)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 6, r.result)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 7, r.source)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 8, r.request_id)) != MM_OK ||
	    (rc = mm_stmt_bind_text(st, 9, r.details)) != MM_OK)
		goto out;
	if ((rc = mm_stmt_run(st)) != MM_OK)
		goto out;
	pending_put(seq, &r, leaf);
out:
	mm_stmt_done(st);
	free(details);
	return rc;
}

static mm_err check_batch(const mm_audit_event *evs, size_t n)
{
	mm_err rc;

	if (n == 0 || n > MM_AUDIT_MAX_BATCH)
		return mm_err_set(MM_ERR_LIMIT, "a batch holds 1..%d events", MM_AUDIT_MAX_BATCH);
	for (size_t i = 0; i < n; i++)
		if ((rc = check_event(i, &evs[i])) != MM_OK)
			return rc;
	return MM_OK;
}

/* Appends checked events. */
static mm_err append_checked(mm_db *db, const mm_audit_event *evs, size_t n,
			     int64_t *ret_first_seq)
{
	int64_t seq, now;
	mm_err rc;

	if ((rc = next_seq(db, &seq)) != MM_OK)
		return rc;
	now = mm_time_wall_ms();
	for (size_t i = 0; i < n; i++)
		if ((rc = insert_one(db, &evs[i], seq + (int64_t)i, now)) != MM_OK)
			return rc;
	if (ret_first_seq != NULL)
		*ret_first_seq = seq;
	return MM_OK;
}

mm_err mm_audit_append_batch(mm_db *db, const mm_audit_event *evs, size_t n,
			     int64_t *ret_first_seq)
{
	mm_err rc;

	if ((rc = check_batch(evs, n)) != MM_OK)
		return rc;
	return append_checked(db, evs, n, ret_first_seq);
}

mm_err mm_audit_append(mm_db *db, const mm_audit_event *ev, int64_t *ret_seq)
{
	return mm_audit_append_batch(db, ev, 1, ret_seq);
}

/* ---- reading the stored tree ---- */

mm_err mm_audit_tile_get(mm_db *db, unsigned t, uint64_t idx, unsigned *ret_count,
			 uint8_t out[TILE_W][HLEN])
{
	static const char sql[] = "SELECT hashes FROM audit_tiles WHERE level = ? AND idx = ?";
	mm_stmt *st;
	const void *p;
	size_t n;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, t)) != MM_OK ||
	    (rc = mm_stmt_bind_int(st, 2, (int64_t)idx)) != MM_OK ||
	    (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	*ret_count = 0;
	if (row) {
		p = mm_stmt_blob(st, 0, &n);
		if (n == 0 || n > TILE_W * HLEN || n % HLEN != 0) {
			rc = mm_err_set(MM_ERR_VERIFY, "stored tile (%u, %" PRIu64 ") is damaged", t, idx);
			goto out;
		}
		memcpy(out, p, n);
		*ret_count = (unsigned)(n / HLEN);
	}
out:
	mm_stmt_done(st);
	return rc;
}

mm_err mm_audit_leaf_from_db(mm_db *db, int64_t seq, uint8_t out[HLEN])
{
	static const char sql[] = "SELECT " AUDIT_COLS " FROM audit_events WHERE seq = ?";
	mm_audit_record r;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, seq)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "audit event %" PRId64 " is missing", seq);
		goto out;
	}
	mm_audit_record_from_stmt(st, &r);
	rc = mm_audit_record_leaf(&r, out);
out:
	mm_stmt_done(st);
	return rc;
}

void mm_audit_nodes_init(mm_audit_nodes *n, mm_db *db)
{
	n->db = db;
	for (size_t i = 0; i < TILE_LEVELS; i++)
		n->cache[i].valid = false;
}

mm_err mm_audit_node_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HLEN])
{
	mm_audit_nodes *n = ctx;
	unsigned t = level / TILE_H, r = level % TILE_H;
	uint64_t first = index << r, tidx = first / TILE_W;
	uint8_t l[HLEN], rr[HLEN];
	mm_err rc;

	if (t >= TILE_LEVELS)
		return mm_err_set(MM_ERR_INVALID, "tree level %u out of range", level);
	if (!n->cache[t].valid || n->cache[t].idx != tidx) {
		if ((rc = mm_audit_tile_get(n->db, t, tidx, &n->cache[t].count, n->cache[t].h)) != MM_OK)
			return rc;
		n->cache[t].valid = true;
		n->cache[t].idx = tidx;
	}
	if ((unsigned)(first % TILE_W) + (1u << r) <= n->cache[t].count) {
		uint8_t h[8][HLEN];
		unsigned cnt = 1u << r, off = (unsigned)(first % TILE_W);

		memcpy(h, n->cache[t].h[off], (size_t)cnt * HLEN);
		while (cnt > 1) {
			for (unsigned i = 0; i < cnt / 2; i++)
				mm_merkle_node_hash(h[2 * i], h[2 * i + 1], h[i]);
			cnt /= 2;
		}
		memcpy(out, h[0], HLEN);
		return MM_OK;
	}
	if (level == 0)
		return mm_audit_leaf_from_db(n->db, (int64_t)index, out);
	if ((rc = mm_audit_node_get(n, level - 1, 2 * index, l)) != MM_OK ||
	    (rc = mm_audit_node_get(n, level - 1, 2 * index + 1, rr)) != MM_OK)
		return rc;
	mm_merkle_node_hash(l, rr, out);
	return MM_OK;
}

mm_err mm_audit_state_size(mm_db *db, int64_t *ret)
{
	static const char sql[] = "SELECT tree_size FROM audit_state WHERE id = 0";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK) {
		if (row)
			*ret = mm_stmt_int(st, 0);
		else
			rc = mm_err_set(MM_ERR_STORE, "audit_state is missing");
	}
	mm_stmt_done(st);
	return rc;
}

static mm_err state_root(mm_db *db, bool *ret_present, uint8_t root[HLEN])
{
	static const char sql[] = "SELECT root FROM audit_state WHERE id = 0";
	mm_stmt *st;
	const void *p;
	size_t n = 0;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK) {
		*ret_present = false;
		if (row && !mm_stmt_is_null(st, 0)) {
			p = mm_stmt_blob(st, 0, &n);
			if (n == HLEN) {
				memcpy(root, p, HLEN);
				*ret_present = true;
			}
		}
	}
	mm_stmt_done(st);
	return rc;
}

/* Loads the frontier and the incomplete tiles of a tree of `size` leaves. */
static mm_err load_state(mm_db *db, int64_t size, struct tree_state *ts)
{
	mm_audit_nodes nodes;
	mm_err rc;

	mm_audit_nodes_init(&nodes, db);
	mm_merkle_frontier_init(&ts->f);
	if ((rc = mm_merkle_frontier_load((uint64_t)size, mm_audit_node_get, &nodes, &ts->f)) != MM_OK)
		return rc;
	for (unsigned t = 0; t < TILE_LEVELS; t++) {
		uint64_t count = (uint64_t)size >> (TILE_H * t);

		if (count == 0)
			break;
		for (uint64_t j = count & ~(uint64_t)(TILE_W - 1); j < count; j++)
			if ((rc = mm_audit_node_get(&nodes, TILE_H * t, j, ts->tile[t][j % TILE_W])) != MM_OK)
				return rc;
	}
	return MM_OK;
}

/* ---- the group hook ---- */

struct grow {
	mm_db *db;
	struct tree_state *ts;
};

static mm_err put_tile(mm_db *db, unsigned t, uint64_t idx, const uint8_t (*h)[HLEN], unsigned n)
{
	static const char sql[] = "INSERT INTO audit_tiles (level, idx, hashes) VALUES (?, ?, ?) "
				  "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes";
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, t)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, (int64_t)idx)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 3, h, (size_t)n * HLEN)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

/* Writes the partial last tile of every level that has one. */
static mm_err put_partial_tiles(mm_db *db, const struct tree_state *ts)
{
	mm_err rc;

	for (unsigned t = 0; t < TILE_LEVELS; t++) {
		uint64_t count = ts->f.size >> (TILE_H * t);

		if (count == 0)
			break;
		if (count % TILE_W != 0 &&
		    (rc = put_tile(db, t, count / TILE_W, (const uint8_t (*)[HLEN])ts->tile[t],
				   (unsigned)(count % TILE_W))) != MM_OK)
			return rc;
	}
	return MM_OK;
}

static mm_err on_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HLEN])
{
	struct grow *g = ctx;
	unsigned t = level / TILE_H;

	if (level % TILE_H != 0 || t >= TILE_LEVELS)
		return MM_OK;
	memcpy(g->ts->tile[t][index % TILE_W], hash, HLEN);
	if (index % TILE_W != TILE_W - 1)
		return MM_OK;
	return put_tile(g->db, t, index / TILE_W, g->ts->tile[t], TILE_W);
}

static mm_err grow_from_rows(struct grow *g, int64_t from, int64_t to)
{
	static const char sql[] =
		"SELECT " AUDIT_COLS " FROM audit_events WHERE seq >= ? AND seq < ? ORDER BY seq";
	mm_audit_record r;
	uint8_t leaf[HLEN];
	int64_t expect = from;
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(g->db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, from)) != MM_OK || (rc = mm_stmt_bind_int(st, 2, to)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_record_from_stmt(st, &r);
		if (r.seq != expect) {
			rc = mm_err_set(MM_ERR_INTERNAL, "audit event %" PRId64 " is missing", expect);
			goto out;
		}
		if ((rc = mm_audit_record_leaf(&r, leaf)) != MM_OK ||
		    (rc = mm_merkle_frontier_append(&g->ts->f, leaf, on_node, g)) != MM_OK)
			goto out;
		expect++;
	}
	if (rc == MM_OK && expect != to)
		rc = mm_err_set(MM_ERR_INTERNAL, "audit event %" PRId64 " is missing", expect);
out:
	mm_stmt_done(st);
	return rc;
}

static mm_err hook_pre(mm_db *db, void *arg)
{
	static const char upd[] = "UPDATE audit_state SET tree_size = ?, root = ? WHERE id = 0";
	mm_audit_log *log = arg;
	struct grow g = { db, &log->next };
	struct pending *pd = pending_get(false);
	int64_t size = (int64_t)log->cur.f.size, end;
	uint8_t root[HLEN];
	mm_stmt *st;
	mm_err rc;

	log->staged = false;
	if ((rc = next_seq(db, &end)) != MM_OK)
		return rc;
	if (end == size)
		return MM_OK;
	if (end < size)
		return mm_err_set(MM_ERR_INTERNAL,
				  "audit events disappeared (%" PRId64 " in the tree, %" PRId64
				  " stored): run `mamori audit verify`", size, end);
	memcpy(&log->next, &log->cur, sizeof(log->next));
	if (pd != NULL && pd->len > 0 && pd->base <= size && pd->base + (int64_t)pd->len == end) {
		for (int64_t s = size; s < end; s++)
			if ((rc = mm_merkle_frontier_append(&log->next.f, pd->h[s - pd->base], on_node,
							    &g)) != MM_OK)
				return rc;
	} else if ((rc = grow_from_rows(&g, size, end)) != MM_OK) {
		return rc;
	}
	if ((rc = put_partial_tiles(db, &log->next)) != MM_OK)
		return rc;
	mm_merkle_frontier_root(&log->next.f, root);
	if ((rc = mm_db_prepare(db, upd, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, end)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 2, root, HLEN)) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	if (rc == MM_OK)
		log->staged = true;
	return rc;
}

static void hook_post(mm_err rc, void *arg)
{
	mm_audit_log *log = arg;

	if (rc == MM_OK && log->staged) {
		int64_t first = (int64_t)log->cur.f.size;

		pthread_mutex_lock(&log->mu);
		memcpy(&log->cur, &log->next, sizeof(log->cur));
		pthread_mutex_unlock(&log->mu);
		pending_handover(log->index, first, (int64_t)log->next.f.size);
		mm_audit_index_notify_nowait(log->index, (int64_t)log->next.f.size);
	}
	log->staged = false;
	pending_clear();
}

/* ---- open / close ---- */

static mm_err noop_job(mm_db *db, void *arg)
{
	return MM_OK;
}

static mm_err load_last_checkpoint(mm_audit_log *log, mm_db *db)
{
	static const char sql[] =
		"SELECT tree_size, time_ms FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK) {
		log->last_ckpt_size = row ? mm_stmt_int(st, 0) : -1;
		log->last_ckpt_time = row ? mm_stmt_int(st, 1) : 0;
	}
	mm_stmt_done(st);
	return rc;
}

static char *dup_or_null(const char *s)
{
	return s == NULL || s[0] == '\0' ? NULL : strdup(s);
}

mm_err mm_audit_open(mm_store *s, const mm_audit_opts *o, mm_audit_log **ret)
{
	mm_audit_log *log;
	mm_db *db = NULL;
	int64_t size = 0;
	uint8_t root[HLEN] = { 0 }, stored[HLEN];
	bool have_root = false, txn = false;
	mm_buf probe = MM_BUF_INIT(4096);
	mm_err rc;

	if (o->origin == NULL ||
	    mm_audit_checkpoint_text(o->origin, 0, root, &probe) != MM_OK) {
		mm_buf_release(&probe);
		return mm_err_set(MM_ERR_INVALID, "audit origin must be one non-empty line");
	}
	mm_buf_release(&probe);
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return MM_ERR_NOMEM;
	log->store = s;
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->ckpt_mu, NULL);
	log->origin = strdup(o->origin);
	log->witness_file = dup_or_null(o->witness_file);
	log->witness_url = dup_or_null(o->witness_url);
	log->witness_syslog = o->witness_syslog;
	log->interval_ms = o->checkpoint_interval_ms > 0 ? o->checkpoint_interval_ms : 10000;
	log->witness_timeout_ms = o->witness_timeout_ms > 0 ? o->witness_timeout_ms : 5000;
	log->last_ckpt_size = -1;
	if (log->origin == NULL || (o->witness_file && o->witness_file[0] && !log->witness_file) ||
	    (o->witness_url && o->witness_url[0] && !log->witness_url)) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		goto fail;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto fail;
	txn = true;
	if ((rc = mm_audit_state_size(db, &size)) != MM_OK ||
	    (rc = state_root(db, &have_root, stored)) != MM_OK ||
	    (rc = load_state(db, size, &log->cur)) != MM_OK ||
	    (rc = load_last_checkpoint(log, db)) != MM_OK)
		goto fail;
	mm_merkle_frontier_root(&log->cur.f, root);
	if (size > 0 && (!have_root || !mm_crypto_equal(root, stored, HLEN))) {
		rc = mm_err_set(MM_ERR_VERIFY, "the stored audit tree does not match its root: "
				"run `mamori audit verify`");
		goto fail;
	}
	mm_db_rollback(db);
	txn = false;
	mm_store_release(s, db);
	db = NULL;
	/* Before the hook, which notifies it from the writer thread. */
	if ((rc = mm_audit_index_open(s, size, &log->index)) != MM_OK)
		goto fail;
	if ((rc = mm_store_add_group_hook(s, hook_pre, hook_post, log)) != MM_OK)
		goto fail;
	/* Hash events appended while no log was open (the hook catches up). */
	if ((rc = mm_store_write(s, noop_job, NULL)) != MM_OK) {
		mm_audit_close(log);
		return rc;
	}
	/* (mm_audit_close above unregisters the hook before freeing.) */
	*ret = log;
	return MM_OK;
fail:
	if (txn)
		mm_db_rollback(db);
	mm_store_release(s, db);
	mm_audit_index_close(log->index);
	free(log->origin);
	free(log->witness_file);
	free(log->witness_url);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->ckpt_mu);
	free(log);
	return rc;
}

void mm_audit_close(mm_audit_log *log)
{
	if (log == NULL)
		return;
	/* Nothing to flush: every committed group already holds its tree. If
	 * the store is already closing the writer has no group left to run. */
	(void)mm_store_remove_group_hooks(log->store, log);
	mm_audit_index_close(log->index);
	free(log->origin);
	free(log->witness_file);
	free(log->witness_url);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->ckpt_mu);
	free(log);
}

void mm_audit_head(mm_audit_log *log, int64_t *ret_size, uint8_t root[HLEN])
{
	pthread_mutex_lock(&log->mu);
	*ret_size = (int64_t)log->cur.f.size;
	if (root != NULL)
		mm_merkle_frontier_root(&log->cur.f, root);
	pthread_mutex_unlock(&log->mu);
}

struct submit {
	const mm_audit_event *evs;
	size_t n;
	int64_t first;
};

static mm_err submit_job(mm_db *db, void *arg)
{
	struct submit *sb = arg;

	return append_checked(db, sb->evs, sb->n, &sb->first);
}

mm_err mm_audit_submit(mm_audit_log *log, const mm_audit_event *evs, size_t n,
		       int64_t *ret_first_seq)
{
	mm_audit_event *copy = NULL;
	char **texts = NULL;
	struct submit sb = { NULL, n, -1 };
	mm_err rc;

	/* Checking and serialising the details (details_text) happen here, on
	 * the caller's thread, in parallel with other callers: on the single
	 * writer they were a third of the work per event. */
	if ((rc = check_batch(evs, n)) != MM_OK)
		return rc;
	if ((copy = calloc(n, sizeof(*copy))) == NULL || (texts = calloc(n, sizeof(*texts))) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		copy[i] = evs[i];
		if (copy[i].details_text != NULL)
			continue;
		if ((rc = mm_audit_details_text(evs[i].details, &texts[i])) != MM_OK) {
			char why[128];

			/* Copied first: the detail buffer is also mm_err_set's target. */
			snprintf(why, sizeof(why), "%s", mm_err_detail(rc));
			rc = mm_err_set(rc, "event %zu: %s", i, why);
			goto out;
		}
		copy[i].details_text = texts[i];
	}
	sb.evs = copy;
	if ((rc = mm_store_write(log->store, submit_job, &sb)) != MM_OK)
		goto out;
	if (ret_first_seq != NULL)
		*ret_first_seq = sb.first;
out:
	for (size_t i = 0; texts != NULL && i < n; i++)
		free(texts[i]);
	free(texts);
	free(copy);
	return rc;
}

void mm_audit_get_stats(mm_audit_log *log, mm_audit_stats *ret)
{
	pthread_mutex_lock(&log->mu);
	*ret = log->stats;
	ret->tree_size = (int64_t)log->cur.f.size;
	pthread_mutex_unlock(&log->mu);
	ret->indexed = mm_audit_index_upto(log->index, &ret->index_failures, &ret->index_read_events);
}

mm_err mm_audit_index_sync(mm_audit_log *log, int64_t timeout_ms)
{
	int64_t size;

	mm_audit_head(log, &size, NULL);
	return mm_audit_index_wait(log->index, size, timeout_ms);
}
