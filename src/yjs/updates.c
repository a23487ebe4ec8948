/* Update-level algorithms that need no document (yjs src/utils/updates.js):
 * mergeUpdates, diffUpdate and encodeStateVectorFromUpdate, on records (yrec).
 *
 * These are ports of the yjs algorithms, including their tie-breaking, so that the bytes agree
 * with yjs for canonical input. The reader order in mergeUpdates is kept with the same sort yjs
 * gets from V8 (TimSort; for fewer than 64 inputs that is one run found by CountAndMakeRun and
 * extended by binary insertion sort), because the yjs comparator is inconsistent when a GC and
 * an Item start at the same ID and the outcome then depends on the exact sort steps. */
#include "yjs/internal.h"

#include <stdlib.h>

typedef struct reader {
  yupdate u;
  size_t next; /* index of the record after cur */
  yrec cur;
  bool has;
} reader;

static void reader_next(reader *r) {
  while (r->next < r->u.nrecs) {
    const yrec *x = &r->u.recs[r->next++];
    if (x->kind == YREC_SKIP) continue; /* mergeUpdates drops the inputs' Skips */
    r->cur = *x;
    r->has = true;
    return;
  }
  r->has = false;
}

static int reader_cmp(const reader *a, const reader *b) {
  const yrec *x = &a->cur, *y = &b->cur;
  if (x->client == y->client) {
    if (x->clock == y->clock) return x->kind == y->kind ? 0 : -1; /* yjs: GC vs Item -> -1 */
    return x->clock < y->clock ? -1 : 1;
  }
  return y->client < x->client ? -1 : 1;
}

/* V8's Array.prototype.sort (TimSort) for short arrays: one natural run (reversed if strictly
 * descending) extended by binary insertion. Longer arrays use a stable merge sort, which agrees
 * with V8 whenever the comparator is consistent. */
static void sort_readers(reader **a, size_t n) {
  if (n < 2) return;
  if (n < 64) {
    size_t run = 2;
    bool desc = reader_cmp(a[1], a[0]) < 0;
    reader *prev = a[1];
    for (size_t i = 2; i < n; i++) {
      int o = reader_cmp(a[i], prev);
      if (desc ? o >= 0 : o < 0) break;
      prev = a[i];
      run++;
    }
    if (desc)
      for (size_t i = 0, j = run - 1; i < j; i++, j--) {
        reader *t = a[i];
        a[i] = a[j];
        a[j] = t;
      }
    for (size_t start = run; start < n; start++) {
      reader *pivot = a[start];
      size_t left = 0, right = start;
      while (left < right) {
        size_t mid = left + ((right - left) >> 1);
        if (reader_cmp(pivot, a[mid]) < 0)
          right = mid;
        else
          left = mid + 1;
      }
      memmove(&a[left + 1], &a[left], (start - left) * sizeof(*a));
      a[left] = pivot;
    }
    return;
  }
  reader **tmp = yjs__malloc(n * sizeof(*tmp));
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t x = lo, y = mid, k = lo;
      while (x < mid && y < hi) tmp[k++] = reader_cmp(a[y], a[x]) < 0 ? a[y++] : a[x++];
      while (x < mid) tmp[k++] = a[x++];
      while (y < hi) tmp[k++] = a[y++];
    }
    memcpy(a, tmp, n * sizeof(*a));
  }
  free(tmp);
}

/* GC.mergeWith / Skip.mergeWith; lazy Items never merge (no right pointer). */
static bool rec_merge(yrec *l, const yrec *r) {
  if (l->kind == YREC_ITEM || l->kind != r->kind) return false;
  l->len += r->len;
  return true;
}

int yjs__merge(const uint8_t *const *updates, const size_t *lens, size_t n, ybuf *out,
               yjs_error *err) {
  if (n == 1) {
    ybuf_write(out, updates[0], lens[0]);
    return 0;
  }
  reader *rs = yjs__calloc(n ? n : 1, sizeof(*rs));
  reader **l = yjs__malloc((n ? n : 1) * sizeof(*l));
  size_t nl = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if ((rc = yupdate_decode(&rs[i].u, updates[i], lens[i], false, err))) {
      if (err) {
        char m[sizeof(err->msg)];
        memcpy(m, err->msg, sizeof(m));
        yjs__set_error(err, rc, err->offset, "update %zu: %s", i, m);
      }
      goto done;
    }
    reader_next(&rs[i]);
    l[nl++] = &rs[i];
  }
  ygroupw w;
  memset(&w, 0, sizeof(w));
  yrec h; /* currWrite */
  bool has_h = false;
  for (;;) {
    size_t k = 0;
    for (size_t i = 0; i < nl; i++)
      if (l[i]->has) l[k++] = l[i];
    nl = k;
    sort_readers(l, nl);
    if (!nl) break;
    reader *cd = l[0];
    uint64_t first_client = cd->cur.client;
    if (has_h) {
      bool iterated = false;
      while (cd->has && cd->cur.clock + cd->cur.len <= h.clock + h.len &&
             cd->cur.client >= h.client) {
        reader_next(cd);
        iterated = true;
      }
      if (!cd->has || cd->cur.client != first_client ||
          (iterated && cd->cur.clock > h.clock + h.len))
        continue;
      yrec curr = cd->cur;
      if (first_client != h.client) {
        ygroupw_rec(&w, &h, 0);
        h = curr;
        reader_next(cd);
      } else if (h.clock + h.len < curr.clock) {
        if (h.kind == YREC_SKIP) {
          h.len = curr.clock + curr.len - h.clock;
        } else {
          ygroupw_rec(&w, &h, 0);
          uint64_t diff = curr.clock - h.clock - h.len;
          yrec s;
          memset(&s, 0, sizeof(s));
          s.kind = YREC_SKIP;
          s.client = first_client;
          s.clock = h.clock + h.len;
          s.len = diff;
          h = s;
        }
      } else {
        uint64_t diff = h.clock + h.len - curr.clock;
        if (diff > 0) {
          if (h.kind == YREC_SKIP)
            h.len -= diff;
          else
            yrec_slice(&curr, diff);
        }
        if (!rec_merge(&h, &curr)) {
          ygroupw_rec(&w, &h, 0);
          h = curr;
          reader_next(cd);
        }
      }
    } else {
      h = cd->cur;
      has_h = true;
      reader_next(cd);
    }
    while (cd->has && cd->cur.client == first_client && cd->cur.clock == h.clock + h.len &&
           cd->cur.kind != YREC_SKIP) {
      ygroupw_rec(&w, &h, 0);
      h = cd->cur;
      reader_next(cd);
    }
  }
  if (has_h) ygroupw_rec(&w, &h, 0);
  ygroupw_finish(&w, out);
  ygroupw_free(&w);
  /* delete sets: concatenated in input order, sorted (stable) and coalesced */
  yds ds;
  memset(&ds, 0, sizeof(ds));
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < rs[i].u.ds.n; j++) {
      const yds_entry *e = &rs[i].u.ds.e[j];
      yds_add(&ds, e->client, e->clock, e->len);
    }
  yds_sort_merge(&ds);
  yds_write(&ds, out);
  yds_free(&ds);
done:
  for (size_t i = 0; i < n; i++) yupdate_free(&rs[i].u);
  free(rs);
  free(l);
  return rc;
}

int yjs__diff(const uint8_t *update, size_t len, const ysv *sv, ybuf *out, yjs_error *err) {
  yupdate u;
  int rc = yupdate_decode(&u, update, len, false, err);
  if (rc) return rc;
  ygroupw w;
  memset(&w, 0, sizeof(w));
  size_t i = 0;
  while (i < u.nrecs) {
    const yrec *cur = &u.recs[i];
    uint64_t client = cur->client;
    uint64_t svclock = ysv_get(sv, client);
    if (cur->kind == YREC_SKIP) {
      i++;
      continue;
    }
    if (cur->clock + cur->len > svclock) {
      ygroupw_rec(&w, cur, svclock > cur->clock ? svclock - cur->clock : 0);
      i++;
      while (i < u.nrecs && u.recs[i].client == client) ygroupw_rec(&w, &u.recs[i++], 0);
    } else {
      while (i < u.nrecs && u.recs[i].client == client &&
             u.recs[i].clock + u.recs[i].len <= svclock)
        i++;
    }
  }
  ygroupw_finish(&w, out);
  ygroupw_free(&w);
  yds_write(&u.ds, out);
  yupdate_free(&u);
  return 0;
}

int yjs_merge_updates_v1(const uint8_t *const *updates, const size_t *lens, size_t n,
                         uint8_t **out, size_t *out_len, yjs_error *err) {
  if (!out || !out_len || (n && (!updates || !lens))) return YJS_EINVAL;
  ybuf b = {0};
  int rc = yjs__merge(updates, lens, n, &b, err);
  if (rc) {
    ybuf_free(&b);
    return rc;
  }
  *out = ybuf_take(&b, out_len);
  return 0;
}

int yjs_diff_update_v1(const uint8_t *update, size_t len, const uint8_t *sv, size_t sv_len,
                       uint8_t **out, size_t *out_len, yjs_error *err) {
  if (!out || !out_len || (!update && len)) return YJS_EINVAL;
  ysv s;
  int rc = ysv_decode(&s, sv, sv_len, err);
  if (rc) return rc;
  ybuf b = {0};
  rc = yjs__diff(update, len, &s, &b, err);
  ysv_free(&s);
  if (rc) {
    ybuf_free(&b);
    return rc;
  }
  *out = ybuf_take(&b, out_len);
  return 0;
}

int yjs_state_vector_from_update_v1(const uint8_t *update, size_t len, uint8_t **out,
                                    size_t *out_len, yjs_error *err) {
  if (!out || !out_len || (!update && len)) return YJS_EINVAL;
  yupdate u;
  int rc = yupdate_decode(&u, update, len, false, err);
  if (rc) return rc;
  ybuf entries = {0}, b = {0};
  uint64_t size = 0;
  if (u.nrecs) {
    const yrec *cur = &u.recs[0];
    uint64_t client = cur->client;
    bool stop = cur->clock != 0;
    uint64_t clock = stop ? 0 : cur->clock + cur->len;
    for (size_t i = 0; i < u.nrecs; i++) {
      cur = &u.recs[i];
      if (client != cur->client) {
        if (clock != 0) {
          size++;
          ybuf_var_uint(&entries, client);
          ybuf_var_uint(&entries, clock);
        }
        client = cur->client;
        clock = 0;
        stop = cur->clock != 0;
      }
      if (cur->kind == YREC_SKIP) stop = true;
      if (!stop) clock = cur->clock + cur->len;
    }
    if (clock != 0) {
      size++;
      ybuf_var_uint(&entries, client);
      ybuf_var_uint(&entries, clock);
    }
  }
  ybuf_var_uint(&b, size);
  ybuf_write(&b, entries.data, entries.len);
  ybuf_free(&entries);
  yupdate_free(&u);
  *out = ybuf_take(&b, out_len);
  return 0;
}
