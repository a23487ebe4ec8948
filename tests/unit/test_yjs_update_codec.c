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

/* Update v1 codec: the spec's worked examples decode, apply and re-encode to the bytes yjs
 * produces (E1-E16); malformed updates are rejected atomically (every truncation, bad content
 * and type refs, bad info bytes, repeated clients, zero lengths), leaving the doc unchanged. */

#define E1 "010101000401017402616200"
#define E2 "01010102840101016300"
#define E3 "000101010001"

static void test_worked_examples_apply(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  int changed = -1;
  assert_int_equal(apply_hex(d, E1, &changed), 0);
  assert_int_equal(changed, 1);
  assert_sv_hex(d, "010102");
  assert_state_hex(d, NULL, E1);
  assert_int_equal(apply_hex(d, E2, &changed), 0);
  assert_int_equal(apply_hex(d, E3, &changed), 0);
  assert_int_equal(changed, 1);
  /* E5: "a" is ContentDeleted, "b","c" merged into one Item */
  assert_state_hex(d, NULL, "0102010001010174018401000262630101010001");
  assert_json(d, "{\"t\":\"bc\"}");
  /* E6: insert X at index 0 of that text (origin = deleted "a", rightOrigin = "b") */
  assert_int_equal(apply_hex(d, "01010103c401000101015800", &changed), 0);
  assert_json(d, "{\"t\":\"Xbc\"}");
  /* duplicates change nothing */
  assert_int_equal(apply_hex(d, E1, &changed), 0);
  assert_int_equal(changed, 0);
  yjs_doc_free(d);
}

static void test_map_and_array_examples(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "010101002801016d016b0177017600", NULL), 0); /* E7 */
  assert_json(d, "{\"m\":{\"k\":\"v\"}}");
  assert_int_equal(apply_hex(d, "01010101a80100017701770101010001", NULL), 0); /* E8 */
  assert_json(d, "{\"m\":{\"k\":\"w\"}}");
  /* from the document the key is known: info keeps 0x20 (a8); the old value is deleted */
  assert_state_hex(d, NULL, "010201002101016d016b01a80100017701770101010001");
  yjs_doc_free(d);
}

static void test_array_and_nested(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "0101010008010161017d0100", NULL), 0);   /* E9 [1] */
  assert_int_equal(apply_hex(d, "01010101480100017d0200", NULL), 0);     /* [2] at 0 */
  assert_json(d, "{\"a\":[2,1]}");
  yjs_doc_free(d);
  d = yjs_doc_new(0);
  /* E10: array "a" holds a Y.Map with x=1, y="zz" */
  assert_int_equal(
      apply_hex(d, "010301000701016101280001000178017d012800010001790177027a7a00", NULL), 0);
  assert_json(d, "{\"a\":[{\"x\":1,\"y\":\"zz\"}]}");
  /* E16: legacy ContentJSON with an undefined element */
  yjs_doc_free(d);
  d = yjs_doc_new(0);
  assert_int_equal(
      apply_hex(d, "010101000201016102077b2261223a317d09756e646566696e656400", NULL), 0);
  assert_json(d, "{\"a\":[{\"a\":1},null]}");
  assert_state_hex(d, NULL, "010101000201016102077b2261223a317d09756e646566696e656400");
  yjs_doc_free(d);
}

static void test_all_content_kinds_roundtrip(void **state) {
  (void)state;
  /* E12: binary, subdocument, every type ref, appended to root array "a" by client 1 */
  const char *u = "010901000301016102010289010001677600870101018701020301708701030687010405"
                  "016887010504870106028701070000";
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, u, NULL), 0);
  assert_sv_hex(d, "010109");
  assert_state_hex(d, NULL, u);
  yjs_doc_free(d);
}

static void test_malformed_is_atomic(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, E1, NULL), 0);
  /* every strict prefix of a two-struct update is rejected and changes nothing */
  const char *u = "0102010204010174016384010201640000";
  size_t n;
  uint8_t *full = unhex(u, &n);
  for (size_t cut = 0; cut + 1 < n; cut++) {
    uint8_t *p = malloc(cut ? cut : 1);
    memcpy(p, full, cut);
    yjs_error err;
    int changed = -1;
    int rc = yjs_doc_apply_update_v1(d, p, cut, &changed, &err);
    free(p);
    assert_true(rc < 0);
    assert_int_equal(err.code, rc);
    assert_true(err.msg[0] != 0);
    assert_state_hex(d, NULL, E1);
  }
  free(full);
  struct {
    const char *hex;
    int code;
  } bad[] = {
      {"010101000b01017402616200", YJS_ECONTENT},     /* content ref 11 */
      {"", YJS_ETYPEREF},                             /* type ref 7 (set below) */
      {"010101008a0100", YJS_ECONTENT},                /* Skip with high bits */
      {"01010100040101740000", YJS_ESTRUCT},           /* zero-length string */
      {"", YJS_EUTF8},                                /* encoded surrogate (set below) */
      {"0102010004010174016184010501016200", YJS_ESTRUCT}, /* origin in own future */
      {"020101000401017401610101010401017401620000", YJS_ESTRUCT}, /* client twice */
      {"0101010008010161017d0100", 0},                 /* valid control */
      {"01010100080101610110", YJS_EANY},              /* bad Any tag */
      {"010101000501017401780000", YJS_EJSON},         /* embed "x" is not JSON */
      {"0101010100ffffffffffffff0f00", YJS_ERANGE},   /* clock overflow */
  };
  bad[1].hex = "01010100070101610700";
  bad[4].hex = "010101000401017403eda08000";
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    yjs_doc *e = yjs_doc_new(0);
    assert_int_equal(apply_hex(e, E1, NULL), 0);
    int rc = apply_hex(e, bad[i].hex, NULL);
    assert_int_equal(rc, bad[i].code);
    if (rc) assert_state_hex(e, NULL, E1);
    yjs_doc_free(e);
  }
  yjs_doc_free(d);
}

static void test_trailing_bytes_ignored(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "010101000401017402616200ffff", NULL), 0);
  assert_json(d, "{\"t\":\"ab\"}");
  assert_int_equal(apply_hex(d, "0000", NULL), 0);
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_worked_examples_apply), cmocka_unit_test(test_map_and_array_examples),
      cmocka_unit_test(test_array_and_nested),      cmocka_unit_test(test_all_content_kinds_roundtrip),
      cmocka_unit_test(test_malformed_is_atomic),   cmocka_unit_test(test_trailing_bytes_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
