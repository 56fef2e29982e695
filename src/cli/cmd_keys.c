/*
 * cmd_keys.c: the seal (seal status|init, seal, unseal, rekey) and named keys
 * (key create|list|show|rotate|config|destroy|delete|export|algorithms,
 * encrypt, decrypt, rewrap, datakey, hmac, sign, verify).
 *
 * Invariants: unseal shares are read from a file or stdin (prompted without
 * echo on a terminal), never required on the command line where `ps` shows
 * them; plaintext goes to stdout byte for byte (or --output FILE, created
 * 0600) and is wiped from memory after writing; data is sent as base64.
 * Exit codes follow cli.h: a failed verification exits 1, malformed input
 * (HTTP 400) exits 2.
 */
#include <getopt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "crypto/crypto.h"

#define DATA_MAX (16u << 20)

/* ---- helpers ---- */

/* Percent-encoded "/v1/keys/NAME" + suffix. */
static int key_path(mm_cli *c, mm_buf *p, const char *name, const char *suffix)
{
	if (mm_buf_appends(p, "/v1/keys/") != MM_OK || mm_cli_escape(p, name) != 0 ||
	    mm_buf_appends(p, suffix) != MM_OK)
		return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	return 0;
}

/* Sets field to base64 of p (n bytes). */
static int set_b64(mm_cli *c, json_t *o, const char *field, const void *p, size_t n)
{
	mm_buf b = MM_BUF_INIT(SIZE_MAX / 2);
	int rc = 0;

	if (mm_base64_encode(&b, p, n) != MM_OK ||
	    json_object_set_new(o, field, json_stringn(b.data ? b.data : "", b.len)) != 0)
		rc = mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	mm_buf_wipe_release(&b);
	return rc;
}

/* Reads FILE (or stdin for "-" / NULL) into out. */
static int read_input(mm_cli *c, const char *path, mm_buf *out)
{
	return mm_cli_read_file(c, path ? path : "-", out);
}

/* Strips trailing whitespace (ciphertexts, signatures read from files). */
static void rtrim(mm_buf *b)
{
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
			      b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
		b->data[--b->len] = '\0';
}

static void print_kv(const json_t *o, const char *indent)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		if (json_is_string(v)) {
			printf("%s%-24s %s\n", indent, k, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			printf("%s%-24s %s\n", indent, k, s ? s : "?");
			free(s);
		}
	}
}

/* ---- seal ---- */

static void print_status(const json_t *r)
{
	bool init = json_is_true(json_object_get(r, "initialized"));
	bool sealed = json_is_true(json_object_get(r, "sealed"));
	json_t *rk = json_object_get(r, "rekey");

	if (!init) {
		printf("Seal:       not initialised (run `mamori seal init`)\n");
		return;
	}
	printf("Seal:       %s\n", sealed ? "sealed" : "unsealed");
	printf("Threshold:  %lld of %lld shares\n",
	       (long long)json_integer_value(json_object_get(r, "threshold")),
	       (long long)json_integer_value(json_object_get(r, "shares")));
	if (sealed)
		printf("Progress:   %lld\n", (long long)json_integer_value(json_object_get(r, "progress")));
	else
		printf("Unsealed:   %s by %s\n", json_string_value(json_object_get(r, "unsealed_at")),
		       json_string_value(json_object_get(r, "unseal_method")));
	printf("Generation: %lld (barrier term %lld)\n",
	       (long long)json_integer_value(json_object_get(r, "generation")),
	       (long long)json_integer_value(json_object_get(r, "barrier_term")));
	if (!sealed)
		printf("Memory:     %s\n", json_is_true(json_object_get(r, "memory_locked"))
						   ? "keys in locked memory" : "keys NOT in locked memory");
	if (json_is_true(json_object_get(rk, "active")))
		printf("Rekey:      in progress, %lld share(s) in\n",
		       (long long)json_integer_value(json_object_get(rk, "progress")));
}

static int seal_status_cmd(mm_cli *c, int argc, char **argv)
{
	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	return mm_cli_call_show(c, "GET", "/v1/sys/seal-status", NULL, print_status);
}

static int parse_counts(mm_cli *c, int argc, char **argv, long *n, long *k)
{
	static const struct option opts[] = {
		{ "shares", required_argument, NULL, 'n' },
		{ "threshold", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int o;

	*n = *k = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		long *dst = o == 'n' ? n : o == 't' ? k : NULL;

		if (dst == NULL)
			return mm_cli_usage(c, "bad option");
		*dst = strtol(optarg, &end, 10);
		if (*end != '\0' || *dst < 1 || *dst > 255)
			return mm_cli_usage(c, "--%s must be 1 to 255", o == 'n' ? "shares" : "threshold");
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if (*n == 0 || *k == 0)
		return mm_cli_usage(c, "--shares and --threshold are required");
	return 0;
}

/* Parses --shares and --threshold and POSTs them to path; on success *r
 * receives the reply (caller decrefs). */
static int post_counts(mm_cli *c, int argc, char **argv, const char *path, long *n, long *k,
		       json_t **r)
{
	json_t *body;
	int rc;

	if ((rc = parse_counts(c, argc, argv, n, k)) != 0)
		return rc;
	body = json_pack("{s:i, s:i}", "secret_shares", (int)*n, "secret_threshold", (int)*k);
	rc = mm_cli_call(c, "POST", path, body, r);
	json_decref(body);
	return rc;
}

static void print_shares(const json_t *shares)
{
	json_t *v;
	size_t i;

	json_array_foreach(shares, i, v)
		printf("Unseal share %zu: %s\n", i + 1, json_string_value(v));
}

static int seal_init_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	long n, k;
	int rc;

	if ((rc = post_counts(c, argc, argv, "/v1/sys/seal/init", &n, &k, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		print_shares(json_object_get(r, "shares"));
		printf("\nThe seal is initialised: %ld share(s) of these %ld unseal mamori.\n"
		       "Give each share to a different custodian now; mamori does not keep them\n"
		       "and cannot show them again. mamori is sealed: run `mamori unseal`.\n", k, n);
	}
	json_decref(r);
	return 0;
}

static int seal_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "POST", "/v1/sys/seal", NULL, &r)) != 0)
		return rc;
	if (c->json)
		mm_cli_print_json(r);
	else
		printf("mamori is sealed.\n");
	json_decref(r);
	return 0;
}

/* Reads one line (a share) from f; prompts without echo on a terminal.
 * Returns 1 with a line, 0 at the end. */
static int read_share(FILE *f, const char *prompt, char *line, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(fileno(f));
	int got;

	for (;;) {
		if (tty) {
			fprintf(stderr, "%s", prompt);
			tcgetattr(fileno(f), &old);
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(fileno(f), TCSAFLUSH, &quiet);
		}
		got = fgets(line, (int)cap, f) != NULL;
		if (tty) {
			tcsetattr(fileno(f), TCSAFLUSH, &old);
			fprintf(stderr, "\n");
		}
		if (!got)
			return 0;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0' && line[0] != '#')
			return 1;
		if (tty)
			return 0;
	}
}

/* Submits each share of f until unsealed or the input ends. */
static int submit_shares(mm_cli *c, FILE *f, const char *one)
{
	char line[256];
	json_t *r = NULL;
	int rc = 0, sent = 0;

	for (;;) {
		json_t *body;

		if (one != NULL) {
			if (sent)
				break;
			snprintf(line, sizeof(line), "%s", one);
		} else if (!read_share(f, "Unseal share (input hidden): ", line, sizeof(line))) {
			break;
		}
		body = json_pack("{s:s}", "key", line);
		mm_wipe(line, sizeof(line));
		json_decref(r);
		r = NULL;
		rc = mm_cli_call(c, "POST", "/v1/sys/unseal", body, &r);
		json_decref(body);
		if (rc != 0)
			break;
		sent++;
		if (!json_is_true(json_object_get(r, "sealed")))
			break;
	}
	if (rc == 0 && r == NULL)
		rc = mm_cli_fail(c, MM_EXIT_USAGE, "no unseal share given");
	if (rc == 0) {
		if (c->json)
			mm_cli_print_json(r);
		else if (json_is_true(json_object_get(r, "sealed")))
			printf("Still sealed: %lld of %lld shares in.\n",
			       (long long)json_integer_value(json_object_get(r, "progress")),
			       (long long)json_integer_value(json_object_get(r, "threshold")));
		else
			printf("mamori is unsealed.\n");
	}
	json_decref(r);
	return rc;
}

static int unseal_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "reset", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool reset = false;
	FILE *f = stdin;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': file = optarg; break;
		case 'r': reset = true; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (argc - optind > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind + 1]);
	if (reset) {
		json_t *body = json_pack("{s:b}", "reset", 1), *r = NULL;

		rc = mm_cli_call(c, "POST", "/v1/sys/unseal", body, &r);
		json_decref(body);
		if (rc == 0 && !c->json)
			printf("Unseal progress reset.\n");
		else if (rc == 0)
			mm_cli_print_json(r);
		json_decref(r);
		return rc;
	}
	if (file != NULL && strcmp(file, "-") != 0 && (f = fopen(file, "r")) == NULL)
		return mm_cli_fail(c, MM_EXIT_USAGE, "cannot open %s", file);
	rc = submit_shares(c, f, optind < argc ? argv[optind] : NULL);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int rekey_init_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	long n, k;
	int rc;

	if ((rc = post_counts(c, argc, argv, "/v1/sys/rekey", &n, &k, &r)) != 0)
		return rc;
	if (c->json)
		mm_cli_print_json(r);
	else
		printf("Rekey started. Nonce: %s\nEach holder of a current share now runs\n"
		       "  mamori rekey submit --nonce %s\n",
		       json_string_value(json_object_get(r, "nonce")),
		       json_string_value(json_object_get(r, "nonce")));
	json_decref(r);
	return 0;
}

static int rekey_submit_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nonce", required_argument, NULL, 'n' },
		{ "file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *nonce = NULL, *file = NULL;
	char line[256];
	json_t *r = NULL;
	FILE *f = stdin;
	int o, rc = 0, sent = 0;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': nonce = optarg; break;
		case 'f': file = optarg; break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s' (shares are read from stdin or --file)",
				    argv[optind]);
	if (nonce == NULL)
		return mm_cli_usage(c, "--nonce is required");
	if (file != NULL && strcmp(file, "-") != 0 && (f = fopen(file, "r")) == NULL)
		return mm_cli_fail(c, MM_EXIT_USAGE, "cannot open %s", file);
	while (read_share(f, "Current unseal share (input hidden): ", line, sizeof(line))) {
		json_t *body = json_pack("{s:s, s:s}", "nonce", nonce, "key", line);

		mm_wipe(line, sizeof(line));
		json_decref(r);
		r = NULL;
		rc = mm_cli_call(c, "POST", "/v1/sys/rekey/update", body, &r);
		json_decref(body);
		if (rc != 0)
			break;
		sent++;
		if (json_is_true(json_object_get(r, "complete")))
			break;
	}
	if (f != stdin)
		fclose(f);
	if (rc == 0 && sent == 0)
		rc = mm_cli_fail(c, MM_EXIT_USAGE, "no share given");
	if (rc == 0) {
		if (c->json) {
			mm_cli_print_json(r);
		} else if (json_is_true(json_object_get(r, "complete"))) {
			print_shares(json_object_get(r, "shares"));
			printf("\nRekey complete: the shares above replace all earlier ones.\n");
		} else {
			printf("Rekey progress: %lld share(s) in.\n",
			       (long long)json_integer_value(json_object_get(r, "progress")));
		}
	}
	json_decref(r);
	return rc;
}

static int rekey_cancel_cmd(mm_cli *c, int argc, char **argv)
{
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "DELETE", "/v1/sys/rekey", NULL, NULL)) == 0 && !c->json)
		printf("Rekey cancelled.\n");
	return rc;
}

/* ---- key management ---- */

static void print_key(const json_t *r)
{
	json_t *vs = json_object_get(r, "versions"), *v;
	size_t i;

	printf("%s (%s)\n", json_string_value(json_object_get(r, "name")),
	       json_string_value(json_object_get(r, "type")));
	{
		json_t *copy = json_copy((json_t *)r);

		json_object_del(copy, "name");
		json_object_del(copy, "type");
		json_object_del(copy, "versions");
		print_kv(copy, "  ");
		json_decref(copy);
	}
	json_array_foreach(vs, i, v) {
		const char *pk = json_string_value(json_object_get(v, "public_key"));

		printf("  version %-4lld created %s%s\n",
		       (long long)json_integer_value(json_object_get(v, "version")),
		       json_string_value(json_object_get(v, "created")),
		       json_is_true(json_object_get(v, "destroyed")) ? "  DESTROYED" : "");
		if (pk != NULL)
			printf("    public key: %s%s", pk, pk[strlen(pk) - 1] == '\n' ? "" : "\n");
	}
}

static int key_create_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "exportable", no_argument, NULL, 'e' },
		{ "deletion-allowed", no_argument, NULL, 'd' },
		{ "auto-rotate", required_argument, NULL, 'a' },
		{ "policy", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = "aes256-gcm";
	json_t *body = json_object(), *pol;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': type = optarg; break;
		case 'e': json_object_set_new(body, "exportable", json_true()); break;
		case 'd': json_object_set_new(body, "deletion_allowed", json_true()); break;
		case 'a': json_object_set_new(body, "auto_rotate_period", json_string(optarg)); break;
		case 'p':
			if ((pol = json_loads(optarg, 0, NULL)) == NULL) {
				json_decref(body);
				return mm_cli_usage(c, "--policy must be a JSON object");
			}
			json_object_set_new(body, "policy", pol);
			break;
		default:
			json_decref(body);
			return mm_cli_usage(c, "bad option");
		}
	}
	if (argc - optind != 1) {
		json_decref(body);
		return mm_cli_usage(c, "give one key name");
	}
	json_object_set_new(body, "name", json_string(argv[optind]));
	json_object_set_new(body, "type", json_string(type));
	rc = mm_cli_call_show(c, "POST", "/v1/keys", body, print_key);
	json_decref(body);
	return rc;
}

static int key_list_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL, *v;
	size_t i;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/keys", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_array_foreach(json_object_get(r, "keys"), i, v)
			printf("%-32s %-12s v%lld\n", json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "type")),
			       (long long)json_integer_value(json_object_get(v, "latest_version")));
	}
	json_decref(r);
	return 0;
}

/* Commands taking exactly one key name and calling method path+suffix. */
static int key_simple(mm_cli *c, int argc, char **argv, const char *method, const char *suffix,
		      json_t *body, bool show)
{
	mm_buf path = MM_BUF_INIT(1024);
	json_t *r = NULL;
	int rc;

	if (argc != 2) {
		json_decref(body);
		return mm_cli_usage(c, "give one key name");
	}
	if ((rc = key_path(c, &path, argv[1], suffix)) == 0)
		rc = mm_cli_call(c, method, path.data, body, &r);
	json_decref(body);
	mm_buf_release(&path);
	if (rc != 0)
		return rc;
	if (c->json)
		mm_cli_print_json(r);
	else if (show)
		print_key(r);
	else
		print_kv(r, "");
	json_decref(r);
	return 0;
}

static int key_show_cmd(mm_cli *c, int argc, char **argv)
{
	return key_simple(c, argc, argv, "GET", "", NULL, true);
}

static int key_rotate_cmd(mm_cli *c, int argc, char **argv)
{
	return key_simple(c, argc, argv, "POST", "/rotate", NULL, false);
}

static int key_delete_cmd(mm_cli *c, int argc, char **argv)
{
	return key_simple(c, argc, argv, "DELETE", "", NULL, false);
}

static int key_algorithms_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL, *v;
	size_t i;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/keys/algorithms", NULL, &r)) != 0)
		return rc;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		printf("%s\n", json_string_value(json_object_get(r, "source")));
		json_array_foreach(json_object_get(r, "algorithms"), i, v)
			printf("  %-14s %-9s %s (%s)\n", json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "use")),
			       json_string_value(json_object_get(v, "cryptrec_technique")),
			       json_string_value(json_object_get(v, "standard")));
	}
	json_decref(r);
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*ret = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*ret = false;
	else
		return -1;
	return 0;
}

static int key_config_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "min-decryption-version", required_argument, NULL, 'm' },
		{ "auto-rotate", required_argument, NULL, 'a' },
		{ "exportable", no_argument, NULL, 'e' },
		{ "deletion-allowed", required_argument, NULL, 'd' },
		{ "disable", no_argument, NULL, 'D' },
		{ "enable", no_argument, NULL, 'E' },
		{ "policy", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *body = json_object(), *pol;
	char *end;
	bool b;
	long v;
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 1) {
				json_decref(body);
				return mm_cli_usage(c, "--min-decryption-version must be a positive number");
			}
			json_object_set_new(body, "min_decryption_version", json_integer(v));
			break;
		case 'a': json_object_set_new(body, "auto_rotate_period", json_string(optarg)); break;
		case 'e': json_object_set_new(body, "exportable", json_true()); break;
		case 'd':
			if (parse_bool(optarg, &b) != 0) {
				json_decref(body);
				return mm_cli_usage(c, "--deletion-allowed takes true or false");
			}
			json_object_set_new(body, "deletion_allowed", json_boolean(b));
			break;
		case 'D': json_object_set_new(body, "disabled", json_true()); break;
		case 'E': json_object_set_new(body, "disabled", json_false()); break;
		case 'p':
			if ((pol = json_loads(optarg, JSON_DECODE_ANY, NULL)) == NULL) {
				json_decref(body);
				return mm_cli_usage(c, "--policy must be a JSON object (or null)");
			}
			json_object_set_new(body, "policy", pol);
			break;
		default:
			json_decref(body);
			return mm_cli_usage(c, "bad option");
		}
	}
	if (json_object_size(body) == 0) {
		json_decref(body);
		return mm_cli_usage(c, "nothing to change");
	}
	argv[optind - 1] = argv[0];
	return key_simple(c, argc - optind + 1, argv + optind - 1, "POST", "/config", body, true);
}

static int key_destroy_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *vs = json_array();
	char *end;
	long v;
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'v' || (v = strtol(optarg, &end, 10), *end != '\0' || v < 1)) {
			json_decref(vs);
			return mm_cli_usage(c, "--version N (a positive number, repeatable)");
		}
		json_array_append_new(vs, json_integer(v));
	}
	if (json_array_size(vs) == 0) {
		json_decref(vs);
		return mm_cli_usage(c, "give at least one --version");
	}
	argv[optind - 1] = argv[0];
	return key_simple(c, argc - optind + 1, argv + optind - 1, "POST", "/destroy",
			  json_pack("{s:o}", "versions", vs), false);
}

static int key_export_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	mm_buf path = MM_BUF_INIT(1024);
	json_t *body = json_object(), *r = NULL;
	char *end;
	long v;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'v' || (v = strtol(optarg, &end, 10), *end != '\0' || v < 1)) {
			json_decref(body);
			return mm_cli_usage(c, "--version N");
		}
		json_object_set_new(body, "version", json_integer(v));
	}
	if (argc - optind != 1) {
		json_decref(body);
		return mm_cli_usage(c, "give one key name");
	}
	if ((rc = key_path(c, &path, argv[optind], "/export")) == 0)
		rc = mm_cli_call(c, "POST", path.data, body, &r);
	json_decref(body);
	mm_buf_release(&path);
	if (rc == 0)
		mm_cli_print_field(c, r, "key");
	json_decref(r);
	return rc;
}

/* ---- operations ---- */

struct opargs {
	const char *key;
	const char *file;
	const char *context;
	const char *output;
	const char *proof;        /* --signature / --hmac */
	const char *proof_field;
	long version;
	bool raw, plaintext;
};

/* Parses KEY [FILE] and the options an operation allows (letters in `allow`). */
static int parse_op(mm_cli *c, int argc, char **argv, const char *allow, struct opargs *a)
{
	static const struct option opts[] = {
		{ "context", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "key-version", required_argument, NULL, 'v' },
		{ "raw", no_argument, NULL, 'r' },
		{ "plaintext", no_argument, NULL, 'p' },
		{ "signature", required_argument, NULL, 's' },
		{ "hmac", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int o;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == '?' || strchr(allow, o) == NULL)
			return mm_cli_usage(c, "bad option");
		switch (o) {
		case 'c': a->context = optarg; break;
		case 'o': a->output = optarg; break;
		case 'v':
			a->version = strtol(optarg, &end, 10);
			if (*end != '\0' || a->version < 1)
				return mm_cli_usage(c, "--key-version must be a positive number");
			break;
		case 'r': a->raw = true; break;
		case 'p': a->plaintext = true; break;
		case 's': a->proof = optarg; a->proof_field = "signature"; break;
		case 'h': a->proof = optarg; a->proof_field = "hmac"; break;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return mm_cli_usage(c, "give KEY and optionally FILE (default: stdin)");
	a->key = argv[optind];
	a->file = argc - optind == 2 ? argv[optind + 1] : NULL;
	return 0;
}

/* Calls /v1/keys/KEY/<op> with body; *ret gets the reply. */
static int call_op(mm_cli *c, const struct opargs *a, const char *op, json_t *body, json_t **ret)
{
	mm_buf path = MM_BUF_INIT(1024);
	char suffix[32];
	int rc;

	snprintf(suffix, sizeof(suffix), "/%s", op);
	if (a->context != NULL && (rc = set_b64(c, body, "context", a->context,
						 strlen(a->context))) != 0)
		goto out;
	if (a->version > 0)
		json_object_set_new(body, "key_version", json_integer(a->version));
	if ((rc = key_path(c, &path, a->key, suffix)) == 0)
		rc = mm_cli_call(c, "POST", path.data, body, ret);
out:
	mm_buf_release(&path);
	return rc;
}

static int encrypt_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf in = MM_BUF_INIT(DATA_MAX);
	json_t *body = json_object(), *r = NULL;
	struct opargs a;
	int rc;

	if ((rc = parse_op(c, argc, argv, "cv", &a)) != 0 || (rc = read_input(c, a.file, &in)) != 0 ||
	    (rc = set_b64(c, body, "plaintext", in.data ? in.data : "", in.len)) != 0 ||
	    (rc = call_op(c, &a, "encrypt", body, &r)) != 0)
		goto out;
	mm_cli_print_field(c, r, "ciphertext");
out:
	json_decref(body);
	json_decref(r);
	mm_buf_wipe_release(&in);
	return rc;
}

/* Writes n bytes to --output (created 0600) or stdout. */
static int write_out(mm_cli *c, const char *path, const void *p, size_t n)
{
	int fd = 1, rc = 0;
	size_t off = 0;

	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return mm_cli_fail(c, MM_EXIT_USAGE, "cannot create %s", path);
	while (off < n) {
		ssize_t w = write(fd, (const char *)p + off, n - off);

		if (w <= 0) {
			rc = mm_cli_fail(c, MM_EXIT_FAIL, "write failed");
			break;
		}
		off += (size_t)w;
	}
	if (fd != 1)
		close(fd);
	return rc;
}

static int decrypt_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf in = MM_BUF_INIT(DATA_MAX * 2), pt = MM_BUF_INIT(DATA_MAX);
	json_t *body = json_object(), *r = NULL;
	const char *b64;
	struct opargs a;
	int rc;

	if ((rc = parse_op(c, argc, argv, "co", &a)) != 0 || (rc = read_input(c, a.file, &in)) != 0)
		goto out;
	rtrim(&in);
	json_object_set_new(body, "ciphertext", json_stringn(in.data ? in.data : "", in.len));
	if ((rc = call_op(c, &a, "decrypt", body, &r)) != 0)
		goto out;
	if (c->json) {
		mm_cli_print_json(r);
		goto out;
	}
	b64 = json_string_value(json_object_get(r, "plaintext"));
	if (b64 == NULL || mm_base64_decode(&pt, b64, strlen(b64)) != MM_OK) {
		rc = mm_cli_fail(c, MM_EXIT_FAIL, "the server sent a malformed plaintext");
		goto out;
	}
	rc = write_out(c, a.output, pt.data, pt.len);
out:
	json_decref(body);
	json_decref(r);
	mm_buf_release(&in);
	mm_buf_wipe_release(&pt);
	return rc;
}

static int rewrap_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf in = MM_BUF_INIT(DATA_MAX * 2);
	json_t *body = json_object(), *r = NULL;
	struct opargs a;
	int rc;

	if ((rc = parse_op(c, argc, argv, "c", &a)) != 0 || (rc = read_input(c, a.file, &in)) != 0)
		goto out;
	rtrim(&in);
	json_object_set_new(body, "ciphertext", json_stringn(in.data ? in.data : "", in.len));
	if ((rc = call_op(c, &a, "rewrap", body, &r)) == 0)
		mm_cli_print_field(c, r, "ciphertext");
out:
	json_decref(body);
	json_decref(r);
	mm_buf_release(&in);
	return rc;
}

static int datakey_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *body = json_object(), *r = NULL;
	struct opargs a;
	int rc;

	if ((rc = parse_op(c, argc, argv, "cvp", &a)) != 0)
		goto out;
	if (a.file != NULL) {
		rc = mm_cli_usage(c, "datakey takes no input file");
		goto out;
	}
	if (a.plaintext)
		json_object_set_new(body, "plaintext_wanted", json_true());
	if ((rc = call_op(c, &a, "datakey", body, &r)) != 0)
		goto out;
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		printf("ciphertext: %s\n", json_string_value(json_object_get(r, "ciphertext")));
		if (a.plaintext)
			printf("plaintext:  %s\n", json_string_value(json_object_get(r, "plaintext")));
	}
out:
	json_decref(body);
	json_decref(r);
	return rc;
}

static int hmac_or_sign(mm_cli *c, int argc, char **argv, const char *op, const char *field)
{
	mm_buf in = MM_BUF_INIT(DATA_MAX);
	json_t *body = json_object(), *r = NULL;
	struct opargs a;
	int rc;

	if ((rc = parse_op(c, argc, argv, strcmp(op, "sign") == 0 ? "vr" : "v", &a)) != 0 ||
	    (rc = read_input(c, a.file, &in)) != 0 ||
	    (rc = set_b64(c, body, "input", in.data ? in.data : "", in.len)) != 0)
		goto out;
	if (a.raw)
		json_object_set_new(body, "marshaling", json_string("raw"));
	if ((rc = call_op(c, &a, op, body, &r)) == 0)
		mm_cli_print_field(c, r, field);
out:
	json_decref(body);
	json_decref(r);
	mm_buf_release(&in);
	return rc;
}

static int hmac_cmd(mm_cli *c, int argc, char **argv)
{
	return hmac_or_sign(c, argc, argv, "hmac", "hmac");
}

static int sign_cmd(mm_cli *c, int argc, char **argv)
{
	return hmac_or_sign(c, argc, argv, "sign", "signature");
}

static int verify_cmd(mm_cli *c, int argc, char **argv)
{
	mm_buf in = MM_BUF_INIT(DATA_MAX);
	json_t *body = json_object(), *r = NULL;
	struct opargs a;
	bool valid;
	int rc;

	if ((rc = parse_op(c, argc, argv, "shr", &a)) != 0)
		goto out;
	if (a.proof == NULL) {
		rc = mm_cli_usage(c, "--signature SIG or --hmac MAC is required");
		goto out;
	}
	if ((rc = read_input(c, a.file, &in)) != 0 ||
	    (rc = set_b64(c, body, "input", in.data ? in.data : "", in.len)) != 0)
		goto out;
	json_object_set_new(body, a.proof_field, json_string(a.proof));
	if (a.raw)
		json_object_set_new(body, "marshaling", json_string("raw"));
	if ((rc = call_op(c, &a, "verify", body, &r)) != 0)
		goto out;
	valid = json_is_true(json_object_get(r, "valid"));
	if (c->json)
		mm_cli_print_json(r);
	else
		printf("%s\n", valid ? "valid" : "INVALID");
	rc = valid ? MM_EXIT_OK : MM_EXIT_FAIL;
out:
	json_decref(body);
	json_decref(r);
	mm_buf_release(&in);
	return rc;
}

const mm_cli_cmd mm_cli_cmds_keys[] = {
	{ "seal status", "", "show whether mamori is sealed and the unseal progress", seal_status_cmd },
	{ "seal init", "--shares N --threshold K",
	  "create the root key and print its N unseal shares (once)", seal_init_cmd },
	{ "seal", "", "seal now: wipe every key from the daemon's memory", seal_cmd },
	{ "unseal", "[--file FILE | SHARE] [--reset]",
	  "submit unseal shares (from FILE or stdin, one per line; hidden prompt on a terminal)",
	  unseal_cmd },
	{ "rekey init", "--shares N --threshold K", "start replacing the root key and its shares",
	  rekey_init_cmd },
	{ "rekey submit", "--nonce NONCE [--file FILE]",
	  "submit current shares to a running rekey (stdin, one per line)", rekey_submit_cmd },
	{ "rekey cancel", "", "abandon a running rekey", rekey_cancel_cmd },
	{ "key create", "NAME [--type aes256-gcm|hmac-sha256|ed25519|ecdsa-p256] [--exportable] "
	  "[--deletion-allowed] [--auto-rotate 720h] [--policy JSON]", "create a named key",
	  key_create_cmd },
	{ "key list", "", "list named keys", key_list_cmd },
	{ "key show", "NAME", "show a key's settings, versions and public keys", key_show_cmd },
	{ "key rotate", "NAME", "add a new version and use it from now on", key_rotate_cmd },
	{ "key config", "NAME [--min-decryption-version N] [--auto-rotate DUR|off] [--exportable] "
	  "[--deletion-allowed true|false] [--disable|--enable] [--policy JSON]",
	  "change a key's settings", key_config_cmd },
	{ "key destroy", "NAME --version N [--version M...]",
	  "destroy versions' material (data under them becomes unreadable)", key_destroy_cmd },
	{ "key delete", "NAME", "delete a key that allows deletion", key_delete_cmd },
	{ "key export", "NAME [--version N]", "print an exportable key's material (base64)",
	  key_export_cmd },
	{ "key algorithms", "", "list the algorithms (CRYPTREC Ciphers List)", key_algorithms_cmd },
	{ "encrypt", "KEY [FILE|-] [--context TEXT] [--key-version N]",
	  "encrypt FILE or stdin; prints mamori:v<n>:...", encrypt_cmd },
	{ "decrypt", "KEY [FILE|-] [--context TEXT] [--output FILE]",
	  "decrypt a ciphertext from FILE or stdin; writes the plaintext", decrypt_cmd },
	{ "rewrap", "KEY [FILE|-] [--context TEXT]",
	  "re-encrypt a ciphertext under the latest version", rewrap_cmd },
	{ "datakey", "KEY [--context TEXT] [--plaintext]",
	  "make a 256-bit data key wrapped by KEY", datakey_cmd },
	{ "hmac", "KEY [FILE|-] [--key-version N]", "HMAC-SHA256 of FILE or stdin", hmac_cmd },
	{ "sign", "KEY [FILE|-] [--raw] [--key-version N]", "sign FILE or stdin", sign_cmd },
	{ "verify", "KEY [FILE|-] (--signature SIG | --hmac MAC) [--raw]",
	  "check a signature or MAC; exit 0 valid, 1 invalid", verify_cmd },
	{ NULL, NULL, NULL, NULL },
};
