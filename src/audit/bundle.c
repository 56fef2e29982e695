/*
 * bundle.c: writing export bundles (format in docs/audit.md).
 *
 * Invariants: a bundle is written from one read transaction, so its events,
 * checkpoints and hashes describe one committed state; lines appear in the
 * order a streaming verifier needs them: header, then each event followed by
 * the checkpoints whose size it completes, then at most one "anchor"
 * checkpoint beyond the range with the hashes that reach it.
 */
#include "audit/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/internal.h"
#include "core/time.h"
#include "crypto/crypto.h"

json_t *mm_audit_b64_json(const uint8_t *p, size_t n)
{
	mm_buf b = MM_BUF_INIT(256);
	json_t *s = NULL;

	if (mm_base64_encode(&b, p, n) == MM_OK)
		s = json_string(mm_buf_str(&b));
	mm_buf_release(&b);
	return s;
}

static mm_err emit(json_t *o, mm_audit_write_fn w, void *ctx)
{
	char *s = json_dumps(o, JSON_COMPACT);
	size_t n;
	mm_err rc;

	json_decref(o);
	if (s == NULL)
		return MM_ERR_NOMEM;
	n = strlen(s);
	s[n] = '\0';
	if ((rc = w(ctx, s, n)) == MM_OK)
		rc = w(ctx, "\n", 1);
	free(s);
	return rc;
}

static mm_err keys_json(mm_db *db, json_t *arr)
{
	static const char sql[] =
		"SELECT key_name, public_key FROM audit_keys ORDER BY first_used_ms, key_id";
	mm_stmt *st;
	bool row;
	mm_err rc;

	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		mm_audit_note_key k;
		mm_buf v = MM_BUF_INIT(1024);
		const void *p;
		size_t n;

		p = mm_stmt_blob(st, 1, &n);
		if (n != 32 || mm_audit_note_key_init(&k, mm_stmt_text(st, 0), p) != MM_OK)
			continue; /* a damaged key row: the verifier will miss it and say so */
		if ((rc = mm_audit_note_vkey(&k, &v)) == MM_OK &&
		    json_array_append_new(arr, json_string(mm_buf_str(&v))) != 0)
			rc = MM_ERR_NOMEM;
		mm_buf_release(&v);
		if (rc != MM_OK)
			break;
	}
	mm_stmt_done(st);
	return rc;
}

static mm_err origin_of(mm_db *db, json_t **ret)
{
	static const char sql[] =
		"SELECT note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";
	char origin[MM_NOTE_MAX_LEN];
	uint8_t root[32];
	int64_t size;
	mm_stmt *st;
	bool row;
	mm_err rc;

	*ret = json_null();
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		const char *note = mm_stmt_text(st, 0);

		if (note != NULL &&
		    mm_audit_checkpoint_parse(note, strlen(note), origin, sizeof(origin), &size,
					      root) == MM_OK)
			*ret = json_string(origin);
	}
	mm_stmt_done(st);
	return rc;
}

static json_t *event_json(const mm_audit_record *r, const uint8_t leaf[32])
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "seq", json_integer(r->seq));
	json_object_set_new(o, "time_ms", json_integer(r->time_ms));
	json_object_set_new(o, "actor", r->actor ? json_string(r->actor) : json_null());
	json_object_set_new(o, "action", r->action ? json_string(r->action) : json_null());
	json_object_set_new(o, "target", r->target ? json_string(r->target) : json_null());
	json_object_set_new(o, "result", r->result ? json_string(r->result) : json_null());
	json_object_set_new(o, "source", r->source ? json_string(r->source) : json_null());
	json_object_set_new(o, "request_id", r->request_id ? json_string(r->request_id) : json_null());
	json_object_set_new(o, "details",
			    r->details ? json_stringn(r->details, r->details_len) : json_null());
	json_object_set_new(o, "leaf", mm_audit_b64_json(leaf, 32));
	return o;
}

static mm_err checkpoint_line(const char *note, int64_t size, json_t *suffix, mm_audit_write_fn w,
			      void *ctx)
{
	json_t *o = json_object();

	if (o == NULL) {
		json_decref(suffix);
		return MM_ERR_NOMEM;
	}
	json_object_set_new(o, "checkpoint", json_string(note));
	json_object_set_new(o, "size", json_integer(size));
	if (suffix != NULL)
		json_object_set_new(o, "suffix", suffix);
	return emit(o, w, ctx);
}

/* Emits stored checkpoints with tree_size == size from the cursor st. */
static mm_err flush_checkpoints(mm_stmt *st, bool *have, int64_t size, mm_audit_write_fn w,
				void *ctx)
{
	bool row;
	mm_err rc = MM_OK;

	while (*have && mm_stmt_int(st, 0) <= size) {
		if (mm_stmt_int(st, 0) == size &&
		    (rc = checkpoint_line(mm_stmt_text(st, 1), size, NULL, w, ctx)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_step(st, &row)) != MM_OK)
			return rc;
		*have = row;
	}
	return rc;
}

mm_err mm_audit_export(mm_store *s, int64_t from, int64_t to, mm_audit_write_fn w, void *ctx)
{
	static const char q_events[] =
		"SELECT " AUDIT_COLS " FROM audit_events WHERE seq >= ? AND seq < ? ORDER BY seq";
	static const char q_ckpts[] = "SELECT tree_size, note FROM audit_checkpoints "
				      "WHERE tree_size >= ? AND tree_size <= ? ORDER BY tree_size";
	static const char q_anchor[] = "SELECT tree_size, note FROM audit_checkpoints "
				       "WHERE tree_size > ? ORDER BY tree_size LIMIT 1";
	mm_db *db = NULL;
	mm_stmt *ev = NULL, *ck = NULL, *an = NULL;
	mm_audit_nodes nodes;
	mm_merkle_frontier pre;
	json_t *hdr = NULL, *arr, *origin = NULL;
	int64_t size;
	bool txn = false, row, have_ck;
	mm_err rc;

	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(db)) != MM_OK)
		goto out;
	txn = true;
	if ((rc = mm_audit_state_size(db, &size)) != MM_OK)
		goto out;
	if (to == 0)
		to = size;
	if (from < 0 || from > to || to > size) {
		rc = mm_err_set(MM_ERR_INVALID, "the range must satisfy 0 <= from <= to <= %" PRId64,
				size);
		goto out;
	}
	mm_audit_nodes_init(&nodes, db);
	if ((rc = mm_merkle_frontier_load((uint64_t)from, mm_audit_node_get, &nodes, &pre)) != MM_OK)
		goto out;
	if ((rc = origin_of(db, &origin)) != MM_OK)
		goto out;
	hdr = json_pack("{s:s, s:i, s:o, s:I, s:I, s:I, s:I, s:[], s:[]}", "format",
			"mamori-audit-bundle", "version", 1, "origin", origin, "from", (json_int_t)from,
			"to", (json_int_t)to, "tree_size", (json_int_t)size, "exported_ms",
			(json_int_t)mm_time_wall_ms(), "keys", "prefix");
	origin = NULL;
	if (hdr == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	if ((rc = keys_json(db, json_object_get(hdr, "keys"))) != MM_OK)
		goto out;
	arr = json_object_get(hdr, "prefix");
	for (int l = 63; l >= 0; l--)
		if ((uint64_t)from & ((uint64_t)1 << l))
			json_array_append_new(arr, mm_audit_b64_json(pre.h[l], 32));
	rc = emit(hdr, w, ctx);
	hdr = NULL;
	if (rc != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_ckpts, &ck)) != MM_OK ||
	    (rc = mm_stmt_bind_int(ck, 1, from)) != MM_OK || (rc = mm_stmt_bind_int(ck, 2, to)) != MM_OK ||
	    (rc = mm_stmt_step(ck, &have_ck)) != MM_OK)
		goto out;
	if ((rc = flush_checkpoints(ck, &have_ck, from, w, ctx)) != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_events, &ev)) != MM_OK ||
	    (rc = mm_stmt_bind_int(ev, 1, from)) != MM_OK || (rc = mm_stmt_bind_int(ev, 2, to)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(ev, &row)) == MM_OK && row) {
		mm_audit_record r;
		uint8_t leaf[32];
		json_t *o;

		mm_audit_record_from_stmt(ev, &r);
		if ((rc = mm_audit_node_get(&nodes, 0, (uint64_t)r.seq, leaf)) != MM_OK)
			goto out;
		if ((o = event_json(&r, leaf)) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		if ((rc = emit(o, w, ctx)) != MM_OK ||
		    (rc = flush_checkpoints(ck, &have_ck, r.seq + 1, w, ctx)) != MM_OK)
			goto out;
	}
	if (rc != MM_OK)
		goto out;
	if ((rc = mm_db_prepare(db, q_anchor, &an)) != MM_OK ||
	    (rc = mm_stmt_bind_int(an, 1, to)) != MM_OK || (rc = mm_stmt_step(an, &row)) != MM_OK)
		goto out;
	if (row) {
		int64_t n = mm_stmt_int(an, 0);
		uint64_t cur = (uint64_t)to;
		json_t *suffix = json_array();

		/* The complete subtrees that extend [0, to) to [0, n), in order. */
		while (suffix != NULL && cur < (uint64_t)n) {
			unsigned l = cur == 0 ? 63 : (unsigned)__builtin_ctzll(cur);
			uint8_t h[32];

			while (cur + ((uint64_t)1 << l) > (uint64_t)n)
				l--;
			if ((rc = mm_audit_node_get(&nodes, l, cur >> l, h)) != MM_OK) {
				json_decref(suffix);
				goto out;
			}
			json_array_append_new(suffix, mm_audit_b64_json(h, 32));
			cur += (uint64_t)1 << l;
		}
		if (suffix == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		if ((rc = checkpoint_line(mm_stmt_text(an, 1), n, suffix, w, ctx)) != MM_OK)
			goto out;
	}
out:
	mm_stmt_done(ev);
	mm_stmt_done(ck);
	mm_stmt_done(an);
	json_decref(hdr);
	json_decref(origin);
	if (txn)
		mm_db_rollback(db);
	mm_store_release(s, db);
	return rc;
}

struct filew {
	FILE *f;
	const char *path;
};

static mm_err file_write(void *ctx, const void *p, size_t n)
{
	struct filew *fw = ctx;

	if (fwrite(p, 1, n, fw->f) != n)
		return mm_err_set(MM_ERR_IO, "cannot write %s: %s", fw->path, strerror(errno));
	return MM_OK;
}

mm_err mm_audit_export_file(mm_store *s, int64_t from, int64_t to, const char *path)
{
	struct filew fw = { NULL, path };
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	mm_err rc;

	if (fd < 0) {
		if (errno == EEXIST)
			return mm_err_set(MM_ERR_EXISTS, "%s already exists", path);
		return mm_err_set(MM_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	}
	if ((fw.f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return mm_err_set(MM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	}
	rc = mm_audit_export(s, from, to, file_write, &fw);
	if (fflush(fw.f) != 0 && rc == MM_OK)
		rc = mm_err_set(MM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	if (rc == MM_OK && fsync(fileno(fw.f)) != 0)
		rc = mm_err_set(MM_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	fclose(fw.f);
	if (rc != MM_OK)
		unlink(path);
	return rc;
}
