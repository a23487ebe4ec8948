#ifndef CINDER_CLUSTER_H
#define CINDER_CLUSTER_H
/* The cluster: several cinder nodes that share topics, Presence and the HTTP API through Redis
 * pub/sub (issue 11). One per process, with its own thread (the bus) — see cluster_bus.c for the
 * protocol and docs/ARCHITECTURE.md "Cluster" for the whole picture.
 *
 * What the rest of the server sees:
 *  - cluster_link(): the hooks each worker's pubsub calls (phx_cluster_link_t) — a broadcast for
 *    every node, a member tracked or untracked here. They encode one bus message and hand it to
 *    the bus through a lock-free inbox: a worker never waits on Redis.
 *  - Received messages come back to the workers as tasks: broadcasts to every worker (built once
 *    per node, shared frames as usual), members of other nodes to the owner of their topic.
 *  - Status for /healthz and /metrics, the peers' activity samples, a cluster-wide topic query. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/task.h"
#include "phx/phx_pubsub.h"

typedef struct cluster cluster_t;

typedef struct cluster_config {
  const char *redis_url;  /* redis://[[user]:password@]host[:port][/db] */
  unsigned timeout_ms;    /* a peer not heard from for this long is down (default 5000) */
  size_t max_queue;       /* bus messages waiting for Redis past which new ones are dropped */
} cluster_config_t;

typedef struct cluster_stats {
  bool up;           /* connected to Redis and subscribed */
  int nodes;         /* live nodes, this one included */
  uint64_t messages_out, messages_in, dropped, invalid, reconnects;
} cluster_stats_t;

/* NULL with *why set when the URL is not valid. Starts nothing. */
cluster_t *cluster_new(const cluster_config_t *cfg, const char **why);
const phx_cluster_link_t *cluster_link(cluster_t *c);
const char *cluster_node_name(const cluster_t *c);
/* Start the bus thread: it connects (and reconnects) by itself. poster reaches every worker;
 * node_name (shown in logs, /healthz, /metrics, Presence metas; copied) must be set before any
 * worker runs, as the link's node_json is read by them. */
int cluster_start(cluster_t *c, const task_poster_t *poster, const char *node_name);
/* Say goodbye (the peers drop this node's members at once), flush within ~1 s, end the thread.
 * Call once the workers are quiesced, before they stop. */
void cluster_stop(cluster_t *c);
/* After the workers have ended (tasks they still held may name the cluster). */
void cluster_free(cluster_t *c);

void cluster_stats(cluster_t *c, cluster_stats_t *out);

/* This node's latest activity:server sample (JSON object text), sent with each heartbeat. */
void cluster_set_sample(cluster_t *c, const char *json, size_t len);
/* The latest sample of every live peer (not this node), under the peer table's lock. */
void cluster_each_peer_sample(cluster_t *c, void (*each)(void *arg, const char *json), void *arg);

/* --- leases: one holder of a name in the whole cluster (the owner of a document) ---------------
 * A lease is a Redis key cinder:lease:<name> holding the holder's incarnation with a TTL: taken
 * with SET NX PX, kept by renewing it (the same call: a holder that asks again extends its TTL),
 * given back by release (a compare-and-delete). The answer comes back as a task on `worker`:
 * done(ctx, name, result, holder), ctx being that worker's, with result CLUSTER_LEASE_HELD (this
 * node holds it now), CLUSTER_LEASE_TAKEN (another holds it: its incarnation in holder) or
 * CLUSTER_LEASE_UNKNOWN (Redis cannot be asked now: try again later). At shutdown an answer may
 * never come: the caller keeps nothing but the name to look its state up by. */
enum { CLUSTER_LEASE_UNKNOWN = -1, CLUSTER_LEASE_TAKEN = 0, CLUSTER_LEASE_HELD = 1 };
typedef void (*cluster_lease_fn)(task_ctx_t *ctx, const char *name, int result, uint64_t holder);
void cluster_lease_acquire(cluster_t *c, const char *name, unsigned ttl_ms, int worker,
                           cluster_lease_fn done);
void cluster_lease_release(cluster_t *c, const char *name);
/* This node's incarnation (random per start; how peers and lease holders are named). */
uint64_t cluster_self(const cluster_t *c);

/* --- messages of a layer above (documents) --------------------------------------------------------
 * An opaque body to one node (target: its incarnation) or to every other node (target 0). The
 * handler runs on the bus thread: it must only decode and post tasks. node_down(arg, node) tells
 * that a peer is gone (timed out, left, or restarted). Set before cluster_start. */
typedef struct cluster_app_handler {
  void (*message)(void *arg, uint64_t from, const uint8_t *body, size_t len);
  void (*node_down)(void *arg, uint64_t node);
  void *arg;
} cluster_app_handler_t;
void cluster_set_app_handler(cluster_t *c, const cluster_app_handler_t *h);
void cluster_send_app(cluster_t *c, uint64_t target, const void *body, size_t len);
const task_poster_t *cluster_poster(const cluster_t *c);

/* Every node's topics with their subscriber counts: answers (each a JSON array of
 * ["topic", count] pairs; a topic may appear in several) from this node and every live peer
 * that answered within 1 s, handed to done on `worker` (done frees nothing: the strings are
 * freed after it returns). */
typedef void (*cluster_topics_done_fn)(void *ctx, char **answers, size_t n);
void cluster_query_topics(cluster_t *c, int worker, cluster_topics_done_fn done, void *ctx);

#endif
