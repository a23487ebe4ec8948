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

/* Garbage collection: a deleted item keeps its position as ContentDeleted, everything inside a
 * deleted type becomes GC structs, adjacent GC / deleted structs merge; with gc disabled the
 * content stays. Bytes are those yjs 13.6.31 produces (E10 / E11). */

#define NESTED "010301000701016101280001000178017d012800010001790177027a7a00"
#define DEL_ITEM0 "000101010001"

static void test_gc_nested_type(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, NESTED, NULL), 0);
  int changed = -1;
  assert_int_equal(apply_hex(d, DEL_ITEM0, &changed), 0);
  assert_int_equal(changed, 1);
  assert_state_hex(d, NULL, "01020100010101610100020101010003"); /* E11 */
  assert_json(d, "{}");
  /* an update into the collected map becomes a GC struct too */
  assert_int_equal(apply_hex(d, "0101010328000100017a017d0500", NULL), 0);
  assert_sv_hex(d, "010104");
  assert_state_hex(d, NULL, "01020100010101610100030101010004");
  yjs_doc_free(d);
}

static void test_no_gc_keeps_content(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(YJS_DOC_NO_GC);
  assert_int_equal(apply_hex(d, NESTED, NULL), 0);
  assert_int_equal(apply_hex(d, DEL_ITEM0, NULL), 0);
  assert_state_hex(d, NULL,
                   "010301000701016101280001000178017d012800010001790177027a7a0101010003");
  assert_json(d, "{\"a\":[]}");
  yjs_doc_free(d);
}

static void test_deleted_text_merges(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "0101010004010174056162636465" "00", NULL), 0);
  assert_int_equal(apply_hex(d, "000101010101", NULL), 0);
  assert_int_equal(apply_hex(d, "000101010201", NULL), 0);
  assert_int_equal(apply_hex(d, "000101010301", NULL), 0);
  /* b, c, d deleted one at a time: one ContentDeleted(3) item, one range */
  assert_state_hex(d, NULL, "010301000401017401618101000384010301650101010103");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gc_nested_type),
      cmocka_unit_test(test_no_gc_keeps_content),
      cmocka_unit_test(test_deleted_text_merges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
