#ifndef CINDER_NET_SERVER_H
#define CINDER_NET_SERVER_H
/* The server process: W workers, each a thread with its own uv loop and its own SO_REUSEPORT
 * listener (the kernel spreads new connections over them); a connection stays on its worker for
 * life. The main thread only waits for signals and then drains the workers. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct server_config {
  const char *host;
  int port;                   /* 0: pick a free port (logged at start) */
  int workers;                /* 0: one per CPU */
  const char *data_dir;
  const char *socket_path;    /* Phoenix socket mount, default "/socket" */
  size_t max_message;         /* WebSocket frame/message cap (1009 above it) */
  size_t max_queue;           /* per-socket output cap; a client that does not read is dropped */
  size_t max_body;            /* HTTP request body cap (413 above it) */
  unsigned idle_timeout_ms;   /* WebSocket: no frame for this long closes it */
  unsigned http_timeout_ms;   /* a request head or body must arrive within this */
  unsigned shutdown_timeout_ms;
  size_t max_channels;        /* per socket */
  const char *doc_prefixes;   /* comma-separated topic prefixes of document rooms */
  unsigned doc_unload_ms;     /* a document without subscribers is unloaded after this */
  size_t doc_compact_threshold; /* stored entries that trigger a compaction */
  unsigned awareness_window_ms; /* awareness relay throttle (leading + trailing) */
  unsigned activity_interval_ms; /* activity sampling period */
  size_t activity_history;    /* samples kept per activity stream (sent in join replies) */
  const char *api_key;        /* bearer key of the HTTP API; NULL: the API answers loopback only */
  const char *check_origin;   /* allowed Origins of the Phoenix socket (http/http_origin.h); NULL: any */
} server_config_t;

void server_config_defaults(server_config_t *cfg);
/* Runs until SIGINT/SIGTERM, then drains every socket with close code 1012 and returns 0;
 * returns 1 if the server could not start. */
int server_run(const server_config_t *cfg);

#endif
