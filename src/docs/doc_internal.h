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

/* A channel, wherever it is: its node (0: this one; else the node's incarnation, in a cluster),
 * its worker there and its id there. Ids are unique within a process only, so two channels are
 * the same only if node and id both match. */
typedef struct doc_chan {
  uint64_t node;
  uint64_t id;
  int worker;
} doc_chan_t;

static inline bool doc_chan_eq(const doc_chan_t *a, const doc_chan_t *b) {
  return a->id == b->id && a->node == b->node;
}

/* A channel subscribed to the document. */
typedef struct doc_sub {
  doc_chan_t chan;
  uint64_t *aw_ids;    /* awareness clients this channel announced: removed when it leaves */
  size_t n_aw, cap_aw;
} doc_sub_t;

/* A message that arrived while the document was loading (or its owner was being found). */
typedef struct doc_msg {
  struct doc_msg *next;
  doc_chan_t from;
  uint8_t *data;
  size_t len;
  struct doc_api_op *api; /* not a channel's message: an HTTP API operation (doc_api.c) */
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
typedef enum {
  DOC_LOADING,
  DOC_READY,
  DOC_RELOADING,
  DOC_UNLOADING,
  DOC_DEAD,
  /* In a cluster (doc_cluster.c), before and instead of the states above: */
  DOC_ACQUIRING, /* asking Redis for the document's lease; messages wait in `pending` */
  DOC_REMOTE,    /* another node owns it (`owner`): this node's channels are relayed there */
} doc_state_t;

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
  doc_chan_t aw_origin; /* the one channel the pending changes came from ... */
  bool aw_origin_multi;  /* ... unless they came from several (or from a channel that left) */
  bool aw_origin_set;
  uv_timer_t unload_timer;
  int handles_open;
  /* the cluster (doc_cluster.c) */
  uint64_t owner;        /* DOC_REMOTE: the node that owns it */
  bool leased;           /* this node holds the document's lease (and so owns it) */
  uint64_t lease_until;  /* loop time the lease is known to last until (renewals move it) */
  uv_timer_t lease_timer; /* renewal, or the next attempt to acquire */
  /* storage (doc_storage.c) */
  unsigned inflight;   /* storage requests not yet completed */
  unsigned generation; /* bumped on reload: completions of older generations are ignored */
  int64_t stored_seq;  /* last acknowledged sequence number */
  size_t stored_entries;
  bool compacting;     /* a compaction is in flight */
  /* The store is unreachable (STORE_EUNAVAIL, e.g. PostgreSQL restarting): appends stop, the
   * document keeps serving from memory (it holds every update: nothing else is kept, so nothing
   * grows), and a snapshot of the whole state is written once the store answers again, retried
   * every store_backoff_ms (250 ms doubling to 5 s). It is not unloaded meanwhile. */
  bool store_down;
  unsigned store_backoff_ms;
  uint64_t store_skipped; /* updates not appended while down (a snapshot taken before one of
                             them does not carry it: another snapshot follows) */
  uv_timer_t store_timer;
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
  uint64_t down[32];    /* nodes known down lately (a lease they still hold is not followed) */
  size_t ndown;
  atomic_long open;
  atomic_uint_fast64_t updates, awareness_updates, storage_writes;
};

#define DOCS_COUNT(docs, field) atomic_fetch_add_explicit(&(docs)->field, 1, memory_order_relaxed)

/* Messages must wait: the document is being loaded, or its owner being found. */
static inline bool doc_loading(const shared_doc_t *d) {
  return d->state == DOC_LOADING || d->state == DOC_RELOADING || d->state == DOC_ACQUIRING;
}

/* This node serves the document (it is loaded, or loading, here). */
static inline bool doc_served_here(const shared_doc_t *d) {
  return d->state != DOC_ACQUIRING && d->state != DOC_REMOTE && d->state != DOC_DEAD;
}

/* --- shared_doc.c ------------------------------------------------------------------------------ */
/* The document, loaded (or loading) — or NULL when it is not loaded and max_docs leaves no room
 * for it (after unloading an idle document of this worker, if there is one). */
shared_doc_t *doc_open(shared_docs_t *docs, const char *name);
/* The registry entry of a document this node does not serve (yet): DOC_ACQUIRING, not counted
 * against max_docs until it is loaded here (doc_cluster.c). */
shared_doc_t *doc_new_entry(shared_docs_t *docs, const char *name, doc_state_t state);
/* Take a unit of max_docs for a document about to load here (false: refused, logged). */
bool doc_admit(shared_doc_t *d);
shared_doc_t *doc_find(shared_docs_t *docs, const char *name);
doc_sub_t *doc_find_sub(shared_doc_t *d, const doc_chan_t *chan);
void doc_subscribe(shared_doc_t *d, const char *topic, const doc_chan_t *chan);
void doc_unsubscribe(shared_doc_t *d, const doc_chan_t *chan);
/* Handle one y-protocols message from a subscribed channel (the document is loaded). */
void doc_process(shared_doc_t *d, const doc_chan_t *from, const uint8_t *data, size_t len);
/* A binary `yjs` broadcast on every topic the document is joined under (on every node), skipping
 * `from` (NULL: nobody). */
void doc_broadcast(shared_doc_t *d, const uint8_t *payload, size_t len, const doc_chan_t *from);
/* Queue a message until the document is loaded or its owner known. Takes data. */
doc_msg_t *doc_queue_pending(shared_doc_t *d, const doc_chan_t *from, uint8_t *data, size_t len);
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
void doc_awareness_apply(shared_doc_t *d, const doc_chan_t *from, const uint8_t *u, size_t len);
/* The channel leaves: its awareness clients are removed and relayed as nulls. */
void doc_awareness_forget(shared_doc_t *d, doc_sub_t *s);
/* The y-protocols awareness message of every client with a state. */
void doc_awareness_snapshot(shared_doc_t *d, buf_t *out);

/* --- doc_tasks.c: answers to a channel, on its worker (on its node) --------------------------- */
/* Binary `yjs` pushes, one per part of `parts` (lengths in part_len). */
void doc_reply_binary(shared_doc_t *d, const doc_chan_t *to, const buf_t *parts,
                      const size_t *part_len, size_t nparts);
void doc_reply_text(shared_doc_t *d, const doc_chan_t *to, const char *event, const char *json);
/* `yjs_error` {"reason": reason} */
void doc_reply_error(shared_doc_t *d, const doc_chan_t *to, const char *reason);
/* `yjs_server_down` {} then phx_error: the document cannot be served. */
void doc_reply_crash(shared_doc_t *d, const doc_chan_t *to);
/* `yjs_error` {"reason": reason} then phx_error: a join refused after its ok reply. */
void docs_reply_refuse(shared_docs_t *docs, const doc_chan_t *to, const char *reason);

/* What a channel is told, as it travels: to a worker of this node as a task, or to another node
 * inside a bus message (doc_cluster.c), where it becomes the same task. */
typedef enum {
  CHAN_PUSH_BINARY, /* one or more binary `yjs` pushes, in order */
  CHAN_PUSH_TEXT,   /* one text push: event + JSON payload */
  CHAN_CRASH,       /* one text push (`yjs_server_down` {}, `yjs_error` {...}), then crash the
                     * channel (phx_error) */
} chan_task_kind_t;
#define CHAN_MAX_PARTS 3
#define CHAN_EVENT_MAX 32
typedef struct chan_note {
  chan_task_kind_t kind;
  char event[CHAN_EVENT_MAX];
  const uint8_t *payload; /* binary: the parts back to back; text: JSON */
  size_t len;
  size_t nparts;
  size_t part_len[CHAN_MAX_PARTS];
} chan_note_t;
/* Deliver a note to channel `id` on this node's worker `worker` (a task). */
void doc_chan_note_post(const task_poster_t *poster, int worker, uint64_t id,
                        const chan_note_t *note);

/* Channel -> document, as tasks to the document's worker on this node; `from` may be a channel
 * of another node (its messages relayed by the bus). */
typedef enum { DOC_TASK_JOIN, DOC_TASK_MESSAGE, DOC_TASK_LEAVE } doc_task_kind_t;
void doc_task_post(const task_poster_t *poster, doc_task_kind_t kind, const char *name,
                   const char *topic, const doc_chan_t *from, const uint8_t *data, size_t len);

/* --- doc_api.c: the HTTP document API ---------------------------------------------------------- */
/* Run (the document is loaded) or answer without running (DOC_REMOTE: 409; gone: 503). */
void doc_api_run(shared_doc_t *d, struct doc_api_op *op);
void doc_api_refuse(shared_docs_t *docs, struct doc_api_op *op, int status, const char *why);
/* An update from the API, applied as an edit of no channel: 0, or -1 with the reason in why. */
int doc_apply_external(shared_doc_t *d, const uint8_t *u, size_t len, char *why, size_t why_cap);

/* --- doc_cluster.c: documents across nodes ----------------------------------------------------- */
/* Whether documents are shared with other nodes (a cluster over a shared store). */
bool doc_clustered(const shared_docs_t *docs);
/* Ask for the document's lease (a DOC_ACQUIRING entry without a channel: the HTTP API's). */
void doc_cluster_acquire(shared_doc_t *d);
/* A channel of this node joins a document not served here: find its owner (or become it). */
void doc_cluster_join(shared_docs_t *docs, const char *name, const char *topic,
                      const doc_chan_t *from);
/* A message or leave of a channel of this node for a document owned elsewhere (DOC_REMOTE). */
void doc_cluster_forward(shared_doc_t *d, const doc_chan_t *from, const uint8_t *data, size_t len);
void doc_cluster_leave(shared_doc_t *d, const doc_chan_t *from);
/* A channel of another node asked a document this node does not serve: tell it so. */
void doc_cluster_not_owner(shared_docs_t *docs, const char *name, const doc_chan_t *from);
/* Send a note to a channel of another node. */
void doc_cluster_note(shared_docs_t *docs, const doc_chan_t *to, const chan_note_t *note);
/* The document was loaded here as owner: tell the nodes, resync the subscribers. */
void doc_cluster_loaded(shared_doc_t *d);
/* The document leaves the registry: give the lease back. */
void doc_cluster_gone(shared_doc_t *d);

#endif
