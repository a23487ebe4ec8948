#include "channels/room_channel.h"

#include <string.h>

#include "core/log.h"

static int room_join(phx_channel_t *ch, json_t *payload, json_t **reply) { return PHX_JOIN_OK; }

static bool room_event_reserved(const char *event) {
  return !strncmp(event, "phx_", 4) || !strncmp(event, "chan_reply_", 11) ||
         !strncmp(event, "presence_", 9);
}

static void room_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  if (!strcmp(msg->event, "ping")) {
    if (msg->binary) phx_channel_reply_binary(ch, msg, "ok", msg->bin, msg->bin_len);
    else phx_channel_reply(ch, msg, "ok", msg->payload);
    return;
  }
  if (room_event_reserved(msg->event)) {
    log_info("room %s: reserved event '%s' refused", phx_channel_topic(ch), msg->event);
    json_t *r = json_pack("{ss}", "reason", "reserved event");
    phx_channel_reply(ch, msg, "error", r);
    json_decref(r);
    return;
  }
  if (msg->binary) phx_channel_broadcast_from_binary(ch, msg->event, msg->bin, msg->bin_len);
  else phx_channel_broadcast_from(ch, msg->event, msg->payload);
}

const phx_channel_type_t room_channel = {
    .name = "room",
    .join = room_join,
    .handle_in = room_handle_in,
};
