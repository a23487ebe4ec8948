/* Plug-style query decoding (spec §1.1): each case compared with what Plug.Conn.Query.decode
 * gives, as canonical JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/http_query.h"

static void expect_json(const char *q, const char *want) {
  json_t *j = http_query_parse(q, strlen(q));
  if (!j) fail_msg("%s: NULL", q);
  char *got = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
  if (strcmp(got, want) != 0) fail_msg("%s: got %s want %s", q, got, want);
  free(got);
  json_decref(j);
}

static void test_flat(void **state) {
  expect_json("", "{}");
  json_t *empty = http_query_parse(NULL, 0);
  assert_non_null(empty);
  json_decref(empty);
  expect_json("token=abc&vsn=2.0.0", "{\"token\":\"abc\",\"vsn\":\"2.0.0\"}");
  expect_json("a=1&&b=2&", "{\"a\":\"1\",\"b\":\"2\"}");
  expect_json("&&&", "{}");
  expect_json("k", "{\"k\":\"\"}");
  expect_json("k=", "{\"k\":\"\"}");
  expect_json("k=a=b", "{\"k\":\"a=b\"}");
  expect_json("x=1&x=2&x=3", "{\"x\":\"3\"}");
  expect_json("=v", "{\"\":\"v\"}");
  expect_json("vsn=2.0.0&", "{\"vsn\":\"2.0.0\"}");
}

static void test_decoding(void **state) {
  expect_json("a=hello+world", "{\"a\":\"hello world\"}");
  expect_json("a=%2B%26%3D%25", "{\"a\":\"+&=%\"}");
  expect_json("a%20b=c%C3%A9", "{\"a b\":\"c\\u00E9\"}");
  expect_json("user%5Bid%5D=1", "{\"user\":{\"id\":\"1\"}}");
  /* Invalid escapes are kept as they are. */
  expect_json("a=%zz&b=%4&c=%&d=100%", "{\"a\":\"%zz\",\"b\":\"%4\",\"c\":\"%\",\"d\":\"100%\"}");
}

static void test_invalid_utf8(void **state) {
  static const char *bad[] = {"a=%FF", "a=%C0%80", "%ED%A0%80=x", "a=%E2%82", "a[%FF]=1", "ok=1&a=\xFF"};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
    if (http_query_parse(bad[k], strlen(bad[k]))) fail_msg("%s accepted", bad[k]);
  /* NUL bytes are valid UTF-8 and survive in values. */
  json_t *j = http_query_parse("a=x%00y", 7);
  assert_non_null(j);
  assert_int_equal(json_string_length(json_object_get(j, "a")), 3);
  json_decref(j);
}

static void test_nesting(void **state) {
  expect_json("user[id]=1&user[name]=jo", "{\"user\":{\"id\":\"1\",\"name\":\"jo\"}}");
  expect_json("a[b][c]=d", "{\"a\":{\"b\":{\"c\":\"d\"}}}");
  expect_json("a[]=x&a[]=y&a[]=z", "{\"a\":[\"x\",\"y\",\"z\"]}");
  expect_json("a[][b]=1&a[][b]=2", "{\"a\":[{\"b\":\"1\"},{\"b\":\"2\"}]}");
  expect_json("a[b][]=1&a[b][]=2&a[c]=3", "{\"a\":{\"b\":[\"1\",\"2\"],\"c\":\"3\"}}");
  expect_json("k[0]=a&k[1]=b", "{\"k\":{\"0\":\"a\",\"1\":\"b\"}}"); /* ajax.js arrays */
  expect_json("a[b]=1&a[b]=2", "{\"a\":{\"b\":\"2\"}}");
  /* Only a key ending in ']' nests; Plug's quirks kept. */
  expect_json("a[b=1", "{\"a[b\":\"1\"}");
  expect_json("a]=1", "{\"a\":\"1\"}");
  expect_json("[b]=1", "{\"\":{\"b\":\"1\"}}");
  expect_json("a[b]c]=1", "{\"a\":{\"b]c\":\"1\"}}");
  expect_json("vsn[]=x", "{\"vsn\":[\"x\"]}");
}

static void test_conflicts_last_wins(void **state) {
  expect_json("a=1&a[b]=2", "{\"a\":{\"b\":\"2\"}}");
  expect_json("a[b]=2&a=1", "{\"a\":\"1\"}");
  expect_json("a[]=1&a=2", "{\"a\":\"2\"}");
  expect_json("a=2&a[]=1&a[]=3", "{\"a\":[\"1\",\"3\"]}");
  expect_json("a[]=1&a[b]=2", "{\"a\":{\"b\":\"2\"}}");
  expect_json("a[b]=2&a[]=1", "{\"a\":[\"1\"]}");
}

static void test_bounds(void **state) {
  /* Depth: 8 brackets fine, 9 ignored. */
  expect_json("a[1][2][3][4][5][6][7][8]=x&b=1",
              "{\"a\":{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":{\"8\":\"x\"}}}}}}}},\"b\":\"1\"}");
  expect_json("a[1][2][3][4][5][6][7][8][9]=x&b=1", "{\"b\":\"1\"}");
  /* Pairs: the first HTTP_QUERY_MAX_PAIRS are read. */
  buf_t q = BUF_INIT;
  for (int i = 0; i < HTTP_QUERY_MAX_PAIRS + 10; i++) buf_printf(&q, "k%d=v&", i);
  json_t *j = http_query_parse((char *)q.data, q.len);
  assert_non_null(j);
  assert_int_equal(json_object_size(j), HTTP_QUERY_MAX_PAIRS);
  assert_non_null(json_object_get(j, "k0"));
  assert_null(json_object_get(j, "k256"));
  json_decref(j);
  /* A big array stays linear enough and keeps its order. */
  buf_clear(&q);
  for (int i = 0; i < HTTP_QUERY_MAX_PAIRS; i++) buf_printf(&q, "a[]=%d&", i);
  j = http_query_parse((char *)q.data, q.len);
  json_t *a = json_object_get(j, "a");
  assert_int_equal(json_array_size(a), HTTP_QUERY_MAX_PAIRS);
  assert_string_equal(json_string_value(json_array_get(a, 0)), "0");
  assert_string_equal(json_string_value(json_array_get(a, 255)), "255");
  json_decref(j);
  buf_free(&q);
}

static void test_unescape(void **state) {
  char out[32];
  assert_int_equal(http_query_unescape("a%41+%4", 7, out), 5);
  assert_memory_equal(out, "aA %4", 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flat),
    cmocka_unit_test(test_decoding),
    cmocka_unit_test(test_invalid_utf8),
    cmocka_unit_test(test_nesting),
    cmocka_unit_test(test_conflicts_last_wins),
    cmocka_unit_test(test_bounds),
    cmocka_unit_test(test_unescape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
