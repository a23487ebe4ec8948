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
#include <stddef.h>
#include <stdint.h>

#include "core/service.h"
#include "core/task.h"

struct store;
typedef struct shared_docs shared_docs_t;

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
} shared_docs_config_t;

/* The service; its registration argument is a shared_docs_config_t that outlives the server. */
extern const service_t shared_docs_service;

/* --- from a channel, on the channel's worker (from: that worker's context) ------------------- */
void shared_doc_join(task_ctx_t *from, const char *name, const char *topic, uint64_t channel_id);
/* msg is copied. */
void shared_doc_message(task_ctx_t *from, const char *name, uint64_t channel_id,
                        const uint8_t *msg, size_t len);
void shared_doc_leave(task_ctx_t *from, const char *name, uint64_t channel_id);

/* --- reading ---------------------------------------------------------------------------------- */
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
