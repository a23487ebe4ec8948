#ifndef CINDER_YJS_INTERNAL_H
#define CINDER_YJS_INTERNAL_H
/* Private declarations of the Yjs engine. The nouns follow the Yjs sources (and yrs, which splits
 * the same way: block / update / transaction / gc):
 *   lib0.c          byte buffer (encoder), bounds-checked decoder, UTF-8, Any / JSON validation
 *   update.c        update v1 <-> records (yrec): the "lazy struct" model, fully validated, and
 *                   the group writer that encodes records back
 *   id_set.c        delete sets (flat ranges, sort + coalesce)
 *   state_vector.c  state vector decoding and lookup
 *   store.c         blocks (Item / GC), per-client block arrays, lookup and clean splits
 *   content.c       per-content-kind operations on blocks (split, merge, write, gc)
 *   types.c         shared types: roots, map key tables
 *   doc.c           a document's lifetime
 *   transaction.c   a transaction: begin, cleanup order, the update event, the apply entry points
 *   read_update.c   readUpdate / integrateStructs: dependency order, pending structs and deletions
 *   integrate.c     Item.getMissing and Item.integrate: the YATA walk for one struct
 *   delete.c        Item.delete and readAndApplyDeleteSet
 *   gc.c            garbage collection of deleted content and merging of adjacent structs
 *   encode_state.c  state vector and state-as-update from a document
 *   json.c          document -> JSON text (render.h: what it shares with xml_string.c)
 *   xml_string.c    XML toString() and JavaScript String() of values
 *   updates.c       merge / diff / state vector from update, without a document
 */

#include "yjs/yjs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define YJS_MAX_SAFE 9007199254740991ULL /* 2^53 - 1 */
#define YJS_MAX_DEPTH 256                /* Any / JSON nesting accepted */

/* --- allocation (abort on out of memory: the engine never half-applies for lack of memory) --- */
void *yjs__malloc(size_t n);
void *yjs__calloc(size_t n, size_t size);
void *yjs__realloc(void *p, size_t n);
/* Grow *ptr (element size sz) so that it holds at least need elements. */
void yjs__grow(void **ptr, size_t *cap, size_t need, size_t sz);
#define YJS_GROW(ptr, cap, need) yjs__grow((void **)&(ptr), &(cap), (need), sizeof(*(ptr)))

/* --- lib0 ---------------------------------------------------------------------------------- */
typedef struct ybuf {
  uint8_t *data;
  size_t len, cap;
} ybuf;

void ybuf_reserve(ybuf *b, size_t extra);
static inline void ybuf_u8(ybuf *b, uint8_t v) {
  if (b->len == b->cap) ybuf_reserve(b, 1);
  b->data[b->len++] = v;
}
void ybuf_write(ybuf *b, const void *p, size_t n);
void ybuf_var_uint(ybuf *b, uint64_t v);
void ybuf_var_bytes(ybuf *b, const void *p, size_t n); /* varUint length + bytes */
void ybuf_str(ybuf *b, const char *s);
void ybuf_free(ybuf *b);
/* Hand the bytes to the caller (NUL-terminated one past len, for text). */
uint8_t *ybuf_take(ybuf *b, size_t *len);

typedef struct yslice {
  const uint8_t *p;
  size_t n;
} yslice;

typedef struct ydec {
  const uint8_t *start, *p, *end;
} ydec;

static inline void ydec_init(ydec *d, const uint8_t *p, size_t n) {
  d->start = p;
  d->p = p;
  d->end = p + n;
}
int ydec_u8(ydec *d, uint8_t *v);
int ydec_var_uint(ydec *d, uint64_t *v);
int ydec_var_int(ydec *d, int64_t *v, bool *negative);
int ydec_bytes(ydec *d, size_t n, const uint8_t **p);
int ydec_var_bytes(ydec *d, yslice *s);
/* varString: validates UTF-8 (as TextDecoder fatal), *units = UTF-16 length (may be NULL). */
int ydec_var_string(ydec *d, yslice *s, uint64_t *units);
/* Validate and skip one Any value. */
int ydec_any(ydec *d, int depth);

/* The type tags of lib0 Any values (lib0 encoding.js writeAny): one byte, counting down from 127.
 * Any other tag makes lib0's readAny throw. */
typedef enum lib0_any_tag {
  LIB0_ANY_UINT8ARRAY = 116, /* varUint8Array */
  LIB0_ANY_ARRAY = 117,      /* varUint(count), count x Any */
  LIB0_ANY_OBJECT = 118,     /* varUint(count), count x (varString key, Any) */
  LIB0_ANY_STRING = 119,     /* varString */
  LIB0_ANY_TRUE = 120,
  LIB0_ANY_FALSE = 121,
  LIB0_ANY_BIGINT = 122,     /* 8 bytes big-endian, signed */
  LIB0_ANY_FLOAT64 = 123,    /* 8 bytes big-endian */
  LIB0_ANY_FLOAT32 = 124,    /* 4 bytes big-endian */
  LIB0_ANY_INT = 125,        /* varInt */
  LIB0_ANY_NULL = 126,
  LIB0_ANY_UNDEFINED = 127,
} lib0_any_tag;

/* Big-endian payloads of Any numbers. */
static inline uint64_t yjs_be64(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | p[i];
  return x;
}
static inline float yjs_be_f32(const uint8_t *p) {
  uint32_t x = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  float f;
  memcpy(&f, &x, 4);
  return f;
}
static inline double yjs_be_f64(const uint8_t *p) {
  uint64_t x = yjs_be64(p);
  double f;
  memcpy(&f, &x, 8);
  return f;
}

/* UTF-8 helpers. Strings held by the engine are always valid UTF-8. */
bool yjs_utf8_valid(const uint8_t *p, size_t n, uint64_t *units);
/* Byte offset of UTF-16 unit `units` in valid UTF-8 s. *mid is set when that unit boundary falls
 * inside a 4-byte sequence (between the two surrogates); the offset then points at the start of
 * that sequence. */
size_t yjs_utf8_offset(const uint8_t *s, size_t n, uint64_t units, bool *mid);
/* U+FFFD in UTF-8: what ContentString.splice leaves of a surrogate pair it cuts. */
extern const uint8_t yjs_fffd[3];
/* Validate one JSON text (JSON.parse rules). */
bool yjs_json_valid(const uint8_t *p, size_t n);
/* Skip JSON whitespace (the four characters JSON.parse allows). */
static inline const uint8_t *yjs_json_ws(const uint8_t *p, const uint8_t *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}
/* Byte order of two byte strings (a shorter prefix first). */
static inline int yslice_cmp(yslice a, yslice b) {
  size_t n = a.n < b.n ? a.n : b.n;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  if (c) return c;
  return a.n < b.n ? -1 : a.n > b.n;
}

/* Skip `count` elements in a region of concatenated Any values / varStrings that was validated
 * before; returns the remaining region. */
yslice yjs_skip_any(yslice s, uint64_t count);
yslice yjs_skip_var_strings(yslice s, uint64_t count);

void yjs__set_error(yjs_error *err, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- records: the decoded, self-contained form of a struct (Yjs's lazy struct reader) ------- */
typedef struct yjs_id {
  uint64_t client, clock;
} yjs_id;

enum { YREC_GC = 0, YREC_ITEM = 1, YREC_SKIP = 2 };
enum {
  YC_GC = 0,
  YC_DELETED = 1,
  YC_JSON = 2,
  YC_BINARY = 3,
  YC_STRING = 4,
  YC_EMBED = 5,
  YC_FORMAT = 6,
  YC_TYPE = 7,
  YC_ANY = 8,
  YC_DOC = 9,
  YC_SKIP = 10
};
enum {
  YT_ARRAY = 0,
  YT_MAP = 1,
  YT_TEXT = 2,
  YT_XML_ELEMENT = 3,
  YT_XML_FRAGMENT = 4,
  YT_XML_HOOK = 5,
  YT_XML_TEXT = 6,
  YT_ROOT = 255 /* a root type whose kind is unknown (server side) */
};

/* The info byte that opens every struct: the content ref (YC_*) in the low five bits, and for an
 * item which of origin, right origin and parentSub follow. */
enum {
  YINFO_CREF = 0x1f,    /* mask of the content ref */
  YINFO_SUB = 0x20,     /* has a parentSub (on the wire only together with parent info) */
  YINFO_RORIGIN = 0x40, /* a right origin ID follows */
  YINFO_ORIGIN = 0x80   /* an origin ID follows */
};
/* Parent info (written when neither origin is): varUint(1) + root name, or varUint(0) + ID. */
enum { YPARENT_ID = 0, YPARENT_NAME = 1 };

/* record flags */
#define YR_ORIGIN 0x01
#define YR_RORIGIN 0x02
#define YR_PARENT_NAME 0x04
#define YR_PARENT_ID 0x08
#define YR_SUB 0x10
#define YR_FFFD 0x20 /* string content: one U+FFFD precedes a */

typedef struct yrec {
  uint64_t client, clock, len;
  uint8_t kind;  /* YREC_* */
  uint8_t cref;  /* content ref for items */
  uint8_t flags; /* YR_* */
  yjs_id origin, rorigin, parent_id;
  yslice parent_name, sub;
  /* content:
   *   String: a = UTF-8 (after an optional U+FFFD, see YR_FFFD)
   *   JSON:   a = n concatenated varStrings; Any: a = n concatenated Any values
   *   Binary: a = bytes; Embed: a = JSON text; Format: a = key, b = JSON text
   *   Type:   n = type ref, a = name (XmlElement / XmlHook); Doc: a = guid, b = options Any
   *   Deleted / GC / Skip: only len */
  yslice a, b;
  uint64_t n;
} yrec;

typedef struct yds_entry {
  uint64_t client, clock, len;
} yds_entry;

/* A delete set as flat ranges; order as read or as added. */
typedef struct yds {
  yds_entry *e;
  size_t n, cap;
} yds;

typedef struct yupdate {
  yrec *recs;
  size_t nrecs, cap;
  yds ds;
} yupdate;

/* Decode a whole update v1. strict: the document reader's checks (repeated client groups,
 * references to the own client's future) in addition to the format checks. */
int yupdate_decode(yupdate *u, const uint8_t *data, size_t len, bool strict, yjs_error *err);
void yupdate_free(yupdate *u);

/* Right part of a record from unit d (0 < d < len) on: Yjs's sliceStruct. */
void yrec_slice(yrec *r, uint64_t d);

/* The group writer (Yjs's LazyStructWriter). */
typedef struct ygroupw {
  ybuf out;      /* finished groups */
  ybuf cur;      /* the group being written */
  uint64_t client, clock;
  uint64_t count;
  uint64_t ngroups;
  bool open;
} ygroupw;

void ygroupw_rec(ygroupw *w, const yrec *r, uint64_t offset);
/* Append varUint(ngroups) + groups to dst. */
void ygroupw_finish(ygroupw *w, ybuf *dst);
void ygroupw_free(ygroupw *w);

/* Write the content of a record from unit `offset` on. */
void yjs_write_rec_content(ybuf *b, const yrec *r, uint64_t offset);
/* ContentDoc options the way yjs re-creates them (update.c). */
void yjs__write_doc_opts(ybuf *b, yslice opts);

/* The start of an item written from unit `offset` on (Item.write, for a record or a block alike):
 * the info byte, the origin -- for a cut item (offset > 0) the unit just before the cut -- and the
 * right origin. `has` holds the YINFO_ORIGIN / YINFO_RORIGIN / YINFO_SUB bits of what the item
 * has; origin and rorigin are read only where their bit is set. Returns true when parent info
 * must follow (neither origin written). */
static inline bool yjs_write_item_head(ybuf *b, uint8_t cref, uint8_t has, uint64_t client,
                                       uint64_t clock, uint64_t offset, const yjs_id *origin,
                                       const yjs_id *rorigin) {
  uint8_t info = (uint8_t)(cref | has | (offset > 0 ? YINFO_ORIGIN : 0));
  ybuf_u8(b, info);
  if (info & YINFO_ORIGIN) {
    ybuf_var_uint(b, offset > 0 ? client : origin->client);
    ybuf_var_uint(b, offset > 0 ? clock + offset - 1 : origin->clock);
  }
  if (info & YINFO_RORIGIN) {
    ybuf_var_uint(b, rorigin->client);
    ybuf_var_uint(b, rorigin->clock);
  }
  return !(info & (YINFO_ORIGIN | YINFO_RORIGIN));
}

/* --- delete sets --------------------------------------------------------------------------- */
void yds_add(yds *ds, uint64_t client, uint64_t clock, uint64_t len);
void yds_free(yds *ds);
/* Sort by client descending, then clock ascending, and coalesce overlapping or touching
 * ranges (Yjs's sortAndMergeDeleteSet / mergeDeleteSets). keep_empty: zero-length ranges that
 * touch nothing survive (merge behaviour). */
void yds_sort_merge(yds *ds);
/* Write with clients descending; ranges of a client in their current order. */
void yds_write(const yds *ds, ybuf *b);
int yds_read(ydec *d, yds *ds);

/* --- state vectors ------------------------------------------------------------------------- */
typedef struct ysv {
  yjs_id *e; /* client, clock */
  size_t n, cap;
} ysv;

int ysv_decode(ysv *sv, const uint8_t *p, size_t n, yjs_error *err);
uint64_t ysv_get(const ysv *sv, uint64_t client); /* sorted by client; 0 if absent */
void ysv_free(ysv *sv);

/* --- document model ------------------------------------------------------------------------ */
struct ytype;

/* block flags */
#define YB_DELETED 0x01
#define YB_ORIGIN 0x02
#define YB_RORIGIN 0x04

/* Owned content bytes with a small inline buffer (single characters need no allocation). */
#define YBYTES_INLINE 16
typedef struct ybytes {
  union {
    uint8_t *heap;
    uint8_t inl[YBYTES_INLINE];
  } u;
  uint32_t n;
  uint32_t cap; /* 0: inline */
} ybytes;

static inline uint8_t *ybytes_ptr(ybytes *b) { return b->cap ? b->u.heap : b->u.inl; }
static inline const uint8_t *ybytes_cptr(const ybytes *b) { return b->cap ? b->u.heap : b->u.inl; }
void ybytes_set(ybytes *b, const uint8_t *p, size_t n);
void ybytes_append(ybytes *b, const uint8_t *p, size_t n);
void ybytes_free(ybytes *b);

typedef struct ykey {
  struct yblock *value; /* last item of this key's chain */
  struct ykey *next;    /* next key in _map's insertion order (ytype.first_key) */
  uint32_t hash;
  uint32_t n;
  uint8_t s[]; /* the key bytes (not NUL-terminated) */
} ykey;

/* An Item or a GC struct. GC structs use only client/clock/len/kind. */
typedef struct yblock {
  uint64_t client, clock, len;
  struct yblock *left, *right;
  struct ytype *parent;
  ykey *sub;
  yjs_id origin, rorigin;
  uint8_t kind;  /* YC_*: YC_GC for a GC struct, else the content ref */
  uint8_t flags; /* YB_* */
  uint64_t n;    /* Any / JSON: element count = len; Type: unused */
  union {
    ybytes bytes; /* String / JSON / Any / Binary / Embed / Format (key, JSON) / Doc payload */
    struct ytype *type;
  } c;
} yblock;

static inline bool yblock_deleted(const yblock *b) {
  return b->kind == YC_GC || (b->flags & YB_DELETED);
}
static inline bool yblock_countable(const yblock *b) {
  return b->kind != YC_DELETED && b->kind != YC_FORMAT && b->kind != YC_GC;
}

typedef struct ytype {
  struct yblock *item; /* NULL for a root type */
  struct yblock *start;
  uint64_t length;
  uint8_t ref; /* YT_* */
  uint8_t *name; /* root name, XmlElement node name, XmlHook name */
  size_t name_len;
  ykey **keys; /* open addressing, power of two */
  size_t nkeys, kcap;
  /* Keys in the order yjs's _map (a JS Map) iterates them: by the first _map.set, i.e. when a
   * key first gets a value (ytype_key_set). Keys created but never given a value are not in it. */
  ykey *first_key, *last_key;
} ytype;

typedef struct yclient {
  uint64_t client;
  yblock **blocks;
  size_t n, cap;
  uint64_t tx_gen, tx_before; /* clock before the running transaction */
} yclient;

typedef struct yslab {
  struct yslab *next;
  yblock blocks[];
} yslab;

struct yjs_doc {
  bool gc;
  yclient **clients; /* open addressing on client id */
  size_t nclients, ccap;
  ytype **roots; /* in creation order */
  size_t nroots, rcap;
  ytype **root_tab; /* open addressing on the name */
  size_t root_tab_cap;
  yslab *slabs;
  yblock *free_blocks; /* linked through .right */
  /* pending structs: an update v1 holding them, and the lowest clock needed per client */
  uint8_t *pending;
  size_t pending_len;
  yjs_id *missing;
  size_t nmissing, mcap;
  yds pending_ds;
  /* the running transaction */
  uint64_t tx_gen;
  yds tx_ds;
  yjs_id *tx_merge;
  size_t ntx_merge, tx_merge_cap;
  yclient **tx_clients; /* clients whose state advanced */
  size_t ntx_clients, tx_clients_cap;
};

/* store.c */
static inline size_t ystore_client_hash(uint64_t c) {
  c ^= c >> 33;
  c *= 0xff51afd7ed558ccdULL;
  c ^= c >> 33;
  return (size_t)c;
}
/* The client's entry, or NULL. Inline: integrating one struct looks clients up several times. */
static inline yclient *ystore_client(const yjs_doc *doc, uint64_t client) {
  if (!doc->ccap) return NULL;
  size_t mask = doc->ccap - 1;
  for (size_t i = ystore_client_hash(client) & mask;; i = (i + 1) & mask) {
    yclient *c = doc->clients[i];
    if (!c) return NULL;
    if (c->client == client) return c;
  }
}
yclient *ystore_client_get_or_add(yjs_doc *doc, uint64_t client);
static inline uint64_t yclient_state(const yclient *c) {
  if (!c || !c->n) return 0;
  const yblock *b = c->blocks[c->n - 1];
  return b->clock + b->len;
}
/* The next clock expected from client (0 if unknown). */
static inline uint64_t ystore_state(const yjs_doc *doc, uint64_t client) {
  return yclient_state(ystore_client(doc, client));
}
size_t yclient_find(const yclient *c, uint64_t clock); /* clock must be < state */
void yclient_insert(yclient *c, size_t idx, yblock *b);
void yclient_push(yclient *c, yblock *b);
yblock *yblock_alloc(yjs_doc *doc);
void yblock_release(yjs_doc *doc, yblock *b); /* frees content and returns it to the slab */
void ystore_free(yjs_doc *doc);

/* content.c */
/* Split b at unit d (0 < d < len): b keeps [0,d), returns the new right block (not yet in the
 * store array). Handles the surrogate-pair rule of ContentString.splice. */
yblock *yblock_split(yjs_doc *doc, yblock *b, uint64_t d);
bool yblock_merge(yblock *l, yblock *r); /* Item.mergeWith / GC.mergeWith */
void yblock_write(const yblock *b, ybuf *out, uint64_t offset);
void yblock_content_free(yblock *b);
void yblock_set_content_from_rec(yjs_doc *doc, yblock *b, const yrec *r);
/* Format content accessors */
void yblock_format_kv(const yblock *b, yslice *key, yslice *val);

/* types.c */
ytype *ytype_new(uint8_t ref, const uint8_t *name, size_t name_len);
void ytype_free(ytype *t);
ytype *ydoc_root(yjs_doc *doc, const uint8_t *name, size_t n, bool create);
ykey *ytype_key(ytype *t, const uint8_t *s, size_t n, bool create);
/* The first value of key k of t (parent._map.set of a new key): links k into insertion order. */
static inline void ytype_key_first_set(ytype *t, ykey *k, struct yblock *b) {
  k->value = b;
  k->next = NULL;
  if (t->last_key)
    t->last_key->next = k;
  else
    t->first_key = k;
  t->last_key = k;
}

/* --- the running transaction (transaction.c begins and commits it) ------------------------ */
/* Remember c's state before the transaction the first time the transaction adds to c. */
static inline void ytx_touch(yjs_doc *doc, yclient *c) {
  if (c->tx_gen == doc->tx_gen) return;
  c->tx_gen = doc->tx_gen;
  c->tx_before = yclient_state(c);
  YJS_GROW(doc->tx_clients, doc->tx_clients_cap, doc->ntx_clients + 1);
  doc->tx_clients[doc->ntx_clients++] = c;
}
/* A client's state before the transaction (transaction.beforeState). */
static inline uint64_t ytx_before_state(const yjs_doc *doc, const yclient *c) {
  if (!c) return 0;
  return c->tx_gen == doc->tx_gen ? c->tx_before : yclient_state(c);
}
/* transaction._mergeStructs.push(b): the cleanup tries to merge b with its left neighbour. */
static inline void ytx_merge_add(yjs_doc *doc, const yblock *b) {
  YJS_GROW(doc->tx_merge, doc->tx_merge_cap, doc->ntx_merge + 1);
  doc->tx_merge[doc->ntx_merge].client = b->client;
  doc->tx_merge[doc->ntx_merge].clock = b->clock;
  doc->ntx_merge++;
}

/* store.c, lookups (StructStore.js getItem, getItemCleanStart, getItemCleanEnd) */
/* The block holding id, or NULL if id is not known. */
static inline yblock *ystore_get_item(const yjs_doc *doc, yjs_id id) {
  const yclient *c = ystore_client(doc, id.client);
  if (!c || id.clock >= yclient_state(c)) return NULL;
  return c->blocks[yclient_find(c, id.clock)];
}
/* splitItem: cut c->blocks[idx] before its unit d (0 < d < len); the right part goes into the
 * array after it and onto the transaction's merge list. Returns the right part. */
yblock *ystore_split(yjs_doc *doc, yclient *c, size_t idx, uint64_t d);
/* The block starting / ending at id, split there if needed (a GC struct is never split).
 * id must be known. */
yblock *ystore_get_clean_start(yjs_doc *doc, yjs_id id);
yblock *ystore_get_clean_end(yjs_doc *doc, yjs_id id);

/* integrate.c */
/* What Item.getMissing resolves for an item: its neighbours, and its parent and key. A NULL
 * parent means the item is integrated as a GC struct. */
typedef struct yresolved {
  yblock *left, *right;
  ytype *parent;
  ykey *sub;
} yresolved;
/* Item.getMissing: the client whose struct r depends on but is missing, or -1 with rs filled. */
int64_t yitem_get_missing(yjs_doc *doc, const yrec *r, yresolved *rs);
/* Item.getMissing for a struct that is already fully known (see integrate.c). */
int64_t yitem_known_missing(yjs_doc *doc, const yrec *r);
/* Item.integrate: place r (already sliced to its unknown part) with YATA. */
void yitem_integrate(yjs_doc *doc, const yrec *r, const yresolved *rs);
/* GC.integrate: append a GC struct. */
void ydoc_integrate_gc(yjs_doc *doc, uint64_t client, uint64_t clock, uint64_t len);

/* delete.c */
void yitem_delete(yjs_doc *doc, yblock *b); /* Item.delete, nested types included */
/* readAndApplyDeleteSet: delete what ds names; what is not known yet goes to *unapplied. */
void ydoc_apply_delete_set(yjs_doc *doc, const yds *ds, yds *unapplied);

/* gc.c: the struct part of the transaction's cleanup: collect deleted content (if doc->gc), then
 * merge what can be merged. tx_ds must be sorted and coalesced. */
void ytx_gc_and_merge(yjs_doc *doc);

/* read_update.c */
void ydoc_read_update(yjs_doc *doc, const yupdate *u); /* inside the running transaction */
void ydoc_free_pending(yjs_doc *doc);

/* encode_state.c */
void ydoc_write_state(const yjs_doc *doc, const ysv *sv, ybuf *out);
/* Sort clients by id, descending (the order writers emit them in). */
void yclients_sort_desc(yclient **cs, size_t n);
/* One group of c's structs from `clock` on (which must be known): count, client, clock, structs;
 * the first struct is cut at clock if it starts before. */
void yclient_write_structs(const yclient *c, uint64_t clock, ybuf *out);

/* updates.c (shared with the document's pending logic) */
int yjs__merge(const uint8_t *const *updates, const size_t *lens, size_t n, ybuf *out,
               yjs_error *err);
int yjs__diff(const uint8_t *update, size_t len, const ysv *sv, ybuf *out, yjs_error *err);

#endif
