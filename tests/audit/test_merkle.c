/* Unit tests for the RFC 9162 Merkle tree: the published RFC 6962 / 9162
 * reference vectors (transparency-dev/merkle proof/verify_test.go), every
 * inclusion and consistency proof of trees up to 64 leaves against a naive
 * recursive implementation of the RFC definitions, and corrupted proofs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "audit/merkle.h"
#include "crypto/crypto.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(mm_hex_decode(s, out, n), MM_OK);
}

/* The standard 8-leaf test tree. */
static const char *const leaves_hex[] = { "", "00", "10", "2021", "3031", "40414243",
					  "5051525354555657",
					  "606162636465666768696a6b6c6d6e6f" };
static const char *const roots_hex[] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct vec {
	uint64_t a, b; /* inclusion: index, size; consistency: size1, size2 */
	size_t n;
	const char *h[3];
};

/* Published inclusion proofs (leaf index is 0-based here). */
static const struct vec inclusion_vecs[] = {
	{ 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 0, 1, 0, { NULL } },
};

static const struct vec consistency_vecs[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

#define MAXN 64
static uint8_t leaf[MAXN][32];
static size_t nleaves;

/* Naive MTH(D[a:b]) straight from RFC 9162 §2.1.1. */
static void mth(uint64_t a, uint64_t b, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k;

	if (b - a == 1) {
		memcpy(out, leaf[a], 32);
		return;
	}
	k = mm_merkle_split(b - a);
	mth(a, a + k, l);
	mth(a + k, b, r);
	mm_merkle_node_hash(l, r, out);
}

static mm_err mem_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	uint64_t a = index << level, b = (index + 1) << level;

	if (b > nleaves)
		return mm_err_set(MM_ERR_INVALID, "node beyond the tree");
	mth(a, b, out);
	return MM_OK;
}

/* Naive PATH and PROOF, literally as in the RFC, over mth(). */
static void naive_path(uint64_t m, uint64_t a, uint64_t b, mm_merkle_proof *p)
{
	uint64_t k;

	if (b - a == 1)
		return;
	k = mm_merkle_split(b - a);
	if (m < a + k) {
		naive_path(m, a, a + k, p);
		mth(a + k, b, p->h[p->n++]);
	} else {
		naive_path(m, a + k, b, p);
		mth(a, a + k, p->h[p->n++]);
	}
}

static void naive_subproof(uint64_t m, uint64_t a, uint64_t b, int flag, mm_merkle_proof *p)
{
	uint64_t k;

	if (m == b - a) {
		if (!flag)
			mth(a, b, p->h[p->n++]);
		return;
	}
	k = mm_merkle_split(b - a);
	if (m <= k) {
		naive_subproof(m, a, a + k, flag, p);
		mth(a + k, b, p->h[p->n++]);
	} else {
		naive_subproof(m - k, a + k, b, 0, p);
		mth(a, a + k, p->h[p->n++]);
	}
}

static void load_reference(void)
{
	for (size_t i = 0; i < 8; i++) {
		uint8_t d[16];
		size_t n = strlen(leaves_hex[i]) / 2;

		if (n > 0)
			hex(leaves_hex[i], d, n);
		mm_merkle_leaf_hash(d, n, leaf[i]);
	}
	nleaves = 8;
}

static void test_reference_roots(void **state)
{
	mm_merkle_frontier f;
	uint8_t want[32], got[32];

	load_reference();
	mm_merkle_frontier_init(&f);
	mm_merkle_frontier_root(&f, got);
	hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
	assert_memory_equal(got, want, 32);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(mm_merkle_frontier_append(&f, leaf[i], NULL, NULL), MM_OK);
		mm_merkle_frontier_root(&f, got);
		hex(roots_hex[i], want, 32);
		assert_memory_equal(got, want, 32);
		assert_int_equal(mm_merkle_range_hash(0, i + 1, mem_node, NULL, got), MM_OK);
		assert_memory_equal(got, want, 32);
	}
}

static void check_vec_proof(const struct vec *v, const mm_merkle_proof *p)
{
	uint8_t h[32];

	assert_int_equal(p->n, v->n);
	for (size_t i = 0; i < v->n; i++) {
		hex(v->h[i], h, 32);
		assert_memory_equal(p->h[i], h, 32);
	}
}

static void test_reference_inclusion(void **state)
{
	load_reference();
	for (size_t i = 0; i < sizeof(inclusion_vecs) / sizeof(inclusion_vecs[0]); i++) {
		const struct vec *v = &inclusion_vecs[i];
		mm_merkle_proof p;
		uint8_t root[32];

		nleaves = v->b;
		assert_int_equal(mm_merkle_inclusion_proof(v->a, v->b, mem_node, NULL, &p), MM_OK);
		check_vec_proof(v, &p);
		hex(roots_hex[v->b - 1], root, 32);
		assert_int_equal(mm_merkle_verify_inclusion(v->a, v->b, leaf[v->a],
							    (const uint8_t (*)[32])p.h, p.n, root),
				 MM_OK);
	}
}

static void test_reference_consistency(void **state)
{
	load_reference();
	for (size_t i = 0; i < sizeof(consistency_vecs) / sizeof(consistency_vecs[0]); i++) {
		const struct vec *v = &consistency_vecs[i];
		mm_merkle_proof p;
		uint8_t r1[32], r2[32];

		nleaves = v->b;
		assert_int_equal(mm_merkle_consistency_proof(v->a, v->b, mem_node, NULL, &p), MM_OK);
		check_vec_proof(v, &p);
		hex(roots_hex[v->a - 1], r1, 32);
		hex(roots_hex[v->b - 1], r2, 32);
		assert_int_equal(mm_merkle_verify_consistency(v->a, v->b, r1, r2,
							      (const uint8_t (*)[32])p.h, p.n),
				 MM_OK);
	}
}

static void make_leaves(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t d[2] = { (uint8_t)i, (uint8_t)(i * 7) };

		mm_merkle_leaf_hash(d, 2, leaf[i]);
	}
	nleaves = n;
}

static void test_all_inclusion_up_to_64(void **state)
{
	make_leaves(MAXN);
	for (uint64_t size = 1; size <= MAXN; size++) {
		uint8_t root[32];

		nleaves = size;
		mth(0, size, root);
		for (uint64_t i = 0; i < size; i++) {
			mm_merkle_proof p, q;

			assert_int_equal(mm_merkle_inclusion_proof(i, size, mem_node, NULL, &p), MM_OK);
			q.n = 0;
			naive_path(i, 0, size, &q);
			assert_int_equal(p.n, q.n);
			assert_memory_equal(p.h, q.h, p.n * 32);
			assert_int_equal(mm_merkle_verify_inclusion(i, size, leaf[i],
								    (const uint8_t (*)[32])p.h, p.n,
								    root), MM_OK);
			/* Wrong index, wrong leaf, flipped bit, truncated: all rejected. */
			if (size > 1)
				assert_int_equal(mm_merkle_verify_inclusion(
							 (i + 1) % size, size, leaf[i],
							 (const uint8_t (*)[32])p.h, p.n, root),
						 MM_ERR_VERIFY);
			assert_int_equal(mm_merkle_verify_inclusion(i, size, leaf[(i + 1) % MAXN],
								    (const uint8_t (*)[32])p.h, p.n,
								    root), MM_ERR_VERIFY);
			for (size_t k = 0; k < p.n; k++) {
				mm_merkle_proof c = p;

				c.h[k][0] ^= 8;
				assert_int_equal(mm_merkle_verify_inclusion(
							 i, size, leaf[i], (const uint8_t (*)[32])c.h,
							 c.n, root), MM_ERR_VERIFY);
			}
			if (p.n > 0)
				assert_int_equal(mm_merkle_verify_inclusion(
							 i, size, leaf[i], (const uint8_t (*)[32])p.h,
							 p.n - 1, root), MM_ERR_VERIFY);
			assert_int_equal(mm_merkle_verify_inclusion(i, size, leaf[i],
								    (const uint8_t (*)[32])p.h, p.n,
								    leaf[i]), size == 1 ? MM_OK : MM_ERR_VERIFY);
		}
	}
}

static void test_all_consistency_up_to_64(void **state)
{
	make_leaves(MAXN);
	for (uint64_t s2 = 1; s2 <= MAXN; s2++) {
		uint8_t r2[32];

		nleaves = s2;
		mth(0, s2, r2);
		for (uint64_t s1 = 1; s1 <= s2; s1++) {
			mm_merkle_proof p, q;
			uint8_t r1[32], bad[32];

			mth(0, s1, r1);
			assert_int_equal(mm_merkle_consistency_proof(s1, s2, mem_node, NULL, &p), MM_OK);
			q.n = 0;
			if (s1 < s2)
				naive_subproof(s1, 0, s2, 1, &q);
			assert_int_equal(p.n, q.n);
			assert_memory_equal(p.h, q.h, p.n * 32);
			assert_int_equal(mm_merkle_verify_consistency(s1, s2, r1, r2,
								      (const uint8_t (*)[32])p.h, p.n),
					 MM_OK);
			if (s1 == s2)
				continue;
			memcpy(bad, r1, 32);
			bad[5] ^= 1;
			assert_int_equal(mm_merkle_verify_consistency(s1, s2, bad, r2,
								      (const uint8_t (*)[32])p.h, p.n),
					 MM_ERR_VERIFY);
			assert_int_equal(mm_merkle_verify_consistency(s1, s2, r1, bad,
								      (const uint8_t (*)[32])p.h, p.n),
					 MM_ERR_VERIFY);
			for (size_t k = 0; k < p.n; k++) {
				mm_merkle_proof c = p;

				c.h[k][0] ^= 16;
				assert_int_equal(mm_merkle_verify_consistency(
							 s1, s2, r1, r2, (const uint8_t (*)[32])c.h, c.n),
						 MM_ERR_VERIFY);
			}
			assert_int_equal(mm_merkle_verify_consistency(s1, s2, r1, r2,
								      (const uint8_t (*)[32])p.h,
								      p.n - 1), MM_ERR_VERIFY);
			if (s1 > 1)
				assert_int_equal(mm_merkle_verify_consistency(
							 s1 - 1, s2, r1, r2, (const uint8_t (*)[32])p.h,
							 p.n), MM_ERR_VERIFY);
		}
	}
}

static void test_frontier_nodes_and_load(void **state)
{
	make_leaves(MAXN);
	for (uint64_t size = 0; size <= MAXN; size++) {
		mm_merkle_frontier a, b;
		uint8_t ra[32], rb[32];

		mm_merkle_frontier_init(&a);
		for (uint64_t i = 0; i < size; i++)
			assert_int_equal(mm_merkle_frontier_append(&a, leaf[i], NULL, NULL), MM_OK);
		nleaves = MAXN;
		assert_int_equal(mm_merkle_frontier_load(size, mem_node, NULL, &b), MM_OK);
		mm_merkle_frontier_root(&a, ra);
		mm_merkle_frontier_root(&b, rb);
		assert_memory_equal(ra, rb, 32);
		if (size > 0) {
			mth(0, size, rb);
			assert_memory_equal(ra, rb, 32);
		}
	}
	/* Appending an unaligned subtree is refused. */
	{
		mm_merkle_frontier f;

		mm_merkle_frontier_init(&f);
		assert_int_equal(mm_merkle_frontier_append(&f, leaf[0], NULL, NULL), MM_OK);
		assert_int_equal(mm_merkle_frontier_append_node(&f, 1, leaf[1]), MM_ERR_INVALID);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_roots),
		cmocka_unit_test(test_reference_inclusion),
		cmocka_unit_test(test_reference_consistency),
		cmocka_unit_test(test_all_inclusion_up_to_64),
		cmocka_unit_test(test_all_consistency_up_to_64),
		cmocka_unit_test(test_frontier_nodes_and_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
