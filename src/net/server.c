#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "activity/activity.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/http_handler.h"
#include "net/worker.h"
#include "phx/phx_channel.h"
#include "store/store.h"

void server_config_defaults(server_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "127.0.0.1";
  cfg->port = 4000;
  cfg->workers = 0;
  cfg->data_dir = "./data";
  cfg->socket_path = "/socket";
  cfg->max_message = 8u << 20;
  cfg->max_queue = 16u << 20;
  cfg->max_body = 1u << 20;
  cfg->idle_timeout_ms = 60000;
  cfg->http_timeout_ms = 10000;
  cfg->shutdown_timeout_ms = 3000;
  cfg->max_channels = 100;
  cfg->doc_prefixes = "y_doc_room:";
  cfg->doc_unload_ms = 5000;
  cfg->doc_compact_threshold = 400;
  cfg->awareness_window_ms = 50;
  cfg->activity_interval_ms = 1000;
  cfg->activity_history = 300;
  cfg->api_key = NULL;
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

static void server_on_quiesced(uv_async_t *h) {
  server_t *srv = h->data;
  if (srv->store) store_close(srv->store); /* commits and delivers all that is queued */
  srv->store = NULL;
  for (int i = 0; i < srv->nworkers; i++) worker_request_stop(&srv->workers[i]);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->all_drained, NULL);
  uv_close((uv_handle_t *)&srv->all_quiesced, NULL);
}

int server_run(const server_config_t *cfg) {
  server_t srv;
  memset(&srv, 0, sizeof srv);
  srv.cfg = *cfg;
  srv.nworkers = cfg->workers > 0 ? cfg->workers : (int)uv_available_parallelism();
  if (srv.nworkers < 1) srv.nworkers = 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  srv.started_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  signal(SIGPIPE, SIG_IGN);

  const char *bad = NULL;
  if (cfg->check_origin && http_origin_list_parse(cfg->check_origin, &srv.origins, &bad) < 0) {
    log_error("--check-origin: malformed entry at '%s'", bad);
    return 1;
  }
  int port = cfg->port;
  srv.workers = xcalloc((size_t)srv.nworkers, sizeof *srv.workers);
  atomic_init(&srv.workers_draining, srv.nworkers);
  atomic_init(&srv.workers_quiescing, srv.nworkers);
  char err[256];
  srv.store = store_open(cfg->data_dir, err, sizeof err);
  if (!srv.store) {
    log_error("cannot open the store in %s: %s", cfg->data_dir, err);
    free(srv.workers);
    return 1;
  }
  int started = 0, rc = port != 0 && !server_port_free(cfg->host, port);
  for (int i = 0; i < srv.nworkers && !rc; i++) {
    int fd = server_listen_fd(cfg->host, &port);
    if (fd < 0 || worker_init(&srv.workers[i], &srv, i, fd) < 0) rc = 1;
    else started++;
  }
  if (rc) {
    store_close(srv.store);
    free(srv.workers);
    return 1;
  }
  srv.cfg.port = port;

  uv_loop_init(&srv.main_loop);
  uv_signal_init(&srv.main_loop, &srv.sigint);
  uv_signal_init(&srv.main_loop, &srv.sigterm);
  srv.sigint.data = srv.sigterm.data = &srv;
  uv_signal_start(&srv.sigint, server_on_signal, SIGINT);
  uv_signal_start(&srv.sigterm, server_on_signal, SIGTERM);
  uv_async_init(&srv.main_loop, &srv.all_drained, server_on_drained);
  srv.all_drained.data = &srv;
  uv_async_init(&srv.main_loop, &srv.all_quiesced, server_on_quiesced);
  srv.all_quiesced.data = &srv;

  activity_init(&srv);
  for (int i = 0; i < srv.nworkers; i++) worker_start(&srv.workers[i]);
  log_info("cinder %s listening on %s:%d (%d workers, socket at %s/websocket)", CINDER_VERSION,
           cfg->host, port, srv.nworkers, cfg->socket_path);

  uv_run(&srv.main_loop, UV_RUN_DEFAULT);
  for (int i = 0; i < srv.nworkers; i++) worker_join(&srv.workers[i]);
  uv_loop_close(&srv.main_loop);
  activity_free();
  http_origin_list_free(&srv.origins);
  free(srv.workers);
  log_info("stopped");
  return 0;
}
