/* The document actor (docs/shared_doc.h) end to end on one thread, as a worker runs it:
 *
 *   - two workers on one libuv loop, each an executor (a lock-free inbox woken by a uv_async, as
 *     net/worker.c does) with its pubsub in slot 0 and the documents service in slot 1, started
 *     with shared_docs_service.start; the task poster pushes into the target worker's inbox;
 *   - the storage thread (store_start) on an in-memory backend defined here, which can be told
 *     to fail its next appends or loads;
 *   - real phx sockets on fake transports (phx_test_util.h) with a small y_doc channel that does
 *     what the application's does: join -> shared_doc_join, a binary `yjs` message ->
 *     shared_doc_message, terminate -> shared_doc_leave.
 *
 * Checked: the join sequence (sync step 2, sync step 1, awareness: three binary pushes), an update
 * appended to the store and broadcast to the other subscribers only, unload after the last leave
 * (the log compacted to one state entry) and a later join loading it back, a failed append ->
 * reload -> `yjs_resync` to every subscriber, a failed load -> `yjs_server_down` + phx_error, and
 * the awareness relay (a channel's clients removed when it leaves).
 *
 * Waiting is on conditions, never on time: the loop runs until what is expected has happened (a
 * 10 s guard fails the test otherwise). The unload delay and the awareness window are 1 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/log.h"
#include "core/task.h"
#include "docs/doc_internal.h"
#include "docs/shared_doc.h"
#include "phx/phx_channel.h"
#include "phx/phx_pubsub.h"
#include "phx/phx_socket.h"
#include "phx_test_util.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "yjs/yjs.h"

/* ================================================================================================
 * An in-memory store backend
 * ============================================================================================== */

typedef struct mem_entry {
  int64_t seq;
  uint8_t *data;
  size_t len;
} mem_entry_t;

typedef struct mem_doc {
  char *name;
  mem_entry_t *e;
  size_t n, cap;
  int64_t last_seq;
} mem_doc_t;

typedef struct mem_backend {
  store_backend_t hdr; /* first: every backend starts with it */
  uv_mutex_t lock;     /* the storage thread writes, the test reads */
  mem_doc_t *docs;
  size_t ndocs, cap;
  atomic_int fail_appends; /* the next N appends fail with STORE_EIO */
  atomic_int fail_loads;   /* the next N loads fail with STORE_EIO */
  atomic_int loads, appends, compacts;
} mem_backend_t;

static mem_doc_t *mem_find(mem_backend_t *m, const char *name, bool create) {
  for (size_t i = 0; i < m->ndocs; i++)
    if (!strcmp(m->docs[i].name, name)) return &m->docs[i];
  if (!create) return NULL;
  if (m->ndocs == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 4;
    m->docs = realloc(m->docs, m->cap * sizeof *m->docs);
  }
  mem_doc_t *d = &m->docs[m->ndocs++];
  memset(d, 0, sizeof *d);
  d->name = strdup(name);
  return d;
}

static void mem_push(mem_doc_t *d, size_t at, int64_t seq, const uint8_t *data, size_t len) {
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 8;
    d->e = realloc(d->e, d->cap * sizeof *d->e);
  }
  memmove(&d->e[at + 1], &d->e[at], (d->n - at) * sizeof *d->e);
  d->e[at].seq = seq;
  d->e[at].len = len;
  d->e[at].data = malloc(len ? len : 1);
  memcpy(d->e[at].data, data, len);
  d->n++;
}

static void mem_close(store_backend_t *b) {
  mem_backend_t *m = (mem_backend_t *)b;
  for (size_t i = 0; i < m->ndocs; i++) {
    for (size_t j = 0; j < m->docs[i].n; j++) free(m->docs[i].e[j].data);
    free(m->docs[i].e);
    free(m->docs[i].name);
  }
  free(m->docs);
  uv_mutex_destroy(&m->lock);
  free(m);
}

static int mem_ok(store_backend_t *b) { return 0; }
static bool mem_in_transaction(store_backend_t *b) { return true; }

static int mem_fail(store_backend_t *b, atomic_int *counter) {
  int left = atomic_load(counter);
  while (left > 0)
    if (atomic_compare_exchange_weak(counter, &left, left - 1)) {
      snprintf(b->errmsg, sizeof b->errmsg, "injected failure");
      return STORE_EIO;
    }
  return 0;
}

static int mem_load(store_backend_t *b, const char *doc, store_load_result_t *out) {
  mem_backend_t *m = (mem_backend_t *)b;
  memset(out, 0, sizeof *out);
  atomic_fetch_add(&m->loads, 1);
  int err = mem_fail(b, &m->fail_loads);
  if (err) return out->status = err;
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, doc, false);
  size_t n = d ? d->n : 0;
  out->count = n;
  out->data = calloc(n ? n : 1, sizeof *out->data);
  out->len = calloc(n ? n : 1, sizeof *out->len);
  out->seq = calloc(n ? n : 1, sizeof *out->seq);
  for (size_t i = 0; i < n; i++) {
    out->data[i] = malloc(d->e[i].len ? d->e[i].len : 1);
    memcpy(out->data[i], d->e[i].data, d->e[i].len);
    out->len[i] = d->e[i].len;
    out->seq[i] = d->e[i].seq;
    out->total_bytes += d->e[i].len;
  }
  out->last_seq = n ? d->e[n - 1].seq : 0;
  uv_mutex_unlock(&m->lock);
  return 0;
}

static int mem_append(store_backend_t *b, const char *doc, const uint8_t *data, size_t len,
                      int64_t *seq) {
  mem_backend_t *m = (mem_backend_t *)b;
  atomic_fetch_add(&m->appends, 1);
  int err = mem_fail(b, &m->fail_appends);
  if (err) return err;
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, doc, true);
  *seq = ++d->last_seq;
  mem_push(d, d->n, *seq, data, len);
  uv_mutex_unlock(&m->lock);
  return 0;
}

static int mem_compact(store_backend_t *b, const char *doc, const uint8_t *state, size_t len,
                       int64_t upto_seq) {
  mem_backend_t *m = (mem_backend_t *)b;
  atomic_fetch_add(&m->compacts, 1);
  if (upto_seq < 1) return STORE_EINVAL;
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, doc, true);
  size_t kept = 0;
  for (size_t i = 0; i < d->n; i++) {
    if (d->e[i].seq <= upto_seq) free(d->e[i].data);
    else d->e[kept++] = d->e[i];
  }
  d->n = kept;
  mem_push(d, 0, upto_seq, state, len);
  if (d->last_seq < upto_seq) d->last_seq = upto_seq;
  uv_mutex_unlock(&m->lock);
  return 0;
}

static int cmp_info(const void *a, const void *b) {
  return strcmp(((const store_doc_info_t *)a)->name, ((const store_doc_info_t *)b)->name);
}

static int mem_list(store_backend_t *b, store_doc_info_t **docs, size_t *n) {
  mem_backend_t *m = (mem_backend_t *)b;
  uv_mutex_lock(&m->lock);
  *docs = calloc(m->ndocs ? m->ndocs : 1, sizeof **docs);
  *n = 0;
  for (size_t i = 0; i < m->ndocs; i++) {
    if (!m->docs[i].n) continue;
    store_doc_info_t *info = &(*docs)[(*n)++];
    info->name = strdup(m->docs[i].name);
    info->entries = m->docs[i].n;
    for (size_t j = 0; j < m->docs[i].n; j++) info->bytes += m->docs[i].e[j].len;
    info->last_seq = m->docs[i].e[m->docs[i].n - 1].seq;
  }
  uv_mutex_unlock(&m->lock);
  qsort(*docs, *n, sizeof **docs, cmp_info);
  return 0;
}

static int mem_remove(store_backend_t *b, const char *doc, size_t *removed) {
  mem_backend_t *m = (mem_backend_t *)b;
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, doc, false);
  size_t n = d ? d->n : 0;
  for (size_t i = 0; i < n; i++) free(d->e[i].data);
  if (d) d->n = 0;
  uv_mutex_unlock(&m->lock);
  if (removed) *removed = n;
  return 0;
}

static const store_backend_ops_t mem_ops = {
    .name = "memory",
    .open = NULL, /* opened by the test */
    .close = mem_close,
    .begin = mem_ok,
    .commit = mem_ok,
    .rollback = mem_ok,
    .in_transaction = mem_in_transaction,
    .load = mem_load,
    .append = mem_append,
    .compact = mem_compact,
    .list = mem_list,
    .remove = mem_remove,
};

static mem_backend_t *mem_new(void) {
  mem_backend_t *m = calloc(1, sizeof *m);
  m->hdr.ops = &mem_ops;
  uv_mutex_init(&m->lock);
  return m;
}

/* Entries of a document as the test sees them now. */
static size_t mem_count(mem_backend_t *m, const char *name) {
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, name, false);
  size_t n = d ? d->n : 0;
  uv_mutex_unlock(&m->lock);
  return n;
}

/* A copy of entry i (malloc'd). */
static uint8_t *mem_entry(mem_backend_t *m, const char *name, size_t i, size_t *len) {
  uv_mutex_lock(&m->lock);
  mem_doc_t *d = mem_find(m, name, false);
  assert_non_null(d);
  assert_true(i < d->n);
  uint8_t *p = malloc(d->e[i].len ? d->e[i].len : 1);
  memcpy(p, d->e[i].data, d->e[i].len);
  *len = d->e[i].len;
  uv_mutex_unlock(&m->lock);
  return p;
}

/* ================================================================================================
 * Workers: executors on one loop
 * ============================================================================================== */

#define NWORKERS 2

typedef struct worker {
  executor_t ex; /* first */
  inbox_t inbox;
  uv_async_t wakeup;
  task_ctx_t ctx;
  phx_pubsub_t ps;
  shared_docs_t *docs;
  size_t ran;
} worker_t;

typedef struct fx {
  uv_loop_t loop;
  uv_timer_t tick; /* wakes the loop while the test waits for a condition */
  worker_t w[NWORKERS];
  task_poster_t poster;
  mem_backend_t *mem;
  store_t *store;
  shared_docs_config_t cfg;
  phx_router_t router;
  fake_transport_t ft[4];
  phx_socket_t *s[4];
} fx_t;

static void worker_submit(executor_t *ex, task_t *t) {
  worker_t *w = (worker_t *)ex;
  if (inbox_push(&w->inbox, &t->node)) uv_async_send(&w->wakeup);
}

static void worker_post(void *ctx, int worker, task_t *t) {
  fx_t *f = ctx;
  if (worker < 0 || worker >= NWORKERS) fail_msg("task posted to worker %d", worker);
  worker_submit(&f->w[worker].ex, t);
}

/* Runs what is in the inbox (tasks posted meanwhile wait for the next wake-up, as on a worker). */
static size_t worker_drain(worker_t *w) {
  size_t n = 0;
  for (inbox_node_t *node = inbox_take_all(&w->inbox); node;) {
    task_t *t = (task_t *)node;
    node = node->next;
    t->run(t, &w->ctx);
    n++;
  }
  w->ran += n;
  return n;
}

static void on_wakeup(uv_async_t *h) { worker_drain(h->data); }
static void on_tick(uv_timer_t *t) {}

static bool inboxes_empty(fx_t *f) {
  for (int i = 0; i < NWORKERS; i++)
    if (atomic_load(&f->w[i].inbox.head)) return false;
  return true;
}

/* Runs the loop until cond holds (checked after every loop iteration), for at most 10 s. */
#define RUN_UNTIL(f, cond)                                                                       \
  do {                                                                                           \
    uv_update_time(&(f)->loop);                                                                  \
    uint64_t t0_ = uv_now(&(f)->loop);                                                           \
    uv_timer_start(&(f)->tick, on_tick, 5, 5);                                                   \
    while (!(cond)) {                                                                            \
      uv_run(&(f)->loop, UV_RUN_ONCE);                                                           \
      if (uv_now(&(f)->loop) - t0_ > 10000) fail_msg("waited 10 s for: %s", #cond);             \
    }                                                                                            \
    uv_timer_stop(&(f)->tick);                                                                   \
  } while (0)

/* The owner's view of a document (NULL when not loaded). */
static shared_doc_t *doc_of(fx_t *f, const char *name) {
  int owner = task_owner_of(&f->poster, name, strlen(name));
  return doc_find(f->w[owner].docs, name);
}

/* Nothing queued anywhere and the document has no storage request in flight. */
static bool doc_idle(fx_t *f, const char *name) {
  shared_doc_t *d = doc_of(f, name);
  return inboxes_empty(f) && (!d || (d->inflight == 0 && !doc_loading(d)));
}

static shared_docs_stats_t stats_of(fx_t *f, const char *name) {
  shared_docs_stats_t st;
  shared_docs_stats(f->w[task_owner_of(&f->poster, name, strlen(name))].docs, &st);
  return st;
}

/* ================================================================================================
 * A y_doc channel, as the application's
 * ============================================================================================== */

typedef struct exit_rec {
  uint64_t id;
  phx_exit_t reason;
} exit_rec_t;

static exit_rec_t g_exits[32];
static size_t g_nexits;

static const char *ydoc_name(const phx_channel_t *ch) {
  return phx_channel_topic(ch) + phx_channel_route(ch)->prefix_len;
}

static int ydoc_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  shared_doc_join(phx_channel_ctx(ch), ydoc_name(ch), phx_channel_topic(ch), phx_channel_id(ch));
  return PHX_JOIN_OK;
}

static void ydoc_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  if (msg->binary && !strcmp(msg->event, "yjs"))
    shared_doc_message(phx_channel_ctx(ch), ydoc_name(ch), phx_channel_id(ch), msg->bin,
                       msg->bin_len);
}

static void ydoc_terminate(phx_channel_t *ch, phx_exit_t reason) {
  assert_true(g_nexits < sizeof g_exits / sizeof *g_exits);
  g_exits[g_nexits++] = (exit_rec_t){phx_channel_id(ch), reason};
  shared_doc_leave(phx_channel_ctx(ch), ydoc_name(ch), phx_channel_id(ch));
}

static const phx_channel_type_t test_ydoc_channel = {
    .name = "test_ydoc",
    .join = ydoc_join,
    .handle_in = ydoc_handle_in,
    .terminate = ydoc_terminate,
};

#define PREFIX "y_doc_room:"

/* ================================================================================================
 * Fixture
 * ============================================================================================== */

static int setup(void **state) {
  log_set_level(LOG_OFF);
  fx_t *f = calloc(1, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->tick);
  f->poster = (task_poster_t){.post = worker_post, .ctx = f, .nworkers = NWORKERS};

  f->mem = mem_new();
  char err[256];
  f->store = store_start(&f->mem->hdr, NULL, err, sizeof err);
  if (!f->store) fail_msg("store_start: %s", err);
  f->cfg = (shared_docs_config_t){
      .store = f->store, .unload_ms = 1, .compact_threshold = 100, .awareness_window_ms = 1};

  for (int i = 0; i < NWORKERS; i++) {
    worker_t *w = &f->w[i];
    w->ex.submit = worker_submit;
    inbox_init(&w->inbox);
    uv_async_init(&f->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    w->ctx.worker = i;
    w->ctx.loop = &f->loop;
    w->ctx.self = &w->ex;
    w->ctx.poster = &f->poster;
    w->ctx.slots[0] = (service_slot_t){&phx_pubsub_service, &w->ps};
    w->ctx.nslots = 1;
    phx_pubsub_init(&w->ps, &w->ctx);
    w->docs = shared_docs_service.start(&w->ctx, &f->cfg);
    assert_non_null(w->docs);
    w->ctx.slots[1] = (service_slot_t){&shared_docs_service, w->docs};
    w->ctx.nslots = 2;
  }
  phx_router_init(&f->router);
  phx_router_add(&f->router, PREFIX "*", &test_ydoc_channel, NULL);
  g_nexits = 0;
  *state = f;
  return 0;
}

static void on_closed(uv_handle_t *h) {}

/* The server's shutdown, in its order: sockets go (channels leave their documents), documents
 * quiesce, the store closes (delivering every completion), the services stop, the loop ends. */
static int teardown(void **state) {
  fx_t *f = *state;
  for (size_t i = 0; i < sizeof f->s / sizeof *f->s; i++) {
    if (f->s[i]) phx_socket_free(f->s[i]);
    f->s[i] = NULL;
  }
  RUN_UNTIL(f, inboxes_empty(f));
  for (int i = 0; i < NWORKERS; i++) shared_docs_service.quiesce(f->w[i].docs);
  store_close(f->store);
  while (!inboxes_empty(f))
    for (int i = 0; i < NWORKERS; i++) worker_drain(&f->w[i]);
  for (int i = 0; i < NWORKERS; i++) {
    shared_docs_service.stop(f->w[i].docs);
    uv_close((uv_handle_t *)&f->w[i].wakeup, on_closed);
  }
  uv_close((uv_handle_t *)&f->tick, on_closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < NWORKERS; i++) {
    shared_docs_service.free(f->w[i].docs);
    phx_pubsub_free(&f->w[i].ps);
  }
  assert_int_equal(uv_loop_close(&f->loop), 0);
  for (size_t i = 0; i < sizeof f->ft / sizeof *f->ft; i++) ft_free(&f->ft[i]);
  phx_router_free(&f->router);
  free(f);
  return 0;
}

/* ================================================================================================
 * Helpers: clients
 * ============================================================================================== */

/* A document name owned by worker `owner`: prefix + a number. */
static void name_owned_by(fx_t *f, int owner, const char *prefix, char *out, size_t outlen) {
  for (int i = 0; i < 10000; i++) {
    snprintf(out, outlen, "%s%d", prefix, i);
    if (task_owner_of(&f->poster, out, strlen(out)) == owner) return;
  }
  fail_msg("no document name owned by worker %d", owner);
}

/* Client i connects on worker w and joins y_doc_room:<name> with join_ref "1". */
static phx_channel_t *client_join(fx_t *f, int i, int w, const char *name) {
  ft_init(&f->ft[i]);
  phx_socket_config_t cfg = {.max_channels = 10, .router = &f->router};
  f->s[i] = phx_socket_new(&f->w[w].ps, &f->ft[i].t, PHX_V2, NULL, NULL, 0, &cfg);
  char msg[128], want[160];
  snprintf(msg, sizeof msg, "[\"1\",\"1\",\"" PREFIX "%s\",\"phx_join\",{}]", name);
  snprintf(want, sizeof want,
           "[\"1\",\"1\",\"" PREFIX "%s\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]", name);
  assert_int_equal(sock_text(f->s[i], msg), 0);
  ft_assert_text(&f->ft[i], 0, want);
  char topic[64];
  snprintf(topic, sizeof topic, PREFIX "%s", name);
  phx_channel_t *ch = phx_socket_find(f->s[i], topic);
  assert_non_null(ch);
  return ch;
}

/* Client i sends a binary `yjs` push with this y-protocols message. */
static void client_send(fx_t *f, int i, const char *name, const uint8_t *msg, size_t len) {
  uint8_t frame[512];
  char topic[64];
  int tl = snprintf(topic, sizeof topic, PREFIX "%s", name);
  size_t n = 0;
  frame[n++] = 0;          /* kind: push */
  frame[n++] = 1;          /* join_ref "1" */
  frame[n++] = 1;          /* ref "7" */
  frame[n++] = (uint8_t)tl;
  frame[n++] = 3;          /* "yjs" */
  frame[n++] = '1';
  frame[n++] = '7';
  memcpy(frame + n, topic, (size_t)tl);
  n += (size_t)tl;
  memcpy(frame + n, "yjs", 3);
  n += 3;
  assert_true(n + len <= sizeof frame);
  memcpy(frame + n, msg, len);
  n += len;
  assert_int_equal(sock_binary(f->s[i], frame, n), 0);
}

static const uint8_t STEP1_EMPTY[] = {0, 0, 1, 0}; /* sync step 1, empty state vector */

/* [0, 2, varuint len, update] (a sync update; the updates here are short). */
static size_t update_msg(uint8_t *out, const uint8_t *u, size_t len) {
  assert_true(len < 128);
  out[0] = 0;
  out[1] = 2;
  out[2] = (uint8_t)len;
  memcpy(out + 3, u, len);
  return len + 3;
}

/* The y-protocols message in a binary frame of client i: a push [00 JR TL EL jr topic "yjs" ...]
 * with join_ref "1" (pushed) or a broadcast [02 TL EL topic "yjs" ...] (broadcast). */
static const uint8_t *yjs_frame(fx_t *f, int i, size_t k, const char *name, bool broadcast,
                                size_t *len) {
  const uint8_t *p;
  size_t n;
  uint8_t op = ft_frame(&f->ft[i], k, &p, &n);
  if (op != 0x2) {
    fail_msg("client %d frame %zu: opcode %u, want binary: %.*s", i, k, op, (int)n,
             (const char *)p);
  }
  char topic[64];
  size_t tl = (size_t)snprintf(topic, sizeof topic, PREFIX "%s", name);
  size_t off;
  if (broadcast) {
    assert_true(n >= 3 + tl + 3);
    assert_int_equal(p[0], 2);
    assert_int_equal(p[1], tl);
    assert_int_equal(p[2], 3);
    assert_memory_equal(p + 3, topic, tl);
    assert_memory_equal(p + 3 + tl, "yjs", 3);
    off = 3 + tl + 3;
  } else {
    assert_true(n >= 4 + 1 + tl + 3);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 1);
    assert_int_equal(p[2], tl);
    assert_int_equal(p[3], 3);
    assert_int_equal(p[4], '1');
    assert_memory_equal(p + 5, topic, tl);
    assert_memory_equal(p + 5 + tl, "yjs", 3);
    off = 5 + tl + 3;
  }
  *len = n - off;
  return p + off;
}

static void assert_yjs_push(fx_t *f, int i, size_t k, const char *name, const void *want,
                            size_t want_len) {
  size_t len;
  const uint8_t *m = yjs_frame(f, i, k, name, false, &len);
  assert_int_equal(len, want_len);
  assert_memory_equal(m, want, want_len);
}

/* The body of a sync message (00 <subtype> varbytes) in frame k of client i. */
static const uint8_t *sync_body(fx_t *f, int i, size_t k, const char *name, bool broadcast,
                                int subtype, size_t *len) {
  size_t n;
  const uint8_t *m = yjs_frame(f, i, k, name, broadcast, &n);
  assert_true(n >= 3);
  assert_int_equal(m[0], 0);
  assert_int_equal(m[1], subtype);
  size_t bl = 0, shift = 0, at = 2;
  for (;; at++) {
    assert_true(at < n);
    bl |= (size_t)(m[at] & 0x7f) << shift;
    shift += 7;
    if (!(m[at] & 0x80)) break;
  }
  at++;
  assert_int_equal(n - at, bl);
  *len = bl;
  return m + at;
}

/* The JSON of a document made of these updates. */
static void assert_content(const uint8_t *u, size_t len, const char *want) {
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(yjs_doc_apply_update_v1(d, u, len, NULL, NULL), 0);
  char *json;
  size_t n;
  assert_int_equal(yjs_doc_to_json(d, &json, &n), 0);
  assert_string_equal(json, want);
  yjs_free(json);
  yjs_doc_free(d);
}

/* Two Yjs updates on the text "t": "ab" by client 1, then "X" between a and b by client 2. */
static const uint8_t U1[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01, 0x01, 0x74,
                             0x02, 0x61, 0x62, 0x00};
static const uint8_t U2[] = {0x01, 0x01, 0x02, 0x00, 0xc4, 0x01, 0x00, 0x01,
                             0x01, 0x01, 0x58, 0x00};

/* The three pushes (frames k, k+1, k+2 of client i) that answer sync step 1 from an empty client:
 * step 2 with the document's whole state (checked by its content as JSON), the server's step 1
 * (its state vector) and the awareness of nobody. */
static void assert_join_answer(fx_t *f, int i, size_t k, const char *name, const char *content) {
  size_t len;
  const uint8_t *s2 = sync_body(f, i, k, name, false, 1, &len);
  assert_content(s2, len, content);
  /* The server's state vector is that of the state it sent. */
  uint8_t *sv;
  size_t sv_len;
  assert_int_equal(yjs_state_vector_from_update_v1(s2, len, &sv, &sv_len, NULL), 0);
  const uint8_t *s1 = sync_body(f, i, k + 1, name, false, 0, &len);
  assert_int_equal(len, sv_len);
  assert_memory_equal(s1, sv, len);
  yjs_free(sv);
  static const uint8_t no_awareness[] = {1, 1, 0};
  assert_yjs_push(f, i, k + 2, name, no_awareness, sizeof no_awareness);
}

/* ================================================================================================
 * Tests
 * ============================================================================================== */

static void test_join_answers_step1(void **state) {
  fx_t *f = *state;
  /* A channel on the owner's worker (0), then one on the other worker. */
  for (int c = 0; c < 2; c++) {
    char name[32];
    name_owned_by(f, 0, c ? "b" : "a", name, sizeof name);
    client_join(f, c, c, name);
    /* Sent at once: it waits at the owner while the document loads. */
    client_send(f, c, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
    RUN_UNTIL(f, f->ft[c].n >= 4);
    assert_int_equal(f->ft[c].n, 4);
    /* The exact pushes for an empty document: step 2 = an empty update [0,0]; step 1 = the
     * empty state vector [0]; awareness: no clients. */
    static const uint8_t step2[] = {0, 1, 2, 0, 0};
    static const uint8_t step1[] = {0, 0, 1, 0};
    static const uint8_t aw[] = {1, 1, 0};
    assert_yjs_push(f, c, 1, name, step2, sizeof step2);
    assert_yjs_push(f, c, 2, name, step1, sizeof step1);
    assert_yjs_push(f, c, 3, name, aw, sizeof aw);
    shared_doc_t *d = doc_of(f, name);
    assert_non_null(d);
    assert_int_equal(d->state, DOC_READY);
    assert_int_equal(d->nsubs, 1);
    assert_int_equal(stats_of(f, name).open, c + 1); /* both documents are worker 0's */
    assert_int_equal(mem_count(f->mem, name), 0); /* nothing to store */
  }
  assert_int_equal(atomic_load(&f->mem->loads), 2);
}

static void test_update_stored_and_broadcast(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 0, "doc", name, sizeof name);
  client_join(f, 0, 1, name); /* A, on the other worker */
  client_join(f, 1, 0, name); /* B, on the owner */
  client_join(f, 2, 1, name); /* C, with A */
  for (int c = 0; c < 3; c++) client_send(f, c, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[0].n == 4 && f->ft[1].n == 4 && f->ft[2].n == 4);

  uint8_t msg[160];
  size_t n = update_msg(msg, U1, sizeof U1);
  client_send(f, 0, name, msg, n);
  RUN_UNTIL(f, f->ft[1].n == 5 && f->ft[2].n == 5 && stats_of(f, name).storage_writes == 1);
  /* B and C got the update as a binary broadcast [0,2,...]; A, its author, nothing. */
  size_t blen, clen;
  const uint8_t *b = sync_body(f, 1, 4, name, true, 2, &blen);
  const uint8_t *c = sync_body(f, 2, 4, name, true, 2, &clen);
  assert_int_equal(blen, clen);
  assert_memory_equal(b, c, blen);
  assert_content(b, blen, "{\"t\":\"ab\"}");
  RUN_UNTIL(f, doc_idle(f, name));
  assert_int_equal(f->ft[0].n, 4);
  /* B (on the owner) and C (on the other worker) hold the broadcast's one encoding. */
  assert_ptr_equal(f->ft[1].frames[4], f->ft[2].frames[4]);
  /* The stored entry is what was broadcast. */
  assert_int_equal(mem_count(f->mem, name), 1);
  size_t slen;
  uint8_t *stored = mem_entry(f->mem, name, 0, &slen);
  assert_int_equal(slen, blen);
  assert_memory_equal(stored, b, blen);
  free(stored);
  shared_docs_stats_t st = stats_of(f, name);
  assert_int_equal(st.updates, 1);
  assert_int_equal(st.storage_writes, 1);
  assert_int_equal(doc_of(f, name)->stored_entries, 1);

  /* The same update again changes nothing: no broadcast, no append. A step 1 after it is the
   * barrier (the owner handles one channel's messages in order). */
  client_send(f, 0, name, msg, n);
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[0].n == 7);
  RUN_UNTIL(f, doc_idle(f, name));
  assert_int_equal(f->ft[1].n, 5);
  assert_int_equal(f->ft[2].n, 5);
  assert_int_equal(atomic_load(&f->mem->appends), 1);
  assert_join_answer(f, 0, 4, name, "{\"t\":\"ab\"}");

  /* A second update, from B on the owner's worker: to A and C, not B. */
  n = update_msg(msg, U2, sizeof U2);
  client_send(f, 1, name, msg, n);
  RUN_UNTIL(f, f->ft[0].n == 8 && f->ft[2].n == 6 && stats_of(f, name).storage_writes == 2);
  RUN_UNTIL(f, doc_idle(f, name));
  assert_int_equal(f->ft[1].n, 5);
  assert_int_equal(mem_count(f->mem, name), 2);
  const uint8_t *a2 = sync_body(f, 0, 7, name, true, 2, &blen);
  stored = mem_entry(f->mem, name, 1, &slen);
  assert_int_equal(slen, blen);
  assert_memory_equal(stored, a2, blen);
  free(stored);

  /* A malformed update is answered with yjs_error to its sender only, and not stored. */
  static const uint8_t bad[] = {0, 2, 3, 0x01, 0x01, 0x05};
  client_send(f, 2, name, bad, sizeof bad);
  RUN_UNTIL(f, f->ft[2].n == 7);
  char want[128];
  snprintf(want, sizeof want, "[\"1\",null,\"" PREFIX "%s\",\"yjs_error\",{\"reason\":\"malformed update\"}]",
           name);
  ft_assert_text(&f->ft[2], 6, want);
  RUN_UNTIL(f, doc_idle(f, name));
  assert_int_equal(f->ft[0].n, 8);
  assert_int_equal(f->ft[1].n, 5);
  assert_int_equal(mem_count(f->mem, name), 2);
}

static void test_unload_then_load_again(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 1, "doc", name, sizeof name);
  client_join(f, 0, 0, name);
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  uint8_t msg[160];
  size_t n = update_msg(msg, U1, sizeof U1);
  client_send(f, 0, name, msg, n);
  n = update_msg(msg, U2, sizeof U2);
  client_send(f, 0, name, msg, n);
  RUN_UNTIL(f, stats_of(f, name).storage_writes == 2);
  assert_int_equal(mem_count(f->mem, name), 2);
  shared_doc_t *d = doc_of(f, name);
  assert_non_null(d);
  uint64_t instance = d->instance;

  /* The last subscriber leaves (phx_leave: the channel's terminate leaves the document). After
   * the unload delay the two entries are compacted into one and the document is unloaded. */
  char leave[96];
  snprintf(leave, sizeof leave, "[\"1\",\"9\",\"" PREFIX "%s\",\"phx_leave\",{}]", name);
  assert_int_equal(sock_text(f->s[0], leave), 0);
  assert_int_equal(g_nexits, 1);
  assert_int_equal(g_exits[0].reason, PHX_EXIT_LEFT);
  RUN_UNTIL(f, doc_of(f, name) == NULL && inboxes_empty(f));
  assert_int_equal(stats_of(f, name).open, 0);
  assert_int_equal(atomic_load(&f->mem->compacts), 1);
  assert_int_equal(mem_count(f->mem, name), 1);
  size_t slen;
  uint8_t *stored = mem_entry(f->mem, name, 0, &slen);
  assert_content(stored, slen, "{\"t\":\"aXb\"}");
  free(stored);
  assert_int_equal(stats_of(f, name).storage_writes, 3);

  /* A new join loads it back: a new instance, with the stored content. */
  client_join(f, 1, 1, name);
  client_send(f, 1, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[1].n == 4);
  assert_join_answer(f, 1, 1, name, "{\"t\":\"aXb\"}");
  assert_int_equal(atomic_load(&f->mem->loads), 2);
  d = doc_of(f, name);
  assert_non_null(d);
  assert_int_not_equal(d->instance, instance);
  assert_int_equal(d->stored_entries, 1);
  /* The old client (left) got nothing after its leave's reply and phx_close. */
  assert_int_equal(f->ft[0].n, 4 + 2);
}

static void test_leave_before_unload_keeps_document(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 0, "doc", name, sizeof name);
  /* A long unload delay: a join within it finds the document still loaded. */
  f->cfg.unload_ms = 60000;
  client_join(f, 0, 1, name);
  uint8_t msg[160];
  size_t n = update_msg(msg, U1, sizeof U1);
  client_send(f, 0, name, msg, n);
  RUN_UNTIL(f, stats_of(f, name).storage_writes == 1);
  phx_socket_free(f->s[0]);
  f->s[0] = NULL;
  assert_int_equal(g_exits[0].reason, PHX_EXIT_CLOSED);
  RUN_UNTIL(f, doc_of(f, name) && doc_of(f, name)->nsubs == 0);
  assert_true(uv_is_active((uv_handle_t *)&doc_of(f, name)->unload_timer));
  client_join(f, 1, 0, name);
  client_send(f, 1, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[1].n == 4);
  assert_join_answer(f, 1, 1, name, "{\"t\":\"ab\"}");
  assert_false(uv_is_active((uv_handle_t *)&doc_of(f, name)->unload_timer));
  assert_int_equal(atomic_load(&f->mem->loads), 1); /* not loaded again */
}

static void test_failed_append_resyncs(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 0, "doc", name, sizeof name);
  client_join(f, 0, 1, name);
  client_join(f, 1, 0, name);
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  client_send(f, 1, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[0].n == 4 && f->ft[1].n == 4);

  atomic_store(&f->mem->fail_appends, 1);
  uint8_t msg[160];
  size_t n = update_msg(msg, U1, sizeof U1);
  client_send(f, 0, name, msg, n);
  /* B gets the update (relayed before it is stored), then both get yjs_resync once the document
   * has been reloaded from storage. */
  char resync[128];
  snprintf(resync, sizeof resync, "[\"1\",null,\"" PREFIX "%s\",\"yjs_resync\",{}]", name);
  RUN_UNTIL(f, f->ft[0].n == 5 && f->ft[1].n == 6);
  ft_assert_text(&f->ft[0], 4, resync);
  size_t blen;
  sync_body(f, 1, 4, name, true, 2, &blen);
  ft_assert_text(&f->ft[1], 5, resync);
  RUN_UNTIL(f, doc_idle(f, name));
  shared_doc_t *d = doc_of(f, name);
  assert_int_equal(d->state, DOC_READY);
  assert_int_equal(d->generation, 1);
  assert_int_equal(d->nsubs, 2); /* the subscribers stay */
  assert_int_equal(atomic_load(&f->mem->loads), 2);
  assert_int_equal(mem_count(f->mem, name), 0);
  /* The reloaded document is what storage holds: without the update. The clients resync (here:
   * step 1 again) and send it again, which now sticks. */
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[0].n == 8);
  assert_join_answer(f, 0, 5, name, "{}");
  client_send(f, 0, name, msg, n);
  RUN_UNTIL(f, stats_of(f, name).storage_writes == 1 && f->ft[1].n == 7);
  assert_int_equal(mem_count(f->mem, name), 1);
  assert_int_equal(f->ft[0].n, 8);
}

static void test_failed_load_crashes_channels(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 1, "doc", name, sizeof name);
  atomic_store(&f->mem->fail_loads, 1);
  phx_channel_t *a = client_join(f, 0, 0, name);
  uint64_t id = phx_channel_id(a);
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  /* yjs_server_down, then phx_error (the client rejoins later); the channel ends as crashed. */
  RUN_UNTIL(f, f->ft[0].n == 3);
  char want[128];
  snprintf(want, sizeof want, "[\"1\",null,\"" PREFIX "%s\",\"yjs_server_down\",{}]", name);
  ft_assert_text(&f->ft[0], 1, want);
  snprintf(want, sizeof want,
           "[\"1\",\"1\",\"" PREFIX "%s\",\"phx_error\",{\"reason\":\"channel_crash\"}]", name);
  ft_assert_text(&f->ft[0], 2, want);
  assert_int_equal(g_nexits, 1);
  assert_int_equal(g_exits[0].id, id);
  assert_int_equal(g_exits[0].reason, PHX_EXIT_CRASHED);
  assert_int_equal(f->s[0]->nchannels, 0);
  RUN_UNTIL(f, doc_of(f, name) == NULL && inboxes_empty(f));
  assert_int_equal(stats_of(f, name).open, 0);

  /* The rejoin finds storage working again. */
  char join[96];
  snprintf(join, sizeof join, "[\"3\",\"3\",\"" PREFIX "%s\",\"phx_join\",{}]", name);
  assert_int_equal(sock_text(f->s[0], join), 0);
  assert_int_equal(f->ft[0].n, 4);
  RUN_UNTIL(f, doc_of(f, name) && doc_of(f, name)->state == DOC_READY && doc_idle(f, name));
  assert_int_equal(doc_of(f, name)->nsubs, 1);
  assert_int_equal(atomic_load(&f->mem->loads), 2);
}

/* lib0 awareness update: varUint(n) n x (varUint(client) varUint(clock) varString(json)). */
static size_t aw_update(uint8_t *out, uint8_t client, uint8_t clock, const char *json) {
  size_t jl = strlen(json), n = 0;
  out[n++] = 1; /* y-protocols: awareness message */
  out[n++] = (uint8_t)(4 + jl);
  out[n++] = 1; /* one client */
  out[n++] = client;
  out[n++] = clock;
  out[n++] = (uint8_t)jl;
  memcpy(out + n, json, jl);
  return n + jl;
}

static void test_awareness_relay_and_removal(void **state) {
  fx_t *f = *state;
  char name[32];
  name_owned_by(f, 0, "doc", name, sizeof name);
  client_join(f, 0, 1, name);
  client_join(f, 1, 0, name);
  client_send(f, 0, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  client_send(f, 1, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[0].n == 4 && f->ft[1].n == 4);

  /* A announces client 10: relayed to B at once (leading edge), not back to A. */
  uint8_t msg[64];
  size_t n = aw_update(msg, 10, 1, "{\"u\":1}");
  client_send(f, 0, name, msg, n);
  RUN_UNTIL(f, f->ft[1].n == 5);
  size_t len;
  const uint8_t *m = yjs_frame(f, 1, 4, name, true, &len);
  assert_int_equal(len, n);
  assert_memory_equal(m, msg, n);
  RUN_UNTIL(f, doc_idle(f, name));
  assert_int_equal(f->ft[0].n, 4);
  assert_int_equal(stats_of(f, name).awareness_updates, 1);

  /* A newcomer's join answer carries client 10's state. */
  client_join(f, 2, 1, name);
  client_send(f, 2, name, STEP1_EMPTY, sizeof STEP1_EMPTY);
  RUN_UNTIL(f, f->ft[2].n == 4);
  assert_yjs_push(f, 2, 3, name, msg, n);

  /* A goes: client 10 is removed and relayed as a null state at the same clock (once the
   * awareness window has passed). */
  phx_socket_free(f->s[0]);
  f->s[0] = NULL;
  uint8_t gone[64];
  size_t gn = aw_update(gone, 10, 1, "null");
  RUN_UNTIL(f, f->ft[1].n == 6 && f->ft[2].n == 5);
  m = yjs_frame(f, 1, 5, name, true, &len);
  assert_int_equal(len, gn);
  assert_memory_equal(m, gone, gn);
  m = yjs_frame(f, 2, 4, name, true, &len);
  assert_int_equal(len, gn);
  assert_memory_equal(m, gone, gn);
  /* And the table is empty again. */
  client_send(f, 1, name, (const uint8_t *)"\x03", 1); /* query awareness */
  RUN_UNTIL(f, f->ft[1].n == 7);
  static const uint8_t none[] = {1, 1, 0};
  assert_yjs_push(f, 1, 6, name, none, sizeof none);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_join_answers_step1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_stored_and_broadcast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unload_then_load_again, setup, teardown),
      cmocka_unit_test_setup_teardown(test_leave_before_unload_keeps_document, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_append_resyncs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_load_crashes_channels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_awareness_relay_and_removal, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
