#include "activity/activity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/dict.h"
#include "core/log.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "net/worker.h"
#include "phx/phx_pubsub.h"

#define ACTIVITY_MAX_STREAMS 1000

/* --- history (shared, under a mutex) ------------------------------------------------------------ */

typedef struct activity_ring {
  char **samples; /* JSON texts, a ring of `cap` */
  size_t head, count;
  long watchers;
  bool permanent; /* server and business streams keep history whether watched or not */
} activity_ring_t;

static struct {
  uv_mutex_t lock;
  dict_t rings;   /* topic -> activity_ring_t* */
  size_t cap;     /* samples kept per stream */
  size_t streams; /* business streams */
  server_t *srv;
} activity;

static activity_ring_t *activity_ring_get(const char *topic, bool create) {
  activity_ring_t *r = dict_get(&activity.rings, topic, strlen(topic));
  if (!r && create) {
    r = xcalloc(1, sizeof *r);
    r->samples = xcalloc(activity.cap, sizeof *r->samples);
    dict_set(&activity.rings, topic, strlen(topic), r);
  }
  return r;
}

static void activity_ring_free(activity_ring_t *r) {
  for (size_t i = 0; i < activity.cap; i++) free(r->samples[i]);
  free(r->samples);
  free(r);
}

/* Keep a sample (if the stream keeps history) and broadcast it once to every subscriber. */
static void activity_emit(phx_pubsub_t *ps, const char *topic, json_t *sample) {
  char *text = json_dumps(sample, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(sample);
  size_t len = strlen(text);
  uv_mutex_lock(&activity.lock);
  activity_ring_t *r = activity_ring_get(topic, false);
  if (r) {
    size_t slot = (r->head + r->count) % activity.cap;
    if (r->count == activity.cap) {
      free(r->samples[r->head]);
      r->head = (r->head + 1) % activity.cap;
      slot = (r->head + r->count - 1) % activity.cap;
    } else {
      r->count++;
    }
    r->samples[slot] = xstrdup(text);
  }
  uv_mutex_unlock(&activity.lock);
  phx_broadcast_t *bc = phx_broadcast_new(topic, "sample", false, text, len);
  if (bc) phx_pubsub_publish(ps, bc);
  free(text);
}

json_t *activity_history(const char *topic) {
  json_t *out = json_array();
  uv_mutex_lock(&activity.lock);
  activity_ring_t *r = activity_ring_get(topic, false);
  for (size_t i = 0; r && i < r->count; i++) {
    json_t *v = json_loads(r->samples[(r->head + i) % activity.cap], 0, NULL);
    if (v) json_array_append_new(out, v);
  }
  uv_mutex_unlock(&activity.lock);
  return out;
}

void activity_watch(const char *topic, int delta) {
  uv_mutex_lock(&activity.lock);
  activity_ring_t *r = activity_ring_get(topic, delta > 0);
  if (r) {
    r->watchers += delta;
    if (r->watchers <= 0 && !r->permanent) {
      dict_delete(&activity.rings, topic, strlen(topic));
      activity_ring_free(r);
    }
  }
  uv_mutex_unlock(&activity.lock);
}

static bool activity_watched(const char *topic) {
  uv_mutex_lock(&activity.lock);
  activity_ring_t *r = activity_ring_get(topic, false);
  bool watched = r && r->watchers > 0;
  uv_mutex_unlock(&activity.lock);
  return watched;
}

void activity_init(server_t *srv) {
  uv_mutex_init(&activity.lock);
  dict_init(&activity.rings);
  activity.cap = srv->cfg.activity_history ? srv->cfg.activity_history : 1;
  activity.srv = srv;
  activity_ring_get("activity:server", true)->permanent = true;
}

void activity_free(void) {
  for (dict_iter_t it = dict_iter(&activity.rings); dict_next(&it);) activity_ring_free(it.entry->value);
  dict_free(&activity.rings);
  uv_mutex_destroy(&activity.lock);
  activity.streams = 0;
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
  uv_timer_t timer;
  uint64_t last_ms;
  activity_counters_t prev;
  bool have_prev;
  dict_t doc_prev;  /* doc topic -> activity_prev_t* */
  dict_t streams;   /* worker 0: business stream -> business_stream_t* */
} activity_worker_t;

static _Thread_local activity_worker_t *activity_self;

static uint64_t activity_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double activity_rate(double now, double before, double dt_ms) {
  return dt_ms > 0 ? (now - before) * 1000.0 / dt_ms : 0;
}

static void activity_sample_server(worker_t *w, activity_worker_t *aw, uint64_t t, double dt) {
  server_t *srv = w->server;
  long conns = 0, channels = 0, docs = 0;
  activity_counters_t c = {0};
  for (int i = 0; i < srv->nworkers; i++) {
    worker_t *x = &srv->workers[i];
    conns += atomic_load_explicit(&x->connections, memory_order_relaxed);
    channels += atomic_load_explicit(&x->pubsub.channels_joined, memory_order_relaxed);
    c.msgs_in += (double)atomic_load_explicit(&x->pubsub.messages_in, memory_order_relaxed);
    c.frames_out += (double)atomic_load_explicit(&x->pubsub.frames_out, memory_order_relaxed);
    c.broadcasts += (double)atomic_load_explicit(&x->pubsub.broadcasts, memory_order_relaxed);
    c.bytes_in += (double)atomic_load_explicit(&x->bytes_in, memory_order_relaxed);
    c.bytes_out += (double)atomic_load_explicit(&x->bytes_out, memory_order_relaxed);
    shared_docs_stats_t ds;
    shared_docs_stats(x, &ds);
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
  aw->prev = c;
  aw->have_prev = true;
  activity_emit(&w->pubsub, "activity:server", s);
}

typedef struct activity_doc_ctx {
  worker_t *w;
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
  if (!activity_watched(topic)) {
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
  activity_emit(&x->w->pubsub, topic, s);
}

static void activity_sample_streams(worker_t *w, activity_worker_t *aw, uint64_t t, double dt) {
  for (dict_iter_t it = dict_iter(&aw->streams); dict_next(&it);) {
    business_stream_t *b = it.entry->value;
    char topic[96];
    snprintf(topic, sizeof topic, "activity:%s", it.entry->key);
    json_t *s = json_pack("{sIsfsIsf}", "t", (json_int_t)t, "value", b->sum, "count",
                          (json_int_t)b->count, "per_s", dt > 0 ? b->sum * 1000.0 / dt : 0.0);
    b->sum = 0;
    b->count = 0;
    activity_emit(&w->pubsub, topic, s);
  }
}

static void activity_on_timer(uv_timer_t *h) {
  worker_t *w = h->data;
  activity_worker_t *aw = activity_self;
  uint64_t t = activity_now_ms();
  double dt = aw->last_ms ? (double)(t - aw->last_ms) : (double)w->server->cfg.activity_interval_ms;
  aw->last_ms = t;
  if (w->id == 0) {
    activity_sample_server(w, aw, t, dt);
    activity_sample_streams(w, aw, t, dt);
  }
  activity_doc_ctx_t ctx = {w, aw, t, dt, 0};
  shared_docs_each(w, activity_sample_doc, &ctx);
}

void activity_worker_start(worker_t *w) {
  activity_worker_t *aw = xcalloc(1, sizeof *aw);
  dict_init(&aw->doc_prev);
  dict_init(&aw->streams);
  activity_self = aw;
  uv_timer_init(&w->loop, &aw->timer);
  aw->timer.data = w;
  unsigned ms = w->server->cfg.activity_interval_ms;
  uv_timer_start(&aw->timer, activity_on_timer, ms, ms);
}

static void activity_on_closed(uv_handle_t *h) {
  activity_worker_t *aw = (activity_worker_t *)((char *)h - offsetof(activity_worker_t, timer));
  for (dict_iter_t it = dict_iter(&aw->doc_prev); dict_next(&it);) free(it.entry->value);
  for (dict_iter_t it = dict_iter(&aw->streams); dict_next(&it);) free(it.entry->value);
  dict_free(&aw->doc_prev);
  dict_free(&aw->streams);
  free(aw);
}

void activity_worker_stop(worker_t *w) {
  activity_worker_t *aw = activity_self;
  if (!aw) return;
  activity_self = NULL;
  uv_close((uv_handle_t *)&aw->timer, activity_on_closed);
}

/* --- business events ----------------------------------------------------------------------------- */

bool activity_stream_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64 || !strcmp(name, "server") || !strncmp(name, "doc", 3)) return false;
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

static void activity_event_run(task_t *t) {
  event_task_t *e = (event_task_t *)t;
  activity_worker_t *aw = activity_self;
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

bool activity_add_event(worker_t *from, const char *stream, double value) {
  char topic[96];
  snprintf(topic, sizeof topic, "activity:%s", stream);
  uv_mutex_lock(&activity.lock);
  activity_ring_t *r = activity_ring_get(topic, false);
  bool ok = true;
  if (!r) {
    if (activity.streams >= ACTIVITY_MAX_STREAMS) {
      ok = false;
    } else {
      activity_ring_get(topic, true)->permanent = true;
      activity.streams++;
    }
  } else if (!r->permanent) {
    r->permanent = true; /* watched before its first event */
    activity.streams++;
  }
  uv_mutex_unlock(&activity.lock);
  if (!ok) return false;
  event_task_t *e = xmalloc(sizeof *e);
  e->task.run = activity_event_run;
  snprintf(e->name, sizeof e->name, "%s", stream);
  e->value = value;
  worker_submit(&from->server->workers[0], &e->task);
  return true;
}
