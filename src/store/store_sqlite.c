/* The SQLite backend: one file, <data dir>/cinder.db.
 *
 * Schema (PRAGMA user_version = 1):
 *
 *   doc_updates(doc TEXT, seq INTEGER, data BLOB, PRIMARY KEY(doc, seq)) WITHOUT ROWID
 *
 * WITHOUT ROWID clusters a document's entries together in key order, so a load is one range
 * scan and "the next seq" is one seek to the end of that range. Appends take max(seq) + 1 inside
 * the writing transaction, so two processes (the server and `cinder doc import`) never collide.
 * A compaction deletes seq <= upto and inserts the state at seq = upto, inside a savepoint: order
 * is kept, and a failure undoes the delete.
 *
 * The connection runs in WAL mode with synchronous=NORMAL: readers (the CLI) never block the
 * server and the server never blocks them; a commit appends to the WAL without an fsync (the
 * WAL is synced at checkpoints), so a power loss may lose the last commits but never corrupts the
 * file, and a process crash (kill -9) loses nothing committed. busy_timeout makes a second writer
 * wait for the lock instead of failing at once; writers start with BEGIN IMMEDIATE so the wait
 * happens there, where it is safe to wait.
 *
 * Every statement is prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reset after use.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/store_backend.h"

#define STORE_SQLITE_SCHEMA 1
#define STORE_SQLITE_BUSY_MS 5000

enum {
  Q_BEGIN,
  Q_COMMIT,
  Q_ROLLBACK,
  Q_LOAD,
  Q_MAXSEQ,
  Q_INSERT,
  Q_DELETE_UPTO,
  Q_DELETE_ALL,
  Q_LIST,
  Q_SAVEPOINT,
  Q_RELEASE,
  Q_ROLLBACK_TO,
  Q_COUNT
};

static const char *const store_sqlite_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_LOAD] = "SELECT seq, data FROM doc_updates WHERE doc = ?1 ORDER BY seq",
    [Q_MAXSEQ] = "SELECT max(seq) FROM doc_updates WHERE doc = ?1",
    [Q_INSERT] = "INSERT INTO doc_updates(doc, seq, data) VALUES (?1, ?2, ?3)",
    [Q_DELETE_UPTO] = "DELETE FROM doc_updates WHERE doc = ?1 AND seq <= ?2",
    [Q_DELETE_ALL] = "DELETE FROM doc_updates WHERE doc = ?1",
    [Q_LIST] = ("SELECT doc, count(*), sum(length(data)), max(seq) FROM doc_updates "
                "GROUP BY doc ORDER BY doc"),
    [Q_SAVEPOINT] = "SAVEPOINT store_op",
    [Q_RELEASE] = "RELEASE store_op",
    [Q_ROLLBACK_TO] = "ROLLBACK TO store_op",
};

typedef struct store_sqlite {
  store_backend_t base; /* first */
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT];
} store_sqlite_t;

static int store_sqlite_code(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW: return 0;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return STORE_EBUSY;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: return STORE_ECORRUPT;
  case SQLITE_FULL: return STORE_EFULL;
  default: return STORE_EIO;
  }
}

/* Records "<what>: <sqlite message>" and returns the STORE_E* code for rc. */
static int store_sqlite_fail(store_sqlite_t *s, int rc, const char *what) {
  snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: %s", what,
           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
  return store_sqlite_code(rc);
}

static int store_sqlite_invalid(store_sqlite_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int store_sqlite_invalid(store_sqlite_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->base.errmsg, sizeof s->base.errmsg, fmt, ap);
  va_end(ap);
  return STORE_EINVAL;
}

static void store_sqlite_done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st); /* drop pointers into the caller's buffers */
}

/* Runs a statement without result rows to completion. */
static int store_sqlite_run(store_sqlite_t *s, int q) {
  sqlite3_stmt *st = s->q[q];
  int rc = sqlite3_step(st);
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) return store_sqlite_fail(s, rc, store_sqlite_sql[q]);
  return 0;
}

static int store_sqlite_check_doc(store_sqlite_t *s, const char *doc) {
  if (!doc || !*doc) return store_sqlite_invalid(s, "empty document name");
  return 0;
}

static int store_sqlite_bind_blob(sqlite3_stmt *st, int idx, const uint8_t *data, size_t len) {
  if (len == 0) return sqlite3_bind_zeroblob(st, idx, 0);
  return sqlite3_bind_blob64(st, idx, data, (sqlite3_uint64)len, SQLITE_STATIC);
}

/* --- transactions -------------------------------------------------------------------------- */

static int store_sqlite_begin(store_backend_t *b) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  return store_sqlite_run(s, Q_BEGIN);
}

static int store_sqlite_commit(store_backend_t *b) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  return store_sqlite_run(s, Q_COMMIT);
}

static int store_sqlite_rollback(store_backend_t *b) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  if (sqlite3_get_autocommit(s->db)) return 0; /* nothing open (SQLite may have rolled back) */
  return store_sqlite_run(s, Q_ROLLBACK);
}

static bool store_sqlite_in_transaction(store_backend_t *b) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  return !sqlite3_get_autocommit(s->db);
}

/* --- operations ---------------------------------------------------------------------------- */

static int store_sqlite_load(store_backend_t *b, const char *doc, store_load_result_t *out) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  memset(out, 0, sizeof *out);
  int err = store_sqlite_check_doc(s, doc);
  if (err) return out->status = err;
  sqlite3_stmt *st = s->q[Q_LOAD];
  sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (out->count == cap) {
      cap = cap ? cap * 2 : 16;
      out->data = xrealloc(out->data, cap * sizeof *out->data);
      out->len = xrealloc(out->len, cap * sizeof *out->len);
      out->seq = xrealloc(out->seq, cap * sizeof *out->seq);
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    const void *blob = sqlite3_column_blob(st, 1);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    uint8_t *copy = NULL;
    if (n) {
      copy = xmalloc(n);
      memcpy(copy, blob, n);
    }
    out->data[out->count] = copy;
    out->len[out->count] = n;
    out->seq[out->count] = seq;
    out->count++;
    out->total_bytes += n;
    out->last_seq = seq;
  }
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) {
    err = store_sqlite_fail(s, rc, "load");
    store_load_result_clear(out);
    return out->status = err;
  }
  return 0;
}

/* The last sequence number of doc (0 if it has no entry). */
static int store_sqlite_max_seq(store_sqlite_t *s, const char *doc, int64_t *seq) {
  sqlite3_stmt *st = s->q[Q_MAXSEQ];
  sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0; /* max() of nothing is NULL -> 0 */
  store_sqlite_done(st);
  if (rc != SQLITE_ROW) return store_sqlite_fail(s, rc, "append (last seq)");
  return 0;
}

static int store_sqlite_insert(store_sqlite_t *s, const char *doc, int64_t seq,
                               const uint8_t *data, size_t len, const char *what) {
  sqlite3_stmt *st = s->q[Q_INSERT];
  sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, seq);
  int rc = store_sqlite_bind_blob(st, 3, data, len);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) return store_sqlite_fail(s, rc, what);
  return 0;
}

static int store_sqlite_append(store_backend_t *b, const char *doc, const uint8_t *data,
                               size_t len, int64_t *seq) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  *seq = 0;
  int err = store_sqlite_check_doc(s, doc);
  if (err) return err;
  /* Outside a transaction, read and insert must still be one unit (another process may append
   * between them): wrap them in a savepoint, which then is the transaction. */
  bool own = sqlite3_get_autocommit(s->db);
  if (own && (err = store_sqlite_run(s, Q_SAVEPOINT))) return err;
  int64_t last;
  err = store_sqlite_max_seq(s, doc, &last);
  if (!err) err = store_sqlite_insert(s, doc, last + 1, data, len, "append");
  if (own) {
    if (err) {
      if (!sqlite3_get_autocommit(s->db)) {
        store_sqlite_run(s, Q_ROLLBACK_TO);
        store_sqlite_run(s, Q_RELEASE);
      }
      return err;
    }
    if ((err = store_sqlite_run(s, Q_RELEASE))) return err;
  }
  if (!err) *seq = last + 1;
  return err;
}

static int store_sqlite_compact(store_backend_t *b, const char *doc, const uint8_t *state,
                                size_t len, int64_t upto_seq) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  int err = store_sqlite_check_doc(s, doc);
  if (err) return err;
  if (upto_seq < 1) return store_sqlite_invalid(s, "compact: upto seq %lld < 1", (long long)upto_seq);
  if ((err = store_sqlite_run(s, Q_SAVEPOINT))) return err;
  sqlite3_stmt *st = s->q[Q_DELETE_UPTO];
  sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, upto_seq);
  int rc = sqlite3_step(st);
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) err = store_sqlite_fail(s, rc, "compact (delete)");
  if (!err) err = store_sqlite_insert(s, doc, upto_seq, state, len, "compact (insert)");
  if (err) {
    /* Undo the delete. If SQLite already abandoned the whole transaction there is nothing left
     * to roll back to (and in_transaction() now says so). */
    if (!sqlite3_get_autocommit(s->db)) {
      store_sqlite_run(s, Q_ROLLBACK_TO);
      store_sqlite_run(s, Q_RELEASE);
    }
    return err;
  }
  return store_sqlite_run(s, Q_RELEASE);
}

static int store_sqlite_remove(store_backend_t *b, const char *doc, size_t *removed) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  if (removed) *removed = 0;
  int err = store_sqlite_check_doc(s, doc);
  if (err) return err;
  sqlite3_stmt *st = s->q[Q_DELETE_ALL];
  sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) return store_sqlite_fail(s, rc, "delete");
  if (removed) *removed = (size_t)sqlite3_changes64(s->db);
  return 0;
}

static int store_sqlite_list(store_backend_t *b, store_doc_info_t **docs, size_t *n) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  *docs = NULL;
  *n = 0;
  size_t cap = 0;
  sqlite3_stmt *st = s->q[Q_LIST];
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      *docs = xrealloc(*docs, cap * sizeof **docs);
    }
    store_doc_info_t *d = &(*docs)[(*n)++];
    const unsigned char *name = sqlite3_column_text(st, 0);
    d->name = xstrdup(name ? (const char *)name : "");
    d->entries = (size_t)sqlite3_column_int64(st, 1);
    d->bytes = (size_t)sqlite3_column_int64(st, 2);
    d->last_seq = sqlite3_column_int64(st, 3);
  }
  store_sqlite_done(st);
  if (rc != SQLITE_DONE) {
    store_doc_info_free(*docs, *n);
    *docs = NULL;
    *n = 0;
    return store_sqlite_fail(s, rc, "list");
  }
  return 0;
}

/* --- open / close -------------------------------------------------------------------------- */

static void store_sqlite_close(store_backend_t *b) {
  store_sqlite_t *s = (store_sqlite_t *)b;
  if (!s) return;
  if (s->db && !sqlite3_get_autocommit(s->db)) store_sqlite_rollback(b);
  for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->q[i]);
  sqlite3_close(s->db);
  free(s);
}

/* mkdir -p */
static int store_sqlite_mkdirs(const char *dir, char *err, size_t errlen) {
  char *path = xstrdup(dir);
  for (char *p = path + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(path);
        return STORE_EIO;
      }
      *p = c;
      if (!c) break;
    }
  }
  free(path);
  struct stat st;
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s is not a directory", dir);
    return STORE_EIO;
  }
  return 0;
}

static int store_sqlite_exec(store_sqlite_t *s, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return store_sqlite_code(rc);
  }
  return 0;
}

static int store_sqlite_pragma_int(store_sqlite_t *s, const char *sql, int64_t *out) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return store_sqlite_fail(s, rc, sql);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return store_sqlite_fail(s, rc, sql);
  return 0;
}

static int store_sqlite_schema(store_sqlite_t *s) {
  int64_t version = 0;
  int err = store_sqlite_pragma_int(s, "PRAGMA user_version", &version);
  if (err) return err;
  if (version == STORE_SQLITE_SCHEMA) return 0;
  if (version > STORE_SQLITE_SCHEMA) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg,
             "schema version %lld is newer than this cinder's (%d)", (long long)version,
             STORE_SQLITE_SCHEMA);
    return STORE_ESCHEMA;
  }
  /* Version 0: a new file (or one another process is creating right now: IMMEDIATE serialises
   * us behind it, and IF NOT EXISTS makes the second creation a no-op). */
  if ((err = store_sqlite_exec(s, "BEGIN IMMEDIATE"))) return err;
  err = store_sqlite_exec(s,
                          "CREATE TABLE IF NOT EXISTS doc_updates ("
                          "  doc TEXT NOT NULL,"
                          "  seq INTEGER NOT NULL,"
                          "  data BLOB NOT NULL,"
                          "  PRIMARY KEY (doc, seq)"
                          ") WITHOUT ROWID;"
                          "PRAGMA user_version = 1;");
  if (err) {
    store_sqlite_exec(s, "ROLLBACK");
    return err;
  }
  return store_sqlite_exec(s, "COMMIT");
}

static store_backend_t *store_sqlite_open(const char *where, unsigned flags, char *err,
                                          size_t errlen, int *code) {
  int dummy;
  if (!code) code = &dummy;
  *code = 0;
  if (!where || !*where) where = ".";
  size_t n = strlen(where) + sizeof "/cinder.db";
  char *path = xmalloc(n);
  snprintf(path, n, "%s/cinder.db", where);
  int open_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (flags & STORE_OPEN_NOCREATE) {
    struct stat st;
    if (stat(path, &st) < 0) {
      snprintf(err, errlen, "no database at %s", path);
      free(path);
      *code = STORE_ENOENT;
      return NULL;
    }
  } else {
    if ((*code = store_sqlite_mkdirs(where, err, errlen))) {
      free(path);
      return NULL;
    }
    open_flags |= SQLITE_OPEN_CREATE;
  }

  store_sqlite_t *s = xcalloc(1, sizeof *s);
  s->base.ops = &store_sqlite_backend;
  int rc = sqlite3_open_v2(path, &s->db, open_flags, NULL);
  int e = 0;
  if (rc != SQLITE_OK) e = store_sqlite_fail(s, rc, "open");
  if (!e) {
    sqlite3_busy_timeout(s->db, STORE_SQLITE_BUSY_MS);
    /* journal_mode answers with the mode now in effect. */
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal"))
          log_warn("%s: WAL mode unavailable (journal mode %s)", path, mode ? (const char *)mode : "?");
        rc = SQLITE_OK;
      }
      sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) e = store_sqlite_fail(s, rc, "PRAGMA journal_mode = WAL");
  }
  if (!e) e = store_sqlite_exec(s, "PRAGMA synchronous = NORMAL");
  if (!e) e = store_sqlite_schema(s);
  for (int i = 0; !e && i < Q_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, store_sqlite_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
                            NULL);
    if (rc != SQLITE_OK) e = store_sqlite_fail(s, rc, store_sqlite_sql[i]);
  }
  if (e) {
    snprintf(err, errlen, "%s: %s", path, s->base.errmsg);
    *code = e;
    store_sqlite_close(&s->base);
    free(path);
    return NULL;
  }
  free(path);
  return &s->base;
}

const store_backend_ops_t store_sqlite_backend = {
    .name = "sqlite",
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .in_transaction = store_sqlite_in_transaction,
    .load = store_sqlite_load,
    .append = store_sqlite_append,
    .compact = store_sqlite_compact,
    .list = store_sqlite_list,
    .remove = store_sqlite_remove,
};
