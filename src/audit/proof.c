/*
 * proof.c: inclusion and consistency proofs and historical roots, read from
 * the stored tiles inside one read transaction (a consistent snapshot: the
 * tree size and every node come from the same committed state).
 */
#include "audit/internal.h"

#include <inttypes.h>
#include <string.h>

struct snap {
	mm_store *s;
	mm_db *db;
	int64_t size;
	mm_audit_nodes nodes;
};

static mm_err snap_open(mm_store *s, struct snap *sn)
{
	mm_err rc;

	sn->s = s;
	if ((rc = mm_store_acquire(s, &sn->db)) != MM_OK)
		return rc;
	if ((rc = mm_db_begin(sn->db)) != MM_OK) {
		mm_store_release(s, sn->db);
		return rc;
	}
	if ((rc = mm_audit_state_size(sn->db, &sn->size)) != MM_OK) {
		mm_db_rollback(sn->db);
		mm_store_release(s, sn->db);
		return rc;
	}
	mm_audit_nodes_init(&sn->nodes, sn->db);
	return MM_OK;
}

static void snap_close(struct snap *sn)
{
	mm_db_rollback(sn->db);
	mm_store_release(sn->s, sn->db);
}

static mm_err root_of(struct snap *sn, int64_t size, uint8_t out[HLEN])
{
	if (size == 0) {
		mm_merkle_empty_root(out);
		return MM_OK;
	}
	return mm_merkle_range_hash(0, (uint64_t)size, mm_audit_node_get, &sn->nodes, out);
}

mm_err mm_audit_tree_size(mm_store *s, int64_t *ret)
{
	struct snap sn;
	mm_err rc;

	if ((rc = snap_open(s, &sn)) != MM_OK)
		return rc;
	*ret = sn.size;
	snap_close(&sn);
	return MM_OK;
}

mm_err mm_audit_root_at(mm_store *s, int64_t size, uint8_t root[HLEN])
{
	struct snap sn;
	mm_err rc;

	if ((rc = snap_open(s, &sn)) != MM_OK)
		return rc;
	if (size < 0 || size > sn.size)
		rc = mm_err_set(MM_ERR_NOT_FOUND, "the tree has %" PRId64 " events", sn.size);
	else
		rc = root_of(&sn, size, root);
	snap_close(&sn);
	return rc;
}

/* Resolves *size (0: the snapshot's tree) and checks that the snapshot has
 * a tree of that size. Errors: MM_ERR_NOT_FOUND. */
static mm_err snap_tree_size(const struct snap *sn, int64_t *size)
{
	if (*size == 0)
		*size = sn->size;
	if (*size < 0 || *size > sn->size)
		return mm_err_set(MM_ERR_NOT_FOUND, "tree size %" PRId64 " does not exist yet (the "
				  "tree has %" PRId64 " events)", *size, sn->size);
	return MM_OK;
}

mm_err mm_audit_inclusion_proof(mm_store *s, int64_t seq, int64_t size, mm_merkle_proof *ret,
				uint8_t leaf[HLEN], uint8_t root[HLEN])
{
	struct snap sn;
	uint8_t l[HLEN], r[HLEN];
	mm_err rc;

	if ((rc = snap_open(s, &sn)) != MM_OK)
		return rc;
	if ((rc = snap_tree_size(&sn, &size)) != MM_OK)
		goto out;
	if (seq < 0 || seq >= size) {
		rc = mm_err_set(MM_ERR_INVALID, "event %" PRId64 " is not in a tree of size %" PRId64,
				seq, size);
		goto out;
	}
	if ((rc = mm_merkle_inclusion_proof((uint64_t)seq, (uint64_t)size, mm_audit_node_get,
					    &sn.nodes, ret)) != MM_OK ||
	    (rc = mm_audit_node_get(&sn.nodes, 0, (uint64_t)seq, l)) != MM_OK ||
	    (rc = root_of(&sn, size, r)) != MM_OK)
		goto out;
	if (leaf != NULL)
		memcpy(leaf, l, HLEN);
	if (root != NULL)
		memcpy(root, r, HLEN);
out:
	snap_close(&sn);
	return rc;
}

mm_err mm_audit_consistency_proof(mm_store *s, int64_t from, int64_t to, mm_merkle_proof *ret,
				  uint8_t root1[HLEN], uint8_t root2[HLEN])
{
	struct snap sn;
	uint8_t r1[HLEN], r2[HLEN];
	mm_err rc;

	if ((rc = snap_open(s, &sn)) != MM_OK)
		return rc;
	if ((rc = snap_tree_size(&sn, &to)) != MM_OK)
		goto out;
	if (from < 0 || from > to) {
		rc = mm_err_set(MM_ERR_INVALID, "'from' must be between 0 and 'to'");
		goto out;
	}
	if ((rc = mm_merkle_consistency_proof((uint64_t)from, (uint64_t)to, mm_audit_node_get,
					      &sn.nodes, ret)) != MM_OK ||
	    (rc = root_of(&sn, from, r1)) != MM_OK || (rc = root_of(&sn, to, r2)) != MM_OK)
		goto out;
	if (root1 != NULL)
		memcpy(root1, r1, HLEN);
	if (root2 != NULL)
		memcpy(root2, r2, HLEN);
out:
	snap_close(&sn);
	return rc;
}
