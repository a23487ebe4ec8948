/* Presence: the owner's tables, the coalescing window, shared presence_state frames.
 *
 * Why the diffs and states it sends keep every phoenix.js list exact: phx_presence.h.
 *
 * MEMORY. A meta is one allocation: a small header and its compact JSON with the phx_ref; a key
 * is its quoted JSON text and a list of metas; a channel is indexed once (id -> its metas) so an
 * untrack costs its own metas, not the topic's size. phx_presence_memory counts it all. */
#include "phx/phx_presence.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_frame.h"
#include "phx/phx_presence_internal.h"
#include "phx/phx_socket.h"
#include "core/utf8.h"
#include "ws/ws_frame.h"

static void presence_task_run(task_t *task, task_ctx_t *ctx);

static phx_presence_owner_t *presence_owner(phx_pubsub_t *ps) {
  if (!ps->presence_owner) ps->presence_owner = xcalloc(1, sizeof *ps->presence_owner);
  return ps->presence_owner;
}

/* --- the tables --------------------------------------------------------------------------------- */

pres_topic_t *pres_topic_get(phx_pubsub_t *ps, const char *topic) {
  return dict_get(&ps->presence, topic, strlen(topic));
}

pres_topic_t *pres_topic_get_or_add(phx_pubsub_t *ps, const char *topic) {
  pres_topic_t *pt = pres_topic_get(ps, topic);
  if (pt) return pt;
  pt = xcalloc(1, sizeof *pt);
  dict_init(&pt->keys);
  dict_init(&pt->channels);
  pt->entry = dict_set(&ps->presence, topic, strlen(topic), pt);
  return pt;
}

static void topic_drop_state(pres_topic_t *pt) {
  free(pt->state);
  pt->state = NULL;
  pt->state_len = 0;
  for (size_t i = 0; i < pt->nframes; i++) {
    free(pt->frames[i].join_ref);
    frame_unref(pt->frames[i].frame);
  }
  pt->nframes = 0;
}

static void key_free_metas(pres_key_t *k) {
  for (pres_meta_t *m = k->head, *next; m; m = next) {
    next = m->next;
    free(m);
  }
}

static void topic_free(pres_topic_t *pt) {
  for (dict_iter_t it = dict_iter(&pt->keys); dict_next(&it);) {
    pres_key_t *k = it.entry->value;
    key_free_metas(k);
    free(k);
  }
  dict_free(&pt->keys);
  dict_free(&pt->channels);
  topic_drop_state(pt);
  free(pt->frames);
  free(pt->dirty);
  free(pt);
}

static void topic_delete(phx_pubsub_t *ps, pres_topic_t *pt) {
  dict_delete(&ps->presence, pt->entry->key, pt->entry->key_len);
  topic_free(pt);
}

void pres_key_mark_dirty(pres_topic_t *pt, pres_key_t *k) {
  if (k->dirty) return;
  k->dirty = true;
  VEC_PUSH(pt->dirty, pt->ndirty, pt->capdirty, 4, k);
}

/* --- encoding ----------------------------------------------------------------------------------- */

/* Appends `"key":{"metas":[` (after a comma unless first) — the opening of one key's entry. */
static void enc_key_open(buf_t *b, const pres_key_t *k) {
  if (b->len > 1) buf_append_byte(b, ',');
  buf_append(b, k->quoted, k->qlen);
  buf_append_str(b, ":{\"metas\":[");
}

static void enc_meta(buf_t *b, const pres_meta_t *m, bool first) {
  if (!first) buf_append_byte(b, ',');
  buf_append(b, m->json, m->len);
}

/* {key: {"metas": [...]}} of the metas of which `in_state` (else `live`) is set. */
static void enc_list(buf_t *b, const pres_topic_t *pt, bool in_state) {
  buf_append_byte(b, '{');
  for (dict_iter_t it = dict_iter(&pt->keys); dict_next(&it);) {
    const pres_key_t *k = it.entry->value;
    bool open = false;
    for (const pres_meta_t *m = k->head; m; m = m->next) {
      if (!(in_state ? m->in_state : m->live)) continue;
      if (!open) enc_key_open(b, k);
      enc_meta(b, m, !open);
      open = true;
    }
    if (open) buf_append_str(b, "]}");
  }
  buf_append_byte(b, '}');
}

/* The presence_state payload of the topic's version (encoded on first demand). */
static void topic_state(phx_pubsub_t *ps, pres_topic_t *pt) {
  if (pt->state) return;
  buf_t b = BUF_INIT;
  enc_list(&b, pt, true);
  buf_append_byte(&b, '\0');
  pt->state_len = b.len - 1;
  pt->state = (char *)buf_release(&b);
  presence_owner(ps)->stats.states++;
}

static frame_t *state_frame_build(const char *topic, phx_vsn_t vsn, const char *join_ref,
                                  const char *state, size_t len) {
  json_t *jr = vsn == PHX_V2 && join_ref ? json_loads(join_ref, JSON_DECODE_ANY, NULL) : NULL;
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_push(&b, vsn, jr, topic, "presence_state", state, len);
  json_decref(jr);
  return phx_frame_finish(&b, WS_OP_TEXT);
}

/* The presence_state frame of the topic's current version for this serializer and join_ref (a
 * new reference). pt NULL: nobody is tracked there, {}. */
static frame_t *state_frame(phx_pubsub_t *ps, pres_topic_t *pt, const char *topic, phx_vsn_t vsn,
                            const char *join_ref) {
  phx_presence_owner_t *own = presence_owner(ps);
  own->stats.state_pushes++;
  if (!pt) {
    own->stats.state_bytes += 2;
    own->stats.state_frames++;
    return state_frame_build(topic, vsn, join_ref, "{}", 2);
  }
  topic_state(ps, pt);
  own->stats.state_bytes += pt->state_len;
  if (vsn == PHX_V1) join_ref = NULL;
  for (size_t i = 0; i < pt->nframes; i++) {
    pres_frame_t *pf = &pt->frames[i];
    if (pf->vsn == vsn && (!join_ref ? !pf->join_ref : pf->join_ref && !strcmp(pf->join_ref, join_ref)))
      return frame_ref(pf->frame);
  }
  frame_t *f = state_frame_build(topic, vsn, join_ref, pt->state, pt->state_len);
  own->stats.state_frames++;
  if (pt->nframes < PRESENCE_FRAMES_MAX) {
    VEC_RESERVE(pt->frames, pt->nframes, pt->capframes, 2);
    pt->frames[pt->nframes++] =
        (pres_frame_t){vsn, join_ref ? xstrdup(join_ref) : NULL, frame_ref(f)};
  }
  return f;
}

/* --- the window --------------------------------------------------------------------------------- */

static void diff_key_open(buf_t *b, bool *open, const pres_key_t *k, bool *first) {
  if (!*open) {
    enc_key_open(b, k);
    *open = true;
    *first = true;
  } else {
    *first = false;
  }
}

/* Broadcast the topic's pending changes as one presence_diff (none if they cancel out), make
 * them the new version, free what left. May free pt. */
static void topic_flush(phx_pubsub_t *ps, pres_topic_t *pt) {
  buf_t joins = BUF_INIT, leaves = BUF_INIT;
  buf_append_byte(&joins, '{');
  buf_append_byte(&leaves, '{');
  for (size_t i = 0; i < pt->ndirty; i++) {
    pres_key_t *k = pt->dirty[i];
    k->dirty = false;
    bool jopen = false, lopen = false, first;
    pres_meta_t **link = &k->head;
    k->tail = NULL;
    for (pres_meta_t *m = k->head, *next; m; m = next) {
      next = m->next;
      if (!m->live) {
        if (m->in_state) {
          diff_key_open(&leaves, &lopen, k, &first);
          enc_meta(&leaves, m, first);
        }
        free(m);
        continue;
      }
      if (!m->in_state) {
        diff_key_open(&joins, &jopen, k, &first);
        enc_meta(&joins, m, first);
        m->in_state = true;
      }
      *link = m;
      link = &m->next;
      k->tail = m;
    }
    *link = NULL;
    if (jopen) buf_append_str(&joins, "]}");
    if (lopen) buf_append_str(&leaves, "]}");
    if (!k->head) {
      dict_delete(&pt->keys, k->entry->key, k->entry->key_len);
      free(k);
    }
  }
  pt->ndirty = 0;
  bool changed = joins.len > 1 || leaves.len > 1;
  buf_append_byte(&joins, '}');
  buf_append_byte(&leaves, '}');
  if (changed) {
    pt->version++;
    topic_drop_state(pt);
    /* While the worker drains nothing is delivered, and a post could reach a worker that has
     * already stopped (a timer fires late): the tables change, nobody is told. */
    if (!ps->draining) {
      buf_t b = BUF_INIT;
      buf_append_str(&b, "{\"joins\":");
      buf_append(&b, joins.data, joins.len);
      buf_append_str(&b, ",\"leaves\":");
      buf_append(&b, leaves.data, leaves.len);
      buf_append_byte(&b, '}');
      phx_broadcast_t *bc =
          phx_broadcast_new(pt->entry->key, "presence_diff", false, b.data, b.len);
      phx_presence_owner_t *own = presence_owner(ps);
      own->stats.diffs++;
      own->stats.diff_bytes += b.len;
      buf_free(&b);
      if (bc) phx_pubsub_publish(ps, bc);
    }
  }
  buf_free(&joins);
  buf_free(&leaves);
  if (!pt->keys.count) topic_delete(ps, pt);
}

static void presence_timer_cb(uv_timer_t *t) {
  phx_pubsub_t *ps = t->data;
  presence_owner(ps)->timer_armed = false;
  phx_presence_flush(ps);
}

/* The topic changed: broadcast at once (interval 0, draining, stopped) or at the end of the
 * window. May free pt. */
void pres_topic_changed(phx_pubsub_t *ps, pres_topic_t *pt) {
  phx_presence_owner_t *own = presence_owner(ps);
  if (pt->queued) return;
  if (!ps->presence_interval_ms || ps->draining || own->stopped) {
    topic_flush(ps, pt);
    return;
  }
  pt->queued = true;
  VEC_PUSH(own->pending, own->npending, own->cappending, 8, pt);
  uv_loop_t *loop = ps->ctx ? ps->ctx->loop : NULL;
  if (!loop || own->timer_armed) return; /* no loop (unit tests): phx_presence_flush */
  if (!own->timer_init) {
    uv_timer_init(loop, &own->timer);
    own->timer.data = ps;
    own->timer_init = true;
  }
  uv_timer_start(&own->timer, presence_timer_cb, ps->presence_interval_ms, 0);
  own->timer_armed = true;
}

void phx_presence_flush(phx_pubsub_t *ps) {
  phx_presence_owner_t *own = ps->presence_owner;
  if (!own) return;
  if (own->timer_armed) {
    uv_timer_stop(&own->timer);
    own->timer_armed = false;
  }
  /* Taken out first: nothing a flush does queues a topic, but the list must not move under us. */
  pres_topic_t **pending = own->pending;
  size_t n = own->npending;
  own->pending = NULL;
  own->npending = own->cappending = 0;
  for (size_t i = 0; i < n; i++) {
    pending[i]->queued = false;
    topic_flush(ps, pending[i]);
  }
  free(pending);
}

/* --- tasks ------------------------------------------------------------------------------------ */

typedef enum {
  PRESENCE_TRACK,
  PRESENCE_UNTRACK,
  PRESENCE_STATE,      /* a listener asks for the state only */
  PRESENCE_QUERY,
  PRESENCE_STATE_PUSH, /* owner -> the joiner's worker: a state frame */
  PRESENCE_QUERY_DONE,
} presence_op_t;

typedef struct presence_task {
  task_t task;
  presence_op_t op;
  int reply_worker;
  phx_vsn_t vsn;
  bool push_state;
  uint64_t channel_id;
  char *topic;
  char *key;      /* raw */
  char *qkey;     /* as a JSON string */
  char *text;     /* meta JSON without phx_ref (track), state JSON (query reply) */
  char *join_ref; /* the channel's join_ref as JSON text (V2 state pushes) */
  frame_t *frame; /* state push */
  void (*done)(void *ctx, char *state_json);
  void *ctx;
} presence_task_t;

static void presence_task_free(presence_task_t *t) {
  free(t->topic);
  free(t->key);
  free(t->qkey);
  free(t->text);
  free(t->join_ref);
  frame_unref(t->frame);
  free(t);
}

static presence_task_t *presence_task_new(presence_op_t op, const char *topic) {
  presence_task_t *t = xcalloc(1, sizeof *t);
  t->task.run = presence_task_run;
  t->op = op;
  t->topic = topic ? xstrdup(topic) : NULL;
  return t;
}

/* Hand f to the channel: at once on this worker, else by a task to its worker. */
static void presence_send_state(phx_pubsub_t *ps, int worker, uint64_t channel_id, frame_t *f) {
  if (worker == ps->worker_id) {
    phx_channel_t *ch = phx_channel_lookup(ps, channel_id);
    if (ch) phx_socket_send(ch->socket, f);
    frame_unref(f);
    return;
  }
  presence_task_t *push = presence_task_new(PRESENCE_STATE_PUSH, NULL);
  push->channel_id = channel_id;
  push->frame = f;
  phx_pubsub_submit(ps, worker, &push->task);
}

static void presence_answer_state(phx_pubsub_t *ps, presence_task_t *t) {
  pres_topic_t *pt = pres_topic_get(ps, t->topic);
  frame_t *f = state_frame(ps, pt, t->topic, t->vsn, t->join_ref);
  presence_send_state(ps, t->reply_worker, t->channel_id, f);
}

pres_key_t *pres_key_get_or_add(pres_topic_t *pt, const char *key, const char *qkey) {
  size_t klen = strlen(key);
  pres_key_t *k = dict_get(&pt->keys, key, klen);
  if (!k) {
    size_t qlen = strlen(qkey);
    k = xcalloc(1, sizeof *k + qlen + 1);
    memcpy(k->quoted, qkey, qlen + 1);
    k->qlen = (uint32_t)qlen;
    k->entry = dict_set(&pt->keys, key, klen, k);
  }
  return k;
}

/* Index m under its channel (cid: 8 bytes for a local channel, node + channel for a remote one)
 * and make it live. */
void pres_meta_index(pres_topic_t *pt, pres_meta_t *m, const char *cid, size_t cid_len) {
  m->chan_next = dict_get(&pt->channels, cid, cid_len);
  dict_set(&pt->channels, cid, cid_len, m);
  m->live = true;
  pt->live++;
  pres_key_mark_dirty(pt, m->key);
}

void pres_meta_append(pres_topic_t *pt, pres_key_t *k, pres_meta_t *m, const char *cid,
                        size_t cid_len) {
  m->next = NULL;
  if (k->tail) k->tail->next = m;
  else k->head = m;
  k->tail = m;
  pres_meta_index(pt, m, cid, cid_len);
}

/* Every meta of one channel leaves (they are live; the index holds live metas only). Whether
 * any did. */
bool pres_channel_untrack(pres_topic_t *pt, const char *cid, size_t cid_len) {
  pres_meta_t *m = dict_delete(&pt->channels, cid, cid_len);
  if (!m) return false;
  for (; m; m = m->chan_next) {
    m->live = false;
    pt->live--;
    pres_key_mark_dirty(pt, m->key);
  }
  return true;
}

static void presence_on_track(phx_pubsub_t *ps, presence_task_t *t) {
  pres_topic_t *pt = pres_topic_get_or_add(ps, t->topic);
  pres_key_t *k = pres_key_get_or_add(pt, t->key, t->qkey);
  /* The meta's text with `"node":...` (in a cluster) and `"phx_ref":"..."` added last. */
  char ref[PRESENCE_REF_LEN + 1];
  phx_pubsub_unique_ref(ps, ref);
  const char *node = ps->cluster ? ps->cluster->node_json : NULL;
  size_t nlen = node ? strlen(node) : 0;
  size_t tlen = strlen(t->text); /* "{...}", at least "{}" */
  bool empty = tlen <= 2;
  size_t len = (tlen - 1) + (empty ? 0 : 1) + sizeof "\"phx_ref\":\"\"}" - 1 + PRESENCE_REF_LEN +
               (node ? sizeof "\"node\":," - 1 + nlen : 0);
  pres_meta_t *m = xmalloc(sizeof *m + len + 1);
  char *p = m->json;
  memcpy(p, t->text, tlen - 1);
  p += tlen - 1;
  if (!empty) *p++ = ',';
  if (node) {
    memcpy(p, "\"node\":", 7);
    p += 7;
    memcpy(p, node, nlen);
    p += nlen;
    *p++ = ',';
  }
  memcpy(p, "\"phx_ref\":\"", 11);
  p += 11;
  memcpy(p, ref, PRESENCE_REF_LEN);
  p += PRESENCE_REF_LEN;
  memcpy(p, "\"}", 3);
  m->len = (uint32_t)len;
  m->next = NULL;
  m->key = k;
  m->channel_id = t->channel_id;
  m->node = 0;
  m->epoch = 0;
  m->in_state = false;
  pres_meta_append(pt, k, m, (const char *)&t->channel_id, sizeof t->channel_id);
  if (ps->cluster)
    ps->cluster->presence_track(ps->cluster->arg, t->topic, t->channel_id, t->key, m->json, m->len);

  /* In a window this only queues the topic, and the state is still the last diff's; at once
   * (interval 0) the diff goes first and the state has the change. pt stays: it holds m. */
  pres_topic_changed(ps, pt);
  if (t->push_state) presence_answer_state(ps, t);
}

static void presence_on_untrack(phx_pubsub_t *ps, presence_task_t *t) {
  pres_topic_t *pt = pres_topic_get(ps, t->topic);
  if (!pt || !pres_channel_untrack(pt, (const char *)&t->channel_id, sizeof t->channel_id)) return;
  if (ps->cluster) ps->cluster->presence_untrack(ps->cluster->arg, t->topic, t->channel_id);
  pres_topic_changed(ps, pt);
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
  case PRESENCE_STATE:
    presence_answer_state(ps, t);
    break;
  case PRESENCE_STATE_PUSH: {
    phx_channel_t *ch = phx_channel_lookup(ps, t->channel_id);
    if (ch) phx_socket_send(ch->socket, t->frame);
    break;
  }
  case PRESENCE_QUERY: {
    presence_task_t *reply = presence_task_new(PRESENCE_QUERY_DONE, NULL);
    pres_topic_t *pt = pres_topic_get(ps, t->topic);
    if (pt) {
      buf_t b = BUF_INIT;
      enc_list(&b, pt, false);
      buf_append_byte(&b, '\0');
      reply->text = (char *)buf_release(&b);
    } else {
      reply->text = xstrdup("{}");
    }
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
  size_t klen = strlen(key);
  if (klen > PHX_PRESENCE_MAX_KEY) {
    reason = "presence key too long";
    rc = PHX_PRESENCE_E_KEY;
  } else if (!utf8_valid((const uint8_t *)key, klen)) {
    reason = "presence key not valid UTF-8";
    rc = PHX_PRESENCE_E_KEY;
  } else if (meta && json_dumpb(meta, NULL, 0, JSON_COMPACT) > PHX_PRESENCE_MAX_META) {
    /* json_dumpb without a buffer only measures: no allocation, whatever the size */
    reason = "presence meta too large";
    rc = PHX_PRESENCE_E_META;
  }
  if (why) *why = reason;
  return rc;
}

/* A state request from ch: who gets it and how it is framed. */
static void presence_task_reply_to(presence_task_t *t, phx_channel_t *ch) {
  t->reply_worker = ch->socket->pubsub->worker_id;
  t->channel_id = ch->sub.id;
  t->vsn = ch->socket->vsn;
  if (t->vsn == PHX_V2)
    t->join_ref = ch->reply_join_ref
                      ? json_dumps(ch->reply_join_ref, JSON_COMPACT | JSON_ENCODE_ANY)
                      : NULL;
  if (t->vsn == PHX_V2 && !t->join_ref) t->join_ref = xstrdup("null");
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
  presence_task_reply_to(t, ch);
  t->key = xstrdup(key);
  json_t *k = json_string(key);
  t->qkey = json_dumps(k, JSON_ENCODE_ANY);
  json_decref(k);
  if (json_is_object(meta) && json_object_size(meta)) {
    /* phx_ref and phx_ref_prev are the server's: a meta of the client's own loses them */
    json_t *own = NULL;
    bool node = ps->cluster && json_object_get(meta, "node"); /* the server says where */
    if (node || json_object_get(meta, "phx_ref") || json_object_get(meta, "phx_ref_prev")) {
      own = json_copy((json_t *)meta);
      json_object_del(own, "phx_ref");
      json_object_del(own, "phx_ref_prev");
      if (ps->cluster) json_object_del(own, "node");
    }
    t->text = json_dumps(own ? own : meta, JSON_COMPACT);
    json_decref(own);
  } else {
    t->text = xstrdup("{}");
  }
  t->push_state = push_state;
  ch->presence_tracked = true;
  phx_pubsub_submit(ps, phx_pubsub_owner_of(ps, ch->topic), &t->task);
  return 0;
}

void phx_presence_push_state(phx_channel_t *ch) {
  phx_pubsub_t *ps = ch->socket->pubsub;
  presence_task_t *t = presence_task_new(PRESENCE_STATE, ch->topic);
  presence_task_reply_to(t, ch);
  phx_pubsub_submit(ps, phx_pubsub_owner_of(ps, ch->topic), &t->task);
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
    n += ((pres_topic_t *)it.entry->value)->live;
  return n;
}

/* An allocation as the allocator holds it: its usable size and glibc's chunk header. */
static size_t mem_of(const void *p) { return p ? malloc_usable_size((void *)p) + sizeof(size_t) : 0; }

static size_t mem_of_dict(const dict_t *d) {
  size_t n = mem_of(d->buckets);
  for (dict_iter_t it = dict_iter(d); dict_next(&it);) n += mem_of(it.entry);
  return n;
}

size_t phx_presence_memory(const phx_pubsub_t *ps) {
  size_t n = 0;
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);) {
    const pres_topic_t *pt = it.entry->value;
    n += mem_of(it.entry) + mem_of(pt) + mem_of_dict(&pt->keys) + mem_of_dict(&pt->channels) +
         mem_of(pt->dirty) + mem_of(pt->state) + mem_of(pt->frames);
    for (size_t i = 0; i < pt->nframes; i++)
      n += mem_of(pt->frames[i].join_ref) + mem_of(pt->frames[i].frame) +
           mem_of(pt->frames[i].frame->mem);
    for (dict_iter_t kt = dict_iter(&pt->keys); dict_next(&kt);) {
      const pres_key_t *k = kt.entry->value;
      n += mem_of(k);
      for (const pres_meta_t *m = k->head; m; m = m->next) n += mem_of(m);
    }
  }
  n += mem_of(ps->presence.buckets);
  return n;
}

void phx_presence_stats(const phx_pubsub_t *ps, phx_presence_stats_t *out) {
  if (ps->presence_owner) *out = ps->presence_owner->stats;
  else memset(out, 0, sizeof *out);
}

void phx_presence_stop(phx_pubsub_t *ps) {
  phx_presence_owner_t *own = presence_owner(ps);
  /* What the window holds is applied now (and told nobody: a worker stops after the drain). */
  phx_presence_flush(ps);
  own->stopped = true;
  if (own->timer_init && !uv_is_closing((uv_handle_t *)&own->timer)) {
    uv_timer_stop(&own->timer);
    own->timer_armed = false;
    uv_close((uv_handle_t *)&own->timer, NULL);
  }
}

void phx_presence_free(phx_pubsub_t *ps) {
  for (dict_iter_t it = dict_iter(&ps->presence); dict_next(&it);) topic_free(it.entry->value);
  dict_free(&ps->presence);
  if (ps->presence_owner) {
    free(ps->presence_owner->pending);
    free(ps->presence_owner);
    ps->presence_owner = NULL;
  }
}
