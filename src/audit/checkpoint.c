/*
 * checkpoint.c: signing, storing and witnessing checkpoints.
 *
 * Invariants:
 *  - A checkpoint is stored only after its signature has been verified
 *    under the signer's declared public key, and only for a tree size that
 *    is committed (the size and root are read from the committed state).
 *  - audit_checkpoints rows are only inserted; tree_size is the key, so
 *    there is at most one checkpoint per size.
 *  - Issuance is serialised by ckpt_mu, so witnesses see checkpoints in
 *    increasing size. Witness failures never undo or block a checkpoint;
 *    they are logged and counted.
 */
#include "audit/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "crypto/sign.h"

void mm_audit_checkpoint_release(mm_audit_checkpoint *c)
{
	if (c == NULL)
		return;
	free(c->note);
	c->note = NULL;
}

/* ---- signer ---- */

struct key_job {
	const mm_audit_note_key *k;
};

static mm_err key_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"INSERT INTO audit_keys (key_id, key_name, public_key, first_used_ms) VALUES (?, ?, ?, ?) "
		"ON CONFLICT (key_id) DO NOTHING";
	struct key_job *kj = arg;
	char id[9];
	mm_stmt *st;
	mm_err rc;

	snprintf(id, sizeof(id), "%02x%02x%02x%02x", kj->k->id[0], kj->k->id[1], kj->k->id[2],
		 kj->k->id[3]);
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_text(st, 1, id)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 2, kj->k->name)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 3, kj->k->pub, 32)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 4, mm_time_wall_ms())) == MM_OK)
		rc = mm_stmt_run(st);
	mm_stmt_done(st);
	return rc;
}

mm_err mm_audit_set_signer(mm_audit_log *log, const mm_audit_signer *signer)
{
	mm_audit_note_key k;
	struct key_job kj = { &k };
	mm_err rc;

	if (signer == NULL) {
		pthread_mutex_lock(&log->mu);
		log->have_signer = false;
		pthread_mutex_unlock(&log->mu);
		return MM_OK;
	}
	if (signer->sign == NULL)
		return mm_err_set(MM_ERR_INVALID, "signer has no sign function");
	if ((rc = mm_audit_note_key_init(&k, signer->key_name ? signer->key_name : log->origin,
					 signer->public_key)) != MM_OK)
		return rc;
	if ((rc = mm_store_write(log->store, key_job, &kj)) != MM_OK)
		return rc;
	pthread_mutex_lock(&log->mu);
	log->signer = *signer;
	memcpy(log->key_name, k.name, sizeof(k.name));
	log->signer.key_name = log->key_name;
	log->have_signer = true;
	pthread_mutex_unlock(&log->mu);
	return MM_OK;
}

mm_err mm_audit_public_key(mm_audit_log *log, json_t **ret)
{
	mm_audit_note_key k;
	mm_buf vkey = MM_BUF_INIT(1024), b64 = MM_BUF_INIT(128);
	char id[9];
	json_t *o = NULL;
	mm_err rc = MM_OK;
	bool have;

	pthread_mutex_lock(&log->mu);
	have = log->have_signer;
	if (have)
		rc = mm_audit_note_key_init(&k, log->key_name, log->signer.public_key);
	pthread_mutex_unlock(&log->mu);
	if (!have)
		return mm_err_set(MM_ERR_SEALED, "no audit signing key is available");
	if (rc != MM_OK || (rc = mm_audit_note_vkey(&k, &vkey)) != MM_OK ||
	    (rc = mm_base64_encode(&b64, k.pub, 32)) != MM_OK)
		goto out;
	snprintf(id, sizeof(id), "%02x%02x%02x%02x", k.id[0], k.id[1], k.id[2], k.id[3]);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "algorithm", "ed25519", "key_name", k.name,
		      "public_key", mm_buf_str(&b64), "key_id", id, "vkey", mm_buf_str(&vkey),
		      "origin", log->origin);
	if (o == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	*ret = o;
out:
	mm_buf_release(&vkey);
	mm_buf_release(&b64);
	return rc;
}

/* ---- issuance ---- */

struct ckpt_job {
	mm_audit_checkpoint *c;
	const char *key_name;
	bool existed;
};

static mm_err ckpt_insert_job(mm_db *db, void *arg)
{
	static const char sql[] =
		"INSERT INTO audit_checkpoints (tree_size, time_ms, root, key_name, note) "
		"VALUES (?, ?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING";
	struct ckpt_job *j = arg;
	int64_t size;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_audit_state_size(db, &size)) != MM_OK)
		return rc;
	if (j->c->size > size)
		return mm_err_set(MM_ERR_INTERNAL, "checkpoint beyond the committed tree");
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		return rc;
	if ((rc = mm_stmt_bind_int(st, 1, j->c->size)) == MM_OK &&
	    (rc = mm_stmt_bind_int(st, 2, j->c->time_ms)) == MM_OK &&
	    (rc = mm_stmt_bind_blob(st, 3, j->c->root, HLEN)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 4, j->key_name)) == MM_OK &&
	    (rc = mm_stmt_bind_text(st, 5, j->c->note)) == MM_OK)
		rc = mm_stmt_run(st);
	if (rc == MM_OK)
		j->existed = mm_db_changes(db) == 0;
	mm_stmt_done(st);
	return rc;
}

static mm_err read_checkpoint(mm_stmt *st, mm_audit_checkpoint *ret)
{
	const void *p;
	size_t n;
	const char *note;

	ret->size = mm_stmt_int(st, 0);
	ret->time_ms = mm_stmt_int(st, 1);
	p = mm_stmt_blob(st, 2, &n);
	note = mm_stmt_text(st, 3);
	if (n != HLEN || note == NULL)
		return mm_err_set(MM_ERR_STORE, "stored checkpoint %" PRId64 " is damaged", ret->size);
	memcpy(ret->root, p, HLEN);
	if ((ret->note = strdup(note)) == NULL)
		return MM_ERR_NOMEM;
	return MM_OK;
}

mm_err mm_audit_latest_checkpoint(mm_store *s, mm_audit_checkpoint *ret)
{
	static const char sql[] = "SELECT tree_size, time_ms, root, note FROM audit_checkpoints "
				  "ORDER BY tree_size DESC LIMIT 1";
	mm_db *db;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK || (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no checkpoint has been issued yet");
		goto out;
	}
	rc = read_checkpoint(st, ret);
out:
	mm_stmt_done(st);
	mm_store_release(s, db);
	return rc;
}

static mm_err checkpoint_at(mm_store *s, int64_t size, mm_audit_checkpoint *ret)
{
	static const char sql[] =
		"SELECT tree_size, time_ms, root, note FROM audit_checkpoints WHERE tree_size = ?";
	mm_db *db;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(s, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK || (rc = mm_stmt_bind_int(st, 1, size)) != MM_OK ||
	    (rc = mm_stmt_step(st, &row)) != MM_OK)
		goto out;
	if (!row) {
		rc = mm_err_set(MM_ERR_NOT_FOUND, "no checkpoint at size %" PRId64, size);
		goto out;
	}
	rc = read_checkpoint(st, ret);
out:
	mm_stmt_done(st);
	mm_store_release(s, db);
	return rc;
}

static mm_err issue(mm_audit_log *log, mm_audit_checkpoint *ret)
{
	mm_audit_signer signer;
	mm_audit_note_key k;
	mm_audit_checkpoint c = { 0 };
	struct ckpt_job job;
	mm_buf text = MM_BUF_INIT(4096), note = MM_BUF_INIT(8192);
	size_t textlen;
	int64_t size;
	bool have;
	mm_err rc;

	pthread_mutex_lock(&log->mu);
	have = log->have_signer;
	signer = log->signer;
	size = (int64_t)log->cur.f.size;
	mm_merkle_frontier_root(&log->cur.f, c.root);
	pthread_mutex_unlock(&log->mu);
	if (!have)
		return mm_err_set(MM_ERR_SEALED, "no audit signing key is available");
	if (size == log->last_ckpt_size) {
		rc = checkpoint_at(log->store, size, &c);
		goto done;
	}
	c.size = size;
	c.time_ms = mm_time_wall_ms();
	if ((rc = mm_audit_note_key_init(&k, signer.key_name, signer.public_key)) != MM_OK ||
	    (rc = mm_audit_checkpoint_text(log->origin, size, c.root, &text)) != MM_OK ||
	    (rc = mm_audit_note_sign(text.data, text.len, &k, signer.sign, signer.ctx, &note)) != MM_OK)
		goto out;
	/* Never store a checkpoint that its own public key does not verify. */
	if (mm_audit_note_verify(note.data, note.len, &k, 1, &textlen, NULL) != MM_OK) {
		rc = mm_err_set(MM_ERR_CRYPTO, "the audit signer's signature does not verify under "
				"its public key");
		goto out;
	}
	c.note = mm_buf_detach(&note, NULL);
	if (c.note == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	job.c = &c;
	job.key_name = k.name;
	job.existed = false;
	if ((rc = mm_store_write(log->store, ckpt_insert_job, &job)) != MM_OK)
		goto out;
	if (job.existed) {
		mm_audit_checkpoint_release(&c);
		rc = checkpoint_at(log->store, size, &c);
		goto done;
	}
	log->last_ckpt_size = size;
	log->last_ckpt_time = c.time_ms;
	pthread_mutex_lock(&log->mu);
	log->stats.checkpoints++;
	pthread_mutex_unlock(&log->mu);
	mm_audit_witness_publish(log, &c);
done:
	if (rc == MM_OK && ret != NULL) {
		*ret = c;
		c.note = NULL;
	}
out:
	mm_audit_checkpoint_release(&c);
	mm_buf_release(&text);
	mm_buf_release(&note);
	return rc;
}

mm_err mm_audit_checkpoint_now(mm_audit_log *log, mm_audit_checkpoint *ret)
{
	mm_err rc;

	pthread_mutex_lock(&log->ckpt_mu);
	rc = issue(log, ret);
	pthread_mutex_unlock(&log->ckpt_mu);
	return rc;
}

mm_err mm_audit_tick(mm_audit_log *log, int64_t now_ms)
{
	int64_t size;
	bool have, due;
	mm_err rc = MM_OK;

	pthread_mutex_lock(&log->mu);
	have = log->have_signer;
	size = (int64_t)log->cur.f.size;
	pthread_mutex_unlock(&log->mu);
	/* Picks up a commit whose notification the index missed (the writer
	 * does not wait for the index's lock). */
	mm_audit_index_notify_nowait(log->index, size);
	if (!have)
		return MM_OK;
	pthread_mutex_lock(&log->ckpt_mu);
	due = size > log->last_ckpt_size && (log->last_ckpt_size < 0 ||
					     now_ms - log->last_ckpt_time >= log->interval_ms);
	if (due)
		rc = issue(log, NULL);
	pthread_mutex_unlock(&log->ckpt_mu);
	return rc;
}

/* ---- witnesses ---- */

static mm_err witness_file(const char *path, const char *note)
{
	size_t n = strlen(note), off = 0;
	char *buf = malloc(n + 1);
	mm_err rc = MM_OK;
	int fd;

	if (buf == NULL)
		return MM_ERR_NOMEM;
	memcpy(buf, note, n);
	buf[n] = '\n'; /* one empty line after each note */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = mm_err_set(MM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	while (off < n + 1) {
		ssize_t w = write(fd, buf + off, n + 1 - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = mm_err_set(MM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (rc == MM_OK && fsync(fd) != 0)
		rc = mm_err_set(MM_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	close(fd);
out:
	free(buf);
	return rc;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	return size * n;
}

static mm_err witness_http(const char *url, const char *note, int64_t timeout_ms)
{
	struct curl_slist *hdr = NULL;
	CURL *c;
	CURLcode cc;
	long status = 0;
	mm_err rc = MM_OK;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return mm_err_set(MM_ERR_UNAVAILABLE, "libcurl could not be initialised");
	if ((c = curl_easy_init()) == NULL)
		return MM_ERR_NOMEM;
	hdr = curl_slist_append(hdr, "Content-Type: text/plain; charset=utf-8");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, note);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(note));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mamori-audit-witness/1");
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = mm_err_set(MM_ERR_UNAVAILABLE, "witness %s: %s", url, curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			rc = mm_err_set(MM_ERR_UNAVAILABLE, "witness %s answered HTTP %ld", url, status);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

static void witness_syslog(const mm_audit_checkpoint *c)
{
	char line[1024];
	size_t j = 0;

	/* One line: the note with its newlines shown as " | ". */
	for (const char *p = c->note; *p && j + 4 < sizeof(line); p++) {
		if (*p == '\n') {
			if (p[1] == '\0')
				break;
			memcpy(line + j, " | ", 3);
			j += 3;
		} else {
			line[j++] = *p;
		}
	}
	line[j] = '\0';
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "mamori audit checkpoint: %s", line);
}

static void witness_failed(mm_audit_log *log, const char *which, mm_err rc)
{
	mm_logkv(MM_LOG_WARN, "audit.witness_failed", "witness", which, "error",
		 mm_err_detail(rc), NULL);
	pthread_mutex_lock(&log->mu);
	log->stats.witness_failures++;
	pthread_mutex_unlock(&log->mu);
}

void mm_audit_witness_publish(mm_audit_log *log, const mm_audit_checkpoint *c)
{
	mm_err rc;

	if (log->witness_file != NULL && (rc = witness_file(log->witness_file, c->note)) != MM_OK)
		witness_failed(log, "file", rc);
	if (log->witness_syslog)
		witness_syslog(c);
	if (log->witness_url != NULL &&
	    (rc = witness_http(log->witness_url, c->note, log->witness_timeout_ms)) != MM_OK)
		witness_failed(log, "url", rc);
}
