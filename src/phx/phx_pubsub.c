#include "phx/phx_pubsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_frame.h"
#include "phx/phx_presence.h"
#include "phx/phx_serializer.h"
#include "ws/ws_frame.h"

/* The local subscribers of one topic. An array, because broadcasting walks it far more often
 * than anyone joins or leaves; removal is O(1) by swapping the last element in. */
typedef struct phx_topic {
  phx_subscriber_t **subs;
  size_t n, cap;
  dict_entry_t *entry; /* its key is the topic name */
} phx_topic_t;

static void phx_pubsub_stop(void *state) { phx_presence_stop(state); }

const service_t phx_pubsub_service = {.name = "pubsub", .stop = phx_pubsub_stop};

void phx_pubsub_init(phx_pubsub_t *ps, task_ctx_t *ctx) {
  memset(ps, 0, sizeof *ps);
  ps->worker_id = ctx->worker;
  ps->ctx = ctx;
  dict_init(&ps->topics);
  dict_init(&ps->channels);
  dict_init(&ps->presence);
}

phx_pubsub_t *phx_pubsub_of(task_ctx_t *ctx) { return task_ctx_service(ctx, &phx_pubsub_service); }

void phx_pubsub_submit(phx_pubsub_t *ps, int worker, task_t *t) {
  task_post(ps->ctx->poster, worker, t);
}

int phx_pubsub_owner_of(const phx_pubsub_t *ps, const char *name) {
  return task_owner_of(ps->ctx->poster, name, strlen(name));
}

/* A broadcast published on another worker, delivered on this one. */
typedef struct phx_broadcast_task {
  task_t task;
  phx_broadcast_t *bc;
} phx_broadcast_task_t;

static void phx_broadcast_task_run(task_t *t, task_ctx_t *ctx) {
  phx_broadcast_task_t *bt = (phx_broadcast_task_t *)t;
  phx_pubsub_t *ps = phx_pubsub_of(ctx);
  if (ps) phx_pubsub_deliver_local(ps, bt->bc);
  phx_broadcast_unref(bt->bc);
  free(bt);
}

uint64_t phx_subscriber_next_id(void) {
  static atomic_uint_fast64_t next_id = 1;
  return atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
}

void phx_pubsub_free(phx_pubsub_t *ps) {
  for (dict_iter_t it = dict_iter(&ps->topics); dict_next(&it);) {
    phx_topic_t *t = it.entry->value;
    for (size_t i = 0; i < t->n; i++) t->subs[i]->topic = NULL;
    free(t->subs);
    free(t);
  }
  dict_free(&ps->topics);
  dict_free(&ps->channels);
  phx_presence_free(ps);
}

void phx_pubsub_subscribe(phx_pubsub_t *ps, const char *topic, phx_subscriber_t *sub) {
  size_t len = strlen(topic);
  phx_topic_t *t = dict_get(&ps->topics, topic, len);
  if (!t) {
    t = xcalloc(1, sizeof *t);
    t->entry = dict_set(&ps->topics, topic, len, t);
  }
  VEC_RESERVE(t->subs, t->n, t->cap, 4);
  sub->index = t->n;
  sub->topic = t;
  t->subs[t->n++] = sub;
}

void phx_pubsub_unsubscribe(phx_pubsub_t *ps, phx_subscriber_t *sub) {
  phx_topic_t *t = sub->topic;
  if (!t) return;
  phx_subscriber_t *last = t->subs[--t->n];
  t->subs[sub->index] = last;
  last->index = sub->index;
  sub->topic = NULL;
  if (t->n == 0) {
    dict_delete(&ps->topics, t->entry->key, t->entry->key_len);
    free(t->subs);
    free(t);
  }
}

size_t phx_pubsub_local_count(const phx_pubsub_t *ps, const char *topic) {
  phx_topic_t *t = dict_get(&ps->topics, topic, strlen(topic));
  return t ? t->n : 0;
}

phx_broadcast_t *phx_broadcast_new(const char *topic, const char *event, bool binary,
                                   const void *payload, size_t len) {
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  if (binary) {
    if (phx_encode_binary_broadcast(&b, topic, event, payload, len) != 0) {
      buf_free(&b);
      return NULL; /* a topic or event longer than 255 bytes cannot travel in binary */
    }
  } else {
    phx_encode_broadcast(&b, PHX_V2, topic, event, payload, len);
  }
  phx_broadcast_t *bc = xcalloc(1, sizeof *bc);
  atomic_init(&bc->refs, 1);
  bc->topic = xstrdup(topic);
  bc->event = xstrdup(event);
  bc->binary = binary;
  bc->frame_v2 = phx_frame_finish(&b, binary ? WS_OP_BINARY : WS_OP_TEXT);
  atomic_init(&bc->frame_v1, NULL);
  atomic_init(&bc->frame_raw, NULL);
  if (!binary) bc->payload_json = xstrndup(payload, len);
  bc->payload_len = len;
  return bc;
}

const void *phx_broadcast_payload(const phx_broadcast_t *bc, size_t *len) {
  *len = bc->payload_len;
  if (!bc->binary) return bc->payload_json;
  /* A binary broadcast's payload is the last field of its frame */
  return bc->frame_v2->data + bc->frame_v2->len - bc->payload_len;
}

phx_broadcast_t *phx_broadcast_ref(phx_broadcast_t *bc) {
  atomic_fetch_add_explicit(&bc->refs, 1, memory_order_relaxed);
  return bc;
}

void phx_broadcast_unref(phx_broadcast_t *bc) {
  if (!bc || atomic_fetch_sub_explicit(&bc->refs, 1, memory_order_acq_rel) != 1) return;
  frame_unref(bc->frame_v2);
  frame_unref(atomic_load(&bc->frame_v1));
  frame_unref(atomic_load(&bc->frame_raw));
  free(bc->topic);
  free(bc->event);
  free(bc->payload_json);
  free(bc);
}

/* Built once per broadcast by the first worker that needs it; a CAS publishes it to the others. */
static frame_t *phx_broadcast_lazy(_Atomic(frame_t *) *slot, frame_t *mine) {
  frame_t *expected = NULL;
  if (atomic_compare_exchange_strong_explicit(slot, &expected, mine, memory_order_acq_rel,
                                              memory_order_acquire))
    return mine;
  frame_unref(mine); /* another worker got there first */
  return expected;
}

frame_t *phx_broadcast_frame(phx_broadcast_t *bc, int vsn) {
  if (vsn == PHX_V2) return bc->frame_v2;
  if (vsn == PHX_RAW) {
    if (!bc->binary) return NULL;
    frame_t *f = atomic_load_explicit(&bc->frame_raw, memory_order_acquire);
    if (f) return f;
    size_t len;
    const void *payload = phx_broadcast_payload(bc, &len);
    buf_t b = BUF_INIT;
    frame_buf_begin(&b);
    buf_append(&b, payload, len);
    return phx_broadcast_lazy(&bc->frame_raw, phx_frame_finish(&b, WS_OP_BINARY));
  }
  if (bc->binary) return NULL; /* V1 has no binary frames */
  frame_t *f = atomic_load_explicit(&bc->frame_v1, memory_order_acquire);
  if (f) return f;
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_broadcast(&b, PHX_V1, bc->topic, bc->event, bc->payload_json, bc->payload_len);
  frame_t *mine = phx_frame_finish(&b, WS_OP_TEXT);
  frame_t *expected = NULL;
  if (atomic_compare_exchange_strong_explicit(&bc->frame_v1, &expected, mine,
                                              memory_order_acq_rel, memory_order_acquire))
    return mine;
  frame_unref(mine); /* another worker got there first */
  return expected;
}

void phx_pubsub_deliver_local(phx_pubsub_t *ps, phx_broadcast_t *bc) {
  if (ps->draining) return;
  phx_topic_t *t = dict_get(&ps->topics, bc->topic, strlen(bc->topic));
  if (!t) return;
  /* Delivery only queues bytes; it never unsubscribes synchronously, but re-check the bound so a
   * future subscriber that does cannot make us read past the array. */
  for (size_t i = 0; i < t->n; i++) {
    phx_subscriber_t *s = t->subs[i];
    if (s->id == bc->from_id) continue;
    s->deliver(s, bc);
  }
}

static void phx_broadcast_post(const task_poster_t *poster, int worker, phx_broadcast_t *bc) {
  phx_broadcast_task_t *bt = xmalloc(sizeof *bt);
  bt->task.run = phx_broadcast_task_run;
  bt->bc = phx_broadcast_ref(bc);
  task_post(poster, worker, &bt->task);
}

void phx_pubsub_publish(phx_pubsub_t *ps, phx_broadcast_t *bc) {
  PHX_COUNT(ps->broadcasts, 1);
  phx_pubsub_deliver_local(ps, bc);
  const task_poster_t *poster = ps->ctx->poster;
  for (int w = 0; w < poster->nworkers; w++)
    if (w != ps->worker_id) phx_broadcast_post(poster, w, bc);
  phx_broadcast_unref(bc);
}

void phx_pubsub_publish_cluster(phx_pubsub_t *ps, phx_broadcast_t *bc) {
  /* Handed to the bus first: it only encodes and queues, and the sender's own node delivers
   * directly (the bus skips messages that come back from Redis to their sender). */
  if (ps->cluster) ps->cluster->publish(ps->cluster->arg, bc);
  phx_pubsub_publish(ps, bc);
}

void phx_pubsub_post_all(const task_poster_t *poster, phx_broadcast_t *bc) {
  for (int w = 0; w < poster->nworkers; w++) phx_broadcast_post(poster, w, bc);
  phx_broadcast_unref(bc);
}

/* Drawn once per process, so that two nodes minting a ref in the same nanosecond differ. */
static uint32_t phx_ref_salt(void) {
  static _Atomic uint32_t salt;
  uint32_t v = atomic_load_explicit(&salt, memory_order_relaxed);
  if (v) return v;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)&ts;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f) {
    uint32_t r;
    if (fread(&r, sizeof r, 1, f) == 1) x ^= r;
    fclose(f);
  }
  v = (uint32_t)(x ^ (x >> 32)) | 0x1000000u; /* 3 bytes used; the high bit marks it drawn */
  uint32_t expected = 0;
  atomic_compare_exchange_strong(&salt, &expected, v);
  return atomic_load(&salt);
}

/* 15 bytes — nanosecond time, salt, worker, sequence — in URL-safe base64: 20 characters, unique
 * in the cluster, the same shape as Phoenix's refs. */
void phx_pubsub_unique_ref(phx_pubsub_t *ps, char out[PHX_UNIQUE_REF_LEN + 1]) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
  uint32_t salt = phx_ref_salt();
  uint8_t raw[15];
  for (int i = 0; i < 8; i++) raw[i] = (uint8_t)(ns >> (56 - 8 * i));
  raw[8] = (uint8_t)(salt >> 16);
  raw[9] = (uint8_t)(salt >> 8);
  raw[10] = (uint8_t)salt;
  raw[11] = (uint8_t)(ps->worker_id >> 8);
  raw[12] = (uint8_t)ps->worker_id;
  uint16_t seq = ++ps->presence_seq;
  raw[13] = (uint8_t)(seq >> 8);
  raw[14] = (uint8_t)seq;
  for (int i = 0, o = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  out[PHX_UNIQUE_REF_LEN] = '\0';
}
