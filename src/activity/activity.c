#include "activity/activity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/clock.h"
#include "core/dict.h"
#include "core/log.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "phx/phx_pubsub.h"

#define ACTIVITY_MAX_STREAMS 1000

/* --- history (shared, under a mutex) ------------------------------------------------------------ */

typedef struct activity_ring {
  char **samples; /* JSON texts, a ring of `cap` */
  size_t head, count;
  frame_t *reply; /* {"samples":[...]} for joiners, built on demand; NULL after a new sample */
  long watchers;
  bool permanent; /* server and business streams keep history whether watched or not */
} activity_ring_t;

struct activity {
  uv_mutex_t lock;
  dict_t rings;   /* topic -> activity_ring_t* */
  size_t cap;     /* samples kept per stream */
  size_t streams; /* business streams */
};

static activity_ring_t *activity_ring_get(activity_t *a, const char *topic, bool create) {
  activity_ring_t *r = dict_get(&a->rings, topic, strlen(topic));
  if (!r && create) {
    r = xcalloc(1, sizeof *r);
    r->samples = xcalloc(a->cap, sizeof *r->samples);
    dict_set(&a->rings, topic, strlen(topic), r);
  }
  return r;
}

static void activity_ring_free(activity_t *a, activity_ring_t *r) {
  for (size_t i = 0; i < a->cap; i++) free(r->samples[i]);
  free(r->samples);
  if (r->reply) frame_unref(r->reply);
  free(r);
}

/* Keep a sample (if the stream keeps history) and broadcast it once to every subscriber of this
 * node. The cluster: cluster, set for activity:server, gets the text for its heartbeats. */
static void activity_emit(activity_t *a, phx_pubsub_t *ps, const char *topic, json_t *sample,
                          cluster_t *cluster) {
  char *text = json_dumps(sample, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(sample);
  size_t len = strlen(text);
  if (cluster) cluster_set_sample(cluster, text, len);
  uv_mutex_lock(&a->lock);
  activity_ring_t *r = activity_ring_get(a, topic, false);
  if (r) {
    size_t slot = (r->head + r->count) % a->cap;
    if (r->count == a->cap) {
      free(r->samples[r->head]);
      r->head = (r->head + 1) % a->cap;
      slot = (r->head + r->count - 1) % a->cap;
    } else {
      r->count++;
    }
    r->samples[slot] = xstrdup(text);
    if (r->reply) frame_unref(r->reply);
    r->reply = NULL;
  }
  uv_mutex_unlock(&a->lock);
  phx_broadcast_t *bc = phx_broadcast_new(topic, "sample", false, text, len);
  if (bc) phx_pubsub_publish(ps, bc);
  free(text);
}

static frame_t *activity_reply_encode(const activity_t *a, const activity_ring_t *r) {
  static const char head[] = "{\"samples\":[", tail[] = "]}";
  buf_t b = BUF_INIT;
  buf_append(&b, head, sizeof head - 1);
  for (size_t i = 0; r && i < r->count; i++) {
    if (i) buf_append(&b, ",", 1);
    const char *sample = r->samples[(r->head + i) % a->cap];
    buf_append(&b, sample, strlen(sample));
  }
  buf_append(&b, tail, sizeof tail - 1);
  return frame_from_buf(&b, 0);
}

frame_t *activity_history_reply(activity_t *a, const char *topic) {
  uv_mutex_lock(&a->lock);
  activity_ring_t *r = activity_ring_get(a, topic, false);
  frame_t *reply;
  if (!r) {
    reply = activity_reply_encode(a, NULL);
  } else {
    if (!r->reply) r->reply = activity_reply_encode(a, r);
    reply = frame_ref(r->reply);
  }
  uv_mutex_unlock(&a->lock);
  return reply;
}

void activity_watch(activity_t *a, const char *topic, int delta) {
  uv_mutex_lock(&a->lock);
  activity_ring_t *r = activity_ring_get(a, topic, delta > 0);
  if (r) {
    r->watchers += delta;
    if (r->watchers <= 0 && !r->permanent) {
      dict_delete(&a->rings, topic, strlen(topic));
      activity_ring_free(a, r);
    }
  }
  uv_mutex_unlock(&a->lock);
}

static bool activity_watched(activity_t *a, const char *topic) {
  uv_mutex_lock(&a->lock);
  activity_ring_t *r = activity_ring_get(a, topic, false);
  bool watched = r && r->watchers > 0;
  uv_mutex_unlock(&a->lock);
  return watched;
}

activity_t *activity_new(size_t history) {
  activity_t *a = xcalloc(1, sizeof *a);
  uv_mutex_init(&a->lock);
  dict_init(&a->rings);
  a->cap = history ? history : 1;
  activity_ring_get(a, "activity:server", true)->permanent = true;
  activity_ring_get(a, "activity:cluster", true)->permanent = true;
  return a;
}

void activity_free(activity_t *a) {
  if (!a) return;
  for (dict_iter_t it = dict_iter(&a->rings); dict_next(&it);) activity_ring_free(a, it.entry->value);
  dict_free(&a->rings);
  uv_mutex_destroy(&a->lock);
  free(a);
}

/* --- sampling (each worker: its documents; worker 0: the server and business streams) --------- */

typedef struct activity_counters {
  double msgs_in, frames_out, bytes_in, bytes_out, doc_updates, aw_updates, storage_writes,
      broadcasts;
} activity_counters_t;

typedef struct activity_prev {
  uint64_t instance; /* which load of the document these totals belong to */
  uint64_t updates, awareness, bytes;
} activity_prev_t;

typedef struct business_stream {
  double sum;
  uint64_t count;
} business_stream_t;

typedef struct activity_worker {
  const activity_config_t *cfg;
  activity_t *a;
  task_ctx_t *ctx;      /* the worker it samples on */
  phx_pubsub_t *pubsub; /* where its samples are published */
  uv_timer_t timer;
  uint64_t last_ms;
  activity_counters_t prev;
  bool have_prev;
  dict_t doc_prev;  /* doc topic -> activity_prev_t* */
  dict_t streams;   /* worker 0: business stream -> business_stream_t* */
} activity_worker_t;

static double activity_rate(double now, double before, double dt_ms) {
  return dt_ms > 0 ? (now - before) * 1000.0 / dt_ms : 0;
}

/* Adds every number of one node's sample into sum (integers stay integers), but its time. */
static void activity_sum_into(json_t *sum, const json_t *sample) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)sample, k, v) {
    if (!json_is_number(v) || !strcmp(k, "t")) continue;
    json_t *have = json_object_get(sum, k);
    if (json_is_integer(v) && (!have || json_is_integer(have)))
      json_object_set_new(sum, k, json_integer(json_integer_value(have) + json_integer_value(v)));
    else
      json_object_set_new(sum, k, json_real(json_number_value(have) + json_number_value(v)));
  }
}

static void activity_peer_sample(void *arg, const char *json) {
  json_t **acc = arg; /* [0]: the sum, [1]: how many nodes */
  json_t *peer = json_loads(json, 0, NULL);
  if (!json_is_object(peer)) {
    json_decref(peer);
    return;
  }
  activity_sum_into(acc[0], peer);
  json_integer_set(acc[1], json_integer_value(acc[1]) + 1);
  json_decref(peer);
}

/* activity:cluster: this node's fresh sample and the latest of every live peer, summed. */
static void activity_sample_cluster(activity_worker_t *aw, uint64_t t, const json_t *own) {
  json_t *sum = json_object();
  json_t *nodes = json_integer(1);
  activity_sum_into(sum, own);
  json_t *acc[2] = {sum, nodes};
  if (aw->cfg->cluster) cluster_each_peer_sample(aw->cfg->cluster, activity_peer_sample, acc);
  json_object_set_new(sum, "t", json_integer((json_int_t)t));
  json_object_set_new(sum, "nodes", nodes);
  activity_emit(aw->a, aw->pubsub, "activity:cluster", sum, NULL);
}

static void activity_sample_server(activity_worker_t *aw, uint64_t t, double dt) {
  const server_t *srv = aw->cfg->server;
  server_stats_t st;
  server_stats(srv, -1, &st);
  long conns = st.connections, channels = st.channels, docs = 0;
  activity_counters_t c = {.msgs_in = (double)st.messages_in, .frames_out = (double)st.frames_out,
                           .broadcasts = (double)st.broadcasts, .bytes_in = (double)st.bytes_in,
                           .bytes_out = (double)st.bytes_out};
  for (int i = 0; i < srv->nworkers; i++) {
    shared_docs_stats_t ds;
    shared_docs_stats(server_service_state(srv, i, &shared_docs_service), &ds);
    docs += ds.open;
    c.doc_updates += (double)ds.updates;
    c.aw_updates += (double)ds.awareness_updates;
    c.storage_writes += (double)ds.storage_writes;
  }
  activity_counters_t p = aw->have_prev ? aw->prev : c;
  json_t *s = json_object();
  json_object_set_new(s, "t", json_integer((json_int_t)t));
  json_object_set_new(s, "connections", json_integer(conns));
  json_object_set_new(s, "channels", json_integer(channels));
  json_object_set_new(s, "documents", json_integer(docs));
  /* The process's memory, for the dashboard's memory chart: one read of /proc per interval. In
   * activity:cluster it sums to the memory of every live node. */
  json_object_set_new(s, "rss_bytes", json_integer((json_int_t)mem_rss_bytes()));
#define ACTIVITY_COUNTER(name, field)                                                  \
  json_object_set_new(s, name, json_integer((json_int_t)c.field));                     \
  json_object_set_new(s, name "_per_s", json_real(activity_rate(c.field, p.field, dt)))
  ACTIVITY_COUNTER("messages_in", msgs_in);
  ACTIVITY_COUNTER("messages_out", frames_out);
  ACTIVITY_COUNTER("broadcasts", broadcasts);
  ACTIVITY_COUNTER("bytes_in", bytes_in);
  ACTIVITY_COUNTER("bytes_out", bytes_out);
  ACTIVITY_COUNTER("doc_updates", doc_updates);
  ACTIVITY_COUNTER("awareness_updates", aw_updates);
  ACTIVITY_COUNTER("storage_writes", storage_writes);
#undef ACTIVITY_COUNTER
  json_object_set_new(s, "node", json_string(aw->cfg->node_name ? aw->cfg->node_name : ""));
  aw->prev = c;
  aw->have_prev = true;
  activity_sample_cluster(aw, t, s);
  activity_emit(aw->a, aw->pubsub, "activity:server", s, aw->cfg->cluster);
}

typedef struct activity_doc_ctx {
  activity_worker_t *aw;
  uint64_t t;
  double dt;
  unsigned mark;
} activity_doc_ctx_t;

static void activity_sample_doc(void *ctx, const shared_doc_sample_t *d) {
  activity_doc_ctx_t *x = ctx;
  char topic[512];
  if ((size_t)snprintf(topic, sizeof topic, "activity:doc:%s", d->name) >= sizeof topic) return;
  activity_prev_t *p = dict_get(&x->aw->doc_prev, topic, strlen(topic));
  if (!activity_watched(x->aw->a, topic)) {
    if (p) free(dict_delete(&x->aw->doc_prev, topic, strlen(topic)));
    return;
  }
  if (!p) {
    p = xcalloc(1, sizeof *p);
    *p = (activity_prev_t){d->instance, d->updates, d->awareness_updates, d->bytes_in};
    dict_set(&x->aw->doc_prev, topic, strlen(topic), p);
  } else if (p->instance != d->instance) {
    /* Unloaded and loaded again while watched: its totals started over, so rates do too. */
    *p = (activity_prev_t){d->instance, d->updates, d->awareness_updates, d->bytes_in};
  }
  json_t *s = json_pack("{sIsIsIsfsIsfsIsf}", "t", (json_int_t)x->t, "subscribers",
                        (json_int_t)d->subscribers, "updates", (json_int_t)d->updates,
                        "updates_per_s", activity_rate((double)d->updates, (double)p->updates, x->dt),
                        "awareness_updates", (json_int_t)d->awareness_updates, "awareness_per_s",
                        activity_rate((double)d->awareness_updates, (double)p->awareness, x->dt),
                        "bytes_in", (json_int_t)d->bytes_in, "bytes_in_per_s",
                        activity_rate((double)d->bytes_in, (double)p->bytes, x->dt));
  *p = (activity_prev_t){d->instance, d->updates, d->awareness_updates, d->bytes_in};
  activity_emit(x->aw->a, x->aw->pubsub, topic, s, NULL);
}

static void activity_sample_streams(activity_worker_t *aw, uint64_t t, double dt) {
  for (dict_iter_t it = dict_iter(&aw->streams); dict_next(&it);) {
    business_stream_t *b = it.entry->value;
    char topic[96];
    snprintf(topic, sizeof topic, "activity:%s", it.entry->key);
    json_t *s = json_pack("{sIsfsIsf}", "t", (json_int_t)t, "value", b->sum, "count",
                          (json_int_t)b->count, "per_s", dt > 0 ? b->sum * 1000.0 / dt : 0.0);
    b->sum = 0;
    b->count = 0;
    activity_emit(aw->a, aw->pubsub, topic, s, NULL);
  }
}

static void activity_on_timer(uv_timer_t *h) {
  activity_worker_t *aw = h->data;
  uint64_t t = clock_wall_ms();
  double dt = aw->last_ms ? (double)(t - aw->last_ms) : (double)aw->cfg->interval_ms;
  aw->last_ms = t;
  if (aw->ctx->worker == 0) {
    activity_sample_server(aw, t, dt);
    activity_sample_streams(aw, t, dt);
  }
  activity_doc_ctx_t ctx = {aw, t, dt, 0};
  shared_docs_each(aw->ctx, activity_sample_doc, &ctx);
}

static void *activity_worker_start(task_ctx_t *ctx, void *arg) {
  activity_worker_t *aw = xcalloc(1, sizeof *aw);
  aw->cfg = arg;
  aw->a = aw->cfg->activity;
  aw->ctx = ctx;
  aw->pubsub = phx_pubsub_of(ctx);
  dict_init(&aw->doc_prev);
  dict_init(&aw->streams);
  uv_timer_init(ctx->loop, &aw->timer);
  aw->timer.data = aw;
  unsigned ms = aw->cfg->interval_ms;
  uv_timer_start(&aw->timer, activity_on_timer, ms, ms);
  return aw;
}

static void activity_worker_stop(void *state) {
  activity_worker_t *aw = state;
  uv_close((uv_handle_t *)&aw->timer, NULL);
}

/* After the loop ended: the timer closed by stop is closed. */
static void activity_worker_free(void *state) {
  activity_worker_t *aw = state;
  for (dict_iter_t it = dict_iter(&aw->doc_prev); dict_next(&it);) free(it.entry->value);
  for (dict_iter_t it = dict_iter(&aw->streams); dict_next(&it);) free(it.entry->value);
  dict_free(&aw->doc_prev);
  dict_free(&aw->streams);
  free(aw);
}

const service_t activity_service = {
    .name = "activity",
    .start = activity_worker_start,
    .stop = activity_worker_stop,
    .free = activity_worker_free,
};

/* --- business events ----------------------------------------------------------------------------- */

bool activity_stream_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64 || !strcmp(name, "server") || !strcmp(name, "cluster") ||
      !strncmp(name, "doc", 3))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

typedef struct event_task {
  task_t task;
  char name[72];
  double value;
} event_task_t;

static void activity_event_run(task_t *t, task_ctx_t *ctx) {
  event_task_t *e = (event_task_t *)t;
  activity_worker_t *aw = task_ctx_service(ctx, &activity_service);
  if (aw) {
    business_stream_t *b = dict_get(&aw->streams, e->name, strlen(e->name));
    if (!b) {
      b = xcalloc(1, sizeof *b);
      dict_set(&aw->streams, e->name, strlen(e->name), b);
    }
    b->sum += e->value;
    b->count++;
  }
  free(e);
}

bool activity_add_event(activity_t *a, const task_poster_t *poster, const char *stream,
                        double value) {
  char topic[96];
  snprintf(topic, sizeof topic, "activity:%s", stream);
  uv_mutex_lock(&a->lock);
  activity_ring_t *r = activity_ring_get(a, topic, false);
  bool ok = true;
  if (!r) {
    if (a->streams >= ACTIVITY_MAX_STREAMS) {
      ok = false;
    } else {
      activity_ring_get(a, topic, true)->permanent = true;
      a->streams++;
    }
  } else if (!r->permanent) {
    r->permanent = true; /* watched before its first event */
    a->streams++;
  }
  uv_mutex_unlock(&a->lock);
  if (!ok) return false;
  event_task_t *e = xmalloc(sizeof *e);
  e->task.run = activity_event_run;
  snprintf(e->name, sizeof e->name, "%s", stream);
  e->value = value;
  task_post(poster, 0, &e->task); /* worker 0 keeps the business streams */
  return true;
}
