/*
 * modules.c: the modules the daemon runs; see modules.h.
 *
 * Access module wiring: the grant tick runs every ticker period (about
 * 200 ms), so a grant ends within a second of its end time, also after a
 * restart (the first tick ends whatever expired while the daemon was down).
 *
 * TOTP secrets are sealed by an injected sealer. Until the key module's
 * barrier (mm_keys_wrap/unwrap) is on this branch, the daemon uses an
 * interim AES-256-GCM sealer whose 256-bit key lives in DATA/access-seal.key
 * (created 0600, refused if readable by others). This is a stop-gap: secrets
 * are never stored in plaintext, but the key sits beside the database
 * instead of under the root key. Replace by mm_keys_wrap/unwrap when
 * src/keys lands (docs/access.md, "Sealing").
 */
#include "daemon/modules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/access.h"
#include "audit/audit.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "crypto/aesgcm.h"
#include "crypto/crypto.h"

const mm_migration_set *const mm_daemon_migrations[] = {
	&mm_audit_migrations,
	&mm_access_migrations,
};
const size_t mm_daemon_nmigrations = sizeof(mm_daemon_migrations) / sizeof(mm_daemon_migrations[0]);

static uint8_t seal_key[MM_AESGCM_KEY_LEN];
static int64_t last_tick_error_ms;

static mm_err interim_wrap(void *ctx, const char *context, const uint8_t *pt, size_t n,
			   mm_buf *out)
{
	return mm_aesgcm_seal(ctx, context, strlen(context), pt, n, out);
}

static mm_err interim_unwrap(void *ctx, const char *context, const uint8_t *in, size_t n,
			     mm_buf *out)
{
	return mm_aesgcm_open(ctx, context, strlen(context), in, n, out);
}

/* Reads DATA/access-seal.key or creates it with fresh random bytes. */
static mm_err load_seal_key(const char *dir)
{
	char path[4096];
	struct stat st;
	ssize_t got;
	int fd;
	mm_err rc = MM_OK;

	if ((size_t)snprintf(path, sizeof(path), "%s/access-seal.key", dir) >= sizeof(path))
		return mm_err_set(MM_ERR_CONFIG, "data directory path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if ((rc = mm_crypto_random(seal_key, sizeof(seal_key))) != MM_OK)
			return rc;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return mm_err_set(MM_ERR_IO, "cannot create %s: %s", path, strerror(errno));
		if (write(fd, seal_key, sizeof(seal_key)) != (ssize_t)sizeof(seal_key) ||
		    fsync(fd) != 0)
			rc = mm_err_set(MM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (fd < 0)
		return mm_err_set(MM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
		close(fd);
		return mm_err_set(MM_ERR_CONFIG, "%s must be mode 0600", path);
	}
	got = read(fd, seal_key, sizeof(seal_key));
	close(fd);
	if (got != (ssize_t)sizeof(seal_key))
		return mm_err_set(MM_ERR_IO, "%s is not a 32-byte key", path);
	return MM_OK;
}

mm_err mm_daemon_modules_open(mm_app *app)
{
	mm_access_sealer s = { interim_wrap, interim_unwrap, seal_key };
	mm_err rc;

	if ((rc = load_seal_key(app->cfg->data_dir)) != MM_OK)
		return rc;
	mm_access_set_sealer(app->access, &s);
	/* Grants that ended while the daemon was down end now, before serving. */
	return mm_access_tick(app->access);
}

void mm_daemon_modules_tick(mm_app *app)
{
	mm_err rc;

	if (app->access == NULL)
		return;
	if ((rc = mm_access_tick(app->access)) != MM_OK) {
		int64_t now = mm_time_wall_ms();

		if (now - last_tick_error_ms > 10000) {
			last_tick_error_ms = now;
			mm_logkv(MM_LOG_ERROR, "access.tick_failed", "code", mm_err_name(rc), "detail",
				 mm_err_detail(rc), NULL);
		}
	}
}

void mm_daemon_modules_banner(mm_app *app, FILE *f)
{
	if (app->access != NULL)
		mm_access_banner(app->access, f);
}

void mm_daemon_modules_close(mm_app *app)
{
	(void)app;
	mm_wipe(seal_key, sizeof(seal_key));
}
