#include "channels/ydoc_channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "phx/phx_presence.h"

typedef struct ydoc_state {
  char *doc; /* the document name */
} ydoc_state_t;

void ydoc_channel_register(phx_router_t *router, const char *list) {
  char *copy = xstrdup(list);
  for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    while (*p == ' ') p++;
    if (!*p) continue;
    size_t n = strlen(p);
    char *pattern = xmalloc(n + 2);
    memcpy(pattern, p, n);
    memcpy(pattern + n, "*", 2);
    phx_router_add(router, pattern, &ydoc_channel, NULL);
    free(pattern);
  }
  free(copy);
}

/* The document name: the topic after the prefix its route matched. */
static const char *ydoc_name_of(const phx_channel_t *ch) {
  return phx_channel_topic(ch) + phx_channel_route(ch)->prefix_len;
}

static int ydoc_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  const char *name = ydoc_name_of(ch);
  if (!*name) {
    *reply = json_pack("{ss}", "reason", "missing document name");
    return PHX_JOIN_ERROR;
  }
  ydoc_state_t *st = phx_channel_state(ch);
  st->doc = xstrdup(name);
  /* The reply does not wait for the document to load: messages queue at the owner until it has. */
  shared_doc_join(phx_channel_ctx(ch), st->doc, phx_channel_topic(ch), phx_channel_id(ch));
  return PHX_JOIN_OK;
}

/* As the reference app: every join is tracked on the room topic under a fresh key with an empty
 * meta, and no presence_state is pushed (the provider ignores presence). */
static void ydoc_after_join(phx_channel_t *ch) {
  char key[40];
  snprintf(key, sizeof key, "cinder_%llu", (unsigned long long)phx_channel_id(ch));
  phx_presence_track(ch, key, NULL, false);
}

static void ydoc_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  ydoc_state_t *st = phx_channel_state(ch);
  if (strcmp(msg->event, "yjs") && strcmp(msg->event, "yjs_sync")) {
    phx_channel_reply_error(ch, msg, "unknown event");
    return;
  }
  if (!msg->binary) {
    log_info("doc %s: text payload on '%s' refused", st->doc, msg->event);
    phx_channel_reply_error(ch, msg, "binary payload expected");
    return;
  }
  shared_doc_message(phx_channel_ctx(ch), st->doc, phx_channel_id(ch), msg->bin, msg->bin_len);
}

static void ydoc_terminate(phx_channel_t *ch, phx_exit_t reason) {
  ydoc_state_t *st = phx_channel_state(ch);
  if (!st->doc) return;
  shared_doc_leave(phx_channel_ctx(ch), st->doc, phx_channel_id(ch));
  free(st->doc);
  st->doc = NULL;
}

const phx_channel_type_t ydoc_channel = {
    .name = "y_doc_room",
    .state_size = sizeof(ydoc_state_t),
    .join = ydoc_join,
    .after_join = ydoc_after_join,
    .handle_in = ydoc_handle_in,
    .terminate = ydoc_terminate,
};
