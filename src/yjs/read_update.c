/* readUpdate (yjs src/utils/encoding.js readUpdateV2 / integrateStructs): integrating the
 * structs of a decoded update in dependency order, keeping what cannot be integrated yet as
 * pending, and applying the update's deletions and the pending ones.
 *
 * integrateStructs works on a stack: a struct whose dependency (an origin, the right origin, the
 * parent) lives in another client's structs of the same update is pushed, and that client's next
 * struct is integrated first. When a dependency is in no client of the update (or the struct's
 * own client has a gap before it), the whole stack and the rest of each client on it go pending
 * (encoded as an update, "rest"), with the lowest missing clock per client remembered. A later
 * update that supplies one of those clocks makes readUpdate retry the pending structs. The order
 * of all this follows yjs step by step, because it decides which structs integrate in which
 * order, and so the struct boundaries that encoded state shows. */
#include "yjs/internal.h"

#include <stdlib.h>

void ydoc_free_pending(yjs_doc *doc) {
  free(doc->pending);
  doc->pending = NULL;
  doc->pending_len = 0;
  doc->nmissing = 0;
}

/* --- integrateStructs ------------------------------------------------------------------------ */
typedef struct crefs {
  uint64_t client;
  size_t i, end; /* next record, end (indices into the update's records) */
  bool gone;     /* removed from clientsStructRefs */
  size_t rest;   /* index + 1 of this client's entry in integ.rest, 0 if none */
} crefs;

typedef struct rest_part {
  uint64_t client;
  size_t from, to; /* records [from, to) */
} rest_part;

typedef struct integ {
  yjs_doc *doc;
  const yupdate *u;
  crefs *refs;
  size_t nrefs, refs_cap; /* sorted by client ascending */
  size_t active; /* clientsStructRefsIds: refs[0..active) minus gone ones */
  size_t *stack;
  size_t nstack, stack_cap;
  rest_part *rest;
  size_t nrest, rest_cap;
  yjs_id *missing;
  size_t nmissing, missing_cap;
} integ;

static int crefs_cmp(const void *a, const void *b) {
  uint64_t x = ((const crefs *)a)->client, y = ((const crefs *)b)->client;
  return x < y ? -1 : x > y;
}

static int rest_cmp(const void *a, const void *b) {
  uint64_t x = ((const rest_part *)a)->client, y = ((const rest_part *)b)->client;
  return x > y ? -1 : x < y; /* descending */
}

static int id_cmp(const void *a, const void *b) {
  const yjs_id *x = a, *y = b;
  if (x->client != y->client) return x->client < y->client ? -1 : 1;
  return x->clock < y->clock ? -1 : x->clock > y->clock;
}

/* Sort by client, keep the lowest clock per client. */
static size_t ids_min_per_client(yjs_id *ids, size_t n) {
  if (n > 1) qsort(ids, n, sizeof(*ids), id_cmp);
  size_t j = 0;
  for (size_t i = 0; i < n; i++)
    if (!j || ids[j - 1].client != ids[i].client) ids[j++] = ids[i];
  return j;
}

/* The refs entry of a client of this update (gone or not). */
static crefs *refs_any(integ *g, uint64_t client) {
  size_t lo = 0, hi = g->nrefs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g->refs[mid].client < client)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < g->nrefs && g->refs[lo].client == client ? &g->refs[lo] : NULL;
}

/* The refs entry of a client whose structs are still to be integrated. */
static crefs *refs_get(integ *g, uint64_t client) {
  crefs *r = refs_any(g, client);
  return r && !r->gone ? r : NULL;
}

static void update_missing(integ *g, uint64_t client, uint64_t clock) {
  /* duplicates are resolved once at the end (ids_min_per_client) */
  YJS_GROW(g->missing, g->missing_cap, g->nmissing + 1);
  g->missing[g->nmissing].client = client;
  g->missing[g->nmissing].clock = clock;
  g->nmissing++;
}


static void rest_set(integ *g, uint64_t client, size_t from, size_t to) {
  crefs *c = refs_any(g, client); /* every record's client has an entry */
  if (c && c->rest) {
    g->rest[c->rest - 1].from = from;
    g->rest[c->rest - 1].to = to;
    return;
  }
  YJS_GROW(g->rest, g->rest_cap, g->nrest + 1);
  g->rest[g->nrest].client = client;
  g->rest[g->nrest].from = from;
  g->rest[g->nrest].to = to;
  g->nrest++;
  if (c) c->rest = g->nrest;
}

static void add_stack_to_rest(integ *g) {
  for (size_t s = 0; s < g->nstack; s++) {
    size_t ri = g->stack[s];
    uint64_t client = g->u->recs[ri].client;
    crefs *c = refs_get(g, client);
    if (c) {
      c->i--;
      rest_set(g, client, c->i, c->end);
      c->gone = true;
      c->i = c->end;
    } else {
      rest_set(g, client, ri, ri + 1);
    }
  }
  g->nstack = 0;
}

static crefs *next_target(integ *g) {
  while (g->active > 0) {
    crefs *c = &g->refs[g->active - 1];
    if (!c->gone && c->i < c->end) return c;
    g->active--;
  }
  return NULL;
}

static void integrate_structs(integ *g) {
  yjs_doc *doc = g->doc;
  const yupdate *u = g->u;
  /* group records per client (strict decoding guarantees one group per client) */
  for (size_t i = 0; i < u->nrecs;) {
    size_t j = i;
    while (j < u->nrecs && u->recs[j].client == u->recs[i].client) j++;
    YJS_GROW(g->refs, g->refs_cap, g->nrefs + 1);
    g->refs[g->nrefs].client = u->recs[i].client;
    g->refs[g->nrefs].i = i;
    g->refs[g->nrefs].end = j;
    g->refs[g->nrefs].gone = false;
    g->refs[g->nrefs].rest = 0;
    g->nrefs++;
    i = j;
  }
  /* sort by client ascending (strict decoding guarantees distinct clients) */
  if (g->nrefs > 1) qsort(g->refs, g->nrefs, sizeof(*g->refs), crefs_cmp);
  g->active = g->nrefs;
  crefs *cur = next_target(g);
  if (!cur) return;
  size_t head = cur->i++;
  for (;;) {
    const yrec *r = &u->recs[head];
    if (r->kind != YREC_SKIP) {
      uint64_t local = ystore_state(doc, r->client);
      if (local < r->clock) {
        YJS_GROW(g->stack, g->stack_cap, g->nstack + 1);
        g->stack[g->nstack++] = head;
        update_missing(g, r->client, r->clock - 1);
        add_stack_to_rest(g);
      } else {
        uint64_t offset = local - r->clock;
        bool known = offset >= r->len;
        yresolved rs;
        int64_t missing = -1;
        if (r->kind == YREC_ITEM)
          missing = known ? yitem_known_missing(doc, r) : yitem_get_missing(doc, r, &rs);
        if (missing >= 0) {
          YJS_GROW(g->stack, g->stack_cap, g->nstack + 1);
          g->stack[g->nstack++] = head;
          crefs *m = refs_get(g, (uint64_t)missing);
          if (!m || m->i >= m->end) {
            update_missing(g, (uint64_t)missing, ystore_state(doc, (uint64_t)missing));
            add_stack_to_rest(g);
          } else {
            head = m->i++;
            continue;
          }
        } else if (known) {
          /* already there: skipped */
        } else if (r->kind == YREC_GC) {
          ydoc_integrate_gc(doc, r->client, r->clock + offset, r->len - offset);
        } else {
          yrec t = *r;
          if (offset > 0) {
            yrec_slice(&t, offset);
            yjs_id prev = {t.client, t.clock - 1};
            rs.left = ystore_get_clean_end(doc, prev);
            /* yjs keeps the parent resolved above even when this predecessor lives in another
             * type (possible only with inconsistent input). The item would then sit in one
             * type's list with another type as parent, and collecting that parent would leave
             * it dangling, so follow the predecessor instead (and never link after a GC). */
            if (rs.left->kind == YC_GC) {
              rs.parent = NULL; /* as getMissing does for a GC neighbour */
            } else if (rs.parent) {
              rs.parent = rs.left->parent;
              rs.sub = rs.left->sub;
            }
          }
          yitem_integrate(doc, &t, &rs);
        }
      }
    }
    if (g->nstack > 0) {
      head = g->stack[--g->nstack];
    } else if (cur && !cur->gone && cur->i < cur->end) {
      head = cur->i++;
    } else {
      cur = next_target(g);
      if (!cur) break;
      head = cur->i++;
    }
  }
}

/* Encode the records left over as an update (writeClientsStructs: clients descending). */
static void encode_rest(integ *g, ybuf *out) {
  if (g->nrest > 1) qsort(g->rest, g->nrest, sizeof(*g->rest), rest_cmp);
  ygroupw w;
  memset(&w, 0, sizeof(w));
  for (size_t i = 0; i < g->nrest; i++)
    for (size_t k = g->rest[i].from; k < g->rest[i].to; k++) ygroupw_rec(&w, &g->u->recs[k], 0);
  ygroupw_finish(&w, out);
  ygroupw_free(&w);
  ybuf_var_uint(out, 0); /* empty delete set */
}

/* --- readUpdate ------------------------------------------------------------------------------ */
static void pending_set_missing(yjs_doc *doc, const yjs_id *m, size_t n, bool replace) {
  if (replace) doc->nmissing = 0;
  if (!n) return;
  YJS_GROW(doc->missing, doc->mcap, doc->nmissing + n);
  memcpy(doc->missing + doc->nmissing, m, n * sizeof(*m));
  doc->nmissing = ids_min_per_client(doc->missing, doc->nmissing + n);
}

/* Apply a decoded update inside the running transaction. */
void ydoc_read_update(yjs_doc *doc, const yupdate *u) {
  integ g;
  memset(&g, 0, sizeof(g));
  g.doc = doc;
  g.u = u;
  integrate_structs(&g);
  bool retry = false;
  ybuf rest = {0};
  if (g.nrest) encode_rest(&g, &rest);
  if (doc->pending) {
    for (size_t i = 0; i < doc->nmissing; i++)
      if (doc->missing[i].clock < ystore_state(doc, doc->missing[i].client)) {
        retry = true;
        break;
      }
    if (g.nrest) {
      pending_set_missing(doc, g.missing, g.nmissing, false);
      const uint8_t *ins[2] = {doc->pending, rest.data};
      size_t lens[2] = {doc->pending_len, rest.len};
      ybuf merged = {0};
      yjs__merge(ins, lens, 2, &merged, NULL); /* inputs are our own encodings */
      free(doc->pending);
      doc->pending = ybuf_take(&merged, &doc->pending_len);
    }
  } else if (g.nrest) {
    doc->pending = ybuf_take(&rest, &doc->pending_len);
    pending_set_missing(doc, g.missing, g.nmissing, true);
  }
  ybuf_free(&rest);
  free(g.refs);
  free(g.stack);
  free(g.rest);
  free(g.missing);

  /* deletions: this update's, then the pending ones */
  yds ds_rest = {0};
  ydoc_apply_delete_set(doc, &u->ds, &ds_rest);
  if (doc->pending_ds.n) {
    yds old = doc->pending_ds;
    memset(&doc->pending_ds, 0, sizeof(doc->pending_ds));
    ydoc_apply_delete_set(doc, &old, &ds_rest);
    yds_free(&old);
  }
  yds_sort_merge(&ds_rest);
  yds_free(&doc->pending_ds);
  doc->pending_ds = ds_rest;

  if (retry) {
    uint8_t *p = doc->pending;
    size_t plen = doc->pending_len;
    doc->pending = NULL;
    doc->pending_len = 0;
    doc->nmissing = 0;
    yupdate pu;
    if (!yupdate_decode(&pu, p, plen, true, NULL)) {
      ydoc_read_update(doc, &pu);
      yupdate_free(&pu);
    }
    free(p);
  }
}
