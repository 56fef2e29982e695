/*
 * app.h: the state handlers reach through mm_req_app(): configuration,
 * store and one pointer per module. The daemon owns all of it; handlers only
 * borrow. Modules that are not built yet leave their pointer NULL.
 */
#ifndef MM_API_APP_H
#define MM_API_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "access/access.h"
#include "compliance/fisc.h"
#include "core/buf.h"
#include "api/api.h"
#include "core/config.h"
#include "store/store.h"

struct mm_app {
	mm_config *cfg;
	mm_store *store;
	mm_access *access;
	mm_fisc *fisc;     /* FISC response tables and evidence (src/compliance) */
	struct mm_audit_log *audit;   /* NULL until the daemon opened it */
	struct mm_keys *keys;   /* key manager and seal (src/keys); NULL if not opened */
	mm_api *api;
	int64_t started_ms;
	const char *version;
	bool initialized;  /* an administrator exists (atomic access) */
	/* Optional additions to /v1/sys/health and /metrics from modules. */
	void (*health_extra)(mm_app *app, json_t *health);
	mm_err (*metrics_extra)(mm_app *app, mm_buf *out);
	/* Seal state: when sealed() returns true only MM_ROUTE_SEALED routes are
	 * served. NULL means "never sealed" (no key module). */
	bool (*sealed)(mm_app *app);
};

#endif
