/* libFuzzer target: yjs_doc_apply_update_v1 on a fresh document and on one that already has
 * content, plus the document-less helpers (merge, diff, state vector from update) on the same
 * input. Checks: no crash or leak; a rejected update leaves the document byte-for-byte
 * unchanged; an accepted one leaves a document whose full state re-applies (to an equal state
 * vector when nothing is pending). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yjs/yjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "ab" typed into root text "t" by client 1, a map entry, and a nested map in an array. */
static const uint8_t seed_text[] = {1, 1, 1, 0, 4, 1, 1, 't', 2, 'a', 'b', 0};
static const uint8_t seed_map[] = {1, 1, 1, 2, 0x28, 1, 1, 'm', 1, 'k', 1, 0x77, 1, 'v', 0};
static const uint8_t seed_nested[] = {1, 3, 2, 0, 7, 1, 1, 'a', 1, 0x28, 0, 2, 0, 1, 'x', 1,
                                      0x7d, 1, 0x28, 0, 2, 0, 1, 'y', 1, 0x77, 2, 'z', 'z', 0};

static void state(yjs_doc *d, uint8_t **s, size_t *n) {
  if (yjs_doc_encode_state_as_update_v1(d, NULL, 0, s, n, NULL)) abort();
}

static void check_doc(yjs_doc *d, const uint8_t *data, size_t size) {
  uint8_t *before, *after, *sv;
  size_t nb, na, nsv;
  char *json;
  size_t njson;
  state(d, &before, &nb);
  int changed = 0;
  yjs_error err;
  int rc = yjs_doc_apply_update_v1(d, data, size, &changed, &err);
  state(d, &after, &na);
  if (rc < 0) {
    if (nb != na || memcmp(before, after, nb)) abort(); /* atomicity */
  } else {
    /* the encoded state must itself be a valid update that reproduces the same state */
    yjs_doc *copy = yjs_doc_new(0);
    if (yjs_doc_apply_update_v1(copy, after, na, NULL, NULL)) abort();
    uint8_t *again;
    size_t nagain;
    state(copy, &again, &nagain);
    uint8_t *sv1, *sv2;
    size_t n1, n2;
    yjs_doc_encode_state_vector(d, &sv1, &n1);
    yjs_doc_encode_state_vector(copy, &sv2, &n2);
    /* with pending structs the re-encoding may legitimately differ (yjs diffs pending structs
     * with rewritten origins, which can make them integrable elsewhere) */
    if (!yjs_doc_has_pending(d) && (n1 != n2 || memcmp(sv1, sv2, n1))) abort();
    yjs_free(sv1);
    yjs_free(sv2);
    yjs_free(again);
    yjs_doc_free(copy);
  }
  if (yjs_doc_encode_state_vector(d, &sv, &nsv)) abort();
  uint8_t *diff;
  size_t ndiff;
  if (yjs_doc_encode_state_as_update_v1(d, sv, nsv, &diff, &ndiff, NULL)) abort();
  yjs_free(diff);
  if (yjs_doc_encode_state_as_update_v1(d, data, size, &diff, &ndiff, NULL) == 0) yjs_free(diff);
  if (yjs_doc_to_json(d, &json, &njson)) abort();
  yjs_free(json);
  yjs_free(sv);
  yjs_free(before);
  yjs_free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  yjs_doc *fresh = yjs_doc_new(size & 1 ? YJS_DOC_NO_GC : 0);
  check_doc(fresh, data, size);
  yjs_doc_free(fresh);

  yjs_doc *full = yjs_doc_new(0);
  yjs_doc_apply_update_v1(full, seed_text, sizeof(seed_text), NULL, NULL);
  yjs_doc_apply_update_v1(full, seed_map, sizeof(seed_map), NULL, NULL); /* goes pending */
  yjs_doc_apply_update_v1(full, seed_nested, sizeof(seed_nested), NULL, NULL);
  check_doc(full, data, size);
  check_doc(full, data, size); /* idempotence path */
  yjs_doc_free(full);

  uint8_t *out;
  size_t n;
  const uint8_t *ins[3] = {data, seed_text, data};
  size_t lens[3] = {size, sizeof(seed_text), size};
  if (yjs_merge_updates_v1(ins, lens, 3, &out, &n, NULL) == 0) yjs_free(out);
  if (yjs_merge_updates_v1(ins, lens, 2, &out, &n, NULL) == 0) yjs_free(out);
  static const uint8_t sv[] = {1, 1, 1};
  if (yjs_diff_update_v1(data, size, sv, sizeof(sv), &out, &n, NULL) == 0) yjs_free(out);
  if (yjs_diff_update_v1(seed_text, sizeof(seed_text), data, size, &out, &n, NULL) == 0)
    yjs_free(out);
  if (yjs_state_vector_from_update_v1(data, size, &out, &n, NULL) == 0) yjs_free(out);
  return 0;
}
