/* loadgen: a load generator for cinder (and any Phoenix Channels V2 server on this machine).
 *
 *   build/loadgen connect   --sockets 19000 --topic activity:server --server-pid PID --seconds 10
 *   build/loadgen broadcast --sockets 19000 --messages 200 --via api --size 100
 *   build/loadgen presence  --members 1000 --room room:lg-presence
 *   build/loadgen docs      --docs 20 --clients 25 --updates 200
 *
 * See bench/README.md for every option and what each number means.
 *
 * Why hand-written, not phoenix.js (or any WebSocket library): a load generator must hold 19,000+
 * sockets in one process with a few KB each, on the same small machine as the server it measures.
 * A Node phoenix.js client costs ~100 KB per socket (and one core saturates at a few thousand
 * sockets); here a socket is one ~350-byte struct, its kernel socket, and an input buffer only
 * while a message is incomplete (reads land in one buffer per thread and are parsed in place).
 * What it speaks is small and fixed: an RFC 6455 client (handshake with a fixed key, masked client
 * frames, server frames parsed incrementally) and Phoenix V2 framing (JSON arrays and kind-0
 * binary pushes), with a minimal JSON skipper instead of a JSON library.
 *
 * Shape: one libuv loop thread per core (--threads, default the CPU count); sockets are dealt to
 * the threads (documents: all clients of a document on one thread). The main thread only steers
 * the phases (connect, run, stop) through atomics + uv_async and sums per-thread counters.
 *
 * Several ports (--port 4100,4101,4102: the nodes of a cluster on this machine): the members are
 * dealt round robin over them (member i to port i mod P); the broadcast sender (pushing member or
 * API connection) uses the first. The report counts the joins per port.
 *
 * Many sockets to one server port: every socket binds a source address in 127.0.0.2..127.0.0.254
 * (round robin over --sources addresses) before its non-blocking connect, with SO_REUSEADDR and
 * IP_BIND_ADDRESS_NO_PORT (the port is chosen at connect time, per 4-tuple), so the ~28k
 * ephemeral ports of one address are no limit. Only targets in 127.0.0.0/8 are accepted. The
 * descriptor limit is raised to the hard limit; a run that would not fit is refused up front.
 *
 * Timestamps: CLOCK_MONOTONIC nanoseconds, written into each message by the sender and read by
 * every receiver (same machine, same clock); latencies go into HDR-like log buckets (64
 * sub-buckets per power of two: <1.6% error) per thread, merged at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="         /* RFC 6455's sample key ... */
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* ... and its accept value */
#define FD_MARGIN 64                              /* stdio, epoll, eventfds, the API socket... */
#define MAX_THREADS 256
#define MAX_FRAME (256u << 20)
#define HEARTBEAT_S 30
#define MAX_PORTS 16

/* --- options ------------------------------------------------------------------------------- */

typedef enum { SC_CONNECT, SC_BROADCAST, SC_PRESENCE, SC_DOCS } scenario_t;
static const char *const scenario_names[] = {"connect", "broadcast", "presence", "docs"};

static struct {
  scenario_t sc;
  char host[64];
  int port; /* the first of ports[] */
  int ports[MAX_PORTS], nports;
  char path[128];
  int threads;
  int concurrency;
  double connect_timeout, timeout, seconds, msg_timeout, rate;
  long server_pid;
  int sources;
  bool json, quiet, users;
  const char *api_key;
  /* connect / broadcast */
  uint32_t sockets, topics, messages, size, window, api_conns;
  const char *prefix, *topic;
  bool via_api;
  /* presence */
  uint32_t members;
  const char *room;
  /* docs */
  uint32_t docs, clients, updates;
  const char *doc_prefix;
} O = {
    .host = "127.0.0.1", .port = 4000, .ports = {4000}, .nports = 1, .path = "/socket", .concurrency = 256,
    .connect_timeout = 120, .timeout = 300, .seconds = -1, .msg_timeout = 5,
    .sources = 253, .sockets = 1000, .topics = 1, .messages = 100, .size = 100, .window = 1,
    .prefix = "activity:", .via_api = true, .members = 100, .room = "room:lg-presence",
    .docs = 10, .clients = 10, .updates = 100, .doc_prefix = "y_doc_room:lg-",
};

/* --- small helpers ----------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) { fprintf(stderr, "loadgen: out of memory\n"); exit(2); }
  return p;
}
static void *xcalloc(size_t n, size_t s) {
  void *p = calloc(n ? n : 1, s ? s : 1);
  if (!p) { fprintf(stderr, "loadgen: out of memory\n"); exit(2); }
  return p;
}
static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) { fprintf(stderr, "loadgen: out of memory\n"); exit(2); }
  return p;
}

#define RELAXED memory_order_relaxed
#define INC(th, f) atomic_fetch_add_explicit(&(th)->st.f, 1, RELAXED)
#define ADD(th, f, v) atomic_fetch_add_explicit(&(th)->st.f, (v), RELAXED)

/* The first few errors of the run, with counts per kind (kept by the main report). */
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char err_first[4][200];
static int err_n;
static void note_error(const char *fmt, ...) {
  char line[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&err_mu);
  bool seen = false;
  for (int i = 0; i < err_n; i++) seen |= !strcmp(err_first[i], line);
  if (!seen && err_n < 4) snprintf(err_first[err_n++], sizeof err_first[0], "%s", line);
  pthread_mutex_unlock(&err_mu);
}

/* --- latency histogram: HDR-like log buckets ------------------------------------------------- */

#define H_SUB_BITS 6
#define H_SUB (1 << H_SUB_BITS)
#define H_BUCKETS (H_SUB + (64 - H_SUB_BITS) * H_SUB)

typedef struct hist {
  uint64_t c[H_BUCKETS];
  uint64_t n, sum, min, max;
} hist_t;

static int hist_index(uint64_t v) {
  if (v < H_SUB) return (int)v;
  int e = 63 - __builtin_clzll(v);
  return H_SUB + (e - H_SUB_BITS) * H_SUB + (int)((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
}
static uint64_t hist_mid(int i) {
  if (i < H_SUB) return (uint64_t)i;
  int k = i - H_SUB, shift = k / H_SUB;
  uint64_t lo = (uint64_t)(H_SUB + k % H_SUB) << shift;
  return lo + ((1ull << shift) >> 1);
}
static void hist_add(hist_t *h, uint64_t v) {
  h->c[hist_index(v)]++;
  if (!h->n || v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->n++;
  h->sum += v;
}
static void hist_merge(hist_t *into, const hist_t *h) {
  if (!h->n) return;
  for (int i = 0; i < H_BUCKETS; i++) into->c[i] += h->c[i];
  if (!into->n || h->min < into->min) into->min = h->min;
  if (h->max > into->max) into->max = h->max;
  into->n += h->n;
  into->sum += h->sum;
}
static uint64_t hist_pct(const hist_t *h, double q) {
  if (!h->n) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999), seen = 0;
  if (rank < 1) rank = 1;
  for (int i = 0; i < H_BUCKETS; i++) {
    seen += h->c[i];
    if (seen >= rank) {
      uint64_t v = hist_mid(i);
      return v < h->min ? h->min : v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* --- a JSON skipper: enough to walk Phoenix frames and presence payloads in place -------------- */

static const char *js_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  return p;
}
static const char *js_string_end(const char *p, const char *e) { /* p at '"' */
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}
/* One value from p (leading blanks allowed); returns the end of the value, NULL if malformed. */
static const char *js_skip(const char *p, const char *e) {
  p = js_ws(p, e);
  if (p >= e) return NULL;
  if (*p == '"') return js_string_end(p, e);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < e) {
      char c = *p;
      if (c == '"') {
        if (!(p = js_string_end(p, e))) return NULL;
        continue;
      }
      if (c == '{' || c == '[') depth++;
      else if ((c == '}' || c == ']') && --depth == 0) return p + 1;
      p++;
    }
    return NULL;
  }
  const char *s = p;
  while (p < e && !strchr(",]}: \t\r\n", *p)) p++;
  return p > s ? p : NULL;
}
/* Object iteration: *pp at '{' (first call) or after a value. Gives the key (without quotes) and
 * the value's span. Returns 1 per member, 0 at the end, -1 if malformed. */
static int js_obj_next(const char **pp, const char *e, const char **k, size_t *kn, const char **v,
                       const char **ve) {
  const char *p = js_ws(*pp, e);
  if (p >= e) return -1;
  if (*p == '{' || *p == ',') p = js_ws(p + 1, e);
  if (p < e && *p == '}') return 0;
  if (p >= e || *p != '"') return -1;
  const char *ke = js_string_end(p, e);
  if (!ke) return -1;
  *k = p + 1;
  *kn = (size_t)(ke - 1 - (p + 1));
  p = js_ws(ke, e);
  if (p >= e || *p != ':') return -1;
  *v = js_ws(p + 1, e);
  if (!(*ve = js_skip(*v, e))) return -1;
  *pp = *ve;
  return 1;
}
static bool js_obj_get(const char *o, const char *e, const char *key, const char **v, const char **ve) {
  const char *p = js_ws(o, e), *k;
  size_t kn, want = strlen(key);
  if (p >= e || *p != '{') return false;
  while (js_obj_next(&p, e, &k, &kn, v, ve) == 1)
    if (kn == want && !memcmp(k, key, kn)) return true;
  return false;
}
static bool js_u64(const char *p, const char *e, uint64_t *out) {
  uint64_t v = 0;
  const char *s = p;
  while (p < e && *p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
  *out = v;
  return p > s;
}
static bool js_is(const char *v, const char *ve, const char *lit) {
  size_t n = strlen(lit);
  return (size_t)(ve - v) == n && !memcmp(v, lit, n);
}

/* --- connections, threads ------------------------------------------------------------------------ */

enum { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSED };
enum { ROLE_MEMBER, ROLE_SENDER, ROLE_API };
enum { PH_IDLE, PH_CONNECT, PH_RUN, PH_STOP };

typedef struct thr thr_t;

typedef struct conn {
  uv_tcp_t tcp;
  thr_t *th;
  uint32_t idx;   /* member index (0..N-1); for the sender N; for API connections their number */
  uint32_t group; /* topic index, document index */
  uint8_t state, role, port_i; /* port_i: index in O.ports */
  bool inited, closing, settled, joined, synced, busy;
  uint8_t frag_op;
  uint32_t ref;
  uint8_t *in; /* input that did not yet make a whole message */
  uint32_t in_len, in_cap;
  uint8_t *frag; /* a fragmented message being assembled (rare) */
  uint32_t frag_len, frag_cap;
  int64_t last_seq;
  uint64_t t_start;
  union {
    struct { uint64_t *bits; uint32_t count; bool state; uint64_t complete_at; } pr; /* presence */
    struct { uint32_t client; uint32_t clock; } y;                      /* docs writer */
    struct { uint8_t *req; uint32_t req_len; } api;                     /* pending request */
  } u;
} conn_t;

#define STATS(X)                                                                              \
  X(connect_started) X(connected) X(connect_errors) X(handshake_errors) X(joined) X(join_errors) \
  X(synced) X(remote_closes) X(disconnects) X(write_errors) X(protocol_errors) X(frames_in)     \
  X(bytes_in) X(bytes_out) X(heartbeats) X(delivered) X(out_of_order) X(other_frames)          \
  X(presence_state_frames) X(presence_diff_frames) X(presence_bytes) X(presence_complete)      \
  X(presence_unknown_keys) X(yjs_errors) X(channel_errors) X(push_errors) X(api_ok)            \
  X(api_errors) X(sent) X(timeouts) X(settled_ok) X(settled_failed)

typedef struct stats {
#define F(n) _Atomic uint64_t n;
  STATS(F)
#undef F
  _Atomic uint64_t first_connect_ns, last_join_ns, last_sync_ns, last_delivery_ns, first_send_ns;
} stats_t;

typedef struct tot {
#define F(n) uint64_t n;
  STATS(F)
#undef F
  uint64_t first_connect_ns, last_join_ns, last_sync_ns, last_delivery_ns, first_send_ns;
} tot_t;

typedef struct ydoc {
  uint32_t d;
  conn_t **clients; /* C of them */
  uint32_t writers, expected, next_u, first_open, inflight;
  uint64_t t_start;
  bool done;
} ydoc_t;

struct thr {
  int id;
  uv_thread_t tid;
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t tick, pump;
  int phase_seen;
  conn_t **conns;
  uint32_t nconns, next_open, inflight, max_inflight;
  bool opening;
  size_t need; /* the whole length of the frame an incomplete input ends in */
  uint64_t tick_n;
  uint32_t rng;
  uint8_t rbuf[64 * 1024];
  uint8_t *wbuf, *pbuf; /* scratch: a frame, a payload */
  size_t wcap, pcap;
  stats_t st;
  _Atomic uint64_t joined_port[MAX_PORTS];
  hist_t lat, join_lat;
  ydoc_t *docs;
  uint32_t ndocs, docs_done;
};

static struct {
  thr_t *th;
  int nth;
  conn_t *conns; /* members, then the sender */
  uint32_t nconns;
  conn_t *api;
  struct sockaddr_in dst[MAX_PORTS];
  _Atomic int phase;
  /* messages (broadcast: M; docs: D*U): deliveries so far, send time (the sending thread's) */
  _Atomic uint32_t *deliv;
  uint64_t *sent_at;
  uint32_t nmsgs;
  uint32_t bc_expected;
  /* broadcast sender state (thread 0) */
  uint32_t s_next, s_first_open, s_inflight;
  uint64_t s_start;
  _Atomic int sender_done;
  _Atomic uint32_t docs_done;
  uint32_t yclient_base;
  char topic_buf[256];
} G;

static uint32_t rnd(thr_t *th) {
  uint32_t x = th->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return th->rng = x;
}

static uint8_t *scratch(uint8_t **b, size_t *cap, size_t need) {
  if (*cap < need) {
    *cap = need + 4096;
    *b = xrealloc(*b, *cap);
  }
  return *b;
}

static const char *conn_topic(const conn_t *c, char *buf, size_t n) {
  switch (O.sc) {
  case SC_PRESENCE: return O.room;
  case SC_DOCS: snprintf(buf, n, "%s%u", O.doc_prefix, c->group); return buf;
  case SC_BROADCAST: return O.topic;
  case SC_CONNECT:
    if (O.topic) return O.topic;
    if (O.topics == 1) {
      snprintf(buf, n, "%s%s", O.prefix, !strcmp(O.prefix, "activity:") ? "server" : "lg");
      return buf;
    }
    snprintf(buf, n, "%slg-%u", O.prefix, c->group);
    return buf;
  }
  return "";
}

static void conn_close(conn_t *c);
static void conn_settle(conn_t *c, bool ok);
static void open_more(thr_t *th);
static void pump_sender(thr_t *th);
static void pump_docs(thr_t *th);
static void msg_delivered(thr_t *th, uint32_t id);

/* --- writing ------------------------------------------------------------------------------------- */

typedef struct wreq {
  uv_write_t req;
  size_t len;
  uint8_t data[];
} wreq_t;

static void on_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = req->handle->data;
  if (status < 0 && status != UV_ECANCELED && !c->closing) {
    INC(c->th, write_errors);
    note_error("write: %s", uv_strerror(status));
    conn_close(c);
  }
  free(w);
}

static void conn_write(conn_t *c, const void *p, size_t n) {
  if (c->state == CS_CLOSED || c->closing) return;
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  ADD(c->th, bytes_out, n);
  if (r == (int)n) return;
  if (r < 0 && r != UV_EAGAIN) {
    INC(c->th, write_errors);
    note_error("write: %s", uv_strerror(r));
    conn_close(c);
    return;
  }
  size_t off = r > 0 ? (size_t)r : 0;
  wreq_t *w = xmalloc(sizeof *w + n - off);
  w->len = n - off;
  memcpy(w->data, (const uint8_t *)p + off, n - off);
  uv_buf_t rest = uv_buf_init((char *)w->data, (unsigned)w->len);
  if ((r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &rest, 1, on_written)) < 0) {
    free(w);
    INC(c->th, write_errors);
    note_error("write: %s", uv_strerror(r));
    conn_close(c);
  }
}

/* A client frame: FIN, opcode, masked with a fresh key. */
static void ws_send(conn_t *c, int op, const uint8_t *p, size_t n) {
  thr_t *th = c->th;
  uint8_t *w = scratch(&th->wbuf, &th->wcap, n + 14);
  size_t h = 0;
  w[h++] = (uint8_t)(0x80 | op);
  if (n < 126) {
    w[h++] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    w[h++] = 0x80 | 126;
    w[h++] = (uint8_t)(n >> 8);
    w[h++] = (uint8_t)n;
  } else {
    w[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) w[h++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  uint32_t key = rnd(th);
  uint8_t *m = w + h;
  memcpy(m, &key, 4);
  h += 4;
  for (size_t i = 0; i < n; i++) w[h + i] = p[i] ^ m[i & 3];
  conn_write(c, w, h + n);
}

static void ws_text(conn_t *c, const char *fmt, ...) {
  thr_t *th = c->th;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf((char *)th->pbuf, th->pcap, fmt, ap);
  va_end(ap);
  if (n >= (int)th->pcap) {
    scratch(&th->pbuf, &th->pcap, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)th->pbuf, th->pcap, fmt, ap);
    va_end(ap);
  }
  ws_send(c, 1, th->pbuf, (size_t)n);
}

/* A Phoenix V2 binary push (kind 0, four size bytes) with the channel's join ref "1". */
static void phx_binary_push(conn_t *c, const char *topic, const char *event, const uint8_t *p, size_t n) {
  char ref[16];
  size_t rl = (size_t)snprintf(ref, sizeof ref, "%u", ++c->ref), tl = strlen(topic), el = strlen(event);
  uint8_t hdr[5 + 1 + 16 + 256 + 32];
  if (tl > 255 || el > 31) return;
  size_t h = 0;
  hdr[h++] = 0;
  hdr[h++] = 1;
  hdr[h++] = (uint8_t)rl;
  hdr[h++] = (uint8_t)tl;
  hdr[h++] = (uint8_t)el;
  hdr[h++] = '1';
  memcpy(hdr + h, ref, rl), h += rl;
  memcpy(hdr + h, topic, tl), h += tl;
  memcpy(hdr + h, event, el), h += el;
  thr_t *th = c->th;
  uint8_t *b = scratch(&th->pbuf, &th->pcap, h + n);
  if (p != b + h) memmove(b + h, p, n);
  memcpy(b, hdr, h);
  ws_send(c, 2, b, h + n);
}

/* --- opening --------------------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  free(c->in);
  free(c->frag);
  c->in = c->frag = NULL;
  c->in_len = c->in_cap = c->frag_len = c->frag_cap = 0;
  if (c->role == ROLE_API) {
    free(c->u.api.req);
    c->u.api.req = NULL;
    if (c->busy && atomic_load(&G.phase) != PH_STOP) {
      INC(c->th, api_errors);
      note_error("POST /api/broadcast: connection closed before the answer");
    }
    c->busy = false;
  }
  c->state = CS_CLOSED;
}

static void conn_close(conn_t *c) {
  if (!c->inited || c->closing) return;
  c->closing = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, on_closed);
  if (!c->settled) conn_settle(c, false);
}

static void send_handshake(conn_t *c) {
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   O.path, O.host, O.ports[c->port_i]);
  conn_write(c, req, (size_t)n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  thr_t *th = ((conn_t *)h->data)->th;
  buf->base = (char *)th->rbuf;
  buf->len = sizeof th->rbuf;
}

static void conn_feed(conn_t *c, const uint8_t *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (nread < 0) {
    if (atomic_load_explicit(&G.phase, RELAXED) != PH_STOP && c->role != ROLE_API) {
      INC(c->th, disconnects);
      if (nread != UV_EOF) note_error("read: %s", uv_strerror((int)nread));
      else if (!c->settled) note_error("connection closed by the server before the join reply");
    }
    conn_close(c);
    return;
  }
  if (nread == 0) return;
  ADD(c->th, bytes_in, (uint64_t)nread);
  conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void api_flush(conn_t *c);

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  free(req);
  if (c->closing) return;
  if (status < 0) {
    if (status != UV_ECANCELED) {
      INC(c->th, connect_errors);
      note_error("connect: %s", uv_strerror(status));
    }
    conn_close(c);
    return;
  }
  if (c->role != ROLE_API) INC(c->th, connected);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->role == ROLE_API) {
    c->state = CS_OPEN;
    api_flush(c);
    return;
  }
  c->state = CS_HANDSHAKE;
  send_handshake(c);
}

static int conn_open(conn_t *c) {
  thr_t *th = c->th;
  c->t_start = now_ns();
  c->closing = c->settled = c->joined = c->synced = c->busy = false;
  c->state = CS_CONNECTING;
  c->ref = 1;
  c->last_seq = -1;
  if (c->role != ROLE_API) {
    INC(th, connect_started);
    uint64_t z = 0;
    atomic_compare_exchange_strong(&th->st.first_connect_ns, &z, c->t_start);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, r;
  if (fd < 0) {
    INC(th, connect_errors);
    note_error("socket: %s", strerror(errno));
    c->inited = false;
    return -1;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (c->role != ROLE_API && O.sources > 0) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + (c->idx % (uint32_t)O.sources));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
      INC(th, connect_errors);
      note_error("bind 127.0.0.%u: %s", 2 + c->idx % (uint32_t)O.sources, strerror(errno));
      close(fd);
      return -1;
    }
  }
  uv_tcp_init(&th->loop, &c->tcp);
  c->tcp.data = c;
  c->inited = true;
  if ((r = uv_tcp_open(&c->tcp, fd)) < 0) {
    close(fd);
    INC(th, connect_errors);
    note_error("uv_tcp_open: %s", uv_strerror(r));
    conn_close(c);
    return -1;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_connect_t *req = xmalloc(sizeof *req);
  req->data = c;
  if ((r = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&G.dst[c->port_i], on_connect)) < 0) {
    free(req);
    INC(th, connect_errors);
    note_error("connect: %s", uv_strerror(r));
    conn_close(c);
    return -1;
  }
  return 0;
}

/* A member is settled once it joined (documents: synced) or failed; it frees a connect slot. */
static void conn_settle(conn_t *c, bool ok) {
  if (c->settled || c->role == ROLE_API) return;
  c->settled = true;
  thr_t *th = c->th;
  if (c->role == ROLE_MEMBER) {
    if (ok) INC(th, settled_ok);
    else INC(th, settled_failed);
  }
  th->inflight--;
  if (atomic_load_explicit(&G.phase, RELAXED) == PH_CONNECT && !th->opening) open_more(th);
}

static void open_more(thr_t *th) {
  th->opening = true; /* a failed open settles at once: no recursion through conn_settle */
  while (th->inflight < th->max_inflight && th->next_open < th->nconns) {
    conn_t *c = th->conns[th->next_open++];
    th->inflight++;
    if (conn_open(c) < 0 && !c->settled) conn_settle(c, false);
  }
  th->opening = false;
}

/* --- the Phoenix side ---------------------------------------------------------------------- */

static void send_join(conn_t *c) {
  char tb[300];
  const char *topic = conn_topic(c, tb, sizeof tb);
  if (O.sc == SC_PRESENCE || (O.users && c->role == ROLE_MEMBER))
    ws_text(c, "[\"1\",\"1\",\"%s\",\"phx_join\",{\"user\":\"u%u\"}]", topic, c->idx);
  else ws_text(c, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
}

static void on_joined(conn_t *c) {
  thr_t *th = c->th;
  c->joined = true;
  uint64_t t = now_ns();
  if (c->role == ROLE_SENDER) {
    conn_settle(c, true);
    return;
  }
  INC(th, joined);
  atomic_fetch_add_explicit(&th->joined_port[c->port_i], 1, RELAXED);
  atomic_store_explicit(&th->st.last_join_ns, t, RELAXED);
  hist_add(&th->join_lat, t - c->t_start);
  if (O.sc == SC_DOCS) {
    /* y-phoenix-channel's first message: sync step 1 with our (empty) state vector. */
    static const uint8_t step1[] = {0, 0, 1, 0};
    char tb[300];
    phx_binary_push(c, conn_topic(c, tb, sizeof tb), "yjs_sync", step1, sizeof step1);
    return;
  }
  conn_settle(c, true);
}

static void presence_key(conn_t *c, const char *k, size_t kn, bool join) {
  uint64_t i = 0;
  if (kn < 2 || k[0] != 'u' || !js_u64(k + 1, k + kn, &i) || kn - 1 > 10 || i >= O.members) {
    INC(c->th, presence_unknown_keys);
    return;
  }
  uint64_t *w = &c->u.pr.bits[i >> 6], bit = 1ull << (i & 63);
  bool had = *w & bit;
  if (join && !had) *w |= bit, c->u.pr.count++;
  else if (!join && had) *w &= ~bit, c->u.pr.count--;
}

static void presence_keys(conn_t *c, const char *o, const char *e, bool join) {
  const char *p = js_ws(o, e), *k, *v, *ve;
  size_t kn;
  if (p >= e || *p != '{') return;
  while (js_obj_next(&p, e, &k, &kn, &v, &ve) == 1) presence_key(c, k, kn, join);
}

/* Every member rebuilds the room's presence list from presence_state and presence_diff (keys
 * u<i>; leaves before joins, so a meta update — leave + join of one key — keeps the key). A list
 * is complete once it holds all N members and the presence_state has come: phoenix.js queues the
 * diffs until then. With no leaves in this scenario, state and diffs are merged as a union. */
static void on_presence(conn_t *c, bool state, const char *p, const char *e) {
  if (O.sc != SC_PRESENCE || c->role != ROLE_MEMBER) return;
  bool was = c->u.pr.state && c->u.pr.count == O.members;
  if (state) {
    c->u.pr.state = true;
    presence_keys(c, p, e, true);
  } else {
    const char *jv = NULL, *jve = NULL, *lv, *lve;
    bool j = js_obj_get(p, e, "joins", &jv, &jve);
    if (js_obj_get(p, e, "leaves", &lv, &lve)) presence_keys(c, lv, lve, false);
    if (j) presence_keys(c, jv, jve, true);
  }
  bool is = c->u.pr.state && c->u.pr.count == O.members;
  if (is && !was) {
    c->u.pr.complete_at = now_ns();
    INC(c->th, presence_complete);
  } else if (was && !is) {
    atomic_fetch_sub_explicit(&c->th->st.presence_complete, 1, RELAXED);
  }
}

/* A broadcast: {"t":<send ns>,"s":<seq>,...}. */
static void on_lg(conn_t *c, const char *p, const char *e) {
  const char *v, *ve;
  uint64_t t = 0, s = 0;
  if (!js_obj_get(p, e, "t", &v, &ve) || !js_u64(v, ve, &t) || !js_obj_get(p, e, "s", &v, &ve) ||
      !js_u64(v, ve, &s) || s >= G.nmsgs) {
    INC(c->th, protocol_errors);
    note_error("broadcast without t/s: %.60s", p);
    return;
  }
  if (c->role != ROLE_MEMBER) return;
  thr_t *th = c->th;
  uint64_t now = now_ns();
  hist_add(&th->lat, now > t ? now - t : 0);
  INC(th, delivered);
  atomic_store_explicit(&th->st.last_delivery_ns, now, RELAXED);
  if ((int64_t)s <= c->last_seq) INC(th, out_of_order);
  else c->last_seq = (int64_t)s;
  msg_delivered(th, (uint32_t)s);
}

static void on_text(conn_t *c, const char *p, size_t n) {
  const char *e = p + n, *q = js_ws(p, e);
  if (q >= e || *q != '[') goto bad;
  const char *jr = js_ws(q + 1, e), *jre = js_skip(jr, e);
  if (!jre || (q = js_ws(jre, e)) >= e || *q != ',') goto bad;
  const char *ref = js_ws(q + 1, e), *refe = js_skip(ref, e);
  if (!refe || (q = js_ws(refe, e)) >= e || *q != ',') goto bad;
  const char *tp = js_ws(q + 1, e), *tpe = js_skip(tp, e);
  if (!tpe || (q = js_ws(tpe, e)) >= e || *q != ',') goto bad;
  const char *ev = js_ws(q + 1, e), *eve = js_skip(ev, e);
  if (!eve || (q = js_ws(eve, e)) >= e || *q != ',' || *ev != '"') goto bad;
  const char *pl = js_ws(q + 1, e), *ple = js_skip(pl, e);
  if (!ple) goto bad;
  ev++, eve--; /* without the quotes */
  thr_t *th = c->th;
  if (js_is(ev, eve, "phx_reply")) {
    if (js_is(tp, tpe, "\"phoenix\"")) return; /* heartbeat */
    const char *sv, *sve;
    bool ok = js_obj_get(pl, ple, "status", &sv, &sve) && js_is(sv, sve, "\"ok\"");
    if (!c->joined && js_is(ref, refe, "\"1\"")) {
      if (ok) {
        on_joined(c);
      } else {
        if (c->role == ROLE_MEMBER) INC(th, join_errors);
        note_error("join refused: %.*s", (int)(ple - pl > 120 ? 120 : ple - pl), pl);
        conn_close(c);
      }
    } else if (!ok) {
      INC(th, push_errors);
      note_error("error reply: %.*s", (int)(ple - pl > 120 ? 120 : ple - pl), pl);
    }
  } else if (js_is(ev, eve, "lg")) {
    on_lg(c, pl, ple);
  } else if (js_is(ev, eve, "presence_diff") || js_is(ev, eve, "presence_state")) {
    bool state = eve - ev == 14;
    if (state) INC(th, presence_state_frames);
    else INC(th, presence_diff_frames);
    ADD(th, presence_bytes, n);
    on_presence(c, state, pl, ple);
  } else if (js_is(ev, eve, "yjs_error")) {
    INC(th, yjs_errors);
    note_error("yjs_error: %.*s", (int)(ple - pl > 120 ? 120 : ple - pl), pl);
  } else if (js_is(ev, eve, "phx_error") || js_is(ev, eve, "phx_close")) {
    INC(th, channel_errors);
    note_error("%.*s on %.*s", (int)(eve - ev), ev, (int)(tpe - tp), tp);
  } else {
    INC(th, other_frames);
  }
  return;
bad:
  INC(c->th, protocol_errors);
  note_error("malformed text frame: %.60s", p);
}

static bool is_hex(uint8_t ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); }
static uint64_t hex_val(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 4 | (uint64_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
  return v;
}

/* A document update broadcast (00 02 <update>): every item we wrote carries the string
 * "L<16 hex: send ns><8 hex: message id>" (varString length 25 = 0x19). */
static void on_doc_update(conn_t *c, const uint8_t *p, size_t n) {
  thr_t *th = c->th;
  uint64_t now = now_ns();
  bool any = false;
  for (size_t i = 0; i + 26 <= n; i++) {
    if (p[i] != 0x19 || p[i + 1] != 'L') continue;
    const uint8_t *h = p + i + 2;
    int k = 0;
    while (k < 24 && is_hex(h[k])) k++;
    if (k < 24) continue;
    uint64_t t = hex_val(h, 16), id = hex_val(h + 16, 8);
    if (id >= G.nmsgs) continue;
    any = true;
    hist_add(&th->lat, now > t ? now - t : 0);
    INC(th, delivered);
    atomic_store_explicit(&th->st.last_delivery_ns, now, RELAXED);
    msg_delivered(th, (uint32_t)id);
    i += 25;
  }
  if (!any) INC(th, other_frames);
}

static void on_binary(conn_t *c, const uint8_t *p, size_t n) {
  thr_t *th = c->th;
  if (n < 3) goto bad;
  if (p[0] == 0) { /* push: join_ref, topic, event sizes */
    if (n < 4 || 4u + p[1] + p[2] + p[3] > n) goto bad;
    const uint8_t *ev = p + 4 + p[1] + p[2], *pl = ev + p[3];
    size_t pn = n - (size_t)(pl - p);
    if (p[3] == 3 && !memcmp(ev, "yjs", 3) && pn >= 2 && pl[0] == 0 && pl[1] == 1 && !c->synced) {
      c->synced = true;
      if (c->role == ROLE_MEMBER) {
        INC(th, synced);
        atomic_store_explicit(&th->st.last_sync_ns, now_ns(), RELAXED);
        /* answer the server's step 1 as the provider does: our state (empty) as step 2 */
        static const uint8_t step2[] = {0, 1, 2, 0, 0};
        char tb[300];
        phx_binary_push(c, conn_topic(c, tb, sizeof tb), "yjs", step2, sizeof step2);
      }
      conn_settle(c, true);
    } else {
      INC(th, other_frames);
    }
  } else if (p[0] == 2) { /* broadcast: topic, event sizes */
    if (3u + p[1] + p[2] > n) goto bad;
    const uint8_t *ev = p + 3 + p[1], *pl = ev + p[2];
    size_t pn = n - (size_t)(pl - p);
    if (p[2] == 3 && !memcmp(ev, "yjs", 3) && pn >= 2 && pl[0] == 0 && pl[1] == 2) on_doc_update(c, pl, pn);
    else INC(th, other_frames);
  } else if (p[0] == 1) {
    INC(th, other_frames);
  } else {
    goto bad;
  }
  return;
bad:
  INC(th, protocol_errors);
  note_error("malformed binary frame (kind %u, %zu bytes)", p[0], n);
}

static void on_message(conn_t *c, int op, const uint8_t *p, size_t n) {
  INC(c->th, frames_in);
  if (op == 1) on_text(c, (const char *)p, n);
  else on_binary(c, p, n);
}

/* --- input: HTTP heads (upgrade, API), WebSocket frames ------------------------------------------ */

/* Length of the head ending in CRLFCRLF, or 0 when incomplete. */
static size_t head_len(const uint8_t *p, size_t n) {
  for (size_t i = 3; i < n; i++)
    if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
  return 0;
}

static size_t feed_handshake(conn_t *c, const uint8_t *p, size_t n) {
  size_t h = head_len(p, n);
  if (!h) {
    if (n > 16384) goto bad;
    return 0;
  }
  char head[4096];
  size_t hn = h < sizeof head - 1 ? h : sizeof head - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if (strncmp(head, "HTTP/1.1 101", 12) || !strstr(head, WS_ACCEPT)) goto bad;
  c->state = CS_OPEN;
  send_join(c);
  return h;
bad:
  INC(c->th, handshake_errors);
  {
    const char *eol = memchr(p, '\r', n < 80 ? n : 80);
    note_error("upgrade refused: %.*s", (int)(eol ? eol - (const char *)p : (n < 80 ? (int)n : 80)), p);
  }
  conn_close(c);
  return SIZE_MAX;
}

static size_t feed_api(conn_t *c, const uint8_t *p, size_t n) {
  size_t used = 0;
  while (used < n) {
    size_t h = head_len(p + used, n - used);
    if (!h) break;
    char head[4096];
    size_t hn = h < sizeof head - 1 ? h : sizeof head - 1;
    memcpy(head, p + used, hn);
    head[hn] = 0;
    for (char *q = head; *q; q++)
      if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
    const char *cl = strstr(head, "\r\ncontent-length:");
    size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    if (n - used < h + body) break;
    int status = atoi(head + 9);
    if (!c->busy) {
      /* unasked (408 on an idle keep-alive connection, which the server then closes): ours
       * were all answered; the next request reconnects */
    } else if (status >= 200 && status < 300) {
      INC(c->th, api_ok);
    } else {
      INC(c->th, api_errors);
      note_error("POST /api/broadcast: %d %.*s", status, (int)(body > 100 ? 100 : body), p + used + h);
    }
    used += h + body;
    c->busy = false;
  }
  if (!c->busy) pump_sender(c->th);
  return used;
}

static void frag_append(conn_t *c, const uint8_t *p, size_t n) {
  if (c->frag_len + n > c->frag_cap) {
    c->frag_cap = (uint32_t)((c->frag_len + n) * 2);
    c->frag = xrealloc(c->frag, c->frag_cap);
  }
  memcpy(c->frag + c->frag_len, p, n);
  c->frag_len += (uint32_t)n;
}

static size_t feed_frames(conn_t *c, const uint8_t *p, size_t n) {
  size_t pos = 0;
  while (n - pos >= 2) {
    const uint8_t *f = p + pos;
    size_t avail = n - pos, h = 2;
    uint64_t len = f[1] & 0x7f;
    if (f[1] & 0x80) goto bad; /* a server never masks */
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)f[2] << 8 | f[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
      h = 10;
    }
    if (len > MAX_FRAME) goto bad;
    if (avail < h + len) {
      c->th->need = h + (size_t)len; /* conn_feed keeps room for all of it */
      break;
    }
    int op = f[0] & 0x0f;
    bool fin = f[0] & 0x80;
    const uint8_t *pl = f + h;
    pos += h + (size_t)len;
    switch (op) {
    case 0x8: { /* close: answer it and go */
      INC(c->th, remote_closes);
      unsigned code = len >= 2 ? (unsigned)pl[0] << 8 | pl[1] : 1005;
      note_error("closed by the server: %u %.*s", code, (int)(len > 2 ? (len > 80 ? 78 : len - 2) : 0), pl + 2);
      uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
      ws_send(c, 0x8, echo, len >= 2 ? 2 : 0);
      conn_close(c);
      return SIZE_MAX;
    }
    case 0x9: ws_send(c, 0xA, pl, (size_t)len); break;
    case 0xA: break;
    case 0x1:
    case 0x2:
      if (fin) {
        on_message(c, op, pl, (size_t)len);
      } else {
        c->frag_op = (uint8_t)op;
        c->frag_len = 0;
        frag_append(c, pl, (size_t)len);
      }
      break;
    case 0x0:
      if (!c->frag_op) goto bad;
      frag_append(c, pl, (size_t)len);
      if (fin) {
        on_message(c, c->frag_op, c->frag, c->frag_len);
        c->frag_op = 0;
        free(c->frag);
        c->frag = NULL;
        c->frag_len = c->frag_cap = 0;
      }
      break;
    default: goto bad;
    }
    if (c->closing) return SIZE_MAX;
  }
  return pos;
bad:
  INC(c->th, protocol_errors);
  note_error("malformed WebSocket frame from the server");
  conn_close(c);
  return SIZE_MAX;
}

static void in_reserve(conn_t *c, size_t cap) {
  if (c->in_cap >= cap) return;
  if (cap > MAX_FRAME + 16) cap = MAX_FRAME + 16;
  c->in_cap = (uint32_t)cap;
  c->in = xrealloc(c->in, c->in_cap);
}

/* Parse in place from the read buffer; only an incomplete tail is copied into c->in (freed as
 * soon as it is consumed: an idle socket keeps no input buffer). */
static void conn_feed(conn_t *c, const uint8_t *data, size_t len) {
  const uint8_t *p = data;
  size_t n = len;
  bool pending = c->in_len > 0;
  c->th->need = 0;
  if (pending) {
    if (c->in_len + len > c->in_cap) in_reserve(c, c->in_len + len > 2u * c->in_cap ? c->in_len + len : 2u * c->in_cap);
    memcpy(c->in + c->in_len, data, len);
    c->in_len += (uint32_t)len;
    p = c->in;
    n = c->in_len;
  }
  size_t used = 0, u;
  if (c->role == ROLE_API) {
    used = feed_api(c, p, n);
  } else {
    if (c->state == CS_HANDSHAKE) {
      if ((u = feed_handshake(c, p, n)) == SIZE_MAX) return;
      used = u;
    }
    if (c->state == CS_OPEN) {
      if ((u = feed_frames(c, p + used, n - used)) == SIZE_MAX) return;
      used += u;
    }
  }
  if (c->closing) return;
  size_t rest = n - used;
  if (!rest) {
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    return;
  }
  if (pending) {
    memmove(c->in, c->in + used, rest);
  } else {
    in_reserve(c, rest);
    memcpy(c->in, p + used, rest);
  }
  c->in_len = (uint32_t)rest;
  if (c->th->need > rest) in_reserve(c, c->th->need);
}

/* --- broadcast: one sender, closed loop (--window in flight) or open loop (--rate) ---------------- */

static size_t bc_payload(char *b, size_t cap, uint64_t t, uint32_t s) {
  int n = snprintf(b, cap, "{\"t\":%" PRIu64 ",\"s\":%u,\"p\":\"", t, s);
  size_t want = O.size > (size_t)n + 2 ? O.size - 2 : (size_t)n;
  while ((size_t)n < want && (size_t)n < cap - 3) b[n++] = 'x';
  b[n++] = '"';
  b[n++] = '}';
  return (size_t)n;
}

static void api_flush(conn_t *c) {
  if (!c->u.api.req || c->state != CS_OPEN) return;
  uint8_t *r = c->u.api.req;
  uint32_t n = c->u.api.req_len;
  c->u.api.req = NULL;
  conn_write(c, r, n);
  free(r);
}

static bool send_one(thr_t *th, uint32_t s) {
  char *pl = (char *)scratch(&th->pbuf, &th->pcap, O.size + 1024);
  uint64_t t = now_ns();
  if (O.via_api) {
    conn_t *a = NULL;
    for (uint32_t i = 0; i < O.api_conns && !a; i++)
      if (!G.api[i].busy && !(G.api[i].inited && G.api[i].closing && G.api[i].state != CS_CLOSED))
        a = &G.api[i];
    if (!a) return false;
    char *body = xmalloc(O.size + 1024);
    int bn = snprintf(body, O.size + 1024, "{\"topic\":\"%s\",\"event\":\"lg\",\"payload\":", O.topic);
    bn += (int)bc_payload(body + bn, O.size + 512, t, s);
    body[bn++] = '}';
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /api/broadcast HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n%s%s%s\r\n",
                      O.host, O.port, bn, O.api_key ? "Authorization: Bearer " : "",
                      O.api_key ? O.api_key : "", O.api_key ? "\r\n" : "");
    free(a->u.api.req);
    a->u.api.req = xmalloc((size_t)hn + (size_t)bn);
    memcpy(a->u.api.req, head, (size_t)hn);
    memcpy(a->u.api.req + hn, body, (size_t)bn);
    a->u.api.req_len = (uint32_t)(hn + bn);
    free(body);
    if (!a->inited || a->state == CS_CLOSED) { /* (re)connect; the request goes once connected */
      a->in_len = 0;
      if (conn_open(a) < 0) {
        INC(th, api_errors);
        return false;
      }
    } else {
      api_flush(a);
    }
    a->busy = true;
  } else {
    conn_t *snd = &G.conns[O.sockets];
    if (!snd->joined || snd->closing) return false;
    int n = snprintf(pl, 512, "[\"1\",\"%u\",\"%s\",\"lg\",", ++snd->ref, O.topic);
    n += (int)bc_payload(pl + n, O.size + 256, t, s);
    pl[n++] = ']';
    ws_send(snd, 1, (const uint8_t *)pl, (size_t)n);
  }
  G.sent_at[s] = t;
  if (!s) atomic_store_explicit(&th->st.first_send_ns, t, RELAXED);
  INC(th, sent);
  return true;
}

static void pump_sender(thr_t *th) {
  if (O.sc != SC_BROADCAST || th->id != 0 || atomic_load(&G.phase) != PH_RUN ||
      atomic_load(&G.sender_done))
    return;
  uint64_t now = now_ns(), tmo = (uint64_t)(O.msg_timeout * 1e9);
  while (G.s_first_open < G.s_next) {
    uint32_t s = G.s_first_open;
    bool done = atomic_load_explicit(&G.deliv[s], RELAXED) >= G.bc_expected;
    if (!done && now - G.sent_at[s] < tmo) break;
    if (!done) INC(th, timeouts);
    G.s_first_open++;
    G.s_inflight--;
  }
  while (G.s_next < O.messages) {
    if (O.rate > 0) {
      double due = (double)(now - G.s_start) * 1e-9 * O.rate + 1;
      if ((double)G.s_next >= due) break;
    } else if (G.s_inflight >= O.window) {
      break;
    }
    if (!send_one(th, G.s_next)) break;
    G.s_next++;
    G.s_inflight++;
  }
  if (G.s_next == O.messages && G.s_inflight == 0) atomic_store(&G.sender_done, 1);
}

/* --- docs: U updates per document, each from one of its clients in turn ----------------------------- */

static size_t put_varuint(uint8_t *b, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) b[n++] = (uint8_t)(v | 0x80), v >>= 7;
  b[n++] = (uint8_t)v;
  return n;
}

/* A Yjs update v1 (yjs formats spec, 2.8 E1/E2): one Item with a 25-character ContentString by the
 * writer's client id at its next clock; the first at the root of Y.Text "t", the next ones after
 * the writer's previous item (origin = its last character); empty delete set. Wrapped as a
 * y-protocols update message (00 02 varbytes). */
static size_t doc_update(uint8_t *out, uint32_t client, uint32_t clock, uint64_t t, uint32_t id) {
  uint8_t u[96];
  size_t n = 0;
  u[n++] = 1; /* one client group */
  u[n++] = 1; /* one struct */
  n += put_varuint(u + n, client);
  n += put_varuint(u + n, clock);
  if (!clock) {
    u[n++] = 0x04; /* String, parent info follows */
    u[n++] = 1;    /* parent is a root type by name */
    u[n++] = 1;
    u[n++] = 't';
  } else {
    u[n++] = 0x84; /* String with origin */
    n += put_varuint(u + n, client);
    n += put_varuint(u + n, clock - 1);
  }
  u[n++] = 25;
  n += (size_t)sprintf((char *)u + n, "L%016" PRIx64 "%08x", t, id);
  u[n++] = 0; /* delete set: no clients */
  size_t m = 0;
  out[m++] = 0;
  out[m++] = 2;
  m += put_varuint(out + m, n);
  memcpy(out + m, u, n);
  return m + n;
}

static void doc_send(thr_t *th, ydoc_t *d) {
  uint32_t u = d->next_u, id = d->d * O.updates + u;
  conn_t *w = NULL;
  for (uint32_t k = 0, seen = 0; k < O.clients; k++) {
    conn_t *c = d->clients[k];
    if (c->synced && !c->closing && seen++ == u % d->writers) {
      w = c;
      break;
    }
  }
  if (!w) return;
  uint8_t msg[128];
  uint64_t t = now_ns();
  size_t n = doc_update(msg, w->u.y.client, w->u.y.clock, t, id);
  w->u.y.clock += 25;
  char tb[300];
  phx_binary_push(w, conn_topic(w, tb, sizeof tb), "yjs", msg, n);
  G.sent_at[id] = t;
  uint64_t z = 0;
  atomic_compare_exchange_strong(&th->st.first_send_ns, &z, t);
  INC(th, sent);
}

static void pump_doc(thr_t *th, ydoc_t *d, uint64_t now) {
  if (d->done) return;
  uint64_t tmo = (uint64_t)(O.msg_timeout * 1e9);
  while (d->first_open < d->next_u) {
    uint32_t id = d->d * O.updates + d->first_open;
    bool done = atomic_load_explicit(&G.deliv[id], RELAXED) >= d->expected;
    if (!done && now - G.sent_at[id] < tmo) break;
    if (!done) INC(th, timeouts);
    d->first_open++;
    d->inflight--;
  }
  while (d->next_u < O.updates) {
    if (O.rate > 0) {
      if ((double)d->next_u >= (double)(now - d->t_start) * 1e-9 * O.rate + 1) break;
    } else if (d->inflight >= O.window) {
      break;
    }
    doc_send(th, d);
    d->next_u++;
    d->inflight++;
  }
  if (d->next_u == O.updates && !d->inflight) {
    d->done = true;
    atomic_fetch_add(&G.docs_done, 1);
  }
}

static void pump_docs(thr_t *th) {
  if (O.sc != SC_DOCS || atomic_load(&G.phase) != PH_RUN) return;
  uint64_t now = now_ns();
  for (uint32_t i = 0; i < th->ndocs; i++) pump_doc(th, &th->docs[i], now);
}

static void docs_start(thr_t *th) {
  uint64_t now = now_ns();
  for (uint32_t i = 0; i < th->ndocs; i++) {
    ydoc_t *d = &th->docs[i];
    d->writers = 0;
    for (uint32_t k = 0; k < O.clients; k++) d->writers += d->clients[k]->synced;
    d->expected = d->writers ? d->writers - 1 : 0;
    d->t_start = now;
    if (d->writers < 2) { /* nobody to deliver to */
      d->done = true;
      atomic_fetch_add(&G.docs_done, 1);
    }
  }
}

static void msg_delivered(thr_t *th, uint32_t id) {
  uint32_t n = atomic_fetch_add_explicit(&G.deliv[id], 1, RELAXED) + 1;
  if (O.sc == SC_BROADCAST) {
    if (n == G.bc_expected) {
      if (th->id == 0) pump_sender(th);
      else if (atomic_load_explicit(&G.phase, RELAXED) == PH_RUN) uv_async_send(&G.th[0].async);
    }
  } else if (O.sc == SC_DOCS) {
    ydoc_t *d = &th->docs[(id / O.updates) / (uint32_t)G.nth];
    if (n >= d->expected) pump_doc(th, d, now_ns());
  }
}

/* --- the threads ----------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) { /* 1 s: heartbeats, each socket every 30 s, staggered */
  thr_t *th = t->data;
  uint64_t slot = th->tick_n++ % HEARTBEAT_S;
  if (th->tick_n < HEARTBEAT_S) return;
  for (uint32_t i = 0; i < th->nconns; i++) {
    conn_t *c = th->conns[i];
    if (c->state == CS_OPEN && !c->closing && c->idx % HEARTBEAT_S == slot) {
      ws_text(c, "[null,\"%u\",\"phoenix\",\"heartbeat\",{}]", ++c->ref);
      INC(th, heartbeats);
    }
  }
}

static void on_pump(uv_timer_t *t) {
  thr_t *th = t->data;
  pump_sender(th);
  pump_docs(th);
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) {
    if (h->type == UV_TCP) conn_close(h->data);
    else uv_close(h, NULL);
  }
}

static void on_async(uv_async_t *a) {
  thr_t *th = a->data;
  int ph = atomic_load(&G.phase);
  if (ph != th->phase_seen) {
    th->phase_seen = ph;
    if (ph == PH_CONNECT) {
      open_more(th);
    } else if (ph == PH_RUN) {
      if (O.sc == SC_DOCS) docs_start(th);
      uv_timer_start(&th->pump, on_pump, 1, 1);
      if (O.sc == SC_BROADCAST && th->id == 0) G.s_start = now_ns();
    } else if (ph == PH_STOP) {
      uv_walk(&th->loop, close_walk, NULL);
      return;
    }
  }
  pump_sender(th);
  pump_docs(th);
}

static void thread_main(void *arg) {
  thr_t *th = arg;
  uv_run(&th->loop, UV_RUN_DEFAULT);
}

/* --- /proc --------------------------------------------------------------------------------------- */

static long proc_status_kb(long pid, const char *field) {
  char path[64], line[256];
  if (pid > 0) snprintf(path, sizeof path, "/proc/%ld/status", pid);
  else snprintf(path, sizeof path, "/proc/self/status");
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  size_t fl = strlen(field);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static double proc_cpu_s(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --- options parsing, limits ----------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: loadgen connect|broadcast|presence|docs [options]\n"
          "target (127.0.0.0/8 only):\n"
          "  --host ADDR (127.0.0.1)  --port N (4000)  --path P (/socket)  --api-key KEY\n"
          "  --port N1,N2,... (same host: members round robin over the ports; the broadcast\n"
          "                   sender and API connections on the first; joins counted per port)\n"
          "common:\n"
          "  --threads N (CPUs)  --concurrency N (256 connects+joins in flight)\n"
          "  --sources N (253 source addresses 127.0.0.2..; 0: let the kernel choose)\n"
          "  --connect-timeout S (120)  --timeout S (300, the scenario's run)\n"
          "  --seconds S (hold after the run: connect 10, others 0)  --server-pid PID (RSS, CPU)\n"
          "  --json  --quiet\n"
          "connect:   --sockets N (1000) --prefix activity:|room:|... (activity:) --topics T (1)\n"
          "           --topic NAME (one explicit topic) --users (join with {\"user\":\"u<i>\"}: tracked\n"
          "           by room:* presence; without it a room member is an anonymous listener)\n"
          "broadcast: --sockets N (receivers) --messages M (100) --via api|push (api) --size B (100)\n"
          "           --topic NAME (api: activity:server, push: room:lg-bcast) --window W (1)\n"
          "           --rate R (msgs/s, open loop; 0 = closed loop) --api-conns K --msg-timeout S (5)\n"
          "           --users (receivers join with {\"user\":\"u<i>\"})\n"
          "presence:  --members N (100) --room NAME (room:lg-presence)\n"
          "docs:      --docs D (10) --clients C (10) --updates U (100) --window W (1 per doc)\n"
          "           --rate R (updates/s per document) --doc-prefix P (y_doc_room:lg-)\n");
}

static double arg_num(const char *opt, const char *v, double lo, double hi) {
  char *end;
  double d = v ? strtod(v, &end) : 0;
  if (!v || *end || d < lo || d > hi) {
    fprintf(stderr, "loadgen: %s wants a number in [%g, %g]\n", opt, lo, hi);
    exit(2);
  }
  return d;
}

/* --port N or N1,N2,...: distinct ports, at most MAX_PORTS. */
static void parse_ports(const char *opt, const char *v) {
  char buf[256];
  if (!v || strlen(v) >= sizeof buf) arg_num(opt, NULL, 1, 65535);
  snprintf(buf, sizeof buf, "%s", v);
  O.nports = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (O.nports == MAX_PORTS) fprintf(stderr, "loadgen: --port: at most %d ports\n", MAX_PORTS), exit(2);
    int p = (int)arg_num(opt, tok, 1, 65535);
    for (int i = 0; i < O.nports; i++)
      if (O.ports[i] == p) fprintf(stderr, "loadgen: --port: %d given twice\n", p), exit(2);
    O.ports[O.nports++] = p;
  }
  if (!O.nports || v[strlen(v) - 1] == ',' || v[0] == ',' || strstr(v, ",,"))
    fprintf(stderr, "loadgen: --port wants N or N1,N2,... in [1, 65535]\n"), exit(2);
  O.port = O.ports[0];
}

static void parse_args(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    exit(argc < 2 ? 2 : 0);
  }
  int sc = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(argv[1], scenario_names[i])) sc = i;
  if (sc < 0) {
    fprintf(stderr, "loadgen: unknown scenario '%s'\n", argv[1]);
    usage(stderr);
    exit(2);
  }
  O.sc = (scenario_t)sc;
  bool via_set = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && (i++, 1))
    if (!strcmp(a, "--json")) O.json = true;
    else if (!strcmp(a, "--quiet")) O.quiet = true;
    else if (!strcmp(a, "--users")) O.users = true;
    else if (!strcmp(a, "--help")) usage(stdout), exit(0);
    else if (OPT("--host")) snprintf(O.host, sizeof O.host, "%s", v ? v : "");
    else if (OPT("--port")) parse_ports(a, v);
    else if (OPT("--path")) snprintf(O.path, sizeof O.path, "%s", v ? v : "");
    else if (OPT("--api-key")) O.api_key = v;
    else if (OPT("--threads")) O.threads = (int)arg_num(a, v, 1, MAX_THREADS);
    else if (OPT("--concurrency")) O.concurrency = (int)arg_num(a, v, 1, 1e6);
    else if (OPT("--sources")) O.sources = (int)arg_num(a, v, 0, 253);
    else if (OPT("--connect-timeout")) O.connect_timeout = arg_num(a, v, 0.1, 1e6);
    else if (OPT("--timeout")) O.timeout = arg_num(a, v, 0.1, 1e6);
    else if (OPT("--seconds")) O.seconds = arg_num(a, v, 0, 1e6);
    else if (OPT("--server-pid") || OPT("--pid")) O.server_pid = (long)arg_num(a, v, 1, 1e9);
    else if (OPT("--sockets")) O.sockets = (uint32_t)arg_num(a, v, 1, 1e8);
    else if (OPT("--topics")) O.topics = (uint32_t)arg_num(a, v, 1, 1e8);
    else if (OPT("--prefix")) O.prefix = v;
    else if (OPT("--topic")) O.topic = v;
    else if (OPT("--messages")) O.messages = (uint32_t)arg_num(a, v, 1, 1e8);
    else if (OPT("--size")) O.size = (uint32_t)arg_num(a, v, 16, 16 << 20);
    else if (OPT("--window")) O.window = (uint32_t)arg_num(a, v, 1, 1e6);
    else if (OPT("--api-conns")) O.api_conns = (uint32_t)arg_num(a, v, 1, 1024);
    else if (OPT("--rate")) O.rate = arg_num(a, v, 0, 1e9);
    else if (OPT("--msg-timeout")) O.msg_timeout = arg_num(a, v, 0.01, 1e6);
    else if (OPT("--via")) {
      via_set = true;
      if (v && !strcmp(v, "api")) O.via_api = true;
      else if (v && !strcmp(v, "push")) O.via_api = false;
      else fprintf(stderr, "loadgen: --via api|push\n"), exit(2);
    } else if (OPT("--members")) O.members = (uint32_t)arg_num(a, v, 1, 1e7);
    else if (OPT("--room")) O.room = v;
    else if (OPT("--docs")) O.docs = (uint32_t)arg_num(a, v, 1, 1e6);
    else if (OPT("--clients")) O.clients = (uint32_t)arg_num(a, v, 1, 1e6);
    else if (OPT("--updates")) O.updates = (uint32_t)arg_num(a, v, 1, 1e7);
    else if (OPT("--doc-prefix")) O.doc_prefix = v;
    else {
      fprintf(stderr, "loadgen: unknown option '%s'\n", a);
      usage(stderr);
      exit(2);
    }
    if (i >= argc) fprintf(stderr, "loadgen: %s needs a value\n", a), exit(2);
#undef OPT
  }
  (void)via_set;
  if (!strcmp(O.host, "localhost")) snprintf(O.host, sizeof O.host, "127.0.0.1");
  struct in_addr ia;
  if (inet_pton(AF_INET, O.host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127) {
    fprintf(stderr, "loadgen: --host %s: only loopback IPv4 targets (127.0.0.0/8) are allowed\n", O.host);
    exit(2);
  }
  for (int i = 0; i < O.nports; i++) {
    G.dst[i].sin_family = AF_INET;
    G.dst[i].sin_addr = ia;
    G.dst[i].sin_port = htons((uint16_t)O.ports[i]);
  }
  if (O.seconds < 0) O.seconds = O.sc == SC_CONNECT ? 10 : 0;
  if (O.sc == SC_BROADCAST && !O.topic) O.topic = O.via_api ? "activity:server" : "room:lg-bcast";
  if (O.sc == SC_BROADCAST && !O.via_api && strncmp(O.topic, "room:", 5))
    fprintf(stderr, "loadgen: warning: --via push relays only on room:* topics (cinder)\n");
  if (!O.api_conns) O.api_conns = O.rate > 0 ? 8 : O.window;
  if (O.threads <= 0) O.threads = (int)uv_available_parallelism();
  for (const char *t = O.topic ? O.topic : O.prefix; *t; t++)
    if (*t == '"' || *t == '\\' || (unsigned char)*t < 0x20)
      fprintf(stderr, "loadgen: topic names with quotes or control characters are not supported\n"), exit(2);
}

/* Raise the soft descriptor limit to the hard one; refuse a run that cannot fit. */
static void check_fds(uint64_t sockets) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  uint64_t need = sockets + FD_MARGIN + 4u * (uint64_t)O.threads;
  if (need > rl.rlim_cur) {
    fprintf(stderr,
            "loadgen: %" PRIu64 " sockets need %" PRIu64 " descriptors (%d kept for the process), but "
            "ulimit -n is %llu (hard limit %llu).\n"
            "  Raise it (as root: ulimit -n %" PRIu64 ", or nofile in /etc/security/limits.conf or "
            "LimitNOFILE=) or run fewer sockets.\n",
            sockets, need, (int)(need - sockets), (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max, need);
    exit(2);
  }
  /* Ports per source address: the ephemeral range of one 4-tuple family. */
  FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  int lo = 32768, hi = 60999;
  if (f) {
    if (fscanf(f, "%d %d", &lo, &hi) != 2) lo = 32768, hi = 60999;
    fclose(f);
  }
  uint64_t per = O.sources ? (sockets + (uint64_t)O.sources - 1) / (uint64_t)O.sources : sockets;
  if (per > (uint64_t)(hi - lo + 1))
    fprintf(stderr, "loadgen: warning: %" PRIu64 " sockets per source address exceed the %d ports of "
            "ip_local_port_range; use more --sources\n", per, hi - lo + 1);
}

/* --- report ---------------------------------------------------------------------------------------- */

static void totals(tot_t *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < G.nth; i++) {
    stats_t *s = &G.th[i].st;
#define F(n) t->n += atomic_load_explicit(&s->n, RELAXED);
    STATS(F)
#undef F
    uint64_t fc = atomic_load_explicit(&s->first_connect_ns, RELAXED);
    if (fc && (!t->first_connect_ns || fc < t->first_connect_ns)) t->first_connect_ns = fc;
    uint64_t fs = atomic_load_explicit(&s->first_send_ns, RELAXED);
    if (fs && (!t->first_send_ns || fs < t->first_send_ns)) t->first_send_ns = fs;
#define MAXF(n)                                                  \
  {                                                              \
    uint64_t v = atomic_load_explicit(&s->n, RELAXED);           \
    if (v > t->n) t->n = v;                                      \
  }
    MAXF(last_join_ns)
    MAXF(last_sync_ns)
    MAXF(last_delivery_ns)
#undef MAXF
  }
}

static double secs(uint64_t a, uint64_t b) { return b > a ? (double)(b - a) * 1e-9 : 0; }

typedef struct report {
  const char *k;
  char v[160];
  bool str;
} report_t;
static report_t R[96 + MAX_PORTS];
static int nr;
static void put(const char *k, bool str, const char *fmt, ...) {
  if (nr >= (int)(sizeof R / sizeof R[0])) return;
  R[nr].k = k;
  R[nr].str = str;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(R[nr].v, sizeof R[nr].v, fmt, ap);
  va_end(ap);
  nr++;
}
#define PUTU(k, v) put(k, false, "%" PRIu64, (uint64_t)(v))
#define PUTF(k, v) put(k, false, "%.3f", (double)(v))
#define PUTS(k, v) put(k, true, "%s", v)

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void put_hist(const char *prefix, const hist_t *h) {
  static char keys[8][6][48];
  static int nk;
  int k = nk++ % 8;
  const char *names[6] = {"p50_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "samples"};
  for (int i = 0; i < 6; i++) snprintf(keys[k][i], sizeof keys[k][i], "%s_%s", prefix, names[i]);
  put(keys[k][0], false, "%.3f", (double)hist_pct(h, 0.50) / 1e6);
  put(keys[k][1], false, "%.3f", (double)hist_pct(h, 0.99) / 1e6);
  put(keys[k][2], false, "%.3f", (double)hist_pct(h, 0.999) / 1e6);
  put(keys[k][3], false, "%.3f", (double)h->max / 1e6);
  put(keys[k][4], false, "%.3f", h->n ? (double)h->sum / (double)h->n / 1e6 : 0.0);
  PUTU(keys[k][5], h->n);
}

static void progress(const char *phase, uint64_t t0) {
  if (O.quiet) return;
  tot_t t;
  totals(&t);
  fprintf(stderr, "[%6.1fs] %-8s connected %" PRIu64 "  joined %" PRIu64, secs(t0, now_ns()), phase,
          t.connected, t.joined);
  if (O.sc == SC_DOCS) fprintf(stderr, "  synced %" PRIu64, t.synced);
  if (O.sc == SC_BROADCAST || O.sc == SC_DOCS)
    fprintf(stderr, "  sent %" PRIu64 "  delivered %" PRIu64, t.sent, t.delivered);
  if (O.sc == SC_PRESENCE) fprintf(stderr, "  complete %" PRIu64, t.presence_complete);
  uint64_t errs = t.connect_errors + t.handshake_errors + t.join_errors + t.disconnects + t.remote_closes +
                  t.protocol_errors + t.yjs_errors + t.api_errors;
  if (errs) fprintf(stderr, "  errors %" PRIu64, errs);
  if (O.server_pid) fprintf(stderr, "  server RSS %ld MB", proc_status_kb(O.server_pid, "VmRSS") / 1024);
  fprintf(stderr, "\n");
}

/* Sleep in 5 ms steps until done() or the deadline; progress once a second. */
static bool wait_until(bool (*done)(void), double seconds, const char *phase, uint64_t t0) {
  uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), next = now_ns() + 1000000000u;
  while (!done()) {
    uint64_t n = now_ns();
    if (n >= end) return false;
    if (n >= next) {
      progress(phase, t0);
      next += 1000000000u;
    }
    usleep(5000);
  }
  return true;
}

static uint32_t n_members;
static bool all_settled(void) {
  tot_t t;
  totals(&t);
  bool sender = O.sc != SC_BROADCAST || O.via_api || G.conns[O.sockets].settled;
  return sender && t.settled_ok + t.settled_failed >= n_members;
}
static bool never(void) { return false; }
static bool sender_done(void) { return atomic_load(&G.sender_done); }
static bool presence_done(void) {
  tot_t t;
  totals(&t);
  return t.presence_complete >= n_members;
}
static bool docs_done(void) { return atomic_load(&G.docs_done) >= O.docs; }

static void set_phase(int ph) {
  atomic_store(&G.phase, ph);
  for (int i = 0; i < G.nth; i++) uv_async_send(&G.th[i].async);
}

int main(int argc, char **argv) {
  long self_start = proc_status_kb(0, "VmRSS"); /* before any socket's memory */
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  /* members and their threads */
  switch (O.sc) {
  case SC_CONNECT: n_members = O.sockets; break;
  case SC_BROADCAST: n_members = O.sockets; break;
  case SC_PRESENCE: n_members = O.members; break;
  case SC_DOCS:
    if ((uint64_t)O.docs * O.clients > 100000000u) fprintf(stderr, "loadgen: too many sockets\n"), exit(2);
    n_members = O.docs * O.clients;
    break;
  }
  bool has_sender = O.sc == SC_BROADCAST && !O.via_api;
  uint64_t extra = has_sender ? 1 : 0;
  if (O.sc == SC_BROADCAST && O.via_api) extra += O.api_conns;
  if (O.threads > (int)n_members) O.threads = (int)n_members;
  if (O.sc == SC_DOCS && O.threads > (int)O.docs) O.threads = (int)O.docs;
  check_fds(n_members + extra);

  G.nth = O.threads;
  G.th = xcalloc((size_t)G.nth, sizeof *G.th);
  G.nconns = n_members + (has_sender ? 1 : 0);
  G.conns = xcalloc(G.nconns, sizeof *G.conns);
  if (O.sc == SC_BROADCAST) G.nmsgs = O.messages;
  if (O.sc == SC_DOCS) {
    if ((uint64_t)O.docs * O.updates > 200000000u) fprintf(stderr, "loadgen: too many updates\n"), exit(2);
    G.nmsgs = O.docs * O.updates;
  }
  if (G.nmsgs) {
    G.deliv = xcalloc(G.nmsgs, sizeof *G.deliv);
    G.sent_at = xcalloc(G.nmsgs, sizeof *G.sent_at);
  }
  uint64_t seed = now_ns() ^ (uint64_t)getpid() << 20;
  G.yclient_base = (uint32_t)(seed % 0x40000000u) + 1;
  size_t pres_words = (O.members + 63) / 64;

  uint32_t *counts = xcalloc((size_t)G.nth, sizeof *counts);
  for (uint32_t i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    c->idx = i;
    c->role = i < n_members ? ROLE_MEMBER : ROLE_SENDER;
    c->port_i = c->role == ROLE_MEMBER ? (uint8_t)(i % (uint32_t)O.nports) : 0;
    uint32_t t = i % (uint32_t)G.nth;
    if (O.sc == SC_CONNECT) c->group = i % O.topics;
    if (O.sc == SC_DOCS) {
      c->group = i / O.clients;
      t = c->group % (uint32_t)G.nth;
      c->u.y.client = G.yclient_base + i;
    }
    if (c->role == ROLE_SENDER) t = 0;
    if (O.sc == SC_PRESENCE) c->u.pr.bits = xcalloc(pres_words, sizeof(uint64_t));
    c->th = &G.th[t];
    counts[t]++;
  }
  for (int t = 0; t < G.nth; t++) {
    thr_t *th = &G.th[t];
    th->id = t;
    th->conns = xcalloc(counts[t], sizeof *th->conns);
    th->rng = (uint32_t)(seed >> 7) * 2654435761u + (uint32_t)t * 40503u + 1;
    th->max_inflight = (uint32_t)(O.concurrency / G.nth > 0 ? O.concurrency / G.nth : 1);
    th->pcap = O.size + 4096;
    th->pbuf = xmalloc(th->pcap);
    if (O.sc == SC_DOCS) {
      th->ndocs = (O.docs + (uint32_t)G.nth - 1 - (uint32_t)t) / (uint32_t)G.nth;
      th->docs = xcalloc(th->ndocs, sizeof *th->docs);
      for (uint32_t k = 0; k < th->ndocs; k++) {
        th->docs[k].d = (uint32_t)t + k * (uint32_t)G.nth;
        th->docs[k].clients = xcalloc(O.clients, sizeof(conn_t *));
      }
    }
  }
  if (has_sender) G.th[0].conns[G.th[0].nconns++] = &G.conns[n_members]; /* the sender opens first */
  for (uint32_t i = 0; i < n_members; i++) {
    conn_t *c = &G.conns[i];
    c->th->conns[c->th->nconns++] = c;
    if (O.sc == SC_DOCS) c->th->docs[c->group / (uint32_t)G.nth].clients[i % O.clients] = c;
  }
  free(counts);
  if (O.sc == SC_BROADCAST && O.via_api) {
    G.api = xcalloc(O.api_conns, sizeof *G.api);
    for (uint32_t i = 0; i < O.api_conns; i++) {
      G.api[i].role = ROLE_API;
      G.api[i].idx = i;
      G.api[i].th = &G.th[0];
    }
  }

  for (int t = 0; t < G.nth; t++) {
    thr_t *th = &G.th[t];
    uv_loop_init(&th->loop);
    uv_async_init(&th->loop, &th->async, on_async);
    th->async.data = th;
    uv_timer_init(&th->loop, &th->tick);
    th->tick.data = th;
    uv_timer_start(&th->tick, on_tick, 1000, 1000);
    uv_timer_init(&th->loop, &th->pump);
    th->pump.data = th;
    uv_thread_create(&th->tid, thread_main, th);
  }

  long rss_before = O.server_pid ? proc_status_kb(O.server_pid, "VmRSS") : -1;
  double cpu_before = O.server_pid ? proc_cpu_s(O.server_pid) : -1;
  if (O.server_pid && rss_before < 0) {
    fprintf(stderr, "loadgen: cannot read /proc/%ld/status; RSS not reported\n", O.server_pid);
    O.server_pid = 0;
  }
  char ports[MAX_PORTS * 6 + 1] = "";
  for (int i = 0, n = 0; i < O.nports; i++) n += snprintf(ports + n, sizeof ports - (size_t)n, "%s%d", i ? "," : "", O.ports[i]);
  if (!O.quiet)
    fprintf(stderr, "loadgen %s: %u sockets to %s:%s%s, %d threads, %d source addresses\n",
            scenario_names[O.sc], G.nconns, O.host, ports, O.path, G.nth, O.sources);

  uint64_t t0 = now_ns();
  set_phase(PH_CONNECT);
  bool settled = wait_until(all_settled, O.connect_timeout, "connect", t0);
  uint64_t t_settled = now_ns();
  long rss_joined = O.server_pid ? proc_status_kb(O.server_pid, "VmRSS") : -1;
  tot_t tj;
  totals(&tj);
  bool ran = true;
  double run_s = 0;
  uint64_t t_run = now_ns();

  if (O.sc == SC_BROADCAST) {
    G.bc_expected = (uint32_t)tj.joined;
    set_phase(PH_RUN);
    ran = wait_until(sender_done, O.timeout, "run", t0);
  } else if (O.sc == SC_DOCS) {
    set_phase(PH_RUN);
    ran = wait_until(docs_done, O.timeout, "run", t0);
  } else if (O.sc == SC_PRESENCE) {
    ran = wait_until(presence_done, O.timeout, "presence", t0);
  }
  run_s = secs(t_run, now_ns());
  if (O.seconds > 0) wait_until(never, O.seconds, "hold", t0);
  long rss_after = O.server_pid ? proc_status_kb(O.server_pid, "VmRSS") : -1;
  double cpu_after = O.server_pid ? proc_cpu_s(O.server_pid) : -1;
  long self_rss = proc_status_kb(0, "VmRSS"), self_hwm = proc_status_kb(0, "VmHWM");
  tot_t t;
  totals(&t); /* before the stop: disconnects during the stop are ours */
  uint64_t joined_port[MAX_PORTS] = {0};
  for (int i = 0; i < G.nth; i++)
    for (int k = 0; k < O.nports; k++) joined_port[k] += atomic_load_explicit(&G.th[i].joined_port[k], RELAXED);

  set_phase(PH_STOP);
  for (int i = 0; i < G.nth; i++) uv_thread_join(&G.th[i].tid);

  hist_t lat = {0}, jl = {0};
  uint64_t presence_complete_at = 0;
  for (int i = 0; i < G.nth; i++) {
    hist_merge(&lat, &G.th[i].lat);
    hist_merge(&jl, &G.th[i].join_lat);
  }
  if (O.sc == SC_PRESENCE)
    for (uint32_t i = 0; i < n_members; i++)
      if (G.conns[i].u.pr.complete_at > presence_complete_at) presence_complete_at = G.conns[i].u.pr.complete_at;

  /* --- the numbers --- */
  bool ok = true;
  PUTS("scenario", scenario_names[O.sc]);
  char target[320];
  snprintf(target, sizeof target, "ws://%s:%s%s/websocket", O.host, ports, O.path);
  PUTS("target", target);
  PUTU("threads", G.nth);
  PUTU("sockets", n_members);
  if (O.sc == SC_CONNECT) {
    char tb[300];
    PUTS("topic", O.topics > 1 && !O.topic ? (snprintf(tb, sizeof tb, "%slg-0..%u", O.prefix, O.topics - 1), tb)
                                           : conn_topic(&G.conns[0], tb, sizeof tb));
  } else if (O.sc == SC_BROADCAST) {
    PUTS("topic", O.topic);
  } else if (O.sc == SC_PRESENCE) {
    PUTS("topic", O.room);
  }
  PUTU("connected", t.connected);
  PUTU("joined", t.joined);
  static char port_keys[MAX_PORTS][32];
  for (int k = 0; O.nports > 1 && k < O.nports; k++) { /* one port: its count is "joined" */
    snprintf(port_keys[k], sizeof port_keys[k], "joined_port_%d", O.ports[k]);
    PUTU(port_keys[k], joined_port[k]);
  }
  PUTU("connect_errors", t.connect_errors);
  PUTU("handshake_errors", t.handshake_errors);
  PUTU("join_errors", t.join_errors);
  PUTU("disconnects", t.disconnects + t.remote_closes);
  double join_s = secs(tj.first_connect_ns, tj.last_join_ns);
  PUTF("join_seconds", join_s);
  PUTF("joins_per_s", join_s > 0 ? (double)tj.joined / join_s : 0);
  put_hist("join_latency", &jl);
  ok &= settled && t.joined == n_members;
  if (O.sc == SC_DOCS) {
    PUTU("synced", t.synced);
    PUTF("sync_seconds", secs(tj.first_connect_ns, tj.last_sync_ns));
    ok &= t.synced == n_members;
  }
  if (O.sc == SC_BROADCAST || O.sc == SC_DOCS) {
    uint64_t expected = 0;
    if (O.sc == SC_BROADCAST) {
      PUTS("via", O.via_api ? "api" : "push");
      PUTU("size", O.size);
      PUTU("receivers", G.bc_expected);
      expected = (uint64_t)G.bc_expected * O.messages;
    } else {
      PUTU("docs", O.docs);
      PUTU("clients", O.clients);
      for (int i = 0; i < G.nth; i++)
        for (uint32_t k = 0; k < G.th[i].ndocs; k++) expected += (uint64_t)G.th[i].docs[k].expected * O.updates;
    }
    PUTU("messages", G.nmsgs);
    PUTU("sent", t.sent);
    PUTU("expected_deliveries", expected);
    PUTU("delivered", t.delivered);
    PUTU("missing", expected > t.delivered ? expected - t.delivered : 0);
    PUTU("timeouts", t.timeouts);
    PUTU("out_of_order", t.out_of_order);
    double ds = secs(t.first_send_ns, t.last_delivery_ns);
    PUTF("run_seconds", ds);
    PUTF("delivered_per_s", ds > 0 ? (double)t.delivered / ds : 0);
    PUTF("sent_per_s", ds > 0 ? (double)t.sent / ds : 0);
    put_hist("latency", &lat);
    if (O.sc == SC_BROADCAST && O.via_api) {
      PUTU("api_ok", t.api_ok);
      PUTU("api_errors", t.api_errors);
    }
    if (O.sc == SC_DOCS) PUTU("yjs_errors", t.yjs_errors);
    ok &= ran && t.delivered == expected && t.sent == G.nmsgs && !t.yjs_errors && !t.api_errors;
  }
  if (O.sc == SC_PRESENCE) {
    PUTU("members", O.members);
    PUTU("members_complete", t.presence_complete);
    put(("complete"), false, "%s", ran && t.presence_complete == n_members ? "true" : "false");
    PUTF("complete_seconds", presence_complete_at ? secs(tj.first_connect_ns, presence_complete_at) : 0);
    PUTF("complete_after_last_join_seconds", presence_complete_at ? secs(tj.last_join_ns, presence_complete_at) : 0);
    PUTU("presence_state_frames", t.presence_state_frames);
    PUTU("presence_diff_frames", t.presence_diff_frames);
    PUTU("presence_bytes", t.presence_bytes);
    PUTU("presence_unknown_keys", t.presence_unknown_keys);
    ok &= ran && t.presence_complete == n_members;
  }
  if (O.sc == SC_CONNECT) {
    PUTU("presence_state_frames", t.presence_state_frames);
    PUTU("presence_diff_frames", t.presence_diff_frames);
    PUTU("presence_bytes", t.presence_bytes);
  }
  PUTU("frames_in", t.frames_in);
  PUTU("bytes_in", t.bytes_in);
  PUTU("bytes_out", t.bytes_out);
  PUTU("heartbeats", t.heartbeats);
  PUTU("other_frames", t.other_frames);
  PUTU("protocol_errors", t.protocol_errors);
  PUTU("channel_errors", t.channel_errors);
  PUTU("push_errors", t.push_errors);
  PUTF("hold_seconds", O.seconds);
  if (O.sc != SC_CONNECT) PUTF("scenario_seconds", run_s);
  PUTF("total_seconds", secs(t0, now_ns()));
  (void)t_settled;
  if (O.server_pid) {
    PUTU("server_pid", O.server_pid);
    PUTU("server_rss_before_kb", rss_before);
    PUTU("server_rss_joined_kb", rss_joined);
    PUTU("server_rss_after_kb", rss_after);
    uint64_t n = t.joined ? t.joined : 1;
    put("server_rss_per_socket_bytes", false, "%.0f", ((double)rss_after - (double)rss_before) * 1024.0 / (double)n);
    put("server_rss_per_socket_joined_bytes", false, "%.0f",
        ((double)rss_joined - (double)rss_before) * 1024.0 / (double)n);
    PUTF("server_cpu_seconds", cpu_after - cpu_before);
  }
  PUTU("loadgen_rss_kb", self_rss);
  PUTU("loadgen_peak_rss_kb", self_hwm);
  put("loadgen_bytes_per_socket", false, "%.0f", ((double)self_hwm - (double)self_start) * 1024.0 / (double)G.nconns);
  put("ok", false, "%s", ok ? "true" : "false");

  if (O.json) {
    printf("{");
    for (int i = 0; i < nr; i++) {
      printf("%s\"%s\":", i ? "," : "", R[i].k);
      if (R[i].str) json_str(stdout, R[i].v);
      else printf("%s", R[i].v);
    }
    printf(",\"errors\":[");
    for (int i = 0; i < err_n; i++) {
      if (i) printf(",");
      json_str(stdout, err_first[i]);
    }
    printf("]}\n");
  } else {
    for (int i = 0; i < nr; i++) printf("%-36s %s\n", R[i].k, R[i].v);
    for (int i = 0; i < err_n; i++) printf("%-36s %s\n", i ? "" : "first errors", err_first[i]);
  }
  fflush(stdout);

  for (int i = 0; i < G.nth; i++) {
    thr_t *th = &G.th[i];
    uv_loop_close(&th->loop);
    free(th->conns);
    free(th->wbuf);
    free(th->pbuf);
    for (uint32_t k = 0; k < th->ndocs; k++) free(th->docs[k].clients);
    free(th->docs);
  }
  if (O.sc == SC_PRESENCE)
    for (uint32_t i = 0; i < n_members; i++) free(G.conns[i].u.pr.bits);
  free(G.conns);
  free(G.api);
  free(G.th);
  free((void *)G.deliv);
  free(G.sent_at);
  return ok ? 0 : 1;
}
