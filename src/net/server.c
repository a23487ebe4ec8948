#include "net/server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "net/worker.h"

void server_config_defaults(server_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "127.0.0.1";
  cfg->port = 4000;
  cfg->workers = 0;
  cfg->socket_path = "/socket";
  cfg->yws_path = "/yjs";
  cfg->yws_topic_prefix = "y_doc_room:";
  cfg->max_message = 8u << 20;
  cfg->max_queue = 16u << 20;
  cfg->max_queue_hard = (size_t)256 << 20;
  cfg->queue_grace_ms = 30000;
  cfg->max_body = 1u << 20;
  cfg->idle_timeout_ms = 60000;
  cfg->message_timeout_ms = 30000;
  cfg->http_timeout_ms = 10000;
  cfg->shutdown_timeout_ms = 3000;
  cfg->max_channels = 100;
  cfg->max_joins_per_s = 20;
  cfg->max_topic = 255;
  cfg->max_json_depth = 64;
  cfg->max_json_elements = 100000;
  cfg->presence_interval_ms = 50;
}

/* Descriptors the process needs besides client connections: per worker its loop, wake-up,
 * listener and reserve; the main loop; the store's database, WAL and shared memory; stdio; and
 * room for what comes next (Redis, PostgreSQL, LongPoll bursts). */
#define SERVER_FD_RESERVE(nworkers) (64 + 8 * (size_t)(nworkers))

/* --max-connections: raise the soft descriptor limit to the hard one (as Redis does for
 * maxclients), then derive the default from it, keeping a reserve, so that the connection cap
 * is reached — and answered with 503 — before the process runs out of descriptors. */
static void server_limit_connections(server_t *srv) {
  struct rlimit rl;
  size_t fds = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      struct rlimit raised = {rl.rlim_max, rl.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    fds = rl.rlim_cur == RLIM_INFINITY ? (size_t)1 << 20 : (size_t)rl.rlim_cur;
  }
  size_t reserve = SERVER_FD_RESERVE(srv->nworkers);
  size_t derived = fds > reserve + 16 ? fds - reserve : 16;
  if (!srv->cfg.max_connections) {
    srv->cfg.max_connections = derived;
  } else if (srv->cfg.max_connections > derived) {
    log_warn("--max-connections %zu is above what %zu file descriptors allow (%zu); "
             "out-of-descriptor refusals will happen first", srv->cfg.max_connections, fds, derived);
  }
  log_info("accepting up to %zu connections (file descriptor limit %zu)",
           srv->cfg.max_connections, fds);
}

static void server_post(void *ctx, int worker, task_t *t) {
  server_t *srv = ctx;
  worker_submit(&srv->workers[worker], t);
}

server_t *server_new(const server_config_t *cfg) {
  server_t *srv = xcalloc(1, sizeof *srv);
  srv->cfg = *cfg;
  srv->nworkers = cfg->workers > 0 ? cfg->workers : (int)uv_available_parallelism();
  if (srv->nworkers < 1) srv->nworkers = 1;
  srv->poster = (task_poster_t){server_post, srv, srv->nworkers};
  if (srv->cfg.max_queue_hard < srv->cfg.max_queue) srv->cfg.max_queue_hard = srv->cfg.max_queue;
  server_limit_connections(srv);
  ip_limit_init(&srv->conns_per_ip, srv->cfg.max_conns_per_ip);
  ip_limit_init(&srv->longpoll_per_ip, srv->cfg.max_longpoll_per_ip);
  phx_router_init(&srv->router);
  const char *bad = NULL;
  if (cfg->check_origin && http_origin_list_parse(cfg->check_origin, &srv->origins, &bad) < 0) {
    log_error("--check-origin: malformed entry at '%s'", bad);
    server_free(srv);
    return NULL;
  }
  return srv;
}

void server_free(server_t *srv) {
  if (!srv) return;
  ip_limit_free(&srv->conns_per_ip);
  ip_limit_free(&srv->longpoll_per_ip);
  for (size_t i = 0; i < srv->nroutes; i++) free(srv->routes[i].path);
  free(srv->routes);
  phx_router_free(&srv->router);
  http_origin_list_free(&srv->origins);
  free(srv->workers);
  free(srv);
}

phx_router_t *server_router(server_t *srv) { return &srv->router; }

phx_socket_config_t server_socket_config(const server_t *srv) {
  const server_config_t *cfg = &srv->cfg;
  return (phx_socket_config_t){.max_channels = cfg->max_channels,
                               .router = &srv->router,
                               .max_joins_per_s = cfg->max_joins_per_s,
                               .max_topic = cfg->max_topic,
                               .max_json_depth = cfg->max_json_depth,
                               .max_json_elements = cfg->max_json_elements};
}

void server_route_add(server_t *srv, const char *path, http_route_fn fn, void *arg) {
  VEC_PUSH(srv->routes, srv->nroutes, srv->cap_routes, 8,
           ((http_route_t){xstrdup(path), fn, arg}));
}

const http_route_t *server_route_find(const server_t *srv, const char *path, size_t len) {
  for (size_t i = 0; i < srv->nroutes; i++)
    if (strlen(srv->routes[i].path) == len && !memcmp(srv->routes[i].path, path, len))
      return &srv->routes[i];
  /* "<prefix>/" and a star: everything below the prefix (the handler reads the rest) */
  for (size_t i = 0; i < srv->nroutes; i++) {
    size_t n = strlen(srv->routes[i].path);
    if (n >= 2 && srv->routes[i].path[n - 1] == '*' && len > n - 1 &&
        !memcmp(srv->routes[i].path, path, n - 1))
      return &srv->routes[i];
  }
  return NULL;
}

void server_add_service(server_t *srv, const service_t *svc, void *arg) {
  if (srv->nservices == sizeof srv->services / sizeof srv->services[0]) {
    log_error("too many services: %s not added", svc->name);
    abort(); /* a programming error: raise TASK_CTX_MAX_SERVICES */
  }
  srv->services[srv->nservices++] = (server_service_t){svc, arg};
}

void server_on_quiesced(server_t *srv, void (*fn)(void *arg), void *arg) {
  srv->on_quiesced = fn;
  srv->on_quiesced_arg = arg;
}

void server_on_started(server_t *srv, void (*fn)(void *arg), void *arg) {
  srv->on_started = fn;
  srv->on_started_arg = arg;
}

void server_on_health(server_t *srv, void (*fn)(void *arg, json_t *health), void *arg) {
  srv->on_health = fn;
  srv->on_health_arg = arg;
}

void server_set_cluster(server_t *srv, const phx_cluster_link_t *link) { srv->cluster_link = link; }

void *server_service_state(const server_t *srv, int worker, const service_t *svc) {
  if (worker < 0 || worker >= srv->nworkers || !srv->workers) return NULL;
  return task_ctx_service(&srv->workers[worker].ctx, svc);
}

#define SERVER_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
void server_stats(const server_t *srv, int worker, server_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (int i = worker < 0 ? 0 : worker; i < (worker < 0 ? srv->nworkers : worker + 1); i++) {
    const worker_t *w = &srv->workers[i];
    out->connections += SERVER_LOAD(w->connections);
    out->channels += SERVER_LOAD(w->pubsub.channels_joined);
    out->messages_in += SERVER_LOAD(w->pubsub.messages_in);
    out->frames_out += SERVER_LOAD(w->pubsub.frames_out);
    out->broadcasts += SERVER_LOAD(w->pubsub.broadcasts);
    out->bytes_in += SERVER_LOAD(w->bytes_in);
    out->bytes_out += SERVER_LOAD(w->bytes_out);
  }
}
#undef SERVER_LOAD

double server_uptime_s(const server_t *srv) {
  return (double)(clock_wall_ms() - srv->started_ms) / 1000.0;
}

/* Our listeners set SO_REUSEPORT, so a bind would quietly join the group of another cinder that
 * already serves this port. A socket without it binds only if nobody listens there. */
static int server_port_free(const char *host, int port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  if (getaddrinfo(host, portstr, &hints, &ai)) return 0; /* server_listen_fd reports it */
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1, ok = 1;
  if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
                  bind(fd, ai->ai_addr, ai->ai_addrlen))) {
    log_error("cannot listen on %s:%d: %s", host, port, strerror(errno));
    ok = 0;
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(ai);
  return ok;
}

/* One listening socket per worker, all bound to the same address with SO_REUSEPORT: the kernel
 * balances accepted connections across them, with no shared accept lock. */
static int server_listen_fd(const char *host, int *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", *port);
  int rc = getaddrinfo(host, portstr, &hints, &ai);
  if (rc) {
    log_error("cannot resolve %s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen)) {
    log_error("cannot listen on %s:%d: %s", host, *port, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  if (*port == 0) { /* the first socket picked a port; the others share it */
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  }
  return fd;
}

/* Memory goes back to the system after a peak. glibc keeps what the workers freed in its arenas
 * (one per thread), so after 19,000 sockets left the RSS would stay at its peak. Every
 * SERVER_TRIM_MS the main thread looks at how much the arenas hold free and, past
 * SERVER_TRIM_FREE bytes, calls malloc_trim, which returns the free pages of every arena. It runs
 * on the main thread, so no worker waits for it except on an arena lock for the moment it is
 * trimmed, and at most once per period. */
#define SERVER_TRIM_MS 5000
#define SERVER_TRIM_FREE ((size_t)16 << 20)

static void server_on_trim(uv_timer_t *t) {
  struct mallinfo2 before = mallinfo2();
  if (before.fordblks < SERVER_TRIM_FREE) return;
  malloc_trim(0);
  struct mallinfo2 after = mallinfo2();
  log_debug("memory: %zu MiB free in the heap, %zu MiB after returning it to the system",
            before.fordblks >> 20, after.fordblks >> 20);
  (void)t;
}

static void server_on_signal(uv_signal_t *h, int signum) {
  server_t *srv = h->data;
  if (atomic_load(&srv->workers_draining) != srv->nworkers) return; /* already draining */
  log_info("%s: draining", signum == SIGINT ? "SIGINT" : "SIGTERM");
  for (int i = 0; i < srv->nworkers; i++) worker_request_drain(&srv->workers[i]);
}

/* Shutdown, in three steps, each waiting for every worker:
 *   drain    — sockets closed with 1012; channels have left their documents;
 *   quiesce  — documents issue no more storage requests;
 *   stop     — after the store has committed everything queued and delivered every completion. */
static void server_on_drained(uv_async_t *h) {
  server_t *srv = h->data;
  for (int i = 0; i < srv->nworkers; i++) worker_request_quiesce(&srv->workers[i]);
}

static void server_on_all_quiesced(uv_async_t *h) {
  server_t *srv = h->data;
  /* The store closes here: it commits and delivers all that is queued before the workers stop. */
  if (srv->on_quiesced) srv->on_quiesced(srv->on_quiesced_arg);
  for (int i = 0; i < srv->nworkers; i++) worker_request_stop(&srv->workers[i]);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->all_drained, NULL);
  uv_close((uv_handle_t *)&srv->all_quiesced, NULL);
  uv_close((uv_handle_t *)&srv->trim, NULL);
}

int server_run(server_t *srv) {
  const server_config_t *cfg = &srv->cfg;
  srv->started_ms = clock_wall_ms();
  signal(SIGPIPE, SIG_IGN);

  int port = cfg->port;
  srv->workers = xcalloc((size_t)srv->nworkers, sizeof *srv->workers);
  atomic_init(&srv->workers_draining, srv->nworkers);
  atomic_init(&srv->workers_quiescing, srv->nworkers);
  int rc = port != 0 && !server_port_free(cfg->host, port);
  for (int i = 0; i < srv->nworkers && !rc; i++) {
    int fd = server_listen_fd(cfg->host, &port);
    if (fd < 0 || worker_init(&srv->workers[i], srv, i, fd) < 0) rc = 1;
  }
  if (rc) return 1;
  srv->cfg.port = port;
  if (srv->on_started) srv->on_started(srv->on_started_arg);

  uv_loop_init(&srv->main_loop);
  uv_signal_init(&srv->main_loop, &srv->sigint);
  uv_signal_init(&srv->main_loop, &srv->sigterm);
  srv->sigint.data = srv->sigterm.data = srv;
  uv_signal_start(&srv->sigint, server_on_signal, SIGINT);
  uv_signal_start(&srv->sigterm, server_on_signal, SIGTERM);
  uv_async_init(&srv->main_loop, &srv->all_drained, server_on_drained);
  srv->all_drained.data = srv;
  uv_async_init(&srv->main_loop, &srv->all_quiesced, server_on_all_quiesced);
  srv->all_quiesced.data = srv;
  uv_timer_init(&srv->main_loop, &srv->trim);
  srv->trim.data = srv;
  uv_timer_start(&srv->trim, server_on_trim, SERVER_TRIM_MS, SERVER_TRIM_MS);

  for (int i = 0; i < srv->nworkers; i++) worker_start(&srv->workers[i]);
  log_info("cinder %s listening on %s:%d (%d workers, socket at %s/websocket)", CINDER_VERSION,
           cfg->host, port, srv->nworkers, cfg->socket_path);

  uv_run(&srv->main_loop, UV_RUN_DEFAULT);
  for (int i = 0; i < srv->nworkers; i++) worker_join(&srv->workers[i]);
  uv_loop_close(&srv->main_loop);
  log_info("stopped");
  return 0;
}
