#ifndef CINDER_TESTS_PHX_TEST_UTIL_H
#define CINDER_TESTS_PHX_TEST_UTIL_H
/* Scaffolding shared by the Phoenix layer's unit tests (and the document actor's): a fake
 * transport that records what a socket sends, and simulated workers that run tasks only when the
 * test says so, all on the test's one thread.
 *
 *   fake_transport_t   a phx_transport_t keeping a reference to every frame it is given (and the
 *                      close codes asked for); ft_text / ft_payload read a frame back without its
 *                      WebSocket header, after checking that header.
 *   sim_t              N workers, each a task_ctx_t with its pubsub in slot 0 and a FIFO of
 *                      tasks. The poster appends to the target worker's FIFO; sim_run(sim, w)
 *                      runs worker w's tasks (and those they post to w) with w's context. So a
 *                      broadcast published on worker 0 reaches worker 1's subscribers only when
 *                      the test runs worker 1.
 *
 * Include after <cmocka.h>. Everything is static inline: each test uses what it needs. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/task.h"
#include "phx/phx_channel.h"
#include "phx/phx_pubsub.h"
#include "phx/phx_socket.h"

/* --- fake transport ---------------------------------------------------------------------------- */

typedef struct fake_transport {
  phx_transport_t t; /* first: the socket calls back with it */
  frame_t **frames;
  size_t n, cap;
  int closes;
  uint16_t close_code;
} fake_transport_t;

static inline void ft_send(phx_transport_t *t, frame_t *f) {
  fake_transport_t *ft = (fake_transport_t *)t;
  if (ft->n == ft->cap) {
    ft->cap = ft->cap ? 2 * ft->cap : 16;
    ft->frames = realloc(ft->frames, ft->cap * sizeof *ft->frames);
    assert_non_null(ft->frames);
  }
  ft->frames[ft->n++] = frame_ref(f);
}

static inline void ft_close(phx_transport_t *t, uint16_t code, const char *reason) {
  fake_transport_t *ft = (fake_transport_t *)t;
  ft->closes++;
  ft->close_code = code;
}

static inline void ft_init(fake_transport_t *ft) {
  memset(ft, 0, sizeof *ft);
  ft->t.send = ft_send;
  ft->t.close = ft_close;
}

/* Drops the recorded frames (their references). */
static inline void ft_clear(fake_transport_t *ft) {
  for (size_t i = 0; i < ft->n; i++) frame_unref(ft->frames[i]);
  ft->n = 0;
}

static inline void ft_free(fake_transport_t *ft) {
  ft_clear(ft);
  free(ft->frames);
  ft->frames = NULL;
  ft->cap = 0;
}

/* Checks frame i's WebSocket header (FIN, no mask, the length matching the payload) and returns
 * its opcode; *payload / *len get the message after the header. */
static inline uint8_t ft_frame(const fake_transport_t *ft, size_t i, const uint8_t **payload,
                               size_t *len) {
  if (i >= ft->n) fail_msg("frame %zu asked for, %zu sent", i, ft->n);
  const frame_t *f = ft->frames[i];
  assert_true(f->payload_off >= 2 && f->payload_off <= f->len);
  const uint8_t *h = f->data;
  assert_int_equal(h[0] & 0xf0, 0x80); /* FIN, no RSV bits */
  assert_int_equal(h[1] & 0x80, 0);    /* a server never masks */
  size_t plen = f->len - f->payload_off;
  uint64_t declared = h[1] & 0x7f;
  if (declared == 126) {
    assert_int_equal(f->payload_off, 4);
    declared = (uint64_t)h[2] << 8 | h[3];
  } else if (declared == 127) {
    assert_int_equal(f->payload_off, 10);
    declared = 0;
    for (int k = 2; k < 10; k++) declared = declared << 8 | h[k];
  } else {
    assert_int_equal(f->payload_off, 2);
  }
  assert_int_equal(declared, plen);
  *payload = f->data + f->payload_off;
  *len = plen;
  return h[0] & 0x0f;
}

/* Frame i is a text frame with exactly this message. */
static inline void ft_assert_text(const fake_transport_t *ft, size_t i, const char *want) {
  const uint8_t *p;
  size_t len;
  uint8_t op = ft_frame(ft, i, &p, &len);
  if (op != 0x1) fail_msg("frame %zu: opcode %u, want text", i, op);
  if (len != strlen(want) || memcmp(p, want, len))
    fail_msg("frame %zu:\n  got  %.*s\n  want %s", i, (int)len, (const char *)p, want);
}

/* Frame i is a binary frame with exactly these bytes. */
static inline void ft_assert_binary(const fake_transport_t *ft, size_t i, const void *want,
                                    size_t want_len) {
  const uint8_t *p;
  size_t len;
  uint8_t op = ft_frame(ft, i, &p, &len);
  if (op != 0x2) fail_msg("frame %zu: opcode %u, want binary", i, op);
  assert_int_equal(len, want_len);
  assert_memory_equal(p, want, want_len);
}

/* --- simulated workers ------------------------------------------------------------------------- */

#define SIM_MAX_WORKERS 4

typedef struct sim_worker {
  task_ctx_t ctx;
  phx_pubsub_t ps;
  task_t *head, *tail; /* FIFO through task.node.next */
  size_t queued;
  size_t ran;
} sim_worker_t;

typedef struct sim {
  task_poster_t poster;
  sim_worker_t w[SIM_MAX_WORKERS];
  int n;
  size_t posted;
} sim_t;

static inline void sim_post(void *ctx, int worker, task_t *t) {
  sim_t *s = ctx;
  if (worker < 0 || worker >= s->n) fail_msg("task posted to worker %d of %d", worker, s->n);
  sim_worker_t *w = &s->w[worker];
  t->node.next = NULL;
  if (w->tail) w->tail->node.next = &t->node;
  else w->head = t;
  w->tail = t;
  w->queued++;
  s->posted++;
}

/* s must not move afterwards (the contexts point into it). */
static inline void sim_init(sim_t *s, int nworkers) {
  assert_true(nworkers >= 1 && nworkers <= SIM_MAX_WORKERS);
  memset(s, 0, sizeof *s);
  s->n = nworkers;
  s->poster.post = sim_post;
  s->poster.ctx = s;
  s->poster.nworkers = nworkers;
  for (int i = 0; i < nworkers; i++) {
    sim_worker_t *w = &s->w[i];
    w->ctx.worker = i;
    w->ctx.poster = &s->poster;
    w->ctx.slots[0] = (service_slot_t){&phx_pubsub_service, &w->ps};
    w->ctx.nslots = 1;
    phx_pubsub_init(&w->ps, &w->ctx);
  }
}

static inline task_t *sim_pop(sim_worker_t *w) {
  task_t *t = w->head;
  if (!t) return NULL;
  w->head = (task_t *)t->node.next;
  if (!w->head) w->tail = NULL;
  w->queued--;
  return t;
}

/* Runs worker w's queue until it is empty (tasks it posts to itself included); returns how many
 * tasks ran. */
static inline size_t sim_run(sim_t *s, int worker) {
  sim_worker_t *w = &s->w[worker];
  size_t ran = 0;
  for (task_t *t; (t = sim_pop(w));) {
    t->run(t, &w->ctx);
    ran++;
  }
  w->ran += ran;
  return ran;
}

/* Runs every worker until no task is left anywhere; returns how many ran. */
static inline size_t sim_run_all(sim_t *s) {
  size_t total = 0;
  for (;;) {
    size_t ran = 0;
    for (int i = 0; i < s->n; i++) ran += sim_run(s, i);
    if (!ran) return total;
    total += ran;
  }
}

/* Tasks left are released the way a stopped worker releases them (ctx NULL), then the pubsubs
 * are freed. */
static inline void sim_free(sim_t *s) {
  for (int i = 0; i < s->n; i++)
    for (task_t *t; (t = sim_pop(&s->w[i]));) t->run(t, NULL);
  for (int i = 0; i < s->n; i++) phx_pubsub_free(&s->w[i].ps);
}

/* A name (topic) that worker `owner` owns, built as prefix + a number. */
static inline void sim_name_owned_by(const sim_t *s, int owner, const char *prefix, char *out,
                                     size_t outlen) {
  for (int i = 0; i < 10000; i++) {
    snprintf(out, outlen, "%s%d", prefix, i);
    if (task_owner_of(&s->poster, out, strlen(out)) == owner) return;
  }
  fail_msg("no name with prefix %s is owned by worker %d", prefix, owner);
}

/* --- sockets ------------------------------------------------------------------------------------ */

/* Feeds a text message from an exact-size heap copy, so ASan sees any read past its end. */
static inline uint16_t sock_text(phx_socket_t *s, const char *msg) {
  size_t len = strlen(msg);
  char *copy = malloc(len ? len : 1);
  memcpy(copy, msg, len);
  uint16_t rc = phx_socket_handle_text(s, copy, len);
  free(copy);
  return rc;
}

static inline uint16_t sock_binary(phx_socket_t *s, const void *msg, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, msg, len);
  uint16_t rc = phx_socket_handle_binary(s, copy, len);
  free(copy);
  return rc;
}

static inline phx_socket_t *sock_new(sim_worker_t *w, fake_transport_t *ft, phx_vsn_t vsn,
                                     const phx_router_t *router, size_t max_channels) {
  phx_socket_config_t cfg = {.max_channels = max_channels, .router = router};
  return phx_socket_new(&w->ps, &ft->t, vsn, NULL, NULL, 0, &cfg);
}

#endif
