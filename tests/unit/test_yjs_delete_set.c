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

/* Delete sets: sorting and coalescing (overlap and adjacency), wire order preserved by diff,
 * application to a document (splitting items at range borders), deletions of unknown clocks
 * kept pending. */
#include "yjs/internal.h"

static void test_sort_merge(void **state) {
  (void)state;
  yds ds = {0};
  yds_add(&ds, 5, 3, 3);
  yds_add(&ds, 9, 0, 1);
  yds_add(&ds, 5, 0, 2);
  yds_add(&ds, 5, 2, 1); /* touches (0,2) and (3,3): all coalesce */
  yds_add(&ds, 5, 10, 0);
  yds_sort_merge(&ds);
  assert_int_equal(ds.n, 3);
  assert_true(ds.e[0].client == 9);
  assert_true(ds.e[1].client == 5 && ds.e[1].clock == 0 && ds.e[1].len == 6);
  assert_true(ds.e[2].client == 5 && ds.e[2].clock == 10 && ds.e[2].len == 0);
  ybuf b = {0};
  yds_write(&ds, &b);
  char *h = tohex(b.data, b.len);
  assert_string_equal(h, "0209010001050200060a00");
  free(h);
  ybuf_free(&b);
  yds_free(&ds);
}

static void merge_hex(const char *a, const char *b, const char *want) {
  size_t na, nb;
  uint8_t *pa = unhex(a, &na), *pb = unhex(b, &nb);
  const uint8_t *ins[2] = {pa, pb};
  size_t lens[2] = {na, nb};
  uint8_t *out;
  size_t n;
  assert_int_equal(yjs_merge_updates_v1(ins, lens, 2, &out, &n, NULL), 0);
  char *h = tohex(out, n);
  assert_string_equal(h, want);
  free(h);
  yjs_free(out);
  free(pa);
  free(pb);
}

static void test_merge_delete_sets(void **state) {
  (void)state;
  merge_hex("000105010002", "000105010203", "000105010005");
  merge_hex("000105010002", "000105010303", "0001050200020303");
}

static void test_apply_splits_and_pending(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "010101000401017405616263646500", NULL), 0); /* "abcde" */
  int changed = -1;
  assert_int_equal(apply_hex(d, "000101010102", &changed), 0); /* delete "bc" */
  assert_int_equal(changed, 1);
  assert_json(d, "{\"t\":\"ade\"}");
  /* a deletion reaching past the known state: the known part applies, the rest waits */
  assert_int_equal(apply_hex(d, "00010101040a", &changed), 0);
  assert_int_equal(changed, 1);
  assert_json(d, "{\"t\":\"ad\"}");
  assert_int_equal(yjs_doc_has_pending(d), 1);
  /* the pending range is part of the encoded state */
  assert_state_hex(d, NULL, "01040100040101740161810100028401020164810103010101020102040a");
  /* re-deleting is a no-op */
  assert_int_equal(apply_hex(d, "000101010102", &changed), 0);
  assert_int_equal(changed, 0);
  /* when the text grows, the pending deletion takes effect */
  assert_int_equal(apply_hex(d, "010101058401040378797a00", &changed), 0);
  assert_json(d, "{\"t\":\"ad\"}");
  assert_int_equal(yjs_doc_has_pending(d), 1); /* clocks 8..13 still unknown */
  assert_state_hex(d, NULL, "01040100040101740161810100028401020164810103040101020102040a");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sort_merge),
      cmocka_unit_test(test_merge_delete_sets),
      cmocka_unit_test(test_apply_splits_and_pending),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
