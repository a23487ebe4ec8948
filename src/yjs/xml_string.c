/* XML toString() and JavaScript String() of values, as yjs renders them: YXmlElement.toString()
 * (lower-cased node name, attributes sorted, String() of each value), YXmlText.toString() (its
 * delta, each op wrapped in one tag per format attribute) and YXmlFragment.toString() (children
 * concatenated). json.c embeds the results as JSON strings.
 *
 * String() of a value is not JSON: undefined and null print as such (or as nothing inside an
 * array, whose String() is Array.prototype.join), objects as "[object Object]", numbers with
 * NaN / Infinity spelled out. Format attribute values and embeds are stored as JSON texts, so
 * they are rendered by a small walker over already validated JSON. */
#include "yjs/render.h"

#include <math.h>
#include <stdlib.h>

/* --- JavaScript String(value) ---------------------------------------------------------------- */
static void any_jsstring(ybuf *b, ydec *d) {
  uint8_t tag = LIB0_ANY_UNDEFINED;
  ydec_u8(d, &tag);
  const uint8_t *p;
  yslice s;
  uint64_t n = 0;
  switch (tag) {
    case LIB0_ANY_UNDEFINED: ybuf_str(b, "undefined"); return;
    case LIB0_ANY_NULL: ybuf_str(b, "null"); return;
    case LIB0_ANY_FALSE: ybuf_str(b, "false"); return;
    case LIB0_ANY_TRUE: ybuf_str(b, "true"); return;
    case LIB0_ANY_INT: yjs_any_write_int(b, d); return;
    case LIB0_ANY_FLOAT32:
    case LIB0_ANY_FLOAT64: {
      bool f32 = tag == LIB0_ANY_FLOAT32;
      if (ydec_bytes(d, f32 ? 4 : 8, &p)) return;
      double v = f32 ? yjs_be_f32(p) : yjs_be_f64(p);
      if (v != v)
        ybuf_str(b, "NaN");
      else if (isinf(v))
        ybuf_str(b, v > 0 ? "Infinity" : "-Infinity");
      else
        yjs_js_number(b, v);
      return;
    }
    case LIB0_ANY_BIGINT: yjs_any_write_bigint(b, d); return; /* String(BigInt): the digits */
    case LIB0_ANY_STRING:
      if (!ydec_var_bytes(d, &s)) ybuf_write(b, s.p, s.n);
      return;
    case LIB0_ANY_ARRAY:
      /* Array.prototype.join: undefined and null elements print as nothing */
      ydec_var_uint(d, &n);
      for (uint64_t i = 0; i < n; i++) {
        if (i) ybuf_u8(b, ',');
        if (d->p < d->end && (*d->p == LIB0_ANY_UNDEFINED || *d->p == LIB0_ANY_NULL)) {
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

/* String(type): a Y.Text is its text, an XML type its toString(), anything else an object. */
static void type_jsstring(ybuf *b, const ytype *t, int depth) {
  if (t->ref == YT_TEXT)
    yjs_text_plain(b, t);
  else if (yjs_kind_of_ref(t->ref) == YK_XML)
    yjs_xml_string(b, t, depth);
  else
    ybuf_str(b, "[object Object]");
}

/* String(value) of a map-stored value (attribute). */
static void value_jsstring(ybuf *b, const yblock *v, int depth) {
  if (v->kind == YC_ANY) {
    yslice s = yjs_skip_any((yslice){ybytes_cptr(&v->c.bytes), v->c.bytes.n}, v->len - 1);
    ydec d;
    ydec_init(&d, s.p, s.n);
    any_jsstring(b, &d);
  } else if (v->kind == YC_TYPE) {
    type_jsstring(b, v->c.type, depth);
  } else if (v->kind == YC_STRING) {
    ybuf_write(b, ybytes_cptr(&v->c.bytes), v->c.bytes.n);
  } else {
    ybuf_str(b, "[object Object]");
  }
}

/* --- a minimal walker over validated JSON texts (format values, embeds) ---------------------- */
typedef struct jw {
  const uint8_t *p, *end;
} jw;

static void jw_ws(jw *j) { j->p = yjs_json_ws(j->p, j->end); }

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
      yjs_js_number(b, strtod(tmp, NULL));
    }
  }
}

/* --- XML toString ----------------------------------------------------------------------------- */
typedef struct fattr {
  yslice key, val; /* format key, JSON text */
} fattr;

static int fattr_cmp(const void *a, const void *b) {
  return yslice_cmp(((const fattr *)a)->key, ((const fattr *)b)->key);
}

typedef struct kv {
  ybuf key, val;
} kv;

static int kv_cmp(const void *a, const void *b) {
  const kv *x = a, *y = b;
  return yslice_cmp((yslice){x->key.data, x->key.len}, (yslice){y->key.data, y->key.len});
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

/* YXmlText.toString(): the delta, where the current format attributes wrap each op. */
static void xml_text_string(ybuf *b, const ytype *t, int depth) {
  fattr *attrs = NULL;
  size_t na = 0, ac = 0;
  ybuf str = {0};
  for (const yblock *i = t->start;; i = i->right) {
    if (i && yblock_deleted(i)) continue;
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
          if (!yslice_cmp(attrs[k].key, f.key)) break;
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
        type_jsstring(&ins, i->c.type, depth);
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

void yjs_xml_children(ybuf *b, const ytype *t, int depth) {
  for (const yblock *i = t->start; i; i = i->right) {
    if (yblock_deleted(i) || !yblock_countable(i)) continue;
    if (i->kind == YC_TYPE) {
      type_jsstring(b, i->c.type, depth);
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

/* YXmlElement.toString(): <name attr="String(value)" ...>children</name>. */
static void xml_element(ybuf *b, const ytype *t, int depth) {
  ybuf_u8(b, '<');
  size_t name_start = b->len;
  for (size_t i = 0; i < t->name_len; i++) {
    uint8_t c = t->name[i];
    ybuf_u8(b, (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c));
  }
  size_t name_len = b->len - name_start;
  size_t n;
  const ykey **ks = yjs_sorted_keys(t, &n);
  for (size_t i = 0; i < n; i++) {
    ybuf_u8(b, ' ');
    ybuf_write(b, ks[i]->s, ks[i]->n);
    ybuf_str(b, "=\"");
    value_jsstring(b, ks[i]->value, depth);
    ybuf_u8(b, '"');
  }
  free(ks);
  ybuf_u8(b, '>');
  yjs_xml_children(b, t, depth);
  ybuf_str(b, "</");
  ybuf_reserve(b, name_len);
  memmove(b->data + b->len, b->data + name_start, name_len);
  b->len += name_len;
  ybuf_u8(b, '>');
}

void yjs_xml_string(ybuf *b, const ytype *t, int depth) {
  if (depth >= YJS_RENDER_MAX_DEPTH) return;
  if (t->ref == YT_XML_TEXT)
    xml_text_string(b, t, depth + 1);
  else if (t->ref == YT_XML_ELEMENT)
    xml_element(b, t, depth + 1);
  else
    yjs_xml_children(b, t, depth + 1);
}
