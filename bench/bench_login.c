/*
 * bench_login.c: sign-in cost with the OWASP Argon2id parameters (m=19 MiB,
 * t=2, p=1), in process, per core:
 *   1. argon2id verification alone, one thread;
 *   2. the whole mm_access_login_run (lockout checks, one verification, the
 *      audited write job with its group commit, a new session), one thread;
 *   3. verification on every core at once (throughput of the machine).
 * Each phase runs for BENCH_SECS seconds (default 3). Prints one line per
 * phase: "name ops ops/s ms/op".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/access.h"
#include "access/password.h"
#include "audit/audit.h"
#include "core/time.h"

#define PASSWORD "Bench fixture passphrase 42"

static double secs_budget(void)
{
	const char *s = getenv("BENCH_SECS");
	double v = s ? atof(s) : 3.0;

	return v > 0 ? v : 3.0;
}

static void report(const char *name, long n, int64_t ns)
{
	double s = (double)ns / 1e9;

	printf("%-28s %6ld ops %8.1f ops/s %8.2f ms/op\n", name, n, (double)n / s,
	       s * 1000.0 / (double)n);
	fflush(stdout);
}

struct worker {
	const char *phc;
	double budget;
	long n;
	int64_t ns;
};

static void *verify_loop(void *p)
{
	struct worker *w = p;
	int64_t t0 = mm_time_mono_ns(), end = t0 + (int64_t)(w->budget * 1e9);

	do {
		if (mm_password_verify(w->phc, PASSWORD) != MM_OK)
			abort();
		w->n++;
	} while (mm_time_mono_ns() < end);
	w->ns = mm_time_mono_ns() - t0;
	return NULL;
}

int main(void)
{
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_access_migrations };
	char dir[] = "/tmp/mm-bench-login-XXXXXX", cmd[64];
	mm_buf phc = MM_BUF_INIT(MM_PHC_MAX), boot = MM_BUF_INIT(128), tok = MM_BUF_INIT(128);
	double budget = secs_budget();
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	mm_store_opts so = { 0 };
	mm_store *store = NULL;
	mm_access *acc = NULL;
	mm_config cfg;
	mm_principal bp;
	mm_access_ctx ctx = { &bp, "127.0.0.1", "bench" };
	struct worker w;
	pthread_t th[64];
	struct worker ws[64];
	int64_t t0, end;
	long n;

	if (mkdtemp(dir) == NULL)
		return 1;
	so.dir = dir;
	if (mm_password_hash(PASSWORD, &phc) != MM_OK || mm_store_open(&so, &store) != MM_OK ||
	    mm_store_migrate(store, sets, 2) != MM_OK || mm_config_init(&cfg) != MM_OK ||
	    mm_access_open(store, &cfg, &acc) != MM_OK ||
	    mm_access_bootstrap_issue(acc, &boot) != MM_OK ||
	    mm_access_authenticate(acc, mm_buf_str(&boot), "127.0.0.1", &bp) != MM_OK ||
	    mm_access_init_admin(acc, &ctx, "alice", PASSWORD, &tok) != MM_OK) {
		fprintf(stderr, "bench_login: setup failed: %s\n", mm_err_detail(MM_ERR_INTERNAL));
		return 1;
	}
	printf("# Argon2id m=%d KiB t=%d p=%d, %.0fs per phase, %ld cores\n", MM_ARGON2_M_KIB,
	       MM_ARGON2_T, MM_ARGON2_P, budget, cores);

	memset(&w, 0, sizeof(w));
	w.phc = mm_buf_str(&phc);
	w.budget = budget;
	verify_loop(&w);
	report("argon2id_verify_1_thread", w.n, w.ns);

	n = 0;
	t0 = mm_time_mono_ns();
	end = t0 + (int64_t)(budget * 1e9);
	do {
		mm_access_login in = { "alice", PASSWORD, NULL, NULL, "127.0.0.1", "bench" };
		mm_access_session s;
		int64_t retry;

		mm_buf_reset(&tok);
		if (mm_access_login_run(acc, &in, &tok, &s, &retry) != MM_OK) {
			fprintf(stderr, "bench_login: login failed: %s\n",
				mm_err_detail(MM_ERR_UNAUTHENTICATED));
			return 1;
		}
		n++;
	} while (mm_time_mono_ns() < end);
	report("login_full_1_thread", n, mm_time_mono_ns() - t0);

	if (cores < 1)
		cores = 1;
	if (cores > 64)
		cores = 64;
	memset(ws, 0, sizeof(ws));
	for (long i = 0; i < cores; i++) {
		ws[i].phc = mm_buf_str(&phc);
		ws[i].budget = budget;
		pthread_create(&th[i], NULL, verify_loop, &ws[i]);
	}
	n = 0;
	for (long i = 0; i < cores; i++) {
		pthread_join(th[i], NULL);
		n += ws[i].n;
	}
	{
		char name[48];

		snprintf(name, sizeof(name), "argon2id_verify_%ld_threads", cores);
		report(name, n, (int64_t)(budget * 1e9));
		printf("per core: %.1f verifications/s\n", (double)n / budget / (double)cores);
	}

	mm_access_free(acc);
	mm_store_close(store);
	mm_config_release(&cfg);
	mm_buf_wipe_release(&tok);
	mm_buf_wipe_release(&boot);
	mm_buf_release(&phc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
