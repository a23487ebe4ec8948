/* The struct side of a transaction's cleanup (yjs Transaction.js cleanupTransactions): garbage
 * collection of deleted content, then merging of adjacent structs.
 *
 * Collecting: a deleted item keeps its place but drops its content (ContentDeleted); the children
 * of a deleted type become GC structs, which hold nothing but a length. Nested types are walked
 * with an explicit work list, so a deeply nested document cannot overflow the C stack.
 *
 * Merging: splits made during the transaction (lookups, partial deletions) and the structs it
 * added are merged with their left neighbours where Item.mergeWith allows, in the order yjs tries
 * them (the delete set from its end, then each changed client from its end, then the merge list
 * from its end). That order matters: which neighbours merge decides the struct boundaries that
 * later show up in encoded state, and these must agree with yjs. */
#include "yjs/internal.h"

#include <stdlib.h>

typedef struct tlist {
  ytype **v;
  size_t n, cap;
} tlist;

/* A child of a collected type becomes a GC struct; a type it held goes onto the work list. */
static void gc_child(tlist *work, yblock *x) {
  if (x->kind == YC_TYPE && x->c.type) {
    YJS_GROW(work->v, work->cap, work->n + 1);
    work->v[work->n++] = x->c.type;
    x->c.type = NULL;
  }
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
    tlist work = {0};
    YJS_GROW(work.v, work.cap, 1);
    work.v[work.n++] = b->c.type;
    b->c.type = NULL;
    while (work.n) {
      ytype *t = work.v[--work.n];
      for (yblock *x = t->start, *next; x; x = next) {
        next = x->right;
        gc_child(&work, x);
      }
      for (size_t k = 0; k < t->kcap; k++) {
        if (!t->keys[k]) continue;
        for (yblock *x = t->keys[k]->value, *prev; x; x = prev) {
          prev = x->left;
          gc_child(&work, x);
        }
      }
      ytype_free(t);
    }
    free(work.v);
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

/* From blocks[i] leftwards, down to index first (>= 1) and while the clock is at least min_clock:
 * merge each block into its left neighbours, continuing left of what it merged into. */
static void merge_leftwards(yjs_doc *doc, yclient *c, size_t i, size_t first, uint64_t min_clock) {
  while (i >= first && c->blocks[i]->clock >= min_clock) {
    size_t m = try_merge_with_lefts(doc, c, i);
    if (i < m + 1) break;
    i -= m + 1;
  }
}

static void try_merge_delete_set(yjs_doc *doc) {
  const yds *ds = &doc->tx_ds;
  for (size_t k = ds->n; k-- > 0;) {
    const yds_entry *e = &ds->e[k];
    yclient *c = ystore_client(doc, e->client);
    if (!c || !c->n || e->clock >= yclient_state(c)) continue;
    size_t si = yclient_find(c, e->clock + e->len - 1) + 1;
    if (si > c->n - 1) si = c->n - 1;
    merge_leftwards(doc, c, si, 1, e->clock);
  }
}

void ytx_gc_and_merge(yjs_doc *doc) {
  if (doc->gc) try_gc_delete_set(doc);
  try_merge_delete_set(doc);
  for (size_t k = 0; k < doc->ntx_clients; k++) {
    yclient *c = doc->tx_clients[k];
    uint64_t before = c->tx_before;
    if (before == yclient_state(c)) continue;
    size_t first = before ? yclient_find(c, before) : 0;
    if (first < 1) first = 1;
    merge_leftwards(doc, c, c->n - 1, first, 0); /* the structs it added, from the last */
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
