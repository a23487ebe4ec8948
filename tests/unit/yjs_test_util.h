#ifndef CINDER_TESTS_YJS_TEST_UTIL_H
#define CINDER_TESTS_YJS_TEST_UTIL_H
/* Helpers shared by the Yjs engine's unit tests: hex <-> bytes and assertions on a document's
 * encoded state, state vector and JSON. Include after <cmocka.h> and "yjs/yjs.h". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hex string -> exact-size heap buffer (so ASan catches reads past the end). */
static inline uint8_t *unhex(const char *s, size_t *n) {
  size_t len = strlen(s) / 2;
  uint8_t *p = malloc(len ? len : 1);
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    sscanf(s + 2 * i, "%2x", &v);
    p[i] = (uint8_t)v;
  }
  *n = len;
  return p;
}

static inline char *tohex(const uint8_t *p, size_t n) {
  char *s = malloc(2 * n + 1);
  for (size_t i = 0; i < n; i++) sprintf(s + 2 * i, "%02x", p[i]);
  s[2 * n] = 0;
  return s;
}

/* Apply a hex update; returns the library's return code. */
static inline int apply_hex(yjs_doc *d, const char *hex, int *changed) {
  size_t n;
  uint8_t *u = unhex(hex, &n);
  yjs_error err;
  int rc = yjs_doc_apply_update_v1(d, u, n, changed, &err);
  free(u);
  return rc;
}

static inline void assert_state_hex(yjs_doc *d, const char *sv_hex, const char *want) {
  size_t svn = 0;
  uint8_t *sv = sv_hex ? unhex(sv_hex, &svn) : NULL;
  uint8_t *out;
  size_t n;
  assert_int_equal(yjs_doc_encode_state_as_update_v1(d, sv, svn, &out, &n, NULL), 0);
  char *h = tohex(out, n);
  assert_string_equal(h, want);
  free(h);
  yjs_free(out);
  free(sv);
}

static inline void assert_sv_hex(yjs_doc *d, const char *want) {
  uint8_t *out;
  size_t n;
  assert_int_equal(yjs_doc_encode_state_vector(d, &out, &n), 0);
  char *h = tohex(out, n);
  assert_string_equal(h, want);
  free(h);
  yjs_free(out);
}

static inline void assert_json(yjs_doc *d, const char *want) {
  char *out;
  size_t n;
  assert_int_equal(yjs_doc_to_json(d, &out, &n), 0);
  assert_string_equal(out, want);
  yjs_free(out);
}

#endif
