/* routes.c: every route table, in match order. A module adds its table here. */
#include "api/routes.h"

const mm_route *const mm_api_route_tables[] = {
	mm_routes_sys,
	mm_routes_audit,
	mm_routes_keys,
	mm_routes_fisc,
	mm_routes_auth,
	mm_routes_users,
	mm_routes_access,
	NULL,
};
