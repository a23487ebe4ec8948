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

/* Splitting items: text is split in UTF-16 units; a cut between the halves of a surrogate pair
 * replaces both halves by U+FFFD exactly as yjs's ContentString.splice does, so every encoding
 * stays valid UTF-8. Also: ASCII and multi-byte splits keep content intact. */

#define EMOJI "01010100040101740661f09f91be6200" /* "a👾b" as one item */

static void test_delete_inside_pair(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, EMOJI, NULL), 0);
  assert_json(d, "{\"t\":\"a\xf0\x9f\x91\xbe" "b\"}");
  /* delete clock 2 (the low surrogate): splits at 2 (inside the pair) and 3 */
  assert_int_equal(apply_hex(d, "000101010201", NULL), 0);
  assert_json(d, "{\"t\":\"a\xef\xbf\xbd" "b\"}");
  assert_state_hex(d, NULL, "01030100040101740461efbfbd8101010184010201620101010201");
  yjs_doc_free(d);
}

static void test_encode_from_inside_pair(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(YJS_DOC_NO_GC);
  assert_int_equal(apply_hex(d, EMOJI, NULL), 0);
  /* a peer that knows clocks 0-1 gets the tail from clock 2: it starts with U+FFFD */
  assert_state_hex(d, "010102", "0101010284010104efbfbd6200");
  yjs_doc_free(d);
  /* the same through the document-less diff */
  size_t n, svn;
  uint8_t *u = unhex(EMOJI, &n), *sv = unhex("010102", &svn);
  uint8_t *out;
  size_t on;
  assert_int_equal(yjs_diff_update_v1(u, n, sv, svn, &out, &on, NULL), 0);
  char *h = tohex(out, on);
  assert_string_equal(h, "0101010284010104efbfbd6200");
  free(h);
  yjs_free(out);
  free(u);
  free(sv);
}

static void test_split_multibyte(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  /* "aéz" (é is 2 UTF-8 bytes, 1 unit); client 2 inserts "X" after é (origin (1,1)) */
  assert_int_equal(apply_hex(d, "01010100040101740461c3a97a00", NULL), 0);
  assert_int_equal(apply_hex(d, "01010200c401010102015800", NULL), 0);
  assert_json(d, "{\"t\":\"a\xc3\xa9Xz\"}");
  /* the original client keeps typing at the end: merges back into one item after cleanup */
  assert_int_equal(apply_hex(d, "01010103840102017100", NULL), 0);
  assert_json(d, "{\"t\":\"a\xc3\xa9Xzq\"}");
  assert_state_hex(d, NULL, "02010200c4010101020158020100040101740361c3a9840101027a7100");
  yjs_doc_free(d);
}

/* A struct that is already known (here as a GC struct) and arrives again as an item: yjs's
 * integrateStructs still calls Item.getMissing for it, whose lookups of the origins split the
 * items there (getItemCleanEnd / getItemCleanStart). A cut inside a surrogate pair turns both
 * halves into U+FFFD (ContentString.splice) and stays; other cuts are merged back by the
 * transaction's cleanup. Vectors from yjs 13.6.31. */
#define KNOWN_GC2 "01010200000100" /* client 2 clock 0: GC, length 1 */

static void test_known_struct_splits_surrogate(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "01010100040101740678f09f98807900", NULL), 0); /* "x😀y" */
  assert_int_equal(apply_hex(d, KNOWN_GC2, NULL), 0);
  assert_state_hex(d, NULL, "020102000001010100040101740678f09f9880790102010001");
  /* 2:0 again, now as "Z" with origin 1:1, the high surrogate of 😀 */
  size_t n, ev_len;
  uint8_t *u = unhex("01010200c401010102015a00", &n), *ev;
  assert_int_equal(yjs_doc_apply_update_v1_event(d, u, n, &ev, &ev_len, NULL), 0);
  assert_null(ev); /* nothing new: yjs emits no update event either */
  free(u);
  assert_json(d, "{\"t\":\"x\xef\xbf\xbd\xef\xbf\xbdy\"}");
  assert_state_hex(d, NULL, "020102000001010100040101740878efbfbdefbfbd790102010001");
  assert_sv_hex(d, "0202010104");
  yjs_doc_free(d);
}

static void test_known_struct_split_invisible(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "0101010004010174046162636400", NULL), 0); /* "abcd" */
  assert_int_equal(apply_hex(d, KNOWN_GC2, NULL), 0);
  int changed = -1;
  assert_int_equal(apply_hex(d, "01010200c401010102015a00", &changed), 0); /* origin 1:1 */
  assert_int_equal(changed, 0);
  assert_json(d, "{\"t\":\"abcd\"}");
  assert_state_hex(d, NULL, "0201020000010101000401017404616263640102010001");
  yjs_doc_free(d);
}

static void test_known_struct_missing_origin_pends(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, "01010200000200", NULL), 0); /* 2:0..1 as GC */
  /* 2:0 "ZW" (origin 3:0, unknown) and 2:2 "V": the known struct waits for client 3, and the
   * rest of client 2 with it */
  assert_int_equal(apply_hex(d, "01020200840300025a57440300015600", NULL), 0);
  assert_true(yjs_doc_has_pending(d));
  assert_sv_hex(d, "010202");
  assert_state_hex(d, NULL, "01020200840300025a5744030001560102010002");
  assert_int_equal(apply_hex(d, "0101030004010174017100", NULL), 0); /* 3:0 "q" */
  assert_false(yjs_doc_has_pending(d));
  assert_json(d, "{\"t\":\"Vq\"}");
  assert_sv_hex(d, "0203010203");
  assert_state_hex(d, NULL, "02010300040101740171020200000244030001560102010002");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delete_inside_pair),
      cmocka_unit_test(test_encode_from_inside_pair),
      cmocka_unit_test(test_split_multibyte),
      cmocka_unit_test(test_known_struct_splits_surrogate),
      cmocka_unit_test(test_known_struct_split_invisible),
      cmocka_unit_test(test_known_struct_missing_origin_pends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
