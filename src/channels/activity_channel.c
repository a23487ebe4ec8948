#include "channels/activity_channel.h"

#include <string.h>

#include "activity/activity.h"
#include "core/log.h"

typedef struct activity_state {
  bool watching;
} activity_state_t;

/* The shared history this channel was registered with (activity_channel_register). */
static activity_t *activity_of(const phx_channel_t *ch) { return phx_channel_route(ch)->arg; }

static int activity_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  const char *topic = phx_channel_topic(ch);
  const char *stream = topic + strlen("activity:");
  bool doc = !strncmp(stream, "doc:", 4) && stream[4];
  if (strcmp(stream, "server") && strcmp(stream, "cluster") && !doc &&
      !activity_stream_name_valid(stream)) {
    *reply = json_pack("{ss}", "reason", "unknown activity stream");
    return PHX_JOIN_ERROR;
  }
  if (doc) {
    activity_state_t *st = phx_channel_state(ch);
    activity_watch(activity_of(ch), topic, +1);
    st->watching = true;
  }
  phx_channel_join_reply_shared(ch, activity_history_reply(activity_of(ch), topic));
  return PHX_JOIN_OK;
}

static void activity_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  log_info("activity %s: client push '%s' refused", phx_channel_topic(ch), msg->event);
  phx_channel_reply_error(ch, msg, "activity streams are read-only");
}

static void activity_terminate(phx_channel_t *ch, phx_exit_t reason) {
  activity_state_t *st = phx_channel_state(ch);
  if (st->watching) activity_watch(activity_of(ch), phx_channel_topic(ch), -1);
}

const phx_channel_type_t activity_channel = {
    .name = "activity",
    .state_size = sizeof(activity_state_t),
    .join = activity_join,
    .handle_in = activity_handle_in,
    .terminate = activity_terminate,
};

void activity_channel_register(phx_router_t *router, activity_t *activity) {
  phx_router_add(router, "activity:*", &activity_channel, activity);
}
