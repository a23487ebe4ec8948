#include "net/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "net/http_handler.h"
#include "net/ip_limit.h"
#include "net/worker.h"
#include "ws/ws_frame.h"

static void conn_on_close(uv_handle_t *h);
static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_start_write(conn_t *c);
static void conn_send_close_frame(conn_t *c, uint16_t code, const char *reason);
static void conn_after_write(conn_t *c);


/* --- lifecycle --------------------------------------------------------------------------------- */

/* "ip:port" and whether the address is loopback (trusted by the API without a key). */
static void conn_set_peer(conn_t *c, const struct sockaddr_storage *ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    uv_ip4_name(in, ip, sizeof ip);
    port = ntohs(in->sin_port);
    c->peer_loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(in6, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    c->peer_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
  }
  snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

/* Admission: the server-wide connection cap, then the per-address cap. A refused connection is
 * still answered (503 with a reason, then a lingering close) so that the client learns why. */
static const char *conn_admit(conn_t *c) {
  server_t *srv = c->w->server;
  if ((size_t)atomic_fetch_add(&srv->open_conns, 1) >= srv->cfg.max_connections) {
    atomic_fetch_sub(&srv->open_conns, 1);
    return "server at its connection limit";
  }
  char ip[INET6_ADDRSTRLEN];
  ip_of_peer(c->peer, ip, sizeof ip);
  if (!ip_limit_enter(&srv->conns_per_ip, ip)) {
    atomic_fetch_sub(&srv->open_conns, 1);
    return "too many connections from this address";
  }
  c->admitted = true;
  return NULL;
}

void conn_open(worker_t *w, int fd, const struct sockaddr_storage *ss) {
  conn_t *c = xcalloc(1, sizeof *c);
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  c->w = w;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd);
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  /* Counted per worker; the worker id in the low bits makes ids unique (--workers ≤ 1024). */
  c->id = ++w->next_conn_id << 10 | (uint64_t)w->id;
  c->state = CONN_HTTP;
  c->last_rx_ms = uv_now(&w->loop);
  uv_tcp_nodelay(&c->tcp, 1);
  conn_set_peer(c, ss);

  dict_set(&w->conns_by_id, (const char *)&c->id, sizeof c->id, c);
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  atomic_fetch_add(&w->connections, 1);
  uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
  const char *refused = conn_admit(c);
  if (refused) {
    server_t *srv = w->server;
    uint64_t skipped;
    if (log_limit_due(&w->refusal_log, uv_now(&w->loop), 1000, &skipped))
      log_warn("conn %s: refused: %s (%zu open, limit %zu per server, %zu per address; %llu "
               "more refusals not logged)", c->peer, refused, (size_t)atomic_load(&srv->open_conns),
               srv->cfg.max_connections, srv->cfg.max_conns_per_ip, (unsigned long long)skipped);
    http_respond_error_with(c, 503, refused, "Retry-After: 1\r\n");
    return;
  }
  log_debug("conn %s: accepted", c->peer);
}

/* Ends the Phoenix socket: its channels terminate and leave their topics now, not when the TCP
 * handle is finally closed, so no broadcast is queued for a socket that is going away. */
static void conn_release_phx(conn_t *c) {
  if (!c->phx || c->in_phx) return;
  phx_socket_t *s = c->phx;
  c->phx = NULL;
  phx_socket_free(s);
}

void conn_close(conn_t *c) {
  if (c->state == CONN_CLOSED) return;
  c->state = CONN_CLOSED;
  conn_release_phx(c);
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void conn_drop_frames(frame_t **q, size_t *len) {
  for (size_t i = 0; i < *len; i++) frame_unref(q[i]);
  *len = 0;
}

static void conn_on_close(uv_handle_t *h) {
  conn_t *c = h->data;
  worker_t *w = c->w;
  conn_release_phx(c); /* if it was deferred */
  dict_delete(&w->conns_by_id, (const char *)&c->id, sizeof c->id);
  if (c->prev) c->prev->next = c->next;
  else w->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->in_flushq) {
    conn_t **pp = &w->flushq;
    while (*pp && *pp != c) pp = &(*pp)->flush_next;
    if (*pp) *pp = c->flush_next;
  }
  conn_drop_frames(c->outq, &c->outq_len);
  conn_drop_frames(c->inflight, &c->inflight_len);
  free(c->outq);
  free(c->inflight);
  free(c->wbufs);
  buf_free(&c->rbuf);
  if (c->ws.max_message_size) ws_parser_free(&c->ws);
  atomic_fetch_sub(&w->connections, 1);
  if (c->admitted) {
    char ip[INET6_ADDRSTRLEN];
    ip_of_peer(c->peer, ip, sizeof ip);
    ip_limit_leave(&w->server->conns_per_ip, ip);
    atomic_fetch_sub(&w->server->open_conns, 1);
  }
  log_debug("conn %s: closed", c->peer);
  free(c);
}

/* --- output ------------------------------------------------------------------------------------ */

/* The slow-consumer rule (Redis's client-output-buffer-limit, hard and soft with seconds): a
 * socket whose unsent bytes pass --max-queue-hard, or stay above --max-queue for longer than
 * --queue-grace, does not read what it is sent. One large message (a document's sync step 2, a
 * burst of broadcasts within one loop iteration) may exceed --max-queue: a client that reads
 * drains it well within the grace and is never cut.
 *
 * Eviction may be decided inside a broadcast's delivery loop, so nothing is torn down here: the
 * unsent frames are dropped (not the one being written), a close frame 1013 is queued best effort,
 * and the sweep closes the connection if the client does not take it within 2 s. */
static uint64_t conn_nonzero_now(const conn_t *c) {
  uint64_t now = uv_now(&c->w->loop);
  return now ? now : 1;
}

static void conn_evict_slow(conn_t *c, const char *why) {
  const server_config_t *cfg = &c->w->server->cfg;
  uint64_t now = uv_now(&c->w->loop);
  log_warn("conn %s: slow consumer: %zu bytes unsent%s%llu ms (limits: %zu bytes for %u ms, %zu "
           "bytes at any time); %s; disconnecting with 1013", c->peer, c->queued_bytes,
           c->over_since_ms ? ", over the soft limit for " : "",
           c->over_since_ms ? (unsigned long long)(now - c->over_since_ms) : 0ULL,
           cfg->max_queue, cfg->queue_grace_ms, cfg->max_queue_hard, why);
  for (size_t i = 0; i < c->outq_len; i++) c->queued_bytes -= c->outq[i]->len;
  conn_drop_frames(c->outq, &c->outq_len);
  c->over_since_ms = 0;
  bool ws = c->state == CONN_WS;
  c->state = CONN_CLOSING;
  c->closing_since_ms = now;
  if (ws) {
    c->state = CONN_WS; /* let the close frame through conn_send */
    conn_send_close_frame(c, WS_CLOSE_TRY_LATER, "slow consumer");
    c->state = CONN_CLOSING;
  }
  c->close_after_write = true;
}

void conn_send(conn_t *c, frame_t *f) {
  if (c->state == CONN_CLOSED || c->state == CONN_LINGER ||
      (c->state == CONN_CLOSING && c->close_after_write))
    return;
  const server_config_t *cfg = &c->w->server->cfg;
  if (c->queued_bytes + f->len > cfg->max_queue_hard) {
    conn_evict_slow(c, "the hard limit would be passed");
    return;
  }
  VEC_PUSH(c->outq, c->outq_len, c->outq_cap, 2, frame_ref(f)); /* most sockets queue one frame at a time */
  c->queued_bytes += f->len;
  c->last_tx_ms = uv_now(&c->w->loop);
  if (c->queued_bytes > cfg->max_queue && !c->over_since_ms)
    c->over_since_ms = conn_nonzero_now(c); /* 0 means "not over" */
  atomic_fetch_add_explicit(&c->w->bytes_out, f->len, memory_order_relaxed);
  if (!c->in_flushq) {
    c->in_flushq = true;
    c->flush_next = c->w->flushq;
    c->w->flushq = c;
  }
}

static void conn_on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;
  worker_wreq_put(c->w, req);
  c->wreq = NULL;
  for (size_t i = 0; i < c->inflight_len; i++) {
    c->queued_bytes -= c->inflight[i]->len;
    frame_unref(c->inflight[i]);
  }
  c->inflight_len = 0;
  c->writing = false;
  if (c->queued_bytes <= c->w->server->cfg.max_queue) c->over_since_ms = 0;
  if (c->state == CONN_CLOSED) return;
  if (status < 0) {
    log_debug("conn %s: write failed: %s", c->peer, uv_strerror(status));
    conn_close(c);
    return;
  }
  conn_after_write(c);
}

/* --- lingering close ---------------------------------------------------------------------------
 * After an error answer (an HTTP 4xx/5xx, a WebSocket close for a protocol error, a refusal) the
 * client may still be sending — the rest of a 20 MB body, of a 9 MB message. Closing now, with
 * its bytes unread, makes the kernel send a reset, and the client sees ECONNRESET or 1006 instead
 * of our answer. So, like nginx's lingering_close: once the answer is written, shut down our
 * side (the client reads the answer, then EOF), read and discard what still comes, and close on
 * the client's EOF or after CONN_LINGER_MS / CONN_LINGER_BYTES, whichever comes first. */
#define CONN_LINGER_MS 5000
#define CONN_LINGER_BYTES ((size_t)64 << 20)

static void conn_on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = req->data;
  free(req);
  if (c->state == CONN_CLOSED) return;
  if (status < 0) conn_close(c);
}

static void conn_linger(conn_t *c) {
  uv_shutdown_t *req = xmalloc(sizeof *req);
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_on_shutdown) < 0) {
    free(req);
    conn_close(c);
    return;
  }
  conn_release_phx(c);
  c->state = CONN_LINGER;
  c->linger_since_ms = uv_now(&c->w->loop);
  c->linger_bytes = 0;
  buf_free(&c->rbuf); /* nothing more is parsed */
}

static void conn_after_write(conn_t *c) {
  if (c->outq_len) conn_start_write(c);
  else if (c->close_after_write && c->state != CONN_LINGER) conn_linger(c);
}

/* Write what is queued. The kernel is tried first, with one writev and no request: a socket with
 * room in its send buffer (nearly always) takes everything at once. uv_write would do the same
 * write, but libuv 1.44 then queues the watcher for an epoll_ctl(MOD) on the next loop iteration
 * even though nothing changed: measured, one extra system call per write, a quarter of those a
 * room join costs and one per socket per broadcast. Only what the kernel did not take goes
 * through uv_write (writev + POLLOUT), the unwritten part of a frame as an offset into it. The
 * queues swap roles, so steady state allocates nothing. */
static void conn_start_write(conn_t *c) {
  size_t n = c->outq_len;
  if (c->wbufs_cap < n) {
    c->wbufs_cap = c->outq_cap;
    c->wbufs = xrealloc(c->wbufs, c->wbufs_cap * sizeof *c->wbufs);
  }
  for (size_t i = 0; i < n; i++)
    c->wbufs[i] = uv_buf_init((char *)c->outq[i]->data, (unsigned)c->outq[i]->len);
  int wrote = uv_try_write((uv_stream_t *)&c->tcp, c->wbufs, (unsigned)n);
  if (wrote < 0 && wrote != UV_EAGAIN) {
    log_debug("conn %s: write failed: %s", c->peer, uv_strerror(wrote));
    for (size_t i = 0; i < n; i++) c->queued_bytes -= c->outq[i]->len;
    conn_drop_frames(c->outq, &c->outq_len);
    conn_close(c);
    return;
  }
  size_t left = wrote > 0 ? (size_t)wrote : 0;
  size_t done = 0;
  while (done < n && left >= c->outq[done]->len) {
    left -= c->outq[done]->len;
    c->queued_bytes -= c->outq[done]->len;
    frame_unref(c->outq[done]);
    done++;
  }
  if (c->queued_bytes <= c->w->server->cfg.max_queue) c->over_since_ms = 0;
  if (done == n) {
    c->outq_len = 0;
    if (c->close_after_write && c->state != CONN_LINGER) conn_linger(c);
    return;
  }

  /* the rest (from frame `done`, `left` bytes into it) through uv_write */
  frame_t **q = c->inflight;
  size_t qcap = c->inflight_cap;
  c->inflight = c->outq;
  c->inflight_cap = c->outq_cap;
  c->inflight_len = n - done;
  if (done) memmove(c->inflight, c->inflight + done, c->inflight_len * sizeof *c->inflight);
  c->outq = q;
  c->outq_cap = qcap;
  c->outq_len = 0;
  uv_buf_t *bufs = c->wbufs + done;
  bufs[0].base += left;
  bufs[0].len -= left;
  c->wreq = worker_wreq_get(c->w);
  c->wreq->data = c;
  c->writing = true;
  int rc = uv_write(c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)c->inflight_len, conn_on_write);
  if (rc < 0) {
    worker_wreq_put(c->w, c->wreq);
    c->wreq = NULL;
    c->writing = false;
    for (size_t i = 0; i < c->inflight_len; i++) {
      c->queued_bytes -= c->inflight[i]->len;
      frame_unref(c->inflight[i]);
    }
    c->inflight_len = 0;
    conn_close(c);
  }
}

void conn_flush(conn_t *c) {
  c->in_flushq = false;
  if (c->state == CONN_CLOSED || c->writing) return;
  conn_after_write(c);
}

/* --- WebSocket ---------------------------------------------------------------------------------- */

static void conn_send_control(conn_t *c, uint8_t opcode, const uint8_t *payload, size_t len) {
  uint8_t frame[WS_FRAME_MAX_HEADER + WS_CONTROL_MAX_PAYLOAD];
  if (len > WS_CONTROL_MAX_PAYLOAD) len = WS_CONTROL_MAX_PAYLOAD;
  size_t hl = ws_frame_encode_header(frame, true, opcode, len);
  memcpy(frame + hl, payload, len);
  frame_t *f = frame_copy(frame, hl + len);
  conn_send(c, f);
  frame_unref(f);
}

static void conn_send_close_frame(conn_t *c, uint16_t code, const char *reason) {
  uint8_t payload[WS_CONTROL_MAX_PAYLOAD];
  size_t len = 0;
  if (code != WS_CLOSE_NO_STATUS) {
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof payload - 2) rl = sizeof payload - 2;
    if (rl) memcpy(payload + 2, reason, rl); /* reason may be NULL: memcpy(_, NULL, 0) is UB */
    len = 2 + rl;
  }
  conn_send_control(c, WS_OP_CLOSE, payload, len);
}

void conn_ws_close(conn_t *c, uint16_t code, const char *reason) {
  if (c->state != CONN_WS) {
    if (c->state == CONN_HTTP) conn_close(c);
    return;
  }
  log_info("conn %s: closing WebSocket with %u (%s)", c->peer, code, reason ? reason : "");
  conn_send_close_frame(c, code, reason);
  c->state = CONN_CLOSING;
  c->closing_since_ms = uv_now(&c->w->loop);
  conn_release_phx(c);
}

static void conn_transport_send(phx_transport_t *t, frame_t *f) {
  conn_t *c = (conn_t *)((char *)t - offsetof(conn_t, transport));
  if (c->state == CONN_WS) conn_send(c, f);
}

static void conn_transport_close(phx_transport_t *t, uint16_t code, const char *reason) {
  conn_t *c = (conn_t *)((char *)t - offsetof(conn_t, transport));
  conn_ws_close(c, code, reason);
}

void conn_ws_start(conn_t *c, phx_socket_t *phx) {
  c->state = CONN_WS;
  c->phx = phx;
  ws_parser_init(&c->ws, c->w->server->cfg.max_message);
}

phx_transport_t *conn_transport(conn_t *c) {
  c->transport.send = conn_transport_send;
  c->transport.close = conn_transport_close;
  return &c->transport;
}

static void conn_ws_message(conn_t *c, const ws_message_t *m) {
  switch (m->opcode) {
  case WS_OP_TEXT:
  case WS_OP_BINARY: {
    if (c->state != CONN_WS || !c->phx) return; /* closing: data is ignored */
    c->in_phx = true;
    uint16_t code;
    if (c->phx->vsn == PHX_RAW) /* y-websocket: bare y-protocols messages, in binary frames */
      code = m->opcode == WS_OP_BINARY ? phx_socket_handle_raw(c->phx, m->data, m->len)
                                       : WS_CLOSE_UNSUPPORTED;
    else if (m->opcode == WS_OP_TEXT)
      code = phx_socket_handle_text(c->phx, (const char *)m->data, m->len);
    else
      code = phx_socket_handle_binary(c->phx, m->data, m->len);
    if (code && c->phx->vsn == PHX_RAW)
      log_info("conn %s: y-websocket: %s; closing with %u", c->peer,
               code == WS_CLOSE_UNSUPPORTED ? "text frame" : "no document joined", code);
    c->in_phx = false;
    if (code) conn_ws_close(c, code, code == WS_CLOSE_INVALID_DATA ? "malformed message"
                                                                   : "unsupported message");
    else if (c->state != CONN_WS) conn_release_phx(c);
    break;
  }
  case WS_OP_PING:
    if (c->state == CONN_WS) conn_send_control(c, WS_OP_PONG, m->data, m->len);
    break;
  case WS_OP_PONG:
    break;
  case WS_OP_CLOSE:
    if (c->state == CONN_WS) {
      /* The client closes: echo its code (RFC 6455 §5.5.1), then close TCP once written. */
      log_debug("conn %s: client closed with %u", c->peer, m->close_code);
      conn_send_close_frame(c, m->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NO_STATUS
                                                                   : m->close_code, NULL);
      c->state = CONN_CLOSING;
      c->close_after_write = true;
      conn_release_phx(c);
    } else {
      conn_close(c); /* the answer to our close: the handshake is complete */
    }
    break;
  }
}

/* Parses as many WebSocket messages as buf holds; returns the bytes consumed. */
static size_t conn_ws_input(conn_t *c, uint8_t *buf, size_t len) {
  size_t off = 0;
  while (off < len && (c->state == CONN_WS || c->state == CONN_CLOSING)) {
    ws_message_t m;
    size_t used = 0;
    int rc = ws_parser_next(&c->ws, buf + off, len - off, &used, &m);
    off += used;
    if (rc == WS_PARSE_NEED_MORE) break;
    if (rc < 0) {
      if (c->state == CONN_WS) {
        log_warn("conn %s: WebSocket protocol error: %s", c->peer, ws_parser_strerror(rc));
        conn_ws_close(c, ws_parser_close_code(rc), ws_parser_strerror(rc));
      }
      /* The stream cannot be parsed any further: once our close frame is written, linger
       * (discard what the client still sends) so that it receives the frame, not a reset. */
      c->close_after_write = true;
      if (!c->writing && !c->outq_len) conn_linger(c);
      return len;
    }
    conn_ws_message(c, &m);
  }
  return off;
}

/* --- input ------------------------------------------------------------------------------------- */

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  if (c->rbuf.len) {
    /* An incomplete message is pending: read straight after it. */
    buf->base = (char *)buf_reserve(&c->rbuf, WORKER_READ_CHUNK);
    buf->len = WORKER_READ_CHUNK;
  } else {
    buf->base = c->w->read_chunk;
    buf->len = sizeof c->w->read_chunk;
  }
}

/* Deadlines for what has begun, not only for silence: a request head must be complete within
 * --http-timeout of its first byte, its body within that plus 1 s per 64 KiB declared; a
 * WebSocket message within --message-timeout of its first byte plus 1 s per 64 KiB received. So
 * a client trickling a byte every few seconds no longer holds a connection (and its buffer)
 * forever, while a large upload at any reasonable speed completes. */
#define CONN_BYTES_PER_S 65536

static void conn_track_progress(conn_t *c, uint64_t now, size_t nread) {
  if (c->state == CONN_HTTP) {
    if (!c->rbuf.len && !c->http_pending) {
      c->req_started_ms = 0; /* nothing partial is left: no request in progress */
      c->req_allowance_ms = 0;
    } else if (!c->req_started_ms) {
      c->req_started_ms = now;
    }
  } else if (c->state == CONN_WS) {
    bool partial = c->rbuf.len || c->ws.msg_opcode || c->ws.in_payload;
    if (!partial) {
      c->msg_started_ms = 0;
      c->msg_bytes = 0;
    } else {
      if (!c->msg_started_ms) c->msg_started_ms = now;
      c->msg_bytes += nread;
    }
  }
}

/* Hands input to the state's parser until it stops making progress; returns bytes consumed. */
static size_t conn_input(conn_t *c, uint8_t *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    size_t used;
    if (c->state == CONN_HTTP) used = http_handler_input(c, (char *)data + off, len - off);
    else if (c->state == CONN_WS || c->state == CONN_CLOSING) used = conn_ws_input(c, data + off, len - off);
    else return len;
    if (used == 0) break;
    off += used;
  }
  return off;
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (nread < 0) {
    if (nread != UV_EOF) log_debug("conn %s: read error: %s", c->peer, uv_strerror((int)nread));
    conn_close(c);
    return;
  }
  if (nread == 0 || c->state == CONN_CLOSED) return;
  uint64_t now = uv_now(&c->w->loop);
  c->last_rx_ms = now;
  atomic_fetch_add_explicit(&c->w->bytes_in, (uint_fast64_t)nread, memory_order_relaxed);
  if (c->state == CONN_LINGER) { /* the answer is out: what comes now is discarded */
    c->linger_bytes += (size_t)nread;
    if (c->linger_bytes > CONN_LINGER_BYTES) conn_close(c);
    return;
  }
  if (buf->base == c->w->read_chunk) {
    size_t used = conn_input(c, (uint8_t *)buf->base, (size_t)nread);
    if (used < (size_t)nread && c->state != CONN_CLOSED)
      buf_append(&c->rbuf, buf->base + used, (size_t)nread - used);
  } else {
    c->rbuf.len += (size_t)nread;
    size_t used = conn_input(c, c->rbuf.data, c->rbuf.len);
    if (c->state != CONN_CLOSED) buf_consume(&c->rbuf, used);
  }
  if (c->state == CONN_CLOSED) return;
  conn_track_progress(c, now, (size_t)nread);
  /* A drained buffer goes back to the allocator: an idle socket holds no read memory (the next
   * read lands in the worker's shared chunk). */
  if (c->rbuf.len == 0 && c->rbuf.cap) buf_free(&c->rbuf);
}

void conn_resume(conn_t *c) {
  c->http_pending = false;
  if (c->state == CONN_CLOSED || !c->rbuf.len) return;
  size_t used = conn_input(c, c->rbuf.data, c->rbuf.len);
  if (c->state != CONN_CLOSED) buf_consume(&c->rbuf, used);
}

/* A socket that has sent nothing for a while gives its output arrays back: an idle joined socket
 * should cost little, while one that receives even a slow stream (activity samples, one a
 * second) keeps them, so a broadcast never allocates per recipient. */
#define CONN_IDLE_OUTPUT_MS 10000

static void conn_release_output(conn_t *c) {
  free(c->outq);
  free(c->inflight);
  free(c->wbufs);
  c->outq = c->inflight = NULL;
  c->wbufs = NULL;
  c->outq_cap = c->inflight_cap = c->wbufs_cap = 0;
}

void conn_sweep(conn_t *c, uint64_t now) {
  const server_config_t *cfg = &c->w->server->cfg;
  if (!c->writing && !c->outq_len && c->outq_cap + c->inflight_cap &&
      now - c->last_tx_ms > CONN_IDLE_OUTPUT_MS)
    conn_release_output(c);
  if (c->over_since_ms && now > c->over_since_ms && now - c->over_since_ms > cfg->queue_grace_ms &&
      (c->state == CONN_WS || c->state == CONN_HTTP)) {
    conn_evict_slow(c, "the soft limit was held past the grace");
    return;
  }
  switch (c->state) {
  case CONN_HTTP:
    if (c->http_pending || c->close_after_write) break;
    if (c->req_started_ms &&
        now - c->req_started_ms > cfg->http_timeout_ms + c->req_allowance_ms) {
      log_info("conn %s: HTTP request timed out (not complete after %llu ms)", c->peer,
               (unsigned long long)(now - c->req_started_ms));
      http_handler_timeout(c);
    } else if (now - c->last_rx_ms > cfg->http_timeout_ms) {
      /* An idle keep-alive connection (no request begun) just ends, as nginx's keepalive_timeout:
       * an unasked 408 would be read by a client that sends its next request meanwhile. */
      log_debug("conn %s: idle keep-alive connection closed", c->peer);
      conn_close(c);
    }
    break;
  case CONN_WS:
    if (c->msg_started_ms && now - c->msg_started_ms >
                                 cfg->message_timeout_ms + c->msg_bytes * 1000 / CONN_BYTES_PER_S) {
      log_info("conn %s: message not complete after %llu ms (%zu bytes)", c->peer,
               (unsigned long long)(now - c->msg_started_ms), c->msg_bytes);
      conn_ws_close(c, WS_CLOSE_POLICY, "message timeout");
      c->close_after_write = true; /* its rest cannot be parsed: linger once the close is out */
    } else if (now - c->last_rx_ms > cfg->idle_timeout_ms) {
      log_info("conn %s: idle for %u ms", c->peer, cfg->idle_timeout_ms);
      conn_ws_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
    } else if (c->phx && cfg->auth && phx_socket_expired(c->phx, cfg->auth, (int64_t)time(NULL))) {
      /* Its reconnect with the same token gets 403: a client must come back with a new one. */
      log_info("conn %s: token of %s expired", c->peer, phx_socket_user(c->phx));
      conn_ws_close(c, WS_CLOSE_POLICY, "token expired");
    }
    break;
  case CONN_CLOSING:
    if (now - c->closing_since_ms > 2000) conn_close(c); /* the peer never answered our close */
    break;
  case CONN_LINGER:
    if (now - c->linger_since_ms > CONN_LINGER_MS) conn_close(c);
    break;
  case CONN_CLOSED:
    break;
  }
}
