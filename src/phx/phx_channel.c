#include "phx/phx_channel.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_frame.h"
#include "phx/phx_socket.h"
#include "ws/ws_frame.h"

/* --- router ------------------------------------------------------------------------------------ */

void phx_router_init(phx_router_t *r) { memset(r, 0, sizeof *r); }

void phx_router_add(phx_router_t *r, const char *pattern, const phx_channel_type_t *type,
                    void *arg) {
  VEC_RESERVE(r->routes, r->n, r->cap, 4);
  phx_route_t *route = &r->routes[r->n++];
  size_t len = strlen(pattern);
  route->pattern = xstrdup(pattern);
  route->wildcard = len > 0 && pattern[len - 1] == '*';
  route->prefix_len = route->wildcard ? len - 1 : len;
  route->type = type;
  route->arg = arg;
}

const phx_route_t *phx_router_match(const phx_router_t *r, const char *topic) {
  size_t len = strlen(topic);
  for (size_t i = 0; r && i < r->n; i++) {
    const phx_route_t *route = &r->routes[i];
    if (route->wildcard ? len >= route->prefix_len && !memcmp(topic, route->pattern, route->prefix_len)
                        : len == route->prefix_len && !memcmp(topic, route->pattern, len))
      return route;
  }
  return NULL;
}

void phx_router_free(phx_router_t *r) {
  for (size_t i = 0; i < r->n; i++) free(r->routes[i].pattern);
  free(r->routes);
  phx_router_init(r);
}

/* --- channel API ------------------------------------------------------------------------------- */

void *phx_channel_state(phx_channel_t *ch) { return ch->state; }
uint64_t phx_channel_id(const phx_channel_t *ch) { return ch->sub.id; }

phx_channel_t *phx_channel_lookup(phx_pubsub_t *ps, uint64_t id) {
  return dict_get(&ps->channels, (const char *)&id, sizeof id);
}
const char *phx_channel_topic(const phx_channel_t *ch) { return ch->topic; }
const phx_route_t *phx_channel_route(const phx_channel_t *ch) { return ch->route; }
task_ctx_t *phx_channel_ctx(const phx_channel_t *ch) { return ch->socket->pubsub->ctx; }
json_t *phx_channel_params(const phx_channel_t *ch) { return phx_socket_params(ch->socket); }
json_t *phx_channel_assigns(phx_channel_t *ch) {
  if (!ch->socket->assigns) ch->socket->assigns = json_object();
  return ch->socket->assigns;
}

/* Serialises a borrowed JSON value once; "{}" for NULL. */
static char *phx_json_text(const json_t *v, size_t *len) {
  char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
  if (!s) s = xstrdup("{}");
  *len = strlen(s);
  return s;
}

static void phx_channel_send(phx_channel_t *ch, buf_t *b, uint8_t opcode) {
  frame_t *f = phx_frame_finish(b, opcode);
  phx_socket_send(ch->socket, f);
  frame_unref(f);
}

void phx_channel_reply_text(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                            const char *json, size_t len) {
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_reply(&b, ch->socket->vsn, ch->reply_join_ref, msg->ref, ch->topic, status, json,
                   len);
  phx_channel_send(ch, &b, WS_OP_TEXT);
}

const char *phx_channel_user(const phx_channel_t *ch) { return phx_socket_user(ch->socket); }

bool phx_channel_may_write(const phx_channel_t *ch) {
  return !ch->socket->auth || auth_may_write(ch->socket->auth, ch->topic);
}

void phx_channel_join_reply_shared(phx_channel_t *ch, frame_t *json) {
  phx_socket_t *s = ch->socket;
  if (s->join_reply) frame_unref(s->join_reply);
  s->join_reply = json;
}

void phx_channel_reply(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                       const json_t *response) {
  size_t len;
  char *json = phx_json_text(response, &len);
  phx_channel_reply_text(ch, msg, status, json, len);
  free(json);
}

void phx_channel_reply_error(phx_channel_t *ch, const phx_msg_t *msg, const char *reason) {
  json_t *r = json_pack("{ss}", "reason", reason);
  phx_channel_reply(ch, msg, "error", r);
  json_decref(r);
}

void phx_channel_reply_binary(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                              const uint8_t *data, size_t len) {
  /* V1 clients cannot send or receive binary; a y-websocket client has no replies */
  if (ch->socket->vsn != PHX_V2) return;
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  if (phx_encode_binary_reply(&b, ch->reply_join_ref, msg->ref, ch->topic, status, data, len)) {
    log_warn("channel %s: binary reply not encodable (a field exceeds 255 bytes)", ch->topic);
    buf_free(&b);
    return;
  }
  phx_channel_send(ch, &b, WS_OP_BINARY);
}

void phx_channel_push(phx_channel_t *ch, const char *event, const json_t *payload) {
  size_t len;
  char *json = phx_json_text(payload, &len);
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_push(&b, ch->socket->vsn, ch->reply_join_ref, ch->topic, event, json, len);
  free(json);
  phx_channel_send(ch, &b, WS_OP_TEXT);
}

void phx_channel_push_binary(phx_channel_t *ch, const char *event, const uint8_t *data,
                             size_t len) {
  if (ch->socket->vsn == PHX_RAW) { /* the y-protocols message itself */
    buf_t raw = BUF_INIT;
    frame_buf_begin(&raw);
    buf_append(&raw, data, len);
    phx_channel_send(ch, &raw, WS_OP_BINARY);
    return;
  }
  if (ch->socket->vsn != PHX_V2) return;
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  if (phx_encode_binary_push(&b, ch->reply_join_ref, ch->topic, event, data, len)) {
    log_warn("channel %s: binary push not encodable (a field exceeds 255 bytes)", ch->topic);
    buf_free(&b);
    return;
  }
  phx_channel_send(ch, &b, WS_OP_BINARY);
}

static void phx_channel_publish_from(phx_channel_t *ch, phx_broadcast_t *bc) {
  if (!bc) {
    log_warn("channel %s: broadcast not encodable (a field exceeds 255 bytes)", ch->topic);
    return;
  }
  bc->from_id = ch->sub.id;
  phx_pubsub_publish_cluster(ch->socket->pubsub, bc);
}

void phx_channel_broadcast_from_text(phx_channel_t *ch, const char *event, const char *json,
                                     size_t len) {
  phx_channel_publish_from(ch, phx_broadcast_new(ch->topic, event, false, json, len));
}

void phx_channel_broadcast_from(phx_channel_t *ch, const char *event, const json_t *payload) {
  size_t len;
  char *json = phx_json_text(payload, &len);
  phx_channel_broadcast_from_text(ch, event, json, len);
  free(json);
}

void phx_channel_broadcast_from_binary(phx_channel_t *ch, const char *event, const uint8_t *data,
                                       size_t len) {
  phx_channel_publish_from(ch, phx_broadcast_new(ch->topic, event, true, data, len));
}
