/*
 * notify.c: webhook notifications (new requests, decisions, break-glass)
 * through a durable outbox.
 *
 * A state change queues its notification in the `outbox` table inside the
 * same write job, so a notification exists exactly when its change
 * committed, and survives a restart. A background thread POSTs due rows as
 * JSON with libcurl (off every request path) and marks them delivered;
 * failures are retried with exponential back-off (2 s doubling, at most
 * 10 minutes apart) and abandoned after MAX_ATTEMPTS, which is audited.
 *
 * Invariants: only the notifier thread reads due rows and sends; marking a
 * row is a write job guarded by its attempt count, so a row is delivered at
 * least once and never marked twice. Bodies never contain secrets.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/internal.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"

#define MAX_ATTEMPTS 10
#define BATCH 16
#define BACKOFF_BASE_MS 2000LL
#define BACKOFF_MAX_MS (10 * 60 * 1000LL)
#define POLL_MS 1000

struct mm_notifier {
	mm_access *a;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool kicked;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

mm_err mm_notify_queue(mm_access *a, mm_db *db, const char *event, json_t *body)
{
	static const char sql[] =
		"INSERT INTO outbox (created_ms, event, body, next_ms) VALUES (?, ?, ?, ?)";
	int64_t now = mm_time_wall_ms();
	char ts[MM_TIME_RFC3339_LEN];
	json_t *env;
	char *text;
	mm_stmt *st;
	mm_err rc;

	if (a->cfg->webhook_url == NULL || a->cfg->webhook_url[0] == '\0')
		return MM_OK;
	mm_time_format(now, ts);
	env = json_pack("{s:s,s:s,s:s,s:O}", "source", "mamori", "event", event, "time", ts,
			"data", body);
	text = env ? mm_json_dump(env) : NULL;
	json_decref(env);
	if (text == NULL)
		return MM_ERR_NOMEM;
	if ((rc = mm_db_prepare(db, sql, &st)) == MM_OK) {
		if ((rc = mm_stmt_bind_int(st, 1, now)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 2, event)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 3, text)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 4, now)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
	}
	free(text);
	return rc;
}

void mm_notify_kick(mm_access *a)
{
	mm_notifier *n = a->notifier;

	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->kicked = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

struct due {
	int64_t id;
	int64_t attempts;
	char event[64];
	char *body;
};

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

/* POSTs body; returns MM_OK on a 2xx answer, else MM_ERR_UNAVAILABLE with
 * the reason in err. */
static mm_err post(const char *url, const char *body, char *err, size_t cap)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;

	if (h == NULL) {
		snprintf(err, cap, "cannot initialise libcurl");
		return MM_ERR_UNAVAILABLE;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "User-Agent: mamori-notify");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (cc != CURLE_OK) {
		snprintf(err, cap, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
		return MM_ERR_UNAVAILABLE;
	}
	if (status < 200 || status >= 300) {
		snprintf(err, cap, "HTTP %ld", status);
		return MM_ERR_UNAVAILABLE;
	}
	return MM_OK;
}

struct mark_job {
	const struct due *d;
	bool ok;
	const char *err;
	int64_t now;
};

static mm_err mark_job(mm_db *db, void *arg)
{
	static const char q_ok[] =
		"UPDATE outbox SET delivered_ms = ?, attempts = attempts + 1 WHERE id = ?"
		" AND attempts = ?";
	static const char q_retry[] =
		"UPDATE outbox SET attempts = attempts + 1, next_ms = ?, last_error = ?,"
		" failed = ? WHERE id = ? AND attempts = ?";
	struct mark_job *j = arg;
	int64_t attempts = j->d->attempts + 1, delay = BACKOFF_BASE_MS;
	bool give_up = !j->ok && attempts >= MAX_ATTEMPTS;
	mm_stmt *st;
	mm_err rc;

	for (int64_t i = 1; i < attempts && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	if ((rc = mm_db_prepare(db, j->ok ? q_ok : q_retry, &st)) != MM_OK)
		return rc;
	if (j->ok) {
		if ((rc = mm_stmt_bind_int(st, 1, j->now)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 2, j->d->id)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, j->d->attempts)) == MM_OK)
			rc = mm_stmt_run(st);
	} else {
		if ((rc = mm_stmt_bind_int(st, 1, j->now + delay)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 2, j->err)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, give_up)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 4, j->d->id)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 5, j->d->attempts)) == MM_OK)
			rc = mm_stmt_run(st);
	}
	mm_stmt_done(st);
	if (rc != MM_OK || !give_up)
		return rc;
	{
		mm_audit_event ev = { 0 };
		json_t *d = json_pack("{s:s,s:I,s:s}", "event", j->d->event, "attempts",
				      (json_int_t)attempts, "error", j->err);
		char target[48];

		snprintf(target, sizeof(target), "notification:%lld", (long long)j->d->id);
		ev.actor = "system";
		ev.action = "notify.failed";
		ev.target = target;
		ev.result = "failure";
		ev.details = d;
		rc = mm_audit_append(db, &ev, NULL);
		json_decref(d);
	}
	return rc;
}

static size_t load_due(mm_access *a, struct due *out, int64_t now)
{
	static const char sql[] =
		"SELECT id, attempts, event, body FROM outbox WHERE delivered_ms IS NULL"
		" AND failed = 0 AND next_ms <= ? ORDER BY id LIMIT 16";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	size_t n = 0;
	bool row;

	if (mm_store_acquire(a->store, &db) != MM_OK)
		return 0;
	if (mm_db_prepare(db, sql, &st) == MM_OK && mm_stmt_bind_int(st, 1, now) == MM_OK) {
		while (n < BATCH && mm_stmt_step(st, &row) == MM_OK && row) {
			out[n].id = mm_stmt_int(st, 0);
			out[n].attempts = mm_stmt_int(st, 1);
			mm_str_copy(out[n].event, sizeof(out[n].event), mm_stmt_text(st, 2));
			out[n].body = strdup(mm_stmt_text(st, 3));
			if (out[n].body != NULL)
				n++;
		}
	}
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return n;
}

static void *notifier_main(void *p)
{
	mm_notifier *n = p;
	mm_access *a = n->a;

	for (;;) {
		struct due due[BATCH];
		size_t cnt;

		pthread_mutex_lock(&n->mu);
		if (!n->stop && !n->kicked) {
			struct timespec ts;

			mm_time_deadline(POLL_MS, &ts);
			pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		}
		n->kicked = false;
		if (n->stop) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		pthread_mutex_unlock(&n->mu);
		cnt = load_due(a, due, mm_time_wall_ms());
		for (size_t i = 0; i < cnt; i++) {
			char err[256] = "";
			struct mark_job j;
			mm_err rc;

			rc = post(a->cfg->webhook_url, due[i].body, err, sizeof(err));
			j = (struct mark_job){ &due[i], rc == MM_OK, err, mm_time_wall_ms() };
			if (rc != MM_OK)
				mm_logkv(MM_LOG_WARN, "notify.retry", "event", due[i].event, "error", err,
					 NULL);
			if (mm_store_write(a->store, mark_job, &j) != MM_OK)
				mm_logkv(MM_LOG_ERROR, "notify.mark_failed", "event", due[i].event, NULL);
			free(due[i].body);
		}
	}
	return NULL;
}

mm_err mm_notifier_start(mm_access *a)
{
	mm_notifier *n;

	if (a->cfg->webhook_url == NULL || a->cfg->webhook_url[0] == '\0')
		return MM_OK;
	if (strncmp(a->cfg->webhook_url, "http://", 7) != 0 &&
	    strncmp(a->cfg->webhook_url, "https://", 8) != 0)
		return mm_err_set(MM_ERR_CONFIG, "notify.webhook_url must be an http:// or https:// "
				  "URL");
	pthread_once(&curl_once, curl_init_once);
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return MM_ERR_NOMEM;
	n->a = a;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->th, NULL, notifier_main, n) != 0) {
		pthread_mutex_destroy(&n->mu);
		pthread_cond_destroy(&n->cv);
		free(n);
		return mm_err_set(MM_ERR_IO, "cannot start the notifier thread");
	}
	(void)pthread_setname_np(n->th, "mm-notifier");
	a->notifier = n;
	return MM_OK;
}

void mm_notifier_stop(mm_access *a)
{
	mm_notifier *n = a->notifier;

	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->th, NULL);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
	a->notifier = NULL;
}
