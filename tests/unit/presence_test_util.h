#ifndef CINDER_TESTS_PRESENCE_TEST_UTIL_H
#define CINDER_TESTS_PRESENCE_TEST_UTIL_H
/* The presence tests' fixture (test_phx_presence.c, test_phx_presence_cluster.c): two simulated
 * workers (phx_test_util.h), topic owned by worker 0 and topic1 by worker 1, up to NSOCK V2
 * sockets joined on either, and readers of what they were sent: a frame's payload as JSON, a
 * presence map compared without its phx_refs (generated: checked apart, PHX_UNIQUE_REF_LEN
 * URL-safe base64 characters), a presence_diff, a query answered on the asking worker.
 *
 * Include after <cmocka.h>. Everything is static inline: each test uses what it needs. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "phx/phx_presence.h"
#include "phx/phx_socket.h"
#include "phx_test_util.h"

static const phx_channel_type_t plain_channel = {.name = "plain"};

/* --- fixture: two workers, the topic owned by worker 0 ---------------------------------------- */

#define NSOCK 16

typedef struct fx {
  sim_t sim;
  phx_router_t router;
  char topic[64];  /* owned by worker 0 */
  char topic1[64]; /* owned by worker 1 */
  fake_transport_t ft[NSOCK];
  phx_socket_t *s[NSOCK];
} fx_t;

static inline int setup(void **state) {
  log_set_level(LOG_OFF);
  fx_t *f = calloc(1, sizeof *f);
  sim_init(&f->sim, 2);
  phx_router_init(&f->router);
  phx_router_add(&f->router, "room:*", &plain_channel, NULL);
  sim_name_owned_by(&f->sim, 0, "room:p", f->topic, sizeof f->topic);
  sim_name_owned_by(&f->sim, 1, "room:q", f->topic1, sizeof f->topic1);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fx_t *f = *state;
  for (int i = 0; i < NSOCK; i++) {
    if (f->s[i]) phx_socket_free(f->s[i]);
    ft_free(&f->ft[i]);
  }
  /* Untracks posted by the sockets' ends are run (or released) before the pubsubs go. */
  sim_run_all(&f->sim);
  for (int i = 0; i < f->sim.n; i++) assert_int_equal(phx_presence_count(&f->sim.w[i].ps), 0);
  sim_free(&f->sim);
  phx_router_free(&f->router);
  free(f);
  return 0;
}

/* Socket i on worker w, joined to topic with join_ref/ref "1"; returns its channel. */
static inline phx_channel_t *join(fx_t *f, int i, int w, const char *topic) {
  ft_init(&f->ft[i]);
  f->s[i] = sock_new(&f->sim.w[w], &f->ft[i], PHX_V2, &f->router, 10);
  char msg[128];
  snprintf(msg, sizeof msg, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
  assert_int_equal(sock_text(f->s[i], msg), 0);
  assert_int_equal(f->ft[i].n, 1);
  phx_channel_t *ch = phx_socket_find(f->s[i], topic);
  assert_non_null(ch);
  return ch;
}

/* Frame k of socket i as a V2 message [jr, ref, topic, event, payload]: checks the head, returns
 * the payload (a new reference). */
static inline json_t *msg_payload(fx_t *f, int i, size_t k, const char *jr, const char *topic,
                           const char *event) {
  const uint8_t *p;
  size_t len;
  assert_int_equal(ft_frame(&f->ft[i], k, &p, &len), 0x1);
  json_error_t err;
  json_t *m = json_loadb((const char *)p, len, 0, &err);
  if (!m) fail_msg("socket %d frame %zu: not JSON: %s", i, k, err.text);
  assert_true(json_is_array(m) && json_array_size(m) == 5);
  if (jr) assert_string_equal(json_string_value(json_array_get(m, 0)), jr);
  else assert_true(json_is_null(json_array_get(m, 0)));
  assert_true(json_is_null(json_array_get(m, 1)));
  assert_string_equal(json_string_value(json_array_get(m, 2)), topic);
  const char *ev = json_string_value(json_array_get(m, 3));
  if (!ev || strcmp(ev, event)) fail_msg("socket %d frame %zu: event %s, want %s", i, k, ev, event);
  json_t *payload = json_incref(json_array_get(m, 4));
  json_decref(m);
  return payload;
}

/* A presence map {key: {"metas": [...]}} with each meta's phx_ref taken out into refs[] (in
 * order of keys as given in `want`, metas in order) and the rest compared with want (JSON text,
 * without phx_refs). */
static inline void assert_presences(json_t *got, const char *want_text, const char **refs,
                                    size_t *nrefs) {
  json_t *copy = json_deep_copy(got);
  json_t *want = json_loads(want_text, 0, NULL);
  assert_non_null(want);
  const char *key;
  json_t *entry;
  json_object_foreach(copy, key, entry) {
    json_t *metas = json_object_get(entry, "metas");
    assert_true(json_is_array(metas));
    size_t i;
    json_t *meta;
    json_array_foreach(metas, i, meta) {
      json_t *ref = json_object_get(meta, "phx_ref");
      assert_true(json_is_string(ref));
      const char *r = json_string_value(ref);
      assert_int_equal(strlen(r), PHX_UNIQUE_REF_LEN);
      static const char b64url[] =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      assert_int_equal(strspn(r, b64url), PHX_UNIQUE_REF_LEN);
      if (refs) {
        /* Kept alive by `got`, which the caller holds. */
        refs[(*nrefs)++] = json_string_value(json_object_get(json_array_get(
            json_object_get(json_object_get(got, key), "metas"), i), "phx_ref"));
      }
      json_object_del(meta, "phx_ref");
    }
  }
  if (!json_equal(copy, want)) {
    char *g = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    fail_msg("presences:\n  got  %s\n  want %s", g, want_text);
  }
  json_decref(copy);
  json_decref(want);
}

static inline void assert_diff(json_t *payload, const char *joins, const char *leaves) {
  assert_true(json_is_object(payload));
  assert_int_equal(json_object_size(payload), 2);
  assert_presences(json_object_get(payload, "joins"), joins, NULL, NULL);
  assert_presences(json_object_get(payload, "leaves"), leaves, NULL, NULL);
}

/* The phx_ref of the only meta of `key` in a presence map. */
static inline const char *ref_of(json_t *map, const char *key, size_t i) {
  return json_string_value(
      json_object_get(json_array_get(json_object_get(json_object_get(map, key), "metas"), i),
                      "phx_ref"));
}

/* --- queries ---------------------------------------------------------------------------------- */

typedef struct query_result {
  int calls;
  char *json;
  int on_worker; /* the worker whose queue ran the callback */
} query_result_t;

static int g_running = -1;

static inline void on_query(void *ctx, char *state_json) {
  query_result_t *q = ctx;
  q->calls++;
  free(q->json);
  q->json = state_json; /* ours to free */
  q->on_worker = g_running;
}

static inline size_t run(fx_t *f, int w) {
  g_running = w;
  size_t n = sim_run(&f->sim, w);
  g_running = -1;
  return n;
}

static inline void set_interval(fx_t *f, unsigned ms) {
  for (int i = 0; i < f->sim.n; i++) f->sim.w[i].ps.presence_interval_ms = ms;
}

static inline size_t count_event(const fx_t *f, int i, size_t from, const char *event) {
  size_t n = 0;
  for (size_t k = from; k < f->ft[i].n; k++) {
    const uint8_t *p;
    size_t len;
    ft_frame(&f->ft[i], k, &p, &len);
    json_t *m = json_loadb((const char *)p, len, 0, NULL);
    const char *ev = json_is_array(m) ? json_string_value(json_array_get(m, 3))
                                      : json_string_value(json_object_get(m, "event"));
    if (ev && !strcmp(ev, event)) n++;
    json_decref(m);
  }
  return n;
}

static inline void leave(fx_t *f, int i, const char *topic) {
  char msg[128];
  snprintf(msg, sizeof msg, "[\"1\",\"9\",\"%s\",\"phx_leave\",{}]", topic);
  assert_int_equal(sock_text(f->s[i], msg), 0);
}

#endif
