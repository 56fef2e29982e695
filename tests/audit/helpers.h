/* Shared test fixture for the audit tests: a temporary data directory, a
 * migrated store, an open audit log and a fresh in-memory Ed25519 signer. */
#ifndef MM_TESTS_AUDIT_HELPERS_H
#define MM_TESTS_AUDIT_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/note.h"
#include "audit/verify.h"
#include "crypto/sign.h"

struct fx {
	char dir[256];
	mm_store *s;
	mm_audit_log *log;
	mm_ed25519_key *key;
	mm_audit_signer signer;
	char vkey[512];
};

static mm_err fx_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	return mm_ed25519_sign(ctx, msg, len, sig);
}

static void fx_open_store(struct fx *f, const mm_audit_opts *o)
{
	mm_store_opts so = { .dir = f->dir, .sync_full = true };
	const mm_migration_set *sets[] = { &mm_audit_migrations };
	mm_audit_opts def = { .origin = "mamori.test/audit" };

	assert_int_equal(mm_store_open(&so, &f->s), MM_OK);
	assert_int_equal(mm_store_migrate(f->s, sets, 1), MM_OK);
	assert_int_equal(mm_audit_open(f->s, o ? o : &def, &f->log), MM_OK);
	assert_int_equal(mm_audit_set_signer(f->log, &f->signer), MM_OK);
}

static void fx_close_store(struct fx *f)
{
	mm_audit_close(f->log);
	mm_store_close(f->s);
	f->s = NULL;
	f->log = NULL;
}

static void fx_init(struct fx *f, const mm_audit_opts *o)
{
	mm_audit_note_key k;
	mm_buf v = MM_BUF_INIT(sizeof(f->vkey) - 1);

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/mm-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(mm_ed25519_generate(&f->key), MM_OK);
	assert_int_equal(mm_ed25519_export_public(f->key, f->signer.public_key), MM_OK);
	f->signer.key_name = "mamori.test/audit";
	f->signer.sign = fx_sign;
	f->signer.ctx = f->key;
	assert_int_equal(mm_audit_note_key_init(&k, f->signer.key_name, f->signer.public_key), MM_OK);
	assert_int_equal(mm_audit_note_vkey(&k, &v), MM_OK);
	snprintf(f->vkey, sizeof(f->vkey), "%s", mm_buf_str(&v));
	mm_buf_release(&v);
	fx_open_store(f, o);
}

static void fx_free(struct fx *f)
{
	char cmd[300];

	if (f->s != NULL)
		fx_close_store(f);
	mm_ed25519_key_free(f->key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

/* Appends n events actor-<i%5>, action-<i%3>, target-<i%7> with a details
 * object {"i": i}. */
static void fx_add(struct fx *f, int64_t first, int64_t n)
{
	const int64_t chunk = 1000;

	for (int64_t b = 0; b < n; b += chunk) {
		int64_t m = n - b < chunk ? n - b : chunk, seq = -1;
		mm_audit_event *evs = calloc((size_t)m, sizeof(*evs));
		char (*names)[3][32] = calloc((size_t)m, sizeof(*names));

		assert_non_null(evs);
		assert_non_null(names);
		for (int64_t i = 0; i < m; i++) {
			int64_t k = first + b + i;

			snprintf(names[i][0], 32, "user:actor-%d", (int)(k % 5));
			snprintf(names[i][1], 32, "action.%d", (int)(k % 3));
			snprintf(names[i][2], 32, "target-%d", (int)(k % 7));
			evs[i].time_ms = 1700000000000 + k;
			evs[i].actor = names[i][0];
			evs[i].action = names[i][1];
			evs[i].target = names[i][2];
			evs[i].result = k % 11 == 0 ? "failure" : "success";
			evs[i].source = k % 2 ? "10.0.0.1" : NULL;
			evs[i].request_id = k % 3 ? "req-1" : NULL;
			evs[i].details = json_pack("{s:I}", "i", (json_int_t)k);
		}
		assert_int_equal(mm_audit_submit(f->log, evs, (size_t)m, &seq), MM_OK);
		assert_int_equal(seq, first + b);
		for (int64_t i = 0; i < m; i++)
			json_decref((json_t *)evs[i].details);
		free(evs);
		free(names);
	}
}

#endif
