#ifndef CINDER_DOCS_DOC_INTERNAL_H
#define CINDER_DOCS_DOC_INTERNAL_H
/* What the files of the document actor share (see shared_doc.h). Everything here runs on the
 * owner worker's thread, except the atomic counters, which other threads read. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/dict.h"
#include "docs/awareness.h"
#include "docs/shared_doc.h"
#include "phx/phx_pubsub.h"
#include "yjs/yjs.h"

/* A channel subscribed to the document. */
typedef struct doc_sub {
  uint64_t channel_id;
  int worker;          /* the channel's */
  uint64_t *aw_ids;    /* awareness clients this channel announced: removed when it leaves */
  size_t n_aw, cap_aw;
} doc_sub_t;

/* A message that arrived while the document was loading. */
typedef struct doc_msg {
  struct doc_msg *next;
  uint64_t channel_id;
  int worker;
  uint8_t *data;
  size_t len;
} doc_msg_t;

/* The lifecycle of a document, one state at a time:
 *   LOADING ──loaded──> READY ──last leave + unload delay──> UNLOADING ──compacted──> DEAD
 *      │                  │  ^                                  │
 *      │             write failed                          a join: back to READY
 *      │                  v  │
 *      │              RELOADING (clients had it: they get yjs_resync once it is loaded)
 *      └──load failed (either load)──> DEAD (channels crashed)
 * A DEAD document has left the registry; it is freed once its storage requests have completed
 * and its timers are closed. Without subscribers a document is idle (in its worker's idle list)
 * until its unload starts: when the delay has passed, or earlier when max_docs needs the room
 * for another document of the same worker (the least recently used idle one goes first). */
typedef enum { DOC_LOADING, DOC_READY, DOC_RELOADING, DOC_UNLOADING, DOC_DEAD } doc_state_t;

typedef struct shared_doc {
  char *name;
  shared_docs_t *docs; /* the owner worker's documents */
  doc_state_t state;
  yjs_doc *ydoc;
  doc_sub_t *subs;
  size_t nsubs, cap_subs;
  char **topics;       /* the topics it was joined under (usually one) */
  size_t ntopics, cap_topics;
  doc_msg_t *pending, **pending_tail; /* messages that arrived while (re)loading */
  /* awareness (doc_awareness.c): the table, and the relay's leading + trailing window (§9.6) */
  awareness_t aw;
  uv_timer_t aw_timer;
  bool aw_window;
  uint64_t *aw_pending;
  size_t n_aw_pending, cap_aw_pending;
  uint64_t aw_origin; /* the one channel the pending changes came from; UINT64_MAX: several */
  bool aw_origin_set;
  uv_timer_t unload_timer;
  int handles_open;
  /* storage (doc_storage.c) */
  unsigned inflight;   /* storage requests not yet completed */
  unsigned generation; /* bumped on reload: completions of older generations are ignored */
  int64_t stored_seq;  /* last acknowledged sequence number */
  size_t stored_entries;
  bool compacting;     /* a compaction is in flight */
  /* size against max_doc_bytes (see shared_doc.h): an estimate, exact after a measurement */
  size_t size;
  bool size_exact;
  uint64_t size_next_measure; /* loop time before which no new measurement is made */
  /* max_docs: whether it holds one unit of cfg->loaded; its place in the owner's idle list
   * (no subscribers, waiting for its unload delay; least recently left first) */
  bool counted;
  bool idle;
  uint64_t idle_since; /* loop time */
  struct shared_doc *idle_prev, *idle_next;
  /* for the activity stream */
  uint64_t instance;
  uint64_t updates_applied;
  uint64_t awareness_applied;
  uint64_t bytes_in;
} shared_doc_t;

/* A worker's documents: the service state. */
struct shared_docs {
  shared_docs_config_t *cfg; /* shared by every worker: cfg->loaded is written by all */
  task_ctx_t *ctx;      /* the owner worker: its id, loop, poster and executor */
  phx_pubsub_t *pubsub; /* its pubsub: where document broadcasts are published */
  dict_t by_name;
  shared_doc_t *idle_head, *idle_tail; /* idle documents, least recently left first */
  bool quiesced;        /* shutting down: no more storage requests */
  atomic_long open;
  atomic_uint_fast64_t updates, awareness_updates, storage_writes;
};

#define DOCS_COUNT(docs, field) atomic_fetch_add_explicit(&(docs)->field, 1, memory_order_relaxed)

static inline bool doc_loading(const shared_doc_t *d) {
  return d->state == DOC_LOADING || d->state == DOC_RELOADING;
}

/* --- shared_doc.c ------------------------------------------------------------------------------ */
/* The document, loaded (or loading) — or NULL when it is not loaded and max_docs leaves no room
 * for it (after unloading an idle document of this worker, if there is one). */
shared_doc_t *doc_open(shared_docs_t *docs, const char *name);
shared_doc_t *doc_find(shared_docs_t *docs, const char *name);
doc_sub_t *doc_find_sub(shared_doc_t *d, uint64_t channel_id);
void doc_subscribe(shared_doc_t *d, const char *topic, uint64_t channel_id, int worker);
void doc_unsubscribe(shared_doc_t *d, uint64_t channel_id);
/* Handle one y-protocols message from a subscribed channel (the document is loaded). */
void doc_process(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *data,
                 size_t len);
/* A binary `yjs` broadcast on every topic the document is joined under, skipping `from`. */
void doc_broadcast(shared_doc_t *d, const uint8_t *payload, size_t len, uint64_t from);
/* Start the unload delay (the last subscriber left). */
void doc_schedule_unload(shared_doc_t *d);
/* It stops counting against max_docs (its unload started, or it left the registry). */
void doc_uncount(shared_doc_t *d);
/* Leave the registry when DEAD, and free once nothing refers to the document any more. */
void doc_maybe_free(shared_doc_t *d);
void doc_destroy(shared_doc_t *d);
void doc_drop_pending(shared_doc_t *d);
/* The load finished: hand the waiting messages to doc_process. */
void doc_run_pending(shared_doc_t *d);

/* --- doc_storage.c ----------------------------------------------------------------------------- */
void doc_start_load(shared_doc_t *d);
/* Storage or state can no longer be trusted: load the document again from storage. */
void doc_reload(shared_doc_t *d, const char *why);
void doc_persist(shared_doc_t *d, const uint8_t *update, size_t len);
/* Replace the stored log by one state update (no-op if one is in flight or nothing to gain). */
void doc_compact(shared_doc_t *d);

/* --- doc_awareness.c --------------------------------------------------------------------------- */
/* Apply an awareness update from a channel and relay the changes. */
void doc_awareness_apply(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *u,
                         size_t len);
/* The channel leaves: its awareness clients are removed and relayed as nulls. */
void doc_awareness_forget(shared_doc_t *d, doc_sub_t *s);
/* The y-protocols awareness message of every client with a state. */
void doc_awareness_snapshot(shared_doc_t *d, buf_t *out);

/* --- doc_tasks.c: answers to a channel on its worker ------------------------------------------- */
/* Binary `yjs` pushes, one per part of `parts` (lengths in part_len). */
void doc_reply_binary(shared_doc_t *d, int worker, uint64_t channel_id, const buf_t *parts,
                      const size_t *part_len, size_t nparts);
void doc_reply_text(shared_doc_t *d, int worker, uint64_t channel_id, const char *event,
                    const char *json);
/* `yjs_error` {"reason": reason} */
void doc_reply_error(shared_doc_t *d, int worker, uint64_t channel_id, const char *reason);
/* `yjs_server_down` {} then phx_error: the document cannot be served. */
void doc_reply_crash(shared_doc_t *d, int worker, uint64_t channel_id);
/* `yjs_error` {"reason": reason} then phx_error: a join refused after its ok reply. */
void docs_reply_refuse(shared_docs_t *docs, int worker, uint64_t channel_id, const char *reason);

#endif
