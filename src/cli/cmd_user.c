/*
 * cmd_user.c: sign-in and user commands: login, user add/list/show/set/
 * disable/enable/passwd, TOTP enrolment (the QR code is drawn in the
 * terminal), and the account inventory (棚卸).
 *
 * Passwords and codes are read from the terminal with echo off, or from
 * stdin with --password-stdin (one line per password), never from argv
 * (visible to other users in ps).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define PW_MAX 600

static void wipe(char *p, size_t n)
{
	volatile char *v = p;

	while (n--)
		*v++ = 0;
}

static int no_args(mm_cli *c, int argc, char **argv)
{
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* ---- login ---- */

static int login_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "code", required_argument, NULL, 'c' },
		{ "recovery-code", required_argument, NULL, 'r' },
		{ "no-save", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *code = NULL, *rec = NULL;
	bool pw_stdin = false, save = true;
	char pw[PW_MAX], asked[32] = "";
	json_t *body, *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': user = optarg; break;
		case 'p': pw_stdin = true; break;
		case 'c': code = optarg; break;
		case 'r': rec = optarg; break;
		case 'n': save = false; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if ((rc = no_args(c, argc, argv)) != 0)
		return rc;
	if (user == NULL)
		return mm_cli_usage(c, "--user NAME is required");
	if ((rc = mm_cli_read_secret(c, "password", pw_stdin, pw, sizeof(pw))) != 0)
		return rc;
	if (code == NULL && rec == NULL && !pw_stdin && isatty(0)) {
		if ((rc = mm_cli_read_secret(c, "TOTP code (empty if you have none yet)", false, asked,
					     sizeof(asked))) != 0)
			goto out;
		if (asked[0] != '\0')
			code = asked;
	}
	body = json_pack("{s:s,s:s}", "user", user, "password", pw);
	if (code != NULL)
		json_object_set_new(body, "totp", json_string(code));
	if (rec != NULL)
		json_object_set_new(body, "recovery_code", json_string(rec));
	c->token[0] = '\0'; /* signing in needs no earlier token */
	rc = mm_cli_call(c, "POST", "/v1/auth/login", body, &r);
	{
		/* Wipe the serialised password held by jansson too. */
		json_t *p = json_object_get(body, "password");
		size_t n = json_string_length(p);

		if (n > 0)
			wipe((char *)json_string_value(p), n);
	}
	json_decref(body);
	if (rc != 0)
		goto out;
	if (save)
		rc = mm_cli_session_save(c, c->addr, json_string_value(json_object_get(r, "token")),
					 user);
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		printf("Signed in as %s (session until %s, idle timeout %llds).\n", user,
		       mm_cli_str(r, "expires"),
		       (long long)json_integer_value(json_object_get(r, "idle_timeout_s")));
		if (json_is_true(json_object_get(r, "restricted")))
			printf("Your roles require TOTP: run 'mamori user mfa enroll' now.\n");
		if (json_object_get(r, "recovery_codes_left") != NULL)
			printf("A recovery code was used; %lld left.\n",
			       (long long)json_integer_value(json_object_get(r, "recovery_codes_left")));
	}
	json_decref(r);
out:
	wipe(pw, sizeof(pw));
	wipe(asked, sizeof(asked));
	return rc;
}

/* ---- users ---- */

static void print_user(const json_t *u)
{
	json_t *v;
	size_t i;

	printf("user:         %s%s%s\n", mm_cli_str(u, "name"),
	       json_is_true(json_object_get(u, "disabled")) ? " (disabled)" : "",
	       json_is_true(json_object_get(u, "breakglass")) ? " (break-glass account)" : "");
	printf("roles:       ");
	json_array_foreach(json_object_get(u, "roles"), i, v)
		printf(" %s", json_string_value(v));
	printf("\nmfa:          %s%s\n", mm_cli_str(u, "mfa"),
	       json_is_true(json_object_get(u, "mfa_required")) ? " (required)" : "");
	printf("last login:   %s from %s\n", mm_cli_str(u, "last_login"),
	       mm_cli_str(u, "last_login_source"));
	printf("allow from:  ");
	if (json_array_size(json_object_get(u, "allow_cidrs")) == 0)
		printf(" anywhere");
	json_array_foreach(json_object_get(u, "allow_cidrs"), i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
	if (json_object_get(u, "locked_until") != NULL)
		printf("locked until: %s\n", mm_cli_str(u, "locked_until"));
	if (json_array_size(json_object_get(u, "active_grants")) > 0) {
		printf("active grants:\n");
		json_array_foreach(json_object_get(u, "active_grants"), i, v)
			printf("  #%lld %s on %s until %s\n",
			       (long long)json_integer_value(json_object_get(v, "id")),
			       mm_cli_str(v, "role"), mm_cli_str(v, "target"), mm_cli_str(v, "end"));
	}
}

static int read_new_password(mm_cli *c, bool pw_stdin, char *pw, size_t cap)
{
	char again[PW_MAX];
	int rc;

	if ((rc = mm_cli_read_secret(c, "new password", pw_stdin, pw, cap)) != 0)
		return rc;
	if (pw_stdin)
		return 0;
	if ((rc = mm_cli_read_secret(c, "repeat the new password", false, again, sizeof(again))) != 0)
		return rc;
	if (strcmp(pw, again) != 0)
		rc = mm_cli_fail(c, MM_EXIT_USAGE, "the passwords differ");
	wipe(again, sizeof(again));
	return rc;
}

/* Parses the options of user add and user set: --role and --allow-cidr
 * (appended to roles and cidrs), one flag option (*flag), then one NAME. */
static int user_opts(mm_cli *c, int argc, char **argv, const struct option *opts, json_t *roles,
		     json_t *cidrs, bool *flag)
{
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r': json_array_append_new(roles, json_string(optarg)); break;
		case 'a': json_array_append_new(cidrs, json_string(optarg)); break;
		case 'p':
		case 'x': *flag = true; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give one user NAME");
	return 0;
}

static int user_add_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "allow-cidr", required_argument, NULL, 'a' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *roles = json_array(), *cidrs = json_array(), *body = NULL, *r = NULL;
	bool pw_stdin = false;
	char pw[PW_MAX] = "";
	int rc;

	if ((rc = user_opts(c, argc, argv, opts, roles, cidrs, &pw_stdin)) != 0)
		goto out;
	if (json_array_size(roles) == 0) {
		rc = mm_cli_usage(c, "at least one --role is required");
		goto out;
	}
	if ((rc = read_new_password(c, pw_stdin, pw, sizeof(pw))) != 0)
		goto out;
	body = json_pack("{s:s,s:O,s:O,s:s}", "name", argv[optind], "roles", roles, "allow_cidrs",
			 cidrs, "password", pw);
	rc = mm_cli_call(c, "POST", "/v1/users", body, &r);
	if (rc != 0)
		goto out;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		print_user(r);
		if (json_is_true(json_object_get(r, "mfa_required")))
			printf("The user must enrol TOTP at the first sign-in.\n");
	}
out:
	if (body != NULL) {
		json_t *p = json_object_get(body, "password");

		if (json_string_length(p) > 0)
			wipe((char *)json_string_value(p), json_string_length(p));
	}
	wipe(pw, sizeof(pw));
	json_decref(body);
	json_decref(r);
	json_decref(roles);
	json_decref(cidrs);
	return rc;
}

static int user_list_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL, *u;
	size_t i;
	int rc;

	optind = 1;
	if ((rc = no_args(c, argc, argv)) != 0)
		return rc;
	if ((rc = mm_cli_call(c, "GET", "/v1/users", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		printf("%-20s %-28s %-8s %-9s %s\n", "USER", "ROLES", "MFA", "STATE", "LAST LOGIN");
		json_array_foreach(json_object_get(r, "users"), i, u) {
			char roles[256] = "";
			json_t *v;
			size_t k;

			json_array_foreach(json_object_get(u, "roles"), k, v) {
				strncat(roles, k ? "," : "", sizeof(roles) - strlen(roles) - 1);
				strncat(roles, json_string_value(v), sizeof(roles) - strlen(roles) - 1);
			}
			printf("%-20s %-28s %-8s %-9s %s\n", mm_cli_str(u, "name"), roles,
			       mm_cli_str(u, "mfa"),
			       json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled",
			       mm_cli_str(u, "last_login"));
		}
	}
	json_decref(r);
	return 0;
}

static int user_path(mm_cli *c, mm_buf *p, const char *name, const char *suffix)
{
	if (mm_buf_appends(p, "/v1/users/") != MM_OK || mm_cli_escape(p, name) != 0 ||
	    (suffix != NULL && mm_buf_appends(p, suffix) != MM_OK))
		return mm_cli_usage(c, "user name too long");
	return 0;
}

static int user_show_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf p = MM_BUF_INIT(1024);
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give one user NAME");
	if ((rc = user_path(c, &p, argv[1], NULL)) == 0)
		rc = mm_cli_call_show(c, "GET", mm_buf_str(&p), NULL, print_user);
	mm_buf_release(&p);
	return rc;
}

static int user_set_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "allow-cidr", required_argument, NULL, 'a' },
		{ "clear-cidrs", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *roles = json_array(), *cidrs = json_array(), *body = json_object();
	mm_buf p = MM_BUF_INIT(1024);
	bool clear = false;
	int rc;

	if ((rc = user_opts(c, argc, argv, opts, roles, cidrs, &clear)) != 0)
		goto out;
	if (json_array_size(roles) > 0)
		json_object_set(body, "roles", roles);
	if (json_array_size(cidrs) > 0 || clear)
		json_object_set(body, "allow_cidrs", cidrs);
	if (json_object_size(body) == 0) {
		rc = mm_cli_usage(c, "give --role, --allow-cidr or --clear-cidrs");
		goto out;
	}
	if ((rc = user_path(c, &p, argv[optind], NULL)) == 0)
		rc = mm_cli_call_show(c, "PATCH", mm_buf_str(&p), body, print_user);
out:
	mm_buf_release(&p);
	json_decref(body);
	json_decref(roles);
	json_decref(cidrs);
	return rc;
}

static int user_toggle(mm_cli *c, int argc, char **argv, const char *what)
{
	mm_buf p = MM_BUF_INIT(1024);
	json_t *r = NULL;
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give one user NAME");
	if ((rc = user_path(c, &p, argv[1], what)) == 0 &&
	    (rc = mm_cli_call(c, "POST", mm_buf_str(&p), NULL, &r)) == 0) {
		if (c->json)
			mm_cli_print_json(r);
		else if (strcmp(what, "/disable") == 0)
			printf("User %s disabled; every session and token of it has ended.\n", argv[1]);
		else if (strcmp(what, "/enable") == 0)
			printf("User %s enabled.\n", argv[1]);
		else
			printf("TOTP of %s removed; the user enrols again at the next sign-in.\n",
			       argv[1]);
	}
	json_decref(r);
	mm_buf_release(&p);
	return rc;
}

static int user_disable_cmd(mm_cli *c, int argc, char **argv)
{
	return user_toggle(c, argc, argv, "/disable");
}

static int user_enable_cmd(mm_cli *c, int argc, char **argv)
{
	return user_toggle(c, argc, argv, "/enable");
}

static int mfa_reset_cmd(mm_cli *c, int argc, char **argv)
{
	return user_toggle(c, argc, argv, "/mfa/reset");
}

static int user_passwd_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "password-stdin", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	char cur[PW_MAX] = "", nw[PW_MAX] = "";
	mm_buf p = MM_BUF_INIT(1024);
	json_t *body = NULL, *r = NULL;
	bool pw_stdin = false;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'p')
			return mm_cli_usage(c, "bad option");
		pw_stdin = true;
	}
	if (argc - optind > 1)
		return mm_cli_usage(c, "give at most one user NAME");
	if (optind < argc) {
		/* Administrator reset of another user's password. */
		if ((rc = read_new_password(c, pw_stdin, nw, sizeof(nw))) != 0 ||
		    (rc = user_path(c, &p, argv[optind], "/password")) != 0)
			goto out;
		body = json_pack("{s:s}", "password", nw);
		rc = mm_cli_call(c, "POST", mm_buf_str(&p), body, &r);
	} else {
		if ((rc = mm_cli_read_secret(c, "current password", pw_stdin, cur, sizeof(cur))) != 0 ||
		    (rc = read_new_password(c, pw_stdin, nw, sizeof(nw))) != 0)
			goto out;
		body = json_pack("{s:s,s:s}", "current", cur, "new", nw);
		rc = mm_cli_call(c, "POST", "/v1/auth/password", body, &r);
		if (rc == 0)
			mm_cli_session_remove(c);
	}
	if (rc != 0)
		goto out;
	if (c->json)
		mm_cli_print_json(r);
	else if (optind < argc)
		printf("Password of %s changed; its sessions have ended.\n", argv[optind]);
	else
		printf("Password changed. Every session has ended: sign in again with 'mamori login'.\n");
out:
	wipe(cur, sizeof(cur));
	wipe(nw, sizeof(nw));
	if (body != NULL) {
		const char *keys[] = { "current", "new", "password" };

		for (int i = 0; i < 3; i++) {
			json_t *v = json_object_get(body, keys[i]);

			if (json_string_length(v) > 0)
				wipe((char *)json_string_value(v), json_string_length(v));
		}
	}
	json_decref(body);
	json_decref(r);
	mm_buf_release(&p);
	return rc;
}

/* ---- TOTP ---- */

static void print_codes(const json_t *r)
{
	json_t *v;
	size_t i;

	printf("\nTOTP is active. One-time recovery codes (store them offline; each works once):\n");
	json_array_foreach(json_object_get(r, "recovery_codes"), i, v)
		printf("  %s\n", json_string_value(v));
}

static int confirm(mm_cli *c, const char *code)
{
	json_t *body = json_pack("{s:s}", "code", code);
	int rc = mm_cli_call_show(c, "POST", "/v1/auth/mfa/confirm", body, print_codes);

	json_decref(body);
	return rc;
}

static int mfa_enroll_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "code", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *current = NULL;
	json_t *body = NULL, *r = NULL;
	char code[32] = "";
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'c')
			return mm_cli_usage(c, "bad option");
		current = optarg;
	}
	if ((rc = no_args(c, argc, argv)) != 0)
		return rc;
	if (current != NULL)
		body = json_pack("{s:s}", "code", current);
	rc = mm_cli_call(c, "POST", "/v1/auth/mfa/enroll", body, &r);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
		json_decref(r);
		return 0;
	}
	printf("Scan this QR code with an authenticator app (or enter the secret by hand):\n\n%s\n",
	       mm_cli_str(r, "qr"));
	printf("secret: %s\nURI:    %s\n\n", mm_cli_str(r, "secret"), mm_cli_str(r, "otpauth_uri"));
	json_decref(r);
	if (!isatty(0)) {
		printf("Then confirm with the first code: mamori user mfa confirm CODE\n");
		return 0;
	}
	if ((rc = mm_cli_read_secret(c, "first code from the app", false, code, sizeof(code))) != 0)
		return rc;
	rc = confirm(c, code);
	wipe(code, sizeof(code));
	return rc;
}

static int mfa_confirm_cmd(mm_cli *c, int argc, char **argv)
{
	if (argc != 2)
		return mm_cli_usage(c, "give the 6-digit CODE");
	return confirm(c, argv[1]);
}

/* ---- inventory ---- */

static int inventory_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL, *u, *t, *lr;
	size_t i;
	int rc;

	if (argc != 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/inventory", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
		json_decref(r);
		return 0;
	}
	t = json_object_get(r, "totals");
	lr = json_object_get(r, "last_review");
	printf("Account inventory at %s (dormant: no sign-in for %lld days)\n",
	       mm_cli_str(r, "generated"), (long long)json_integer_value(json_object_get(r, "dormant_days")));
	printf("last review: %s\n\n", json_is_object(lr) ? mm_cli_str(lr, "reviewed") : "never");
	printf("%-20s %-24s %-7s %-25s %-7s %s\n", "USER", "ROLES", "MFA", "LAST LOGIN", "GRANTS",
	       "FLAGS");
	json_array_foreach(json_object_get(r, "accounts"), i, u) {
		char roles[256] = "", flags[96] = "";
		json_t *v;
		size_t k;

		json_array_foreach(json_object_get(u, "roles"), k, v) {
			strncat(roles, k ? "," : "", sizeof(roles) - strlen(roles) - 1);
			strncat(roles, json_string_value(v), sizeof(roles) - strlen(roles) - 1);
		}
		if (json_is_true(json_object_get(u, "disabled")))
			strcat(flags, "disabled ");
		if (json_is_true(json_object_get(u, "dormant")))
			strcat(flags, "DORMANT ");
		if (json_is_true(json_object_get(u, "standing_privileged")))
			strcat(flags, "STANDING-PRIVILEGE ");
		if (json_is_true(json_object_get(u, "breakglass")))
			strcat(flags, "break-glass ");
		printf("%-20s %-24s %-7s %-25s %-7zu %s\n", mm_cli_str(u, "name"), roles,
		       mm_cli_str(u, "mfa"), mm_cli_str(u, "last_login"),
		       json_array_size(json_object_get(u, "active_grants")), flags);
	}
	printf("\n%lld accounts: %lld dormant, %lld with standing privilege, %lld without TOTP, "
	       "%lld disabled\n", (long long)json_integer_value(json_object_get(t, "accounts")),
	       (long long)json_integer_value(json_object_get(t, "dormant")),
	       (long long)json_integer_value(json_object_get(t, "standing_privileged")),
	       (long long)json_integer_value(json_object_get(t, "without_mfa")),
	       (long long)json_integer_value(json_object_get(t, "disabled")));
	json_decref(r);
	return 0;
}

static int review_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "note", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *note = NULL;
	json_t *body, *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'n')
			return mm_cli_usage(c, "bad option");
		note = optarg;
	}
	if ((rc = no_args(c, argc, argv)) != 0)
		return rc;
	if (note == NULL)
		return mm_cli_usage(c, "--note TEXT (what was reviewed, findings) is required");
	body = json_pack("{s:s}", "note", note);
	rc = mm_cli_call(c, "POST", "/v1/inventory/reviews", body, &r);
	json_decref(body);
	if (rc == 0) {
		if (c->json)
			mm_cli_print_json(r);
		else
			printf("Review recorded at %s by %s (%lld accounts).\n", mm_cli_str(r, "reviewed"),
			       mm_cli_str(r, "reviewer"),
			       (long long)json_integer_value(json_object_get(r, "accounts")));
	}
	json_decref(r);
	return rc;
}

const mm_cli_cmd mm_cli_cmds_user[] = {
	{ "login", "--user NAME [--password-stdin] [--code CODE | --recovery-code CODE] [--no-save]",
	  "sign in with password and TOTP code; saves the session", login_cmd },
	{ "user add", "NAME --role ROLE... [--allow-cidr CIDR...] [--password-stdin]",
	  "create a user", user_add_cmd },
	{ "user list", "", "list users", user_list_cmd },
	{ "user show", "NAME", "show a user", user_show_cmd },
	{ "user set", "NAME [--role ROLE...] [--allow-cidr CIDR... | --clear-cidrs]",
	  "change a user's roles or source-address allowlist", user_set_cmd },
	{ "user disable", "NAME", "disable a user and end its sessions at once", user_disable_cmd },
	{ "user enable", "NAME", "enable a user", user_enable_cmd },
	{ "user passwd", "[NAME] [--password-stdin]",
	  "change your password (or reset NAME's as an administrator)", user_passwd_cmd },
	{ "user mfa enroll", "[--code CURRENT]", "enrol a TOTP authenticator (QR code)",
	  mfa_enroll_cmd },
	{ "user mfa confirm", "CODE", "confirm TOTP enrolment with the first code",
	  mfa_confirm_cmd },
	{ "user mfa reset", "NAME", "remove a user's TOTP (lost device)", mfa_reset_cmd },
	{ "user inventory", "", "account inventory (棚卸): roles, MFA, dormant, standing privilege",
	  inventory_cmd },
	{ "user inventory review", "--note TEXT", "record that the inventory was reviewed",
	  review_cmd },
	{ NULL, NULL, NULL, NULL },
};
