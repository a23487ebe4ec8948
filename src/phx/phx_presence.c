#include "phx/phx_presence.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_socket.h"

typedef struct presence_meta {
  char *key;
  json_t *meta; /* with its phx_ref */
  uint64_t channel_id;
} presence_meta_t;

typedef struct presence_topic {
  presence_meta_t *metas;
  size_t n, cap;
} presence_topic_t;

static void presence_task_run(task_t *task, task_ctx_t *ctx);

/* 12 bytes — nanosecond time, worker, sequence — in URL-safe base64: 16 characters, unique,
 * the same shape as Phoenix's refs. */
static void presence_ref(phx_pubsub_t *ps, char out[17]) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
  uint8_t raw[12];
  for (int i = 0; i < 8; i++) raw[i] = (uint8_t)(ns >> (56 - 8 * i));
  raw[8] = (uint8_t)(ps->worker_id >> 8);
  raw[9] = (uint8_t)ps->worker_id;
  uint16_t seq = ++ps->presence_seq;
  raw[10] = (uint8_t)(seq >> 8);
  raw[11] = (uint8_t)seq;
  for (int i = 0, o = 0; i < 12; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  out[16] = '\0';
}

/* {key: {"metas": [...]}} for the given metas (all of a topic, or one change). */
static json_t *presence_group(const presence_meta_t *metas, size_t n, const uint64_t *only_channel) {
  json_t *o = json_object();
  for (size_t i = 0; i < n; i++) {
    if (only_channel && metas[i].channel_id != *only_channel) continue;
    json_t *entry = json_object_get(o, metas[i].key);
    if (!entry) {
      entry = json_pack("{s[]}", "metas");
      json_object_set_new(o, metas[i].key, entry);
    }
    json_array_append(json_object_get(entry, "metas"), metas[i].meta);
  }
  return o;
}

static void presence_broadcast_diff(phx_pubsub_t *ps, const char *topic, json_t *joins,
                                    json_t *leaves) {
  json_t *diff = json_pack("{soso}", "joins", joins, "leaves", leaves);
  char *text = json_dumps(diff, JSON_COMPACT);
  phx_broadcast_t *bc = phx_broadcast_new(topic, "presence_diff", false, text, strlen(text));
  if (bc) phx_pubsub_publish(ps, bc);
  free(text);
  json_decref(diff);
}

/* --- tasks ------------------------------------------------------------------------------------ */

typedef enum { PRESENCE_TRACK, PRESENCE_UNTRACK, PRESENCE_QUERY, PRESENCE_STATE_PUSH, PRESENCE_QUERY_DONE } presence_op_t;

typedef struct presence_task {
  task_t task;
  presence_op_t op;
  int reply_worker;
  uint64_t channel_id;
  char *topic;
  char *key;
  char *text; /* meta JSON (track), state JSON (replies) */
  bool push_state;
  void (*done)(void *ctx, char *state_json);
  void *ctx;
} presence_task_t;

static void presence_task_free(presence_task_t *t) {
  free(t->topic);
  free(t->key);
  free(t->text);
  free(t);
}

static presence_task_t *presence_task_new(presence_op_t op, const char *topic) {
  presence_task_t *t = xcalloc(1, sizeof *t);
  t->task.run = presence_task_run;
  t->op = op;
  t->topic = topic ? xstrdup(topic) : NULL;
  return t;
}

static char *presence_state_text(phx_pubsub_t *ps, const char *topic) {
  presence_topic_t *pt = dict_get(&ps->presence, topic, strlen(topic));
  json_t *state = pt ? presence_group(pt->metas, pt->n, NULL) : json_object();
  char *text = json_dumps(state, JSON_COMPACT);
  json_decref(state);
  return text;
}

static void presence_on_track(phx_pubsub_t *ps, presence_task_t *t) {
  presence_topic_t *pt = dict_get(&ps->presence, t->topic, strlen(t->topic));
  if (!pt) {
    pt = xcalloc(1, sizeof *pt);
    dict_set(&ps->presence, t->topic, strlen(t->topic), pt);
  }
  VEC_RESERVE(pt->metas, pt->n, pt->cap, 8);
  json_t *meta = json_loads(t->text, 0, NULL);
  if (!json_is_object(meta)) {
    json_decref(meta);
    meta = json_object();
  }
  char ref[17];
  presence_ref(ps, ref);
  json_object_set_new(meta, "phx_ref", json_string(ref));
  presence_meta_t *m = &pt->metas[pt->n++];
  m->key = t->key;
  t->key = NULL;
  m->meta = meta;
  m->channel_id = t->channel_id;

  if (t->push_state) {
    presence_task_t *reply = presence_task_new(PRESENCE_STATE_PUSH, NULL);
    reply->channel_id = t->channel_id;
    reply->text = presence_state_text(ps, t->topic);
    phx_pubsub_submit(ps, t->reply_worker, &reply->task);
  }
  presence_broadcast_diff(ps, t->topic, presence_group(m, 1, NULL), json_object());
}

static void presence_on_untrack(phx_pubsub_t *ps, presence_task_t *t) {
  presence_topic_t *pt = dict_get(&ps->presence, t->topic, strlen(t->topic));
  if (!pt) return;
  json_t *leaves = presence_group(pt->metas, pt->n, &t->channel_id);
  size_t kept = 0;
  for (size_t i = 0; i < pt->n; i++) {
    if (pt->metas[i].channel_id == t->channel_id) {
      free(pt->metas[i].key);
      json_decref(pt->metas[i].meta);
    } else {
      pt->metas[kept++] = pt->metas[i];
    }
  }
  bool changed = kept != pt->n;
  pt->n = kept;
  if (!pt->n) {
    dict_delete(&ps->presence, t->topic, strlen(t->topic));
    free(pt->metas);
    free(pt);
  }
  if (changed) presence_broadcast_diff(ps, t->topic, json_object(), leaves);
  else json_decref(leaves);
}

static void presence_task_run(task_t *task, task_ctx_t *ctx) {
  presence_task_t *t = (presence_task_t *)task;
  phx_pubsub_t *ps = phx_pubsub_of(ctx);
  if (!ps) {
    presence_task_free(t);
    return;
  }
  switch (t->op) {
  case PRESENCE_TRACK:
    presence_on_track(ps, t);
    break;
  case PRESENCE_UNTRACK:
    presence_on_untrack(ps, t);
    break;
  case PRESENCE_STATE_PUSH: {
    phx_channel_t *ch = phx_channel_lookup(ps, t->channel_id);
    if (ch) {
      json_t *state = json_loads(t->text, 0, NULL);
      phx_channel_push(ch, "presence_state", state);
      json_decref(state);
    }
    break;
  }
  case PRESENCE_QUERY: {
    presence_task_t *reply = presence_task_new(PRESENCE_QUERY_DONE, NULL);
    reply->text = presence_state_text(ps, t->topic);
    reply->done = t->done;
    reply->ctx = t->ctx;
    phx_pubsub_submit(ps, t->reply_worker, &reply->task);
    break;
  }
  case PRESENCE_QUERY_DONE:
    t->done(t->ctx, t->text);
    t->text = NULL;
    break;
  }
  presence_task_free(t);
}

/* --- API -------------------------------------------------------------------------------------- */

int phx_presence_check(const char *key, const json_t *meta, const char **why) {
  const char *reason = NULL;
  int rc = 0;
  if (strlen(key) > PHX_PRESENCE_MAX_KEY) {
    reason = "presence key too long";
    rc = PHX_PRESENCE_E_KEY;
  } else if (meta && json_dumpb(meta, NULL, 0, JSON_COMPACT) > PHX_PRESENCE_MAX_META) {
    /* json_dumpb without a buffer only measures: no allocation, whatever the size */
    reason = "presence meta too large";
    rc = PHX_PRESENCE_E_META;
  }
  if (why) *why = reason;
  return rc;
}

int phx_presence_track(phx_channel_t *ch, const char *key, const json_t *meta, bool push_state) {
  const char *why;
  int rc = phx_presence_check(key, meta, &why);
  if (rc) {
    log_warn("presence %s: track refused: %s (key of %zu bytes, limits %d / %d bytes)", ch->topic,
             why, strlen(key), PHX_PRESENCE_MAX_KEY, PHX_PRESENCE_MAX_META);
    return rc;
  }
  phx_pubsub_t *ps = ch->socket->pubsub;
  presence_task_t *t = presence_task_new(PRESENCE_TRACK, ch->topic);
  t->reply_worker = ps->worker_id;
  t->channel_id = ch->sub.id;
  t->key = xstrdup(key);
  t->text = meta ? json_dumps(meta, JSON_COMPACT) : xstrdup("{}");
  t->push_state = push_state;
  ch->presence_tracked = true;
  phx_pubsub_submit(ps, phx_pubsub_owner_of(ps, ch->topic), &t->task);
  return 0;
}

void phx_presence_untrack(phx_channel_t *ch) {
  if (!ch->presence_tracked) return;
  ch->presence_tracked = false;
  phx_pubsub_t *ps = ch->socket->pubsub;
  presence_task_t *t = presence_task_new(PRESENCE_UNTRACK, ch->topic);
  t->channel_id = ch->sub.id;
  phx_pubsub_submit(ps, phx_pubsub_owner_of(ps, ch->topic), &t->task);
}

void phx_presence_query(phx_pubsub_t *ps, const char *topic,
                        void (*done)(void *ctx, char *state_json), void *ctx) {
  presence_task_t *t = presence_task_new(PRESENCE_QUERY, topic);
  t->reply_worker = ps->worker_id;
  t->done = done;
  t->ctx = ctx;
  phx_pubsub_submit(ps, phx_pubsub_owner_of(ps, topic), &t->task);
}

size_t phx_presence_count(const phx_pubsub_t *ps) {
  size_t n = 0;
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);)
    n += ((presence_topic_t *)it.entry->value)->n;
  return n;
}

void phx_presence_free(phx_pubsub_t *ps) {
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);) {
    presence_topic_t *pt = it.entry->value;
    for (size_t i = 0; i < pt->n; i++) {
      free(pt->metas[i].key);
      json_decref(pt->metas[i].meta);
    }
    free(pt->metas);
    free(pt);
  }
  dict_free(&ps->presence);
}
