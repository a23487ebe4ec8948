/* Applying updates to a document: transactions, YATA integration, deletion, pending structs and
 * pending deletions, garbage collection and merging of adjacent structs.
 *
 * This follows yjs 13.6 (src/utils/encoding.js readUpdateV2 / integrateStructs, src/structs/
 * Item.js getMissing / integrate / delete / gc, src/utils/Transaction.js cleanup) step by step,
 * because the resulting struct boundaries are visible in encoded state and must agree with yjs.
 *
 * Atomicity: the update is decoded and validated completely (update.c) before the first struct
 * is integrated. Every later step works on validated records and cannot fail, so a rejected
 * update leaves the document untouched. (Out of memory aborts; it never half-applies.)
 *
 * Recursion: deleting or collecting a nested type walks its children with explicit work lists,
 * so a deeply nested document cannot overflow the C stack. */
#include "yjs/internal.h"

#include <stdlib.h>

/* --- document lifetime ------------------------------------------------------------------------ */
yjs_doc *yjs_doc_new(unsigned flags) {
  yjs_doc *doc = calloc(1, sizeof(*doc));
  if (!doc) return NULL;
  doc->gc = !(flags & YJS_DOC_NO_GC);
  return doc;
}

int yjs_doc_has_pending(const yjs_doc *doc) {
  return doc && (doc->pending != NULL || doc->pending_ds.n > 0);
}

void ydoc_free_pending(yjs_doc *doc) {
  free(doc->pending);
  doc->pending = NULL;
  doc->pending_len = 0;
  doc->nmissing = 0;
}

void yjs_doc_free(yjs_doc *doc) {
  if (!doc) return;
  ystore_free(doc);
  for (size_t i = 0; i < doc->nroots; i++) ytype_free(doc->roots[i]);
  free(doc->roots);
  free(doc->root_tab);
  ydoc_free_pending(doc);
  free(doc->missing);
  yds_free(&doc->pending_ds);
  yds_free(&doc->tx_ds);
  free(doc->tx_merge);
  free(doc->tx_clients);
  free(doc);
}

/* --- transaction bookkeeping ------------------------------------------------------------------ */
static void tx_touch(yjs_doc *doc, yclient *c) {
  if (c->tx_gen == doc->tx_gen) return;
  c->tx_gen = doc->tx_gen;
  c->tx_before = yclient_state(c);
  YJS_GROW(doc->tx_clients, doc->tx_clients_cap, doc->ntx_clients + 1);
  doc->tx_clients[doc->ntx_clients++] = c;
}

static uint64_t tx_before_state(const yjs_doc *doc, uint64_t client) {
  const yclient *c = ystore_client(doc, client);
  if (!c) return 0;
  return c->tx_gen == doc->tx_gen ? c->tx_before : yclient_state(c);
}

static void tx_merge_add(yjs_doc *doc, const yblock *b) {
  YJS_GROW(doc->tx_merge, doc->tx_merge_cap, doc->ntx_merge + 1);
  doc->tx_merge[doc->ntx_merge].client = b->client;
  doc->tx_merge[doc->ntx_merge].clock = b->clock;
  doc->ntx_merge++;
}

/* --- lookups (StructStore.js) ----------------------------------------------------------------- */
static yblock *get_item(const yjs_doc *doc, yjs_id id) {
  const yclient *c = ystore_client(doc, id.client);
  if (!c || id.clock >= yclient_state(c)) return NULL;
  return c->blocks[yclient_find(c, id.clock)];
}

/* The block starting at id (split if needed). id must be known. */
static yblock *get_clean_start(yjs_doc *doc, yjs_id id) {
  yclient *c = ystore_client(doc, id.client);
  size_t idx = yclient_find(c, id.clock);
  yblock *b = c->blocks[idx];
  if (b->clock < id.clock && b->kind != YC_GC) {
    yblock *r = yblock_split(doc, b, id.clock - b->clock);
    yclient_insert(c, idx + 1, r);
    tx_merge_add(doc, r);
    return r;
  }
  return b;
}

/* The block ending at id (split if needed). id must be known. */
static yblock *get_clean_end(yjs_doc *doc, yjs_id id) {
  yclient *c = ystore_client(doc, id.client);
  size_t idx = yclient_find(c, id.clock);
  yblock *b = c->blocks[idx];
  if (id.clock != b->clock + b->len - 1 && b->kind != YC_GC) {
    yblock *r = yblock_split(doc, b, id.clock - b->clock + 1);
    yclient_insert(c, idx + 1, r);
    tx_merge_add(doc, r);
  }
  return b;
}

/* --- deletion (Item.delete, ContentType.delete) ------------------------------------------------ */
/* Item.delete recurses through ContentType.delete, which walks the type's children (the list from
 * _start, then _map's values in the Map's insertion order): a live child is deleted (depth first,
 * before the next sibling is looked at), an already deleted one from before the transaction is
 * pushed to _mergeStructs. That push order is the order in which the cleanup tries the merges
 * (tx_cleanup walks the list from its end), and it decides which GC structs coalesce, so the
 * explicit stack below replays the recursion exactly: a child's step ("delete" or "merge") runs
 * only after everything its earlier siblings' deletions did. */
typedef struct dstep {
  yblock *b;
  bool merge; /* push b to the merge list (else: delete b) */
} dstep;

typedef struct dlist {
  dstep *v;
  size_t n, cap;
} dlist;

static void delete_child(yjs_doc *doc, dlist *work, yblock *x) {
  bool merge;
  if (!yblock_deleted(x))
    merge = false;
  else if (x->kind != YC_GC && x->clock < tx_before_state(doc, x->client))
    merge = true;
  else
    return;
  YJS_GROW(work->v, work->cap, work->n + 1);
  work->v[work->n].b = x;
  work->v[work->n].merge = merge;
  work->n++;
}

static void block_delete(yjs_doc *doc, yblock *b) {
  dlist work = {0};
  YJS_GROW(work.v, work.cap, 1);
  work.v[0].b = b;
  work.v[0].merge = false;
  work.n = 1;
  while (work.n) {
    dstep st = work.v[--work.n];
    yblock *x = st.b;
    if (st.merge) {
      tx_merge_add(doc, x);
      continue;
    }
    if (yblock_deleted(x)) continue;
    if (!x->sub && yblock_countable(x) && x->parent) x->parent->length -= x->len;
    x->flags |= YB_DELETED;
    yds_add(&doc->tx_ds, x->client, x->clock, x->len);
    if (x->kind == YC_TYPE && x->c.type) {
      ytype *t = x->c.type;
      size_t mark = work.n;
      for (yblock *i = t->start; i; i = i->right) delete_child(doc, &work, i);
      for (ykey *k = t->first_key; k; k = k->next)
        if (k->value) delete_child(doc, &work, k->value);
      /* the stack pops from its end: reverse so that the first child's step runs first */
      for (size_t i = mark, j = work.n ? work.n - 1 : 0; i < j; i++, j--) {
        dstep tmp = work.v[i];
        work.v[i] = work.v[j];
        work.v[j] = tmp;
      }
    }
  }
  free(work.v);
}

/* --- YATA integration (Item.integrate) --------------------------------------------------------- */

/* Scratch set for the conflict scan: block -> position in the scan. */
typedef struct scanset {
  struct {
    const yblock *b;
    size_t idx;
  } *e;
  size_t cap, n;
} scanset;

static size_t ptr_hash(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0xed5ad4bbU;
  x ^= x >> 11;
  return (size_t)x;
}

static void scanset_put(scanset *s, const yblock *b, size_t idx) {
  if ((s->n + 1) * 2 > s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 32;
    void *old = s->e;
    size_t ocap = s->cap;
    s->e = yjs__calloc(ncap, sizeof(*s->e));
    s->cap = ncap;
    s->n = 0;
    for (size_t i = 0; i < ocap; i++) {
      const yblock *ob = ((__typeof__(s->e))old)[i].b;
      if (ob) scanset_put(s, ob, ((__typeof__(s->e))old)[i].idx);
    }
    free(old);
  }
  size_t mask = s->cap - 1;
  size_t i = ptr_hash(b) & mask;
  while (s->e[i].b && s->e[i].b != b) i = (i + 1) & mask;
  if (!s->e[i].b) s->n++;
  s->e[i].b = b;
  s->e[i].idx = idx;
}

static bool scanset_get(const scanset *s, const yblock *b, size_t *idx) {
  if (!s->cap || !b) return false;
  size_t mask = s->cap - 1;
  for (size_t i = ptr_hash(b) & mask; s->e[i].b; i = (i + 1) & mask)
    if (s->e[i].b == b) {
      *idx = s->e[i].idx;
      return true;
    }
  return false;
}

static bool origin_eq(bool ha, yjs_id a, bool hb, yjs_id b) {
  if (ha != hb) return false;
  return !ha || (a.client == b.client && a.clock == b.clock);
}

static void add_struct(yjs_doc *doc, yblock *b) {
  yclient *c = ystore_client_get_or_add(doc, b->client);
  tx_touch(doc, c);
  yclient_push(c, b);
}

static void integrate_gc(yjs_doc *doc, uint64_t client, uint64_t clock, uint64_t len) {
  yblock *b = yblock_alloc(doc);
  b->client = client;
  b->clock = clock;
  b->len = len;
  b->kind = YC_GC;
  add_struct(doc, b);
}

typedef struct resolved {
  yblock *left, *right;
  ytype *parent;
  ykey *sub;
} resolved;

/* Item.integrate for a record r (already sliced if it was partially known). */
static void integrate_item(yjs_doc *doc, const yrec *r, resolved *rs) {
  ytype *parent = rs->parent;
  if (!parent) {
    integrate_gc(doc, r->client, r->clock, r->len);
    return;
  }
  yblock *left = rs->left, *right = rs->right;
  ykey *sub = rs->sub;
  bool has_origin = (r->flags & YR_ORIGIN) != 0, has_rorigin = (r->flags & YR_RORIGIN) != 0;
  if ((!left && (!right || right->left)) || (left && left->right != right)) {
    yblock *o;
    if (left)
      o = left->right;
    else if (sub) {
      o = sub->value;
      while (o && o->left) o = o->left;
    } else
      o = parent->start;
    scanset before = {0};
    size_t k = 0, conflict_start = 0;
    while (o && o != right) {
      scanset_put(&before, o, k);
      bool o_has_origin = (o->flags & YB_ORIGIN) != 0;
      size_t oi;
      if (origin_eq(has_origin, r->origin, o_has_origin, o->origin)) {
        if (o->client < r->client) {
          left = o;
          conflict_start = k + 1;
        } else if (origin_eq(has_rorigin, r->rorigin, (o->flags & YB_RORIGIN) != 0,
                             o->rorigin)) {
          break;
        }
      } else if (o_has_origin && scanset_get(&before, get_item(doc, o->origin), &oi)) {
        if (oi < conflict_start) {
          left = o;
          conflict_start = k + 1;
        }
      } else {
        break;
      }
      k++;
      o = o->right;
    }
    free(before.e);
  }
  yblock *b = yblock_alloc(doc);
  b->client = r->client;
  b->clock = r->clock;
  b->len = r->len;
  b->flags = (uint8_t)((has_origin ? YB_ORIGIN : 0) | (has_rorigin ? YB_RORIGIN : 0));
  b->origin = r->origin;
  b->rorigin = r->rorigin;
  b->parent = parent;
  b->sub = sub;
  yblock_set_content_from_rec(doc, b, r);
  b->left = left;
  if (left) {
    right = left->right;
    left->right = b;
  } else if (sub) {
    right = sub->value;
    while (right && right->left) right = right->left;
  } else {
    right = parent->start;
    parent->start = b;
  }
  b->right = right;
  if (right) {
    right->left = b;
  } else if (sub) {
    if (sub->value)
      sub->value = b;
    else
      ytype_key_first_set(parent, sub, b);
    if (left) block_delete(doc, left);
  }
  if (!sub && yblock_countable(b)) parent->length += b->len;
  add_struct(doc, b);
  if ((parent->item && yblock_deleted(parent->item)) || (sub && right)) block_delete(doc, b);
}

/* The first half of Item.getMissing: the client whose struct is missing, or -1. */
static int64_t missing_client(const yjs_doc *doc, const yrec *r) {
  if ((r->flags & YR_ORIGIN) && r->origin.client != r->client &&
      r->origin.clock >= ystore_state(doc, r->origin.client))
    return (int64_t)r->origin.client;
  if ((r->flags & YR_RORIGIN) && r->rorigin.client != r->client &&
      r->rorigin.clock >= ystore_state(doc, r->rorigin.client))
    return (int64_t)r->rorigin.client;
  if ((r->flags & YR_PARENT_ID) && r->parent_id.client != r->client &&
      r->parent_id.clock >= ystore_state(doc, r->parent_id.client))
    return (int64_t)r->parent_id.client;
  return -1;
}

/* Whether cutting b before unit d (0 < d < len) changes what it holds: only a cut between the
 * two halves of a surrogate pair does (ContentString.splice turns both into U+FFFD). */
static bool cut_changes_content(const yblock *b, uint64_t d) {
  if (b->kind != YC_STRING || b->c.bytes.n == b->len) return false; /* not text, or ASCII */
  bool mid = false;
  yjs_utf8_offset(ybytes_cptr(&b->c.bytes), b->c.bytes.n, d, &mid);
  return mid;
}

/* Item.getMissing for a struct that is already fully known: yjs calls it all the same
 * (integrateStructs calls getMissing before it looks at the offset), and its lookups of the
 * origins split the items there (getItemCleanEnd / getItemCleanStart). A missing dependency
 * makes the struct (and the rest of its client's structs) pending, as in yjs; otherwise it is
 * skipped once the splits are done. The transaction's cleanup merges those splits back, so the
 * only lasting effect is that of a cut inside a surrogate pair: both halves have become U+FFFD.
 * Only such a cut is made here (then exactly as yjs makes it, merge-back included); the others
 * would cost a split and a merge per duplicate struct for nothing. (YATA placement does not
 * depend on where an item is cut, and the neighbours of an item that has been through a
 * transaction's cleanup are no longer mergeable with it, so the merge-back has no other effect.)
 * The parent lookup (getItem) splits nothing. */
static int64_t known_missing(yjs_doc *doc, const yrec *r) {
  int64_t m = missing_client(doc, r);
  if (m >= 0) return m;
  if (r->flags & YR_ORIGIN) {
    const yblock *b = get_item(doc, r->origin);
    uint64_t d = b ? r->origin.clock - b->clock + 1 : 0;
    if (b && d < b->len && cut_changes_content(b, d)) get_clean_end(doc, r->origin);
  }
  if (r->flags & YR_RORIGIN) {
    const yblock *b = get_item(doc, r->rorigin);
    uint64_t d = b ? r->rorigin.clock - b->clock : 0;
    if (b && d > 0 && cut_changes_content(b, d)) get_clean_start(doc, r->rorigin);
  }
  return -1;
}

/* Item.getMissing: the client whose struct is missing, or -1 with the resolved neighbours. */
static int64_t get_missing(yjs_doc *doc, const yrec *r, resolved *rs) {
  memset(rs, 0, sizeof(*rs));
  int64_t m = missing_client(doc, r);
  if (m >= 0) return m;
  if (r->flags & YR_ORIGIN) rs->left = get_clean_end(doc, r->origin);
  if (r->flags & YR_RORIGIN) rs->right = get_clean_start(doc, r->rorigin);
  if ((rs->left && rs->left->kind == YC_GC) || (rs->right && rs->right->kind == YC_GC)) {
    rs->parent = NULL;
  } else if (!(r->flags & (YR_PARENT_ID | YR_PARENT_NAME))) {
    yblock *from = rs->left ? rs->left : rs->right;
    if (from) {
      rs->parent = from->parent;
      rs->sub = from->sub;
    }
  } else {
    if (r->flags & YR_PARENT_ID) {
      yblock *p = get_item(doc, r->parent_id);
      rs->parent = p && p->kind == YC_TYPE ? p->c.type : NULL;
    } else {
      rs->parent = ydoc_root(doc, r->parent_name.p, r->parent_name.n, true);
    }
    if (rs->parent && (r->flags & YR_SUB)) rs->sub = ytype_key(rs->parent, r->sub.p, r->sub.n, true);
  }
  return -1;
}

/* --- integrateStructs ----------------------------------------------------------------------- */
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
  yupdate *u;
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
  yupdate *u = g->u;
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
        resolved rs;
        int64_t missing = -1;
        if (r->kind == YREC_ITEM)
          missing = known ? known_missing(doc, r) : get_missing(doc, r, &rs);
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
          integrate_gc(doc, r->client, r->clock + offset, r->len - offset);
        } else {
          yrec t = *r;
          if (offset > 0) {
            yrec_slice(&t, offset);
            yjs_id prev = {t.client, t.clock - 1};
            rs.left = get_clean_end(doc, prev);
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
          integrate_item(doc, &t, &rs);
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

/* --- delete sets (readAndApplyDeleteSet) ------------------------------------------------------ */
static void apply_delete_set(yjs_doc *doc, const yds *ds, yds *unapplied) {
  for (size_t k = 0; k < ds->n; k++) {
    const yds_entry *e = &ds->e[k];
    if (!e->len) continue;
    yclient *c = ystore_client(doc, e->client);
    uint64_t state = yclient_state(c);
    uint64_t end = e->clock + e->len;
    if (e->clock >= state) {
      yds_add(unapplied, e->client, e->clock, e->len);
      continue;
    }
    if (state < end) yds_add(unapplied, e->client, state, end - state);
    size_t idx = yclient_find(c, e->clock);
    yblock *b = c->blocks[idx];
    if (!yblock_deleted(b) && b->clock < e->clock) {
      yblock *r = yblock_split(doc, b, e->clock - b->clock);
      yclient_insert(c, idx + 1, r);
      tx_merge_add(doc, r);
      idx++;
    }
    while (idx < c->n) {
      b = c->blocks[idx++];
      if (b->clock >= end) break;
      if (!yblock_deleted(b)) {
        if (end < b->clock + b->len) {
          yblock *r = yblock_split(doc, b, end - b->clock);
          yclient_insert(c, idx, r);
          tx_merge_add(doc, r);
        }
        block_delete(doc, b);
      }
    }
  }
}

/* --- garbage collection and merging (Transaction.js cleanup) ---------------------------------- */
static void gc_to_struct(yblock *x) {
  yblock_content_free(x);
  x->kind = YC_GC;
  x->flags = 0;
  x->left = x->right = NULL;
  x->parent = NULL;
  x->sub = NULL;
}

/* Item.gc(store, false): children of a collected type become GC structs (recursively), the item
 * itself keeps its position with ContentDeleted. */
static void gc_item(yblock *b) {
  if (b->kind == YC_TYPE && b->c.type) {
    ytype **work = NULL;
    size_t n = 0, cap = 0;
    YJS_GROW(work, cap, 1);
    work[n++] = b->c.type;
    b->c.type = NULL;
    while (n) {
      ytype *t = work[--n];
      for (yblock *x = t->start, *next; x; x = next) {
        next = x->right;
        if (x->kind == YC_TYPE && x->c.type) {
          YJS_GROW(work, cap, n + 1);
          work[n++] = x->c.type;
          x->c.type = NULL;
        }
        gc_to_struct(x);
      }
      for (size_t k = 0; k < t->kcap; k++) {
        if (!t->keys[k]) continue;
        for (yblock *x = t->keys[k]->value, *prev; x; x = prev) {
          prev = x->left;
          if (x->kind == YC_TYPE && x->c.type) {
            YJS_GROW(work, cap, n + 1);
            work[n++] = x->c.type;
            x->c.type = NULL;
          }
          gc_to_struct(x);
        }
      }
      ytype_free(t);
    }
    free(work);
  }
  yblock_content_free(b);
  b->kind = YC_DELETED;
}

static void try_gc_delete_set(yjs_doc *doc) {
  const yds *ds = &doc->tx_ds;
  for (size_t k = ds->n; k-- > 0;) {
    const yds_entry *e = &ds->e[k];
    yclient *c = ystore_client(doc, e->client);
    if (!c || e->clock >= yclient_state(c)) continue;
    uint64_t end = e->clock + e->len;
    for (size_t si = yclient_find(c, e->clock); si < c->n && c->blocks[si]->clock < end; si++) {
      yblock *b = c->blocks[si];
      if (b->kind != YC_GC && (b->flags & YB_DELETED) && b->kind != YC_DELETED) gc_item(b);
    }
  }
}

/* tryToMergeWithLefts: merge blocks[pos] into its left neighbours; returns how many merged. */
static size_t try_merge_with_lefts(yjs_doc *doc, yclient *c, size_t pos) {
  size_t i = pos;
  while (i > 0) {
    yblock *left = c->blocks[i - 1], *right = c->blocks[i];
    if (yblock_deleted(left) != yblock_deleted(right) ||
        (left->kind == YC_GC) != (right->kind == YC_GC))
      break;
    if (!yblock_merge(left, right)) break;
    if (right->kind != YC_GC && right->sub && right->sub->value == right) right->sub->value = left;
    i--;
  }
  size_t merged = pos - i;
  if (merged) {
    size_t from = pos + 1 - merged;
    for (size_t k = from; k < pos + 1; k++) {
      c->blocks[k]->right = NULL;
      yblock_release(doc, c->blocks[k]);
    }
    memmove(&c->blocks[from], &c->blocks[pos + 1], (c->n - pos - 1) * sizeof(*c->blocks));
    c->n -= merged;
  }
  return merged;
}

static void try_merge_delete_set(yjs_doc *doc) {
  const yds *ds = &doc->tx_ds;
  for (size_t k = ds->n; k-- > 0;) {
    const yds_entry *e = &ds->e[k];
    yclient *c = ystore_client(doc, e->client);
    if (!c || !c->n || e->clock >= yclient_state(c)) continue;
    size_t si = yclient_find(c, e->clock + e->len - 1) + 1;
    if (si > c->n - 1) si = c->n - 1;
    while (si > 0 && c->blocks[si]->clock >= e->clock) {
      size_t m = try_merge_with_lefts(doc, c, si);
      if (m + 1 > si) break;
      si -= 1 + m;
    }
  }
}

static void tx_cleanup(yjs_doc *doc) {
  yds_sort_merge(&doc->tx_ds);
  if (doc->gc) try_gc_delete_set(doc);
  try_merge_delete_set(doc);
  for (size_t k = 0; k < doc->ntx_clients; k++) {
    yclient *c = doc->tx_clients[k];
    uint64_t before = c->tx_before;
    if (before == yclient_state(c)) continue;
    size_t first = before ? yclient_find(c, before) : 0;
    if (first < 1) first = 1;
    for (size_t i = c->n - 1; i >= first && i < c->n;) {
      size_t m = try_merge_with_lefts(doc, c, i);
      if (i < 1 + m) break;
      i -= 1 + m;
    }
  }
  for (size_t k = doc->ntx_merge; k-- > 0;) {
    yjs_id id = doc->tx_merge[k];
    yclient *c = ystore_client(doc, id.client);
    if (!c || id.clock >= yclient_state(c)) continue;
    size_t pos = yclient_find(c, id.clock);
    if (pos + 1 < c->n && try_merge_with_lefts(doc, c, pos + 1) > 1) continue;
    if (pos > 0) try_merge_with_lefts(doc, c, pos);
  }
}

/* --- readUpdate ------------------------------------------------------------------------------- */
static void pending_set_missing(yjs_doc *doc, const yjs_id *m, size_t n, bool replace) {
  if (replace) doc->nmissing = 0;
  if (!n) return;
  YJS_GROW(doc->missing, doc->mcap, doc->nmissing + n);
  memcpy(doc->missing + doc->nmissing, m, n * sizeof(*m));
  doc->nmissing = ids_min_per_client(doc->missing, doc->nmissing + n);
}

/* Apply a decoded update inside the running transaction. */
static void read_update(yjs_doc *doc, yupdate *u) {
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
  apply_delete_set(doc, &u->ds, &ds_rest);
  if (doc->pending_ds.n) {
    yds old = doc->pending_ds;
    memset(&doc->pending_ds, 0, sizeof(doc->pending_ds));
    yds ds_rest2 = {0};
    apply_delete_set(doc, &old, &ds_rest2);
    yds_free(&old);
    for (size_t i = 0; i < ds_rest2.n; i++)
      yds_add(&ds_rest, ds_rest2.e[i].client, ds_rest2.e[i].clock, ds_rest2.e[i].len);
    yds_free(&ds_rest2);
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
      read_update(doc, &pu);
      yupdate_free(&pu);
    }
    free(p);
  }
}

static int client_desc_cmp(const void *a, const void *b) {
  uint64_t x = (*(yclient *const *)a)->client, y = (*(yclient *const *)b)->client;
  return x > y ? -1 : x < y;
}

static void write_tx_event(yjs_doc *doc, ybuf *out) {
  /* clients whose state advanced, descending, from their state before the transaction */
  yclient **cs = yjs__malloc((doc->ntx_clients ? doc->ntx_clients : 1) * sizeof(*cs));
  size_t n = 0;
  for (size_t i = 0; i < doc->ntx_clients; i++)
    if (yclient_state(doc->tx_clients[i]) != doc->tx_clients[i]->tx_before)
      cs[n++] = doc->tx_clients[i];
  if (n > 1) qsort(cs, n, sizeof(*cs), client_desc_cmp);
  ybuf_var_uint(out, n);
  for (size_t i = 0; i < n; i++) {
    yclient *c = cs[i];
    uint64_t clock = c->tx_before;
    size_t start = yclient_find(c, clock);
    ybuf_var_uint(out, c->n - start);
    ybuf_var_uint(out, c->client);
    ybuf_var_uint(out, clock);
    yblock_write(c->blocks[start], out, clock - c->blocks[start]->clock);
    for (size_t k = start + 1; k < c->n; k++) yblock_write(c->blocks[k], out, 0);
  }
  free(cs);
  yds_write(&doc->tx_ds, out);
}

static int apply(yjs_doc *doc, const uint8_t *update, size_t len, int *changed, ybuf *event,
                 yjs_error *err) {
  if (err) memset(err, 0, sizeof(*err));
  if (changed) *changed = 0;
  if (!doc || (!update && len)) {
    yjs__set_error(err, YJS_EINVAL, 0, "invalid argument");
    return YJS_EINVAL;
  }
  yupdate u;
  int rc = yupdate_decode(&u, update, len, true, err);
  if (rc) return rc;
  doc->tx_gen++;
  doc->tx_ds.n = 0;
  doc->ntx_merge = 0;
  doc->ntx_clients = 0;
  read_update(doc, &u);
  tx_cleanup(doc);
  bool advanced = false;
  for (size_t i = 0; i < doc->ntx_clients; i++)
    if (yclient_state(doc->tx_clients[i]) != doc->tx_clients[i]->tx_before) advanced = true;
  bool did = advanced || doc->tx_ds.n > 0;
  if (changed) *changed = did;
  if (event && did) write_tx_event(doc, event);
  yupdate_free(&u);
  return 0;
}

int yjs_doc_apply_update_v1(yjs_doc *doc, const uint8_t *update, size_t len, int *changed,
                            yjs_error *err) {
  return apply(doc, update, len, changed, NULL, err);
}

int yjs_doc_apply_update_v1_event(yjs_doc *doc, const uint8_t *update, size_t len,
                                  uint8_t **event, size_t *event_len, yjs_error *err) {
  if (!event || !event_len) return YJS_EINVAL;
  *event = NULL;
  *event_len = 0;
  ybuf b = {0};
  int rc = apply(doc, update, len, NULL, &b, err);
  if (!rc && b.len) *event = ybuf_take(&b, event_len);
  ybuf_free(&b);
  return rc;
}
