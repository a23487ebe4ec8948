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

/* Update-level helpers without a document, byte-exact with yjs 13.6.31: mergeUpdates (E4, E14,
 * E15, duplicates, single-input identity, empty), diffUpdate (5.6 examples, leading Skip dropped)
 * and encodeStateVectorFromUpdate (4.3, including Skips and clients starting above 0). */

static char *merge_n(const char *const *hex, size_t n) {
  uint8_t *ps[8] = {0};
  size_t ls[8] = {0};
  for (size_t i = 0; i < n; i++) ps[i] = unhex(hex[i], &ls[i]);
  uint8_t *out;
  size_t on;
  int rc = yjs_merge_updates_v1((const uint8_t *const *)ps, ls, n, &out, &on, NULL);
  for (size_t i = 0; i < n; i++) free(ps[i]);
  if (rc) return NULL;
  char *h = tohex(out, on);
  yjs_free(out);
  return h;
}

static void check_merge(const char *const *hex, size_t n, const char *want) {
  char *h = merge_n(hex, n);
  assert_non_null(h);
  assert_string_equal(h, want);
  free(h);
}

#define E1 "010101000401017402616200"
#define E2 "01010102840101016300"
#define E3 "000101010001"

static void test_merge(void **state) {
  (void)state;
  const char *e123[] = {E1, E2, E3};
  check_merge(e123, 3, "010201000401017402616284010101630101010001"); /* E4 */
  const char *skip[] = {"0101010004010174016100", "01010102840101016300"};
  check_merge(skip, 2, "010301000401017401610a01840101016300"); /* E14: Skip at clock 1 */
  const char *two[] = {"0101050004010174017800", "0101ac020004010174017900"};
  check_merge(two, 2, "0201ac020004010174017901050004010174017800"); /* E15 */
  const char *one[] = {"0101010001ff"}; /* a single input is returned as is, even invalid */
  check_merge(one, 1, "0101010001ff");
  check_merge(NULL, 0, "0000");
  const char *e8[] = {"01010101a80100017701770101010001", "01010101a80100017701770101010001"};
  check_merge(e8, 2, "01010101880100017701770101010001"); /* 0x20 cleared */
  const char *gcs[] = {"01010500000200", "01010502000300"};
  check_merge(gcs, 2, "01010500000500"); /* adjacent GC runs coalesce */
  const char *bad[] = {E1, "0101"};
  assert_null(merge_n(bad, 2));
}

static void check_diff(const char *u, const char *sv, const char *want) {
  size_t n, svn;
  uint8_t *p = unhex(u, &n), *s = unhex(sv, &svn);
  uint8_t *out;
  size_t on;
  assert_int_equal(yjs_diff_update_v1(p, n, s, svn, &out, &on, NULL), 0);
  char *h = tohex(out, on);
  assert_string_equal(h, want);
  free(h);
  yjs_free(out);
  free(p);
  free(s);
}

static void test_diff(void **state) {
  (void)state;
  const char *abc = "01010100040101740361626300";
  check_diff(abc, "010101", "0101010184010002626300");
  check_diff(abc, "010102", "01010102840101016300");
  check_diff(abc, "010103", "0000");
  check_diff(abc, "010104", "0000");
  check_diff(abc, "00", abc);
  /* E14 with SV {1:1}: the leading Skip is dropped */
  check_diff("010301000401017401610a01840101016300", "010101", "01010102840101016300");
}

static void check_sv(const char *u, const char *want) {
  size_t n;
  uint8_t *p = unhex(u, &n);
  uint8_t *out;
  size_t on;
  assert_int_equal(yjs_state_vector_from_update_v1(p, n, &out, &on, NULL), 0);
  char *h = tohex(out, on);
  assert_string_equal(h, want);
  free(h);
  yjs_free(out);
  free(p);
}

static void test_sv_from_update(void **state) {
  (void)state;
  check_sv(E1, "010102");
  check_sv(E2, "00");                                     /* starts above clock 0 */
  check_sv("010301000401017401610a01840101016300", "010101"); /* stops at the Skip */
  check_sv("0201ac020004010174017901050004010174017800", "02ac02010501");
  check_sv("0000", "00");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_diff),
      cmocka_unit_test(test_sv_from_update),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
