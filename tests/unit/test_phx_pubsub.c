/* The pubsub (phx/phx_pubsub.h) with simulated workers (phx_test_util.h): tasks posted to a worker
 * run only when the test runs that worker, so cross-worker delivery is observed step by step.
 * Subscribers are plain phx_subscriber_t that record what they are given. Checks subscription
 * bookkeeping, delivery once per subscriber and per worker, broadcast-from, that a broadcast is
 * encoded once (the same frame_t for every subscriber; the V1 frame built lazily, once), binary
 * broadcasts, and the reference counts of broadcasts and frames (LSan checks the rest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "phx/phx_pubsub.h"
#include "phx_test_util.h"

/* --- a recording subscriber ---------------------------------------------------------------------- */

#define RSUB_MAX 16

typedef struct rsub {
  phx_subscriber_t sub; /* first */
  int vsn;
  size_t got;
  frame_t *frames[RSUB_MAX]; /* a reference to each frame delivered, as a connection keeps one */
  phx_broadcast_t *last;     /* not a reference: only compared */
} rsub_t;

static void rsub_deliver(phx_subscriber_t *s, phx_broadcast_t *bc) {
  rsub_t *r = (rsub_t *)s;
  assert_true(r->got < RSUB_MAX);
  frame_t *f = phx_broadcast_frame(bc, r->vsn);
  r->frames[r->got++] = f ? frame_ref(f) : NULL;
  r->last = bc;
}

static void rsub_init(rsub_t *r, int vsn) {
  memset(r, 0, sizeof *r);
  r->sub.deliver = rsub_deliver;
  r->sub.id = phx_subscriber_next_id();
  r->vsn = vsn;
}

static void rsub_clear(rsub_t *r) {
  for (size_t i = 0; i < r->got; i++) frame_unref(r->frames[i]);
  r->got = 0;
  r->last = NULL;
}

/* The end of a subscriber (they live on the test's stack): unsubscribed, references dropped. */
static void rsub_done(phx_pubsub_t *ps, rsub_t *r) {
  phx_pubsub_unsubscribe(ps, &r->sub);
  rsub_clear(r);
}

/* The message of a frame (after its WebSocket header) equals want; returns the opcode. */
static uint8_t frame_is(const frame_t *f, const void *want, size_t want_len) {
  fake_transport_t ft;
  ft_init(&ft);
  frame_t *fs[1] = {(frame_t *)f};
  ft.frames = fs;
  ft.n = 1;
  const uint8_t *p;
  size_t len;
  uint8_t op = ft_frame(&ft, 0, &p, &len);
  if (len != want_len || memcmp(p, want, len))
    fail_msg("frame:\n  got  %.*s\n  want %.*s", (int)len, (const char *)p, (int)want_len,
             (const char *)want);
  return op;
}

static unsigned refs_of(const frame_t *f) { return atomic_load(&f->refs); }
static unsigned bc_refs(phx_broadcast_t *bc) { return atomic_load(&bc->refs); }

/* --- fixture ------------------------------------------------------------------------------------ */

static int setup(void **state) {
  log_set_level(LOG_OFF);
  sim_t *s = calloc(1, sizeof *s);
  sim_init(s, 2);
  *state = s;
  return 0;
}

static int setup3(void **state) {
  log_set_level(LOG_OFF);
  sim_t *s = calloc(1, sizeof *s);
  sim_init(s, 3);
  *state = s;
  return 0;
}

static int teardown(void **state) {
  sim_t *s = *state;
  sim_free(s);
  free(s);
  return 0;
}

static phx_broadcast_t *text_bc(const char *topic, const char *event, const char *json) {
  phx_broadcast_t *bc = phx_broadcast_new(topic, event, false, json, strlen(json));
  assert_non_null(bc);
  return bc;
}

/* --- subscriptions ------------------------------------------------------------------------------- */

static void test_subscribe_unsubscribe(void **state) {
  sim_t *s = *state;
  phx_pubsub_t *ps = &s->w[0].ps;
  rsub_t a, b, c, d;
  rsub_init(&a, 2);
  rsub_init(&b, 2);
  rsub_init(&c, 2);
  rsub_init(&d, 2);
  /* ids are unique and increasing */
  assert_true(a.sub.id < b.sub.id && b.sub.id < c.sub.id && c.sub.id < d.sub.id);
  assert_int_not_equal(a.sub.id, 0);

  assert_int_equal(phx_pubsub_local_count(ps, "t"), 0);
  phx_pubsub_subscribe(ps, "t", &a.sub);
  phx_pubsub_subscribe(ps, "t", &b.sub);
  phx_pubsub_subscribe(ps, "t", &c.sub);
  phx_pubsub_subscribe(ps, "u", &d.sub);
  assert_int_equal(phx_pubsub_local_count(ps, "t"), 3);
  assert_int_equal(phx_pubsub_local_count(ps, "u"), 1);
  assert_int_equal(phx_pubsub_local_count(ps, "v"), 0);
  /* Topics are exact: no prefix matching at this level. */
  assert_int_equal(phx_pubsub_local_count(ps, "tt"), 0);

  /* Remove the first: the last one is swapped into its place and is still delivered to. */
  phx_pubsub_unsubscribe(ps, &a.sub);
  assert_null(a.sub.topic);
  assert_int_equal(phx_pubsub_local_count(ps, "t"), 2);
  phx_pubsub_unsubscribe(ps, &a.sub); /* twice: harmless */
  assert_int_equal(phx_pubsub_local_count(ps, "t"), 2);
  phx_pubsub_publish(ps, text_bc("t", "e", "{}"));
  assert_int_equal(a.got, 0);
  assert_int_equal(b.got, 1);
  assert_int_equal(c.got, 1);
  assert_int_equal(d.got, 0);

  /* Remove the rest: the topic disappears, and can be subscribed again. */
  phx_pubsub_unsubscribe(ps, &c.sub);
  phx_pubsub_unsubscribe(ps, &b.sub);
  assert_int_equal(phx_pubsub_local_count(ps, "t"), 0);
  phx_pubsub_publish(ps, text_bc("t", "e", "{}"));
  assert_int_equal(b.got + c.got, 2);
  phx_pubsub_subscribe(ps, "t", &a.sub);
  assert_int_equal(phx_pubsub_local_count(ps, "t"), 1);
  phx_pubsub_publish(ps, text_bc("t", "e", "{}"));
  assert_int_equal(a.got, 1);

  /* Another worker's table is another table. */
  assert_int_equal(phx_pubsub_local_count(&s->w[1].ps, "t"), 0);
  sim_run_all(s);
  rsub_done(ps, &a);
  rsub_done(ps, &b);
  rsub_done(ps, &c);
  rsub_done(ps, &d);
}

static void test_service_slot(void **state) {
  sim_t *s = *state;
  /* A task finds its worker's pubsub through the context. */
  assert_ptr_equal(phx_pubsub_of(&s->w[0].ctx), &s->w[0].ps);
  assert_ptr_equal(phx_pubsub_of(&s->w[1].ctx), &s->w[1].ps);
  assert_null(phx_pubsub_of(NULL));
  assert_int_equal(s->w[1].ps.worker_id, 1);
  /* Owners: the same hash as task_owner_of. */
  assert_int_equal(phx_pubsub_owner_of(&s->w[0].ps, "room:x"),
                   task_owner_of(&s->poster, "room:x", 6));
  assert_int_equal(phx_pubsub_owner_of(&s->w[1].ps, "room:x"),
                   phx_pubsub_owner_of(&s->w[0].ps, "room:x"));
}

/* --- delivery ------------------------------------------------------------------------------------ */

static void test_broadcast_across_workers(void **state) {
  sim_t *s = *state;
  rsub_t a, b, c;
  rsub_init(&a, 2);
  rsub_init(&b, 2);
  rsub_init(&c, 2);
  phx_pubsub_subscribe(&s->w[0].ps, "room:1", &a.sub);
  phx_pubsub_subscribe(&s->w[0].ps, "room:1", &b.sub);
  phx_pubsub_subscribe(&s->w[1].ps, "room:1", &c.sub);

  phx_broadcast_t *bc = text_bc("room:1", "msg", "{\"n\":1}");
  phx_broadcast_ref(bc); /* the test's own, to look at it afterwards */
  phx_pubsub_publish(&s->w[0].ps, bc);
  /* Local subscribers at once, each once; the other worker has one task and nothing delivered. */
  assert_int_equal(a.got, 1);
  assert_int_equal(b.got, 1);
  assert_int_equal(c.got, 0);
  assert_int_equal(s->w[0].queued, 0);
  assert_int_equal(s->w[1].queued, 1);
  assert_int_equal(atomic_load(&s->w[0].ps.broadcasts), 1);
  assert_int_equal(atomic_load(&s->w[1].ps.broadcasts), 0);
  /* The test's reference and the task's. */
  assert_int_equal(bc_refs(bc), 2);

  assert_int_equal(sim_run(s, 1), 1);
  assert_int_equal(c.got, 1);
  assert_ptr_equal(c.last, bc);
  assert_int_equal(a.got + b.got, 2);
  assert_int_equal(bc_refs(bc), 1);

  /* Encoded once: the very same frame for every subscriber on every worker. */
  assert_ptr_equal(a.frames[0], bc->frame_v2);
  assert_ptr_equal(b.frames[0], bc->frame_v2);
  assert_ptr_equal(c.frames[0], bc->frame_v2);
  assert_int_equal(refs_of(bc->frame_v2), 4); /* the broadcast's + three subscribers' */
  static const char want[] = "[null,null,\"room:1\",\"msg\",{\"n\":1}]";
  assert_int_equal(frame_is(bc->frame_v2, want, strlen(want)), 0x1);
  /* No V1 subscriber: no V1 frame was built. */
  assert_null(atomic_load(&bc->frame_v1));

  /* The broadcast goes; the frame lives on in the subscribers' queues until they let go. */
  frame_t *f = bc->frame_v2;
  phx_broadcast_unref(bc);
  assert_int_equal(refs_of(f), 3);
  rsub_clear(&a);
  rsub_clear(&b);
  assert_int_equal(refs_of(f), 1);
  rsub_clear(&c); /* the last reference: freed (ASan would see a use after free above) */

  /* A topic with no subscriber on the other worker still costs that worker one task, which
   * delivers nothing. */
  phx_pubsub_publish(&s->w[1].ps, text_bc("room:none", "x", "{}"));
  assert_int_equal(s->w[0].queued, 1);
  assert_int_equal(sim_run_all(s), 1);
  assert_int_equal(a.got + b.got + c.got, 0);
  rsub_done(&s->w[0].ps, &a);
  rsub_done(&s->w[0].ps, &b);
  rsub_done(&s->w[1].ps, &c);
}

static void test_three_workers(void **state) {
  sim_t *s = *state;
  rsub_t r[3];
  for (int i = 0; i < 3; i++) {
    rsub_init(&r[i], 2);
    phx_pubsub_subscribe(&s->w[i].ps, "t", &r[i].sub);
  }
  /* From worker 1: delivered there, one task to each of the others, none to itself. */
  phx_pubsub_publish(&s->w[1].ps, text_bc("t", "e", "{}"));
  assert_int_equal(r[1].got, 1);
  assert_int_equal(s->w[0].queued, 1);
  assert_int_equal(s->w[1].queued, 0);
  assert_int_equal(s->w[2].queued, 1);
  assert_int_equal(sim_run(s, 2), 1);
  assert_int_equal(r[2].got, 1);
  assert_int_equal(r[0].got, 0);
  assert_int_equal(sim_run(s, 0), 1);
  assert_int_equal(r[0].got, 1);
  for (int i = 0; i < 3; i++) {
    assert_ptr_equal(r[i].frames[0], r[1].frames[0]);
  }
  for (int i = 0; i < 3; i++) rsub_done(&s->w[i].ps, &r[i]);
}

static void test_broadcast_from(void **state) {
  sim_t *s = *state;
  rsub_t a, b, c;
  rsub_init(&a, 2);
  rsub_init(&b, 2);
  rsub_init(&c, 2);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &a.sub);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &b.sub);
  phx_pubsub_subscribe(&s->w[1].ps, "t", &c.sub);
  /* From a: everyone but a, on both workers. */
  phx_broadcast_t *bc = text_bc("t", "e", "{}");
  bc->from_id = a.sub.id;
  phx_pubsub_publish(&s->w[0].ps, bc);
  sim_run_all(s);
  assert_int_equal(a.got, 0);
  assert_int_equal(b.got, 1);
  assert_int_equal(c.got, 1);
  /* From c, published on worker 0 (ids are process-wide, so the origin may be elsewhere). */
  bc = text_bc("t", "e", "{}");
  bc->from_id = c.sub.id;
  phx_pubsub_publish(&s->w[0].ps, bc);
  sim_run_all(s);
  assert_int_equal(a.got, 1);
  assert_int_equal(b.got, 2);
  assert_int_equal(c.got, 1);
  /* A from_id nobody has skips nobody. */
  bc = text_bc("t", "e", "{}");
  bc->from_id = phx_subscriber_next_id();
  phx_pubsub_publish(&s->w[1].ps, bc);
  sim_run_all(s);
  assert_int_equal(a.got, 2);
  assert_int_equal(b.got, 3);
  assert_int_equal(c.got, 2);
  rsub_done(&s->w[0].ps, &a);
  rsub_done(&s->w[0].ps, &b);
  rsub_done(&s->w[1].ps, &c);
}

/* --- frames per serializer ----------------------------------------------------------------------- */

static void test_v1_frame_lazy_once(void **state) {
  sim_t *s = *state;
  rsub_t v2, v1a, v1b;
  rsub_init(&v2, 2);
  rsub_init(&v1a, 1);
  rsub_init(&v1b, 1);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &v2.sub);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &v1a.sub);
  phx_pubsub_subscribe(&s->w[1].ps, "t", &v1b.sub);

  /* Before any V1 subscriber asks, there is none; asking twice gives the same frame. */
  phx_broadcast_t *bc = text_bc("t", "ev", "{\"k\":[1,2]}");
  assert_null(atomic_load(&bc->frame_v1));
  frame_t *f1 = phx_broadcast_frame(bc, PHX_V1);
  assert_non_null(f1);
  assert_ptr_equal(phx_broadcast_frame(bc, PHX_V1), f1);
  assert_ptr_equal(atomic_load(&bc->frame_v1), f1);
  assert_int_equal(refs_of(f1), 1); /* held by the broadcast only */
  static const char want1[] = "{\"topic\":\"t\",\"event\":\"ev\",\"payload\":{\"k\":[1,2]},\"ref\":null}";
  assert_int_equal(frame_is(f1, want1, strlen(want1)), 0x1);
  assert_ptr_equal(phx_broadcast_frame(bc, PHX_V2), bc->frame_v2);
  assert_ptr_not_equal(f1, bc->frame_v2);

  /* Published: both V1 subscribers (on two workers) get that one V1 frame. */
  phx_broadcast_ref(bc);
  phx_pubsub_publish(&s->w[0].ps, bc);
  sim_run_all(s);
  assert_ptr_equal(v1a.frames[0], f1);
  assert_ptr_equal(v1b.frames[0], f1);
  assert_ptr_equal(v2.frames[0], bc->frame_v2);
  assert_int_equal(refs_of(f1), 3);
  phx_broadcast_unref(bc);
  assert_int_equal(refs_of(f1), 2);

  /* Built lazily by the delivery itself (on the worker of the first V1 subscriber). */
  bc = text_bc("t", "ev2", "{}");
  phx_broadcast_ref(bc);
  phx_pubsub_publish(&s->w[1].ps, bc); /* worker 1 has only V1 subscriber v1b */
  frame_t *lazy = atomic_load(&bc->frame_v1);
  assert_non_null(lazy);
  assert_ptr_equal(v1b.frames[1], lazy);
  sim_run_all(s);
  assert_ptr_equal(v1a.frames[1], lazy);
  assert_ptr_equal(v2.frames[1], bc->frame_v2);
  phx_broadcast_unref(bc);

  rsub_done(&s->w[0].ps, &v2);
  rsub_done(&s->w[0].ps, &v1a);
  rsub_done(&s->w[1].ps, &v1b);
}

static void test_binary_broadcast(void **state) {
  sim_t *s = *state;
  rsub_t v2, v1;
  rsub_init(&v2, 2);
  rsub_init(&v1, 1);
  phx_pubsub_subscribe(&s->w[0].ps, "doc:1", &v2.sub);
  phx_pubsub_subscribe(&s->w[1].ps, "doc:1", &v1.sub);
  static const uint8_t payload[] = {0x00, 0x02, 0xff, 0x00};
  phx_broadcast_t *bc = phx_broadcast_new("doc:1", "yjs", true, payload, sizeof payload);
  assert_non_null(bc);
  assert_true(bc->binary);
  /* kind 2: 02 TL EL topic event payload */
  static const uint8_t want[] = {2, 5, 3, 'd', 'o', 'c', ':', '1', 'y', 'j', 's',
                                 0x00, 0x02, 0xff, 0x00};
  assert_int_equal(frame_is(bc->frame_v2, want, sizeof want), 0x2);
  /* No V1 frame, ever. */
  assert_null(phx_broadcast_frame(bc, PHX_V1));
  assert_null(atomic_load(&bc->frame_v1));
  assert_null(bc->payload_json);

  phx_broadcast_ref(bc);
  phx_pubsub_publish(&s->w[0].ps, bc);
  sim_run_all(s);
  /* The V1 subscriber was handed the broadcast and found no frame for it. */
  assert_int_equal(v1.got, 1);
  assert_null(v1.frames[0]);
  assert_ptr_equal(v2.frames[0], bc->frame_v2);
  assert_null(atomic_load(&bc->frame_v1));
  phx_broadcast_unref(bc);

  /* A topic or event that does not fit a binary header: no broadcast. */
  char longtopic[300];
  memset(longtopic, 'x', 256);
  longtopic[256] = 0;
  assert_null(phx_broadcast_new(longtopic, "yjs", true, payload, sizeof payload));
  /* ... while a JSON broadcast has no such limit. */
  bc = phx_broadcast_new(longtopic, "e", false, "{}", 2);
  assert_non_null(bc);
  phx_broadcast_unref(bc);
  rsub_done(&s->w[0].ps, &v2);
  rsub_done(&s->w[1].ps, &v1);
}

/* --- references ---------------------------------------------------------------------------------- */

static void test_released_task_drops_its_reference(void **state) {
  sim_t *s = *state;
  rsub_t c;
  rsub_init(&c, 2);
  phx_pubsub_subscribe(&s->w[1].ps, "t", &c.sub);
  phx_broadcast_t *bc = text_bc("t", "e", "{}");
  phx_broadcast_ref(bc);
  phx_pubsub_publish(&s->w[0].ps, bc);
  assert_int_equal(bc_refs(bc), 2);
  /* A stopped worker releases what is left in its inbox with a NULL context: nothing delivered,
   * the reference let go. */
  task_t *t = sim_pop(&s->w[1]);
  assert_non_null(t);
  t->run(t, NULL);
  assert_int_equal(c.got, 0);
  assert_int_equal(bc_refs(bc), 1);
  phx_broadcast_unref(bc);

  /* One left in the queue at teardown is released by sim_free the same way (LSan checks). */
  phx_pubsub_publish(&s->w[0].ps, text_bc("t", "e", "{}"));
  assert_int_equal(s->w[1].queued, 1);
  phx_pubsub_unsubscribe(&s->w[1].ps, &c.sub);
}

static void test_draining_delivers_nothing(void **state) {
  sim_t *s = *state;
  rsub_t a, c;
  rsub_init(&a, 2);
  rsub_init(&c, 2);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &a.sub);
  phx_pubsub_subscribe(&s->w[1].ps, "t", &c.sub);
  s->w[1].ps.draining = true;
  phx_pubsub_publish(&s->w[0].ps, text_bc("t", "e", "{}"));
  sim_run_all(s);
  assert_int_equal(a.got, 1);
  assert_int_equal(c.got, 0);
  /* Delivering directly is refused too. */
  phx_broadcast_t *bc = text_bc("t", "e", "{}");
  phx_pubsub_deliver_local(&s->w[1].ps, bc);
  assert_int_equal(c.got, 0);
  phx_pubsub_deliver_local(&s->w[0].ps, bc);
  assert_int_equal(a.got, 2);
  phx_broadcast_unref(bc);
  rsub_done(&s->w[0].ps, &a);
  rsub_done(&s->w[1].ps, &c);
}

static void test_pubsub_free_detaches(void **state) {
  sim_t *s = *state;
  rsub_t a, b;
  rsub_init(&a, 2);
  rsub_init(&b, 2);
  phx_pubsub_subscribe(&s->w[0].ps, "t", &a.sub);
  phx_pubsub_subscribe(&s->w[0].ps, "u", &b.sub);
  /* Freeing a pubsub with subscribers left marks them unsubscribed (teardown frees again: the
   * tables are reinitialised first so that a second free is harmless). */
  phx_pubsub_free(&s->w[0].ps);
  assert_null(a.sub.topic);
  assert_null(b.sub.topic);
  phx_pubsub_init(&s->w[0].ps, &s->w[0].ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_subscribe_unsubscribe, setup, teardown),
      cmocka_unit_test_setup_teardown(test_service_slot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_across_workers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_three_workers, setup3, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_from, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_frame_lazy_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_binary_broadcast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_released_task_drops_its_reference, setup, teardown),
      cmocka_unit_test_setup_teardown(test_draining_delivers_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pubsub_free_detaches, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
