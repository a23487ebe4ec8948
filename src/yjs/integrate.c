/* Integrating one struct into a document: Item.getMissing (which dependency is missing, else
 * resolve neighbours and parent) and Item.integrate (YATA placement), as in yjs 13.6
 * src/structs/Item.js.
 *
 * The order of the steps and the splits they make follow yjs exactly, because the resulting
 * struct boundaries are visible in encoded state and must agree with yjs. The caller
 * (read_update.c) has validated every record before the first one is integrated, so nothing here
 * can fail.
 *
 * YATA: an item goes between its origin and its right origin. When other items already sit
 * there (concurrent inserts), the scan below walks them left to right and decides, by comparing
 * origins and client ids, which ones the new item goes after; yjs's rules make every replica
 * reach the same order whatever order the inserts arrive in. The scan remembers each item it has
 * passed (`before`, yjs's itemsBeforeOrigin / conflictingItems) with its position, so "is o's
 * origin among the items passed, and before the current conflict start" is one hash lookup. */
#include "yjs/internal.h"

#include <stdlib.h>

/* --- Item.getMissing ----------------------------------------------------------------------- */
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
int64_t yitem_known_missing(yjs_doc *doc, const yrec *r) {
  int64_t m = missing_client(doc, r);
  if (m >= 0) return m;
  if (r->flags & YR_ORIGIN) {
    const yblock *b = ystore_get_item(doc, r->origin);
    uint64_t d = b ? r->origin.clock - b->clock + 1 : 0;
    if (b && d < b->len && cut_changes_content(b, d)) ystore_get_clean_end(doc, r->origin);
  }
  if (r->flags & YR_RORIGIN) {
    const yblock *b = ystore_get_item(doc, r->rorigin);
    uint64_t d = b ? r->rorigin.clock - b->clock : 0;
    if (b && d > 0 && cut_changes_content(b, d)) ystore_get_clean_start(doc, r->rorigin);
  }
  return -1;
}

/* Item.getMissing: the client whose struct is missing, or -1 with the resolved neighbours. */
int64_t yitem_get_missing(yjs_doc *doc, const yrec *r, yresolved *rs) {
  memset(rs, 0, sizeof(*rs));
  int64_t m = missing_client(doc, r);
  if (m >= 0) return m;
  if (r->flags & YR_ORIGIN) rs->left = ystore_get_clean_end(doc, r->origin);
  if (r->flags & YR_RORIGIN) rs->right = ystore_get_clean_start(doc, r->rorigin);
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
      yblock *p = ystore_get_item(doc, r->parent_id);
      rs->parent = p && p->kind == YC_TYPE ? p->c.type : NULL;
    } else {
      rs->parent = ydoc_root(doc, r->parent_name.p, r->parent_name.n, true);
    }
    if (rs->parent && (r->flags & YR_SUB))
      rs->sub = ytype_key(rs->parent, r->sub.p, r->sub.n, true);
  }
  return -1;
}

/* --- Item.integrate (YATA) ------------------------------------------------------------------ */
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
  ytx_touch(doc, c);
  yclient_push(c, b);
}

void ydoc_integrate_gc(yjs_doc *doc, uint64_t client, uint64_t clock, uint64_t len) {
  yblock *b = yblock_alloc(doc);
  b->client = client;
  b->clock = clock;
  b->len = len;
  b->kind = YC_GC;
  add_struct(doc, b);
}

/* Item.integrate for a record r (already sliced if it was partially known). */
void yitem_integrate(yjs_doc *doc, const yrec *r, const yresolved *rs) {
  ytype *parent = rs->parent;
  if (!parent) {
    ydoc_integrate_gc(doc, r->client, r->clock, r->len);
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
      } else if (o_has_origin && scanset_get(&before, ystore_get_item(doc, o->origin), &oi)) {
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
    if (left) yitem_delete(doc, left);
  }
  if (!sub && yblock_countable(b)) parent->length += b->len;
  add_struct(doc, b);
  if ((parent->item && yblock_deleted(parent->item)) || (sub && right)) yitem_delete(doc, b);
}
