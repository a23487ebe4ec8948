/* A document's conversation with the store (store/store.h): load, append, compact, reload.
 *
 * Requests go to the storage thread and their completions come back as tasks to the owner worker
 * (its executor), so the owner never waits on disk. Every request carries the document's
 * generation: a reload bumps it, and completions of an older generation are ignored, because the
 * state they describe has been replaced. A document is freed only once its last request has come
 * back (inflight), so a completion never finds freed memory. */
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "docs/doc_internal.h"
#include "store/store.h"

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

/* A completion for the document as it is now (not a replaced generation, not unloaded). */
static shared_doc_t *doc_req_done(doc_req_t *r, bool *current) {
  shared_doc_t *d = r->doc;
  d->inflight--;
  *current = r->generation == d->generation && d->state != DOC_DEAD;
  return d;
}

/* NULL while shutting down: the store is about to close and takes no more requests. */
static store_t *doc_store(const shared_doc_t *d) {
  return d->docs->quiesced ? NULL : d->docs->cfg->store;
}

void doc_reload(shared_doc_t *d, const char *why) {
  if (doc_loading(d) || d->state == DOC_DEAD) return;
  log_warn("doc %s: %s; reloading from storage", d->name, why);
  d->generation++;
  d->state = DOC_RELOADING;
  d->compacting = false;
  doc_start_load(d);
}

static void doc_store_unreachable(shared_doc_t *d, int status);

static void doc_on_compacted(void *arg, int status) {
  doc_req_t *r = arg;
  bool current;
  shared_doc_t *d = doc_req_done(r, &current);
  if (current) {
    d->compacting = false;
    if (status == 0) {
      DOCS_COUNT(d->docs, storage_writes);
      d->stored_entries = d->stored_entries - r->entries + 1;
      log_debug("doc %s: compacted %zu entries", d->name, r->entries);
    } else {
      log_error("doc %s: compaction failed: %s", d->name, store_strerror(status));
      if (status == STORE_EUNAVAIL) doc_store_unreachable(d, status);
    }
    /* The final compaction before unloading: the state is stored (or in the log), let it go —
     * unless the store is unreachable: then the snapshot, once stored, lets it go. */
    if (d->state == DOC_UNLOADING && !d->store_down) d->state = DOC_DEAD;
  }
  free(r);
  doc_maybe_free(d);
}

void doc_compact(shared_doc_t *d) {
  store_t *st = doc_store(d);
  bool loaded = d->state == DOC_READY || d->state == DOC_UNLOADING;
  if (!st || d->compacting || !loaded || d->stored_entries <= 1) return;
  uint8_t *state = NULL;
  size_t len = 0;
  if (yjs_doc_encode_state_as_update_v1(d->ydoc, NULL, 0, &state, &len, NULL) < 0) return;
  d->size = len; /* measured for free */
  d->size_exact = true;
  d->compacting = true;
  doc_req_t *r = doc_req(d);
  r->entries = d->stored_entries;
  store_compact(st, d->name, state, len, d->stored_seq, d->docs->ctx->self, doc_on_compacted, r);
  yjs_free(state);
}

static void doc_on_appended(void *arg, int status, int64_t seq) {
  doc_req_t *r = arg;
  bool current;
  shared_doc_t *d = doc_req_done(r, &current);
  if (current) {
    if (status == STORE_EUNAVAIL) {
      doc_store_unreachable(d, status);
    } else if (status != 0) {
      doc_reload(d, store_strerror(status));
    } else {
      d->stored_seq = seq;
      d->stored_entries++;
      DOCS_COUNT(d->docs, storage_writes);
      if (d->stored_entries > d->docs->cfg->compact_threshold) doc_compact(d);
    }
  }
  free(r);
  doc_maybe_free(d);
}

/* --- the store unreachable: serve from memory, then store one snapshot ------------------------ */

#define DOC_STORE_RETRY_MIN_MS 250
#define DOC_STORE_RETRY_MAX_MS 5000

static void doc_on_store_timer(uv_timer_t *t);

static void doc_store_retry_later(shared_doc_t *d) {
  d->store_backoff_ms = d->store_backoff_ms ? d->store_backoff_ms * 2 : DOC_STORE_RETRY_MIN_MS;
  if (d->store_backoff_ms > DOC_STORE_RETRY_MAX_MS) d->store_backoff_ms = DOC_STORE_RETRY_MAX_MS;
  uv_timer_start(&d->store_timer, doc_on_store_timer, d->store_backoff_ms, 0);
}

static void doc_store_unreachable(shared_doc_t *d, int status) {
  if (d->store_down) return;
  d->store_down = true;
  d->store_backoff_ms = 0;
  d->store_skipped = 1; /* the update that just failed: no snapshot carries it yet */
  log_warn("doc %s: %s; serving from memory, storing a snapshot once the store answers", d->name,
           store_strerror(status));
  doc_store_retry_later(d);
}

static void doc_on_snapshot(void *arg, int status, int64_t seq) {
  doc_req_t *r = arg;
  bool current;
  shared_doc_t *d = doc_req_done(r, &current);
  if (current) {
    if (status == 0 && d->store_skipped != r->entries) {
      /* Updates came while the snapshot was on its way: one more carries them. */
      d->stored_seq = seq;
      d->stored_entries++;
      DOCS_COUNT(d->docs, storage_writes);
      d->store_backoff_ms = 0;
      uv_timer_start(&d->store_timer, doc_on_store_timer, 0, 0);
    } else if (status == 0) {
      d->store_down = false;
      d->store_backoff_ms = 0;
      d->store_skipped = 0;
      d->stored_seq = seq;
      d->stored_entries++;
      DOCS_COUNT(d->docs, storage_writes);
      log_info("doc %s: the store answers again; state stored", d->name);
      if (d->state == DOC_UNLOADING) d->state = DOC_DEAD; /* its unload waited for this */
      else if (d->stored_entries > d->docs->cfg->compact_threshold) doc_compact(d);
    } else if (status == STORE_EUNAVAIL) {
      doc_store_retry_later(d);
    } else {
      d->store_down = false;
      doc_reload(d, store_strerror(status));
    }
  }
  free(r);
  doc_maybe_free(d);
}

/* Everything the document holds, as one update appended to its log: what the appends missed. */
static void doc_on_store_timer(uv_timer_t *t) {
  shared_doc_t *d = t->data;
  store_t *st = doc_store(d);
  if (!d->store_down || !st || !d->ydoc || doc_loading(d) || d->state == DOC_DEAD) return;
  uint8_t *state = NULL;
  size_t len = 0;
  if (yjs_doc_encode_state_as_update_v1(d->ydoc, NULL, 0, &state, &len, NULL) < 0) {
    doc_store_retry_later(d);
    return;
  }
  doc_req_t *r = doc_req(d);
  r->entries = (size_t)d->store_skipped; /* what this snapshot carries */
  store_append(st, d->name, state, len, d->docs->ctx->self, doc_on_snapshot, r);
  yjs_free(state);
}

void doc_persist(shared_doc_t *d, const uint8_t *update, size_t len) {
  store_t *st = doc_store(d);
  if (d->store_down) { /* down: the (next) snapshot carries this update */
    d->store_skipped++;
    return;
  }
  if (!st) return;
  store_append(st, d->name, update, len, d->docs->ctx->self, doc_on_appended, doc_req(d));
}

/* Clients that were promised this document: yjs_server_down, then phx_error. */
static void doc_crash_all(shared_doc_t *d) {
  for (size_t i = 0; i < d->nsubs; i++) {
    doc_reply_crash(d, &d->subs[i].chan);
    free(d->subs[i].aw_ids);
  }
  d->nsubs = 0;
}

static void doc_on_loaded(void *arg, store_load_result_t *res) {
  doc_req_t *r = arg;
  bool current;
  shared_doc_t *d = doc_req_done(r, &current);
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
    doc_crash_all(d);
    doc_drop_pending(d);
    d->state = DOC_DEAD;
    doc_maybe_free(d);
    return;
  }
  yjs_doc_free(d->ydoc);
  d->ydoc = ydoc;
  d->stored_seq = res->last_seq;
  d->stored_entries = res->count;
  d->size = res->total_bytes; /* an estimate until measured (shared_doc.h) */
  d->size_exact = res->count == 0;
  d->size_next_measure = 0;
  bool reloaded = d->state == DOC_RELOADING;
  d->state = DOC_READY;
  log_info("doc %s: loaded %zu entries (%zu bytes)", d->name, res->count, res->total_bytes);
  store_load_result_free(res);

  if (reloaded)
    for (size_t i = 0; i < d->nsubs; i++)
      doc_reply_text(d, &d->subs[i].chan, "yjs_resync", "{}");
  if (d->leased) doc_cluster_loaded(d);
  doc_run_pending(d);
  if (d->stored_entries > d->docs->cfg->compact_threshold) doc_compact(d);
  /* Reloaded while unloading: the unload timer has fired already; wait for it once more. */
  if (d->nsubs == 0 && !uv_is_active((uv_handle_t *)&d->unload_timer)) doc_schedule_unload(d);
}

void doc_start_load(shared_doc_t *d) {
  store_t *st = doc_store(d);
  if (!st) { /* shutting down: nothing can be loaded */
    d->state = DOC_DEAD;
    return;
  }
  store_load(st, d->name, d->docs->ctx->self, doc_on_loaded, doc_req(d));
}
