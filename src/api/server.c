/*
 * server.c: the evhttp server: worker threads, listeners, limits, routing,
 * authentication, replies, deferred replies, access log and metrics.
 *
 * Invariants:
 *  - Each worker owns one event_base, one evhttp and one SO_REUSEPORT
 *    listening socket; a request and its mm_req live on that worker's thread
 *    except for mm_req_complete(), which only schedules delivery back onto it.
 *  - Every request gets exactly one reply (send_reply asserts via r->replied).
 *  - Metrics arrays are written only by their worker thread (relaxed atomics,
 *    so a scrape from another thread sees whole values).
 *  - Connection accounting: new connections are counted in the bufferevent
 *    callback and uncounted by the evhttp_connection close callback, which a
 *    fix-up event installs right after accept (see conn_fixup).
 *  - A request on a MM_ROUTE_BLOCKING route is handed to the blocking pool
 *    and not touched by its loop until mm_req_complete() schedules the
 *    delivery; the pool's queue is bounded (MM_ERR_BUSY beyond).
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "crypto/tls.h"

#define MAX_SEGS 16
#define MAX_PARAMS 4
#define NSTATUS 17
#define NBUCKETS 12
#define PENDING_MAX 256
#define MEMO_SLOTS 16
#define MEMO_PATH 64

static const int status_codes[NSTATUS - 1] = { 200, 201, 202, 204, 400, 401, 403, 404, 405,
	409, 413, 414, 429, 500, 503, 504 };
static const double buckets[NBUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5 };

struct route_rt {
	const mm_route *r;
	int nsegs;
	const char *segs[MAX_SEGS];
	size_t seglen[MAX_SEGS];
	char name[160];
};

/* Per-connection bookkeeping: the deadline by which the next complete
 * request must have arrived (0 while a request is being handled). evhttp's
 * own timeout is per read, so without this a client trickling one header
 * byte at a time (slowloris) would hold the connection forever. */
struct conn {
	struct evhttp_connection *con;
	struct worker *w;
	int64_t deadline_ns;
	struct conn *hnext;
	struct conn *prev, *next;
};

#define CONN_BUCKETS 1024

/* A path and method that matched a route without parameters. */
struct route_memo {
	const char *method;      /* a literal from method_name(), compared by address */
	int idx;
	char path[MEMO_PATH];
};

struct worker {
	mm_api *api;
	struct conn *conn_hash[CONN_BUCKETS];
	struct conn *conn_list;
	int idx;
	pthread_t th;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lis;
	struct event *tick_ev;
	struct event *fixup_ev;
	struct bufferevent *pending[PENDING_MAX];
	int npending;
	int64_t conns;
	int64_t inflight;
	uint64_t rid_prefix;
	uint64_t rid_seq;
	uint64_t *counts;   /* [route][status] */
	uint64_t *hist;     /* [route][status][bucket+1] */
	uint64_t *sum_us;   /* [route][status] */
	uint64_t rejected_conns;
	struct mm_req *req_pool;   /* free mm_req objects of this worker */
	int req_pool_n;
	mm_buf reply;              /* reply text, reused by every mm_req_reply */
	/* Completed deferred requests handed over by other threads. The event
	 * bases run without libevent's locking (each is used by one thread
	 * only), so the hand-over is this mutex-protected list plus an eventfd
	 * that wakes the loop. */
	pthread_mutex_t done_mu;
	struct mm_req *done_head;
	int done_fd;
	struct event *done_ev;
	struct route_memo memo[MEMO_SLOTS];
	time_t date_s;           /* second that date was formatted for */
	char date[40];           /* the Date header value */
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mm_req *head, *tail;
	int queued;
	bool stop;
	pthread_t *th;
	int nth;
};

#define POOL_QUEUE_MAX 512

struct mm_api {
	mm_app *app;
	struct pool pool;
	const mm_config *cfg;
	int nworkers;
	struct worker *w;
	int port;
	mm_tls *tls;
	volatile sig_atomic_t stopping;
	int64_t stop_deadline_ns;
	struct route_rt *routes;
	size_t nroutes;
	/* Deferred requests not yet completed: mm_api_free() waits for zero,
	 * because a completion touches its worker's hand-over list. */
	int64_t deferred;
	int64_t max_conns_per_worker;
	bool access_log;
};

struct mm_req {
	struct worker *w;
	struct evhttp_request *ev;
	const struct route_rt *route;
	int route_idx;
	int64_t t0;
	char rid[40];
	char source[INET6_ADDRSTRLEN];
	char path[1024];
	struct evkeyvalq query;
	bool query_parsed;
	char *params[MAX_PARAMS];
	const char *param_names[MAX_PARAMS];
	size_t param_namelen[MAX_PARAMS];
	int nparams;
	mm_principal who;
	char actor[MM_NAME_MAX + 8];
	json_t *body_json;
	char *body;
	size_t body_len;
	bool replied;
	bool deferred;
	bool offloaded;          /* handler runs on the blocking pool */
	bool off_replied;
	struct mm_req *pnext;
	/* for deferred completion */
	mm_err drc;
	char ddetail[256];
	int dstatus;
	json_t *dbody;
	mm_req_build_fn dbuild;  /* builds the reply on the loop instead */
	unsigned char ddata[MM_REQ_DATA_MAX];
	struct mm_req *pool_next;
};

static void conn_set_deadline(struct worker *w, struct evhttp_connection *con, bool busy);

/* ---- status mapping ---- */

int mm_api_status_of(mm_err e)
{
	switch (e) {
	case MM_OK: return 200;
	case MM_ERR_INVALID: return 400;
	case MM_ERR_VERIFY: return 400;
	case MM_ERR_UNAUTHENTICATED: return 401;
	case MM_ERR_FORBIDDEN: return 403;
	case MM_ERR_NOT_FOUND: return 404;
	case MM_ERR_EXISTS: return 409;
	case MM_ERR_CONFLICT: return 409;
	case MM_ERR_LIMIT: return 413;
	case MM_ERR_RATE_LIMITED: return 429;
	case MM_ERR_SEALED: return 503;
	case MM_ERR_BUSY: return 503;
	case MM_ERR_UNAVAILABLE: return 503;
	case MM_ERR_NOMEM: return 503;
	case MM_ERR_TIMEOUT: return 504;
	default: return 500;
	}
}

static int status_index(int status)
{
	for (int i = 0; i < NSTATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return NSTATUS - 1;
}

/* ---- route table ---- */

static int split_path(const char *p, const char **segs, size_t *lens)
{
	int n = 0;

	while (*p == '/') {
		const char *s = ++p;

		while (*p != '\0' && *p != '/')
			p++;
		if (n == MAX_SEGS)
			return -1;
		segs[n] = s;
		lens[n] = (size_t)(p - s);
		n++;
	}
	return *p == '\0' ? n : -1;
}

mm_err mm_api_check_routes(void)
{
	for (size_t t = 0; mm_api_route_tables[t] != NULL; t++) {
		for (const mm_route *r = mm_api_route_tables[t]; r->method != NULL; r++) {
			const char *segs[MAX_SEGS];
			size_t lens[MAX_SEGS];

			if (r->perm == NULL && !(r->flags & (MM_ROUTE_PUBLIC | MM_ROUTE_BOOTSTRAP)))
				return mm_err_set(MM_ERR_INTERNAL, "route %s %s declares no permission",
						  r->method, r->pattern);
			if (r->perm != NULL && !mm_access_is_permission(r->perm))
				return mm_err_set(MM_ERR_INTERNAL, "route %s %s: unknown permission %s",
						  r->method, r->pattern, r->perm);
			if ((r->flags & MM_ROUTE_ENROL) && (r->perm == NULL || strcmp(r->perm, "self") != 0))
				return mm_err_set(MM_ERR_INTERNAL, "route %s %s: enrolment routes need "
						  "permission self", r->method, r->pattern);
			if (r->fn == NULL || split_path(r->pattern, segs, lens) <= 0)
				return mm_err_set(MM_ERR_INTERNAL, "route %s %s is malformed",
						  r->method, r->pattern);
			for (size_t u = 0; mm_api_route_tables[u] != NULL; u++)
				for (const mm_route *q = mm_api_route_tables[u]; q->method != NULL; q++)
					if (q != r && strcmp(q->method, r->method) == 0 &&
					    strcmp(q->pattern, r->pattern) == 0)
						return mm_err_set(MM_ERR_INTERNAL, "route %s %s twice",
								  r->method, r->pattern);
		}
	}
	return MM_OK;
}

static mm_err build_routes(mm_api *api)
{
	size_t n = 0, i = 0;

	for (size_t t = 0; mm_api_route_tables[t] != NULL; t++)
		for (const mm_route *r = mm_api_route_tables[t]; r->method != NULL; r++)
			n++;
	api->routes = calloc(n + 1, sizeof(*api->routes));
	if (api->routes == NULL)
		return MM_ERR_NOMEM;
	for (size_t t = 0; mm_api_route_tables[t] != NULL; t++) {
		for (const mm_route *r = mm_api_route_tables[t]; r->method != NULL; r++) {
			struct route_rt *rt = &api->routes[i++];

			rt->r = r;
			rt->nsegs = split_path(r->pattern, rt->segs, rt->seglen);
			snprintf(rt->name, sizeof(rt->name), "%s %s", r->method, r->pattern);
		}
	}
	api->nroutes = n;
	snprintf(api->routes[n].name, sizeof(api->routes[n].name), "unmatched");
	return MM_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Percent-decodes one path segment; rejects malformed escapes, NUL and '/'
 * after decoding (a parameter never smuggles a path separator). */
static char *decode_seg(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n) {
			free(out);
			return NULL;
		}
		{
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			char c;

			if (h < 0 || l < 0) {
				free(out);
				return NULL;
			}
			c = (char)(h * 16 + l);
			if (c == '\0' || c == '/') {
				free(out);
				return NULL;
			}
			*o++ = c;
			i += 2;
		}
	}
	*o = '\0';
	return out;
}

static size_t memo_slot(const char *path, size_t n)
{
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)path[i]) * 16777619u;
	return h % MEMO_SLOTS;
}

static int match_scan(mm_api *api, mm_req *r, const char *method, bool *ret_path_known);

/*
 * Finds the route for path; *ret_path_known tells 405 from 404.
 * The routes are fixed, so a method and path that matched a route without
 * parameters always match it again: each worker remembers a few such pairs
 * (the same calls repeat) and skips the scan of the whole table for them.
 */
static int match(mm_api *api, mm_req *r, const char *method, bool *ret_path_known)
{
	size_t n = strlen(r->path);
	struct route_memo *m = n < MEMO_PATH ? &r->w->memo[memo_slot(r->path, n)] : NULL;
	int idx;

	if (m != NULL && m->method == method && strcmp(m->path, r->path) == 0) {
		*ret_path_known = true;
		return m->idx;
	}
	idx = match_scan(api, r, method, ret_path_known);
	if (m != NULL && idx >= 0 && r->nparams == 0) {
		m->method = method;
		m->idx = idx;
		memcpy(m->path, r->path, n + 1);
	}
	return idx;
}

static int match_scan(mm_api *api, mm_req *r, const char *method, bool *ret_path_known)
{
	const char *segs[MAX_SEGS];
	size_t lens[MAX_SEGS];
	int n = split_path(r->path, segs, lens);

	*ret_path_known = false;
	if (n <= 0)
		return -1;
	for (size_t i = 0; i < api->nroutes; i++) {
		const struct route_rt *rt = &api->routes[i];
		bool ok = rt->nsegs == n;

		for (int s = 0; ok && s < n; s++) {
			if (rt->segs[s][0] == '{')
				ok = lens[s] > 0;
			else
				ok = rt->seglen[s] == lens[s] && memcmp(rt->segs[s], segs[s], lens[s]) == 0;
		}
		if (!ok)
			continue;
		*ret_path_known = true;
		if (strcmp(rt->r->method, method) != 0)
			continue;
		for (int s = 0; s < n; s++) {
			if (rt->segs[s][0] != '{')
				continue;
			if (r->nparams == MAX_PARAMS)
				return -1;
			r->params[r->nparams] = decode_seg(segs[s], lens[s]);
			if (r->params[r->nparams] == NULL)
				return -2;
			r->param_names[r->nparams] = rt->segs[s] + 1;
			r->param_namelen[r->nparams] = rt->seglen[s] - 2;
			r->nparams++;
		}
		return (int)i;
	}
	return -1;
}

static void allow_header(mm_api *api, mm_req *r)
{
	char allow[128] = "";
	const char *segs[MAX_SEGS];
	size_t lens[MAX_SEGS], used = 0;
	int n = split_path(r->path, segs, lens);

	for (size_t i = 0; i < api->nroutes && n > 0; i++) {
		const struct route_rt *rt = &api->routes[i];
		bool ok = rt->nsegs == n;

		for (int s = 0; ok && s < n; s++)
			ok = rt->segs[s][0] == '{' ||
			     (rt->seglen[s] == lens[s] && memcmp(rt->segs[s], segs[s], lens[s]) == 0);
		if (ok && used + strlen(rt->r->method) + 3 < sizeof(allow))
			used += (size_t)snprintf(allow + used, sizeof(allow) - used, "%s%s",
						 used ? ", " : "", rt->r->method);
	}
	if (used > 0)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", allow);
}

/* ---- replies ---- */

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 500 ? "Client Error" : "Internal Server Error";
	}
}

static void record(mm_req *r, int status)
{
	struct worker *w = r->w;
	size_t ridx = r->route_idx >= 0 ? (size_t)r->route_idx : w->api->nroutes;
	size_t cell = ridx * NSTATUS + (size_t)status_index(status);
	int64_t us = (mm_time_mono_ns() - r->t0) / 1000;
	double secs = (double)us / 1e6;
	int b = 0;

	while (b < NBUCKETS && secs > buckets[b])
		b++;
	__atomic_add_fetch(&w->counts[cell], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->sum_us[cell], (uint64_t)us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->hist[cell * (NBUCKETS + 1) + (size_t)b], 1, __ATOMIC_RELAXED);
	if (w->api->access_log) {
		char st[8], ms[24];

		snprintf(st, sizeof(st), "%d", status);
		snprintf(ms, sizeof(ms), "%.3f", (double)us / 1000.0);
		mm_logkv(MM_LOG_INFO, "http.access",
			 "method", method_name(evhttp_request_get_command(r->ev)),
			 "path", r->path, "status", st, "ms", ms, "request_id", r->rid,
			 "source", r->source, "principal", r->who.kind ? r->who.name : "-", NULL);
	}
}

/* Requests are recycled through a small per-worker pool: every mm_req is
 * created and freed on its worker's thread (deferred ones too, in deliver),
 * so the pool needs no lock. */
#define REQ_POOL_MAX 256

static mm_req *req_new(struct worker *w)
{
	mm_req *r = w->req_pool;

	if (r != NULL) {
		w->req_pool = r->pool_next;
		w->req_pool_n--;
		memset(r, 0, offsetof(mm_req, path));
		r->path[0] = '\0';
		memset(&r->query, 0, sizeof(*r) - offsetof(mm_req, query));
		return r;
	}
	return calloc(1, sizeof(*r));
}

/* Releases what a request holds, not the request itself. */
static void req_clear(mm_req *r)
{
	if (r->query_parsed)
		evhttp_clear_headers(&r->query);
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	json_decref(r->body_json);
	json_decref(r->dbody);
	free(r->body);
}

static void req_free(mm_req *r)
{
	struct worker *w = r->w;

	req_clear(r);
	if (w != NULL && w->req_pool_n < REQ_POOL_MAX) {
		r->pool_next = w->req_pool;
		w->req_pool = r;
		w->req_pool_n++;
		return;
	}
	free(r);
}

/*
 * Writes a reply at once instead of on the next loop iteration.
 *
 * A socket bufferevent only writes when its write event fires, which costs
 * two epoll_ctl calls and one more epoll_wait round per request. Here the
 * reply just queued by evhttp_send_reply() is written straight to the
 * socket; if it all went out, evhttp's own write callback (taken from the
 * bufferevent, with its argument) is invoked exactly as the bufferevent
 * would have, which finishes the request and re-arms reading; the pending
 * write event is then disabled again within the same iteration, so with the
 * epoll changelist no epoll_ctl is issued at all. A partial write leaves the
 * rest to the bufferevent as usual. Plain sockets only (TLS writes through
 * OpenSSL). evhttp explicitly tolerates the request and even the connection
 * being freed during the user callback (Connection: close), and nothing
 * here touches them afterwards.
 */
static void write_now(struct evhttp_connection *con)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(con);
	struct evbuffer *out;
	bufferevent_data_cb rcb = NULL, wcb = NULL;
	bufferevent_event_cb ecb = NULL;
	void *arg = NULL;
	evutil_socket_t fd;

	if (bev == NULL)
		return;
	fd = bufferevent_getfd(bev);
	out = bufferevent_get_output(bev);
	if (fd < 0 || evbuffer_get_length(out) == 0)
		return;
	if (evbuffer_write(out, fd) <= 0 || evbuffer_get_length(out) != 0)
		return;
	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &arg);
	if (wcb != NULL)
		wcb(bev, arg);
}

/* The Date header, formatted once a second per worker: without it evhttp
 * formats one for every reply (as here: RFC 1123, English names, GMT). */
static const char *worker_date(struct worker *w)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	if (now != w->date_s && gmtime_r(&now, &tm) != NULL) {
		snprintf(w->date, sizeof(w->date), "%s, %02d %s %4d %02d:%02d:%02d GMT",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		w->date_s = now;
	}
	return w->date;
}

static void send_body(mm_req *r, int status, const char *ctype, const void *data, size_t n)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	struct evhttp_connection *con;
	struct evbuffer *out = evhttp_request_get_output_buffer(r->ev);

	if (r->replied)
		return;
	r->replied = true;
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->rid);
	if (worker_date(r->w)[0] != '\0')
		evhttp_add_header(h, "Date", r->w->date);
	if (r->who.kind != MM_PRINCIPAL_NONE) {
		/* Answers to authenticated calls may carry sensitive data: never
		 * cached, never content-sniffed. Public answers (health, errors
		 * before authentication) carry nothing worth the header cost. */
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	}
	if (r->w->api->stopping)
		evhttp_add_header(h, "Connection", "close");
	if (n > 0)
		evbuffer_add(out, data, n);
	record(r, status);
	con = evhttp_request_get_connection(r->ev);
	conn_set_deadline(r->w, con, false);
	evhttp_send_reply(r->ev, status, reason(status), NULL);
	r->w->inflight--;
	if (con != NULL && r->w->api->tls == NULL)
		write_now(con);
}

void mm_req_reply_raw(mm_req *r, int status, const char *ctype, const void *data, size_t n)
{
	if (r->offloaded) {
		json_decref(r->dbody);
		r->dbody = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
				     "raw replies are not available on blocking routes");
		r->dstatus = 500;
		r->off_replied = true;
		return;
	}
	send_body(r, status, ctype, data, n);
}

/* Replies larger than this do not keep the worker's buffer allocated. */
#define REPLY_KEEP_MAX (64 * 1024)

void mm_req_reply(mm_req *r, int status, json_t *body)
{
	mm_buf *s = &r->w->reply;

	if (r->offloaded) {
		/* On the blocking pool: keep it for delivery on the loop. */
		json_decref(r->dbody);
		r->dbody = body;
		r->dstatus = status;
		r->off_replied = true;
		return;
	}
	/* Serialised into the worker's own buffer (only this thread replies on
	 * this worker), which saves an allocation and a copy per reply. */
	mm_buf_reset(s);
	if (body != NULL && mm_json_dump_buf(body, s) != MM_OK) {
		static const char oom[] =
			"{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";
		send_body(r, 503, "application/json", oom, sizeof(oom) - 1);
	} else {
		send_body(r, status, "application/json", body ? s->data : "{}", body ? s->len : 2);
	}
	/* libevent has its copy. The buffer outlives the request and may hold a
	 * decrypted plaintext or a data key: wipe what was written. */
	mm_crypto_wipe(s->data, s->len);
	mm_buf_reset(s);
	if (s->cap > REPLY_KEEP_MAX)
		mm_buf_release(s);
	json_decref(body);
}

static void reply_error_detail(mm_req *r, mm_err e, int status, const char *detail)
{
	const char *code = status == 405 ? "method_not_allowed" : mm_err_name(e);
	json_t *b = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message",
			      detail, "request_id", r->rid);

	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
				  "Bearer realm=\"mamori\"");
	if (status >= 500)
		mm_logkv(MM_LOG_ERROR, "http.error", "request_id", r->rid, "code",
			 mm_err_name(e), "detail", detail, NULL);
	mm_req_reply(r, status, b);
}

static void reply_error(mm_req *r, mm_err e)
{
	reply_error_detail(r, e, mm_api_status_of(e), mm_err_detail(e));
}

void mm_req_add_header(mm_req *r, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	mm_req *r = arg;

	r->offloaded = false;

	if (r->drc != MM_OK) {
		reply_error_detail(r, r->drc, mm_api_status_of(r->drc), r->ddetail);
	} else if (r->dbuild != NULL) {
		mm_err rc;

		mm_err_clear();
		rc = r->dbuild(r, r->ddata);
		if (rc != MM_OK && !r->replied)
			reply_error(r, rc);
		else if (!r->replied)
			reply_error(r, mm_err_set(MM_ERR_INTERNAL, "the handler sent no reply"));
	} else {
		json_t *b = r->dbody;

		r->dbody = NULL;
		mm_req_reply(r, r->dstatus, b);
	}
	req_free(r);
}

void mm_req_defer(mm_req *r)
{
	r->deferred = true;
	__atomic_add_fetch(&r->w->api->deferred, 1, __ATOMIC_SEQ_CST);
}

void mm_req_complete(mm_req *r, mm_err rc, const char *detail, int status, json_t *body)
{
	struct worker *w = r->w;
	uint64_t one = 1;
	bool wake;

	r->drc = rc;
	mm_str_copy(r->ddetail, sizeof(r->ddetail), detail ? detail : mm_err_message(rc));
	r->dstatus = status;
	if (r->dbody != body)
		json_decref(r->dbody);
	r->dbody = body;
	pthread_mutex_lock(&w->done_mu);
	wake = w->done_head == NULL;
	r->pool_next = w->done_head;
	w->done_head = r;
	pthread_mutex_unlock(&w->done_mu);
	if (wake && write(w->done_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		mm_logkv(MM_LOG_ERROR, "http.wake_failed", "request_id", r->rid, NULL);
	/* Last: after this the api may be freed. */
	__atomic_sub_fetch(&w->api->deferred, 1, __ATOMIC_SEQ_CST);
}

void mm_req_complete_build(mm_req *r, mm_req_build_fn build, const void *data, size_t n)
{
	if (n > sizeof(r->ddata)) {
		mm_req_complete(r, MM_ERR_INTERNAL, "deferred reply data too large", 0, NULL);
		return;
	}
	memcpy(r->ddata, data, n);
	r->dbuild = build;
	mm_req_complete(r, MM_OK, NULL, 0, NULL);
}

/* Delivers every deferred reply queued for this worker. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	mm_req *list, *rev = NULL, *next;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		mm_logkv(MM_LOG_ERROR, "http.wake_read_failed", NULL);
	pthread_mutex_lock(&w->done_mu);
	list = w->done_head;
	w->done_head = NULL;
	pthread_mutex_unlock(&w->done_mu);
	for (; list != NULL; list = next) { /* restore completion order */
		next = list->pool_next;
		list->pool_next = rev;
		rev = list;
	}
	for (; rev != NULL; rev = next) {
		next = rev->pool_next;
		rev->pool_next = NULL;
		deliver(-1, 0, rev);
	}
}

/* ---- request accessors ---- */

mm_app *mm_req_app(mm_req *r)
{
	return r->w->api->app;
}

const char *mm_req_param(mm_req *r, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < r->nparams; i++)
		if (r->param_namelen[i] == n && memcmp(r->param_names[i], name, n) == 0)
			return r->params[i];
	return NULL;
}

const char *mm_req_query(mm_req *r, const char *name)
{
	if (!r->query_parsed) {
		const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->ev);
		const char *q = u ? evhttp_uri_get_query(u) : NULL;

		r->query.tqh_first = NULL;
		r->query.tqh_last = &r->query.tqh_first;
		r->query_parsed = true;
		if (q != NULL && evhttp_parse_query_str(q, &r->query) != 0)
			evhttp_clear_headers(&r->query);
	}
	return evhttp_find_header(&r->query, name);
}

const char *mm_req_header(mm_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const char *mm_req_body(mm_req *r, size_t *ret_len)
{
	*ret_len = r->body_len;
	return r->body;
}

mm_err mm_req_json(mm_req *r, json_t **ret)
{
	mm_err rc;

	if (r->body_json == NULL) {
		if (r->body_len == 0)
			return mm_err_set(MM_ERR_INVALID, "a JSON request body is required");
		if ((rc = mm_json_parse(r->body, r->body_len, &r->body_json)) != MM_OK)
			return rc;
	}
	*ret = r->body_json;
	return MM_OK;
}

const mm_principal *mm_req_principal(mm_req *r)
{
	return &r->who;
}

const char *mm_req_source(mm_req *r)
{
	return r->source;
}

const char *mm_req_id(mm_req *r)
{
	return r->rid;
}

const char *mm_req_actor(mm_req *r)
{
	return r->actor;
}

void mm_req_ctx(mm_req *r, mm_access_ctx *ret)
{
	ret->who = &r->who;
	ret->source = r->source;
	ret->request_id = r->rid;
}

/* ---- the blocking pool ---- */

static bool pool_push(mm_api *api, mm_req *r)
{
	struct pool *p = &api->pool;
	bool ok;

	pthread_mutex_lock(&p->mu);
	ok = !p->stop && p->queued < POOL_QUEUE_MAX;
	if (ok) {
		/* Counted like a deferred request: mm_req_complete() ends it. */
		r->deferred = true;
		__atomic_add_fetch(&api->deferred, 1, __ATOMIC_SEQ_CST);
		r->offloaded = true;
		r->pnext = NULL;
		if (p->tail != NULL)
			p->tail->pnext = r;
		else
			p->head = r;
		p->tail = r;
		p->queued++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static void *pool_main(void *arg)
{
	mm_api *api = arg;
	struct pool *p = &api->pool;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		mm_req *r;
		mm_err rc;

		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		r = p->head;
		p->head = r->pnext;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->mu);

		mm_err_clear();
		rc = r->route->r->fn(r);
		if (rc != MM_OK && !r->off_replied)
			mm_req_complete(r, rc, mm_err_detail(rc), 0, NULL);
		else if (!r->off_replied)
			mm_req_complete(r, MM_ERR_INTERNAL, "the handler sent no reply", 0, NULL);
		else
			mm_req_complete(r, MM_OK, NULL, r->dstatus, r->dbody);
	}
	return NULL;
}

static mm_err pool_start(mm_api *api, int n)
{
	struct pool *p = &api->pool;

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->th = calloc((size_t)n, sizeof(*p->th));
	if (p->th == NULL)
		return MM_ERR_NOMEM;
	for (int i = 0; i < n; i++) {
		char name[16];

		if (pthread_create(&p->th[i], NULL, pool_main, api) != 0)
			return mm_err_set(MM_ERR_IO, "cannot start the blocking pool");
		snprintf(name, sizeof(name), "mm-pool-%d", i % 1000);
		(void)pthread_setname_np(p->th[i], name);
		p->nth++;
	}
	return MM_OK;
}

static void pool_stop(mm_api *api)
{
	struct pool *p = &api->pool;

	if (p->th == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	p->th = NULL;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* ---- the request callback ---- */

static bool valid_rid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* "<12 hex of a per-worker random prefix>-<hex sequence>": unique per
 * process start without a syscall or a format call per request. */
static void make_rid(struct worker *w, char out[40])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t p = w->rid_prefix, q = ++w->rid_seq;
	char tmp[16];
	int n = 0, i;

	for (i = 11; i >= 0; i--) {
		out[i] = hex[p & 15];
		p >>= 4;
	}
	out[12] = '-';
	do {
		tmp[n++] = hex[q & 15];
		q >>= 4;
	} while (q != 0);
	for (i = 0; i < n; i++)
		out[13 + i] = tmp[n - 1 - i];
	out[13 + n] = '\0';
}

static void authenticate(mm_api *api, mm_req *r, const struct route_rt *rt, mm_err *ret)
{
	const char *h = mm_req_header(r, "Authorization");
	mm_err rc;

	*ret = MM_OK;
	if (rt->r->flags & MM_ROUTE_PUBLIC)
		return;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		*ret = mm_err_set(MM_ERR_UNAUTHENTICATED, "an Authorization: Bearer token is required");
		return;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if ((rc = mm_access_authenticate(api->app->access, h, r->source, &r->who)) != MM_OK) {
		*ret = rc;
		return;
	}
	if (r->who.kind == MM_PRINCIPAL_BOOTSTRAP) {
		snprintf(r->actor, sizeof(r->actor), "bootstrap");
		if (!(rt->r->flags & MM_ROUTE_BOOTSTRAP))
			*ret = mm_err_set(MM_ERR_FORBIDDEN,
					  "the bootstrap token may only initialise mamori");
		return;
	}
	/* "user:NAME" without a format call (every authenticated request). */
	memcpy(r->actor, "user:", 5);
	mm_str_copy(r->actor + 5, sizeof(r->actor) - 5, r->who.name);
	if (rt->r->perm == NULL) {
		*ret = mm_err_set(MM_ERR_FORBIDDEN, "this call needs the bootstrap token");
		return;
	}
	if (r->who.restricted) {
		/* Enrolment routes need only "self", which every user holds. */
		if (!(rt->r->flags & MM_ROUTE_ENROL))
			*ret = mm_err_set(MM_ERR_FORBIDDEN, "enrol a TOTP authenticator first "
					  "(mamori user mfa enroll)");
		return;
	}
	if (!mm_access_permits(api->app->access, &r->who, rt->r->perm))
		*ret = mm_err_set(MM_ERR_FORBIDDEN, "permission '%s' is required", rt->r->perm);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
	struct worker *w = arg;
	mm_api *api = w->api;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(ev);
	struct evhttp_connection *con = evhttp_request_get_connection(ev);
	struct evbuffer *in = evhttp_request_get_input_buffer(ev);
	const char *method = method_name(evhttp_request_get_command(ev));
	const char *rid, *upath, *peer = NULL;
	ev_uint16_t port = 0;
	bool known = false;
	size_t blen;
	int idx;
	mm_req *r;
	mm_err rc;

	r = req_new(w);
	if (r == NULL) {
		evhttp_send_error(ev, 503, "out of memory");
		return;
	}
	r->w = w;
	r->ev = ev;
	r->t0 = mm_time_mono_ns();
	conn_set_deadline(w, con, true);
	r->route_idx = -1;
	w->inflight++;
	mm_str_copy(r->actor, sizeof(r->actor), "anonymous");
	rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
	if (rid != NULL && valid_rid(rid))
		mm_str_copy(r->rid, sizeof(r->rid), rid);
	else
		make_rid(w, r->rid);
	if (con != NULL)
		evhttp_connection_get_peer(con, (char **)&peer, &port);
	mm_str_copy(r->source, sizeof(r->source), peer ? peer : "");
	upath = u ? evhttp_uri_get_path(u) : NULL;
	if (upath == NULL || upath[0] == '\0')
		upath = "/";
	if (strlen(upath) >= sizeof(r->path)) {
		snprintf(r->path, sizeof(r->path), "(too long)");
		reply_error_detail(r, MM_ERR_LIMIT, 414, "request path longer than 1023 bytes");
		goto done;
	}
	mm_str_copy(r->path, sizeof(r->path), upath);

	blen = evbuffer_get_length(in);
	if ((int64_t)blen > api->cfg->max_body_bytes) {
		reply_error(r, mm_err_set(MM_ERR_LIMIT, "request body larger than %lld bytes",
					  (long long)api->cfg->max_body_bytes));
		goto done;
	}
	idx = match(api, r, method, &known);
	if (idx == -2) {
		reply_error(r, mm_err_set(MM_ERR_INVALID, "malformed percent-encoding in path"));
		goto done;
	}
	if (idx < 0) {
		if (known) {
			allow_header(api, r);
			reply_error_detail(r, MM_ERR_INVALID, 405,
					   "method not allowed for this path");
		} else {
			reply_error(r, mm_err_set(MM_ERR_NOT_FOUND, "no such route: %s %.200s",
						  method, r->path));
		}
		goto done;
	}
	r->route_idx = idx;
	r->route = &api->routes[idx];
	if (api->app->sealed != NULL && !(r->route->r->flags & MM_ROUTE_SEALED) &&
	    api->app->sealed(api->app)) {
		reply_error(r, mm_err_set(MM_ERR_SEALED, "mamori is sealed: unseal it first"));
		goto done;
	}
	authenticate(api, r, r->route, &rc);
	if (rc != MM_OK) {
		reply_error(r, rc);
		goto done;
	}
	if (blen > 0) {
		r->body = malloc(blen + 1);
		if (r->body == NULL) {
			reply_error(r, MM_ERR_NOMEM);
			goto done;
		}
		evbuffer_remove(in, r->body, blen);
		r->body[blen] = '\0';
		r->body_len = blen;
	}
	if (r->route->r->flags & MM_ROUTE_BLOCKING) {
		if (pool_push(api, r))
			return; /* the pool owns r now */
		reply_error(r, mm_err_set(MM_ERR_BUSY, "too many requests waiting; try again"));
		goto done;
	}
	mm_err_clear();
	rc = r->route->r->fn(r);
	if (r->deferred && rc == MM_OK)
		return; /* mm_req_complete() owns r now */
	if (rc != MM_OK && !r->replied)
		reply_error(r, rc);
	else if (!r->replied)
		reply_error(r, mm_err_set(MM_ERR_INTERNAL, "the handler sent no reply"));
done:
	req_free(r);
}

/* ---- connections ---- */

static size_t conn_bucket(const struct evhttp_connection *con)
{
	return ((uintptr_t)con >> 4) % CONN_BUCKETS;
}

static struct conn *conn_find(struct worker *w, const struct evhttp_connection *con)
{
	struct conn *c;

	for (c = w->conn_hash[conn_bucket(con)]; c != NULL; c = c->hnext)
		if (c->con == con)
			return c;
	return NULL;
}

static void conn_closed(struct evhttp_connection *con, void *arg)
{
	struct conn *c = arg, **pp;
	struct worker *w = c->w;

	for (pp = &w->conn_hash[conn_bucket(con)]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conn_list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	w->conns--;
}

static void conn_set_deadline(struct worker *w, struct evhttp_connection *con, bool busy)
{
	struct conn *c = con ? conn_find(w, con) : NULL;

	if (c != NULL)
		c->deadline_ns = busy ? 0 : mm_time_mono_ns() + w->api->cfg->request_timeout_ms * 1000000LL;
}

/* Closes idle connections whose next request did not arrive in time. */
static void conn_sweep(struct worker *w)
{
	int64_t now = mm_time_mono_ns();
	struct conn *c = w->conn_list, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->deadline_ns != 0 && c->deadline_ns < now)
			evhttp_connection_free(c->con); /* calls conn_closed */
	}
}

/* Runs right after accept, in the same loop iteration: evhttp has created
 * the evhttp_connection around the bufferevent we gave it, and its callback
 * argument is that connection. Installs the close callback that keeps the
 * count, and refuses connections over the limit. */
static void conn_fixup(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->npending; i++) {
		bufferevent_data_cb rcb, wcb;
		bufferevent_event_cb ecb;
		void *cbarg = NULL;
		struct evhttp_connection *con;

		bufferevent_getcb(w->pending[i], &rcb, &wcb, &ecb, &cbarg);
		struct conn *cs;

		con = cbarg;
		cs = con ? calloc(1, sizeof(*cs)) : NULL;
		if (cs == NULL) {
			w->conns--;
			if (con != NULL)
				evhttp_connection_free(con);
			continue;
		}
		cs->con = con;
		cs->w = w;
		cs->deadline_ns = mm_time_mono_ns() + w->api->cfg->request_timeout_ms * 1000000LL;
		cs->hnext = w->conn_hash[conn_bucket(con)];
		w->conn_hash[conn_bucket(con)] = cs;
		cs->next = w->conn_list;
		if (w->conn_list != NULL)
			w->conn_list->prev = cs;
		w->conn_list = cs;
		evhttp_connection_set_closecb(con, conn_closed, cs);
		if (w->conns > w->api->max_conns_per_worker || w->api->stopping) {
			w->rejected_conns++;
			evhttp_connection_free(con);
		}
	}
	w->npending = 0;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	struct bufferevent *bev;

	if (w->api->tls != NULL)
		bev = mm_tls_bufferevent(w->api->tls, base);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if (w->npending < PENDING_MAX) {
		w->pending[w->npending++] = bev;
		w->conns++;
		if (w->npending == 1)
			event_active(w->fixup_ev, EV_TIMEOUT, 0);
	}
	return bev;
}

/* ---- lifecycle ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	mm_api *api = w->api;

	conn_sweep(w);
	if (!api->stopping)
		return;
	if (w->lis != NULL)
		evconnlistener_disable(w->lis);
	if (w->inflight <= 0 || mm_time_mono_ns() > api->stop_deadline_ns)
		event_base_loopexit(w->base, NULL);
}

static int listen_socket(const char *host, int port, int *ret_port)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	int fd = -1, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0)
		goto fail;
	if (ret_port != NULL) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
			goto fail;
		*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	}
	freeaddrinfo(res);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

static mm_err parse_listen(const char *listen, char *host, size_t hostcap, int *ret_port)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hl;
	char *end;
	long p;

	if (colon == NULL)
		goto bad;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostcap)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		goto bad;
	*ret_port = (int)p;
	return MM_OK;
bad:
	return mm_err_set(MM_ERR_CONFIG, "listen: expected HOST:PORT, got '%s'", listen);
}

static mm_err worker_init(mm_api *api, struct worker *w, const char *host, int port)
{
	size_t cells = (api->nroutes + 1) * NSTATUS;
	struct timeval tick = { 0, 100000 };
	struct timeval tmo;
	int fd;

	w->api = api;
	mm_buf_init(&w->reply, MM_BUF_UNLIMITED);
	w->counts = calloc(cells, sizeof(uint64_t));
	w->sum_us = calloc(cells, sizeof(uint64_t));
	w->hist = calloc(cells * (NBUCKETS + 1), sizeof(uint64_t));
	if (w->counts == NULL || w->sum_us == NULL || w->hist == NULL)
		return MM_ERR_NOMEM;
	if (mm_crypto_random(&w->rid_prefix, sizeof(w->rid_prefix)) != MM_OK)
		return MM_ERR_CRYPTO;
	w->rid_prefix &= 0xffffffffffffULL;
	{
		/* Each base is used by one thread only (no locks), and epoll
		 * changes are coalesced per loop iteration: evhttp toggles read and
		 * write interest on every request, and the changelist turns those
		 * toggles into at most one epoll_ctl per fd per iteration. */
		struct event_config *ec = event_config_new();

		if (ec == NULL)
			return MM_ERR_NOMEM;
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		w->base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (w->base == NULL)
		return MM_ERR_NOMEM;
	w->http = evhttp_new(w->base);
	if (w->http == NULL)
		return MM_ERR_NOMEM;
	/* evhttp's own cap is above ours so that an oversized body still gets
	 * our JSON 413; beyond it evhttp answers 413 itself and closes. */
	evhttp_set_max_body_size(w->http, api->cfg->max_body_bytes * 4);
	evhttp_set_max_headers_size(w->http, api->cfg->max_header_bytes);
	tmo.tv_sec = api->cfg->request_timeout_ms / 1000;
	tmo.tv_usec = (api->cfg->request_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(w->http, &tmo);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					    EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
					    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(w->http, on_request, w);
	evhttp_set_bevcb(w->http, make_bev, w);
	w->fixup_ev = event_new(w->base, -1, 0, conn_fixup, w);
	pthread_mutex_init(&w->done_mu, NULL);
	w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->done_fd < 0)
		return mm_err_set(MM_ERR_IO, "eventfd: %s", strerror(errno));
	w->done_ev = event_new(w->base, w->done_fd, EV_READ | EV_PERSIST, on_done, w);
	if (w->done_ev == NULL || event_add(w->done_ev, NULL) != 0)
		return MM_ERR_NOMEM;
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	if (w->fixup_ev == NULL || w->tick_ev == NULL)
		return MM_ERR_NOMEM;
	event_add(w->tick_ev, &tick);
	fd = listen_socket(host, port, w->idx == 0 ? &api->port : NULL);
	if (fd < 0)
		return mm_err_set(MM_ERR_IO, "cannot listen on %s:%d: %s", host, port,
				  strerror(errno));
	w->lis = evconnlistener_new(w->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (w->lis == NULL) {
		close(fd);
		return MM_ERR_NOMEM;
	}
	if (evhttp_bind_listener(w->http, w->lis) == NULL)
		return mm_err_set(MM_ERR_IO, "cannot bind the HTTP listener");
	return MM_OK;
}

mm_err mm_api_new(mm_app *app, mm_api **ret)
{
	mm_api *api;
	char host[256];
	int port = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	mm_err rc;

	if ((rc = mm_api_check_routes()) != MM_OK)
		return rc;
	if ((rc = parse_listen(app->cfg->listen, host, sizeof(host), &port)) != MM_OK)
		return rc;
	api = calloc(1, sizeof(*api));
	if (api == NULL)
		return MM_ERR_NOMEM;
	api->app = app;
	api->cfg = app->cfg;
	api->access_log = app->cfg->access_log == NULL || strcmp(app->cfg->access_log, "off") != 0;
	api->nworkers = app->cfg->threads > 0 ? (int)app->cfg->threads : (int)(cores > 0 ? cores : 1);
	api->max_conns_per_worker = app->cfg->max_connections / api->nworkers;
	if (api->max_conns_per_worker < 1)
		api->max_conns_per_worker = 1;
	if ((rc = build_routes(api)) != MM_OK)
		goto fail;
	if (app->cfg->tls_cert != NULL &&
	    (rc = mm_tls_new(app->cfg->tls_cert, app->cfg->tls_key, &api->tls)) != MM_OK)
		goto fail;
	api->w = calloc((size_t)api->nworkers, sizeof(*api->w));
	if (api->w == NULL) {
		rc = MM_ERR_NOMEM;
		goto fail;
	}
	for (int i = 0; i < api->nworkers; i++) {
		api->w[i].idx = i;
		if ((rc = worker_init(api, &api->w[i], host, i == 0 ? port : api->port)) != MM_OK)
			goto fail;
	}
	if ((rc = pool_start(api, api->nworkers > 2 ? api->nworkers : 2)) != MM_OK)
		goto fail;
	*ret = api;
	return MM_OK;
fail:
	mm_api_free(api);
	return rc;
}

int mm_api_port(const mm_api *api)
{
	return api->port;
}

bool mm_api_tls(const mm_api *api)
{
	return api->tls != NULL;
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	event_base_dispatch(w->base);
	return NULL;
}

mm_err mm_api_run(mm_api *api)
{
	int started = 0;
	mm_err rc = MM_OK;

	for (int i = 1; i < api->nworkers; i++) {
		char name[16];

		if (pthread_create(&api->w[i].th, NULL, worker_main, &api->w[i]) != 0) {
			rc = mm_err_set(MM_ERR_IO, "cannot start HTTP worker thread");
			mm_api_stop(api);
			break;
		}
		/* Worker 0 is the main thread, which keeps the process name. */
		snprintf(name, sizeof(name), "mm-http-%d", i % 1000);
		(void)pthread_setname_np(api->w[i].th, name);
		started++;
	}
	event_base_dispatch(api->w[0].base);
	for (int i = 1; i <= started; i++)
		pthread_join(api->w[i].th, NULL);
	return rc;
}

void mm_api_stop(mm_api *api)
{
	api->stop_deadline_ns = mm_time_mono_ns() + 10LL * 1000000000LL;
	api->stopping = 1;
}

void mm_api_free(mm_api *api)
{
	int64_t waited = 0;

	if (api == NULL)
		return;
	/* Requests still being worked on (past the shutdown deadline) complete
	 * into their worker's list; wait for them so nothing writes into freed
	 * memory. The store is still open, so store jobs do finish. */
	while (__atomic_load_n(&api->deferred, __ATOMIC_SEQ_CST) > 0 && waited < 120000) {
		usleep(10000);
		waited += 10;
	}
	if (__atomic_load_n(&api->deferred, __ATOMIC_SEQ_CST) > 0) {
		mm_logkv(MM_LOG_ERROR, "http.shutdown_stuck",
			 "detail", "deferred requests never completed; not freeing the server", NULL);
		return;
	}
	pool_stop(api);
	for (int i = 0; api->w != NULL && i < api->nworkers; i++) {
		struct worker *w = &api->w[i];

		if (w->http != NULL)
			evhttp_free(w->http);
		if (w->fixup_ev != NULL)
			event_free(w->fixup_ev);
		if (w->done_ev != NULL)
			event_free(w->done_ev);
		if (w->done_fd > 0)
			close(w->done_fd);
		if (w->base != NULL)
			pthread_mutex_destroy(&w->done_mu);
		if (w->tick_ev != NULL)
			event_free(w->tick_ev);
		if (w->base != NULL)
			event_base_free(w->base);
		while (w->done_head != NULL) {
			mm_req *r = w->done_head;

			w->done_head = r->pool_next;
			req_clear(r);
			free(r);
		}
		while (w->req_pool != NULL) {
			mm_req *r = w->req_pool;

			w->req_pool = r->pool_next;
			free(r);
		}
		mm_buf_release(&w->reply);
		free(w->counts);
		free(w->sum_us);
		free(w->hist);
	}
	free(api->w);
	free(api->routes);
	mm_tls_free(api->tls);
	free(api);
}

/* ---- metrics ---- */

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

mm_err mm_api_metrics(mm_api *api, mm_buf *out)
{
	size_t cells = (api->nroutes + 1) * NSTATUS;
	uint64_t rejected = 0;
	int64_t conns = 0;
	mm_err rc = MM_OK;

	rc = mm_buf_appends(out,
		"# HELP mamori_http_requests_total HTTP requests by route and status.\n"
		"# TYPE mamori_http_requests_total counter\n");
	for (size_t c = 0; c < cells && rc == MM_OK; c++) {
		uint64_t n = 0;
		int st = (int)(c % NSTATUS);

		for (int i = 0; i < api->nworkers; i++)
			n += load(&api->w[i].counts[c]);
		if (n == 0)
			continue;
		rc = mm_buf_appendf(out, "mamori_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    api->routes[c / NSTATUS].name,
				    st < NSTATUS - 1 ? status_codes[st] : 0, (unsigned long long)n);
	}
	if (rc == MM_OK)
		rc = mm_buf_appends(out,
			"# HELP mamori_http_request_duration_seconds HTTP request latency by route and status.\n"
			"# TYPE mamori_http_request_duration_seconds histogram\n");
	for (size_t c = 0; c < cells && rc == MM_OK; c++) {
		uint64_t n = 0, sum = 0, cum = 0;
		int st = (int)(c % NSTATUS);
		const char *name = api->routes[c / NSTATUS].name;
		int code = st < NSTATUS - 1 ? status_codes[st] : 0;

		for (int i = 0; i < api->nworkers; i++) {
			n += load(&api->w[i].counts[c]);
			sum += load(&api->w[i].sum_us[c]);
		}
		if (n == 0)
			continue;
		for (int b = 0; b <= NBUCKETS && rc == MM_OK; b++) {
			for (int i = 0; i < api->nworkers; i++)
				cum += load(&api->w[i].hist[c * (NBUCKETS + 1) + (size_t)b]);
			if (b < NBUCKETS)
				rc = mm_buf_appendf(out, "mamori_http_request_duration_seconds_bucket"
						    "{route=\"%s\",status=\"%d\",le=\"%g\"} %llu\n",
						    name, code, buckets[b], (unsigned long long)cum);
			else
				rc = mm_buf_appendf(out, "mamori_http_request_duration_seconds_bucket"
						    "{route=\"%s\",status=\"%d\",le=\"+Inf\"} %llu\n",
						    name, code, (unsigned long long)cum);
		}
		if (rc == MM_OK)
			rc = mm_buf_appendf(out,
				"mamori_http_request_duration_seconds_sum{route=\"%s\",status=\"%d\"} %.6f\n"
				"mamori_http_request_duration_seconds_count{route=\"%s\",status=\"%d\"} %llu\n",
				name, code, (double)sum / 1e6, name, code, (unsigned long long)n);
	}
	for (int i = 0; i < api->nworkers; i++) {
		rejected += __atomic_load_n(&api->w[i].rejected_conns, __ATOMIC_RELAXED);
		conns += __atomic_load_n(&api->w[i].conns, __ATOMIC_RELAXED);
	}
	if (rc == MM_OK)
		rc = mm_buf_appendf(out,
			"# HELP mamori_http_connections Open HTTP connections.\n"
			"# TYPE mamori_http_connections gauge\n"
			"mamori_http_connections %lld\n"
			"# HELP mamori_http_connections_rejected_total Connections refused over the limit.\n"
			"# TYPE mamori_http_connections_rejected_total counter\n"
			"mamori_http_connections_rejected_total %llu\n",
			(long long)conns, (unsigned long long)rejected);
	return rc;
}
