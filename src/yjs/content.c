/* Item contents (yjs src/structs/Content*.js) as stored in a block, and the block operations
 * that depend on the content kind: split (splice), merge (mergeWith), write, gc.
 *
 * Text is stored as UTF-8 while lengths and offsets count UTF-16 code units. A split that falls
 * between the two halves of a surrogate pair replaces both halves by U+FFFD, exactly as
 * ContentString.splice does in yjs, so both sides stay encodable. */
#include "yjs/internal.h"

#include <stdlib.h>

void ybytes_set(ybytes *b, const uint8_t *p, size_t n) {
  if (n <= YBYTES_INLINE) {
    if (n) memmove(b->u.inl, p, n);
    b->cap = 0;
  } else {
    uint8_t *h = yjs__malloc(n);
    memcpy(h, p, n);
    b->u.heap = h;
    b->cap = (uint32_t)n;
  }
  b->n = (uint32_t)n;
}

void ybytes_append(ybytes *b, const uint8_t *p, size_t n) {
  size_t need = (size_t)b->n + n;
  if (b->cap == 0) {
    if (need <= YBYTES_INLINE) {
      memcpy(b->u.inl + b->n, p, n);
      b->n = (uint32_t)need;
      return;
    }
    size_t cap = need < 64 ? 64 : need * 2;
    uint8_t *h = yjs__malloc(cap);
    memcpy(h, b->u.inl, b->n);
    b->u.heap = h;
    b->cap = (uint32_t)cap;
  } else if (need > b->cap) {
    size_t cap = need * 2;
    b->u.heap = yjs__realloc(b->u.heap, cap);
    b->cap = (uint32_t)cap;
  }
  memcpy(b->u.heap + b->n, p, n);
  b->n = (uint32_t)need;
}

void ybytes_free(ybytes *b) {
  if (b->cap) free(b->u.heap);
  b->cap = 0;
  b->n = 0;
}

static bool has_bytes(uint8_t kind) {
  return kind == YC_STRING || kind == YC_JSON || kind == YC_ANY || kind == YC_BINARY ||
         kind == YC_EMBED || kind == YC_FORMAT || kind == YC_DOC;
}

void yblock_content_free(yblock *b) {
  if (has_bytes(b->kind)) {
    ybytes_free(&b->c.bytes);
  } else if (b->kind == YC_TYPE && b->c.type) {
    ytype_free(b->c.type);
    b->c.type = NULL;
  }
}

void yblock_set_content_from_rec(yjs_doc *doc, yblock *b, const yrec *r) {
  (void)doc;
  b->kind = r->cref;
  switch (r->cref) {
    case YC_STRING:
      if (r->flags & YR_FFFD) {
        ybytes_set(&b->c.bytes, yjs_fffd, 3);
        ybytes_append(&b->c.bytes, r->a.p, r->a.n);
      } else {
        ybytes_set(&b->c.bytes, r->a.p, r->a.n);
      }
      break;
    case YC_JSON:
    case YC_ANY:
    case YC_BINARY:
    case YC_EMBED: ybytes_set(&b->c.bytes, r->a.p, r->a.n); break;
    case YC_FORMAT: {
      ybuf t = {0};
      ybuf_var_bytes(&t, r->a.p, r->a.n);
      ybuf_var_bytes(&t, r->b.p, r->b.n);
      ybytes_set(&b->c.bytes, t.data, t.len);
      ybuf_free(&t);
      break;
    }
    case YC_DOC: {
      ybuf t = {0};
      ybuf_var_bytes(&t, r->a.p, r->a.n);
      yjs__write_doc_opts(&t, r->b);
      ybytes_set(&b->c.bytes, t.data, t.len);
      ybuf_free(&t);
      break;
    }
    case YC_TYPE:
      b->c.type = ytype_new((uint8_t)r->n, r->a.p, r->a.n);
      b->c.type->item = b;
      break;
    default: break;
  }
}

void yblock_format_kv(const yblock *b, yslice *key, yslice *val) {
  ydec d;
  ydec_init(&d, ybytes_cptr(&b->c.bytes), b->c.bytes.n);
  if (ydec_var_bytes(&d, key) || ydec_var_bytes(&d, val)) {
    key->n = val->n = 0;
    key->p = val->p = d.start;
  }
}

/* Byte offset of unit d of a UTF-8 string of `units` UTF-16 units. */
static size_t str_offset(const uint8_t *p, size_t n, uint64_t units, uint64_t d, bool *mid) {
  if (n == units) { /* ASCII only */
    *mid = false;
    return (size_t)d;
  }
  return yjs_utf8_offset(p, n, d, mid);
}

yblock *yblock_split(yjs_doc *doc, yblock *b, uint64_t d) {
  yblock *r = yblock_alloc(doc);
  r->client = b->client;
  r->clock = b->clock + d;
  r->len = b->len - d;
  r->kind = b->kind;
  if (b->kind == YC_GC) {
    b->len = d;
    return r;
  }
  r->left = b;
  r->right = b->right;
  r->origin.client = b->client;
  r->origin.clock = b->clock + d - 1;
  r->flags = (uint8_t)(YB_ORIGIN | (b->flags & (YB_RORIGIN | YB_DELETED)));
  r->rorigin = b->rorigin;
  r->parent = b->parent;
  r->sub = b->sub;
  switch (b->kind) {
    case YC_STRING: {
      uint8_t *p = ybytes_ptr(&b->c.bytes);
      size_t n = b->c.bytes.n;
      bool mid;
      size_t off = str_offset(p, n, b->len, d, &mid);
      if (mid) {
        ybytes_set(&r->c.bytes, yjs_fffd, 3);
        ybytes_append(&r->c.bytes, p + off + 4, n - off - 4);
        /* left: bytes before the pair + U+FFFD (fits: 4 bytes were there) */
        memcpy(p + off, yjs_fffd, 3);
        b->c.bytes.n = (uint32_t)(off + 3);
      } else {
        ybytes_set(&r->c.bytes, p + off, n - off);
        b->c.bytes.n = (uint32_t)off;
      }
      break;
    }
    case YC_JSON:
    case YC_ANY: {
      yslice all = {ybytes_cptr(&b->c.bytes), b->c.bytes.n};
      yslice tail = b->kind == YC_ANY ? yjs_skip_any(all, d) : yjs_skip_var_strings(all, d);
      ybytes_set(&r->c.bytes, tail.p, tail.n);
      b->c.bytes.n = (uint32_t)(all.n - tail.n);
      break;
    }
    default: break; /* Deleted: lengths only; others have length 1 */
  }
  /* shrinking a heap buffer below the inline size keeps it on the heap: fine */
  b->len = d;
  b->right = r;
  if (r->right) r->right->left = r;
  if (r->sub && !r->right) r->sub->value = r;
  return r;
}

bool yblock_merge(yblock *l, yblock *r) {
  if (l->kind == YC_GC || r->kind == YC_GC) {
    if (l->kind != r->kind) return false;
    l->len += r->len;
    return true;
  }
  if (l->kind != r->kind || l->right != r || !(r->flags & YB_ORIGIN) ||
      r->origin.client != l->client || r->origin.clock != l->clock + l->len - 1 ||
      l->client != r->client || l->clock + l->len != r->clock ||
      (l->flags & YB_DELETED) != (r->flags & YB_DELETED) ||
      (l->flags & YB_RORIGIN) != (r->flags & YB_RORIGIN) ||
      ((l->flags & YB_RORIGIN) &&
       (l->rorigin.client != r->rorigin.client || l->rorigin.clock != r->rorigin.clock)))
    return false;
  switch (l->kind) {
    case YC_STRING:
    case YC_JSON:
    case YC_ANY:
      ybytes_append(&l->c.bytes, ybytes_cptr(&r->c.bytes), r->c.bytes.n);
      break;
    case YC_DELETED: break;
    default: return false;
  }
  l->right = r->right;
  if (l->right) l->right->left = l;
  l->len += r->len;
  return true;
}

static void write_parent_info(const yblock *b, ybuf *out) {
  const ytype *p = b->parent;
  if (!p || !p->item) {
    ybuf_var_uint(out, YPARENT_NAME);
    if (p)
      ybuf_var_bytes(out, p->name, p->name_len);
    else
      ybuf_var_uint(out, 0); /* no parent: an empty name */
  } else {
    ybuf_var_uint(out, YPARENT_ID);
    ybuf_var_uint(out, p->item->client);
    ybuf_var_uint(out, p->item->clock);
  }
  if (b->sub) ybuf_var_bytes(out, b->sub->s, b->sub->n);
}

void yblock_write(const yblock *b, ybuf *out, uint64_t offset) {
  if (b->kind == YC_GC) {
    ybuf_u8(out, YC_GC);
    ybuf_var_uint(out, b->len - offset);
    return;
  }
  uint8_t has = (uint8_t)(((b->flags & YB_ORIGIN) ? YINFO_ORIGIN : 0) |
                          ((b->flags & YB_RORIGIN) ? YINFO_RORIGIN : 0) | (b->sub ? YINFO_SUB : 0));
  if (yjs_write_item_head(out, b->kind, has, b->client, b->clock, offset, &b->origin, &b->rorigin))
    write_parent_info(b, out);
  const uint8_t *p = b->kind == YC_TYPE ? NULL : ybytes_cptr(&b->c.bytes);
  size_t n = b->kind == YC_TYPE ? 0 : b->c.bytes.n;
  switch (b->kind) {
    case YC_DELETED: ybuf_var_uint(out, b->len - offset); break;
    case YC_STRING: {
      if (!offset) {
        ybuf_var_bytes(out, p, n);
        break;
      }
      bool mid;
      size_t off = str_offset(p, n, b->len, offset, &mid);
      if (mid) {
        ybuf_var_uint(out, n - off - 4 + 3);
        ybuf_write(out, yjs_fffd, 3);
        ybuf_write(out, p + off + 4, n - off - 4);
      } else {
        ybuf_var_bytes(out, p + off, n - off);
      }
      break;
    }
    case YC_JSON:
    case YC_ANY: {
      yslice all = {p, n};
      if (offset)
        all = b->kind == YC_ANY ? yjs_skip_any(all, offset) : yjs_skip_var_strings(all, offset);
      ybuf_var_uint(out, b->len - offset);
      ybuf_write(out, all.p, all.n);
      break;
    }
    case YC_BINARY:
    case YC_EMBED: ybuf_var_bytes(out, p, n); break;
    case YC_FORMAT:
    case YC_DOC: ybuf_write(out, p, n); break;
    case YC_TYPE: {
      const ytype *t = b->c.type;
      ybuf_var_uint(out, t->ref);
      if (t->ref == YT_XML_ELEMENT || t->ref == YT_XML_HOOK)
        ybuf_var_bytes(out, t->name, t->name_len);
      break;
    }
    default: break;
  }
}
