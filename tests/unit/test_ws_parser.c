/* Server-side message parser: every RFC 6455 rule with its close code, the size cap (checked from
 * the header, before any buffering), fragmentation with interleaved control frames, and -- for
 * every stream here -- the same outcome however the input is split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "ws/ws_parser.h"

/* ---- building client frames ----------------------------------------------------------------- */

static const uint8_t MASK[4] = {0x12, 0x34, 0x56, 0x78};

/* A masked client frame; b0 carries FIN/RSV/opcode as on the wire. */
static void frame(buf_t *out, uint8_t b0, const void *payload, size_t plen) {
  uint8_t hdr[14];
  size_t n = 0;
  hdr[n++] = b0;
  if (plen < 126) {
    hdr[n++] = 0x80 | (uint8_t)plen;
  } else if (plen <= 0xFFFF) {
    hdr[n++] = 0x80 | 126;
    hdr[n++] = (uint8_t)(plen >> 8);
    hdr[n++] = (uint8_t)plen;
  } else {
    hdr[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) hdr[n++] = (uint8_t)((uint64_t)plen >> (8 * i));
  }
  memcpy(hdr + n, MASK, 4);
  n += 4;
  buf_append(out, hdr, n);
  size_t at = out->len;
  buf_append(out, payload, plen);
  ws_mask_apply(out->data + at, plen, MASK, 0);
}

#define FIN 0x80
static void text(buf_t *o, const char *s) { frame(o, FIN | WS_OP_TEXT, s, strlen(s)); }

static void close_frame(buf_t *o, uint16_t code, const char *reason, size_t rlen) {
  uint8_t p[130];
  p[0] = (uint8_t)(code >> 8), p[1] = (uint8_t)code;
  memcpy(p + 2, reason, rlen);
  frame(o, FIN | WS_OP_CLOSE, p, 2 + rlen);
}

/* ---- driving the parser as the connection code does ----------------------------------------- */

/* What a run produced: each message as "opcode:payload" (close: "8:code:reason"), then the end
 * state ("more" or the error). Comparing transcripts is how split-independence is checked. */
typedef struct {
  buf_t log;
  int result;
  size_t messages;
} transcript_t;

static void record(transcript_t *t, const ws_message_t *m) {
  assert_non_null(m->data);
  buf_printf(&t->log, "%x:", m->opcode);
  if (m->opcode == WS_OP_CLOSE) {
    buf_printf(&t->log, "%u:", m->close_code);
    buf_append(&t->log, m->close_reason, m->close_reason_len);
  } else {
    buf_append(&t->log, m->data, m->len);
  }
  buf_append_str(&t->log, "|");
  t->messages++;
}

/* Feeds `in` in chunks of the given sizes (the last one repeating), through a pending buffer that
 * keeps what the parser did not consume, like a read buffer. */
static transcript_t run_chunks(const uint8_t *in, size_t len, const size_t *chunks, size_t nchunks,
                               size_t max) {
  transcript_t t = {BUF_INIT, 0, 0};
  ws_parser_t p;
  ws_parser_init(&p, max);
  buf_t pending = BUF_INIT;
  size_t off = 0, c = 0;
  int r = WS_PARSE_NEED_MORE;
  for (;;) {
    size_t step = chunks[c < nchunks ? c : nchunks - 1];
    c++;
    if (step > len - off) step = len - off;
    /* A fresh exact-size copy each time, so ASan sees any read past len. */
    buf_append(&pending, in + off, step);
    off += step;
    uint8_t *copy = malloc(pending.len ? pending.len : 1);
    if (pending.len) memcpy(copy, pending.data, pending.len);
    size_t used = 0;
    for (;;) {
      size_t consumed = 0;
      ws_message_t m;
      r = ws_parser_next(&p, copy + used, pending.len - used, &consumed, &m);
      assert_true(consumed <= pending.len - used);
      used += consumed;
      if (r == WS_PARSE_MESSAGE) {
        record(&t, &m);
        continue;
      }
      break;
    }
    free(copy);
    buf_consume(&pending, used);
    if (r < 0 || off == len) break;
  }
  t.result = r;
  buf_printf(&t.log, "end:%d", r);
  assert_true(p.msg.cap <= max);
  ws_parser_free(&p);
  buf_free(&pending);
  return t;
}

static transcript_t run_whole(const buf_t *in, size_t max) {
  size_t all = in->len ? in->len : 1;
  return run_chunks(in->data, in->len, &all, 1, max);
}

/* Runs the stream whole, byte by byte, in every two-piece split and in a few irregular
 * chunkings; all must agree. Returns the whole-input transcript. */
static transcript_t run_all_splits(const buf_t *in, size_t max) {
  transcript_t whole = run_whole(in, max);
  const char *want = (const char *)whole.log.data;
  size_t want_len = whole.log.len;
  static const size_t one[] = {1};
  static const size_t odd[][4] = {{3, 1, 7, 2}, {2, 5, 1, 13}, {14, 1, 1, 9}, {6, 6, 6, 1}};
  transcript_t t = run_chunks(in->data, in->len, one, 1, max);
  assert_int_equal(t.log.len, want_len);
  assert_memory_equal(t.log.data, want, want_len);
  buf_free(&t.log);
  for (size_t k = 0; k < 4; k++) {
    t = run_chunks(in->data, in->len, odd[k], 4, max);
    assert_int_equal(t.log.len, want_len);
    assert_memory_equal(t.log.data, want, want_len);
    buf_free(&t.log);
  }
  /* Two-piece splits at every position (bounded so large streams stay quick). */
  size_t step = in->len > 600 ? in->len / 300 : 1;
  for (size_t cut = 0; cut <= in->len; cut += step) {
    size_t two[2] = {cut, in->len};
    t = run_chunks(in->data, in->len, two, 2, max);
    if (t.log.len != want_len || memcmp(t.log.data, want, want_len) != 0)
      fail_msg("split at %zu: got %.*s want %.*s", cut, (int)t.log.len, (char *)t.log.data,
               (int)want_len, want);
    buf_free(&t.log);
  }
  return whole;
}

static void expect_log(const buf_t *in, size_t max, const char *log, size_t log_len) {
  transcript_t t = run_all_splits(in, max);
  if (t.log.len != log_len || memcmp(t.log.data, log, log_len) != 0)
    fail_msg("got %.*s want %.*s", (int)t.log.len, (char *)t.log.data, (int)log_len, log);
  buf_free(&t.log);
}
/* Literals may hold NULs: take their size. */
#define expect(in, max, log) expect_log(in, max, log, sizeof(log) - 1)

static void expect_error(const buf_t *in, size_t max, int err, uint16_t code) {
  transcript_t t = run_all_splits(in, max);
  assert_int_equal(t.result, err);
  assert_int_equal(ws_parser_close_code(err), code);
  assert_non_null(ws_parser_strerror(err));
  buf_free(&t.log);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_single_frames(void **state) {
  buf_t in = BUF_INIT;
  text(&in, "hello");
  frame(&in, FIN | WS_OP_BINARY, "\x00\x01\x02", 3);
  text(&in, "");
  frame(&in, FIN | WS_OP_PING, "p", 1);
  frame(&in, FIN | WS_OP_PONG, "", 0);
  expect(&in, 1024, "1:hello|2:\x00\x01\x02|1:|9:p|a:|end:0");
  buf_free(&in);
}

static void test_zero_copy_and_consumed(void **state) {
  buf_t in = BUF_INIT;
  text(&in, "hello");
  size_t first = in.len;
  frame(&in, FIN | WS_OP_BINARY, "\x00\x01\x02", 3);
  ws_parser_t p;
  ws_parser_init(&p, 1024);
  size_t consumed;
  ws_message_t m;
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(consumed, first);
  assert_int_equal(m.opcode, WS_OP_TEXT);
  assert_ptr_equal(m.data, in.data + 6); /* unmasked in place */
  assert_memory_equal(m.data, "hello", 5);
  assert_int_equal(ws_parser_next(&p, in.data + first, in.len - first, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(m.opcode, WS_OP_BINARY);
  assert_int_equal(m.len, 3);
  assert_memory_equal(m.data, "\x00\x01\x02", 3);
  assert_int_equal(consumed, in.len - first);
  assert_int_equal(ws_parser_next(&p, in.data + in.len, 0, &consumed, &m), WS_PARSE_NEED_MORE);
  assert_int_equal(consumed, 0);
  assert_null(p.msg.data); /* nothing was copied */
  ws_parser_free(&p);
  buf_free(&in);
}

static void test_partial_frame_absorbed(void **state) {
  buf_t in = BUF_INIT;
  frame(&in, FIN | WS_OP_BINARY, "abcdefghij", 10);
  ws_parser_t p;
  ws_parser_init(&p, 1024);
  size_t consumed;
  ws_message_t m;
  /* Header incomplete: nothing consumed. */
  assert_int_equal(ws_parser_next(&p, in.data, 4, &consumed, &m), WS_PARSE_NEED_MORE);
  assert_int_equal(consumed, 0);
  /* Header and part of the payload: both taken, the payload into the assembly buffer. */
  assert_int_equal(ws_parser_next(&p, in.data, 9, &consumed, &m), WS_PARSE_NEED_MORE);
  assert_int_equal(consumed, 9);
  assert_int_equal(ws_parser_next(&p, in.data + 9, in.len - 9, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(consumed, in.len - 9);
  assert_int_equal(m.len, 10);
  assert_memory_equal(m.data, "abcdefghij", 10);
  ws_parser_free(&p);
  buf_free(&in);
}

static void test_fragmented_with_control(void **state) {
  buf_t in = BUF_INIT;
  frame(&in, WS_OP_TEXT, "Hel", 3);
  frame(&in, FIN | WS_OP_PING, "ping!", 5);
  frame(&in, WS_OP_CONT, "", 0);
  frame(&in, WS_OP_CONT, "lo, ", 4);
  frame(&in, FIN | WS_OP_PONG, "", 0);
  frame(&in, FIN | WS_OP_CONT, "world", 5);
  frame(&in, WS_OP_BINARY, "\x01", 1);
  frame(&in, FIN | WS_OP_CONT, "\x02", 1);
  frame(&in, WS_OP_TEXT, "", 0);
  frame(&in, FIN | WS_OP_CONT, "", 0);
  close_frame(&in, 1000, "bye", 3);
  expect(&in, 1024, "9:ping!|a:|1:Hello, world|2:\x01\x02|1:|8:1000:bye|end:0");
  buf_free(&in);
}

static void test_utf8_across_fragments(void **state) {
  buf_t in = BUF_INIT;
  /* "é" and "😀" split between frames: valid once assembled. */
  frame(&in, WS_OP_TEXT, "caf\xC3", 4);
  frame(&in, WS_OP_CONT, "\xA9 \xF0\x9F", 4);
  frame(&in, FIN | WS_OP_CONT, "\x98\x80", 2);
  expect(&in, 1024, "1:caf\xC3\xA9 \xF0\x9F\x98\x80|end:0");
  buf_free(&in);
}

static void test_utf8_invalid(void **state) {
  static const char *bad[] = {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "abc\xFF", "\xE2\x82"};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    buf_t in = BUF_INIT;
    text(&in, bad[k]);
    expect_error(&in, 1024, WS_E_UTF8, 1007);
    buf_free(&in);
  }
  /* Binary is not checked. */
  buf_t in = BUF_INIT;
  frame(&in, FIN | WS_OP_BINARY, "\xFF", 1);
  expect(&in, 1024, "2:\xFF|end:0");
  buf_free(&in);
  /* Truncated sequence at the end of the message. */
  frame(&in, WS_OP_TEXT, "ok", 2);
  frame(&in, FIN | WS_OP_CONT, "\xF0\x9F\x98", 3);
  expect_error(&in, 1024, WS_E_UTF8, 1007);
  buf_free(&in);
}

/* Invalid bytes in the first fragment fail at once, before the message is complete. */
static void test_utf8_fail_fast(void **state) {
  buf_t in = BUF_INIT;
  frame(&in, WS_OP_TEXT, "bad\xFF", 4);
  ws_parser_t p;
  ws_parser_init(&p, 1024);
  size_t consumed;
  ws_message_t m;
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_E_UTF8);
  /* Sticky. */
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_E_UTF8);
  ws_parser_free(&p);
  buf_free(&in);
  /* Same for a single frame of which only a part has arrived. */
  text(&in, "\xC0 and then a long tail that has not arrived yet");
  ws_parser_init(&p, 1024);
  assert_int_equal(ws_parser_next(&p, in.data, 10, &consumed, &m), WS_E_UTF8);
  ws_parser_free(&p);
  buf_free(&in);
}

static void test_protocol_errors(void **state) {
  buf_t in = BUF_INIT;
  /* Unmasked. */
  const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
  buf_append(&in, unmasked, sizeof(unmasked));
  expect_error(&in, 1024, WS_E_UNMASKED, 1002);
  buf_clear(&in);
  /* RSV1, RSV2, RSV3. */
  for (uint8_t rsv = 1; rsv <= 7; rsv++) {
    frame(&in, (uint8_t)(FIN | rsv << 4 | WS_OP_TEXT), "x", 1);
    expect_error(&in, 1024, WS_E_RSV, 1002);
    buf_clear(&in);
  }
  /* Reserved opcodes. */
  for (uint8_t op = 3; op <= 0xF; op++) {
    if (op >= WS_OP_CLOSE && op <= WS_OP_PONG) continue;
    frame(&in, FIN | op, "", 0);
    expect_error(&in, 1024, WS_E_OPCODE, 1002);
    buf_clear(&in);
  }
  /* Fragmented control frames. */
  frame(&in, WS_OP_PING, "", 0);
  expect_error(&in, 1024, WS_E_CONTROL_FRAGMENTED, 1002);
  buf_clear(&in);
  frame(&in, WS_OP_CLOSE, "", 0);
  expect_error(&in, 1024, WS_E_CONTROL_FRAGMENTED, 1002);
  buf_clear(&in);
  /* Control payload: 125 fine, 126 not. */
  char big[126];
  memset(big, 'p', sizeof(big));
  frame(&in, FIN | WS_OP_PING, big, 125);
  transcript_t t = run_all_splits(&in, 16); /* control frames are not subject to the message cap */
  assert_int_equal(t.messages, 1);
  assert_int_equal(t.result, 0);
  buf_free(&t.log);
  buf_clear(&in);
  frame(&in, FIN | WS_OP_PONG, big, 126);
  expect_error(&in, 1024, WS_E_CONTROL_TOO_BIG, 1002);
  buf_clear(&in);
  /* Continuation with nothing in progress. */
  frame(&in, FIN | WS_OP_CONT, "x", 1);
  expect_error(&in, 1024, WS_E_UNEXPECTED_CONT, 1002);
  buf_clear(&in);
  text(&in, "done");
  frame(&in, WS_OP_CONT, "x", 1);
  expect_error(&in, 1024, WS_E_UNEXPECTED_CONT, 1002);
  buf_clear(&in);
  /* A new data message while one is in progress. */
  frame(&in, WS_OP_TEXT, "a", 1);
  frame(&in, FIN | WS_OP_BINARY, "b", 1);
  expect_error(&in, 1024, WS_E_EXPECTED_CONT, 1002);
  buf_clear(&in);
  frame(&in, WS_OP_BINARY, "a", 1);
  frame(&in, WS_OP_TEXT, "b", 1);
  expect_error(&in, 1024, WS_E_EXPECTED_CONT, 1002);
  buf_clear(&in);
  /* 64-bit length with the MSB set. */
  const uint8_t msb[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
  buf_append(&in, msb, sizeof(msb));
  expect_error(&in, SIZE_MAX, WS_E_LENGTH, 1002);
  buf_free(&in);
}

static void test_close_frames(void **state) {
  buf_t in = BUF_INIT;
  frame(&in, FIN | WS_OP_CLOSE, "", 0);
  expect(&in, 1024, "8:1005:|end:0");
  buf_clear(&in);
  close_frame(&in, 1001, "", 0);
  expect(&in, 1024, "8:1001:|end:0");
  buf_clear(&in);
  char reason[123];
  memset(reason, 'r', sizeof(reason));
  close_frame(&in, 4999, reason, sizeof(reason)); /* 125-byte payload */
  transcript_t t = run_all_splits(&in, 1024);
  assert_int_equal(t.messages, 1);
  buf_free(&t.log);
  buf_clear(&in);
  close_frame(&in, 3000, "caf\xC3\xA9", 5);
  expect(&in, 1024, "8:3000:caf\xC3\xA9|end:0");
  buf_clear(&in);
  frame(&in, FIN | WS_OP_CLOSE, "\x03", 1);
  expect_error(&in, 1024, WS_E_CLOSE_PAYLOAD, 1002);
  buf_clear(&in);
  static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
  for (size_t k = 0; k < sizeof(bad_codes) / sizeof(bad_codes[0]); k++) {
    close_frame(&in, bad_codes[k], "", 0);
    expect_error(&in, 1024, WS_E_CLOSE_CODE, 1002);
    buf_clear(&in);
  }
  close_frame(&in, 1000, "\xED\xA0\x80", 3);
  expect_error(&in, 1024, WS_E_CLOSE_UTF8, 1007);
  buf_free(&in);
}

static void test_close_message_fields(void **state) {
  buf_t in = BUF_INIT;
  close_frame(&in, 1000, "bye", 3);
  ws_parser_t p;
  ws_parser_init(&p, 1024);
  size_t consumed;
  ws_message_t m;
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(m.opcode, WS_OP_CLOSE);
  assert_int_equal(m.close_code, 1000);
  assert_int_equal(m.len, 5);
  assert_int_equal(m.close_reason_len, 3);
  assert_memory_equal(m.close_reason, "bye", 3);
  assert_ptr_equal(m.close_reason, m.data + 2);
  ws_parser_free(&p);
  buf_free(&in);
}

static void test_size_limit(void **state) {
  char *payload = malloc(70000);
  memset(payload, 'z', 70000);
  buf_t in = BUF_INIT;
  /* Exactly the cap passes; one more fails, whole or fragmented. */
  frame(&in, FIN | WS_OP_TEXT, payload, 100);
  transcript_t t = run_all_splits(&in, 100);
  assert_int_equal(t.messages, 1);
  buf_free(&t.log);
  buf_clear(&in);
  frame(&in, FIN | WS_OP_TEXT, payload, 101);
  expect_error(&in, 100, WS_E_TOO_BIG, 1009);
  buf_clear(&in);
  frame(&in, WS_OP_BINARY, payload, 60);
  frame(&in, FIN | WS_OP_CONT, payload, 40);
  t = run_all_splits(&in, 100);
  assert_int_equal(t.messages, 1);
  buf_free(&t.log);
  buf_clear(&in);
  frame(&in, WS_OP_BINARY, payload, 60);
  frame(&in, WS_OP_CONT, payload, 40);
  frame(&in, FIN | WS_OP_CONT, payload, 1);
  expect_error(&in, 100, WS_E_TOO_BIG, 1009);
  buf_clear(&in);
  /* The cap applies per message: the next one starts from zero. */
  frame(&in, WS_OP_BINARY, payload, 60);
  frame(&in, FIN | WS_OP_CONT, payload, 40);
  frame(&in, FIN | WS_OP_BINARY, payload, 100);
  t = run_all_splits(&in, 100);
  assert_int_equal(t.messages, 2);
  assert_int_equal(t.result, 0);
  buf_free(&t.log);
  buf_clear(&in);
  /* Declared length is refused from the header alone: no payload needs to arrive. */
  const uint8_t huge[] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
  ws_parser_t p;
  ws_parser_init(&p, 8u << 20);
  size_t consumed;
  ws_message_t m;
  uint8_t hb[sizeof(huge)];
  memcpy(hb, huge, sizeof(huge));
  assert_int_equal(ws_parser_next(&p, hb, sizeof(hb), &consumed, &m), WS_E_TOO_BIG);
  assert_null(p.msg.data);
  ws_parser_free(&p);
  /* Length boundaries of the encoding: 125 / 126 / 65535 / 65536. */
  static const size_t lens[] = {125, 126, 65535, 65536};
  for (size_t k = 0; k < 4; k++) {
    frame(&in, FIN | WS_OP_BINARY, payload, lens[k]);
    t = run_whole(&in, 65536);
    assert_int_equal(t.messages, 1);
    assert_int_equal(t.log.len, 2 + lens[k] + 1 + 5);
    buf_free(&t.log);
    static const size_t chunk[] = {1000};
    t = run_chunks(in.data, in.len, chunk, 1, 65536);
    assert_int_equal(t.messages, 1);
    buf_free(&t.log);
    buf_clear(&in);
  }
  frame(&in, FIN | WS_OP_BINARY, payload, 65536);
  t = run_whole(&in, 65535);
  assert_int_equal(t.result, WS_E_TOO_BIG);
  buf_free(&t.log);
  buf_free(&in);
  free(payload);
}

/* The assembly buffer never grows past the cap, and is let go after a large message. */
static void test_assembly_memory(void **state) {
  size_t max = 5000;
  char *payload = malloc(max);
  memset(payload, 'q', max);
  buf_t in = BUF_INIT;
  for (size_t k = 0; k < max; k += 1000) frame(&in, (k + 1000 == max ? FIN : 0) | (k ? WS_OP_CONT : WS_OP_BINARY), payload, 1000);
  ws_parser_t p;
  ws_parser_init(&p, max);
  size_t consumed;
  ws_message_t m;
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(m.len, max);
  assert_true(p.msg.cap <= max);
  ws_parser_free(&p);
  buf_free(&in);
  /* A message over WS_PARSER_KEEP_BUFFER is released by the next call. */
  size_t big = WS_PARSER_KEEP_BUFFER * 2;
  char *bp = calloc(1, big);
  frame(&in, WS_OP_BINARY, bp, big / 2);
  frame(&in, FIN | WS_OP_CONT, bp, big / 2);
  ws_parser_init(&p, big);
  assert_int_equal(ws_parser_next(&p, in.data, in.len, &consumed, &m), WS_PARSE_MESSAGE);
  assert_int_equal(m.len, big);
  assert_int_equal(ws_parser_next(&p, in.data + consumed, in.len - consumed, &consumed, &m), WS_PARSE_NEED_MORE);
  assert_null(p.msg.data);
  ws_parser_free(&p);
  buf_free(&in);
  free(bp);
  free(payload);
}

/* A pseudo-random mix of frames, valid and not, checked for split-independence. */
static void test_random_streams(void **state) {
  uint32_t seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7FFF)
  for (int round = 0; round < 60; round++) {
    buf_t in = BUF_INIT;
    int frames = 1 + (int)(RND() % 8);
    for (int f = 0; f < frames; f++) {
      uint8_t ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT, WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
      uint8_t op = ops[RND() % 6];
      uint8_t fin = (RND() % 3) ? FIN : 0;
      if (ws_opcode_is_control(op)) fin = FIN;
      size_t n = RND() % 140;
      if (op == WS_OP_CLOSE) n = 2 + n % 20;
      uint8_t pl[200];
      for (size_t i = 0; i < n; i++) pl[i] = (RND() % 10) ? (uint8_t)('a' + RND() % 26) : (uint8_t)RND();
      if (op == WS_OP_CLOSE) pl[0] = 0x03, pl[1] = 0xE8;
      frame(&in, fin | op, pl, n);
    }
    transcript_t t = run_all_splits(&in, 1 + RND() % 300);
    buf_free(&t.log);
    buf_free(&in);
  }
#undef RND
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_single_frames),
    cmocka_unit_test(test_zero_copy_and_consumed),
    cmocka_unit_test(test_partial_frame_absorbed),
    cmocka_unit_test(test_fragmented_with_control),
    cmocka_unit_test(test_utf8_across_fragments),
    cmocka_unit_test(test_utf8_invalid),
    cmocka_unit_test(test_utf8_fail_fast),
    cmocka_unit_test(test_protocol_errors),
    cmocka_unit_test(test_close_frames),
    cmocka_unit_test(test_close_message_fields),
    cmocka_unit_test(test_size_limit),
    cmocka_unit_test(test_assembly_memory),
    cmocka_unit_test(test_random_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
