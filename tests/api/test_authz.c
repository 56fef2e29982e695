/* The authorization matrix, statically: every route in mm_api_route_tables
 * × every built-in role must match tests/api/authz_matrix.txt, a route
 * without a row (or a row without a route) fails, and a session that still
 * has to enrol TOTP may call only the rows marked +enrol. The running
 * server is checked against the same file by test_authz.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/access.h"
#include "api/api.h"
#include "audit/audit.h"

#define MAXROWS 256

struct row {
	char method[8];
	char path[128];
	bool who[4];      /* admin approver operator auditor */
	bool pub, boot, enrol;
	bool seen;
};

static const char *const roles[4] = { "admin", "approver", "operator", "auditor" };
static struct row rows[MAXROWS];
static size_t nrows;
static mm_store *store;
static mm_access *acc;
static mm_config cfg;
static char dir[64];

static int setup(void **state)
{
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_access_migrations };
	mm_store_opts o = { 0 };
	char path[512], line[512];
	const char *src = getenv("MAMORI_SRC");
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/api/authz_matrix.txt", src ? src : "../..");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *m = strtok_r(line, " \t\r\n", &save), *p, *w;
		struct row *r;

		if (m == NULL || m[0] == '#')
			continue;
		assert_true(nrows < MAXROWS);
		r = &rows[nrows++];
		p = strtok_r(NULL, " \t\r\n", &save);
		assert_non_null(p);
		snprintf(r->method, sizeof(r->method), "%s", m);
		snprintf(r->path, sizeof(r->path), "%s", p);
		while ((w = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
			bool known = false;

			for (int i = 0; i < 4; i++)
				if (strcmp(w, roles[i]) == 0)
					r->who[i] = known = true;
			if (strcmp(w, "public") == 0)
				r->pub = known = true;
			if (strcmp(w, "bootstrap") == 0)
				r->boot = known = true;
			if (strcmp(w, "+enrol") == 0)
				r->enrol = known = true;
			if (!known)
				fail_msg("authz_matrix.txt: unknown word '%s' for %s %s", w, m, p);
		}
	}
	fclose(f);
	assert_true(nrows > 10);
	snprintf(dir, sizeof(dir), "/tmp/mm-authz-XXXXXX");
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	assert_int_equal(mm_store_open(&o, &store), MM_OK);
	assert_int_equal(mm_store_migrate(store, sets, 2), MM_OK);
	assert_int_equal(mm_config_init(&cfg), MM_OK);
	assert_int_equal(mm_access_open(store, &cfg, &acc), MM_OK);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	mm_access_free(acc);
	mm_store_close(store);
	mm_config_release(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static struct row *find(const mm_route *r)
{
	for (size_t i = 0; i < nrows; i++)
		if (strcmp(rows[i].method, r->method) == 0 && strcmp(rows[i].path, r->pattern) == 0)
			return &rows[i];
	return NULL;
}

static void test_matrix(void **state)
{
	size_t failures = 0;

	assert_int_equal(mm_api_check_routes(), MM_OK);
	for (size_t t = 0; mm_api_route_tables[t] != NULL; t++) {
		for (const mm_route *r = mm_api_route_tables[t]; r->method != NULL; r++) {
			struct row *w = find(r);

			if (w == NULL) {
				print_error("route %s %s has no row in authz_matrix.txt\n", r->method,
					    r->pattern);
				failures++;
				continue;
			}
			w->seen = true;
			if (w->pub != ((r->flags & MM_ROUTE_PUBLIC) != 0) ||
			    w->boot != ((r->flags & MM_ROUTE_BOOTSTRAP) != 0) ||
			    w->enrol != ((r->flags & MM_ROUTE_ENROL) != 0)) {
				print_error("%s %s: public/bootstrap/enrol flags differ from the matrix\n",
					    r->method, r->pattern);
				failures++;
			}
			for (int i = 0; i < 4; i++) {
				mm_principal p;
				bool got;

				memset(&p, 0, sizeof(p));
				p.kind = MM_PRINCIPAL_USER;
				p.mfa = true;
				snprintf(p.roles, sizeof(p.roles), "%s", roles[i]);
				got = r->perm != NULL && mm_access_permits(acc, &p, r->perm);
				if (got != w->who[i]) {
					print_error("%s %s: role %s %s but the matrix says %s\n", r->method,
						    r->pattern, roles[i], got ? "allowed" : "denied",
						    w->who[i] ? "allowed" : "denied");
					failures++;
				}
				/* A restricted session holds no permission at all. */
				p.restricted = true;
				if (r->perm != NULL && mm_access_permits(acc, &p, r->perm)) {
					print_error("restricted session permitted %s\n", r->perm);
					failures++;
				}
			}
			/* Public and bootstrap routes need no permission; all others do. */
			if ((r->perm == NULL) != (w->pub || w->boot)) {
				print_error("%s %s: permission declaration mismatch\n", r->method,
					    r->pattern);
				failures++;
			}
		}
	}
	for (size_t i = 0; i < nrows; i++) {
		if (!rows[i].seen) {
			print_error("matrix row %s %s has no route\n", rows[i].method, rows[i].path);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_permission_list(void **state)
{
	/* Every permission is held by admin; unknown names never are. */
	mm_principal p;

	memset(&p, 0, sizeof(p));
	p.kind = MM_PRINCIPAL_USER;
	snprintf(p.roles, sizeof(p.roles), "admin");
	for (size_t i = 0; mm_access_permissions[i] != NULL; i++)
		assert_true(mm_access_permits(acc, &p, mm_access_permissions[i]));
	snprintf(p.roles, sizeof(p.roles), "operator,auditor");
	assert_false(mm_access_permits(acc, &p, "user.admin"));
	assert_true(mm_access_permits(acc, &p, "access.request"));
	assert_true(mm_access_permits(acc, &p, "audit.read"));
	snprintf(p.roles, sizeof(p.roles), "nosuchrole");
	assert_false(mm_access_permits(acc, &p, "self"));
	p.kind = MM_PRINCIPAL_BOOTSTRAP;
	snprintf(p.roles, sizeof(p.roles), "admin");
	assert_false(mm_access_permits(acc, &p, "self"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_permission_list),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
