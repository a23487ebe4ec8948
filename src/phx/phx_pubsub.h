#ifndef CINDER_PHX_PUBSUB_H
#define CINDER_PHX_PUBSUB_H
/* PubSub: topic subscriptions and broadcasts across all workers.
 *
 * Each worker owns one phx_pubsub_t: a table topic -> local subscribers. A broadcast is encoded
 * once into a phx_broadcast_t (refcounted frames, see core/frame.h), delivered to the local
 * subscribers, and handed by reference to every other worker as a task (the `submit` hook),
 * where that worker's pubsub delivers it to its own subscribers. No subscriber ever gets
 * a copy: each queues one more reference to the same frame.
 *
 * Frames are encoded per serializer: the V2 frame (text or binary) at creation, the V1 text frame
 * lazily by the first worker that has a V1 subscriber (a compare-and-swap publishes it). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dict.h"
#include "core/frame.h"
#include "core/service.h"
#include "core/task.h"

typedef struct phx_broadcast {
  atomic_uint refs;
  char *topic;
  char *event;
  bool binary;
  /* Broadcast-from: the id of the subscriber to skip (0: none). Ids are unique in the process,
   * so a broadcast made on another worker can name its origin safely. */
  uint64_t from_id;
  frame_t *frame_v2;         /* V2 JSON text frame, or kind-2 binary frame */
  _Atomic(frame_t *) frame_v1; /* V1 JSON text frame, built on first use; never for binary */
  _Atomic(frame_t *) frame_raw; /* PHX_RAW: the payload alone in a binary frame, on first use */
  char *payload_json;        /* kept for the lazy V1 encoding (JSON broadcasts only) */
  size_t payload_len;        /* of payload_json, or of the binary payload (frame_v2's tail) */
} phx_broadcast_t;

/* How a pubsub reaches the other nodes of a cluster (the `cluster/` layer provides it; NULL on a
 * single node). Every hook is called on a worker thread and must not block: it hands the change
 * to the node's bus. */
typedef struct phx_cluster_link {
  void *arg;
  /* This node's name as a JSON string, quotes included: added to the metas this node tracks
   * ("node"), so every list says where a member is connected. */
  const char *node_json;
  /* A broadcast made for every node (phx_pubsub_publish_cluster): send it to the others. */
  void (*publish)(void *arg, const phx_broadcast_t *bc);
  /* A member of this node was tracked (its meta: compact JSON with phx_ref) or untracked — called
   * by the topic's presence owner, in the order the changes happen. */
  void (*presence_track)(void *arg, const char *topic, uint64_t channel_id, const char *key,
                         const char *meta, size_t meta_len);
  void (*presence_untrack)(void *arg, const char *topic, uint64_t channel_id);
} phx_cluster_link_t;

/* A subscriber: embedded in what subscribes (a channel, a socket, a document). */
typedef struct phx_subscriber {
  void (*deliver)(struct phx_subscriber *sub, phx_broadcast_t *bc);
  uint64_t id;  /* unique in the process (phx_subscriber_next_id) */
  size_t index; /* position in its topic's array, for O(1) removal */
  void *topic;  /* the phx_topic_t it is in, NULL if not subscribed */
} phx_subscriber_t;

typedef struct phx_pubsub {
  int worker_id;
  /* The worker hosting this pubsub: its poster (how broadcasts, presence changes and replies
   * cross threads, by worker id) and its services (for channels). */
  task_ctx_t *ctx;
  dict_t topics; /* topic -> phx_topic_t* */
  dict_t channels; /* channel id (8 raw bytes) -> phx_channel_t*: the joined channels of this worker */
  bool draining; /* deliver nothing more (the worker is shutting down) */
  /* Counters, written by the owning worker only and read by the sampler on another thread. */
  atomic_uint_fast64_t messages_in;  /* Phoenix messages received */
  atomic_uint_fast64_t frames_out;   /* frames queued to sockets (pushes, replies, broadcasts) */
  atomic_uint_fast64_t broadcasts;   /* broadcasts published from this worker */
  atomic_long channels_joined;       /* channels joined now */
  dict_t presence;                   /* topic -> presence of the topics this worker owns */
  uint16_t presence_seq;             /* makes phx_refs of this worker unique (phx_presence.c) */
  /* The window over which a topic's presence changes are coalesced into one presence_diff
   * (phx_presence.h); 0: each change at once. Set before the worker runs. */
  unsigned presence_interval_ms;
  struct phx_presence_owner *presence_owner; /* phx_presence.c: pending topics, the timer */
  const phx_cluster_link_t *cluster; /* NULL: a single node. Set before the worker runs. */
} phx_pubsub_t;

/* A worker hosts its pubsub in the first slot of its task context (state: the phx_pubsub_t), so
 * a task finds it with phx_pubsub_of(ctx). Its stop hook closes the presence window's timer. */
extern const service_t phx_pubsub_service;
/* ctx: the hosting worker's context; its worker id and poster must be set. */
void phx_pubsub_init(phx_pubsub_t *ps, task_ctx_t *ctx);
/* The pubsub of the worker running a task (NULL when the task is only being released). */
phx_pubsub_t *phx_pubsub_of(task_ctx_t *ctx);
/* Run t on worker `worker` (possibly this one, then it is queued like any other task). */
void phx_pubsub_submit(phx_pubsub_t *ps, int worker, task_t *t);
/* The worker that owns a name (a presence topic): task_owner_of. */
int phx_pubsub_owner_of(const phx_pubsub_t *ps, const char *name);
/* Relaxed counter increment by the owning thread. */
#define PHX_COUNT(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
void phx_pubsub_free(phx_pubsub_t *ps);
uint64_t phx_subscriber_next_id(void);
/* A ref unique in the cluster, as Phoenix's (presence phx_refs): 15 bytes — nanosecond time, 3
 * random bytes drawn once per process, worker, this worker's sequence — in URL-safe base64. */
#define PHX_UNIQUE_REF_LEN 20
void phx_pubsub_unique_ref(phx_pubsub_t *ps, char out[PHX_UNIQUE_REF_LEN + 1]);
void phx_pubsub_subscribe(phx_pubsub_t *ps, const char *topic, phx_subscriber_t *sub);
void phx_pubsub_unsubscribe(phx_pubsub_t *ps, phx_subscriber_t *sub);
size_t phx_pubsub_local_count(const phx_pubsub_t *ps, const char *topic);

/* Build a broadcast (one reference). payload: JSON text, or binary bytes when binary. */
phx_broadcast_t *phx_broadcast_new(const char *topic, const char *event, bool binary,
                                   const void *payload, size_t len);
phx_broadcast_t *phx_broadcast_ref(phx_broadcast_t *bc);
void phx_broadcast_unref(phx_broadcast_t *bc);
/* The frame for a serializer version (1, 2 or PHX_RAW); NULL when there is none (binary for V1,
 * text for PHX_RAW). */
frame_t *phx_broadcast_frame(phx_broadcast_t *bc, int vsn);

/* The payload as given to phx_broadcast_new: the JSON text, or the binary bytes. */
const void *phx_broadcast_payload(const phx_broadcast_t *bc, size_t *len);

/* Publish from this worker to this node: deliver locally, post to all other workers. Consumes
 * one reference. For what concerns one node only (its activity samples, its presence diffs). */
void phx_pubsub_publish(phx_pubsub_t *ps, phx_broadcast_t *bc);
/* The same, and to every other node of the cluster (channel broadcasts, the HTTP API). */
void phx_pubsub_publish_cluster(phx_pubsub_t *ps, phx_broadcast_t *bc);
/* Deliver to every worker's subscribers, from any thread (a broadcast received from another
 * node). Consumes one reference. */
void phx_pubsub_post_all(const task_poster_t *poster, phx_broadcast_t *bc);
/* Deliver to this worker's subscribers only (called for broadcasts posted by other workers). */
void phx_pubsub_deliver_local(phx_pubsub_t *ps, phx_broadcast_t *bc);

#endif
