/* Unit tests for the audit log over a real store: appends and the tree kept
 * by the group hook (against a naive recomputation from the rows), rollback
 * and seq reuse, validation, concurrency and group commit, checkpoints,
 * witnesses (file and a local HTTP listener), the timer, proofs from the
 * stored tiles, queries with cursors, and catching up after reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "audit/internal.h"
#include "core/time.h"

/* ---- naive recomputation from the rows ---- */

static uint8_t (*naive_leaves)[32];
static int64_t naive_n;

static void load_leaves(mm_store *s)
{
	static const char sql[] = "SELECT " AUDIT_COLS " FROM audit_events ORDER BY seq";
	mm_db *db;
	mm_stmt *st;
	bool row;

	free(naive_leaves);
	naive_leaves = NULL;
	naive_n = 0;
	assert_int_equal(mm_store_acquire(s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, sql, &st), MM_OK);
	while (mm_stmt_step(st, &row) == MM_OK && row) {
		mm_audit_record r;

		mm_audit_record_from_stmt(st, &r);
		assert_int_equal(r.seq, naive_n);
		naive_leaves = realloc(naive_leaves, (size_t)(naive_n + 1) * 32);
		assert_int_equal(mm_audit_record_leaf(&r, naive_leaves[naive_n]), MM_OK);
		naive_n++;
	}
	mm_stmt_done(st);
	mm_store_release(s, db);
}

static void naive_mth(int64_t a, int64_t b, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k;

	if (b == a) {
		mm_merkle_empty_root(out);
		return;
	}
	if (b - a == 1) {
		memcpy(out, naive_leaves[a], 32);
		return;
	}
	k = mm_merkle_split((uint64_t)(b - a));
	naive_mth(a, a + (int64_t)k, l);
	naive_mth(a + (int64_t)k, b, r);
	mm_merkle_node_hash(l, r, out);
}

static void check_tree(struct fx *f, int64_t expect_size)
{
	uint8_t root[32], want[32], stored[32];
	int64_t size;

	load_leaves(f->s);
	assert_int_equal(naive_n, expect_size);
	mm_audit_head(f->log, &size, root);
	assert_int_equal(size, expect_size);
	naive_mth(0, naive_n, want);
	assert_memory_equal(root, want, 32);
	assert_int_equal(mm_audit_root_at(f->s, size, stored), MM_OK);
	assert_memory_equal(stored, want, 32);
}

/* ---- tests ---- */

/* The example of docs/audit.md, "Leaf format". */
static void test_leaf_format_example(void **state)
{
	static const char want[] = "01" "0000000000000007" "0000018bcfe56800"
				   "01" "00000006" "73797374656d" "01" "00000001" "61" "00"
				   "01" "00000002" "6f6b" "00" "00" "00";
	mm_audit_record r = { .seq = 7, .time_ms = 1700000000000, .actor = "system",
			      .action = "a", .result = "ok" };
	mm_buf b = MM_BUF_INIT(1024), hex = MM_BUF_INIT(1024);

	assert_int_equal(mm_audit_serialise(&r, &b), MM_OK);
	assert_int_equal(mm_buf_append_hex(&hex, (const uint8_t *)b.data, b.len), MM_OK);
	assert_string_equal(mm_buf_str(&hex), want);
	/* details present but empty differs from absent */
	r.details = "";
	r.details_len = 0;
	mm_buf_reset(&b);
	assert_int_equal(mm_audit_serialise(&r, &b), MM_OK);
	assert_int_equal(b.len, strlen(want) / 2 + 4);
	mm_buf_release(&b);
	mm_buf_release(&hex);
}

static void test_append_tree_and_reopen(void **state)
{
	struct fx f;

	fx_init(&f, NULL);
	check_tree(&f, 0);
	fx_add(&f, 0, 1);
	check_tree(&f, 1);
	fx_add(&f, 1, 300); /* crosses level-0 and level-4 tile boundaries */
	check_tree(&f, 301);
	/* Reopen: the tree is loaded from tiles and partial tiles recomputed. */
	fx_close_store(&f);
	fx_open_store(&f, NULL);
	check_tree(&f, 301);
	fx_add(&f, 301, 4096 - 301 + 17);
	check_tree(&f, 4096 + 17);
	/* Historical roots. */
	for (int64_t n = 0; n <= 4096 + 17; n += 97) {
		uint8_t r[32], w[32];

		assert_int_equal(mm_audit_root_at(f.s, n, r), MM_OK);
		naive_mth(0, n, w);
		assert_memory_equal(r, w, 32);
	}
	fx_free(&f);
}

struct rb {
	bool fail;
	int64_t seq;
};

static char *index_dump(struct fx *f);

static mm_err append_then(mm_db *db, void *arg)
{
	struct rb *r = arg;
	/* A rolled-back event has its own actor: an index entry left over
	 * from it would show. */
	mm_audit_event ev = { .actor = r->fail ? "user:rolled-back" : "system",
			      .action = "test.rollback", .result = "success" };
	mm_err rc = mm_audit_append(db, &ev, &r->seq);

	if (rc != MM_OK)
		return rc;
	return r->fail ? mm_err_set(MM_ERR_CONFLICT, "deliberate") : MM_OK;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void on_done(mm_err rc, const char *detail, void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void test_rollback_reuses_seq(void **state)
{
	struct fx f;
	struct rb a = { true, -1 }, b = { false, -1 };
	struct rb jobs[40];
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

	fx_init(&f, NULL);
	fx_add(&f, 0, 5);
	assert_int_equal(mm_store_write(f.s, append_then, &a), MM_ERR_CONFLICT);
	assert_int_equal(a.seq, 5);
	assert_int_equal(mm_store_write(f.s, append_then, &b), MM_OK);
	assert_int_equal(b.seq, 5);
	check_tree(&f, 6);
	/* Many jobs in flight, every third failing: groups mix failures. */
	for (int i = 0; i < 40; i++) {
		jobs[i].fail = i % 3 == 0;
		assert_int_equal(mm_store_write_async(f.s, append_then, &jobs[i], on_done, &w), MM_OK);
	}
	pthread_mutex_lock(&w.mu);
	while (w.done < 40)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	check_tree(&f, 6 + 26);
	/* The index has none of the rolled-back events: it is the one a
	 * rebuild from the stored events gives. */
	{
		char path[300], *before, *after;

		assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
		before = index_dump(&f);
		assert_null(strstr(before, "rolled-back"));
		fx_close_store(&f);
		snprintf(path, sizeof(path), "%s/audit_index.db", f.dir);
		assert_int_equal(unlink(path), 0);
		fx_open_store(&f, NULL);
		assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
		after = index_dump(&f);
		assert_string_equal(before, after);
		free(before);
		free(after);
	}
	fx_free(&f);
}

static void test_validation(void **state)
{
	struct fx f;
	mm_audit_event ev = { .actor = "a", .action = "b", .result = "c" };
	json_t *arr = json_array();
	char big[MM_AUDIT_MAX_NAME + 2];
	int64_t seq;

	fx_init(&f, NULL);
	ev.actor = NULL;
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.actor = "bad\x01";
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.actor = "bad\xff";
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.actor = "line\nbreak";
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.actor = big;
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.actor = "利用者:山田";
	ev.details = arr;
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.details = NULL;
	ev.time_ms = -5;
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_ERR_INVALID);
	ev.time_ms = 0;
	assert_int_equal(mm_audit_submit(f.log, &ev, 0, &seq), MM_ERR_LIMIT);
	assert_int_equal(mm_audit_submit(f.log, &ev, 1, &seq), MM_OK);
	assert_int_equal(seq, 0);
	check_tree(&f, 1);
	json_decref(arr);
	fx_free(&f);
}

#define THREADS 8
#define PER_THREAD 150

struct worker {
	struct fx *f;
	int id;
	int64_t seqs[PER_THREAD];
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	char actor[32];

	snprintf(actor, sizeof(actor), "user:w%d", w->id);
	for (int i = 0; i < PER_THREAD; i++) {
		mm_audit_event ev = { .actor = actor, .action = "concurrent", .result = "success" };

		if (mm_audit_submit(w->f->log, &ev, 1, &w->seqs[i]) != MM_OK)
			w->seqs[i] = -1;
	}
	return NULL;
}

static void test_concurrent_group_commit(void **state)
{
	static struct worker w[THREADS];
	pthread_t t[THREADS];
	struct fx f;
	mm_store_stats st;
	mm_audit_stats as;
	bool *seen = calloc(THREADS * PER_THREAD, 1);

	fx_init(&f, NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i].f = &f;
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < PER_THREAD; j++) {
			int64_t s = w[i].seqs[j];

			assert_true(s >= 0 && s < THREADS * PER_THREAD);
			assert_false(seen[s]);
			seen[s] = true;
			/* Each thread's own events are in its order. */
			if (j > 0)
				assert_true(s > w[i].seqs[j - 1]);
		}
	mm_store_get_stats(f.s, &st);
	assert_true(st.groups < st.jobs); /* appends shared commits */
	check_tree(&f, THREADS * PER_THREAD);
	/* The query index followed the concurrent commits without a failed
	 * job (each job reads only what its snapshot of the log holds). */
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	mm_audit_get_stats(f.log, &as);
	assert_int_equal(as.indexed, THREADS * PER_THREAD);
	assert_int_equal(as.index_failures, 0);
	free(seen);
	fx_free(&f);
}

/* ---- a tiny HTTP listener for the witness webhook ---- */

struct listener {
	int fd;
	int port;
	int status;          /* reply status */
	pthread_t thread;
	char body[8192];
	char head[4096];
	int requests;
};

static void *listener_main(void *p)
{
	struct listener *l = p;
	int c = accept(l->fd, NULL, NULL);
	char buf[16384];
	size_t got = 0;
	char *hend = NULL;
	long clen = -1;

	if (c < 0)
		return NULL;
	while (got < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		if (hend == NULL && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "Content-Length:");

			clen = cl ? strtol(cl + 15, NULL, 10) : 0;
		}
		if (hend != NULL && (long)(got - (size_t)(hend + 4 - buf)) >= clen)
			break;
	}
	if (hend != NULL) {
		char reply[128];
		int n;

		snprintf(l->head, sizeof(l->head), "%.*s", (int)(hend - buf), buf);
		snprintf(l->body, sizeof(l->body), "%.*s", (int)clen, hend + 4);
		l->requests++;
		n = snprintf(reply, sizeof(reply),
			     "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			     l->status);
		assert_int_equal(write(c, reply, (size_t)n), n);
	}
	close(c);
	return NULL;
}

static void listener_start(struct listener *l, int status)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	memset(l, 0, sizeof(*l));
	l->status = status;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l->fd, 4), 0);
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&a, &len), 0);
	l->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&l->thread, NULL, listener_main, l), 0);
}

static void listener_stop(struct listener *l)
{
	pthread_join(l->thread, NULL);
	close(l->fd);
}

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	static char buf[65536];
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void check_note(struct fx *f, const mm_audit_checkpoint *c)
{
	mm_audit_note_key k;
	size_t tl;
	char origin[256];
	int64_t size;
	uint8_t root[32], want[32];

	assert_int_equal(mm_audit_note_vkey_parse(f->vkey, &k), MM_OK);
	assert_int_equal(mm_audit_note_verify(c->note, strlen(c->note), &k, 1, &tl, NULL), MM_OK);
	assert_int_equal(mm_audit_checkpoint_parse(c->note, tl, origin, sizeof(origin), &size, root),
			 MM_OK);
	assert_string_equal(origin, "mamori.test/audit");
	assert_int_equal(size, c->size);
	assert_memory_equal(root, c->root, 32);
	assert_int_equal(mm_audit_root_at(f->s, size, want), MM_OK);
	assert_memory_equal(root, want, 32);
}

static void test_checkpoints_and_witnesses(void **state)
{
	struct fx f;
	struct listener l;
	char url[64], wfile[300];
	mm_audit_opts o = { .origin = "mamori.test/audit", .checkpoint_interval_ms = 1000 };
	mm_audit_checkpoint c = { 0 }, c2 = { 0 }, latest = { 0 };
	mm_audit_stats st;
	json_t *pk = NULL;

	listener_start(&l, 200);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/witness", l.port);
	/* The fixture makes the directory; the witness file lives inside it. */
	fx_init(&f, NULL);
	snprintf(wfile, sizeof(wfile), "%s/witness.log", f.dir);
	fx_close_store(&f);
	o.witness_file = wfile;
	o.witness_url = url;
	o.witness_syslog = true;
	fx_open_store(&f, &o);

	fx_add(&f, 0, 37);
	assert_int_equal(mm_audit_checkpoint_now(f.log, &c), MM_OK);
	assert_int_equal(c.size, 37);
	check_note(&f, &c);
	listener_stop(&l);
	assert_int_equal(l.requests, 1);
	assert_string_equal(l.body, c.note);
	assert_non_null(strstr(l.head, "POST /witness"));
	assert_non_null(strcasestr(l.head, "Content-Type: text/plain"));
	{
		char *fc = read_file(wfile), expect[4096];

		snprintf(expect, sizeof(expect), "%s\n", c.note);
		assert_string_equal(fc, expect);
	}
	/* No new events: the same checkpoint, nothing republished. */
	assert_int_equal(mm_audit_checkpoint_now(f.log, &c2), MM_OK);
	assert_int_equal(c2.size, 37);
	assert_string_equal(c2.note, c.note);
	mm_audit_checkpoint_release(&c2);
	/* The timer: not due before the interval, due after it. */
	fx_add(&f, 37, 3);
	assert_int_equal(mm_audit_tick(f.log, c.time_ms + 10), MM_OK);
	assert_int_equal(mm_audit_latest_checkpoint(f.s, &latest), MM_OK);
	assert_int_equal(latest.size, 37);
	mm_audit_checkpoint_release(&latest);
	listener_start(&l, 500); /* this witness now fails: counted, not fatal */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/witness", l.port);
	fx_close_store(&f);
	fx_open_store(&f, &o);
	assert_int_equal(mm_audit_tick(f.log, mm_time_wall_ms() + 1000), MM_OK);
	listener_stop(&l);
	assert_int_equal(mm_audit_latest_checkpoint(f.s, &latest), MM_OK);
	assert_int_equal(latest.size, 40);
	check_note(&f, &latest);
	mm_audit_get_stats(f.log, &st);
	assert_int_equal(st.witness_failures, 1);
	assert_int_equal(st.checkpoints, 1);
	{
		char *fc = read_file(wfile), expect[8192];

		snprintf(expect, sizeof(expect), "%s\n%s\n", c.note, latest.note);
		assert_string_equal(fc, expect);
	}
	/* The public key as JSON. */
	assert_int_equal(mm_audit_public_key(f.log, &pk), MM_OK);
	assert_string_equal(json_string_value(json_object_get(pk, "vkey")), f.vkey);
	json_decref(pk);
	/* Without a signer, no checkpoint (and the timer does nothing). */
	assert_int_equal(mm_audit_set_signer(f.log, NULL), MM_OK);
	fx_add(&f, 40, 1);
	assert_int_equal(mm_audit_checkpoint_now(f.log, NULL), MM_ERR_SEALED);
	assert_int_equal(mm_audit_tick(f.log, mm_time_wall_ms() + 100000), MM_OK);
	assert_int_equal(mm_audit_public_key(f.log, &pk), MM_ERR_SEALED);
	mm_audit_checkpoint_release(&c);
	mm_audit_checkpoint_release(&latest);
	fx_free(&f);
}

static mm_err wrong_signer(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	memset(sig, 0, 64);
	return MM_OK;
}

static void test_signer_must_match_public_key(void **state)
{
	struct fx f;
	mm_audit_signer bad;

	fx_init(&f, NULL);
	bad = f.signer;
	bad.sign = wrong_signer;
	assert_int_equal(mm_audit_set_signer(f.log, &bad), MM_OK);
	fx_add(&f, 0, 2);
	assert_int_equal(mm_audit_checkpoint_now(f.log, NULL), MM_ERR_CRYPTO);
	{
		mm_audit_checkpoint c;

		assert_int_equal(mm_audit_latest_checkpoint(f.s, &c), MM_ERR_NOT_FOUND);
	}
	fx_free(&f);
}

static void test_proofs_from_tiles(void **state)
{
	struct fx f;
	const int64_t n = 5000;

	fx_init(&f, NULL);
	fx_add(&f, 0, n);
	load_leaves(f.s);
	for (int64_t size = 1; size <= n; size += size < 300 ? 1 : 397) {
		uint8_t want[32];

		naive_mth(0, size, want);
		for (int64_t seq = 0; seq < size; seq += size < 40 ? 1 : 13) {
			mm_merkle_proof p;
			uint8_t leaf[32], root[32];

			assert_int_equal(mm_audit_inclusion_proof(f.s, seq, size, &p, leaf, root), MM_OK);
			assert_memory_equal(leaf, naive_leaves[seq], 32);
			assert_memory_equal(root, want, 32);
			assert_int_equal(mm_merkle_verify_inclusion((uint64_t)seq, (uint64_t)size, leaf,
								    (const uint8_t (*)[32])p.h, p.n,
								    want), MM_OK);
		}
		for (int64_t s1 = 0; s1 <= size; s1 += size < 300 ? 7 : 311) {
			mm_merkle_proof p;
			uint8_t r1[32], r2[32], w1[32];

			assert_int_equal(mm_audit_consistency_proof(f.s, s1, size, &p, r1, r2), MM_OK);
			naive_mth(0, s1, w1);
			assert_memory_equal(r1, w1, 32);
			assert_memory_equal(r2, want, 32);
			assert_int_equal(mm_merkle_verify_consistency((uint64_t)s1, (uint64_t)size, r1, r2,
								      (const uint8_t (*)[32])p.h, p.n),
					 MM_OK);
		}
	}
	{
		mm_merkle_proof p;

		assert_int_equal(mm_audit_inclusion_proof(f.s, n, 0, &p, NULL, NULL), MM_ERR_INVALID);
		assert_int_equal(mm_audit_inclusion_proof(f.s, 0, n + 1, &p, NULL, NULL),
				 MM_ERR_NOT_FOUND);
		assert_int_equal(mm_audit_consistency_proof(f.s, 10, 5, &p, NULL, NULL), MM_ERR_INVALID);
	}
	fx_free(&f);
}

static int64_t count_pages(struct fx *f, mm_audit_filter *q, int64_t *total,
			   bool (*match)(const json_t *, const void *), const void *arg)
{
	int64_t pages = 0, last = -1;

	*total = 0;
	q->cursor = 0;
	for (;;) {
		json_t *arr = NULL, *e;
		int64_t next = -2;
		size_t i;

		assert_int_equal(mm_audit_query(f->s, q, &arr, &next), MM_OK);
		pages++;
		json_array_foreach(arr, i, e) {
			int64_t seq = json_integer_value(json_object_get(e, "seq"));

			assert_true(seq > last);
			last = seq;
			assert_true(match(e, arg));
			(*total)++;
		}
		json_decref(arr);
		if (next < 0)
			break;
		q->cursor = next;
	}
	return pages;
}

static bool is_actor1(const json_t *e, const void *arg)
{
	return strcmp(json_string_value(json_object_get(e, "actor")), "user:actor-1") == 0;
}

static bool is_a2_t3(const json_t *e, const void *arg)
{
	return strcmp(json_string_value(json_object_get(e, "action")), "action.2") == 0 &&
	       strcmp(json_string_value(json_object_get(e, "target")), "target-3") == 0;
}

static bool in_time(const json_t *e, const void *arg)
{
	int64_t t = json_integer_value(json_object_get(e, "time_ms"));

	return t >= 1700000000100 && t <= 1700000000199;
}

static bool any(const json_t *e, const void *arg)
{
	return json_integer_value(json_object_get(json_object_get(e, "details"), "i")) ==
	       json_integer_value(json_object_get(e, "seq"));
}

/* details_text (made canonical off the writer) stores and hashes exactly
 * what details does. */
static void test_details_text(void **state)
{
	json_t *d = json_pack("{s:s, s:i, s:{s:b}}", "z", "last", "a", 1, "m", "x", 1);
	mm_audit_event ev[2] = {
		{ .actor = "system", .action = "t.details", .result = "success", .details = d },
		{ .actor = "system", .action = "t.details", .result = "success" },
	};
	json_t *arr = NULL;
	int64_t next;
	char *text = NULL;
	mm_audit_filter q;
	struct fx f;

	assert_int_equal(mm_audit_details_text(d, &text), MM_OK);
	assert_string_equal(text, "{\"a\":1,\"m\":{\"x\":true},\"z\":\"last\"}");
	ev[1].details_text = text;
	fx_init(&f, NULL);
	assert_int_equal(mm_audit_submit(f.log, ev, 2, NULL), MM_OK);
	mm_audit_filter_init(&q);
	assert_int_equal(mm_audit_query(f.s, &q, &arr, &next), MM_OK);
	assert_int_equal(json_array_size(arr), 2);
	assert_true(json_equal(json_object_get(json_array_get(arr, 0), "details"), d));
	assert_true(json_equal(json_object_get(json_array_get(arr, 1), "details"), d));
	json_decref(arr);
	/* Too long is refused like details. */
	{
		char *big = malloc(MM_AUDIT_MAX_DETAILS + 16);

		assert_non_null(big);
		memset(big, 'a', MM_AUDIT_MAX_DETAILS + 15);
		big[MM_AUDIT_MAX_DETAILS + 15] = '\0';
		ev[1].details_text = big;
		assert_int_equal(mm_audit_submit(f.log, &ev[1], 1, NULL), MM_ERR_INVALID);
		free(big);
	}
	free(text);
	json_decref(d);
	fx_free(&f);
}

static void test_query_pagination(void **state)
{
	struct fx f;
	mm_audit_filter q;
	int64_t total;
	json_t *arr;
	int64_t next;

	fx_init(&f, NULL);
	fx_add(&f, 0, 1000);
	mm_audit_filter_init(&q);
	q.actor = "user:actor-1";
	q.limit = 50;
	assert_int_equal(count_pages(&f, &q, &total, is_actor1, NULL), 4);
	assert_int_equal(total, 200);
	mm_audit_filter_init(&q);
	q.action = "action.2";
	q.target = "target-3";
	q.limit = 7;
	count_pages(&f, &q, &total, is_a2_t3, NULL);
	assert_int_equal(total, 1000 / 21 + (1000 % 21 > 17 ? 1 : 0));
	mm_audit_filter_init(&q);
	q.time_from_ms = 1700000000100;
	q.time_to_ms = 1700000000199;
	count_pages(&f, &q, &total, in_time, NULL);
	assert_int_equal(total, 100);
	mm_audit_filter_init(&q);
	q.seq_from = 990;
	count_pages(&f, &q, &total, any, NULL);
	assert_int_equal(total, 10);
	mm_audit_filter_init(&q);
	q.seq_from = 10;
	q.seq_to = 19;
	q.target = "target-0";
	count_pages(&f, &q, &total, any, NULL);
	assert_int_equal(total, 1); /* only seq 14 */
	mm_audit_filter_init(&q);
	q.limit = 0;
	assert_int_equal(mm_audit_query(f.s, &q, &arr, &next), MM_ERR_INVALID);
	fx_free(&f);
}

static bool is_actor2_target3(const json_t *e, const void *arg)
{
	return strcmp(json_string_value(json_object_get(e, "actor")), "user:actor-2") == 0 &&
	       strcmp(json_string_value(json_object_get(e, "target")), "target-3") == 0;
}

static bool is_target0(const json_t *e, const void *arg)
{
	return strcmp(json_string_value(json_object_get(e, "target")), "target-0") == 0;
}

static int64_t index_mark(struct fx *f)
{
	static const char q_mark[] = "SELECT upto FROM audit_index.audit_idx_mark WHERE id = 0";
	int64_t mark;
	mm_db *db;
	mm_stmt *st;
	bool row;

	assert_int_equal(mm_store_acquire(f->s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, q_mark, &st), MM_OK);
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	assert_true(row);
	mark = mm_stmt_int(st, 0);
	mm_stmt_done(st);
	mm_store_release(f->s, db);
	return mark;
}

static bool in_range(const json_t *e, const void *arg)
{
	const int64_t *r = arg;
	int64_t t = json_integer_value(json_object_get(e, "time_ms"));

	return t >= r[0] && t <= r[1];
}

static mm_err offline_append(mm_db *db, void *arg)
{
	const int64_t *k = arg;
	char actor[32], action[32], target[32];
	mm_audit_event ev = { .time_ms = 1700000000000 + *k, .actor = actor, .action = action,
			      .target = target, .result = "success" };

	json_t *d = json_pack("{s:I}", "i", (json_int_t)*k);
	mm_err rc;

	snprintf(actor, sizeof(actor), "user:actor-%d", (int)(*k % 5));
	snprintf(action, sizeof(action), "action.%d", (int)(*k % 3));
	snprintf(target, sizeof(target), "target-%d", (int)(*k % 7));
	ev.details = d;
	rc = mm_audit_append_batch(db, &ev, 1, NULL);
	json_decref(d);
	return rc;
}

/* Checks every query shape against the pattern of fx_add over n events, of
 * which the first mark are indexed. */
static void check_queries(struct fx *f, int64_t n, int64_t mark)
{
	int64_t total, want = 0, r[2], lo, hi;
	mm_audit_filter q;

	for (int64_t k = 0; k < n; k++)
		want += k % 5 == 2 && k % 7 == 3;
	mm_audit_filter_init(&q);
	q.actor = "user:actor-2";
	q.target = "target-3";
	q.limit = 333;
	count_pages(f, &q, &total, is_actor2_target3, NULL);
	assert_int_equal(total, want);

	/* A window straddling the mark. */
	want = 0;
	for (int64_t k = mark - 50; k <= mark + 50; k++)
		want += k >= 0 && k < n && k % 7 == 0;
	mm_audit_filter_init(&q);
	q.target = "target-0";
	q.seq_from = mark > 50 ? mark - 50 : 0;
	q.seq_to = mark + 50;
	q.limit = 3;
	count_pages(f, &q, &total, is_target0, NULL);
	assert_int_equal(total, want);

	/* Everything for one action, paged in large pages. */
	mm_audit_filter_init(&q);
	q.action = "action.1";
	q.limit = 1000;
	count_pages(f, &q, &total, any, NULL);
	assert_int_equal(total, (n + 1) / 3);

	/* A time range only (time_ms = base + seq): across blocks and the mark. */
	lo = n > MM_AUDIT_TIME_BLOCK ? MM_AUDIT_TIME_BLOCK - 7 : n / 3;
	hi = mark + 40 > lo + 100 ? mark + 40 : lo + 100;
	r[0] = 1700000000000 + lo;
	r[1] = 1700000000000 + (hi < n ? hi : n - 1);
	mm_audit_filter_init(&q);
	q.time_from_ms = r[0];
	q.time_to_ms = r[1];
	q.limit = 250;
	count_pages(f, &q, &total, in_range, r);
	assert_int_equal(total, r[1] - r[0] + 1);
}

/* The whole index (entries and time blocks), as text, for comparing the
 * index built from the writer's hand-over with one built from the rows.
 * Caller frees. */
static char *index_dump(struct fx *f)
{
	static const char q_idx[] =
		"SELECT kind, value, seq FROM audit_index.audit_idx ORDER BY kind, value, seq";
	static const char q_blk[] = "SELECT block, min_time, max_time FROM "
				    "audit_index.audit_time_blocks ORDER BY block";
	mm_buf out = MM_BUF_INIT(MM_BUF_UNLIMITED);
	mm_db *db;
	mm_stmt *st;
	bool row;

	assert_int_equal(mm_store_acquire(f->s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, q_idx, &st), MM_OK);
	while (mm_stmt_step(st, &row) == MM_OK && row)
		assert_int_equal(mm_buf_appendf(&out, "%lld %s %lld\n", (long long)mm_stmt_int(st, 0),
						mm_stmt_text(st, 1), (long long)mm_stmt_int(st, 2)), MM_OK);
	mm_stmt_done(st);
	assert_int_equal(mm_db_prepare(db, q_blk, &st), MM_OK);
	while (mm_stmt_step(st, &row) == MM_OK && row)
		assert_int_equal(mm_buf_appendf(&out, "b %lld %lld %lld\n", (long long)mm_stmt_int(st, 0),
						(long long)mm_stmt_int(st, 1),
						(long long)mm_stmt_int(st, 2)), MM_OK);
	mm_stmt_done(st);
	mm_store_release(f->s, db);
	return mm_buf_detach(&out, NULL);
}

/* Events with and without a target, appended one job at a time. */
static mm_err target_mix_append(mm_db *db, void *arg)
{
	int64_t k = *(int64_t *)arg;
	char actor[32], target[32];
	mm_audit_event ev = { .actor = actor, .action = "mixed", .result = "success",
			      .time_ms = 1700000000000 + (k % 17) * 1000 };

	snprintf(actor, sizeof(actor), "user:mix-%d", (int)(k % 4));
	snprintf(target, sizeof(target), "t-%d", (int)(k % 9));
	ev.target = k % 3 == 0 ? NULL : target;
	return mm_audit_append(db, &ev, NULL);
}

/* The query index lives in the companion database and follows the log:
 * answers are the same below its mark, above it and across it. */
static void test_query_index(void **state)
{
	const int64_t n = 3 * MM_AUDIT_TIME_BLOCK + 1001, extra = 700;
	mm_audit_stats stats;
	struct fx f;

	fx_init(&f, NULL);
	fx_add(&f, 0, n);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	assert_int_equal(index_mark(&f), n);
	mm_audit_get_stats(f.log, &stats);
	assert_int_equal(stats.indexed, n);
	assert_int_equal(stats.tree_size, n);
	/* Everything came from the writer's hand-over: nothing was read back. */
	assert_int_equal(stats.index_read_events, 0);
	check_queries(&f, n, n);

	/* Events committed while no log (so no index) is open form a tail the
	 * queries scan. */
	mm_audit_close(f.log);
	f.log = NULL;
	for (int64_t k = n; k < n + extra; k++)
		assert_int_equal(mm_store_write(f.s, offline_append, &k), MM_OK);
	assert_int_equal(index_mark(&f), n);
	check_queries(&f, n + extra, n);

	/* Reopening indexes the tail, reading it from the database. */
	assert_int_equal(mm_audit_open(f.s, &(mm_audit_opts){ .origin = "mamori.test/audit" },
				       &f.log), MM_OK);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	assert_int_equal(index_mark(&f), n + extra);
	mm_audit_get_stats(f.log, &stats);
	assert_int_equal(stats.index_read_events, extra);
	check_queries(&f, n + extra, n + extra);
	fx_free(&f);
}

/* The index built from the writer's hand-over (with events without a target,
 * and jobs of one event each) is row for row the one built by reading the
 * events back, as after a rebuild. */
static void test_query_index_handover_equals_rebuild(void **state)
{
	const int64_t n = MM_AUDIT_TIME_BLOCK + 300;
	char path[300], *a, *b;
	mm_audit_stats stats;
	struct fx f;

	fx_init(&f, NULL);
	fx_add(&f, 0, 2000);
	for (int64_t k = 0; k < n; k++)
		assert_int_equal(mm_store_write(f.s, target_mix_append, &k), MM_OK);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	mm_audit_get_stats(f.log, &stats);
	assert_int_equal(stats.index_read_events, 0);
	a = index_dump(&f);
	fx_close_store(&f);
	snprintf(path, sizeof(path), "%s/audit_index.db", f.dir);
	assert_int_equal(unlink(path), 0);
	fx_open_store(&f, NULL);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	mm_audit_get_stats(f.log, &stats);
	assert_int_equal(stats.index_read_events, 2000 + n);
	b = index_dump(&f);
	assert_true(strlen(a) > 1000);
	assert_string_equal(a, b);
	free(a);
	free(b);
	fx_free(&f);
}

/* An index that does not belong to the log (lost, or left from another
 * database) is rebuilt; queries are right before and after. */
static void test_query_index_rebuilt(void **state)
{
	const int64_t n = 2500;
	char path[300], other[300];
	struct fx f, g;

	fx_init(&f, NULL);
	fx_add(&f, 0, n);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	fx_init(&g, NULL);
	fx_add(&g, 0, 10);
	assert_int_equal(mm_audit_index_sync(g.log, 10000), MM_OK);
	fx_close_store(&f);
	fx_close_store(&g);
	/* g's log gets f's index: longer than the log, so it is rebuilt. */
	snprintf(path, sizeof(path), "%s/audit_index.db", f.dir);
	snprintf(other, sizeof(other), "%s/audit_index.db", g.dir);
	assert_int_equal(rename(path, other), 0);
	fx_open_store(&g, NULL);
	assert_int_equal(mm_audit_index_sync(g.log, 10000), MM_OK);
	assert_int_equal(index_mark(&g), 10);
	check_queries(&g, 10, 10);
	/* f without an index file builds a new one. */
	fx_open_store(&f, NULL);
	check_queries(&f, n, 0);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	assert_int_equal(index_mark(&f), n);
	check_queries(&f, n, n);
	fx_free(&f);
	fx_free(&g);
}

static mm_err raw_append(mm_db *db, void *arg)
{
	mm_audit_event ev = { .actor = "system", .action = "offline", .result = "success" };

	return mm_audit_append_batch(db, &ev, 1, NULL);
}

static void test_catch_up_on_open(void **state)
{
	struct fx f;
	mm_store_opts so;
	const mm_migration_set *sets[] = { &mm_audit_migrations };

	fx_init(&f, NULL);
	fx_add(&f, 0, 20);
	fx_close_store(&f);
	/* Events appended while no audit log is open (no hook). */
	so = (mm_store_opts){ .dir = f.dir, .sync_full = true };
	assert_int_equal(mm_store_open(&so, &f.s), MM_OK);
	assert_int_equal(mm_store_migrate(f.s, sets, 1), MM_OK);
	for (int i = 0; i < 25; i++)
		assert_int_equal(mm_store_write(f.s, raw_append, NULL), MM_OK);
	mm_store_close(f.s);
	f.s = NULL;
	fx_open_store(&f, NULL);
	check_tree(&f, 45);
	fx_free(&f);
}

/* A database written by the schema before the query index moved to the
 * companion (version 2: per-row indexes and the chunked target index)
 * upgrades: the old indexes are dropped, the companion is built from the
 * events, and queries answer as before. */
static void test_upgrade_from_v2(void **state)
{
	const mm_migration_set v2 = { "audit", mm_audit_migrations.steps, 2 };
	const mm_migration_set *old_sets[] = { &v2 };
	const int64_t n = 300;
	mm_store_opts so;
	struct fx f;
	mm_db *db;
	mm_stmt *st;
	bool row;

	fx_init(&f, NULL);
	fx_close_store(&f);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -f '%s'/*.db*", f.dir);
		assert_int_equal(system(cmd), 0);
	}
	so = (mm_store_opts){ .dir = f.dir, .sync_full = true };
	assert_int_equal(mm_store_open(&so, &f.s), MM_OK);
	assert_int_equal(mm_store_migrate(f.s, old_sets, 1), MM_OK);
	for (int64_t k = 0; k < n; k++)
		assert_int_equal(mm_store_write(f.s, offline_append, &k), MM_OK);
	mm_store_close(f.s);
	f.s = NULL;
	fx_open_store(&f, NULL);
	check_tree(&f, n);
	/* The old index tables are gone. */
	assert_int_equal(mm_store_acquire(f.s, &db), MM_OK);
	assert_int_equal(mm_db_prepare(db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
				       "('audit_key_idx', 'audit_index_mark', 'audit_events_actor')",
				       &st), MM_OK);
	assert_int_equal(mm_stmt_step(st, &row), MM_OK);
	assert_int_equal(mm_stmt_int(st, 0), 0);
	mm_stmt_done(st);
	mm_store_release(f.s, db);
	assert_int_equal(mm_audit_index_sync(f.log, 10000), MM_OK);
	check_queries(&f, n, n);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf_format_example),
		cmocka_unit_test(test_append_tree_and_reopen),
		cmocka_unit_test(test_rollback_reuses_seq),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_concurrent_group_commit),
		cmocka_unit_test(test_checkpoints_and_witnesses),
		cmocka_unit_test(test_signer_must_match_public_key),
		cmocka_unit_test(test_proofs_from_tiles),
		cmocka_unit_test(test_details_text),
		cmocka_unit_test(test_query_pagination),
		cmocka_unit_test(test_query_index),
		cmocka_unit_test(test_query_index_handover_equals_rebuild),
		cmocka_unit_test(test_query_index_rebuilt),
		cmocka_unit_test(test_catch_up_on_open),
		cmocka_unit_test(test_upgrade_from_v2),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	free(naive_leaves);
	return rc;
}
