/* The messages between channels and documents, both ways, as tasks.
 *
 * Channel -> owner (doc_task_t): join, one y-protocols message, leave. Posted with the channel
 * worker's task poster to the worker that owns the document's name; run there with that
 * worker's document service.
 * Owner -> channel (chan_task_t): pushes and crashes, posted back to the channel's worker and
 * run against the channel found by id in that worker's pubsub. A channel that has left meanwhile
 * is not found, and the answer is dropped: that is why channels are named by id. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "docs/doc_internal.h"
#include "phx/phx_channel.h"

/* ================================================================================================
 * Owner -> channel
 * ============================================================================================== */

typedef enum {
  CHAN_PUSH_BINARY, /* one or more binary `yjs` pushes, in order */
  CHAN_PUSH_TEXT,   /* one text push: event + JSON payload */
  CHAN_CRASH,       /* one text push (`yjs_server_down` {}, `yjs_error` {...}), then crash the
                     * channel (phx_error) */
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

static void chan_task_run(task_t *t, task_ctx_t *ctx) {
  chan_task_t *ct = (chan_task_t *)t;
  phx_pubsub_t *ps = phx_pubsub_of(ctx);
  phx_channel_t *ch = ps ? phx_channel_lookup(ps, ct->channel_id) : NULL;
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
    case CHAN_PUSH_TEXT:
    case CHAN_CRASH: {
      json_t *p = json_loadb((const char *)ct->payload.data, ct->payload.len, 0, NULL);
      phx_channel_push(ch, ct->event, p);
      json_decref(p);
      if (ct->kind == CHAN_CRASH) phx_channel_stop(ch, true);
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

static void chan_task_post(shared_docs_t *docs, int worker, chan_task_t *ct) {
  task_post(docs->ctx->poster, worker, &ct->task);
}

static void chan_task_send(shared_doc_t *d, int worker, chan_task_t *ct) {
  chan_task_post(d->docs, worker, ct);
}

/* {"reason": reason} */
static void append_reason(buf_t *b, const char *reason) {
  json_t *o = json_pack("{ss}", "reason", reason);
  char *s = json_dumps(o, JSON_COMPACT);
  buf_append_str(b, s);
  free(s);
  json_decref(o);
}

void doc_reply_binary(shared_doc_t *d, int worker, uint64_t channel_id, const buf_t *parts,
                      const size_t *part_len, size_t nparts) {
  chan_task_t *ct = chan_task_new(CHAN_PUSH_BINARY, channel_id, "yjs");
  buf_append(&ct->payload, parts->data, parts->len);
  for (size_t i = 0; i < nparts && i < CHAN_MAX_PARTS; i++) ct->part_len[ct->nparts++] = part_len[i];
  chan_task_send(d, worker, ct);
}

void doc_reply_text(shared_doc_t *d, int worker, uint64_t channel_id, const char *event,
                    const char *json) {
  chan_task_t *ct = chan_task_new(CHAN_PUSH_TEXT, channel_id, event);
  buf_append_str(&ct->payload, json);
  chan_task_send(d, worker, ct);
}

void doc_reply_error(shared_doc_t *d, int worker, uint64_t channel_id, const char *reason) {
  chan_task_t *ct = chan_task_new(CHAN_PUSH_TEXT, channel_id, "yjs_error");
  append_reason(&ct->payload, reason);
  chan_task_send(d, worker, ct);
}

void doc_reply_crash(shared_doc_t *d, int worker, uint64_t channel_id) {
  chan_task_t *ct = chan_task_new(CHAN_CRASH, channel_id, "yjs_server_down");
  buf_append_str(&ct->payload, "{}");
  chan_task_send(d, worker, ct);
}

void docs_reply_refuse(shared_docs_t *docs, int worker, uint64_t channel_id, const char *reason) {
  chan_task_t *ct = chan_task_new(CHAN_CRASH, channel_id, "yjs_error");
  append_reason(&ct->payload, reason);
  chan_task_post(docs, worker, ct);
}

/* ================================================================================================
 * Channel -> owner
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

static void doc_on_join(shared_docs_t *docs, doc_task_t *t) {
  if (docs->quiesced) return;
  shared_doc_t *d = doc_open(docs, t->name);
  if (!d) { /* max_docs, logged by doc_open; the messages that follow find no document */
    docs_reply_refuse(docs, t->worker, t->channel_id, "too many documents");
    return;
  }
  doc_subscribe(d, t->topic, t->channel_id, t->worker);
}

static void doc_on_message(shared_docs_t *docs, doc_task_t *t) {
  shared_doc_t *d = doc_find(docs, t->name);
  if (!d) return;
  if (doc_loading(d)) {
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

static void doc_on_leave(shared_docs_t *docs, doc_task_t *t) {
  shared_doc_t *d = doc_find(docs, t->name);
  if (d) doc_unsubscribe(d, t->channel_id);
}

static void doc_task_run(task_t *task, task_ctx_t *ctx) {
  doc_task_t *t = (doc_task_t *)task;
  shared_docs_t *docs = task_ctx_service(ctx, &shared_docs_service);
  if (docs) {
    switch (t->kind) {
    case DOC_TASK_JOIN: doc_on_join(docs, t); break;
    case DOC_TASK_MESSAGE: doc_on_message(docs, t); break;
    case DOC_TASK_LEAVE: doc_on_leave(docs, t); break;
    }
  }
  doc_task_free(t);
}

static void doc_post(task_ctx_t *from, doc_task_kind_t kind, const char *name, const char *topic,
                     uint64_t channel_id, const uint8_t *data, size_t len) {
  doc_task_t *t = xcalloc(1, sizeof *t);
  t->task.run = doc_task_run;
  t->kind = kind;
  t->worker = from->worker;
  t->channel_id = channel_id;
  t->name = xstrdup(name);
  t->topic = topic ? xstrdup(topic) : NULL;
  if (data) {
    t->data = xmalloc(len ? len : 1);
    memcpy(t->data, data, len);
    t->len = len;
  }
  task_post(from->poster, task_owner_of(from->poster, name, strlen(name)), &t->task);
}

void shared_doc_join(task_ctx_t *from, const char *name, const char *topic, uint64_t channel_id) {
  doc_post(from, DOC_TASK_JOIN, name, topic, channel_id, NULL, 0);
}

void shared_doc_message(task_ctx_t *from, const char *name, uint64_t channel_id,
                        const uint8_t *msg, size_t len) {
  doc_post(from, DOC_TASK_MESSAGE, name, NULL, channel_id, msg, len);
}

void shared_doc_leave(task_ctx_t *from, const char *name, uint64_t channel_id) {
  doc_post(from, DOC_TASK_LEAVE, name, NULL, channel_id, NULL, 0);
}
