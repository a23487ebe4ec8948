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

/* YATA integration: concurrent inserts at the same position order by client id on every
 * replica, concurrent map sets converge to the same winner, inserts between existing items use
 * origin and right origin; every delivery order converges. */

#define CONC_A "010201000401017401612801016d016b0177014100"
#define CONC_B "010202000401017401622801016d016b0177014200"

static void test_concurrent_same_position(void **state) {
  (void)state;
  const char *orders[2][2] = {{CONC_A, CONC_B}, {CONC_B, CONC_A}};
  for (int o = 0; o < 2; o++) {
    yjs_doc *d = yjs_doc_new(0);
    assert_int_equal(apply_hex(d, orders[o][0], NULL), 0);
    assert_int_equal(apply_hex(d, orders[o][1], NULL), 0);
    /* "a" (client 1) before "b" (client 2); the map value of client 2 wins */
    assert_json(d, "{\"m\":{\"k\":\"B\"},\"t\":\"ab\"}");
    assert_sv_hex(d, "0202020102");
    yjs_doc_free(d);
  }
}

static void test_insert_between(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "010101000401017402616200", NULL), 0); /* "ab" */
  /* client 2 inserts "X" between a (1,0) and b (1,1): origin (1,0), right origin (1,1) */
  assert_int_equal(apply_hex(d, "01010200c401000101015800", NULL), 0);
  assert_json(d, "{\"t\":\"aXb\"}");
  /* client 3 concurrently inserts "Y" at the same place: ordered after X (higher client) */
  assert_int_equal(apply_hex(d, "01010300c401000101015900", NULL), 0);
  assert_json(d, "{\"t\":\"aXYb\"}");
  /* client 0 at the same place goes first */
  assert_int_equal(apply_hex(d, "01010000c401000101015a00", NULL), 0);
  assert_json(d, "{\"t\":\"aZXYb\"}");
  yjs_doc_free(d);
}

static void test_order_independence(void **state) {
  (void)state;
  const char *u[] = {"010101000401017402616200", "01010200c401000101015800",
                     "01010300c401000101015900", "01010000c401000101015a00",
                     "000101010001"};
  int perm[][5] = {{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}, {3, 1, 0, 4, 2}};
  for (size_t p = 0; p < 4; p++) {
    yjs_doc *d = yjs_doc_new(0);
    for (int i = 0; i < 5; i++) assert_int_equal(apply_hex(d, u[perm[p][i]], NULL), 0);
    assert_json(d, "{\"t\":\"ZXYb\"}");
    assert_int_equal(yjs_doc_has_pending(d), 0);
    assert_sv_hex(d, "040301020101020001");
    yjs_doc_free(d);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_same_position),
      cmocka_unit_test(test_insert_between),
      cmocka_unit_test(test_order_independence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
