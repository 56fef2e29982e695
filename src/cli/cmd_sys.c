/*
 * cmd_sys.c: status, init, whoami, token, logout, metrics.
 * Pattern for commands: getopt_long with optind = 0 (GNU: full reset),
 * build a JSON body, mm_cli_call(), print with --json or as text.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int status_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/sys/health", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_t *v;
		const char *k;

		printf("mamori at %s\n", c->addr);
		json_object_foreach(r, k, v) {
			char *s = json_dumps(v, JSON_ENCODE_ANY);
			printf("  %-14s %s\n", k, s ? s : "?");
			free(s);
		}
	}
	json_decref(r);
	return 0;
}

static int init_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "bootstrap-token", required_argument, NULL, 'b' },
		{ "no-save", no_argument, NULL, 'n' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = NULL, *boot = getenv("MAMORI_BOOTSTRAP_TOKEN");
	bool save = true, pw_stdin = false;
	json_t *body, *r = NULL;
	char saved[sizeof(c->token)], pw[600], again[600];
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a': admin = optarg; break;
		case 'b': boot = optarg; break;
		case 'n': save = false; break;
		case 'p': pw_stdin = true; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if (admin == NULL)
		return mm_cli_usage(c, "--admin NAME is required");
	if (boot == NULL || boot[0] == '\0')
		return mm_cli_usage(c, "--bootstrap-token (printed by mamorid at first start) is required");
	if ((rc = mm_cli_read_secret(c, "new administrator password", pw_stdin, pw, sizeof(pw))) != 0)
		return rc;
	if (!pw_stdin) {
		if ((rc = mm_cli_read_secret(c, "repeat the password", false, again, sizeof(again))) != 0)
			goto wipe;
		if (strcmp(pw, again) != 0) {
			rc = mm_cli_fail(c, MM_EXIT_USAGE, "the passwords differ");
			goto wipe;
		}
	}
	memcpy(saved, c->token, sizeof(saved));
	snprintf(c->token, sizeof(c->token), "%s", boot);
	body = json_pack("{s:s,s:s}", "admin", admin, "password", pw);
	rc = mm_cli_call(c, "POST", "/v1/sys/init", body, &r);
	json_decref(body);
	memcpy(c->token, saved, sizeof(saved));
	memset(pw, 0, sizeof(pw));
	memset(again, 0, sizeof(again));
	if (rc != 0)
		return rc;
	if (save)
		rc = mm_cli_session_save(c, c->addr, json_string_value(json_object_get(r, "token")),
					 admin);
	if (c->json)
		mm_cli_print_json(r);
	else
		printf("Administrator '%s' created.%s\n"
		       "Administrators must use TOTP: run 'mamori user mfa enroll' next.\n", admin,
		       save ? " The session is saved in your session file." : "");
	json_decref(r);
	return rc;
wipe:
	memset(pw, 0, sizeof(pw));
	memset(again, 0, sizeof(again));
	return rc;
}

static int whoami_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/auth/whoami", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_t *roles = json_object_get(r, "roles"), *v;
		size_t i;

		printf("user:  %s\nroles:", json_string_value(json_object_get(r, "user")));
		json_array_foreach(roles, i, v)
			printf(" %s", json_string_value(v));
		printf("\n%s: %s (expires %s)\nmfa:   %s%s\n", mm_cli_str(r, "kind"),
		       json_string_value(json_object_get(r, "token_id")),
		       json_string_value(json_object_get(r, "token_expires")),
		       json_is_true(json_object_get(r, "mfa")) ? "yes" : "no",
		       json_is_true(json_object_get(r, "restricted"))
		       ? " (restricted: enrol TOTP with 'mamori user mfa enroll')" : "");
	}
	json_decref(r);
	return 0;
}

static int token_create_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ttl = NULL;
	json_t *body, *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 't')
			return mm_cli_usage(c, "bad option");
		ttl = optarg;
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	body = ttl ? json_pack("{s:s}", "ttl", ttl) : json_object();
	rc = mm_cli_call(c, "POST", "/v1/auth/tokens", body, &r);
	json_decref(body);
	if (rc != 0)
		return rc;
	mm_cli_print_field(c, r, "token");
	json_decref(r);
	return 0;
}

static int logout_cmd(mm_cli *c, int argc, char **argv)
{
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "DELETE", "/v1/auth/token", NULL, NULL)) != 0)
		return rc;
	rc = mm_cli_session_remove(c);
	if (!c->json)
		printf("Logged out.\n");
	else
		printf("{\"revoked\": true}\n");
	return rc;
}

static int metrics_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf out = MM_BUF_INIT(64 << 20);
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	rc = mm_cli_call_raw(c, "GET", "/metrics", NULL, NULL, 0, &out);
	if (rc == 0)
		fwrite(out.data ? out.data : "", 1, out.len, stdout);
	mm_buf_release(&out);
	return rc;
}

const mm_cli_cmd mm_cli_cmds_sys[] = {
	{ "status", "", "show whether mamori is up, initialised and sealed", status_cmd },
	{ "init", "--admin NAME --bootstrap-token TOKEN [--password-stdin] [--no-save]",
	  "create the first administrator with the one-time bootstrap token", init_cmd },
	{ "whoami", "", "show the user and roles of the current token", whoami_cmd },
	{ "token create", "[--ttl 8h]", "create another API token for yourself", token_create_cmd },
	{ "logout", "", "revoke the current token and forget the session", logout_cmd },
	{ "metrics", "", "print the Prometheus metrics", metrics_cmd },
	{ NULL, NULL, NULL, NULL },
};
