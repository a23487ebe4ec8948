/* Presence across nodes, the presence side (phx/phx_presence.h, "Members of other nodes"): with
 * the two simulated workers of presence_test_util.h, the test plays the cluster's bus itself —
 * it calls phx_presence_remote_track / remote_untrack / remote_sweep on the owner's pubsub as the
 * bus's tasks would, and reads phx_presence_local_each as a state transfer would — and checks
 * what this node's clients see: remote members in presence_diff and presence_state like local
 * ones, with the meta text their node sent, no twin and no flicker when a transfer confirms a
 * member again, and a peer's sweep touching only that peer's members.
 *
 * A fake phx_cluster_link_t on every pubsub records what the presence hands to the bus: local
 * tracks (the meta with this node's "node" before its phx_ref) and untracks, and nothing for
 * remote members (their own node announces them). */
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

#include "phx/phx_presence.h"
#include "presence_test_util.h"

/* --- remote members --------------------------------------------------------------------------- */

#define PEER_B 1 /* a peer's slot, as the bus numbers them (from 1) */
#define PEER_C 2
#define PEER_D 3

/* A meta as a peer sends it: its fields, "node", and a phx_ref of refc repeated. */
static void rmeta(char *out, size_t cap, const char *fields, char refc) {
  char ref[PHX_UNIQUE_REF_LEN + 1];
  memset(ref, refc, PHX_UNIQUE_REF_LEN);
  ref[PHX_UNIQUE_REF_LEN] = '\0';
  snprintf(out, cap, "{%s%s\"node\":\"b:4001\",\"phx_ref\":\"%s\"}", fields, *fields ? "," : "",
           ref);
}

static phx_pubsub_t *owner_ps(fx_t *f, const char *topic) {
  return &f->sim.w[phx_pubsub_owner_of(&f->sim.w[0].ps, topic)].ps;
}

static void rtrack(fx_t *f, const char *topic, uint32_t node, uint32_t epoch, uint64_t channel_id,
                   const char *key, const char *meta) {
  phx_presence_remote_track(owner_ps(f, topic), topic, node, epoch, channel_id, key, meta,
                            strlen(meta));
}

static void runtrack(fx_t *f, const char *topic, uint32_t node, uint64_t channel_id) {
  phx_presence_remote_untrack(owner_ps(f, topic), topic, node, channel_id);
}

/* Frame k of socket i holds these exact bytes (a meta as its node wrote it). */
static void assert_frame_has(fx_t *f, int i, size_t k, const char *text) {
  const uint8_t *p;
  size_t len;
  ft_frame(&f->ft[i], k, &p, &len);
  if (!memmem(p, len, text, strlen(text)))
    fail_msg("socket %d frame %zu:\n  %.*s\nlacks\n  %s", i, k, (int)len, (const char *)p, text);
}

static uint64_t diffs_of(fx_t *f, int w) {
  phx_presence_stats_t st;
  phx_presence_stats(&f->sim.w[w].ps, &st);
  return st.diffs;
}

/* Peers' members outlive the sockets: the peers go down before the shared teardown checks that
 * nothing is left. */
static int cl_teardown(void **state) {
  fx_t *f = *state;
  for (int w = 0; w < f->sim.n; w++) {
    for (uint32_t node = PEER_B; node <= PEER_D; node++)
      phx_presence_remote_sweep(&f->sim.w[w].ps, node, UINT32_MAX);
    phx_presence_flush(&f->sim.w[w].ps);
  }
  return teardown(state);
}

/* --- tests ------------------------------------------------------------------------------------ */

static void test_remote_track_joins_diff_and_state(void **state) {
  fx_t *f = *state;
  join(f, 0, 1, f->topic); /* a watcher on the other worker */
  join(f, 1, 0, f->topic); /* and one on the owner */
  /* Key order, spacing and the \u escape are the peer's: a re-encoding would change them. */
  char meta[256];
  rmeta(meta, sizeof meta, "\"z\":[1, 2],\"a\":\"\\u00e9\"", 'R');
  rtrack(f, f->topic, PEER_B, 1, 500, "rita", meta);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  /* Interval 0: the owner's own watcher has the diff at once, the other after its worker ran. */
  assert_int_equal(f->ft[1].n, 2);
  assert_int_equal(f->ft[0].n, 1);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 2);
  for (int i = 0; i < 2; i++) {
    json_t *d = msg_payload(f, i, 1, NULL, f->topic, "presence_diff");
    assert_diff(d, "{\"rita\":{\"metas\":[{\"z\":[1,2],\"a\":\"\\u00e9\",\"node\":\"b:4001\"}]}}",
                "{}");
    assert_string_equal(ref_of(json_object_get(d, "joins"), "rita", 0), "RRRRRRRRRRRRRRRRRRRR");
    assert_frame_has(f, i, 1, meta);
    json_decref(d);
  }

  /* A local member beside it; then a joiner on worker 1 gets both in its presence_state. */
  phx_channel_t *lou = join(f, 2, 1, f->topic);
  phx_presence_track(lou, "lou", NULL, false);
  sim_run_all(&f->sim);
  phx_channel_t *joiner = join(f, 3, 1, f->topic);
  phx_presence_push_state(joiner);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[3].n, 2);
  json_t *st = msg_payload(f, 3, 1, "1", f->topic, "presence_state");
  assert_presences(st,
                   "{\"rita\":{\"metas\":[{\"z\":[1,2],\"a\":\"\\u00e9\",\"node\":\"b:4001\"}]},"
                   "\"lou\":{\"metas\":[{}]}}",
                   NULL, NULL);
  assert_frame_has(f, 3, 1, meta);
  json_decref(st);

  /* The API's view (a query) lists it too, with the same text. */
  query_result_t q = {0};
  phx_presence_query(&f->sim.w[1].ps, f->topic, on_query, &q);
  sim_run_all(&f->sim);
  assert_int_equal(q.calls, 1);
  assert_non_null(strstr(q.json, meta));
  free(q.json);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2);
}

static void test_remote_untrack_leaves_only_that_channel(void **state) {
  fx_t *f = *state;
  join(f, 0, 0, f->topic);
  phx_channel_t *lou = join(f, 1, 1, f->topic);
  phx_presence_track(lou, "lou", NULL, false);
  sim_run_all(&f->sim);
  char m1[128], m2[128], m3[128], m4[128];
  rmeta(m1, sizeof m1, "\"tab\":1", 'A');
  rmeta(m2, sizeof m2, "\"tab\":2", 'B');
  rmeta(m3, sizeof m3, "", 'C');
  rmeta(m4, sizeof m4, "", 'D');
  /* One remote channel with two keys; the same channel id on another peer; and on a peer, the id
   * of the local channel (ids are per node: they may meet). */
  rtrack(f, f->topic, PEER_B, 1, 5, "rita", m1);
  rtrack(f, f->topic, PEER_B, 1, 5, "rita2", m2);
  rtrack(f, f->topic, PEER_C, 1, 5, "sam", m3);
  rtrack(f, f->topic, PEER_B, 1, lou->sub.id, "ray", m4);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 5);
  size_t n = f->ft[0].n;

  runtrack(f, f->topic, PEER_C, 5);
  assert_int_equal(f->ft[0].n, n + 1);
  json_t *d = msg_payload(f, 0, n, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"sam\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  assert_string_equal(ref_of(json_object_get(d, "leaves"), "sam", 0), "CCCCCCCCCCCCCCCCCCCC");
  json_decref(d);

  /* Both metas of the channel leave in one diff. */
  runtrack(f, f->topic, PEER_B, 5);
  assert_int_equal(f->ft[0].n, n + 2);
  d = msg_payload(f, 0, n + 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}",
              "{\"rita\":{\"metas\":[{\"tab\":1,\"node\":\"b:4001\"}]},"
              "\"rita2\":{\"metas\":[{\"tab\":2,\"node\":\"b:4001\"}]}}");
  json_decref(d);

  /* Untracks of what is not there change nothing and broadcast nothing. */
  uint64_t diffs = diffs_of(f, 0);
  runtrack(f, f->topic, PEER_B, 5);
  runtrack(f, f->topic, PEER_D, lou->sub.id);
  runtrack(f, "room:nobody-tracks-here", PEER_B, 5);
  assert_int_equal(diffs_of(f, 0), diffs);
  assert_int_equal(f->ft[0].n, n + 2);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2);

  /* The remote channel that shares the local one's id: each leaves alone. */
  runtrack(f, f->topic, PEER_B, lou->sub.id);
  d = msg_payload(f, 0, n + 2, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"ray\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  phx_presence_untrack(lou);
  sim_run_all(&f->sim);
  d = msg_payload(f, 0, n + 3, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"lou\":{\"metas\":[{}]}}");
  json_decref(d);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
}

static void test_confirm_again_no_twin_no_flicker(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  join(f, 0, 1, f->topic);
  char m[128];
  rmeta(m, sizeof m, "\"name\":\"Rita\"", 'R');
  rtrack(f, f->topic, PEER_B, 1, 9, "rita", m);
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 2);
  uint64_t diffs = diffs_of(f, 0);

  /* A track message and a transfer's part both bring it: one member. */
  rtrack(f, f->topic, PEER_B, 2, 9, "rita", m);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  /* A transfer ends (epoch 3) before its part with this member arrived... */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, 3);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
  /* ...which arrives within the window: the member is back, the same one. */
  rtrack(f, f->topic, PEER_B, 3, 9, "rita", m);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  /* The peer timed out and came back within the window (UINT32_MAX sweep, then a transfer). */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  rtrack(f, f->topic, PEER_B, 4, 9, "rita", m);
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  /* No leave and join of one phx_ref (phoenix.js would apply the join, then drop the member). */
  assert_int_equal(diffs_of(f, 0), diffs);
  assert_int_equal(f->ft[0].n, 2);

  /* A joiner sees it once; its untrack leaves it with the ref it joined with. */
  phx_channel_t *joiner = join(f, 1, 1, f->topic);
  phx_presence_push_state(joiner);
  sim_run_all(&f->sim);
  json_t *st = msg_payload(f, 1, 1, "1", f->topic, "presence_state");
  assert_presences(st, "{\"rita\":{\"metas\":[{\"name\":\"Rita\",\"node\":\"b:4001\"}]}}", NULL,
                   NULL);
  json_decref(st);
  /* A sweep of an older transfer than the member's epoch (4) keeps it. */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, 4);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  runtrack(f, f->topic, PEER_B, 9);
  phx_presence_flush(&f->sim.w[0].ps);
  sim_run_all(&f->sim);
  json_t *d = msg_payload(f, 0, 2, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"rita\":{\"metas\":[{\"name\":\"Rita\",\"node\":\"b:4001\"}]}}");
  assert_string_equal(ref_of(json_object_get(d, "leaves"), "rita", 0), "RRRRRRRRRRRRRRRRRRRR");
  json_decref(d);
}

static void test_revived_under_the_peers_new_slot(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  join(f, 0, 0, f->topic);
  char m[128];
  rmeta(m, sizeof m, "\"name\":\"Rita\"", 'R');
  rtrack(f, f->topic, PEER_B, 1, 9, "rita", m);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 2);
  uint64_t diffs = diffs_of(f, 0);
  /* The peer was taken for down a moment too early; heard again, it gets a new slot and its
   * transfer brings the member back within the window: the same member (its phx_ref is in the
   * text), no leave and join. */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  rtrack(f, f->topic, PEER_C, 1, 9, "rita", m);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(diffs_of(f, 0), diffs);
  assert_int_equal(f->ft[0].n, 2);
  /* It now belongs to the new slot: the old one's untrack and sweep do not reach it. */
  runtrack(f, f->topic, PEER_B, 9);
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 2);
  /* The new slot's untrack: the leave carries the ref it joined with. */
  runtrack(f, f->topic, PEER_C, 9);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 0);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 3);
  json_t *d = msg_payload(f, 0, 2, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"rita\":{\"metas\":[{\"name\":\"Rita\",\"node\":\"b:4001\"}]}}");
  assert_string_equal(ref_of(json_object_get(d, "leaves"), "rita", 0), "RRRRRRRRRRRRRRRRRRRR");
  json_decref(d);
}

static void test_confirm_within_first_window_is_one_join(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  join(f, 0, 0, f->topic);
  char m[128], m2[128];
  rmeta(m, sizeof m, "", 'S');
  rmeta(m2, sizeof m2, "\"tab\":2", 'T');
  /* Tracked, swept, tracked again, all before any diff: one join. */
  rtrack(f, f->topic, PEER_B, 1, 3, "sam", m);
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  rtrack(f, f->topic, PEER_B, 2, 3, "sam", m);
  rtrack(f, f->topic, PEER_B, 2, 3, "sam", m);
  /* Another meta of that channel (another text) is a second member entry, not a confirmation. */
  rtrack(f, f->topic, PEER_B, 2, 3, "sam", m2);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 2);
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"sam\":{\"metas\":[{\"node\":\"b:4001\"},{\"tab\":2,\"node\":\"b:4001\"}]}}",
              "{}");
  json_decref(d);
  /* Tracked and swept within one window: in no diff at all. */
  rtrack(f, f->topic, PEER_C, 1, 4, "tom", m2);
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_C, UINT32_MAX);
  phx_presence_flush(&f->sim.w[0].ps);
  assert_int_equal(f->ft[0].n, 2);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2);
}

static void test_sweep_only_that_peer_and_older_epochs(void **state) {
  fx_t *f = *state;
  char topic2[64];
  sim_name_owned_by(&f->sim, 0, "room:s", topic2, sizeof topic2);
  join(f, 0, 0, f->topic);
  join(f, 1, 1, topic2);
  phx_channel_t *lou = join(f, 2, 1, f->topic);
  phx_presence_track(lou, "lou", NULL, false);
  sim_run_all(&f->sim);
  char m[4][128];
  for (int i = 0; i < 4; i++) rmeta(m[i], sizeof m[i], "", (char)('A' + i));
  rtrack(f, f->topic, PEER_B, 1, 1, "b1", m[0]);
  rtrack(f, f->topic, PEER_B, 2, 2, "b2", m[1]);
  rtrack(f, f->topic, PEER_B, 3, 3, "b3", m[2]);
  rtrack(f, f->topic, PEER_C, 1, 1, "c1", m[0]);
  rtrack(f, topic2, PEER_B, 1, 1, "b1", m[0]);
  rtrack(f, f->topic1, PEER_B, 1, 1, "b1", m[0]); /* owned by worker 1 */
  /* A channel with an unconfirmed meta and a meta a later transfer brought. */
  rtrack(f, f->topic, PEER_B, 1, 7, "x", m[3]);
  rtrack(f, f->topic, PEER_B, 2, 7, "y", m[3]);
  sim_run_all(&f->sim);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 8);
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 1);
  size_t n0 = f->ft[0].n, n1 = f->ft[1].n;

  /* Transfer 2 of peer B ended: what it did not confirm (epoch < 2) leaves, on both of worker
   * 0's topics; peer C, the local member and worker 1's topic are untouched. */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, 2);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, n0 + 1);
  json_t *d = msg_payload(f, 0, n0, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}",
              "{\"b1\":{\"metas\":[{\"node\":\"b:4001\"}]},"
              "\"x\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);
  assert_int_equal(f->ft[1].n, n1 + 1);
  d = msg_payload(f, 1, n1, NULL, topic2, "presence_diff");
  assert_diff(d, "{}", "{\"b1\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 5); /* b2 b3 c1 y lou */
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 1);

  /* The channel's confirmed meta is still indexed under it: the channel's untrack finds it. */
  runtrack(f, f->topic, PEER_B, 7);
  d = msg_payload(f, 0, n0 + 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"y\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);

  /* Peer B is down: all of its members leave, whatever their epoch. */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  d = msg_payload(f, 0, n0 + 2, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}",
              "{\"b2\":{\"metas\":[{\"node\":\"b:4001\"}]},"
              "\"b3\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 2); /* c1, lou */
  /* Each worker sweeps the topics it owns. */
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 1);
  phx_presence_remote_sweep(&f->sim.w[1].ps, PEER_B, UINT32_MAX);
  assert_int_equal(phx_presence_count(&f->sim.w[1].ps), 0);

  /* A sweep of a peer with nothing left broadcasts nothing. */
  uint64_t diffs = diffs_of(f, 0);
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_B, UINT32_MAX);
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_D, UINT32_MAX);
  assert_int_equal(diffs_of(f, 0), diffs);

  /* Local members are never swept: every peer down, lou stays. */
  phx_presence_remote_sweep(&f->sim.w[0].ps, PEER_C, UINT32_MAX);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
  sim_run_all(&f->sim);
  d = msg_payload(f, 0, f->ft[0].n - 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{}", "{\"c1\":{\"metas\":[{\"node\":\"b:4001\"}]}}");
  json_decref(d);
  query_result_t q = {0};
  phx_presence_query(&f->sim.w[1].ps, f->topic, on_query, &q);
  sim_run_all(&f->sim);
  json_t *got = json_loads(q.json, 0, NULL);
  assert_presences(got, "{\"lou\":{\"metas\":[{}]}}", NULL, NULL);
  json_decref(got);
  free(q.json);
}

/* --- local_each: a state transfer's view ------------------------------------------------------ */

typedef struct each_rec {
  int n;
  char topic[64], key[64], meta[256];
  uint64_t channel_id;
} each_rec_t;

static void on_each(void *arg, const char *topic, uint64_t channel_id, const char *key,
                    const char *meta, size_t meta_len) {
  each_rec_t *r = arg;
  r->n++;
  snprintf(r->topic, sizeof r->topic, "%s", topic);
  snprintf(r->key, sizeof r->key, "%s", key);
  assert_true(meta_len < sizeof r->meta);
  assert_int_equal(strlen(meta), meta_len); /* NUL-terminated as well */
  memcpy(r->meta, meta, meta_len + 1);
  r->channel_id = channel_id;
}

/* The phx_ref ending a meta text: PHX_UNIQUE_REF_LEN URL-safe base64 characters. */
static void assert_ends_with_ref(const char *meta) {
  size_t len = strlen(meta), tail = sizeof "\"phx_ref\":\"\"}" - 1 + PHX_UNIQUE_REF_LEN;
  assert_true(len >= tail);
  const char *t = meta + len - tail;
  if (strncmp(t, "\"phx_ref\":\"", 11) || strcmp(t + 11 + PHX_UNIQUE_REF_LEN, "\"}"))
    fail_msg("meta %s does not end with its phx_ref", meta);
  static const char b64url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  assert_int_equal(strspn(t + 11, b64url), PHX_UNIQUE_REF_LEN);
}

static void test_local_each_lists_local_live_metas(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  phx_channel_t *ann = join(f, 0, 1, f->topic);
  phx_channel_t *bob = join(f, 1, 0, f->topic);
  phx_channel_t *cat = join(f, 2, 0, f->topic1);
  json_t *meta = json_pack("{si}", "n", 1);
  phx_presence_track(ann, "ann", meta, false);
  json_decref(meta);
  phx_presence_track(bob, "bob", NULL, false);
  phx_presence_track(cat, "cat", NULL, false);
  sim_run_all(&f->sim);
  phx_presence_flush(&f->sim.w[0].ps);
  /* bob leaves: until the window ends his meta is still in the table (for the leave). */
  phx_presence_untrack(bob);
  sim_run_all(&f->sim);
  char m[128];
  rmeta(m, sizeof m, "", 'R');
  rtrack(f, f->topic, PEER_B, 1, ann->sub.id, "rita", m);

  each_rec_t r = {0};
  phx_presence_local_each(&f->sim.w[0].ps, on_each, &r);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.topic, f->topic);
  assert_string_equal(r.key, "ann");
  assert_true(r.channel_id == ann->sub.id);
  assert_true(!strncmp(r.meta, "{\"n\":1,\"phx_ref\":\"", 18));
  assert_ends_with_ref(r.meta);
  /* Worker 1 lists the topics it owns. */
  each_rec_t r1 = {0};
  phx_presence_local_each(&f->sim.w[1].ps, on_each, &r1);
  assert_int_equal(r1.n, 1);
  assert_string_equal(r1.topic, f->topic1);
  assert_string_equal(r1.key, "cat");
  assert_true(r1.channel_id == cat->sub.id);
  assert_ends_with_ref(r1.meta);

  /* After the window, the same. */
  phx_presence_flush(&f->sim.w[0].ps);
  phx_presence_flush(&f->sim.w[1].ps);
  each_rec_t again = {0};
  phx_presence_local_each(&f->sim.w[0].ps, on_each, &again);
  assert_int_equal(again.n, 1);
  assert_string_equal(again.meta, r.meta);
}

/* --- the link to the bus ---------------------------------------------------------------------- */

typedef struct link_call {
  char kind; /* 't': presence_track, 'u': presence_untrack */
  int worker;
  char topic[64], key[64], meta[256];
  uint64_t channel_id;
} link_call_t;

static struct {
  link_call_t calls[16];
  int n, publishes;
} g_link;
static int g_link_worker[SIM_MAX_WORKERS];
static phx_cluster_link_t g_links[SIM_MAX_WORKERS];

static link_call_t *link_rec(void *arg, char kind, const char *topic, uint64_t channel_id) {
  assert_true(g_link.n < (int)(sizeof g_link.calls / sizeof *g_link.calls));
  link_call_t *c = &g_link.calls[g_link.n++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->worker = *(int *)arg;
  snprintf(c->topic, sizeof c->topic, "%s", topic);
  c->channel_id = channel_id;
  return c;
}

static void link_track(void *arg, const char *topic, uint64_t channel_id, const char *key,
                       const char *meta, size_t meta_len) {
  link_call_t *c = link_rec(arg, 't', topic, channel_id);
  snprintf(c->key, sizeof c->key, "%s", key);
  assert_true(meta_len < sizeof c->meta);
  memcpy(c->meta, meta, meta_len);
  c->meta[meta_len] = '\0';
}

static void link_untrack(void *arg, const char *topic, uint64_t channel_id) {
  link_rec(arg, 'u', topic, channel_id);
}

static void link_publish(void *arg, const phx_broadcast_t *bc) { g_link.publishes++; }

static int cl_setup(void **state) {
  setup(state);
  fx_t *f = *state;
  memset(&g_link, 0, sizeof g_link);
  for (int w = 0; w < f->sim.n; w++) {
    g_link_worker[w] = w;
    g_links[w] = (phx_cluster_link_t){.arg = &g_link_worker[w],
                                      .node_json = "\"a:4000\"",
                                      .publish = link_publish,
                                      .presence_track = link_track,
                                      .presence_untrack = link_untrack};
    f->sim.w[w].ps.cluster = &g_links[w];
  }
  return 0;
}

static void test_link_gets_local_tracks_and_untracks(void **state) {
  fx_t *f = *state;
  join(f, 0, 0, f->topic);
  phx_channel_t *ann = join(f, 1, 1, f->topic);
  json_t *meta = json_pack("{ss}", "name", "Ann");
  phx_presence_track(ann, "ann", meta, false);
  json_decref(meta);
  assert_int_equal(g_link.n, 0); /* the owner has not run yet */
  sim_run_all(&f->sim);
  /* One call, by the topic's owner, with the meta as stored: "node" before phx_ref. */
  assert_int_equal(g_link.n, 1);
  link_call_t *c = &g_link.calls[0];
  assert_int_equal(c->kind, 't');
  assert_int_equal(c->worker, 0);
  assert_string_equal(c->topic, f->topic);
  assert_true(c->channel_id == ann->sub.id);
  assert_string_equal(c->key, "ann");
  assert_true(!strncmp(c->meta, "{\"name\":\"Ann\",\"node\":\"a:4000\",\"phx_ref\":\"", 41));
  assert_ends_with_ref(c->meta);
  /* Clients see what the peers get, phx_ref included. */
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"ann\":{\"metas\":[{\"name\":\"Ann\",\"node\":\"a:4000\"}]}}", "{}");
  assert_frame_has(f, 0, 1, c->meta);
  json_decref(d);
  /* Presence diffs stay on this node: every node makes its own from the members it holds. */
  assert_int_equal(g_link.publishes, 0);

  /* An empty meta gets the node alone. */
  phx_channel_t *bob = join(f, 2, 0, f->topic);
  phx_presence_track(bob, "bob", NULL, false);
  sim_run_all(&f->sim);
  assert_int_equal(g_link.n, 2);
  assert_true(!strncmp(g_link.calls[1].meta, "{\"node\":\"a:4000\",\"phx_ref\":\"", 28));
  assert_ends_with_ref(g_link.calls[1].meta);
  assert_int_equal(strlen(g_link.calls[1].meta), 28 + PHX_UNIQUE_REF_LEN + 2);
  assert_int_equal(PHX_UNIQUE_REF_LEN, 20);

  /* Untracks go to the bus from the owner; the channel id is the one tracked. */
  phx_presence_untrack(ann);
  sim_run_all(&f->sim);
  assert_int_equal(g_link.n, 3);
  c = &g_link.calls[2];
  assert_int_equal(c->kind, 'u');
  assert_int_equal(c->worker, 0);
  assert_string_equal(c->topic, f->topic);
  assert_true(c->channel_id == ann->sub.id);
  /* A dropped socket as well. */
  uint64_t bob_id = bob->sub.id;
  phx_socket_free(f->s[2]);
  f->s[2] = NULL;
  sim_run_all(&f->sim);
  assert_int_equal(g_link.n, 4);
  assert_int_equal(g_link.calls[3].kind, 'u');
  assert_true(g_link.calls[3].channel_id == bob_id);
}

static void test_link_told_at_once_within_a_window(void **state) {
  fx_t *f = *state;
  set_interval(f, 50);
  phx_channel_t *ann = join(f, 0, 1, f->topic1);
  phx_presence_track(ann, "ann", NULL, false);
  sim_run_all(&f->sim);
  /* The peers hear of a track when the owner applies it, not at the end of its window. */
  assert_int_equal(g_link.n, 1);
  assert_int_equal(g_link.calls[0].worker, 1);
  assert_string_equal(g_link.calls[0].topic, f->topic1);
  assert_int_equal(f->ft[0].n, 1);
  phx_presence_untrack(ann);
  sim_run_all(&f->sim);
  assert_int_equal(g_link.n, 2);
  assert_int_equal(g_link.calls[1].kind, 'u');
  /* Cancelled out within the window: no diff here, yet the peers had both changes. */
  phx_presence_flush(&f->sim.w[1].ps);
  sim_run_all(&f->sim);
  assert_int_equal(f->ft[0].n, 1);
}

static void test_link_not_told_of_remote_members(void **state) {
  fx_t *f = *state;
  join(f, 0, 0, f->topic);
  char m[128];
  rmeta(m, sizeof m, "", 'R');
  rtrack(f, f->topic, PEER_B, 1, 9, "rita", m);
  rtrack(f, f->topic, PEER_B, 2, 9, "rita", m);
  rtrack(f, f->topic1, PEER_B, 1, 9, "rita", m);
  runtrack(f, f->topic, PEER_B, 9);
  phx_presence_remote_sweep(&f->sim.w[1].ps, PEER_B, UINT32_MAX);
  sim_run_all(&f->sim);
  /* Their own node announced them; echoing them would loop between nodes. */
  assert_int_equal(g_link.n, 0);
  assert_int_equal(g_link.publishes, 0);
  /* The clients here saw the join and the leave. */
  assert_int_equal(f->ft[0].n, 3);
  /* The remote meta keeps its own "node": only local metas get this node's. */
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"rita\":{\"metas\":[{\"node\":\"b:4001\"}]}}", "{}");
  json_decref(d);
}

static void test_client_node_key_replaced_when_clustered(void **state) {
  fx_t *f = *state;
  phx_channel_t *ann = join(f, 0, 0, f->topic);
  /* A client may not say where it is connected, nor pick its phx_ref. */
  json_t *meta = json_pack("{sssiss}", "node", "elsewhere", "k", 1, "phx_ref", "mine");
  phx_presence_track(ann, "ann", meta, false);
  json_decref(meta);
  sim_run_all(&f->sim);
  assert_int_equal(g_link.n, 1);
  const char *sent = g_link.calls[0].meta;
  assert_true(!strncmp(sent, "{\"k\":1,\"node\":\"a:4000\",\"phx_ref\":\"", 34));
  assert_ends_with_ref(sent);
  assert_null(strstr(sent, "elsewhere"));
  assert_null(strstr(sent, "mine"));
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"ann\":{\"metas\":[{\"k\":1,\"node\":\"a:4000\"}]}}", "{}");
  json_decref(d);
}

static void test_client_node_key_kept_on_a_single_node(void **state) {
  fx_t *f = *state;
  phx_channel_t *ann = join(f, 0, 0, f->topic);
  /* Without a cluster "node" is the application's own field. */
  json_t *meta = json_pack("{ss}", "node", "mine");
  phx_presence_track(ann, "ann", meta, false);
  json_decref(meta);
  sim_run_all(&f->sim);
  json_t *d = msg_payload(f, 0, 1, NULL, f->topic, "presence_diff");
  assert_diff(d, "{\"ann\":{\"metas\":[{\"node\":\"mine\"}]}}", "{}");
  json_decref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_remote_track_joins_diff_and_state, setup, cl_teardown),
      cmocka_unit_test_setup_teardown(test_remote_untrack_leaves_only_that_channel, setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_confirm_again_no_twin_no_flicker, setup, cl_teardown),
      cmocka_unit_test_setup_teardown(test_revived_under_the_peers_new_slot, setup, cl_teardown),
      cmocka_unit_test_setup_teardown(test_confirm_within_first_window_is_one_join, setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_sweep_only_that_peer_and_older_epochs, setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_local_each_lists_local_live_metas, setup, cl_teardown),
      cmocka_unit_test_setup_teardown(test_link_gets_local_tracks_and_untracks, cl_setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_link_told_at_once_within_a_window, cl_setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_link_not_told_of_remote_members, cl_setup, cl_teardown),
      cmocka_unit_test_setup_teardown(test_client_node_key_replaced_when_clustered, cl_setup,
                                      cl_teardown),
      cmocka_unit_test_setup_teardown(test_client_node_key_kept_on_a_single_node, setup,
                                      cl_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
