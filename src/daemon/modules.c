/*
 * modules.c: the modules the daemon runs; see modules.h.
 *
 * Wiring between modules lives here, not in the modules: the audit log's
 * checkpoint signer is the key manager's internal Ed25519 key, available
 * only while unsealed. The tick installs it once the key manager is
 * unsealed (by shares over the API, or by the key file at start) and
 * removes it once sealed, so checkpoints are signed only with the real key.
 *
 * The access module seals TOTP secrets through the key manager's barrier
 * (mm_keys_wrap/unwrap, injected as its sealer), and runs its grant tick
 * every ticker period (about 200 ms), so a grant ends within a second of its
 * end time, also after a restart (the first tick runs before serving).
 */
#include "daemon/modules.h"

#include <inttypes.h>
#include <string.h>

#include "access/access.h"
#include "audit/audit.h"
#include "compliance/fisc.h"
#include "core/log.h"
#include "core/time.h"
#include "keys/keys.h"
#include "keys/named.h"

const mm_migration_set *const mm_daemon_migrations[] = {
	&mm_audit_migrations,
	&mm_access_migrations,
	&mm_keys_migrations,
	&mm_compliance_migrations,
};
const size_t mm_daemon_nmigrations = sizeof(mm_daemon_migrations) / sizeof(mm_daemon_migrations[0]);

static bool signer_installed;
static int64_t last_access_tick_error;

/* The access module's sealer over the key manager (ctx: the mm_app). */
static mm_err access_wrap(void *ctx, const char *context, const uint8_t *pt, size_t n,
			  mm_buf *out)
{
	mm_app *app = ctx;

	if (app->keys == NULL)
		return mm_err_set(MM_ERR_SEALED, "the key manager is not open");
	return mm_keys_wrap(app->keys, context, pt, n, out);
}

static mm_err access_unwrap(void *ctx, const char *context, const uint8_t *in, size_t n,
			    mm_buf *out)
{
	mm_app *app = ctx;

	if (app->keys == NULL)
		return mm_err_set(MM_ERR_SEALED, "the key manager is not open");
	return mm_keys_unwrap(app->keys, context, in, n, out);
}

/* TOTP is enforced while secrets can be protected: unsealed. (While sealed
 * only the seal routes are served, so nothing is lost by not restricting.) */
static bool access_sealer_available(void *ctx)
{
	mm_app *app = ctx;

	return app->keys != NULL && mm_keys_is_unsealed(app->keys);
}

/* Sealed means "the root key is initialised but not in memory": before the
 * seal is initialised (first run) every route is served so the first
 * administrator can be created and can initialise the seal. */
static bool keys_sealed(mm_app *app)
{
	return app->keys != NULL && mm_keys_is_sealed(app->keys);
}

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

/* Installs or removes the audit signer to match the seal state. */
static void sync_audit_signer(mm_app *app)
{
	mm_keys_signer ks;
	bool unsealed = app->keys != NULL && mm_keys_is_unsealed(app->keys);
	mm_err rc;

	if (app->audit == NULL || unsealed == signer_installed)
		return;
	if (unsealed) {
		mm_audit_signer as = { .key_name = NULL };

		if ((rc = mm_keys_audit_signer(app->keys, &ks)) != MM_OK) {
			mm_logkv(MM_LOG_WARN, "audit.signer_unavailable", "detail", mm_err_detail(rc), NULL);
			return;
		}
		as.sign = ks.sign;  /* same signature; ks.ctx is the key manager */
		as.ctx = ks.ctx;
		memcpy(as.public_key, ks.public_key, sizeof(as.public_key));
		if ((rc = mm_audit_set_signer(app->audit, &as)) != MM_OK) {
			mm_logkv(MM_LOG_ERROR, "audit.signer_install_failed", "detail",
				 mm_err_detail(rc), NULL);
			return;
		}
		signer_installed = true;
	} else {
		if ((rc = mm_audit_set_signer(app->audit, NULL)) != MM_OK)
			mm_logkv(MM_LOG_ERROR, "audit.signer_remove_failed", "detail",
				 mm_err_detail(rc), NULL);
		signer_installed = false;
	}
}

static mm_err keys_open(mm_app *app)
{
	mm_keys_opts ko = { app->store, app->cfg->unseal_key_file };
	mm_err rc;

	/* The process was hardened in main, before any thread started. */
	if ((rc = mm_keys_open(&ko, &app->keys)) != MM_OK)
		return rc;
	app->sealed = keys_sealed;
	if (app->cfg->unseal_key_file != NULL) {
		mm_keys_status s;

		mm_keys_status_get(app->keys, &s);
		if (s.initialized && (rc = mm_keys_unseal_from_file(app->keys, NULL)) != MM_OK)
			mm_logkv(MM_LOG_ERROR, "keys.auto_unseal_failed", "code", mm_err_name(rc),
				 "detail", mm_err_detail(rc), NULL);
	}
	return MM_OK;
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
	if ((rc = keys_open(app)) != MM_OK)
		return rc;
	sync_audit_signer(app);
	if (app->access != NULL) {
		mm_access_sealer s = { access_wrap, access_unwrap, access_sealer_available, app };

		mm_access_set_sealer(app->access, &s);
		/* Grants that ended while the daemon was down end now. */
		if ((rc = mm_access_tick(app->access)) != MM_OK)
			return rc;
	}
	/* The access module's evidence checks go in before the compliance
	 * module registers its own, so each name has one owner. */
	if (app->access != NULL && (rc = mm_access_register_checks(app->access)) != MM_OK)
		return rc;
	return fisc_open(app);
}

void mm_daemon_modules_tick(mm_app *app)
{
	static int64_t last_rotate_check;
	int64_t now = mm_time_wall_ms();
	mm_err rc;

	sync_audit_signer(app);
	if (app->access != NULL && (rc = mm_access_tick(app->access)) != MM_OK &&
	    now - last_access_tick_error > 10000) {
		last_access_tick_error = now;
		mm_logkv(MM_LOG_ERROR, "access.tick_failed", "code", mm_err_name(rc), "detail",
			 mm_err_detail(rc), NULL);
	}
	if (app->audit != NULL && signer_installed &&
	    (rc = mm_audit_tick(app->audit, now)) != MM_OK && rc != MM_ERR_SEALED)
		mm_logkv(MM_LOG_WARN, "audit.checkpoint_failed", "error", mm_err_detail(rc), NULL);
	/* Auto-rotation needs minute precision at most. */
	if (app->keys != NULL && now - last_rotate_check >= 60000) {
		size_t n = 0;

		last_rotate_check = now;
		rc = mm_keys_tick(app->keys, now, &n);
		if (rc != MM_OK && rc != MM_ERR_SEALED)
			mm_logkv(MM_LOG_ERROR, "keys.auto_rotate_failed", "code", mm_err_name(rc), NULL);
	}
}

void mm_daemon_modules_banner(mm_app *app, FILE *f)
{
	mm_keys_status s;
	int64_t size = 0;

	if (app->audit != NULL) {
		mm_audit_head(app->audit, &size, NULL);
		fprintf(f, "Audit log: %" PRId64 " events; checkpoints are signed while unsealed.\n",
			size);
	}
	if (app->access != NULL)
		mm_access_banner(app->access, f);
	if (app->keys == NULL)
		return;
	mm_keys_status_get(app->keys, &s);
	if (!s.initialized)
		fprintf(f, "Keys: the seal is not initialised; after init run\n"
			   "  mamori seal init --shares 5 --threshold 3\n");
	else if (s.sealed)
		fprintf(f, "Keys: sealed (%u of %u unseal shares needed): run `mamori unseal`\n",
			s.threshold, s.shares);
	else
		fprintf(f, "Keys: unsealed (%s)\n", s.unseal_method ? s.unseal_method : "?");
}

void mm_daemon_modules_close(mm_app *app)
{
	mm_fisc_close(app->fisc);
	app->fisc = NULL;
	mm_keys_close(app->keys);
	app->keys = NULL;
	mm_audit_close(app->audit);
	app->audit = NULL;
	signer_installed = false;
}
