/*
 * bench_audit.c: in-process, durable audit benchmark.
 *
 * Measures, on a fresh data directory with synchronous=FULL:
 *  1. batched appends (mm_audit_submit, 10,000 events per call, from
 *     --threads submitting threads (default 2): each call is a store job;
 *     concurrent calls share group commits, one fsync and one tree update
 *     each), events/s; then how far the query index (its own writer, on
 *     the other core) lagged and when it caught up;
 *  2. bytes on disk per event (database file after a checkpoint of the WAL);
 *  3. offline verification of the data directory (leaf hashes, tree,
 *     checkpoint signatures, stored tiles), events/s;
 *  4. inclusion and consistency proof latency at the final size (random
 *     leaves, each proof read from the stored tiles in its own read
 *     transaction and verified), median and p99.
 * Events: actor/action/result from a few values, target one of --targets
 * accounts (default 1,000; the target index is the only one with random
 * insert positions, so its cardinality sets the write amplification),
 * request id unique, details a 3-key object (~190 bytes of fields).
 * Usage: bench_audit [--events N] [--batch B] [--targets T] [--proofs P]
 *                    [--threads J] [--dir DIR] [--keep]
 * Prints one "name value unit target" line per result.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "core/time.h"
#include "crypto/sign.h"

static mm_err sign_fn(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	return mm_ed25519_sign(ctx, msg, len, sig);
}

static void die(const char *what, mm_err rc)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, mm_err_detail(rc));
	exit(1);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

static void open_all(const char *dir, mm_store **s, mm_audit_log **log, mm_ed25519_key *key)
{
	mm_store_opts so = { .dir = dir, .sync_full = true };
	const mm_migration_set *sets[] = { &mm_audit_migrations };
	mm_audit_opts ao = { .origin = "bench.mamori/audit" };
	mm_audit_signer sg = { .key_name = "bench.mamori/audit", .sign = sign_fn, .ctx = key };
	mm_err rc;

	if ((rc = mm_store_open(&so, s)) != MM_OK || (rc = mm_store_migrate(*s, sets, 1)) != MM_OK)
		die("open", rc);
	if ((rc = mm_audit_open(*s, &ao, log)) != MM_OK)
		die("audit open", rc);
	if ((rc = mm_ed25519_export_public(key, sg.public_key)) != MM_OK ||
	    (rc = mm_audit_set_signer(*log, &sg)) != MM_OK)
		die("signer", rc);
}

#define MAX_SUBMITTERS 16

struct submitter {
	mm_audit_log *log;
	int64_t from, to, batch, targets;
};

/* Appends events [from, to) in batches: actor/action/result from a few
 * values, target one of `targets` accounts, request id unique, details a
 * 3-key object. */
static void *submit_main(void *p)
{
	struct submitter *sb = p;
	mm_audit_event *evs = calloc((size_t)sb->batch, sizeof(*evs));
	char (*targets)[32] = calloc((size_t)sb->batch, sizeof(*targets));
	char (*reqs)[24] = calloc((size_t)sb->batch, sizeof(*reqs));
	json_t *details = json_pack("{s:s, s:b, s:s}", "method", "password", "mfa", 1, "client", "web");
	mm_err rc;

	if (evs == NULL || targets == NULL || reqs == NULL || details == NULL)
		die("alloc", MM_ERR_NOMEM);
	for (int64_t done = sb->from; done < sb->to;) {
		int64_t m = sb->to - done < sb->batch ? sb->to - done : sb->batch, first;

		for (int64_t i = 0; i < m; i++) {
			int64_t k = done + i;

			snprintf(targets[i], sizeof(targets[i]), "account:%05d",
				 (int)((k * 7919) % sb->targets));
			snprintf(reqs[i], sizeof(reqs[i]), "req-%012" PRIx64, (uint64_t)k);
			evs[i] = (mm_audit_event){ .actor = k % 3 ? "user:alice" : "app:billing",
						   .action = k % 5 ? "record.read" : "auth.login",
						   .target = targets[i],
						   .result = k % 17 ? "success" : "denied",
						   .source = "192.0.2.10",
						   .request_id = reqs[i],
						   .details = details };
		}
		if ((rc = mm_audit_submit(sb->log, evs, (size_t)m, &first)) != MM_OK)
			die("append", rc);
		done += m;
	}
	json_decref(details);
	free(evs);
	free(targets);
	free(reqs);
	return NULL;
}

static int64_t last_progress;

static void progress(void *ctx, int64_t done, int64_t total)
{
	int64_t now = mm_time_mono_ns();

	if (now - last_progress > 2000000000LL || done == total) {
		fprintf(stderr, "  verify: %" PRId64 "/%" PRId64 "\n", done, total);
		last_progress = now;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "events", required_argument, NULL, 'n' }, { "batch", required_argument, NULL, 'b' },
		{ "proofs", required_argument, NULL, 'p' }, { "dir", required_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },         { "targets", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t n = 10000000, batch = 10000, proofs = 2000, targets_n = 1000;
	int nthreads = 2;
	char dir[512] = "", path[600];
	bool keep = false;
	mm_ed25519_key *key = NULL;
	mm_store *s = NULL;
	mm_audit_log *log = NULL;
	int64_t t0, t1, size;
	struct stat st;
	mm_audit_verify_report rep;
	mm_audit_verify_opts vo = { .progress = progress };
	mm_err rc;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = strtoll(optarg, NULL, 10); break;
		case 'b': batch = strtoll(optarg, NULL, 10); break;
		case 'p': proofs = strtoll(optarg, NULL, 10); break;
		case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
		case 'k': keep = true; break;
		case 't': targets_n = strtoll(optarg, NULL, 10); break;
		case 'j': nthreads = atoi(optarg); break;
		default: fprintf(stderr, "usage: bench_audit [--events N] [--batch B] [--proofs P] "
				 "[--dir DIR] [--keep]\n");
			 return 2;
		}
	}
	if (n < 1 || batch < 1 || batch > MM_AUDIT_MAX_BATCH || proofs < 1 || targets_n < 1 ||
	    nthreads < 1 || nthreads > MAX_SUBMITTERS) {
		fprintf(stderr, "bench_audit: bad arguments\n");
		return 2;
	}
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/mm-bench-audit-XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	if ((rc = mm_ed25519_generate(&key)) != MM_OK)
		die("keygen", rc);
	open_all(dir, &s, &log, key);

	/* 1. batched durable appends, from --threads submitters (each prepares
	 * its next batch while another's commits) */
	{
		pthread_t th[MAX_SUBMITTERS];
		struct submitter sub[MAX_SUBMITTERS];

		t0 = mm_time_mono_ns();
		for (int i = 0; i < nthreads; i++) {
			sub[i] = (struct submitter){ .log = log, .from = n * i / nthreads,
						     .to = n * (i + 1) / nthreads, .batch = batch,
						     .targets = targets_n };
			if (pthread_create(&th[i], NULL, submit_main, &sub[i]) != 0)
				die("thread", MM_ERR_IO);
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
	}
	t1 = mm_time_mono_ns();
	printf("audit_append_batched %.0f events/s target>=200000 (%" PRId64 " events, batches of %"
	       PRId64 ", %" PRId64 " targets, %d submitting threads, %.1f s)\n",
	       (double)n / secs(t1 - t0), n, batch, targets_n, nthreads, secs(t1 - t0));
	/* The query index follows on its own writer: how far behind it was when
	 * the last append was acknowledged, and how long it took to catch up. */
	{
		mm_audit_stats stats;

		mm_audit_get_stats(log, &stats);
		if ((rc = mm_audit_index_sync(log, 3600 * 1000)) != MM_OK)
			die("index sync", rc);
		printf("audit_index_lag %" PRId64 " events behind at the last append, caught up %.1f s "
		       "later (indexing %.0f events/s overall)\n", stats.tree_size - stats.indexed,
		       secs(mm_time_mono_ns() - t1), (double)n / secs(mm_time_mono_ns() - t0));
	}
	if ((rc = mm_audit_checkpoint_now(log, NULL)) != MM_OK)
		die("checkpoint", rc);
	mm_audit_close(log);
	mm_store_close(s); /* the last connection checkpoints and removes the WAL */

	/* 2. bytes on disk */
	snprintf(path, sizeof(path), "%s/mamori.db", dir);
	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}
	printf("audit_bytes_per_event %.1f bytes (database %.1f MiB for %" PRId64 " events)\n",
	       (double)st.st_size / (double)n, (double)st.st_size / 1048576.0, n);
	snprintf(path, sizeof(path), "%s/audit_index.db", dir);
	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}
	printf("audit_index_bytes_per_event %.1f bytes (query index %.1f MiB, a separate file "
	       "that can be rebuilt from the events)\n", (double)st.st_size / (double)n,
	       (double)st.st_size / 1048576.0);

	/* 3. offline verification */
	t0 = mm_time_mono_ns();
	rc = mm_audit_verify_data_dir(dir, &vo, &rep);
	t1 = mm_time_mono_ns();
	if (rc != MM_OK)
		die("verify", rc);
	printf("audit_verify %.0f events/s target>=500000 (%" PRId64 " events, %" PRId64
	       " checkpoints, %.1f s)\n", (double)rep.events / secs(t1 - t0), rep.events,
	       rep.checkpoints, secs(t1 - t0));

	/* 4. proofs at the final size */
	open_all(dir, &s, &log, key);
	mm_audit_head(log, &size, NULL);
	{
		int64_t *lat = calloc((size_t)proofs, sizeof(*lat)), *clat = calloc((size_t)proofs, 8);
		uint64_t x = 0x9E3779B97F4A7C15ULL;

		if (lat == NULL || clat == NULL)
			die("alloc", MM_ERR_NOMEM);
		for (int64_t i = 0; i < proofs; i++) {
			mm_merkle_proof p;
			uint8_t leaf[32], root[32], r1[32], r2[32];
			int64_t seq, from;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			seq = (int64_t)(x % (uint64_t)size);
			t0 = mm_time_mono_ns();
			if ((rc = mm_audit_inclusion_proof(s, seq, size, &p, leaf, root)) != MM_OK)
				die("inclusion proof", rc);
			lat[i] = mm_time_mono_ns() - t0;
			if ((rc = mm_merkle_verify_inclusion((uint64_t)seq, (uint64_t)size, leaf,
							     (const uint8_t (*)[32])p.h, p.n, root)) != MM_OK)
				die("inclusion verify", rc);
			from = seq + 1;
			t0 = mm_time_mono_ns();
			if ((rc = mm_audit_consistency_proof(s, from, size, &p, r1, r2)) != MM_OK)
				die("consistency proof", rc);
			clat[i] = mm_time_mono_ns() - t0;
			if ((rc = mm_merkle_verify_consistency((uint64_t)from, (uint64_t)size, r1, r2,
							       (const uint8_t (*)[32])p.h, p.n)) != MM_OK)
				die("consistency verify", rc);
		}
		qsort(lat, (size_t)proofs, 8, cmp64);
		qsort(clat, (size_t)proofs, 8, cmp64);
		printf("audit_inclusion_proof p50 %.3f ms p99 %.3f ms target<1ms (size %" PRId64
		       ", %" PRId64 " proofs)\n", (double)lat[proofs / 2] / 1e6,
		       (double)lat[proofs * 99 / 100] / 1e6, size, proofs);
		printf("audit_consistency_proof p50 %.3f ms p99 %.3f ms (size %" PRId64 ")\n",
		       (double)clat[proofs / 2] / 1e6, (double)clat[proofs * 99 / 100] / 1e6, size);
		free(lat);
		free(clat);
	}
	mm_audit_close(log);
	mm_store_close(s);
	mm_ed25519_key_free(key);
	if (!keep) {
		snprintf(path, sizeof(path), "rm -rf '%s'", dir);
		if (system(path) != 0)
			return 1;
	}
	return 0;
}
