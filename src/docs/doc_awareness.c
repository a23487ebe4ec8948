/* The awareness relay of a document (cursors, names): the server keeps the table as a y-protocols
 * peer (awareness.c) and relays what changed.
 *
 * Throttle: changed clients go out at once when no window is open (then a 50 ms window opens);
 * within a window they accumulate and go out, with their latest states, when it closes — leading
 * and trailing, so one cursor moving fast costs its peers at most ~20 messages a second while a
 * lone change is never delayed. A relayed change skips the channel it came from when all of the
 * window's changes came from that one channel.
 *
 * Ownership: the last channel to announce a client owns it. When a channel goes, the clients it
 * owns are removed from the table and relayed as null states at the same clock, which every
 * y-protocols peer accepts: no cursor is left behind. A client that reconnected on a new channel
 * is owned by the new one, so the old connection's late leave does not remove it.
 *
 * Limits (--max-awareness-states, --max-awareness-bytes): an update that would leave more states
 * in the document, or carries a larger state, is refused whole (awareness.c validates before it
 * applies): the sender gets `yjs_error` {"reason": "too many awareness states" | "awareness state
 * too large"}, the states already there stay as they were. */
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "docs/doc_internal.h"
#include "docs/ymsg.h"

static void doc_aw_broadcast(shared_doc_t *d, const uint64_t *ids, size_t n,
                             const doc_chan_t *from) {
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
  if (d->n_aw_pending)
    doc_aw_broadcast(d, d->aw_pending, d->n_aw_pending, d->aw_origin_multi ? NULL : &d->aw_origin);
  d->n_aw_pending = 0;
  d->aw_origin_set = false;
}

/* origin: the one channel the changes came from (NULL: none, e.g. a channel that left). */
static void doc_aw_changed(shared_doc_t *d, const uint64_t *ids, size_t n,
                           const doc_chan_t *origin) {
  if (!n) return;
  if (!d->aw_window) {
    doc_aw_broadcast(d, ids, n, origin);
    d->aw_window = true;
    uv_timer_start(&d->aw_timer, doc_aw_on_timer, d->docs->cfg->awareness_window_ms, 0);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t j = 0;
    while (j < d->n_aw_pending && d->aw_pending[j] != ids[i]) j++;
    if (j == d->n_aw_pending) VEC_PUSH(d->aw_pending, d->n_aw_pending, d->cap_aw_pending, 8, ids[i]);
  }
  if (!d->aw_origin_set) {
    d->aw_origin_multi = !origin;
    if (origin) d->aw_origin = *origin;
    d->aw_origin_set = true;
  } else if (!origin || d->aw_origin_multi || !doc_chan_eq(&d->aw_origin, origin)) {
    d->aw_origin_multi = true;
  }
}

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
  VEC_PUSH(owner->aw_ids, owner->n_aw, owner->cap_aw, 4, client);
}

static void doc_aw_release(doc_sub_t *s, uint64_t client) {
  for (size_t j = 0; j < s->n_aw; j++)
    if (s->aw_ids[j] == client) {
      s->aw_ids[j] = s->aw_ids[--s->n_aw];
      return;
    }
}

void doc_awareness_apply(shared_doc_t *d, const doc_chan_t *from, const uint8_t *u, size_t len) {
  uint64_t channel_id = from->id;
  awareness_change_t *changes = NULL;
  const char *why = NULL;
  const shared_docs_config_t *cfg = d->docs->cfg;
  awareness_limits_t lim = {cfg->max_awareness_states, cfg->max_awareness_state_bytes};
  int n = awareness_apply_limited(&d->aw, u, len, &lim, &changes, &why);
  if (n == AWARENESS_ELIMIT) {
    log_warn("doc %s: awareness from channel %llu refused: %s (%zu bytes; %zu states, "
             "--max-awareness-states %zu, --max-awareness-bytes %zu)",
             d->name, (unsigned long long)channel_id, why, len, awareness_count(&d->aw),
             lim.max_states, lim.max_state_bytes);
    doc_reply_error(d, from, why);
    return;
  }
  if (n < 0) {
    log_warn("doc %s: awareness from channel %llu refused: %s", d->name,
             (unsigned long long)channel_id, why);
    doc_reply_error(d, from, "malformed awareness update");
    return;
  }
  d->awareness_applied++;
  DOCS_COUNT(d->docs, awareness_updates);
  doc_sub_t *s = doc_find_sub(d, from);
  uint64_t *ids = n ? xmalloc((size_t)n * sizeof *ids) : NULL;
  for (int i = 0; i < n; i++) {
    ids[i] = changes[i].client;
    if (!s) continue;
    if (changes[i].kind == AWARENESS_REMOVED) doc_aw_release(s, changes[i].client);
    else doc_aw_claim(d, s, changes[i].client);
  }
  doc_aw_changed(d, ids, (size_t)n, from);
  free(ids);
  free(changes);
}

void doc_awareness_forget(shared_doc_t *d, doc_sub_t *s) {
  size_t n = awareness_remove(&d->aw, s->aw_ids, s->n_aw);
  if (n) doc_aw_changed(d, s->aw_ids, n, NULL);
}

void doc_awareness_snapshot(shared_doc_t *d, buf_t *out) {
  buf_t aw = BUF_INIT;
  awareness_encode(&d->aw, NULL, 0, &aw);
  ymsg_encode_awareness(out, aw.data, aw.len);
  buf_free(&aw);
}
