/*
 * merkle.c: RFC 9162 Merkle tree hashing, compact ranges and proofs (see
 * merkle.h). Proof generation follows the RFC's recursive definitions
 * (PATH, SUBPROOF) literally, with MTH of each visited range obtained from
 * complete nodes; verification follows the RFC's iterative algorithms.
 *
 * Invariant: every range passed to range_hash() has begin aligned to the
 * largest power of two below its length, so it decomposes into complete
 * nodes; a violation is reported as MM_ERR_INVALID, never computed wrongly.
 */
#include "audit/merkle.h"

#include <string.h>

#include "crypto/crypto.h"

void mm_merkle_leaf_hash(const void *data, size_t n, uint8_t out[MM_MERKLE_HASH_LEN])
{
	static const uint8_t zero = 0x00;

	mm_sha256_2(&zero, 1, data, n, out);
}

void mm_merkle_node_hash(const uint8_t left[MM_MERKLE_HASH_LEN],
			 const uint8_t right[MM_MERKLE_HASH_LEN], uint8_t out[MM_MERKLE_HASH_LEN])
{
	static const uint8_t one = 0x01;
	uint8_t buf[2 * MM_MERKLE_HASH_LEN];

	/* mm_sha256_2 uses the direct SHA-256 calls: the one-shot EVP path
	 * fetches the algorithm on every call, which costs more than the hash. */
	memcpy(buf, left, MM_MERKLE_HASH_LEN);
	memcpy(buf + MM_MERKLE_HASH_LEN, right, MM_MERKLE_HASH_LEN);
	mm_sha256_2(&one, 1, buf, sizeof(buf), out);
}

void mm_merkle_empty_root(uint8_t out[MM_MERKLE_HASH_LEN])
{
	mm_sha256("", 0, out);
}

uint64_t mm_merkle_split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k) /* k < n/2 without overflow: final k is the largest 2^j < n */
		k <<= 1;
	return k;
}

static bool is_pow2(uint64_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static unsigned log2u(uint64_t n)
{
	return 63u - (unsigned)__builtin_clzll(n);
}

void mm_merkle_frontier_init(mm_merkle_frontier *f)
{
	f->size = 0;
}

mm_err mm_merkle_frontier_append(mm_merkle_frontier *f, const uint8_t leaf[MM_MERKLE_HASH_LEN],
				 mm_merkle_node_cb cb, void *ctx)
{
	uint8_t h[MM_MERKLE_HASH_LEN];
	uint64_t idx = f->size;
	unsigned l = 0;
	mm_err rc;

	memcpy(h, leaf, sizeof(h));
	if (cb != NULL && (rc = cb(ctx, 0, idx, h)) != MM_OK)
		return rc;
	while (f->size & ((uint64_t)1 << l)) {
		mm_merkle_node_hash(f->h[l], h, h);
		l++;
		idx >>= 1;
		if (cb != NULL && (rc = cb(ctx, l, idx, h)) != MM_OK)
			return rc;
	}
	memcpy(f->h[l], h, sizeof(h));
	f->size++;
	return MM_OK;
}

mm_err mm_merkle_frontier_append_node(mm_merkle_frontier *f, unsigned level,
				      const uint8_t hash[MM_MERKLE_HASH_LEN])
{
	uint8_t h[MM_MERKLE_HASH_LEN];
	unsigned l = level;

	if (level >= 63 || (f->size & (((uint64_t)1 << level) - 1)) != 0)
		return mm_err_set(MM_ERR_INVALID, "merkle: node at level %u is not aligned", level);
	memcpy(h, hash, sizeof(h));
	while (f->size & ((uint64_t)1 << l)) {
		mm_merkle_node_hash(f->h[l], h, h);
		l++;
	}
	memcpy(f->h[l], h, sizeof(h));
	f->size += (uint64_t)1 << level;
	return MM_OK;
}

void mm_merkle_frontier_root(const mm_merkle_frontier *f, uint8_t out[MM_MERKLE_HASH_LEN])
{
	uint8_t r[MM_MERKLE_HASH_LEN];
	bool have = false;

	if (f->size == 0) {
		mm_merkle_empty_root(out);
		return;
	}
	for (unsigned l = 0; l < 64; l++) {
		if (!(f->size & ((uint64_t)1 << l)))
			continue;
		if (!have) {
			memcpy(r, f->h[l], sizeof(r));
			have = true;
		} else {
			mm_merkle_node_hash(f->h[l], r, r);
		}
	}
	memcpy(out, r, sizeof(r));
}

mm_err mm_merkle_range_hash(uint64_t begin, uint64_t end, mm_merkle_node_fn fn, void *ctx,
			    uint8_t out[MM_MERKLE_HASH_LEN])
{
	uint8_t l[MM_MERKLE_HASH_LEN], r[MM_MERKLE_HASH_LEN];
	uint64_t n = end - begin, k;
	mm_err rc;

	if (end <= begin)
		return mm_err_set(MM_ERR_INVALID, "merkle: empty range");
	if (is_pow2(n)) {
		if (begin % n != 0)
			return mm_err_set(MM_ERR_INVALID, "merkle: unaligned range");
		return fn(ctx, log2u(n), begin >> log2u(n), out);
	}
	k = mm_merkle_split(n);
	if ((rc = mm_merkle_range_hash(begin, begin + k, fn, ctx, l)) != MM_OK ||
	    (rc = mm_merkle_range_hash(begin + k, end, fn, ctx, r)) != MM_OK)
		return rc;
	mm_merkle_node_hash(l, r, out);
	return MM_OK;
}

mm_err mm_merkle_frontier_load(uint64_t size, mm_merkle_node_fn fn, void *ctx,
			       mm_merkle_frontier *ret)
{
	uint64_t off = 0;
	mm_err rc;

	for (int l = 63; l >= 0; l--) {
		if (!(size & ((uint64_t)1 << l)))
			continue;
		if ((rc = fn(ctx, (unsigned)l, off >> l, ret->h[l])) != MM_OK)
			return rc;
		off += (uint64_t)1 << l;
	}
	ret->size = size;
	return MM_OK;
}

static mm_err push_range(mm_merkle_proof *p, uint64_t a, uint64_t b, mm_merkle_node_fn fn,
			 void *ctx)
{
	if (p->n == MM_MERKLE_MAX_PROOF)
		return mm_err_set(MM_ERR_INTERNAL, "merkle: proof too long");
	return mm_merkle_range_hash(a, b, fn, ctx, p->h[p->n++]);
}

/* PATH(m, D[a:b]), m absolute. */
static mm_err path(uint64_t m, uint64_t a, uint64_t b, mm_merkle_node_fn fn, void *ctx,
		   mm_merkle_proof *p)
{
	uint64_t k;
	mm_err rc;

	if (b - a == 1)
		return MM_OK;
	k = mm_merkle_split(b - a);
	if (m < a + k) {
		if ((rc = path(m, a, a + k, fn, ctx, p)) != MM_OK)
			return rc;
		return push_range(p, a + k, b, fn, ctx);
	}
	if ((rc = path(m, a + k, b, fn, ctx, p)) != MM_OK)
		return rc;
	return push_range(p, a, a + k, fn, ctx);
}

mm_err mm_merkle_inclusion_proof(uint64_t index, uint64_t size, mm_merkle_node_fn fn, void *ctx,
				 mm_merkle_proof *ret)
{
	if (index >= size)
		return mm_err_set(MM_ERR_INVALID, "leaf %llu is not in a tree of size %llu",
				  (unsigned long long)index, (unsigned long long)size);
	ret->n = 0;
	return path(index, 0, size, fn, ctx, ret);
}

/* SUBPROOF(m, D[a:b], bflag), m relative to a. */
static mm_err subproof(uint64_t m, uint64_t a, uint64_t b, bool bflag, mm_merkle_node_fn fn,
		       void *ctx, mm_merkle_proof *p)
{
	uint64_t n = b - a, k;
	mm_err rc;

	if (m == n)
		return bflag ? MM_OK : push_range(p, a, b, fn, ctx);
	k = mm_merkle_split(n);
	if (m <= k) {
		if ((rc = subproof(m, a, a + k, bflag, fn, ctx, p)) != MM_OK)
			return rc;
		return push_range(p, a + k, b, fn, ctx);
	}
	if ((rc = subproof(m - k, a + k, b, false, fn, ctx, p)) != MM_OK)
		return rc;
	return push_range(p, a, a + k, fn, ctx);
}

mm_err mm_merkle_consistency_proof(uint64_t size1, uint64_t size2, mm_merkle_node_fn fn,
				   void *ctx, mm_merkle_proof *ret)
{
	if (size1 > size2)
		return mm_err_set(MM_ERR_INVALID, "size %llu is larger than size %llu",
				  (unsigned long long)size1, (unsigned long long)size2);
	ret->n = 0;
	if (size1 == 0 || size1 == size2)
		return MM_OK;
	return subproof(size1, 0, size2, true, fn, ctx, ret);
}

static mm_err bad(const char *what)
{
	return mm_err_set(MM_ERR_VERIFY, "%s", what);
}

mm_err mm_merkle_verify_inclusion(uint64_t index, uint64_t size,
				  const uint8_t leaf[MM_MERKLE_HASH_LEN],
				  const uint8_t (*proof)[MM_MERKLE_HASH_LEN], size_t n,
				  const uint8_t root[MM_MERKLE_HASH_LEN])
{
	uint8_t r[MM_MERKLE_HASH_LEN];
	uint64_t fn, sn;

	if (index >= size)
		return bad("inclusion proof: index is not smaller than the tree size");
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, sizeof(r));
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return bad("inclusion proof: too many hashes");
		if ((fn & 1) || fn == sn) {
			mm_merkle_node_hash(proof[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			mm_merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return bad("inclusion proof: too few hashes");
	if (!mm_crypto_equal(r, root, sizeof(r)))
		return bad("inclusion proof: the computed root does not match");
	return MM_OK;
}

mm_err mm_merkle_verify_consistency(uint64_t size1, uint64_t size2,
				    const uint8_t root1[MM_MERKLE_HASH_LEN],
				    const uint8_t root2[MM_MERKLE_HASH_LEN],
				    const uint8_t (*proof)[MM_MERKLE_HASH_LEN], size_t n)
{
	uint8_t fr[MM_MERKLE_HASH_LEN], sr[MM_MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;

	if (size1 > size2)
		return bad("consistency proof: the first tree is larger than the second");
	if (size1 == size2) {
		if (n != 0)
			return bad("consistency proof: must be empty for equal sizes");
		if (!mm_crypto_equal(root1, root2, MM_MERKLE_HASH_LEN))
			return bad("consistency proof: equal sizes with different roots");
		return MM_OK;
	}
	if (size1 == 0)
		return n == 0 ? MM_OK : bad("consistency proof: must be empty from size 0");
	if (n == 0)
		return bad("consistency proof: empty");
	if (is_pow2(size1)) {
		memcpy(fr, root1, sizeof(fr));
	} else {
		memcpy(fr, proof[0], sizeof(fr));
		i = 1;
	}
	memcpy(sr, fr, sizeof(sr));
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return bad("consistency proof: too many hashes");
		if ((fn & 1) || fn == sn) {
			mm_merkle_node_hash(proof[i], fr, fr);
			mm_merkle_node_hash(proof[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			mm_merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return bad("consistency proof: too few hashes");
	if (!mm_crypto_equal(fr, root1, MM_MERKLE_HASH_LEN))
		return bad("consistency proof: does not lead to the first root");
	if (!mm_crypto_equal(sr, root2, MM_MERKLE_HASH_LEN))
		return bad("consistency proof: does not lead to the second root");
	return MM_OK;
}
