/* The storage thread.
 *
 * A request is one allocation (store_req_t, with the document name and the bytes after it). It
 * travels twice through an inbox: first into the store's inbox, then — the same struct, now a
 * task — into its executor's inbox as the completion. No lock is taken on either way.
 *
 * The thread sleeps on a condition variable only when its inbox is empty. A producer that finds
 * the inbox empty (inbox_push says so) takes the mutex and signals; the thread checks the inbox
 * again under that mutex before it waits, so a wake-up cannot be lost. While the thread is busy
 * (the inbox is not empty), producers touch no lock at all.
 *
 * One round: take everything queued; run it in transactions of at most max_batch requests; commit;
 * then post the completions in order. Posting only after the commit is what makes a completion
 * mean "on disk" (as far as synchronous=NORMAL goes, see store_sqlite.c).
 */
#include "store/store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_backend.h"

typedef enum { REQ_LOAD, REQ_APPEND, REQ_COMPACT, REQ_DELETE, REQ_FLUSH, REQ_LIST, REQ_STOP } store_req_kind_t;

typedef struct store_req {
  task_t task; /* first: the inbox node, then the completion task */
  store_req_kind_t kind;
  int status;
  executor_t *reply_to;
  union {
    void (*load)(void *ctx, store_load_result_t *r);
    void (*append)(void *ctx, int status, int64_t seq);
    void (*status)(void *ctx, int status);
    void (*list)(void *ctx, int status, store_doc_info_t *docs, size_t n);
  } done;
  void *ctx;
  int64_t seq;                 /* append: the new seq; compact: upto */
  store_load_result_t *result; /* load */
  store_doc_info_t *docs;      /* list */
  size_t ndocs;
  size_t len;
  uint8_t *data;               /* points into tail (or NULL) */
  char *doc;                   /* points into tail (or NULL) */
  char tail[];
} store_req_t;

struct store {
  inbox_t inbox;
  uv_mutex_t lock;
  uv_cond_t wake;
  uv_thread_t thread;
  store_backend_t *backend;
  size_t max_batch;
  size_t max_batch_bytes;
  _Atomic uint64_t requests, transactions, failures;
};

/* --- requests ------------------------------------------------------------------------------ */

static store_req_t *store_req_new(store_req_kind_t kind, const char *doc, const uint8_t *data,
                                  size_t len) {
  size_t doclen = doc ? strlen(doc) + 1 : 0;
  store_req_t *r = xmalloc(sizeof *r + len + doclen);
  memset(r, 0, sizeof *r);
  r->kind = kind;
  r->len = len;
  if (len) {
    r->data = (uint8_t *)r->tail;
    memcpy(r->data, data, len);
  }
  if (doc) {
    r->doc = r->tail + len;
    memcpy(r->doc, doc, doclen);
  }
  return r;
}

static void store_submit(store_t *s, store_req_t *r) {
  if (inbox_push(&s->inbox, &r->task.node)) {
    uv_mutex_lock(&s->lock);
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
  }
}

void store_load(store_t *s, const char *doc, executor_t *reply_to,
                void (*done)(void *ctx, store_load_result_t *r), void *ctx) {
  store_req_t *r = store_req_new(REQ_LOAD, doc, NULL, 0);
  r->reply_to = reply_to;
  r->done.load = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_append(store_t *s, const char *doc, const uint8_t *update, size_t len,
                  executor_t *reply_to, void (*done)(void *ctx, int status, int64_t seq),
                  void *ctx) {
  store_req_t *r = store_req_new(REQ_APPEND, doc, update, len);
  r->reply_to = reply_to;
  r->done.append = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_compact(store_t *s, const char *doc, const uint8_t *state, size_t len,
                   int64_t upto_seq, executor_t *reply_to, void (*done)(void *ctx, int status),
                   void *ctx) {
  store_req_t *r = store_req_new(REQ_COMPACT, doc, state, len);
  r->seq = upto_seq;
  r->reply_to = reply_to;
  r->done.status = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_delete(store_t *s, const char *doc, executor_t *reply_to,
                  void (*done)(void *ctx, int status), void *ctx) {
  store_req_t *r = store_req_new(REQ_DELETE, doc, NULL, 0);
  r->reply_to = reply_to;
  r->done.status = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_list(store_t *s, executor_t *reply_to,
                void (*done)(void *ctx, int status, store_doc_info_t *docs, size_t n), void *ctx) {
  store_req_t *r = store_req_new(REQ_LIST, NULL, NULL, 0);
  r->reply_to = reply_to;
  r->done.list = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_flush(store_t *s, executor_t *reply_to, void (*done)(void *ctx, int status),
                 void *ctx) {
  store_req_t *r = store_req_new(REQ_FLUSH, NULL, NULL, 0);
  r->reply_to = reply_to;
  r->done.status = done;
  r->ctx = ctx;
  store_submit(s, r);
}

void store_get_stats(store_t *s, store_stats_t *out) {
  out->requests = atomic_load(&s->requests);
  out->transactions = atomic_load(&s->transactions);
  out->failures = atomic_load(&s->failures);
}

/* --- completions (run on the requesting thread) -------------------------------------------- */

static void store_req_complete(task_t *t, task_ctx_t *ctx) {
  store_req_t *r = (store_req_t *)t;
  switch (r->kind) {
  case REQ_LOAD: r->done.load(r->ctx, r->result); break; /* the callee owns the result now */
  case REQ_APPEND: r->done.append(r->ctx, r->status, r->status ? 0 : r->seq); break;
  case REQ_COMPACT:
  case REQ_DELETE:
  case REQ_FLUSH: r->done.status(r->ctx, r->status); break;
  case REQ_LIST: r->done.list(r->ctx, r->status, r->docs, r->ndocs); break; /* the callee owns docs */
  case REQ_STOP: break;
  }
  free(r);
}

static bool store_req_has_callback(const store_req_t *r) {
  switch (r->kind) {
  case REQ_LOAD: return r->done.load != NULL;
  case REQ_APPEND: return r->done.append != NULL;
  case REQ_LIST: return r->done.list != NULL;
  case REQ_STOP: return false;
  default: return r->done.status != NULL;
  }
}

/* Hands r to its executor, or frees it when nobody waits for it. */
static void store_req_finish(store_t *s, store_req_t *r) {
  if (r->kind != REQ_STOP) atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
  if (r->status) atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
  if (r->kind != REQ_STOP && store_req_has_callback(r) && r->reply_to) {
    r->task.run = store_req_complete;
    executor_submit(r->reply_to, &r->task);
    return;
  }
  store_load_result_free(r->result);
  store_doc_info_free(r->docs, r->ndocs);
  free(r);
}

/* --- the thread ---------------------------------------------------------------------------- */

static const char *store_req_name(store_req_kind_t kind) {
  switch (kind) {
  case REQ_LOAD: return "load";
  case REQ_APPEND: return "append";
  case REQ_COMPACT: return "compact";
  case REQ_DELETE: return "delete";
  case REQ_FLUSH: return "flush";
  case REQ_LIST: return "list";
  case REQ_STOP: return "stop";
  }
  return "?";
}

/* Runs one request inside the open transaction. */
static void store_req_execute(store_t *s, store_req_t *r) {
  store_backend_t *b = s->backend;
  switch (r->kind) {
  case REQ_LOAD:
    r->result = xcalloc(1, sizeof *r->result);
    r->status = store_backend_load(b, r->doc, r->result);
    break;
  case REQ_APPEND: r->status = store_backend_append(b, r->doc, r->data, r->len, &r->seq); break;
  case REQ_COMPACT: r->status = store_backend_compact(b, r->doc, r->data, r->len, r->seq); break;
  case REQ_DELETE: r->status = store_backend_delete(b, r->doc, NULL); break;
  case REQ_LIST: r->status = store_backend_list(b, &r->docs, &r->ndocs); break;
  case REQ_FLUSH:
  case REQ_STOP: r->status = 0; break;
  }
  if (r->status)
    log_warn("%s %s: %s", store_req_name(r->kind), r->doc ? r->doc : "-", store_backend_errmsg(b));
}

/* The transaction that held [first, end) is lost: every request in it reports err. */
static void store_fail_range(store_req_t *first, store_req_t *end, int err) {
  for (store_req_t *r = first; r != end; r = (store_req_t *)r->task.node.next) {
    r->status = err;
    if (r->result) {
      store_load_result_clear(r->result);
      r->result->status = err;
    }
  }
}

static int store_begin(store_t *s) {
  int err = store_backend_begin(s->backend);
  if (err) log_error("begin: %s", store_backend_errmsg(s->backend));
  return err;
}

/* Runs the requests from `first` on (at most max_batch of them and about max_batch_bytes), in
 * one transaction when possible, completes them and returns the first request not run. Sets
 * *stop when a stop request was among them. */
static store_req_t *store_run_batch(store_t *s, store_req_t *first, bool *stop) {
  store_backend_t *b = s->backend;
  store_req_t *txn_start = first, *r = first;
  size_t n = 0, bytes = 0;
  int err = store_begin(s);
  for (; r && n < s->max_batch && (n == 0 || bytes < s->max_batch_bytes);
       r = (store_req_t *)r->task.node.next, n++) {
    if (r->kind == REQ_STOP) *stop = true;
    if (err) { /* no transaction: this request cannot run */
      r->status = err;
      if (r->kind == REQ_LOAD) {
        r->result = xcalloc(1, sizeof *r->result);
        r->result->status = err;
      }
      continue;
    }
    bytes += r->len;
    store_req_execute(s, r);
    if (r->status && !store_backend_in_transaction(b)) {
      /* The database rolled the whole transaction back: nothing since txn_start is on disk. */
      log_error("transaction lost: %s", store_backend_errmsg(b));
      store_fail_range(txn_start, (store_req_t *)r->task.node.next, r->status);
      atomic_fetch_add_explicit(&s->transactions, 1, memory_order_relaxed);
      txn_start = (store_req_t *)r->task.node.next;
      err = store_begin(s);
    }
  }
  store_req_t *end = r;
  if (!err) {
    err = store_backend_commit(b);
    if (err) {
      log_error("commit: %s", store_backend_errmsg(b));
      store_backend_rollback(b);
      store_fail_range(txn_start, end, err);
    }
    atomic_fetch_add_explicit(&s->transactions, 1, memory_order_relaxed);
  }
  for (store_req_t *c = first, *next; c != end; c = next) {
    next = (store_req_t *)c->task.node.next; /* read before the node joins another inbox */
    store_req_finish(s, c);
  }
  return end;
}

static void store_main(void *arg) {
  store_t *s = arg;
  log_set_thread_name("store");
  bool stop = false;
  for (;;) {
    store_req_t *r = (store_req_t *)inbox_take_all(&s->inbox);
    if (!r) {
      if (stop) break; /* everything queued before (and after) the stop request is done */
      uv_mutex_lock(&s->lock);
      while (!atomic_load_explicit(&s->inbox.head, memory_order_acquire))
        uv_cond_wait(&s->wake, &s->lock);
      uv_mutex_unlock(&s->lock);
      continue;
    }
    while (r) r = store_run_batch(s, r, &stop);
  }
  log_debug("stopped");
}

/* --- open / close -------------------------------------------------------------------------- */

store_t *store_start(store_backend_t *b, const store_config_t *cfg, char *err, size_t errlen) {
  store_t *s = xcalloc(1, sizeof *s);
  s->backend = b;
  s->max_batch = cfg && cfg->max_batch ? cfg->max_batch : STORE_DEFAULT_MAX_BATCH;
  s->max_batch_bytes = cfg && cfg->max_batch_bytes ? cfg->max_batch_bytes : (size_t)64 << 20;
  inbox_init(&s->inbox);
  uv_mutex_init(&s->lock);
  uv_cond_init(&s->wake);
  int rc = uv_thread_create(&s->thread, store_main, s);
  if (rc < 0) {
    snprintf(err, errlen, "cannot start the storage thread: %s", uv_strerror(rc));
    uv_cond_destroy(&s->wake);
    uv_mutex_destroy(&s->lock);
    store_backend_close(b);
    free(s);
    return NULL;
  }
  return s;
}

store_t *store_open_config(const char *url, const store_config_t *cfg, char *err,
                           size_t errlen) {
  store_backend_t *b = store_backend_open_url(url, 0, err, errlen, NULL);
  if (!b) return NULL;
  const char *kind = b->ops->name;
  store_t *s = store_start(b, cfg, err, errlen);
  if (s) {
    char where[256];
    store_url_describe(url, where, sizeof where);
    log_info("storage: %s (%s)", where, kind);
  }
  return s;
}

store_t *store_open(const char *url, char *err, size_t errlen) {
  return store_open_config(url, NULL, err, errlen);
}

const char *store_kind(const store_t *s) { return s->backend->ops->name; }

void store_close(store_t *s) {
  if (!s) return;
  store_submit(s, store_req_new(REQ_STOP, NULL, NULL, 0));
  uv_thread_join(&s->thread);
  store_backend_close(s->backend);
  uv_cond_destroy(&s->wake);
  uv_mutex_destroy(&s->lock);
  free(s);
}
