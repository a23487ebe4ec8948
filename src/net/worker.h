#ifndef CINDER_NET_WORKER_H
#define CINDER_NET_WORKER_H
/* A worker: one thread, one uv loop, one listener, the connections it accepted, its pubsub and
 * the services registered with the server. Other threads reach it only through its inbox
 * (worker_submit, or the server's task poster by id), which it drains on a uv_async wake-up, so
 * nothing on the per-message path takes a lock. Tasks run with the worker's task context
 * (core/task.h): that is how any layer finds its per-worker state. */
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/task.h"
#include "net/listener.h"
#include "net/server.h"
#include "phx/phx_pubsub.h"

typedef struct conn conn_t;
typedef struct lp_registry lp_registry_t;

#define WORKER_READ_CHUNK 65536

struct worker {
  executor_t executor; /* first: tasks for this worker are submitted through it */
  task_ctx_t ctx;      /* what tasks run with: id, loop, poster, service slots (pubsub first) */
  int id;
  server_t *server;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wakeup;
  inbox_t inbox;
  listener_t listener;
  uv_timer_t sweep;  /* idle timeouts, close handshakes, drain deadline */
  uv_check_t flush;  /* after each loop iteration: write what sockets have queued */
  phx_pubsub_t pubsub;
  phx_subscriber_t kicks; /* on SERVER_KICK_TOPIC: "close every socket of this user" */
  conn_t *conns;     /* every open connection (doubly linked) */
  dict_t conns_by_id; /* 8-byte connection id -> conn_t*, for answers that arrive later */
  uint64_t next_conn_id;
  conn_t *flushq;    /* connections with output queued since the last flush */
  uv_write_t *wreq_pool; /* write requests not in use (linked through ->data): only a socket that
                            is writing holds one */
  size_t wreq_pooled;
  lp_registry_t *longpoll; /* its LongPoll sessions (net/longpoll.c), created on first use */
  log_limit_t refusal_log; /* connections refused by the caps, logged at most once a second */
  bool draining;
  bool drain_reported;
  uint64_t drain_deadline;
  /* One read buffer for all connections: a read is handled at once, and only an incomplete
   * tail is copied into the connection's own buffer, so idle sockets hold no read memory. */
  char read_chunk[WORKER_READ_CHUNK];
  /* Written by this worker, read by other threads (healthz, the sampler, metrics). */
  atomic_long connections;
  atomic_uint_fast64_t bytes_in;
  atomic_uint_fast64_t bytes_out;
};

/* Set up a worker on the main thread, around an already bound listening socket; starts the
 * server's services for it. */
int worker_init(worker_t *w, server_t *srv, int id, int listen_fd);
int worker_start(worker_t *w);
/* Wait for the thread to end (after a drain), then release the loop. */
void worker_join(worker_t *w);
/* Any thread: run t on the worker's thread (ownership passes), waking it if needed. */
void worker_submit(worker_t *w, task_t *t);
/* Ask a worker to drain (stop accepting, close every socket with 1012), to quiesce its services
 * or, once all are drained, to stop its loop. */
void worker_request_drain(worker_t *w);
void worker_request_stop(worker_t *w);
void worker_request_quiesce(worker_t *w);
/* A write request from the worker's pool (reused, so a steady state allocates nothing), and back. */
uv_write_t *worker_wreq_get(worker_t *w);
void worker_wreq_put(worker_t *w, uv_write_t *req);
/* A connection of this worker by id, or NULL once it has closed. */
conn_t *worker_find_conn(worker_t *w, uint64_t id);
/* The worker whose context a task runs with (NULL for a task only being released). */
worker_t *worker_of(task_ctx_t *ctx);

#endif
