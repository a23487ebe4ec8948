#ifndef CINDER_CLUSTER_INTERNAL_H
#define CINDER_CLUSTER_INTERNAL_H
/* Shared by the files of the cluster layer only. Threads: the bus thread owns everything below
 * but the fields marked otherwise. */
#include <hiredis/async.h>
#include <stdatomic.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "cluster/cluster_msg.h"
#include "cluster/cluster_url.h"
#include "core/buf.h"
#include "core/dict.h"
#include "core/inbox.h"

/* What workers (and the bus itself) hand to the bus thread. */
typedef enum {
  BUS_PUBLISH,      /* data: an encoded message to publish (sequence stamped by the bus) */
  BUS_DUMP_DONE,    /* a worker finished its part of state transfer `id` */
  BUS_QUERY,        /* a worker asks the topics of every node (done, ctx on worker) */
  BUS_ANSWER_LOCAL, /* this node's own answer to query `id` (data: the JSON body) */
  BUS_STOP,
  BUS_LEASE,        /* acquire or renew lease `data` (a name) for ttl_ms; answer lease_done */
  BUS_RELEASE,      /* give lease `data` back */
} bus_item_kind_t;

/* Bounds of what waits for Redis, in bytes: handed over but not sent (the producers drop past
 * it), and sent but not answered (the bus holds the rest back). */
#define CLUSTER_MAX_QUEUE_BYTES ((size_t)64 << 20)
#define CLUSTER_MAX_INFLIGHT_BYTES ((size_t)8 << 20)

typedef struct bus_item {
  inbox_node_t node; /* first: the inbox's link */
  struct bus_item *next; /* the bus's queue while Redis is busy */
  bus_item_kind_t kind;
  uint64_t id;
  int worker;
  cluster_topics_done_fn done;
  cluster_lease_fn lease_done;
  unsigned ttl_ms;
  void *ctx;
  size_t len;
  uint8_t data[];
} bus_item_t;

typedef struct cluster_peer {
  uint64_t incarnation;
  uint32_t slot;      /* how this node's presence tables name the peer (never reused) */
  uint32_t epoch;     /* the state transfer asked for last */
  uint64_t last_seq;
  uint64_t last_seen; /* bus loop time, ms */
  char *name;         /* from its heartbeats (NULL until one came); under c->lock */
  char *sample;       /* its latest activity sample; under c->lock */
} cluster_peer_t;

typedef struct cluster_dump_job {
  struct cluster_dump_job *next;
  uint64_t id, target;
  uint32_t epoch;
  int remaining; /* workers yet to finish */
} cluster_dump_job_t;

typedef struct cluster_query {
  struct cluster_query *next;
  uint64_t id;
  int worker;
  cluster_topics_done_fn done;
  void *ctx;
  int expected; /* answers: this node + the peers live when asked */
  char **answers;
  size_t nanswers, capanswers;
  uint64_t deadline;
} cluster_query_t;

struct cluster {
  /* Immutable after cluster_new / cluster_start: read by any thread. */
  cluster_redis_url_t url;
  char *node_name, *node_json;
  uint64_t self; /* this incarnation */
  unsigned timeout_ms, beat_ms;
  size_t max_queue;
  phx_cluster_link_t link;
  const task_poster_t *poster;

  /* Producers (any thread) -> the bus. */
  inbox_t inbox;
  uv_async_t wake;
  atomic_size_t queued;          /* items handed over and not yet sent or dropped */
  atomic_size_t queued_bytes;    /* their bytes (capped at CLUSTER_MAX_QUEUE_BYTES) */
  atomic_uint_fast64_t lost;     /* dropped before getting a sequence: the bus skips as many */
  atomic_bool stopping;

  /* The bus thread. */
  uv_thread_t thread;
  bool thread_started;
  uv_loop_t loop;
  uv_timer_t beat, retry, stop_deadline;
  redisAsyncContext *pub, *sub;
  bool subscribed, stopped_loop;
  unsigned backoff_ms;
  uint64_t connect_started_ms; /* when the current connections were opened */
  uint64_t last_echo_ms;       /* when one of our own messages last came back */
  unsigned inflight;             /* PUBLISHes sent, not yet answered */
  size_t inflight_bytes;         /* their bytes: what hiredis buffers or Redis has to read */
  bus_item_t *queue_head, *queue_tail; /* waiting for inflight to fall */
  uint64_t seq;
  dict_t peers; /* incarnation (8 bytes) -> cluster_peer_t* */
  uint32_t next_slot;
  cluster_dump_job_t *jobs;
  cluster_query_t *queries;
  uint64_t next_id;
  uint64_t invalid_log_ms, invalid_skipped;

  cluster_app_handler_t app; /* set before start */

  /* Shared with other threads. */
  uv_mutex_t lock; /* peers' names and samples, and sample below */
  char *sample;
  atomic_bool up;
  atomic_int nodes;
  atomic_uint_fast64_t messages_out, messages_in, dropped, invalid, reconnects;
};

/* cluster_bus.c */
void cluster_push(cluster_t *c, bus_item_t *it);
bus_item_t *cluster_item_new(bus_item_kind_t kind, const void *data, size_t len);
void cluster_push_message(cluster_t *c, buf_t *msg); /* takes msg's bytes as a BUS_PUBLISH */
/* Bus thread: a received message. */
void cluster_bus_receive(cluster_t *c, const uint8_t *data, size_t len);
void cluster_bus_connected(cluster_t *c);
void cluster_bus_disconnected(cluster_t *c);
void cluster_bus_redis_closed(cluster_t *c); /* stopping: both connections are gone */

/* cluster_redis.c: the two connections (bus thread) */
void cluster_redis_connect(cluster_t *c);
/* Publish an item's message (stamped), or queue it behind the in-flight ones, or drop it when
 * Redis is not there. Takes the item. */
void cluster_redis_send(cluster_t *c, bus_item_t *it);
void cluster_redis_close(cluster_t *c);
/* Called every beat: a connection that hangs is taken for lost (cluster_redis.c). */
void cluster_redis_check(cluster_t *c);
/* After the goodbye: close gracefully (the pending replies first); cluster_bus_redis_closed when
 * done. */
void cluster_redis_stop(cluster_t *c);

/* cluster_lease.c (bus thread) */
void cluster_lease_run(cluster_t *c, bus_item_t *it); /* takes the item */
void cluster_lease_release_all(cluster_t *c);         /* at stop, before the goodbye */

/* cluster_tasks.c: work for the workers, posted by the bus thread */
void cluster_post_lease_done(cluster_t *c, int worker, cluster_lease_fn done, const char *name,
                             size_t name_len, int result, uint64_t holder);
void cluster_post_track(cluster_t *c, const cluster_str_t *topic, uint32_t slot, uint32_t epoch,
                        uint64_t channel_id, const cluster_str_t *key, const cluster_str_t *meta);
void cluster_post_untrack(cluster_t *c, const cluster_str_t *topic, uint32_t slot,
                          uint64_t channel_id);
void cluster_post_sweep(cluster_t *c, uint32_t slot, uint32_t before_epoch);
void cluster_post_dump(cluster_t *c, uint64_t job, uint64_t target, uint32_t epoch);
void cluster_post_topics(cluster_t *c, uint64_t target, uint64_t query_id);
void cluster_post_query_done(cluster_t *c, cluster_query_t *q);
void cluster_link_init(cluster_t *c);

#endif
