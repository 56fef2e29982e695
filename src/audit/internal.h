/*
 * internal.h: what the files of src/audit share (not a public interface).
 *
 * Tree storage: the tree is stored as tiles of height 4. Tile (t, i) holds
 * the hashes of the complete nodes (4t, 16i) .. (4t, 16i+k-1), k <= 16,
 * written by the group hook in the group's transaction. A full tile (k = 16)
 * never changes again; the last, partial tile of each level is rewritten by
 * each group that extends it, so every complete node of the committed tree
 * is one tile read away. Level 0 tiles hold the leaf hashes. A node missing
 * from the tiles (a database written before partial tiles) is recomputed
 * from the level below, or at level 0 from the event itself.
 */
#ifndef MM_AUDIT_INTERNAL_H
#define MM_AUDIT_INTERNAL_H

#include <pthread.h>

#include "audit/audit.h"
#include "audit/note.h"

#define TILE_H 4
#define TILE_W 16
#define TILE_LEVELS 16
#define HLEN MM_MERKLE_HASH_LEN

/* Reads complete nodes from the database (a read or the writer connection).
 * Caches one tile per level. size bounds the tree being read. */
typedef struct mm_audit_nodes {
	mm_db *db;
	struct {
		bool valid;
		unsigned count;
		uint64_t idx;
		uint8_t h[TILE_W][HLEN];
	} cache[TILE_LEVELS];
} mm_audit_nodes;

void mm_audit_nodes_init(mm_audit_nodes *n, mm_db *db);
/* mm_merkle_node_fn over a mm_audit_nodes. */
mm_err mm_audit_node_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HLEN]);
/* Looks up tile (t, idx): *ret_count is its number of hashes (0 when not
 * stored). Errors: MM_ERR_VERIFY (a damaged blob), MM_ERR_STORE. */
mm_err mm_audit_tile_get(mm_db *db, unsigned t, uint64_t idx, unsigned *ret_count,
			 uint8_t out[TILE_W][HLEN]);

/* Reads the event row seq into r (pointers valid until mm_stmt_done(st)).
 * Columns: the order of AUDIT_COLS. */
#define AUDIT_COLS "seq, time_ms, actor, action, target, result, source, request_id, details"
#define AUDIT_COLS_E "e.seq, e.time_ms, e.actor, e.action, e.target, e.result, e.source, " \
	"e.request_id, e.details"

/* The query index (index.c), in the companion database "audit_index". */
typedef struct mm_audit_index mm_audit_index;
/* Sequence numbers per row of audit_time_blocks (min/max time_ms). */
#define MM_AUDIT_TIME_BLOCK 1024
#define MM_AUDIT_TIME_BLOCK_S "1024"
/* Opens (creating, or rebuilding when it does not match this log) the
 * index of the log in s, whose tree has size events, and starts indexing.
 * Errors: those of mm_store_open_companion, MM_ERR_STORE. */
mm_err mm_audit_index_open(mm_store *s, int64_t size, mm_audit_index **ret);
/* Events [0, end) are committed: index them soon (any thread; NULL ok).
 * The _nowait form is the log writer's: it never waits for the index's
 * lock (whose holder may run on idle CPU only); a notification it could
 * not deliver is taken up by the index's next job or mm_audit_tick. */
void mm_audit_index_notify(mm_audit_index *ix, int64_t end);
void mm_audit_index_notify_nowait(mm_audit_index *ix, int64_t end);

/* An event as the index needs it (one allocation, strings after the struct:
 * mm_audit_index_entry_new; free()). The log's writer makes one per
 * appended event and, after the commit, hands the group's over so that the
 * index need not read them back from the primary. */
struct mm_audit_ix_entry {
	struct mm_audit_ix_entry *next;
	int64_t seq, time_ms;
	uint8_t leaf[HLEN];
	const char *actor, *action, *target; /* target may be NULL */
	char text[];
};
struct mm_audit_ix_entry *mm_audit_index_entry_new(const mm_audit_record *r,
						   const uint8_t leaf[HLEN]);
/* True while some open index takes hand-overs (none is open, or all their
 * queues are full): appends make entries only then. */
bool mm_audit_index_wants_entries(void);
/* Hands over the entries of the committed events [first, first + n), in
 * order (list linked by next; consumed in all cases). Any thread; takes no
 * lock. */
void mm_audit_index_handover(mm_audit_index *ix, int64_t first, struct mm_audit_ix_entry *list,
			     size_t n);
/* Waits until events [0, end) are indexed. Errors: MM_ERR_TIMEOUT. */
mm_err mm_audit_index_wait(mm_audit_index *ix, int64_t end, int64_t timeout_ms);
/* Events [0, result) are indexed; *ret_failures (may be NULL): index jobs
 * that failed so far; *ret_read (may be NULL): events indexed by reading
 * them back from the primary instead of from the writer's hand-over. */
int64_t mm_audit_index_upto(mm_audit_index *ix, uint64_t *ret_failures, uint64_t *ret_read);
/* Waits for a running index job, closes the companion. NULL ok. */
void mm_audit_index_close(mm_audit_index *ix);
void mm_audit_record_from_stmt(mm_stmt *st, mm_audit_record *r);
/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * of the n bytes at s, without C0 controls or DEL; a \n is allowed when
 * newline_ok, C1 controls (U+0080..U+009F) when c1_ok. (note.c) */
bool mm_audit_utf8_ok(const char *s, size_t n, bool newline_ok, bool c1_ok);
/* Leaf hash of the event seq, from its row. Errors: MM_ERR_NOT_FOUND. */
mm_err mm_audit_leaf_from_db(mm_db *db, int64_t seq, uint8_t out[HLEN]);
/* Stored tree size (audit_state) in the current transaction. */
mm_err mm_audit_state_size(mm_db *db, int64_t *ret);

struct tree_state {
	mm_merkle_frontier f;
	uint8_t tile[TILE_LEVELS][TILE_W][HLEN]; /* incomplete tile of each level */
};

struct mm_audit_log {
	mm_store *store;
	mm_audit_index *index;         /* set before the group hook exists */
	pthread_mutex_t mu;            /* guards cur, signer, stats, last_* */
	struct tree_state cur;         /* committed */
	struct tree_state next;        /* writer thread only, between pre and post */
	bool staged;

	char *origin;
	int64_t interval_ms;
	char *witness_file;
	char *witness_url;
	bool witness_syslog;
	int64_t witness_timeout_ms;

	bool have_signer;
	mm_audit_signer signer;
	char key_name[MM_NOTE_MAX_NAME + 1];

	pthread_mutex_t ckpt_mu;       /* serialises checkpoint issuance */
	int64_t last_ckpt_size;        /* -1 = none */
	int64_t last_ckpt_time;
	mm_audit_stats stats;
};

/* Publishes a checkpoint to the configured witnesses (checkpoint.c). */
void mm_audit_witness_publish(mm_audit_log *log, const mm_audit_checkpoint *c);

#endif
