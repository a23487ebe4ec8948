/* Presence: members of other nodes (the cluster). They live in the same tables as this node's
 * own, told apart by their peer's slot (pres_meta_t.node), so the window, the shared states and
 * the diffs treat them alike; see phx_presence.h for the contract and cluster/cluster_bus.c for
 * the protocol that feeds them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_presence.h"
#include "phx/phx_presence_internal.h"

/* A remote channel's index key: the peer's slot and its channel id. 12 bytes, so it never
 * collides with a local channel's 8. */
#define REMOTE_CID_LEN 12
static void remote_cid(char out[REMOTE_CID_LEN], uint32_t node, uint64_t channel_id) {
  memcpy(out, &node, 4);
  memcpy(out + 4, &channel_id, 8);
}

void phx_presence_remote_track(phx_pubsub_t *ps, const char *topic, uint32_t node, uint32_t epoch,
                               uint64_t channel_id, const char *key, const char *meta,
                               size_t meta_len) {
  pres_topic_t *pt = pres_topic_get_or_add(ps, topic);
  pres_key_t *k = dict_get(&pt->keys, key, strlen(key));
  if (!k) {
    json_t *js = json_string(key);
    char *q = json_dumps(js, JSON_ENCODE_ANY);
    json_decref(js);
    k = pres_key_get_or_add(pt, key, q);
    free(q);
  }
  char cid[REMOTE_CID_LEN];
  remote_cid(cid, node, channel_id);
  /* The same meta again — a state transfer confirming what a track already brought, or bringing
   * back one that a sweep let go within the window (the peer was taken for down a moment too
   * early and came back under a new slot): confirm it, never add a twin. A twin's join and the
   * original's leave in one diff would drop the member from phoenix.js lists (it applies joins,
   * then leaves, by phx_ref). The text holds the phx_ref, unique in the cluster: same text, same
   * member. */
  for (pres_meta_t *m = k->head; m; m = m->next) {
    if ((m->live && m->node != node) || m->channel_id != channel_id || m->len != meta_len ||
        memcmp(m->json, meta, meta_len))
      continue;
    m->epoch = epoch;
    if (!m->live) {
      m->node = node;
      pres_meta_index(pt, m, cid, sizeof cid);
      pres_topic_changed(ps, pt);
    }
    return;
  }
  pres_meta_t *m = xmalloc(sizeof *m + meta_len + 1);
  memcpy(m->json, meta, meta_len);
  m->json[meta_len] = '\0';
  m->len = (uint32_t)meta_len;
  m->key = k;
  m->channel_id = channel_id;
  m->node = node;
  m->epoch = epoch;
  m->in_state = false;
  pres_meta_append(pt, k, m, cid, sizeof cid);
  pres_topic_changed(ps, pt);
}

void phx_presence_remote_untrack(phx_pubsub_t *ps, const char *topic, uint32_t node,
                                 uint64_t channel_id) {
  pres_topic_t *pt = pres_topic_get(ps, topic);
  char cid[REMOTE_CID_LEN];
  remote_cid(cid, node, channel_id);
  if (pt && pres_channel_untrack(pt, cid, sizeof cid)) pres_topic_changed(ps, pt);
}

void phx_presence_remote_sweep(phx_pubsub_t *ps, uint32_t node, uint32_t before_epoch) {
  if (!node) return; /* 0 names this node's own members: never swept */
  pres_topic_t **changed = NULL;
  size_t nchanged = 0, capchanged = 0;
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);) {
    pres_topic_t *pt = it.entry->value;
    bool any = false;
    for (dict_iter_t kt = dict_iter(&pt->keys); dict_next(&kt);) {
      for (pres_meta_t *m = ((pres_key_t *)kt.entry->value)->head; m; m = m->next) {
        if (m->node != node || !m->live || m->epoch >= before_epoch) continue;
        /* The whole channel goes, but for metas a later transfer confirmed (none, in practice:
         * a transfer confirms all of a channel's metas at once). */
        char cid[REMOTE_CID_LEN];
        remote_cid(cid, node, m->channel_id);
        pres_meta_t *keep = NULL;
        for (pres_meta_t *c = dict_delete(&pt->channels, cid, sizeof cid), *next; c; c = next) {
          next = c->chan_next;
          if (c->epoch < before_epoch) {
            c->live = false;
            pt->live--;
            pres_key_mark_dirty(pt, c->key);
          } else {
            c->chan_next = keep;
            keep = c;
          }
        }
        if (keep) dict_set(&pt->channels, cid, sizeof cid, keep);
        any = true;
      }
    }
    if (any) VEC_PUSH(changed, nchanged, capchanged, 8, pt);
  }
  /* After the walk: at interval 0 a change is flushed at once and may free its topic. */
  for (size_t i = 0; i < nchanged; i++) pres_topic_changed(ps, changed[i]);
  free(changed);
}

void phx_presence_local_each(phx_pubsub_t *ps, phx_presence_each_fn each, void *arg) {
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);) {
    const pres_topic_t *pt = it.entry->value;
    for (dict_iter_t kt = dict_iter(&pt->keys); dict_next(&kt);) {
      const pres_key_t *k = kt.entry->value;
      for (const pres_meta_t *m = k->head; m; m = m->next)
        if (!m->node && m->live)
          each(arg, it.entry->key, m->channel_id, kt.entry->key, m->json, m->len);
    }
  }
}

