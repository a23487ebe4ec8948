#include "docs/shared_doc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/dict.h"
#include "core/log.h"
#include "core/mem.h"
#include "docs/awareness.h"
#include "docs/ymsg.h"
#include "net/worker.h"
#include "phx/phx_channel.h"
#include "store/store.h"
#include "yjs/yjs.h"

/* ================================================================================================
 * Replies to channels (run on the channel's worker)
 * ============================================================================================== */

typedef enum {
  CHAN_PUSH_BINARY, /* one or more binary `yjs` pushes, in order */
  CHAN_PUSH_TEXT,   /* one text push: event + JSON payload */
  CHAN_CRASH,       /* push `yjs_server_down` {} then crash the channel (phx_error) */
} chan_task_kind_t;

#define CHAN_MAX_PARTS 3

typedef struct chan_task {
  task_t task;
  chan_task_kind_t kind;
  uint64_t channel_id;
  const char *event; /* static */
  buf_t payload;     /* binary: the parts back to back; text: JSON */
  size_t nparts;
  size_t part_len[CHAN_MAX_PARTS];
} chan_task_t;

static void chan_task_run(task_t *t) {
  chan_task_t *ct = (chan_task_t *)t;
  worker_t *w = worker_current();
  phx_channel_t *ch = w ? phx_channel_lookup(&w->pubsub, ct->channel_id) : NULL;
  if (ch) {
    switch (ct->kind) {
    case CHAN_PUSH_BINARY: {
      size_t off = 0;
      for (size_t i = 0; i < ct->nparts; i++) {
        phx_channel_push_binary(ch, ct->event, ct->payload.data + off, ct->part_len[i]);
        off += ct->part_len[i];
      }
      break;
    }
    case CHAN_PUSH_TEXT: {
      json_t *p = json_loadb((const char *)ct->payload.data, ct->payload.len, 0, NULL);
      phx_channel_push(ch, ct->event, p);
      json_decref(p);
      break;
    }
    case CHAN_CRASH: {
      json_t *p = json_object();
      phx_channel_push(ch, "yjs_server_down", p);
      json_decref(p);
      phx_channel_stop(ch, true);
      break;
    }
    }
  }
  buf_free(&ct->payload);
  free(ct);
}

static chan_task_t *chan_task_new(chan_task_kind_t kind, uint64_t channel_id, const char *event) {
  chan_task_t *ct = xcalloc(1, sizeof *ct);
  ct->task.run = chan_task_run;
  ct->kind = kind;
  ct->channel_id = channel_id;
  ct->event = event;
  return ct;
}

/* ================================================================================================
 * The document actor (runs on the owner worker)
 * ============================================================================================== */

typedef struct doc_sub {
  uint64_t channel_id;
  int worker;
  size_t topic;        /* index into doc->topics */
  uint64_t *aw_ids;    /* awareness clients this channel announced: removed when it leaves */
  size_t n_aw, cap_aw;
} doc_sub_t;

typedef struct doc_msg {
  struct doc_msg *next;
  uint64_t channel_id;
  int worker;
  uint8_t *data;
  size_t len;
} doc_msg_t;

typedef enum { DOC_LOADING, DOC_READY } doc_state_t;

typedef struct shared_doc {
  char *name;
  worker_t *owner;
  doc_state_t state;
  bool reloading;      /* the load in progress replaces a document that clients already had */
  bool dead;           /* unloaded: freed once no request is in flight and the timers closed */
  yjs_doc *ydoc;
  doc_sub_t *subs;
  size_t nsubs, cap_subs;
  char **topics;       /* the topics it was joined under (usually one) */
  size_t ntopics;
  doc_msg_t *pending, **pending_tail; /* messages that arrived while loading */
  awareness_t aw;
  /* awareness relay throttle: leading + trailing window (spec §9.6) */
  uv_timer_t aw_timer;
  bool aw_window;
  uint64_t *aw_pending;
  size_t n_aw_pending, cap_aw_pending;
  uint64_t aw_origin; /* 0: none yet; UINT64_MAX: mixed */
  bool aw_origin_set;
  uv_timer_t unload_timer;
  int handles_open;
  /* storage */
  unsigned inflight;   /* storage requests not yet completed */
  unsigned generation; /* bumped on reload: completions of older generations are ignored */
  int64_t stored_seq;  /* last acknowledged sequence number */
  size_t stored_entries;
  bool compacting;
  bool unloading;      /* the final compaction before unload is in flight */
  uint64_t instance;
  uint64_t updates_applied;
  uint64_t awareness_applied;
  uint64_t bytes_in;
} shared_doc_t;

struct shared_docs {
  dict_t by_name;
  bool quiesced;
  atomic_long open;
  atomic_uint_fast64_t updates, awareness_updates, storage_writes;
};

#define DOCS_COUNT(docs, field) \
  atomic_fetch_add_explicit(&(docs)->field, 1, memory_order_relaxed)

static void doc_start_load(shared_doc_t *d);
static void doc_maybe_free(shared_doc_t *d);
static void doc_process(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *data,
                        size_t len);

static const server_config_t *doc_cfg(const shared_doc_t *d) { return &d->owner->server->cfg; }
static store_t *doc_store(const shared_doc_t *d) {
  return d->owner->docs->quiesced ? NULL : d->owner->server->store;
}

void shared_docs_init(worker_t *w) {
  w->docs = xcalloc(1, sizeof *w->docs);
  dict_init(&w->docs->by_name);
}

void shared_docs_stats(const worker_t *w, shared_docs_stats_t *out) {
  memset(out, 0, sizeof *out);
  shared_docs_t *docs = w->docs;
  if (!docs) return;
  out->open = atomic_load_explicit(&docs->open, memory_order_relaxed);
  out->updates = atomic_load_explicit(&docs->updates, memory_order_relaxed);
  out->awareness_updates = atomic_load_explicit(&docs->awareness_updates, memory_order_relaxed);
  out->storage_writes = atomic_load_explicit(&docs->storage_writes, memory_order_relaxed);
}

void shared_docs_each(worker_t *w, void (*fn)(void *ctx, const shared_doc_sample_t *s),
                      void *ctx) {
  if (!w->docs) return;
  for (dict_iter_t it = dict_iter(&w->docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    shared_doc_sample_t s = {d->name, d->instance, d->nsubs, d->updates_applied,
                             d->awareness_applied, d->bytes_in};
    fn(ctx, &s);
  }
}

static int doc_owner_of(const worker_t *w, const char *name) {
  return (int)(dict_hash(name, strlen(name)) % (uint64_t)w->server->nworkers);
}

static doc_sub_t *doc_find_sub(shared_doc_t *d, uint64_t channel_id) {
  for (size_t i = 0; i < d->nsubs; i++)
    if (d->subs[i].channel_id == channel_id) return &d->subs[i];
  return NULL;
}

static void doc_send(shared_doc_t *d, int worker, chan_task_t *ct) {
  worker_submit(&d->owner->server->workers[worker], &ct->task);
}

static void doc_push_text(shared_doc_t *d, const doc_sub_t *s, const char *event,
                          const char *json) {
  chan_task_t *ct = chan_task_new(CHAN_PUSH_TEXT, s->channel_id, event);
  buf_append_str(&ct->payload, json);
  doc_send(d, s->worker, ct);
}

static void doc_push_error(shared_doc_t *d, uint64_t channel_id, int worker, const char *reason) {
  chan_task_t *ct = chan_task_new(CHAN_PUSH_TEXT, channel_id, "yjs_error");
  json_t *o = json_pack("{ss}", "reason", reason);
  char *s = json_dumps(o, JSON_COMPACT);
  buf_append_str(&ct->payload, s);
  free(s);
  json_decref(o);
  doc_send(d, worker, ct);
}

/* A binary `yjs` broadcast on every topic the document is joined under, skipping `from`. */
static void doc_broadcast(shared_doc_t *d, const uint8_t *payload, size_t len, uint64_t from) {
  for (size_t i = 0; i < d->ntopics; i++) {
    phx_broadcast_t *bc = phx_broadcast_new(d->topics[i], "yjs", true, payload, len);
    if (!bc) continue;
    bc->from_id = from;
    phx_pubsub_publish(&d->owner->pubsub, bc);
  }
}

/* --- awareness ------------------------------------------------------------------------------- */

static void doc_aw_broadcast(shared_doc_t *d, const uint64_t *ids, size_t n, uint64_t from) {
  buf_t upd = BUF_INIT, msg = BUF_INIT;
  awareness_encode(&d->aw, ids, n, &upd);
  ymsg_encode_awareness(&msg, upd.data, upd.len);
  doc_broadcast(d, msg.data, msg.len, from);
  buf_free(&upd);
  buf_free(&msg);
}

static void doc_aw_on_timer(uv_timer_t *t) {
  shared_doc_t *d = t->data;
  d->aw_window = false;
  if (d->n_aw_pending) {
    uint64_t from = d->aw_origin == UINT64_MAX ? 0 : d->aw_origin;
    doc_aw_broadcast(d, d->aw_pending, d->n_aw_pending, from);
  }
  d->n_aw_pending = 0;
  d->aw_origin_set = false;
}

/* Changed clients go out at once when no window is open (then a window opens); within a window
 * they accumulate and go out, with their latest states, when it closes. */
static void doc_aw_changed(shared_doc_t *d, const uint64_t *ids, size_t n, uint64_t origin) {
  if (!n) return;
  if (!d->aw_window) {
    doc_aw_broadcast(d, ids, n, origin);
    d->aw_window = true;
    uv_timer_start(&d->aw_timer, doc_aw_on_timer, doc_cfg(d)->awareness_window_ms, 0);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t j = 0;
    while (j < d->n_aw_pending && d->aw_pending[j] != ids[i]) j++;
    if (j < d->n_aw_pending) continue;
    if (d->n_aw_pending == d->cap_aw_pending) {
      d->cap_aw_pending = d->cap_aw_pending ? d->cap_aw_pending * 2 : 8;
      d->aw_pending = xrealloc(d->aw_pending, d->cap_aw_pending * sizeof *d->aw_pending);
    }
    d->aw_pending[d->n_aw_pending++] = ids[i];
  }
  if (!d->aw_origin_set) {
    d->aw_origin = origin;
    d->aw_origin_set = true;
  } else if (d->aw_origin != origin) {
    d->aw_origin = UINT64_MAX;
  }
}

/* Who announced which client: the last channel to announce a client owns it, so a client that
 * reconnected is not removed when its old connection's leave arrives late. */
static void doc_aw_claim(shared_doc_t *d, doc_sub_t *owner, uint64_t client) {
  for (size_t i = 0; i < d->nsubs; i++) {
    doc_sub_t *s = &d->subs[i];
    for (size_t j = 0; j < s->n_aw; j++)
      if (s->aw_ids[j] == client) {
        if (s == owner) return;
        s->aw_ids[j] = s->aw_ids[--s->n_aw];
        break;
      }
  }
  if (owner->n_aw == owner->cap_aw) {
    owner->cap_aw = owner->cap_aw ? owner->cap_aw * 2 : 4;
    owner->aw_ids = xrealloc(owner->aw_ids, owner->cap_aw * sizeof *owner->aw_ids);
  }
  owner->aw_ids[owner->n_aw++] = client;
}

static void doc_aw_release(doc_sub_t *s, uint64_t client) {
  for (size_t j = 0; j < s->n_aw; j++)
    if (s->aw_ids[j] == client) {
      s->aw_ids[j] = s->aw_ids[--s->n_aw];
      return;
    }
}

/* --- storage --------------------------------------------------------------------------------- */

typedef struct doc_req {
  shared_doc_t *doc;
  unsigned generation;
  size_t entries; /* compaction: entries it covers */
} doc_req_t;

static doc_req_t *doc_req(shared_doc_t *d) {
  doc_req_t *r = xmalloc(sizeof *r);
  r->doc = d;
  r->generation = d->generation;
  r->entries = 0;
  d->inflight++;
  return r;
}

/* Storage or state can no longer be trusted: load the document again from storage. */
static void doc_reload(shared_doc_t *d, const char *why) {
  if (d->state == DOC_LOADING || d->dead) return;
  log_warn("doc %s: %s; reloading from storage", d->name, why);
  d->generation++;
  d->reloading = true;
  d->compacting = false;
  doc_start_load(d);
}

static void doc_on_compacted(void *ctx, int status) {
  doc_req_t *r = ctx;
  shared_doc_t *d = r->doc;
  d->inflight--;
  if (r->generation == d->generation && !d->dead) {
    d->compacting = false;
    if (status == 0) {
      DOCS_COUNT(d->owner->docs, storage_writes);
      d->stored_entries = d->stored_entries - r->entries + 1;
      log_debug("doc %s: compacted %zu entries", d->name, r->entries);
    } else {
      log_error("doc %s: compaction failed: %s", d->name, store_strerror(status));
    }
    if (d->unloading) {
      d->unloading = false;
      if (d->nsubs == 0) d->dead = true; /* state is stored (or in the log): let it go */
    }
  }
  free(r);
  doc_maybe_free(d);
}

static void doc_compact(shared_doc_t *d) {
  store_t *st = doc_store(d);
  if (!st || d->compacting || d->state != DOC_READY || d->stored_entries <= 1) return;
  uint8_t *state = NULL;
  size_t len = 0;
  if (yjs_doc_encode_state_as_update_v1(d->ydoc, NULL, 0, &state, &len, NULL) < 0) return;
  d->compacting = true;
  doc_req_t *r = doc_req(d);
  r->entries = d->stored_entries;
  store_compact(st, d->name, state, len, d->stored_seq, &d->owner->executor, doc_on_compacted, r);
  yjs_free(state);
}

static void doc_on_appended(void *ctx, int status, int64_t seq) {
  doc_req_t *r = ctx;
  shared_doc_t *d = r->doc;
  d->inflight--;
  if (r->generation == d->generation && !d->dead) {
    if (status != 0) {
      doc_reload(d, store_strerror(status));
    } else {
      d->stored_seq = seq;
      d->stored_entries++;
      DOCS_COUNT(d->owner->docs, storage_writes);
      if (d->stored_entries > doc_cfg(d)->doc_compact_threshold) doc_compact(d);
    }
  }
  free(r);
  doc_maybe_free(d);
}

static void doc_persist(shared_doc_t *d, const uint8_t *update, size_t len) {
  store_t *st = doc_store(d);
  if (!st) return;
  store_append(st, d->name, update, len, &d->owner->executor, doc_on_appended, doc_req(d));
}

static void doc_crash_all(shared_doc_t *d) {
  for (size_t i = 0; i < d->nsubs; i++) {
    doc_send(d, d->subs[i].worker, chan_task_new(CHAN_CRASH, d->subs[i].channel_id, NULL));
    free(d->subs[i].aw_ids);
  }
  d->nsubs = 0;
}

static void doc_on_loaded(void *ctx, store_load_result_t *res) {
  doc_req_t *r = ctx;
  shared_doc_t *d = r->doc;
  d->inflight--;
  bool current = r->generation == d->generation && !d->dead;
  free(r);
  if (!current) {
    store_load_result_free(res);
    doc_maybe_free(d);
    return;
  }
  const char *failure = res->status ? store_strerror(res->status) : NULL;
  yjs_doc *ydoc = failure ? NULL : yjs_doc_new(0);
  for (size_t i = 0; ydoc && i < res->count; i++) {
    yjs_error err = {0};
    if (yjs_doc_apply_update_v1(ydoc, res->data[i], res->len[i], NULL, &err) < 0) {
      log_error("doc %s: stored entry %lld is malformed: %s", d->name, (long long)res->seq[i],
                err.msg);
      failure = "a stored entry is malformed";
    }
  }
  if (failure) {
    log_error("doc %s: cannot load: %s", d->name, failure);
    yjs_doc_free(ydoc);
    store_load_result_free(res);
    /* Clients that were promised this document: yjs_server_down, then phx_error. */
    doc_crash_all(d);
    for (doc_msg_t *m = d->pending, *next; m; m = next) {
      next = m->next;
      free(m->data);
      free(m);
    }
    d->pending = NULL;
    d->pending_tail = &d->pending;
    d->dead = true;
    doc_maybe_free(d);
    return;
  }
  yjs_doc_free(d->ydoc);
  d->ydoc = ydoc;
  d->stored_seq = res->last_seq;
  d->stored_entries = res->count;
  d->state = DOC_READY;
  log_info("doc %s: loaded %zu entries (%zu bytes)", d->name, res->count, res->total_bytes);
  store_load_result_free(res);

  if (d->reloading) {
    d->reloading = false;
    for (size_t i = 0; i < d->nsubs; i++) doc_push_text(d, &d->subs[i], "yjs_resync", "{}");
  }
  doc_msg_t *m = d->pending;
  d->pending = NULL;
  d->pending_tail = &d->pending;
  while (m) {
    doc_msg_t *next = m->next;
    doc_process(d, m->channel_id, m->worker, m->data, m->len);
    free(m->data);
    free(m);
    m = next;
  }
  if (d->stored_entries > doc_cfg(d)->doc_compact_threshold) doc_compact(d);
}

static void doc_start_load(shared_doc_t *d) {
  d->state = DOC_LOADING;
  store_t *st = doc_store(d);
  if (!st) { /* shutting down: nothing can be loaded */
    d->dead = true;
    return;
  }
  store_load(st, d->name, &d->owner->executor, doc_on_loaded, doc_req(d));
}

/* --- lifecycle ------------------------------------------------------------------------------- */

static void doc_on_handle_closed(uv_handle_t *h) {
  shared_doc_t *d = h->data;
  d->handles_open--;
  doc_maybe_free(d);
}

static void doc_destroy(shared_doc_t *d) {
  for (doc_msg_t *m = d->pending, *next; m; m = next) {
    next = m->next;
    free(m->data);
    free(m);
  }
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

/* A dead document leaves the registry at once (a new join creates a fresh one) and is freed when
 * its last storage completion has arrived and its timers are closed. */
static void doc_maybe_free(shared_doc_t *d) {
  if (!d->dead) return;
  shared_docs_t *docs = d->owner->docs;
  if (d->name && dict_get(&docs->by_name, d->name, strlen(d->name)) == d) {
    dict_delete(&docs->by_name, d->name, strlen(d->name));
    atomic_fetch_sub_explicit(&docs->open, 1, memory_order_relaxed);
    log_info("doc %s: unloaded", d->name);
    uv_close((uv_handle_t *)&d->aw_timer, doc_on_handle_closed);
    uv_close((uv_handle_t *)&d->unload_timer, doc_on_handle_closed);
    return; /* the close callbacks come back here */
  }
  if (d->inflight == 0 && d->handles_open == 0) doc_destroy(d);
}

static void doc_on_unload_timer(uv_timer_t *t) {
  shared_doc_t *d = t->data;
  if (d->nsubs || d->dead) return;
  if (d->state == DOC_READY && d->stored_entries > 1 && doc_store(d)) {
    /* Leave one compact entry behind, then go. */
    d->unloading = true;
    doc_compact(d);
    if (d->compacting) return;
    d->unloading = false;
  }
  d->dead = true;
  doc_maybe_free(d);
}

static shared_doc_t *doc_open(worker_t *w, const char *name) {
  shared_doc_t *d = dict_get(&w->docs->by_name, name, strlen(name));
  if (d) return d;
  static atomic_uint_fast64_t instances;
  d = xcalloc(1, sizeof *d);
  d->instance = atomic_fetch_add_explicit(&instances, 1, memory_order_relaxed) + 1;
  d->name = xstrdup(name);
  d->owner = w;
  d->pending_tail = &d->pending;
  awareness_init(&d->aw);
  uv_timer_init(&w->loop, &d->aw_timer);
  uv_timer_init(&w->loop, &d->unload_timer);
  d->aw_timer.data = d->unload_timer.data = d;
  d->handles_open = 2;
  dict_set(&w->docs->by_name, name, strlen(name), d);
  atomic_fetch_add_explicit(&w->docs->open, 1, memory_order_relaxed);
  doc_start_load(d);
  return d;
}

/* --- message handling ------------------------------------------------------------------------ */

static void doc_answer_step1(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *sv,
                             size_t sv_len) {
  uint8_t *diff = NULL, *own_sv = NULL;
  size_t diff_len = 0, own_sv_len = 0;
  yjs_error err = {0};
  if (yjs_doc_encode_state_as_update_v1(d->ydoc, sv, sv_len, &diff, &diff_len, &err) < 0) {
    log_warn("doc %s: malformed state vector from channel %llu: %s", d->name,
             (unsigned long long)channel_id, err.msg);
    doc_push_error(d, channel_id, worker, "malformed state vector");
    return;
  }
  yjs_doc_encode_state_vector(d->ydoc, &own_sv, &own_sv_len);
  chan_task_t *ct = chan_task_new(CHAN_PUSH_BINARY, channel_id, "yjs");
  size_t mark = 0;
  ymsg_encode_sync(&ct->payload, 1, diff, diff_len); /* step 2: what the client is missing */
  ct->part_len[ct->nparts++] = ct->payload.len - mark;
  mark = ct->payload.len;
  ymsg_encode_sync(&ct->payload, 0, own_sv, own_sv_len); /* step 1: what we are missing */
  ct->part_len[ct->nparts++] = ct->payload.len - mark;
  mark = ct->payload.len;
  buf_t aw = BUF_INIT; /* the awareness of everyone */
  awareness_encode(&d->aw, NULL, 0, &aw);
  ymsg_encode_awareness(&ct->payload, aw.data, aw.len);
  ct->part_len[ct->nparts++] = ct->payload.len - mark;
  buf_free(&aw);
  yjs_free(diff);
  yjs_free(own_sv);
  doc_send(d, worker, ct);
}

static void doc_apply_update(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *u,
                             size_t len) {
  uint8_t *event = NULL;
  size_t event_len = 0;
  yjs_error err = {0};
  if (yjs_doc_apply_update_v1_event(d->ydoc, u, len, &event, &event_len, &err) < 0) {
    log_warn("doc %s: update from channel %llu refused: %s", d->name,
             (unsigned long long)channel_id, err.msg);
    doc_push_error(d, channel_id, worker, "malformed update");
    return;
  }
  if (!event) return; /* nothing new */
  d->updates_applied++;
  DOCS_COUNT(d->owner->docs, updates);
  buf_t msg = BUF_INIT;
  ymsg_encode_sync(&msg, 2, event, event_len);
  doc_broadcast(d, msg.data, msg.len, channel_id);
  buf_free(&msg);
  doc_persist(d, event, event_len);
  yjs_free(event);
}

static void doc_apply_awareness(shared_doc_t *d, uint64_t channel_id, int worker,
                                const uint8_t *u, size_t len) {
  awareness_change_t *changes = NULL;
  const char *why = NULL;
  int n = awareness_apply(&d->aw, u, len, &changes, &why);
  if (n < 0) {
    log_warn("doc %s: awareness from channel %llu refused: %s", d->name,
             (unsigned long long)channel_id, why);
    doc_push_error(d, channel_id, worker, "malformed awareness update");
    return;
  }
  d->awareness_applied++;
  DOCS_COUNT(d->owner->docs, awareness_updates);
  doc_sub_t *s = doc_find_sub(d, channel_id);
  uint64_t *ids = n ? xmalloc((size_t)n * sizeof *ids) : NULL;
  for (int i = 0; i < n; i++) {
    ids[i] = changes[i].client;
    if (!s) continue;
    if (changes[i].kind == AWARENESS_REMOVED) doc_aw_release(s, changes[i].client);
    else doc_aw_claim(d, s, changes[i].client);
  }
  doc_aw_changed(d, ids, (size_t)n, channel_id);
  free(ids);
  free(changes);
}

static void doc_process(shared_doc_t *d, uint64_t channel_id, int worker, const uint8_t *data,
                        size_t len) {
  if (!doc_find_sub(d, channel_id)) return; /* it left meanwhile */
  d->bytes_in += len;
  ymsg_t m;
  const char *why = NULL;
  if (ymsg_parse(data, len, &m, &why) < 0) {
    log_warn("doc %s: malformed message from channel %llu: %s", d->name,
             (unsigned long long)channel_id, why);
    doc_push_error(d, channel_id, worker, why);
    return;
  }
  switch (m.type) {
  case YMSG_SYNC_STEP1:
    doc_answer_step1(d, channel_id, worker, m.body, m.body_len);
    break;
  case YMSG_SYNC_STEP2:
  case YMSG_SYNC_UPDATE:
    doc_apply_update(d, channel_id, worker, m.body, m.body_len);
    break;
  case YMSG_AWARENESS:
    doc_apply_awareness(d, channel_id, worker, m.body, m.body_len);
    break;
  case YMSG_QUERY_AWARENESS: {
    chan_task_t *ct = chan_task_new(CHAN_PUSH_BINARY, channel_id, "yjs");
    buf_t aw = BUF_INIT;
    awareness_encode(&d->aw, NULL, 0, &aw);
    ymsg_encode_awareness(&ct->payload, aw.data, aw.len);
    ct->part_len[ct->nparts++] = ct->payload.len;
    buf_free(&aw);
    doc_send(d, worker, ct);
    break;
  }
  }
}

/* ================================================================================================
 * Tasks from channels to the owner
 * ============================================================================================== */

typedef enum { DOC_TASK_JOIN, DOC_TASK_MESSAGE, DOC_TASK_LEAVE } doc_task_kind_t;

typedef struct doc_task {
  task_t task;
  doc_task_kind_t kind;
  int worker; /* the channel's */
  uint64_t channel_id;
  char *name;
  char *topic;
  uint8_t *data;
  size_t len;
} doc_task_t;

static void doc_task_free(doc_task_t *t) {
  free(t->name);
  free(t->topic);
  free(t->data);
  free(t);
}

static void doc_on_join(worker_t *w, doc_task_t *t) {
  if (w->docs->quiesced) return;
  shared_doc_t *d = doc_open(w, t->name);
  if (doc_find_sub(d, t->channel_id)) return;
  size_t topic = 0;
  while (topic < d->ntopics && strcmp(d->topics[topic], t->topic)) topic++;
  if (topic == d->ntopics) {
    d->topics = xrealloc(d->topics, (d->ntopics + 1) * sizeof *d->topics);
    d->topics[d->ntopics++] = xstrdup(t->topic);
  }
  if (d->nsubs == d->cap_subs) {
    d->cap_subs = d->cap_subs ? d->cap_subs * 2 : 4;
    d->subs = xrealloc(d->subs, d->cap_subs * sizeof *d->subs);
  }
  d->subs[d->nsubs++] = (doc_sub_t){.channel_id = t->channel_id, .worker = t->worker, .topic = topic};
  uv_timer_stop(&d->unload_timer);
  d->unloading = false;
}

static void doc_on_message(worker_t *w, doc_task_t *t) {
  shared_doc_t *d = dict_get(&w->docs->by_name, t->name, strlen(t->name));
  if (!d) return;
  if (d->state == DOC_LOADING) {
    doc_msg_t *m = xmalloc(sizeof *m);
    m->next = NULL;
    m->channel_id = t->channel_id;
    m->worker = t->worker;
    m->data = t->data;
    m->len = t->len;
    t->data = NULL;
    *d->pending_tail = m;
    d->pending_tail = &m->next;
    return;
  }
  doc_process(d, t->channel_id, t->worker, t->data, t->len);
}

static void doc_on_leave(worker_t *w, doc_task_t *t) {
  shared_doc_t *d = dict_get(&w->docs->by_name, t->name, strlen(t->name));
  if (!d) return;
  doc_sub_t *s = doc_find_sub(d, t->channel_id);
  if (!s) return;
  /* Its awareness clients go: states removed (clocks kept), relayed to everyone as nulls. */
  size_t n = awareness_remove(&d->aw, s->aw_ids, s->n_aw);
  if (n) doc_aw_changed(d, s->aw_ids, n, 0);
  free(s->aw_ids);
  *s = d->subs[--d->nsubs];
  if (d->nsubs == 0) uv_timer_start(&d->unload_timer, doc_on_unload_timer, doc_cfg(d)->doc_unload_ms, 0);
}

static void doc_task_run(task_t *task) {
  doc_task_t *t = (doc_task_t *)task;
  worker_t *w = worker_current();
  if (w && w->docs) {
    switch (t->kind) {
    case DOC_TASK_JOIN: doc_on_join(w, t); break;
    case DOC_TASK_MESSAGE: doc_on_message(w, t); break;
    case DOC_TASK_LEAVE: doc_on_leave(w, t); break;
    }
  }
  doc_task_free(t);
}

static void doc_post(worker_t *from, doc_task_kind_t kind, const char *name, const char *topic,
                     uint64_t channel_id, const uint8_t *data, size_t len) {
  doc_task_t *t = xcalloc(1, sizeof *t);
  t->task.run = doc_task_run;
  t->kind = kind;
  t->worker = from->id;
  t->channel_id = channel_id;
  t->name = xstrdup(name);
  t->topic = topic ? xstrdup(topic) : NULL;
  if (data) {
    t->data = xmalloc(len ? len : 1);
    memcpy(t->data, data, len);
    t->len = len;
  }
  worker_submit(&from->server->workers[doc_owner_of(from, name)], &t->task);
}

void shared_doc_join(worker_t *from, const char *name, const char *topic, uint64_t channel_id) {
  doc_post(from, DOC_TASK_JOIN, name, topic, channel_id, NULL, 0);
}

void shared_doc_message(worker_t *from, const char *name, uint64_t channel_id, const uint8_t *msg,
                        size_t len) {
  doc_post(from, DOC_TASK_MESSAGE, name, NULL, channel_id, msg, len);
}

void shared_doc_leave(worker_t *from, const char *name, uint64_t channel_id) {
  doc_post(from, DOC_TASK_LEAVE, name, NULL, channel_id, NULL, 0);
}

void shared_docs_quiesce(worker_t *w) {
  if (w->docs) w->docs->quiesced = true;
}

void shared_docs_stop(worker_t *w) {
  if (!w->docs) return;
  for (dict_iter_t it = dict_iter(&w->docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    uv_close((uv_handle_t *)&d->aw_timer, NULL);
    uv_close((uv_handle_t *)&d->unload_timer, NULL);
  }
}

void shared_docs_free(worker_t *w) {
  if (!w->docs) return;
  /* The store closed first and delivered every completion, so nothing is in flight; the loop has
   * ended, so the timers closed by shared_docs_stop are closed. Every update is in the store. */
  for (dict_iter_t it = dict_iter(&w->docs->by_name); dict_next(&it);) doc_destroy(it.entry->value);
  dict_free(&w->docs->by_name);
  free(w->docs);
  w->docs = NULL;
}
