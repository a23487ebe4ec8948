/* The storage service (store.h) with its thread, driven from a real libuv loop: the loop is the
 * requesting executor (a small one, as a worker is: tasks go into a lock-free inbox and a
 * uv_async wakes the loop). Checks that completions arrive on the loop thread and in order, that
 * store_flush is a barrier (another connection sees the data), that store_close finishes what is
 * queued, load after compact, a failing request inside a batch, producers on several threads,
 * a failed commit and a transaction the database abandoned (a backend wrapped with faults);
 * and measures appends/s with batching against one transaction per append. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/task.h"
#include "store/store.h"
#include "store/store_backend.h"

/* --- a loop as an executor ------------------------------------------------------------------- */

typedef struct loop_exec {
  executor_t ex; /* first */
  inbox_t inbox;
  uv_loop_t loop;
  uv_async_t wakeup;
  uv_timer_t guard;
  uv_thread_t thread;  /* the loop's thread */
  long pending;        /* callbacks still expected; the loop ends when it reaches 0 */
  long ran;            /* tasks run */
  int wakeups;
} loop_exec_t;

static void exec_submit(executor_t *ex, task_t *t) {
  loop_exec_t *e = (loop_exec_t *)ex;
  if (inbox_push(&e->inbox, &t->node)) uv_async_send(&e->wakeup);
}

static void exec_maybe_stop(loop_exec_t *e) {
  if (e->pending == 0 && !uv_is_closing((uv_handle_t *)&e->wakeup)) {
    uv_close((uv_handle_t *)&e->wakeup, NULL);
    uv_close((uv_handle_t *)&e->guard, NULL);
  }
}

static void exec_on_wakeup(uv_async_t *h) {
  loop_exec_t *e = h->data;
  e->wakeups++;
  inbox_node_t *n = inbox_take_all(&e->inbox);
  while (n) {
    task_t *t = (task_t *)n;
    n = n->next;
    e->ran++;
    task_ctx_t ctx = {0}; /* a thread that hosts no services */
    t->run(t, &ctx);
  }
  exec_maybe_stop(e);
}

static void exec_on_guard(uv_timer_t *h) { fail_msg("the loop waited 60 s for completions"); }

static void exec_init(loop_exec_t *e) {
  memset(e, 0, sizeof *e);
  e->ex.submit = exec_submit;
  inbox_init(&e->inbox);
  assert_int_equal(uv_loop_init(&e->loop), 0);
  uv_async_init(&e->loop, &e->wakeup, exec_on_wakeup);
  e->wakeup.data = e;
  uv_timer_init(&e->loop, &e->guard);
  uv_timer_start(&e->guard, exec_on_guard, 60000, 0);
  uv_unref((uv_handle_t *)&e->guard);
  e->thread = uv_thread_self();
}

/* Runs the loop until every expected callback ran. */
static void exec_run(loop_exec_t *e) {
  if (e->pending == 0) exec_maybe_stop(e);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_int_equal(e->pending, 0);
  assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void on_loop_thread(loop_exec_t *e) {
  uv_thread_t self = uv_thread_self();
  assert_true(uv_thread_equal(&self, &e->thread));
}

/* --- fixture ------------------------------------------------------------------------------- */

typedef struct fixture {
  char dir[64];
  store_t *s;
  loop_exec_t e;
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static store_t *open_store(const char *dir, const store_config_t *cfg) {
  char err[512];
  store_t *s = store_open_config(dir, cfg, err, sizeof err);
  if (!s) fail_msg("store_open %s: %s", dir, err);
  return s;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/cinder-store-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  f->s = open_store(f->dir, NULL);
  exec_init(&f->e);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->s) store_close(f->s);
  nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

/* The log of doc as another connection (another process) sees it. */
static size_t committed_entries(const char *dir, const char *doc) {
  char err[256];
  store_backend_t *b = store_backend_open(dir, STORE_OPEN_NOCREATE, err, sizeof err, NULL);
  if (!b) fail_msg("%s", err);
  store_load_result_t r;
  assert_int_equal(store_backend_load(b, doc, &r), 0);
  size_t n = r.count;
  store_load_result_clear(&r);
  store_backend_close(b);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- many appends from the loop, in order ---------------------------------------------------- */

typedef struct appends {
  fixture_t *f;
  store_t *s;
  int n;
  int next;            /* the index whose completion is due next */
  int flushed;
  double start, end;
} appends_t;

typedef struct append_ctx {
  appends_t *a;
  int index;
} append_ctx_t;

static void on_append(void *ctx, int status, int64_t seq) {
  append_ctx_t *c = ctx;
  appends_t *a = c->a;
  on_loop_thread(&a->f->e);
  assert_int_equal(status, 0);
  assert_int_equal(c->index, a->next); /* in submission order */
  assert_int_equal(seq, c->index + 1);
  a->next++;
  if (a->next == a->n) a->end = now_s();
  free(c);
  a->f->e.pending--;
}

static void submit_appends(appends_t *a, const char *doc, size_t size) {
  uint8_t *update = calloc(1, size);
  a->f->e.pending += a->n;
  a->start = now_s();
  for (int i = 0; i < a->n; i++) {
    append_ctx_t *c = malloc(sizeof *c);
    c->a = a;
    c->index = i;
    update[0] = (uint8_t)i;
    store_append(a->s, doc, update, size, &a->f->e.ex, on_append, c);
  }
  free(update);
}

static void on_timer_submit(uv_timer_t *t) {
  appends_t *a = t->data;
  submit_appends(a, "doc", 100);
  a->f->e.pending--; /* the timer's own hold */
  uv_close((uv_handle_t *)t, NULL);
}

static void test_appends_in_order_on_loop_thread(void **state) {
  fixture_t *f = *state;
  appends_t a = {.f = f, .s = f->s, .n = 5000};
  /* Submitted from inside the loop, as a worker would. */
  uv_timer_t t;
  uv_timer_init(&f->e.loop, &t);
  t.data = &a;
  uv_timer_start(&t, on_timer_submit, 0, 0);
  f->e.pending = 1; /* keeps the loop going until the timer has submitted */
  exec_run(&f->e);
  assert_int_equal(a.next, a.n);
  store_stats_t st;
  store_get_stats(f->s, &st);
  assert_int_equal(st.requests, 5000);
  assert_int_equal(st.failures, 0);
  print_message("5000 appends: %llu transactions, %d loop wake-ups\n",
                (unsigned long long)st.transactions, f->e.wakeups);
  assert_int_equal(committed_entries(f->dir, "doc"), 5000);
}

/* --- flush barrier --------------------------------------------------------------------------- */

typedef struct flush_check {
  fixture_t *f;
  int done;
} flush_check_t;

static void on_flush(void *ctx, int status) {
  flush_check_t *c = ctx;
  on_loop_thread(&c->f->e);
  assert_int_equal(status, 0);
  /* Everything before the barrier is committed: a second connection sees all of it (and, as
   * nothing was submitted after the barrier, nothing more). */
  c->done++;
  assert_int_equal(committed_entries(c->f->dir, "doc"), c->done == 1 ? 1000 : 1500);
  if (c->done == 1) {
    uint8_t u[32] = {1};
    for (int i = 0; i < 500; i++) store_append(c->f->s, "doc", u, sizeof u, NULL, NULL, NULL);
    c->f->e.pending++;
    store_flush(c->f->s, &c->f->e.ex, on_flush, c);
  }
  c->f->e.pending--;
}

static void test_flush_barrier(void **state) {
  fixture_t *f = *state;
  uint8_t u[32] = {1};
  for (int i = 0; i < 1000; i++) store_append(f->s, "doc", u, sizeof u, NULL, NULL, NULL);
  flush_check_t c = {f, 0};
  f->e.pending++;
  store_flush(f->s, &f->e.ex, on_flush, &c);
  exec_run(&f->e);
  assert_int_equal(c.done, 2);
}

/* --- close finishes what is queued ----------------------------------------------------------- */

static int close_done;
static void on_append_close(void *ctx, int status, int64_t seq) {
  loop_exec_t *e = ctx;
  on_loop_thread(e);
  assert_int_equal(status, 0);
  assert_int_equal(seq, ++close_done);
  e->pending--;
}

static void test_close_drains(void **state) {
  fixture_t *f = *state;
  uint8_t u[200] = {2};
  close_done = 0;
  for (int i = 0; i < 500; i++) {
    f->e.pending++;
    store_append(f->s, "doc", u, sizeof u, &f->e.ex, on_append_close, &f->e);
  }
  store_close(f->s); /* the loop is not even running: completions wait in its inbox */
  f->s = NULL;
  assert_int_equal(close_done, 0);
  exec_run(&f->e);
  assert_int_equal(close_done, 500);
  assert_int_equal(committed_entries(f->dir, "doc"), 500);
}

/* --- load after compact ---------------------------------------------------------------------- */

typedef struct load_check {
  loop_exec_t *e;
  int loads;
  int compacted;
} load_check_t;

static void on_compact(void *ctx, int status) {
  load_check_t *c = ctx;
  on_loop_thread(c->e);
  assert_int_equal(status, 0);
  c->compacted++;
  c->e->pending--;
}

static void on_load_after_compact(void *ctx, store_load_result_t *r) {
  load_check_t *c = ctx;
  on_loop_thread(c->e);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->count, 3);
  assert_int_equal(r->seq[0], 10);
  assert_int_equal(r->seq[1], 11);
  assert_int_equal(r->seq[2], 12);
  assert_int_equal(r->last_seq, 12);
  assert_int_equal(r->len[0], 5);
  assert_memory_equal(r->data[0], "STATE", 5);
  assert_memory_equal(r->data[1], "u11", 3);
  assert_memory_equal(r->data[2], "u12", 3);
  assert_int_equal(r->total_bytes, 11);
  /* The callee owns the result: keep one entry's bytes, free the rest. */
  uint8_t *kept = r->data[2];
  r->data[2] = NULL;
  store_load_result_free(r);
  assert_memory_equal(kept, "u12", 3);
  free(kept);
  c->loads++;
  c->e->pending--;
}

static void on_load_empty(void *ctx, store_load_result_t *r) {
  load_check_t *c = ctx;
  assert_int_equal(r->status, 0);
  assert_int_equal(r->count, 0);
  assert_int_equal(r->last_seq, 0);
  store_load_result_free(r);
  c->loads++;
  c->e->pending--;
}

static void test_load_after_compact(void **state) {
  fixture_t *f = *state;
  load_check_t c = {&f->e, 0, 0};
  for (int i = 1; i <= 10; i++) {
    char u[8];
    snprintf(u, sizeof u, "u%d", i);
    store_append(f->s, "doc", (const uint8_t *)u, strlen(u), NULL, NULL, NULL);
  }
  f->e.pending += 4;
  store_compact(f->s, "doc", (const uint8_t *)"STATE", 5, 10, &f->e.ex, on_compact, &c);
  store_append(f->s, "doc", (const uint8_t *)"u11", 3, NULL, NULL, NULL);
  store_append(f->s, "doc", (const uint8_t *)"u12", 3, NULL, NULL, NULL);
  store_load(f->s, "doc", &f->e.ex, on_load_after_compact, &c);
  store_load(f->s, "nobody", &f->e.ex, on_load_empty, &c);
  /* A load nobody waits for is freed by the store. */
  store_load(f->s, "doc", NULL, NULL, NULL);
  /* Reopened: the same log. */
  store_close(f->s);
  f->s = open_store(f->dir, NULL);
  store_load(f->s, "doc", &f->e.ex, on_load_after_compact, &c);
  exec_run(&f->e);
  assert_int_equal(c.compacted, 1);
  assert_int_equal(c.loads, 3);
}

/* --- one failing request in a batch ---------------------------------------------------------- */

typedef struct fail_check {
  loop_exec_t *e;
  int step;
} fail_check_t;

static void on_fail_append(void *ctx, int status, int64_t seq) {
  fail_check_t *c = ctx;
  assert_int_equal(status, 0);
  assert_true(seq == 1 || seq == 2 || seq == 3);
  c->step++;
  c->e->pending--;
}

static void on_fail_compact(void *ctx, int status) {
  fail_check_t *c = ctx;
  assert_int_equal(status, STORE_EIO);
  c->step += 100;
  c->e->pending--;
}

static void on_fail_load(void *ctx, store_load_result_t *r) {
  fail_check_t *c = ctx;
  assert_int_equal(r->status, 0);
  assert_int_equal(r->count, 3); /* the compaction left the log as it was */
  assert_int_equal(r->last_seq, 3);
  store_load_result_free(r);
  c->step += 1000;
  c->e->pending--;
}

static void test_failing_request_in_batch(void **state) {
  fixture_t *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/cinder.db", f->dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER refuse_bad BEFORE INSERT ON doc_updates "
                                    "WHEN NEW.data = CAST('BAD' AS BLOB) "
                                    "BEGIN SELECT RAISE(ABORT, 'refused'); END;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  fail_check_t c = {&f->e, 0};
  f->e.pending = 5;
  store_append(f->s, "doc", (const uint8_t *)"a", 1, &f->e.ex, on_fail_append, &c);
  store_append(f->s, "doc", (const uint8_t *)"b", 1, &f->e.ex, on_fail_append, &c);
  store_compact(f->s, "doc", (const uint8_t *)"BAD", 3, 2, &f->e.ex, on_fail_compact, &c);
  store_append(f->s, "doc", (const uint8_t *)"c", 1, &f->e.ex, on_fail_append, &c);
  store_load(f->s, "doc", &f->e.ex, on_fail_load, &c);
  exec_run(&f->e);
  assert_int_equal(c.step, 1103);
}

/* --- producers on several threads -------------------------------------------------------------- */

#define PRODUCERS 4
#define PER_PRODUCER 2000

typedef struct producer {
  fixture_t *f;
  int id;
  int64_t last_seq; /* touched only on the loop thread */
  uv_thread_t thread;
} producer_t;

static void on_producer_append(void *ctx, int status, int64_t seq) {
  producer_t *p = ctx;
  on_loop_thread(&p->f->e);
  assert_int_equal(status, 0);
  assert_int_equal(seq, p->last_seq + 1); /* per producer (and per doc), in order */
  p->last_seq = seq;
  p->f->e.pending--;
}

static void producer_main(void *arg) {
  producer_t *p = arg;
  char doc[16];
  snprintf(doc, sizeof doc, "doc%d", p->id);
  for (int i = 0; i < PER_PRODUCER; i++) {
    uint8_t u[16] = {(uint8_t)p->id, (uint8_t)i};
    store_append(p->f->s, doc, u, sizeof u, &p->f->e.ex, on_producer_append, p);
  }
}

static void test_producers_on_threads(void **state) {
  fixture_t *f = *state;
  producer_t p[PRODUCERS];
  f->e.pending = PRODUCERS * PER_PRODUCER;
  for (int i = 0; i < PRODUCERS; i++) {
    p[i] = (producer_t){.f = f, .id = i};
    assert_int_equal(uv_thread_create(&p[i].thread, producer_main, &p[i]), 0);
  }
  exec_run(&f->e);
  for (int i = 0; i < PRODUCERS; i++) {
    uv_thread_join(&p[i].thread);
    assert_int_equal(p[i].last_seq, PER_PRODUCER);
    char doc[16];
    snprintf(doc, sizeof doc, "doc%d", i);
    assert_int_equal(committed_entries(f->dir, doc), PER_PRODUCER);
  }
}

/* --- whole-transaction failures (a backend wrapped with injected faults) ------------------- */

/* Delegates to SQLite, except: a load of "gate" blocks until the test opens the gate (so that
 * everything submitted meanwhile lands in the next batch, deterministically); commit number
 * fail_commit fails (after a real rollback); an append of "BOOM" makes the database abandon the
 * transaction, as SQLite does on a full disk. */
typedef struct faulty {
  store_backend_t base; /* first */
  store_backend_t *inner;
  uv_sem_t entered, gate;
  int commits, fail_commit;
} faulty_t;

static void faulty_copy_err(faulty_t *f) {
  snprintf(f->base.errmsg, sizeof f->base.errmsg, "%s", store_backend_errmsg(f->inner));
}
static void faulty_close(store_backend_t *b) {
  faulty_t *f = (faulty_t *)b;
  store_backend_close(f->inner);
  uv_sem_destroy(&f->entered);
  uv_sem_destroy(&f->gate);
  free(f);
}
static int faulty_begin(store_backend_t *b) {
  faulty_t *f = (faulty_t *)b;
  int rc = store_backend_begin(f->inner);
  faulty_copy_err(f);
  return rc;
}
static int faulty_commit(store_backend_t *b) {
  faulty_t *f = (faulty_t *)b;
  if (++f->commits == f->fail_commit) {
    store_backend_rollback(f->inner);
    snprintf(b->errmsg, sizeof b->errmsg, "injected commit failure");
    return STORE_EIO;
  }
  int rc = store_backend_commit(f->inner);
  faulty_copy_err(f);
  return rc;
}
static int faulty_rollback(store_backend_t *b) {
  return store_backend_rollback(((faulty_t *)b)->inner);
}
static bool faulty_in_transaction(store_backend_t *b) {
  return store_backend_in_transaction(((faulty_t *)b)->inner);
}
static int faulty_load(store_backend_t *b, const char *doc, store_load_result_t *out) {
  faulty_t *f = (faulty_t *)b;
  if (!strcmp(doc, "gate")) {
    uv_sem_post(&f->entered);
    uv_sem_wait(&f->gate);
    memset(out, 0, sizeof *out);
    return 0;
  }
  int rc = store_backend_load(f->inner, doc, out);
  faulty_copy_err(f);
  return rc;
}
static int faulty_append(store_backend_t *b, const char *doc, const uint8_t *data, size_t len,
                         int64_t *seq) {
  faulty_t *f = (faulty_t *)b;
  if (len == 4 && !memcmp(data, "BOOM", 4)) {
    store_backend_rollback(f->inner);
    snprintf(b->errmsg, sizeof b->errmsg, "injected: database or disk is full");
    *seq = 0;
    return STORE_EFULL;
  }
  int rc = store_backend_append(f->inner, doc, data, len, seq);
  faulty_copy_err(f);
  return rc;
}
static int faulty_compact(store_backend_t *b, const char *doc, const uint8_t *state, size_t len,
                          int64_t upto) {
  return store_backend_compact(((faulty_t *)b)->inner, doc, state, len, upto);
}
static int faulty_list(store_backend_t *b, store_doc_info_t **docs, size_t *n) {
  return store_backend_list(((faulty_t *)b)->inner, docs, n);
}
static int faulty_remove(store_backend_t *b, const char *doc, size_t *removed) {
  return store_backend_delete(((faulty_t *)b)->inner, doc, removed);
}
static const store_backend_ops_t faulty_ops = {
    .name = "faulty", .close = faulty_close, .begin = faulty_begin, .commit = faulty_commit,
    .rollback = faulty_rollback, .in_transaction = faulty_in_transaction, .load = faulty_load,
    .append = faulty_append, .compact = faulty_compact, .list = faulty_list,
    .remove = faulty_remove,
};

static faulty_t *start_faulty(fixture_t *f) {
  store_close(f->s);
  faulty_t *fb = calloc(1, sizeof *fb);
  fb->base.ops = &faulty_ops;
  char err[256];
  fb->inner = store_backend_open(f->dir, 0, err, sizeof err, NULL);
  assert_non_null(fb->inner);
  uv_sem_init(&fb->entered, 0);
  uv_sem_init(&fb->gate, 0);
  f->s = store_start(&fb->base, NULL, err, sizeof err);
  assert_non_null(f->s);
  /* Hold the store thread inside a batch of its own. */
  store_load(f->s, "gate", NULL, NULL, NULL);
  uv_sem_wait(&fb->entered);
  return fb;
}

typedef struct fault_check {
  fixture_t *f;
  int expect_status;
  int failed, ok;
  int64_t last_seq;
} fault_check_t;

static void on_fault_append(void *ctx, int status, int64_t seq) {
  fault_check_t *c = ctx;
  on_loop_thread(&c->f->e);
  if (status) {
    assert_int_equal(status, c->expect_status);
    assert_int_equal(seq, 0);
    c->failed++;
  } else {
    assert_int_equal(seq, 1); /* nothing of the failed transaction is on disk */
    c->ok++;
  }
  c->f->e.pending--;
}

static void on_fault_load(void *ctx, store_load_result_t *r) {
  fault_check_t *c = ctx;
  assert_int_equal(r->status, 0);
  assert_int_equal(r->count, 1);
  assert_memory_equal(r->data[0], "after", 5);
  c->last_seq = r->last_seq;
  store_load_result_free(r);
  c->f->e.pending--;
}

static void on_fault_flush(void *ctx, int status) {
  fault_check_t *c = ctx;
  assert_int_equal(status, c->expect_status);
  c->failed++;
  /* The store goes on: the next transaction works. */
  store_append(c->f->s, "doc", (const uint8_t *)"after", 5, &c->f->e.ex, on_fault_append, c);
  store_load(c->f->s, "doc", &c->f->e.ex, on_fault_load, c);
  c->f->e.pending += 2; /* the two requests above */
  c->f->e.pending--;    /* this flush */
}

static void test_commit_failure_fails_the_batch(void **state) {
  fixture_t *f = *state;
  faulty_t *fb = start_faulty(f);
  fb->fail_commit = 2; /* the gate's batch commits, the next one fails */
  fault_check_t c = {.f = f, .expect_status = STORE_EIO};
  f->e.pending = 3;
  store_append(f->s, "doc", (const uint8_t *)"a1", 2, &f->e.ex, on_fault_append, &c);
  store_append(f->s, "doc", (const uint8_t *)"a2", 2, &f->e.ex, on_fault_append, &c);
  store_flush(f->s, &f->e.ex, on_fault_flush, &c);
  uv_sem_post(&fb->gate);
  exec_run(&f->e);
  assert_int_equal(c.failed, 3);
  assert_int_equal(c.ok, 1);
  assert_int_equal(c.last_seq, 1);
}

static void test_lost_transaction_mid_batch(void **state) {
  fixture_t *f = *state;
  faulty_t *fb = start_faulty(f);
  fault_check_t c = {.f = f, .expect_status = STORE_EFULL};
  f->e.pending = 5;
  store_append(f->s, "doc", (const uint8_t *)"x1", 2, &f->e.ex, on_fault_append, &c);
  store_append(f->s, "doc", (const uint8_t *)"x2", 2, &f->e.ex, on_fault_append, &c);
  store_append(f->s, "doc", (const uint8_t *)"BOOM", 4, &f->e.ex, on_fault_append, &c);
  /* After the loss the batch goes on in a new transaction. */
  store_append(f->s, "doc", (const uint8_t *)"after", 5, &f->e.ex, on_fault_append, &c);
  store_load(f->s, "doc", &f->e.ex, on_fault_load, &c);
  uv_sem_post(&fb->gate);
  exec_run(&f->e);
  assert_int_equal(c.failed, 3);
  assert_int_equal(c.ok, 1);
  assert_int_equal(c.last_seq, 1);
  store_stats_t st;
  store_get_stats(f->s, &st);
  assert_int_equal(st.failures, 3);
  assert_int_equal(committed_entries(f->dir, "doc"), 1);
}

/* --- throughput ------------------------------------------------------------------------------ */

static double measure(fixture_t *f, store_t *s, int n, uint64_t *transactions) {
  exec_init(&f->e);
  appends_t a = {.f = f, .s = s, .n = n};
  submit_appends(&a, "bench", 100);
  double submitted = now_s();
  exec_run(&f->e);
  store_stats_t st;
  store_get_stats(s, &st);
  *transactions = st.transactions;
  print_message("  submitting %d appends took %.1f ms on the loop thread\n", n,
                (submitted - a.start) * 1e3);
  return n / (a.end - a.start);
}

static void test_throughput(void **state) {
  fixture_t *f = *state;
  enum { N = 20000 };
  store_close(f->s);
  exec_run(&f->e); /* the fixture's loop is unused here (measure() makes its own) */
  uint64_t tx_one, tx_batched;
  char dir1[128], dir2[128];
  snprintf(dir1, sizeof dir1, "%s/one", f->dir);
  snprintf(dir2, sizeof dir2, "%s/batched", f->dir);
  store_config_t one = {.max_batch = 1};
  f->s = open_store(dir1, &one);
  double r_one = measure(f, f->s, N, &tx_one);
  store_close(f->s);
  f->s = open_store(dir2, NULL);
  double r_batched = measure(f, f->s, N, &tx_batched);
  print_message("store service, %d appends of 100 bytes (completion on the loop):\n"
                "  one transaction per append: %8.0f appends/s (%llu transactions)\n"
                "  batched:                    %8.0f appends/s (%llu transactions)\n",
                N, r_one, (unsigned long long)tx_one, r_batched, (unsigned long long)tx_batched);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_appends_in_order_on_loop_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flush_barrier, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_after_compact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failing_request_in_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_producers_on_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_failure_fails_the_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lost_transaction_mid_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
