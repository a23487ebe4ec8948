/* Deletion: Item.delete (with ContentType.delete's walk over a deleted type's children) and
 * readAndApplyDeleteSet, which deletes the ranges an update names.
 *
 * Item.delete recurses through ContentType.delete, which walks the type's children (the list
 * from _start, then _map's values in the Map's insertion order): a live child is deleted (depth
 * first, before the next sibling is looked at), an already deleted one from before the
 * transaction is pushed to _mergeStructs. That push order is the order in which the cleanup tries
 * the merges (it walks the list from its end), and it decides which GC structs coalesce, so the
 * explicit stack below replays the recursion exactly: a child's step ("delete" or "merge") runs
 * only after everything its earlier siblings' deletions did. The stack, not the C stack, also
 * keeps a deeply nested document from overflowing. */
#include "yjs/internal.h"

#include <stdlib.h>

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
  else if (x->kind != YC_GC && x->clock < ytx_before_state(doc, ystore_client(doc, x->client)))
    merge = true;
  else
    return;
  YJS_GROW(work->v, work->cap, work->n + 1);
  work->v[work->n].b = x;
  work->v[work->n].merge = merge;
  work->n++;
}

void yitem_delete(yjs_doc *doc, yblock *b) {
  dlist work = {0};
  YJS_GROW(work.v, work.cap, 1);
  work.v[0].b = b;
  work.v[0].merge = false;
  work.n = 1;
  while (work.n) {
    dstep st = work.v[--work.n];
    yblock *x = st.b;
    if (st.merge) {
      ytx_merge_add(doc, x);
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

void ydoc_apply_delete_set(yjs_doc *doc, const yds *ds, yds *unapplied) {
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
      ystore_split(doc, c, idx, e->clock - b->clock);
      idx++;
    }
    while (idx < c->n) {
      b = c->blocks[idx++];
      if (b->clock >= end) break;
      if (!yblock_deleted(b)) {
        if (end < b->clock + b->len) ystore_split(doc, c, idx - 1, end - b->clock);
        yitem_delete(doc, b);
      }
    }
  }
}
