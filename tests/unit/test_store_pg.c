/* The PostgreSQL backend used synchronously against a real server: the cases of
 * test_store_sqlite.c (append and load order, compaction placing the state before later entries,
 * atomicity of a failed compaction alone and inside a batch, list, reopening, independent
 * documents, blobs of several MiB, argument checks, schema versions, two connections), plus what
 * only a shared server has: tables created by nodes starting at once, a compaction racing an
 * append on a second connection (both orders: the append survives, after the state), concurrent
 * appends and compactions losing nothing, a transaction aborted by a failed statement, and a
 * session killed or a server restarted between operations healing by reconnection; and the cost
 * of a commit per append.
 *
 * The server: CINDER_TEST_PG_URL, a database this test may wipe (it drops cinder's tables before
 * each case). ctest runs it through tests/unit/pg_env.sh, which starts a throwaway PostgreSQL and
 * also sets CINDER_TEST_PG_STOP / CINDER_TEST_PG_START (shell commands) for the restart case. */
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_backend.h"

static const char *pg_url;

typedef struct fixture {
  store_backend_t *b;
} fixture_t;

static void quiet(void *arg, const char *msg) {}

/* Runs SQL on a connection of its own (as another process would); returns the first value of the
 * first row as a malloc'd string (NULL when there is none). */
static char *side_query(const char *sql) {
  PGconn *c = PQconnectdb(pg_url);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("connect %s: %s", pg_url, PQerrorMessage(c));
  PQsetNoticeProcessor(c, quiet, NULL);
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  char *out = NULL;
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
    out = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return out;
}

static void side_exec(const char *sql) { free(side_query(sql)); }

static long side_long(const char *sql) {
  char *v = side_query(sql);
  long n = v ? strtol(v, NULL, 10) : -1;
  free(v);
  return n;
}

static void wipe(void) {
  side_exec("SET client_min_messages = warning;"
            "DROP TABLE IF EXISTS cinder_doc_updates, cinder_docs, cinder_meta CASCADE;"
            "DROP FUNCTION IF EXISTS refuse_bad() CASCADE;");
}

static store_backend_t *open_backend(unsigned flags) {
  char err[512];
  int code = 0;
  store_backend_t *b = store_backend_open_url(pg_url, flags, err, sizeof err, &code);
  if (!b) fail_msg("open %s: %s (%d)", pg_url, err, code);
  assert_string_equal(b->ops->name, "postgresql");
  return b;
}

static int setup(void **state) {
  wipe();
  fixture_t *f = calloc(1, sizeof *f);
  f->b = open_backend(0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->b) store_backend_close(f->b);
  free(f);
  return 0;
}

static void append_str(store_backend_t *b, const char *doc, const char *s, int64_t want_seq) {
  int64_t seq = -1;
  int rc = store_backend_append(b, doc, (const uint8_t *)s, strlen(s), &seq);
  if (rc) fail_msg("append %s: %d %s", doc, rc, store_backend_errmsg(b));
  assert_int_equal(seq, want_seq);
}

/* Loads doc and checks its entries are exactly `n` strings with the given seqs. */
static void expect_log(store_backend_t *b, const char *doc, size_t n, const char *const *strs,
                       const int64_t *seqs) {
  store_load_result_t r;
  int rc = store_backend_load(b, doc, &r);
  if (rc) fail_msg("load %s: %d %s", doc, rc, store_backend_errmsg(b));
  assert_int_equal(r.status, 0);
  assert_int_equal(r.count, n);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r.len[i], strlen(strs[i]));
    if (r.len[i]) assert_memory_equal(r.data[i], strs[i], r.len[i]);
    assert_int_equal(r.seq[i], seqs[i]);
    total += r.len[i];
  }
  assert_int_equal(r.total_bytes, total);
  assert_int_equal(r.last_seq, n ? seqs[n - 1] : 0);
  store_load_result_clear(&r);
}

/* --- the cases of the SQLite backend --------------------------------------------------------- */

static void test_append_load_order(void **state) {
  fixture_t *f = *state;
  expect_log(f->b, "doc", 0, NULL, NULL);
  const char *strs[] = {"one", "two", "three", "four", "five"};
  const int64_t seqs[] = {1, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) append_str(f->b, "doc", strs[i], i + 1);
  expect_log(f->b, "doc", 5, strs, seqs);
  int64_t seq;
  assert_int_equal(store_backend_append(f->b, "doc", NULL, 0, &seq), 0);
  assert_int_equal(seq, 6);
  const char *strs6[] = {"one", "two", "three", "four", "five", ""};
  const int64_t seqs6[] = {1, 2, 3, 4, 5, 6};
  expect_log(f->b, "doc", 6, strs6, seqs6);
  /* Binary bytes, NULs included, come back as they went. */
  const uint8_t bin[] = {0, 1, 0, 255, '\\', '\'', 0};
  assert_int_equal(store_backend_append(f->b, "bin", bin, sizeof bin, &seq), 0);
  store_load_result_t r;
  assert_int_equal(store_backend_load(f->b, "bin", &r), 0);
  assert_int_equal(r.count, 1);
  assert_int_equal(r.len[0], sizeof bin);
  assert_memory_equal(r.data[0], bin, sizeof bin);
  store_load_result_clear(&r);
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
  append_str(f->b, "doc", "u7", 7);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE7", 6, 7), 0);
  const char *b[] = {"STATE7"};
  const int64_t sb[] = {7};
  expect_log(f->b, "doc", 1, b, sb);
  append_str(f->b, "doc", "u8", 8);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE7b", 7, 7), 0);
  const char *c[] = {"STATE7b", "u8"};
  const int64_t sc[] = {7, 8};
  expect_log(f->b, "doc", 2, c, sc);
  /* A compaction past the last entry (as SQLite allows): appends go after it. */
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"S20", 3, 20), 0);
  append_str(f->b, "doc", "u21", 21);
  /* Compacting a document with no entries creates it at that position. */
  assert_int_equal(store_backend_compact(f->b, "fresh", (const uint8_t *)"S", 1, 5), 0);
  append_str(f->b, "fresh", "u6", 6);
}

/* Every insert of the bytes "BAD" fails (a trigger, set up on another connection). */
static void refuse_bad(void) {
  side_exec("CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.data = 'BAD'::bytea THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; "
            "END $$;"
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON cinder_doc_updates "
            "FOR EACH ROW EXECUTE FUNCTION refuse_bad();");
}

static void test_compact_atomic(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  append_str(f->b, "doc", "u2", 2);
  append_str(f->b, "doc", "u3", 3);
  refuse_bad();
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
  assert_non_null(strstr(store_backend_errmsg(f->b), "refused"));
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
  assert_false(store_backend_in_transaction(f->b));
  expect_log(f->b, "doc", 5, b, sb);

  /* An append refused by the trigger changes nothing either. */
  int64_t seq = 99;
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"BAD", 3, &seq), STORE_EIO);
  assert_int_equal(seq, 0);
  expect_log(f->b, "doc", 5, b, sb);
  append_str(f->b, "doc", "u6", 6);
}

static void test_failed_statement_aborts_transaction(void **state) {
  /* PostgreSQL abandons a transaction at its first failed statement (outside a savepoint): the
   * backend says so (in_transaction false), everything since begin is gone, later operations fail
   * until the caller ends the transaction, and the next begin works. */
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  refuse_bad();
  assert_int_equal(store_backend_begin(f->b), 0);
  assert_true(store_backend_in_transaction(f->b));
  append_str(f->b, "doc", "u2", 2);
  append_str(f->b, "other", "o1", 1);
  int64_t seq = 99;
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"BAD", 3, &seq), STORE_EIO);
  assert_int_equal(seq, 0);
  assert_non_null(strstr(store_backend_errmsg(f->b), "refused"));
  assert_false(store_backend_in_transaction(f->b));
  /* Nothing commits on its own inside the abandoned batch. */
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"u3", 2, &seq), STORE_EIO);
  assert_int_equal(store_backend_commit(f->b), STORE_EIO);
  const char *a[] = {"u1"};
  const int64_t sa[] = {1};
  expect_log(f->b, "doc", 1, a, sa);
  expect_log(f->b, "other", 0, NULL, NULL);
  /* The store thread's way: begin again right away (no rollback in between). */
  assert_int_equal(store_backend_begin(f->b), 0);
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"BAD", 3, &seq), STORE_EIO);
  assert_false(store_backend_in_transaction(f->b));
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u2", 2);
  assert_int_equal(store_backend_commit(f->b), 0);
  const char *b[] = {"u1", "u2"};
  const int64_t sb[] = {1, 2};
  expect_log(f->b, "doc", 2, b, sb);
  /* begin inside a live transaction is refused (as SQLite refuses it). */
  assert_int_equal(store_backend_begin(f->b), 0);
  assert_int_equal(store_backend_begin(f->b), STORE_EIO);
  assert_true(store_backend_in_transaction(f->b));
  assert_int_equal(store_backend_rollback(f->b), 0);
  assert_int_equal(store_backend_commit(f->b), STORE_EIO); /* none active */
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
  append_str(f->b, "Beta", "x", 1); /* bytewise order: upper case first, as in SQLite */
  assert_int_equal(store_backend_list(f->b, &docs, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(docs[0].name, "Beta");
  assert_string_equal(docs[1].name, "alpha");
  assert_int_equal(docs[1].entries, 3);
  assert_int_equal(docs[1].bytes, 6);
  assert_int_equal(docs[1].last_seq, 3);
  assert_string_equal(docs[2].name, "zeta");
  assert_int_equal(docs[2].entries, 1);
  assert_int_equal(docs[2].bytes, 5);
  store_doc_info_free(docs, n);
  size_t removed = 0;
  assert_int_equal(store_backend_delete(f->b, "alpha", &removed), 0);
  assert_int_equal(removed, 3);
  assert_int_equal(store_backend_delete(f->b, "alpha", &removed), 0);
  assert_int_equal(removed, 0);
  assert_int_equal(store_backend_list(f->b, &docs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(docs[1].name, "zeta");
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
  f->b = open_backend(0);
  const char *a[] = {"S2", "u3"};
  const int64_t sa[] = {2, 3};
  expect_log(f->b, "doc", 2, a, sa);
  append_str(f->b, "doc", "u4", 4);
  const char *o[] = {"x"};
  const int64_t so[] = {1};
  expect_log(f->b, "other", 1, o, so);
  store_backend_t *b2 = open_backend(STORE_OPEN_NOCREATE);
  expect_log(b2, "other", 1, o, so);
  store_backend_close(b2);
  /* Without the tables, NOCREATE fails with STORE_ENOENT and creates nothing. */
  store_backend_close(f->b);
  f->b = NULL;
  wipe();
  char err[512];
  int code = 0;
  assert_null(store_backend_open_url(pg_url, STORE_OPEN_NOCREATE, err, sizeof err, &code));
  assert_int_equal(code, STORE_ENOENT);
  assert_non_null(strstr(err, "no cinder tables"));
  assert_int_equal(side_long("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'cinder%'"), 0);
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
  append_str(f->b, "b:", "x", 1);
  append_str(f->b, "b\t\xc3\xa9", "y", 1);
  append_str(f->b, "b'; DROP TABLE cinder_docs; --", "z", 1);
  expect_log(f->b, "b", 3, b, sb);
  assert_int_equal(store_backend_delete(f->b, "b", NULL), 0);
  expect_log(f->b, "b", 0, NULL, NULL);
  expect_log(f->b, "a", 1, a, sa);
  const char *x[] = {"x"};
  const int64_t sx[] = {1};
  expect_log(f->b, "b:", 1, x, sx);
  const char *y[] = {"y"};
  expect_log(f->b, "b\t\xc3\xa9", 1, y, sx);
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
  f->b = open_backend(0);
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
}

static void test_schema_versions(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  store_backend_close(f->b);
  f->b = NULL;
  side_exec("UPDATE cinder_meta SET value = '99' WHERE key = 'schema_version'");
  char err[512];
  int code = 0;
  assert_null(store_backend_open_url(pg_url, 0, err, sizeof err, &code));
  assert_int_equal(code, STORE_ESCHEMA);
  assert_non_null(strstr(err, "99"));
  /* Nothing answers on that port (the server is elsewhere): unreachable, no password shown. */
  assert_null(store_backend_open_url("postgresql://u:s3cret-pw@127.0.0.1:1/db", 0, err, sizeof err,
                                     &code));
  assert_int_equal(code, STORE_EUNAVAIL);
  assert_null(strstr(err, "s3cret-pw"));
  assert_non_null(strstr(err, "postgresql://u:***@127.0.0.1:1/db"));
  /* A malformed URI: libpq's message never carries the password either. */
  assert_null(store_backend_open_url("postgresql://u:pw%zzsecret@127.0.0.1:1/db", 0, err,
                                     sizeof err, &code));
  assert_null(strstr(err, "secret"));
}

static void test_two_connections(void **state) {
  fixture_t *f = *state;
  store_backend_t *b2 = open_backend(0);
  for (int i = 0; i < 20; i++) {
    int64_t seq;
    store_backend_t *b = i % 2 ? b2 : f->b;
    assert_int_equal(store_backend_append(b, "doc", (const uint8_t *)"x", 1, &seq), 0);
    assert_int_equal(seq, i + 1);
  }
  store_backend_close(b2);
}

/* --- what only a shared server has ---------------------------------------------------------- */

typedef struct opener {
  pthread_t thread;
  int code;
  char err[512];
} opener_t;

static void *open_concurrently(void *arg) {
  opener_t *o = arg;
  store_backend_t *b = store_backend_open_url(pg_url, 0, o->err, sizeof o->err, &o->code);
  if (b) {
    int64_t seq;
    o->code = store_backend_append(b, "started", (const uint8_t *)"x", 1, &seq);
    store_backend_close(b);
  }
  return NULL;
}

static void test_nodes_start_at_once(void **state) {
  /* Eight processes open an empty database at once: the tables are created once, nobody fails. */
  fixture_t *f = *state;
  store_backend_close(f->b);
  f->b = NULL;
  for (int round = 0; round < 3; round++) {
    wipe();
    opener_t o[8];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 8; i++) pthread_create(&o[i].thread, NULL, open_concurrently, &o[i]);
    for (int i = 0; i < 8; i++) pthread_join(o[i].thread, NULL);
    for (int i = 0; i < 8; i++)
      if (o[i].code) fail_msg("round %d opener %d: %d %s", round, i, o[i].code, o[i].err);
    assert_int_equal(side_long("SELECT count(*) FROM cinder_doc_updates"), 8);
    assert_int_equal(side_long("SELECT max(seq) FROM cinder_doc_updates"), 8);
  }
}

typedef struct worker {
  pthread_t thread;
  store_backend_t *b;
  int rc;
  int64_t seq;
} worker_t;

static void *compact_upto_3(void *arg) {
  worker_t *w = arg;
  w->rc = store_backend_compact(w->b, "doc", (const uint8_t *)"STATE3", 6, 3);
  return NULL;
}

static void *append_u4(void *arg) {
  worker_t *w = arg;
  w->rc = store_backend_append(w->b, "doc", (const uint8_t *)"u4", 2, &w->seq);
  return NULL;
}

/* Waits (bounded) until some session waits for a lock: the racing operation has reached it. */
static void until_someone_waits(void) {
  for (int i = 0; i < 500; i++) {
    if (side_long("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") > 0)
      return;
    usleep(10000);
  }
  fail_msg("no session ever waited for a lock");
}

static void test_compaction_races_append(void **state) {
  fixture_t *f = *state;
  store_backend_t *b2 = open_backend(0);
  const char *want[] = {"STATE3", "u4"};
  const int64_t wseq[] = {3, 4};

  /* 1. Another node's append is in flight (uncommitted, seq 4) when this one compacts up to 3:
   *    the compaction waits for it, and u4 survives, after the state. */
  for (int i = 1; i <= 3; i++) {
    char s[4];
    snprintf(s, sizeof s, "u%d", i);
    append_str(f->b, "doc", s, i);
  }
  assert_int_equal(store_backend_begin(b2), 0);
  append_str(b2, "doc", "u4", 4);
  worker_t w = {.b = f->b};
  pthread_create(&w.thread, NULL, compact_upto_3, &w);
  until_someone_waits();
  assert_int_equal(store_backend_commit(b2), 0);
  pthread_join(w.thread, NULL);
  assert_int_equal(w.rc, 0);
  expect_log(f->b, "doc", 2, want, wseq);
  expect_log(b2, "doc", 2, want, wseq);

  /* 2. The other way round: the compaction is in flight when the other node appends; the append
   *    waits for it and lands after the state. */
  wipe();
  store_backend_close(f->b);
  store_backend_close(b2);
  f->b = open_backend(0);
  b2 = open_backend(0);
  for (int i = 1; i <= 3; i++) {
    char s[4];
    snprintf(s, sizeof s, "u%d", i);
    append_str(f->b, "doc", s, i);
  }
  assert_int_equal(store_backend_begin(f->b), 0);
  assert_int_equal(store_backend_compact(f->b, "doc", (const uint8_t *)"STATE3", 6, 3), 0);
  worker_t a = {.b = b2};
  pthread_create(&a.thread, NULL, append_u4, &a);
  until_someone_waits();
  assert_int_equal(store_backend_commit(f->b), 0);
  pthread_join(a.thread, NULL);
  assert_int_equal(a.rc, 0);
  assert_int_equal(a.seq, 4);
  expect_log(f->b, "doc", 2, want, wseq);
  store_backend_close(b2);
}

typedef struct appender {
  pthread_t thread;
  store_backend_t *b;
  int n, failures;
} appender_t;

static void *append_many(void *arg) {
  appender_t *a = arg;
  for (int i = 0; i < a->n; i++) {
    char s[16];
    snprintf(s, sizeof s, "a%d,", i);
    int64_t seq;
    if (i % 10 == 0) { /* some in batches, as the storage thread writes */
      if (store_backend_begin(a->b)) a->failures++;
      for (int j = 0; j < 5 && i < a->n; j++, i++) {
        snprintf(s, sizeof s, "a%d,", i);
        if (store_backend_append(a->b, "hot", (const uint8_t *)s, strlen(s), &seq)) a->failures++;
      }
      i--;
      if (store_backend_commit(a->b)) a->failures++;
    } else if (store_backend_append(a->b, "hot", (const uint8_t *)s, strlen(s), &seq)) {
      a->failures++;
    }
  }
  return NULL;
}

static void test_concurrent_compactions_lose_nothing(void **state) {
  /* One connection appends 400 tokens while another keeps compacting what it loaded into one
   * entry (the concatenation, as a merged state): every token is there exactly once at the end,
   * and sequence numbers only grow. */
  fixture_t *f = *state;
  appender_t a = {.b = open_backend(0), .n = 400};
  pthread_create(&a.thread, NULL, append_many, &a);
  int compactions = 0;
  for (int round = 0; round < 200; round++) {
    store_load_result_t r;
    assert_int_equal(store_backend_load(f->b, "hot", &r), 0);
    for (size_t i = 1; i < r.count; i++) assert_true(r.seq[i] > r.seq[i - 1]);
    if (r.count > 1) {
      size_t len = r.total_bytes;
      uint8_t *merged = malloc(len + 1);
      size_t at = 0;
      for (size_t i = 0; i < r.count; i++) {
        memcpy(merged + at, r.data[i], r.len[i]);
        at += r.len[i];
      }
      int rc = store_backend_compact(f->b, "hot", merged, len, r.last_seq);
      if (rc) fail_msg("compact: %s", store_backend_errmsg(f->b));
      compactions++;
      free(merged);
    }
    store_load_result_clear(&r);
    usleep(500);
  }
  pthread_join(a.thread, NULL);
  assert_int_equal(a.failures, 0);
  store_backend_close(a.b);
  store_load_result_t r;
  assert_int_equal(store_backend_load(f->b, "hot", &r), 0);
  char *all = calloc(1, r.total_bytes + 1);
  for (size_t i = 0, at = 0; i < r.count; at += r.len[i], i++) memcpy(all + at, r.data[i], r.len[i]);
  for (int i = 0; i < a.n; i++) {
    char tok[16];
    snprintf(tok, sizeof tok, "a%d,", i);
    const char *p = all;
    int seen = 0;
    for (size_t tl = strlen(tok); (p = strstr(p, tok)); p += tl)
      if (p == all || p[-1] == ',') seen++;
    if (seen != 1) fail_msg("token %s seen %d times after %d compactions", tok, seen, compactions);
  }
  assert_int_equal(r.last_seq, a.n);
  print_message("pg backend: %d appends raced %d compactions, nothing lost (%zu entries left)\n",
                a.n, compactions, r.count);
  free(all);
  store_load_result_clear(&r);
}

/* --- lost connections ------------------------------------------------------------------------ */

/* Ends every other session of this database (an administrator's pg_terminate_backend) and waits
 * until they are gone. */
static void kill_sessions(void) {
  side_exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

static void test_session_killed_heals(void **state) {
  fixture_t *f = *state;
  append_str(f->b, "doc", "u1", 1);
  /* Between operations: the next one reconnects before it sends anything. */
  kill_sessions();
  append_str(f->b, "doc", "u2", 2);
  kill_sessions();
  const char *a[] = {"u1", "u2"};
  const int64_t sa[] = {1, 2};
  expect_log(f->b, "doc", 2, a, sa);
  kill_sessions();
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u3", 3);
  assert_int_equal(store_backend_commit(f->b), 0);
  /* Inside a transaction: the transaction is lost (and says so); the next begin reconnects. */
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u4", 4);
  kill_sessions();
  int64_t seq;
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"u5", 2, &seq),
                   STORE_EUNAVAIL);
  assert_false(store_backend_in_transaction(f->b));
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u4b", 4);
  assert_int_equal(store_backend_commit(f->b), 0);
  const char *b[] = {"u1", "u2", "u3", "u4b"};
  const int64_t sb[] = {1, 2, 3, 4};
  expect_log(f->b, "doc", 4, b, sb);
}

static void run_cmd(const char *env) {
  const char *cmd = getenv(env);
  if (!cmd) fail_msg("%s is not set (run through tests/unit/pg_env.sh)", env);
  if (system(cmd) != 0) fail_msg("%s failed: %s", env, cmd);
}

static void test_server_restart_heals(void **state) {
  fixture_t *f = *state;
  if (!getenv("CINDER_TEST_PG_STOP")) {
    /* A server of the caller's own (CINDER_TEST_PG_URL without pg_env.sh): not ours to stop. */
    print_message("CINDER_TEST_PG_STOP unset: restart case run as a killed session only\n");
    kill_sessions();
    append_str(f->b, "doc", "u1", 1);
    return;
  }
  append_str(f->b, "doc", "u1", 1);
  /* Restarted between operations: every kind of operation heals at once. */
  run_cmd("CINDER_TEST_PG_STOP");
  run_cmd("CINDER_TEST_PG_START");
  append_str(f->b, "doc", "u2", 2);
  run_cmd("CINDER_TEST_PG_STOP");
  run_cmd("CINDER_TEST_PG_START");
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u3", 3);
  assert_int_equal(store_backend_commit(f->b), 0);
  run_cmd("CINDER_TEST_PG_STOP");
  run_cmd("CINDER_TEST_PG_START");
  const char *a[] = {"u1", "u2", "u3"};
  const int64_t sa[] = {1, 2, 3};
  expect_log(f->b, "doc", 3, a, sa);

  /* Down: operations fail with STORE_EUNAVAIL (worth retrying), quickly, and nothing is
   * half-done. */
  assert_int_equal(store_backend_begin(f->b), 0);
  append_str(f->b, "doc", "u4", 4);
  run_cmd("CINDER_TEST_PG_STOP");
  int64_t seq;
  assert_int_equal(store_backend_append(f->b, "doc", (const uint8_t *)"u5", 2, &seq),
                   STORE_EUNAVAIL);
  assert_false(store_backend_in_transaction(f->b));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(store_backend_begin(f->b), STORE_EUNAVAIL);
    store_load_result_t r;
    assert_int_equal(store_backend_load(f->b, "doc", &r), STORE_EUNAVAIL);
    assert_int_equal(r.status, STORE_EUNAVAIL);
    assert_int_equal(r.count, 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  assert_true(ms < 2000);
  /* Back: within the reconnection backoff (at most 2 s), the next operation works. */
  run_cmd("CINDER_TEST_PG_START");
  int rc = STORE_EIO;
  for (int i = 0; i < 300 && rc; i++) {
    rc = store_backend_begin(f->b);
    if (rc) usleep(10000);
  }
  if (rc) fail_msg("no reconnection: %s", store_backend_errmsg(f->b));
  append_str(f->b, "doc", "u4b", 4);
  assert_int_equal(store_backend_commit(f->b), 0);
  const char *b[] = {"u1", "u2", "u3", "u4b"};
  const int64_t sb[] = {1, 2, 3, 4};
  expect_log(f->b, "doc", 4, b, sb);
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
  print_message("pg backend, %d appends of %zu bytes: commit each %.0f/s, one commit %.0f/s\n", N,
                sizeof update, N / (t1 - t0), N / (t2 - t1));
}

int main(void) {
  pg_url = getenv("CINDER_TEST_PG_URL");
  if (!pg_url || !*pg_url) {
    fprintf(stderr, "test_store_pg: set CINDER_TEST_PG_URL, or run it through "
                    "tests/unit/pg_env.sh (ctest does)\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_append_load_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compact_keeps_later_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compact_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_statement_aborts_transaction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_docs_independent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_big_blobs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_connections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nodes_start_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_races_append, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_compactions_lose_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_killed_heals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_restart_heals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_cost, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
