/* The Phoenix socket protocol (phx/phx_socket.h) through a fake transport: every frame the socket
 * hands its transport is recorded and compared byte for byte with the wire format of the spec
 * (phoenix-channels.md §2.3, §4): heartbeat, join (ok, refused, unmatched topic, channel limit),
 * join_ref rules, routing to handle_in with the ref echoed, leave, duplicate join, server-side stop
 * (graceful and crash), malformed input, the end of a socket (PHX_EXIT_CLOSED), V2 binary
 * messages and the V1 object serializer. The channels are small vtables defined here. */
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
#include "phx/phx_channel.h"
#include "phx/phx_pubsub.h"
#include "phx/phx_socket.h"
#include "phx_test_util.h"
#include "ws/ws_frame.h"

/* --- a recording test channel -------------------------------------------------------------------- */

typedef struct rec_state {
  bool push_after_join;
} rec_state_t;

typedef struct rec_exit {
  char topic[64];
  phx_exit_t reason;
  uint64_t id;
} rec_exit_t;

static rec_exit_t g_exits[64];
static size_t g_nexits;
static size_t g_joins;      /* join callbacks */
static size_t g_after;      /* after_join callbacks */
static size_t g_handled;    /* handle_in callbacks */
static bool g_last_binary;  /* the last handle_in was a binary message */

/* payload: {"refuse": true} refuses with {"reason":"refused"}; {"reply": X} answers ok with X;
 * {"shared": "TEXT"} answers with the already-encoded TEXT (phx_channel_join_reply_shared);
 * {"push_after_join": true} pushes "welcome" {} from after_join. */
static int rec_join(phx_channel_t *ch, json_t *payload, json_t **reply) {
  g_joins++;
  const char *shared = json_string_value(json_object_get(payload, "shared"));
  if (shared) phx_channel_join_reply_shared(ch, frame_copy(shared, strlen(shared)));
  if (json_is_true(json_object_get(payload, "refuse"))) {
    *reply = json_pack("{ss}", "reason", "refused");
    return PHX_JOIN_ERROR;
  }
  json_t *r = json_object_get(payload, "reply");
  if (r) *reply = json_incref(r);
  rec_state_t *st = phx_channel_state(ch);
  st->push_after_join = json_is_true(json_object_get(payload, "push_after_join"));
  return PHX_JOIN_OK;
}

static void rec_after_join(phx_channel_t *ch) {
  g_after++;
  rec_state_t *st = phx_channel_state(ch);
  if (st->push_after_join) phx_channel_push(ch, "welcome", NULL);
}

/* Events: echo (reply ok {"echo": payload}, or the bytes back for binary), push (push "pushed"
 * with the payload), stop (reply ok, then stop gracefully), crash (stop as a crash), refuse (an
 * error reply {"reason":"nope"}), silent (nothing). */
static void rec_handle_in(phx_channel_t *ch, const phx_msg_t *msg) {
  g_handled++;
  g_last_binary = msg->binary;
  if (!strcmp(msg->event, "echo")) {
    if (msg->binary) {
      phx_channel_reply_binary(ch, msg, "ok", msg->bin, msg->bin_len);
    } else {
      json_t *r = json_pack("{sO}", "echo", msg->payload);
      phx_channel_reply(ch, msg, "ok", r);
      json_decref(r);
    }
  } else if (!strcmp(msg->event, "push")) {
    phx_channel_push(ch, "pushed", msg->payload);
  } else if (!strcmp(msg->event, "stop")) {
    phx_channel_reply(ch, msg, "ok", NULL);
    phx_channel_stop(ch, false);
  } else if (!strcmp(msg->event, "crash")) {
    phx_channel_stop(ch, true);
  } else if (!strcmp(msg->event, "refuse")) {
    phx_channel_reply_error(ch, msg, "nope");
  }
}

static void rec_terminate(phx_channel_t *ch, phx_exit_t reason) {
  assert_true(g_nexits < sizeof g_exits / sizeof *g_exits);
  rec_exit_t *e = &g_exits[g_nexits++];
  snprintf(e->topic, sizeof e->topic, "%s", phx_channel_topic(ch));
  e->reason = reason;
  e->id = phx_channel_id(ch);
  /* The channel is already unsubscribed and no longer found by id. */
  assert_null(phx_channel_lookup(ch->socket->pubsub, phx_channel_id(ch)));
}

static const phx_channel_type_t rec_channel = {
    .name = "rec",
    .state_size = sizeof(rec_state_t),
    .join = rec_join,
    .after_join = rec_after_join,
    .handle_in = rec_handle_in,
    .terminate = rec_terminate,
};

/* A channel type with no callbacks at all: every hook is optional. */
static const phx_channel_type_t bare_channel = {.name = "bare"};

/* --- fixture ------------------------------------------------------------------------------------ */

typedef struct fx {
  sim_t sim;
  phx_router_t router;
  fake_transport_t ft;
  phx_socket_t *s;
} fx_t;

static fx_t *fx_new(phx_vsn_t vsn, size_t max_channels) {
  fx_t *f = calloc(1, sizeof *f);
  sim_init(&f->sim, 1);
  phx_router_init(&f->router);
  phx_router_add(&f->router, "room:*", &rec_channel, NULL);
  phx_router_add(&f->router, "bare", &bare_channel, NULL);
  ft_init(&f->ft);
  f->s = sock_new(&f->sim.w[0], &f->ft, vsn, &f->router, max_channels);
  g_nexits = g_joins = g_after = g_handled = 0;
  g_last_binary = false;
  return f;
}

static int setup_v2(void **state) {
  log_set_level(LOG_OFF);
  *state = fx_new(PHX_V2, 100);
  return 0;
}

static int setup_v1(void **state) {
  log_set_level(LOG_OFF);
  *state = fx_new(PHX_V1, 100);
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (f->s) phx_socket_free(f->s);
  sim_free(&f->sim);
  ft_free(&f->ft);
  phx_router_free(&f->router);
  free(f);
  return 0;
}

static phx_pubsub_t *ps_of(fx_t *f) { return &f->sim.w[0].ps; }

/* Sends msg (must be accepted: close code 0) and expects exactly `n` new frames. */
static void send_ok(fx_t *f, const char *msg, size_t n) {
  size_t before = f->ft.n;
  uint16_t rc = sock_text(f->s, msg);
  if (rc) fail_msg("%s: close code %u", msg, rc);
  if (f->ft.n - before != n) fail_msg("%s: %zu frames, want %zu", msg, f->ft.n - before, n);
}

static void join_ok(fx_t *f, const char *topic, const char *ref) {
  char msg[256], want[256];
  snprintf(msg, sizeof msg, "[\"%s\",\"%s\",\"%s\",\"phx_join\",{}]", ref, ref, topic);
  snprintf(want, sizeof want,
           "[\"%s\",\"%s\",\"%s\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]", ref, ref,
           topic);
  size_t i = f->ft.n;
  send_ok(f, msg, 1);
  ft_assert_text(&f->ft, i, want);
}

/* --- heartbeat ---------------------------------------------------------------------------------- */

static void test_heartbeat(void **state) {
  fx_t *f = *state;
  send_ok(f, "[null,\"12\",\"phoenix\",\"heartbeat\",{}]", 1);
  ft_assert_text(&f->ft, 0, "[null,\"12\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  /* The ref's JSON type is echoed (a number stays a number), and any payload is accepted. */
  send_ok(f, "[null,7,\"phoenix\",\"heartbeat\",{\"x\":[1,2]}]", 1);
  ft_assert_text(&f->ft, 1, "[null,7,\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  /* No channel is involved and nothing else is sent or closed. */
  assert_int_equal(g_joins + g_handled, 0);
  assert_int_equal(f->ft.closes, 0);
  assert_int_equal(f->s->nchannels, 0);
}

/* --- join --------------------------------------------------------------------------------------- */

static void test_join_ok(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"user\":\"ann\"}]", 1);
  ft_assert_text(&f->ft, 0,
                 "[\"3\",\"3\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  assert_int_equal(g_joins, 1);
  assert_int_equal(g_after, 1);
  phx_channel_t *ch = phx_socket_find(f->s, "room:lobby");
  assert_non_null(ch);
  assert_string_equal(phx_channel_topic(ch), "room:lobby");
  assert_ptr_equal(phx_channel_route(ch)->type, &rec_channel);
  assert_ptr_equal(phx_channel_ctx(ch), &f->sim.w[0].ctx);
  /* Subscribed to its topic, registered by id, counted. */
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:lobby"), 1);
  assert_ptr_equal(phx_channel_lookup(ps_of(f), phx_channel_id(ch)), ch);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 1);

  /* A join reply given by the channel; a join_ref that differs from the ref (Phoenix's own tests
   * do that) is echoed as sent. */
  send_ok(f, "[\"11\",\"1\",\"room:b\",\"phx_join\",{\"reply\":{\"n\":1,\"s\":\"x\"}}]", 1);
  ft_assert_text(&f->ft, 1,
                 "[\"11\",\"1\",\"room:b\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":1,"
                 "\"s\":\"x\"}}]");
  /* A channel pushes with CJ = the join's join_ref. */
  send_ok(f, "[\"11\",\"2\",\"room:b\",\"push\",{\"k\":true}]", 1);
  ft_assert_text(&f->ft, 2, "[\"11\",null,\"room:b\",\"pushed\",{\"k\":true}]");
  assert_int_equal(f->s->nchannels, 2);
}

/* An already-encoded reply is sent as is, in place of the JSON one; refusals carry it too. */
static void test_join_reply_shared(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"1\",\"1\",\"room:s\",\"phx_join\",{\"shared\":\"{\\\"samples\\\":[1,2]}\","
             "\"reply\":{\"ignored\":true}}]", 1);
  ft_assert_text(&f->ft, 0,
                 "[\"1\",\"1\",\"room:s\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"samples\":"
                 "[1,2]}}]");
  /* The next join, without one, gets its own reply: nothing is left over from the first. */
  send_ok(f, "[\"2\",\"2\",\"room:t\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->ft, 1, "[\"2\",\"2\",\"room:t\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  send_ok(f, "[\"3\",\"3\",\"room:u\",\"phx_join\",{\"shared\":\"{\\\"reason\\\":\\\"r\\\"}\","
             "\"refuse\":true}]", 1);
  ft_assert_text(&f->ft, 2,
                 "[\"3\",\"3\",\"room:u\",\"phx_reply\",{\"status\":\"error\",\"response\":{\"reason\":"
                 "\"r\"}}]");
  assert_int_equal(f->s->nchannels, 2);
}

static void test_join_null_join_ref(void **state) {
  fx_t *f = *state;
  /* join_ref null: the reply carries null (J), the channel's pushes its ref (CJ), phx_close null
   * in both ref positions (CJ0). */
  send_ok(f, "[null,\"4\",\"room:n\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->ft, 0,
                 "[null,\"4\",\"room:n\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  send_ok(f, "[null,\"5\",\"room:n\",\"push\",{}]", 1);
  ft_assert_text(&f->ft, 1, "[\"4\",null,\"room:n\",\"pushed\",{}]");
  send_ok(f, "[null,\"6\",\"room:n\",\"phx_leave\",{}]", 2);
  ft_assert_text(&f->ft, 2, "[\"4\",\"6\",\"room:n\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  ft_assert_text(&f->ft, 3, "[null,null,\"room:n\",\"phx_close\",{}]");
}

static void test_join_refused(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"1\",\"1\",\"room:no\",\"phx_join\",{\"refuse\":true}]", 1);
  ft_assert_text(&f->ft, 0,
                 "[\"1\",\"1\",\"room:no\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"refused\"}}]");
  /* No channel kept: not found, not subscribed, no after_join, no terminate. */
  assert_null(phx_socket_find(f->s, "room:no"));
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:no"), 0);
  assert_int_equal(g_after, 0);
  assert_int_equal(g_nexits, 0);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 0);
  /* Messages to it now get "unmatched topic". */
  send_ok(f, "[\"1\",\"2\",\"room:no\",\"echo\",{}]", 1);
  ft_assert_text(&f->ft, 1,
                 "[null,\"2\",\"room:no\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
}

static void test_join_unmatched_topic(void **state) {
  fx_t *f = *state;
  send_ok(f, "[\"1\",\"1\",\"nope:x\",\"phx_join\",{}]", 1);
  /* null join_ref, the ref echoed (§2.3). */
  ft_assert_text(&f->ft, 0,
                 "[null,\"1\",\"nope:x\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
  /* An exact route does not match a longer topic; a prefix route needs its whole prefix. */
  send_ok(f, "[\"2\",\"2\",\"bare:1\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->ft, 1,
                 "[null,\"2\",\"bare:1\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
  send_ok(f, "[\"3\",\"3\",\"room\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->ft, 2,
                 "[null,\"3\",\"room\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
  assert_int_equal(g_joins, 0);
  assert_int_equal(f->s->nchannels, 0);
  assert_int_equal(f->ft.closes, 0);
  /* The exact route works, with a type that has no callbacks. */
  join_ok(f, "bare", "4");
  send_ok(f, "[\"4\",\"5\",\"bare\",\"anything\",{}]", 0);
  send_ok(f, "[\"4\",\"6\",\"bare\",\"phx_leave\",{}]", 2);
  ft_assert_text(&f->ft, 5, "[\"4\",\"4\",\"bare\",\"phx_close\",{}]");
}

/* --- messages ----------------------------------------------------------------------------------- */

static void test_push_to_unjoined_topic(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  /* §4.6: an error reply with null join_ref, no phx_close / phx_error, the socket stays. */
  send_ok(f, "[\"5\",\"7\",\"room:x\",\"new_msg\",{\"body\":\"hi\"}]", 1);
  ft_assert_text(&f->ft, 1,
                 "[null,\"7\",\"room:x\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
  assert_int_equal(g_handled, 0);
  assert_int_equal(f->ft.closes, 0);
  assert_int_equal(f->s->nchannels, 1);
}

static void test_handle_in_routing(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  join_ok(f, "room:b", "2");
  /* To the channel of its topic, with the message's ref echoed and CJ as join_ref. */
  send_ok(f, "[\"2\",\"9\",\"room:b\",\"echo\",{\"x\":1}]", 1);
  ft_assert_text(&f->ft, 2,
                 "[\"2\",\"9\",\"room:b\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"echo\":"
                 "{\"x\":1}}}]");
  assert_int_equal(g_handled, 1);
  assert_false(g_last_binary);
  /* A numeric ref keeps its type. */
  send_ok(f, "[\"1\",10,\"room:a\",\"echo\",[]]", 1);
  ft_assert_text(&f->ft, 3,
                 "[\"1\",10,\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"echo\":[]}}]");
  /* A null join_ref is accepted (§4.4); the reply still carries CJ. */
  send_ok(f, "[null,\"11\",\"room:a\",\"echo\",{}]", 1);
  ft_assert_text(&f->ft, 4,
                 "[\"1\",\"11\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"echo\":{}}}]");
  /* A stale join_ref is dropped silently. */
  send_ok(f, "[\"9\",\"12\",\"room:a\",\"echo\",{}]", 0);
  assert_int_equal(g_handled, 3);
  /* An error reply from the channel. */
  send_ok(f, "[\"1\",\"13\",\"room:a\",\"refuse\",{}]", 1);
  ft_assert_text(&f->ft, 5,
                 "[\"1\",\"13\",\"room:a\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"nope\"}}]");
  /* No reply at all is fine. */
  send_ok(f, "[\"1\",\"14\",\"room:a\",\"silent\",{}]", 0);
  assert_int_equal(g_handled, 5);
  assert_int_equal(atomic_load(&ps_of(f)->messages_in), 8);
}

/* --- leave -------------------------------------------------------------------------------------- */

static void test_leave(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  uint64_t id = phx_channel_id(phx_socket_find(f->s, "room:a"));
  /* A stale leave is dropped: nothing sent, the channel stays. */
  send_ok(f, "[\"7\",\"2\",\"room:a\",\"phx_leave\",{}]", 0);
  assert_non_null(phx_socket_find(f->s, "room:a"));
  /* The ok reply, then phx_close with CJ0 in both positions; terminate(LEFT). */
  send_ok(f, "[\"1\",\"3\",\"room:a\",\"phx_leave\",{}]", 2);
  ft_assert_text(&f->ft, 1, "[\"1\",\"3\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  ft_assert_text(&f->ft, 2, "[\"1\",\"1\",\"room:a\",\"phx_close\",{}]");
  assert_int_equal(g_nexits, 1);
  assert_string_equal(g_exits[0].topic, "room:a");
  assert_int_equal(g_exits[0].reason, PHX_EXIT_LEFT);
  assert_int_equal(g_exits[0].id, id);
  assert_null(phx_socket_find(f->s, "room:a"));
  assert_null(phx_channel_lookup(ps_of(f), id));
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:a"), 0);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 0);
  /* Leaving a topic not joined: an ok reply echoing the leave's join_ref (may be null). */
  send_ok(f, "[\"1\",\"4\",\"room:a\",\"phx_leave\",{}]", 1);
  ft_assert_text(&f->ft, 3, "[\"1\",\"4\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  send_ok(f, "[null,\"5\",\"room:zz\",\"phx_leave\",{}]", 1);
  ft_assert_text(&f->ft, 4, "[null,\"5\",\"room:zz\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  assert_int_equal(g_nexits, 1);
  /* And it can be joined again. */
  join_ok(f, "room:a", "6");
}

/* --- duplicate join ------------------------------------------------------------------------------ */

static void test_duplicate_join(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  phx_channel_t *old = phx_socket_find(f->s, "room:a");
  uint64_t old_id = phx_channel_id(old);
  /* §4.5: the new reply first, then the old incarnation's phx_close, then what the new channel
   * pushed from after_join. */
  send_ok(f, "[\"2\",\"2\",\"room:a\",\"phx_join\",{\"push_after_join\":true}]", 3);
  ft_assert_text(&f->ft, 1, "[\"2\",\"2\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  ft_assert_text(&f->ft, 2, "[\"1\",\"1\",\"room:a\",\"phx_close\",{}]");
  ft_assert_text(&f->ft, 3, "[\"2\",null,\"room:a\",\"welcome\",{}]");
  assert_int_equal(g_nexits, 1);
  assert_int_equal(g_exits[0].reason, PHX_EXIT_DUPLICATE_JOIN);
  assert_int_equal(g_exits[0].id, old_id);
  /* One channel, one subscription, the new incarnation. */
  assert_int_equal(f->s->nchannels, 1);
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:a"), 1);
  assert_null(phx_channel_lookup(ps_of(f), old_id));
  phx_channel_t *now = phx_socket_find(f->s, "room:a");
  assert_int_not_equal(phx_channel_id(now), old_id);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 1);
  /* The old join_ref is stale now. */
  send_ok(f, "[\"1\",\"3\",\"room:a\",\"echo\",{}]", 0);
  send_ok(f, "[\"2\",\"4\",\"room:a\",\"echo\",{}]", 1);
  ft_assert_text(&f->ft, 4,
                 "[\"2\",\"4\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"echo\":{}}}]");

  /* A duplicate join with the same join_ref, refused by the channel: the old one still ends,
   * the refusal comes first, then the old phx_close, and no channel is left. */
  send_ok(f, "[\"2\",\"5\",\"room:a\",\"phx_join\",{\"refuse\":true}]", 2);
  ft_assert_text(&f->ft, 5,
                 "[\"2\",\"5\",\"room:a\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"refused\"}}]");
  ft_assert_text(&f->ft, 6, "[\"2\",\"2\",\"room:a\",\"phx_close\",{}]");
  assert_int_equal(g_nexits, 2);
  assert_int_equal(g_exits[1].reason, PHX_EXIT_DUPLICATE_JOIN);
  assert_int_equal(f->s->nchannels, 0);
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:a"), 0);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 0);
}

/* --- the channel limit --------------------------------------------------------------------------- */

static void test_max_channels(void **state) {
  fx_t *f = *state;
  phx_socket_free(f->s);
  f->s = sock_new(&f->sim.w[0], &f->ft, PHX_V2, &f->router, 2);
  join_ok(f, "room:a", "1");
  join_ok(f, "room:b", "2");
  send_ok(f, "[\"3\",\"3\",\"room:c\",\"phx_join\",{}]", 1);
  ft_assert_text(&f->ft, 2,
                 "[\"3\",\"3\",\"room:c\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"too many channels joined\"}}]");
  assert_int_equal(g_joins, 2); /* the channel was never asked */
  assert_null(phx_socket_find(f->s, "room:c"));
  /* At the limit, a rejoin of a joined topic is a duplicate join, not a new channel. */
  send_ok(f, "[\"4\",\"4\",\"room:a\",\"phx_join\",{}]", 2);
  ft_assert_text(&f->ft, 3, "[\"4\",\"4\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  ft_assert_text(&f->ft, 4, "[\"1\",\"1\",\"room:a\",\"phx_close\",{}]");
  /* Leaving one makes room. */
  send_ok(f, "[\"2\",\"5\",\"room:b\",\"phx_leave\",{}]", 2);
  join_ok(f, "room:c", "6");
  assert_int_equal(f->s->nchannels, 2);
}

/* --- server-side stop ---------------------------------------------------------------------------- */

static void test_stop_crashed(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  /* From inside handle_in: the exit waits for the callback to return, then phx_error with CJ0. */
  send_ok(f, "[\"1\",\"2\",\"room:a\",\"crash\",{}]", 1);
  ft_assert_text(&f->ft, 1, "[\"1\",\"1\",\"room:a\",\"phx_error\",{\"reason\":\"channel_crash\"}]");
  assert_int_equal(g_nexits, 1);
  assert_int_equal(g_exits[0].reason, PHX_EXIT_CRASHED);
  assert_null(phx_socket_find(f->s, "room:a"));
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:a"), 0);

  /* From outside any callback (as a task from another worker does): at once. */
  join_ok(f, "room:b", "3");
  phx_channel_stop(phx_socket_find(f->s, "room:b"), true);
  assert_int_equal(f->ft.n, 4);
  ft_assert_text(&f->ft, 3, "[\"3\",\"3\",\"room:b\",\"phx_error\",{\"reason\":\"channel_crash\"}]");
  assert_int_equal(g_nexits, 2);
  assert_int_equal(g_exits[1].reason, PHX_EXIT_CRASHED);
  assert_int_equal(f->s->nchannels, 0);
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 0);
}

static void test_stop_graceful(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  /* Reply and stop in one step (§4.8): the reply, then phx_close. */
  send_ok(f, "[\"1\",\"2\",\"room:a\",\"stop\",{}]", 2);
  ft_assert_text(&f->ft, 1, "[\"1\",\"2\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  ft_assert_text(&f->ft, 2, "[\"1\",\"1\",\"room:a\",\"phx_close\",{}]");
  assert_int_equal(g_nexits, 1);
  assert_int_equal(g_exits[0].reason, PHX_EXIT_STOPPED);
  /* From outside any callback: at once. */
  join_ok(f, "room:b", "3");
  phx_channel_t *ch = phx_socket_find(f->s, "room:b");
  phx_channel_stop(ch, false);
  ft_assert_text(&f->ft, 4, "[\"3\",\"3\",\"room:b\",\"phx_close\",{}]");
  assert_int_equal(f->ft.n, 5);
  assert_int_equal(g_nexits, 2);
  assert_int_equal(g_exits[1].reason, PHX_EXIT_STOPPED);
}

/* --- malformed input ----------------------------------------------------------------------------- */

static void test_malformed_text(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  static const char *bad[] = {
      "not json",
      "",
      "[\"1\",\"2\",\"room:a\",\"echo\"]",                              /* 4 elements */
      "{\"topic\":\"room:a\",\"event\":\"echo\",\"payload\":{},\"ref\":\"1\"}", /* V1 on V2 */
      "[\"1\",\"2\",3,\"echo\",{}]",                                    /* topic not a string */
      "[\"1\",\"2\",\"room:a\",null,{}]",                               /* event not a string */
      "[\"1\",\"2\",\"room:a\",\"echo\",{}",                            /* truncated */
      "[\"1\",\"2\",\"room:\\u0000a\",\"echo\",{}]",                    /* NUL in topic */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uint16_t rc = sock_text(f->s, bad[i]);
    if (rc != WS_CLOSE_INVALID_DATA) fail_msg("'%s': close code %u, want 1007", bad[i], rc);
  }
  /* The socket only reports the code; closing is the transport's caller's business. Nothing was
   * sent, no channel was touched, and the socket still works. */
  assert_int_equal(f->ft.n, 1);
  assert_int_equal(f->ft.closes, 0);
  assert_int_equal(g_handled, 0);
  assert_int_equal(g_nexits, 0);
  send_ok(f, "[null,\"9\",\"phoenix\",\"heartbeat\",{}]", 1);
  send_ok(f, "[\"1\",\"10\",\"room:a\",\"echo\",{}]", 1);
  ft_assert_text(&f->ft, 2,
                 "[\"1\",\"10\",\"room:a\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"echo\":{}}}]");
  /* Extra elements are ignored (§2.1). */
  send_ok(f, "[\"1\",\"11\",\"room:a\",\"echo\",{},\"extra\"]", 1);
}

static void test_malformed_binary(void **state) {
  fx_t *f = *state;
  static const uint8_t unknown_kind[] = {7, 0, 0, 1, 1, 'a', 'b'};
  static const uint8_t short_header[] = {0, 1, 1};
  static const uint8_t past_end[] = {0, 1, 1, 9, 4, '1', '2', 'r', 'o'};
  static const uint8_t bad_utf8[] = {0, 0, 0, 1, 1, 0xff, 'e'};
  static const uint8_t reply_kind[] = {1, 0, 0, 1, 1, 't', 's'}; /* clients never send kind 1 */
  struct {
    const uint8_t *p;
    size_t n;
  } bad[] = {{unknown_kind, sizeof unknown_kind}, {short_header, sizeof short_header},
             {past_end, sizeof past_end},         {bad_utf8, sizeof bad_utf8},
             {reply_kind, sizeof reply_kind},     {(const uint8_t *)"", 0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uint16_t rc = sock_binary(f->s, bad[i].p, bad[i].n);
    if (rc != WS_CLOSE_UNSUPPORTED) fail_msg("binary case %zu: close code %u, want 1003", i, rc);
  }
  assert_int_equal(f->ft.n, 0);
  assert_int_equal(f->ft.closes, 0);
  send_ok(f, "[null,\"1\",\"phoenix\",\"heartbeat\",{}]", 1);
}

/* --- binary messages ----------------------------------------------------------------------------- */

static void test_binary_routing(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  /* kind 0: 00 JR RL TL EL join_ref ref topic event payload */
  static const uint8_t push[] = {0, 1, 1, 6, 4, '1', '7', 'r', 'o', 'o', 'm', ':', 'a',
                                 'e', 'c', 'h', 'o', 0xde, 0xad, 0x00, 0xff};
  assert_int_equal(sock_binary(f->s, push, sizeof push), 0);
  assert_true(g_last_binary);
  /* The binary reply, kind 1: 01 JR RL TL SL join_ref ref topic status response */
  static const uint8_t want[] = {1, 1, 1, 6, 2, '1', '7', 'r', 'o', 'o', 'm', ':', 'a',
                                 'o', 'k', 0xde, 0xad, 0x00, 0xff};
  assert_int_equal(f->ft.n, 2);
  ft_assert_binary(&f->ft, 1, want, sizeof want);
  /* A binary heartbeat is answered like a text one (as text). */
  static const uint8_t hb[] = {0, 0, 2, 7, 9, '4', '2', 'p', 'h', 'o', 'e', 'n', 'i', 'x',
                               'h', 'e', 'a', 'r', 't', 'b', 'e', 'a', 't'};
  assert_int_equal(sock_binary(f->s, hb, sizeof hb), 0);
  ft_assert_text(&f->ft, 2, "[null,\"42\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
  /* A binary message to a topic not joined: the unmatched-topic reply. */
  static const uint8_t stray[] = {0, 1, 1, 6, 4, '1', '8', 'r', 'o', 'o', 'm', ':', 'z',
                                  'e', 'c', 'h', 'o'};
  assert_int_equal(sock_binary(f->s, stray, sizeof stray), 0);
  ft_assert_text(&f->ft, 3,
                 "[null,\"8\",\"room:z\",\"phx_reply\",{\"status\":\"error\",\"response\":{"
                 "\"reason\":\"unmatched topic\"}}]");
}

/* --- the end of a socket ------------------------------------------------------------------------- */

static void test_free_terminates_closed(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  join_ok(f, "room:b", "2");
  join_ok(f, "bare", "3");
  uint64_t ida = phx_channel_id(phx_socket_find(f->s, "room:a"));
  uint64_t idb = phx_channel_id(phx_socket_find(f->s, "room:b"));
  phx_socket_free(f->s);
  f->s = NULL;
  /* Both recording channels ended with CLOSED; nothing more could be sent. */
  assert_int_equal(f->ft.n, 3);
  assert_int_equal(g_nexits, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(g_exits[i].reason, PHX_EXIT_CLOSED);
    assert_true(g_exits[i].id == ida || g_exits[i].id == idb);
  }
  assert_int_not_equal(g_exits[0].id, g_exits[1].id);
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:a"), 0);
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "room:b"), 0);
  assert_int_equal(phx_pubsub_local_count(ps_of(f), "bare"), 0);
  assert_null(phx_channel_lookup(ps_of(f), ida));
  assert_int_equal(atomic_load(&ps_of(f)->channels_joined), 0);
}

/* A broadcast reaches the socket's channel as the shared V2 frame, not the sender. */
static void test_broadcast_to_channel(void **state) {
  fx_t *f = *state;
  join_ok(f, "room:a", "1");
  fake_transport_t ft2;
  ft_init(&ft2);
  phx_socket_t *s2 = sock_new(&f->sim.w[0], &ft2, PHX_V2, &f->router, 10);
  assert_int_equal(sock_text(s2, "[\"1\",\"1\",\"room:a\",\"phx_join\",{}]"), 0);
  phx_channel_t *from = phx_socket_find(s2, "room:a");
  json_t *p = json_pack("{si}", "n", 1);
  phx_channel_broadcast_from(from, "shout", p);
  json_decref(p);
  assert_int_equal(f->ft.n, 2);
  ft_assert_text(&f->ft, 1, "[null,null,\"room:a\",\"shout\",{\"n\":1}]");
  assert_int_equal(ft2.n, 1); /* the sender got only its join reply */
  phx_socket_free(s2);
  ft_free(&ft2);
}

/* --- V1 ------------------------------------------------------------------------------------------ */

static void test_v1(void **state) {
  fx_t *f = *state;
  send_ok(f, "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":\"1\"}", 1);
  ft_assert_text(&f->ft, 0,
                 "{\"topic\":\"phoenix\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
                 "\"response\":{}},\"ref\":\"1\"}");
  /* A V1 join without join_ref; the server never emits join_ref. */
  send_ok(f, "{\"topic\":\"room:a\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"2\"}", 1);
  ft_assert_text(&f->ft, 1,
                 "{\"topic\":\"room:a\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
                 "\"response\":{}},\"ref\":\"2\"}");
  send_ok(f, "{\"topic\":\"room:a\",\"event\":\"echo\",\"payload\":{\"a\":1},\"ref\":\"3\"}", 1);
  ft_assert_text(&f->ft, 2,
                 "{\"topic\":\"room:a\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
                 "\"response\":{\"echo\":{\"a\":1}}},\"ref\":\"3\"}");
  send_ok(f, "{\"topic\":\"room:a\",\"event\":\"push\",\"payload\":{},\"ref\":\"4\"}", 1);
  ft_assert_text(&f->ft, 3, "{\"topic\":\"room:a\",\"event\":\"pushed\",\"payload\":{},\"ref\":null}");
  /* Unmatched topic. */
  send_ok(f, "{\"topic\":\"x\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"5\"}", 1);
  ft_assert_text(&f->ft, 4,
                 "{\"topic\":\"x\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"error\","
                 "\"response\":{\"reason\":\"unmatched topic\"}},\"ref\":\"5\"}");
  /* A broadcast to a V1 subscriber is the V1 object. */
  phx_broadcast_t *bc = phx_broadcast_new("room:a", "news", false, "{\"b\":2}", 7);
  phx_pubsub_publish(ps_of(f), bc);
  ft_assert_text(&f->ft, 5, "{\"topic\":\"room:a\",\"event\":\"news\",\"payload\":{\"b\":2},\"ref\":null}");
  /* A binary broadcast or reply cannot reach a V1 client: nothing is sent. */
  bc = phx_broadcast_new("room:a", "bin", true, "\x01\x02", 2);
  phx_pubsub_publish(ps_of(f), bc);
  phx_channel_push_binary(phx_socket_find(f->s, "room:a"), "bin", (const uint8_t *)"\x01", 1);
  assert_int_equal(f->ft.n, 6);
  /* A V2 array on a V1 socket is malformed; binary frames are refused with 1003. */
  assert_int_equal(sock_text(f->s, "[null,\"6\",\"phoenix\",\"heartbeat\",{}]"), WS_CLOSE_INVALID_DATA);
  static const uint8_t hb[] = {0, 0, 1, 7, 9, '7', 'p', 'h', 'o', 'e', 'n', 'i', 'x',
                               'h', 'e', 'a', 'r', 't', 'b', 'e', 'a', 't'};
  assert_int_equal(sock_binary(f->s, hb, sizeof hb), WS_CLOSE_UNSUPPORTED);
  assert_int_equal(f->ft.n, 6);
  /* Leave: reply, then phx_close whose ref is the stored join_ref (null here). */
  send_ok(f, "{\"topic\":\"room:a\",\"event\":\"phx_leave\",\"payload\":{},\"ref\":\"8\"}", 2);
  ft_assert_text(&f->ft, 6,
                 "{\"topic\":\"room:a\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\","
                 "\"response\":{}},\"ref\":\"8\"}");
  ft_assert_text(&f->ft, 7, "{\"topic\":\"room:a\",\"event\":\"phx_close\",\"payload\":{},\"ref\":null}");
  /* With a join_ref, phx_error carries it as ref. */
  send_ok(f, "{\"topic\":\"room:b\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"9\",\"join_ref\":\"9\"}", 1);
  send_ok(f, "{\"topic\":\"room:b\",\"event\":\"crash\",\"payload\":{},\"ref\":\"10\",\"join_ref\":\"9\"}", 1);
  ft_assert_text(&f->ft, 9,
                 "{\"topic\":\"room:b\",\"event\":\"phx_error\",\"payload\":{\"reason\":"
                 "\"channel_crash\"},\"ref\":\"9\"}");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_heartbeat, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_join_ok, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_join_reply_shared, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_join_null_join_ref, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_join_refused, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_join_unmatched_topic, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_push_to_unjoined_topic, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_handle_in_routing, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_leave, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_join, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_max_channels, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_stop_crashed, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_stop_graceful, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_text, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_binary, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_binary_routing, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_free_terminates_closed, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_to_channel, setup_v2, teardown),
      cmocka_unit_test_setup_teardown(test_v1, setup_v1, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
