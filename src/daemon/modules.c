/* modules.c: the modules the daemon runs; see modules.h. */
#include "daemon/modules.h"

#include <inttypes.h>

#include "access/access.h"
#include "audit/audit.h"
#include "compliance/fisc.h"
#include "core/log.h"
#include "core/time.h"

const mm_migration_set *const mm_daemon_migrations[] = {
	&mm_audit_migrations,
	&mm_access_migrations,
	&mm_compliance_migrations,
};
const size_t mm_daemon_nmigrations = sizeof(mm_daemon_migrations) / sizeof(mm_daemon_migrations[0]);

/* The audit log. Its checkpoint signer is installed by the key-management
 * module once the signing key is unsealed (mm_audit_set_signer); until then
 * events are appended and hashed, and checkpoints wait. */
static mm_err audit_open(mm_app *app)
{
	const mm_config *cfg = app->cfg;
	mm_audit_opts o = {
		.origin = cfg->audit_origin,
		.checkpoint_interval_ms = cfg->audit_checkpoint_interval_ms,
		.witness_file = cfg->audit_witness_file,
		.witness_url = cfg->audit_witness_url,
		.witness_syslog = cfg->audit_witness_syslog,
	};

	return mm_audit_open(app->store, &o, &app->audit);
}

/* FISC catalog, response tables and evidence; opened after the audit log so
 * that a check the audit module registers takes precedence. */
static mm_err fisc_open(mm_app *app)
{
	mm_fisc_opts fo = {
		.store = app->store,
		.cfg = app->cfg,
		.edition_dir = app->cfg->fisc_edition_dir,
		.bindings_file = app->cfg->fisc_bindings_file,
	};

	return mm_fisc_open(&fo, &app->fisc);
}

mm_err mm_daemon_modules_open(mm_app *app)
{
	mm_err rc;

	if ((rc = audit_open(app)) != MM_OK)
		return rc;
	return fisc_open(app);
}

void mm_daemon_modules_tick(mm_app *app)
{
	mm_err rc;

	if (app->audit != NULL && (rc = mm_audit_tick(app->audit, mm_time_wall_ms())) != MM_OK)
		mm_logkv(MM_LOG_WARN, "audit.checkpoint_failed", "error", mm_err_detail(rc), NULL);
}

void mm_daemon_modules_banner(mm_app *app, FILE *f)
{
	int64_t size = 0;

	if (app->audit == NULL)
		return;
	mm_audit_head(app->audit, &size, NULL);
	fprintf(f, "audit log: %" PRId64 " events; checkpoints are signed once the audit key "
		"is available\n", size);
}

void mm_daemon_modules_close(mm_app *app)
{
	mm_fisc_close(app->fisc);
	app->fisc = NULL;
	mm_audit_close(app->audit);
	app->audit = NULL;
}
