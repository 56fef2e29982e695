/*
 * api.h: the HTTP/JSON API over libevent's evhttp.
 *
 * The HTTP layer is thin: a handler parses its input, calls one library
 * function, and renders the result. Handlers return an mm_err; this layer
 * (and only this layer) maps it to a status code and the JSON error body
 * {"error":{"code","message","request_id"}}.
 *
 * Routes are declared in tables (mm_route arrays ending in a zeroed entry),
 * one per module file (routes_sys.c, routes_audit.c...), listed in
 * routes.c. Every route declares the permission it needs; only routes marked
 * MM_ROUTE_PUBLIC skip authentication. mm_api_check_routes() refuses at
 * start-up a route whose permission is not a known permission.
 *
 * Threading: one event loop per worker thread, each with its own evhttp on
 * its own SO_REUSEPORT listening socket. A handler runs on its loop thread
 * and must not block for long; a handler that waits for the store's
 * group commit defers its reply with mm_req_defer() and completes it from
 * any thread with mm_req_complete(). A route marked MM_ROUTE_BLOCKING runs
 * its handler on a small pool of blocking threads instead (Argon2id,
 * synchronous store writes): the handler is written as usual and its
 * mm_req_reply() is delivered back on the loop.
 *
 * Sessions that still have to enrol TOTP (mm_principal.restricted) may only
 * call routes marked MM_ROUTE_ENROL.
 */
#ifndef MM_API_API_H
#define MM_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "access/access.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

typedef struct mm_app mm_app;
typedef struct mm_req mm_req;
typedef struct mm_api mm_api;

typedef mm_err (*mm_api_handler)(mm_req *r);

enum {
	MM_ROUTE_PUBLIC = 1 << 0,  /* no token needed */
	MM_ROUTE_SEALED = 1 << 1,  /* served while sealed */
	MM_ROUTE_BOOTSTRAP = 1 << 2, /* the bootstrap token may call it */
	MM_ROUTE_ENROL = 1 << 3,   /* a restricted session may call it ("self" only) */
	MM_ROUTE_BLOCKING = 1 << 4, /* the handler runs on the blocking pool */
};

typedef struct mm_route {
	const char *method;     /* "GET", "POST", "PUT", "DELETE", "PATCH" */
	const char *pattern;    /* "/v1/users/{name}" */
	const char *perm;       /* permission needed; NULL only with MM_ROUTE_PUBLIC
				 * or MM_ROUTE_BOOTSTRAP */
	unsigned flags;
	mm_api_handler fn;
} mm_route;

/* All routes of all modules, in match order (NULL-terminated list of tables). */
extern const mm_route *const mm_api_route_tables[];

/* Checks every route table: known permission, valid pattern, no duplicate.
 * Errors: MM_ERR_INTERNAL naming the route. */
mm_err mm_api_check_routes(void);

/* ---- inside a handler ---- */

mm_app *mm_req_app(mm_req *r);
/* A `{name}` path parameter (URL-decoded), or NULL. */
const char *mm_req_param(mm_req *r, const char *name);
/* A query-string parameter (decoded), or NULL. */
const char *mm_req_query(mm_req *r, const char *name);
/* The request header value, or NULL. */
const char *mm_req_header(mm_req *r, const char *name);
/* The parsed JSON body; borrowed, lives as long as the request.
 * Errors: MM_ERR_INVALID (no body, malformed), MM_ERR_LIMIT. */
mm_err mm_req_json(mm_req *r, json_t **ret);
/* The raw body (not NUL-terminated). */
const char *mm_req_body(mm_req *r, size_t *ret_len);
/* The authenticated caller (kind MM_PRINCIPAL_NONE on public routes). */
const mm_principal *mm_req_principal(mm_req *r);
/* Caller address ("127.0.0.1") and request id. */
const char *mm_req_source(mm_req *r);
const char *mm_req_id(mm_req *r);
/* Context for audit records of this request. */
void mm_req_ctx(mm_req *r, mm_access_ctx *ret);
/* "user:NAME", "bootstrap" or "anonymous", for audit actors. */
const char *mm_req_actor(mm_req *r);

/* Sends status with a JSON body (stolen: the call decrefs it). On a
 * MM_ROUTE_BLOCKING route the reply is kept and delivered on the loop when
 * the handler returns; mm_req_reply_raw is not available there. */
void mm_req_reply(mm_req *r, int status, json_t *body);
/* Sends a non-JSON body (copied). */
void mm_req_reply_raw(mm_req *r, int status, const char *content_type,
		      const void *data, size_t n);
/* Adds a response header before the reply. */
void mm_req_add_header(mm_req *r, const char *name, const char *value);

/* Marks the reply as coming later from another thread. After this the
 * handler returns MM_OK and must not touch r again except through
 * mm_req_complete(), which must be called exactly once, from any thread:
 * with rc != MM_OK it sends the error for rc (detail copied), otherwise
 * status and body (stolen). */
void mm_req_defer(mm_req *r);
void mm_req_complete(mm_req *r, mm_err rc, const char *detail, int status, json_t *body);

/* Completes a deferred request successfully, but leaves building the reply
 * to the request's own loop thread: copies n bytes of data (at most
 * MM_REQ_DATA_MAX) and there calls build(r, copy), which replies with
 * mm_req_reply() or returns an error that is sent as such. For completions
 * on the store's writer thread, which every write queues behind. */
#define MM_REQ_DATA_MAX 256
typedef mm_err (*mm_req_build_fn)(mm_req *r, const void *data);
void mm_req_complete_build(mm_req *r, mm_req_build_fn build, const void *data, size_t n);

/* The HTTP status an error maps to. */
int mm_api_status_of(mm_err e);

/* ---- the server ---- */

/* Builds the server for app: listeners, TLS context, worker threads (not yet
 * running). Errors: MM_ERR_CONFIG (bad listen address, TLS files),
 * MM_ERR_IO (bind), MM_ERR_NOMEM. */
mm_err mm_api_new(mm_app *app, mm_api **ret);
/* The bound port (useful with port 0). */
int mm_api_port(const mm_api *api);
bool mm_api_tls(const mm_api *api);
/* Runs the worker loops until mm_api_stop(); returns after all loops ended
 * and in-flight requests were answered. */
mm_err mm_api_run(mm_api *api);
/* Async-signal-safe request to stop (new connections refused, in-flight
 * requests finish, then loops exit). */
void mm_api_stop(mm_api *api);
void mm_api_free(mm_api *api);

/* Prometheus text of the request metrics (appended to out). */
mm_err mm_api_metrics(mm_api *api, mm_buf *out);

#endif
