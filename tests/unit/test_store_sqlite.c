/* The SQLite backend used synchronously, on a real file in a fresh temporary directory: append and
 * load order, compaction placing the state before later entries, atomicity of a compaction whose
 * insert fails (alone and inside a batch), list, reopening, independent documents, blobs of
 * several MiB, argument checks, schema versions; and the cost of a commit per append. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store_backend.h"

typedef struct fixture {
  char dir[64];
  store_backend_t *b;
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static store_backend_t *open_backend(const char *dir) {
  char err[512];
  int code = 0;
  store_backend_t *b = store_backend_open(dir, 0, err, sizeof err, &code);
  if (!b) fail_msg("open %s: %s (%d)", dir, err, code);
  return b;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/cinder-store-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  f->b = open_backend(f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->b) store_backend_close(f->b);
  nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

/* Runs SQL on a second connection to the same file (as another process would). */
static void side_exec(const char *dir, const char *sql) {
  char path[128];
  snprintf(path, sizeof path, "%s/cinder.db", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) fail_msg("%s: %s", sql, msg);
  sqlite3_close(db);
}

static void append_str(store_backend_t *b, const char *doc, const char *s, int64_t want_seq) {
  int64_t seq = -1;
  assert_int_equal(store_backend_append(b, doc, (const uint8_t *)s, strlen(s), &seq), 0);
  assert_int_equal(seq, want_seq);
}

/* Loads doc and checks its entries are exactly `n` strings with the given seqs. */
static void expect_log(store_backend_t *b, const char *doc, size_t n, const char *const *strs,
                       const int64_t *seqs) {
  store_load_result_t r;
  assert_int_equal(store_backend_load(b, doc, &r), 0);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.count, n);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r.len[i], strlen(strs[i]));
    assert_memory_equal(r.data[i], strs[i], r.len[i]);
    assert_int_equal(r.seq[i], seqs[i]);
    total += r.len[i];
  }
  assert_int_equal(r.total_bytes, total);
  assert_int_equal(r.last_seq, n ? seqs[n - 1] : 0);
  store_load_result_clear(&r);
}

static void test_append_load_order(void **state) {
  fixture_t *f = *state;
  expect_log(f->b, "doc", 0, NULL, NULL);
  const char *strs[] = {"one", "two", "three", "four", "five"};
  const int64_t seqs[] = {1, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) append_str(f->b, "doc", strs[i], i + 1);
  expect_log(f->b, "doc", 5, strs, seqs);
  /* A zero-length entry is stored and comes back as such. */
  int64_t seq;
  assert_int_equal(store_backend_append(f->b, "doc", NULL, 0, &seq), 0);
  assert_int_equal(seq, 6);
  const char *strs6[] = {"one", "two", "three", "four", "five", ""};
  const int64_t seqs6[] = {1, 2, 3, 4, 5, 6};
  expect_log(f->b, "doc", 6, strs6, seqs6);
}

static void test_compact_keeps_later_entries(void **state) {
  fixture_t *f = *state;
  for (int i = 1; i <= 6; i++) {
    char s[8];
    snprintf(s, sizeof s, "u%d", i);
    append_str(f->b, "doc", s, i);
  }
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE4", 6, 4), 0);
  const char *a[] = {"STATE4", "u5", "u6"};
  const int64_t sa[] = {4, 5, 6};
  expect_log(f->b, "doc", 3, a, sa);
  /* Appends continue after the last entry, never at a compacted position. */
  append_str(f->b, "doc", "u7", 7);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE7", 6, 7), 0);
  const char *b[] = {"STATE7"};
  const int64_t sb[] = {7};
  expect_log(f->b, "doc", 1, b, sb);
  append_str(f->b, "doc", "u8", 8);
  /* Compacting again at the same position replaces the state in place. */
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE7b", 7, 7), 0);
  const char *c[] = {"STATE7b", "u8"};
  const int64_t sc[] = {7, 8};
  expect_log(f->b, "doc", 2, c, sc);
}

static void test_compact_atomic(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  append_str(f->b, "doc", "u2", 2);
  append_str(f->b, "doc", "u3", 3);
  /* Another connection makes every insert of the bytes "BAD" fail: the compaction's delete has
   * already run when its insert fails. */
  side_exec(f->dir, "CREATE TRIGGER refuse_bad BEFORE INSERT ON doc_updates "
                    "WHEN NEW.data = CAST('BAD' AS BLOB) BEGIN SELECT RAISE(ABORT, 'refused'); END;");
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"BAD", 3, 3), STORE_EIO);
  assert_non_null(strstr(store_backend_errmsg(f->b), "refused"));
  assert_false(store_backend_in_transaction(f->b));
  const char *a[] = {"u1", "u2", "u3"};
  const int64_t sa[] = {1, 2, 3};
  expect_log(f->b, "doc", 3, a, sa);

  /* Inside a batch: the failed compaction is undone alone; the appends around it commit. */
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u4", 4);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"BAD", 3, 4), STORE_EIO);
  assert_true(store_backend_in_transaction(f->b));
  append_str(f->b, "doc", "u5", 5);
  assert_int_equal(store_backend_commit(f->b), 0);
  const char *b[] = {"u1", "u2", "u3", "u4", "u5"};
  const int64_t sb[] = {1, 2, 3, 4, 5};
  expect_log(f->b, "doc", 5, b, sb);

  /* A rolled-back batch leaves nothing. */
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u6", 6);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"S", 1, 6), 0);
  assert_int_equal(store_backend_rollback(f->b), 0);
  expect_log(f->b, "doc", 5, b, sb);

  /* An append refused by the trigger changes nothing either. */
  int64_t seq = 99;
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"BAD", 3, &seq), STORE_EIO);
  assert_int_equal(seq, 0);
  expect_log(f->b, "doc", 5, b, sb);
  append_str(f->b, "doc", "u6", 6);
}

static void test_list(void **state) {
  fixture_t *f = *state;
  store_doc_info_t *docs;
  size_t n;
  assert_int_equal(store_backend_list(f->b, &docs, &n), 0);
  assert_int_equal(n, 0);
  store_doc_info_free(docs, n);
  append_str(f->b, "zeta", "12345", 1);
  append_str(f->b, "alpha", "ab", 1);
  append_str(f->b, "alpha", "cde", 2);
  append_str(f->b, "alpha", "f", 3);
  assert_int_equal(store_backend_list(f->b, &docs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(docs[0].name, "alpha");
  assert_int_equal(docs[0].entries, 3);
  assert_int_equal(docs[0].bytes, 6);
  assert_int_equal(docs[0].last_seq, 3);
  assert_string_equal(docs[1].name, "zeta");
  assert_int_equal(docs[1].entries, 1);
  assert_int_equal(docs[1].bytes, 5);
  store_doc_info_free(docs, n);
  size_t removed = 0;
  assert_int_equal(store_backend_delete(f->b, "alpha", &removed), 0);
  assert_int_equal(removed, 3);
  assert_int_equal(store_backend_list(f->b, &docs, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(docs[0].name, "zeta");
  store_doc_info_free(docs, n);
}

static void test_reopen_keeps_everything(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  append_str(f->b, "doc", "u2", 2);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"S2", 2, 2), 0);
  append_str(f->b, "doc", "u3", 3);
  append_str(f->b, "other", "x", 1);
  store_backend_close(f->b);
  f->b = open_backend(f->dir);
  const char *a[] = {"S2", "u3"};
  const int64_t sa[] = {2, 3};
  expect_log(f->b, "doc", 2, a, sa);
  append_str(f->b, "doc", "u4", 4);
  const char *o[] = {"x"};
  const int64_t so[] = {1};
  expect_log(f->b, "other", 1, o, so);
  /* Opening without creation works on an existing database and fails where there is none. */
  char err[256];
  int code = 0;
  store_backend_t *b2 = store_backend_open(f->dir, STORE_OPEN_NOCREATE, err, sizeof err, &code);
  assert_non_null(b2);
  expect_log(b2, "other", 1, o, so);
  store_backend_close(b2);
  char missing[128];
  snprintf(missing, sizeof missing, "%s/nothing-here", f->dir);
  assert_null(store_backend_open(missing, STORE_OPEN_NOCREATE, err, sizeof err, &code));
  assert_int_equal(code, STORE_ENOENT);
  assert_int_equal(access(missing, F_OK), -1); /* and nothing was created */
}

static void test_two_docs_independent(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "a", "a1", 1);
  append_str(f->b, "b", "b1", 1);
  append_str(f->b, "a", "a2", 2);
  append_str(f->b, "b", "b2", 2);
  append_str(f->b, "b", "b3", 3);
  assert_int_equal(store_backend_compact(f->b, "a", (const uint8_t *)"SA", 2, 2), 0);
  const char *a[] = {"SA"};
  const int64_t sa[] = {2};
  expect_log(f->b, "a", 1, a, sa);
  const char *b[] = {"b1", "b2", "b3"};
  const int64_t sb[] = {1, 2, 3};
  expect_log(f->b, "b", 3, b, sb);
  /* Names that share a prefix, and names with odd bytes, stay apart. */
  append_str(f->b, "b:", "x", 1);
  append_str(f->b, "b\t\xc3\xa9", "y", 1);
  expect_log(f->b, "b", 3, b, sb);
  assert_int_equal(store_backend_delete(f->b, "b", NULL), 0);
  expect_log(f->b, "b", 0, NULL, NULL);
  expect_log(f->b, "a", 1, a, sa);
  const char *x[] = {"x"};
  const int64_t sx[] = {1};
  expect_log(f->b, "b:", 1, x, sx);
  /* A deleted document starts again at 1. */
  append_str(f->b, "b", "new", 1);
}

static void test_big_blobs(void **state) {
  fixture_t *f = *state;
  const size_t sizes[] = {3u << 20, 8u << 20, 1, 5u << 20};
  uint8_t *blobs[4];
  uint32_t x = 12345;
  for (int i = 0; i < 4; i++) {
    blobs[i] = malloc(sizes[i]);
    for (size_t j = 0; j < sizes[i]; j++) {
      x = x * 1103515245u + 12345u;
      blobs[i][j] = (uint8_t)(x >> 16);
    }
    int64_t seq;
    assert_int_equal(store_backend_append(f->b, "big", blobs[i], sizes[i], &seq), 0);
    assert_int_equal(seq, i + 1);
  }
  store_backend_close(f->b);
  f->b = open_backend(f->dir);
  store_load_result_t r;
  assert_int_equal(store_backend_load(f->b, "big", &r), 0);
  assert_int_equal(r.count, 4);
  size_t total = 0;
  for (int i = 0; i < 4; i++) {
    assert_int_equal(r.len[i], sizes[i]);
    assert_memory_equal(r.data[i], blobs[i], sizes[i]);
    total += sizes[i];
  }
  assert_int_equal(r.total_bytes, total);
  store_load_result_clear(&r);
  /* Compact into the biggest one. */
  assert_int_equal(store_backend_compact(f->b, "big", blobs[1], sizes[1], 4), 0);
  assert_int_equal(store_backend_load(f->b, "big", &r), 0);
  assert_int_equal(r.count, 1);
  assert_int_equal(r.len[0], sizes[1]);
  assert_memory_equal(r.data[0], blobs[1], sizes[1]);
  store_load_result_clear(&r);
  for (int i = 0; i < 4; i++) free(blobs[i]);
}

static void test_invalid_arguments(void **state) {
  fixture_t *f = *state;
  int64_t seq;
  assert_int_equal(store_backend_append(f->b, "", (const uint8_t *)"x", 1, &seq), STORE_EINVAL);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"x", 1, 0), STORE_EINVAL);
  assert_int_equal(store_backend_compact(f->b, "", (const uint8_t *)"x", 1, 1), STORE_EINVAL);
  store_load_result_t r;
  assert_int_equal(store_backend_load(f->b, "", &r), STORE_EINVAL);
  assert_int_equal(r.status, STORE_EINVAL);
  assert_int_equal(r.count, 0);
  assert_int_equal(store_backend_delete(f->b, "", NULL), STORE_EINVAL);
  assert_string_equal(store_strerror(STORE_EINVAL), "invalid argument");
}

static void test_schema_versions(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  store_backend_close(f->b);
  f->b = NULL;
  side_exec(f->dir, "PRAGMA user_version = 99");
  char err[256];
  int code = 0;
  assert_null(store_backend_open(f->dir, 0, err, sizeof err, &code));
  assert_int_equal(code, STORE_ESCHEMA);
  assert_non_null(strstr(err, "99"));
  /* Not a database at all. */
  char path[128];
  snprintf(path, sizeof path, "%s/junk", f->dir);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s/junk/cinder.db", f->dir);
  FILE *fp = fopen(path, "wb");
  for (int i = 0; i < 1000; i++) fputs("this is not a database ", fp);
  fclose(fp);
  snprintf(path, sizeof path, "%s/junk", f->dir);
  assert_null(store_backend_open(path, 0, err, sizeof err, &code));
  assert_int_equal(code, STORE_ECORRUPT);
}

static void test_two_connections(void **state) {
  /* The server and `cinder doc import` may write at once: sequence numbers never collide. */
  fixture_t *f = *state;
  store_backend_t *b2 = open_backend(f->dir);
  for (int i = 0; i < 20; i++) {
    int64_t seq;
    store_backend_t *b = i % 2 ? b2 : f->b;
    assert_int_equal(store_backend_append(b, "doc", (const uint8_t *)"x", 1, &seq), 0);
    assert_int_equal(seq, i + 1);
  }
  store_backend_close(b2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_commit_cost(void **state) {
  /* Measured, not asserted: a commit per append against one commit for all. */
  fixture_t *f = *state;
  enum { N = 2000 };
  uint8_t update[64];
  memset(update, 7, sizeof update);
  double t0 = now_s();
  for (int i = 0; i < N; i++) {
    int64_t seq;
    assert_int_equal(store_backend_append(f->b, "single", update, sizeof update, &seq), 0);
  }
  double t1 = now_s();
  assert_int_equal(store_backend_begin(f->b), 0);
  for (int i = 0; i < N; i++) {
    int64_t seq;
    assert_int_equal(store_backend_append(f->b, "batched", update, sizeof update, &seq), 0);
  }
  assert_int_equal(store_backend_commit(f->b), 0);
  double t2 = now_s();
  print_message("sqlite backend, %d appends of %zu bytes: commit each %.0f/s, one commit %.0f/s\n",
                N, sizeof update, N / (t1 - t0), N / (t2 - t1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_append_load_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compact_keeps_later_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compact_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_docs_independent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_big_blobs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_connections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_cost, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
