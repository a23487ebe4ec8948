#include "channels/room_channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "phx/phx_presence.h"

typedef struct room_state {
  char *user;   /* the presence key; NULL: an anonymous listener, not tracked */
  json_t *meta; /* the presence meta, tracked after the join reply */
} room_state_t;

/* Presence (issue 10): only members with an identity are tracked — the `sub` of the socket's token
 * (issue 13), else the join payload's `user`, else the socket's connect param `user` (as a Phoenix
 * app assigns it in connect/3). A member without
 * one is a listener: it gets presence_state and every presence_diff, so its phoenix.js Presence
 * shows the identified members, but it is on nobody's list and its join and leave cost the room
 * no diff — what lets 20,000 anonymous viewers share a room with a few identified members. */
static int room_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  room_state_t *st = phx_channel_state(ch);
  /* A socket with a token is its `sub`, whatever it says; without one, what it says. */
  const char *user = phx_channel_user(ch);
  if (!user) user = json_string_value(json_object_get(payload, "user"));
  if (!user || !*user) user = json_string_value(json_object_get(phx_channel_params(ch), "user"));
  if (!user || !*user) return PHX_JOIN_OK;
  /* The meta: the join payload's `meta` object, if any, with the server's online_at. */
  json_t *meta = json_object();
  json_t *given = json_object_get(payload, "meta");
  if (json_is_object(given)) json_object_update(meta, given);
  char online_at[24];
  snprintf(online_at, sizeof online_at, "%lld", (long long)time(NULL));
  json_object_set_new(meta, "online_at", json_string(online_at));

  /* Both are the client's and kept for the channel's life: refuse the join (a reason phoenix.js
   * hands to join().receive("error"); the socket logs it) rather than have the track refused
   * after an ok reply. */
  const char *why;
  if (phx_presence_check(user, meta, &why)) {
    json_decref(meta);
    *reply = json_pack("{ss}", "reason", why);
    return PHX_JOIN_ERROR; /* the state is freed without terminate: nothing kept in it */
  }
  st->user = xstrdup(user);
  st->meta = meta;
  return PHX_JOIN_OK;
}

/* As Phoenix apps do in after_join: push the presence list, then track this member (a listener:
 * the list only). */
static void room_after_join(phx_channel_t *ch) {
  room_state_t *st = phx_channel_state(ch);
  if (st->user) phx_presence_track(ch, st->user, st->meta, true);
  else phx_presence_push_state(ch);
}

static void room_terminate(phx_channel_t *ch, phx_exit_t reason) {
  room_state_t *st = phx_channel_state(ch);
  free(st->user);
  st->user = NULL;
  json_decref(st->meta);
  st->meta = NULL;
}

static bool room_event_reserved(const char *event) {
  return !strncmp(event, "phx_", 4) || !strncmp(event, "chan_reply_", 11) ||
         !strncmp(event, "presence_", 9);
}

static void room_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  if (!strcmp(msg->event, "ping")) {
    if (msg->binary) phx_channel_reply_binary(ch, msg, "ok", msg->bin, msg->bin_len);
    else if (msg->payload_text) phx_channel_reply_text(ch, msg, "ok", msg->payload_text, msg->payload_text_len);
    else phx_channel_reply(ch, msg, "ok", msg->payload);
    return;
  }
  if (room_event_reserved(msg->event)) {
    log_info("room %s: reserved event '%s' refused", phx_channel_topic(ch), msg->event);
    phx_channel_reply_error(ch, msg, "reserved event");
    return;
  }
  /* Relayed as the client wrote it: encoded once (here), never re-serialised. */
  if (msg->binary) phx_channel_broadcast_from_binary(ch, msg->event, msg->bin, msg->bin_len);
  else if (msg->payload_text) phx_channel_broadcast_from_text(ch, msg->event, msg->payload_text, msg->payload_text_len);
  else phx_channel_broadcast_from(ch, msg->event, msg->payload);
}

const phx_channel_type_t room_channel = {
    .name = "room",
    .state_size = sizeof(room_state_t),
    .join = room_join,
    .after_join = room_after_join,
    .handle_in = room_handle_in,
    .terminate = room_terminate,
};
