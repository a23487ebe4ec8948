/* Presence (phx/phx_presence.h) with two simulated workers (phx_test_util.h): the presence of a
 * topic lives on the worker that owns the topic; channels on any worker track and untrack through
 * tasks to it; it broadcasts presence_diff through the pubsub, pushes presence_state to a tracking
 * channel that asks, and answers queries on the asking worker. Frames are read back from fake
 * transports and compared as JSON (phx_refs are generated, so they are checked apart: present,
 * unique, 16 URL-safe base64 characters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/log.h"
#include "phx/phx_presence.h"
#include "phx/phx_socket.h"
#include "phx_test_util.h"

static const phx_channel_type_t plain_channel = {.name = "plain"};

/* --- fixture: two workers, the topic owned by worker 0 ----------------------------------------- */

#define NSOCK 4

typedef struct fx {
  sim_t sim;
  phx_router_t router;
  char topic[64];  /* owned by worker 0 */
  char topic1[64]; /* owned by worker 1 */
  fake_transport_t ft[NSOCK];
  phx_socket_t *s[NSOCK];
} fx_t;

static int setup(void **state) {
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

static int teardown(void **state) {
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
static phx_channel_t *join(fx_t *f, int i, int w, const char *topic) {
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
static json_t *msg_payload(fx_t *f, int i, size_t k, const char *jr, const char *topic,
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
static void assert_presences(json_t *got, const char *want_text, const char **refs, size_t *nrefs) {
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
      assert_int_equal(strlen(r), 16);
      assert_int_equal(strspn(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                       16);
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

static void assert_diff(json_t *payload, const char *joins, const char *leaves) {
  assert_true(json_is_object(payload));
  assert_int_equal(json_object_size(payload), 2);
  assert_presences(json_object_get(payload, "joins"), joins, NULL, NULL);
  assert_presences(json_object_get(payload, "leaves"), leaves, NULL, NULL);
}

/* The phx_ref of the only meta of `key` in a presence map. */
static const char *ref_of(json_t *map, const char *key, size_t i) {
  return json_string_value(
      json_object_get(json_array_get(json_object_get(json_object_get(map, key), "metas"), i),
                      "phx_ref"));
}

/* --- queries ------------------------------------------------------------------------------------ */

typedef struct query_result {
  int calls;
  char *json;
  int on_worker; /* the worker whose queue ran the callback */
} query_result_t;

static int g_running = -1;

static void on_query(void *ctx, char *state_json) {
  query_result_t *q = ctx;
  q->calls++;
  free(q->json);
  q->json = state_json; /* ours to free */
  q->on_worker = g_running;
}

static size_t run(fx_t *f, int w) {
  g_running = w;
  size_t n = sim_run(&f->sim, w);
  g_running = -1;
  return n;
}

/* --- tests -------------------------------------------------------------------------------------- */

static void test_track_from_another_worker(void **state) {
  fx_t *f = *state;
  /* A tracks on worker 1; B watches on worker 0 (the owner), C on worker 1. */
  phx_channel_t *a = join(f, 0, 1, f->topic);
  join(f, 1, 0, f->topic);
  join(f, 2, 1, f->topic);

  json_t *meta = json_pack("{ss}", "name", "Ann");
  phx_presence_track(a, "ann", meta, true);
  json_decref(meta);
  assert_true(a->presence_tracked);
  /* Nothing happens until the owner runs its queue. */
  assert_int_equal(f->sim.w[0].queued, 1);
  assert_int_equal(f->sim.w[1].queued, 0);
  assert_int_equal(f->ft[0].n + f->ft[1].n + f->ft[2].n, 3);

  assert_int_equal(run(f, 0), 1);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 0);
  /* The owner's own subscriber has the diff at once: a broadcast [null,null,...]. */
  assert_int_equal(f->ft[1].n, 2);
  json_t *diff_b = msg_payload(f, 1, 1, NULL, f->topic, "presence_diff");
  assert_diff(diff_b, "{\"ann\":{\"metas\":[{\"name\":\"Ann\"}]}}", "{}");
  /* Worker 1 has two tasks: the state push for A, then the diff broadcast. */
  assert_int_equal(f->sim.w[1].queued, 2);
  assert_int_equal(f->ft[0].n, 1);
  assert_int_equal(run(f, 1), 2);
  /* A: presence_state (a push with its join_ref, itself included), then the diff. */
  assert_int_equal(f->ft[0].n, 3);
  json_t *st = msg_payload(f, 0, 1, "1", f->topic, "presence_state");
  assert_presences(st, "{\"ann\":{\"metas\":[{\"name\":\"Ann\"}]}}", NULL, NULL);
  json_t *diff_a = msg_payload(f, 0, 2, NULL, f->topic, "presence_diff");
  /* C: the diff only. Everyone saw the same phx_ref. */
  assert_int_equal(f->ft[2].n, 2);
  json_t *diff_c = msg_payload(f, 2, 1, NULL, f->topic, "presence_diff");
  assert_true(json_equal(diff_a, diff_b));
  assert_true(json_equal(diff_c, diff_b));
  assert_string_equal(ref_of(st, "ann", 0), ref_of(json_object_get(diff_b, "joins"), "ann", 0));
  /* The diff is one broadcast: A and C (same worker) hold the very same frame. */
  assert_ptr_equal(f->ft[0].frames[2], f->ft[2].frames[1]);
  json_decref(st);
  json_decref(diff_a);
  json_decref(diff_b);
  json_decref(diff_c);
}

static void test_push_state_optional_and_refs_unique(void **state) {
  fx_t *f = *state;
  phx_channel_t *a = join(f, 0, 1, f->topic);
  phx_channel_t *b = join(f, 1, 0, f->topic);
  phx_channel_t *c = join(f, 2, 1, f->topic);
  phx_presence_track(a, "ann", NULL, false); /* NULL meta: {} */
  phx_presence_track(c, "bob", NULL, false);
  sim_run_all(&f->sim);
  /* No state pushes: A and C got two diffs each, nothing else. */
  assert_int_equal(f->ft[0].n, 3);
  assert_int_equal(f->ft[2].n, 3);
  json_t *d1 = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  json_t *d2 = msg_payload(f, 0, 2, NULL, f->topic, "presence_diff");
  assert_diff(d1, "{\"ann\":{\"metas\":[{}]}}", "{}");
  assert_diff(d2, "{\"bob\":{\"metas\":[{}]}}", "{}");

  /* A second meta under the same key, from a channel on the owner itself, asking for the state:
   * both of ann's metas and bob's. */
  json_t *meta = json_pack("{si}", "tab", 2);
  phx_presence_track(b, "ann", meta, true);
  json_decref(meta);
  assert_int_equal(f->sim.w[0].queued, 1);
  run(f, 0); /* the track, then (posted to itself) the state push */
  assert_int_equal(f->sim.w[0].queued, 0);
  /* B: its own diff, then the state (the owner runs the state push after the track's diff was
   * delivered locally). */
  assert_int_equal(f->ft[1].n, 5);
  json_t *d3 = msg_payload(f, 1, 3, NULL, f->topic, "presence_diff");
  assert_diff(d3, "{\"ann\":{\"metas\":[{\"tab\":2}]}}", "{}");
  json_t *st = msg_payload(f, 1, 4, "1", f->topic, "presence_state");
  const char *refs[8];
  size_t nrefs = 0;
  assert_presences(st, "{\"ann\":{\"metas\":[{},{\"tab\":2}]},\"bob\":{\"metas\":[{}]}}", refs,
                   &nrefs);
  assert_int_equal(nrefs, 3);
  for (size_t i = 0; i < nrefs; i++)
    for (size_t j = i + 1; j < nrefs; j++) assert_string_not_equal(refs[i], refs[j]);
  assert_string_equal(ref_of(st, "ann", 0), ref_of(json_object_get(d1, "joins"), "ann", 0));
  assert_string_equal(ref_of(st, "bob", 0), ref_of(json_object_get(d2, "joins"), "bob", 0));
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 3);
  sim_run_all(&f->sim);
  json_decref(d1);
  json_decref(d2);
  json_decref(d3);
  json_decref(st);
}

static void test_untrack_leaves(void **state) {
  fx_t *f = *state;
  phx_channel_t *a = join(f, 0, 1, f->topic);
  join(f, 1, 0, f->topic);
  phx_channel_t *c = join(f, 2, 1, f->topic);
  phx_presence_track(a, "ann", NULL, false);
  json_t *meta = json_pack("{ss}", "k", "v");
  phx_presence_track(a, "ann2", meta, false); /* one channel, two keys */
  json_decref(meta);
  phx_presence_track(c, "cat", NULL, false);
  sim_run_all(&f->sim);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 3);
  assert_int_equal(f->ft[1].n, 4);
  json_t *j1 = msg_payload(f, 1, 1, NULL, f->topic, "presence_diff");
  json_t *j2 = msg_payload(f, 1, 2, NULL, f->topic, "presence_diff");

  /* A leaves: after its reply and phx_close, one diff with every meta A tracked as leaves, with
   * the phx_refs they joined with. */
  char leave[128];
  snprintf(leave, sizeof leave, "[\"1\",\"3\",\"%s\",\"phx_leave\",{}]", f->topic);
  size_t a_before = f->ft[0].n;
  assert_int_equal(sock_text(f->s[0], leave), 0);
  assert_int_equal(f->ft[0].n, a_before + 2);
  assert_int_equal(f->sim.w[0].queued, 1); /* the untrack */
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, a_before + 2); /* A is gone: no diff for it */
  assert_int_equal(f->ft[1].n, 5);
  json_t *l = msg_payload(f, 1, 4, NULL, f->topic, "presence_diff");
  assert_diff(l, "{}", "{\"ann\":{\"metas\":[{}]},\"ann2\":{\"metas\":[{\"k\":\"v\"}]}}");
  assert_string_equal(ref_of(json_object_get(l, "leaves"), "ann", 0),
                      ref_of(json_object_get(j1, "joins"), "ann", 0));
  assert_string_equal(ref_of(json_object_get(l, "leaves"), "ann2", 0),
                      ref_of(json_object_get(j2, "joins"), "ann2", 0));
  assert_int_equal(f->ft[2].n, 5);
  json_t *lc = msg_payload(f, 2, 4, NULL, f->topic, "presence_diff");
  assert_true(json_equal(l, lc));
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);

  /* An explicit untrack; a second one posts nothing. */
  phx_presence_untrack(c);
  assert_false(c->presence_tracked);
  assert_int_equal(f->sim.w[0].queued, 1);
  phx_presence_untrack(c);
  assert_int_equal(f->sim.w[0].queued, 1);
  sim_run_all(&f->sim);
  json_t *l2 = msg_payload(f, 1, 5, NULL, f->topic, "presence_diff");
  assert_diff(l2, "{}", "{\"cat\":{\"metas\":[{}]}}");
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
  /* A channel that never tracked posts nothing when it ends. */
  size_t posted = f->sim.posted;
  phx_socket_free(f->s[2]);
  f->s[2] = NULL;
  assert_int_equal(f->sim.posted, posted);
  json_decref(j1);
  json_decref(j2);
  json_decref(l);
  json_decref(lc);
  json_decref(l2);
}

static void test_channel_end_untracks(void **state) {
  fx_t *f = *state;
  phx_channel_t *a = join(f, 0, 1, f->topic);
  phx_channel_t *b = join(f, 1, 1, f->topic);
  join(f, 2, 0, f->topic);
  phx_presence_track(a, "a", NULL, false);
  phx_presence_track(b, "b", NULL, false);
  sim_run_all(&f->sim);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2);
  size_t n = f->ft[2].n;
  /* A crash (phx_error) and a dropped socket: each leaves. */
  phx_channel_stop(a, true);
  sim_run_all(&f->sim);
  json_t *l1 = msg_payload(f, 2, n, NULL, f->topic, "presence_diff");
  assert_diff(l1, "{}", "{\"a\":{\"metas\":[{}]}}");
  phx_socket_free(f->s[1]);
  f->s[1] = NULL;
  sim_run_all(&f->sim);
  json_t *l2 = msg_payload(f, 2, n + 1, NULL, f->topic, "presence_diff");
  assert_diff(l2, "{}", "{\"b\":{\"metas\":[{}]}}");
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
  json_decref(l1);
  json_decref(l2);
}

static void test_query(void **state) {
  fx_t *f = *state;
  phx_channel_t *a = join(f, 0, 1, f->topic);
  phx_channel_t *b = join(f, 1, 0, f->topic1); /* a topic owned by worker 1 */
  json_t *meta = json_pack("{si}", "n", 7);
  phx_presence_track(a, "ann", meta, false);
  phx_presence_track(b, "bea", meta, false);
  json_decref(meta);
  sim_run_all(&f->sim);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 1);

  /* Asked on worker 1 about worker 0's topic: answered on worker 1, after both ran. */
  query_result_t q = {0};
  phx_presence_query(&f->sim.w[1].ps, f->topic, on_query, &q);
  assert_int_equal(f->sim.w[0].queued, 1);
  run(f, 1);
  assert_int_equal(q.calls, 0);
  run(f, 0);
  assert_int_equal(q.calls, 0);
  assert_int_equal(f->sim.w[1].queued, 1);
  run(f, 1);
  assert_int_equal(q.calls, 1);
  assert_int_equal(q.on_worker, 1);
  json_t *got = json_loads(q.json, 0, NULL);
  assert_non_null(got);
  assert_presences(got, "{\"ann\":{\"metas\":[{\"n\":7}]}}", NULL, NULL);
  json_decref(got);

  /* Asked on worker 0 about worker 1's topic. */
  phx_presence_query(&f->sim.w[0].ps, f->topic1, on_query, &q);
  run(f, 1);
  run(f, 0);
  assert_int_equal(q.calls, 2);
  assert_int_equal(q.on_worker, 0);
  got = json_loads(q.json, 0, NULL);
  assert_presences(got, "{\"bea\":{\"metas\":[{\"n\":7}]}}", NULL, NULL);
  json_decref(got);

  /* Asked on the owner itself, and about a topic nobody tracks: {}. */
  phx_presence_query(&f->sim.w[0].ps, f->topic, on_query, &q);
  assert_int_equal(f->sim.w[0].queued, 1);
  run(f, 0);
  assert_int_equal(q.calls, 3);
  assert_int_equal(q.on_worker, 0);
  phx_presence_query(&f->sim.w[0].ps, "room:nobody", on_query, &q);
  sim_run_all(&f->sim);
  assert_int_equal(q.calls, 4);
  assert_string_equal(q.json, "{}");
  free(q.json);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_track_from_another_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_push_state_optional_and_refs_unique, setup, teardown),
      cmocka_unit_test_setup_teardown(test_untrack_leaves, setup, teardown),
      cmocka_unit_test_setup_teardown(test_channel_end_untracks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
