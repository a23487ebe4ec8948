/* UTF-8 validation: hand-picked edge cases, then every 1-, 2- and 3-byte sequence (and a sample of
 * 4-byte ones) against a straightforward reference decoder, then the streaming form split at every
 * position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"

#define V(s) utf8_valid((const uint8_t *)(s), sizeof(s) - 1)

static void test_valid_edges(void **state) {
  assert_true(utf8_valid(NULL, 0));
  assert_true(V("hello"));
  assert_true(V("\x7F"));                 /* U+007F */
  assert_true(V("\xC2\x80"));             /* U+0080 */
  assert_true(V("\xDF\xBF"));             /* U+07FF */
  assert_true(V("\xE0\xA0\x80"));         /* U+0800 */
  assert_true(V("\xED\x9F\xBF"));         /* U+D7FF, just below the surrogates */
  assert_true(V("\xEE\x80\x80"));         /* U+E000, just above */
  assert_true(V("\xEF\xBF\xBF"));         /* U+FFFF */
  assert_true(V("\xF0\x90\x80\x80"));     /* U+10000 */
  assert_true(V("\xF4\x8F\xBF\xBF"));     /* U+10FFFF */
  assert_true(V("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")); /* κόσμε */
  assert_true(V("\xF0\x9F\x98\x80 grin"));
}

static void test_invalid_edges(void **state) {
  assert_false(V("\x80"));                 /* stray continuation */
  assert_false(V("\xBF"));
  assert_false(V("\xC0\x80"));             /* overlong NUL */
  assert_false(V("\xC1\xBF"));             /* overlong U+007F */
  assert_false(V("\xE0\x80\x80"));         /* overlong 3-byte */
  assert_false(V("\xE0\x9F\xBF"));         /* overlong U+07FF */
  assert_false(V("\xF0\x80\x80\x80"));     /* overlong 4-byte */
  assert_false(V("\xF0\x8F\xBF\xBF"));     /* overlong U+FFFF */
  assert_false(V("\xED\xA0\x80"));         /* U+D800 */
  assert_false(V("\xED\xBF\xBF"));         /* U+DFFF */
  assert_false(V("\xED\xA0\x80\xED\xB0\x80")); /* a surrogate pair in CESU-8 */
  assert_false(V("\xF4\x90\x80\x80"));     /* U+110000 */
  assert_false(V("\xF5\x80\x80\x80"));
  assert_false(V("\xF8\x88\x80\x80\x80"));
  assert_false(V("\xFE"));
  assert_false(V("\xFF"));
  assert_false(V("\xC2"));                 /* truncated */
  assert_false(V("\xE2\x82"));
  assert_false(V("\xF0\x9F\x98"));
  assert_false(V("\xC2\x41"));             /* continuation missing */
  assert_false(V("\xE2\x82\x41"));
  assert_false(V("ok \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80" "edited"));
}

/* Reference: decode, then check range, surrogates and minimal length. */
static int ref_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    else if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len - i < n) return 0;
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n;
  }
  return 1;
}

static void test_exhaustive_short(void **state) {
  uint8_t b[3];
  for (unsigned a = 0; a < 256; a++) {
    b[0] = (uint8_t)a;
    assert_int_equal(utf8_valid(b, 1), ref_valid(b, 1));
    for (unsigned c = 0; c < 256; c++) {
      b[1] = (uint8_t)c;
      assert_int_equal(utf8_valid(b, 2), ref_valid(b, 2));
      /* 3-byte sequences only where the first byte can start one: keeps the run short. */
      if (a < 0xE0 || a > 0xF4) continue;
      for (unsigned d = 0; d < 256; d++) {
        b[2] = (uint8_t)d;
        if (utf8_valid(b, 3) != (bool)ref_valid(b, 3)) fail_msg("%02x %02x %02x", a, c, d);
      }
    }
  }
}

/* The sequence length agrees with the validator: a sequence of length k at the start of a valid
 * k-byte string, and 0 exactly where no valid string starts with these bytes. */
static void test_sequence_len_agrees(void **state) {
  uint8_t b[4];
  for (unsigned a = 0; a < 256; a++) {
    b[0] = (uint8_t)a;
    for (unsigned c = 0; c < 256; c++) {
      b[1] = (uint8_t)c;
      b[2] = 0x80 | (uint8_t)(c & 0x3F); /* continuation bytes after it: 3- and 4-byte forms */
      b[3] = 0x80;
      size_t k = utf8_sequence_len(b, 4);
      if (k) {
        if (!utf8_valid(b, k)) fail_msg("%02x %02x: length %zu but not valid", a, c, k);
      } else {
        for (size_t n = 1; n <= 4; n++)
          if (utf8_valid(b, n) && (n == 1 || b[0] >= 0x80))
            fail_msg("%02x %02x: no sequence but %zu bytes valid", a, c, n);
      }
    }
  }
  assert_int_equal(utf8_sequence_len((const uint8_t *)"\xE2\x82", 2), 0); /* truncated */
  assert_int_equal(utf8_sequence_len((const uint8_t *)"\xF0\x9F\x98\x80", 4), 4);
}

static void test_four_byte_sample(void **state) {
  uint8_t b[4];
  for (unsigned a = 0xEF; a <= 0xF6; a++)
    for (unsigned c = 0x70; c <= 0xC0; c++)
      for (unsigned d = 0x70; d <= 0xC0; d += 7)
        for (unsigned e = 0x70; e <= 0xC0; e += 5) {
          b[0] = (uint8_t)a, b[1] = (uint8_t)c, b[2] = (uint8_t)d, b[3] = (uint8_t)e;
          if (utf8_valid(b, 4) != (bool)ref_valid(b, 4)) fail_msg("%02x %02x %02x %02x", a, c, d, e);
        }
}

/* The word-at-a-time ASCII path must see a bad byte at every offset and alignment. */
static void test_ascii_fast_path(void **state) {
  uint8_t buf[80];
  for (size_t len = 0; len <= 70; len++) {
    memset(buf, 'a', sizeof(buf));
    assert_true(utf8_valid(buf, len));
    for (size_t at = 0; at < len; at++) {
      for (size_t start = 0; start < 3 && start <= at; start++) {
        buf[at] = 0x80;
        assert_false(utf8_valid(buf + start, len - start));
        buf[at] = 0xC3;
        assert_int_equal(utf8_valid(buf + start, len - start), 0); /* truncated or followed by 'a' */
        if (at + 1 < len) {
          buf[at + 1] = 0xA9; /* é */
          assert_true(utf8_valid(buf + start, len - start));
          buf[at + 1] = 'a';
        }
        buf[at] = 'a';
      }
    }
  }
}

static void test_stream_split_everywhere(void **state) {
  static const char *cases[] = {
    "plain ascii that is longer than one word",
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\xEF\xBF\xBF",
    "abc\xED\xA0\x80xyz",
    "\xF0\x9F\x98",
    "\xE0\x9F\xBF more",
    "12345678\xF4\x90\x80\x80",
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    const uint8_t *s = (const uint8_t *)cases[c];
    size_t len = strlen(cases[c]);
    bool whole = utf8_valid(s, len);
    for (size_t a = 0; a <= len; a++)
      for (size_t b = a; b <= len; b++) {
        utf8_stream_t st;
        utf8_stream_init(&st);
        bool ok = utf8_stream_feed(&st, s, a) && utf8_stream_feed(&st, s + a, b - a) &&
                  utf8_stream_feed(&st, s + b, len - b) && utf8_stream_complete(&st);
        assert_int_equal(ok, whole);
      }
  }
  /* A truncated sequence is incomplete, not invalid, until more bytes say otherwise. */
  utf8_stream_t st;
  utf8_stream_init(&st);
  assert_true(utf8_stream_feed(&st, (const uint8_t *)"\xF0\x9F", 2));
  assert_false(utf8_stream_complete(&st));
  assert_true(utf8_stream_feed(&st, (const uint8_t *)"\x98\x80", 2));
  assert_true(utf8_stream_complete(&st));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_edges),
    cmocka_unit_test(test_invalid_edges),
    cmocka_unit_test(test_exhaustive_short),
    cmocka_unit_test(test_four_byte_sample),
    cmocka_unit_test(test_sequence_len_agrees),
    cmocka_unit_test(test_ascii_fast_path),
    cmocka_unit_test(test_stream_split_everywhere),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
