/* The static files' path normaliser (http/http_path.h): what it accepts and what it makes of it,
 * and every refusal — traversal in all its spellings first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_path.h"

static void ok(const char *in, const char *want) {
  char out[256];
  long n = http_path_normalize(in, strlen(in), out, sizeof out);
  if (n < 0) fail_msg("%s: refused (%s), want %s", in, http_path_strerror(n), want);
  if (strcmp(out, want) || (size_t)n != strlen(want))
    fail_msg("%s: got '%s' (%ld), want '%s'", in, out, n, want);
}

static void refused(const char *in, long want) {
  char out[256];
  long n = http_path_normalize(in, strlen(in), out, sizeof out);
  if (n != want) fail_msg("%s: got %ld ('%s'), want %ld", in, n, n >= 0 ? out : "", want);
}

static void test_plain(void **state) {
  ok("/", "index.html");
  ok("", "index.html");
  ok("/index.html", "index.html");
  ok("/app-3f9a2c1d.js", "app-3f9a2c1d.js");
  ok("/a/b/c.css", "a/b/c.css");
  ok("a/b.js", "a/b.js");
  ok("/a/", "a/index.html");
  ok("/a/b/", "a/b/index.html");
  ok("/.well-known/x", ".well-known/x");
  ok("/a..b/c...", "a..b/c...");
}

static void test_collapse_and_dot(void **state) {
  ok("//", "index.html");
  ok("///a//b///c.js", "a/b/c.js");
  ok("/./a/./b.js", "a/b.js");
  ok("/a/.", "a/index.html");
  ok("/a/./", "a/index.html");
  ok("/.", "index.html");
  ok("/%2e/a", "a");
  ok("/a/%2E", "a/index.html");
}

static void test_decode(void **state) {
  ok("/a%20b.txt", "a b.txt");
  ok("/%41%62c", "Abc");
  ok("/%25", "%");
  ok("/caf%C3%A9.html", "caf\xc3\xa9.html");
  ok("/a+b", "a+b"); /* '+' is not a space in a path */
  refused("/%", HTTP_PATH_E_ESCAPE);
  refused("/%4", HTTP_PATH_E_ESCAPE);
  refused("/%zz", HTTP_PATH_E_ESCAPE);
  refused("/%4g", HTTP_PATH_E_ESCAPE);
  refused("/%ff", HTTP_PATH_E_UTF8);
  refused("/%C3", HTTP_PATH_E_UTF8);
}

static void test_traversal(void **state) {
  refused("/..", HTTP_PATH_E_DOTDOT);
  refused("/../x", HTTP_PATH_E_DOTDOT);
  refused("/a/../x", HTTP_PATH_E_DOTDOT);
  refused("/a/..", HTTP_PATH_E_DOTDOT);
  refused("..", HTTP_PATH_E_DOTDOT);
  refused("/%2e%2e/x", HTTP_PATH_E_DOTDOT);
  refused("/a/%2E%2E/%2E%2E/x", HTTP_PATH_E_DOTDOT);
  refused("/.%2e/x", HTTP_PATH_E_DOTDOT);
  refused("/%2e./x", HTTP_PATH_E_DOTDOT);
  refused("/a/%2e%2e", HTTP_PATH_E_DOTDOT);
  refused("/a%2f..%2fx", HTTP_PATH_E_SLASH);
  refused("/x%2F..%2F..%2Fetc", HTTP_PATH_E_SLASH);
  refused("/a\\..\\x", HTTP_PATH_E_BACKSLASH);
  refused("/a%5c..%5cx", HTTP_PATH_E_BACKSLASH);
  refused("/a%5Cb", HTTP_PATH_E_BACKSLASH);
}

static void test_nul_and_control(void **state) {
  refused("/%00", HTTP_PATH_E_NUL);
  refused("/index.html%00.js", HTTP_PATH_E_NUL);
  refused("/a%0ab", HTTP_PATH_E_NUL);
  refused("/a%7f", HTTP_PATH_E_NUL);
  const char raw[] = {'/', 'a', '\0', 'b'};
  char out[64];
  assert_int_equal(http_path_normalize(raw, sizeof raw, out, sizeof out), HTTP_PATH_E_NUL);
}

static void test_bounds(void **state) {
  char out[11];
  assert_int_equal(http_path_normalize("/", 1, out, sizeof out), 10); /* "index.html" fits */
  assert_string_equal(out, "index.html");
  assert_int_equal(http_path_normalize("/a/", 3, out, sizeof out), HTTP_PATH_E_TOO_LONG);
  assert_int_equal(http_path_normalize("/abcdefghijk", 12, out, sizeof out), HTTP_PATH_E_TOO_LONG);
  assert_int_equal(http_path_normalize("/abcdefghij", 11, out, sizeof out), 10);
  assert_int_equal(http_path_normalize("/", 1, out, 0), HTTP_PATH_E_TOO_LONG);
  assert_int_equal(http_path_normalize(NULL, 0, out, sizeof out), 10);
}

static void test_stable(void **state) {
  const char *in[] = {"/a//b/./c.js", "/d/", "/%2541", "/x%20y/"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    char a[128], esc[256], b[128];
    long n = http_path_normalize(in[i], strlen(in[i]), a, sizeof a);
    assert_true(n > 0);
    size_t e = 0;
    for (long k = 0; k < n; k++) {
      if (a[k] == '%') { memcpy(esc + e, "%25", 3); e += 3; }
      else esc[e++] = a[k];
    }
    assert_int_equal(http_path_normalize(esc, e, b, sizeof b), n);
    assert_string_equal(a, b);
  }
  assert_string_equal(http_path_strerror(HTTP_PATH_E_DOTDOT), "'..' segment");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain),     cmocka_unit_test(test_collapse_and_dot),
      cmocka_unit_test(test_decode),    cmocka_unit_test(test_traversal),
      cmocka_unit_test(test_nul_and_control), cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_stable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
