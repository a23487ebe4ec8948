/* The PostgreSQL backend: libpq, synchronous (it runs on the storage thread, or in `cinder doc`).
 *
 * `where` is a PostgreSQL URI, postgresql://user[:password]@host[:port]/database[?param=value&...]
 * (or postgres://...; any libpq URI parameter, e.g. sslmode). Unless the URI says otherwise,
 * cinder connects with connect_timeout=5, application_name=cinder, client_encoding=UTF8 and TCP
 * keepalives after 30 s idle.
 *
 * Schema (created on first use, in the first schema of the search_path; version 1):
 *
 *   cinder_meta(key text PRIMARY KEY, value text NOT NULL)       -- ('schema_version', '1')
 *   cinder_docs(name text COLLATE "C" PRIMARY KEY, last_seq bigint NOT NULL)
 *   cinder_doc_updates(doc text COLLATE "C", seq bigint, data bytea NOT NULL,
 *                      PRIMARY KEY (doc, seq))
 *
 * The reference app's idea ("yjs-writings"): a document name and its ordered binary updates, one
 * Yjs update (v1) per row. The entries are the SQLite backend's, row for row; "C" collation
 * orders names bytewise, as SQLite does. cinder_docs holds each document's sequence counter: an
 * append is ONE statement that bumps the counter (INSERT ... ON CONFLICT DO UPDATE, which locks
 * the document's counter row until the transaction ends) and inserts the entry at the new number,
 * so two writers of one document (two nodes, or a node and `cinder doc import`) queue behind each
 * other instead of colliding. The same lock makes a document's entries commit in seq order, so a
 * reader never sees a gap that fills in later: a compaction up to the last seq it loaded cannot
 * miss an entry. A missing counter row (a deleted document) restarts from the largest stored
 * seq, so a deletion racing an append never reuses a number.
 *
 * A compaction deletes seq <= upto, inserts the state at seq = upto and raises the counter to at
 * least upto, inside a savepoint (its own transaction outside a batch): entries appended
 * meanwhile, by this node or another, have seq > upto and are neither deleted nor reordered; a
 * failure undoes the delete and, inside a batch, leaves the batch alive, as in SQLite. Any other
 * failed statement aborts the transaction in PostgreSQL: the backend rolls it back at once, so
 * in_transaction() turns false and the storage thread reports the batch as lost; operations
 * before the next begin/commit/rollback then fail too instead of committing on their own.
 *
 * Tables are created in one transaction holding pg_advisory_xact_lock(STORE_PG_LOCK), with
 * CREATE TABLE IF NOT EXISTS: nodes that start at once create them once, without racing on the
 * catalog. The first start needs CREATE on that schema (PostgreSQL 15 grants it on `public` to
 * the database owner only).
 *
 * bytea and bigint travel in binary format both ways (no escaping); statements are prepared once
 * per session.
 *
 * Lost connections: a server that restarted, or ended our session, is noticed before the next
 * operation outside a transaction (the idle socket turned readable: the server's goodbye, or EOF)
 * and the session is reset there, its statements prepared again, so nothing is sent into a dead
 * connection. A connection lost inside a transaction fails that transaction (STORE_EIO,
 * in_transaction() false) and the next begin reconnects. While the server stays unreachable,
 * reconnecting is tried at most every 100 ms, doubling to 2 s; operations in between fail at once
 * with STORE_EUNAVAIL (a connect timeout would otherwise stall the storage thread on every batch).
 */
#include <limits.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/store_backend.h"

#define STORE_PG_SCHEMA 1
#define STORE_PG_LOCK "7594016485422170483" /* the advisory lock held while creating tables */
#define STORE_PG_BACKOFF_MIN_MS 100
#define STORE_PG_BACKOFF_MAX_MS 2000

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

enum { P_LOAD, P_APPEND, P_DELETE_UPTO, P_PUT_STATE, P_DELETE_ALL, P_LIST, P_COUNT };

typedef struct store_pg_stmt {
  const char *name;
  const char *sql;
  int nparams;
  Oid types[3];
} store_pg_stmt_t;

static const store_pg_stmt_t store_pg_stmts[P_COUNT] = {
    [P_LOAD] = {"cinder_load", "SELECT seq, data FROM cinder_doc_updates WHERE doc = $1 ORDER BY seq",
                1, {OID_TEXT}},
    [P_APPEND] = {"cinder_append",
                  "WITH c AS (INSERT INTO cinder_docs AS d (name, last_seq) VALUES ($1, "
                  "COALESCE((SELECT max(seq) FROM cinder_doc_updates WHERE doc = $1), 0) + 1) "
                  "ON CONFLICT (name) DO UPDATE SET last_seq = d.last_seq + 1 RETURNING last_seq) "
                  "INSERT INTO cinder_doc_updates (doc, seq, data) SELECT $1, last_seq, $2 FROM c "
                  "RETURNING seq",
                  2, {OID_TEXT, OID_BYTEA}},
    [P_DELETE_UPTO] = {"cinder_delete_upto",
                       "DELETE FROM cinder_doc_updates WHERE doc = $1 AND seq <= $2", 2,
                       {OID_TEXT, OID_INT8}},
    [P_PUT_STATE] = {"cinder_put_state",
                     "WITH c AS (INSERT INTO cinder_docs AS d (name, last_seq) VALUES ($1, "
                     "GREATEST($2, COALESCE((SELECT max(seq) FROM cinder_doc_updates "
                     "WHERE doc = $1), 0))) "
                     "ON CONFLICT (name) DO UPDATE SET last_seq = GREATEST(d.last_seq, $2)) "
                     "INSERT INTO cinder_doc_updates (doc, seq, data) VALUES ($1, $2, $3)",
                     3, {OID_TEXT, OID_INT8, OID_BYTEA}},
    [P_DELETE_ALL] = {"cinder_delete",
                      "WITH u AS (DELETE FROM cinder_doc_updates WHERE doc = $1 RETURNING 1), "
                      "c AS (DELETE FROM cinder_docs WHERE name = $1) SELECT count(*) FROM u",
                      1, {OID_TEXT}},
    [P_LIST] = {"cinder_list",
                "SELECT doc, count(*), sum(length(data))::bigint, max(seq) FROM cinder_doc_updates "
                "GROUP BY doc ORDER BY doc",
                0, {0}},
};

static const char store_pg_ddl[] =
    "SELECT pg_advisory_xact_lock(" STORE_PG_LOCK ");"
    "CREATE TABLE IF NOT EXISTS cinder_meta ("
    "  key text PRIMARY KEY,"
    "  value text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cinder_docs ("
    "  name text COLLATE \"C\" PRIMARY KEY,"
    "  last_seq bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cinder_doc_updates ("
    "  doc text COLLATE \"C\" NOT NULL,"
    "  seq bigint NOT NULL,"
    "  data bytea NOT NULL,"
    "  PRIMARY KEY (doc, seq));"
    "INSERT INTO cinder_meta (key, value) VALUES ('schema_version', '1') "
    "ON CONFLICT (key) DO NOTHING;";

typedef struct store_pg {
  store_backend_t base; /* first */
  PGconn *conn;
  bool prepared;         /* this session has the statements */
  bool broken;           /* the session must be reset before its next use */
  bool txn;              /* begin() succeeded, no commit/rollback since */
  bool goodbye;          /* the server sent FATAL while we were idle */
  uint64_t retry_at_ms;  /* no reconnection attempt before this (monotonic) */
  unsigned backoff_ms;
  char where[200];       /* the URI, password masked (log lines) */
} store_pg_t;

static uint64_t store_pg_now_ms(void) { return uv_hrtime() / 1000000u; }

/* "<what>: <message>" on one line, whitespace runs folded, SQLSTATE appended when known. */
static void store_pg_msg(store_pg_t *s, const char *what, const char *msg, const char *sqlstate) {
  char *o = s->base.errmsg;
  size_t cap = sizeof s->base.errmsg;
  int n = snprintf(o, cap, "%s: ", what);
  size_t at = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
  for (const char *p = msg && *msg ? msg : "unknown error"; *p && at + 1 < cap; p++) {
    char c = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    if (c == ' ' && (at == 0 || o[at - 1] == ' ')) continue;
    o[at++] = c;
  }
  while (at > 0 && o[at - 1] == ' ') at--;
  o[at] = '\0';
  if (sqlstate && at + 1 < cap) snprintf(o + at, cap - at, " (SQLSTATE %s)", sqlstate);
}

static int store_pg_code(const char *sqlstate) {
  if (!sqlstate) return STORE_EIO;
  /* Class 08 (connection exception), 57P01-57P03 (the server is shutting down or starting) */
  if (!strncmp(sqlstate, "08", 2) || !strcmp(sqlstate, "57P01") || !strcmp(sqlstate, "57P02") ||
      !strcmp(sqlstate, "57P03"))
    return STORE_EUNAVAIL;
  if (!strcmp(sqlstate, "53100")) return STORE_EFULL; /* disk_full */
  if (!strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01") || /* serialization, deadlock */
      !strcmp(sqlstate, "55P03") || !strcmp(sqlstate, "57014"))   /* lock / statement timeout */
    return STORE_EBUSY;
  if (!strcmp(sqlstate, "XX001") || !strcmp(sqlstate, "XX002")) return STORE_ECORRUPT;
  return STORE_EIO; /* connection lost, server shutting down, SQL errors, constraints */
}

static void store_pg_lost(store_pg_t *s) {
  if (!s->broken) log_warn("postgresql %s: connection lost (%s)", s->where, s->base.errmsg);
  s->broken = true;
  s->prepared = false;
}

/* Rolls back a transaction that a failure aborted (PostgreSQL refuses everything else in it). */
static void store_pg_abort(store_pg_t *s) {
  if (PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) == PQTRANS_IDLE) return;
  PGresult *r = PQexec(s->conn, "ROLLBACK");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) s->broken = true;
  PQclear(r);
}

/* Records a failed statement (r may be NULL; it is freed) and returns its STORE_E* code. A
 * transaction the failure aborted is rolled back at once unless `keep` (the caller rolls back to
 * its savepoint). */
static int store_pg_fail(store_pg_t *s, PGresult *r, const char *what, bool keep) {
  bool lost = PQstatus(s->conn) != CONNECTION_OK;
  const char *state = r && !lost ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r && !lost ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(s->conn);
  store_pg_msg(s, what, msg, state);
  int code = lost ? STORE_EUNAVAIL : store_pg_code(state);
  PQclear(r);
  if (lost) store_pg_lost(s);
  else if (!keep && PQtransactionStatus(s->conn) == PQTRANS_INERROR) store_pg_abort(s);
  return code;
}

static int store_pg_invalid(store_pg_t *s, const char *msg) {
  snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s", msg);
  return STORE_EINVAL;
}

static int store_pg_bad_result(store_pg_t *s, PGresult *r, const char *what) {
  PQclear(r);
  snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: unexpected result from the server", what);
  return STORE_EIO;
}

/* A plain command (BEGIN, SAVEPOINT, ...). */
static int store_pg_cmd(store_pg_t *s, const char *sql, bool keep) {
  PGresult *r = PQexec(s->conn, sql);
  if (PQresultStatus(r) == PGRES_COMMAND_OK) {
    PQclear(r);
    return 0;
  }
  return store_pg_fail(s, r, sql, keep);
}

/* Runs prepared statement q (binary results). Returns its result, or NULL with *err set. */
static PGresult *store_pg_exec(store_pg_t *s, int q, const char *const *vals, const int *lens,
                               const int *fmts, const char *what, bool keep, int *err) {
  const store_pg_stmt_t *st = &store_pg_stmts[q];
  PGresult *r = PQexecPrepared(s->conn, st->name, st->nparams, vals, lens, fmts, 1);
  ExecStatusType status = PQresultStatus(r);
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    *err = 0;
    return r;
  }
  *err = store_pg_fail(s, r, what, keep);
  return NULL;
}

static void store_pg_put64(char out[8], int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 7; i >= 0; i--, u >>= 8) out[i] = (char)(u & 0xff);
}

static bool store_pg_get64(const PGresult *r, int row, int col, int64_t *v) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8) return false;
  const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u = u << 8 | p[i];
  *v = (int64_t)u;
  return true;
}

/* --- the session --------------------------------------------------------------------------- */

static int store_pg_prepare(store_pg_t *s) {
  PQclear(PQexec(s->conn, "DEALLOCATE ALL")); /* after a failure half-way */
  for (int i = 0; i < P_COUNT; i++) {
    const store_pg_stmt_t *q = &store_pg_stmts[i];
    PGresult *r = PQprepare(s->conn, q->name, q->sql, q->nparams, q->types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return store_pg_fail(s, r, "prepare", false);
    PQclear(r);
  }
  s->prepared = true;
  return 0;
}

static int store_pg_reconnect(store_pg_t *s) {
  uint64_t now = store_pg_now_ms();
  if (now < s->retry_at_ms) return STORE_EUNAVAIL; /* errmsg still says why the last try failed */
  PQreset(s->conn);
  if (PQstatus(s->conn) != CONNECTION_OK) {
    store_pg_msg(s, "reconnect", PQerrorMessage(s->conn), NULL);
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : STORE_PG_BACKOFF_MIN_MS;
    if (s->backoff_ms > STORE_PG_BACKOFF_MAX_MS) s->backoff_ms = STORE_PG_BACKOFF_MAX_MS;
    s->retry_at_ms = store_pg_now_ms() + s->backoff_ms;
    return STORE_EUNAVAIL;
  }
  s->broken = false;
  s->backoff_ms = 0;
  s->retry_at_ms = 0;
  log_info("postgresql %s: reconnected", s->where);
  return store_pg_prepare(s);
}

/* Before an operation: the session is usable (reconnected if it was lost outside a
 * transaction), and a transaction begun by begin() is still alive. A server that cannot be
 * reached is STORE_EUNAVAIL: the caller may retry later, nothing is wrong with the data. */
static int store_pg_ready(store_pg_t *s) {
  if (s->txn) {
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) == PQTRANS_INTRANS)
      return 0;
    /* Aborted by an earlier failure: nothing may commit on its own until the caller ends it.
     * errmsg still names that failure. */
    return STORE_EIO;
  }
  if (!s->broken && PQstatus(s->conn) == CONNECTION_OK) {
    if (PQtransactionStatus(s->conn) == PQTRANS_INERROR) store_pg_abort(s);
    /* Idle, the server sends nothing of its own but its goodbye (a restart, a terminated
     * session: FATAL, then EOF). Reset now rather than send the next statement into a dead
     * connection. (TLS may have sent session tickets: read, they change nothing.) */
    struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
    if (p.fd >= 0 && poll(&p, 1, 0) > 0) {
      s->goodbye = false;
      bool gone = !PQconsumeInput(s->conn);
      if (!gone) PQisBusy(s->conn); /* parses what came: a FATAL reaches store_pg_notice */
      if (!s->goodbye && (gone || PQstatus(s->conn) != CONNECTION_OK))
        store_pg_msg(s, "connection", PQerrorMessage(s->conn), NULL);
      if (s->goodbye || gone || PQstatus(s->conn) != CONNECTION_OK) store_pg_lost(s);
    }
  }
  if (s->broken || PQstatus(s->conn) != CONNECTION_OK) {
    if (!s->broken) {
      store_pg_msg(s, "connection", PQerrorMessage(s->conn), NULL);
      store_pg_lost(s);
    }
    return store_pg_reconnect(s);
  }
  return s->prepared ? 0 : store_pg_prepare(s);
}

static int store_pg_check(store_pg_t *s, const char *doc, size_t len) {
  if (!doc || !*doc) return store_pg_invalid(s, "empty document name");
  if (len > INT_MAX) return store_pg_invalid(s, "entry too large");
  return 0;
}

/* --- transactions -------------------------------------------------------------------------- */

static bool store_pg_in_transaction(store_backend_t *b);

static int store_pg_begin(store_backend_t *b) {
  store_pg_t *s = (store_pg_t *)b;
  if (store_pg_in_transaction(b)) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "begin: a transaction is already open");
    return STORE_EIO;
  }
  s->txn = false; /* one that was lost or aborted is over */
  int err = store_pg_ready(s);
  if (!err) err = store_pg_cmd(s, "BEGIN", false);
  if (err && s->broken) { /* lost on the way: BEGIN did nothing, so once more */
    err = store_pg_ready(s);
    if (!err) err = store_pg_cmd(s, "BEGIN", false);
  }
  s->txn = err == 0;
  return err;
}

static int store_pg_end(store_pg_t *s, const char *sql, const char *tag) {
  PGresult *r = PQexec(s->conn, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) return store_pg_fail(s, r, sql, false);
  bool ok = !strcmp(PQcmdStatus(r), tag); /* COMMIT of an aborted transaction says ROLLBACK */
  PQclear(r);
  if (!ok) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: the transaction had been aborted", sql);
    return STORE_EIO;
  }
  return 0;
}

static int store_pg_commit(store_backend_t *b) {
  store_pg_t *s = (store_pg_t *)b;
  if (!s->txn) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "commit: no transaction is active");
    return STORE_EIO;
  }
  int err = store_pg_ready(s); /* fails if the transaction was lost (errmsg says how) */
  s->txn = false;
  if (err) return err;
  return store_pg_end(s, "COMMIT", "COMMIT");
}

static int store_pg_rollback(store_backend_t *b) {
  store_pg_t *s = (store_pg_t *)b;
  s->txn = false;
  if (PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) == PQTRANS_IDLE) return 0;
  return store_pg_cmd(s, "ROLLBACK", true);
}

static bool store_pg_in_transaction(store_backend_t *b) {
  store_pg_t *s = (store_pg_t *)b;
  return s->txn && PQstatus(s->conn) == CONNECTION_OK &&
         PQtransactionStatus(s->conn) == PQTRANS_INTRANS;
}

/* --- operations ---------------------------------------------------------------------------- */

static int store_pg_load(store_backend_t *b, const char *doc, store_load_result_t *out) {
  store_pg_t *s = (store_pg_t *)b;
  memset(out, 0, sizeof *out);
  int err = store_pg_check(s, doc, 0);
  if (!err) err = store_pg_ready(s);
  if (err) return out->status = err;
  const char *vals[1] = {doc};
  PGresult *r = store_pg_exec(s, P_LOAD, vals, NULL, NULL, "load", false, &err);
  if (!r) return out->status = err;
  size_t n = (size_t)PQntuples(r);
  if (n) {
    out->data = xcalloc(n, sizeof *out->data);
    out->len = xcalloc(n, sizeof *out->len);
    out->seq = xcalloc(n, sizeof *out->seq);
  }
  for (size_t i = 0; i < n; i++, out->count++) {
    int64_t seq;
    if (!store_pg_get64(r, (int)i, 0, &seq) || PQgetisnull(r, (int)i, 1)) {
      store_load_result_clear(out);
      return out->status = store_pg_bad_result(s, r, "load");
    }
    size_t len = (size_t)PQgetlength(r, (int)i, 1);
    uint8_t *copy = NULL;
    if (len) {
      copy = xmalloc(len);
      memcpy(copy, PQgetvalue(r, (int)i, 1), len);
    }
    out->data[i] = copy;
    out->len[i] = len;
    out->seq[i] = seq;
    out->total_bytes += len;
    out->last_seq = seq;
  }
  PQclear(r);
  return 0;
}

static int store_pg_append(store_backend_t *b, const char *doc, const uint8_t *data, size_t len,
                           int64_t *seq) {
  store_pg_t *s = (store_pg_t *)b;
  *seq = 0;
  int err = store_pg_check(s, doc, len);
  if (!err) err = store_pg_ready(s);
  if (err) return err;
  /* A zero-length bytea still needs a non-NULL pointer (NULL is SQL NULL). */
  const char *vals[2] = {doc, len ? (const char *)data : ""};
  const int lens[2] = {0, (int)len};
  const int fmts[2] = {0, 1};
  PGresult *r = store_pg_exec(s, P_APPEND, vals, lens, fmts, "append", false, &err);
  if (!r) return err;
  int64_t v;
  if (PQntuples(r) != 1 || !store_pg_get64(r, 0, 0, &v)) return store_pg_bad_result(s, r, "append");
  PQclear(r);
  *seq = v;
  return 0;
}

static int store_pg_compact(store_backend_t *b, const char *doc, const uint8_t *state, size_t len,
                            int64_t upto_seq) {
  store_pg_t *s = (store_pg_t *)b;
  int err = store_pg_check(s, doc, len);
  if (err) return err;
  if (upto_seq < 1) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "compact: upto seq %lld < 1",
             (long long)upto_seq);
    return STORE_EINVAL;
  }
  if ((err = store_pg_ready(s))) return err;
  bool own = !s->txn; /* outside a batch the compaction is its own transaction */
  if ((err = store_pg_cmd(s, own ? "BEGIN" : "SAVEPOINT store_op", false))) return err;
  char upto[8];
  store_pg_put64(upto, upto_seq);
  const char *vals[3] = {doc, upto, len ? (const char *)state : ""};
  const int lens[3] = {0, 8, (int)len};
  const int fmts[3] = {0, 1, 1};
  PGresult *r = store_pg_exec(s, P_DELETE_UPTO, vals, lens, fmts, "compact (delete)", true, &err);
  PQclear(r);
  if (!err) {
    r = store_pg_exec(s, P_PUT_STATE, vals, lens, fmts, "compact (insert)", true, &err);
    PQclear(r);
  }
  if (err) {
    /* Undo the delete; keep the message of what failed. If even that fails, the transaction is
     * abandoned (and in_transaction() says so). */
    char why[sizeof s->base.errmsg];
    memcpy(why, s->base.errmsg, sizeof why);
    if (PQstatus(s->conn) == CONNECTION_OK) {
      if (own) store_pg_abort(s);
      else if (!store_pg_cmd(s, "ROLLBACK TO SAVEPOINT store_op", false))
        store_pg_cmd(s, "RELEASE SAVEPOINT store_op", false);
    }
    memcpy(s->base.errmsg, why, sizeof why);
    return err;
  }
  return own ? store_pg_end(s, "COMMIT", "COMMIT") : store_pg_cmd(s, "RELEASE SAVEPOINT store_op", false);
}

static int store_pg_remove(store_backend_t *b, const char *doc, size_t *removed) {
  store_pg_t *s = (store_pg_t *)b;
  if (removed) *removed = 0;
  int err = store_pg_check(s, doc, 0);
  if (!err) err = store_pg_ready(s);
  if (err) return err;
  const char *vals[1] = {doc};
  PGresult *r = store_pg_exec(s, P_DELETE_ALL, vals, NULL, NULL, "delete", false, &err);
  if (!r) return err;
  int64_t n;
  if (PQntuples(r) != 1 || !store_pg_get64(r, 0, 0, &n)) return store_pg_bad_result(s, r, "delete");
  PQclear(r);
  if (removed) *removed = (size_t)n;
  return 0;
}

static int store_pg_list(store_backend_t *b, store_doc_info_t **docs, size_t *n) {
  store_pg_t *s = (store_pg_t *)b;
  *docs = NULL;
  *n = 0;
  int err = store_pg_ready(s);
  if (err) return err;
  PGresult *r = store_pg_exec(s, P_LIST, NULL, NULL, NULL, "list", false, &err);
  if (!r) return err;
  size_t rows = (size_t)PQntuples(r);
  if (rows) *docs = xcalloc(rows, sizeof **docs);
  for (size_t i = 0; i < rows; i++, (*n)++) {
    store_doc_info_t *d = &(*docs)[i];
    int64_t entries, bytes;
    if (PQgetisnull(r, (int)i, 0) || !store_pg_get64(r, (int)i, 1, &entries) ||
        !store_pg_get64(r, (int)i, 2, &bytes) || !store_pg_get64(r, (int)i, 3, &d->last_seq)) {
      store_doc_info_free(*docs, *n);
      *docs = NULL;
      *n = 0;
      return store_pg_bad_result(s, r, "list");
    }
    d->name = xstrdup(PQgetvalue(r, (int)i, 0)); /* binary text is its bytes, NUL-terminated */
    d->entries = (size_t)entries;
    d->bytes = (size_t)bytes;
  }
  PQclear(r);
  return 0;
}

/* --- open / close -------------------------------------------------------------------------- */

/* Notices, and errors that arrive while no query runs (the server's FATAL goodbye). */
static void store_pg_notice(void *arg, const PGresult *r) {
  store_pg_t *s = arg;
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity && (!strcmp(severity, "FATAL") || !strcmp(severity, "PANIC"))) {
    s->goodbye = true;
    store_pg_msg(s, "connection closed by the server",
                 PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
                 PQresultErrorField(r, PG_DIAG_SQLSTATE));
    return;
  }
  log_debug("postgresql %s: %s", s->where, PQresultErrorMessage(r));
}

/* The schema version stored in the database: 0 when it has no cinder tables. */
static int store_pg_version(store_pg_t *s, long *version) {
  *version = 0;
  PGresult *r = PQexec(s->conn, "SELECT to_regclass('cinder_meta') IS NOT NULL");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) return store_pg_fail(s, r, "schema", false);
  bool exists = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  if (!exists) return 0;
  r = PQexec(s->conn, "SELECT value FROM cinder_meta WHERE key = 'schema_version'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) return store_pg_fail(s, r, "schema", false);
  if (PQntuples(r) == 1) {
    char *end;
    *version = strtol(PQgetvalue(r, 0, 0), &end, 10);
    if (*end || *version < 1) *version = LONG_MAX; /* not ours to read */
  }
  PQclear(r);
  return 0;
}

static int store_pg_schema(store_pg_t *s, unsigned flags) {
  long version;
  int err = store_pg_version(s, &version);
  if (err) return err;
  if (version == 0) {
    if (flags & STORE_OPEN_NOCREATE) {
      snprintf(s->base.errmsg, sizeof s->base.errmsg, "no cinder tables in this database");
      return STORE_ENOENT;
    }
    /* Two nodes starting at once: the advisory lock serialises them, IF NOT EXISTS makes the
     * second a no-op (its notices go to the debug log). */
    if ((err = store_pg_cmd(s, "BEGIN", false))) return err;
    PGresult *r = PQexec(s->conn, store_pg_ddl);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return store_pg_fail(s, r, "create tables", false);
    PQclear(r);
    if ((err = store_pg_end(s, "COMMIT", "COMMIT"))) return err;
    if ((err = store_pg_version(s, &version))) return err;
  }
  if (version != STORE_PG_SCHEMA) {
    if (version == LONG_MAX)
      snprintf(s->base.errmsg, sizeof s->base.errmsg, "unreadable schema version in cinder_meta");
    else
      snprintf(s->base.errmsg, sizeof s->base.errmsg,
               "schema version %ld is newer than this cinder's (%d)", version, STORE_PG_SCHEMA);
    return STORE_ESCHEMA;
  }
  return 0;
}

static void store_pg_close(store_backend_t *b) {
  store_pg_t *s = (store_pg_t *)b;
  if (!s) return;
  PQfinish(s->conn); /* an open transaction is rolled back by the server */
  free(s);
}

static store_backend_t *store_pg_open(const char *where, unsigned flags, char *err, size_t errlen,
                                      int *code) {
  int dummy;
  if (!code) code = &dummy;
  *code = 0;
  store_pg_t *s = xcalloc(1, sizeof *s);
  s->base.ops = &store_pg_backend;
  store_url_redact(where, s->where, sizeof s->where);
  /* Defaults first: the URI, expanded in place of dbname, overrides them. */
  const char *const keys[] = {"connect_timeout", "application_name", "client_encoding",
                              "keepalives_idle", "keepalives_interval", "keepalives_count",
                              "dbname", NULL};
  const char *const vals[] = {"5", "cinder", "UTF8", "30", "10", "3", where, NULL};
  s->conn = PQconnectdbParams(keys, vals, 1);
  int e = 0;
  if (!s->conn) {
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "connect: out of memory");
    e = STORE_EIO;
  } else if (PQstatus(s->conn) != CONNECTION_OK) {
    store_pg_msg(s, "connect", PQerrorMessage(s->conn), NULL);
    e = STORE_EUNAVAIL;
  }
  if (!e) {
    PQsetNoticeReceiver(s->conn, store_pg_notice, s);
    e = store_pg_schema(s, flags);
  }
  if (!e) e = store_pg_prepare(s);
  if (e) {
    snprintf(err, errlen, "%s: %s", s->where, s->base.errmsg);
    store_url_scrub(where, err);
    *code = e;
    store_pg_close(&s->base);
    return NULL;
  }
  return &s->base;
}

const store_backend_ops_t store_pg_backend = {
    .name = "postgresql",
    .open = store_pg_open,
    .close = store_pg_close,
    .begin = store_pg_begin,
    .commit = store_pg_commit,
    .rollback = store_pg_rollback,
    .in_transaction = store_pg_in_transaction,
    .load = store_pg_load,
    .append = store_pg_append,
    .compact = store_pg_compact,
    .list = store_pg_list,
    .remove = store_pg_remove,
};
