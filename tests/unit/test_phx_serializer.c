/* Phoenix serializers: spec phoenix-channels.md §2 (V2/V1 JSON), §3 (V2 binary), §1.2 (vsn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "phx/phx_serializer.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* A JSON value from text (scalars allowed); the test owns the reference. */
static json_t *J(const char *text) {
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  assert_non_null(v);
  return v;
}

static void expect_bytes(const buf_t *b, const void *want, size_t n) {
  if (b->len != n || memcmp(b->data, want, n) != 0) {
    print_error("want (%zu): %.*s\n got (%zu): %.*s\n", n, (int)n, (const char *)want, b->len,
                (int)b->len, b->data ? (const char *)b->data : "");
    fail();
  }
}

static void expect_text(const buf_t *b, const char *want) { expect_bytes(b, want, strlen(want)); }

/* Parse hex like "00 01 0F" into bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out) {
  size_t n = 0;
  unsigned v;
  int used;
  while (sscanf(hex, " %2x%n", &v, &used) == 1) {
    out[n++] = (uint8_t)v;
    hex += used;
  }
  return n;
}

static int decode_str(phx_vsn_t vsn, const char *text, phx_msg_t *m, const char **err) {
  return phx_decode_text(vsn, text, strlen(text), m, err);
}

static void assert_zeroed(const phx_msg_t *m) {
  phx_msg_t zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(m, &zero, sizeof zero);
}

/* Decoding must fail with `code` (or any error when code is 0), leave m zeroed, give a reason. */
static void expect_text_error(phx_vsn_t vsn, const char *data, size_t len, int code) {
  phx_msg_t m;
  const char *err = NULL;
  int rc = phx_decode_text(vsn, data, len, &m, &err);
  if (rc >= 0) {
    print_error("accepted: %.*s\n", (int)len, data);
    fail();
  }
  if (code) assert_int_equal(rc, code);
  assert_non_null(err);
  assert_zeroed(&m);
  phx_msg_free(&m);
}

static void expect_bin_error(const uint8_t *data, size_t len, int code) {
  phx_msg_t m;
  const char *err = NULL;
  assert_int_equal(phx_decode_binary(data, len, &m, &err), code);
  assert_non_null(err);
  assert_zeroed(&m);
}

#define REPLY(S, R) "{\"status\":\"" S "\",\"response\":" R "}"

/* ---- §2.3 server frames, byte-exact ------------------------------------------------------- */

typedef struct row {
  const char *name;
  const char *join_ref, *ref; /* JSON text or NULL */
  const char *topic, *event;  /* event NULL: a reply with status/response */
  const char *status, *body;  /* body: payload or response JSON */
  const char *v2, *v1;
} row_t;

static const row_t k_rows[] = {
    {"join accepted", "\"3\"", "\"3\"", "room:lobby", NULL, "ok", "{}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_reply\"," REPLY("ok", "{}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{}") ",\"ref\":\"3\"}"},
    {"join accepted with reply", "\"3\"", "\"3\"", "room:lobby", NULL, "ok", "{\"user\":1}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_reply\"," REPLY("ok", "{\"user\":1}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{\"user\":1}") ",\"ref\":\"3\"}"},
    {"join refused", "\"3\"", "\"3\"", "room:lobby", NULL, "error", "{\"reason\":\"unauthorized\"}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_reply\"," REPLY("error", "{\"reason\":\"unauthorized\"}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("error", "{\"reason\":\"unauthorized\"}") ",\"ref\":\"3\"}"},
    {"join crashed", "\"3\"", "\"3\"", "room:lobby", NULL, "error", "{\"reason\":\"join crashed\"}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_reply\"," REPLY("error", "{\"reason\":\"join crashed\"}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("error", "{\"reason\":\"join crashed\"}") ",\"ref\":\"3\"}"},
    {"too many channels", "\"11\"", "\"1\"", "room:lobby", NULL, "error", "{\"reason\":\"too many channels joined\"}",
     "[\"11\",\"1\",\"room:lobby\",\"phx_reply\"," REPLY("error", "{\"reason\":\"too many channels joined\"}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("error", "{\"reason\":\"too many channels joined\"}") ",\"ref\":\"1\"}"},
    {"join with null join_ref", NULL, "\"3\"", "room:lobby", NULL, "ok", "{}",
     "[null,\"3\",\"room:lobby\",\"phx_reply\"," REPLY("ok", "{}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{}") ",\"ref\":\"3\"}"},
    {"unmatched topic join", NULL, "\"5\"", "nope:1", NULL, "error", "{\"reason\":\"unmatched topic\"}",
     "[null,\"5\",\"nope:1\",\"phx_reply\"," REPLY("error", "{\"reason\":\"unmatched topic\"}") "]",
     "{\"topic\":\"nope:1\",\"event\":\"phx_reply\",\"payload\":" REPLY("error", "{\"reason\":\"unmatched topic\"}") ",\"ref\":\"5\"}"},
    {"push to a topic not joined", NULL, "\"7\"", "room:x", NULL, "error", "{\"reason\":\"unmatched topic\"}",
     "[null,\"7\",\"room:x\",\"phx_reply\"," REPLY("error", "{\"reason\":\"unmatched topic\"}") "]",
     "{\"topic\":\"room:x\",\"event\":\"phx_reply\",\"payload\":" REPLY("error", "{\"reason\":\"unmatched topic\"}") ",\"ref\":\"7\"}"},
    {"leave not joined", "\"3\"", "\"9\"", "room:lobby", NULL, "ok", "{}",
     "[\"3\",\"9\",\"room:lobby\",\"phx_reply\"," REPLY("ok", "{}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{}") ",\"ref\":\"9\"}"},
    {"leave not joined, null join_ref", "null", "\"9\"", "room:lobby", NULL, "ok", "{}",
     "[null,\"9\",\"room:lobby\",\"phx_reply\"," REPLY("ok", "{}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{}") ",\"ref\":\"9\"}"},
    {"heartbeat reply", NULL, "\"12\"", "phoenix", NULL, "ok", "{}",
     "[null,\"12\",\"phoenix\",\"phx_reply\"," REPLY("ok", "{}") "]",
     "{\"topic\":\"phoenix\",\"event\":\"phx_reply\",\"payload\":" REPLY("ok", "{}") ",\"ref\":\"12\"}"},
    {"channel reply, custom status", "\"3\"", "\"7\"", "room:lobby", NULL, "pong", "{\"body\":\"hi\"}",
     "[\"3\",\"7\",\"room:lobby\",\"phx_reply\"," REPLY("pong", "{\"body\":\"hi\"}") "]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":" REPLY("pong", "{\"body\":\"hi\"}") ",\"ref\":\"7\"}"},
    {"push", "\"3\"", NULL, "room:lobby", "new_msg", NULL, "{\"body\":\"hi\"}",
     "[\"3\",null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]",
     "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},\"ref\":null}"},
    {"broadcast", NULL, NULL, "room:lobby", "new_msg", NULL, "{\"body\":\"hi\"}",
     "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]",
     "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},\"ref\":null}"},
    {"phx_close", "\"3\"", "\"3\"", "room:lobby", "phx_close", NULL, "{}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_close\",{}]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_close\",\"payload\":{},\"ref\":\"3\"}"},
    {"phx_close, null join_ref", NULL, NULL, "room:lobby", "phx_close", NULL, "{}",
     "[null,null,\"room:lobby\",\"phx_close\",{}]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_close\",\"payload\":{},\"ref\":null}"},
    {"phx_error", "\"3\"", "\"3\"", "room:lobby", "phx_error", NULL, "{\"reason\":\"channel_crash\"}",
     "[\"3\",\"3\",\"room:lobby\",\"phx_error\",{\"reason\":\"channel_crash\"}]",
     "{\"topic\":\"room:lobby\",\"event\":\"phx_error\",\"payload\":{\"reason\":\"channel_crash\"},\"ref\":\"3\"}"},
};

static void test_server_frames_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof k_rows / sizeof k_rows[0]; i++) {
    const row_t *r = &k_rows[i];
    json_t *jr = r->join_ref ? J(r->join_ref) : NULL, *ref = r->ref ? J(r->ref) : NULL;
    for (int v = 1; v <= 2; v++) {
      buf_t b = BUF_INIT;
      if (r->event)
        phx_encode_message(&b, (phx_vsn_t)v, jr, ref, r->topic, r->event, r->body, strlen(r->body));
      else
        phx_encode_reply(&b, (phx_vsn_t)v, jr, ref, r->topic, r->status, r->body, strlen(r->body));
      if (b.len != strlen(v == 2 ? r->v2 : r->v1)) print_error("row %s, V%d\n", r->name, v);
      expect_text(&b, v == 2 ? r->v2 : r->v1);
      buf_free(&b);
    }
    json_decref(jr);
    json_decref(ref);
  }
}

static void test_push_and_broadcast_wrappers(void **state) {
  (void)state;
  json_t *jr = J("\"3\"");
  buf_t b = BUF_INIT;
  phx_encode_push(&b, PHX_V2, jr, "room:lobby", "new_msg", "{\"a\":1}", 7);
  expect_text(&b, "[\"3\",null,\"room:lobby\",\"new_msg\",{\"a\":1}]");
  buf_clear(&b);
  phx_encode_push(&b, PHX_V1, jr, "room:lobby", "new_msg", "{\"a\":1}", 7);
  expect_text(&b, "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"a\":1},\"ref\":null}");
  buf_clear(&b);
  phx_encode_broadcast(&b, PHX_V2, "room:lobby", "new_msg", "{\"a\":1}", 7);
  expect_text(&b, "[null,null,\"room:lobby\",\"new_msg\",{\"a\":1}]");
  buf_clear(&b);
  phx_encode_broadcast(&b, PHX_V1, "room:lobby", "new_msg", "{\"a\":1}", 7);
  expect_text(&b, "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"a\":1},\"ref\":null}");
  /* encoders append: two frames in one buffer stay intact */
  buf_clear(&b);
  buf_append_str(&b, "X");
  phx_encode_broadcast(&b, PHX_V2, "t", "e", "{}", 2);
  expect_text(&b, "X[null,null,\"t\",\"e\",{}]");
  buf_free(&b);
  json_decref(jr);
}

/* ---- §3.5 binary examples, byte-exact ----------------------------------------------------- */

static void test_binary_client_push_example(void **state) {
  (void)state;
  uint8_t f[64];
  size_t n = unhex("00 01 01 0F 08 33 34 79 5F 64 6F 63 5F 72 6F 6F 6D 3A 64 65 6D 6F"
                   "79 6A 73 5F 73 79 6E 63 00 00 01 00",
                   f);
  assert_int_equal(n, 34);
  phx_msg_t m;
  const char *err = NULL;
  assert_int_equal(phx_decode_binary(f, n, &m, &err), 0);
  assert_true(m.binary);
  assert_true(json_is_string(m.join_ref));
  assert_string_equal(json_string_value(m.join_ref), "3");
  assert_true(json_is_string(m.ref));
  assert_string_equal(json_string_value(m.ref), "4");
  assert_string_equal(m.topic, "y_doc_room:demo");
  assert_string_equal(m.event, "yjs_sync");
  assert_null(m.payload);
  assert_ptr_equal(m.bin, f + 30);
  assert_int_equal(m.bin_len, 4);
  assert_memory_equal(m.bin, "\x00\x00\x01\x00", 4);
  phx_msg_free(&m);
  assert_zeroed(&m);
}

static void test_binary_server_push_example(void **state) {
  (void)state;
  uint8_t want[64];
  size_t n = unhex("00 01 0F 03 33 79 5F 64 6F 63 5F 72 6F 6F 6D 3A 64 65 6D 6F 79 6A 73"
                   "00 01 02 00 00",
                   want);
  assert_int_equal(n, 28);
  json_t *jr = J("\"3\"");
  buf_t b = BUF_INIT;
  assert_int_equal(phx_encode_binary_push(&b, jr, "y_doc_room:demo", "yjs", (const uint8_t *)"\x00\x01\x02\x00\x00", 5), 0);
  expect_bytes(&b, want, n);
  /* a numeric join_ref is written as its decimal text, as Phoenix's to_string/1 does */
  json_decref(jr);
  jr = J("3");
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_push(&b, jr, "y_doc_room:demo", "yjs", (const uint8_t *)"\x00\x01\x02\x00\x00", 5), 0);
  expect_bytes(&b, want, n);
  /* a null join_ref is written empty */
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_push(&b, NULL, "t", "e", NULL, 0), 0);
  expect_bytes(&b, "\x00\x00\x01\x01te", 6);
  buf_free(&b);
  json_decref(jr);
}

static void test_binary_broadcast_example(void **state) {
  (void)state;
  uint8_t want[64];
  size_t n = unhex("02 0F 03 79 5F 64 6F 63 5F 72 6F 6F 6D 3A 64 65 6D 6F 79 6A 73 01 01 00", want);
  assert_int_equal(n, 24);
  buf_t b = BUF_INIT;
  assert_int_equal(phx_encode_binary_broadcast(&b, "y_doc_room:demo", "yjs", (const uint8_t *)"\x01\x01\x00", 3), 0);
  expect_bytes(&b, want, n);
  buf_free(&b);
}

static void test_binary_reply_example(void **state) {
  (void)state;
  uint8_t want[64];
  size_t n = unhex("01 01 01 0F 02 33 35 79 5F 64 6F 63 5F 72 6F 6F 6D 3A 64 65 6D 6F 6F 6B AB", want);
  json_t *jr = J("\"3\""), *ref = J("\"5\"");
  buf_t b = BUF_INIT;
  assert_int_equal(phx_encode_binary_reply(&b, jr, ref, "y_doc_room:demo", "ok", (const uint8_t *)"\xAB", 1), 0);
  expect_bytes(&b, want, n);
  /* null refs are written empty; an empty response is fine */
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_reply(&b, NULL, json_null(), "t", "ok", NULL, 0), 0);
  expect_bytes(&b, "\x01\x00\x00\x01\x02tok", 8);
  buf_free(&b);
  json_decref(jr);
  json_decref(ref);
}

static void test_binary_field_limits(void **state) {
  (void)state;
  char s255[256], s256[257];
  memset(s255, 'a', 255);
  s255[255] = '\0';
  memset(s256, 'b', 256);
  s256[256] = '\0';
  json_t *j255 = json_string(s255), *j256 = json_string(s256);
  buf_t b = BUF_INIT;
  buf_append_str(&b, "keep");
  const uint8_t *p = (const uint8_t *)"xy";

  assert_int_equal(phx_encode_binary_push(&b, j256, "t", "e", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_push(&b, NULL, s256, "e", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_push(&b, NULL, "t", s256, p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_reply(&b, j256, NULL, "t", "ok", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_reply(&b, NULL, j256, "t", "ok", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_reply(&b, NULL, NULL, s256, "ok", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_reply(&b, NULL, NULL, "t", s256, p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_broadcast(&b, s256, "e", p, 2), PHX_E_TOO_LONG);
  assert_int_equal(phx_encode_binary_broadcast(&b, "t", s256, p, 2), PHX_E_TOO_LONG);
  expect_text(&b, "keep"); /* nothing appended */

  /* 255 bytes is the limit, inclusive */
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_push(&b, j255, s255, s255, p, 2), 0);
  assert_int_equal(b.len, 4 + 3 * 255 + 2);
  assert_int_equal(b.data[1], 255);
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_reply(&b, j255, j255, s255, s255, p, 2), 0);
  assert_int_equal(b.len, 5 + 4 * 255 + 2);
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_broadcast(&b, s255, s255, p, 2), 0);
  assert_int_equal(b.len, 3 + 2 * 255 + 2);
  assert_string_equal(phx_strerror(PHX_E_TOO_LONG), "binary field longer than 255 bytes");

  /* JSON frames have no such limit */
  buf_clear(&b);
  phx_encode_message(&b, PHX_V2, j256, j256, s256, s256, "{}", 2);
  assert_int_equal(b.len, 4 * (256 + 2) + 2 + 2 + 4);
  buf_free(&b);
  json_decref(j255);
  json_decref(j256);
}

/* ---- §2.2 client frames ------------------------------------------------------------------ */

static void test_decode_client_frames(void **state) {
  (void)state;
  phx_msg_t m;
  const char *err = NULL;

  assert_int_equal(decode_str(PHX_V2, "[null,\"12\",\"phoenix\",\"heartbeat\",{}]", &m, &err), 0);
  assert_null(m.join_ref);
  assert_string_equal(json_string_value(m.ref), "12");
  assert_string_equal(m.topic, "phoenix");
  assert_string_equal(m.event, "heartbeat");
  assert_true(json_is_object(m.payload));
  assert_int_equal(json_object_size(m.payload), 0);
  assert_false(m.binary);
  assert_null(m.bin);
  phx_msg_free(&m);

  assert_int_equal(decode_str(PHX_V2, "[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"token\":\"abc\"}]", &m, &err), 0);
  assert_string_equal(json_string_value(m.join_ref), "3");
  assert_string_equal(json_string_value(m.ref), "3");
  assert_string_equal(m.topic, "room:lobby");
  assert_string_equal(m.event, "phx_join");
  assert_string_equal(json_string_value(json_object_get(m.payload, "token")), "abc");
  phx_msg_free(&m);

  assert_int_equal(decode_str(PHX_V2, "[\"3\",\"7\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]", &m, &err), 0);
  assert_string_equal(json_string_value(m.join_ref), "3");
  assert_string_equal(json_string_value(m.ref), "7");
  assert_string_equal(m.event, "new_msg");
  assert_string_equal(json_string_value(json_object_get(m.payload, "body")), "hi");
  phx_msg_free(&m);

  assert_int_equal(decode_str(PHX_V2, "[\"3\",\"9\",\"room:lobby\",\"phx_leave\",{}]", &m, &err), 0);
  assert_string_equal(json_string_value(m.ref), "9");
  assert_string_equal(m.event, "phx_leave");
  phx_msg_free(&m);

  /* join_ref differing from ref (Phoenix's own tests) */
  assert_int_equal(decode_str(PHX_V2, "[\"11\",\"1\",\"room:lobby\",\"phx_join\",{}]", &m, &err), 0);
  assert_string_equal(json_string_value(m.join_ref), "11");
  assert_string_equal(json_string_value(m.ref), "1");
  phx_msg_free(&m);

  /* extra elements are ignored; whitespace is fine */
  assert_int_equal(decode_str(PHX_V2, " [ null , null , \"t\" , \"e\" , [1,2] , \"extra\", 7 ] ", &m, &err), 0);
  assert_null(m.join_ref);
  assert_null(m.ref);
  assert_true(json_is_array(m.payload));
  phx_msg_free(&m);

  /* any payload value is accepted; a JSON null payload is json_null(), not NULL */
  assert_int_equal(decode_str(PHX_V2, "[null,\"1\",\"t\",\"e\",null]", &m, &err), 0);
  assert_true(json_is_null(m.payload));
  phx_msg_free(&m);
  assert_int_equal(decode_str(PHX_V2, "[null,\"1\",\"t\",\"e\",\"s\\u0000x\"]", &m, &err), 0);
  assert_int_equal(json_string_length(m.payload), 3); /* NUL allowed inside the payload */
  phx_msg_free(&m);

  /* empty topic/event and non-ASCII strings */
  assert_int_equal(decode_str(PHX_V2, "[null,\"1\",\"\",\"\\u00e9v\\ud83d\\ude00\",{}]", &m, &err), 0);
  assert_string_equal(m.topic, "");
  assert_string_equal(m.event, "\xC3\xA9v\xF0\x9F\x98\x80");
  phx_msg_free(&m);

  /* the decoded payload can outlive the message */
  assert_int_equal(decode_str(PHX_V2, "[null,\"1\",\"t\",\"e\",{\"k\":[1]}]", &m, &err), 0);
  json_t *payload = json_incref(m.payload);
  phx_msg_free(&m);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(payload, "k"), 0)), 1);
  json_decref(payload);

  /* input need not be NUL-terminated */
  const char frame[] = "[null,\"1\",\"t\",\"e\",{}]garbage";
  assert_int_equal(phx_decode_text(PHX_V2, frame, sizeof frame - 1 - 7, &m, &err), 0);
  phx_msg_free(&m);

  /* binary push with empty refs and an empty payload */
  const uint8_t bin[] = {0, 0, 0, 1, 1, 't', 'e'};
  assert_int_equal(phx_decode_binary(bin, sizeof bin, &m, &err), 0);
  assert_null(m.join_ref);
  assert_null(m.ref);
  assert_string_equal(m.topic, "t");
  assert_string_equal(m.event, "e");
  assert_true(m.binary);
  assert_int_equal(m.bin_len, 0);
  phx_msg_free(&m);
  phx_msg_free(&m); /* idempotent */
  phx_msg_free(NULL);
}

static void test_decode_v1(void **state) {
  (void)state;
  phx_msg_t m;
  const char *err = NULL;
  assert_int_equal(decode_str(PHX_V1, "{\"topic\":\"room:lobby\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\",\"join_ref\":\"1\"}", &m, &err), 0);
  assert_string_equal(m.topic, "room:lobby");
  assert_string_equal(m.event, "phx_join");
  assert_string_equal(json_string_value(m.ref), "1");
  assert_string_equal(json_string_value(m.join_ref), "1");
  assert_true(json_is_object(m.payload));
  phx_msg_free(&m);

  /* join_ref optional; key order free; null ref */
  assert_int_equal(decode_str(PHX_V1, "{\"ref\":null,\"payload\":{\"a\":1},\"event\":\"heartbeat\",\"topic\":\"phoenix\"}", &m, &err), 0);
  assert_null(m.join_ref);
  assert_null(m.ref);
  assert_string_equal(m.event, "heartbeat");
  phx_msg_free(&m);

  /* missing keys */
  static const char *const missing[] = {
      "{\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}",
      "{\"topic\":\"t\",\"payload\":{},\"ref\":\"1\"}",
      "{\"topic\":\"t\",\"event\":\"e\",\"ref\":\"1\"}",
      "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}",
      "{}",
  };
  for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
    expect_text_error(PHX_V1, missing[i], strlen(missing[i]), PHX_E_SHAPE);

  /* wrong types and containers */
  static const char *const bad[] = {
      "{\"topic\":1,\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}",
      "{\"topic\":\"t\",\"event\":null,\"payload\":{},\"ref\":\"1\"}",
      "{\"topic\":\"t\\u0000\",\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}",
      "[null,\"1\",\"t\",\"e\",{}]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_text_error(PHX_V1, bad[i], strlen(bad[i]), PHX_E_SHAPE);
  /* a V2 decoder refuses V1 objects */
  const char *v1 = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}";
  expect_text_error(PHX_V2, v1, strlen(v1), PHX_E_SHAPE);
}

/* ---- refs keep their JSON type ----------------------------------------------------------- */

static void test_ref_type_preserved(void **state) {
  (void)state;
  static const struct {
    const char *in, *jr_out, *ref_out;
  } cases[] = {
      {"[\"12\",\"12\",\"t\",\"e\",{}]", "\"12\"", "\"12\""},
      {"[12,12,\"t\",\"e\",{}]", "12", "12"},
      {"[-7,0,\"t\",\"e\",{}]", "-7", "0"},
      {"[1.5,true,\"t\",\"e\",{}]", "1.5", "true"},
      {"[false,{\"a\":[1,\"x\"]},\"t\",\"e\",{}]", "false", "{\"a\":[1,\"x\"]}"},
      {"[[],\"a\\\"b\\u0000\",\"t\",\"e\",{}]", "[]", "\"a\\\"b\\u0000\""},
      {"[\"\",\"\",\"t\",\"e\",{}]", "\"\"", "\"\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    phx_msg_t m;
    const char *err = NULL;
    assert_int_equal(decode_str(PHX_V2, cases[i].in, &m, &err), 0);
    buf_t b = BUF_INIT, want = BUF_INIT;
    phx_encode_reply(&b, PHX_V2, m.join_ref, m.ref, m.topic, "ok", "{}", 2);
    buf_printf(&want, "[%s,%s,\"t\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]", cases[i].jr_out, cases[i].ref_out);
    expect_bytes(&b, want.data, want.len);
    buf_clear(&b);
    buf_clear(&want);
    phx_encode_reply(&b, PHX_V1, m.join_ref, m.ref, m.topic, "ok", "{}", 2);
    buf_printf(&want, "{\"topic\":\"t\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\",\"response\":{}},\"ref\":%s}", cases[i].ref_out);
    expect_bytes(&b, want.data, want.len);
    buf_free(&b);
    buf_free(&want);
    phx_msg_free(&m);
  }

  /* string "12" stays a string, number 12 stays a number, through a JSON round trip */
  phx_msg_t m;
  assert_int_equal(decode_str(PHX_V2, "[\"12\",12,\"t\",\"e\",{}]", &m, NULL), 0);
  assert_true(json_is_string(m.join_ref));
  assert_true(json_is_integer(m.ref));
  buf_t b = BUF_INIT;
  phx_encode_message(&b, PHX_V2, m.join_ref, m.ref, m.topic, m.event, "{}", 2);
  phx_msg_t back;
  assert_int_equal(phx_decode_text(PHX_V2, (const char *)b.data, b.len, &back, NULL), 0);
  assert_true(json_equal(back.join_ref, m.join_ref));
  assert_true(json_equal(back.ref, m.ref));
  assert_true(json_is_integer(back.ref));
  phx_msg_free(&back);
  /* binary: a number becomes its decimal text */
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_reply(&b, m.join_ref, m.ref, "t", "ok", NULL, 0), 0);
  expect_bytes(&b, "\x01\x02\x02\x01\x02" "1212tok", 12);
  buf_free(&b);
  phx_msg_free(&m);

  /* binary: other JSON refs become their compact JSON text */
  json_t *odd = J("[1,\"a\"]"), *yes = J("true");
  b = (buf_t)BUF_INIT;
  assert_int_equal(phx_encode_binary_reply(&b, odd, yes, "t", "ok", NULL, 0), 0);
  expect_bytes(&b, "\x01\x07\x04\x01\x02[1,\"a\"]truetok", 19);
  buf_free(&b);
  json_decref(odd);
  json_decref(yes);
}

/* ---- malformed input ---------------------------------------------------------------------- */

static void test_malformed_text(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int code;
  } cases[] = {
      {"", PHX_E_JSON},
      {" ", PHX_E_JSON},
      {"[", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",{}", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",{}]]", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",{}] x", PHX_E_JSON},
      {"[null,'1',\"t\",\"e\",{}]", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",{},]", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",{\"a\":}]", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",NaN]", PHX_E_JSON},
      {"[null,\"1\",\"t\",\"e\",\"\\ud800\"]", PHX_E_JSON},       /* lone surrogate */
      {"[null,\"1\",\"t\",\"e\",\"\xC3\x28\"]", PHX_E_JSON},       /* invalid UTF-8 */
      {"[null,\"1\",\"t\",\"e\",\"\xED\xA0\x80\"]", PHX_E_JSON},   /* encoded surrogate */
      {"[null,\"1\",\"t\",\"e\",\"a\tb\"]", PHX_E_JSON},           /* raw control char */
      {"42", 0},
      {"\"str\"", 0},
      {"null", 0},
      {"{}", PHX_E_SHAPE},
      {"{\"0\":null,\"1\":\"1\",\"2\":\"t\",\"3\":\"e\",\"4\":{}}", PHX_E_SHAPE},
      {"[]", PHX_E_SHAPE},
      {"[null,\"1\",\"t\",\"e\"]", PHX_E_SHAPE},
      {"[null,\"1\",null,\"e\",{}]", PHX_E_SHAPE},
      {"[null,\"1\",1,\"e\",{}]", PHX_E_SHAPE},
      {"[null,\"1\",[\"t\"],\"e\",{}]", PHX_E_SHAPE},
      {"[null,\"1\",\"t\",false,{}]", PHX_E_SHAPE},
      {"[null,\"1\",\"t\",{},{}]", PHX_E_SHAPE},
      {"[null,\"1\",\"t\\u0000x\",\"e\",{}]", PHX_E_SHAPE},
      {"[null,\"1\",\"t\",\"\\u0000\",{}]", PHX_E_SHAPE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_text_error(PHX_V2, cases[i].text, strlen(cases[i].text), cases[i].code);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_text_error(PHX_V1, cases[i].text, strlen(cases[i].text), 0);

  /* a raw NUL byte in the frame */
  expect_text_error(PHX_V2, "[null,\"1\",\"t\0\",\"e\",{}]", 23, PHX_E_JSON);

  /* deep nesting is refused (jansson's depth limit), without a crash */
  size_t depth = 100000;
  char *deep = malloc(2 * depth + 32);
  assert_non_null(deep);
  size_t n = (size_t)sprintf(deep, "[null,\"1\",\"t\",\"e\",");
  memset(deep + n, '[', depth);
  memset(deep + n + depth, ']', depth);
  n += 2 * depth;
  deep[n++] = ']';
  expect_text_error(PHX_V2, deep, n, PHX_E_JSON);
  free(deep);

  /* moderately deep nesting is fine */
  phx_msg_t m;
  char nested[2 * 1000 + 32];
  n = (size_t)sprintf(nested, "[null,\"1\",\"t\",\"e\",");
  memset(nested + n, '[', 1000);
  memset(nested + n + 1000, ']', 1000);
  n += 2000;
  nested[n++] = ']';
  assert_int_equal(phx_decode_text(PHX_V2, nested, n, &m, NULL), 0);
  phx_msg_free(&m);
  assert_string_equal(phx_strerror(PHX_E_JSON), "invalid JSON");
  assert_string_equal(phx_strerror(PHX_E_SHAPE), "not a Phoenix message");
}

static void test_malformed_binary(void **state) {
  (void)state;
  expect_bin_error((const uint8_t *)"", 0, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x01\x00\x00\x01\x01te", 7, PHX_E_BINARY); /* kind 1 */
  expect_bin_error((const uint8_t *)"\x02\x01\x01te", 5, PHX_E_BINARY);         /* kind 2 */
  expect_bin_error((const uint8_t *)"\x03\x00\x00\x00\x00", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\xFF\x00\x00\x00\x00", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00", 1, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x00", 4, PHX_E_BINARY);
  /* declared sizes one byte beyond the frame, field by field */
  expect_bin_error((const uint8_t *)"\x00\x01\x00\x00\x00", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\x00\x01\x00\x00", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x01\x00", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x00\x01", 5, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\x01\x01\x01\x01" "abc", 8, PHX_E_BINARY);
  expect_bin_error((const uint8_t *)"\x00\xFF\xFF\xFF\xFF" "abc", 8, PHX_E_BINARY);
  /* the exact size is fine */
  phx_msg_t m;
  assert_int_equal(phx_decode_binary((const uint8_t *)"\x00\x01\x01\x01\x01" "abcd", 9, &m, NULL), 0);
  assert_string_equal(json_string_value(m.join_ref), "a");
  assert_string_equal(json_string_value(m.ref), "b");
  assert_string_equal(m.topic, "c");
  assert_string_equal(m.event, "d");
  assert_int_equal(m.bin_len, 0);
  phx_msg_free(&m);
  /* invalid UTF-8 in each string; NUL in topic/event */
  expect_bin_error((const uint8_t *)"\x00\x01\x01\x01\x01" "\xFF" "bcd", 9, PHX_E_UTF8);
  expect_bin_error((const uint8_t *)"\x00\x01\x01\x01\x01" "a\xC0" "cd", 9, PHX_E_UTF8);
  expect_bin_error((const uint8_t *)"\x00\x01\x01\x01\x01" "ab\x80" "d", 9, PHX_E_UTF8);
  expect_bin_error((const uint8_t *)"\x00\x01\x01\x01\x01" "abc\xF5", 9, PHX_E_UTF8);
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x03\x01" "\xED\xA0\x80" "d", 9, PHX_E_UTF8);  /* surrogate */
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x02\x01" "\xC1\x81" "d", 8, PHX_E_UTF8);      /* overlong */
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x03\x01" "\xE0\x80\x80" "d", 9, PHX_E_UTF8);  /* overlong */
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x04\x01" "\xF4\x90\x80\x80" "d", 10, PHX_E_UTF8); /* > U+10FFFF */
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x02\x01" "\xE2\x82" "d", 8, PHX_E_UTF8);      /* truncated */
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x01\x01" "\x00" "d", 7, PHX_E_UTF8);
  expect_bin_error((const uint8_t *)"\x00\x00\x00\x01\x01" "t\x00", 7, PHX_E_UTF8);
  /* the payload is opaque: any bytes */
  assert_int_equal(phx_decode_binary((const uint8_t *)"\x00\x00\x00\x03\x04" "\xE2\x82\xAC" "\xF0\x9F\x98\x80" "\xFF\x00", 14, &m, NULL), 0);
  assert_string_equal(m.topic, "\xE2\x82\xAC");
  assert_string_equal(m.event, "\xF0\x9F\x98\x80");
  assert_int_equal(m.bin_len, 2);
  phx_msg_free(&m);
}

/* ---- escaping ----------------------------------------------------------------------------- */

static void test_escaping(void **state) {
  (void)state;
  static const struct {
    const char *raw, *json;
  } cases[] = {
      {"plain:topic", "\"plain:topic\""},
      {"a\"b", "\"a\\\"b\""},
      {"back\\slash", "\"back\\\\slash\""},
      {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
      {"\x01\x1f\x7f", "\"\\u0001\\u001F\x7f\""},
      {"/slash/", "\"/slash/\""},
      {"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\""},
      {"\xE2\x80\xA8", "\"\xE2\x80\xA8\""},
      /* not UTF-8: each offending byte becomes U+FFFD, so the frame stays valid UTF-8 */
      {"a\xFF" "b", "\"a\xEF\xBF\xBD" "b\""},
      {"\xC3", "\"\xEF\xBF\xBD\""},
      {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
      {"\xC3\xA9\"\xC3", "\"\xC3\xA9\\\"\xEF\xBF\xBD\""},
      {"", "\"\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int field = 0; field < 3; field++) {
      buf_t b = BUF_INIT, want = BUF_INIT;
      if (field == 0) {
        phx_encode_broadcast(&b, PHX_V2, cases[i].raw, "e", "{}", 2);
        buf_printf(&want, "[null,null,%s,\"e\",{}]", cases[i].json);
      } else if (field == 1) {
        phx_encode_broadcast(&b, PHX_V1, "t", cases[i].raw, "{}", 2);
        buf_printf(&want, "{\"topic\":\"t\",\"event\":%s,\"payload\":{},\"ref\":null}", cases[i].json);
      } else {
        phx_encode_reply(&b, PHX_V2, NULL, NULL, "t", cases[i].raw, "1", 1);
        buf_printf(&want, "[null,null,\"t\",\"phx_reply\",{\"status\":%s,\"response\":1}]", cases[i].json);
      }
      expect_bytes(&b, want.data, want.len);
      /* jansson agrees it is valid JSON */
      json_t *v = json_loadb((const char *)b.data, b.len, 0, NULL);
      assert_non_null(v);
      json_decref(v);
      buf_free(&b);
      buf_free(&want);
    }
  }
  /* escaped strings decode back to the original for valid UTF-8 */
  const char *raw = "q\"b\\c\x01\n\t\xC3\xA9\xF0\x9F\x98\x80 end";
  buf_t b = BUF_INIT;
  phx_encode_broadcast(&b, PHX_V2, raw, raw, "{}", 2);
  phx_msg_t m;
  assert_int_equal(phx_decode_text(PHX_V2, (const char *)b.data, b.len, &m, NULL), 0);
  assert_string_equal(m.topic, raw);
  assert_string_equal(m.event, raw);
  phx_msg_free(&m);
  /* a long string with one character to escape at the very end */
  buf_clear(&b);
  char longs[4097];
  memset(longs, 'x', 4095);
  longs[4095] = '"';
  longs[4096] = '\0';
  phx_encode_broadcast(&b, PHX_V2, longs, "e", "{}", 2);
  assert_int_equal(b.len, 11 + (4097 + 2) + 1 + 3 + 1 + 2 + 1);
  assert_int_equal(phx_decode_text(PHX_V2, (const char *)b.data, b.len, &m, NULL), 0);
  assert_string_equal(m.topic, longs);
  phx_msg_free(&m);
  buf_free(&b);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void check_round_trip(phx_vsn_t vsn, const char *jr_text, const char *ref_text, const char *topic,
                             const char *event, const char *payload) {
  json_t *jr = jr_text ? J(jr_text) : NULL, *ref = ref_text ? J(ref_text) : NULL;
  json_t *want_payload = J(payload);
  buf_t b = BUF_INIT;
  phx_encode_message(&b, vsn, jr, ref, topic, event, payload, strlen(payload));

  /* parse with jansson and compare element by element */
  json_t *v = json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL, NULL);
  assert_non_null(v);
  json_t *null = json_null();
  if (vsn == PHX_V2) {
    assert_int_equal(json_array_size(v), 5);
    assert_true(json_equal(json_array_get(v, 0), jr ? jr : null));
    assert_true(json_equal(json_array_get(v, 1), ref ? ref : null));
    assert_string_equal(json_string_value(json_array_get(v, 2)), topic);
    assert_string_equal(json_string_value(json_array_get(v, 3)), event);
    assert_true(json_equal(json_array_get(v, 4), want_payload));
  } else {
    assert_int_equal(json_object_size(v), 4);
    assert_true(json_equal(json_object_get(v, "ref"), ref ? ref : null));
    assert_string_equal(json_string_value(json_object_get(v, "topic")), topic);
    assert_string_equal(json_string_value(json_object_get(v, "event")), event);
    assert_true(json_equal(json_object_get(v, "payload"), want_payload));
  }
  json_decref(v);

  /* and through our own decoder */
  phx_msg_t m;
  assert_int_equal(phx_decode_text(vsn, (const char *)b.data, b.len, &m, NULL), 0);
  assert_string_equal(m.topic, topic);
  assert_string_equal(m.event, event);
  assert_true(json_equal(m.payload, want_payload));
  if (vsn == PHX_V2) {
    assert_true(jr && !json_is_null(jr) ? json_equal(m.join_ref, jr) : m.join_ref == NULL);
  } else {
    assert_null(m.join_ref); /* V1 never emits join_ref */
  }
  assert_true(ref && !json_is_null(ref) ? json_equal(m.ref, ref) : m.ref == NULL);
  phx_msg_free(&m);

  /* the reply shape too */
  buf_clear(&b);
  phx_encode_reply(&b, vsn, jr, ref, topic, "ok", payload, strlen(payload));
  assert_int_equal(phx_decode_text(vsn, (const char *)b.data, b.len, &m, NULL), 0);
  assert_string_equal(m.event, "phx_reply");
  assert_string_equal(json_string_value(json_object_get(m.payload, "status")), "ok");
  assert_true(json_equal(json_object_get(m.payload, "response"), want_payload));
  phx_msg_free(&m);

  buf_free(&b);
  json_decref(jr);
  json_decref(ref);
  json_decref(want_payload);
}

static void test_round_trips(void **state) {
  (void)state;
  for (int v = 1; v <= 2; v++) {
    phx_vsn_t vsn = (phx_vsn_t)v;
    check_round_trip(vsn, "\"3\"", "\"7\"", "room:lobby", "new_msg", "{\"body\":\"hi\"}");
    check_round_trip(vsn, NULL, NULL, "room:lobby", "new_msg", "{}");
    check_round_trip(vsn, "null", "\"12\"", "phoenix", "heartbeat", "{}");
    check_round_trip(vsn, "12", "13", "a\"b", "c\\d\n", "[1,2.5,null,true,\"x\"]");
    check_round_trip(vsn, "{\"x\":[1]}", "-3", "\xE6\x97\xA5:\xF0\x9F\x98\x80", "\x01\x7f", "\"s\\u0000\"");
    check_round_trip(vsn, "\"\"", "\"\"", "", "", "{\"nested\":{\"deep\":[{\"k\":\"\\u00e9\"}]}}");
  }
}

/* Parse a server binary frame (kinds 0/1/2 as phoenix.js reads them) and compare its fields. */
static void check_binary(const buf_t *b, int kind, const char *jr, const char *ref, const char *topic,
                         const char *ev, const uint8_t *payload, size_t len) {
  const uint8_t *p = b->data;
  const char *want[4];
  size_t nf = 0;
  if (kind == 0) want[nf++] = jr, want[nf++] = topic, want[nf++] = ev;
  if (kind == 1) want[nf++] = jr, want[nf++] = ref, want[nf++] = topic, want[nf++] = ev;
  if (kind == 2) want[nf++] = topic, want[nf++] = ev;
  assert_true(b->len >= 1 + nf);
  assert_int_equal(p[0], kind);
  size_t off = 1 + nf;
  for (size_t i = 0; i < nf; i++) {
    size_t n = p[1 + i];
    assert_int_equal(n, strlen(want[i]));
    assert_true(off + n <= b->len);
    assert_memory_equal(p + off, want[i], n);
    off += n;
  }
  assert_int_equal(b->len - off, len);
  if (len) assert_memory_equal(p + off, payload, len);
}

static void test_binary_round_trip(void **state) {
  (void)state;
  const uint8_t in[] = {0, 1, 1, 6, 3, '3', '4', 'r', 'o', 'o', 'm', ':', '1', 'y', 'j', 's', 0xDE, 0xAD, 0x00};
  phx_msg_t m;
  assert_int_equal(phx_decode_binary(in, sizeof in, &m, NULL), 0);
  buf_t b = BUF_INIT;
  assert_int_equal(phx_encode_binary_push(&b, m.join_ref, m.topic, m.event, m.bin, m.bin_len), 0);
  check_binary(&b, 0, "3", NULL, "room:1", "yjs", m.bin, m.bin_len);
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_reply(&b, m.join_ref, m.ref, m.topic, "ok", m.bin, m.bin_len), 0);
  check_binary(&b, 1, "3", "4", "room:1", "ok", m.bin, m.bin_len);
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_broadcast(&b, m.topic, m.event, m.bin, m.bin_len), 0);
  check_binary(&b, 2, NULL, NULL, "room:1", "yjs", m.bin, m.bin_len);
  buf_free(&b);
  phx_msg_free(&m);
}

/* ---- binary as text (LongPoll) --------------------------------------------------------------- */

static void expect_as_text(const buf_t *frame, const char *want) {
  buf_t t = BUF_INIT;
  assert_int_equal(phx_binary_as_text(&t, frame->data, frame->len), 0);
  assert_int_equal(t.len, strlen(want));
  assert_memory_equal(t.data, want, t.len);
  buf_free(&t);
}

static void test_binary_as_text(void **state) {
  (void)state;
  json_t *jr = json_string("3"), *ref = json_string("4");
  const uint8_t bytes[] = {0, 9, 10, 99, 100, 255};
  buf_t b = BUF_INIT;
  assert_int_equal(phx_encode_binary_push(&b, jr, "y_doc_room:a\"b", "yjs", bytes, sizeof bytes), 0);
  expect_as_text(&b, "[\"3\",null,\"y_doc_room:a\\\"b\",\"yjs\",[0,9,10,99,100,255]]");
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_reply(&b, jr, ref, "room:1", "ok", bytes, 2), 0);
  expect_as_text(&b, "[\"3\",\"4\",\"room:1\",\"phx_reply\",{\"status\":\"ok\",\"response\":[0,9]}]");
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_broadcast(&b, "room:1", "e", NULL, 0), 0);
  expect_as_text(&b, "[null,null,\"room:1\",\"e\",[]]");
  buf_clear(&b);
  assert_int_equal(phx_encode_binary_push(&b, NULL, "t", "e", bytes, 1), 0);
  expect_as_text(&b, "[null,null,\"t\",\"e\",[0]]");

  /* every truncation of a frame, and an unknown kind: refused, nothing appended */
  buf_t t = BUF_INIT;
  for (size_t n = 0; n < 1 + 3 + 2; n++) {
    assert_int_equal(phx_binary_as_text(&t, b.data, n), PHX_E_BINARY);
    assert_int_equal(t.len, 0);
  }
  const uint8_t unknown[] = {3, 0, 0};
  assert_int_equal(phx_binary_as_text(&t, unknown, sizeof unknown), PHX_E_BINARY);
  assert_int_equal(t.len, 0);
  buf_free(&t);
  buf_free(&b);
  json_decref(jr);
  json_decref(ref);
}

/* ---- vsn ----------------------------------------------------------------------------------- */

static void test_vsn_parse(void **state) {
  (void)state;
  static const struct {
    const char *vsn;
    int want;
  } cases[] = {
      {"1.0.0", PHX_V1},
      {"1.0.1", PHX_V1},
      {"1.0.42", PHX_V1},
      {"1.0.0+build.7", PHX_V1},
      {"1.0.3-beta", PHX_V1},
      {"2.0.0", PHX_V2},
      {"2.0.1", PHX_V2},
      {"2.0.10", PHX_V2},
      {"2.0.123456789012345678901234567890", PHX_V2}, /* Elixir integers are unbounded */
      {"2.0.0+abc", PHX_V2},
      {"2.0.0+a-b.c", PHX_V2},
      {"2.0.1-rc.1", PHX_V2},
      {"2.0.1-0", PHX_V2},
      {"2.0.1-0a", PHX_V2},
      {"2.0.1-alpha-1+b", PHX_V2},
      {"2.0.0-rc.1", -1}, /* a pre-release of the lower bound is below it */
      {"2.0.0-0", -1},
      {"1.0.0-beta", -1},
      {"2.0.0-rc.1+b", -1},
      {"2.1.0", -1},
      {"2.1.0-0", -1},
      {"2.1.0-alpha", -1},
      {"2.2.0", -1},
      {"3.0.0", -1},
      {"123.1.1", -1},
      {"0.0.1", -1},
      {"1.1.0", -1},
      {"0.9.9", -1},
      {"", -1},
      {"2", -1},
      {"2.0", -1},
      {"2.0.", -1},
      {"2..0", -1},
      {".2.0.0", -1},
      {"2.0.0.0", -1},
      {"02.0.0", -1},
      {"2.00.0", -1},
      {"2.0.00", -1},
      {"2.0.01", -1},
      {"2.0.0-", -1},
      {"2.0.0+", -1},
      {"2.0.1-01", -1},
      {"2.0.1-rc..1", -1},
      {"2.0.1-rc.", -1},
      {"2.0.1-r_c", -1},
      {"2.0.0+a+b", -1},
      {"2.0.0+a..b", -1},
      {"2.0.0 ", -1},
      {" 2.0.0", -1},
      {"v2.0.0", -1},
      {"2.0.x", -1},
      {"2.0.-1", -1},
      {"+2.0.0", -1},
      {"-2.0.0", -1},
      {"2.0.0\xC3\xA9", -1},
      {"~> 2.0.0", -1},
  };
  assert_int_equal(phx_vsn_parse(NULL), PHX_V1);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = phx_vsn_parse(cases[i].vsn);
    if (got != cases[i].want) {
      print_error("vsn \"%s\": want %d, got %d\n", cases[i].vsn, cases[i].want, got);
      fail();
    }
  }
}

/* The payload's own bytes are located, so a relay sends exactly what the client wrote — numbers
 * beyond 64 bits and float spellings included — and such numbers do not make a frame malformed. */
static void test_payload_text(void **state) {
  static const struct {
    phx_vsn_t vsn;
    const char *frame;
    const char *payload;
  } cases[] = {
      {PHX_V2, "[null,\"1\",\"t\",\"e\",99999999999999999999999]", "99999999999999999999999"},
      {PHX_V2, " [ \"3\" , \"4\" , \"room:x\" , \"msg\" , {\"a\":[1,{\"b\":\"]}\\\"\"}],\"n\":0.1} , \"extra\" ] ",
       "{\"a\":[1,{\"b\":\"]}\\\"\"}],\"n\":0.1}"},
      {PHX_V2, "[null,null,\"t\",\"e\",\"s,t]r\"]", "\"s,t]r\""},
      {PHX_V2, "[null,null,\"t\",\"e\",1.50]", "1.50"},
      {PHX_V1, "{\"topic\":\"t\",\"payload\":{\"x\":[1e3]},\"event\":\"e\",\"ref\":null}", "{\"x\":[1e3]}"},
      {PHX_V1, "{\"payload\":1,\"topic\":\"t\",\"event\":\"e\",\"ref\":\"2\",\"payload\":[2]}", "[2]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    phx_msg_t m;
    const char *err = NULL;
    assert_int_equal(phx_decode_text(cases[i].vsn, cases[i].frame, strlen(cases[i].frame), &m, &err), 0);
    assert_non_null(m.payload_text);
    assert_int_equal(m.payload_text_len, strlen(cases[i].payload));
    assert_memory_equal(m.payload_text, cases[i].payload, m.payload_text_len);
    phx_msg_free(&m);
  }
  /* An escaped key that might spell "payload": not located, the caller encodes instead. */
  const char *esc = "{\"topic\":\"t\",\"event\":\"e\",\"ref\":null,\"pay\\u006coad\":{}}";
  phx_msg_t m;
  const char *err = NULL;
  assert_int_equal(phx_decode_text(PHX_V1, esc, strlen(esc), &m, &err), 0);
  assert_null(m.payload_text);
  assert_non_null(m.payload);
  phx_msg_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_frames_table),
      cmocka_unit_test(test_push_and_broadcast_wrappers),
      cmocka_unit_test(test_binary_client_push_example),
      cmocka_unit_test(test_binary_server_push_example),
      cmocka_unit_test(test_binary_broadcast_example),
      cmocka_unit_test(test_binary_reply_example),
      cmocka_unit_test(test_binary_field_limits),
      cmocka_unit_test(test_decode_client_frames),
      cmocka_unit_test(test_decode_v1),
      cmocka_unit_test(test_ref_type_preserved),
      cmocka_unit_test(test_malformed_text),
      cmocka_unit_test(test_malformed_binary),
      cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_binary_round_trip),
      cmocka_unit_test(test_binary_as_text),
      cmocka_unit_test(test_vsn_parse),
      cmocka_unit_test(test_payload_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
