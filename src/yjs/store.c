/* The struct store (yjs StructStore): per client, an array of blocks sorted by clock and
 * gap-free from clock 0. Lookup by ID is a binary search in the client's array; clients are
 * found through an open-addressing hash table on the client id.
 *
 * A clean split (getItemCleanStart / getItemCleanEnd) also puts the right part on the
 * transaction's merge list, as yjs's splitItem does: the cleanup merges the halves back unless
 * an item was inserted between them, so a split made only to look something up does not outlive
 * the transaction, and the struct boundaries stay those yjs has.
 *
 * Blocks come from slabs of fixed-size cells with a free list, so integrating an item costs no
 * malloc (single characters also keep their text inline, see ybytes). */
#include "yjs/internal.h"

#include <stdlib.h>

#define SLAB_BLOCKS 512

static void clients_insert(yclient **tab, size_t cap, yclient *c) {
  size_t mask = cap - 1;
  size_t i = ystore_client_hash(c->client) & mask;
  while (tab[i]) i = (i + 1) & mask;
  tab[i] = c;
}

yclient *ystore_client_get_or_add(yjs_doc *doc, uint64_t client) {
  yclient *c = ystore_client(doc, client);
  if (c) return c;
  if ((doc->nclients + 1) * 2 > doc->ccap) {
    size_t ncap = doc->ccap ? doc->ccap * 2 : 16;
    yclient **tab = yjs__calloc(ncap, sizeof(*tab));
    for (size_t i = 0; i < doc->ccap; i++)
      if (doc->clients[i]) clients_insert(tab, ncap, doc->clients[i]);
    free(doc->clients);
    doc->clients = tab;
    doc->ccap = ncap;
  }
  c = yjs__calloc(1, sizeof(*c));
  c->client = client;
  clients_insert(doc->clients, doc->ccap, c);
  doc->nclients++;
  return c;
}

size_t yclient_find(const yclient *c, uint64_t clock) {
  /* the last block with b->clock <= clock; fast path for the end (typing, appending) */
  size_t lo = 0, hi = c->n;
  if (c->blocks[hi - 1]->clock <= clock) return hi - 1;
  hi--;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->blocks[mid]->clock <= clock)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

void yclient_insert(yclient *c, size_t idx, yblock *b) {
  YJS_GROW(c->blocks, c->cap, c->n + 1);
  memmove(&c->blocks[idx + 1], &c->blocks[idx], (c->n - idx) * sizeof(*c->blocks));
  c->blocks[idx] = b;
  c->n++;
}

void yclient_push(yclient *c, yblock *b) {
  YJS_GROW(c->blocks, c->cap, c->n + 1);
  c->blocks[c->n++] = b;
}

yblock *ystore_split(yjs_doc *doc, yclient *c, size_t idx, uint64_t d) {
  yblock *r = yblock_split(doc, c->blocks[idx], d);
  yclient_insert(c, idx + 1, r);
  ytx_merge_add(doc, r);
  return r;
}

yblock *ystore_get_clean_start(yjs_doc *doc, yjs_id id) {
  yclient *c = ystore_client(doc, id.client);
  size_t idx = yclient_find(c, id.clock);
  yblock *b = c->blocks[idx];
  if (b->clock < id.clock && b->kind != YC_GC)
    return ystore_split(doc, c, idx, id.clock - b->clock);
  return b;
}

yblock *ystore_get_clean_end(yjs_doc *doc, yjs_id id) {
  yclient *c = ystore_client(doc, id.client);
  size_t idx = yclient_find(c, id.clock);
  yblock *b = c->blocks[idx];
  if (id.clock != b->clock + b->len - 1 && b->kind != YC_GC)
    ystore_split(doc, c, idx, id.clock - b->clock + 1);
  return b;
}

yblock *yblock_alloc(yjs_doc *doc) {
  if (!doc->free_blocks) {
    yslab *s = yjs__malloc(sizeof(*s) + SLAB_BLOCKS * sizeof(yblock));
    s->next = doc->slabs;
    doc->slabs = s;
    for (size_t i = 0; i < SLAB_BLOCKS; i++) {
      s->blocks[i].right = doc->free_blocks;
      doc->free_blocks = &s->blocks[i];
    }
  }
  yblock *b = doc->free_blocks;
  doc->free_blocks = b->right;
  memset(b, 0, sizeof(*b));
  return b;
}

void yblock_release(yjs_doc *doc, yblock *b) {
  yblock_content_free(b);
  b->kind = YC_GC;
  b->right = doc->free_blocks;
  doc->free_blocks = b;
}

void ystore_free(yjs_doc *doc) {
  for (size_t i = 0; i < doc->ccap; i++) {
    yclient *c = doc->clients[i];
    if (!c) continue;
    for (size_t k = 0; k < c->n; k++) yblock_content_free(c->blocks[k]);
    free(c->blocks);
    free(c);
  }
  free(doc->clients);
  doc->clients = NULL;
  doc->ccap = doc->nclients = 0;
  while (doc->slabs) {
    yslab *s = doc->slabs;
    doc->slabs = s->next;
    free(s);
  }
  doc->free_blocks = NULL;
}
