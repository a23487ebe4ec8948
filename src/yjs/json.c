/* Document -> JSON text, rendered the way JSON.stringify renders yjs's toJSON() results (see the
 * convention in yjs.h). Numbers are printed like JavaScript's Number.prototype.toString; XML
 * types like their yjs toString(). */
#include "yjs/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { K_NONE, K_MAP, K_TEXT, K_XML, K_ARRAY };

/* Nested types are rendered recursively; a document nested deeper than this (only a hostile one)
 * renders the too-deep parts as null / empty instead of exhausting the C stack. */
#define JSON_MAX_TYPE_DEPTH 2000
static _Thread_local int json_depth;

/* --- JavaScript number formatting ------------------------------------------------------------ */
static void js_number(ybuf *b, double v) {
  if (v != v || isinf(v)) {
    ybuf_str(b, "null"); /* JSON.stringify(NaN / Infinity) */
    return;
  }
  if (v == 0) {
    ybuf_u8(b, '0');
    return;
  }
  char tmp[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  /* tmp = [-]d[.ddd]e[+-]xx */
  const char *p = tmp;
  if (*p == '-') {
    ybuf_u8(b, '-');
    p++;
  }
  char digits[24];
  int k = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0') k--;
  int e = atoi(p + 1);
  int n = e + 1;
  if (k <= n && n <= 21) {
    ybuf_write(b, digits, (size_t)k);
    for (int i = k; i < n; i++) ybuf_u8(b, '0');
  } else if (0 < n && n <= 21) {
    ybuf_write(b, digits, (size_t)n);
    ybuf_u8(b, '.');
    ybuf_write(b, digits + n, (size_t)(k - n));
  } else if (-6 < n && n <= 0) {
    ybuf_str(b, "0.");
    for (int i = 0; i < -n; i++) ybuf_u8(b, '0');
    ybuf_write(b, digits, (size_t)k);
  } else {
    ybuf_u8(b, (uint8_t)digits[0]);
    if (k > 1) {
      ybuf_u8(b, '.');
      ybuf_write(b, digits + 1, (size_t)(k - 1));
    }
    char ex[16];
    snprintf(ex, sizeof(ex), "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    ybuf_str(b, ex);
  }
}

static void json_string(ybuf *b, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (!n) {
    ybuf_str(b, "\"\"");
    return;
  }
  ybuf_reserve(b, n + 2);
  ybuf_u8(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    ybuf_write(b, s + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': ybuf_str(b, "\\\""); break;
      case '\\': ybuf_str(b, "\\\\"); break;
      case '\b': ybuf_str(b, "\\b"); break;
      case '\f': ybuf_str(b, "\\f"); break;
      case '\n': ybuf_str(b, "\\n"); break;
      case '\r': ybuf_str(b, "\\r"); break;
      case '\t': ybuf_str(b, "\\t"); break;
      default: {
        char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        ybuf_str(b, e);
      }
    }
  }
  ybuf_write(b, s + run, n - run);
  ybuf_u8(b, '"');
}

/* A lone UTF-16 unit as JSON.stringify writes it. */
static void json_unit(ybuf *b, unsigned u) {
  char e[12];
  snprintf(e, sizeof(e), "\"\\u%04x\"", u);
  ybuf_str(b, e);
}

/* --- Any values -------------------------------------------------------------------------------- */
static double rd_f32(const uint8_t *p) {
  uint32_t x = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  float f;
  memcpy(&f, &x, 4);
  return f;
}

static double rd_f64(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | p[i];
  double f;
  memcpy(&f, &x, 8);
  return f;
}

static void binary_json(ybuf *b, const uint8_t *p, size_t n) {
  ybuf_u8(b, '{');
  char tmp[48];
  for (size_t i = 0; i < n; i++) {
    snprintf(tmp, sizeof(tmp), "%s\"%zu\":%u", i ? "," : "", i, p[i]);
    ybuf_str(b, tmp);
  }
  ybuf_u8(b, '}');
}

/* The integer Any kinds, written the same in JSON and in String(): a varInt and a BigInt64. */
static void any_write_varint(ybuf *b, ydec *d) {
  int64_t v = 0;
  ydec_var_int(d, &v, NULL);
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
  ybuf_str(b, tmp);
}

static void any_write_bigint(ybuf *b, ydec *d) {
  const uint8_t *p;
  if (ydec_bytes(d, 8, &p)) return;
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | p[i];
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%lld", (long long)(int64_t)x);
  ybuf_str(b, tmp);
}

/* Write one Any value (validated) as JSON. */
static void any_json(ybuf *b, ydec *d) {
  uint8_t tag = 127;
  ydec_u8(d, &tag);
  const uint8_t *p;
  yslice s;
  uint64_t n = 0;
  switch (tag) {
    case 127:
    case 126: ybuf_str(b, "null"); return;
    case 121: ybuf_str(b, "false"); return;
    case 120: ybuf_str(b, "true"); return;
    case 125:
      any_write_varint(b, d);
      return;
    case 124:
      if (!ydec_bytes(d, 4, &p)) js_number(b, rd_f32(p));
      return;
    case 123:
      if (!ydec_bytes(d, 8, &p)) js_number(b, rd_f64(p));
      return;
    case 122:
      any_write_bigint(b, d);
      return;
    case 119:
      if (!ydec_var_bytes(d, &s)) json_string(b, s.p, s.n);
      return;
    case 118: {
      ydec_var_uint(d, &n);
      ybuf_u8(b, '{');
      bool first = true;
      for (uint64_t i = 0; i < n; i++) {
        yslice key;
        if (ydec_var_bytes(d, &key)) break;
        bool skip = d->p < d->end && *d->p == 127; /* undefined: omitted */
        if (key.n == 9 && !memcmp(key.p, "__proto__", 9)) skip = true;
        if (skip) {
          ydec_any(d, 0);
          continue;
        }
        if (!first) ybuf_u8(b, ',');
        first = false;
        json_string(b, key.p, key.n);
        ybuf_u8(b, ':');
        any_json(b, d);
      }
      ybuf_u8(b, '}');
      return;
    }
    case 117:
      ydec_var_uint(d, &n);
      ybuf_u8(b, '[');
      for (uint64_t i = 0; i < n; i++) {
        if (i) ybuf_u8(b, ',');
        any_json(b, d);
      }
      ybuf_u8(b, ']');
      return;
    case 116:
      if (!ydec_var_bytes(d, &s)) binary_json(b, s.p, s.n);
      return;
    default: ybuf_str(b, "null"); return;
  }
}

/* --- types ------------------------------------------------------------------------------------ */
static void type_json(ybuf *b, const ytype *t, int kind);
static void xml_string(ybuf *b, const ytype *t);

static int kind_of_ref(uint8_t ref) {
  switch (ref) {
    case YT_ARRAY: return K_ARRAY;
    case YT_MAP:
    case YT_XML_HOOK: return K_MAP;
    case YT_TEXT: return K_TEXT;
    default: return K_XML;
  }
}

static int infer_root(const ytype *t) {
  for (size_t k = 0; k < t->kcap; k++)
    if (t->keys[k] && t->keys[k]->value) return K_MAP;
  int kind = K_NONE;
  for (const yblock *i = t->start; i; i = i->right) {
    switch (i->kind) {
      case YC_STRING:
      case YC_FORMAT:
      case YC_EMBED: return K_TEXT;
      case YC_TYPE:
        if (i->c.type && (i->c.type->ref == YT_XML_ELEMENT || i->c.type->ref == YT_XML_TEXT)) {
          kind = K_XML;
          break;
        }
        if (kind == K_NONE) kind = K_ARRAY;
        break;
      case YC_DELETED:
      case YC_GC: break;
      default:
        if (kind == K_NONE) kind = K_ARRAY;
    }
  }
  return kind;
}

static bool block_live(const yblock *i) { return !(i->flags & YB_DELETED) && i->kind != YC_GC; }

/* The last element of a map item's content (what Y.Map stores for the key) as JSON;
 * returns false for undefined (the key is then omitted). */
static bool map_value_defined(const yblock *v) {
  if (v->kind == YC_ANY) {
    yslice s = yjs_skip_any((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    return s.n && s.p[0] != 127;
  }
  if (v->kind == YC_JSON) {
    yslice s = yjs_skip_var_strings((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    return !(s.n == 10 && !memcmp(s.p + 1, "undefined", 9));
  }
  return v->kind != YC_FORMAT && v->kind != YC_DELETED;
}

/* Element `idx` of an item's content as JSON (Y.Array element / Y.Map value). */
static void element_json(ybuf *b, const yblock *i, uint64_t idx) {
  const uint8_t *p = i->kind == YC_TYPE ? NULL : ybytes_cptr(&i->c.bytes);
  size_t n = i->kind == YC_TYPE ? 0 : i->c.bytes.n;
  switch (i->kind) {
    case YC_ANY: {
      yslice s = yjs_skip_any((yslice){p, n}, idx);
      ydec d;
      ydec_init(&d, s.p, s.n);
      any_json(b, &d);
      break;
    }
    case YC_JSON: {
      yslice s = yjs_skip_var_strings((yslice){p, n}, idx);
      ydec d;
      ydec_init(&d, s.p, s.n);
      yslice t;
      if (ydec_var_bytes(&d, &t) || (t.n == 9 && !memcmp(t.p, "undefined", 9)))
        ybuf_str(b, "null");
      else
        ybuf_write(b, t.p, t.n);
      break;
    }
    case YC_BINARY: binary_json(b, p, n); break;
    case YC_EMBED: ybuf_write(b, p, n); break;
    case YC_DOC: ybuf_str(b, "{}"); break;
    case YC_TYPE: type_json(b, i->c.type, kind_of_ref(i->c.type->ref)); break;
    case YC_STRING: {
      /* ContentString.getContent() yields single UTF-16 units */
      bool mid;
      size_t off = yjs_utf8_offset(p, n, idx, &mid);
      if (mid) {
        unsigned cp = (unsigned)(p[off] & 7) << 18 | (unsigned)(p[off + 1] & 63) << 12 |
                      (unsigned)(p[off + 2] & 63) << 6 | (p[off + 3] & 63);
        json_unit(b, 0xdc00 + ((cp - 0x10000) & 0x3ff));
      } else if (off < n && p[off] >= 0xf0) {
        unsigned cp = (unsigned)(p[off] & 7) << 18 | (unsigned)(p[off + 1] & 63) << 12 |
                      (unsigned)(p[off + 2] & 63) << 6 | (p[off + 3] & 63);
        json_unit(b, 0xd800 + ((cp - 0x10000) >> 10));
      } else {
        size_t len = off < n ? (p[off] < 0x80 ? 1 : p[off] < 0xe0 ? 2 : 3) : 0;
        json_string(b, p + off, len);
      }
      break;
    }
    default: ybuf_str(b, "null"); break;
  }
}

typedef struct keyref {
  const ykey *k;
} keyref;

static int key_cmp(const void *a, const void *b) {
  const ykey *x = ((const keyref *)a)->k, *y = ((const keyref *)b)->k;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  return x->n < y->n ? -1 : x->n > y->n;
}

static keyref *sorted_keys(const ytype *t, size_t *n) {
  keyref *ks = yjs__malloc((t->nkeys ? t->nkeys : 1) * sizeof(*ks));
  size_t m = 0;
  for (size_t k = 0; k < t->kcap; k++)
    if (t->keys[k] && t->keys[k]->value && block_live(t->keys[k]->value)) ks[m++].k = t->keys[k];
  qsort(ks, m, sizeof(*ks), key_cmp);
  *n = m;
  return ks;
}

static void map_json(ybuf *b, const ytype *t) {
  size_t n;
  keyref *ks = sorted_keys(t, &n);
  ybuf_u8(b, '{');
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    const yblock *v = ks[i].k->value;
    if (!map_value_defined(v)) continue;
    if (ks[i].k->n == 9 && !memcmp(ks[i].k->s, "__proto__", 9)) continue;
    if (!first) ybuf_u8(b, ',');
    first = false;
    json_string(b, ks[i].k->s, ks[i].k->n);
    ybuf_u8(b, ':');
    element_json(b, v, v->len - 1);
  }
  ybuf_u8(b, '}');
  free(ks);
}

static void array_json(ybuf *b, const ytype *t) {
  ybuf_u8(b, '[');
  bool first = true;
  for (const yblock *i = t->start; i; i = i->right) {
    if (!block_live(i) || !yblock_countable(i)) continue;
    for (uint64_t k = 0; k < i->len; k++) {
      if (!first) ybuf_u8(b, ',');
      first = false;
      element_json(b, i, k);
    }
  }
  ybuf_u8(b, ']');
}

static void text_plain(ybuf *b, const ytype *t) {
  for (const yblock *i = t->start; i; i = i->right)
    if (block_live(i) && i->kind == YC_STRING)
      ybuf_write(b, ybytes_cptr(&i->c.bytes), i->c.bytes.n);
}

static void type_json(ybuf *b, const ytype *t, int kind) {
  if (json_depth >= JSON_MAX_TYPE_DEPTH) {
    ybuf_str(b, "null");
    return;
  }
  json_depth++;
  switch (kind) {
    case K_MAP: map_json(b, t); break;
    case K_ARRAY: array_json(b, t); break;
    case K_TEXT:
    case K_XML: {
      ybuf s = {0};
      if (kind == K_TEXT)
        text_plain(&s, t);
      else
        xml_string(&s, t);
      json_string(b, s.data, s.len);
      ybuf_free(&s);
      break;
    }
    default: ybuf_str(b, "null"); break;
  }
  json_depth--;
}

/* --- JavaScript String(value) for XML attribute rendering ----------------------------------- */
static void any_jsstring(ybuf *b, ydec *d);

static void any_jsstring(ybuf *b, ydec *d) {
  uint8_t tag = 127;
  ydec_u8(d, &tag);
  const uint8_t *p;
  yslice s;
  uint64_t n = 0;
  switch (tag) {
    case 127: ybuf_str(b, "undefined"); return;
    case 126: ybuf_str(b, "null"); return;
    case 121: ybuf_str(b, "false"); return;
    case 120: ybuf_str(b, "true"); return;
    case 125:
      any_write_varint(b, d);
      return;
    case 124:
    case 123: {
      if (ydec_bytes(d, tag == 124 ? 4 : 8, &p)) return;
      double v = tag == 124 ? rd_f32(p) : rd_f64(p);
      if (v != v)
        ybuf_str(b, "NaN");
      else if (isinf(v))
        ybuf_str(b, v > 0 ? "Infinity" : "-Infinity");
      else
        js_number(b, v);
      return;
    }
    case 122: any_write_bigint(b, d); return; /* String(BigInt): its decimal digits */
    case 119:
      if (!ydec_var_bytes(d, &s)) ybuf_write(b, s.p, s.n);
      return;
    case 117:
      ydec_var_uint(d, &n);
      for (uint64_t i = 0; i < n; i++) {
        if (i) ybuf_u8(b, ',');
        if (d->p < d->end && (*d->p == 127 || *d->p == 126)) {
          d->p++;
          continue;
        }
        any_jsstring(b, d);
      }
      return;
    default:
      d->p--;
      ydec_any(d, 0);
      ybuf_str(b, "[object Object]");
      return;
  }
}

/* String(value) of a map-stored value (attribute). */
static void value_jsstring(ybuf *b, const yblock *v) {
  if (v->kind == YC_ANY) {
    yslice s = yjs_skip_any((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    ydec d;
    ydec_init(&d, s.p, s.n);
    any_jsstring(b, &d);
  } else if (v->kind == YC_TYPE) {
    const ytype *t = v->c.type;
    if (t->ref == YT_TEXT)
      text_plain(b, t);
    else if (kind_of_ref(t->ref) == K_XML)
      xml_string(b, t);
    else
      ybuf_str(b, "[object Object]");
  } else if (v->kind == YC_STRING) {
    ybuf_write(b, ybytes_cptr(&v->c.bytes), v->c.bytes.n);
  } else {
    ybuf_str(b, "[object Object]");
  }
}

/* --- minimal JSON text walker for format attributes (values are JSON texts) -------------------- */
typedef struct jw {
  const uint8_t *p, *end;
} jw;

static void jw_ws(jw *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static void put_utf8(ybuf *b, unsigned cp) {
  if (cp < 0x80) {
    ybuf_u8(b, (uint8_t)cp);
  } else if (cp < 0x800) {
    ybuf_u8(b, (uint8_t)(0xc0 | cp >> 6));
    ybuf_u8(b, (uint8_t)(0x80 | (cp & 63)));
  } else if (cp < 0x10000) {
    ybuf_u8(b, (uint8_t)(0xe0 | cp >> 12));
    ybuf_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 63)));
    ybuf_u8(b, (uint8_t)(0x80 | (cp & 63)));
  } else {
    ybuf_u8(b, (uint8_t)(0xf0 | cp >> 18));
    ybuf_u8(b, (uint8_t)(0x80 | ((cp >> 12) & 63)));
    ybuf_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 63)));
    ybuf_u8(b, (uint8_t)(0x80 | (cp & 63)));
  }
}

static unsigned hex4(const uint8_t *p) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = p[i];
    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
  }
  return v;
}

/* Unescape a JSON string at j->p (validated) into b. */
static void jw_string(jw *j, ybuf *b) {
  j->p++;
  while (j->p < j->end && *j->p != '"') {
    if (*j->p != '\\') {
      if (b) ybuf_u8(b, *j->p);
      j->p++;
      continue;
    }
    j->p++;
    uint8_t c = *j->p++;
    unsigned cp = c;
    switch (c) {
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        cp = hex4(j->p);
        j->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
            j->p[1] == 'u') {
          unsigned lo = hex4(j->p + 2);
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j->p += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
        break;
      default: break;
    }
    if (b) put_utf8(b, cp);
  }
  j->p++;
}

/* Skip one JSON value (validated), or write String(value) into b when b != NULL. */
static void jw_value(jw *j, ybuf *b, int depth) {
  jw_ws(j);
  if (j->p >= j->end) return;
  uint8_t c = *j->p;
  if (c == '"') {
    jw_string(j, b);
  } else if (c == '{' || c == '[') {
    bool arr = c == '[';
    if (b && !arr) ybuf_str(b, "[object Object]");
    j->p++;
    bool first = true;
    for (;;) {
      jw_ws(j);
      if (j->p >= j->end) return;
      if (*j->p == (arr ? ']' : '}')) {
        j->p++;
        return;
      }
      if (*j->p == ',') {
        j->p++;
        continue;
      }
      if (!arr) {
        jw_string(j, NULL);
        jw_ws(j);
        j->p++; /* ':' */
        jw_value(j, NULL, depth + 1);
      } else {
        if (b && !first) ybuf_u8(b, ',');
        first = false;
        jw_ws(j);
        if (j->p < j->end && *j->p == 'n') {
          j->p += 4; /* null -> "" in Array.prototype.join */
        } else {
          jw_value(j, b, depth + 1);
        }
      }
    }
  } else {
    const uint8_t *s = j->p;
    while (j->p < j->end && !strchr(",]} \t\r\n", *j->p)) j->p++;
    if (!b) return;
    if (c == 't' || c == 'f' || c == 'n') {
      ybuf_write(b, s, (size_t)(j->p - s));
    } else {
      char tmp[64];
      size_t n = (size_t)(j->p - s) < 63 ? (size_t)(j->p - s) : 63;
      memcpy(tmp, s, n);
      tmp[n] = 0;
      js_number(b, strtod(tmp, NULL));
    }
  }
}

/* --- XML toString ------------------------------------------------------------------------------ */
typedef struct fattr {
  yslice key, val; /* format key, JSON text */
} fattr;

static int slice_cmp(yslice a, yslice b) {
  size_t n = a.n < b.n ? a.n : b.n;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  if (c) return c;
  return a.n < b.n ? -1 : a.n > b.n;
}

static int fattr_cmp(const void *a, const void *b) {
  return slice_cmp(((const fattr *)a)->key, ((const fattr *)b)->key);
}

typedef struct kv {
  ybuf key, val;
} kv;

static int kv_cmp(const void *a, const void *b) {
  const kv *x = a, *y = b;
  yslice xs = {x->key.data, x->key.len}, ys = {y->key.data, y->key.len};
  return slice_cmp(xs, ys);
}

/* One delta op of a Y.XmlText: <node attrs>...text...</node> for the current attributes. */
static void xml_text_op(ybuf *b, fattr *attrs, size_t nattrs, const ybuf *insert) {
  fattr *sorted = yjs__malloc((nattrs ? nattrs : 1) * sizeof(*sorted));
  if (nattrs) {
    memcpy(sorted, attrs, nattrs * sizeof(*sorted));
    qsort(sorted, nattrs, sizeof(*sorted), fattr_cmp);
  }
  for (size_t i = 0; i < nattrs; i++) {
    ybuf_u8(b, '<');
    ybuf_write(b, sorted[i].key.p, sorted[i].key.n);
    jw j = {sorted[i].val.p, sorted[i].val.p + sorted[i].val.n};
    jw_ws(&j);
    if (j.p < j.end && *j.p == '{') {
      /* for (key in value): object keys, sorted */
      kv *kvs = NULL;
      size_t nk = 0, kc = 0;
      j.p++;
      for (;;) {
        jw_ws(&j);
        if (j.p >= j.end || *j.p == '}') break;
        if (*j.p == ',') {
          j.p++;
          continue;
        }
        YJS_GROW(kvs, kc, nk + 1);
        memset(&kvs[nk], 0, sizeof(kvs[nk]));
        jw_string(&j, &kvs[nk].key);
        jw_ws(&j);
        j.p++;
        jw_value(&j, &kvs[nk].val, 0);
        nk++;
      }
      if (nk > 1) qsort(kvs, nk, sizeof(*kvs), kv_cmp);
      for (size_t k = 0; k < nk; k++) {
        ybuf_u8(b, ' ');
        ybuf_write(b, kvs[k].key.data, kvs[k].key.len);
        ybuf_str(b, "=\"");
        ybuf_write(b, kvs[k].val.data, kvs[k].val.len);
        ybuf_u8(b, '"');
        ybuf_free(&kvs[k].key);
        ybuf_free(&kvs[k].val);
      }
      free(kvs);
    }
    ybuf_u8(b, '>');
  }
  ybuf_write(b, insert->data, insert->len);
  for (size_t i = nattrs; i-- > 0;) {
    ybuf_str(b, "</");
    ybuf_write(b, sorted[i].key.p, sorted[i].key.n);
    ybuf_u8(b, '>');
  }
  free(sorted);
}

static void xml_text_string(ybuf *b, const ytype *t) {
  fattr *attrs = NULL;
  size_t na = 0, ac = 0;
  ybuf str = {0};
  for (const yblock *i = t->start;; i = i->right) {
    if (i && !block_live(i)) continue;
    bool pack = !i || i->kind == YC_FORMAT || i->kind == YC_EMBED || i->kind == YC_TYPE;
    if (pack && str.len) {
      xml_text_op(b, attrs, na, &str);
      str.len = 0;
    }
    if (!i) break;
    switch (i->kind) {
      case YC_STRING: ybuf_write(&str, ybytes_cptr(&i->c.bytes), i->c.bytes.n); break;
      case YC_FORMAT: {
        fattr f;
        yblock_format_kv(i, &f.key, &f.val);
        size_t k;
        for (k = 0; k < na; k++)
          if (!slice_cmp(attrs[k].key, f.key)) break;
        if (k < na) {
          memmove(&attrs[k], &attrs[k + 1], (na - k - 1) * sizeof(*attrs));
          na--;
        }
        if (!(f.val.n == 4 && !memcmp(f.val.p, "null", 4))) {
          YJS_GROW(attrs, ac, na + 1);
          attrs[na++] = f;
        }
        break;
      }
      case YC_EMBED: {
        ybuf ins = {0};
        jw j = {ybytes_cptr(&i->c.bytes), ybytes_cptr(&i->c.bytes) + i->c.bytes.n};
        jw_value(&j, &ins, 0);
        xml_text_op(b, attrs, na, &ins);
        ybuf_free(&ins);
        break;
      }
      case YC_TYPE: {
        ybuf ins = {0};
        const ytype *ct = i->c.type;
        if (ct->ref == YT_TEXT)
          text_plain(&ins, ct);
        else if (kind_of_ref(ct->ref) == K_XML)
          xml_string(&ins, ct);
        else
          ybuf_str(&ins, "[object Object]");
        xml_text_op(b, attrs, na, &ins);
        ybuf_free(&ins);
        break;
      }
      default: break;
    }
  }
  ybuf_free(&str);
  free(attrs);
}

static void xml_children(ybuf *b, const ytype *t) {
  for (const yblock *i = t->start; i; i = i->right) {
    if (!block_live(i) || !yblock_countable(i)) continue;
    if (i->kind == YC_TYPE) {
      const ytype *ct = i->c.type;
      if (kind_of_ref(ct->ref) == K_XML)
        xml_string(b, ct);
      else if (ct->ref == YT_TEXT)
        text_plain(b, ct);
      else
        ybuf_str(b, "[object Object]");
    } else if (i->kind == YC_STRING) {
      ybuf_write(b, ybytes_cptr(&i->c.bytes), i->c.bytes.n);
    } else if (i->kind == YC_ANY) {
      for (uint64_t k = 0; k < i->len; k++) {
        yslice s = yjs_skip_any((yslice){ybytes_cptr(&i->c.bytes), i->c.bytes.n}, k);
        ydec d;
        ydec_init(&d, s.p, s.n);
        any_jsstring(b, &d);
      }
    }
  }
}

static void xml_element(ybuf *b, const ytype *t);

static void xml_string(ybuf *b, const ytype *t) {
  if (json_depth >= JSON_MAX_TYPE_DEPTH) return;
  json_depth++;
  xml_element(b, t);
  json_depth--;
}

static void xml_element(ybuf *b, const ytype *t) {
  if (t->ref == YT_XML_TEXT) {
    xml_text_string(b, t);
    return;
  }
  if (t->ref != YT_XML_ELEMENT) {
    xml_children(b, t);
    return;
  }
  ybuf_u8(b, '<');
  size_t name_start = b->len;
  for (size_t i = 0; i < t->name_len; i++) {
    uint8_t c = t->name[i];
    ybuf_u8(b, (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c));
  }
  size_t name_len = b->len - name_start;
  size_t n;
  keyref *ks = sorted_keys(t, &n);
  for (size_t i = 0; i < n; i++) {
    ybuf_u8(b, ' ');
    ybuf_write(b, ks[i].k->s, ks[i].k->n);
    ybuf_str(b, "=\"");
    value_jsstring(b, ks[i].k->value);
    ybuf_u8(b, '"');
  }
  free(ks);
  ybuf_u8(b, '>');
  xml_children(b, t);
  ybuf_str(b, "</");
  ybuf_reserve(b, name_len);
  memmove(b->data + b->len, b->data + name_start, name_len);
  b->len += name_len;
  ybuf_u8(b, '>');
}

/* --- document ---------------------------------------------------------------------------------- */
typedef struct rootref {
  const ytype *t;
} rootref;

static int root_cmp(const void *a, const void *b) {
  const ytype *x = ((const rootref *)a)->t, *y = ((const rootref *)b)->t;
  yslice xs = {x->name, x->name_len}, ys = {y->name, y->name_len};
  return slice_cmp(xs, ys);
}

int yjs_doc_to_json(const yjs_doc *doc, char **out, size_t *out_len) {
  if (!doc || !out) return YJS_EINVAL;
  rootref *rs = yjs__malloc((doc->nroots ? doc->nroots : 1) * sizeof(*rs));
  for (size_t i = 0; i < doc->nroots; i++) rs[i].t = doc->roots[i];
  qsort(rs, doc->nroots, sizeof(*rs), root_cmp);
  ybuf b = {0};
  ybuf_u8(&b, '{');
  bool first = true;
  for (size_t i = 0; i < doc->nroots; i++) {
    const ytype *t = rs[i].t;
    int kind = infer_root(t);
    if (kind == K_NONE) continue;
    if (!first) ybuf_u8(&b, ',');
    first = false;
    json_string(&b, t->name, t->name_len);
    ybuf_u8(&b, ':');
    if (kind == K_XML) {
      ybuf s = {0};
      xml_children(&s, t);
      json_string(&b, s.data, s.len);
      ybuf_free(&s);
    } else {
      type_json(&b, t, kind);
    }
  }
  ybuf_u8(&b, '}');
  free(rs);
  *out = (char *)ybuf_take(&b, out_len);
  return 0;
}
