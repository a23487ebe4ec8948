/* The document actor: the registry of a worker's documents, their lifecycle (see the state
 * diagram in doc_internal.h), and what the y-protocols messages of a channel do to a document.
 * Storage, awareness and the messages to and from channels live in their own files. */
#include "docs/shared_doc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "docs/doc_internal.h"
#include "docs/ymsg.h"

/* ================================================================================================
 * The service
 * ============================================================================================== */

static void *shared_docs_start(task_ctx_t *ctx, void *arg) {
  shared_docs_t *docs = xcalloc(1, sizeof *docs);
  docs->cfg = arg;
  docs->ctx = ctx;
  docs->pubsub = phx_pubsub_of(ctx);
  dict_init(&docs->by_name);
  return docs;
}

/* Shutdown, step 2: issue no more storage requests (the store is about to close). */
static void shared_docs_quiesce(void *state) { ((shared_docs_t *)state)->quiesced = true; }

/* Shutdown, step 3 (the store has closed and delivered every completion), on the worker's loop:
 * close the documents' timers so the loop can end. */
static void shared_docs_stop(void *state) {
  shared_docs_t *docs = state;
  for (dict_iter_t it = dict_iter(&docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    uv_close((uv_handle_t *)&d->aw_timer, NULL);
    uv_close((uv_handle_t *)&d->unload_timer, NULL);
    uv_close((uv_handle_t *)&d->lease_timer, NULL);
    uv_close((uv_handle_t *)&d->store_timer, NULL);
  }
}

/* After the loop ended. The store closed first and delivered every completion, so nothing is in
 * flight; the timers closed by stop are closed. Every update is in the store. */
static void shared_docs_free(void *state) {
  shared_docs_t *docs = state;
  for (dict_iter_t it = dict_iter(&docs->by_name); dict_next(&it);) {
    doc_uncount(it.entry->value);
    doc_destroy(it.entry->value);
  }
  dict_free(&docs->by_name);
  free(docs);
}

const service_t shared_docs_service = {
    .name = "documents",
    .start = shared_docs_start,
    .quiesce = shared_docs_quiesce,
    .stop = shared_docs_stop,
    .free = shared_docs_free,
};

const shared_docs_config_t *shared_docs_config_of(task_ctx_t *ctx) {
  shared_docs_t *docs = task_ctx_service(ctx, &shared_docs_service);
  return docs ? docs->cfg : NULL;
}

#define DOCS_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
void shared_docs_stats(const shared_docs_t *docs, shared_docs_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!docs) return;
  out->open = DOCS_LOAD(docs->open);
  out->updates = DOCS_LOAD(docs->updates);
  out->awareness_updates = DOCS_LOAD(docs->awareness_updates);
  out->storage_writes = DOCS_LOAD(docs->storage_writes);
}
#undef DOCS_LOAD

void shared_docs_each(task_ctx_t *ctx, void (*fn)(void *arg, const shared_doc_sample_t *s),
                      void *arg) {
  shared_docs_t *docs = task_ctx_service(ctx, &shared_docs_service);
  if (!docs) return;
  for (dict_iter_t it = dict_iter(&docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    shared_doc_sample_t s = {d->name, d->instance, d->nsubs, d->updates_applied,
                             d->awareness_applied, d->bytes_in};
    fn(arg, &s);
  }
}

/* ================================================================================================
 * Registry and lifecycle
 * ============================================================================================== */

shared_doc_t *doc_find(shared_docs_t *docs, const char *name) {
  return dict_get(&docs->by_name, name, strlen(name));
}

doc_sub_t *doc_find_sub(shared_doc_t *d, const doc_chan_t *chan) {
  for (size_t i = 0; i < d->nsubs; i++)
    if (doc_chan_eq(&d->subs[i].chan, chan)) return &d->subs[i];
  return NULL;
}

static void doc_on_handle_closed(uv_handle_t *h) {
  shared_doc_t *d = h->data;
  d->handles_open--;
  doc_maybe_free(d);
}

void doc_drop_pending(shared_doc_t *d) {
  for (doc_msg_t *m = d->pending, *next; m; m = next) {
    next = m->next;
    if (m->api) doc_api_refuse(d->docs, m->api, 503, "the document could not be loaded");
    free(m->data);
    free(m);
  }
  d->pending = NULL;
  d->pending_tail = &d->pending;
}

doc_msg_t *doc_queue_pending(shared_doc_t *d, const doc_chan_t *from, uint8_t *data, size_t len) {
  doc_msg_t *m = xmalloc(sizeof *m);
  m->next = NULL;
  m->api = NULL;
  m->from = *from;
  m->data = data;
  m->len = len;
  *d->pending_tail = m;
  d->pending_tail = &m->next;
  return m;
}

void doc_run_pending(shared_doc_t *d) {
  doc_msg_t *m = d->pending;
  d->pending = NULL;
  d->pending_tail = &d->pending;
  while (m) {
    doc_msg_t *next = m->next;
    if (m->api) doc_api_run(d, m->api);
    else doc_process(d, &m->from, m->data, m->len);
    free(m->data);
    free(m);
    m = next;
  }
}

void doc_destroy(shared_doc_t *d) {
  doc_drop_pending(d);
  for (size_t i = 0; i < d->nsubs; i++) free(d->subs[i].aw_ids);
  for (size_t i = 0; i < d->ntopics; i++) free(d->topics[i]);
  free(d->topics);
  free(d->subs);
  free(d->aw_pending);
  awareness_free(&d->aw);
  yjs_doc_free(d->ydoc);
  free(d->name);
  free(d);
}

/* ================================================================================================
 * max_docs: the server-wide count and each worker's idle documents
 * ============================================================================================== */

void doc_uncount(shared_doc_t *d) {
  if (!d->counted) return;
  d->counted = false;
  atomic_fetch_sub_explicit(&d->docs->cfg->loaded, 1, memory_order_relaxed);
}

static void doc_count(shared_doc_t *d) {
  if (d->counted) return;
  d->counted = true;
  atomic_fetch_add_explicit(&d->docs->cfg->loaded, 1, memory_order_relaxed);
}

static void doc_idle_add(shared_doc_t *d) {
  shared_docs_t *docs = d->docs;
  if (d->idle) return; /* keeps its place: idle since its last subscriber left */
  d->idle = true;
  d->idle_since = uv_now(docs->ctx->loop);
  d->idle_next = NULL;
  d->idle_prev = docs->idle_tail;
  if (docs->idle_tail) docs->idle_tail->idle_next = d;
  else docs->idle_head = d;
  docs->idle_tail = d;
}

static void doc_idle_remove(shared_doc_t *d) {
  shared_docs_t *docs = d->docs;
  if (!d->idle) return;
  if (d->idle_prev) d->idle_prev->idle_next = d->idle_next;
  else docs->idle_head = d->idle_next;
  if (d->idle_next) d->idle_next->idle_prev = d->idle_prev;
  else docs->idle_tail = d->idle_prev;
  d->idle = false;
  d->idle_prev = d->idle_next = NULL;
}

static void doc_unload_now(shared_doc_t *d);

/* Take one unit of cfg->loaded for a document about to be opened on this worker. At the cap,
 * unload this worker's least recently used idle document first (its final compaction runs as
 * usual; it stops counting at once). Another worker may take the freed unit meanwhile: then the
 * next idle document goes, until none is left. */
static bool docs_admit(shared_docs_t *docs, const char *name) {
  shared_docs_config_t *cfg = docs->cfg;
  long max = cfg->max_docs > (size_t)LONG_MAX ? LONG_MAX : (long)cfg->max_docs;
  long n = atomic_load_explicit(&cfg->loaded, memory_order_relaxed);
  for (;;) {
    if (!cfg->max_docs || n < max) {
      if (atomic_compare_exchange_weak_explicit(&cfg->loaded, &n, n + 1, memory_order_relaxed,
                                                memory_order_relaxed))
        return true;
      continue;
    }
    shared_doc_t *lru = docs->idle_head;
    if (!lru) {
      log_warn("doc %s: not opened: %ld documents loaded (--max-docs %zu), none idle on "
               "worker %d",
               name, n, cfg->max_docs, docs->ctx->worker);
      return false;
    }
    log_info("doc %s: unloading now to open %s: %ld documents loaded (--max-docs %zu); idle for "
             "%llu ms, the longest on worker %d",
             lru->name, name, n, cfg->max_docs,
             (unsigned long long)(uv_now(docs->ctx->loop) - lru->idle_since), docs->ctx->worker);
    uv_timer_stop(&lru->unload_timer);
    doc_unload_now(lru); /* uncounts it and leaves the idle list */
    n = atomic_load_explicit(&cfg->loaded, memory_order_relaxed);
  }
}

/* A dead document leaves the registry at once (a new join creates a fresh one) and is freed when
 * its last storage completion has arrived and its timers are closed. */
void doc_maybe_free(shared_doc_t *d) {
  if (d->state != DOC_DEAD) return;
  shared_docs_t *docs = d->docs;
  if (d->name && doc_find(docs, d->name) == d) {
    doc_idle_remove(d);
    doc_uncount(d);
    dict_delete(&docs->by_name, d->name, strlen(d->name));
    atomic_fetch_sub_explicit(&docs->open, 1, memory_order_relaxed);
    if (d->leased) doc_cluster_gone(d);
    if (d->ydoc) log_info("doc %s: unloaded", d->name);
    uv_close((uv_handle_t *)&d->aw_timer, doc_on_handle_closed);
    uv_close((uv_handle_t *)&d->unload_timer, doc_on_handle_closed);
    uv_close((uv_handle_t *)&d->lease_timer, doc_on_handle_closed);
    uv_close((uv_handle_t *)&d->store_timer, doc_on_handle_closed);
    return; /* the close callbacks come back here */
  }
  if (d->inflight == 0 && d->handles_open == 0) doc_destroy(d);
}

static void doc_on_unload_timer(uv_timer_t *t);

/* No subscribers: unload (the delay has passed, or max_docs needs the room). */
static void doc_unload_now(shared_doc_t *d) {
  doc_idle_remove(d);
  if (d->store_down) { /* what it holds is stored nowhere else: keep it, try again later */
    uv_timer_start(&d->unload_timer, doc_on_unload_timer, d->docs->cfg->unload_ms, 0);
    return;
  }
  doc_uncount(d);
  if (d->state == DOC_READY && d->stored_entries > 1) {
    /* Leave one compact entry behind, then go. */
    d->state = DOC_UNLOADING;
    doc_compact(d);
    if (d->compacting) return;
  }
  d->state = DOC_DEAD;
  doc_maybe_free(d);
}

static void doc_on_unload_timer(uv_timer_t *t) {
  shared_doc_t *d = t->data;
  if (d->nsubs || d->state == DOC_DEAD || d->state == DOC_UNLOADING) return;
  doc_unload_now(d);
}

void doc_schedule_unload(shared_doc_t *d) {
  doc_idle_add(d);
  uv_timer_start(&d->unload_timer, doc_on_unload_timer, d->docs->cfg->unload_ms, 0);
}

shared_doc_t *doc_new_entry(shared_docs_t *docs, const char *name, doc_state_t state) {
  static atomic_uint_fast64_t instances;
  shared_doc_t *d = xcalloc(1, sizeof *d);
  d->instance = atomic_fetch_add_explicit(&instances, 1, memory_order_relaxed) + 1;
  d->name = xstrdup(name);
  d->docs = docs;
  d->state = state;
  d->pending_tail = &d->pending;
  awareness_init(&d->aw);
  uv_timer_init(docs->ctx->loop, &d->aw_timer);
  uv_timer_init(docs->ctx->loop, &d->unload_timer);
  uv_timer_init(docs->ctx->loop, &d->lease_timer);
  uv_timer_init(docs->ctx->loop, &d->store_timer);
  d->aw_timer.data = d->unload_timer.data = d->lease_timer.data = d->store_timer.data = d;
  d->handles_open = 4;
  dict_set(&docs->by_name, name, strlen(name), d);
  atomic_fetch_add_explicit(&docs->open, 1, memory_order_relaxed);
  return d;
}

bool doc_admit(shared_doc_t *d) {
  if (d->counted) return true;
  if (!docs_admit(d->docs, d->name)) return false;
  d->counted = true;
  return true;
}

shared_doc_t *doc_open(shared_docs_t *docs, const char *name) {
  shared_doc_t *d = doc_find(docs, name);
  if (d) return d;
  if (!docs_admit(docs, name)) return NULL;
  d = doc_new_entry(docs, name, DOC_LOADING);
  d->counted = true; /* docs_admit took its unit */
  doc_start_load(d);
  return d;
}

void doc_subscribe(shared_doc_t *d, const char *topic, const doc_chan_t *chan) {
  if (doc_find_sub(d, chan)) return;
  size_t i = 0;
  while (topic && i < d->ntopics && strcmp(d->topics[i], topic)) i++;
  if (topic && i == d->ntopics) VEC_PUSH(d->topics, d->ntopics, d->cap_topics, 1, xstrdup(topic));
  VEC_PUSH(d->subs, d->nsubs, d->cap_subs, 4, ((doc_sub_t){.chan = *chan}));
  uv_timer_stop(&d->unload_timer);
  doc_idle_remove(d);
  if (d->state == DOC_UNLOADING) {
    d->state = DOC_READY; /* its compaction completes as usual */
    doc_count(d);         /* loaded again; even past max_docs: a loaded document is never refused */
  }
}

void doc_unsubscribe(shared_doc_t *d, const doc_chan_t *chan) {
  doc_sub_t *s = doc_find_sub(d, chan);
  if (!s) return;
  doc_awareness_forget(d, s);
  free(s->aw_ids);
  *s = d->subs[--d->nsubs];
  if (d->nsubs == 0) doc_schedule_unload(d);
}

/* ================================================================================================
 * y-protocols messages
 * ============================================================================================== */

void doc_broadcast(shared_doc_t *d, const uint8_t *payload, size_t len, const doc_chan_t *from) {
  for (size_t i = 0; i < d->ntopics; i++) {
    phx_broadcast_t *bc = phx_broadcast_new(d->topics[i], "yjs", true, payload, len);
    if (!bc) continue;
    /* Only a channel of this node can be skipped here (ids are unique per process); a channel
     * of another node gets its own change back, which Yjs ignores. */
    bc->from_id = from && !from->node ? from->id : 0;
    if (doc_clustered(d->docs)) phx_pubsub_publish_cluster(d->docs->pubsub, bc);
    else phx_pubsub_publish(d->docs->pubsub, bc);
  }
}

/* Sync step 1 from a client: step 2 (what it lacks), our own step 1 (what we lack) and the
 * awareness of everyone, as three pushes in that order (the reference's join sequence). */
static void doc_answer_step1(shared_doc_t *d, const doc_chan_t *to, const uint8_t *sv,
                             size_t sv_len) {
  uint8_t *diff = NULL, *own_sv = NULL;
  size_t diff_len = 0, own_sv_len = 0;
  yjs_error err = {0};
  if (yjs_doc_encode_state_as_update_v1(d->ydoc, sv, sv_len, &diff, &diff_len, &err) < 0) {
    log_warn("doc %s: malformed state vector from channel %llu: %s", d->name,
             (unsigned long long)to->id, err.msg);
    doc_reply_error(d, to, "malformed state vector");
    return;
  }
  yjs_doc_encode_state_vector(d->ydoc, &own_sv, &own_sv_len);
  buf_t parts = BUF_INIT;
  size_t len[3];
  ymsg_encode_sync(&parts, 1, diff, diff_len);
  len[0] = parts.len;
  ymsg_encode_sync(&parts, 0, own_sv, own_sv_len);
  len[1] = parts.len - len[0];
  doc_awareness_snapshot(d, &parts);
  len[2] = parts.len - len[0] - len[1];
  doc_reply_binary(d, to, &parts, len, 3);
  buf_free(&parts);
  yjs_free(diff);
  yjs_free(own_sv);
}

/* Measurements of a document's exact size: at most one a second per document. */
#define DOC_MEASURE_INTERVAL_MS 1000

/* Whether an update of len bytes keeps the document within max_doc_bytes (see shared_doc.h for
 * the measure and its bound). On an estimate over the cap, measure exactly first, if allowed. */
static bool doc_size_allows(shared_doc_t *d, size_t len) {
  size_t max = d->docs->cfg->max_doc_bytes;
  if (!max || (d->size <= max && len <= max - d->size)) return true;
  uint64_t now = uv_now(d->docs->ctx->loop);
  if (!d->size_exact && now >= d->size_next_measure) {
    uint8_t *state = NULL;
    size_t n = 0;
    if (yjs_doc_encode_state_as_update_v1(d->ydoc, NULL, 0, &state, &n, NULL) == 0) {
      log_debug("doc %s: measured %zu bytes (estimated %zu)", d->name, n, d->size);
      d->size = n;
      d->size_exact = true;
      d->size_next_measure = now + DOC_MEASURE_INTERVAL_MS;
    }
    yjs_free(state);
  }
  return d->size <= max && len <= max - d->size;
}

/* Apply an update from a channel (from) or from the API (from NULL: the reason goes to why). */
static int doc_apply(shared_doc_t *d, const doc_chan_t *from, const uint8_t *u, size_t len,
                     char *why, size_t why_cap);

static void doc_apply_update(shared_doc_t *d, const doc_chan_t *from, const uint8_t *u,
                             size_t len) {
  char why[200];
  doc_apply(d, from, u, len, why, sizeof why);
}

int doc_apply_external(shared_doc_t *d, const uint8_t *u, size_t len, char *why, size_t why_cap) {
  return doc_apply(d, NULL, u, len, why, why_cap);
}

static int doc_apply(shared_doc_t *d, const doc_chan_t *from, const uint8_t *u, size_t len,
                     char *why, size_t why_cap) {
  uint64_t channel_id = from ? from->id : 0;
  uint8_t *event = NULL;
  size_t event_len = 0;
  yjs_error err = {0};
  if (!doc_size_allows(d, len)) {
    log_warn("doc %s: update from channel %llu refused: document too large (%s%zu bytes + "
             "update %zu > --max-doc-bytes %zu)",
             d->name, (unsigned long long)channel_id, d->size_exact ? "" : "about ", d->size,
             len, d->docs->cfg->max_doc_bytes);
    if (from) doc_reply_error(d, from, "document too large");
    snprintf(why, why_cap, "document too large");
    return -1;
  }
  if (yjs_doc_apply_update_v1_event(d->ydoc, u, len, &event, &event_len, &err) < 0) {
    log_warn("doc %s: update from channel %llu refused: %s", d->name,
             (unsigned long long)channel_id, err.msg);
    if (from) doc_reply_error(d, from, "malformed update");
    snprintf(why, why_cap, "malformed update: %s", err.msg);
    return -1;
  }
  /* Pending structs are held too, but are in no event yet: count the whole update for them. */
  size_t grown = event_len;
  if (yjs_doc_has_pending(d->ydoc) && len > grown) grown = len;
  if (grown) {
    d->size += grown;
    d->size_exact = false;
  }
  if (!event) return 0; /* nothing new */
  d->updates_applied++;
  DOCS_COUNT(d->docs, updates);
  buf_t msg = BUF_INIT;
  ymsg_encode_sync(&msg, 2, event, event_len);
  doc_broadcast(d, msg.data, msg.len, from);
  buf_free(&msg);
  doc_persist(d, event, event_len);
  yjs_free(event);
  return 0;
}

void doc_process(shared_doc_t *d, const doc_chan_t *from, const uint8_t *data, size_t len) {
  if (!doc_find_sub(d, from)) return; /* it left meanwhile */
  uint64_t channel_id = from->id;
  d->bytes_in += len;
  ymsg_t m;
  const char *why = NULL;
  if (ymsg_parse(data, len, &m, &why) < 0) {
    log_warn("doc %s: malformed message from channel %llu: %s", d->name,
             (unsigned long long)channel_id, why);
    doc_reply_error(d, from, why);
    return;
  }
  switch (m.type) {
  case YMSG_SYNC_STEP1:
    doc_answer_step1(d, from, m.body, m.body_len);
    break;
  case YMSG_SYNC_STEP2:
  case YMSG_SYNC_UPDATE:
    doc_apply_update(d, from, m.body, m.body_len);
    break;
  case YMSG_AWARENESS:
    doc_awareness_apply(d, from, m.body, m.body_len);
    break;
  case YMSG_QUERY_AWARENESS: {
    buf_t aw = BUF_INIT;
    doc_awareness_snapshot(d, &aw);
    size_t n = aw.len;
    doc_reply_binary(d, from, &aw, &n, 1);
    buf_free(&aw);
    break;
  }
  }
}
