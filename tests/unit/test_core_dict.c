/* dict_t (core/dict.h): the string-keyed hash table every worker uses for its topics, channels and
 * connections. Keys are (pointer, length) byte strings, copied; values belong to the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dict.h"

#define N_MANY 20000

/* Values are pointers into this array, so a value says which key it belongs to. */
static int slots[N_MANY];

static size_t key_of(char *out, size_t cap, int i) { return (size_t)snprintf(out, cap, "key:%d", i); }

static size_t count_by_iteration(const dict_t *d) {
  size_t n = 0;
  for (dict_iter_t it = dict_iter(d); dict_next(&it);) n++;
  return n;
}

static void test_empty(void **state) {
  dict_t d;
  dict_init(&d);
  assert_int_equal(d.count, 0);
  assert_null(dict_get(&d, "x", 1));
  assert_null(dict_get(&d, "", 0));
  assert_null(dict_delete(&d, "x", 1));
  assert_int_equal(count_by_iteration(&d), 0);
  dict_free(&d);
  /* dict_free leaves an empty, usable table; freeing twice is harmless. */
  assert_int_equal(d.count, 0);
  assert_null(dict_get(&d, "x", 1));
  dict_free(&d);
}

static void test_set_get_delete(void **state) {
  dict_t d;
  dict_init(&d);
  int a = 1, b = 2;
  dict_entry_t *e = dict_set(&d, "alpha", 5, &a);
  assert_non_null(e);
  assert_ptr_equal(e->value, &a);
  assert_int_equal(e->key_len, 5);
  assert_memory_equal(e->key, "alpha", 6); /* NUL-terminated copy */
  assert_true(e->hash == dict_hash("alpha", 5));
  dict_set(&d, "beta", 4, &b);
  assert_int_equal(d.count, 2);
  assert_ptr_equal(dict_get(&d, "alpha", 5), &a);
  assert_ptr_equal(dict_get(&d, "beta", 4), &b);
  /* The length is part of the key: a prefix or an extension is another key. */
  assert_null(dict_get(&d, "alph", 4));
  assert_null(dict_get(&d, "alphabet", 8));
  assert_null(dict_get(&d, "alpha", 4));

  assert_ptr_equal(dict_delete(&d, "alpha", 5), &a);
  assert_int_equal(d.count, 1);
  assert_null(dict_get(&d, "alpha", 5));
  assert_null(dict_delete(&d, "alpha", 5)); /* already gone */
  assert_null(dict_delete(&d, "gamma", 5)); /* never there */
  assert_int_equal(d.count, 1);
  assert_ptr_equal(dict_get(&d, "beta", 4), &b);
  assert_ptr_equal(dict_delete(&d, "beta", 4), &b);
  assert_int_equal(d.count, 0);
  assert_int_equal(count_by_iteration(&d), 0);
  /* A key can come back after its deletion. */
  dict_set(&d, "alpha", 5, &b);
  assert_ptr_equal(dict_get(&d, "alpha", 5), &b);
  dict_free(&d);
}

static void test_overwrite(void **state) {
  dict_t d;
  dict_init(&d);
  int a = 1, b = 2;
  dict_entry_t *e1 = dict_set(&d, "k", 1, &a);
  dict_entry_t *e2 = dict_set(&d, "k", 1, &b);
  assert_ptr_equal(e1, e2); /* same entry, value replaced */
  assert_int_equal(d.count, 1);
  assert_ptr_equal(dict_get(&d, "k", 1), &b);
  assert_int_equal(count_by_iteration(&d), 1);
  dict_set(&d, "k", 1, NULL);
  assert_int_equal(d.count, 1);
  assert_null(dict_get(&d, "k", 1));
  dict_free(&d);
}

static void test_keys_are_copied(void **state) {
  dict_t d;
  dict_init(&d);
  int a = 1;
  char key[16];
  strcpy(key, "topic:1");
  dict_set(&d, key, strlen(key), &a);
  memset(key, 'X', sizeof key - 1);
  assert_ptr_equal(dict_get(&d, "topic:1", 7), &a);
  dict_iter_t it = dict_iter(&d);
  assert_true(dict_next(&it));
  assert_string_equal(it.entry->key, "topic:1");
  dict_free(&d);
}

static void test_binary_keys(void **state) {
  dict_t d;
  dict_init(&d);
  int v[6];
  /* Keys that differ only after a NUL, a key of one NUL, the empty key, and 8-byte integers (the
   * way connection and awareness ids are stored). */
  dict_set(&d, "a\0b", 3, &v[0]);
  dict_set(&d, "a\0c", 3, &v[1]);
  dict_set(&d, "a", 1, &v[2]);
  dict_set(&d, "\0", 1, &v[3]);
  dict_set(&d, "", 0, &v[4]);
  uint64_t id = 0x0100000000000000ULL; /* mostly zero bytes */
  dict_set(&d, (const char *)&id, sizeof id, &v[5]);
  assert_int_equal(d.count, 6);
  assert_ptr_equal(dict_get(&d, "a\0b", 3), &v[0]);
  assert_ptr_equal(dict_get(&d, "a\0c", 3), &v[1]);
  assert_ptr_equal(dict_get(&d, "a", 1), &v[2]);
  assert_ptr_equal(dict_get(&d, "\0", 1), &v[3]);
  assert_ptr_equal(dict_get(&d, "", 0), &v[4]);
  assert_ptr_equal(dict_get(&d, (const char *)&id, sizeof id), &v[5]);
  assert_null(dict_get(&d, "a\0", 2));
  assert_null(dict_get(&d, "\0\0", 2));
  uint64_t other = 0x0200000000000000ULL;
  assert_null(dict_get(&d, (const char *)&other, sizeof other));

  /* Iteration gives the full key bytes and their length. */
  bool seen_ab = false;
  for (dict_iter_t it = dict_iter(&d); dict_next(&it);)
    if (it.entry->key_len == 3 && !memcmp(it.entry->key, "a\0b", 3)) {
      assert_ptr_equal(it.entry->value, &v[0]);
      seen_ab = true;
    }
  assert_true(seen_ab);

  assert_ptr_equal(dict_delete(&d, "a\0b", 3), &v[0]);
  assert_ptr_equal(dict_get(&d, "a\0c", 3), &v[1]);
  assert_ptr_equal(dict_delete(&d, "", 0), &v[4]);
  assert_ptr_equal(dict_get(&d, "\0", 1), &v[3]);
  assert_int_equal(d.count, 4);
  dict_free(&d);
}

static void test_many_keys_grow(void **state) {
  dict_t d;
  dict_init(&d);
  char key[32];
  size_t last_buckets = 0;
  int grew = 0;
  for (int i = 0; i < N_MANY; i++) {
    size_t n = key_of(key, sizeof key, i);
    dict_set(&d, key, n, &slots[i]);
    assert_int_equal(d.count, (size_t)i + 1);
    if (d.nbuckets != last_buckets) grew++, last_buckets = d.nbuckets;
    /* A power of two, never fuller than one entry per bucket on average. */
    assert_int_equal(d.nbuckets & (d.nbuckets - 1), 0);
    assert_true(d.count <= d.nbuckets);
  }
  assert_true(grew > 5);
  for (int i = 0; i < N_MANY; i++) {
    size_t n = key_of(key, sizeof key, i);
    if (dict_get(&d, key, n) != &slots[i]) fail_msg("key %d lost after growth", i);
  }
  assert_null(dict_get(&d, "key:-1", 6));
  /* Delete every third key; the rest stay reachable. */
  for (int i = 0; i < N_MANY; i += 3) {
    size_t n = key_of(key, sizeof key, i);
    assert_ptr_equal(dict_delete(&d, key, n), &slots[i]);
  }
  size_t left = N_MANY - (N_MANY + 2) / 3;
  assert_int_equal(d.count, left);
  assert_int_equal(count_by_iteration(&d), left);
  for (int i = 0; i < N_MANY; i++) {
    size_t n = key_of(key, sizeof key, i);
    void *want = i % 3 == 0 ? NULL : &slots[i];
    if (dict_get(&d, key, n) != want) fail_msg("key %d: wrong after deletions", i);
  }
  dict_free(&d);
}

static void test_iteration_visits_each_once(void **state) {
  dict_t d;
  dict_init(&d);
  char key[32];
  int n = 1000;
  for (int i = 0; i < n; i++) {
    slots[i] = 0;
    dict_set(&d, key, key_of(key, sizeof key, i), &slots[i]);
  }
  size_t visited = 0;
  for (dict_iter_t it = dict_iter(&d); dict_next(&it);) {
    int *slot = it.entry->value;
    int i = (int)(slot - slots);
    assert_true(i >= 0 && i < n);
    /* The entry's key is the one the value was stored under. */
    assert_int_equal(it.entry->key_len, key_of(key, sizeof key, i));
    assert_memory_equal(it.entry->key, key, it.entry->key_len);
    (*slot)++;
    visited++;
  }
  assert_int_equal(visited, (size_t)n);
  for (int i = 0; i < n; i++)
    if (slots[i] != 1) fail_msg("entry %d visited %d times", i, slots[i]);
  dict_free(&d);
}

/* dict.h does not promise it in words, but dict_iter_t holds the next entry before the loop body
 * runs, so deleting the current entry (it.entry) inside the loop is safe and the iteration still
 * visits every other entry exactly once. (Inserting during iteration is not: it may grow the table.)
 * This pins that behaviour down. */
static void test_delete_current_during_iteration(void **state) {
  dict_t d;
  dict_init(&d);
  char key[32];
  int n = 3000;
  for (int i = 0; i < n; i++) {
    slots[i] = 0;
    dict_set(&d, key, key_of(key, sizeof key, i), &slots[i]);
  }
  size_t visited = 0;
  for (dict_iter_t it = dict_iter(&d); dict_next(&it);) {
    int *slot = it.entry->value;
    int i = (int)(slot - slots);
    (*slot)++;
    visited++;
    if (i % 2 == 0) assert_ptr_equal(dict_delete(&d, it.entry->key, it.entry->key_len), slot);
  }
  assert_int_equal(visited, (size_t)n);
  for (int i = 0; i < n; i++)
    if (slots[i] != 1) fail_msg("entry %d visited %d times", i, slots[i]);
  assert_int_equal(d.count, (size_t)n / 2);
  for (int i = 0; i < n; i++) {
    void *want = i % 2 == 0 ? NULL : &slots[i];
    if (dict_get(&d, key, key_of(key, sizeof key, i)) != want) fail_msg("key %d wrong", i);
  }
  /* Deleting everything while iterating empties the table. */
  for (dict_iter_t it = dict_iter(&d); dict_next(&it);)
    dict_delete(&d, it.entry->key, it.entry->key_len);
  assert_int_equal(d.count, 0);
  assert_int_equal(count_by_iteration(&d), 0);
  dict_free(&d);
}

static void test_hash_is_deterministic(void **state) {
  assert_true(dict_hash("topic", 5) == dict_hash("topic", 5));
  assert_true(dict_hash("a\0b", 3) != dict_hash("a\0c", 3));
  assert_true(dict_hash("a", 1) != dict_hash("a\0", 2));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_empty),
    cmocka_unit_test(test_set_get_delete),
    cmocka_unit_test(test_overwrite),
    cmocka_unit_test(test_keys_are_copied),
    cmocka_unit_test(test_binary_keys),
    cmocka_unit_test(test_many_keys_grow),
    cmocka_unit_test(test_iteration_visits_each_once),
    cmocka_unit_test(test_delete_current_during_iteration),
    cmocka_unit_test(test_hash_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
