/*
 * routes_users.c: user administration and the account inventory (棚卸).
 * Writes run on the blocking pool (password hashing, synchronous commits).
 */
#include <string.h>

#include "access/password.h"
#include "api/app.h"
#include "api/routes.h"
#include "core/json.h"

static mm_err list(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc;

	if ((rc = mm_access_user_list(mm_req_app(r)->access, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err spec_from(json_t *body, mm_access_user_spec *s, bool create)
{
	static const char *const allowed[] = { "name", "roles", "password", "allow_cidrs", NULL };
	static const char *const allowed_upd[] = { "roles", "allow_cidrs", NULL };
	mm_err rc;

	if ((rc = mm_json_only(body, create ? allowed : allowed_upd)) != MM_OK)
		return rc;
	if (create && ((rc = mm_json_str(body, "name", true, MM_NAME_MAX, &s->name)) != MM_OK ||
		       (rc = mm_json_str(body, "password", true, MM_PASSWORD_MAX_BYTES,
					 &s->password)) != MM_OK))
		return rc;
	s->roles = json_object_get(body, "roles");
	s->allow_cidrs = json_object_get(body, "allow_cidrs");
	if (s->roles != NULL && !json_is_array(s->roles))
		return mm_err_set(MM_ERR_INVALID, "field 'roles': expected a list of role names");
	if (s->allow_cidrs != NULL && !json_is_array(s->allow_cidrs))
		return mm_err_set(MM_ERR_INVALID, "field 'allow_cidrs': expected a list");
	return MM_OK;
}

static mm_err create(mm_req *r)
{
	mm_access_user_spec s = { 0 };
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = spec_from(body, &s, true)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_user_create(mm_req_app(r)->access, &ctx, &s, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 201, out);
	return MM_OK;
}

static mm_err show(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc;

	if ((rc = mm_access_user_get(mm_req_app(r)->access, mm_req_param(r, "name"), &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err update(mm_req *r)
{
	mm_access_user_spec s = { 0 };
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = spec_from(body, &s, false)) != MM_OK)
		return rc;
	s.name = mm_req_param(r, "name");
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_user_update(mm_req_app(r)->access, &ctx, &s, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err set_disabled(mm_req *r, bool disabled)
{
	mm_access_ctx ctx;
	json_t *out = NULL;
	mm_err rc;

	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_user_set_disabled(mm_req_app(r)->access, &ctx, mm_req_param(r, "name"),
					      disabled, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err disable(mm_req *r)
{
	return set_disabled(r, true);
}

static mm_err enable(mm_req *r)
{
	return set_disabled(r, false);
}

static mm_err set_password(mm_req *r)
{
	static const char *const allowed[] = { "password", NULL };
	const char *pw;
	mm_access_ctx ctx;
	json_t *body;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "password", true, MM_PASSWORD_MAX_BYTES, &pw)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_user_set_password(mm_req_app(r)->access, &ctx, mm_req_param(r, "name"),
					      pw)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b}", "changed", 1));
	return MM_OK;
}

static mm_err mfa_reset(mm_req *r)
{
	mm_access_ctx ctx;
	mm_err rc;

	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_user_reset_mfa(mm_req_app(r)->access, &ctx,
					   mm_req_param(r, "name"))) != MM_OK)
		return rc;
	mm_req_reply(r, 200, json_pack("{s:b}", "reset", 1));
	return MM_OK;
}

static mm_err inventory(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc;

	if ((rc = mm_access_inventory(mm_req_app(r)->access, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err reviews(mm_req *r)
{
	json_t *out = NULL;
	mm_err rc;

	if ((rc = mm_access_inventory_reviews(mm_req_app(r)->access, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 200, out);
	return MM_OK;
}

static mm_err review(mm_req *r)
{
	static const char *const allowed[] = { "note", NULL };
	const char *note;
	mm_access_ctx ctx;
	json_t *body, *out = NULL;
	mm_err rc;

	if ((rc = mm_req_json(r, &body)) != MM_OK || (rc = mm_json_only(body, allowed)) != MM_OK ||
	    (rc = mm_json_str(body, "note", true, 4096, &note)) != MM_OK)
		return rc;
	mm_req_ctx(r, &ctx);
	if ((rc = mm_access_inventory_review(mm_req_app(r)->access, &ctx, note, &out)) != MM_OK)
		return rc;
	mm_req_reply(r, 201, out);
	return MM_OK;
}

const mm_route mm_routes_users[] = {
	{ "GET", "/v1/users", "user.read", 0, list },
	{ "POST", "/v1/users", "user.admin", MM_ROUTE_BLOCKING, create },
	{ "GET", "/v1/users/{name}", "user.read", 0, show },
	{ "PATCH", "/v1/users/{name}", "user.admin", MM_ROUTE_BLOCKING, update },
	{ "POST", "/v1/users/{name}/disable", "user.admin", MM_ROUTE_BLOCKING, disable },
	{ "POST", "/v1/users/{name}/enable", "user.admin", MM_ROUTE_BLOCKING, enable },
	{ "POST", "/v1/users/{name}/password", "user.admin", MM_ROUTE_BLOCKING, set_password },
	{ "POST", "/v1/users/{name}/mfa/reset", "user.admin", MM_ROUTE_BLOCKING, mfa_reset },
	{ "GET", "/v1/inventory", "user.read", 0, inventory },
	{ "GET", "/v1/inventory/reviews", "user.read", 0, reviews },
	{ "POST", "/v1/inventory/reviews", "user.review", MM_ROUTE_BLOCKING, review },
	{ NULL, NULL, NULL, 0, NULL },
};
