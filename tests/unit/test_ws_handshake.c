/* The upgrade handshake: RFC 6455 accept key, every validation with its status, and the
 * phoenix.js auth token carried in Sec-WebSocket-Protocol (spec §1.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "ws/ws_handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static char head[4096];
static http_request_t req;

/* Parses a request made of the standard upgrade headers with `extra` appended (and `line` as
 * the request line), then runs the check. */
static int check_with(const char *line, const char *headers, ws_handshake_t *hs, const char **reason) {
  snprintf(head, sizeof(head), "%s\r\nHost: localhost\r\n%s\r\n", line, headers);
  int r = http_parse_request(head, strlen(head), &req);
  assert_int_equal(r, (int)strlen(head));
  return ws_handshake_check(&req, hs, reason);
}

#define STD_UPGRADE "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
#define STD STD_UPGRADE "Sec-WebSocket-Key: " KEY "\r\n"
#define GET "GET /socket/websocket?vsn=2.0.0 HTTP/1.1"

static void expect_status(const char *line, const char *headers, int status) {
  ws_handshake_t hs;
  const char *reason = NULL;
  int r = check_with(line, headers, &hs, &reason);
  if (r != status) fail_msg("%s\n%s: got %d want %d", line, headers, r, status);
  if (status) assert_non_null(reason);
  ws_handshake_free(&hs);
}

static void test_accept_key(void **state) {
  char out[29];
  /* RFC 6455 §1.3 */
  ws_handshake_accept_key(KEY, strlen(KEY), out);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  /* RFC 6455 §4.2.2 / the ws package's own test vector */
  ws_handshake_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
  assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_valid_upgrade(void **state) {
  ws_handshake_t hs;
  const char *reason = "unset";
  assert_int_equal(check_with(GET, STD, &hs, &reason), 0);
  assert_null(reason);
  assert_int_equal(hs.key_len, 24);
  assert_memory_equal(hs.key, KEY, 24);
  assert_false(hs.offers_phoenix);
  assert_null(hs.auth_token);
  buf_t out = BUF_INIT;
  ws_handshake_write_response(&hs, &out);
  buf_append_byte(&out, 0);
  assert_string_equal((char *)out.data,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  buf_free(&out);
  ws_handshake_free(&hs);
  /* Tokens are case-insensitive and may be part of lists; headers may repeat. */
  expect_status(GET, "upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-version: 13\r\n"
                     "sec-websocket-key: " KEY "\r\n", 0);
  expect_status(GET, "Upgrade: h2c, websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n", 0);
}

static void test_rejections(void **state) {
  expect_status("POST /socket/websocket HTTP/1.1", STD, 400);
  expect_status("HEAD /socket/websocket HTTP/1.1", STD, 400);
  expect_status("GET /socket/websocket HTTP/1.0", STD, 400);
  expect_status(GET, "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n", 400);
  expect_status(GET, "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n", 400);
  expect_status(GET, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n", 400);
  expect_status(GET, "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n", 400);
  /* Version: missing or not 13 -> 426. */
  expect_status(GET, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n", 426);
  expect_status(GET, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " KEY "\r\n", 426);
  expect_status(GET, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13, 8\r\nSec-WebSocket-Key: " KEY "\r\n", 426);
  expect_status(GET, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\n", 426);
  /* Key: missing, wrong length, not base64, not 16 bytes, repeated. */
  expect_status(GET, STD_UPGRADE, 400);
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: \r\n", 400);
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n", 400);     /* no padding */
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n", 400);
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\n", 400);   /* bad char */
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWU=\r\n", 400);   /* 17 bytes */
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n", 400);   /* trailing bits */
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Key: " KEY "\r\n", 400);
  /* Other 16-byte keys are fine, in either alphabet. */
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", 0);
  expect_status(GET, STD_UPGRADE "Sec-WebSocket-Key: ////////////////////+A==\r\n", 0);
}

static void test_426_reason(void **state) {
  ws_handshake_t hs;
  const char *reason = NULL;
  assert_int_equal(check_with(GET, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n", &hs, &reason), 426);
  assert_non_null(strstr(reason, "13"));
  ws_handshake_free(&hs);
}

static void test_phoenix_and_token(void **state) {
  ws_handshake_t hs;
  const char *reason;
  /* As phoenix.js 1.8 sends it: btoa("my-token") without '='. */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.bXktdG9rZW4\r\n", &hs, &reason), 0);
  assert_true(hs.offers_phoenix);
  assert_non_null(hs.auth_token);
  assert_int_equal(hs.auth_token_len, 8);
  assert_string_equal((char *)hs.auth_token, "my-token");
  buf_t out = BUF_INIT;
  ws_handshake_write_response(&hs, &out);
  buf_append_byte(&out, 0);
  assert_non_null(strstr((char *)out.data, "\r\nSec-WebSocket-Protocol: phoenix\r\n"));
  assert_null(strstr((char *)out.data, "bearer"));
  buf_free(&out);
  ws_handshake_free(&hs);
  assert_null(hs.auth_token);

  /* With padding; URL-safe alphabet; standard alphabet with '+' and '/'. */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: phoenix,base64url.bearer.phx.bXktdG9rZW4=\r\n", &hs, &reason), 0);
  assert_string_equal((char *)hs.auth_token, "my-token");
  ws_handshake_free(&hs);
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: base64url.bearer.phx.-_8\r\n", &hs, &reason), 0);
  assert_false(hs.offers_phoenix);
  assert_int_equal(hs.auth_token_len, 2);
  assert_memory_equal(hs.auth_token, "\xFB\xFF", 2);
  ws_handshake_free(&hs);
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: base64url.bearer.phx.+/8\r\n", &hs, &reason), 0);
  assert_memory_equal(hs.auth_token, "\xFB\xFF", 2);
  ws_handshake_free(&hs);
  /* Empty token: present, zero bytes. */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.\r\n", &hs, &reason), 0);
  assert_non_null(hs.auth_token);
  assert_int_equal(hs.auth_token_len, 0);
  ws_handshake_free(&hs);
  /* The entry may come in a second instance of the header. */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: phoenix\r\nSec-WebSocket-Protocol: base64url.bearer.phx.YWJj\r\n", &hs, &reason), 0);
  assert_true(hs.offers_phoenix);
  assert_string_equal((char *)hs.auth_token, "abc");
  ws_handshake_free(&hs);
  /* Two token entries: none (Phoenix does the same). */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJj, base64url.bearer.phx.ZGVm\r\n", &hs, &reason), 0);
  assert_null(hs.auth_token);
  ws_handshake_free(&hs);
  /* Sub-protocol names are case-sensitive; other entries are ignored. */
  assert_int_equal(check_with(GET, STD "Sec-WebSocket-Protocol: Phoenix, chat\r\n", &hs, &reason), 0);
  assert_false(hs.offers_phoenix);
  ws_handshake_free(&hs);
  /* A token that does not decode: 403. */
  static const char *bad[] = {"a", "YWJj!", "YW=j", "YWJjZ", "YWJjZA=", "YWI=====", "YR", "YWJ\x01"};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    char hdr[200];
    snprintf(hdr, sizeof(hdr), STD "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.%s\r\n", bad[k]);
    if (strchr(bad[k], '\x01')) continue; /* refused by the HTTP parser already */
    reason = NULL;
    if (check_with(GET, hdr, &hs, &reason) != 403) fail_msg("token %s accepted", bad[k]);
    assert_string_equal(reason, "invalid auth token");
    assert_null(hs.auth_token);
    ws_handshake_free(&hs);
  }
}

static void test_base64(void **state) {
  uint8_t out[32];
  assert_int_equal(ws_base64_decode_any("", 0, out), 0);
  assert_int_equal(ws_base64_decode_any("Zg", 2, out), 1);
  assert_int_equal(ws_base64_decode_any("Zg==", 4, out), 1);
  assert_int_equal(ws_base64_decode_any("Zm8", 3, out), 2);
  assert_int_equal(ws_base64_decode_any("Zm8=", 4, out), 2);
  assert_int_equal(ws_base64_decode_any("Zm9v", 4, out), 3);
  assert_memory_equal(out, "foo", 3);
  assert_int_equal(ws_base64_decode_any("Zm9vYmFy", 8, out), 6);
  assert_memory_equal(out, "foobar", 6);
  assert_int_equal(ws_base64_decode_any("Z", 1, out), -1);
  assert_int_equal(ws_base64_decode_any("Zg=", 3, out), -1);
  assert_int_equal(ws_base64_decode_any("Zh==", 4, out), -1); /* non-zero trailing bits */
  assert_int_equal(ws_base64_decode_any("Zm9v====", 8, out), -1);
  assert_int_equal(ws_base64_decode_any("Zm=v", 4, out), -1);
  assert_int_equal(ws_base64_decode_any("Zm9 v", 5, out), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_accept_key),
    cmocka_unit_test(test_valid_upgrade),
    cmocka_unit_test(test_rejections),
    cmocka_unit_test(test_426_reason),
    cmocka_unit_test(test_phoenix_and_token),
    cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
