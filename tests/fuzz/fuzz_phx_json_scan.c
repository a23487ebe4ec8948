/* libFuzzer target for the JSON pre-scan (src/phx/phx_json_scan.c), differential against jansson.
 *
 * For every input:
 *  - the scan with no limits never reads outside the input, and its offset lies within it;
 *  - the one case where the scan is stricter than jansson is jansson's quirk of dropping a NUL
 *    byte right after a number or literal: with those bytes removed the scan says OK;
 *  - jansson accepts the text => the scan says OK; with duplicate keys refused, jansson's tree has
 *    exactly the scan's value count and depth (with duplicates, at most those);
 *  - the scan says MALFORMED (or TOO_DEEP with no limit: the cap) => jansson refuses the text;
 *  - limits bite exactly at the boundary: values - 1 => TOO_MANY, values => OK, depth - 1 =>
 *    TOO_DEEP, depth => OK, and a limit taken from the input's first bytes gives the answer the
 *    counts predict (TOO_MANY / TOO_DEEP / OK; the first met when both are passed).
 * Any disagreement aborts. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phx/phx_json_scan.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void tree_count(const json_t *v, unsigned level, size_t *values, unsigned *depth) {
  (*values)++;
  if (!json_is_array(v) && !json_is_object(v)) return;
  if (level + 1 > *depth) *depth = level + 1;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      tree_count(json_array_get(v, i), level + 1, values, depth);
  } else {
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) tree_count(e, level + 1, values, depth);
  }
}

/* Removes each NUL byte that follows an ASCII letter or digit (the end of a number or literal
 * when jansson accepted the text: it refuses NUL inside strings). Returns the new length. */
static size_t strip_quirk_nuls(char *t, size_t n) {
  size_t w = 0;
  for (size_t r = 0; r < n; r++) {
    unsigned char prev = w ? (unsigned char)t[w - 1] : 0;
    bool alnum = (prev >= '0' && prev <= '9') || (prev >= 'a' && prev <= 'z') ||
                 (prev >= 'A' && prev <= 'Z');
    if (t[r] == '\0' && alnum) continue;
    t[w++] = t[r];
  }
  return w;
}

static int scan_with(const char *t, size_t n, unsigned depth, size_t values, phx_json_stats_t *st) {
  phx_json_limits_t lim = {.max_depth = depth, .max_values = values};
  return phx_json_scan(t, n, &lim, st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy of exactly `size` bytes, so ASan catches any read past the end. */
  char *t = malloc(size ? size : 1);
  if (size) memcpy(t, data, size);

  phx_json_stats_t st;
  int rc = phx_json_scan(t, size, NULL, &st);
  CHECK(rc == PHX_JSON_SCAN_OK || rc == PHX_JSON_SCAN_MALFORMED || rc == PHX_JSON_SCAN_TOO_DEEP);
  CHECK(st.offset <= size);
  CHECK(st.depth <= PHX_JSON_SCAN_DEPTH_CAP + 1);
  CHECK(phx_json_scan(t, size, NULL, NULL) == rc);

  const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL;
  json_t *j = json_loadb(t, size, flags, NULL);
  if (j && rc == PHX_JSON_SCAN_MALFORMED) { /* jansson's NUL quirk, and nothing else */
    size_t n = strip_quirk_nuls(t, size);
    CHECK(n < size);
    size = n;
    rc = phx_json_scan(t, size, NULL, &st);
    CHECK(rc == PHX_JSON_SCAN_OK);
  }
  json_decref(j);

  j = json_loadb(t, size, flags | JSON_REJECT_DUPLICATES, NULL);
  if (j) {
    CHECK(rc == PHX_JSON_SCAN_OK);
    size_t tv = 0;
    unsigned td = 0;
    tree_count(j, 0, &tv, &td);
    CHECK(tv == st.values && td == st.depth);
    json_decref(j);
  } else if ((j = json_loadb(t, size, flags, NULL))) { /* duplicate keys: jansson keeps the last */
    CHECK(rc == PHX_JSON_SCAN_OK);
    size_t tv = 0;
    unsigned td = 0;
    tree_count(j, 0, &tv, &td);
    CHECK(tv < st.values && td <= st.depth);
    json_decref(j);
  } else {
    /* The scan is never stricter than jansson: only its known leniencies (number range,
     * UTF-8, surrogates, NUL in keys) let it say OK here. */
  }
  if (rc != PHX_JSON_SCAN_OK) CHECK(json_loadb(t, size, flags, NULL) == NULL);

  if (rc == PHX_JSON_SCAN_OK) {
    phx_json_stats_t s2;
    CHECK(scan_with(t, size, st.depth ? st.depth : 1, st.values, &s2) == PHX_JSON_SCAN_OK);
    CHECK(s2.values == st.values && s2.depth == st.depth && s2.offset == size);
    if (st.values > 1) {
      CHECK(scan_with(t, size, 0, st.values - 1, &s2) == PHX_JSON_SCAN_TOO_MANY);
      CHECK(s2.values == st.values && s2.offset < size);
    }
    if (st.depth > 1) {
      CHECK(scan_with(t, size, st.depth - 1, 0, &s2) == PHX_JSON_SCAN_TOO_DEEP);
      CHECK(s2.depth == st.depth && s2.offset < size);
    }
    /* Limits taken from the input: the outcome follows from the counts. */
    unsigned ld = size > 0 ? data[0] % 8 + 1 : 1;
    size_t lv = size > 1 ? data[1] % 32 + 1 : 1;
    int r3 = scan_with(t, size, ld, lv, &s2);
    if (st.depth <= ld && st.values <= lv) CHECK(r3 == PHX_JSON_SCAN_OK);
    else if (st.depth > ld && st.values <= lv) CHECK(r3 == PHX_JSON_SCAN_TOO_DEEP);
    else if (st.depth <= ld && st.values > lv) CHECK(r3 == PHX_JSON_SCAN_TOO_MANY);
    else CHECK(r3 == PHX_JSON_SCAN_TOO_DEEP || r3 == PHX_JSON_SCAN_TOO_MANY);
  } else {
    /* Limits never turn a malformed or over-cap text into an OK one. */
    phx_json_stats_t s2;
    CHECK(scan_with(t, size, 3, 5, &s2) != PHX_JSON_SCAN_OK);
  }
  free(t);
  return 0;
}
