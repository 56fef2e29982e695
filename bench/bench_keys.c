/*
 * bench_keys.c: in-process benchmark of the key manager (issue 5).
 *
 * Measures, each for --seconds (default 2) on one thread unless noted:
 *  1. engine:  encrypt + decrypt of 1 KiB through the named-key ciphertext
 *     path without the per-call audit write: mm_envelope_seal (AES-256-GCM,
 *     random nonce, context as AAD, "mamori:v1:<base64>") then
 *     mm_envelope_parse + mm_envelope_open — what every named-key
 *     encrypt/decrypt computes under the read lock. Per core.
 *  2. batch:   mm_keys_batch encrypt then decrypt of 256 x 1 KiB items per
 *     call: the public, audited API (one audit event per batch, durable).
 *  3. single:  mm_keys_encrypt + mm_keys_decrypt of 1 KiB, one audited
 *     store write each, on 1 and on --threads threads (group commit).
 *  4. bulk:    mm_aead_seal over --bulk-size buffers (default 16 KiB, the
 *     largest default block of `openssl speed`), MB/s, to compare with
 *     `openssl speed -evp aes-256-gcm -bytes SIZE`. Each call is one-shot
 *     (key schedule set up and wiped per call), as in mamori's use.
 * Output: one "name value unit" line per result, for bench/keys.sh.
 * The store runs in a temporary directory with synchronous=FULL.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/time.h"
#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "keys/envelope.h"
#include "keys/keys.h"
#include "keys/named.h"
#include "store/store.h"

static double seconds = 2.0;

static double now_s(void)
{
	return (double)mm_time_mono_ns() / 1e9;
}

static void die(const char *what, mm_err rc)
{
	fprintf(stderr, "bench_keys: %s: %s\n", what, mm_err_detail(rc));
	exit(1);
}

static void bench_engine(void)
{
	uint8_t key[32], pt[1024];
	mm_buf ct = MM_BUF_INIT(4096), payload = MM_BUF_INIT(4096), out = MM_BUF_INIT(4096);
	double t0, el;
	uint64_t n = 0;
	int64_t v;
	mm_err rc;

	mm_crypto_random(key, sizeof(key));
	mm_crypto_random(pt, sizeof(pt));
	t0 = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			mm_buf_reset(&ct);
			mm_buf_reset(&payload);
			mm_buf_reset(&out);
			if ((rc = mm_envelope_seal(key, 1, "ctx", 3, pt, sizeof(pt), &ct)) != MM_OK ||
			    (rc = mm_envelope_parse(ct.data, ct.len, &v, &payload)) != MM_OK ||
			    (rc = mm_envelope_open(key, "ctx", 3, (uint8_t *)payload.data, payload.len,
						   &out)) != MM_OK)
				die("engine", rc);
		}
		n += 1000;
	} while ((el = now_s() - t0) < seconds);
	if (out.len != sizeof(pt) || memcmp(out.data, pt, sizeof(pt)) != 0)
		die("engine round trip", MM_ERR_INTERNAL);
	printf("engine_pairs_per_s %.0f pairs/s\n", n / el);
	printf("engine_ops_per_s %.0f ops/s\n", 2 * n / el);
	mm_buf_release(&ct);
	mm_buf_release(&payload);
	mm_buf_wipe_release(&out);
}

#define BATCH 256

static void bench_batch(mm_keys *k)
{
	static mm_keys_item enc[BATCH], dec[BATCH];
	static uint8_t pt[1024];
	mm_keys_caller who = { "app:bench", NULL, NULL };
	double t0, el;
	uint64_t n = 0;
	mm_err rc;

	mm_crypto_random(pt, sizeof(pt));
	for (int i = 0; i < BATCH; i++) {
		enc[i].input = pt;
		enc[i].input_len = sizeof(pt);
		enc[i].context = "ctx";
		enc[i].context_len = 3;
		mm_buf_init(&enc[i].output, 4096);
		mm_buf_init(&enc[i].aux, 64);
		mm_buf_init(&dec[i].output, 4096);
		mm_buf_init(&dec[i].aux, 64);
	}
	t0 = now_s();
	do {
		for (int i = 0; i < BATCH; i++)
			mm_buf_reset(&enc[i].output);
		if ((rc = mm_keys_batch(k, &who, "bench", MM_KEYS_OP_ENCRYPT, NULL, enc, BATCH)) != MM_OK)
			die("batch encrypt", rc);
		for (int i = 0; i < BATCH; i++) {
			mm_buf_reset(&dec[i].output);
			dec[i].input = enc[i].output.data;
			dec[i].input_len = enc[i].output.len;
			dec[i].context = "ctx";
			dec[i].context_len = 3;
		}
		if ((rc = mm_keys_batch(k, &who, "bench", MM_KEYS_OP_DECRYPT, NULL, dec, BATCH)) != MM_OK)
			die("batch decrypt", rc);
		for (int i = 0; i < BATCH; i++)
			if (enc[i].result != MM_OK || dec[i].result != MM_OK)
				die("batch item", dec[i].result);
		n += BATCH;
	} while ((el = now_s() - t0) < seconds);
	printf("batch%d_pairs_per_s %.0f pairs/s\n", BATCH, n / el);
	printf("batch%d_ops_per_s %.0f ops/s\n", BATCH, 2 * n / el);
	for (int i = 0; i < BATCH; i++) {
		mm_buf_release(&enc[i].output);
		mm_buf_release(&enc[i].aux);
		mm_buf_wipe_release(&dec[i].output);
		mm_buf_release(&dec[i].aux);
	}
}

struct single_arg {
	mm_keys *k;
	double deadline;
	uint64_t pairs;
};

static void *single_main(void *p)
{
	struct single_arg *a = p;
	mm_keys_caller who = { "app:bench", NULL, NULL };
	uint8_t pt[1024];
	mm_buf ct = MM_BUF_INIT(4096), out = MM_BUF_INIT(4096);
	mm_err rc;

	mm_crypto_random(pt, sizeof(pt));
	while (now_s() < a->deadline) {
		mm_buf_reset(&ct);
		mm_buf_reset(&out);
		if ((rc = mm_keys_encrypt(a->k, &who, "bench", pt, sizeof(pt), "ctx", 3, &ct)) != MM_OK ||
		    (rc = mm_keys_decrypt(a->k, &who, "bench", ct.data, ct.len, "ctx", 3, &out)) != MM_OK)
			die("single", rc);
		a->pairs++;
	}
	mm_buf_release(&ct);
	mm_buf_wipe_release(&out);
	return NULL;
}

static void bench_single(mm_keys *k, int threads)
{
	struct single_arg a[64];
	pthread_t th[64];
	double t0 = now_s(), el;
	uint64_t n = 0;

	for (int i = 0; i < threads; i++) {
		a[i] = (struct single_arg){ k, t0 + seconds, 0 };
		pthread_create(&th[i], NULL, single_main, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		n += a[i].pairs;
	}
	el = now_s() - t0;
	printf("single_t%d_pairs_per_s %.0f pairs/s\n", threads, n / el);
}

static void bench_bulk(size_t size)
{
	uint8_t *buf = calloc(1, size), key[32], nonce[12] = { 0 }, tag[16];
	int per = size >= (1 << 20) ? 1 : 100;
	double t0, el;
	uint64_t n = 0;
	mm_err rc;

	if (buf == NULL)
		die("bulk", MM_ERR_NOMEM);
	mm_crypto_random(key, sizeof(key));
	t0 = now_s();
	do {
		for (int i = 0; i < per; i++) {
			nonce[0]++;
			nonce[1] += nonce[0] == 0;
			if ((rc = mm_aead_seal(key, nonce, NULL, 0, buf, size, buf, tag)) != MM_OK)
				die("bulk", rc);
		}
		n += (uint64_t)per;
	} while ((el = now_s() - t0) < seconds);
	if (size % 1024 == 0 && size >= (1 << 20))
		printf("bulk_%zuM_MBps %.1f MB/s\n", size >> 20, (double)n * size / el / 1e6);
	else
		printf("bulk_%zuk_MBps %.1f MB/s\n", size >> 10, (double)n * size / el / 1e6);
	free(buf);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "bulk-size", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[] = "/tmp/mm-bench-keys-XXXXXX", cmd[64];
	const char *only = NULL;
	int threads = 2, o;
	size_t bulk = 16384;
	mm_store_opts so = { .dir = dir, .sync_full = true };
	const mm_migration_set *sets[] = { &mm_audit_migrations, &mm_keys_migrations };
	mm_keys_create_opts co = { .type = MM_KEY_AES256_GCM };
	mm_keys_shares sh = { 0, NULL };
	mm_store *s = NULL;
	mm_keys *k = NULL;
	mm_keys_opts ko;
	mm_err rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': seconds = atof(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'o': only = optarg; break;
		case 'b': bulk = (size_t)atol(optarg); break;
		default:
			fprintf(stderr, "usage: bench_keys [--seconds S] [--threads N] "
					"[--only engine|batch|single|bulk] [--bulk-size BYTES]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || seconds <= 0 || bulk < 16 || bulk > (64u << 20))
		return 2;
	if (only == NULL || strcmp(only, "engine") == 0)
		bench_engine();
	if (only == NULL || strcmp(only, "bulk") == 0)
		bench_bulk(bulk);
	if (only != NULL && strcmp(only, "batch") != 0 && strcmp(only, "single") != 0)
		return 0;
	if (mkdtemp(dir) == NULL)
		return 1;
	if ((rc = mm_store_open(&so, &s)) != MM_OK || (rc = mm_store_migrate(s, sets, 2)) != MM_OK)
		die("store", rc);
	ko = (mm_keys_opts){ s, NULL };
	if ((rc = mm_keys_open(&ko, &k)) != MM_OK || (rc = mm_keys_init(k, NULL, 1, 1, &sh)) != MM_OK ||
	    (rc = mm_keys_unseal_submit(k, NULL, sh.shares[0], NULL)) != MM_OK ||
	    (rc = mm_keys_create(k, NULL, "bench", &co)) != MM_OK)
		die("keys", rc);
	mm_keys_shares_release(&sh);
	if (only == NULL || strcmp(only, "batch") == 0)
		bench_batch(k);
	if (only == NULL || strcmp(only, "single") == 0) {
		bench_single(k, 1);
		if (threads > 1)
			bench_single(k, threads);
	}
	mm_keys_close(k);
	mm_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
