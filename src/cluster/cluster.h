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

/* Every node's topics with their subscriber counts: answers (each a JSON array of
 * ["topic", count] pairs; a topic may appear in several) from this node and every live peer
 * that answered within 1 s, handed to done on `worker` (done frees nothing: the strings are
 * freed after it returns). */
typedef void (*cluster_topics_done_fn)(void *ctx, char **answers, size_t n);
void cluster_query_topics(cluster_t *c, int worker, cluster_topics_done_fn done, void *ctx);

#endif
