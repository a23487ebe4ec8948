/* Update format v1: decoding into records and the group writer that encodes them back.
 *
 *   Update        := varUint(G) Group*G DeleteSet
 *   Group         := varUint(N) varUint(client) varUint(firstClock) Struct*N
 *   Struct        := info [origin] [rightOrigin] [parentInfo [parentSub]] content
 *
 * A record (yrec) is Yjs's "lazy struct": self-contained, with slices into the input instead of
 * copies. Decoding validates everything a later step could trip over (bounds, UTF-8, Any, JSON,
 * content and type refs, clock arithmetic), so that applying a decoded update cannot fail
 * halfway: this is what makes yjs_doc_apply_update_v1 atomic. */
#include "yjs/internal.h"

#include <stdlib.h>

static void rec_push(yupdate *u, const yrec *r) {
  YJS_GROW(u->recs, u->cap, u->nrecs + 1);
  u->recs[u->nrecs++] = *r;
}

void yupdate_free(yupdate *u) {
  free(u->recs);
  yds_free(&u->ds);
  memset(u, 0, sizeof(*u));
}

static int read_id(ydec *d, yjs_id *id) {
  int rc = ydec_var_uint(d, &id->client);
  if (!rc) rc = ydec_var_uint(d, &id->clock);
  return rc;
}

/* Content of an item; sets r->len. */
static int read_content(ydec *d, yrec *r) {
  int rc = 0;
  uint64_t n, units;
  yslice s;
  switch (r->cref) {
    case YC_DELETED:
      return ydec_var_uint(d, &r->len);
    case YC_JSON: {
      if ((rc = ydec_var_uint(d, &n))) return rc;
      const uint8_t *start = d->p;
      for (uint64_t i = 0; i < n; i++) {
        if ((rc = ydec_var_string(d, &s, NULL))) return rc;
        if (!(s.n == 9 && !memcmp(s.p, "undefined", 9)) && !yjs_json_valid(s.p, s.n))
          return YJS_EJSON;
      }
      r->a.p = start;
      r->a.n = (size_t)(d->p - start);
      r->n = n;
      r->len = n;
      return 0;
    }
    case YC_BINARY:
      r->len = 1;
      return ydec_var_bytes(d, &r->a);
    case YC_STRING:
      if ((rc = ydec_var_string(d, &r->a, &units))) return rc;
      r->len = units;
      return 0;
    case YC_EMBED:
      if ((rc = ydec_var_string(d, &r->a, NULL))) return rc;
      if (!yjs_json_valid(r->a.p, r->a.n)) return YJS_EJSON;
      r->len = 1;
      return 0;
    case YC_FORMAT:
      if ((rc = ydec_var_string(d, &r->a, NULL))) return rc;
      if ((rc = ydec_var_string(d, &r->b, NULL))) return rc;
      if (!yjs_json_valid(r->b.p, r->b.n)) return YJS_EJSON;
      r->len = 1;
      return 0;
    case YC_TYPE:
      if ((rc = ydec_var_uint(d, &r->n))) return rc;
      if (r->n > YT_XML_TEXT) return YJS_ETYPEREF;
      if (r->n == YT_XML_ELEMENT || r->n == YT_XML_HOOK)
        if ((rc = ydec_var_string(d, &r->a, NULL))) return rc;
      r->len = 1;
      return 0;
    case YC_ANY: {
      if ((rc = ydec_var_uint(d, &n))) return rc;
      const uint8_t *start = d->p;
      for (uint64_t i = 0; i < n; i++)
        if ((rc = ydec_any(d, 0))) return rc;
      r->a.p = start;
      r->a.n = (size_t)(d->p - start);
      r->n = n;
      r->len = n;
      return 0;
    }
    case YC_DOC: {
      if ((rc = ydec_var_string(d, &r->a, NULL))) return rc;
      const uint8_t *start = d->p;
      if (d->p < d->end && *d->p != LIB0_ANY_OBJECT) return YJS_EANY; /* options: an object */
      if ((rc = ydec_any(d, 0))) return rc;
      r->b.p = start;
      r->b.n = (size_t)(d->p - start);
      r->len = 1;
      return 0;
    }
    default:
      return YJS_ECONTENT;
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int yupdate_decode(yupdate *u, const uint8_t *data, size_t len, bool strict, yjs_error *err) {
  ydec d;
  ydec_init(&d, data, len);
  memset(u, 0, sizeof(*u));
  uint64_t ngroups;
  uint64_t *clients = NULL;
  size_t nclients = 0, ccap = 0;
  const char *what = "number of groups";
  int rc = ydec_var_uint(&d, &ngroups);
  if (rc) goto fail;
  for (uint64_t g = 0; g < ngroups; g++) {
    uint64_t nstructs, client, clock;
    what = "group header";
    if ((rc = ydec_var_uint(&d, &nstructs))) goto fail;
    if ((rc = ydec_var_uint(&d, &client))) goto fail;
    if ((rc = ydec_var_uint(&d, &clock))) goto fail;
    if (nstructs > (uint64_t)(d.end - d.p)) {
      rc = YJS_EEOF;
      goto fail;
    }
    YJS_GROW(clients, ccap, nclients + 1);
    clients[nclients++] = client;
    for (uint64_t i = 0; i < nstructs; i++) {
      yrec r;
      memset(&r, 0, sizeof(r));
      r.client = client;
      r.clock = clock;
      uint8_t info;
      what = "struct";
      if ((rc = ydec_u8(&d, &info))) goto fail;
      uint8_t cref = info & YINFO_CREF;
      if (cref == YC_GC) {
        r.kind = YREC_GC;
        if ((rc = ydec_var_uint(&d, &r.len))) goto fail;
      } else if (cref == YC_SKIP) {
        if (info != YC_SKIP) {
          rc = YJS_ECONTENT;
          goto fail;
        }
        r.kind = YREC_SKIP;
        if ((rc = ydec_var_uint(&d, &r.len))) goto fail;
      } else if (cref > YC_SKIP) {
        rc = YJS_ECONTENT;
        goto fail;
      } else {
        r.kind = YREC_ITEM;
        r.cref = cref;
        what = "item";
        if (info & YINFO_ORIGIN) {
          if ((rc = read_id(&d, &r.origin))) goto fail;
          r.flags |= YR_ORIGIN;
        }
        if (info & YINFO_RORIGIN) {
          if ((rc = read_id(&d, &r.rorigin))) goto fail;
          r.flags |= YR_RORIGIN;
        }
        if (!(info & (YINFO_ORIGIN | YINFO_RORIGIN))) {
          uint64_t parent_info;
          if ((rc = ydec_var_uint(&d, &parent_info))) goto fail;
          if (parent_info == YPARENT_NAME) {
            if ((rc = ydec_var_string(&d, &r.parent_name, NULL))) goto fail;
            r.flags |= YR_PARENT_NAME;
          } else {
            if ((rc = read_id(&d, &r.parent_id))) goto fail;
            r.flags |= YR_PARENT_ID;
          }
          if (info & YINFO_SUB) {
            if ((rc = ydec_var_string(&d, &r.sub, NULL))) goto fail;
            r.flags |= YR_SUB;
          }
        }
        what = "item content";
        if ((rc = read_content(&d, &r))) goto fail;
        if (strict) {
          what = "item reference";
          if (((r.flags & YR_ORIGIN) && r.origin.client == client && r.origin.clock >= clock) ||
              ((r.flags & YR_RORIGIN) && r.rorigin.client == client &&
               r.rorigin.clock >= clock) ||
              ((r.flags & YR_PARENT_ID) && r.parent_id.client == client &&
               r.parent_id.clock >= clock)) {
            rc = YJS_ESTRUCT;
            goto fail;
          }
        }
      }
      what = "struct length";
      if (r.len == 0) {
        rc = YJS_ESTRUCT;
        goto fail;
      }
      if (r.len > YJS_MAX_SAFE - clock) {
        rc = YJS_ERANGE;
        goto fail;
      }
      clock += r.len;
      rec_push(u, &r);
    }
  }
  if (strict && nclients > 1) {
    qsort(clients, nclients, sizeof(*clients), cmp_u64);
    for (size_t i = 1; i < nclients; i++)
      if (clients[i] == clients[i - 1]) {
        what = "client groups (client repeated)";
        rc = YJS_ESTRUCT;
        goto fail;
      }
  }
  what = "delete set";
  if ((rc = yds_read(&d, &u->ds))) goto fail;
  free(clients);
  return 0;
fail:
  yjs__set_error(err, rc, (size_t)(d.p - d.start), "%s at byte %zu: %s", what,
                 (size_t)(d.p - d.start), yjs_strerror(rc));
  free(clients);
  yupdate_free(u);
  return rc;
}

/* --- slicing --------------------------------------------------------------------------------- */
static void string_tail(yslice *a, uint8_t *flags, uint64_t d) {
  if (*flags & YR_FFFD) {
    *flags &= (uint8_t)~YR_FFFD;
    d -= 1;
  }
  bool mid;
  size_t off = yjs_utf8_offset(a->p, a->n, d, &mid);
  if (mid) {
    *flags |= YR_FFFD;
    off += 4;
  }
  a->p += off;
  a->n -= off;
}

void yrec_slice(yrec *r, uint64_t d) {
  if (r->kind == YREC_ITEM) {
    r->origin.client = r->client;
    r->origin.clock = r->clock + d - 1;
    r->flags |= YR_ORIGIN;
    switch (r->cref) {
      case YC_STRING:
        if (d > 0) string_tail(&r->a, &r->flags, d);
        break;
      case YC_JSON:
        r->a = yjs_skip_var_strings(r->a, d);
        r->n -= d;
        break;
      case YC_ANY:
        r->a = yjs_skip_any(r->a, d);
        r->n -= d;
        break;
      default:
        break;
    }
  }
  r->clock += d;
  r->len -= d;
}

/* --- writing --------------------------------------------------------------------------------- */
/* JS truthiness of an encoded Any value. */
static bool any_truthy(const uint8_t *p, size_t n) {
  if (!n) return false;
  ydec d;
  ydec_init(&d, p + 1, n - 1);
  switch (p[0]) {
    case LIB0_ANY_UNDEFINED:
    case LIB0_ANY_NULL:
    case LIB0_ANY_FALSE: return false;
    case LIB0_ANY_TRUE: return true;
    case LIB0_ANY_INT: {
      int64_t v = 0;
      ydec_var_int(&d, &v, NULL);
      return v != 0;
    }
    case LIB0_ANY_FLOAT32: {
      if (n < 5) return false;
      float f = yjs_be_f32(p + 1);
      return f != 0 && f == f;
    }
    case LIB0_ANY_FLOAT64: {
      if (n < 9) return false;
      double f = yjs_be_f64(p + 1);
      return f != 0 && f == f;
    }
    case LIB0_ANY_BIGINT: {
      for (size_t i = 1; i < n && i <= 8; i++)
        if (p[i]) return true;
      return false;
    }
    case LIB0_ANY_STRING: return n > 1 && p[1] != 0;
    default: return true;
  }
}

/* ContentDoc options as yjs re-creates them: gc:false, autoLoad:true, meta, in that order. */
void yjs__write_doc_opts(ybuf *b, yslice opts) {
  ydec d;
  ydec_init(&d, opts.p, opts.n);
  uint8_t tag;
  uint64_t n = 0;
  const uint8_t *gcv = NULL, *alv = NULL, *metav = NULL;
  size_t gcn = 0, aln = 0, metan = 0;
  if (!ydec_u8(&d, &tag) && tag == LIB0_ANY_OBJECT && !ydec_var_uint(&d, &n)) {
    for (uint64_t i = 0; i < n; i++) {
      yslice key;
      if (ydec_var_bytes(&d, &key)) break;
      const uint8_t *vs = d.p;
      if (ydec_any(&d, 0)) break;
      size_t vn = (size_t)(d.p - vs);
      if (key.n == 2 && !memcmp(key.p, "gc", 2)) {
        gcv = vs;
        gcn = vn;
      } else if (key.n == 8 && !memcmp(key.p, "autoLoad", 8)) {
        alv = vs;
        aln = vn;
      } else if (key.n == 4 && !memcmp(key.p, "meta", 4)) {
        metav = vs;
        metan = vn;
      }
    }
  }
  bool gc_false = gcv && gcv[0] != LIB0_ANY_UNDEFINED && !any_truthy(gcv, gcn);
  bool autoload = alv && any_truthy(alv, aln);
  bool meta = metav && metav[0] != LIB0_ANY_UNDEFINED && metav[0] != LIB0_ANY_NULL;
  ybuf_u8(b, LIB0_ANY_OBJECT);
  ybuf_var_uint(b, (uint64_t)gc_false + autoload + meta);
  if (gc_false) {
    ybuf_var_bytes(b, "gc", 2);
    ybuf_u8(b, LIB0_ANY_FALSE);
  }
  if (autoload) {
    ybuf_var_bytes(b, "autoLoad", 8);
    ybuf_u8(b, LIB0_ANY_TRUE);
  }
  if (meta) {
    ybuf_var_bytes(b, "meta", 4);
    ybuf_write(b, metav, metan);
  }
}

void yjs_write_rec_content(ybuf *b, const yrec *r, uint64_t offset) {
  switch (r->cref) {
    case YC_DELETED: ybuf_var_uint(b, r->len - offset); break;
    case YC_JSON: {
      yslice s = offset ? yjs_skip_var_strings(r->a, offset) : r->a;
      ybuf_var_uint(b, r->n - offset);
      ybuf_write(b, s.p, s.n);
      break;
    }
    case YC_ANY: {
      yslice s = offset ? yjs_skip_any(r->a, offset) : r->a;
      ybuf_var_uint(b, r->n - offset);
      ybuf_write(b, s.p, s.n);
      break;
    }
    case YC_BINARY: ybuf_var_bytes(b, r->a.p, r->a.n); break;
    case YC_STRING: {
      yslice a = r->a;
      uint8_t flags = r->flags;
      if (offset) string_tail(&a, &flags, offset);
      bool fffd = (flags & YR_FFFD) != 0;
      ybuf_var_uint(b, a.n + (fffd ? 3 : 0));
      if (fffd) ybuf_write(b, yjs_fffd, 3);
      ybuf_write(b, a.p, a.n);
      break;
    }
    case YC_EMBED: ybuf_var_bytes(b, r->a.p, r->a.n); break;
    case YC_FORMAT:
      ybuf_var_bytes(b, r->a.p, r->a.n);
      ybuf_var_bytes(b, r->b.p, r->b.n);
      break;
    case YC_TYPE:
      ybuf_var_uint(b, r->n);
      if (r->n == YT_XML_ELEMENT || r->n == YT_XML_HOOK) ybuf_var_bytes(b, r->a.p, r->a.n);
      break;
    case YC_DOC:
      ybuf_var_bytes(b, r->a.p, r->a.n);
      yjs__write_doc_opts(b, r->b);
      break;
    default: break;
  }
}

static void write_rec(ybuf *b, const yrec *r, uint64_t offset) {
  if (r->kind == YREC_GC || r->kind == YREC_SKIP) {
    ybuf_u8(b, r->kind == YREC_GC ? YC_GC : YC_SKIP);
    ybuf_var_uint(b, r->len - offset);
    return;
  }
  uint8_t has = (uint8_t)(((r->flags & YR_ORIGIN) ? YINFO_ORIGIN : 0) |
                          ((r->flags & YR_RORIGIN) ? YINFO_RORIGIN : 0) |
                          ((r->flags & YR_SUB) ? YINFO_SUB : 0));
  if (yjs_write_item_head(b, r->cref, has, r->client, r->clock, offset, &r->origin, &r->rorigin)) {
    if (r->flags & YR_PARENT_NAME) {
      ybuf_var_uint(b, YPARENT_NAME);
      ybuf_var_bytes(b, r->parent_name.p, r->parent_name.n);
    } else {
      ybuf_var_uint(b, YPARENT_ID);
      ybuf_var_uint(b, r->parent_id.client);
      ybuf_var_uint(b, r->parent_id.clock);
    }
    if (r->flags & YR_SUB) ybuf_var_bytes(b, r->sub.p, r->sub.n);
  }
  yjs_write_rec_content(b, r, offset);
}

static void groupw_flush(ygroupw *w) {
  if (!w->open) return;
  ybuf_var_uint(&w->out, w->count);
  ybuf_var_uint(&w->out, w->client);
  ybuf_var_uint(&w->out, w->clock);
  ybuf_write(&w->out, w->cur.data, w->cur.len);
  w->cur.len = 0;
  w->ngroups++;
  w->open = false;
}

void ygroupw_rec(ygroupw *w, const yrec *r, uint64_t offset) {
  if (!w->open || w->client != r->client) {
    groupw_flush(w);
    w->open = true;
    w->client = r->client;
    w->clock = r->clock + offset;
    w->count = 0;
  }
  w->count++;
  write_rec(&w->cur, r, offset);
}

void ygroupw_finish(ygroupw *w, ybuf *dst) {
  groupw_flush(w);
  ybuf_var_uint(dst, w->ngroups);
  ybuf_write(dst, w->out.data, w->out.len);
}

void ygroupw_free(ygroupw *w) {
  ybuf_free(&w->out);
  ybuf_free(&w->cur);
}
