/*
 * merkle.h: RFC 9162 (Certificate Transparency v2) Merkle tree hashing,
 * compact ranges, inclusion and consistency proofs, and their verification.
 *
 * Hashing (RFC 9162 §2.1.1): leaf = SHA-256(0x00 || data), interior node =
 * SHA-256(0x01 || left || right), the empty tree = SHA-256(""). A tree of n
 * leaves splits at k, the largest power of two smaller than n.
 *
 * Nodes are addressed as (level, index): level 0 are leaves, and node
 * (l, i) is the root of the complete subtree over leaves [i*2^l, (i+1)*2^l).
 * Proof generation reads complete nodes through a callback, so the same code
 * serves an in-memory tree (tests) and the tiles stored in SQLite.
 *
 * Nothing here allocates; every function is thread-safe.
 */
#ifndef MM_AUDIT_MERKLE_H
#define MM_AUDIT_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MM_MERKLE_HASH_LEN 32
/* Upper bound on the number of hashes in any proof for a tree of < 2^63 leaves. */
#define MM_MERKLE_MAX_PROOF 128

void mm_merkle_leaf_hash(const void *data, size_t n, uint8_t out[MM_MERKLE_HASH_LEN]);
void mm_merkle_node_hash(const uint8_t left[MM_MERKLE_HASH_LEN],
			 const uint8_t right[MM_MERKLE_HASH_LEN], uint8_t out[MM_MERKLE_HASH_LEN]);
void mm_merkle_empty_root(uint8_t out[MM_MERKLE_HASH_LEN]);

/*
 * A compact range over leaves [0, size): the roots of the complete subtrees
 * that make up the tree, one per set bit of size. h[l] is meaningful only
 * when bit l of size is set. Appending is O(1) amortised hashing.
 */
typedef struct mm_merkle_frontier {
	uint64_t size;
	uint8_t h[64][MM_MERKLE_HASH_LEN];
} mm_merkle_frontier;

/* Called for every complete node that an append creates, the leaf itself
 * included (level 0), in increasing level. */
typedef mm_err (*mm_merkle_node_cb)(void *ctx, unsigned level, uint64_t index,
				    const uint8_t hash[MM_MERKLE_HASH_LEN]);

void mm_merkle_frontier_init(mm_merkle_frontier *f);
/* Appends one leaf hash. cb may be NULL; its error is returned (the
 * frontier is then in an unspecified state and must be discarded). */
mm_err mm_merkle_frontier_append(mm_merkle_frontier *f, const uint8_t leaf[MM_MERKLE_HASH_LEN],
				 mm_merkle_node_cb cb, void *ctx);
/* Appends the complete subtree (level, size >> level) with the given hash.
 * Errors: MM_ERR_INVALID when size is not a multiple of 2^level. */
mm_err mm_merkle_frontier_append_node(mm_merkle_frontier *f, unsigned level,
				      const uint8_t hash[MM_MERKLE_HASH_LEN]);
/* The root of the tree of f->size leaves (the empty root for size 0). */
void mm_merkle_frontier_root(const mm_merkle_frontier *f, uint8_t out[MM_MERKLE_HASH_LEN]);

/* Reads the hash of the complete node (level, index). */
typedef mm_err (*mm_merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
				    uint8_t out[MM_MERKLE_HASH_LEN]);

typedef struct mm_merkle_proof {
	size_t n;
	uint8_t h[MM_MERKLE_MAX_PROOF][MM_MERKLE_HASH_LEN];
} mm_merkle_proof;

/* MTH(D[begin:end]) for a range whose begin is a multiple of the largest
 * power of two < end - begin (every range the RFC recursion visits), or
 * any complete range. Errors: MM_ERR_INVALID, or fn's. */
mm_err mm_merkle_range_hash(uint64_t begin, uint64_t end, mm_merkle_node_fn fn, void *ctx,
			    uint8_t out[MM_MERKLE_HASH_LEN]);

/* Builds the frontier of [0, size) from complete nodes. Errors: fn's. */
mm_err mm_merkle_frontier_load(uint64_t size, mm_merkle_node_fn fn, void *ctx,
			       mm_merkle_frontier *ret);

/* RFC 9162 §2.1.3.1 PATH(index, D[size]). Errors: MM_ERR_INVALID (index >=
 * size), or fn's. */
mm_err mm_merkle_inclusion_proof(uint64_t index, uint64_t size, mm_merkle_node_fn fn, void *ctx,
				 mm_merkle_proof *ret);
/* RFC 9162 §2.1.4.1 PROOF(size1, D[size2]); empty when size1 == 0 or
 * size1 == size2. Errors: MM_ERR_INVALID (size1 > size2), or fn's. */
mm_err mm_merkle_consistency_proof(uint64_t size1, uint64_t size2, mm_merkle_node_fn fn,
				   void *ctx, mm_merkle_proof *ret);

/* RFC 9162 §2.1.3.2. Returns MM_OK or MM_ERR_VERIFY (with a detail). */
mm_err mm_merkle_verify_inclusion(uint64_t index, uint64_t size,
				  const uint8_t leaf[MM_MERKLE_HASH_LEN],
				  const uint8_t (*proof)[MM_MERKLE_HASH_LEN], size_t n,
				  const uint8_t root[MM_MERKLE_HASH_LEN]);
/* RFC 9162 §2.1.4.2 (with size1 == 0 and size1 == size2 handled as in
 * RFC 9162: an empty proof). Returns MM_OK or MM_ERR_VERIFY. */
mm_err mm_merkle_verify_consistency(uint64_t size1, uint64_t size2,
				    const uint8_t root1[MM_MERKLE_HASH_LEN],
				    const uint8_t root2[MM_MERKLE_HASH_LEN],
				    const uint8_t (*proof)[MM_MERKLE_HASH_LEN], size_t n);

/* Largest power of two strictly smaller than n (n >= 2). */
uint64_t mm_merkle_split(uint64_t n);

#endif
