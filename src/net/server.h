#ifndef CINDER_NET_SERVER_H
#define CINDER_NET_SERVER_H
/* The server process: W workers, each a thread with its own uv loop and its own SO_REUSEPORT
 * listener (the kernel spreads new connections over them); a connection stays on its worker for
 * life. The main thread only waits for signals and then drains the workers.
 *
 * The server knows sockets, HTTP and the Phoenix protocol, nothing above them. What the
 * application adds is registered before server_run, as Redis registers hooks with `ae`:
 *   - channel routes in the server's router (server_router),
 *   - HTTP routes (server_route_add),
 *   - worker services (server_add_service): per-worker state and its lifecycle (core/service.h),
 *   - one hook between the shutdown's quiesce and stop steps (server_on_quiesced: the store
 *     closes there). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/service.h"
#include "core/task.h"
#include "http/http_origin.h"
#include "net/http_handler.h"
#include "net/ip_limit.h"
#include "phx/phx_channel.h"
#include "phx/phx_socket.h"

typedef struct worker worker_t;

/* The internal topic of "close every socket of a user" (POST /api/disconnect): every worker of
 * every node subscribes to it; no client can join it (no channel route matches it). Payload:
 * {"user": SUB}. Published with phx_pubsub_publish_cluster, it reaches every node. */
#define SERVER_INTERNAL_PREFIX "cinder:" /* internal topics: not listed by /api/topics */
#define SERVER_KICK_TOPIC SERVER_INTERNAL_PREFIX "disconnect"

typedef struct server_config {
  const char *host;
  int port;                   /* 0: pick a free port (logged at start) */
  int workers;                /* 0: one per CPU */
  const char *socket_path;    /* Phoenix socket mount, default "/socket" */
  /* The y-websocket endpoint: <yws_path>/<name> serves document <name> (joined as the topic
   * yws_topic_prefix<name>, the same document a y-phoenix-channel client of that name edits).
   * Default "/yjs"; empty: off. */
  const char *yws_path;
  const char *yws_topic_prefix;
  const char *web_root;       /* static files (net/static_files.h) for unrouted paths; NULL or "": none */
  size_t max_message;         /* WebSocket frame/message cap (1009 above it) */
  /* A socket's unsent output: over max_queue for longer than queue_grace_ms, or ever over
   * max_queue_hard, and the client is judged not to read (closed with 1013). One big message
   * (a document's sync) may pass max_queue; a client that keeps up drains it within the grace. */
  size_t max_queue;
  size_t max_queue_hard;
  unsigned queue_grace_ms;
  size_t max_body;            /* HTTP request body cap (413 above it) */
  unsigned idle_timeout_ms;   /* WebSocket: no frame for this long closes it */
  unsigned message_timeout_ms; /* a WebSocket message, once begun, completes within (+1 s / 64 KiB) */
  unsigned http_timeout_ms;   /* a request head must arrive within this (a body: +1 s / 64 KiB) */
  unsigned shutdown_timeout_ms;
  size_t max_channels;        /* per socket */
  unsigned max_joins_per_s;   /* per socket, a token bucket of max_channels */
  size_t max_topic;           /* bytes of a topic name */
  unsigned max_json_depth;    /* nesting of a client's JSON message */
  size_t max_json_elements;   /* values in a client's JSON message */
  size_t max_connections;     /* 0: the descriptor limit less a reserve */
  size_t max_conns_per_ip;    /* 0: none */
  size_t max_longpoll_per_ip; /* 0: none */
  const char *check_origin;   /* allowed Origins of the Phoenix socket (http/http_origin.h); NULL: any */
  unsigned presence_interval_ms; /* presence_diffs of a topic coalesced over this window (0: at once) */
  /* Access control: when set, a socket needs a valid token (connect param `token`, phoenix.js's
   * authToken sub-protocol, or LongPoll's X-Phoenix-AuthToken) — 403 otherwise, unless
   * auth_optional lets a socket without one in as anonymous. Owned by the caller. */
  const auth_t *auth;
  bool auth_optional;
} server_config_t;

typedef struct http_route {
  char *path;
  http_route_fn fn;
  void *arg;
} http_route_t;

typedef struct server_service {
  const service_t *svc;
  void *arg;
} server_service_t;

typedef struct server {
  server_config_t cfg;
  int nworkers;
  worker_t *workers;
  task_poster_t poster;       /* reaches workers[i] by id: injected into every layer that crosses threads */
  http_origin_list_t origins; /* parsed cfg.check_origin; empty: any origin */
  phx_router_t router;        /* topic patterns -> channel types */
  http_route_t *routes;       /* exact paths -> handlers (besides the socket and /healthz) */
  size_t nroutes, cap_routes;
  server_service_t services[TASK_CTX_MAX_SERVICES - 1]; /* slot 0 of a worker is its pubsub */
  size_t nservices;
  void (*on_quiesced)(void *arg);
  void *on_quiesced_arg;
  void (*on_started)(void *arg); /* ports bound, workers about to run */
  void *on_started_arg;
  void (*on_health)(void *arg, json_t *health); /* adds to /healthz */
  void *on_health_arg;
  const phx_cluster_link_t *cluster_link; /* given to every worker's pubsub; NULL: one node */
  atomic_long open_conns;     /* admitted connections, all workers (the --max-connections cap) */
  ip_limit_t conns_per_ip;    /* --max-conns-per-ip */
  ip_limit_t longpoll_per_ip; /* --max-longpoll-per-ip */
  uint64_t started_ms; /* wall clock, for uptime */
  uv_loop_t main_loop;
  uv_signal_t sigint, sigterm;
  uv_async_t all_drained;
  uv_async_t all_quiesced;
  uv_timer_t trim;            /* gives freed memory back to the system (server.c) */
  atomic_int workers_draining;
  atomic_int workers_quiescing;
} server_t;

void server_config_defaults(server_config_t *cfg);
/* A server ready for registrations; NULL (logged) if the configuration is unusable. */
server_t *server_new(const server_config_t *cfg);
void server_free(server_t *srv);

/* --- registration, before server_run ------------------------------------------------------- */
phx_router_t *server_router(server_t *srv);
/* A handler for an exact path (any method; the handler checks it); arg is passed to it. A path
 * ending in "/" followed by a star takes everything below it (exact paths are matched first). */
void server_route_add(server_t *srv, const char *path, http_route_fn fn, void *arg);
const http_route_t *server_route_find(const server_t *srv, const char *path, size_t len);
/* Every worker hosts the service, started with arg. */
void server_add_service(server_t *srv, const service_t *svc, void *arg);
/* Runs on the main thread once every worker has quiesced, before they stop. */
void server_on_quiesced(server_t *srv, void (*fn)(void *arg), void *arg);
/* Runs on the main thread once the listening port is known (cfg.port), before the workers run. */
void server_on_started(server_t *srv, void (*fn)(void *arg), void *arg);
/* Adds fields to the /healthz object (any worker thread: fn must be thread-safe). */
void server_on_health(server_t *srv, void (*fn)(void *arg, json_t *health), void *arg);
/* How the workers' pubsubs reach the other nodes (phx_pubsub_t.cluster). */
void server_set_cluster(server_t *srv, const phx_cluster_link_t *link);

/* Runs until SIGINT/SIGTERM, then drains every socket with close code 1012 and returns 0;
 * returns 1 if the server could not start. */
int server_run(server_t *srv);

/* What every Phoenix socket of this server is configured with. */
phx_socket_config_t server_socket_config(const server_t *srv);

/* --- reading the running server from any thread ---------------------------------------------- */
/* A worker's state of a service (NULL if not hosted). The pointer is stable while the server
 * runs; what it points to is the service's to make safe to read (relaxed atomic counters). */
void *server_service_state(const server_t *srv, int worker, const service_t *svc);

/* Counters of the sockets and the Phoenix layer, of one worker or (worker < 0) all of them. */
typedef struct server_stats {
  long connections;
  long channels;
  uint64_t messages_in, frames_out, broadcasts, bytes_in, bytes_out;
} server_stats_t;
void server_stats(const server_t *srv, int worker, server_stats_t *out);
/* Seconds since the server started. */
double server_uptime_s(const server_t *srv);

#endif
