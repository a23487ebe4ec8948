/* The Phoenix socket's limits (phx_socket.h): JSON depth and values (close 1009), join_ref / ref
 * (close 1008), topic length (error reply), the join bucket (error reply, on an injected clock),
 * each exactly at its boundary and affecting only the socket that sent it; presence key and meta
 * limits; socket assigns shared by a socket's channels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "phx/phx_json_scan.h"
#include "phx/phx_presence.h"
#include "phx_test_util.h"

/* --- a transport that also keeps the close reason ---------------------------------------------- */

typedef struct rec_transport {
  fake_transport_t ft; /* first */
  char reason[128];
} rec_transport_t;

static void rec_close(phx_transport_t *t, uint16_t code, const char *reason) {
  rec_transport_t *rt = (rec_transport_t *)t;
  snprintf(rt->reason, sizeof rt->reason, "%s", reason ? reason : "");
  ft_close(t, code, reason);
}

/* --- a channel type: accepts every join; "assign" stores its payload's k=v in the assigns ------- */

static void lim_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  if (!strcmp(msg->event, "assign")) {
    const char *k;
    json_t *v;
    json_object_foreach(msg->payload, k, v) json_object_set(phx_channel_assigns(ch), k, v);
  }
  phx_channel_reply(ch, msg, "ok", phx_channel_assigns(ch));
}

static const phx_channel_type_t lim_channel = {.name = "lim", .handle_in = lim_handle_in};

/* --- fixture: two sockets on one worker, so a refusal can be shown to spare the other ---------- */

static uint64_t g_now_ns;
static uint64_t fake_now(void) { return g_now_ns; }

typedef struct fx {
  sim_t sim;
  phx_router_t router;
  rec_transport_t rt, other_rt;
  phx_socket_t *s, *other;
} fx_t;

static phx_socket_config_t config(void) {
  return (phx_socket_config_t){.max_channels = 3,
                               .max_joins_per_s = 2,
                               .max_topic = 16,
                               .max_json_depth = 4,
                               .max_json_elements = 12,
                               .now_ns = fake_now};
}

static void rt_init(rec_transport_t *rt) {
  memset(rt, 0, sizeof *rt);
  ft_init(&rt->ft);
  rt->ft.t.close = rec_close;
}

static fx_t *fx_new(const phx_socket_config_t *cfg, phx_vsn_t vsn) {
  fx_t *f = calloc(1, sizeof *f);
  sim_init(&f->sim, 1);
  phx_router_init(&f->router);
  phx_router_add(&f->router, "room:*", &lim_channel, NULL);
  phx_socket_config_t c = *cfg;
  c.router = &f->router;
  rt_init(&f->rt);
  rt_init(&f->other_rt);
  g_now_ns = 1000000000;
  f->s = phx_socket_new(&f->sim.w[0].ps, &f->rt.ft.t, vsn, NULL, NULL, 0, &c);
  f->other = phx_socket_new(&f->sim.w[0].ps, &f->other_rt.ft.t, PHX_V2, NULL, NULL, 0, &c);
  return f;
}

static int setup(void **state) {
  log_set_level(LOG_OFF);
  phx_socket_config_t c = config();
  *state = fx_new(&c, PHX_V2);
  return 0;
}

static int setup_v1(void **state) {
  log_set_level(LOG_OFF);
  phx_socket_config_t c = config();
  *state = fx_new(&c, PHX_V1);
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (f->s) phx_socket_free(f->s);
  phx_socket_free(f->other);
  sim_run_all(&f->sim);
  sim_free(&f->sim);
  ft_free(&f->rt.ft);
  ft_free(&f->other_rt.ft);
  phx_router_free(&f->router);
  free(f);
  return 0;
}

/* Sends msg on f->s; expects close code 0 and exactly n new frames, no close. */
static void send_ok(fx_t *f, const char *msg, size_t n) {
  size_t before = f->rt.ft.n;
  uint16_t rc = sock_text(f->s, msg);
  if (rc) fail_msg("%s: close code %u", msg, rc);
  if (f->rt.ft.closes) fail_msg("%s: closed with %u (%s)", msg, f->rt.ft.close_code, f->rt.reason);
  if (f->rt.ft.n - before != n) fail_msg("%s: %zu frames, want %zu", msg, f->rt.ft.n - before, n);
}

/* Sends msg on f->s; expects the socket to close the transport itself with code and reason, and
 * nothing sent. */
static void send_refused(fx_t *f, const char *msg, uint16_t code, const char *reason) {
  size_t before = f->rt.ft.n;
  uint16_t rc = sock_text(f->s, msg);
  assert_int_equal(rc, 0);
  assert_int_equal(f->rt.ft.closes, 1);
  assert_int_equal(f->rt.ft.close_code, code);
  assert_string_equal(f->rt.reason, reason);
  assert_int_equal(f->rt.ft.n, before);
}

/* The other socket still answers a heartbeat. */
static void other_alive(fx_t *f) {
  size_t before = f->other_rt.ft.n;
  assert_int_equal(sock_text(f->other, "[null,\"9\",\"phoenix\",\"heartbeat\",{}]"), 0);
  assert_int_equal(f->other_rt.ft.n, before + 1);
  ft_assert_text(&f->other_rt.ft, before,
                 "[null,\"9\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  assert_int_equal(f->other_rt.ft.closes, 0);
}

/* --- JSON limits ----------------------------------------------------------------------------- */

static void test_json_depth(void **state) {
  fx_t *f = *state;
  /* depth 4 (the limit): the array, the payload and two levels inside it */
  send_ok(f, "[null,\"1\",\"phoenix\",\"heartbeat\",{\"a\":{\"b\":[]}}]", 1);
  send_refused(f, "[null,\"2\",\"phoenix\",\"heartbeat\",{\"a\":{\"b\":[[]]}}]", 1009,
               "JSON nested too deeply");
  other_alive(f);
}

static void test_json_values(void **state) {
  fx_t *f = *state;
  /* 12 values (the limit): the array, 4 strings/null, the payload object and 6 inside it */
  send_ok(f, "[null,\"1\",\"phoenix\",\"heartbeat\",{\"a\":[1,2,3,4,5]}]", 1);
  send_refused(f, "[null,\"2\",\"phoenix\",\"heartbeat\",{\"a\":[1,2,3,4,5,6]}]", 1009,
               "too many JSON values");
  other_alive(f);
}

/* 8 MB of tiny arrays: refused at once, after a scan of a few hundred bytes here. */
static void test_json_tiny_arrays(void **state) {
  fx_t *f = *state;
  size_t n = 8u << 20, k = (n - 64) / 3, len = 0;
  char *m = malloc(n);
  len += (size_t)sprintf(m, "[[");
  for (size_t i = 0; i < k; i++, len += 3) memcpy(m + len, "[],", 3);
  len += (size_t)sprintf(m + len, "[]],\"1\",\"room:a\",\"phx_join\",{}]");
  assert_int_equal(phx_socket_handle_text(f->s, m, len), 0);
  assert_int_equal(f->rt.ft.close_code, 1009);
  assert_string_equal(f->rt.reason, "too many JSON values");
  free(m);
  other_alive(f);
}

/* Malformed text is still a 1007 returned to the transport (its own wording), not a refusal. */
static void test_malformed_still_1007(void **state) {
  fx_t *f = *state;
  assert_int_equal(sock_text(f->s, "[null,\"1\",\"phoenix\",\"heartbeat\",{},]"), 1007);
  assert_int_equal(f->rt.ft.closes, 0);
  assert_int_equal(sock_text(f->s, "[null,\"1\",\"phoenix\",\"heartbeat\"]"), 1007);
  assert_int_equal(f->rt.ft.closes, 0);
}

/* With the limits at 0 only jansson's own depth remains. */
static void test_json_no_limits(void **state) {
  fx_t *f = *state;
  phx_socket_free(f->s);
  phx_socket_config_t c = config();
  c.max_json_depth = 0;
  c.max_json_elements = 0;
  c.router = &f->router;
  f->s = phx_socket_new(&f->sim.w[0].ps, &f->rt.ft.t, PHX_V2, NULL, NULL, 0, &c);
  send_ok(f, "[null,\"1\",\"phoenix\",\"heartbeat\",{\"a\":[[[[[[[[1,2,3,4,5,6,7,8,9,10]]]]]]]]}]", 1);
}

/* --- refs -------------------------------------------------------------------------------------- */

static void test_refs_accepted(void **state) {
  fx_t *f = *state;
  char ref64[65];
  memset(ref64, '7', 64);
  ref64[64] = '\0';
  char msg[256];
  snprintf(msg, sizeof msg, "[\"%s\",\"%s\",\"room:a\",\"phx_join\",{}]", ref64, ref64);
  send_ok(f, msg, 1);
  send_ok(f, "[null,12,\"phoenix\",\"heartbeat\",{}]", 1);
  send_ok(f, "[null,1.5,\"phoenix\",\"heartbeat\",{}]", 1);
  ft_assert_text(&f->rt.ft, 2,
                 "[null,1.5,\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  send_ok(f, "[null,null,\"phoenix\",\"heartbeat\",{}]", 1);
  send_ok(f, "[3,3,\"room:b\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->rt.ft, 4, "[3,3,\"room:b\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
}

static void test_join_ref_array(void **state) {
  fx_t *f = *state;
  send_refused(f, "[[[],[]],\"1\",\"room:a\",\"phx_join\",{}]", 1008, "invalid join_ref");
  assert_null(phx_socket_find(f->s, "room:a"));
  other_alive(f);
}

static void test_ref_object(void **state) {
  fx_t *f = *state;
  send_refused(f, "[\"1\",{\"a\":1},\"room:a\",\"phx_join\",{}]", 1008, "invalid ref");
  other_alive(f);
}

static void test_ref_bool(void **state) {
  fx_t *f = *state;
  send_refused(f, "[null,true,\"phoenix\",\"heartbeat\",{}]", 1008, "invalid ref");
}

static void test_ref_long_string(void **state) {
  fx_t *f = *state;
  char ref65[66], msg[256];
  memset(ref65, '7', 65);
  ref65[65] = '\0';
  snprintf(msg, sizeof msg, "[\"1\",\"%s\",\"room:a\",\"phx_join\",{}]", ref65);
  send_refused(f, msg, 1008, "invalid ref");
}

static void test_binary_long_ref(void **state) {
  fx_t *f = *state;
  uint8_t m[5 + 65 + 1 + 6 + 4];
  m[0] = 0;
  m[1] = 65; /* join_ref */
  m[2] = 1;
  m[3] = 6;
  m[4] = 4;
  memset(m + 5, '1', 65);
  memcpy(m + 70, "2room:aping", 11);
  assert_int_equal(sock_binary(f->s, m, sizeof m), 0);
  assert_int_equal(f->rt.ft.close_code, 1008);
  assert_string_equal(f->rt.reason, "invalid join_ref");
}

/* V1: the same rule on the object's ref / join_ref keys. */
static void test_v1_refs(void **state) {
  fx_t *f = *state;
  send_ok(f, "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":\"5\"}", 1);
  send_refused(f, "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":[1]}", 1008,
               "invalid ref");
}

/* --- topics ------------------------------------------------------------------------------------ */

static void test_topic_length(void **state) {
  fx_t *f = *state;
  /* 16 bytes: the limit */
  send_ok(f, "[\"1\",\"1\",\"room:0123456789a\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->rt.ft, 0,
                 "[\"1\",\"1\",\"room:0123456789a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  /* 17 bytes: an error reply to the join, with its join_ref and ref */
  send_ok(f, "[\"2\",\"2\",\"room:0123456789ab\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->rt.ft, 1,
                 "[\"2\",\"2\",\"room:0123456789ab\",\"phx_reply\",{\"status\":\"error\",\"response\":"
                 "{\"reason\":\"topic too long\"}}]");
  assert_null(phx_socket_find(f->s, "room:0123456789ab"));
  /* any other event on such a topic: the same reason, join_ref null as for an unmatched topic */
  send_ok(f, "[\"2\",\"3\",\"room:0123456789ab\",\"msg\",{}]", 1);
  ft_assert_text(&f->rt.ft, 2,
                 "[null,\"3\",\"room:0123456789ab\",\"phx_reply\",{\"status\":\"error\",\"response\":"
                 "{\"reason\":\"topic too long\"}}]");
  /* the socket carries on */
  send_ok(f, "[\"1\",\"4\",\"room:0123456789a\",\"msg\",{}]", 1);
  assert_int_equal(f->rt.ft.closes, 0);
  /* the refused join took no token: three joins were made, one refused for the topic */
}

/* --- the join bucket ------------------------------------------------------------------------------ */

static void join(fx_t *f, const char *ref, bool ok) {
  char msg[128], want[256];
  snprintf(msg, sizeof msg, "[\"%s\",\"%s\",\"room:a\",\"phx_join\",{}]", ref, ref);
  size_t at = f->rt.ft.n;
  size_t before_channels = f->s->nchannels;
  if (ok) {
    /* a re-join of room:a: the reply, then the old incarnation's phx_close (except the first) */
    uint16_t rc = sock_text(f->s, msg);
    assert_int_equal(rc, 0);
    assert_true(f->rt.ft.n - at >= 1);
    snprintf(want, sizeof want,
             "[\"%s\",\"%s\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]", ref, ref);
  } else {
    send_ok(f, msg, 1);
    snprintf(want, sizeof want,
             "[\"%s\",\"%s\",\"room:a\",\"phx_reply\",{\"status\":\"error\",\"response\":"
             "{\"reason\":\"too many joins\"}}]", ref, ref);
    assert_int_equal(f->s->nchannels, before_channels);
  }
  ft_assert_text(&f->rt.ft, at, want);
}

static void test_join_bucket(void **state) {
  fx_t *f = *state;
  /* Full at first: max_channels (3) joins at once. */
  join(f, "1", true);
  join(f, "2", true);
  join(f, "3", true);
  join(f, "4", false);
  join(f, "5", false);
  /* The channel joined last is untouched by the refusals and still answers. */
  send_ok(f, "[\"3\",\"6\",\"room:a\",\"msg\",{}]", 1);
  /* 2 per second: after 499 ms not yet a token, after 500 ms one. */
  g_now_ns += 499000000;
  join(f, "7", false);
  g_now_ns += 1000000;
  join(f, "8", true);
  join(f, "9", false);
  /* A long pause refills to the capacity, not beyond. */
  g_now_ns += 3600ull * 1000000000;
  join(f, "10", true);
  join(f, "11", true);
  join(f, "12", true);
  join(f, "13", false);
  /* Heartbeats and other events take no token. */
  send_ok(f, "[null,\"14\",\"phoenix\",\"heartbeat\",{}]", 1);
  send_ok(f, "[\"12\",\"15\",\"room:a\",\"msg\",{}]", 1);
  /* The bucket is per socket. */
  assert_int_equal(sock_text(f->other, "[\"1\",\"1\",\"room:a\",\"phx_join\",{}]"), 0);
  ft_assert_text(&f->other_rt.ft, 0,
                 "[\"1\",\"1\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  assert_int_equal(f->rt.ft.closes, 0);
}

static void test_join_bucket_off(void **state) {
  fx_t *f = *state;
  phx_socket_free(f->s);
  phx_socket_config_t c = config();
  c.max_joins_per_s = 0;
  c.router = &f->router;
  f->s = phx_socket_new(&f->sim.w[0].ps, &f->rt.ft.t, PHX_V2, NULL, NULL, 0, &c);
  char ref[16];
  for (int i = 1; i <= 50; i++) {
    snprintf(ref, sizeof ref, "%d", i);
    join(f, ref, true);
  }
}

/* --- assigns -------------------------------------------------------------------------------------- */

static void test_assigns(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"1\",\"1\",\"room:a\",\"phx_join\",{}]", 1);
  send_ok(f, "[\"2\",\"2\",\"room:b\",\"phx_join\",{}]", 1);
  send_ok(f, "[\"1\",\"3\",\"room:a\",\"assign\",{\"n\":1}]", 1);
  ft_assert_text(&f->rt.ft, 2,
                 "[\"1\",\"3\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":1}}]");
  /* room:b sees what room:a assigned: one object per socket */
  send_ok(f, "[\"2\",\"4\",\"room:b\",\"read\",{}]", 1);
  ft_assert_text(&f->rt.ft, 3,
                 "[\"2\",\"4\",\"room:b\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":1}}]");
  /* and it outlives a channel: leave room:a, join it again */
  send_ok(f, "[\"1\",\"5\",\"room:a\",\"phx_leave\",{}]", 2);
  send_ok(f, "[\"6\",\"6\",\"room:a\",\"phx_join\",{}]", 1);
  send_ok(f, "[\"6\",\"7\",\"room:a\",\"assign\",{\"m\":[1,2]}]", 1);
  ft_assert_text(&f->rt.ft, 7,
                 "[\"6\",\"7\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":1,"
                 "\"m\":[1,2]}}]");
  /* another socket has its own */
  assert_int_equal(sock_text(f->other, "[\"1\",\"1\",\"room:a\",\"phx_join\",{}]"), 0);
  assert_int_equal(sock_text(f->other, "[\"1\",\"2\",\"room:a\",\"read\",{}]"), 0);
  ft_assert_text(&f->other_rt.ft, 1,
                 "[\"1\",\"2\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  assert_true(json_is_object(f->s->assigns));
  /* freed with the socket: LSan checks in teardown */
}

/* --- presence limits -------------------------------------------------------------------------- */

static void test_presence_check(void **state) {
  char key[300];
  memset(key, 'k', sizeof key);
  key[255] = '\0';
  const char *why = "unset";
  assert_int_equal(phx_presence_check(key, NULL, &why), 0);
  assert_null(why);
  key[255] = 'k';
  key[256] = '\0';
  assert_int_equal(phx_presence_check(key, NULL, &why), PHX_PRESENCE_E_KEY);
  assert_string_equal(why, "presence key too long");

  /* {"s":"..."}: 8 bytes around the string; 4096 in all is the limit */
  char *big = malloc(5000);
  memset(big, 'x', 5000);
  big[4096 - 8] = '\0';
  json_t *meta = json_pack("{ss}", "s", big);
  assert_int_equal(json_dumpb(meta, NULL, 0, JSON_COMPACT), 4096);
  assert_int_equal(phx_presence_check("k", meta, &why), 0);
  json_decref(meta);
  big[4096 - 8] = 'x';
  big[4096 - 7] = '\0';
  meta = json_pack("{ss}", "s", big);
  assert_int_equal(phx_presence_check("k", meta, &why), PHX_PRESENCE_E_META);
  assert_string_equal(why, "presence meta too large");
  assert_int_equal(phx_presence_check("k", meta, NULL), PHX_PRESENCE_E_META);
  json_decref(meta);
  free(big);
}

static void test_presence_track_refused(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"1\",\"1\",\"room:a\",\"phx_join\",{}]", 1);
  phx_channel_t *ch = phx_socket_find(f->s, "room:a");
  assert_non_null(ch);
  char key[300];
  memset(key, 'k', 256);
  key[256] = '\0';
  size_t posted = f->sim.posted;
  assert_int_equal(phx_presence_track(ch, key, NULL, true), PHX_PRESENCE_E_KEY);
  assert_false(ch->presence_tracked);
  assert_int_equal(f->sim.posted, posted); /* no task: nothing tracked, nothing broadcast */
  assert_int_equal(phx_presence_track(ch, "ann", NULL, false), 0);
  assert_true(ch->presence_tracked);
  sim_run_all(&f->sim);
  assert_int_equal(phx_presence_count(&f->sim.w[0].ps), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_json_depth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_tiny_arrays, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_still_1007, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_no_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refs_accepted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_join_ref_array, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ref_object, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ref_bool, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ref_long_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_binary_long_ref, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_refs, setup_v1, teardown),
      cmocka_unit_test_setup_teardown(test_topic_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_join_bucket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_join_bucket_off, setup, teardown),
      cmocka_unit_test_setup_teardown(test_assigns, setup, teardown),
      cmocka_unit_test(test_presence_check),
      cmocka_unit_test_setup_teardown(test_presence_track_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
