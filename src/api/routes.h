/* routes.h: the route tables of each module (defined in routes_*.c). */
#ifndef MM_API_ROUTES_H
#define MM_API_ROUTES_H

#include "api/api.h"

extern const mm_route mm_routes_sys[];
extern const mm_route mm_routes_audit[];
extern const mm_route mm_routes_keys[];
extern const mm_route mm_routes_fisc[];
extern const mm_route mm_routes_auth[];
extern const mm_route mm_routes_users[];
extern const mm_route mm_routes_access[];

#endif
