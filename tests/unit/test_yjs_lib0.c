#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yjs/yjs.h"

#include "yjs_test_util.h"

/* lib0 primitives: varUint / varInt vectors from the spec (1.2, 1.3), range and truncation
 * errors, UTF-8 validation with UTF-16 lengths, Any tags, JSON texts. */
#include "yjs/internal.h"

static uint64_t dec_uint(const char *hex, int *rc) {
  size_t n;
  uint8_t *p = unhex(hex, &n);
  ydec d;
  ydec_init(&d, p, n);
  uint64_t v = 0;
  *rc = ydec_var_uint(&d, &v);
  free(p);
  return v;
}

static void test_var_uint(void **state) {
  (void)state;
  static const struct {
    uint64_t v;
    const char *hex;
  } vec[] = {{0, "00"},           {127, "7f"},          {128, "8001"},
             {300, "ac02"},       {16383, "ff7f"},      {16384, "808001"},
             {4294967295ULL, "ffffffff0f"}, {4294967296ULL, "8080808010"},
             {9007199254740991ULL, "ffffffffffffff0f"}};
  for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
    ybuf b = {0};
    ybuf_var_uint(&b, vec[i].v);
    char *h = tohex(b.data, b.len);
    assert_string_equal(h, vec[i].hex);
    free(h);
    ybuf_free(&b);
    int rc;
    assert_true(dec_uint(vec[i].hex, &rc) == vec[i].v);
    assert_int_equal(rc, 0);
  }
  int rc;
  dec_uint("8000", &rc); /* non-minimal accepted */
  assert_int_equal(rc, 0);
  dec_uint("80", &rc);
  assert_int_equal(rc, YJS_EEOF);
  dec_uint("", &rc);
  assert_int_equal(rc, YJS_EEOF);
  dec_uint("ffffffffffffff1f", &rc); /* 2^54 - 1 */
  assert_int_equal(rc, YJS_ERANGE);
  dec_uint("808080808080808001", &rc); /* 9 bytes */
  assert_int_equal(rc, YJS_ERANGE);
}

static void test_var_int(void **state) {
  (void)state;
  static const struct {
    int64_t v;
    const char *hex;
    bool neg;
  } vec[] = {{0, "00", false},    {1, "01", false},    {-1, "41", true},  {63, "3f", false},
             {64, "8001", false}, {-64, "c001", true}, {-65, "c101", true},
             {8191, "bf7f", false}, {8192, "808001", false}, {0, "40", true}};
  for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
    size_t n;
    uint8_t *p = unhex(vec[i].hex, &n);
    ydec d;
    ydec_init(&d, p, n);
    int64_t v;
    bool neg;
    assert_int_equal(ydec_var_int(&d, &v, &neg), 0);
    assert_true(v == vec[i].v);
    assert_true(neg == vec[i].neg);
    assert_true(d.p == d.end);
    free(p);
  }
}

static void test_strings(void **state) {
  (void)state;
  uint64_t units;
  assert_true(yjs_utf8_valid((const uint8_t *)"\xc3\xa9", 2, &units));
  assert_int_equal(units, 1);
  assert_true(yjs_utf8_valid((const uint8_t *)"\xf0\x9f\x91\xbe", 4, &units));
  assert_int_equal(units, 2); /* astral: a surrogate pair */
  assert_true(yjs_utf8_valid((const uint8_t *)"\xef\xbb\xbfx", 4, &units)); /* BOM kept */
  assert_int_equal(units, 2);
  const char *bad[] = {"\xed\xa0\x80", "\xc0\x80", "\xf8\x88\x80\x80\x80", "\xe0\x80\xaf",
                       "\xf4\x90\x80\x80", "\xc3", "\xf0\x9f\x91", "\x80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(yjs_utf8_valid((const uint8_t *)bad[i], strlen(bad[i]), NULL));
  /* offsets in UTF-16 units, and the middle of a surrogate pair */
  const uint8_t *s = (const uint8_t *)"a\xf0\x9f\x91\xbe" "b";
  bool mid;
  assert_int_equal(yjs_utf8_offset(s, 6, 1, &mid), 1);
  assert_false(mid);
  assert_int_equal(yjs_utf8_offset(s, 6, 2, &mid), 1);
  assert_true(mid);
  assert_int_equal(yjs_utf8_offset(s, 6, 3, &mid), 5);
  assert_false(mid);
  /* varString rejects invalid UTF-8 */
  size_t n;
  uint8_t *p = unhex("03eda080", &n);
  ydec d;
  ydec_init(&d, p, n);
  yslice sl;
  assert_int_equal(ydec_var_string(&d, &sl, NULL), YJS_EUTF8);
  free(p);
  p = unhex("05616263", &n); /* length past the end */
  ydec_init(&d, p, n);
  assert_int_equal(ydec_var_string(&d, &sl, NULL), YJS_EEOF);
  free(p);
}

static int any_rc(const char *hex, bool *consumed) {
  size_t n;
  uint8_t *p = unhex(hex, &n);
  ydec d;
  ydec_init(&d, p, n);
  int rc = ydec_any(&d, 0);
  *consumed = d.p == d.end;
  free(p);
  return rc;
}

static void test_any(void **state) {
  (void)state;
  const char *ok[] = {"7d00", "7d41", "7dbfffffff0f", "7c4f000000", "7b3ff199999999999a",
                      "7b7ff8000000000000", "7701 78", "7700", "78", "79", "7e", "7f",
                      "7601 01617d01", "75027d01770161", "74020102", "7a000000000000000a"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char h[64];
    size_t k = 0;
    for (const char *c = ok[i]; *c; c++)
      if (*c != ' ') h[k++] = *c;
    h[k] = 0;
    bool consumed;
    assert_int_equal(any_rc(h, &consumed), 0);
    assert_true(consumed);
  }
  bool consumed;
  assert_int_equal(any_rc("10", &consumed), YJS_EANY); /* unknown tag */
  assert_int_equal(any_rc("7b3ff1", &consumed), YJS_EEOF);
  assert_int_equal(any_rc("7602", &consumed), YJS_EEOF);
  /* nesting deeper than the limit is refused instead of recursing without bound */
  char deep[2 * 2 * (YJS_MAX_DEPTH + 10) + 8];
  size_t k = 0;
  for (int i = 0; i < YJS_MAX_DEPTH + 10; i++) {
    memcpy(deep + k, "7501", 4);
    k += 4;
  }
  memcpy(deep + k, "7e", 3);
  assert_int_equal(any_rc(deep, &consumed), YJS_EANY);
}

static void test_json_text(void **state) {
  (void)state;
  const char *ok[] = {"1", "-0.5e+3", "\"a\\u00e9\\n\"", "{\"a\":[1,true,null]}", " {} ",
                      "[]", "\"\xf0\x9f\x91\xbe\""};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    assert_true(yjs_json_valid((const uint8_t *)ok[i], strlen(ok[i])));
  const char *bad[] = {"", "01", "{a:1}", "[1,]", "\"\\x\"", "undefined", "1 2", "\"\n\"",
                       "{\"a\" 1}", "tru", "-"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(yjs_json_valid((const uint8_t *)bad[i], strlen(bad[i])));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_var_uint), cmocka_unit_test(test_var_int),
      cmocka_unit_test(test_strings),  cmocka_unit_test(test_any),
      cmocka_unit_test(test_json_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
