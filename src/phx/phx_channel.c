#include "phx/phx_channel.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "phx/phx_frame.h"
#include "phx/phx_socket.h"
#include "ws/ws_frame.h"

/* --- router ------------------------------------------------------------------------------------ */

typedef struct phx_route {
  char *pattern;
  size_t prefix_len; /* bytes before '*', or the whole length for an exact topic */
  bool wildcard;
  const phx_channel_type_t *type;
} phx_route_t;

static phx_route_t *phx_routes;
static size_t phx_nroutes;

void phx_router_add(const char *pattern, const phx_channel_type_t *type) {
  phx_routes = xrealloc(phx_routes, (phx_nroutes + 1) * sizeof *phx_routes);
  phx_route_t *r = &phx_routes[phx_nroutes++];
  size_t len = strlen(pattern);
  r->pattern = xstrdup(pattern);
  r->wildcard = len > 0 && pattern[len - 1] == '*';
  r->prefix_len = r->wildcard ? len - 1 : len;
  r->type = type;
}

const phx_channel_type_t *phx_router_match(const char *topic) {
  size_t len = strlen(topic);
  for (size_t i = 0; i < phx_nroutes; i++) {
    const phx_route_t *r = &phx_routes[i];
    if (r->wildcard ? len >= r->prefix_len && !memcmp(topic, r->pattern, r->prefix_len)
                    : len == r->prefix_len && !memcmp(topic, r->pattern, len))
      return r->type;
  }
  return NULL;
}

void phx_router_clear(void) {
  for (size_t i = 0; i < phx_nroutes; i++) free(phx_routes[i].pattern);
  free(phx_routes);
  phx_routes = NULL;
  phx_nroutes = 0;
}

/* --- channel API ------------------------------------------------------------------------------- */

void *phx_channel_state(phx_channel_t *ch) { return ch->state; }
uint64_t phx_channel_id(const phx_channel_t *ch) { return ch->sub.id; }

phx_channel_t *phx_channel_lookup(phx_pubsub_t *ps, uint64_t id) {
  return dict_get(&ps->channels, (const char *)&id, sizeof id);
}
const char *phx_channel_topic(const phx_channel_t *ch) { return ch->topic; }
json_t *phx_channel_params(const phx_channel_t *ch) { return ch->socket->params; }

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

void phx_channel_reply(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                       const json_t *response) {
  size_t len;
  char *json = phx_json_text(response, &len);
  phx_channel_reply_text(ch, msg, status, json, len);
  free(json);
}

void phx_channel_reply_binary(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                              const uint8_t *data, size_t len) {
  if (ch->socket->vsn != PHX_V2) return; /* V1 clients cannot send or receive binary */
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
  phx_pubsub_publish(ch->socket->pubsub, bc);
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
