/* Redis URLs (cluster/cluster_url.h), as `--redis` / CINDER_REDIS take them: the forms Redis
 * clients write, the defaults, and the refusals that must stop a node at startup instead of
 * sending it to a wrong server or database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster_url.h"

static cluster_redis_url_t parse_ok(const char *url) {
  cluster_redis_url_t u;
  const char *why = NULL;
  if (cluster_redis_url_parse(url, &u, &why))
    fail_msg("%s: refused (%s)", url, why ? why : "no reason");
  return u;
}

static void expect(const char *url, const char *host, int port, const char *user,
                   const char *password, int db) {
  cluster_redis_url_t u = parse_ok(url);
  assert_string_equal(u.host, host);
  assert_int_equal(u.port, port);
  assert_string_equal(u.user, user);
  assert_string_equal(u.password, password);
  assert_int_equal(u.db, db);
}

static void refuse(const char *url, const char *want_why) {
  cluster_redis_url_t u;
  const char *why = NULL;
  if (!cluster_redis_url_parse(url, &u, &why)) fail_msg("%s: accepted, want refused", url);
  assert_non_null(why);
  if (strcmp(why, want_why)) fail_msg("%s: refused for \"%s\", want \"%s\"", url, why, want_why);
}

static void test_host_and_port(void **state) {
  /* Nothing but a host: port 6379, db 0, no AUTH. */
  expect("redis://localhost", "localhost", 6379, "", "", 0);
  expect("redis://127.0.0.1:6380", "127.0.0.1", 6380, "", "", 0);
  expect("redis://redis.internal.example:1", "redis.internal.example", 1, "", "", 0);
  expect("redis://h:65535", "h", 65535, "", "", 0);
  /* IPv6 in brackets, with and without a port. */
  expect("redis://[::1]:6380", "::1", 6380, "", "", 0);
  expect("redis://[::1]", "::1", 6379, "", "", 0);
  expect("redis://[fe80::1:2]/4", "fe80::1:2", 6379, "", "", 4);
  /* A trailing slash names no database. */
  expect("redis://host/", "host", 6379, "", "", 0);
  expect("redis://host:7000/", "host", 7000, "", "", 0);
}

static void test_credentials_and_db(void **state) {
  /* The pre-ACL form: a password only. */
  expect("redis://:secret@host", "host", 6379, "", "secret", 0);
  expect("redis://user:pass@host/3", "host", 6379, "user", "pass", 3);
  expect("redis://user:pass@host:6390/15", "host", 6390, "user", "pass", 15);
  expect("redis://default:pw@[::1]:6380/1", "::1", 6380, "default", "pw", 1);
  expect("redis://host/0", "host", 6379, "", "", 0);
  /* An empty password after a user: AUTH is not sent. */
  expect("redis://user:@host", "host", 6379, "user", "", 0);
  /* Percent-encoding: '@' and ':' in a password, any case of hex digits, in the user too. */
  expect("redis://:p%40ss%3Aword@host", "host", 6379, "", "p@ss:word", 0);
  expect("redis://us%65r:%2f%2F%25@host:1/2", "host", 1, "user", "//%", 2);
  /* Unencoded, a ':' belongs to the password and the last '@' ends it. */
  expect("redis://u:a:b@host", "host", 6379, "u", "a:b", 0);
  expect("redis://:p@ss@host:6381", "host", 6381, "", "p@ss", 0);
}

static void test_limits(void **state) {
  char url[600], host[300];
  /* A 255-byte host fits; 256 does not. */
  memset(host, 'h', 255);
  host[255] = '\0';
  snprintf(url, sizeof url, "redis://%s:1", host);
  cluster_redis_url_t u = parse_ok(url);
  assert_int_equal(strlen(u.host), 255);
  memset(host, 'h', 256);
  host[256] = '\0';
  snprintf(url, sizeof url, "redis://%s:1", host);
  refuse(url, "missing or too long host");
  /* A 255-byte password fits (after decoding: 255 × "%41"); 256 does not. */
  char pw[256 * 3 + 1];
  for (int i = 0; i < 255; i++) memcpy(pw + 3 * i, "%41", 3);
  pw[255 * 3] = '\0';
  char big[900];
  snprintf(big, sizeof big, "redis://:%s@host", pw);
  u = parse_ok(big);
  assert_int_equal(strlen(u.password), 255);
  assert_int_equal(u.password[254], 'A');
  for (int i = 0; i < 256; i++) memcpy(pw + 3 * i, "%41", 3);
  pw[256 * 3] = '\0';
  snprintf(big, sizeof big, "redis://:%s@host", pw);
  refuse(big, "bad user or password (percent-encoding, length)");
}

static void test_refusals(void **state) {
  static const char scheme[] = "the URL must start with redis://";
  refuse("http://host:6379", scheme);
  refuse("rediss://host", scheme); /* TLS: not supported, so not silently plain text */
  refuse("redis:/host", scheme);
  refuse("host:6379", scheme);
  refuse("", scheme);

  static const char host[] = "missing or too long host";
  refuse("redis://", host);
  refuse("redis://:6379", host);
  refuse("redis:///1", host);
  refuse("redis://:pw@", host);
  refuse("redis://user:pw@:6379/1", host);
  refuse("redis://[]:6379", host);
  refuse("redis://::1", host); /* IPv6 without brackets: the first colon starts a port */

  static const char port[] = "bad port";
  refuse("redis://host:0", port);
  refuse("redis://host:65536", port);
  refuse("redis://host:99999", port);
  refuse("redis://host:123456", port);
  refuse("redis://host:abc", port);
  refuse("redis://host:", port);
  refuse("redis://host:-1", port);
  refuse("redis://host:+80", port);
  refuse("redis://host:80x/1", port);
  refuse("redis://[::1]:", port);

  static const char db[] = "bad database number (0-15)";
  refuse("redis://host/16", db);
  refuse("redis://host/99", db);
  refuse("redis://host/-1", db);
  refuse("redis://host/x", db);
  refuse("redis://host/1/2", db);
  refuse("redis://host/1?timeout=5", db);

  static const char cred[] = "bad user or password (percent-encoding, length)";
  refuse("redis://:%4@host", cred);
  refuse("redis://:%@host", cred);
  refuse("redis://:pw%@host", cred);
  refuse("redis://:%zz@host", cred);
  refuse("redis://:%g1@host", cred);
  refuse("redis://%4x:pw@host", cred);
  refuse("redis://:a%00b@host", cred); /* a NUL would cut the password short */
  refuse("redis://user@host", "credentials must be [user]:password@");

  refuse("redis://[::1", "unterminated [IPv6] host");
  refuse("redis://[::1:6379/0", "unterminated [IPv6] host");
  refuse("redis://[::1]x", "junk after the [IPv6] host");
  refuse("redis://[::1]6379", "junk after the [IPv6] host");
}

static void test_output_reset_between_calls(void **state) {
  /* A parse starts from the defaults, whatever the struct held. */
  cluster_redis_url_t u;
  const char *why;
  assert_int_equal(cluster_redis_url_parse("redis://u:p@one:7000/5", &u, &why), 0);
  assert_int_equal(cluster_redis_url_parse("redis://two", &u, &why), 0);
  assert_string_equal(u.host, "two");
  assert_int_equal(u.port, 6379);
  assert_string_equal(u.user, "");
  assert_string_equal(u.password, "");
  assert_int_equal(u.db, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host_and_port),
      cmocka_unit_test(test_credentials_and_db),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_output_reset_between_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
