#include "net/worker.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "core/mem.h"
#include "net/conn.h"
#include "net/longpoll.h"
#include "ws/ws_frame.h"

worker_t *worker_of(task_ctx_t *ctx) {
  return ctx ? (worker_t *)((char *)ctx - offsetof(worker_t, ctx)) : NULL;
}

void worker_submit(worker_t *w, task_t *t) {
  if (inbox_push(&w->inbox, &t->node)) uv_async_send(&w->wakeup);
}

static void worker_executor_submit(executor_t *ex, task_t *t) { worker_submit((worker_t *)ex, t); }

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
  listener_close(&w->listener);
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

/* The services' hooks, in registration order (stop and free in reverse: a later service may use
 * an earlier one). Slot 0 is the pubsub, which has no hooks. */
#define WORKER_EACH_SERVICE(w, i) for (size_t i = 0; i < (w)->ctx.nslots; i++)
#define WORKER_EACH_SERVICE_REVERSE(w, i) for (size_t i = (w)->ctx.nslots; i-- > 0;)

static void worker_run_drain(task_t *t, task_ctx_t *ctx) {
  if (ctx) worker_drain(worker_of(ctx));
  free(t);
}

static void worker_run_stop(task_t *t, task_ctx_t *ctx) {
  worker_t *w = worker_of(ctx);
  if (w) {
    WORKER_EACH_SERVICE_REVERSE(w, i) {
      const service_t *svc = w->ctx.slots[i].svc;
      if (svc->stop) svc->stop(w->ctx.slots[i].state);
    }
    worker_stop_handles(w);
  }
  free(t);
}

/* Shutdown: the services stop talking to the store, then the worker reports to the main thread,
 * which closes the store once every worker has. */
static void worker_run_quiesce(task_t *t, task_ctx_t *ctx) {
  worker_t *w = worker_of(ctx);
  if (w) {
    WORKER_EACH_SERVICE(w, i) {
      const service_t *svc = w->ctx.slots[i].svc;
      if (svc->quiesce) svc->quiesce(w->ctx.slots[i].state);
    }
    server_t *srv = w->server;
    if (atomic_fetch_sub(&srv->workers_quiescing, 1) == 1) uv_async_send(&srv->all_quiesced);
  }
  free(t);
}

static void worker_request(worker_t *w, void (*run)(task_t *, task_ctx_t *)) {
  task_t *t = xmalloc(sizeof *t);
  t->run = run;
  worker_submit(w, t);
}

void worker_request_quiesce(worker_t *w) { worker_request(w, worker_run_quiesce); }
void worker_request_drain(worker_t *w) { worker_request(w, worker_run_drain); }
void worker_request_stop(worker_t *w) { worker_request(w, worker_run_stop); }

/* ctx NULL: the loop has ended and the tasks are only released. */
static void worker_run_inbox(worker_t *w, task_ctx_t *ctx) {
  inbox_node_t *node = inbox_take_all(&w->inbox);
  while (node) {
    task_t *t = (task_t *)node;
    node = node->next;
    t->run(t, ctx);
  }
}

static void worker_on_wakeup(uv_async_t *h) {
  worker_t *w = h->data;
  worker_run_inbox(w, &w->ctx);
}

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

static void worker_main(void *arg) {
  worker_t *w = arg;
  char name[16];
  snprintf(name, sizeof name, "w%d", w->id);
  log_set_thread_name(name);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  /* Tasks posted after we stopped still own memory (broadcast references, replies): run them
   * without a context, so they only release what they hold. */
  worker_run_inbox(w, NULL);
  WORKER_EACH_SERVICE_REVERSE(w, i) {
    const service_t *svc = w->ctx.slots[i].svc;
    if (svc->free) svc->free(w->ctx.slots[i].state);
  }
  longpoll_free(w);
  log_debug("stopped");
}

/* POST /api/disconnect, from any worker of any node: close this worker's sockets of that user,
 * as Phoenix apps do with Endpoint.broadcast(socket_id, "disconnect", %{}). phoenix.js reconnects
 * by itself: with a token that no longer passes, it stays out. */
static void worker_on_kick(phx_subscriber_t *sub, phx_broadcast_t *bc) {
  worker_t *w = (worker_t *)((char *)sub - offsetof(worker_t, kicks));
  json_t *p = bc->payload_json ? json_loadb(bc->payload_json, bc->payload_len, 0, NULL) : NULL;
  const char *user = json_string_value(json_object_get(p, "user"));
  size_t n = 0;
  for (conn_t *c = w->conns; user && c; c = c->next) {
    const char *u = c->state == CONN_WS && c->phx ? phx_socket_user(c->phx) : NULL;
    if (u && !strcmp(u, user)) {
      conn_ws_close(c, WS_CLOSE_NORMAL, "disconnected by the server");
      n++;
    }
  }
  if (user) n += longpoll_kick_user(w, user);
  if (n) log_info("worker %d: %zu socket(s) of user %s disconnected", w->id, n, user);
  json_decref(p);
}

int worker_init(worker_t *w, server_t *srv, int id, int listen_fd) {
  w->executor.submit = worker_executor_submit;
  dict_init(&w->conns_by_id);
  w->id = id;
  w->server = srv;
  atomic_init(&w->connections, 0);
  inbox_init(&w->inbox);
  uv_loop_init(&w->loop);
  w->loop.data = w;
  w->ctx.worker = id;
  w->ctx.loop = &w->loop;
  w->ctx.self = &w->executor;
  w->ctx.poster = &srv->poster;
  uv_async_init(&w->loop, &w->wakeup, worker_on_wakeup);
  w->wakeup.data = w;
  uv_timer_init(&w->loop, &w->sweep);
  w->sweep.data = w;
  uv_timer_start(&w->sweep, worker_on_sweep, 250, 250);
  uv_check_init(&w->loop, &w->flush);
  w->flush.data = w;
  uv_check_start(&w->flush, worker_on_flush);
  /* Listen now, on the main thread: "listening" is logged once every worker accepts. */
  if (listener_start(&w->listener, w, listen_fd) < 0) return -1;

  phx_pubsub_init(&w->pubsub, &w->ctx);
  w->pubsub.presence_interval_ms = srv->cfg.presence_interval_ms;
  w->pubsub.cluster = srv->cluster_link;
  w->kicks.deliver = worker_on_kick;
  w->kicks.id = phx_subscriber_next_id();
  phx_pubsub_subscribe(&w->pubsub, SERVER_KICK_TOPIC, &w->kicks);
  w->ctx.slots[w->ctx.nslots++] = (service_slot_t){&phx_pubsub_service, &w->pubsub};
  for (size_t i = 0; i < srv->nservices; i++) {
    const service_t *svc = srv->services[i].svc;
    void *state = svc->start ? svc->start(&w->ctx, srv->services[i].arg) : NULL;
    w->ctx.slots[w->ctx.nslots++] = (service_slot_t){svc, state};
  }
  return 0;
}

/* The pool keeps at most this many: a broadcast to 19,000 sockets has 19,000 writes in flight at
 * once, and afterwards that many requests would sit unused. */
#define WORKER_WREQ_POOL_MAX 1024

uv_write_t *worker_wreq_get(worker_t *w) {
  uv_write_t *req = w->wreq_pool;
  if (!req) return xmalloc(sizeof *req);
  w->wreq_pool = req->data;
  w->wreq_pooled--;
  return req;
}

void worker_wreq_put(worker_t *w, uv_write_t *req) {
  if (w->wreq_pooled >= WORKER_WREQ_POOL_MAX) {
    free(req);
    return;
  }
  req->data = w->wreq_pool;
  w->wreq_pool = req;
  w->wreq_pooled++;
}

static void worker_wreq_free_all(worker_t *w) {
  while (w->wreq_pool) {
    uv_write_t *req = w->wreq_pool;
    w->wreq_pool = req->data;
    free(req);
  }
  w->wreq_pooled = 0;
}

conn_t *worker_find_conn(worker_t *w, uint64_t id) {
  return dict_get(&w->conns_by_id, (const char *)&id, sizeof id);
}

int worker_start(worker_t *w) { return uv_thread_create(&w->thread, worker_main, w); }

void worker_join(worker_t *w) {
  uv_thread_join(&w->thread);
  phx_pubsub_free(&w->pubsub);
  dict_free(&w->conns_by_id);
  worker_wreq_free_all(w);
  uv_loop_close(&w->loop);
}
