/* Signed tokens (issue 13), the claims: exp and nbf with leeway at the exact boundaries, sub,
 * aud, iss, the channels and write claims, and the topic patterns. Tokens are HS256, built here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "test_auth_util.h"

#define SECRET "claims-secret"

static auth_t *new_auth(unsigned leeway, const char *audience, const char *issuer) {
  char err[200];
  auth_config_t cfg = {.secret = SECRET, .audience = audience, .issuer = issuer, .leeway_s = leeway};
  auth_t *a = auth_new(&cfg, err, sizeof err);
  if (!a) fail_msg("auth_new: %s", err);
  return a;
}

/* Verifies an HS256 token of payload at now: the reason, or NULL when accepted (then *c is set
 * when c is given, else freed). */
static const char *check(const auth_t *a, const char *payload, int64_t now, auth_claims_t *c) {
  char *t = t_hs256(payload, SECRET);
  auth_claims_t tmp;
  const char *why = NULL;
  int rc = auth_verify(a, t, strlen(t), now, c ? c : &tmp, &why);
  free(t);
  if (rc != 0) {
    assert_non_null(why);
    return why;
  }
  if (!c) auth_claims_free(&tmp);
  return NULL;
}

#define ACCEPT(a, payload, now) \
  do { \
    const char *why_ = check(a, payload, now, NULL); \
    if (why_) fail_msg("%s at %lld: refused: %s", payload, (long long)(now), why_); \
  } while (0)
#define REFUSE(a, payload, now, want) \
  do { \
    const char *why_ = check(a, payload, now, NULL); \
    if (!why_) fail_msg("%s at %lld: accepted, want %s", payload, (long long)(now), want); \
    if (strcmp(why_, want) != 0) fail_msg("%s: \"%s\", want \"%s\"", payload, why_, want); \
  } while (0)

/* --- exp and nbf ------------------------------------------------------------------------------ */

static void test_exp(void **state) {
  auth_t *a0 = new_auth(0, NULL, NULL), *a5 = new_auth(5, NULL, NULL);
  const char *p = "{\"sub\":\"u\",\"exp\":1000}";
  ACCEPT(a0, p, 999);
  ACCEPT(a0, p, 1000); /* valid through exp itself */
  REFUSE(a0, p, 1001, "token expired");
  ACCEPT(a5, p, 1005); /* exactly exp + leeway */
  REFUSE(a5, p, 1006, "token expired");
  ACCEPT(a5, p, INT64_MIN);
  REFUSE(a5, p, INT64_MAX, "token expired");
  /* A fractional exp: now > 1000.5 first holds at 1001. */
  ACCEPT(a0, "{\"sub\":\"u\",\"exp\":1000.5}", 1000);
  REFUSE(a0, "{\"sub\":\"u\",\"exp\":1000.5}", 1001, "token expired");
  ACCEPT(a5, "{\"sub\":\"u\",\"exp\":1000.5}", 1005);
  REFUSE(a5, "{\"sub\":\"u\",\"exp\":1000.5}", 1006, "token expired");
  ACCEPT(a0, "{\"sub\":\"u\",\"exp\":-0.5}", -1);
  REFUSE(a0, "{\"sub\":\"u\",\"exp\":-0.5}", 0, "token expired");
  ACCEPT(a0, "{\"sub\":\"u\",\"exp\":1.0e3}", 1000);
  REFUSE(a0, "{\"sub\":\"u\",\"exp\":1e3}", 1001, "token expired");
  /* The ends of int64 and beyond, without overflow. */
  ACCEPT(a5, "{\"sub\":\"u\",\"exp\":9223372036854775807}", INT64_MAX);
  REFUSE(a5, "{\"sub\":\"u\",\"exp\":-9223372036854775808}", INT64_MAX, "token expired");
  ACCEPT(a5, "{\"sub\":\"u\",\"exp\":-9223372036854775808}", INT64_MIN);
  ACCEPT(a5, "{\"sub\":\"u\",\"exp\":1e300}", INT64_MAX);
  REFUSE(a5, "{\"sub\":\"u\",\"exp\":-1e300}", INT64_MIN + 6, "token expired");
  ACCEPT(a5, "{\"sub\":\"u\",\"exp\":-1e300}", INT64_MIN + 5);
  /* Not numbers. */
  static const char *bad[] = {"\"1000\"", "null", "true", "[1000]", "{}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *q = t_printf("{\"sub\":\"u\",\"exp\":%s}", bad[i]);
    REFUSE(a5, q, 0, "bad exp claim");
    free(q);
  }
  /* The exp handed out: the integer, rounded down, 0 when absent. */
  auth_claims_t c;
  assert_null(check(a5, "{\"sub\":\"u\",\"exp\":1700000100}", 1700000000, &c));
  assert_int_equal(c.exp, 1700000100);
  auth_claims_free(&c);
  assert_null(check(a5, "{\"sub\":\"u\",\"exp\":1700000100.9}", 1700000000, &c));
  assert_int_equal(c.exp, 1700000100);
  auth_claims_free(&c);
  assert_null(check(a5, "{\"sub\":\"u\"}", 1700000000, &c));
  assert_int_equal(c.exp, 0);
  auth_claims_free(&c);
  auth_free(a0);
  auth_free(a5);
}

static void test_nbf(void **state) {
  auth_t *a0 = new_auth(0, NULL, NULL), *a5 = new_auth(5, NULL, NULL);
  const char *p = "{\"sub\":\"u\",\"nbf\":1000}";
  REFUSE(a0, p, 999, "token not yet valid");
  ACCEPT(a0, p, 1000);
  REFUSE(a5, p, 994, "token not yet valid");
  ACCEPT(a5, p, 995); /* exactly now + leeway == nbf */
  ACCEPT(a5, p, INT64_MAX);
  REFUSE(a5, p, INT64_MIN, "token not yet valid");
  /* A fractional nbf: now < 1000.5 holds up to 1000. */
  REFUSE(a0, "{\"sub\":\"u\",\"nbf\":1000.5}", 1000, "token not yet valid");
  ACCEPT(a0, "{\"sub\":\"u\",\"nbf\":1000.5}", 1001);
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":1000.5}", 995, "token not yet valid");
  ACCEPT(a5, "{\"sub\":\"u\",\"nbf\":1000.5}", 996);
  ACCEPT(a0, "{\"sub\":\"u\",\"nbf\":-0.5}", 0);
  ACCEPT(a5, "{\"sub\":\"u\",\"nbf\":9223372036854775807}", INT64_MAX - 5);
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":9223372036854775807}", INT64_MAX - 6, "token not yet valid");
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":9223372036854775807}", INT64_MIN, "token not yet valid");
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":1e300}", INT64_MAX - 6, "token not yet valid");
  ACCEPT(a5, "{\"sub\":\"u\",\"nbf\":-1e300}", INT64_MIN);
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":\"1000\"}", 2000, "bad nbf claim");
  REFUSE(a5, "{\"sub\":\"u\",\"nbf\":null}", 2000, "bad nbf claim");
  /* Both: a window [nbf - leeway, exp + leeway]. */
  const char *w = "{\"sub\":\"u\",\"nbf\":1000,\"exp\":2000}";
  REFUSE(a5, w, 994, "token not yet valid");
  ACCEPT(a5, w, 995);
  ACCEPT(a5, w, 2005);
  REFUSE(a5, w, 2006, "token expired");
  /* iat and other registered claims are not looked at. */
  ACCEPT(a5, "{\"sub\":\"u\",\"iat\":\"yesterday\",\"jti\":7,\"purpose\":\"user\"}", 0);
  auth_free(a0);
  auth_free(a5);
}

/* --- sub -------------------------------------------------------------------------------------- */

static void test_sub(void **state) {
  auth_t *a = new_auth(5, NULL, NULL);
  REFUSE(a, "{}", 0, "missing sub");
  REFUSE(a, "{\"exp\":100}", 0, "missing sub");
  REFUSE(a, "{\"sub\":\"\"}", 0, "missing sub");
  REFUSE(a, "{\"sub\":42}", 0, "missing sub");
  REFUSE(a, "{\"sub\":null}", 0, "missing sub");
  REFUSE(a, "{\"sub\":[\"u\"]}", 0, "missing sub");
  REFUSE(a, "{\"sub\":{\"id\":1}}", 0, "missing sub");
  REFUSE(a, "{\"SUB\":\"u\"}", 0, "missing sub");
  char long_sub[AUTH_MAX_SUB + 2];
  memset(long_sub, 'u', sizeof long_sub - 1);
  long_sub[AUTH_MAX_SUB] = '\0';
  char *p = t_printf("{\"sub\":\"%s\"}", long_sub);
  auth_claims_t c;
  assert_null(check(a, p, 0, &c));
  assert_int_equal(strlen(c.sub), AUTH_MAX_SUB);
  auth_claims_free(&c);
  free(p);
  long_sub[AUTH_MAX_SUB] = 'u';
  long_sub[AUTH_MAX_SUB + 1] = '\0';
  p = t_printf("{\"sub\":\"%s\"}", long_sub);
  REFUSE(a, p, 0, "missing sub");
  free(p);
  /* UTF-8, escapes: handed out decoded. */
  assert_null(check(a, "{\"sub\":\"user?id=\\u00e9\\ud83d\\ude00\\\"\"}", 0, &c));
  assert_string_equal(c.sub, "user?id=\xc3\xa9\xf0\x9f\x98\x80\"");
  assert_false(c.has_channels);
  assert_false(c.has_write);
  assert_null(c.channels);
  assert_null(c.write);
  auth_claims_free(&c);
  /* Not UTF-8, a lone surrogate, an escaped NUL: not JSON as jansson reads it. */
  REFUSE(a, "{\"sub\":\"\xe9t\xe9\"}", 0, "malformed token");
  REFUSE(a, "{\"sub\":\"\\ud83d\"}", 0, "malformed token");
  REFUSE(a, "{\"sub\":\"u\\u0000admin\"}", 0, "malformed token");
  auth_free(a);
}

/* --- aud and iss ------------------------------------------------------------------------------ */

static void test_audience(void **state) {
  auth_t *a = new_auth(5, "cinder", NULL), *none = new_auth(5, NULL, NULL);
  ACCEPT(a, "{\"sub\":\"u\",\"aud\":\"cinder\"}", 0);
  ACCEPT(a, "{\"sub\":\"u\",\"aud\":[\"cinder\"]}", 0);
  ACCEPT(a, "{\"sub\":\"u\",\"aud\":[\"api\",\"cinder\",\"other\"]}", 0);
  static const char *wrong[] = {
    "{\"sub\":\"u\"}", "{\"sub\":\"u\",\"aud\":\"Cinder\"}", "{\"sub\":\"u\",\"aud\":\"cinder \"}",
    "{\"sub\":\"u\",\"aud\":\"cinde\"}", "{\"sub\":\"u\",\"aud\":\"cinderella\"}",
    "{\"sub\":\"u\",\"aud\":[]}", "{\"sub\":\"u\",\"aud\":[\"api\"]}", "{\"sub\":\"u\",\"aud\":null}",
    "{\"sub\":\"u\",\"aud\":[\"cinder\",1]}", "{\"sub\":\"u\",\"aud\":[[\"cinder\"]]}",
    "{\"sub\":\"u\",\"aud\":{\"cinder\":true}}", "{\"sub\":\"u\",\"aud\":1}",
  };
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
    REFUSE(a, wrong[i], 0, "wrong audience");
    ACCEPT(none, wrong[i], 0); /* not configured: not checked */
  }
  auth_free(a);
  auth_free(none);
}

static void test_issuer(void **state) {
  auth_t *a = new_auth(5, NULL, "https://app.example"), *both = new_auth(5, "cinder", "ash");
  ACCEPT(a, "{\"sub\":\"u\",\"iss\":\"https://app.example\"}", 0);
  REFUSE(a, "{\"sub\":\"u\",\"iss\":\"https://app.example/\"}", 0, "wrong issuer");
  REFUSE(a, "{\"sub\":\"u\",\"iss\":\"https://evil.example\"}", 0, "wrong issuer");
  REFUSE(a, "{\"sub\":\"u\"}", 0, "wrong issuer");
  REFUSE(a, "{\"sub\":\"u\",\"iss\":[\"https://app.example\"]}", 0, "wrong issuer");
  REFUSE(a, "{\"sub\":\"u\",\"iss\":null}", 0, "wrong issuer");
  ACCEPT(both, "{\"sub\":\"u\",\"iss\":\"ash\",\"aud\":\"cinder\"}", 0);
  REFUSE(both, "{\"sub\":\"u\",\"iss\":\"ash\"}", 0, "wrong audience");
  REFUSE(both, "{\"sub\":\"u\",\"aud\":\"cinder\"}", 0, "wrong issuer");
  auth_free(a);
  auth_free(both);
}

/* --- channels and write ------------------------------------------------------------------------ */

static void test_pattern_claims(void **state) {
  auth_t *a = new_auth(5, NULL, NULL);
  auth_claims_t c;
  assert_null(check(a, "{\"sub\":\"u\",\"channels\":[\"room:*\",\"y_doc_room:team-1\"],"
                       "\"write\":[\"room:lobby\"]}", 0, &c));
  assert_true(c.has_channels);
  assert_int_equal(c.nchannels, 2);
  assert_string_equal(c.channels[0], "room:*");
  assert_string_equal(c.channels[1], "y_doc_room:team-1");
  assert_true(c.has_write);
  assert_int_equal(c.nwrite, 1);
  assert_string_equal(c.write[0], "room:lobby");
  assert_true(auth_may_join(&c, "room:lobby"));
  assert_true(auth_may_join(&c, "room:other"));
  assert_true(auth_may_join(&c, "y_doc_room:team-1"));
  assert_false(auth_may_join(&c, "y_doc_room:team-2"));
  assert_false(auth_may_join(&c, "activity:cpu"));
  assert_true(auth_may_write(&c, "room:lobby"));
  assert_false(auth_may_write(&c, "room:other"));
  assert_false(auth_may_write(&c, "y_doc_room:team-1"));
  auth_claims_free(&c);
  assert_null(c.channels);
  assert_int_equal(c.nchannels, 0);

  /* Empty lists: may join nothing; may join anything but write nothing. */
  assert_null(check(a, "{\"sub\":\"u\",\"channels\":[]}", 0, &c));
  assert_true(c.has_channels);
  assert_int_equal(c.nchannels, 0);
  assert_false(auth_may_join(&c, "room:lobby"));
  assert_false(auth_may_write(&c, "room:lobby"));
  auth_claims_free(&c);
  assert_null(check(a, "{\"sub\":\"u\",\"write\":[]}", 0, &c));
  assert_false(c.has_channels);
  assert_true(c.has_write);
  assert_true(auth_may_join(&c, "room:lobby"));
  assert_false(auth_may_write(&c, "room:lobby"));
  auth_claims_free(&c);

  /* No claims: anything; write without channels: its patterns within everything. */
  assert_null(check(a, "{\"sub\":\"u\"}", 0, &c));
  assert_true(auth_may_join(&c, "anything:at-all"));
  assert_true(auth_may_write(&c, "anything:at-all"));
  assert_true(auth_may_join(&c, ""));
  assert_false(auth_may_join(&c, NULL));
  auth_claims_free(&c);
  assert_null(check(a, "{\"sub\":\"u\",\"write\":[\"y_doc_room:*\"]}", 0, &c));
  assert_true(auth_may_write(&c, "y_doc_room:x"));
  assert_false(auth_may_write(&c, "room:x"));
  assert_true(auth_may_join(&c, "room:x"));
  auth_claims_free(&c);
  /* A write pattern outside channels grants nothing. */
  assert_null(check(a, "{\"sub\":\"u\",\"channels\":[\"room:a\"],\"write\":[\"room:*\"]}", 0, &c));
  assert_true(auth_may_write(&c, "room:a"));
  assert_false(auth_may_write(&c, "room:b"));
  auth_claims_free(&c);
  /* Without claims at all (a tokenless socket): no restriction; the server decides. */
  assert_true(auth_may_join(NULL, "room:a"));
  assert_true(auth_may_write(NULL, "room:a"));

  /* Malformed lists. */
  static const char *bad[] = {"\"room:*\"", "null", "{}", "[\"\"]", "[1]", "[\"room:*\",null]",
                              "[[\"room:*\"]]", "true", "[\"room:*\",\"\"]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *p = t_printf("{\"sub\":\"u\",\"channels\":%s}", bad[i]);
    REFUSE(a, p, 0, "bad channels claim");
    free(p);
    p = t_printf("{\"sub\":\"u\",\"channels\":[\"room:*\"],\"write\":%s}", bad[i]);
    REFUSE(a, p, 0, "bad write claim");
    free(p);
  }
  auth_free(a);
}

/* A list claim of n patterns of len bytes each. */
static char *list_payload(const char *key, size_t n, size_t len) {
  size_t cap = 64 + n * (len + 3);
  char *p = malloc(cap), *o = p;
  o += sprintf(o, "{\"sub\":\"u\",\"%s\":[", key);
  for (size_t i = 0; i < n; i++) {
    if (i) *o++ = ',';
    *o++ = '"';
    memset(o, 'a' + (char)(i % 26), len);
    o += len;
    *o++ = '"';
  }
  sprintf(o, "]}");
  return p;
}

static void test_pattern_limits(void **state) {
  auth_t *a = new_auth(5, NULL, NULL);
  /* The token limit allows 256 short entries, and one entry of the longest length. */
  char *p = list_payload("channels", AUTH_MAX_PATTERNS, 2);
  auth_claims_t c;
  assert_null(check(a, p, 0, &c));
  assert_int_equal(c.nchannels, AUTH_MAX_PATTERNS);
  auth_claims_free(&c);
  free(p);
  p = list_payload("channels", AUTH_MAX_PATTERNS + 1, 2);
  REFUSE(a, p, 0, "bad channels claim");
  free(p);
  p = list_payload("write", AUTH_MAX_PATTERNS + 1, 1);
  REFUSE(a, p, 0, "bad write claim");
  free(p);
  p = list_payload("write", 3, AUTH_MAX_PATTERN_LEN);
  assert_null(check(a, p, 0, &c));
  assert_int_equal(strlen(c.write[2]), AUTH_MAX_PATTERN_LEN);
  auth_claims_free(&c);
  free(p);
  p = list_payload("write", 3, AUTH_MAX_PATTERN_LEN + 1);
  REFUSE(a, p, 0, "bad write claim");
  free(p);
  p = list_payload("channels", 1, AUTH_MAX_PATTERN_LEN + 1);
  REFUSE(a, p, 0, "bad channels claim");
  free(p);
  auth_free(a);
}

/* --- patterns ------------------------------------------------------------------------------ */

static void test_pattern_match(void **state) {
  assert_true(auth_pattern_match("room:*", "room:"));
  assert_true(auth_pattern_match("room:*", "room:a"));
  assert_true(auth_pattern_match("room:*", "room:a:b*"));
  assert_false(auth_pattern_match("room:*", "roo"));
  assert_false(auth_pattern_match("room:*", "room"));
  assert_false(auth_pattern_match("room:*", "rooms:a"));
  assert_false(auth_pattern_match("room:*", "Room:a"));
  assert_false(auth_pattern_match("room:*", ""));
  assert_true(auth_pattern_match("y_doc_room:team-*", "y_doc_room:team-1"));
  assert_false(auth_pattern_match("y_doc_room:team-*", "y_doc_room:other"));
  /* Exact. */
  assert_true(auth_pattern_match("room:lobby", "room:lobby"));
  assert_false(auth_pattern_match("room:lobby", "room:lobby2"));
  assert_false(auth_pattern_match("room:lobby", "room:lobb"));
  assert_false(auth_pattern_match("room:lobby", "room:*"));
  /* "*" matches every topic, the empty one too. */
  assert_true(auth_pattern_match("*", ""));
  assert_true(auth_pattern_match("*", "room:lobby"));
  assert_true(auth_pattern_match("*", "*"));
  /* A '*' not at the end is a literal character. */
  assert_true(auth_pattern_match("ro*m:a", "ro*m:a"));
  assert_false(auth_pattern_match("ro*m:a", "room:a"));
  assert_false(auth_pattern_match("*:a", "room:a"));
  assert_true(auth_pattern_match("*:a", "*:a"));
  assert_true(auth_pattern_match("ro*m:*", "ro*m:x"));
  assert_false(auth_pattern_match("ro*m:*", "room:x"));
  assert_true(auth_pattern_match("room:**", "room:*x"));
  assert_false(auth_pattern_match("room:**", "room:x"));
  /* Empty pattern: only the empty topic. NULLs: nothing. */
  assert_true(auth_pattern_match("", ""));
  assert_false(auth_pattern_match("", "a"));
  assert_false(auth_pattern_match(NULL, "a"));
  assert_false(auth_pattern_match("*", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_exp),
    cmocka_unit_test(test_nbf),
    cmocka_unit_test(test_sub),
    cmocka_unit_test(test_audience),
    cmocka_unit_test(test_issuer),
    cmocka_unit_test(test_pattern_claims),
    cmocka_unit_test(test_pattern_limits),
    cmocka_unit_test(test_pattern_match),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
