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

/* Pending structs: updates whose dependencies are missing wait, are part of the encoded state
 * (as in yjs's encodeStateAsUpdate, merged in) but not of the state vector, and are applied as
 * soon as the gap is filled. The "nenor" sequence of yjs's testMergePendingUpdates. */

static const char *const PEND[] = {
    "0101010004010174016e00", "01010101840100016500", "01010102840101016e00",
    "01010103840102016f00",   "01010104840103017200", "000101010101", /* delete "e" */
};

static void test_out_of_order(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  int changed = -1;
  assert_int_equal(apply_hex(d, PEND[0], &changed), 0);
  assert_int_equal(changed, 1);
  assert_int_equal(apply_hex(d, PEND[5], &changed), 0); /* deletion of an unknown clock */
  assert_int_equal(changed, 0);
  assert_int_equal(apply_hex(d, PEND[2], &changed), 0); /* needs clock 1 */
  assert_int_equal(changed, 0);
  assert_int_equal(apply_hex(d, PEND[4], &changed), 0);
  assert_int_equal(changed, 0);
  assert_int_equal(yjs_doc_has_pending(d), 1);
  assert_sv_hex(d, "010101");
  assert_json(d, "{\"t\":\"n\"}");
  /* what yjs encodes for this state (verified with yjs 13.6.31) */
  assert_state_hex(d, NULL, "0105010004010174016e0a01840101016e0a0184010301720101010101");
  assert_int_equal(apply_hex(d, PEND[1], &changed), 0);
  assert_int_equal(changed, 1);
  assert_json(d, "{\"t\":\"nn\"}");
  assert_int_equal(apply_hex(d, PEND[3], &changed), 0);
  assert_json(d, "{\"t\":\"nnor\"}");
  assert_int_equal(yjs_doc_has_pending(d), 0);
  assert_state_hex(d, NULL, "0103010004010174016e81010001840101036e6f720101010101");
  yjs_doc_free(d);
}

static void test_every_order_converges(void **state) {
  (void)state;
  /* all rotations and the reverse order */
  for (int start = 0; start < 6; start++) {
    for (int rev = 0; rev < 2; rev++) {
      yjs_doc *d = yjs_doc_new(0);
      for (int i = 0; i < 6; i++) {
        int k = rev ? (start + 6 - i) % 6 : (start + i) % 6;
        assert_int_equal(apply_hex(d, PEND[k], NULL), 0);
      }
      assert_json(d, "{\"t\":\"nnor\"}");
      assert_int_equal(yjs_doc_has_pending(d), 0);
      assert_sv_hex(d, "010105");
      assert_state_hex(d, NULL, "0103010004010174016e81010001840101036e6f720101010101");
      yjs_doc_free(d);
    }
  }
}

static void test_missing_other_client(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  int changed = -1;
  /* client 2 appends "X" after (1,0), which is unknown: pending until client 1 arrives */
  assert_int_equal(apply_hex(d, "0101020084010001580" "0", &changed), 0);
  assert_int_equal(changed, 0);
  assert_sv_hex(d, "00");
  assert_json(d, "{}");
  assert_state_hex(d, NULL, "0101020084010001580" "0");
  assert_int_equal(apply_hex(d, PEND[0], &changed), 0);
  assert_int_equal(changed, 1);
  assert_json(d, "{\"t\":\"nX\"}");
  assert_sv_hex(d, "0202010101");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_out_of_order),
      cmocka_unit_test(test_every_order_converges),
      cmocka_unit_test(test_missing_other_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
