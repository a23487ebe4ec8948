#include "net/longpoll.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "http/http_query.h"
#include "net/auth_gate.h"
#include "net/conn.h"
#include "net/http_handler.h"
#include "net/ip_limit.h"
#include "net/worker.h"
#include "phx/phx_serializer.h"
#include "phx/phx_socket.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

#define LP_WINDOW_MS 10000       /* a poll is held at most this long (Phoenix's window_ms) */
#define LP_SESSION_IDLE_MS 15000 /* a session without a poll for this long ends (1.5 × window) */
#define LP_MAX_POST_LINES 100    /* as Phoenix ≥ 1.8.9 */
#define LP_TOKEN_MAX 48

typedef struct lp_session {
  phx_transport_t transport; /* first: the socket writes through it */
  worker_t *w;
  char token[LP_TOKEN_MAX];
  phx_socket_t *phx;
  frame_t **frames; /* buffered text frames, oldest first */
  size_t nframes, cap;
  size_t bytes;
  uint64_t last_poll_ms;
  uint64_t over_since_ms; /* buffered bytes over --max-queue since (0: not over) */
  char ip[48];            /* counted in --max-longpoll-per-ip */
  /* the held poll, if any: an HTTP connection on some worker */
  bool waiting;
  int wait_worker;
  uint64_t wait_conn;
  bool wait_keep_alive;
  uint64_t wait_deadline_ms;
  bool dirty; /* in the flush list: frames arrived, or an end was requested */
  bool close_requested; /* the socket asked to end: done at the next flush, never mid-delivery */
  bool closing;         /* ended: out of the registry, freed once out of the flush list */
  struct lp_session *next_dirty;
} lp_session_t;

/* Per worker (worker_t.longpoll): its sessions (token -> session) and the ones to flush. */
struct lp_registry {
  dict_t sessions;
  lp_session_t *dirty;
};

static lp_registry_t *lp_registry(worker_t *w) {
  if (!w->longpoll) {
    w->longpoll = xcalloc(1, sizeof *w->longpoll);
    dict_init(&w->longpoll->sessions);
  }
  return w->longpoll;
}

/* --- answers, delivered on the worker that holds the HTTP connection -------------------------- */

typedef struct lp_answer {
  task_t task;
  uint64_t conn_id;
  bool keep_alive;
  int http_status; /* 200 with a JSON body normally; 400/500 for unreadable posts */
  char *body;
} lp_answer_t;

static void lp_respond_now(conn_t *c, int http_status, const char *body, bool keep_alive) {
  http_respond(c, http_status, "application/json; charset=utf-8", body, strlen(body),
               "Cache-Control: no-store\r\nAccess-Control-Allow-Origin: *\r\n", keep_alive);
}

static void lp_answer_run(task_t *t, task_ctx_t *ctx) {
  lp_answer_t *a = (lp_answer_t *)t;
  worker_t *w = worker_of(ctx);
  conn_t *c = w ? worker_find_conn(w, a->conn_id) : NULL;
  if (c && c->state == CONN_HTTP) {
    lp_respond_now(c, a->http_status, a->body, a->keep_alive);
    conn_resume(c);
  }
  free(a->body);
  free(a);
}

static void lp_answer(worker_t *from, int worker, uint64_t conn_id, bool keep_alive,
                      int http_status, char *body /* owned */) {
  lp_answer_t *a = xmalloc(sizeof *a);
  a->task.run = lp_answer_run;
  a->conn_id = conn_id;
  a->keep_alive = keep_alive;
  a->http_status = http_status;
  a->body = body;
  task_post(&from->server->poster, worker, &a->task);
}

static char *lp_status_json(int status, const char *token) {
  char buf[128];
  if (token) snprintf(buf, sizeof buf, "{\"status\":%d,\"token\":\"%s\",\"messages\":[]}", status, token);
  else snprintf(buf, sizeof buf, "{\"status\":%d}", status);
  return xstrdup(buf);
}

/* {"status":200,"token":T,"messages":["<frame>",...]}: each frame as the text a WebSocket would
 * carry, without its WebSocket header; a binary frame as phx_binary_as_text writes it (converted
 * here, per session, at poll time: LongPoll is the fallback transport, and the frames buffered
 * until then stay the shared binary ones). */
static char *lp_messages_json(lp_session_t *s) {
  buf_t b = BUF_INIT;
  buf_printf(&b, "{\"status\":200,\"token\":\"%s\",\"messages\":[", s->token);
  size_t written = 0;
  for (size_t i = 0; i < s->nframes; i++) {
    frame_t *f = s->frames[i];
    const uint8_t *payload = f->data + f->payload_off;
    size_t payload_len = f->len - f->payload_off;
    buf_t text = BUF_INIT;
    if ((f->data[0] & 0x0f) == WS_OP_BINARY) {
      /* JSON cannot hold raw bytes: the same message with its payload as an array of numbers */
      if (phx_binary_as_text(&text, payload, payload_len) < 0) {
        log_warn("longpoll %.8s: unreadable binary frame dropped", s->token);
        buf_free(&text);
        frame_unref(f);
        continue;
      }
      payload = text.data;
      payload_len = text.len;
    }
    json_t *str = json_stringn((const char *)payload, payload_len);
    buf_free(&text);
    char *enc = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
    if (written++) buf_append_byte(&b, ',');
    buf_append_str(&b, enc ? enc : "\"\"");
    free(enc);
    json_decref(str);
    frame_unref(f);
  }
  s->nframes = 0;
  s->bytes = 0;
  s->over_since_ms = 0;
  buf_append_str(&b, "]}");
  buf_append_byte(&b, 0);
  return (char *)buf_release(&b);
}

/* --- sessions ------------------------------------------------------------------------------- */

static void lp_mark_dirty(lp_session_t *s) {
  if (s->dirty) return;
  s->dirty = true;
  lp_registry_t *r = lp_registry(s->w);
  s->next_dirty = r->dirty;
  r->dirty = s;
}

static void lp_session_send(phx_transport_t *t, frame_t *f) {
  lp_session_t *s = (lp_session_t *)t;
  if (s->closing || s->close_requested) return;
  /* The slow-consumer rule of WebSocket connections (conn.c): over the hard cap at once, over
   * --max-queue for longer than --queue-grace (checked by the sweep). */
  const server_config_t *cfg = &s->w->server->cfg;
  if (s->bytes + f->len > cfg->max_queue_hard) {
    log_warn("longpoll %.8s: buffer would pass %zu bytes (client not polling); ending the session",
             s->token, cfg->max_queue_hard);
    t->close(t, WS_CLOSE_POLICY, "buffer full");
    return;
  }
  VEC_PUSH(s->frames, s->nframes, s->cap, 8, frame_ref(f));
  s->bytes += f->len;
  if (s->bytes > cfg->max_queue && !s->over_since_ms) s->over_since_ms = uv_now(&s->w->loop) ? uv_now(&s->w->loop) : 1;
  lp_mark_dirty(s);
}

static void lp_session_free(lp_session_t *s) {
  ip_limit_leave(&s->w->server->longpoll_per_ip, s->ip);
  for (size_t i = 0; i < s->nframes; i++) frame_unref(s->frames[i]);
  free(s->frames);
  free(s);
}

/* End a session: its channels terminate now; a held poll learns that the session is gone. */
static void lp_session_end(lp_session_t *s, const char *why) {
  if (s->closing) return;
  s->closing = true;
  log_info("longpoll %.8s: session ended (%s)", s->token, why);
  lp_registry_t *r = lp_registry(s->w);
  dict_delete(&r->sessions, s->token, strlen(s->token));
  if (s->phx) {
    phx_socket_t *phx = s->phx;
    s->phx = NULL;
    phx_socket_free(phx);
  }
  if (s->waiting)
    lp_answer(s->w, s->wait_worker, s->wait_conn, s->wait_keep_alive, 200, lp_status_json(410, NULL));
  s->waiting = false;
  if (!s->dirty) lp_session_free(s); /* else freed by the flush that unlinks it */
}

/* The socket may ask from deep inside a delivery (a broadcast loop, a channel callback): the end,
 * which frees the socket, waits for the worker's flush. */
static void lp_session_close(phx_transport_t *t, uint16_t code, const char *reason) {
  lp_session_t *s = (lp_session_t *)t;
  if (s->closing) return;
  log_debug("longpoll %.8s: closing (%u %s)", s->token, code, reason ? reason : "");
  s->close_requested = true;
  lp_mark_dirty(s);
}

void longpoll_flush(worker_t *w) {
  lp_registry_t *r = w->longpoll;
  if (!r) return;
  lp_session_t *s = r->dirty;
  r->dirty = NULL;
  while (s) {
    lp_session_t *next = s->next_dirty;
    s->dirty = false;
    if (s->closing) {
      lp_session_free(s); /* ended while in this list */
    } else if (s->close_requested) {
      lp_session_end(s, "closed by the server");
    } else if (s->waiting && s->nframes) {
      s->waiting = false;
      lp_answer(w, s->wait_worker, s->wait_conn, s->wait_keep_alive, 200, lp_messages_json(s));
    }
    s = next;
  }
}

void longpoll_sweep(worker_t *w, uint64_t now) {
  lp_registry_t *r = w->longpoll;
  if (!r) return;
  int64_t wall_s = (int64_t)time(NULL);
  for (dict_iter_t it = dict_iter(&r->sessions); dict_next(&it);) {
    lp_session_t *s = it.entry->value;
    if (s->waiting && now >= s->wait_deadline_ms) {
      s->waiting = false;
      s->last_poll_ms = now;
      lp_answer(w, s->wait_worker, s->wait_conn, s->wait_keep_alive, 200,
                lp_status_json(204, s->token));
    } else if (!s->waiting && now - s->last_poll_ms > LP_SESSION_IDLE_MS) {
      lp_session_end(s, "no poll for 15 s"); /* the iterator already holds the next entry */
    } else if (phx_socket_expired(s->phx, w->server->cfg.auth, wall_s)) {
      lp_session_end(s, "token expired");
    } else if (s->over_since_ms && now > s->over_since_ms &&
               now - s->over_since_ms > w->server->cfg.queue_grace_ms) {
      log_warn("longpoll %.8s: %zu bytes buffered for %llu ms (client not polling)", s->token,
               s->bytes, (unsigned long long)(now - s->over_since_ms));
      lp_session_end(s, "slow consumer");
    }
  }
}

size_t longpoll_kick_user(worker_t *w, const char *user) {
  lp_registry_t *r = w->longpoll;
  size_t n = 0;
  if (!r) return 0;
  for (dict_iter_t it = dict_iter(&r->sessions); dict_next(&it);) {
    lp_session_t *s = it.entry->value;
    const char *u = s->closing ? NULL : phx_socket_user(s->phx);
    if (u && !strcmp(u, user)) {
      lp_session_end(s, "disconnected by the server");
      n++;
    }
  }
  return n;
}

void longpoll_close_all(worker_t *w) {
  lp_registry_t *r = w->longpoll;
  if (!r) return;
  for (dict_iter_t it = dict_iter(&r->sessions); dict_next(&it);) lp_session_end(it.entry->value, "drain");
  longpoll_flush(w);
  longpoll_free(w);
}

void longpoll_free(worker_t *w) {
  lp_registry_t *r = w->longpoll;
  if (!r) return;
  for (dict_iter_t it = dict_iter(&r->sessions); dict_next(&it);) lp_session_free(it.entry->value);
  dict_free(&r->sessions);
  free(r);
  w->longpoll = NULL;
}

/* --- requests, on the session's worker ------------------------------------------------------- */

typedef enum { LP_POLL, LP_POST } lp_op_t;

typedef struct lp_request {
  task_t task;
  lp_op_t op;
  int from_worker;
  uint64_t conn_id;
  bool keep_alive;
  char token[LP_TOKEN_MAX];
  bool ndjson;
  char *body;
  size_t len;
  /* what the asking worker needs to create a session if this one is unknown */
  struct lp_create *create;
} lp_request_t;

typedef struct lp_create {
  char ip[48]; /* the client's address: --max-longpoll-per-ip */
  json_t *params;
  int vsn;
  uint8_t *auth_token;
  size_t auth_token_len;
  char *credential;      /* the token to check before a session opens (NULL: none) */
  size_t credential_len;
} lp_create_t;

static void lp_create_free(lp_create_t *c) {
  if (!c) return;
  json_decref(c->params);
  free(c->auth_token);
  free(c->credential);
  free(c);
}

static void lp_request_free(lp_request_t *q) {
  free(q->body);
  lp_create_free(q->create);
  free(q);
}

/* NULL when the client's address holds --max-longpoll-per-ip sessions already. claims: the
 * verified token's (taken), or NULL. */
static lp_session_t *lp_session_new(worker_t *w, lp_create_t *cr, auth_claims_t *claims) {
  if (!ip_limit_enter(&w->server->longpoll_per_ip, cr->ip)) {
    if (claims) {
      auth_claims_free(claims);
      free(claims);
    }
    return NULL;
  }
  lp_session_t *s = xcalloc(1, sizeof *s);
  snprintf(s->ip, sizeof s->ip, "%s", cr->ip);
  s->transport.send = lp_session_send;
  s->transport.close = lp_session_close;
  s->w = w;
  uint8_t rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1) abort(); /* the token is the session's only credential */
  int n = snprintf(s->token, sizeof s->token, "%d.", w->id);
  for (size_t i = 0; i < sizeof rnd; i++) n += snprintf(s->token + n, sizeof s->token - (size_t)n, "%02x", rnd[i]);
  phx_socket_config_t config = server_socket_config(w->server);
  s->phx = phx_socket_new(&w->pubsub, &s->transport, (phx_vsn_t)cr->vsn, cr->params,
                          cr->auth_token, cr->auth_token_len, &config);
  cr->params = NULL;
  cr->auth_token = NULL;
  if (claims) phx_socket_set_auth(s->phx, claims);
  s->last_poll_ms = uv_now(&w->loop);
  dict_set(&lp_registry(w)->sessions, s->token, strlen(s->token), s);
  log_debug("longpoll %.8s: session opened", s->token);
  return s;
}

static void lp_poll(worker_t *w, lp_request_t *q, lp_session_t *s) {
  s->last_poll_ms = uv_now(&w->loop);
  if (s->waiting) /* a newer poll replaces the held one, which ends empty */
    lp_answer(w, s->wait_worker, s->wait_conn, s->wait_keep_alive, 200, lp_status_json(204, s->token));
  if (s->nframes) {
    s->waiting = false;
    lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 200, lp_messages_json(s));
    return;
  }
  s->waiting = true;
  s->wait_worker = q->from_worker;
  s->wait_conn = q->conn_id;
  s->wait_keep_alive = q->keep_alive;
  s->wait_deadline_ms = s->last_poll_ms + LP_WINDOW_MS;
}

/* Each ndjson line is a frame: "[..." a V2 JSON text frame, anything else a base64 binary frame.
 * Another content type: the whole body is one text frame (V1 clients). */
static void lp_post(worker_t *w, lp_request_t *q, lp_session_t *s) {
  int http_status = 200;
  char *answer = NULL;
  const char *p = q->body, *end = q->body + q->len;
  int lines = 0;
  bool failed = false;
  while (p < end && lines < LP_MAX_POST_LINES && !s->close_requested) {
    const char *nl = q->ndjson ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    const char *e = nl ? nl : end;
    const char *line_end = e > p && e[-1] == '\r' && q->ndjson ? e - 1 : e;
    size_t n = (size_t)(line_end - p);
    if (n) {
      lines++;
      uint16_t code;
      if (!q->ndjson || p[0] == '[') {
        code = phx_socket_handle_text(s->phx, p, n);
      } else {
        uint8_t *bin = xmalloc(n * 3 / 4 + 1);
        long bl = ws_base64_decode_any(p, n, bin);
        if (bl < 0) {
          log_warn("longpoll %.8s: a posted line is neither JSON nor base64", s->token);
          free(bin);
          http_status = 400;
          answer = xstrdup("{\"error\":\"line is neither a JSON frame nor base64\"}");
          failed = true;
          break;
        }
        code = phx_socket_handle_binary(s->phx, bin, (size_t)bl);
        free(bin);
      }
      if (code) { /* a malformed frame ends the session, as in Phoenix */
        http_status = 400;
        answer = xstrdup("{\"error\":\"malformed frame\"}");
        failed = true;
        break;
      }
    }
    p = nl ? nl + 1 : end;
  }
  if (failed) lp_session_end(s, "malformed frame"); /* a task, not a delivery: safe here */
  lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, http_status,
            answer ? answer : lp_status_json(200, NULL));
}

static void lp_request_run(task_t *t, task_ctx_t *ctx) {
  lp_request_t *q = (lp_request_t *)t;
  worker_t *w = worker_of(ctx);
  lp_session_t *s = w && w->longpoll ? dict_get(&w->longpoll->sessions, q->token, strlen(q->token)) : NULL;
  if (s && s->closing) s = NULL;
  if (!w) {
    /* shutting down */
  } else if (q->op == LP_POST) {
    if (s) lp_post(w, q, s);
    else lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 200, lp_status_json(410, NULL));
  } else if (s) {
    lp_poll(w, q, s);
  } else if (q->create && !w->draining) {
    /* Unknown or expired token: a new session, here (spec §7.2) — if the client may open one. */
    auth_claims_t *claims = NULL;
    const char *why = NULL;
    if (auth_gate_admit(w->server, q->create->ip, q->create->credential,
                        q->create->credential_len, &claims, &why)) {
      lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 200, lp_status_json(403, NULL));
      lp_request_free(q);
      return;
    }
    lp_session_t *n = lp_session_new(w, q->create, claims);
    if (n) {
      lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 200, lp_status_json(410, n->token));
    } else {
      /* {"status":500}: phoenix.js retries later, with its backoff; others read the reason. */
      log_warn("longpoll: session refused: %s holds %zu sessions", q->create->ip,
               w->server->cfg.max_longpoll_per_ip);
      lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 503,
                xstrdup("{\"status\":500,\"error\":\"too many LongPoll sessions from this address\"}"));
    }
  } else {
    lp_answer(w, q->from_worker, q->conn_id, q->keep_alive, 200, lp_status_json(403, NULL));
  }
  lp_request_free(q);
}

/* --- HTTP entry point -------------------------------------------------------------------------- */

static void lp_options(conn_t *c, const http_request_t *req) {
  buf_t h = BUF_INIT;
  const http_header_t *rh = http_header_find(req, "access-control-request-headers");
  buf_printf(&h, "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: get, post, options\r\n"
                 "Access-Control-Max-Age: 3600\r\n");
  if (rh) buf_printf(&h, "Access-Control-Allow-Headers: %.*s\r\n", (int)rh->value_len, rh->value);
  buf_append_byte(&h, 0);
  http_respond(c, 200, NULL, "", 0, (const char *)h.data, req->keep_alive);
  buf_free(&h);
}

void longpoll_handle(conn_t *c, const http_request_t *req, const char *body, size_t len) {
  worker_t *w = c->w;
  if (!http_origin_check(c, req)) { /* before anything else, OPTIONS included (spec §7.1) */
    lp_respond_now(c, 200, "{\"status\":403}", req->keep_alive);
    return;
  }
  if (http_method_is(req, "OPTIONS")) {
    lp_options(c, req);
    return;
  }
  bool post = http_method_is(req, "POST");
  if (!post && !http_method_is(req, "GET")) {
    log_info("conn %s: %.*s on the LongPoll endpoint", c->peer, (int)req->method_len, req->method);
    http_respond(c, 400, NULL, "", 0, "Access-Control-Allow-Origin: *\r\n", false);
    return;
  }
  json_t *params = req->query ? http_query_parse(req->query, req->query_len) : json_object();
  if (!params) {
    log_info("conn %s: LongPoll: malformed query string", c->peer);
    lp_respond_now(c, 200, "{\"status\":403}", req->keep_alive);
    return;
  }
  /* The session token: the header (phoenix.js 1.9), else the last `token` query parameter. */
  char token[LP_TOKEN_MAX] = "";
  const http_header_t *th = http_header_find(req, "x-phoenix-longpoll-token");
  const char *qt = json_string_value(json_object_get(params, "token"));
  if (th && th->value_len < sizeof token) snprintf(token, sizeof token, "%.*s", (int)th->value_len, th->value);
  else if (qt && strlen(qt) < sizeof token) snprintf(token, sizeof token, "%s", qt);
  char *dot = strchr(token, '.');
  long owner = dot ? strtol(token, NULL, 10) : -1;
  bool routable = dot && owner >= 0 && owner < w->server->nworkers;

  lp_request_t *q = xcalloc(1, sizeof *q);
  q->task.run = lp_request_run;
  q->op = post ? LP_POST : LP_POLL;
  q->from_worker = w->id;
  q->conn_id = c->id;
  q->keep_alive = req->keep_alive;
  snprintf(q->token, sizeof q->token, "%s", routable ? token : "");
  if (post) {
    const http_header_t *ct = http_header_find(req, "content-type");
    q->ndjson = ct && ct->value_len >= 20 && !strncasecmp(ct->value, "application/x-ndjson", 20);
    q->body = xmalloc(len + 1);
    memcpy(q->body, body, len);
    q->len = len;
    json_decref(params);
  } else {
    /* Everything needed to open a session, in case the token is unknown where it points. */
    int vsn = phx_vsn_from_params(params);
    if (vsn < 0) {
      log_info("conn %s: LongPoll refused: unsupported vsn", c->peer);
      json_decref(params);
      free(q);
      lp_respond_now(c, 200, "{\"status\":403}", req->keep_alive);
      return;
    }
    /* The credential, checked if a session is opened: phoenix.js's authToken (a header here),
     * else — on a request without a session token — the connect param `token`. */
    const http_header_t *at = http_header_find(req, "x-phoenix-authtoken");
    json_t *param = routable ? NULL : json_object_get(params, "token");
    const char *cred = at ? at->value : json_is_string(param) ? json_string_value(param) : NULL;
    size_t cred_len = at ? at->value_len : json_is_string(param) ? json_string_length(param) : 0;
    lp_create_t *cr = xcalloc(1, sizeof *cr);
    if (cred) cr->credential = xstrndup(cred, cred_len);
    cr->credential_len = cred_len;
    json_object_del(params, "token");
    ip_of_peer(c->peer, cr->ip, sizeof cr->ip);
    cr->params = params;
    cr->vsn = vsn;
    if (at) {
      cr->auth_token = xmalloc(at->value_len + 1);
      memcpy(cr->auth_token, at->value, at->value_len);
      cr->auth_token[at->value_len] = 0;
      cr->auth_token_len = at->value_len;
    }
    q->create = cr;
  }
  c->http_pending = true; /* answered by a task, in order */
  task_post(&w->server->poster, routable ? (int)owner : w->id, &q->task);
}
