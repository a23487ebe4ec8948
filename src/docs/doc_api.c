/* The HTTP document API's side of the documents (issue 14): a server-side reader and writer that
 * reaches a document the way a channel does — a task to its worker, queued while it loads — and
 * gets its answer back as a task to the asking worker. A cold document is loaded for it and, with
 * no subscriber, unloaded again after the usual delay. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "docs/doc_internal.h"
#include "store/store.h"

struct doc_api_op {
  task_t task;
  doc_api_op_t op;
  int reply_worker;
  char *name;
  uint8_t *data;
  size_t len;
  void (*done)(void *ctx, doc_api_result_t *r);
  void *ctx;
  doc_api_result_t result;
};

static void api_op_free(struct doc_api_op *op) {
  free(op->name);
  free(op->data);
  free(op->result.body);
  free(op);
}

/* Back on the asking worker; released at shutdown, done gets NULL (free the context only). */
static void api_done_run(task_t *t, task_ctx_t *ctx) {
  struct doc_api_op *op = (struct doc_api_op *)t;
  op->done(op->ctx, ctx ? &op->result : NULL);
  api_op_free(op);
}

static void api_answer(shared_docs_t *docs, struct doc_api_op *op, int status, bool binary,
                       uint8_t *body, size_t len) {
  op->result = (doc_api_result_t){status, binary, body, len};
  op->task.run = api_done_run;
  task_post(docs->ctx->poster, op->reply_worker, &op->task);
}

static void api_answer_json(shared_docs_t *docs, struct doc_api_op *op, int status, json_t *o) {
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  api_answer(docs, op, status, false, (uint8_t *)text, strlen(text));
}

void doc_api_refuse(shared_docs_t *docs, struct doc_api_op *op, int status, const char *why) {
  api_answer_json(docs, op, status, json_pack("{ss}", "error", why));
}

void doc_api_run(shared_doc_t *d, struct doc_api_op *op) {
  shared_docs_t *docs = d->docs;
  switch (op->op) {
  case DOC_API_JSON: {
    char *json = NULL;
    size_t len = 0;
    if (yjs_doc_to_json(d->ydoc, &json, &len) < 0) {
      doc_api_refuse(docs, op, 500, "the document cannot be rendered as JSON");
      break;
    }
    uint8_t *body = xmalloc(len ? len : 1);
    memcpy(body, json, len);
    yjs_free(json);
    api_answer(docs, op, 200, false, body, len);
    break;
  }
  case DOC_API_STATE: {
    uint8_t *u = NULL;
    size_t n = 0;
    yjs_error err = {0};
    if (yjs_doc_encode_state_as_update_v1(d->ydoc, op->data, op->len, &u, &n, &err) < 0) {
      doc_api_refuse(docs, op, 400, "malformed state vector");
      break;
    }
    uint8_t *body = xmalloc(n ? n : 1);
    memcpy(body, u, n);
    yjs_free(u);
    api_answer(docs, op, 200, true, body, n);
    break;
  }
  case DOC_API_APPLY: {
    char why[256];
    if (doc_apply_external(d, op->data, op->len, why, sizeof why)) {
      log_info("doc %s: update from the API refused: %s", d->name, why);
      doc_api_refuse(docs, op, 400, why);
    } else {
      api_answer_json(docs, op, 200, json_pack("{ss}", "status", "applied"));
    }
    break;
  }
  case DOC_API_DELETE: {
    log_info("doc %s: deleted through the API; %zu subscriber(s) disconnected", d->name, d->nsubs);
    for (size_t i = 0; i < d->nsubs; i++) {
      doc_reply_crash(d, &d->subs[i].chan);
      free(d->subs[i].aw_ids);
    }
    d->nsubs = 0;
    if (d->docs->cfg->store && !d->docs->quiesced)
      store_delete(d->docs->cfg->store, d->name, NULL, NULL, NULL); /* after its appends: FIFO */
    doc_drop_pending(d);
    d->store_down = false;
    d->state = DOC_DEAD; /* no final compaction: its entries are gone */
    api_answer_json(docs, op, 200, json_pack("{ss}", "status", "deleted"));
    doc_maybe_free(d);
    return;
  }
  }
  /* Loaded for this alone: it goes again after the unload delay, as after a last leave. */
  if (!d->nsubs && d->state == DOC_READY && !uv_is_active((uv_handle_t *)&d->unload_timer))
    doc_schedule_unload(d);
}

static void api_op_run(task_t *t, task_ctx_t *ctx) {
  struct doc_api_op *op = (struct doc_api_op *)t;
  shared_docs_t *docs = ctx ? task_ctx_service(ctx, &shared_docs_service) : NULL;
  if (!docs || docs->quiesced) {
    if (docs) {
      doc_api_refuse(docs, op, 503, "shutting down");
    } else {
      op->done(op->ctx, NULL);
      api_op_free(op);
    }
    return;
  }
  shared_doc_t *d = doc_find(docs, op->name);
  if (doc_clustered(docs) && (!d || !doc_served_here(d))) {
    if (d && d->state == DOC_REMOTE) {
      doc_api_refuse(docs, op, 409, "the document is served by another node");
      return;
    }
    if (!d) { /* ask for its lease, as a join would; the operation waits for the answer */
      d = doc_new_entry(docs, op->name, DOC_ACQUIRING);
      doc_cluster_acquire(d);
    }
  } else if (!d) {
    d = doc_open(docs, op->name);
    if (!d) {
      doc_api_refuse(docs, op, 503, "too many documents");
      return;
    }
  }
  if (doc_loading(d)) { /* waits its turn behind the channels' messages */
    doc_chan_t none = {0};
    doc_queue_pending(d, &none, NULL, 0)->api = op;
    return;
  }
  doc_api_run(d, op);
}

void shared_doc_api(task_ctx_t *from, const char *name, doc_api_op_t op_kind, const uint8_t *data,
                    size_t len, void (*done)(void *ctx, doc_api_result_t *r), void *ctx) {
  struct doc_api_op *op = xcalloc(1, sizeof *op);
  op->task.run = api_op_run;
  op->op = op_kind;
  op->reply_worker = from->worker;
  op->name = xstrdup(name);
  if (len) {
    op->data = xmalloc(len);
    memcpy(op->data, data, len);
    op->len = len;
  }
  op->done = done;
  op->ctx = ctx;
  task_post(from->poster, task_owner_of(from->poster, name, strlen(name)), &op->task);
}

void shared_docs_each_served(task_ctx_t *ctx, void (*each)(void *arg, const char *name,
                                                            size_t clients), void *arg) {
  shared_docs_t *docs = task_ctx_service(ctx, &shared_docs_service);
  if (!docs) return;
  for (dict_iter_t it = dict_iter(&docs->by_name); dict_next(&it);) {
    shared_doc_t *d = it.entry->value;
    if (doc_served_here(d)) each(arg, d->name, d->nsubs);
  }
}
