/* Origin parsing and the --check-origin list (spec §1.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_origin.h"

static bool allowed(const char *list, const char *origin) {
  http_origin_list_t l;
  const char *bad = NULL;
  assert_int_equal(http_origin_list_parse(list, &l, &bad), 0);
  bool ok = http_origin_allowed(&l, origin, origin ? strlen(origin) : 0);
  http_origin_list_free(&l);
  return ok;
}

static void test_parse(void **state) {
  http_origin_t o;
  assert_int_equal(http_origin_parse("https://App.Example.com", 23, &o), 0);
  assert_string_equal(o.scheme, "https");
  assert_string_equal(o.host, "app.example.com");
  assert_int_equal(o.port, 443);
  assert_int_equal(http_origin_parse("http://localhost:5173", 21, &o), 0);
  assert_int_equal(o.port, 5173);
  assert_int_equal(http_origin_parse("//*.example.com:8080", 20, &o), 0);
  assert_true(o.wildcard);
  assert_string_equal(o.host, "example.com");
  assert_int_equal(o.port, 8080);
  assert_int_equal(http_origin_parse("example.com", 11, &o), 0);
  assert_int_equal(o.port, -1);
  assert_string_equal(o.scheme, "");
  assert_int_equal(http_origin_parse("http://[::1]:4000", 17, &o), 0);
  assert_string_equal(o.host, "[::1]");
  assert_int_equal(o.port, 4000);
  static const char *const bad[] = {"", "://x", "http://", "http://a:99999", "http://a:x",
                                    "http://a b", "http://a/path", "ht tp://a", "http://[::1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(http_origin_parse(bad[i], strlen(bad[i]), &o), -1);
}

static void test_allowed(void **state) {
  /* No list: everything; no Origin header: allowed (not a browser). */
  assert_true(allowed("", "https://evil.example"));
  assert_true(allowed("https://app.example.com", NULL));
  /* scheme + host + implied port */
  assert_true(allowed("https://app.example.com", "https://app.example.com"));
  assert_true(allowed("https://app.example.com", "https://app.example.com:443"));
  assert_false(allowed("https://app.example.com", "http://app.example.com"));
  assert_false(allowed("https://app.example.com", "https://app.example.com:8443"));
  assert_false(allowed("https://app.example.com", "https://evil.example"));
  /* host only: any scheme and port */
  assert_true(allowed("localhost", "http://localhost:5173"));
  assert_true(allowed("localhost", "https://LOCALHOST"));
  /* //host:port */
  assert_true(allowed("//other.com:888", "https://other.com:888"));
  assert_false(allowed("//other.com:888", "https://other.com"));
  /* wildcards: the domain and its subdomains, not look-alikes */
  assert_true(allowed("//*.example.org", "https://example.org"));
  assert_true(allowed("//*.example.org", "https://a.b.example.org"));
  assert_false(allowed("//*.example.org", "https://badexample.org"));
  assert_false(allowed("//*.example.org", "https://example.org.evil"));
  /* unparseable origins are refused once a list exists */
  assert_false(allowed("localhost", "null"));
  assert_false(allowed("localhost", "localhost"));
  /* lists */
  assert_true(allowed("https://a.com, //*.b.com ,c.com", "http://c.com:1"));
  assert_true(allowed("https://a.com, //*.b.com ,c.com", "https://x.b.com"));
  http_origin_list_t l;
  const char *bad = NULL;
  assert_int_equal(http_origin_list_parse("https://ok.com,http://", &l, &bad), -1);
  assert_string_equal(bad, "http://");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_allowed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
