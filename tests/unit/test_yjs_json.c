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

/* JSON rendering: JavaScript number formatting, Any values (undefined omitted in objects, null
 * in arrays; Uint8Array as an index object), map keys in byte order, Y.Text as its plain string,
 * XML as yjs's toString() (attributes sorted, formatting as nested tags), root kinds inferred. */
#include "yjs/internal.h"

/* A document built with yjs 13.6.31: array of Any values, map with undefined, formatted text with
 * an embed, XML fragment with an element, attributes and formatted XmlText. */
static const char STATE[] =
    "01150100080101610a7c3fc000007b444b1ae4d6e2ef507b3fb999999999999a7d407c5a0000007b3e7ad7f29abcaf48"
    "7b7ff8000000000000770371220a7e7883010902070888010a03760201627d01016175017f7c4f0000007ccf00000028"
    "01016d017a017d012801016d0161017f2801016d02c3a901770178070101780303446976280001110162017701322800"
    "011101610177013107000111060400011402686986011604626f6c64077b2277223a317d84011702796f86011904626f"
    "6c64046e756c6c0601017404626f6c64047472756584011b016184011c02626386011e04626f6c64046e756c6cc6011c"
    "011d04626f6c64046e756c6cc50120011d097b22696d67223a317dc60121011d04626f6c64047472756500";
static const char WANT[] = "{\"a\":[1.5,1e+21,0.1,0,9007199254740992,1e-7,null,\"q\\\"\\n\",null,true,{\"0\":7,\"1\":8},{\"b\":1,\"a\":[null]},2147483648,-2147483648],\"m\":{\"z\":1,\"é\":\"x\"},\"t\":\"abc\",\"x\":\"<div a=\\\"1\\\" b=\\\"2\\\">hi<bold w=\\\"1\\\">yo</bold></div>\"}";

static void test_yjs_document(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_int_equal(apply_hex(d, STATE, NULL), 0);
  assert_json(d, WANT);
  yjs_doc_free(d);
}

static void test_inference_and_omission(void **state) {
  (void)state;
  yjs_doc *d = yjs_doc_new(0);
  assert_json(d, "{}");
  /* a root whose only item was deleted and collected has no inferable kind: omitted */
  assert_int_equal(apply_hex(d, "0101010008010161017d0100", NULL), 0);
  assert_int_equal(apply_hex(d, "000101010001", NULL), 0);
  assert_json(d, "{}");
  /* a map keeps its kind through the key even when the value is gone */
  assert_int_equal(apply_hex(d, "010102002801016d016b0177017600", NULL), 0);
  assert_int_equal(apply_hex(d, "000102010001", NULL), 0);
  assert_json(d, "{\"m\":{}}");
  yjs_doc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yjs_document),
      cmocka_unit_test(test_inference_and_omission),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
