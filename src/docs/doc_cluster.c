/* Documents across the nodes of a cluster (issue 12): one owner per document in the whole
 * cluster, as the reference app's global registry gives one SharedDoc process per document.
 *
 * OWNER. The owner is the node holding the document's lease in Redis (cluster_lease_*: SET NX PX,
 * renewed every DOC_LEASE_RENEW_MS, DOC_LEASE_MS to live). Within a node, the document's worker
 * (task_owner_of its name) does everything below, as it does on a single node.
 *   - A channel of this node joins a document not served here: the entry goes DOC_ACQUIRING and
 *     asks for the lease. Held → this node owns it: it loads from the shared store and serves it
 *     exactly as a single node does (shared_doc.c), its broadcasts going to every node. Taken by
 *     another node → DOC_REMOTE: the entry keeps this node's channels and relays their joins,
 *     messages and leaves to the owner (bus APP messages, doc_wire.h); the owner answers each
 *     channel with notes (its pushes) and reaches every node's subscribers with the cluster's
 *     broadcasts of the document's topic. Messages that arrive meanwhile wait, in order.
 *   - The owner announces OWNED when it has loaded; a node relaying to someone else switches to
 *     it and joins its channels there again. An owner that unloads (no subscriber left) gives the
 *     lease back and announces RELEASED; a node relaying to it asks for the lease itself.
 *
 * FAILOVER. When the owner's node dies, its lease expires within DOC_LEASE_MS; the nodes
 * relaying to it learn it is down (heartbeats) and ask for the lease until it is free (a lease
 * still held by a node known down is waited out, never followed). Exactly one gets it (Redis's
 * SET NX is atomic); it loads from the store and sends every subscriber, on every node, a sync
 * step 1: each client answers with what the server lacks, so edits the dead owner had applied
 * but not yet stored come back from the clients that have them, and go to everyone.
 *
 * SAFETY. An owner that cannot renew its lease (Redis unreachable) stops serving once the last
 * renewal's TTL has run out, and one that finds the lease taken stops at once: its clients get
 * yjs_server_down and phx_error, phoenix.js rejoins, and the join finds the new owner. Yjs
 * updates commute, so even two owners for a moment would lose nothing: every update applied is
 * stored, and loading merges them all.
 *
 * STOP. A node that stops commits everything (the store closes first), then gives all its leases
 * back in one script before its goodbye (cluster_stop): the other nodes take its documents over
 * at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/log.h"
#include "core/mem.h"
#include "docs/doc_internal.h"
#include "docs/doc_wire.h"
#include "docs/ymsg.h"

#define DOC_LEASE_MS 5000
#define DOC_LEASE_RENEW_MS 1500
#define DOC_ACQUIRE_RETRY_MS 250

bool doc_clustered(const shared_docs_t *docs) { return docs->cfg->cluster != NULL; }

static cluster_t *doc_cluster_of(const shared_docs_t *docs) { return docs->cfg->cluster; }

/* --- sending ------------------------------------------------------------------------------------- */

static void put_name(buf_t *b, const char *s) { cluster_msg_put_str(b, s, strlen(s)); }

static void send_doc_msg(shared_docs_t *docs, uint64_t to, doc_wire_kind_t kind, const char *doc) {
  buf_t b = BUF_INIT;
  doc_wire_begin(&b, kind);
  put_name(&b, doc);
  cluster_send_app(doc_cluster_of(docs), to, b.data, b.len);
  buf_free(&b);
}

static void send_join(shared_doc_t *d, const doc_sub_t *s) {
  buf_t b = BUF_INIT;
  doc_wire_begin(&b, DOC_WIRE_JOIN);
  put_name(&b, d->name);
  put_name(&b, d->ntopics ? d->topics[0] : d->name);
  cluster_msg_put_u32(&b, (uint32_t)s->chan.worker);
  cluster_msg_put_u64(&b, s->chan.id);
  cluster_send_app(doc_cluster_of(d->docs), d->owner, b.data, b.len);
  buf_free(&b);
}

void doc_cluster_forward(shared_doc_t *d, const doc_chan_t *from, const uint8_t *data, size_t len) {
  buf_t b = BUF_INIT;
  doc_wire_begin(&b, DOC_WIRE_MESSAGE);
  put_name(&b, d->name);
  cluster_msg_put_u32(&b, (uint32_t)from->worker);
  cluster_msg_put_u64(&b, from->id);
  cluster_msg_put_str(&b, data, len);
  cluster_send_app(doc_cluster_of(d->docs), d->owner, b.data, b.len);
  buf_free(&b);
}

void doc_cluster_note(shared_docs_t *docs, const doc_chan_t *to, const chan_note_t *note) {
  buf_t b = BUF_INIT;
  doc_wire_begin(&b, DOC_WIRE_NOTE);
  cluster_msg_put_u32(&b, (uint32_t)to->worker);
  cluster_msg_put_u64(&b, to->id);
  cluster_msg_put_u8(&b, (uint8_t)note->kind);
  put_name(&b, note->event);
  cluster_msg_put_u8(&b, (uint8_t)note->nparts);
  for (size_t i = 0; i < note->nparts; i++) cluster_msg_put_u32(&b, (uint32_t)note->part_len[i]);
  cluster_msg_put_str(&b, note->payload, note->len);
  cluster_send_app(doc_cluster_of(docs), to->node, b.data, b.len);
  buf_free(&b);
}

void doc_cluster_not_owner(shared_docs_t *docs, const char *name, const doc_chan_t *from) {
  send_doc_msg(docs, from->node, DOC_WIRE_NOT_OWNER, name);
}

/* --- the lease ----------------------------------------------------------------------------------- */

static void doc_on_lease(task_ctx_t *ctx, const char *name, int result, uint64_t holder);

static void doc_lease_ask(shared_doc_t *d) {
  cluster_lease_acquire(doc_cluster_of(d->docs), d->name, DOC_LEASE_MS, d->docs->ctx->worker,
                        doc_on_lease);
}

static void doc_on_lease_timer(uv_timer_t *t) {
  shared_doc_t *d = t->data;
  if (d->leased || d->state == DOC_ACQUIRING) doc_lease_ask(d);
}

static void doc_retry_later(shared_doc_t *d, uint64_t ms) {
  uv_timer_start(&d->lease_timer, doc_on_lease_timer, ms, 0);
}

static bool node_known_down(const shared_docs_t *docs, uint64_t node) {
  for (size_t i = 0; i < docs->ndown && i < sizeof docs->down / sizeof docs->down[0]; i++)
    if (docs->down[i] == node) return true;
  return false;
}

/* Relay to the owner from now on: join this node's channels there, then their waiting messages. */
static void doc_go_remote(shared_doc_t *d, uint64_t owner) {
  bool changed = d->state != DOC_REMOTE || d->owner != owner;
  d->state = DOC_REMOTE;
  d->owner = owner;
  uv_timer_stop(&d->lease_timer);
  if (changed)
    log_info("doc %s: owned by node %016llx; %zu channel(s) of this node relayed there", d->name,
             (unsigned long long)owner, d->nsubs);
  for (size_t i = 0; i < d->nsubs; i++) send_join(d, &d->subs[i]);
  doc_msg_t *m = d->pending;
  d->pending = NULL;
  d->pending_tail = &d->pending;
  for (doc_msg_t *next; m; m = next) {
    next = m->next;
    if (m->api) doc_api_refuse(d->docs, m->api, 409, "the document is served by another node");
    else if (!m->from.node) doc_cluster_forward(d, &m->from, m->data, m->len);
    free(m->data);
    free(m);
  }
}

/* This node's channels were served by an owner that is gone or replaced: what they told it (their
 * sync step 1) went with it. Each gets a sync step 1 with an empty state vector in its name,
 * queued like its own messages: the next owner answers it with the whole document (and asks for
 * what the client has, doc_cluster_loaded), as for a client that just joined. */
static void doc_resync_local(shared_doc_t *d) {
  static const uint8_t empty_sv[] = {0};
  buf_t msg = BUF_INIT;
  ymsg_encode_sync(&msg, 0, empty_sv, sizeof empty_sv);
  for (size_t i = 0; i < d->nsubs; i++) {
    if (d->subs[i].chan.node) continue;
    uint8_t *copy = xmalloc(msg.len);
    memcpy(copy, msg.data, msg.len);
    doc_queue_pending(d, &d->subs[i].chan, copy, msg.len);
  }
  buf_free(&msg);
}

static void doc_go_acquiring(shared_doc_t *d, uint64_t delay_ms) {
  if (d->state == DOC_REMOTE) doc_resync_local(d);
  d->state = DOC_ACQUIRING;
  d->owner = 0;
  if (delay_ms) doc_retry_later(d, delay_ms);
  else doc_lease_ask(d);
}

/* This node may no longer serve the document: its clients start over (phoenix.js rejoins, and
 * the join finds the current owner). */
static void doc_step_down(shared_doc_t *d, const char *why) {
  log_warn("doc %s: no longer owned by this node (%s); its %zu subscriber(s) rejoin", d->name,
           why, d->nsubs);
  d->leased = false;
  uv_timer_stop(&d->lease_timer);
  for (size_t i = 0; i < d->nsubs; i++) {
    doc_reply_crash(d, &d->subs[i].chan);
    free(d->subs[i].aw_ids);
  }
  d->nsubs = 0;
  doc_drop_pending(d);
  doc_uncount(d);
  d->state = DOC_DEAD;
  doc_maybe_free(d);
}

static void doc_on_lease(task_ctx_t *ctx, const char *name, int result, uint64_t holder) {
  shared_docs_t *docs = task_ctx_service(ctx, &shared_docs_service);
  if (!docs) return;
  cluster_t *cl = doc_cluster_of(docs);
  shared_doc_t *d = doc_find(docs, name);
  uint64_t now = uv_now(docs->ctx->loop);
  if (d && d->leased) { /* a renewal */
    if (result == CLUSTER_LEASE_HELD) d->lease_until = now + DOC_LEASE_MS;
    else if (result == CLUSTER_LEASE_TAKEN) doc_step_down(d, "another node holds its lease");
    else if (now + DOC_LEASE_RENEW_MS / 2 >= d->lease_until)
      doc_step_down(d, "its lease could not be renewed in time");
    return;
  }
  if (!d || d->state != DOC_ACQUIRING) {
    if (result == CLUSTER_LEASE_HELD) cluster_lease_release(cl, name); /* no longer wanted */
    return;
  }
  if (result == CLUSTER_LEASE_UNKNOWN) {
    doc_retry_later(d, DOC_ACQUIRE_RETRY_MS * 2);
    return;
  }
  if (result == CLUSTER_LEASE_TAKEN) {
    /* A dead node's lease runs out by itself: wait, do not follow it. */
    if (node_known_down(docs, holder)) doc_retry_later(d, DOC_ACQUIRE_RETRY_MS);
    else doc_go_remote(d, holder);
    return;
  }
  if (docs->quiesced || !doc_admit(d)) {
    cluster_lease_release(cl, name);
    for (size_t i = 0; i < d->nsubs; i++) docs_reply_refuse(docs, &d->subs[i].chan, "too many documents");
    d->nsubs = 0;
    doc_drop_pending(d);
    d->state = DOC_DEAD;
    doc_maybe_free(d);
    return;
  }
  d->leased = true;
  d->lease_until = now + DOC_LEASE_MS;
  d->state = DOC_LOADING;
  log_info("doc %s: owned by this node", d->name);
  uv_timer_start(&d->lease_timer, doc_on_lease_timer, DOC_LEASE_RENEW_MS, DOC_LEASE_RENEW_MS);
  doc_start_load(d);
}

void doc_cluster_acquire(shared_doc_t *d) { doc_lease_ask(d); }

/* --- this node's channels ------------------------------------------------------------------------ */

void doc_cluster_join(shared_docs_t *docs, const char *name, const char *topic,
                      const doc_chan_t *from) {
  shared_doc_t *d = doc_find(docs, name);
  bool fresh = !d;
  if (fresh) d = doc_new_entry(docs, name, DOC_ACQUIRING);
  bool known = doc_find_sub(d, from) != NULL;
  doc_subscribe(d, topic, from);
  if (fresh) doc_lease_ask(d);
  else if (d->state == DOC_REMOTE && !known) send_join(d, doc_find_sub(d, from));
}

void doc_cluster_leave(shared_doc_t *d, const doc_chan_t *from) {
  doc_sub_t *s = doc_find_sub(d, from);
  if (!s) return;
  buf_t b = BUF_INIT;
  doc_wire_begin(&b, DOC_WIRE_LEAVE);
  put_name(&b, d->name);
  cluster_msg_put_u32(&b, (uint32_t)from->worker);
  cluster_msg_put_u64(&b, from->id);
  cluster_send_app(doc_cluster_of(d->docs), d->owner, b.data, b.len);
  buf_free(&b);
  free(s->aw_ids);
  *s = d->subs[--d->nsubs];
  if (!d->nsubs) { /* nothing left to relay: the entry goes */
    uv_timer_stop(&d->lease_timer);
    d->state = DOC_DEAD;
    doc_maybe_free(d);
  }
}

/* --- the owner's side ------------------------------------------------------------------------------ */

void doc_cluster_loaded(shared_doc_t *d) {
  send_doc_msg(d->docs, 0, DOC_WIRE_OWNED, d->name);
  /* Every subscriber answers a sync step 1 with what this node lacks: after a failover, what the
   * previous owner had not stored comes back from the clients. */
  uint8_t *sv = NULL;
  size_t sv_len = 0;
  yjs_doc_encode_state_vector(d->ydoc, &sv, &sv_len);
  buf_t msg = BUF_INIT;
  ymsg_encode_sync(&msg, 0, sv, sv_len);
  for (size_t i = 0; i < d->nsubs; i++) {
    size_t n = msg.len;
    doc_reply_binary(d, &d->subs[i].chan, &msg, &n, 1);
  }
  buf_free(&msg);
  yjs_free(sv);
}

void doc_cluster_gone(shared_doc_t *d) {
  d->leased = false;
  cluster_lease_release(doc_cluster_of(d->docs), d->name);
  send_doc_msg(d->docs, 0, DOC_WIRE_RELEASED, d->name);
}

/* --- what other nodes say (tasks on the document's worker) ------------------------------------- */

typedef struct owner_task {
  task_t task;
  doc_wire_kind_t kind;
  uint64_t from; /* the node; for a node down: the node that went */
  char name[];
} owner_task_t;

static void owner_note(shared_docs_t *docs, owner_task_t *t) {
  shared_doc_t *d = doc_find(docs, t->name);
  if (!d) return;
  switch (t->kind) {
  case DOC_WIRE_OWNED:
    if (d->leased) doc_lease_ask(d); /* two claims: the lease decides */
    else if (d->state == DOC_ACQUIRING || (d->state == DOC_REMOTE && d->owner != t->from)) {
      if (d->state == DOC_REMOTE) doc_resync_local(d);
      doc_go_remote(d, t->from);
    }
    break;
  case DOC_WIRE_RELEASED:
    if (d->state == DOC_REMOTE && d->owner == t->from) doc_go_acquiring(d, 0);
    break;
  case DOC_WIRE_NOT_OWNER:
    if (d->state == DOC_REMOTE && d->owner == t->from) doc_go_acquiring(d, DOC_ACQUIRE_RETRY_MS / 2);
    break;
  default:
    break;
  }
}

static void node_down(shared_docs_t *docs, uint64_t node) {
  docs->down[docs->ndown++ % (sizeof docs->down / sizeof docs->down[0])] = node;
  shared_doc_t **relaying = NULL;
  size_t n = 0, cap = 0;
  for (dict_iter_t it = dict_iter(&docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    if (d->state == DOC_REMOTE && d->owner == node) {
      if (n == cap) relaying = xrealloc(relaying, (cap = cap ? 2 * cap : 8) * sizeof *relaying);
      relaying[n++] = d;
    } else if (doc_served_here(d)) {
      /* Its channels there are gone: their cursors go too (doc_unsubscribe relays the nulls). */
      for (size_t i = d->nsubs; i-- > 0;)
        if (d->subs[i].chan.node == node) {
          doc_chan_t c = d->subs[i].chan;
          doc_unsubscribe(d, &c);
        }
    }
  }
  for (size_t i = 0; i < n; i++) {
    log_info("doc %s: its owner %016llx is down; taking it over once its lease is free",
             relaying[i]->name, (unsigned long long)node);
    doc_go_acquiring(relaying[i], 0);
  }
  free(relaying);
}

static void owner_task_run(task_t *task, task_ctx_t *ctx) {
  owner_task_t *t = (owner_task_t *)task;
  shared_docs_t *docs = ctx ? task_ctx_service(ctx, &shared_docs_service) : NULL;
  if (docs && !docs->quiesced) {
    if (t->kind == 0) node_down(docs, t->from);
    else owner_note(docs, t);
  }
  free(t);
}

static void owner_task_post(const task_poster_t *poster, int worker, doc_wire_kind_t kind,
                            uint64_t from, const char *name, size_t len) {
  owner_task_t *t = xcalloc(1, sizeof *t + len + 1);
  t->task.run = owner_task_run;
  t->kind = kind;
  t->from = from;
  memcpy(t->name, name, len);
  task_post(poster, worker, &t->task);
}

/* --- the bus thread: decode, check, post --------------------------------------------------------- */

static void on_bus_message(void *arg, uint64_t from, const uint8_t *body, size_t len) {
  shared_docs_config_t *cfg = arg;
  const task_poster_t *poster = cluster_poster(cfg->cluster);
  doc_wire_t w;
  const char *why;
  if (doc_wire_decode(body, len, &w, &why)) {
    static uint64_t last_log, skipped; /* the bus thread only */
    uint64_t now = uv_hrtime() / 1000000;
    if (now - last_log >= 1000) {
      log_warn("cluster: invalid document message from %016llx dropped (%s, %zu bytes) (%llu more)",
               (unsigned long long)from, why, len, (unsigned long long)skipped);
      last_log = now;
      skipped = 0;
    } else {
      skipped++;
    }
    return;
  }
  if (w.kind != DOC_WIRE_NOTE && w.kind != DOC_WIRE_JOIN && w.kind != DOC_WIRE_MESSAGE &&
      w.kind != DOC_WIRE_LEAVE) {
    owner_task_post(poster, task_owner_of(poster, w.doc.p, w.doc.len), w.kind, from, w.doc.p,
                    w.doc.len);
    return;
  }
  if (w.worker >= (uint32_t)poster->nworkers) return; /* not a worker of ours */
  doc_chan_t chan = {.node = from, .id = w.channel, .worker = (int)w.worker};
  if (w.kind == DOC_WIRE_NOTE) {
    chan_note_t n = {.kind = (chan_task_kind_t)w.note, .payload = (const uint8_t *)w.data.p,
                     .len = w.data.len, .nparts = w.nparts};
    snprintf(n.event, sizeof n.event, "%.*s", (int)w.event.len, w.event.p);
    for (size_t i = 0; i < w.nparts; i++) n.part_len[i] = w.part_len[i];
    doc_chan_note_post(poster, (int)w.worker, w.channel, &n);
    return;
  }
  char *doc = xstrndup(w.doc.p, w.doc.len);
  char *topic = w.topic.len ? xstrndup(w.topic.p, w.topic.len) : NULL;
  doc_task_kind_t kind = w.kind == DOC_WIRE_JOIN      ? DOC_TASK_JOIN
                         : w.kind == DOC_WIRE_MESSAGE ? DOC_TASK_MESSAGE
                                                      : DOC_TASK_LEAVE;
  doc_task_post(poster, kind, doc, topic, &chan, (const uint8_t *)w.data.p,
                w.kind == DOC_WIRE_MESSAGE ? w.data.len : 0);
  free(doc);
  free(topic);
}

static void on_bus_node_down(void *arg, uint64_t node) {
  shared_docs_config_t *cfg = arg;
  const task_poster_t *poster = cluster_poster(cfg->cluster);
  for (int w = 0; w < poster->nworkers; w++) owner_task_post(poster, w, 0, node, "", 0);
}

void doc_cluster_attach(shared_docs_config_t *cfg) {
  cluster_app_handler_t h = {.message = on_bus_message, .node_down = on_bus_node_down, .arg = cfg};
  cluster_set_app_handler(cfg->cluster, &h);
}
