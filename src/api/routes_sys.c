/*
 * routes_sys.c: system routes: health, metrics, first-run initialisation,
 * the caller's identity, and API tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/routes.h"
#include "audit/audit.h"
#include "core/buf.h"
#include "core/json.h"
#include "access/password.h"
#include "core/time.h"
#include "crypto/crypto.h"

/* Health is what load balancers poll, so its rendered body is cached per
 * thread for up to one second; a change of the seal or initialisation state
 * is seen at once because both are compared on every call. */
static _Thread_local struct {
	int64_t sec;
	bool sealed, initialized, valid;
	char body[1024];
	size_t len;
} health_cache;

static mm_err health(mm_req *r)
{
	mm_app *app = mm_req_app(r);
	bool sealed = app->sealed != NULL && app->sealed(app);
	bool inited = __atomic_load_n(&app->initialized, __ATOMIC_RELAXED);
	int64_t now = mm_time_wall_ms();
	json_t *b;
	char *text;

	if (health_cache.valid && health_cache.sec == now / 1000 && health_cache.sealed == sealed &&
	    health_cache.initialized == inited) {
		mm_req_reply_raw(r, 200, "application/json", health_cache.body, health_cache.len);
		return MM_OK;
	}
	b = json_pack("{s:s,s:s,s:b,s:b,s:I,s:s,s:b}",
		      "status", "ok",
		      "version", app->version,
		      "initialized", inited,
		      "sealed", sealed,
		      "uptime_s", (json_int_t)((now - app->started_ms) / 1000),
		      "store", mm_store_backend_name(app->store),
		      "tls", mm_api_tls(app->api));
	if (b == NULL)
		return MM_ERR_NOMEM;
	if (app->health_extra != NULL)
		app->health_extra(app, b);
	text = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (text == NULL)
		return MM_ERR_NOMEM;
	health_cache.len = strlen(text);
	health_cache.valid = health_cache.len < sizeof(health_cache.body);
	if (health_cache.valid) {
		memcpy(health_cache.body, text, health_cache.len + 1);
		health_cache.sec = now / 1000;
		health_cache.sealed = sealed;
		health_cache.initialized = inited;
	}
	mm_req_reply_raw(r, 200, "application/json", text, strlen(text));
	free(text);
	return MM_OK;
}

/* A Prometheus histogram from the store's non-cumulative bucket counts. */
static mm_err store_histogram(mm_buf *out, const char *name, const char *help,
			      const uint64_t hist[MM_STORE_HIST_N], uint64_t sum_ns, uint64_t count)
{
	static const double bounds[] = MM_STORE_HIST_BOUNDS;
	unsigned long long cum = 0;
	mm_err rc;

	if ((rc = mm_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)) != MM_OK)
		return rc;
	for (size_t i = 0; i < MM_STORE_HIST_N; i++) {
		cum += hist[i];
		if (i < MM_STORE_HIST_N - 1)
			rc = mm_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
		else
			rc = mm_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
		if (rc != MM_OK)
			return rc;
	}
	return mm_buf_appendf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_ns / 1e9, name,
			      (unsigned long long)count);
}

static mm_err metrics(mm_req *r)
{
	mm_app *app = mm_req_app(r);
	mm_buf out = MM_BUF_INIT(16 << 20);
	mm_store_stats st;
	mm_err rc;

	if ((rc = mm_api_metrics(app->api, &out)) != MM_OK)
		goto out;
	mm_store_get_stats(app->store, &st);
	rc = mm_buf_appendf(&out,
		"# HELP mamori_store_commit_groups_total Group commits (one fsync each).\n"
		"# TYPE mamori_store_commit_groups_total counter\n"
		"mamori_store_commit_groups_total %llu\n"
		"# HELP mamori_store_jobs_total Write jobs committed or failed.\n"
		"# TYPE mamori_store_jobs_total counter\n"
		"mamori_store_jobs_total %llu\n"
		"# HELP mamori_store_failed_groups_total Group commits that failed.\n"
		"# TYPE mamori_store_failed_groups_total counter\n"
		"mamori_store_failed_groups_total %llu\n"
		"# HELP mamori_store_checkpoints_total Background WAL checkpoints.\n"
		"# TYPE mamori_store_checkpoints_total counter\n"
		"mamori_store_checkpoints_total %llu\n",
		(unsigned long long)st.groups, (unsigned long long)st.jobs,
		(unsigned long long)st.failed_groups, (unsigned long long)st.checkpoints);
	if (rc == MM_OK)
		rc = store_histogram(&out, "mamori_store_group_seconds",
				     "Group commits from BEGIN to the jobs' results.", st.group_hist,
				     st.group_ns, st.groups);
	if (rc == MM_OK)
		rc = store_histogram(&out, "mamori_store_commit_seconds",
				     "Commit phase of group commits (log write and fsync).",
				     st.commit_hist, st.commit_ns, st.groups);
	if (rc == MM_OK && app->audit != NULL) {
		mm_audit_stats as;

		mm_audit_get_stats(app->audit, &as);
		rc = mm_buf_appendf(&out,
			"# HELP mamori_audit_events Events in the committed audit tree.\n"
			"# TYPE mamori_audit_events gauge\n"
			"mamori_audit_events %lld\n"
			"# HELP mamori_audit_index_lag_events Events not yet in the query index "
			"(queries scan them).\n"
			"# TYPE mamori_audit_index_lag_events gauge\n"
			"mamori_audit_index_lag_events %lld\n"
			"# HELP mamori_audit_index_failures_total Query index jobs that failed "
			"(each is retried; see the log).\n"
			"# TYPE mamori_audit_index_failures_total counter\n"
			"mamori_audit_index_failures_total %llu\n"
			"# HELP mamori_audit_index_read_events_total Events the query index read "
			"back from the database instead of taking them from the writer.\n"
			"# TYPE mamori_audit_index_read_events_total counter\n"
			"mamori_audit_index_read_events_total %llu\n"
			"# HELP mamori_audit_checkpoints_total Signed checkpoints issued.\n"
			"# TYPE mamori_audit_checkpoints_total counter\n"
			"mamori_audit_checkpoints_total %llu\n"
			"# HELP mamori_audit_witness_failures_total Checkpoints a witness did not take.\n"
			"# TYPE mamori_audit_witness_failures_total counter\n"
			"mamori_audit_witness_failures_total %llu\n",
			(long long)as.tree_size, (long long)(as.tree_size - as.indexed),
			(unsigned long long)as.index_failures, (unsigned long long)as.index_read_events,
			(unsigned long long)as.checkpoints, (unsigned long long)as.witness_failures);
	}
	if (rc == MM_OK && app->metrics_extra != NULL)
		rc = app->metrics_extra(app, &out);
	if (rc != MM_OK)
		goto out;
	mm_req_reply_raw(r, 200, "text/plain; version=0.0.4", out.data, out.len);
out:
	mm_buf_release(&out);
	return rc;
}

static mm_err init(mm_req *r)
{
	static const char *const allowed[] = { "admin", "password", NULL };
	mm_app *app = mm_req_app(r);
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_ctx ctx;
	const char *name, *password;
	json_t *body;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "admin", true, MM_NAME_MAX, &name)) != MM_OK ||
	    (rc = mm_json_str(body, "password", true, MM_PASSWORD_MAX_BYTES, &password)) != MM_OK)
		goto out;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_init_admin(app->access, &ctx, name, password, &tok)) != MM_OK)
		goto out;
	__atomic_store_n(&app->initialized, true, __ATOMIC_RELAXED);
	/* Administrators use TOTP: enrolment is possible (and enforced) once
	 * the seal is initialised. */
	mm_req_reply(r, 201, json_pack("{s:s,s:s,s:[s],s:b,s:s}", "user", name, "token",
				       mm_buf_str(&tok), "roles", "admin", "restricted",
				       mm_access_mfa_enforced(app->access), "next",
				       mm_access_mfa_enforced(app->access)
				       ? "enrol a TOTP authenticator: mamori user mfa enroll"
				       : "initialise the seal (mamori seal init), unseal, then "
					 "enrol a TOTP authenticator (mamori user mfa enroll)"));
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

static mm_err whoami(mm_req *r)
{
	const mm_principal *p = mm_req_principal(r);
	char exp[MM_TIME_RFC3339_LEN];
	json_t *roles = json_array();
	char buf[MM_ROLES_MAX + 1], *save = NULL, *role;

	if (roles == NULL)
		return MM_ERR_NOMEM;
	memcpy(buf, p->roles, sizeof(buf));
	for (role = strtok_r(buf, ",", &save); role; role = strtok_r(NULL, ",", &save))
		json_array_append_new(roles, json_string(role));
	mm_time_format(p->expires_ms, exp);
	mm_req_reply(r, 200, json_pack("{s:s,s:o,s:s,s:s,s:s,s:b,s:b,s:s}", "user", p->name,
				       "roles", roles, "token_id", p->token_id, "token_expires", exp,
				       "kind", p->session ? "session" : "api", "mfa", p->mfa,
				       "restricted", p->restricted, "source", mm_req_source(r)));
	return MM_OK;
}

static mm_err token_create(mm_req *r)
{
	static const char *const allowed[] = { "ttl", NULL };
	mm_app *app = mm_req_app(r);
	mm_buf tok = MM_BUF_INIT(128);
	const char *ttl = NULL;
	int64_t ttl_ms = 0;
	mm_access_ctx ctx;
	char id[33];
	size_t blen;
	json_t *body;
	mm_err rc;

	mm_req_body(r, &blen);
	if (blen > 0) {
		if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
		    (rc = mm_json_str(body, "ttl", false, 32, &ttl)) != MM_OK)
			goto out;
		if (ttl != NULL && (rc = mm_time_parse_duration(ttl, &ttl_ms)) != MM_OK)
			goto out;
	}
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_token_create(app->access, &ctx, ttl_ms, &tok, id)) != MM_OK)
		goto out;
	mm_req_reply(r, 201, json_pack("{s:s,s:s}", "token", mm_buf_str(&tok), "token_id", id));
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

static mm_err token_revoke_self(mm_req *r)
{
	mm_access_ctx ctx;
	mm_err rc;

	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_token_revoke_self(mm_req_app(r)->access, &ctx)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b}", "revoked", 1));
	return MM_OK;
}

const mm_route mm_routes_sys[] = {
	{ "GET", "/v1/sys/health", NULL, MM_ROUTE_PUBLIC | MM_ROUTE_SEALED, health },
	{ "GET", "/metrics", "sys.read", MM_ROUTE_SEALED, metrics },
	{ "POST", "/v1/sys/init", NULL, MM_ROUTE_BOOTSTRAP | MM_ROUTE_BLOCKING, init },
	{ "GET", "/v1/auth/whoami", "self", MM_ROUTE_ENROL, whoami },
	{ "POST", "/v1/auth/tokens", "self", MM_ROUTE_BLOCKING, token_create },
	{ "DELETE", "/v1/auth/token", "self", MM_ROUTE_ENROL | MM_ROUTE_BLOCKING, token_revoke_self },
	{ NULL, NULL, NULL, 0, NULL },
};
