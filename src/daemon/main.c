/*
 * main.c: mamorid, the daemon.
 *
 * Start-up order: configuration (file, then command-line overrides, then
 * validation) → log → store (migrations; refuses a newer database) →
 * modules → HTTP server → first-run bootstrap token (printed once on stdout,
 * never logged) → serve. SIGTERM/SIGINT stop accepting, let in-flight
 * requests finish, then close the store. A ticker thread drives the modules'
 * periodic work (checkpoints, grant expiry, key rotation).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access/access.h"
#include "api/api.h"
#include "api/app.h"
#include "audit/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/time.h"
#include "daemon/modules.h"
#include "keys/keys.h"
#include "store/store.h"

#define MAMORI_VERSION "0.1.0"

static volatile sig_atomic_t shutting_down;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mamorid [--config FILE] [--data DIR] [--listen HOST:PORT] [--log-level LEVEL]\n"
		"\n"
		"  --config FILE      configuration file (see README, 'Configuration')\n"
		"  --data DIR         data directory (overrides data_dir; default ./var)\n"
		"  --listen HOST:PORT address to serve on (overrides listen; default 127.0.0.1:8470)\n"
		"  --log-level LEVEL  debug, info, warn or error\n"
		"  --version          print the version\n"
		"  --routes           print the route table as JSON (method, path, permission, flags)\n");
}

/* The route table as JSON, for documentation and the authorization tests. */
static int dump_routes(void)
{
	json_t *arr = json_array();
	char *s;

	for (size_t t = 0; mm_api_route_tables[t] != NULL; t++)
		for (const mm_route *r = mm_api_route_tables[t]; r->method != NULL; r++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s?,s:b,s:b,s:b,s:b}",
				"method", r->method, "path", r->pattern, "permission", r->perm,
				"public", (r->flags & MM_ROUTE_PUBLIC) != 0,
				"bootstrap", (r->flags & MM_ROUTE_BOOTSTRAP) != 0,
				"enrol", (r->flags & MM_ROUTE_ENROL) != 0,
				"blocking", (r->flags & MM_ROUTE_BLOCKING) != 0));
	s = json_dumps(arr, JSON_INDENT(2));
	json_decref(arr);
	if (s == NULL)
		return 1;
	puts(s);
	free(s);
	return 0;
}

struct sigctx {
	mm_api *api;
	sigset_t set;
};

static void *signal_main(void *p)
{
	struct sigctx *s = p;
	int sig;

	for (;;) {
		if (sigwait(&s->set, &sig) != 0)
			continue;
		if (shutting_down)
			break;
		if (sig == SIGINT || sig == SIGTERM) {
			char n[8];

			snprintf(n, sizeof(n), "%d", sig);
			mm_logkv(MM_LOG_INFO, "daemon.stopping", "signal", n, NULL);
			mm_api_stop(s->api);
		}
	}
	return NULL;
}

struct ticker {
	mm_app *app;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static void *ticker_main(void *p)
{
	struct ticker *t = p;
	struct timespec ts;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		mm_time_deadline(200, &ts);
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mu);
		mm_daemon_modules_tick(t->app);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "routes", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_file = NULL, *data = NULL, *listen = NULL, *level = NULL;
	mm_config cfg;
	mm_app app;
	mm_store *store = NULL;
	mm_api *api = NULL;
	mm_store_opts so;
	mm_keys_hardening hardening = { 0 };
	mm_err hrc;
	mm_log_level lvl;
	struct sigctx sc;
	struct ticker tk = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t sig_th, tick_th;
	bool sig_started = false, tick_started = false, inited = false;
	int c, status = 1;
	mm_err rc;

	while ((c = getopt_long(argc, argv, "c:d:l:L:VRh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_file = optarg; break;
		case 'd': data = optarg; break;
		case 'l': listen = optarg; break;
		case 'L': level = optarg; break;
		case 'V': printf("mamorid %s\n", MAMORI_VERSION); return 0;
		case 'R': return dump_routes();
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Before any thread exists (the secure heap must be set up first): no
	 * core dumps, not ptrace-able by peers, key material in a locked heap.
	 * What did not take effect is logged once the log is open. */
	hrc = mm_keys_harden_process(1 << 20, &hardening);
	memset(&app, 0, sizeof(app));
	if (mm_config_init(&cfg) != MM_OK) {
		fprintf(stderr, "mamorid: out of memory\n");
		return 1;
	}
	if (config_file != NULL && (rc = mm_config_load_file(&cfg, config_file)) != MM_OK)
		goto config_fail;
	if ((data != NULL && (rc = mm_config_set(&cfg, "data_dir", data)) != MM_OK) ||
	    (listen != NULL && (rc = mm_config_set(&cfg, "listen", listen)) != MM_OK) ||
	    (level != NULL && (rc = mm_config_set(&cfg, "log.level", level)) != MM_OK))
		goto config_fail;
	if ((rc = mm_config_validate(&cfg)) != MM_OK ||
	    (rc = mm_log_level_parse(cfg.log_level, &lvl)) != MM_OK)
		goto config_fail;
	if ((rc = mm_log_open(cfg.log_file, lvl)) != MM_OK)
		goto config_fail;
	if (hrc != MM_OK)
		mm_logkv(MM_LOG_WARN, "daemon.harden_incomplete", "detail", mm_err_detail(hrc), NULL);
	if (!hardening.memory_locked)
		mm_logkv(MM_LOG_WARN, "daemon.memory_not_locked",
			 "detail", "secure heap could not be mlock'ed (RLIMIT_MEMLOCK)", NULL);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGINT);
	sigaddset(&sc.set, SIGTERM);
	sigaddset(&sc.set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);

	so = (mm_store_opts){ .dir = cfg.data_dir,
			      .sync_full = strcmp(cfg.sqlite_synchronous, "full") == 0 };
	if ((rc = mm_store_open(&so, &store)) != MM_OK)
		goto fail;
	if ((rc = mm_store_migrate(store, mm_daemon_migrations, mm_daemon_nmigrations)) != MM_OK)
		goto fail;
	app.cfg = &cfg;
	app.store = store;
	app.version = MAMORI_VERSION;
	app.started_ms = mm_time_wall_ms();
	if ((rc = mm_access_open(store, &cfg, &app.access)) != MM_OK)
		goto fail;
	if ((rc = mm_daemon_modules_open(&app)) != MM_OK)
		goto fail;
	if ((rc = mm_access_initialized(app.access, &inited)) != MM_OK)
		goto fail;
	app.initialized = inited;
	if ((rc = mm_api_new(&app, &api)) != MM_OK)
		goto fail;
	app.api = api;
	sc.api = api;
	if (pthread_create(&sig_th, NULL, signal_main, &sc) == 0) {
		sig_started = true;
		(void)pthread_setname_np(sig_th, "mm-signals");
	}
	tk.app = &app;
	if (pthread_create(&tick_th, NULL, ticker_main, &tk) == 0) {
		tick_started = true;
		(void)pthread_setname_np(tick_th, "mm-ticker");
	}

	{
		char port[8];
		const char *scheme = mm_api_tls(api) ? "https" : "http";
		char host[256];
		const char *colon = strrchr(cfg.listen, ':');
		size_t hl = colon ? (size_t)(colon - cfg.listen) : 0;

		snprintf(host, sizeof(host), "%.*s", (int)hl, cfg.listen);
		snprintf(port, sizeof(port), "%d", mm_api_port(api));
		mm_logkv(MM_LOG_INFO, "daemon.started", "version", MAMORI_VERSION, "listen", cfg.listen,
			 "port", port, "data_dir", cfg.data_dir, "tls", mm_api_tls(api) ? "on" : "off",
			 NULL);
		printf("mamori %s listening on %s://%s:%d (data in %s)\n", MAMORI_VERSION, scheme,
		       host, mm_api_port(api), cfg.data_dir);
		if (!inited) {
			mm_buf tok = MM_BUF_INIT(128);

			if ((rc = mm_access_bootstrap_issue(app.access, &tok)) != MM_OK)
				goto fail;
			printf("\nFirst run: create the first administrator with\n"
			       "  mamori --addr %s://%s:%d init --admin <name> --bootstrap-token %s\n"
			       "The bootstrap token works once and expires in %lld hours.\n",
			       scheme, host, mm_api_port(api), mm_buf_str(&tok),
			       (long long)(cfg.bootstrap_ttl_ms / 3600000));
			mm_buf_wipe_release(&tok);
		}
		mm_daemon_modules_banner(&app, stdout);
		fflush(stdout);
	}

	if ((rc = mm_api_run(api)) != MM_OK)
		goto fail;
	status = 0;
	mm_logkv(MM_LOG_INFO, "daemon.stopped", NULL);
	goto out;

config_fail:
	fprintf(stderr, "mamorid: %s\n", mm_err_detail(rc));
	mm_config_release(&cfg);
	return 2;
fail:
	fprintf(stderr, "mamorid: %s\n", mm_err_detail(rc));
	mm_logkv(MM_LOG_ERROR, "daemon.failed", "code", mm_err_name(rc), "detail",
		 mm_err_detail(rc), NULL);
out:
	shutting_down = 1;
	if (sig_started) {
		pthread_kill(sig_th, SIGUSR1);
		pthread_join(sig_th, NULL);
	}
	if (tick_started) {
		pthread_mutex_lock(&tk.mu);
		tk.stop = true;
		pthread_cond_signal(&tk.cv);
		pthread_mutex_unlock(&tk.mu);
		pthread_join(tick_th, NULL);
	}
	mm_api_free(api);
	mm_daemon_modules_close(&app);
	mm_access_free(app.access);
	mm_store_close(store);
	mm_config_release(&cfg);
	mm_log_close();
	return status;
}
