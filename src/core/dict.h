#ifndef CINDER_CORE_DICT_H
#define CINDER_CORE_DICT_H
/* dict_t: a string-keyed hash table with separate chaining. Keys are copied; values are the
 * caller's. Not thread-safe: each worker owns its tables (that is the point of the design). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dict_entry {
  struct dict_entry *next;
  uint64_t hash;
  void *value;
  size_t key_len;
  char key[]; /* NUL-terminated copy */
} dict_entry_t;

typedef struct dict {
  dict_entry_t **buckets;
  size_t nbuckets; /* power of two, or 0 before the first insert */
  size_t count;
} dict_t;

void dict_init(dict_t *d);
/* Frees the table and its keys; values are not touched. */
void dict_free(dict_t *d);
uint64_t dict_hash(const void *key, size_t len);
void *dict_get(const dict_t *d, const char *key, size_t len);
/* Inserts or replaces. Returns the entry. */
dict_entry_t *dict_set(dict_t *d, const char *key, size_t len, void *value);
/* Removes the key; returns its value or NULL. */
void *dict_delete(dict_t *d, const char *key, size_t len);

/* Iteration: for (dict_iter_t it = dict_iter(d); dict_next(&it);) use it.entry */
typedef struct dict_iter {
  const dict_t *d;
  size_t bucket;
  dict_entry_t *entry;
  dict_entry_t *next;
} dict_iter_t;
dict_iter_t dict_iter(const dict_t *d);
bool dict_next(dict_iter_t *it);

#endif
