/* libFuzzer target for Plug-style query decoding: no crash, no leak, a JSON object whose leaves
 * are strings and whose depth is bounded; NULL only when the decoded bytes are not UTF-8. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_query.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void walk(json_t *v, int depth) {
  CHECK(depth <= HTTP_QUERY_MAX_DEPTH + 1);
  if (json_is_string(v)) {
    CHECK(utf8_valid((const uint8_t *)json_string_value(v), json_string_length(v)));
    return;
  }
  if (json_is_object(v)) {
    const char *k;
    size_t klen;
    json_t *x;
    void *tmp;
    json_object_keylen_foreach_safe(v, tmp, k, klen, x) {
      CHECK(utf8_valid((const uint8_t *)k, klen));
      walk(x, depth + 1);
    }
    return;
  }
  CHECK(json_is_array(v));
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) walk(x, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *q = (const char *)data;
  json_t *j = http_query_parse(q, size);
  /* Without escapes, decoding only turns '+' into ' ': valid UTF-8 in means an answer out. */
  if (!memchr(q, '%', size) && utf8_valid(data, size)) CHECK(j != NULL);
  if (!j) return 0;
  CHECK(json_is_object(j));
  CHECK(json_object_size(j) <= HTTP_QUERY_MAX_PAIRS);
  walk(j, 0);
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  CHECK(s != NULL);
  free(s);
  json_decref(j);
  return 0;
}
