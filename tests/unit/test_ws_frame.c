/* RFC 6455 §5.2 frame layout: header parsing at every length boundary, every truncation, the
 * 64-bit MSB rule, the encoder, masking at every offset, and the close-code table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_frame.h"

/* Builds a header into out; returns its length. */
static size_t make_header(uint8_t *out, uint8_t b0, bool masked, uint64_t plen, const uint8_t mask[4]) {
  size_t n = 0;
  out[n++] = b0;
  uint8_t m = masked ? 0x80 : 0;
  if (plen < 126) {
    out[n++] = m | (uint8_t)plen;
  } else if (plen <= 0xFFFF) {
    out[n++] = m | 126;
    out[n++] = (uint8_t)(plen >> 8);
    out[n++] = (uint8_t)plen;
  } else {
    out[n++] = m | 127;
    for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)(plen >> (8 * i));
  }
  if (masked) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

static void test_parse_lengths(void **state) {
  static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 0x7FFFFFFFFFFFFFFFull};
  static const size_t ext[] = {0, 0, 0, 2, 2, 2, 8, 8};
  const uint8_t mask[4] = {0xA1, 0xB2, 0xC3, 0xD4};
  for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
    for (int masked = 0; masked <= 1; masked++) {
      uint8_t hdr[WS_FRAME_MAX_HEADER];
      size_t n = make_header(hdr, 0x82, masked, lens[k], mask);
      assert_int_equal(n, 2 + ext[k] + (masked ? 4 : 0));
      /* Every strict prefix asks for more; reading stops at len (ASan checks the copy). */
      for (size_t cut = 0; cut < n; cut++) {
        uint8_t *exact = malloc(cut ? cut : 1);
        memcpy(exact, hdr, cut);
        ws_frame_header_t h;
        assert_int_equal(ws_frame_parse_header(exact, cut, &h), 0);
        free(exact);
      }
      ws_frame_header_t h;
      assert_int_equal(ws_frame_parse_header(hdr, n, &h), (int)n);
      assert_int_equal(h.header_len, n);
      assert_true(h.fin);
      assert_int_equal(h.rsv, 0);
      assert_int_equal(h.opcode, WS_OP_BINARY);
      assert_int_equal(h.masked, masked);
      assert_true(h.payload_len == lens[k]);
      if (masked) assert_memory_equal(h.mask, mask, 4);
    }
  }
}

static void test_parse_bits(void **state) {
  uint8_t hdr[] = {0x71, 0x00};
  ws_frame_header_t h;
  assert_int_equal(ws_frame_parse_header(hdr, 2, &h), 2);
  assert_false(h.fin);
  assert_int_equal(h.rsv, 7);
  assert_int_equal(h.opcode, WS_OP_TEXT);
  hdr[0] = 0xC8; /* FIN, RSV1, CLOSE */
  assert_int_equal(ws_frame_parse_header(hdr, 2, &h), 2);
  assert_int_equal(h.rsv, 4);
  assert_int_equal(h.opcode, WS_OP_CLOSE);
  assert_true(ws_opcode_is_control(WS_OP_CLOSE) && ws_opcode_is_control(WS_OP_PING) &&
              ws_opcode_is_control(WS_OP_PONG));
  assert_false(ws_opcode_is_control(WS_OP_CONT) || ws_opcode_is_control(WS_OP_TEXT) ||
               ws_opcode_is_control(WS_OP_BINARY));
}

static void test_parse_msb_length(void **state) {
  uint8_t hdr[14] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  ws_frame_header_t h;
  /* Known bad from the first length byte on. */
  for (size_t cut = 3; cut <= sizeof(hdr); cut++)
    assert_int_equal(ws_frame_parse_header(hdr, cut, &h), WS_FRAME_E_LENGTH);
  assert_int_equal(ws_frame_parse_header(hdr, 2, &h), 0);
  hdr[2] = 0x7F;
  assert_int_equal(ws_frame_parse_header(hdr, sizeof(hdr), &h), 14);
  assert_true(h.payload_len == 0x7F00000000000000ull);
}

static void test_encode(void **state) {
  static const uint64_t lens[] = {0, 125, 126, 65535, 65536, 1ull << 32, 0x7FFFFFFFFFFFFFFFull};
  static const size_t hl[] = {2, 2, 4, 4, 10, 10, 10};
  for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
    uint8_t out[10];
    size_t n = ws_frame_encode_header(out, true, WS_OP_TEXT, lens[k]);
    assert_int_equal(n, hl[k]);
    assert_int_equal(ws_frame_header_len(lens[k]), hl[k]);
    ws_frame_header_t h;
    assert_int_equal(ws_frame_parse_header(out, n, &h), (int)n);
    assert_true(h.fin);
    assert_false(h.masked);
    assert_int_equal(h.opcode, WS_OP_TEXT);
    assert_true(h.payload_len == lens[k]);
  }
  uint8_t out[10];
  assert_int_equal(ws_frame_encode_header(out, false, WS_OP_CONT, 3), 2);
  assert_int_equal(out[0], 0x00);
  assert_int_equal(out[1], 3);
  assert_int_equal(ws_frame_encode_header(out, true, WS_OP_CLOSE, 2), 2);
  assert_int_equal(out[0], 0x88);
  ws_frame_encode_header(out, true, WS_OP_BINARY, 65536);
  const uint8_t want[10] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  assert_memory_equal(out, want, 10);
  ws_frame_encode_header(out, true, WS_OP_BINARY, 300);
  const uint8_t want16[4] = {0x82, 126, 0x01, 0x2C};
  assert_memory_equal(out, want16, 4);
}

static void test_mask(void **state) {
  const uint8_t mask[4] = {0x37, 0xFA, 0x21, 0x3D};
  uint8_t orig[100], data[100];
  for (size_t i = 0; i < sizeof(orig); i++) orig[i] = (uint8_t)(i * 7 + 3);
  for (size_t off = 0; off < 8; off++)
    for (size_t start = 0; start < 9; start++)
      for (size_t len = 0; start + len <= sizeof(data); len += 1 + len / 4) {
        memcpy(data, orig, sizeof(data));
        ws_mask_apply(data + start, len, mask, off);
        for (size_t i = 0; i < sizeof(data); i++) {
          uint8_t want = orig[i];
          if (i >= start && i < start + len) want ^= mask[(off + i - start) & 3];
          assert_int_equal(data[i], want);
        }
      }
  /* Unmasking in pieces equals unmasking at once, given the running offset. */
  uint8_t a[61], b[61];
  memcpy(a, orig, sizeof(a));
  memcpy(b, orig, sizeof(b));
  ws_mask_apply(a, sizeof(a), mask, 0);
  ws_mask_apply(b, 13, mask, 0);
  ws_mask_apply(b + 13, 30, mask, 13);
  ws_mask_apply(b + 43, 18, mask, 43);
  assert_memory_equal(a, b, sizeof(a));
  /* RFC 6455 §5.7: masked "Hello". */
  uint8_t hello[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  ws_mask_apply(hello, 5, key, 0);
  assert_memory_equal(hello, "Hello", 5);
}

static void test_close_codes(void **state) {
  for (unsigned c = 0; c < 65536; c++) {
    bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    assert_int_equal(ws_close_code_valid((uint16_t)c), want);
  }
  assert_false(ws_close_code_valid(1004));
  assert_false(ws_close_code_valid(1005));
  assert_false(ws_close_code_valid(1006));
  assert_false(ws_close_code_valid(1015));
  assert_true(ws_close_code_valid(WS_CLOSE_RESTART));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_lengths),
    cmocka_unit_test(test_parse_bits),
    cmocka_unit_test(test_parse_msb_length),
    cmocka_unit_test(test_encode),
    cmocka_unit_test(test_mask),
    cmocka_unit_test(test_close_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
