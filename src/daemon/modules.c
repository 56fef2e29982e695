/* modules.c: the modules the daemon runs; see modules.h. */
#include "daemon/modules.h"

#include "access/access.h"
#include "audit/audit.h"
#include "compliance/fisc.h"

const mm_migration_set *const mm_daemon_migrations[] = {
	&mm_audit_migrations,
	&mm_access_migrations,
	&mm_compliance_migrations,
};
const size_t mm_daemon_nmigrations = sizeof(mm_daemon_migrations) / sizeof(mm_daemon_migrations[0]);

mm_err mm_daemon_modules_open(mm_app *app)
{
	mm_fisc_opts fo = {
		.store = app->store,
		.cfg = app->cfg,
		.edition_dir = app->cfg->fisc_edition_dir,
		.bindings_file = app->cfg->fisc_bindings_file,
	};

	return mm_fisc_open(&fo, &app->fisc);
}

void mm_daemon_modules_tick(mm_app *app)
{
	(void)app;
}

void mm_daemon_modules_banner(mm_app *app, FILE *f)
{
	(void)app;
	(void)f;
}

void mm_daemon_modules_close(mm_app *app)
{
	mm_fisc_close(app->fisc);
	app->fisc = NULL;
}
