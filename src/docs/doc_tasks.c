/* The messages between channels and documents, both ways, as tasks.
 *
 * Channel -> owner (doc_task_t): join, one y-protocols message, leave. Posted with the channel
 * worker's task poster to the worker that owns the document's name; run there with that
 * worker's document service. In a cluster the channel may be on another node: the bus relays
 * its messages, and they arrive here as the same tasks (doc_cluster.c).
 * Owner -> channel (a chan_note_t in a task): pushes and crashes, posted back to the channel's
 * worker and run against the channel found by id in that worker's pubsub — or, for a channel of
 * another node, sent there by the bus and posted there. A channel that has left meanwhile is not
 * found, and the answer is dropped: that is why channels are named by id. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "docs/doc_internal.h"
#include "phx/phx_channel.h"

/* ================================================================================================
 * Owner -> channel
 * ============================================================================================== */

typedef struct chan_task {
  task_t task;
  uint64_t channel_id;
  chan_note_t note; /* payload: owned copy, in buf */
  buf_t buf;
} chan_task_t;

static void chan_task_run(task_t *t, task_ctx_t *ctx) {
  chan_task_t *ct = (chan_task_t *)t;
  phx_pubsub_t *ps = ctx ? phx_pubsub_of(ctx) : NULL;
  phx_channel_t *ch = ps ? phx_channel_lookup(ps, ct->channel_id) : NULL;
  const chan_note_t *n = &ct->note;
  if (ch) {
    switch (n->kind) {
    case CHAN_PUSH_BINARY: {
      size_t off = 0;
      for (size_t i = 0; i < n->nparts; i++) {
        phx_channel_push_binary(ch, n->event, ct->buf.data + off, n->part_len[i]);
        off += n->part_len[i];
      }
      break;
    }
    case CHAN_PUSH_TEXT:
    case CHAN_CRASH: {
      json_t *p = json_loadb((const char *)ct->buf.data, ct->buf.len, 0, NULL);
      phx_channel_push(ch, n->event, p);
      json_decref(p);
      if (n->kind == CHAN_CRASH) phx_channel_stop(ch, true);
      break;
    }
    }
  }
  buf_free(&ct->buf);
  free(ct);
}

void doc_chan_note_post(const task_poster_t *poster, int worker, uint64_t id,
                        const chan_note_t *note) {
  chan_task_t *ct = xcalloc(1, sizeof *ct);
  ct->task.run = chan_task_run;
  ct->channel_id = id;
  ct->note = *note;
  buf_append(&ct->buf, note->payload, note->len);
  ct->note.payload = NULL;
  task_post(poster, worker, &ct->task);
}

static void chan_send(shared_docs_t *docs, const doc_chan_t *to, const chan_note_t *note) {
  if (to->node) doc_cluster_note(docs, to, note);
  else doc_chan_note_post(docs->ctx->poster, to->worker, to->id, note);
}

static chan_note_t chan_note(chan_task_kind_t kind, const char *event, const void *payload,
                             size_t len) {
  chan_note_t n = {.kind = kind, .payload = payload, .len = len};
  snprintf(n.event, sizeof n.event, "%s", event);
  return n;
}

/* {"reason": reason} */
static char *reason_json(const char *reason) {
  json_t *o = json_pack("{ss}", "reason", reason);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

void doc_reply_binary(shared_doc_t *d, const doc_chan_t *to, const buf_t *parts,
                      const size_t *part_len, size_t nparts) {
  chan_note_t n = chan_note(CHAN_PUSH_BINARY, "yjs", parts->data, parts->len);
  for (size_t i = 0; i < nparts && i < CHAN_MAX_PARTS; i++) n.part_len[n.nparts++] = part_len[i];
  chan_send(d->docs, to, &n);
}

void doc_reply_text(shared_doc_t *d, const doc_chan_t *to, const char *event, const char *json) {
  chan_note_t n = chan_note(CHAN_PUSH_TEXT, event, json, strlen(json));
  chan_send(d->docs, to, &n);
}

void doc_reply_error(shared_doc_t *d, const doc_chan_t *to, const char *reason) {
  char *json = reason_json(reason);
  chan_note_t n = chan_note(CHAN_PUSH_TEXT, "yjs_error", json, strlen(json));
  chan_send(d->docs, to, &n);
  free(json);
}

void doc_reply_crash(shared_doc_t *d, const doc_chan_t *to) {
  chan_note_t n = chan_note(CHAN_CRASH, "yjs_server_down", "{}", 2);
  chan_send(d->docs, to, &n);
}

void docs_reply_refuse(shared_docs_t *docs, const doc_chan_t *to, const char *reason) {
  char *json = reason_json(reason);
  chan_note_t n = chan_note(CHAN_CRASH, "yjs_error", json, strlen(json));
  chan_send(docs, to, &n);
  free(json);
}

/* ================================================================================================
 * Channel -> owner
 * ============================================================================================== */

typedef struct doc_task {
  task_t task;
  doc_task_kind_t kind;
  doc_chan_t from;
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

static void doc_on_join(shared_docs_t *docs, doc_task_t *t) {
  if (docs->quiesced) return;
  shared_doc_t *d = doc_find(docs, t->name);
  if (t->from.node && (!d || !doc_served_here(d))) {
    /* A node took this one for the owner, but it is not (any more): that node looks again. */
    doc_cluster_not_owner(docs, t->name, &t->from);
    return;
  }
  if (doc_clustered(docs) && (!d || !doc_served_here(d))) {
    doc_cluster_join(docs, t->name, t->topic, &t->from);
    return;
  }
  d = doc_open(docs, t->name);
  if (!d) { /* max_docs, logged by doc_open; the messages that follow find no document */
    docs_reply_refuse(docs, &t->from, "too many documents");
    return;
  }
  doc_subscribe(d, t->topic, &t->from);
}

static void doc_on_message(shared_docs_t *docs, doc_task_t *t) {
  shared_doc_t *d = doc_find(docs, t->name);
  if (!d) return;
  if (d->state == DOC_REMOTE) {
    if (!t->from.node) doc_cluster_forward(d, &t->from, t->data, t->len);
    return; /* a remote channel's message for a document not served here: it will look again */
  }
  if (t->from.node && d->state == DOC_ACQUIRING) return;
  if (t->from.node && !doc_find_sub(d, &t->from) && d->ntopics) {
    /* A channel of another node whose join we never saw (a bus message lost): its message is
     * its join, under the document's topic. */
    doc_subscribe(d, d->topics[0], &t->from);
  }
  if (doc_loading(d)) {
    doc_queue_pending(d, &t->from, t->data, t->len);
    t->data = NULL;
    return;
  }
  doc_process(d, &t->from, t->data, t->len);
}

static void doc_on_leave(shared_docs_t *docs, doc_task_t *t) {
  shared_doc_t *d = doc_find(docs, t->name);
  if (!d) return;
  if (d->state == DOC_REMOTE && !t->from.node) doc_cluster_leave(d, &t->from);
  else doc_unsubscribe(d, &t->from);
}

static void doc_task_run(task_t *task, task_ctx_t *ctx) {
  doc_task_t *t = (doc_task_t *)task;
  shared_docs_t *docs = ctx ? task_ctx_service(ctx, &shared_docs_service) : NULL;
  if (docs) {
    switch (t->kind) {
    case DOC_TASK_JOIN: doc_on_join(docs, t); break;
    case DOC_TASK_MESSAGE: doc_on_message(docs, t); break;
    case DOC_TASK_LEAVE: doc_on_leave(docs, t); break;
    }
  }
  doc_task_free(t);
}

void doc_task_post(const task_poster_t *poster, doc_task_kind_t kind, const char *name,
                   const char *topic, const doc_chan_t *from, const uint8_t *data, size_t len) {
  doc_task_t *t = xcalloc(1, sizeof *t);
  t->task.run = doc_task_run;
  t->kind = kind;
  t->from = *from;
  t->name = xstrdup(name);
  t->topic = topic ? xstrdup(topic) : NULL;
  if (data) {
    t->data = xmalloc(len ? len : 1);
    memcpy(t->data, data, len);
    t->len = len;
  }
  task_post(poster, task_owner_of(poster, name, strlen(name)), &t->task);
}

static void doc_post_local(task_ctx_t *from, doc_task_kind_t kind, const char *name,
                           const char *topic, uint64_t channel_id, const uint8_t *data,
                           size_t len) {
  doc_chan_t chan = {.node = 0, .id = channel_id, .worker = from->worker};
  doc_task_post(from->poster, kind, name, topic, &chan, data, len);
}

void shared_doc_join(task_ctx_t *from, const char *name, const char *topic, uint64_t channel_id) {
  doc_post_local(from, DOC_TASK_JOIN, name, topic, channel_id, NULL, 0);
}

void shared_doc_message(task_ctx_t *from, const char *name, uint64_t channel_id,
                        const uint8_t *msg, size_t len) {
  doc_post_local(from, DOC_TASK_MESSAGE, name, NULL, channel_id, msg, len);
}

void shared_doc_leave(task_ctx_t *from, const char *name, uint64_t channel_id) {
  doc_post_local(from, DOC_TASK_LEAVE, name, NULL, channel_id, NULL, 0);
}
