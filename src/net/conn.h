#ifndef CINDER_NET_CONN_H
#define CINDER_NET_CONN_H
/* A client connection: HTTP/1.1 until it upgrades, then a WebSocket carrying a Phoenix socket.
 *
 * Output: frames are queued by reference (frame_ref) and written in one writev per loop
 * iteration (the worker's flush check), so a broadcast costs each recipient one pointer in its
 * queue. The queue has a byte cap: a client that stops reading is disconnected instead of
 * growing our memory (Redis's client-output-buffer-limit). */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/buf.h"
#include "core/frame.h"
#include "phx/phx_socket.h"
#include "ws/ws_parser.h"

typedef struct worker worker_t;

typedef enum {
  CONN_HTTP,    /* reading request heads (and bodies) */
  CONN_WS,      /* an open WebSocket */
  CONN_CLOSING, /* we sent a close frame (or an error response) and wait for the peer */
  CONN_LINGER,  /* answered and shut down for writing: discarding input until EOF or a limit */
  CONN_CLOSED,  /* uv_close issued; freed in its callback */
} conn_state_t;

typedef struct conn {
  uv_tcp_t tcp;
  worker_t *w;
  struct conn *prev, *next; /* the worker's list of connections */
  struct conn *flush_next;  /* the worker's flush queue */
  bool in_flushq;
  conn_state_t state;
  uint64_t id;
  char peer[64]; /* "ip:port" of an IPv6 peer fits */
  bool peer_loopback; /* 127.0.0.0/8, ::1 or ::ffff:127.x: trusted by the API without a key */
  bool admitted;      /* counted in the server's connection caps (net/ip_limit.h) */
  uint64_t last_rx_ms;      /* loop time of the last bytes received */
  uint64_t closing_since_ms;
  uint64_t linger_since_ms;
  size_t linger_bytes;      /* discarded while lingering */
  uint64_t req_started_ms;  /* first byte of the HTTP request in progress (0: none) */
  uint64_t req_allowance_ms; /* its body's extra time */
  uint64_t msg_started_ms;  /* first byte of the WebSocket message in progress (0: none) */
  size_t msg_bytes;         /* received since */
  buf_t rbuf;               /* bytes received but not yet handled (an incomplete message) */

  /* output */
  frame_t **outq;           /* queued, not yet handed to uv_write */
  size_t outq_len, outq_cap;
  frame_t **inflight;       /* handed to the current uv_write */
  size_t inflight_len, inflight_cap;
  uv_buf_t *wbufs;
  size_t wbufs_cap;
  size_t queued_bytes;      /* outq + inflight */
  uint64_t over_since_ms;   /* when queued_bytes went over --max-queue (0: it is not) */
  bool writing;
  bool close_after_write;   /* e.g. an HTTP error response or the echo of a client close */
  bool http_pending;        /* a request is being answered asynchronously: read no further */
  uv_write_t *wreq;         /* while writing only: from the worker's pool (worker_wreq_get) */
  uint64_t last_tx_ms;      /* loop time of the last frame queued: idle sockets give back their
                               output arrays (conn_sweep) */

  /* WebSocket + Phoenix */
  ws_parser_t ws;
  phx_transport_t transport;
  phx_socket_t *phx;
  bool in_phx;              /* inside a phx_socket call: defer freeing it */
} conn_t;

/* A connection the worker's listener accepted (fd non-blocking); admits it or answers 503. */
void conn_open(worker_t *w, int fd, const struct sockaddr_storage *ss);
/* Close immediately (no close handshake). */
void conn_close(conn_t *c);
/* Start a WebSocket close handshake with this code; plain HTTP connections just close. */
void conn_ws_close(conn_t *c, uint16_t code, const char *reason);
/* Queue bytes for the client; takes a reference to f. */
void conn_send(conn_t *c, frame_t *f);
/* Called by the worker after each loop iteration for every connection with queued output. */
void conn_flush(conn_t *c);
/* Periodic check: idle and handshake timeouts. */
void conn_sweep(conn_t *c, uint64_t now_ms);
/* After an asynchronous HTTP answer: handle the requests that arrived meanwhile. */
void conn_resume(conn_t *c);
/* The transport a Phoenix socket on this connection writes through. */
phx_transport_t *conn_transport(conn_t *c);
/* Switch an upgraded connection to WebSocket framing, carrying this Phoenix socket. */
void conn_ws_start(conn_t *c, phx_socket_t *phx);

#endif
