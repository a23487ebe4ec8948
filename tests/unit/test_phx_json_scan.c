/* The JSON pre-scan (src/phx/phx_json_scan.h): what it accepts, what it counts, where its limits
 * bite (exactly at the boundary), what it calls malformed, and that it agrees with jansson on
 * every case here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "phx/phx_json_scan.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static int scan_n(const char *text, size_t len, unsigned max_depth, size_t max_values,
                  phx_json_stats_t *st) {
  phx_json_limits_t lim = {.max_depth = max_depth, .max_values = max_values};
  return phx_json_scan(text, len, &lim, st);
}

static int scan(const char *text, unsigned max_depth, size_t max_values, phx_json_stats_t *st) {
  return scan_n(text, strlen(text), max_depth, max_values, st);
}

/* Values and depth of a jansson tree, counted the way the scan counts. */
static void tree_count(const json_t *v, unsigned level, size_t *values, unsigned *depth) {
  (*values)++;
  if (json_is_array(v) || json_is_object(v)) {
    if (level + 1 > *depth) *depth = level + 1;
    if (json_is_array(v)) {
      for (size_t i = 0; i < json_array_size(v); i++)
        tree_count(json_array_get(v, i), level + 1, values, depth);
    } else {
      const char *k;
      json_t *e;
      json_object_foreach((json_t *)v, k, e) tree_count(e, level + 1, values, depth);
    }
  }
}

/* Valid JSON: OK with these counts, and jansson agrees on both. */
static void expect_ok(const char *text, size_t values, unsigned depth) {
  phx_json_stats_t st;
  int rc = scan(text, 0, 0, &st);
  if (rc != PHX_JSON_SCAN_OK) fail_msg("%s: rc %d at %zu", text, rc, st.offset);
  if (st.values != values || st.depth != depth)
    fail_msg("%s: %zu values depth %u, want %zu / %u", text, st.values, st.depth, values, depth);
  assert_int_equal(st.offset, strlen(text));
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
  if (!j) fail_msg("%s: jansson refuses it", text);
  size_t tv = 0;
  unsigned td = 0;
  tree_count(j, 0, &tv, &td);
  assert_int_equal(tv, values);
  assert_int_equal(td, depth);
  json_decref(j);
}

/* Malformed: the scan says so, and so does jansson. */
static void expect_malformed_n(const char *text, size_t len) {
  phx_json_stats_t st;
  int rc = scan_n(text, len, 0, 0, &st);
  if (rc != PHX_JSON_SCAN_MALFORMED) fail_msg("'%.*s': rc %d, want malformed", (int)len, text, rc);
  assert_true(st.offset <= len);
  json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
  if (j) fail_msg("'%.*s': jansson accepts it", (int)len, text);
}

static void expect_malformed(const char *text) { expect_malformed_n(text, strlen(text)); }

/* ---- acceptance and counting ---------------------------------------------------------------- */

static void test_phoenix_messages(void **state) {
  expect_ok("[null,\"12\",\"phoenix\",\"heartbeat\",{}]", 6, 2);
  expect_ok("[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"user\":\"ann\"}]", 7, 2);
  expect_ok("[\"3\",\"7\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\",\"n\":[1,2,{\"x\":null}]}]", 12, 4);
  expect_ok("{\"topic\":\"room:a\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\",\"join_ref\":null}",
            6, 2);
}

static void test_scalars_and_whitespace(void **state) {
  expect_ok("0", 1, 0);
  expect_ok("-0", 1, 0);
  expect_ok("-12.5e+3", 1, 0);
  expect_ok("1E-7", 1, 0);
  expect_ok("123456789012345678901234567890", 1, 0); /* beyond 64 bits: still a number */
  expect_ok("true", 1, 0);
  expect_ok("false", 1, 0);
  expect_ok("null", 1, 0);
  expect_ok("\"\"", 1, 0);
  expect_ok(" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ \"a\" : 2 } ] \n", 4, 2);
  expect_ok("[]", 1, 1);
  expect_ok("{}", 1, 1);
  expect_ok("[ ]", 1, 1);
  expect_ok("{ }", 1, 1);
  expect_ok("[[],{},[[]]]", 5, 3);
}

static void test_strings(void **state) {
  /* Brackets, commas, colons and quotes inside strings are not structure. */
  expect_ok("[\"[[[{{{\",\"]]]}}}\",\"a,b:c\",\"\\\"]\\\"\"]", 5, 1);
  expect_ok("{\"[\":\"}\",\"{\\\"\":\"]\"}", 3, 1);
  /* Every escape; unicode escapes, a surrogate pair, \u0000 (allowed by jansson's ALLOW_NUL). */
  expect_ok("[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"]", 2, 1);
  expect_ok("[\"\\u00e9\\u4E2D\\uD83D\\uDE00\\u0000\"]", 2, 1);
  /* Raw UTF-8, and strings long enough for the 8-byte fast path, with specials at every offset. */
  expect_ok("[\"h\xc3\xa9llo w\xc3\xb6rld \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\"]", 2, 1);
  char buf[128];
  for (int at = 0; at < 23; at++) {
    memset(buf, 0, sizeof buf);
    buf[0] = '[';
    buf[1] = '"';
    memset(buf + 2, 'x', 24);
    memcpy(buf + 2 + at, "\\\"", 2);
    strcpy(buf + 2 + 24, "\",\"]\"]");
    expect_ok(buf, 3, 1);
  }
}

/* ---- malformed ----------------------------------------------------------------------------- */

static void test_malformed(void **state) {
  const char *bad[] = {
      "", " ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
      "{a:1}", "{1:1}", "{\"a\" 1}", "[1]]", "[1]x", "[1] [2]", "[}", "{]", "{\"a\":1]", "[1}",
      "01", "-", "-a", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.e3", "--1", "tru", "truex",
      "nul", "True", "NaN", "Infinity", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\",
      "[\"a\"\"b\"]", "\"tab\there\"", "\"nl\nhere\"", "[1,,2]", "[1;2]", "/*c*/[]", "[]//",
      "[\"\\'\"]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_malformed(bad[i]);
  /* A raw NUL byte is malformed outside and inside strings. */
  expect_malformed_n("[1,\0]", 5);
  expect_malformed_n("[\"a\0b\"]", 7);
  /* The offset names where the scan stopped. */
  phx_json_stats_t st;
  assert_int_equal(scan("[1,2,]", 0, 0, &st), PHX_JSON_SCAN_MALFORMED);
  assert_int_equal(st.offset, 5);
  assert_int_equal(scan("[1, \"abc", 0, 0, &st), PHX_JSON_SCAN_MALFORMED);
  assert_int_equal(st.offset, 4);
}

/* What jansson refuses but the scan leaves to it (documented): never the other way round. */
static void test_left_to_the_parser(void **state) {
  const char *lenient[] = {"[1e400]", "[\"\\uD800\"]", "[\"\\uDC00x\"]", "{\"a\\u0000\":1}",
                           "[\"\xff\"]", "[\"\xc3\"]"};
  for (size_t i = 0; i < sizeof lenient / sizeof *lenient; i++) {
    phx_json_stats_t st;
    assert_int_equal(scan(lenient[i], 0, 0, &st), PHX_JSON_SCAN_OK);
    json_t *j = json_loads(lenient[i], JSON_ALLOW_NUL, NULL);
    if (j) fail_msg("%s: jansson accepts it", lenient[i]);
  }
}

/* ---- limits ------------------------------------------------------------------------------- */

static char *nested(unsigned levels) {
  char *s = malloc(2 * levels + 1);
  memset(s, '[', levels);
  memset(s + levels, ']', levels);
  s[2 * levels] = '\0';
  return s;
}

static void test_depth_boundary(void **state) {
  phx_json_stats_t st;
  char *s = nested(64);
  assert_int_equal(scan(s, 64, 0, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(st.depth, 64);
  assert_int_equal(st.values, 64);
  assert_int_equal(scan(s, 63, 0, &st), PHX_JSON_SCAN_TOO_DEEP);
  assert_int_equal(st.depth, 64);
  assert_int_equal(st.offset, 63); /* the 64th '[' */
  free(s);
  /* Objects count as levels too, and a scalar inside adds none. */
  assert_int_equal(scan("{\"a\":[{\"b\":1}]}", 3, 0, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(scan("{\"a\":[{\"b\":1}]}", 2, 0, &st), PHX_JSON_SCAN_TOO_DEEP);
  assert_int_equal(scan("1", 1, 0, &st), PHX_JSON_SCAN_OK);
  /* Depth is the nesting at one point, not the sum over siblings. */
  assert_int_equal(scan("[[1],[2],[[3]]]", 3, 0, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(st.depth, 3);
  /* Without a limit the cap still holds: jansson's own. */
  s = nested(PHX_JSON_SCAN_DEPTH_CAP);
  assert_int_equal(scan(s, 0, 0, &st), PHX_JSON_SCAN_OK);
  free(s);
  s = nested(PHX_JSON_SCAN_DEPTH_CAP + 1);
  assert_int_equal(scan(s, 0, 0, &st), PHX_JSON_SCAN_TOO_DEEP);
  assert_int_equal(scan(s, 100000, 0, &st), PHX_JSON_SCAN_TOO_DEEP);
  assert_int_equal(st.depth, PHX_JSON_SCAN_DEPTH_CAP + 1);
  assert_null(json_loads(s, 0, NULL));
  free(s);
  /* Past 64 levels the bit stack moves to its next word: brackets still have to match. */
  s = nested(200);
  s[250] = '}'; /* closes level 150, an array */
  assert_int_equal(scan(s, 0, 0, &st), PHX_JSON_SCAN_MALFORMED);
  assert_int_equal(st.offset, 250);
  free(s);
  char mix[600] = "";
  for (int i = 0; i < 130; i++) strcat(mix, i % 3 ? "[" : "{\"k\":");
  strcat(mix, "0");
  for (int i = 129; i >= 0; i--) strcat(mix, i % 3 ? "]" : "}");
  assert_int_equal(scan(mix, 130, 0, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(st.depth, 130);
  assert_int_equal(scan(mix, 129, 0, &st), PHX_JSON_SCAN_TOO_DEEP);
}

static void test_count_boundary(void **state) {
  phx_json_stats_t st;
  /* [1,2,...,9]: 10 values. */
  const char *t = "[1,2,3,4,5,6,7,8,9]";
  assert_int_equal(scan(t, 0, 10, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(st.values, 10);
  assert_int_equal(scan(t, 0, 9, &st), PHX_JSON_SCAN_TOO_MANY);
  assert_int_equal(st.values, 10);
  assert_int_equal(st.offset, 17); /* the 9 */
  /* Keys are not values; containers are. */
  assert_int_equal(scan("{\"a\":{},\"b\":[]}", 0, 3, &st), PHX_JSON_SCAN_OK);
  assert_int_equal(scan("{\"a\":{},\"b\":[]}", 0, 2, &st), PHX_JSON_SCAN_TOO_MANY);
  /* The first problem from the left wins: too many before a syntax error, and vice versa. */
  assert_int_equal(scan("[1,2,3,}", 0, 2, &st), PHX_JSON_SCAN_TOO_MANY);
  assert_int_equal(scan("[1,}2,3]", 0, 3, &st), PHX_JSON_SCAN_MALFORMED);
  assert_int_equal(scan("[[[1,2]]]", 2, 4, &st), PHX_JSON_SCAN_TOO_DEEP);
  assert_int_equal(scan("[1,2,[[3]]]", 2, 3, &st), PHX_JSON_SCAN_TOO_MANY);
}

/* The attack of issue 9: 8 MB of tiny arrays stops after max_values values, a few hundred KB in. */
static void test_tiny_arrays_stop_early(void **state) {
  size_t k = ((8u << 20) - 4) / 3, n = 0;
  char *s = malloc(8u << 20);
  s[n++] = '[';
  for (size_t i = 0; i < k; i++, n += 3) memcpy(s + n, "[],", 3);
  memcpy(s + n, "[]]", 3);
  n += 3;
  phx_json_stats_t st;
  assert_int_equal(scan_n(s, n, 64, 100000, &st), PHX_JSON_SCAN_TOO_MANY);
  assert_int_equal(st.values, 100001);
  assert_true(st.offset < 400000);
  /* With no limits it is whole and valid: about 2.8 M values. */
  assert_int_equal(scan_n(s, n, 0, 0, &st), PHX_JSON_SCAN_OK);
  assert_true(st.values > 2700000);
  assert_int_equal(st.depth, 2);
  free(s);
}

static void test_null_limits_and_stats(void **state) {
  assert_int_equal(phx_json_scan("[1]", 3, NULL, NULL), PHX_JSON_SCAN_OK);
  assert_int_equal(phx_json_scan("[1", 2, NULL, NULL), PHX_JSON_SCAN_MALFORMED);
  /* The length is respected: what follows is not read. */
  assert_int_equal(phx_json_scan("[1]garbage", 3, NULL, NULL), PHX_JSON_SCAN_OK);
  assert_string_equal(phx_json_scan_strerror(PHX_JSON_SCAN_TOO_DEEP), "JSON nested too deeply");
  assert_string_equal(phx_json_scan_strerror(PHX_JSON_SCAN_TOO_MANY), "too many JSON values");
  assert_string_equal(phx_json_scan_strerror(PHX_JSON_SCAN_MALFORMED), "invalid JSON");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_phoenix_messages),
      cmocka_unit_test(test_scalars_and_whitespace),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_left_to_the_parser),
      cmocka_unit_test(test_depth_boundary),
      cmocka_unit_test(test_count_boundary),
      cmocka_unit_test(test_tiny_arrays_stop_early),
      cmocka_unit_test(test_null_limits_and_stats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
