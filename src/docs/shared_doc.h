#ifndef CINDER_DOCS_SHARED_DOC_H
#define CINDER_DOCS_SHARED_DOC_H
/* SharedDoc: one live Yjs document per name, owned by one worker (chosen by hashing the name),
 * the C counterpart of the reference's per-document process (y_ex DocServer).
 *
 * Channels on any worker reach a document only through tasks posted to its owner: join, one
 * y-protocols message, leave. The owner answers a channel with tasks posted back to the
 * channel's worker (binary `yjs` pushes, `yjs_resync`, `yjs_server_down`), and fans document
 * and awareness updates out through the ordinary pubsub. Channels are named by id, never by
 * pointer: a reply for a channel that has left meanwhile finds nothing and is dropped.
 *
 * The owner loads the document from the storage thread on first join (messages that arrive
 * meanwhile wait), appends every update that changed it, compacts the stored log into one state
 * update past a threshold, and unloads the document a while after its last subscriber left.
 * A storage failure reloads the document and sends `yjs_resync`; a failed reload sends
 * `yjs_server_down` and crashes the channels (phx_error: phoenix.js rejoins later). */
#include <stddef.h>
#include <stdint.h>

typedef struct worker worker_t;
typedef struct shared_docs shared_docs_t;

/* --- from a channel's worker ------------------------------------------------------------------ */
void shared_doc_join(worker_t *from, const char *name, const char *topic, uint64_t channel_id);
/* msg is copied. */
void shared_doc_message(worker_t *from, const char *name, uint64_t channel_id, const uint8_t *msg,
                        size_t len);
void shared_doc_leave(worker_t *from, const char *name, uint64_t channel_id);

/* --- the owner's lifecycle -------------------------------------------------------------------- */
void shared_docs_init(worker_t *w);
/* Shutdown, step 1: issue no more storage requests (the store is about to close). */
void shared_docs_quiesce(worker_t *w);
/* Shutdown, step 2 (the store has closed and delivered every completion), on the worker's loop:
 * close the documents' timers so the loop can end. */
void shared_docs_stop(worker_t *w);
/* Shutdown, step 3, after the loop ended: free every document. */
void shared_docs_free(worker_t *w);
/* Counters of this worker's documents, readable from any thread. */
typedef struct shared_docs_stats {
  long open;
  uint64_t updates;           /* updates that changed a document */
  uint64_t awareness_updates; /* awareness updates applied */
  uint64_t storage_writes;    /* appends and compactions committed */
} shared_docs_stats_t;
void shared_docs_stats(const worker_t *w, shared_docs_stats_t *out);

/* One sample per open document, for its activity stream: calls fn on the owner's thread. */
typedef struct shared_doc_sample {
  const char *name;
  uint64_t instance; /* unique per load: totals restart when a document is loaded again */
  size_t subscribers;
  uint64_t updates, awareness_updates, bytes_in; /* totals since the document was loaded */
} shared_doc_sample_t;
void shared_docs_each(worker_t *w, void (*fn)(void *ctx, const shared_doc_sample_t *s), void *ctx);

#endif
