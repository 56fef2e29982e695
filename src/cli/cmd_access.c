/*
 * cmd_access.c: just-in-time access commands: request, list, show, approve,
 * deny, cancel, revoke, report, confirm, operations, check, targets.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int request_path(mm_cli *c, mm_buf *p, const char *id, const char *suffix)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(id, &end, 10);
	if (*id == '\0' || *end != '\0' || errno != 0 || v <= 0)
		return mm_cli_usage(c, "request ID must be a positive number");
	if (mm_buf_appendf(p, "/v1/access/requests/%lld%s", v, suffix ? suffix : "") != MM_OK)
		return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	return 0;
}

static void print_request(const json_t *g)
{
	const json_t *rep = json_object_get(g, "report"), *v;
	size_t i;

	printf("request #%lld: %s as %s on %s — %s%s\n",
	       (long long)json_integer_value(json_object_get(g, "id")), mm_cli_str(g, "requester"),
	       mm_cli_str(g, "role"), mm_cli_str(g, "target"), mm_cli_str(g, "state"),
	       json_is_true(json_object_get(g, "breakglass")) ? " [BREAK-GLASS]" : "");
	printf("  reason:    %s\n", mm_cli_str(g, "reason"));
	if (json_is_string(json_object_get(g, "ticket")))
		printf("  ticket:    %s\n", mm_cli_str(g, "ticket"));
	printf("  window:    %s .. %s (%llds)\n", mm_cli_str(g, "start"), mm_cli_str(g, "end"),
	       (long long)json_integer_value(json_object_get(g, "duration_s")));
	if (json_is_true(json_object_get(g, "access_now")))
		printf("  access:    active, %llds left\n",
		       (long long)json_integer_value(json_object_get(g, "remaining_s")));
	printf("  approvals: %zu of %lld (role %s)", json_array_size(json_object_get(g, "approvals")),
	       (long long)json_integer_value(json_object_get(g, "approvals_required")),
	       mm_cli_str(g, "approver_role"));
	json_array_foreach(json_object_get(g, "approvals"), i, v)
		printf("%s%s", i ? ", " : ": ", mm_cli_str(v, "by"));
	printf("\n");
	if (json_is_string(json_object_get(g, "review_by")) &&
	    strcmp(mm_cli_str(g, "state"), "pending") == 0)
		printf("  review by: %s\n", mm_cli_str(g, "review_by"));
	if (json_is_string(json_object_get(g, "decided_by")))
		printf("  decided:   %s by %s%s%s\n", mm_cli_str(g, "decided"),
		       mm_cli_str(g, "decided_by"),
		       json_is_string(json_object_get(g, "decision_note")) ? ": " : "",
		       json_is_string(json_object_get(g, "decision_note")) ? mm_cli_str(g, "decision_note")
									     : "");
	if (json_is_string(json_object_get(g, "closed_by")))
		printf("  closed:    %s by %s%s%s\n", mm_cli_str(g, "closed"), mm_cli_str(g, "closed_by"),
		       json_is_string(json_object_get(g, "close_reason")) ? ": " : "",
		       json_is_string(json_object_get(g, "close_reason")) ? mm_cli_str(g, "close_reason")
									    : "");
	if (json_is_object(rep))
		printf("  report:    %s%s%s\n",
		       json_is_string(json_object_get(rep, "text")) ? "submitted" : "missing",
		       json_is_string(json_object_get(rep, "confirmed_by")) ? ", confirmed by " : "",
		       json_is_string(json_object_get(rep, "confirmed_by"))
		       ? mm_cli_str(rep, "confirmed_by") : (json_is_true(json_object_get(rep, "required"))
							    ? " (required)" : ""));
}

static int call_print(mm_cli *c, const char *method, const char *path, json_t *body)
{
	return mm_cli_call_show(c, method, path, body, print_request);
}

static int request_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "role", required_argument, NULL, 'r' },
		{ "for", required_argument, NULL, 'f' },
		{ "reason", required_argument, NULL, 'm' },
		{ "ticket", required_argument, NULL, 'k' },
		{ "start", required_argument, NULL, 's' },
		{ "breakglass", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target = NULL, *role = NULL, *dur = NULL, *reason = NULL, *ticket = NULL,
		   *start = NULL;
	bool bg = false;
	json_t *body;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': target = optarg; break;
		case 'r': role = optarg; break;
		case 'f': dur = optarg; break;
		case 'm': reason = optarg; break;
		case 'k': ticket = optarg; break;
		case 's': start = optarg; break;
		case 'b': bg = true; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if (target == NULL || role == NULL || dur == NULL || reason == NULL)
		return mm_cli_usage(c, "--target, --role, --for and --reason are required");
	body = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:b}", "target", target, "role", role,
			 "duration", dur, "reason", reason, "ticket", ticket, "start", start,
			 "breakglass", bg);
	rc = call_print(c, "POST", "/v1/access/requests", body);
	json_decref(body);
	return rc;
}

static int list_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pending", no_argument, NULL, 'p' },
		{ "active", no_argument, NULL, 'a' },
		{ "unconfirmed", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = "all";
	json_t *r = NULL, *g;
	char path[96];
	size_t i;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': state = "pending"; break;
		case 'a': state = "active"; break;
		case 'u': state = "unconfirmed"; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	snprintf(path, sizeof(path), "/v1/access/requests?state=%s", state);
	if ((rc = mm_cli_call(c, "GET", path, NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		printf("%-6s %-16s %-16s %-12s %-10s %-9s %-25s %s\n", "ID", "REQUESTER", "TARGET",
		       "ROLE", "STATE", "APPROVALS", "END", "REPORT");
		json_array_foreach(json_object_get(r, "requests"), i, g) {
			const json_t *rep = json_object_get(g, "report");
			char apps[16];

			snprintf(apps, sizeof(apps), "%zu/%lld", json_array_size(json_object_get(g, "approvals")),
				 (long long)json_integer_value(json_object_get(g, "approvals_required")));
			printf("%-6lld %-16s %-16s %-12s %-10s %-9s %-25s %s%s\n",
			       (long long)json_integer_value(json_object_get(g, "id")),
			       mm_cli_str(g, "requester"), mm_cli_str(g, "target"), mm_cli_str(g, "role"),
			       mm_cli_str(g, "state"), apps, mm_cli_str(g, "end"),
			       !json_is_object(rep) ? "-"
			       : json_is_string(json_object_get(rep, "confirmed_by")) ? "confirmed"
			       : json_is_string(json_object_get(rep, "text")) ? "unconfirmed" : "missing",
			       json_is_true(json_object_get(g, "breakglass")) ? " BREAK-GLASS" : "");
		}
	}
	json_decref(r);
	return 0;
}

/* Commands of the form "access VERB ID [--FLAG TEXT]". */
static int id_cmd(mm_cli *c, int argc, char **argv, const char *suffix, const char *flag,
		  const char *key, bool required)
{
	const struct option opts[] = {
		{ flag ? flag : "unused-flag", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	mm_buf p = MM_BUF_INIT(256);
	const char *text = NULL;
	json_t *body = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'x' || flag == NULL)
			return mm_cli_usage(c, "bad option");
		text = optarg;
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "give one request ID");
	if (required && text == NULL)
		return mm_cli_usage(c, "--%s is required", flag);
	if ((rc = request_path(c, &p, argv[optind], suffix)) != 0)
		goto out;
	if (text != NULL)
		body = json_pack("{s:s}", key, text);
	rc = call_print(c, suffix ? "POST" : "GET", mm_buf_str(&p), body);
out:
	json_decref(body);
	mm_buf_release(&p);
	return rc;
}

static int show_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, NULL, NULL, NULL, false);
}

static int approve_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/approve", "comment", "comment", false);
}

static int deny_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/deny", "reason", "reason", true);
}

static int cancel_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/cancel", NULL, NULL, false);
}

static int revoke_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/revoke", "reason", "reason", false);
}

static int report_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/report", "text", "text", true);
}

static int confirm_cmd(mm_cli *c, int argc, char **argv)
{
	return id_cmd(c, argc, argv, "/confirm", NULL, NULL, false);
}

static int operations_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf p = MM_BUF_INIT(256);
	json_t *r = NULL, *op;
	size_t i;
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give one request ID");
	if ((rc = request_path(c, &p, argv[1], "/operations")) != 0 ||
	    (rc = mm_cli_call(c, "GET", mm_buf_str(&p), NULL, &r)) != 0)
		goto out;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		print_request(json_object_get(r, "request"));
		printf("\n%-25s %-20s %-8s %-24s %s\n", "TIME", "ACTION", "RESULT", "CALLER",
		       "AUDIT SEQ");
		json_array_foreach(json_object_get(r, "operations"), i, op)
			printf("%-25s %-20s %-8s %-24s %lld\n", mm_cli_str(op, "time"),
			       mm_cli_str(op, "action"),
			       json_is_true(json_object_get(op, "allowed")) ? "allowed" : "denied",
			       mm_cli_str(op, "caller"),
			       (long long)json_integer_value(json_object_get(op, "audit_seq")));
	}
out:
	json_decref(r);
	mm_buf_release(&p);
	return rc;
}

static int check_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "target", required_argument, NULL, 't' },
		{ "action", required_argument, NULL, 'a' },
		{ "source", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *target = NULL, *action = NULL, *source = NULL;
	json_t *body, *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': user = optarg; break;
		case 't': target = optarg; break;
		case 'a': action = optarg; break;
		case 's': source = optarg; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if (user == NULL || target == NULL || action == NULL)
		return mm_cli_usage(c, "--user, --target and --action are required");
	body = json_pack("{s:s,s:s,s:s,s:s?}", "user", user, "target", target, "action", action,
			 "source", source);
	rc = mm_cli_call(c, "POST", "/v1/access/check", body, &r);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else if (json_is_true(json_object_get(r, "allowed"))) {
		printf("allowed: grant #%lld (%s), %llds left%s\n",
		       (long long)json_integer_value(json_object_get(r, "grant_id")),
		       mm_cli_str(r, "role"),
		       (long long)json_integer_value(json_object_get(r, "remaining_s")),
		       json_is_true(json_object_get(r, "breakglass")) ? " [BREAK-GLASS]" : "");
	} else {
		printf("denied: %s\n", mm_cli_str(r, "reason"));
	}
	/* The exit status carries the decision for scripts: 0 allowed, 1 denied. */
	rc = json_is_true(json_object_get(r, "allowed")) ? 0 : 1;
	json_decref(r);
	return rc;
}

static int targets_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL, *t, *p;
	size_t i, k;
	int rc;

	if (argc != 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/access/targets", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_array_foreach(json_object_get(r, "targets"), i, t) {
			printf("%s (%s)%s%s\n", mm_cli_str(t, "name"), mm_cli_str(t, "source"),
			       json_is_string(json_object_get(t, "description")) ? ": " : "",
			       json_is_string(json_object_get(t, "description"))
			       ? mm_cli_str(t, "description") : "");
			json_array_foreach(json_object_get(t, "roles"), k, p)
				printf("  role %-14s approver %-12s approvals %lld  max %-8s report %s\n",
				       mm_cli_str(p, "role"), mm_cli_str(p, "approver_role"),
				       (long long)json_integer_value(json_object_get(p, "approvals")),
				       mm_cli_str(p, "max_duration"),
				       json_is_true(json_object_get(p, "report_required")) ? "required"
											     : "optional");
		}
	}
	json_decref(r);
	return 0;
}

static int target_set_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf spec = MM_BUF_INIT(1 << 20), p = MM_BUF_INIT(256);
	json_t *body = NULL, *r = NULL;
	json_error_t e;
	int rc;

	if (argc != 3)
		return mm_cli_usage(c, "give the target NAME and a JSON spec FILE ('-' for stdin)");
	if ((rc = mm_cli_read_file(c, argv[2], &spec)) != 0)
		goto out;
	if ((body = json_loadb(mm_buf_str(&spec), spec.len, 0, &e)) == NULL) {
		rc = mm_cli_fail(c, MM_EXIT_USAGE, "%s: %s", argv[2], e.text);
		goto out;
	}
	if (mm_buf_appends(&p, "/v1/access/targets/") != MM_OK || mm_cli_escape(&p, argv[1]) != 0) {
		rc = mm_cli_usage(c, "target name too long");
		goto out;
	}
	if ((rc = mm_cli_call(c, "PUT", mm_buf_str(&p), body, &r)) == 0)
		mm_cli_print_json(r);
out:
	json_decref(body);
	json_decref(r);
	mm_buf_release(&spec);
	mm_buf_release(&p);
	return rc;
}

static int target_delete_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf p = MM_BUF_INIT(256);
	int rc;

	if (argc != 2)
		return mm_cli_usage(c, "give the target NAME");
	if (mm_buf_appends(&p, "/v1/access/targets/") != MM_OK || mm_cli_escape(&p, argv[1]) != 0) {
		mm_buf_release(&p);
		return mm_cli_usage(c, "target name too long");
	}
	rc = mm_cli_call(c, "DELETE", mm_buf_str(&p), NULL, NULL);
	if (rc == 0 && !c->json)
		printf("Target %s deleted.\n", argv[1]);
	else if (rc == 0)
		printf("{\"deleted\": true}\n");
	mm_buf_release(&p);
	return rc;
}

const mm_cli_cmd mm_cli_cmds_access[] = {
	{ "access request", "--target T --role R --for 2h --reason TEXT [--ticket X] "
	  "[--start RFC3339] [--breakglass]", "request just-in-time privileged access", request_cmd },
	{ "access list", "[--pending | --active | --unconfirmed]",
	  "list requests and grants (unconfirmed: work reports to confirm)", list_cmd },
	{ "access show", "ID", "show a request", show_cmd },
	{ "access approve", "ID [--comment TEXT]", "approve a request", approve_cmd },
	{ "access deny", "ID --reason TEXT", "deny a request", deny_cmd },
	{ "access cancel", "ID", "cancel your request", cancel_cmd },
	{ "access revoke", "ID [--reason TEXT]", "end a grant early", revoke_cmd },
	{ "access report", "ID --text TEXT", "submit the work report (作業報告) of a grant",
	  report_cmd },
	{ "access confirm", "ID", "confirm a work report", confirm_cmd },
	{ "access operations", "ID", "access decisions recorded under a grant", operations_cmd },
	{ "access check", "--user U --target T --action A [--source IP]",
	  "ask whether a user may act on a target now (exit 0 allowed, 1 denied)", check_cmd },
	{ "access targets", "", "list targets and their policies", targets_cmd },
	{ "access target set", "NAME FILE", "define or replace a target from a JSON spec",
	  target_set_cmd },
	{ "access target delete", "NAME", "delete a target defined through the API",
	  target_delete_cmd },
	{ NULL, NULL, NULL, NULL },
};
