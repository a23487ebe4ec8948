#include "net/http_handler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "http/http_query.h"
#include "net/auth_gate.h"
#include "net/conn.h"
#include "net/longpoll.h"
#include "net/static_files.h"
#include "net/worker.h"
#include "phx/phx_serializer.h"
#include "phx/phx_socket.h"
#include "ws/ws_handshake.h"

static const char *http_status_text(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

void http_respond(conn_t *c, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers, bool keep_alive) {
  buf_t b = BUF_INIT;
  buf_printf(&b, "HTTP/1.1 %d %s\r\nServer: cinder/%s\r\nContent-Length: %zu\r\n", status,
             http_status_text(status), CINDER_VERSION, body_len);
  if (content_type) buf_printf(&b, "Content-Type: %s\r\n", content_type);
  if (!keep_alive) buf_append_str(&b, "Connection: close\r\n");
  if (extra_headers) buf_append_str(&b, extra_headers);
  buf_append_str(&b, "\r\n");
  buf_append(&b, body, body_len);
  frame_t *f = frame_from_buf(&b, 0);
  conn_send(c, f);
  frame_unref(f);
  if (!keep_alive) c->close_after_write = true;
}

void http_respond_error_with(conn_t *c, int status, const char *reason,
                             const char *extra_headers) {
  json_t *o = json_pack("{ss}", "error", reason);
  char *body = json_dumps(o, JSON_COMPACT);
  http_respond(c, status, "application/json", body, strlen(body), extra_headers, false);
  free(body);
  json_decref(o);
}

void http_respond_error(conn_t *c, int status, const char *reason) {
  http_respond_error_with(c, status, reason, NULL);
}

bool http_require_method(conn_t *c, const http_request_t *req, const char *method,
                         const char *who) {
  if (http_method_is(req, method)) return true;
  log_info("%s: %.*s %.*s: method not allowed", who, (int)req->method_len, req->method,
           (int)req->path_len, req->path);
  char allow[64];
  snprintf(allow, sizeof allow, "Allow: %s\r\n", method);
  http_respond_error_with(c, 405, "method not allowed", allow);
  return false;
}

void http_handler_timeout(conn_t *c) {
  if (c->close_after_write) {
    conn_close(c);
    return;
  }
  http_respond_error(c, 408, "request timeout");
}

/* --- built-in routes ----------------------------------------------------------------------------- */

static void http_healthz(conn_t *c, const http_request_t *req, bool keep_alive) {
  server_t *srv = c->w->server;
  json_t *workers = json_array();
  for (int i = 0; i < srv->nworkers; i++) {
    server_stats_t st;
    server_stats(srv, i, &st);
    json_array_append_new(workers, json_pack("{sisI}", "id", i, "connections",
                                             (json_int_t)st.connections));
  }
  server_stats_t total;
  server_stats(srv, -1, &total);
  json_t *o = json_pack("{sssssIsIso}", "status", "ok", "version", CINDER_VERSION, "uptime_s",
                        (json_int_t)server_uptime_s(srv), "connections",
                        (json_int_t)total.connections, "workers", workers);
  if (srv->on_health) srv->on_health(srv->on_health_arg, o);
  char *body = json_dumps(o, JSON_COMPACT);
  http_respond(c, 200, "application/json", body, strlen(body), "Cache-Control: no-store\r\n",
               keep_alive);
  free(body);
  json_decref(o);
}

bool http_request_is_local(const conn_t *c, const http_request_t *req) {
  return c->peer_loopback && !http_header_find(req, "forwarded") &&
         !http_header_find(req, "x-forwarded-for") && !http_header_find(req, "x-real-ip");
}

bool http_origin_check(conn_t *c, const http_request_t *req) {
  const http_header_t *h = http_header_find(req, "origin");
  if (http_origin_allowed(&c->w->server->origins, h ? h->value : NULL, h ? h->value_len : 0))
    return true;
  log_warn("conn %s: origin %.*s refused", c->peer, h ? (int)h->value_len : 0, h ? h->value : "");
  return false;
}

/* The Phoenix WebSocket endpoint (spec §1.3): validate the upgrade, negotiate vsn and the
 * sub-protocol, answer 101 and hand the connection to a Phoenix socket. With yws_topic, the
 * y-websocket endpoint instead: no sub-protocol, no vsn, a socket of bare y-protocols messages
 * (PHX_RAW) that joins that one document topic at once. */
static void http_upgrade(conn_t *c, const http_request_t *req, const char *yws_topic) {
  worker_t *w = c->w;
  if (!http_origin_check(c, req)) {
    http_respond(c, 403, NULL, "", 0, NULL, false); /* as Phoenix: 403, empty body */
    return;
  }
  ws_handshake_t hs;
  const char *reason = NULL;
  int status = ws_handshake_check(req, &hs, &reason);
  if (status) {
    log_info("conn %s: upgrade refused with %d: %s", c->peer, status, reason);
    http_respond_error_with(c, status, reason, status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
    return;
  }
  /* A client that offered sub-protocols accepts the upgrade only if we select one of them;
   * "phoenix" is the only one we speak. */
  const http_header_t *proto = http_header_find(req, "sec-websocket-protocol");
  if (!yws_topic && proto && !hs.offers_phoenix &&
      (!hs.auth_token || memchr(proto->value, ',', proto->value_len))) {
    log_info("conn %s: upgrade refused: no supported sub-protocol offered", c->peer);
    ws_handshake_free(&hs);
    http_respond_error(c, 403, "unsupported sub-protocol");
    return;
  }
  json_t *params = req->query ? http_query_parse(req->query, req->query_len) : json_object();
  if (!params) {
    ws_handshake_free(&hs);
    log_info("conn %s: upgrade refused: malformed query string", c->peer);
    http_respond_error(c, 400, "malformed query string");
    return;
  }
  int vsn = yws_topic ? (int)PHX_RAW : phx_vsn_from_params(params);
  if (vsn < 0) {
    ws_handshake_free(&hs);
    json_decref(params);
    log_info("conn %s: upgrade refused: unsupported vsn", c->peer);
    http_respond_error(c, 403, "unsupported vsn");
    return;
  }
  /* The token: phoenix.js's authToken (a sub-protocol), else the connect param `token`. */
  const char *token = (const char *)hs.auth_token;
  size_t token_len = hs.auth_token_len;
  json_t *param = json_object_get(params, "token");
  if (!token && json_is_string(param)) {
    token = json_string_value(param);
    token_len = json_string_length(param);
  }
  auth_claims_t *claims = NULL;
  const char *why = NULL;
  if (auth_gate_admit(w->server, c->peer, token, token_len, &claims, &why)) {
    ws_handshake_free(&hs);
    json_decref(params);
    http_respond_error(c, 403, why); /* as Phoenix's connect/3 returning :error: 403 */
    return;
  }
  json_object_del(params, "token"); /* the credential is not kept where channels read params */

  char accept[29];
  ws_handshake_accept_key(hs.key, hs.key_len, accept);
  buf_t b = BUF_INIT;
  buf_printf(&b,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n%sX-Cinder-Worker: %d\r\n\r\n",
             accept, hs.offers_phoenix && !yws_topic ? "Sec-WebSocket-Protocol: phoenix\r\n" : "",
             w->id);
  frame_t *f = frame_from_buf(&b, 0);
  conn_send(c, f);
  frame_unref(f);

  phx_socket_config_t config = server_socket_config(w->server);
  phx_socket_t *s = phx_socket_new(&w->pubsub, conn_transport(c), (phx_vsn_t)vsn, params,
                                   hs.auth_token, hs.auth_token_len, &config);
  hs.auth_token = NULL; /* the socket owns it now */
  ws_handshake_free(&hs);
  if (claims) phx_socket_set_auth(s, claims);
  conn_ws_start(c, s);
  log_debug("conn %s: WebSocket open (vsn %d)", c->peer, vsn);
  if (yws_topic && !phx_socket_join_raw(s, yws_topic)) {
    log_info("conn %s: y-websocket join of '%s' refused; closing with 1008", c->peer, yws_topic);
    conn_ws_close(c, WS_CLOSE_POLICY, "join refused");
  }
}

/* <yws_path>/<name>: the document's topic (yws_topic_prefix + the decoded name) into topic;
 * false when the path is not the endpoint's or the name is empty or not valid. */
static bool http_yws_topic(const server_config_t *cfg, const http_request_t *req, char *topic,
                           size_t cap) {
  size_t bl = cfg->yws_path ? strlen(cfg->yws_path) : 0;
  if (!bl || req->path_len <= bl + 1 || memcmp(req->path, cfg->yws_path, bl) ||
      req->path[bl] != '/')
    return false;
  size_t pl = strlen(cfg->yws_topic_prefix);
  if (pl >= cap) return false;
  memcpy(topic, cfg->yws_topic_prefix, pl);
  long n = http_path_decode(req->path + bl + 1, req->path_len - bl - 1, topic + pl, cap - pl);
  return n > 0 && utf8_valid((const uint8_t *)topic + pl, (size_t)n);
}

/* Matches "<base>/<suffix>" with an optional trailing slash. */
static bool http_path_is(const http_request_t *req, const char *base, const char *suffix) {
  size_t bl = strlen(base), sl = strlen(suffix), n = req->path_len;
  if (n && req->path[n - 1] == '/' && n > 1) n--;
  return n == bl + sl && !memcmp(req->path, base, bl) && !memcmp(req->path + bl, suffix, sl);
}

static void http_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t len) {
  const server_config_t *cfg = &c->w->server->cfg;
  if (http_path_is(req, cfg->socket_path, "/websocket")) {
    if (!http_method_is(req, "GET")) {
      log_info("conn %s: %.*s on the WebSocket endpoint", c->peer, (int)req->method_len,
               req->method);
      http_respond(c, 400, NULL, "", 0, NULL, false); /* as Phoenix: 400, empty body */
      return;
    }
    http_upgrade(c, req, NULL);
    return;
  }
  char yws_topic[1024];
  if (cfg->yws_path && *cfg->yws_path && req->path_len > strlen(cfg->yws_path) &&
      !memcmp(req->path, cfg->yws_path, strlen(cfg->yws_path)) &&
      req->path[strlen(cfg->yws_path)] == '/') {
    if (!http_method_is(req, "GET")) {
      http_respond_error(c, 405, "method not allowed");
      return;
    }
    if (!http_yws_topic(cfg, req, yws_topic, sizeof yws_topic)) {
      log_info("conn %s: y-websocket: bad document name in the path", c->peer);
      http_respond_error(c, 400, "bad document name");
      return;
    }
    http_upgrade(c, req, yws_topic);
    return;
  }
  if (http_path_is(req, cfg->socket_path, "/longpoll")) {
    longpoll_handle(c, req, body, len);
    return;
  }
  if (http_path_is(req, "/healthz", "")) {
    if (!http_method_is(req, "GET") && !http_method_is(req, "HEAD")) {
      log_info("conn %s: %.*s /healthz: method not allowed", c->peer, (int)req->method_len, req->method);
      http_respond_error(c, 405, "method not allowed");
      return;
    }
    http_healthz(c, req, req->keep_alive);
    return;
  }
  size_t n = req->path_len;
  if (n > 1 && req->path[n - 1] == '/') n--; /* as http_path_is: one trailing slash is allowed */
  const http_route_t *route = server_route_find(c->w->server, req->path, n);
  if (route) {
    route->fn(c, req, body, len, route->arg);
    return;
  }
  if (static_files_take(c, req)) {
    static_files_serve(c, req);
    return;
  }
  log_info("conn %s: %.*s %.*s: not found", c->peer, (int)req->method_len, req->method,
           (int)req->path_len, req->path);
  http_respond_error(c, 404, "not found");
}

size_t http_handler_input(conn_t *c, char *data, size_t len) {
  if (c->close_after_write) return len; /* answered and closing: ignore the rest */
  if (c->http_pending) return 0;         /* one request at a time, answers in order */
  http_request_t req;
  int rc = http_parse_request(data, len, &req);
  if (rc == HTTP_INCOMPLETE) {
    if (len >= HTTP_MAX_HEAD) {
      log_info("conn %s: request head too large", c->peer);
      http_respond_error(c, 431, "request head too large");
      return len;
    }
    return 0;
  }
  if (rc < 0) {
    log_info("conn %s: bad request: %s", c->peer, http_strerror(rc));
    http_respond_error(c, http_error_status(rc), http_strerror(rc));
    return len;
  }
  size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
  if (body_len > c->w->server->cfg.max_body) {
    log_info("conn %s: request body of %zu bytes refused", c->peer, body_len);
    http_respond_error(c, 413, "request body too large");
    return len;
  }
  if (len - req.head_len < body_len) { /* wait for the whole body, given time for its size */
    c->req_allowance_ms = (uint64_t)body_len * 1000 / 65536;
    return 0;
  }
  c->req_started_ms = 0; /* this request is complete; the next one's clock starts with its bytes */
  c->req_allowance_ms = 0;
  http_dispatch(c, &req, data + req.head_len, body_len);
  return req.head_len + body_len;
}
