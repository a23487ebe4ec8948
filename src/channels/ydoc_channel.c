#include "channels/ydoc_channel.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/log.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "docs/ymsg.h"
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

/* --max-doc-opens: the documents one socket may open per minute, as a token bucket kept in the
 * socket's assigns ("ydoc.opens": {"tokens", "at"}): N tokens, refilled at N a minute, one taken
 * per join. So a socket may open N documents at once, then one every 60/N s on average. Every
 * join counts (the same document again, a rejoin after an error); a refused join takes none. */
static bool ydoc_may_open(phx_channel_t *ch, unsigned per_min) {
  json_t *assigns = phx_channel_assigns(ch);
  if (!per_min || !assigns) return true;
  uint64_t now = uv_now(phx_channel_ctx(ch)->loop);
  double cap = per_min, tokens = cap;
  json_t *bucket = json_object_get(assigns, "ydoc.opens");
  if (json_is_object(bucket)) {
    uint64_t at = (uint64_t)json_integer_value(json_object_get(bucket, "at"));
    tokens = json_real_value(json_object_get(bucket, "tokens"));
    if (now > at) tokens += (double)(now - at) * cap / 60000.0;
    if (tokens > cap) tokens = cap;
  }
  bool ok = tokens >= 1.0;
  if (ok) tokens -= 1.0;
  json_object_set_new(assigns, "ydoc.opens",
                      json_pack("{sfsI}", "tokens", tokens, "at", (json_int_t)now));
  return ok;
}

/* Refusals (issue 9). A join the channel can decide alone is refused in the join reply
 * ({"reason": ...}): phoenix.js then retries with its rejoin backoff (1 s, 2 s, 5 s, 10 s) and
 * y-phoenix-channel never reports the room as connected.
 *
 * --max-docs is decided by the document's owner, after the ok reply has gone (the reply does
 * not wait for the owner), so a refusal there is `yjs_error` {"reason": "too many documents"}
 * then phx_error, as a failed load is: phoenix.js treats phx_error like a failed join (its
 * rejoin timer retries), and y-phoenix-channel (0.1.1) reports "disconnected" and drops the
 * remote awareness states it may have, then resyncs on its next successful join. Deciding it in
 * the join itself would need the owner's answer before the reply (a document already loaded must
 * never be refused, and only its owner knows) — a synchronous cross-worker question the Phoenix
 * socket does not have. The one drawback: the ok reply resets phoenix.js's backoff, so a refused
 * client retries every second rather than backing off to 10 s. */
static int ydoc_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  const char *name = ydoc_name_of(ch);
  if (!*name) {
    *reply = json_pack("{ss}", "reason", "missing document name");
    return PHX_JOIN_ERROR;
  }
  const shared_docs_config_t *cfg = shared_docs_config_of(phx_channel_ctx(ch));
  if (cfg && cfg->refuse_joins) {
    *reply = json_pack("{ss}", "reason", cfg->refuse_joins); /* the socket logs the refusal */
    return PHX_JOIN_ERROR;
  }
  if (cfg && !ydoc_may_open(ch, cfg->max_doc_opens_per_min)) {
    log_warn("doc %s: join refused: the socket opened %u documents within a minute "
             "(--max-doc-opens)",
             name, cfg->max_doc_opens_per_min);
    *reply = json_pack("{ss}", "reason", "too many documents opened");
    return PHX_JOIN_ERROR;
  }
  ydoc_state_t *st = phx_channel_state(ch);
  st->doc = xstrdup(name);
  /* The reply does not wait for the document to load: messages queue at the owner until it has. */
  shared_doc_join(phx_channel_ctx(ch), st->doc, phx_channel_topic(ch), phx_channel_id(ch));
  return PHX_JOIN_OK;
}

/* As the reference app: every join is tracked on the room topic under a fresh key, and no
 * presence_state is pushed (the provider ignores presence). The meta is empty, or says whose
 * socket it is when it came with a token: {"user": sub}. */
static void ydoc_after_join(phx_channel_t *ch) {
  char key[40];
  snprintf(key, sizeof key, "cinder_%llu", (unsigned long long)phx_channel_id(ch));
  const char *user = phx_channel_user(ch);
  json_t *meta = user ? json_pack("{ss}", "user", user) : NULL;
  phx_presence_track(ch, key, meta, false);
  json_decref(meta);
}

/* A read-only socket (its token's `write` claim leaves this topic out) syncs, asks for and sends
 * awareness, but its edits — sync step 2 and updates — are refused here, before any document sees
 * them: nothing applied, nothing stored, nobody else told. */
static bool ydoc_is_edit(const phx_msg_t *msg) {
  ymsg_t m;
  const char *why;
  if (ymsg_parse(msg->bin, msg->bin_len, &m, &why) < 0) return false; /* the owner says why */
  return m.type == YMSG_SYNC_STEP2 || m.type == YMSG_SYNC_UPDATE;
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
  if (!phx_channel_may_write(ch) && ydoc_is_edit(msg)) {
    log_info("doc %s: edit from read-only user %s refused", st->doc, phx_channel_user(ch));
    phx_channel_reply_error(ch, msg, "unauthorized");
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
    .filters_writes = true,
};
