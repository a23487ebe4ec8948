#include "http/http_query.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/utf8.h"

typedef struct {
  const char *s;
  size_t len;
} slice_t;

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t http_query_unescape(const char *s, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '+') {
      out[o++] = ' ';
    } else if (c == '%' && len - i >= 3 && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out[o++] = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return o;
}

static void assign_parts(json_t *acc, const slice_t *parts, size_t n, const slice_t *value);

/* Plug processes pairs last to first and never overwrites, so an array is built by prepending. */
static void assign_list(json_t *arr, const slice_t *rest, size_t n, const slice_t *value) {
  json_t *v;
  if (n == 0) {
    v = json_stringn(value->s, value->len);
  } else {
    v = json_object();
    assign_parts(v, rest, n, value);
  }
  json_array_insert_new(arr, 0, v);
}

static void assign_parts(json_t *acc, const slice_t *parts, size_t n, const slice_t *value) {
  const slice_t *key = &parts[0];
  json_t *cur = json_object_getn(acc, key->s, key->len);
  if (n == 1) {
    if (!cur) json_object_setn_new(acc, key->s, key->len, json_stringn(value->s, value->len));
    return;
  }
  if (parts[1].len == 0) {
    if (!cur) {
      cur = json_array();
      json_object_setn_new(acc, key->s, key->len, cur);
    } else if (!json_is_array(cur)) {
      return; /* a later occurrence gave this key another shape: it wins */
    }
    assign_list(cur, parts + 2, n - 2, value);
    return;
  }
  if (!cur) {
    cur = json_object();
    json_object_setn_new(acc, key->s, key->len, cur);
  } else if (!json_is_object(cur)) {
    return;
  }
  assign_parts(cur, parts + 1, n - 1, value);
}

/* Plug's key splitting: only a key ending in ']' nests; then "head[rest" and rest split on "][".
 * Returns the number of parts, or 0 when there are more than max. */
static size_t split_key(const char *k, size_t klen, slice_t *parts, size_t max) {
  if (klen == 0 || k[klen - 1] != ']') {
    parts[0] = (slice_t){k, klen};
    return 1;
  }
  size_t sub = klen - 1;
  const char *br = memchr(k, '[', sub);
  if (!br) {
    parts[0] = (slice_t){k, sub};
    return 1;
  }
  size_t n = 0;
  parts[n++] = (slice_t){k, (size_t)(br - k)};
  const char *s = br + 1, *end = k + sub;
  for (;;) {
    const char *sep = NULL;
    for (const char *t = s; t + 1 < end; t++)
      if (t[0] == ']' && t[1] == '[') {
        sep = t;
        break;
      }
    if (n == max) return 0;
    if (!sep) {
      parts[n++] = (slice_t){s, (size_t)(end - s)};
      return n;
    }
    parts[n++] = (slice_t){s, (size_t)(sep - s)};
    s = sep + 2;
  }
}

json_t *http_query_parse(const char *q, size_t len) {
  json_t *obj = json_object();
  if (len == 0) return obj;

  slice_t pairs[HTTP_QUERY_MAX_PAIRS];
  size_t npairs = 0;
  for (size_t i = 0; i < len && npairs < HTTP_QUERY_MAX_PAIRS;) {
    const char *amp = memchr(q + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - q) : len;
    if (end > i) pairs[npairs++] = (slice_t){q + i, end - i};
    i = end + 1;
  }

  char *scratch = xmalloc(len);
  json_t *result = obj;
  for (size_t k = npairs; k-- > 0;) {
    const slice_t *p = &pairs[k];
    const char *eq = memchr(p->s, '=', p->len);
    size_t raw_klen = eq ? (size_t)(eq - p->s) : p->len;
    size_t klen = http_query_unescape(p->s, raw_klen, scratch);
    slice_t value = {scratch + klen, 0};
    if (eq) value.len = http_query_unescape(eq + 1, p->len - raw_klen - 1, scratch + klen);
    if (!utf8_valid((const uint8_t *)scratch, klen) ||
        !utf8_valid((const uint8_t *)value.s, value.len)) {
      json_decref(obj);
      result = NULL;
      break;
    }
    slice_t parts[HTTP_QUERY_MAX_DEPTH + 1];
    size_t nparts = split_key(scratch, klen, parts, HTTP_QUERY_MAX_DEPTH + 1);
    if (nparts) assign_parts(obj, parts, nparts, &value);
  }
  free(scratch);
  return result;
}

long http_path_decode(const char *p, size_t len, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (c == '%') {
      if (i + 2 >= len) return -1;
      int hi = hex(p[i + 1]), lo = hex(p[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || o + 1 >= cap) return -1;
    out[o++] = c;
  }
  if (!cap) return -1;
  out[o] = '\0';
  return (long)o;
}
