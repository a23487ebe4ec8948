/* libFuzzer target for the document rooms' parsers: y-protocols framing (ymsg_parse) and the
 * awareness table (awareness_apply / awareness_remove / awareness_encode).
 *
 * Invariants checked: a parsed body lies inside the input; a refused awareness update changes
 * nothing (the encoding of the table is the same before and after); the table's own encoding is
 * always accepted back by a fresh table and yields the same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docs/awareness.h"
#include "docs/ymsg.h"

static void check(int cond) {
  if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ymsg_t m = {0};
  const char *why = NULL;
  if (ymsg_parse(data, size, &m, &why) == 0) {
    check(m.body >= data && m.body + m.body_len <= data + size);
  } else {
    check(why != NULL);
    m.body = NULL;
  }

  /* The whole input, then the parsed body, as awareness updates on one table. */
  awareness_t a;
  awareness_init(&a);
  for (int round = 0; round < 2; round++) {
    const uint8_t *u = round == 0 ? data : (m.body ? m.body : data);
    size_t n = round == 0 ? size : (m.body ? m.body_len : 0);
    buf_t before = BUF_INIT, after = BUF_INIT;
    awareness_encode(&a, NULL, 0, &before);
    awareness_change_t *changes = NULL;
    int rc = awareness_apply(&a, u, n, &changes, &why);
    awareness_encode(&a, NULL, 0, &after);
    if (rc < 0) check(before.len == after.len && !memcmp(before.data, after.data, before.len));
    free(changes);
    buf_free(&before);
    buf_free(&after);
  }

  /* The table's encoding round-trips through a fresh table. */
  buf_t enc = BUF_INIT, again = BUF_INIT;
  awareness_encode(&a, NULL, 0, &enc);
  awareness_t b;
  awareness_init(&b);
  awareness_change_t *changes = NULL;
  check(awareness_apply(&b, enc.data, enc.len, &changes, &why) >= 0);
  free(changes);
  awareness_encode(&b, NULL, 0, &again);
  check(enc.len == again.len);

  /* Removing everything leaves no states. */
  uint64_t ids[4] = {0, 1, 2, 3};
  awareness_remove(&a, ids, 4);
  buf_free(&enc);
  buf_free(&again);
  awareness_free(&a);
  awareness_free(&b);
  return 0;
}
