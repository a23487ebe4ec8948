#ifndef CINDER_DOCS_SHARED_DOC_H
#define CINDER_DOCS_SHARED_DOC_H
/* SharedDoc: one live Yjs document per name, owned by one worker (task_owner_of the name), the C
 * counterpart of the reference's per-document process (y_ex DocServer).
 *
 * Documents are a worker service (core/service.h): every worker hosts a shared_docs_t with the
 * documents it owns. Channels on any worker reach a document only through tasks posted, through
 * the injected task poster, to its owner: join, one y-protocols message, leave. The owner answers
 * a channel with tasks posted back to the channel's worker (binary `yjs` pushes, `yjs_resync`,
 * `yjs_server_down`), and fans document and awareness updates out through the ordinary pubsub.
 * Channels are named by id, never by pointer: a reply for a channel that has left meanwhile finds
 * nothing and is dropped.
 *
 * The owner loads the document from the storage thread on first join (messages that arrive
 * meanwhile wait), appends every update that changed it, compacts the stored log into one state
 * update past a threshold, and unloads the document a while after its last subscriber left.
 * A storage failure reloads the document and sends `yjs_resync`; a failed reload sends
 * `yjs_server_down` and crashes the channels (phx_error: phoenix.js rejoins later).
 *
 * Files: shared_doc.c (the registry, the lifecycle and y-protocols handling), doc_storage.c (the
 * conversation with the store), doc_awareness.c (the awareness relay), doc_tasks.c (the messages
 * between channels and documents). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/service.h"
#include "core/task.h"

struct store;
typedef struct shared_docs shared_docs_t;

/* Limits (0 = no limit; each refusal is one log line and a clear answer to the client, and
 * nothing of what was refused is applied or stored):
 *
 * max_doc_bytes: an update that would grow a document past it is refused: the sender gets
 *   `yjs_error` {"reason": "document too large"}; the other clients see nothing.
 *   The size of a document is measured cheaply, never by encoding its state per update:
 *     size = the bytes it was loaded from (the sum of its stored entries; 0 for a new one),
 *            or the exact length of its encoded state at the last compaction or measurement,
 *          + the bytes of every update event applied since (an update that leaves structs
 *            pending counts with its whole length, since pending structs are held too).
 *   An update of L bytes (as received) is refused when size + L > max_doc_bytes. Before refusing
 *   on an estimate, the owner measures the document exactly (one full state encoding), at most
 *   once a second per document.
 *   Bound: the estimate is above the encoded state by at most the bytes applied since the last
 *   exact measurement (deletions and overwritten map values count as growth; so do duplicate
 *   entries in the store), and below it by at most a few bytes per update applied since (an
 *   insertion that splits an item adds the right half's header, which the event does not
 *   carry). So an update is refused only if the document, measured exactly within the last
 *   second, plus the update events applied since, plus the update itself, passes the cap; and a
 *   document can pass the cap by at most those few split bytes per update. A stored document
 *   already over the cap (a lowered cap) still loads; updates to it are refused.
 *
 * max_docs (server-wide): documents counted in `loaded`, which every worker's documents share.
 *   A document counts from its first join until its unload starts (its final compaction is not
 *   counted: it is leaving, and a join during it brings it back over the cap, as loaded documents
 *   are never refused). Joining a document that is not loaded, at the cap, first unloads the
 *   least recently used idle document (no subscribers, waiting for its unload delay) of the
 *   owner worker — each worker can unload only its own documents; if the owner has none idle, the
 *   join is refused (even if another worker has idle ones): the channel gets `yjs_error`
 *   {"reason": "too many documents"}, then phx_error (see ydoc_channel.c for why not a join
 *   error), and phoenix.js rejoins later.
 *
 * max_awareness_states, max_awareness_state_bytes: an awareness update that would leave more
 *   states in the document, or carries a longer state (its JSON text), is refused whole:
 *   `yjs_error` {"reason": "too many awareness states" | "awareness state too large"}.
 *
 * max_doc_opens_per_min: enforced by the y_doc_room channel (channels/ydoc_channel.c). */
typedef struct shared_docs_config {
  struct store *store;          /* the storage thread */
  unsigned unload_ms;           /* a document without subscribers is unloaded after this */
  size_t compact_threshold;     /* stored entries that trigger a compaction */
  unsigned awareness_window_ms; /* awareness relay throttle (leading + trailing) */
  size_t max_doc_bytes;         /* an update that would grow a document's state past this is refused */
  size_t max_docs;              /* loaded at once per server; idle documents unload first */
  unsigned max_doc_opens_per_min; /* documents one socket may open per minute */
  size_t max_awareness_states;  /* awareness states per document */
  size_t max_awareness_state_bytes; /* one client's awareness state */
  /* Non-NULL: every document join is refused with this reason (a cluster over a store that its
   * nodes cannot share: two nodes would each keep and persist their own copy of a document). */
  const char *refuse_joins;
  /* Non-NULL: documents are shared with the other nodes of this cluster — one owner per document
   * in the whole cluster, chosen by a lease in Redis (doc_cluster.c). Needs a store every node
   * reaches (PostgreSQL). Register with doc_cluster_attach before the cluster starts. */
  struct cluster *cluster;
  /* Server-wide count of the documents held against max_docs, written by every worker (relaxed
   * atomics). Starts at 0 (a zeroed config); back at 0 once the service has been freed. */
  atomic_long loaded;
} shared_docs_config_t;

/* Documents across nodes: the bus hands this node's documents what other nodes send them. */
void doc_cluster_attach(shared_docs_config_t *cfg);

/* The service; its registration argument is a shared_docs_config_t that outlives the server. */
extern const service_t shared_docs_service;

/* The configuration the worker's document service was registered with; NULL if it hosts none.
 * For the y_doc_room channel's own limit (max_doc_opens_per_min). */
const shared_docs_config_t *shared_docs_config_of(task_ctx_t *ctx);

/* --- from a channel, on the channel's worker (from: that worker's context) ------------------- */
void shared_doc_join(task_ctx_t *from, const char *name, const char *topic, uint64_t channel_id);
/* msg is copied. */
void shared_doc_message(task_ctx_t *from, const char *name, uint64_t channel_id,
                        const uint8_t *msg, size_t len);
void shared_doc_leave(task_ctx_t *from, const char *name, uint64_t channel_id);

/* --- reading ---------------------------------------------------------------------------------- */
/* --- the HTTP document API (issue 14): a server-side reader and writer -------------------------
 * An operation on a document, from any worker: run by the document's worker once the document is
 * loaded (a cold one is loaded, served, and unloaded again after the unload delay, as when its
 * last client leaves); done runs on the asking worker with an HTTP status, a body (JSON, or an
 * update for STATE) and, on failure, a reason. In a cluster, a document owned by another node
 * answers 409 with that node. */
typedef enum {
  DOC_API_JSON,   /* the content as JSON (yjs_doc_to_json) */
  DOC_API_STATE,  /* the full state, or (data: a state vector) what a peer with it lacks */
  DOC_API_APPLY,  /* data: an update v1, applied as an edit: broadcast to every client, stored */
  DOC_API_DELETE, /* its clients get yjs_server_down, its entries are deleted */
} doc_api_op_t;
typedef struct doc_api_result {
  int status;        /* HTTP */
  bool binary;       /* body is an update (application/octet-stream), else JSON */
  uint8_t *body;     /* malloc'd; the callee takes it */
  size_t len;
} doc_api_result_t;
void shared_doc_api(task_ctx_t *from, const char *name, doc_api_op_t op, const uint8_t *data,
                    size_t len, void (*done)(void *ctx, doc_api_result_t *r), void *ctx);
/* The documents loaded on the running worker that this node serves, with their subscribers (on
 * every node): each(arg, name, clients). */
void shared_docs_each_served(task_ctx_t *ctx, void (*each)(void *arg, const char *name,
                                                            size_t clients), void *arg);

/* Counters of one worker's documents (its service state; NULL gives zeros), from any thread. */
typedef struct shared_docs_stats {
  long open;
  uint64_t updates;           /* updates that changed a document */
  uint64_t awareness_updates; /* awareness updates applied */
  uint64_t storage_writes;    /* appends and compactions committed */
} shared_docs_stats_t;
void shared_docs_stats(const shared_docs_t *docs, shared_docs_stats_t *out);

/* One sample per open document of the running worker, for its activity stream. */
typedef struct shared_doc_sample {
  const char *name;
  uint64_t instance; /* unique per load: totals restart when a document is loaded again */
  size_t subscribers;
  uint64_t updates, awareness_updates, bytes_in; /* totals since the document was loaded */
} shared_doc_sample_t;
void shared_docs_each(task_ctx_t *ctx, void (*fn)(void *arg, const shared_doc_sample_t *s),
                      void *arg);

#endif
