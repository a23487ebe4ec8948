/* Presence (phx/phx_presence.h) with two simulated workers (phx_test_util.h): the presence of a
 * topic lives on the worker that owns the topic; channels on any worker track and untrack through
 * tasks to it; it broadcasts presence_diff through the pubsub, pushes presence_state to a tracking
 * channel that asks, and answers queries on the asking worker. Frames are read back from fake
 * transports and compared as JSON (phx_refs are generated, so they are checked apart: present,
 * unique, PHX_UNIQUE_REF_LEN URL-safe base64 characters). The fixture and the readers are shared
 * with the cluster's presence tests: presence_test_util.h.
 *
 * The first tests run with presence_interval_ms 0 (each change broadcast at once). The window
 * tests set an interval: the simulated workers have no loop, so the test ends a window itself
 * with phx_presence_flush (one test runs the real timer on a uv loop). A C port of phoenix.js's
 * Presence (syncState / syncDiff / pendingDiffs) replays what each client received in random
 * interleavings of joins, leaves, drops, workers' queues and windows: every list must end equal
 * to the owner's. */
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
#include <uv.h>

#include "core/log.h"
#include "phx/phx_presence.h"
#include "phx/phx_socket.h"
#include "presence_test_util.h"

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
  /* Worker 1 has two tasks: the diff broadcast, then (interval 0: after the diff) the state push
   * for A. */
  assert_int_equal(f->sim.w[1].queued, 2);
  assert_int_equal(f->ft[0].n, 1);
  assert_int_equal(run(f, 1), 2);
  /* A: the diff, then presence_state (a push with its join_ref, itself included: phoenix.js
   * queues the diff until the state and replays it, a no-op for a phx_ref it has). */
  assert_int_equal(f->ft[0].n, 3);
  json_t *diff_a = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  json_t *st = msg_payload(f, 0, 2, "1", f->topic, "presence_state");
  assert_presences(st, "{\"ann\":{\"metas\":[{\"name\":\"Ann\"}]}}", NULL, NULL);
  /* C: the diff only. Everyone saw the same phx_ref. */
  assert_int_equal(f->ft[2].n, 2);
  json_t *diff_c = msg_payload(f, 2, 1, NULL, f->topic, "presence_diff");
  assert_true(json_equal(diff_a, diff_b));
  assert_true(json_equal(diff_c, diff_b));
  assert_string_equal(ref_of(st, "ann", 0), ref_of(json_object_get(diff_b, "joins"), "ann", 0));
  /* The diff is one broadcast: A and C (same worker) hold the very same frame. */
  assert_ptr_equal(f->ft[0].frames[1], f->ft[2].frames[1]);
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
  run(f, 0); /* the track: the diff, then the state pushed at once (B is on the owner) */
  assert_int_equal(f->sim.w[0].queued, 0);
  /* B: its own diff, then the state. */
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

/* --- windows (presence_interval_ms > 0) ---------------------------------------------------------- */

static void test_window_coalesces_a_burst(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  phx_presence_stats_t st;
  join(f, 0, 1, f->topic); /* W: watches, tracks nothing */
  phx_channel_t *m[NSOCK];
  char key[16];
  for (int i = 1; i <= 6; i++) {
    m[i] = join(f, i, i % 2, f->topic);
    snprintf(key, sizeof key, "u%d", i);
    phx_presence_track(m[i], key, NULL, false);
  }
  sim_run_all(&f->sim);
  /* Nothing is broadcast before the window ends. */
  assert_int_equal(f->ft[0].n, 1);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 6);
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  /* One diff with the six. */
  assert_int_equal(f->ft[0].n, 2);
  json_t *d1 = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d1,
              "{\"u1\":{\"metas\":[{}]},\"u2\":{\"metas\":[{}]},\"u3\":{\"metas\":[{}]},"
              "\"u4\":{\"metas\":[{}]},\"u5\":{\"metas\":[{}]},\"u6\":{\"metas\":[{}]}}",
              "{}");
  phx_presence_stats(&f->sim.w[0].ps, &st);
  assert_int_equal(st.diffs, 1);
  for (int i = 1; i <= 6; i++) assert_int_equal(count_event(f, i, 1, "presence_diff"), 1);

  /* The next window: u1 leaves, u2's socket drops, u7 joins and leaves (cancels out), u8 joins,
   * a second meta for u3. */
  leave(f, 1, f->topic);
  phx_socket_free(f->s[2]);
  f->s[2] = NULL;
  m[7] = join(f, 7, 1, f->topic);
  phx_presence_track(m[7], "u7", NULL, false);
  m[8] = join(f, 8, 0, f->topic);
  phx_presence_track(m[8], "u8", NULL, false);
  m[9] = join(f, 9, 1, f->topic);
  json_t *tab = json_pack("{si}", "tab", 2);
  phx_presence_track(m[9], "u3", tab, false);
  json_decref(tab);
  sim_run_all(&f->sim);
  leave(f, 7, f->topic);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 2);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 6); /* u3 x2, u4, u5, u6, u8 */
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 3);
  json_t *d2 = msg_payload(f, 0, 2, NULL, f->topic, "presence_diff");
  assert_diff(d2, "{\"u3\":{\"metas\":[{\"tab\":2}]},\"u8\":{\"metas\":[{}]}}",
              "{\"u1\":{\"metas\":[{}]},\"u2\":{\"metas\":[{}]}}");
  /* Leaves name the phx_refs the members joined with. */
  assert_string_equal(ref_of(json_object_get(d2, "leaves"), "u1", 0),
                      ref_of(json_object_get(d1, "joins"), "u1", 0));
  assert_string_equal(ref_of(json_object_get(d2, "leaves"), "u2", 0),
                      ref_of(json_object_get(d1, "joins"), "u2", 0));
  /* u7 was in no diff at all (its own socket got none either). */
  assert_int_equal(count_event(f, 7, 0, "presence_diff"), 0);

  /* A window whose changes all cancel out broadcasts nothing. */
  m[10] = join(f, 10, 1, f->topic);
  phx_presence_track(m[10], "u10", NULL, false);
  sim_run_all(&f->sim);
  phx_socket_free(f->s[10]);
  f->s[10] = NULL;
  sim_run_all(&f->sim);
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 3);
  phx_presence_stats(&f->sim.w[0].ps, &st);
  assert_int_equal(st.diffs, 2);
  /* And an empty flush neither. */
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->sim.w[1].queued, 0);
  json_decref(d1);
  json_decref(d2);
}

/* Socket i on worker w, V1, joined to topic with ref "1". */
static phx_channel_t *join_v1(fx_t *f, int i, int w, const char *topic) {
  ft_init(&f->ft[i]);
  f->s[i] = sock_new(&f->sim.w[w], &f->ft[i], PHX_V1, &f->router, 10);
  char msg[160];
  snprintf(msg, sizeof msg,
           "{\"topic\":\"%s\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}", topic);
  assert_int_equal(sock_text(f->s[i], msg), 0);
  assert_int_equal(f->ft[i].n, 1);
  return phx_socket_find(f->s[i], topic);
}

/* Socket i on worker w, V2, joined with join_ref jr. */
static phx_channel_t *join_jr(fx_t *f, int i, int w, const char *topic, const char *jr) {
  ft_init(&f->ft[i]);
  f->s[i] = sock_new(&f->sim.w[w], &f->ft[i], PHX_V2, &f->router, 10);
  char msg[160];
  snprintf(msg, sizeof msg, "[\"%s\",\"%s\",\"%s\",\"phx_join\",{}]", jr, jr, topic);
  assert_int_equal(sock_text(f->s[i], msg), 0);
  return phx_socket_find(f->s[i], topic);
}

static void test_window_state_is_the_last_diff_shared(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  phx_presence_stats_t st;
  /* A (worker 1) and B (worker 0, the owner) track and ask for the state; C (worker 1) only
   * listens. */
  phx_channel_t *a = join(f, 0, 1, f->topic);
  phx_channel_t *b = join(f, 1, 0, f->topic);
  phx_channel_t *c = join(f, 2, 1, f->topic);
  phx_presence_track(a, "ann", NULL, true);
  phx_presence_track(b, "bob", NULL, true);
  phx_presence_push_state(c);
  assert_false(c->presence_tracked);
  sim_run_all(&f->sim);
  /* Everyone has the state of version 0 — {}: nothing was broadcast yet — and no diff. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(f->ft[i].n, 2);
    json_t *s0 = msg_payload(f, i, 1, "1", f->topic, "presence_state");
    assert_presences(s0, "{}", NULL, NULL);
    json_decref(s0);
  }
  /* One encoding, one frame, three references (same join_ref "1", both workers). */
  assert_ptr_equal(f->ft[0].frames[1], f->ft[1].frames[1]);
  assert_ptr_equal(f->ft[0].frames[1], f->ft[2].frames[1]);
  phx_presence_stats(&f->sim.w[0].ps, &st);
  assert_int_equal(st.states, 1);
  assert_int_equal(st.state_frames, 1);
  assert_int_equal(st.state_pushes, 3);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2); /* C is not on the list */

  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  for (int i = 0; i < 3; i++) {
    json_t *d = msg_payload(f, i, 2, NULL, f->topic, "presence_diff");
    assert_diff(d, "{\"ann\":{\"metas\":[{}]},\"bob\":{\"metas\":[{}]}}", "{}");
    json_decref(d);
  }

  /* Version 1. D (worker 1, join_ref "1") tracks dan; E (worker 0, join_ref "7") listens; F
   * (worker 1) and G (worker 0) are V1 listeners. */
  phx_channel_t *d = join(f, 3, 1, f->topic);
  phx_channel_t *e = join_jr(f, 4, 0, f->topic, "7");
  phx_channel_t *g1 = join_v1(f, 5, 1, f->topic);
  phx_channel_t *g2 = join_v1(f, 6, 0, f->topic);
  phx_presence_track(d, "dan", NULL, true);
  phx_presence_push_state(e);
  phx_presence_push_state(g1);
  phx_presence_push_state(g2);
  sim_run_all(&f->sim);
  /* D's state is version 1: ann and bob, not dan (pending in this window). */
  json_t *sd = msg_payload(f, 3, 1, "1", f->topic, "presence_state");
  assert_presences(sd, "{\"ann\":{\"metas\":[{}]},\"bob\":{\"metas\":[{}]}}", NULL, NULL);
  json_t *se = msg_payload(f, 4, 1, "7", f->topic, "presence_state");
  assert_true(json_equal(sd, se));
  /* V1: no join_ref, one frame for both. */
  assert_non_null(g1);
  assert_non_null(g2);
  {
    const uint8_t *p;
    size_t len;
    assert_int_equal(ft_frame(&f->ft[5], 1, &p, &len), 0x1);
    json_t *v1 = json_loadb((const char *)p, len, 0, NULL);
    assert_non_null(v1);
    assert_string_equal(json_string_value(json_object_get(v1, "event")), "presence_state");
    assert_string_equal(json_string_value(json_object_get(v1, "topic")), f->topic);
    assert_true(json_is_null(json_object_get(v1, "ref")));
    assert_null(json_object_get(v1, "join_ref"));
    assert_true(json_equal(json_object_get(v1, "payload"), sd));
    json_decref(v1);
  }
  assert_ptr_equal(f->ft[5].frames[1], f->ft[6].frames[1]);
  assert_ptr_not_equal(f->ft[3].frames[1], f->ft[4].frames[1]);
  phx_presence_stats(&f->sim.w[0].ps, &st);
  assert_int_equal(st.states, 2);       /* one per version */
  assert_int_equal(st.state_frames, 4); /* v0: "1"; v1: "1", "7", V1 */
  assert_int_equal(st.state_pushes, 7);

  /* The next window's diff brings dan to everyone, D included. */
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  json_t *dd = msg_payload(f, 3, 2, NULL, f->topic, "presence_diff");
  assert_diff(dd, "{\"dan\":{\"metas\":[{}]}}", "{}");
  assert_ptr_equal(f->ft[3].frames[2], f->ft[0].frames[3]);
  json_decref(sd);
  json_decref(se);
  json_decref(dd);
  /* A listener's end posts nothing. */
  size_t posted = f->sim.posted;
  phx_socket_free(f->s[2]);
  f->s[2] = NULL;
  assert_int_equal(f->sim.posted, posted);
}

/* --- phoenix.js Presence, ported: what a client's list becomes ---------------------------------- */

/* presence.js 1.8: state, pendingDiffs, and whether the state of the current join arrived. */
typedef struct js_presence {
  json_t *state;   /* key -> {"metas": [...]} */
  json_t *pending; /* diffs queued until the state */
  bool synced;
} js_presence_t;

static bool js_has_ref(json_t *metas, json_t *ref) {
  size_t i;
  json_t *m;
  json_array_foreach(metas, i, m) if (json_equal(json_object_get(m, "phx_ref"), ref)) return true;
  return false;
}

/* metas of `from` whose phx_ref is (keep_in) / is not (!keep_in) among those of `refs_of` */
static json_t *js_filter(json_t *from, json_t *refs_of, bool keep_in) {
  json_t *out = json_array();
  size_t i;
  json_t *m;
  json_array_foreach(from, i, m) if (js_has_ref(refs_of, json_object_get(m, "phx_ref")) == keep_in)
      json_array_append(out, m);
  return out;
}

static void js_sync_diff(json_t *state, json_t *diff) {
  const char *key;
  json_t *p;
  json_object_foreach(json_object_get(diff, "joins"), key, p) {
    json_t *cur = json_object_get(state, key);
    json_t *metas = json_deep_copy(json_object_get(p, "metas"));
    if (cur) {
      json_t *keep = js_filter(json_object_get(cur, "metas"), metas, false);
      json_array_extend(keep, metas);
      json_decref(metas);
      metas = keep;
    }
    json_object_set_new(state, key, json_pack("{so}", "metas", metas));
  }
  json_object_foreach(json_object_get(diff, "leaves"), key, p) {
    json_t *cur = json_object_get(state, key);
    if (!cur) continue;
    json_t *left = js_filter(json_object_get(cur, "metas"), json_object_get(p, "metas"), false);
    if (!json_array_size(left)) {
      json_decref(left);
      json_object_del(state, key);
    } else {
      json_object_set_new(cur, "metas", left);
    }
  }
}

static void js_sync_state(json_t *state, json_t *next) {
  json_t *joins = json_object(), *leaves = json_object();
  const char *key;
  json_t *p;
  json_object_foreach(state, key, p) if (!json_object_get(next, key)) json_object_set(leaves, key, p);
  json_object_foreach(next, key, p) {
    json_t *cur = json_object_get(state, key);
    if (!cur) {
      json_object_set(joins, key, p);
      continue;
    }
    json_t *joined = js_filter(json_object_get(p, "metas"), json_object_get(cur, "metas"), false);
    json_t *left = js_filter(json_object_get(cur, "metas"), json_object_get(p, "metas"), false);
    if (json_array_size(joined)) json_object_set_new(joins, key, json_pack("{sO}", "metas", joined));
    if (json_array_size(left)) json_object_set_new(leaves, key, json_pack("{sO}", "metas", left));
    json_decref(joined);
    json_decref(left);
  }
  json_t *diff = json_pack("{soso}", "joins", joins, "leaves", leaves);
  js_sync_diff(state, diff);
  json_decref(diff);
}

/* Everything socket i received, through phoenix.js's Presence (its join_ref is jr). */
static void js_replay(const fake_transport_t *ft, const char *jr, js_presence_t *js) {
  js->state = json_object();
  js->pending = json_array();
  js->synced = false;
  for (size_t k = 0; k < ft->n; k++) {
    const uint8_t *p;
    size_t len;
    ft_frame(ft, k, &p, &len);
    json_t *m = json_loadb((const char *)p, len, 0, NULL);
    assert_non_null(m);
    const char *ev = json_string_value(json_array_get(m, 3));
    json_t *payload = json_array_get(m, 4);
    if (!strcmp(ev, "presence_state")) {
      /* Channel.isMember: a message with another join_ref is dropped */
      assert_string_equal(json_string_value(json_array_get(m, 0)), jr);
      js_sync_state(js->state, payload);
      size_t i;
      json_t *d;
      json_array_foreach(js->pending, i, d) js_sync_diff(js->state, d);
      json_array_clear(js->pending);
      js->synced = true;
    } else if (!strcmp(ev, "presence_diff")) {
      if (js->synced) js_sync_diff(js->state, payload);
      else json_array_append(js->pending, payload);
    }
    json_decref(m);
  }
}

/* A list in a canonical form: keys sorted, each key's phx_refs sorted (text). */
static char *canonical(json_t *list) {
  json_t *c = json_object();
  const char *key;
  json_t *p;
  json_object_foreach(list, key, p) {
    json_t *metas = json_object_get(p, "metas");
    size_t n = json_array_size(metas);
    const char **refs = calloc(n ? n : 1, sizeof *refs);
    for (size_t i = 0; i < n; i++)
      refs[i] = json_string_value(json_object_get(json_array_get(metas, i), "phx_ref"));
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful */
      for (size_t j = i; j > 0 && strcmp(refs[j - 1], refs[j]) > 0; j--) {
        const char *t = refs[j];
        refs[j] = refs[j - 1];
        refs[j - 1] = t;
      }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(refs[i]));
    free(refs);
    json_object_set_new(c, key, a);
  }
  char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(c);
  return text;
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

#define RS 24

typedef struct rnd_member {
  fake_transport_t ft;
  phx_socket_t *s;
  int key; /* -1: a listener */
} rnd_member_t;

/* One random history: joins (identified or listeners) on both workers, leaves, dropped sockets,
 * each worker's queue run at random moments, windows ended at random (interval 0 or not). At the
 * end every joined client's phoenix.js list equals the owner's, which has exactly the
 * identified members still joined. */
static void rnd_history(uint64_t seed, unsigned interval, int steps) {
  sim_t sim;
  sim_init(&sim, 2);
  for (int i = 0; i < 2; i++) sim.w[i].ps.presence_interval_ms = interval;
  phx_router_t router;
  phx_router_init(&router);
  phx_router_add(&router, "room:*", &plain_channel, NULL);
  char topic[64];
  sim_name_owned_by(&sim, 0, "room:r", topic, sizeof topic);
  rnd_member_t *mb = calloc(RS, sizeof *mb);
  uint64_t r = seed * 0x9E3779B97F4A7C15ULL + 1;
  char msg[160];
  for (int step = 0; step < steps; step++) {
    int op = (int)(rng_next(&r) % 100);
    int i = (int)(rng_next(&r) % RS);
    if (op < 35) { /* a join in slot i, if free */
      if (mb[i].s) continue;
      ft_init(&mb[i].ft);
      mb[i].s = sock_new(&sim.w[rng_next(&r) % 2], &mb[i].ft, PHX_V2, &router, 10);
      snprintf(msg, sizeof msg, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
      assert_int_equal(sock_text(mb[i].s, msg), 0);
      phx_channel_t *ch = phx_socket_find(mb[i].s, topic);
      mb[i].key = rng_next(&r) % 4 == 0 ? -1 : (int)(rng_next(&r) % 6);
      if (mb[i].key < 0) {
        phx_presence_push_state(ch);
      } else {
        char key[8];
        snprintf(key, sizeof key, "k%d", mb[i].key);
        json_t *meta = json_pack("{si}", "slot", i);
        phx_presence_track(ch, key, meta, true);
        json_decref(meta);
      }
    } else if (op < 50) { /* a leave or a dropped socket */
      if (!mb[i].s) continue;
      if (rng_next(&r) % 2) {
        snprintf(msg, sizeof msg, "[\"1\",\"2\",\"%s\",\"phx_leave\",{}]", topic);
        assert_int_equal(sock_text(mb[i].s, msg), 0);
      }
      phx_socket_free(mb[i].s);
      mb[i].s = NULL;
      ft_free(&mb[i].ft);
    } else if (op < 85) {
      sim_run(&sim, (int)(rng_next(&r) % 2));
    } else {
      phx_presence_flush(&sim.w[0].ps);
    }
  }
  /* Quiet: every task run, every window ended. */
  do {
    sim_run_all(&sim);
    phx_presence_flush(&sim.w[0].ps);
  } while (sim.w[0].queued || sim.w[1].queued);

  /* The owner's list, by query (the API's view), and what it should hold. */
  query_result_t q = {0};
  phx_presence_query(&sim.w[0].ps, topic, on_query, &q);
  sim_run_all(&sim);
  assert_int_equal(q.calls, 1);
  json_t *owner = json_loads(q.json, 0, NULL);
  free(q.json);
  int want[6] = {0};
  size_t tracked = 0;
  for (int i = 0; i < RS; i++)
    if (mb[i].s && mb[i].key >= 0) want[mb[i].key]++, tracked++;
  assert_int_equal(phx_presence_count(&sim.w[0].ps), tracked);
  for (int k = 0; k < 6; k++) {
    char key[8];
    snprintf(key, sizeof key, "k%d", k);
    assert_int_equal(json_array_size(json_object_get(json_object_get(owner, key), "metas")), want[k]);
  }
  char *want_text = canonical(owner);
  for (int i = 0; i < RS; i++) {
    if (!mb[i].s) continue;
    js_presence_t js;
    js_replay(&mb[i].ft, "1", &js);
    assert_true(js.synced);
    char *got = canonical(js.state);
    if (strcmp(got, want_text))
      fail_msg("seed %llu interval %u, client %d:\n  got  %s\n  want %s", (unsigned long long)seed,
               interval, i, got, want_text);
    free(got);
    json_decref(js.state);
    json_decref(js.pending);
  }
  free(want_text);
  json_decref(owner);
  for (int i = 0; i < RS; i++) {
    if (mb[i].s) phx_socket_free(mb[i].s);
    ft_free(&mb[i].ft);
  }
  sim_run_all(&sim);
  phx_presence_flush(&sim.w[0].ps);
  sim_run_all(&sim);
  assert_int_equal(phx_presence_count(&sim.w[0].ps), 0);
  assert_true(phx_presence_memory(&sim.w[0].ps) <= 1024); /* the empty table of topics */
  free(mb);
  sim_free(&sim);
  phx_router_free(&router);
}

static void test_phoenix_js_lists_stay_exact(void **state) {
  (void)state;
  log_set_level(LOG_OFF);
  for (uint64_t seed = 1; seed <= 150; seed++) {
    rnd_history(seed, 50, 300);
    if (seed % 5 == 0) rnd_history(seed, 0, 200);
  }
}

/* --- the window's timer on a real loop, and memory ------------------------------------------------ */

static void test_window_timer_on_a_loop(void **state) {
  fx_t *f = *state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  f->sim.w[0].ctx.loop = &loop;
  set_interval(f, 20);
  join(f, 0, 0, f->topic);
  phx_channel_t *a = join(f, 1, 0, f->topic);
  phx_presence_track(a, "ann", NULL, false);
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  run(f, 0);
  assert_int_equal(f->ft[0].n, 1); /* the window is open */
  uv_run(&loop, UV_RUN_ONCE);       /* its timer */
  assert_true(uv_now(&loop) - t0 >= 19);
  assert_int_equal(f->ft[0].n, 2);
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"ann\":{\"metas\":[{}]}}", "{}");
  json_decref(d);
  /* A change pending when the worker stops is applied (and told, the worker is not draining)
   * and the timer is closed: the loop can end. */
  phx_presence_untrack(a);
  run(f, 0);
  assert_int_equal(f->ft[0].n, 2);
  phx_presence_stop(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 3);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  f->sim.w[0].ctx.loop = NULL;
}

#define MEM_MEMBERS 2000

static void test_memory_per_member(void **state) {
  (void)state;
  log_set_level(LOG_OFF);
  sim_t sim;
  sim_init(&sim, 1);
  sim.w[0].ps.presence_interval_ms = 50;
  phx_router_t router;
  phx_router_init(&router);
  phx_router_add(&router, "room:*", &plain_channel, NULL);
  fake_transport_t *ft = calloc(MEM_MEMBERS, sizeof *ft);
  phx_socket_t **s = calloc(MEM_MEMBERS, sizeof *s);
  for (int i = 0; i < MEM_MEMBERS; i++) {
    ft_init(&ft[i]);
    s[i] = sock_new(&sim.w[0], &ft[i], PHX_V2, &router, 10);
    assert_int_equal(sock_text(s[i], "[\"1\",\"1\",\"room:mem\",\"phx_join\",{}]"), 0);
    char key[32];
    snprintf(key, sizeof key, "user-%d", i);
    /* the meta room:* gives a member without one of its own */
    json_t *meta = json_pack("{ss}", "online_at", "1700000000");
    phx_presence_track(phx_socket_find(s[i], "room:mem"), key, meta, false);
    json_decref(meta);
  }
  sim_run_all(&sim);
  phx_presence_flush(&sim.w[0].ps);
  sim_run_all(&sim);
  assert_int_equal(phx_presence_count(&sim.w[0].ps), MEM_MEMBERS);
  size_t bytes = phx_presence_memory(&sim.w[0].ps);
  print_message("presence memory: %zu bytes for %d members: %zu bytes per member "
                "(meta {\"online_at\":...,\"phx_ref\":...} of 54 bytes, key of ~9)\n",
                bytes, MEM_MEMBERS, bytes / MEM_MEMBERS);
  /* ASan counts requested sizes (278 B here), glibc its chunks (335 B in a release build): the
   * meta (~112), its key and the key's index entry (~112), the channel's index entry (64), the
   * indexes' buckets. */
  assert_true(bytes / MEM_MEMBERS <= 400);
  for (int i = 0; i < MEM_MEMBERS; i++) {
    phx_socket_free(s[i]);
    ft_free(&ft[i]);
  }
  sim_run_all(&sim);
  phx_presence_flush(&sim.w[0].ps);
  assert_int_equal(phx_presence_count(&sim.w[0].ps), 0);
  assert_true(phx_presence_memory(&sim.w[0].ps) <= 1024); /* the empty table of topics */
  free(ft);
  free(s);
  sim_free(&sim);
  phx_router_free(&router);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_track_from_another_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_push_state_optional_and_refs_unique, setup, teardown),
      cmocka_unit_test_setup_teardown(test_untrack_leaves, setup, teardown),
      cmocka_unit_test_setup_teardown(test_channel_end_untracks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_coalesces_a_burst, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_state_is_the_last_diff_shared, setup, teardown),
      cmocka_unit_test(test_phoenix_js_lists_stay_exact),
      cmocka_unit_test_setup_teardown(test_window_timer_on_a_loop, setup, teardown),
      cmocka_unit_test(test_memory_per_member),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
