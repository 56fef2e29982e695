/*
 * cmd_audit.c: the audit log from the command line.
 *
 *   audit tail [-n N] [--follow]          the latest events
 *   audit query [filters] [--all]         search with cursor paging
 *   audit append --action A --result R    record an application event
 *   audit checkpoint [--new]              the latest (or a new) signed checkpoint
 *   audit public-key                      the checkpoint verifier key
 *   audit proof inclusion SEQ [--size N]  fetched and verified locally
 *   audit proof consistency --from N --to M
 *   audit export --out BUNDLE [--from N] [--to M] [--data DIR]
 *   audit verify BUNDLE | --data DIR [--checkpoint FILE] [--key VKEY]
 *
 * verify (and export --data) work offline on files, without the daemon:
 * verify exits 0 when intact, 1 naming the first bad sequence number.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/verify.h"
#include "cli/cli.h"
#include "crypto/crypto.h"

static int64_t parse_i64(const char *s, bool *ok)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	*ok = *s != '\0' && *end == '\0' && v >= 0;
	return v;
}

static void print_event(const json_t *e)
{
	const char *t = json_string_value(json_object_get(e, "target"));
	char *d = json_is_object(json_object_get(e, "details")) &&
			  json_object_size(json_object_get(e, "details")) > 0
		  ? json_dumps(json_object_get(e, "details"), JSON_COMPACT)
		  : NULL;

	printf("%-8" PRId64 " %s  %-20s %-22s %-20s %s%s%s\n",
	       (int64_t)json_integer_value(json_object_get(e, "seq")),
	       json_string_value(json_object_get(e, "time")),
	       json_string_value(json_object_get(e, "actor")),
	       json_string_value(json_object_get(e, "action")), t ? t : "-",
	       json_string_value(json_object_get(e, "result")), d ? "  " : "", d ? d : "");
	free(d);
}

/* GET /v1/audit/events with the query in q; prints the events. */
static int fetch(mm_cli *c, const char *q, json_t **ret)
{
	mm_buf path = MM_BUF_INIT(4096);
	int rc;

	if (mm_buf_appendf(&path, "/v1/audit/events?%s", q) != MM_OK)
		return mm_cli_fail(c, MM_EXIT_USAGE, "query too long");
	rc = mm_cli_call(c, "GET", mm_buf_str(&path), NULL, ret);
	mm_buf_release(&path);
	return rc;
}

static int print_page(mm_cli *c, json_t *r)
{
	json_t *e;
	size_t i;

	if (c->json) {
		mm_cli_print_json(r);
		return 0;
	}
	json_array_foreach(json_object_get(r, "events"), i, e)
		print_event(e);
	return 0;
}

static int tail_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' }, { "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t n = 20, size, next;
	bool follow = false, ok;
	json_t *r = NULL;
	char q[128];
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "n:f", opts, NULL)) != -1) {
		if (o == 'n') {
			n = parse_i64(optarg, &ok);
			if (!ok || n < 1 || n > 1000)
				return mm_cli_usage(c, "-n must be 1..1000");
		} else if (o == 'f') {
			follow = true;
		} else {
			return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if ((rc = fetch(c, "limit=1", &r)) != 0)
		return rc;
	size = json_integer_value(json_object_get(r, "tree_size"));
	json_decref(r);
	next = size > n ? size - n : 0;
	do {
		snprintf(q, sizeof(q), "seq_from=%" PRId64 "&limit=1000", next);
		if ((rc = fetch(c, q, &r)) != 0)
			return rc;
		print_page(c, r);
		{
			json_t *ev = json_object_get(r, "events");
			size_t k = json_array_size(ev);

			if (k > 0)
				next = json_integer_value(json_object_get(json_array_get(ev, k - 1), "seq")) + 1;
		}
		json_decref(r);
		fflush(stdout);
		if (follow)
			sleep(1);
	} while (follow);
	return 0;
}

static int query_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "actor", required_argument, NULL, 'a' },  { "action", required_argument, NULL, 'x' },
		{ "target", required_argument, NULL, 't' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },  { "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'T' },     { "limit", required_argument, NULL, 'l' },
		{ "cursor", required_argument, NULL, 'c' }, { "all", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { ['a'] = "actor", ['x'] = "action", ['t'] = "target",
					     ['s'] = "since", ['u'] = "until", ['f'] = "seq_from",
					     ['T'] = "seq_to", ['l'] = "limit", ['c'] = "cursor" };
	mm_buf q = MM_BUF_INIT(4096);
	bool all = false;
	json_t *r = NULL;
	int o, rc = 0;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'A') {
			all = true;
			continue;
		}
		if (o < 0 || (size_t)o >= sizeof(keys) / sizeof(keys[0]) || keys[o] == NULL) {
			mm_buf_release(&q);
			return mm_cli_usage(c, "bad option");
		}
		if ((q.len > 0 && mm_buf_appendc(&q, '&') != MM_OK) ||
		    mm_buf_appendf(&q, "%s=", keys[o]) != MM_OK || mm_cli_escape(&q, optarg) != 0) {
			mm_buf_release(&q);
			return mm_cli_usage(c, "query too long");
		}
	}
	if (optind != argc) {
		mm_buf_release(&q);
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	}
	for (;;) {
		const char *next;

		if ((rc = fetch(c, mm_buf_str(&q), &r)) != 0)
			break;
		print_page(c, r);
		next = json_string_value(json_object_get(r, "next_cursor"));
		if (next == NULL || !all) {
			if (next != NULL && !c->json)
				fprintf(stderr, "more: --cursor %s\n", next);
			json_decref(r);
			break;
		}
		/* Replace or add cursor=... */
		{
			char *p = strstr(q.data ? q.data : "", "cursor=");

			if (p != NULL) {
				q.len = (size_t)(p - q.data);
				q.data[q.len] = '\0';
				if (q.len > 0 && q.data[q.len - 1] == '&')
					q.data[--q.len] = '\0';
			}
			if ((q.len > 0 && mm_buf_appendc(&q, '&') != MM_OK) ||
			    mm_buf_appendf(&q, "cursor=%s", next) != MM_OK) {
				json_decref(r);
				rc = mm_cli_fail(c, MM_EXIT_FAIL, "query too long");
				break;
			}
		}
		json_decref(r);
	}
	mm_buf_release(&q);
	return rc;
}

static int append_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "actor", required_argument, NULL, 'a' },  { "action", required_argument, NULL, 'x' },
		{ "target", required_argument, NULL, 't' }, { "result", required_argument, NULL, 'r' },
		{ "details", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	json_t *body = json_object(), *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *k = o == 'a' ? "actor" : o == 'x' ? "action" : o == 't' ? "target"
			      : o == 'r' ? "result" : NULL;

		if (o == 'd') {
			json_t *d = json_loads(optarg, 0, NULL);

			if (!json_is_object(d)) {
				json_decref(d);
				json_decref(body);
				return mm_cli_usage(c, "--details must be a JSON object");
			}
			json_object_set_new(body, "details", d);
		} else if (k != NULL) {
			json_object_set_new(body, k, json_string(optarg));
		} else {
			json_decref(body);
			return mm_cli_usage(c, "bad option");
		}
	}
	if (optind != argc || !json_object_get(body, "action") || !json_object_get(body, "result")) {
		json_decref(body);
		return mm_cli_usage(c, "--action and --result are required");
	}
	rc = mm_cli_call(c, "POST", "/v1/audit/events", body, &r);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c->json)
		mm_cli_print_json(r);
	else
		printf("recorded as seq %" PRId64 "\n", (int64_t)json_integer_value(json_object_get(r, "seq")));
	json_decref(r);
	return 0;
}

static int checkpoint_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "new", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	bool fresh = false;
	json_t *r = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'n')
			return mm_cli_usage(c, "bad option");
		fresh = true;
	}
	if (optind != argc)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[optind]);
	if ((rc = mm_cli_call(c, fresh ? "POST" : "GET", "/v1/audit/checkpoint", NULL, &r)) != 0)
		return rc;
	if (c->json)
		mm_cli_print_json(r);
	else
		fputs(json_string_value(json_object_get(r, "note")), stdout); /* the note itself */
	json_decref(r);
	return 0;
}

static int public_key_cmd(mm_cli *c, int argc, char **argv)
{
	json_t *r = NULL;
	int rc;

	if (argc > 1)
		return mm_cli_usage(c, "unexpected argument '%s'", argv[1]);
	if ((rc = mm_cli_call(c, "GET", "/v1/audit/public-key", NULL, &r)) != 0)
		return rc;
	mm_cli_print_field(c, r, "vkey");
	json_decref(r);
	return 0;
}

static int hashes(const json_t *arr, mm_merkle_proof *p)
{
	json_t *v;
	size_t i;

	p->n = 0;
	if (!json_is_array(arr) || json_array_size(arr) > MM_MERKLE_MAX_PROOF)
		return -1;
	json_array_foreach(arr, i, v) {
		mm_buf b = MM_BUF_INIT(64);
		int ok = json_is_string(v) &&
			 mm_base64_decode(&b, json_string_value(v), json_string_length(v)) == MM_OK &&
			 b.len == 32;

		if (ok)
			memcpy(p->h[p->n++], b.data, 32);
		mm_buf_release(&b);
		if (!ok)
			return -1;
	}
	return 0;
}

static int hash1(const json_t *v, uint8_t out[32])
{
	mm_merkle_proof p;
	json_t *a = json_pack("[O]", v);
	int rc = a != NULL ? hashes(a, &p) : -1;

	json_decref(a);
	if (rc == 0)
		memcpy(out, p.h[0], 32);
	return rc;
}

static int proof_inclusion_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "size", required_argument, NULL, 's' },
					      { NULL, 0, NULL, 0 } };
	int64_t seq, size = 0;
	mm_merkle_proof p;
	uint8_t leaf[32], root[32];
	json_t *r = NULL;
	char path[128];
	bool ok = true;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 's')
			return mm_cli_usage(c, "bad option");
		size = parse_i64(optarg, &ok);
		if (!ok)
			return mm_cli_usage(c, "--size must be a tree size");
	}
	if (optind + 1 != argc)
		return mm_cli_usage(c, "SEQ is required");
	seq = parse_i64(argv[optind], &ok);
	if (!ok)
		return mm_cli_usage(c, "SEQ must be a sequence number");
	snprintf(path, sizeof(path), "/v1/audit/proof/inclusion?seq=%" PRId64 "&size=%" PRId64, seq,
		 size);
	if ((rc = mm_cli_call(c, "GET", path, NULL, &r)) != 0)
		return rc;
	size = json_integer_value(json_object_get(r, "size"));
	if (hashes(json_object_get(r, "proof"), &p) != 0 ||
	    hash1(json_object_get(r, "leaf_hash"), leaf) != 0 ||
	    hash1(json_object_get(r, "root"), root) != 0) {
		json_decref(r);
		return mm_cli_fail(c, MM_EXIT_FAIL, "malformed proof from the server");
	}
	if (mm_merkle_verify_inclusion((uint64_t)seq, (uint64_t)size, leaf,
				       (const uint8_t (*)[32])p.h, p.n, root) != MM_OK) {
		json_decref(r);
		return mm_cli_fail(c, MM_EXIT_FAIL, "the proof does not verify: %s",
				   mm_err_detail(MM_ERR_VERIFY));
	}
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_t *v;
		size_t i;

		printf("event %" PRId64 " is in the tree of size %" PRId64 " (proof verified)\n", seq,
		       size);
		printf("leaf hash: %s\nroot:      %s\nproof:\n",
		       json_string_value(json_object_get(r, "leaf_hash")),
		       json_string_value(json_object_get(r, "root")));
		json_array_foreach(json_object_get(r, "proof"), i, v)
			printf("  %s\n", json_string_value(v));
	}
	json_decref(r);
	return 0;
}

static int proof_consistency_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = { { "from", required_argument, NULL, 'f' },
					      { "to", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	int64_t from = -1, to = 0;
	mm_merkle_proof p;
	uint8_t r1[32], r2[32];
	json_t *r = NULL;
	char path[128];
	bool ok = true;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'f')
			from = parse_i64(optarg, &ok);
		else if (o == 't')
			to = parse_i64(optarg, &ok);
		else
			return mm_cli_usage(c, "bad option");
		if (!ok)
			return mm_cli_usage(c, "--from and --to are tree sizes");
	}
	if (optind != argc || from < 0)
		return mm_cli_usage(c, "--from N is required");
	snprintf(path, sizeof(path), "/v1/audit/proof/consistency?from=%" PRId64 "&to=%" PRId64,
		 from, to);
	if ((rc = mm_cli_call(c, "GET", path, NULL, &r)) != 0)
		return rc;
	to = json_integer_value(json_object_get(r, "to"));
	if (hashes(json_object_get(r, "proof"), &p) != 0 ||
	    hash1(json_object_get(r, "root1"), r1) != 0 || hash1(json_object_get(r, "root2"), r2) != 0) {
		json_decref(r);
		return mm_cli_fail(c, MM_EXIT_FAIL, "malformed proof from the server");
	}
	if (mm_merkle_verify_consistency((uint64_t)from, (uint64_t)to, r1, r2,
					 (const uint8_t (*)[32])p.h, p.n) != MM_OK) {
		json_decref(r);
		return mm_cli_fail(c, MM_EXIT_FAIL, "the proof does not verify");
	}
	if (c->json) {
		mm_cli_print_json(r);
	} else {
		json_t *v;
		size_t i;

		printf("the tree of size %" PRId64 " extends the tree of size %" PRId64
		       " (proof verified)\nroot %" PRId64 ": %s\nroot %" PRId64 ": %s\nproof:\n",
		       to, from, from, json_string_value(json_object_get(r, "root1")), to,
		       json_string_value(json_object_get(r, "root2")));
		json_array_foreach(json_object_get(r, "proof"), i, v)
			printf("  %s\n", json_string_value(v));
	}
	json_decref(r);
	return 0;
}

static int export_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' }, { "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },  { "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *data = NULL;
	int64_t from = 0, to = 0;
	bool ok = true;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o': out = optarg; break;
		case 'd': data = optarg; break;
		case 'f': from = parse_i64(optarg, &ok); break;
		case 't': to = parse_i64(optarg, &ok); break;
		default: return mm_cli_usage(c, "bad option");
		}
		if (!ok)
			return mm_cli_usage(c, "--from and --to are sequence numbers");
	}
	if (optind != argc || out == NULL)
		return mm_cli_usage(c, "--out BUNDLE is required");
	if (access(out, F_OK) == 0)
		return mm_cli_fail(c, MM_EXIT_USAGE, "%s already exists", out);
	if (data != NULL) {
		mm_store_opts so = { .dir = data, .read_only = true };
		mm_store *s = NULL;
		mm_err e;

		if ((e = mm_store_open(&so, &s)) == MM_OK)
			e = mm_audit_export_file(s, from, to, out);
		mm_store_close(s);
		if (e != MM_OK)
			return mm_cli_fail(c, e == MM_ERR_INVALID ? MM_EXIT_USAGE : MM_EXIT_FAIL, "%s",
					   mm_err_detail(e));
	} else {
		mm_buf path = MM_BUF_INIT(256), body = MM_BUF_INIT((size_t)1 << 30);
		FILE *f;

		mm_buf_appendf(&path, "/v1/audit/export?from=%" PRId64 "&to=%" PRId64, from, to);
		rc = mm_cli_call_raw(c, "GET", mm_buf_str(&path), NULL, NULL, 0, &body);
		mm_buf_release(&path);
		if (rc != 0) {
			mm_buf_release(&body);
			return rc;
		}
		f = fopen(out, "wx");
		if (f == NULL || fwrite(body.data ? body.data : "", 1, body.len, f) != body.len ||
		    fclose(f) != 0) {
			mm_buf_release(&body);
			return mm_cli_fail(c, MM_EXIT_FAIL, "cannot write %s", out);
		}
		mm_buf_release(&body);
	}
	if (!c->json)
		printf("bundle written to %s\n", out);
	else
		printf("{\"bundle\": \"%s\"}\n", out);
	return 0;
}

static void progress(void *ctx, int64_t done, int64_t total)
{
	mm_cli_progress("verify", (unsigned long long)done, (unsigned long long)total);
}

static int verify_cmd(mm_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *ckfile = NULL, *keys[9] = { NULL };
	size_t nkeys = 0;
	mm_buf older = MM_BUF_INIT(65536);
	mm_audit_verify_opts vo = { .progress = progress };
	mm_audit_verify_report rep;
	char root[64];
	mm_err e;
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': data = optarg; break;
		case 'c': ckfile = optarg; break;
		case 'k':
			if (nkeys == 8)
				return mm_cli_usage(c, "at most 8 --key options");
			keys[nkeys++] = optarg;
			break;
		default: return mm_cli_usage(c, "bad option");
		}
	}
	if ((data == NULL) == (optind + 1 != argc) || optind + (data ? 0 : 1) != argc)
		return mm_cli_usage(c, "give a BUNDLE file or --data DIR");
	if (ckfile != NULL) {
		if (mm_cli_read_file(c, ckfile, &older) != 0) {
			mm_buf_release(&older);
			return MM_EXIT_USAGE;
		}
		vo.older_checkpoint = mm_buf_str(&older);
	}
	if (nkeys > 0)
		vo.trusted_vkeys = keys;
	e = data ? mm_audit_verify_data_dir(data, &vo, &rep)
		 : mm_audit_verify_bundle(argv[optind], &vo, &rep);
	mm_buf_release(&older);
	if (e != MM_OK && e != MM_ERR_VERIFY)
		return mm_cli_fail(c, e == MM_ERR_INVALID ? MM_EXIT_USAGE : MM_EXIT_FAIL, "%s",
				   mm_err_detail(e));
	{
		mm_buf b = MM_BUF_INIT(64);

		mm_base64_encode(&b, rep.root, 32);
		snprintf(root, sizeof(root), "%s", mm_buf_str(&b));
		mm_buf_release(&b);
	}
	if (c->json) {
		json_t *j = json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:b,s:s}", "intact",
				      e == MM_OK, "problem", mm_audit_problem_name(rep.problem),
				      "bad_seq", (json_int_t)rep.bad_seq, "first_seq",
				      (json_int_t)rep.first_seq, "events", (json_int_t)rep.events,
				      "checkpoints", (json_int_t)rep.checkpoints, "covered",
				      (json_int_t)rep.covered, "root", root, "key", rep.key,
				      "keys_from_input", rep.keys_from_input, "detail", rep.detail);

		mm_cli_print_json(j);
		json_decref(j);
	}
	if (e != MM_OK) {
		if (!c->json)
			fprintf(stderr, "mamori: audit log FAILED verification: %s at seq %" PRId64
				": %s\n", mm_audit_problem_name(rep.problem), rep.bad_seq, rep.detail);
		return MM_EXIT_FAIL;
	}
	if (!c->json) {
		printf("OK: %" PRId64 " events from seq %" PRId64 " verified; %" PRId64
		       " checkpoints signed and matching; tree size %" PRId64 ", root %s\n",
		       rep.events, rep.first_seq, rep.checkpoints, rep.tree_size, root);
		if (rep.covered < rep.first_seq + rep.events)
			printf("note: events from seq %" PRId64 " are not yet under a checkpoint\n",
			       rep.covered);
		printf("key: %s%s\n", rep.key[0] ? rep.key : "(none)",
		       rep.keys_from_input ? " (taken from the input: compare it with the key "
					     "you trust, or pass --key)" : "");
	}
	return 0;
}

const mm_cli_cmd mm_cli_cmds_audit[] = {
	{ "audit tail", "[-n N] [--follow]", "show the latest audit events", tail_cmd },
	{ "audit query",
	  "[--actor A] [--action X] [--target T] [--since TIME] [--until TIME] [--from SEQ] "
	  "[--to SEQ] [--limit N] [--cursor C] [--all]",
	  "search the audit log", query_cmd },
	{ "audit append", "--action X --result R [--actor A] [--target T] [--details JSON]",
	  "record an application event", append_cmd },
	{ "audit checkpoint", "[--new]", "print the latest signed checkpoint (or sign one now)",
	  checkpoint_cmd },
	{ "audit public-key", "", "print the checkpoint verifier key", public_key_cmd },
	{ "audit proof inclusion", "SEQ [--size N]", "prove an event is in the log (verified)",
	  proof_inclusion_cmd },
	{ "audit proof consistency", "--from N [--to M]",
	  "prove the log of size M extends size N (verified)", proof_consistency_cmd },
	{ "audit export", "--out BUNDLE [--from SEQ] [--to SEQ] [--data DIR]",
	  "write events, checkpoints and keys to a bundle", export_cmd },
	{ "audit verify", "BUNDLE | --data DIR [--checkpoint FILE] [--key VKEY]",
	  "verify a bundle or a data directory offline", verify_cmd },
	{ NULL, NULL, NULL, NULL },
};
