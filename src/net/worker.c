#include "net/worker.h"

#include <stdio.h>
#include <stdlib.h>

#include "activity/activity.h"
#include "core/log.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "net/conn.h"
#include "net/longpoll.h"
#include "ws/ws_frame.h"

static _Thread_local worker_t *worker_self;

worker_t *worker_current(void) { return worker_self; }

void worker_submit(worker_t *w, task_t *t) {
  if (inbox_push(&w->inbox, &t->node)) uv_async_send(&w->wakeup);
}

static void worker_executor_submit(executor_t *ex, task_t *t) { worker_submit((worker_t *)ex, t); }

/* The pubsub's hook for running a task on another worker. */
void worker_submit_to(void *ctx, int target, task_t *t) {
  server_t *srv = ctx;
  worker_submit(&srv->workers[target], t);
}

static void worker_stop_handles(worker_t *w) {
  if (!uv_is_closing((uv_handle_t *)&w->sweep)) {
    uv_close((uv_handle_t *)&w->sweep, NULL);
    uv_close((uv_handle_t *)&w->flush, NULL);
    uv_close((uv_handle_t *)&w->wakeup, NULL);
  }
}

/* Once a draining worker has no connection left it tells the main thread; the main thread stops
 * the workers only when all of them are drained, because until then any of them may still
 * publish to the others (and a closed uv_async must never be signalled). */
static void worker_check_drained(worker_t *w) {
  if (!w->draining || w->conns || w->drain_reported) return;
  w->drain_reported = true;
  server_t *srv = w->server;
  if (atomic_fetch_sub(&srv->workers_draining, 1) == 1) uv_async_send(&srv->all_drained);
}

static void worker_drain(worker_t *w) {
  if (w->draining) return;
  w->draining = true;
  w->pubsub.draining = true;
  w->drain_deadline = uv_now(&w->loop) + w->server->cfg.shutdown_timeout_ms;
  if (!uv_is_closing((uv_handle_t *)&w->listener)) uv_close((uv_handle_t *)&w->listener, NULL);
  long n = 0;
  for (conn_t *c = w->conns, *next; c; c = next) {
    next = c->next;
    /* 1012 "service restart", as Phoenix's drainer: clients reconnect (never 1000: phoenix.js
     * before 1.8.16 would stay disconnected). */
    if (c->state == CONN_WS) conn_ws_close(c, WS_CLOSE_RESTART, "server restart");
    else if (c->state == CONN_HTTP) conn_close(c);
    n++;
  }
  longpoll_close_all(w);
  log_info("draining %ld connections", n);
  worker_check_drained(w);
}

static void worker_run_drain(task_t *t) {
  worker_drain(worker_self);
  free(t);
}

static void worker_run_stop(task_t *t) {
  activity_worker_stop(worker_self);
  shared_docs_stop(worker_self);
  worker_stop_handles(worker_self);
  free(t);
}

/* Shutdown: the documents stop talking to the store, then the worker reports to the main thread,
 * which closes the store once every worker has. */
static void worker_run_quiesce(task_t *t) {
  worker_t *w = worker_self;
  shared_docs_quiesce(w);
  server_t *srv = w->server;
  if (atomic_fetch_sub(&srv->workers_quiescing, 1) == 1) uv_async_send(&srv->all_quiesced);
  free(t);
}

void worker_request_quiesce(worker_t *w) {
  task_t *t = xmalloc(sizeof *t);
  t->run = worker_run_quiesce;
  worker_submit(w, t);
}

void worker_request_drain(worker_t *w) {
  task_t *t = xmalloc(sizeof *t);
  t->run = worker_run_drain;
  worker_submit(w, t);
}

void worker_request_stop(worker_t *w) {
  task_t *t = xmalloc(sizeof *t);
  t->run = worker_run_stop;
  worker_submit(w, t);
}

static void worker_run_inbox(worker_t *w) {
  inbox_node_t *node = inbox_take_all(&w->inbox);
  while (node) {
    task_t *t = (task_t *)node;
    node = node->next;
    t->run(t);
  }
}

static void worker_on_wakeup(uv_async_t *h) { worker_run_inbox(h->data); }

static void worker_on_flush(uv_check_t *h) {
  worker_t *w = h->data;
  longpoll_flush(w); /* answers to held polls are tasks: they run on the next iteration */
  while (w->flushq) {
    conn_t *c = w->flushq;
    w->flushq = c->flush_next;
    conn_flush(c);
  }
  worker_check_drained(w);
}

static void worker_on_sweep(uv_timer_t *h) {
  worker_t *w = h->data;
  uint64_t now = uv_now(&w->loop);
  if (!w->draining) longpoll_sweep(w, now);
  for (conn_t *c = w->conns, *next; c; c = next) {
    next = c->next;
    if (w->draining && now >= w->drain_deadline) conn_close(c);
    else conn_sweep(c, now);
  }
}

static void worker_on_connection(uv_stream_t *server, int status) {
  worker_t *w = server->data;
  if (status < 0) {
    log_warn("accept failed: %s", uv_strerror(status));
    return;
  }
  conn_accept(w);
}

static void worker_main(void *arg) {
  worker_t *w = arg;
  char name[16];
  snprintf(name, sizeof name, "w%d", w->id);
  log_set_thread_name(name);
  worker_self = w;
  phx_pubsub_bind_thread(&w->pubsub);
  activity_worker_start(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  /* Tasks posted after we stopped still own memory (broadcast references, replies): run them;
   * with the loop stopped they only release what they hold. */
  worker_run_inbox(w);
  shared_docs_free(w);
  log_debug("stopped");
}

int worker_init(worker_t *w, server_t *srv, int id, int listen_fd) {
  w->executor.submit = worker_executor_submit;
  dict_init(&w->conns_by_id);
  w->id = id;
  w->server = srv;
  w->listen_fd = listen_fd;
  atomic_init(&w->connections, 0);
  inbox_init(&w->inbox);
  uv_loop_init(&w->loop);
  w->loop.data = w;
  uv_async_init(&w->loop, &w->wakeup, worker_on_wakeup);
  w->wakeup.data = w;
  uv_timer_init(&w->loop, &w->sweep);
  w->sweep.data = w;
  uv_timer_start(&w->sweep, worker_on_sweep, 250, 250);
  uv_check_init(&w->loop, &w->flush);
  w->flush.data = w;
  uv_check_start(&w->flush, worker_on_flush);
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  int rc = uv_tcp_open(&w->listener, listen_fd);
  if (rc < 0) {
    log_error("worker %d: cannot use listening socket: %s", id, uv_strerror(rc));
    return rc;
  }
  /* Listen now, on the main thread: "listening" is logged once every worker accepts. */
  rc = uv_listen((uv_stream_t *)&w->listener, 1024, worker_on_connection);
  if (rc < 0) {
    log_error("worker %d: listen failed: %s", id, uv_strerror(rc));
    return rc;
  }

  phx_pubsub_init(&w->pubsub, id, srv->nworkers, worker_submit_to, srv);
  shared_docs_init(w);
  return 0;
}

conn_t *worker_find_conn(worker_t *w, uint64_t id) {
  return dict_get(&w->conns_by_id, (const char *)&id, sizeof id);
}

int worker_start(worker_t *w) { return uv_thread_create(&w->thread, worker_main, w); }

void worker_join(worker_t *w) {
  uv_thread_join(&w->thread);
  phx_pubsub_free(&w->pubsub);
  dict_free(&w->conns_by_id);
  uv_loop_close(&w->loop);
}
