/* The bus message codec (cluster/cluster_msg.h). Every type is encoded with the put_* calls in the
 * field order of its enum comment, stamped, decoded and checked field by field; one message is
 * also compared with bytes written by hand, so the wire format cannot drift without a test
 * noticing (nodes of two builds share one bus).
 *
 * The decoder faces peers it does not trust: every rejection is checked with the reason it gives
 * (what the node logs), on an exact-size heap copy so that ASan sees a read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster_msg.h"
#include "core/buf.h"

/* --- encoding the messages -------------------------------------------------------------------- */

#define NODE 0x0102030405060708ull
/* A meta as nodes send them: an object with its phx_ref. */
#define REF_META "{\"phx_ref\":\"AAAAAAAAAAAAAAAAAAAA\"}"

static void put_s(buf_t *b, const char *s) { cluster_msg_put_str(b, s, strlen(s)); }

static void enc_heartbeat(buf_t *b, const char *name, const char *sample) {
  cluster_msg_begin(b, CLUSTER_MSG_HEARTBEAT, NODE);
  put_s(b, name);
  put_s(b, sample);
}

static void enc_broadcast(buf_t *b, const char *topic, const char *event, uint8_t binary,
                          const void *payload, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_BROADCAST, NODE);
  put_s(b, topic);
  put_s(b, event);
  cluster_msg_put_u8(b, binary);
  cluster_msg_put_str(b, payload, len);
}

static void enc_track(buf_t *b, const char *topic, uint64_t channel_id, const char *key,
                      const char *meta) {
  cluster_msg_begin(b, CLUSTER_MSG_TRACK, NODE);
  put_s(b, topic);
  cluster_msg_put_u64(b, channel_id);
  put_s(b, key);
  put_s(b, meta);
}

static void enc_untrack(buf_t *b, const char *topic, uint64_t channel_id) {
  cluster_msg_begin(b, CLUSTER_MSG_UNTRACK, NODE);
  put_s(b, topic);
  cluster_msg_put_u64(b, channel_id);
}

/* DUMP_REQUEST and DUMP_END */
static void enc_dump_edge(buf_t *b, cluster_msg_type_t type, uint64_t target, uint32_t epoch) {
  cluster_msg_begin(b, type, NODE);
  cluster_msg_put_u64(b, target);
  cluster_msg_put_u32(b, epoch);
}

typedef struct entry {
  uint64_t channel_id;
  const char *key, *meta;
} entry_t;

static void enc_dump_part(buf_t *b, uint64_t target, uint32_t epoch, const char *topic,
                          const entry_t *e, uint32_t n) {
  cluster_msg_begin(b, CLUSTER_MSG_DUMP_PART, NODE);
  cluster_msg_put_u64(b, target);
  cluster_msg_put_u32(b, epoch);
  put_s(b, topic);
  cluster_msg_put_u32(b, n);
  for (uint32_t i = 0; i < n; i++) {
    cluster_msg_put_u64(b, e[i].channel_id);
    put_s(b, e[i].key);
    put_s(b, e[i].meta);
  }
}

static void enc_query(buf_t *b, uint64_t query_id, uint8_t kind) {
  cluster_msg_begin(b, CLUSTER_MSG_QUERY, NODE);
  cluster_msg_put_u64(b, query_id);
  cluster_msg_put_u8(b, kind);
}

static void enc_answer(buf_t *b, uint64_t target, uint64_t query_id, const char *body) {
  cluster_msg_begin(b, CLUSTER_MSG_ANSWER, NODE);
  cluster_msg_put_u64(b, target);
  cluster_msg_put_u64(b, query_id);
  put_s(b, body);
}

static void enc_app(buf_t *b, uint64_t target, const void *body, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_APP, NODE);
  cluster_msg_put_u64(b, target);
  cluster_msg_put_str(b, body, len);
}

/* --- decoding --------------------------------------------------------------------------------- */

/* Decodes an exact-size copy: 0 or -1, *why set on failure. The copy is returned in *keep (the
 * decoded strings point into it; the caller frees it). */
static int decode_copy(const void *data, size_t len, cluster_msg_t *m, const char **why,
                       uint8_t **keep) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len) memcpy(copy, data, len);
  *why = NULL;
  int rc = cluster_msg_decode(copy, len, m, why);
  *keep = copy;
  return rc;
}

static uint8_t *decode_ok(const buf_t *b, cluster_msg_t *m) {
  const char *why;
  uint8_t *keep;
  if (decode_copy(b->data, b->len, m, &why, &keep))
    fail_msg("a valid message was refused: %s", why ? why : "(no reason)");
  assert_null(why);
  return keep;
}

/* Refused, for want_why (NULL: any reason); returns the reason. */
static const char *expect_reject_bytes(const void *data, size_t len, const char *want_why) {
  cluster_msg_t m;
  const char *why;
  uint8_t *keep;
  int rc = decode_copy(data, len, &m, &why, &keep);
  free(keep);
  if (rc != -1)
    fail_msg("a message of %zu bytes was accepted; want refused (%s)", len,
             want_why ? want_why : "any reason");
  assert_non_null(why);
  if (want_why && strcmp(why, want_why))
    fail_msg("refused for \"%s\", want \"%s\"", why, want_why);
  return why;
}

static void expect_reject(buf_t *b, const char *want_why) {
  expect_reject_bytes(b->data, b->len, want_why);
  buf_free(b);
}

static void assert_str(cluster_str_t s, const char *want) {
  size_t n = strlen(want);
  if (s.len != n || (n && memcmp(s.p, want, n)))
    fail_msg("got \"%.*s\" (%zu bytes), want \"%s\"", (int)s.len, s.p ? s.p : "", s.len, want);
}

static void assert_empty(cluster_str_t s) { assert_int_equal(s.len, 0); }

/* The strings of a decoded message lie in the message itself: the bus hands them on unchanged. */
static void assert_inside(cluster_str_t s, const uint8_t *msg, size_t len) {
  assert_true((const uint8_t *)s.p >= msg && (const uint8_t *)s.p + s.len <= msg + len);
}

/* --- every type, round trip ------------------------------------------------------------------- */

static void test_header_bytes_and_stamp(void **state) {
  buf_t b = BUF_INIT;
  enc_untrack(&b, "ab", 0x1122334455667788ull);
  cluster_msg_stamp(b.data, 0xA1A2A3A4A5A6A7A8ull);
  /* Little-endian integers, u32 string lengths; the sequence at CLUSTER_MSG_SEQ_OFF. */
  static const uint8_t want[] = {
      'C',  'D',  'R',  '1',  CLUSTER_MSG_UNTRACK,     /* magic, type */
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* node */
      0xA8, 0xA7, 0xA6, 0xA5, 0xA4, 0xA3, 0xA2, 0xA1, /* sequence */
      0x02, 0x00, 0x00, 0x00, 'a',  'b',              /* topic */
      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* channel id */
  };
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  assert_int_equal(CLUSTER_MSG_HEADER, 21);
  assert_int_equal(CLUSTER_MSG_SEQ_OFF, 13);

  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_UNTRACK);
  assert_true(m.node == NODE);
  assert_true(m.seq == 0xA1A2A3A4A5A6A7A8ull);
  assert_str(m.topic, "ab");
  assert_true(m.channel_id == 0x1122334455667788ull);
  free(keep);

  /* begin writes sequence 0; a second stamp overwrites the first and nothing else. */
  buf_t z = BUF_INIT;
  enc_untrack(&z, "ab", 0x1122334455667788ull);
  keep = decode_ok(&z, &m);
  assert_true(m.seq == 0);
  free(keep);
  cluster_msg_stamp(z.data, 0xA1A2A3A4A5A6A7A8ull);
  assert_memory_equal(z.data, want, sizeof want);
  cluster_msg_stamp(z.data, UINT64_MAX);
  keep = decode_ok(&z, &m);
  assert_true(m.seq == UINT64_MAX);
  assert_memory_equal(z.data + CLUSTER_MSG_HEADER, want + CLUSTER_MSG_HEADER,
                      sizeof want - CLUSTER_MSG_HEADER);
  free(keep);
  buf_free(&z);
  buf_free(&b);
}

static void test_heartbeat(void **state) {
  buf_t b = BUF_INIT;
  enc_heartbeat(&b, "node-\xC3\xA9:4000", "{\"connections\":3,\"cpu\":0.5}");
  cluster_msg_stamp(b.data, 42);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_HEARTBEAT);
  assert_true(m.node == NODE);
  assert_true(m.seq == 42);
  assert_str(m.name, "node-\xC3\xA9:4000");
  assert_str(m.sample, "{\"connections\":3,\"cpu\":0.5}");
  assert_inside(m.name, keep, b.len);
  assert_inside(m.sample, keep, b.len);
  free(keep);
  buf_free(&b);

  /* A node that has no sample yet sends an empty one. */
  enc_heartbeat(&b, "n", "");
  keep = decode_ok(&b, &m);
  assert_str(m.name, "n");
  assert_empty(m.sample);
  free(keep);
  buf_free(&b);
}

static void test_bye(void **state) {
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_BYE, UINT64_MAX);
  cluster_msg_stamp(b.data, 7);
  assert_int_equal(b.len, CLUSTER_MSG_HEADER);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_BYE);
  assert_true(m.node == UINT64_MAX);
  assert_true(m.seq == 7);
  assert_empty(m.name);
  assert_empty(m.topic);
  free(keep);
  buf_free(&b);
}

static void test_broadcast_text_and_binary(void **state) {
  buf_t b = BUF_INIT;
  const char *payload = " {\"body\":\"h\xC3\xA9llo\",\"n\":[1,2.5e3,null]} ";
  enc_broadcast(&b, "room:lobby", "new_msg", 0, payload, strlen(payload));
  cluster_msg_stamp(b.data, 1);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_BROADCAST);
  assert_true(m.seq == 1);
  assert_str(m.topic, "room:lobby");
  assert_str(m.event, "new_msg");
  assert_false(m.binary);
  assert_str(m.payload, payload);
  assert_inside(m.payload, keep, b.len);
  free(keep);
  buf_free(&b);

  /* Any JSON value is a payload, not only an object. */
  enc_broadcast(&b, "t", "e", 0, "[1,\"x\"]", 7);
  keep = decode_ok(&b, &m);
  assert_str(m.payload, "[1,\"x\"]");
  free(keep);
  buf_free(&b);

  /* Binary: any bytes, NUL and invalid UTF-8 included, and none at all. */
  static const uint8_t bin[] = {0x00, 0xFF, 0xC0, 0x80, '{', 0x00};
  enc_broadcast(&b, "room:bin", "blob", 1, bin, sizeof bin);
  keep = decode_ok(&b, &m);
  assert_true(m.binary);
  assert_int_equal(m.payload.len, sizeof bin);
  assert_memory_equal(m.payload.p, bin, sizeof bin);
  free(keep);
  buf_free(&b);
  enc_broadcast(&b, "room:bin", "empty", 1, "", 0);
  keep = decode_ok(&b, &m);
  assert_true(m.binary);
  assert_empty(m.payload);
  free(keep);
  buf_free(&b);
}

static void test_track_untrack(void **state) {
  buf_t b = BUF_INIT;
  const char *meta = "{\"name\":\"Ann\",\"node\":\"a:4000\",\"phx_ref\":\"AAAAAAAAAAAAAAAAAAAA\"}";
  enc_track(&b, "room:p", UINT64_MAX - 1, "user:\xE2\x82\xAC", meta);
  cluster_msg_stamp(b.data, 2);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_TRACK);
  assert_true(m.seq == 2);
  assert_str(m.topic, "room:p");
  assert_true(m.channel_id == UINT64_MAX - 1);
  assert_str(m.key, "user:\xE2\x82\xAC");
  assert_str(m.meta, meta);
  assert_inside(m.meta, keep, b.len);
  free(keep);
  buf_free(&b);

  /* Whitespace before the object is still an object. */
  enc_track(&b, "room:p", 1, "k", "\t\r\n {\"phx_ref\":\"r\"}");
  keep = decode_ok(&b, &m);
  assert_str(m.meta, "\t\r\n {\"phx_ref\":\"r\"}");
  free(keep);
  buf_free(&b);

  enc_untrack(&b, "room:p", 99);
  cluster_msg_stamp(b.data, 3);
  keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_UNTRACK);
  assert_true(m.seq == 3);
  assert_str(m.topic, "room:p");
  assert_true(m.channel_id == 99);
  assert_empty(m.key);
  assert_empty(m.meta);
  free(keep);
  buf_free(&b);
}

static void test_dump_request_and_end(void **state) {
  static const cluster_msg_type_t types[] = {CLUSTER_MSG_DUMP_REQUEST, CLUSTER_MSG_DUMP_END};
  for (size_t i = 0; i < 2; i++) {
    buf_t b = BUF_INIT;
    enc_dump_edge(&b, types[i], 0xFEDCBA9876543210ull, UINT32_MAX);
    cluster_msg_stamp(b.data, 10 + i);
    cluster_msg_t m;
    uint8_t *keep = decode_ok(&b, &m);
    assert_int_equal(m.type, types[i]);
    assert_true(m.seq == 10 + i);
    assert_true(m.target == 0xFEDCBA9876543210ull);
    assert_int_equal(m.epoch, UINT32_MAX);
    free(keep);
    buf_free(&b);
  }
}

static void test_dump_part_entries(void **state) {
  const entry_t e[] = {
      {1, "ann", "{\"phx_ref\":\"AAAAAAAAAAAAAAAAAAAA\"}"},
      {UINT64_MAX, "b\xC3\xA9", "{\"x\":[1,{\"y\":null}],\"phx_ref\":\"BBBBBBBBBBBBBBBBBBBB\"}"},
      /* a second meta of the same channel */
      {1, "ann", "{\"tab\":2,\"phx_ref\":\"CCCCCCCCCCCCCCCCCCCC\"}"},
      {77, "z", " {\"phx_ref\":\"DDDDDDDDDDDDDDDDDDDD\"} "},
  };
  const uint32_t n = sizeof e / sizeof e[0];
  buf_t b = BUF_INIT;
  enc_dump_part(&b, 0x55, 3, "room:dump", e, n);
  cluster_msg_stamp(b.data, 12);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_DUMP_PART);
  assert_true(m.seq == 12);
  assert_true(m.target == 0x55);
  assert_int_equal(m.epoch, 3);
  assert_str(m.topic, "room:dump");
  assert_int_equal(m.nentries, n);
  /* The entries are the tail of the message. */
  assert_ptr_equal(m.entries_end, keep + b.len);
  assert_true(m.entries > keep && m.entries < m.entries_end);

  const uint8_t *pos = m.entries;
  uint64_t id;
  cluster_str_t key, meta;
  for (uint32_t i = 0; i < n; i++) {
    assert_true(cluster_msg_next_entry(&pos, m.entries_end, &id, &key, &meta));
    assert_true(id == e[i].channel_id);
    assert_str(key, e[i].key);
    assert_str(meta, e[i].meta);
    assert_inside(key, keep, b.len);
    assert_inside(meta, keep, b.len);
  }
  assert_ptr_equal(pos, m.entries_end);
  assert_false(cluster_msg_next_entry(&pos, m.entries_end, &id, &key, &meta));
  assert_ptr_equal(pos, m.entries_end);
  free(keep);
  buf_free(&b);

  /* A part may carry no entry at all. */
  enc_dump_part(&b, 0x55, 3, "room:dump", NULL, 0);
  keep = decode_ok(&b, &m);
  assert_int_equal(m.nentries, 0);
  assert_ptr_equal(m.entries, m.entries_end);
  pos = m.entries;
  assert_false(cluster_msg_next_entry(&pos, m.entries_end, &id, &key, &meta));
  free(keep);
  buf_free(&b);
}

static void test_query_and_answer(void **state) {
  buf_t b = BUF_INIT;
  enc_query(&b, 0xABCDEF, CLUSTER_QUERY_TOPICS);
  cluster_msg_stamp(b.data, 20);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_QUERY);
  assert_true(m.seq == 20);
  assert_true(m.query_id == 0xABCDEF);
  assert_int_equal(m.kind, CLUSTER_QUERY_TOPICS);
  free(keep);
  buf_free(&b);

  const char *body = "{\"room:a\":3,\"room:b\":1}";
  enc_answer(&b, NODE ^ 1, 0xABCDEF, body);
  cluster_msg_stamp(b.data, 21);
  keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_ANSWER);
  assert_true(m.seq == 21);
  assert_true(m.target == (NODE ^ 1));
  assert_true(m.query_id == 0xABCDEF);
  assert_str(m.body, body);
  free(keep);
  buf_free(&b);

  /* Any JSON value answers. */
  enc_answer(&b, 1, 2, "[]");
  keep = decode_ok(&b, &m);
  assert_str(m.body, "[]");
  free(keep);
  buf_free(&b);
}

/* --- rejections ------------------------------------------------------------------------------- */

/* One valid message of each type (the truncation and trailing-byte tests run over all of them). */
static size_t valid_messages(buf_t *out) {
  size_t n = 0;
  const entry_t e[] = {{5, "k1", "{\"a\":1,\"phx_ref\":\"r\"}"}, {6, "k2", REF_META}};
  enc_heartbeat(&out[n++], "node", "{\"s\":1}");
  enc_heartbeat(&out[n++], "node", "");
  cluster_msg_begin(&out[n++], CLUSTER_MSG_BYE, NODE);
  enc_broadcast(&out[n++], "t", "e", 0, "{\"x\":1}", 7);
  enc_broadcast(&out[n++], "t", "e", 1, "\x01\x02", 2);
  enc_track(&out[n++], "t", 9, "k", "{\"phx_ref\":\"r\"}");
  enc_untrack(&out[n++], "t", 9);
  enc_dump_edge(&out[n++], CLUSTER_MSG_DUMP_REQUEST, 1, 2);
  enc_dump_part(&out[n++], 1, 2, "t", e, 2);
  enc_dump_edge(&out[n++], CLUSTER_MSG_DUMP_END, 1, 2);
  enc_query(&out[n++], 3, CLUSTER_QUERY_TOPICS);
  enc_answer(&out[n++], 1, 3, "{}");
  enc_app(&out[n++], 7, "\x00\xff", 2);
  return n;
}

#define NVALID 13

static void test_every_valid_message_decodes(void **state) {
  buf_t msgs[NVALID] = {0};
  assert_int_equal(valid_messages(msgs), NVALID);
  bool seen[CLUSTER_MSG_TYPE_MAX + 1] = {false};
  for (size_t i = 0; i < NVALID; i++) {
    cluster_msg_t m;
    free(decode_ok(&msgs[i], &m));
    seen[m.type] = true;
    buf_free(&msgs[i]);
  }
  /* The truncation and trailing-byte tests cover every type. */
  for (int t = CLUSTER_MSG_HEARTBEAT; t <= CLUSTER_MSG_TYPE_MAX; t++)
    if (!seen[t]) fail_msg("type %d has no valid sample", t);
}

static void test_every_truncation_refused(void **state) {
  buf_t msgs[NVALID] = {0};
  valid_messages(msgs);
  for (size_t i = 0; i < NVALID; i++) {
    for (size_t len = 0; len < msgs[i].len; len++) {
      /* Below the header it is not ours; past it a field is cut short (never taken for a shorter
       * valid field: every length is explicit). */
      if (len < CLUSTER_MSG_HEADER) {
        expect_reject_bytes(msgs[i].data, len, "not a cinder bus message");
        continue;
      }
      const char *why = expect_reject_bytes(msgs[i].data, len, NULL);
      if (strcmp(why, "truncated") && strcmp(why, "a field runs past the end"))
        fail_msg("message %zu cut at %zu of %zu bytes: refused for \"%s\"", i, len, msgs[i].len,
                 why);
    }
    buf_free(&msgs[i]);
  }
}

static void test_byte_after_last_field_refused(void **state) {
  buf_t msgs[NVALID] = {0};
  valid_messages(msgs);
  for (size_t i = 0; i < NVALID; i++) {
    buf_append_byte(&msgs[i], 0);
    expect_reject(&msgs[i], "bytes after the last field");
  }
}

static void test_header_refused(void **state) {
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_BYE, NODE);
  b.data[3] = '2'; /* a future version of the format is not ours either */
  expect_reject(&b, "not a cinder bus message");
  cluster_msg_begin(&b, CLUSTER_MSG_BYE, NODE);
  b.data[0] = 'c';
  expect_reject(&b, "not a cinder bus message");
  /* Foreign text on the channel. */
  expect_reject_bytes("hello from somebody else's app", 30, "not a cinder bus message");
  expect_reject_bytes("", 0, "not a cinder bus message");
  /* The magic alone, and the header short of one byte. */
  expect_reject_bytes(CLUSTER_MSG_MAGIC, 4, "not a cinder bus message");
  cluster_msg_begin(&b, CLUSTER_MSG_BYE, NODE);
  b.len = CLUSTER_MSG_HEADER - 1;
  expect_reject(&b, "not a cinder bus message");

  static const uint8_t unknown[] = {0, CLUSTER_MSG_TYPE_MAX + 1, 0x7F, 0xFF};
  for (size_t i = 0; i < sizeof unknown; i++) {
    cluster_msg_begin(&b, (cluster_msg_type_t)unknown[i], NODE);
    expect_reject(&b, "unknown message type");
    /* with fields after it, as a newer type would have */
    cluster_msg_begin(&b, (cluster_msg_type_t)unknown[i], NODE);
    put_s(&b, "t");
    expect_reject(&b, "unknown message type");
  }
}

static void test_string_length_past_end(void **state) {
  buf_t b = BUF_INIT;
  /* The topic's length claims one byte more than there is. */
  cluster_msg_begin(&b, CLUSTER_MSG_UNTRACK, NODE);
  cluster_msg_put_u32(&b, 2 + 8 + 1);
  buf_append(&b, "ab", 2);
  cluster_msg_put_u64(&b, 1);
  expect_reject(&b, "a field runs past the end");
  /* A length near 4 GiB must not wrap a pointer. */
  cluster_msg_begin(&b, CLUSTER_MSG_TRACK, NODE);
  cluster_msg_put_u32(&b, UINT32_MAX);
  buf_append(&b, "ab", 2);
  expect_reject(&b, "a field runs past the end");
  /* The last field of a broadcast. */
  cluster_msg_begin(&b, CLUSTER_MSG_BROADCAST, NODE);
  put_s(&b, "t");
  put_s(&b, "e");
  cluster_msg_put_u8(&b, 1);
  cluster_msg_put_u32(&b, 5);
  buf_append(&b, "abcd", 4);
  expect_reject(&b, "a field runs past the end");
  /* A dump part that announces more entries than it holds. */
  const entry_t e[] = {{5, "k", REF_META}};
  enc_dump_part(&b, 1, 2, "t", e, 1);
  /* the count, right before the one entry */
  b.data[b.len - (8 + 4 + 1 + 4 + strlen(REF_META)) - 4] = 2;
  expect_reject(&b, "truncated");
}

/* The four kinds of bad name, as the topic, event, presence key and node name. */
typedef void (*enc_name_fn)(buf_t *b, const char *name, size_t len);

static void name_as_topic(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_UNTRACK, NODE);
  cluster_msg_put_str(b, name, len);
  cluster_msg_put_u64(b, 1);
}

static void name_as_event(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_BROADCAST, NODE);
  put_s(b, "t");
  cluster_msg_put_str(b, name, len);
  cluster_msg_put_u8(b, 0);
  put_s(b, "{}");
}

static void name_as_key(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_TRACK, NODE);
  put_s(b, "t");
  cluster_msg_put_u64(b, 1);
  cluster_msg_put_str(b, name, len);
  put_s(b, REF_META);
}

static void name_as_dump_key(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_DUMP_PART, NODE);
  cluster_msg_put_u64(b, 1);
  cluster_msg_put_u32(b, 1);
  put_s(b, "t");
  cluster_msg_put_u32(b, 2);
  cluster_msg_put_u64(b, 1);
  put_s(b, "fine");
  put_s(b, REF_META);
  cluster_msg_put_u64(b, 2);
  cluster_msg_put_str(b, name, len);
  put_s(b, REF_META);
}

static void name_as_node(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_HEARTBEAT, NODE);
  cluster_msg_put_str(b, name, len);
  put_s(b, "");
}

static void name_as_dump_topic(buf_t *b, const char *name, size_t len) {
  cluster_msg_begin(b, CLUSTER_MSG_DUMP_PART, NODE);
  cluster_msg_put_u64(b, 1);
  cluster_msg_put_u32(b, 1);
  cluster_msg_put_str(b, name, len);
  cluster_msg_put_u32(b, 0);
}

static void check_names(enc_name_fn enc, const char *why) {
  buf_t b = BUF_INIT;
  char name[CLUSTER_MSG_MAX_NAME + 2];
  cluster_msg_t m;
  /* The limits themselves pass: one byte, 255 bytes, multi-byte UTF-8. */
  memset(name, 'n', sizeof name);
  enc(&b, name, 1);
  free(decode_ok(&b, &m));
  buf_free(&b);
  enc(&b, name, CLUSTER_MSG_MAX_NAME);
  free(decode_ok(&b, &m));
  buf_free(&b);
  enc(&b, "\xF0\x9F\x98\x80", 4);
  free(decode_ok(&b, &m));
  buf_free(&b);

  enc(&b, "", 0);
  expect_reject(&b, why);
  enc(&b, name, CLUSTER_MSG_MAX_NAME + 1);
  expect_reject(&b, why);
  enc(&b, "a\0b", 3);
  expect_reject(&b, why);
  enc(&b, "\0", 1);
  expect_reject(&b, why);
  enc(&b, "a\xC3", 2); /* cut in the middle of a character */
  expect_reject(&b, why);
  enc(&b, "\xED\xA0\x80", 3); /* a surrogate */
  expect_reject(&b, why);
  enc(&b, "\xC0\xAF", 2); /* overlong */
  expect_reject(&b, why);
  enc(&b, "\xFF", 1);
  expect_reject(&b, why);
}

static void test_bad_names(void **state) {
  check_names(name_as_topic, "bad topic");
  check_names(name_as_dump_topic, "bad topic");
  check_names(name_as_event, "bad event");
  check_names(name_as_key, "bad presence key");
  check_names(name_as_dump_key, "bad presence key");
  check_names(name_as_node, "bad node name");
}

static void test_bad_payloads(void **state) {
  buf_t b = BUF_INIT;
  static const char *const not_json[] = {
      "", " ", "{\"a\":", "{'a':1}", "nul", "[1,]", "{} {}", "\"\xC3\"", "{\"a\":\"\x01\"}",
  };
  for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++) {
    enc_broadcast(&b, "t", "e", 0, not_json[i], strlen(not_json[i]));
    expect_reject(&b, "payload is not JSON");
    /* The same bytes are fine as a binary payload. */
    enc_broadcast(&b, "t", "e", 1, not_json[i], strlen(not_json[i]));
    cluster_msg_t m;
    free(decode_ok(&b, &m));
    assert_true(m.binary);
    buf_free(&b);
  }
  /* A NUL inside a text payload. */
  enc_broadcast(&b, "t", "e", 0, "{}\0", 3);
  expect_reject(&b, "payload is not JSON");

  static const uint8_t flags[] = {2, 3, 0x80, 0xFF};
  for (size_t i = 0; i < sizeof flags; i++) {
    enc_broadcast(&b, "t", "e", flags[i], "{}", 2);
    expect_reject(&b, "bad binary flag");
  }
}

/* Meta text of exactly n bytes: {"phx_ref":"xxx..."} */
static char *meta_of_size(size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memcpy(s, "{\"phx_ref\":\"", 12);
  memset(s + 12, 'x', n - 14);
  memcpy(s + n - 2, "\"}", 3);
  return s;
}

static void test_bad_metas(void **state) {
  buf_t b = BUF_INIT;
  static const char *const bad[] = {"[]", "[{}]", "\"{}\"", "1", "null", " true", "", "{",
                                    "{\"a\":1", "{\"a\":1}}", "{\"\xFF\":1}"};
  const entry_t fine = {1, "ok", REF_META};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    enc_track(&b, "t", 1, "k", bad[i]);
    expect_reject(&b, "bad presence meta");
    /* In a dump part, after a valid entry. */
    entry_t e[2] = {fine, {2, "k", bad[i]}};
    enc_dump_part(&b, 1, 2, "t", e, 2);
    expect_reject(&b, "bad presence meta");
  }
  /* 8192 bytes: the 4 KiB a client may give plus what the server adds, with room to spare. */
  cluster_msg_t m;
  char *meta = meta_of_size(8192);
  enc_track(&b, "t", 1, "k", meta);
  free(decode_ok(&b, &m));
  assert_int_equal(m.meta.len, 8192);
  buf_free(&b);
  free(meta);
  meta = meta_of_size(8193);
  enc_track(&b, "t", 1, "k", meta);
  expect_reject(&b, "bad presence meta");
  entry_t e[2] = {fine, {2, "k", meta}};
  enc_dump_part(&b, 1, 2, "t", e, 2);
  expect_reject(&b, "bad presence meta");
  free(meta);
  /* An object without phx_ref could never leave a phoenix.js list (leaves match by phx_ref). */
  enc_track(&b, "t", 1, "k", "{\"online_at\":\"1\"}");
  expect_reject(&b, "presence meta without phx_ref");
  entry_t no_ref[2] = {fine, {2, "k", "{}"}};
  enc_dump_part(&b, 1, 2, "t", no_ref, 2);
  expect_reject(&b, "presence meta without phx_ref");
}

/* A layer above's message: any bytes, to one node or (target 0) to all. */
static void test_app(void **state) {
  buf_t b = BUF_INIT;
  static const uint8_t body[] = {0, 0xFF, 'C', 'D', 'R', '1', 0x80};
  enc_app(&b, 0, body, sizeof body);
  cluster_msg_stamp(b.data, 5);
  cluster_msg_t m;
  uint8_t *keep = decode_ok(&b, &m);
  assert_int_equal(m.type, CLUSTER_MSG_APP);
  assert_true(m.target == 0);
  assert_int_equal(m.body.len, sizeof body);
  assert_memory_equal(m.body.p, body, sizeof body);
  assert_inside(m.body, keep, b.len);
  free(keep);
  buf_free(&b);
  enc_app(&b, NODE ^ 3, "", 0);
  keep = decode_ok(&b, &m);
  assert_true(m.target == (NODE ^ 3));
  assert_int_equal(m.body.len, 0);
  free(keep);
  buf_free(&b);
}

static void test_bad_samples(void **state) {
  buf_t b = BUF_INIT;
  static const char *const bad[] = {"[]", "1", "\"s\"", "null", "{", "{\"a\":}", " ", "{}x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    enc_heartbeat(&b, "node", bad[i]);
    expect_reject(&b, "bad activity sample");
  }
  /* The decoder caps a sample at 64 KiB. */
  cluster_msg_t m;
  char *sample = meta_of_size(65536);
  enc_heartbeat(&b, "node", sample);
  free(decode_ok(&b, &m));
  buf_free(&b);
  free(sample);
  sample = meta_of_size(65537);
  enc_heartbeat(&b, "node", sample);
  expect_reject(&b, "bad activity sample");
  free(sample);
}

static void test_bad_queries_and_answers(void **state) {
  buf_t b = BUF_INIT;
  static const uint8_t kinds[] = {0, CLUSTER_QUERY_TOPICS + 1, 0xFF};
  for (size_t i = 0; i < sizeof kinds; i++) {
    enc_query(&b, 1, kinds[i]);
    expect_reject(&b, "unknown query");
  }
  static const char *const bad[] = {"", "{", "topics", "{\"a\" 1}", "[\"\xC3\x28\"]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    enc_answer(&b, 1, 2, bad[i]);
    expect_reject(&b, "answer is not JSON");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_bytes_and_stamp),
      cmocka_unit_test(test_heartbeat),
      cmocka_unit_test(test_bye),
      cmocka_unit_test(test_broadcast_text_and_binary),
      cmocka_unit_test(test_track_untrack),
      cmocka_unit_test(test_dump_request_and_end),
      cmocka_unit_test(test_dump_part_entries),
      cmocka_unit_test(test_query_and_answer),
      cmocka_unit_test(test_every_valid_message_decodes),
      cmocka_unit_test(test_every_truncation_refused),
      cmocka_unit_test(test_byte_after_last_field_refused),
      cmocka_unit_test(test_header_refused),
      cmocka_unit_test(test_string_length_past_end),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_bad_payloads),
      cmocka_unit_test(test_bad_metas),
      cmocka_unit_test(test_bad_samples),
      cmocka_unit_test(test_bad_queries_and_answers),
      cmocka_unit_test(test_app),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
