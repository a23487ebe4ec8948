/* lib0 primitives (lib0 0.2.x encoding.js / decoding.js): varUint, varInt, varString,
 * varUint8Array and Any, plus the growable output buffer and the engine's allocation helpers.
 *
 * Every read is bounds-checked against the logical input and returns a negative YJS_E* code
 * instead of reading past it. Strings are validated as UTF-8 the way TextDecoder({fatal:true})
 * does (no overlong forms, no encoded surrogates, nothing above U+10FFFF); their length in UTF-16
 * code units is what Yjs counts. */
#include "yjs/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* --- allocation ------------------------------------------------------------------------------ */
static void yjs__oom(void) {
  fputs("yjs: out of memory\n", stderr);
  abort();
}

void *yjs__malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) yjs__oom();
  return p;
}

void *yjs__calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) yjs__oom();
  return p;
}

void *yjs__realloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) yjs__oom();
  return p;
}

void yjs__grow(void **ptr, size_t *cap, size_t need, size_t sz) {
  if (need <= *cap) return;
  size_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  *ptr = yjs__realloc(*ptr, c * sz);
  *cap = c;
}

void yjs_free(void *ptr) { free(ptr); }

void yjs__set_error(yjs_error *err, int code, size_t offset, const char *fmt, ...) {
  if (!err) return;
  err->code = code;
  err->offset = offset;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

const char *yjs_strerror(int code) {
  switch (code) {
    case 0: return "success";
    case YJS_EINVAL: return "invalid argument";
    case YJS_ENOMEM: return "out of memory";
    case YJS_EEOF: return "unexpected end of input";
    case YJS_ERANGE: return "integer out of range";
    case YJS_EUTF8: return "invalid UTF-8 string";
    case YJS_EANY: return "invalid Any value";
    case YJS_EJSON: return "invalid JSON text";
    case YJS_ECONTENT: return "invalid content reference";
    case YJS_ETYPEREF: return "invalid type reference";
    case YJS_ESTRUCT: return "inconsistent structs";
    default: return "unknown error";
  }
}

/* --- output buffer --------------------------------------------------------------------------- */
void ybuf_reserve(ybuf *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t c = b->cap ? b->cap : 64;
  while (c < b->len + extra) c *= 2;
  b->data = yjs__realloc(b->data, c);
  b->cap = c;
}

void ybuf_write(ybuf *b, const void *p, size_t n) {
  if (!n) return;
  ybuf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void ybuf_var_uint(ybuf *b, uint64_t v) {
  ybuf_reserve(b, 10);
  while (v > 127) {
    b->data[b->len++] = (uint8_t)(0x80 | (v & 0x7f));
    v >>= 7;
  }
  b->data[b->len++] = (uint8_t)v;
}

void ybuf_var_bytes(ybuf *b, const void *p, size_t n) {
  ybuf_var_uint(b, n);
  ybuf_write(b, p, n);
}

void ybuf_str(ybuf *b, const char *s) { ybuf_write(b, s, strlen(s)); }

void ybuf_free(ybuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

uint8_t *ybuf_take(ybuf *b, size_t *len) {
  ybuf_reserve(b, 1);
  b->data[b->len] = 0;
  uint8_t *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

/* --- decoder --------------------------------------------------------------------------------- */
int ydec_u8(ydec *d, uint8_t *v) {
  if (d->p >= d->end) return YJS_EEOF;
  *v = *d->p++;
  return 0;
}

int ydec_var_uint(ydec *d, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0;; shift += 7) {
    if (d->p >= d->end) return YJS_EEOF;
    uint8_t c = *d->p++;
    if (shift == 56) return YJS_ERANGE; /* more than 8 bytes: above 2^53 anyway */
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
  }
  if (r > YJS_MAX_SAFE) return YJS_ERANGE;
  *v = r;
  return 0;
}

int ydec_var_int(ydec *d, int64_t *v, bool *negative) {
  if (d->p >= d->end) return YJS_EEOF;
  uint8_t c = *d->p++;
  uint64_t r = c & 0x3f;
  bool neg = (c & 0x40) != 0;
  int shift = 6;
  while (c & 0x80) {
    if (d->p >= d->end) return YJS_EEOF;
    c = *d->p++;
    if (shift > 53) return YJS_ERANGE;
    r |= (uint64_t)(c & 0x7f) << shift;
    shift += 7;
  }
  if (r > YJS_MAX_SAFE) return YJS_ERANGE;
  if (v) *v = neg ? -(int64_t)r : (int64_t)r;
  if (negative) *negative = neg;
  return 0;
}

int ydec_bytes(ydec *d, size_t n, const uint8_t **p) {
  if ((size_t)(d->end - d->p) < n) return YJS_EEOF;
  *p = d->p;
  d->p += n;
  return 0;
}

int ydec_var_bytes(ydec *d, yslice *s) {
  uint64_t n;
  int rc = ydec_var_uint(d, &n);
  if (rc) return rc;
  if ((uint64_t)(d->end - d->p) < n) return YJS_EEOF;
  s->p = d->p;
  s->n = (size_t)n;
  d->p += n;
  return 0;
}

int ydec_var_string(ydec *d, yslice *s, uint64_t *units) {
  int rc = ydec_var_bytes(d, s);
  if (rc) return rc;
  if (!yjs_utf8_valid(s->p, s->n, units)) return YJS_EUTF8;
  return 0;
}

int ydec_any(ydec *d, int depth) {
  uint8_t tag;
  const uint8_t *p;
  yslice s;
  uint64_t n;
  int rc;
  if (depth > YJS_MAX_DEPTH) return YJS_EANY;
  if ((rc = ydec_u8(d, &tag))) return rc;
  switch (tag) {
    case LIB0_ANY_UNDEFINED:
    case LIB0_ANY_NULL:
    case LIB0_ANY_FALSE:
    case LIB0_ANY_TRUE: return 0;
    case LIB0_ANY_INT: return ydec_var_int(d, NULL, NULL);
    case LIB0_ANY_FLOAT32: return ydec_bytes(d, 4, &p);
    case LIB0_ANY_FLOAT64:
    case LIB0_ANY_BIGINT: return ydec_bytes(d, 8, &p);
    case LIB0_ANY_STRING: return ydec_var_string(d, &s, NULL);
    case LIB0_ANY_OBJECT:
      if ((rc = ydec_var_uint(d, &n))) return rc;
      for (uint64_t i = 0; i < n; i++) {
        if ((rc = ydec_var_string(d, &s, NULL))) return rc;
        if ((rc = ydec_any(d, depth + 1))) return rc;
      }
      return 0;
    case LIB0_ANY_ARRAY:
      if ((rc = ydec_var_uint(d, &n))) return rc;
      for (uint64_t i = 0; i < n; i++)
        if ((rc = ydec_any(d, depth + 1))) return rc;
      return 0;
    case LIB0_ANY_UINT8ARRAY: return ydec_var_bytes(d, &s);
    default: return YJS_EANY;
  }
}

yslice yjs_skip_any(yslice s, uint64_t count) {
  ydec d;
  ydec_init(&d, s.p, s.n);
  for (uint64_t i = 0; i < count; i++)
    if (ydec_any(&d, 0)) break; /* validated before: cannot fail */
  yslice r = {d.p, (size_t)(d.end - d.p)};
  return r;
}

yslice yjs_skip_var_strings(yslice s, uint64_t count) {
  ydec d;
  ydec_init(&d, s.p, s.n);
  yslice x;
  for (uint64_t i = 0; i < count; i++)
    if (ydec_var_bytes(&d, &x)) break;
  yslice r = {d.p, (size_t)(d.end - d.p)};
  return r;
}

/* --- UTF-8 ----------------------------------------------------------------------------------- */
const uint8_t yjs_fffd[3] = {0xef, 0xbf, 0xbd};

bool yjs_utf8_valid(const uint8_t *s, size_t n, uint64_t *units) {
  uint64_t u = 0;
  size_t i = 0;
  while (i < n) {
    /* ASCII fast path, 8 bytes at a time */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
      u += 8;
    }
    if (i >= n) break;
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      u++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80) return false;
      i += 2;
      u++;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= n) return false;
      uint8_t c1 = s[i + 1], c2 = s[i + 2];
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80) return false;
      if (c == 0xe0 && c1 < 0xa0) return false; /* overlong */
      if (c == 0xed && c1 >= 0xa0) return false; /* surrogates */
      i += 3;
      u++;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= n) return false;
      uint8_t c1 = s[i + 1], c2 = s[i + 2], c3 = s[i + 3];
      if ((c1 & 0xc0) != 0x80 || (c2 & 0xc0) != 0x80 || (c3 & 0xc0) != 0x80) return false;
      if (c == 0xf0 && c1 < 0x90) return false; /* overlong */
      if (c == 0xf4 && c1 >= 0x90) return false; /* > U+10FFFF */
      i += 4;
      u += 2;
    } else {
      return false;
    }
  }
  if (units) *units = u;
  return true;
}

size_t yjs_utf8_offset(const uint8_t *s, size_t n, uint64_t units, bool *mid) {
  size_t i = 0;
  uint64_t u = 0;
  *mid = false;
  while (i < n && u < units) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      u++;
    } else if (c < 0xe0) {
      i += 2;
      u++;
    } else if (c < 0xf0) {
      i += 3;
      u++;
    } else {
      if (u + 1 == units) {
        *mid = true;
        return i;
      }
      i += 4;
      u += 2;
    }
  }
  return i < n ? i : n;
}

/* --- JSON validation (JSON.parse grammar) ----------------------------------------------------- */
typedef struct jv {
  const uint8_t *p, *end;
} jv;

static void jv_ws(jv *j) { j->p = yjs_json_ws(j->p, j->end); }

static bool jv_lit(jv *j, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n)) return false;
  j->p += n;
  return true;
}

static bool jv_string(jv *j) {
  if (j->p >= j->end || *j->p != '"') return false;
  j->p++;
  const uint8_t *start = j->p;
  while (j->p < j->end) {
    uint8_t c = *j->p;
    if (c == '"') {
      /* the raw bytes were validated as UTF-8 by the caller's varString read */
      (void)start;
      j->p++;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      j->p++;
      if (j->p >= j->end) return false;
      c = *j->p++;
      if (c == 'u') {
        for (int k = 0; k < 4; k++) {
          if (j->p >= j->end) return false;
          uint8_t h = *j->p++;
          if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
            return false;
        }
      } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
        return false;
      }
    } else {
      j->p++;
    }
  }
  return false;
}

static bool jv_digits(jv *j) {
  const uint8_t *s = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  return j->p > s;
}

static bool jv_number(jv *j) {
  if (j->p < j->end && *j->p == '-') j->p++;
  if (j->p >= j->end) return false;
  if (*j->p == '0') {
    j->p++;
  } else if (!jv_digits(j)) {
    return false;
  }
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (!jv_digits(j)) return false;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (!jv_digits(j)) return false;
  }
  return true;
}

static bool jv_value(jv *j, int depth) {
  if (depth > YJS_MAX_DEPTH) return false;
  jv_ws(j);
  if (j->p >= j->end) return false;
  switch (*j->p) {
    case '{':
      j->p++;
      jv_ws(j);
      if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
      }
      for (;;) {
        jv_ws(j);
        if (!jv_string(j)) return false;
        jv_ws(j);
        if (j->p >= j->end || *j->p != ':') return false;
        j->p++;
        if (!jv_value(j, depth + 1)) return false;
        jv_ws(j);
        if (j->p >= j->end) return false;
        if (*j->p == ',') {
          j->p++;
          continue;
        }
        if (*j->p == '}') {
          j->p++;
          return true;
        }
        return false;
      }
    case '[':
      j->p++;
      jv_ws(j);
      if (j->p < j->end && *j->p == ']') {
        j->p++;
        return true;
      }
      for (;;) {
        if (!jv_value(j, depth + 1)) return false;
        jv_ws(j);
        if (j->p >= j->end) return false;
        if (*j->p == ',') {
          j->p++;
          continue;
        }
        if (*j->p == ']') {
          j->p++;
          return true;
        }
        return false;
      }
    case '"': return jv_string(j);
    case 't': return jv_lit(j, "true");
    case 'f': return jv_lit(j, "false");
    case 'n': return jv_lit(j, "null");
    default: return jv_number(j);
  }
}

bool yjs_json_valid(const uint8_t *p, size_t n) {
  jv j = {p, p + n};
  if (!jv_value(&j, 0)) return false;
  jv_ws(&j);
  return j.p == j.end;
}
