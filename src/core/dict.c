#include "core/dict.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void dict_init(dict_t *d) { d->buckets = NULL, d->nbuckets = 0, d->count = 0; }

void dict_free(dict_t *d) {
  for (size_t i = 0; i < d->nbuckets; i++) {
    dict_entry_t *e = d->buckets[i];
    while (e) {
      dict_entry_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(d->buckets);
  dict_init(d);
}

/* FNV-1a: short keys (topics, names), good spread, no seed needed — the tables are per worker and
 * keys come from authenticated routing, so flooding attacks are bounded by the channel limit. */
uint64_t dict_hash(const void *key, size_t len) {
  const unsigned char *p = key;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static dict_entry_t **dict_slot(const dict_t *d, const char *key, size_t len, uint64_t h) {
  dict_entry_t **pe = &d->buckets[h & (d->nbuckets - 1)];
  while (*pe && !((*pe)->hash == h && (*pe)->key_len == len && !memcmp((*pe)->key, key, len)))
    pe = &(*pe)->next;
  return pe;
}

void *dict_get(const dict_t *d, const char *key, size_t len) {
  if (!d->count) return NULL;
  dict_entry_t *e = *dict_slot(d, key, len, dict_hash(key, len));
  return e ? e->value : NULL;
}

static void dict_grow(dict_t *d) {
  size_t n = d->nbuckets ? d->nbuckets * 2 : 16;
  dict_entry_t **b = xcalloc(n, sizeof *b);
  for (size_t i = 0; i < d->nbuckets; i++) {
    dict_entry_t *e = d->buckets[i];
    while (e) {
      dict_entry_t *next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(d->buckets);
  d->buckets = b;
  d->nbuckets = n;
}

dict_entry_t *dict_set(dict_t *d, const char *key, size_t len, void *value) {
  if (d->count >= d->nbuckets) dict_grow(d);
  uint64_t h = dict_hash(key, len);
  dict_entry_t **pe = dict_slot(d, key, len, h);
  if (*pe) {
    (*pe)->value = value;
    return *pe;
  }
  dict_entry_t *e = xmalloc(sizeof *e + len + 1);
  e->next = NULL;
  e->hash = h;
  e->value = value;
  e->key_len = len;
  memcpy(e->key, key, len);
  e->key[len] = '\0';
  *pe = e;
  d->count++;
  return e;
}

void *dict_delete(dict_t *d, const char *key, size_t len) {
  if (!d->count) return NULL;
  dict_entry_t **pe = dict_slot(d, key, len, dict_hash(key, len));
  dict_entry_t *e = *pe;
  if (!e) return NULL;
  void *v = e->value;
  *pe = e->next;
  free(e);
  d->count--;
  return v;
}

dict_iter_t dict_iter(const dict_t *d) {
  dict_iter_t it = {d, 0, NULL, NULL};
  return it;
}

bool dict_next(dict_iter_t *it) {
  if (it->next) {
    it->entry = it->next;
    it->next = it->entry->next;
    return true;
  }
  while (it->bucket < it->d->nbuckets) {
    dict_entry_t *e = it->d->buckets[it->bucket++];
    if (e) {
      it->entry = e;
      it->next = e->next;
      return true;
    }
  }
  return false;
}
