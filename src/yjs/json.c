/* Document -> JSON text, rendered the way JSON.stringify renders yjs's toJSON() results (see the
 * convention in yjs.h). Numbers are printed like JavaScript's Number.prototype.toString; XML
 * types as their yjs toString() (xml_string.c), embedded as JSON strings.
 *
 * A root type's kind is not stored on the server (a root is created untyped on first reference),
 * so it is inferred from its items here; a nested type's kind is its type ref. */
#include "yjs/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* --- JavaScript number formatting ------------------------------------------------------------ */
/* The shortest %e form that reads back as v gives the digits JavaScript prints; the layout
 * (plain, fraction, 0.000ddd or exponent) then follows ECMAScript's Number::toString. */
void yjs_js_number(ybuf *b, double v) {
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

/* --- Any values ------------------------------------------------------------------------------- */
static void binary_json(ybuf *b, const uint8_t *p, size_t n) {
  ybuf_u8(b, '{');
  char tmp[48];
  for (size_t i = 0; i < n; i++) {
    snprintf(tmp, sizeof(tmp), "%s\"%zu\":%u", i ? "," : "", i, p[i]);
    ybuf_str(b, tmp);
  }
  ybuf_u8(b, '}');
}

void yjs_any_write_int(ybuf *b, ydec *d) {
  int64_t v = 0;
  ydec_var_int(d, &v, NULL);
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
  ybuf_str(b, tmp);
}

void yjs_any_write_bigint(ybuf *b, ydec *d) {
  const uint8_t *p;
  if (ydec_bytes(d, 8, &p)) return;
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%lld", (long long)(int64_t)yjs_be64(p));
  ybuf_str(b, tmp);
}

/* Write one Any value (validated) as JSON. */
static void any_json(ybuf *b, ydec *d) {
  uint8_t tag = LIB0_ANY_UNDEFINED;
  ydec_u8(d, &tag);
  const uint8_t *p;
  yslice s;
  uint64_t n = 0;
  switch (tag) {
    case LIB0_ANY_UNDEFINED:
    case LIB0_ANY_NULL: ybuf_str(b, "null"); return;
    case LIB0_ANY_FALSE: ybuf_str(b, "false"); return;
    case LIB0_ANY_TRUE: ybuf_str(b, "true"); return;
    case LIB0_ANY_INT: yjs_any_write_int(b, d); return;
    case LIB0_ANY_FLOAT32:
      if (!ydec_bytes(d, 4, &p)) yjs_js_number(b, yjs_be_f32(p));
      return;
    case LIB0_ANY_FLOAT64:
      if (!ydec_bytes(d, 8, &p)) yjs_js_number(b, yjs_be_f64(p));
      return;
    case LIB0_ANY_BIGINT: yjs_any_write_bigint(b, d); return;
    case LIB0_ANY_STRING:
      if (!ydec_var_bytes(d, &s)) json_string(b, s.p, s.n);
      return;
    case LIB0_ANY_OBJECT: {
      ydec_var_uint(d, &n);
      ybuf_u8(b, '{');
      bool first = true;
      for (uint64_t i = 0; i < n; i++) {
        yslice key;
        if (ydec_var_bytes(d, &key)) break;
        bool skip = d->p < d->end && *d->p == LIB0_ANY_UNDEFINED; /* undefined: omitted */
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
    case LIB0_ANY_ARRAY:
      ydec_var_uint(d, &n);
      ybuf_u8(b, '[');
      for (uint64_t i = 0; i < n; i++) {
        if (i) ybuf_u8(b, ',');
        any_json(b, d);
      }
      ybuf_u8(b, ']');
      return;
    case LIB0_ANY_UINT8ARRAY:
      if (!ydec_var_bytes(d, &s)) binary_json(b, s.p, s.n);
      return;
    default: ybuf_str(b, "null"); return;
  }
}

/* --- types ------------------------------------------------------------------------------------ */
static void type_json(ybuf *b, const ytype *t, int kind, int depth);

int yjs_kind_of_ref(uint8_t ref) {
  switch (ref) {
    case YT_ARRAY: return YK_ARRAY;
    case YT_MAP:
    case YT_XML_HOOK: return YK_MAP;
    case YT_TEXT: return YK_TEXT;
    default: return YK_XML;
  }
}

static int infer_root(const ytype *t) {
  for (size_t k = 0; k < t->kcap; k++)
    if (t->keys[k] && t->keys[k]->value) return YK_MAP;
  int kind = YK_NONE;
  for (const yblock *i = t->start; i; i = i->right) {
    switch (i->kind) {
      case YC_STRING:
      case YC_FORMAT:
      case YC_EMBED: return YK_TEXT;
      case YC_TYPE:
        if (i->c.type && (i->c.type->ref == YT_XML_ELEMENT || i->c.type->ref == YT_XML_TEXT)) {
          kind = YK_XML;
          break;
        }
        if (kind == YK_NONE) kind = YK_ARRAY;
        break;
      case YC_DELETED:
      case YC_GC: break;
      default:
        if (kind == YK_NONE) kind = YK_ARRAY;
    }
  }
  return kind;
}

/* The last element of a map item's content (what Y.Map stores for the key) as JSON;
 * returns false for undefined (the key is then omitted). */
static bool map_value_defined(const yblock *v) {
  if (v->kind == YC_ANY) {
    yslice s = yjs_skip_any((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    return s.n && s.p[0] != LIB0_ANY_UNDEFINED;
  }
  if (v->kind == YC_JSON) {
    yslice s = yjs_skip_var_strings((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    return !(s.n == 10 && !memcmp(s.p + 1, "undefined", 9));
  }
  return v->kind != YC_FORMAT && v->kind != YC_DELETED;
}

/* Element `idx` of an item's content as JSON (Y.Array element / Y.Map value). */
static void element_json(ybuf *b, const yblock *i, uint64_t idx, int depth) {
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
    case YC_TYPE: type_json(b, i->c.type, yjs_kind_of_ref(i->c.type->ref), depth); break;
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

static int key_cmp(const void *a, const void *b) {
  const ykey *x = *(const ykey *const *)a, *y = *(const ykey *const *)b;
  return yslice_cmp((yslice){x->s, x->n}, (yslice){y->s, y->n});
}

const ykey **yjs_sorted_keys(const ytype *t, size_t *n) {
  const ykey **ks = yjs__malloc((t->nkeys ? t->nkeys : 1) * sizeof(*ks));
  size_t m = 0;
  for (size_t k = 0; k < t->kcap; k++)
    if (t->keys[k] && t->keys[k]->value && !yblock_deleted(t->keys[k]->value)) ks[m++] = t->keys[k];
  qsort(ks, m, sizeof(*ks), key_cmp);
  *n = m;
  return ks;
}

static void map_json(ybuf *b, const ytype *t, int depth) {
  size_t n;
  const ykey **ks = yjs_sorted_keys(t, &n);
  ybuf_u8(b, '{');
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    const yblock *v = ks[i]->value;
    if (!map_value_defined(v)) continue;
    if (ks[i]->n == 9 && !memcmp(ks[i]->s, "__proto__", 9)) continue;
    if (!first) ybuf_u8(b, ',');
    first = false;
    json_string(b, ks[i]->s, ks[i]->n);
    ybuf_u8(b, ':');
    element_json(b, v, v->len - 1, depth);
  }
  ybuf_u8(b, '}');
  free(ks);
}

static void array_json(ybuf *b, const ytype *t, int depth) {
  ybuf_u8(b, '[');
  bool first = true;
  for (const yblock *i = t->start; i; i = i->right) {
    if (yblock_deleted(i) || !yblock_countable(i)) continue;
    for (uint64_t k = 0; k < i->len; k++) {
      if (!first) ybuf_u8(b, ',');
      first = false;
      element_json(b, i, k, depth);
    }
  }
  ybuf_u8(b, ']');
}

void yjs_text_plain(ybuf *b, const ytype *t) {
  for (const yblock *i = t->start; i; i = i->right)
    if (!yblock_deleted(i) && i->kind == YC_STRING)
      ybuf_write(b, ybytes_cptr(&i->c.bytes), i->c.bytes.n);
}

static void type_json(ybuf *b, const ytype *t, int kind, int depth) {
  if (depth >= YJS_RENDER_MAX_DEPTH) {
    ybuf_str(b, "null");
    return;
  }
  switch (kind) {
    case YK_MAP: map_json(b, t, depth + 1); break;
    case YK_ARRAY: array_json(b, t, depth + 1); break;
    case YK_TEXT:
    case YK_XML: {
      ybuf s = {0};
      if (kind == YK_TEXT)
        yjs_text_plain(&s, t);
      else
        yjs_xml_string(&s, t, depth + 1);
      json_string(b, s.data, s.len);
      ybuf_free(&s);
      break;
    }
    default: ybuf_str(b, "null"); break;
  }
}

/* --- document --------------------------------------------------------------------------------- */
static int root_cmp(const void *a, const void *b) {
  const ytype *x = *(const ytype *const *)a, *y = *(const ytype *const *)b;
  return yslice_cmp((yslice){x->name, x->name_len}, (yslice){y->name, y->name_len});
}

int yjs_doc_to_json(const yjs_doc *doc, char **out, size_t *out_len) {
  if (!doc || !out) return YJS_EINVAL;
  const ytype **rs = yjs__malloc((doc->nroots ? doc->nroots : 1) * sizeof(*rs));
  for (size_t i = 0; i < doc->nroots; i++) rs[i] = doc->roots[i];
  qsort(rs, doc->nroots, sizeof(*rs), root_cmp);
  ybuf b = {0};
  ybuf_u8(&b, '{');
  bool first = true;
  for (size_t i = 0; i < doc->nroots; i++) {
    const ytype *t = rs[i];
    int kind = infer_root(t);
    if (kind == YK_NONE) continue;
    if (!first) ybuf_u8(&b, ',');
    first = false;
    json_string(&b, t->name, t->name_len);
    ybuf_u8(&b, ':');
    if (kind == YK_XML) {
      ybuf s = {0};
      yjs_xml_children(&s, t, 0);
      json_string(&b, s.data, s.len);
      ybuf_free(&s);
    } else {
      type_json(&b, t, kind, 0);
    }
  }
  ybuf_u8(&b, '}');
  free(rs);
  *out = (char *)ybuf_take(&b, out_len);
  return 0;
}
