/* Delete sets (Yjs's DeleteSet, "IdSet" in yjs 14): client -> ranges of deleted clocks.
 *
 * Kept flat, as (client, clock, len) triples, because every producer appends in bulk and every
 * consumer sorts once: a transaction collects its deletions, then sorts and coalesces them; the
 * update reader keeps wire order, which diffUpdate preserves per client. */
#include "yjs/internal.h"

#include <stdlib.h>

void yds_add(yds *ds, uint64_t client, uint64_t clock, uint64_t len) {
  YJS_GROW(ds->e, ds->cap, ds->n + 1);
  ds->e[ds->n].client = client;
  ds->e[ds->n].clock = clock;
  ds->e[ds->n].len = len;
  ds->n++;
}

void yds_free(yds *ds) {
  free(ds->e);
  memset(ds, 0, sizeof(*ds));
}

/* Stable merge sort on entries: clients descending, then (if by_clock) clock ascending. */
static bool ds_before(const yds_entry *a, const yds_entry *b, bool by_clock) {
  if (a->client != b->client) return a->client > b->client;
  return by_clock && a->clock < b->clock;
}

static void ds_sort(yds_entry *e, size_t n, bool by_clock) {
  if (n < 2) return;
  /* already in order? (the common case: one client, ascending) */
  size_t i;
  for (i = 1; i < n; i++)
    if (ds_before(&e[i], &e[i - 1], by_clock)) break;
  if (i == n) return;
  yds_entry *tmp = yjs__malloc(n * sizeof(*tmp));
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t a = lo, b = mid, k = lo;
      while (a < mid && b < hi) tmp[k++] = ds_before(&e[b], &e[a], by_clock) ? e[b++] : e[a++];
      while (a < mid) tmp[k++] = e[a++];
      while (b < hi) tmp[k++] = e[b++];
    }
    memcpy(e, tmp, n * sizeof(*e));
  }
  free(tmp);
}

void yds_sort_merge(yds *ds) {
  ds_sort(ds->e, ds->n, true);
  size_t j = 0;
  for (size_t i = 0; i < ds->n; i++) {
    yds_entry *cur = &ds->e[i];
    if (j > 0) {
      yds_entry *prev = &ds->e[j - 1];
      if (prev->client == cur->client && prev->clock + prev->len >= cur->clock) {
        uint64_t end = cur->clock + cur->len;
        if (end - prev->clock > prev->len) prev->len = end - prev->clock;
        continue;
      }
    }
    ds->e[j++] = *cur;
  }
  ds->n = j;
}

void yds_write(const yds *ds, ybuf *b) {
  yds_entry *e = NULL;
  if (ds->n) {
    e = yjs__malloc(ds->n * sizeof(*e));
    memcpy(e, ds->e, ds->n * sizeof(*e));
    ds_sort(e, ds->n, false);
  }
  size_t nclients = 0;
  for (size_t i = 0; i < ds->n; i++)
    if (i == 0 || e[i].client != e[i - 1].client) nclients++;
  ybuf_var_uint(b, nclients);
  for (size_t i = 0; i < ds->n;) {
    size_t j = i;
    while (j < ds->n && e[j].client == e[i].client) j++;
    ybuf_var_uint(b, e[i].client);
    ybuf_var_uint(b, j - i);
    for (size_t k = i; k < j; k++) {
      ybuf_var_uint(b, e[k].clock);
      ybuf_var_uint(b, e[k].len);
    }
    i = j;
  }
  free(e);
}

int yds_read(ydec *d, yds *ds) {
  uint64_t nclients;
  int rc = ydec_var_uint(d, &nclients);
  if (rc) return rc;
  for (uint64_t i = 0; i < nclients; i++) {
    uint64_t client, nranges;
    if ((rc = ydec_var_uint(d, &client))) return rc;
    if ((rc = ydec_var_uint(d, &nranges))) return rc;
    if (nranges > (uint64_t)(d->end - d->p)) return YJS_EEOF;
    for (uint64_t k = 0; k < nranges; k++) {
      uint64_t clock, len;
      if ((rc = ydec_var_uint(d, &clock))) return rc;
      if ((rc = ydec_var_uint(d, &len))) return rc;
      if (len > YJS_MAX_SAFE - clock) return YJS_ERANGE;
      yds_add(ds, client, clock, len);
    }
  }
  return 0;
}
