/* Shared types (yjs AbstractType): a linked list of items in document order (_start) plus, for
 * map-like use, a table key -> last item of that key's chain (_map). Root types are registered
 * by name in the document; a root's kind is unknown on the server (it is created untyped on first
 * reference, like doc.get(name) in yjs) and inferred from its content where needed (json.c). */
#include "yjs/internal.h"

#include <stdlib.h>

ytype *ytype_new(uint8_t ref, const uint8_t *name, size_t name_len) {
  ytype *t = yjs__calloc(1, sizeof(*t));
  t->ref = ref;
  if (name_len) {
    t->name = yjs__malloc(name_len);
    memcpy(t->name, name, name_len);
    t->name_len = name_len;
  }
  return t;
}

void ytype_free(ytype *t) {
  if (!t) return;
  for (size_t i = 0; i < t->kcap; i++) free(t->keys[i]);
  free(t->keys);
  free(t->name);
  free(t);
}

static uint32_t key_hash(const uint8_t *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 16777619u;
  }
  return h;
}

ykey *ytype_key(ytype *t, const uint8_t *s, size_t n, bool create) {
  uint32_t h = key_hash(s, n);
  if (t->kcap) {
    size_t mask = t->kcap - 1;
    for (size_t i = h & mask; t->keys[i]; i = (i + 1) & mask) {
      ykey *k = t->keys[i];
      if (k->hash == h && k->n == n && !memcmp(k->s, s, n)) return k;
    }
  }
  if (!create) return NULL;
  if ((t->nkeys + 1) * 2 > t->kcap) {
    size_t ncap = t->kcap ? t->kcap * 2 : 8;
    ykey **tab = yjs__calloc(ncap, sizeof(*tab));
    for (size_t i = 0; i < t->kcap; i++) {
      ykey *k = t->keys[i];
      if (!k) continue;
      size_t j = k->hash & (ncap - 1);
      while (tab[j]) j = (j + 1) & (ncap - 1);
      tab[j] = k;
    }
    free(t->keys);
    t->keys = tab;
    t->kcap = ncap;
  }
  ykey *k = yjs__malloc(sizeof(*k) + (n ? n : 1));
  k->value = NULL;
  k->next = NULL;
  k->hash = h;
  k->n = (uint32_t)n;
  if (n) memcpy(k->s, s, n);
  size_t j = h & (t->kcap - 1);
  while (t->keys[j]) j = (j + 1) & (t->kcap - 1);
  t->keys[j] = k;
  t->nkeys++;
  return k;
}

static void root_tab_put(ytype **tab, size_t cap, ytype *t) {
  size_t i = key_hash(t->name, t->name_len) & (cap - 1);
  while (tab[i]) i = (i + 1) & (cap - 1);
  tab[i] = t;
}

ytype *ydoc_root(yjs_doc *doc, const uint8_t *name, size_t n, bool create) {
  if (doc->root_tab_cap) {
    size_t mask = doc->root_tab_cap - 1;
    for (size_t i = key_hash(name, n) & mask; doc->root_tab[i]; i = (i + 1) & mask) {
      ytype *t = doc->root_tab[i];
      if (t->name_len == n && (!n || !memcmp(t->name, name, n))) return t;
    }
  }
  if (!create) return NULL;
  if ((doc->nroots + 1) * 2 > doc->root_tab_cap) {
    size_t ncap = doc->root_tab_cap ? doc->root_tab_cap * 2 : 8;
    ytype **tab = yjs__calloc(ncap, sizeof(*tab));
    for (size_t i = 0; i < doc->nroots; i++) root_tab_put(tab, ncap, doc->roots[i]);
    free(doc->root_tab);
    doc->root_tab = tab;
    doc->root_tab_cap = ncap;
  }
  YJS_GROW(doc->roots, doc->rcap, doc->nroots + 1);
  ytype *t = ytype_new(YT_ROOT, name, n);
  doc->roots[doc->nroots++] = t;
  root_tab_put(doc->root_tab, doc->root_tab_cap, t);
  return t;
}
