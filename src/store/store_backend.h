#ifndef CINDER_STORE_STORE_BACKEND_H
#define CINDER_STORE_STORE_BACKEND_H
/* store_backend_t: a synchronous document store — the part of storage that talks to a database.
 *
 * The storage thread (store.c) drives one backend; the `cinder doc` CLI and tests use one
 * directly. A backend is used by one thread at a time. Every operation returns 0 or a negative
 * STORE_E* (store.h) and leaves a one-line message for store_backend_errmsg().
 *
 * Transactions: begin/commit/rollback bracket a batch. Outside one, each operation commits on its
 * own. Every write operation is atomic by itself even inside a transaction (a failing compaction
 * undoes its own delete), so one failed request does not spoil the batch; if a failure made the
 * database abandon the whole transaction, in_transaction() turns false and the caller must treat
 * everything since begin as lost.
 *
 * Backends: SQLite (store_sqlite.c, the default, a file in the data directory) and PostgreSQL
 * (store_pg.c, libpq; one database shared by every node of a cluster). A store URL names one:
 *   sqlite:DIR                          SQLite in DIR (the file DIR/cinder.db)
 *   postgresql://user[:pw]@host[:port]/db, postgres://...   PostgreSQL (any libpq URI)
 *   DIR                                 a bare path: SQLite in DIR (what --data gives)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct store_backend store_backend_t;


/* Flags for open. */
#define STORE_OPEN_NOCREATE 1u /* fail with STORE_ENOENT if the database does not exist yet */

typedef struct store_backend_ops {
  const char *name; /* "sqlite", "postgresql" */
  /* `where` is backend-specific: for SQLite the data directory (the file is <where>/cinder.db),
   * for PostgreSQL the URI. */
  store_backend_t *(*open)(const char *where, unsigned flags, char *err, size_t errlen, int *code);
  void (*close)(store_backend_t *b);
  int (*begin)(store_backend_t *b);
  int (*commit)(store_backend_t *b);
  int (*rollback)(store_backend_t *b);
  bool (*in_transaction)(store_backend_t *b);
  /* Fills *out (caller-owned; release with store_load_result_clear). out->status is set too. */
  int (*load)(store_backend_t *b, const char *doc, store_load_result_t *out);
  int (*append)(store_backend_t *b, const char *doc, const uint8_t *data, size_t len,
                int64_t *seq);
  int (*compact)(store_backend_t *b, const char *doc, const uint8_t *state, size_t len,
                 int64_t upto_seq);
  /* Every document, ordered by name. *docs is malloc'd (release with store_doc_info_free). */
  int (*list)(store_backend_t *b, store_doc_info_t **docs, size_t *n);
  /* Deletes every entry of doc; *removed (may be NULL) gets how many there were. */
  int (*remove)(store_backend_t *b, const char *doc, size_t *removed);
} store_backend_ops_t;

/* Every backend starts with this header. */
struct store_backend {
  const store_backend_ops_t *ops;
  char errmsg[256];
};

extern const store_backend_ops_t store_sqlite_backend;
extern const store_backend_ops_t store_pg_backend;

/* Opens the default backend (SQLite) on a data directory. NULL + message (and *code, may be NULL)
 * on failure. */
store_backend_t *store_backend_open(const char *data_dir, unsigned flags, char *err,
                                    size_t errlen, int *code);

/* The backend a store URL names (see the top of this file) and, in *where, what to open it on.
 * NULL + message for a URL of another scheme (`mysql://...`). NULL or "" is SQLite in ".". */
const store_backend_ops_t *store_backend_for_url(const char *url, const char **where, char *err,
                                                 size_t errlen);
/* Opens the backend a store URL names. NULL + message (and *code) on failure; the message never
 * holds the URL's password. */
store_backend_t *store_backend_open_url(const char *url, unsigned flags, char *err, size_t errlen,
                                        int *code);
/* What a URL stores into, for log lines: "DIR/cinder.db" for SQLite, else the URL redacted. */
void store_url_describe(const char *url, char *out, size_t outlen);
/* url with its password (the userinfo's, and a password= parameter's) replaced by "***". */
void store_url_redact(const char *url, char *out, size_t outlen);
/* Replaces every occurrence of url's password in msg (NUL-terminated, edited in place) by "***":
 * for messages that may quote the URL, such as a libpq parse error. */
void store_url_scrub(const char *url, char *msg);

static inline void store_backend_close(store_backend_t *b) { b->ops->close(b); }
static inline int store_backend_begin(store_backend_t *b) { return b->ops->begin(b); }
static inline int store_backend_commit(store_backend_t *b) { return b->ops->commit(b); }
static inline int store_backend_rollback(store_backend_t *b) { return b->ops->rollback(b); }
static inline bool store_backend_in_transaction(store_backend_t *b) {
  return b->ops->in_transaction(b);
}
static inline int store_backend_load(store_backend_t *b, const char *doc, store_load_result_t *out) {
  return b->ops->load(b, doc, out);
}
static inline int store_backend_append(store_backend_t *b, const char *doc, const uint8_t *data,
                                       size_t len, int64_t *seq) {
  return b->ops->append(b, doc, data, len, seq);
}
static inline int store_backend_compact(store_backend_t *b, const char *doc, const uint8_t *state,
                                        size_t len, int64_t upto_seq) {
  return b->ops->compact(b, doc, state, len, upto_seq);
}
static inline int store_backend_list(store_backend_t *b, store_doc_info_t **docs, size_t *n) {
  return b->ops->list(b, docs, n);
}
static inline int store_backend_delete(store_backend_t *b, const char *doc, size_t *removed) {
  return b->ops->remove(b, doc, removed);
}
/* The message of the last failure (empty if none). */
static inline const char *store_backend_errmsg(const store_backend_t *b) { return b->errmsg; }

#endif
