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

/* Deleting a map type whose children were deleted earlier: ContentType.delete pushes each already
 * deleted child (a key's current value only; overwritten values are GC'd through the parent but
 * never pushed) to _mergeStructs while it recurses depth first through live children, in the
 * Map's insertion order; the cleanup tries the merges from the list's end, so that order decides
 * which GC structs coalesce (differential seed 30060). Client 1, one update per transaction:
 *   r = [W, X]; X.a = A (array: [a1]); X.b = b; W = [w1]; X.k = x2; r.push(live);
 *   delete a1; delete X.b; X.k = v (x2 overwritten); delete X.k; delete W; delete X.
 * yjs leaves A, a1, b, w1, x2 as one GC struct 1:2+5; visiting a1 before b (our old order)
 * left x2 (1:6) a GC struct of its own. Bytes from yjs 13.6.31. */
static const char *const MAP_DFS[] = {
    "010801000701017200870100012700010101610008000102017d01280001010162017d0208000100017d0328"
    "000101016b017d04880101017d0500",
    "000101010301",
    "000101010401",
    "01010108a80106017d060101010601",
    "000101010801",
    "0001010200010501",
    "000101010102",
};

/* The same with X.b set (to a placeholder) before X.a: the Map iterates b before a, whatever the
 * keys' hash order, so b is pushed before a1. */
static const char *const MAP_ORDER[] = {
    "01090100070101720087010001210001010162012700010101610008000103017d01a80102017d0208000100"
    "017d0328000101016b017d04880101017d050101010201",
    "000101010401",
    "000101010501",
    "01010109a80107017d060101010701",
    "000101010901",
    "0001010200010601",
    "0001010201010301",
};

static void apply_all(yjs_doc *d, const char *const *ups, size_t n) {
  for (size_t i = 0; i < n; i++) assert_int_equal(apply_hex(d, ups[i], NULL), 0);
}

static void test_gc_merge_order_depth_first(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  apply_all(d, MAP_DFS, sizeof(MAP_DFS) / sizeof(*MAP_DFS));
  assert_state_hex(d, NULL, "0104010001010172020005880101017d05000101010200070801");
  assert_json(d, "{\"r\":[5]}");
  yjs_doc_free(d);
}

static void test_gc_merge_order_map_insertion(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  apply_all(d, MAP_ORDER, sizeof(MAP_ORDER) / sizeof(*MAP_ORDER));
  assert_state_hex(d, NULL, "01050100010101720200050001880101017d05000101010200080901");
  assert_json(d, "{\"r\":[5]}");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gc_nested_type),
      cmocka_unit_test(test_no_gc_keeps_content),
      cmocka_unit_test(test_deleted_text_merges),
      cmocka_unit_test(test_gc_merge_order_depth_first),
      cmocka_unit_test(test_gc_merge_order_map_insertion),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
