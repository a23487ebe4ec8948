/* HTTP/1.1 request heads: what is accepted and how it is exposed, every refusal with its status,
 * the size bounds, and for every case that each prefix of the input is either incomplete or fails
 * the same way (the parser is re-run on the whole buffer as bytes arrive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/http_parser.h"

/* Parses an exact-size heap copy so that ASan catches any read past len. */
static int parse_n(const char *s, size_t len, http_request_t *req) {
  char *copy = calloc(1, len ? len : 1);
  if (len) memcpy(copy, s, len);
  int r = http_parse_request(copy, len, req);
  free(copy);
  return r;
}

/* Every prefix is incomplete or the same error; the whole gives `want`. */
static int parse_checked(const char *s, size_t len, http_request_t *req) {
  http_request_t tmp;
  int whole = parse_n(s, len, &tmp);
  for (size_t cut = 0; cut < len; cut++) {
    int r = parse_n(s, cut, &tmp);
    if (whole > 0) {
      if (r != 0 && !(r > 0 && cut >= (size_t)whole))
        fail_msg("prefix %zu of a valid head gave %d", cut, r);
    } else if (r != 0 && r != whole) {
      fail_msg("prefix %zu gave %d, whole %d", cut, r, whole);
    }
  }
  return http_parse_request(s, len, req);
}

static int parse(const char *s, http_request_t *req) { return parse_checked(s, strlen(s), req); }

static void expect_err(const char *s, int err, int status) {
  http_request_t req;
  int r = parse(s, &req);
  if (r != err) fail_msg("%s: got %d want %d", s, r, err);
  assert_int_equal(http_error_status(r), status);
  assert_non_null(http_strerror(r));
}

#define SLICE_EQ(p, n, lit) \
  do { assert_int_equal((n), strlen(lit)); assert_memory_equal((p), (lit), strlen(lit)); } while (0)

static void test_basic_get(void **state) {
  const char *s =
      "GET /socket/websocket?token=abc&vsn=2.0.0 HTTP/1.1\r\n"
      "Host: localhost:4000\r\n"
      "Upgrade:websocket\r\n"
      "X-Empty:\r\n"
      "X-Spaces: \t padded value \t \r\n"
      "\r\n"
      "BODY";
  http_request_t req;
  int r = parse_checked(s, strlen(s), &req);
  assert_int_equal(r, (int)strlen(s) - 4);
  assert_int_equal(req.head_len, (size_t)r);
  SLICE_EQ(req.method, req.method_len, "GET");
  SLICE_EQ(req.target, req.target_len, "/socket/websocket?token=abc&vsn=2.0.0");
  SLICE_EQ(req.path, req.path_len, "/socket/websocket");
  SLICE_EQ(req.query, req.query_len, "token=abc&vsn=2.0.0");
  assert_int_equal(req.version_minor, 1);
  assert_int_equal(req.num_headers, 4);
  SLICE_EQ(req.headers[0].name, req.headers[0].name_len, "Host");
  SLICE_EQ(req.headers[0].value, req.headers[0].value_len, "localhost:4000");
  SLICE_EQ(req.headers[1].value, req.headers[1].value_len, "websocket");
  SLICE_EQ(req.headers[2].value, req.headers[2].value_len, "");
  SLICE_EQ(req.headers[3].value, req.headers[3].value_len, "padded value");
  assert_true(req.content_length == -1);
  assert_true(req.keep_alive);
  /* Zero copy: pointers into the input. */
  assert_ptr_equal(req.method, s);
  assert_ptr_equal(req.headers[0].value, strstr(s, "localhost"));
}

static void test_query_forms(void **state) {
  http_request_t req;
  assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
  assert_null(req.query);
  SLICE_EQ(req.path, req.path_len, "/");
  assert_true(parse("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
  assert_non_null(req.query);
  assert_int_equal(req.query_len, 0);
  SLICE_EQ(req.path, req.path_len, "/x");
  assert_true(parse("GET /x?a=1?b=[2]|{} HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
  SLICE_EQ(req.query, req.query_len, "a=1?b=[2]|{}");
}

static void test_versions_and_keep_alive(void **state) {
  http_request_t req;
  assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0); /* no Host needed in 1.0 */
  assert_int_equal(req.version_minor, 0);
  assert_false(req.keep_alive);
  assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0);
  assert_true(req.keep_alive);
  assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &req) > 0);
  assert_false(req.keep_alive);
  assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", &req) > 0);
  assert_false(req.keep_alive);
  assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n", &req) > 0);
  assert_true(req.keep_alive);
  expect_err("GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP_E_VERSION_UNSUPPORTED, 505);
  expect_err("GET / HTTP/1.2\r\nHost: a\r\n\r\n", HTTP_E_VERSION_UNSUPPORTED, 505);
  expect_err("GET / HTTP/0.9\r\nHost: a\r\n\r\n", HTTP_E_VERSION_UNSUPPORTED, 505);
  expect_err("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  expect_err("GET / HTTP/11\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  expect_err("GET / HTTP/1.\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  expect_err("GET / http/1.1\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  expect_err("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  expect_err("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
}

static void test_request_line_errors(void **state) {
  expect_err("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_METHOD, 400);
  expect_err(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_METHOD, 400);
  expect_err("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_REQUEST_LINE, 400);
  expect_err("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_METHOD, 400);
  expect_err("GET /\r\n\r\n", HTTP_E_REQUEST_LINE, 400); /* HTTP/0.9 style */
  expect_err("GET http://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET /caf\xC3\xA9 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET /a\x7F HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_TARGET, 400);
  expect_err("GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", HTTP_E_VERSION, 400);
  http_request_t req;
  assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
  SLICE_EQ(req.target, req.target_len, "*");
  assert_true(parse("M-SEARCH!#$%&'*+-.^_`|~ /x HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
}

static void test_line_endings(void **state) {
  expect_err("GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\n\r\r", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("GET / HTTP/1.1\r\nHo\nst: a\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  expect_err("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_E_LINE_ENDING, 400);
  /* Leading empty lines (CRLF) are tolerated and counted in head_len. */
  http_request_t req;
  const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert_int_equal(parse(s, &req), (int)strlen(s));
  SLICE_EQ(req.method, req.method_len, "GET");
}

static void test_header_errors(void **state) {
  expect_err("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_E_OBS_FOLD, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", HTTP_E_OBS_FOLD, 400);
  expect_err("GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP_E_OBS_FOLD, 400);
  expect_err("GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_E_HEADER_NAME, 400);
  expect_err("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HTTP_E_HEADER_NAME, 400);
  expect_err("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", HTTP_E_HEADER_NAME, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", HTTP_E_HEADER_NAME, 400);
  expect_err("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", HTTP_E_HEADER_NAME, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", HTTP_E_HEADER_VALUE, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7Fz\r\n\r\n", HTTP_E_HEADER_VALUE, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nX: \x1B[0m\r\n\r\n", HTTP_E_HEADER_VALUE, 400);
  /* obs-text and HT inside values are fine. */
  http_request_t req;
  assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xC3\xA9\tx\r\n\r\n", &req) > 0);
  SLICE_EQ(req.headers[1].value, req.headers[1].value_len, "caf\xC3\xA9\tx");
}

/* A NUL in a value, which strlen-based helpers cannot express. */
static void test_nul_in_value(void **state) {
  static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0z\r\n\r\n";
  http_request_t req;
  assert_int_equal(parse_checked(s, sizeof(s) - 1, &req), HTTP_E_HEADER_VALUE);
}

static void test_content_length(void **state) {
  http_request_t req;
  assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", &req) > 0);
  assert_true(req.content_length == 42);
  assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req) > 0);
  assert_true(req.content_length == 0);
  assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\ncontent-length: 7\r\nCONTENT-LENGTH: 7\r\n\r\n", &req) > 0);
  assert_true(req.content_length == 7);
  assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", &req) > 0);
  assert_true(req.content_length == INT64_MAX);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +7\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP_E_CONTENT_LENGTH, 400);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_E_TRANSFER_ENCODING, 501);
  expect_err("POST /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\nContent-Length: 3\r\n\r\n",
             HTTP_E_TRANSFER_ENCODING, 501);
}

static void test_host(void **state) {
  expect_err("GET / HTTP/1.1\r\n\r\n", HTTP_E_NO_HOST, 400);
  expect_err("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", HTTP_E_NO_HOST, 400);
  expect_err("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP_E_DUPLICATE_HOST, 400);
  expect_err("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", HTTP_E_DUPLICATE_HOST, 400);
  http_request_t req;
  assert_true(parse("GET / HTTP/1.1\r\nHOST: a\r\n\r\n", &req) > 0);
  assert_true(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0);
}

/* A request whose head is exactly n bytes long. */
static void build_head(buf_t *b, size_t n) {
  buf_clear(b);
  buf_append_str(b, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
  size_t fixed = b->len + 4;
  assert_true(n >= fixed);
  for (size_t i = fixed; i < n; i++) buf_append_byte(b, 'p');
  buf_append_str(b, "\r\n\r\n");
  assert_int_equal(b->len, n);
}

static void test_head_size_bounds(void **state) {
  buf_t b = BUF_INIT;
  http_request_t req;
  build_head(&b, HTTP_MAX_HEAD);
  assert_int_equal(parse_n((char *)b.data, b.len, &req), HTTP_MAX_HEAD);
  /* Followed by body bytes: still fine, head_len excludes them. */
  buf_append_str(&b, "body");
  assert_int_equal(parse_n((char *)b.data, b.len, &req), HTTP_MAX_HEAD);
  build_head(&b, HTTP_MAX_HEAD + 1);
  assert_int_equal(parse_n((char *)b.data, b.len, &req), HTTP_E_HEAD_TOO_LARGE);
  assert_int_equal(http_error_status(HTTP_E_HEAD_TOO_LARGE), 431);
  /* Incomplete just below the cap, too large at the cap. */
  assert_int_equal(parse_n((char *)b.data, HTTP_MAX_HEAD - 1, &req), 0);
  assert_int_equal(parse_n((char *)b.data, HTTP_MAX_HEAD, &req), HTTP_E_HEAD_TOO_LARGE);
  /* A target that cannot fit: 414. */
  buf_clear(&b);
  buf_append_str(&b, "GET /");
  for (size_t i = 0; i < HTTP_MAX_HEAD; i++) buf_append_byte(&b, 'a');
  assert_int_equal(parse_n((char *)b.data, HTTP_MAX_HEAD - 1, &req), 0);
  assert_int_equal(parse_n((char *)b.data, b.len, &req), HTTP_E_URI_TOO_LONG);
  assert_int_equal(http_error_status(HTTP_E_URI_TOO_LONG), 414);
  /* A flood of empty lines is bounded too. */
  buf_clear(&b);
  for (size_t i = 0; i < HTTP_MAX_HEAD; i++) buf_append_str(&b, "\r\n");
  assert_int_equal(parse_n((char *)b.data, b.len, &req), HTTP_E_HEAD_TOO_LARGE);
  buf_free(&b);
}

static void test_header_count(void **state) {
  buf_t b = BUF_INIT;
  http_request_t req;
  buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 1; i < HTTP_MAX_HEADERS; i++) buf_printf(&b, "X-%d: v\r\n", i);
  size_t before_end = b.len;
  buf_append_str(&b, "\r\n");
  assert_int_equal(parse_checked((char *)b.data, b.len, &req), (int)b.len);
  assert_int_equal(req.num_headers, HTTP_MAX_HEADERS);
  b.len = before_end;
  buf_append_str(&b, "X-Last: v\r\n\r\n");
  assert_int_equal(parse_checked((char *)b.data, b.len, &req), HTTP_E_TOO_MANY_HEADERS);
  assert_int_equal(http_error_status(HTTP_E_TOO_MANY_HEADERS), 431);
  buf_free(&b);
}

static void test_header_lookup(void **state) {
  const char *s =
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive ,\t Upgrade,,\r\n"
      "Sec-WebSocket-Protocol: phoenix\r\nsec-websocket-protocol: other\r\n\r\n";
  http_request_t req;
  assert_true(parse(s, &req) > 0);
  const http_header_t *h = http_header_find(&req, "CONNECTION");
  assert_non_null(h);
  assert_true(http_header_has_token(h, "upgrade"));
  assert_true(http_header_has_token(h, "Keep-Alive"));
  assert_false(http_header_has_token(h, "keep"));
  assert_false(http_header_has_token(h, "upgrade,"));
  assert_false(http_header_has_token(h, ""));
  assert_false(http_header_has_token(NULL, "x"));
  assert_null(http_header_find(&req, "upgrade"));
  assert_null(http_header_find(&req, "hos"));
  const http_header_t *p1 = http_header_find(&req, "sec-websocket-protocol");
  const http_header_t *p2 = http_header_find_next(&req, "sec-websocket-protocol", p1);
  assert_non_null(p2);
  SLICE_EQ(p2->value, p2->value_len, "other");
  assert_null(http_header_find_next(&req, "sec-websocket-protocol", p2));
}

static void test_incomplete(void **state) {
  http_request_t req;
  assert_int_equal(parse_n("", 0, &req), 0);
  assert_int_equal(parse_n("GET / HTTP/1.1\r\nHost: a\r\n", 25, &req), 0);
  assert_int_equal(parse_n("GET / HTTP/1.1\r\nHost: a\r\n\r", 26, &req), 0);
  assert_int_equal(parse_n("\r", 1, &req), 0);
  assert_int_equal(http_strerror(0)[0] != 0, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_basic_get),
    cmocka_unit_test(test_query_forms),
    cmocka_unit_test(test_versions_and_keep_alive),
    cmocka_unit_test(test_request_line_errors),
    cmocka_unit_test(test_line_endings),
    cmocka_unit_test(test_header_errors),
    cmocka_unit_test(test_nul_in_value),
    cmocka_unit_test(test_content_length),
    cmocka_unit_test(test_host),
    cmocka_unit_test(test_head_size_bounds),
    cmocka_unit_test(test_header_count),
    cmocka_unit_test(test_header_lookup),
    cmocka_unit_test(test_incomplete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
