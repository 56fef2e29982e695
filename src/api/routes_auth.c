/*
 * routes_auth.c: sign-in, password change and TOTP enrolment.
 *
 * Login is public and runs on the blocking pool (one Argon2id per attempt);
 * the enrolment routes are open to restricted sessions (MM_ROUTE_ENROL) so
 * that a user who must use TOTP can set it up. Passwords and codes are never
 * echoed, logged or put in error messages.
 */
#include <stdio.h>
#include <string.h>

#include "access/password.h"
#include "api/app.h"
#include "api/routes.h"
#include "core/json.h"
#include "core/time.h"

static mm_err login(mm_req *r)
{
	static const char *const allowed[] = { "user", "password", "totp", "recovery_code", NULL };
	mm_app *app = mm_req_app(r);
	mm_buf tok = MM_BUF_INIT(128);
	mm_access_login in = { 0 };
	mm_access_session s;
	char exp[MM_TIME_RFC3339_LEN];
	int64_t retry = 0;
	json_t *body, *out;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "user", true, 256, &in.user)) != MM_OK ||
	    (rc = mm_json_str(body, "password", true, MM_PASSWORD_MAX_BYTES, &in.password)) != MM_OK ||
	    (rc = mm_json_str(body, "totp", false, 16, &in.totp)) != MM_OK ||
	    (rc = mm_json_str(body, "recovery_code", false, 64, &in.recovery_code)) != MM_OK)
		goto out;
	in.source = mm_req_source(r);
	in.request_id = mm_req_id(r);
	rc = mm_access_login_run(app->access, &in, &tok, &s, &retry);
	if (rc == MM_ERR_RATE_LIMITED && retry > 0) {
		char v[24];

		snprintf(v, sizeof(v), "%lld", (long long)((retry + 999) / 1000));
		mm_req_add_header(r, "Retry-After", v);
	}
	if (rc != MM_OK)
		goto out;
	mm_time_format(s.expires_ms, exp);
	out = json_pack("{s:s,s:s,s:b,s:b,s:s,s:I}", "token", mm_buf_str(&tok), "user", s.user,
			"restricted", s.restricted, "mfa", s.mfa, "expires", exp, "idle_timeout_s",
			(json_int_t)(s.idle_ms / 1000));
	if (out != NULL && s.restricted)
		json_object_set_new(out, "next", json_string("enrol a TOTP authenticator: "
							     "mamori user mfa enroll"));
	if (out != NULL && s.recovery_codes_left >= 0)
		json_object_set_new(out, "recovery_codes_left", json_integer(s.recovery_codes_left));
	mm_req_reply(r, 200, out);
out:
	mm_buf_wipe_release(&tok);
	return rc;
}

static mm_err password(mm_req *r)
{
	static const char *const allowed[] = { "current", "new", NULL };
	const char *cur, *nw;
	mm_access_ctx ctx;
	json_t *body;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "current", true, MM_PASSWORD_MAX_BYTES, &cur)) != MM_OK ||
	    (rc = mm_json_str(body, "new", true, MM_PASSWORD_MAX_BYTES, &nw)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_password_change(mm_req_app(r)->access, &ctx, cur, nw)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b,s:s}", "changed", 1, "note",
				       "every session and token of yours has ended: sign in again"));
	return MM_OK;
}

static mm_err mfa_enroll(mm_req *r)
{
	static const char *const allowed[] = { "code", NULL };
	const char *code = NULL;
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	size_t blen;
	mm_err rc;

	mm_req_body(r, &blen);
	if (blen > 0 && ((rc = mm_req_json(r, &body)) != MM_OK ||
			 (rc = mm_json_only(body, allowed)) != MM_OK ||
			 (rc = mm_json_str(body, "code", false, 16, &code)) != MM_OK))
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_mfa_enroll(mm_req_app(r)->access, &ctx, code, &out)) != MM_OK)
		return rc;
	json_object_set_new(out, "next", json_string("confirm with a first code: "
						     "mamori user mfa confirm CODE"));
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err mfa_confirm(mm_req *r)
{
	static const char *const allowed[] = { "code", NULL };
	const char *code;
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "code", true, 16, &code)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_mfa_confirm(mm_req_app(r)->access, &ctx, code, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

const mm_route mm_routes_auth[] = {
	{ "POST", "/v1/auth/login", NULL, MM_ROUTE_PUBLIC | MM_ROUTE_BLOCKING, login },
	{ "POST", "/v1/auth/password", "self", MM_ROUTE_ENROL | MM_ROUTE_BLOCKING, password },
	{ "POST", "/v1/auth/mfa/enroll", "self", MM_ROUTE_ENROL | MM_ROUTE_BLOCKING, mfa_enroll },
	{ "POST", "/v1/auth/mfa/confirm", "self", MM_ROUTE_ENROL | MM_ROUTE_BLOCKING, mfa_confirm },
	{ NULL, NULL, NULL, 0, NULL },
};
