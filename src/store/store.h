#ifndef CINDER_STORE_STORE_H
#define CINDER_STORE_STORE_H
/* store_t: the asynchronous storage service that workers use for documents.
 *
 * A document is stored as a log of entries, each one Yjs update (v1), numbered by a sequence
 * number that grows per document: appends go at the end; a compaction replaces a prefix of the
 * log by one full-state update at the same position, so entries appended meanwhile stay after it.
 *
 * One thread (named "store" in log lines) owns the backend (store_backend.h: SQLite or
 * PostgreSQL). Requests are pushed into its lock-free inbox (core/inbox.h) — submitting never waits on disk
 * and takes no lock on the way (a mutex is touched only to wake the thread when its inbox was
 * empty). The thread takes everything queued at once and runs it in ONE transaction (at most
 * STORE_DEFAULT_MAX_BATCH requests each), so under load a hundred appends cost one commit, not a
 * hundred. Then it posts one completion per request as a task to that request's executor
 * (core/task.h): callbacks run on the requesting thread, never on the store thread, and the
 * completions of requests submitted by one thread to one executor arrive in submission order.
 *
 * Failures. Each request runs inside its own savepoint: a request that fails (a compaction whose
 * insert is refused, say) is rolled back alone and reports the error; the others of the batch
 * still commit. If the transaction as a whole fails (BEGIN or COMMIT fails, or the database rolled
 * the transaction back itself: disk full, I/O error), every request of that transaction reports
 * the error, loads included (their results are dropped), because none of it is on disk. The
 * document actor's answer to any error is to reload from storage (and tell clients `yjs_resync`).
 */
#include <stddef.h>
#include <stdint.h>

#include "core/task.h"

/* --- errors (negative, like libuv's) ------------------------------------------------------- */
#define STORE_EIO      (-1) /* the backend failed (I/O error, SQL error, constraint) */
#define STORE_EBUSY    (-2) /* the database stayed locked by another process past busy_timeout */
#define STORE_ECORRUPT (-3) /* the database file is damaged or not a database */
#define STORE_EFULL    (-4) /* disk full */
#define STORE_EINVAL   (-5) /* bad argument (empty document name, negative sequence number) */
#define STORE_ENOENT   (-6) /* no such database / document */
#define STORE_ESCHEMA  (-7) /* the database was written by a newer cinder (unknown schema version) */
#define STORE_EUNAVAIL (-8) /* the database server cannot be reached now (connection lost, refused,
                               shutting down): nothing is wrong with the data; try again later */

const char *store_strerror(int code);

/* --- results ------------------------------------------------------------------------------- */
typedef struct store_load_result {
  int status;           /* 0, or a negative STORE_E* */
  size_t count;         /* stored entries in order: a compacted state (if any) first, then appended
                           updates */
  uint8_t **data;       /* data[i]: malloc'd, len[i] bytes (a 0-length entry may be NULL) */
  size_t *len;
  int64_t *seq;         /* seq[i]: sequence number of entry i (increasing) */
  int64_t last_seq;     /* sequence number of the last entry (0 if none) */
  size_t total_bytes;   /* sum of len[] */
} store_load_result_t;

/* Frees a result handed to a store_load callback: its entries and the struct itself. A callee
 * that wants to keep an entry's bytes takes data[i] and sets it to NULL first. NULL is fine. */
void store_load_result_free(store_load_result_t *r);
/* Frees what r holds and leaves it empty (for a result the caller owns, e.g. on the stack, as
 * filled by the synchronous backend). */
void store_load_result_clear(store_load_result_t *r);

/* --- the service --------------------------------------------------------------------------- */
typedef struct store store_t;

#define STORE_DEFAULT_MAX_BATCH 1024 /* requests per transaction */

typedef struct store_config {
  size_t max_batch;        /* requests per transaction; 0 = STORE_DEFAULT_MAX_BATCH; 1 = one
                              transaction per request (for comparisons) */
  size_t max_batch_bytes;  /* also end a transaction after this many bytes of appended/compacted
                              data; 0 = 64 MiB */
} store_config_t;

/* Opens the store a URL names (store_backend.h: `sqlite:DIR`, `postgresql://...`, or a bare
 * directory for SQLite: <dir>/cinder.db, creating the directory and the schema; WAL mode,
 * synchronous=NORMAL, busy_timeout) and starts the storage thread. Returns NULL and a message in
 * err on failure (never the URL's password). store_open_config: the same with tuning (cfg may be
 * NULL). */
store_t *store_open(const char *url, char *err, size_t errlen);
store_t *store_open_config(const char *url, const store_config_t *cfg, char *err,
                           size_t errlen);

/* The backend's name: "sqlite" (one process's file) or "postgresql" (shared by nodes). */
const char *store_kind(const store_t *s);

/* Starts the storage thread on a backend opened by the caller (store_backend.h): another backend
 * than SQLite, or one wrapped by a test. s owns b from then on (on failure b is closed). */
typedef struct store_backend store_backend_t;
store_t *store_start(store_backend_t *b, const store_config_t *cfg, char *err, size_t errlen);

/* Finishes every queued request (their completions are still submitted to their executors, which
 * must therefore still run tasks or drain their inbox later), commits, joins the thread, closes the
 * backend and frees s. Nothing may be submitted to s once store_close has begun. */
void store_close(store_t *s);

/* All callbacks run on reply_to's thread (via executor_submit), never on the store thread.
 * A callback may be NULL (fire and forget; reply_to is then unused and may be NULL).
 * ctx is passed back untouched. `doc` is copied; it must not be empty. */

/* Every entry of doc, in order. The callee owns r and frees it with store_load_result_free
 * (whatever r->status says). An unknown document is not an error: count 0, status 0. */
void store_load(store_t *s, const char *doc, executor_t *reply_to,
                void (*done)(void *ctx, store_load_result_t *r), void *ctx);

/* Appends one update; the sequence number of the new entry is reported to done (0 on error).
 * The bytes are copied before store_append returns. */
void store_append(store_t *s, const char *doc, const uint8_t *update, size_t len,
                  executor_t *reply_to, void (*done)(void *ctx, int status, int64_t seq),
                  void *ctx);

/* Atomically replaces every entry with seq <= upto_seq by one entry holding `state` (a full-state
 * update) at seq = upto_seq, so entries appended after upto_seq stay after it. The bytes are
 * copied. upto_seq must be >= 1 (use the last_seq of a load or the seq of an append). */
void store_compact(store_t *s, const char *doc, const uint8_t *state, size_t len,
                   int64_t upto_seq, executor_t *reply_to, void (*done)(void *ctx, int status),
                   void *ctx);

/* One line of a list (store_list, store_backend_list). */
typedef struct store_doc_info {
  char *name;          /* malloc'd */
  size_t entries;
  size_t bytes;        /* sum of the entries' sizes */
  int64_t last_seq;
} store_doc_info_t;

void store_doc_info_free(store_doc_info_t *docs, size_t n);

/* Every stored document, ordered by name; done owns docs (store_doc_info_free). */
void store_list(store_t *s, executor_t *reply_to,
                void (*done)(void *ctx, int status, store_doc_info_t *docs, size_t n), void *ctx);

/* Deletes every entry of doc. */
void store_delete(store_t *s, const char *doc, executor_t *reply_to,
                  void (*done)(void *ctx, int status), void *ctx);

/* Barrier: done runs after everything submitted before it (by any thread, as far as the store's
 * inbox saw it first) is committed to disk; status is that commit's. */
void store_flush(store_t *s, executor_t *reply_to, void (*done)(void *ctx, int status),
                 void *ctx);

/* Counters since store_open (read from any thread; approximate while the store is busy). */
typedef struct store_stats {
  uint64_t requests;      /* requests processed */
  uint64_t transactions;  /* transactions committed or rolled back */
  uint64_t failures;      /* requests that reported an error */
} store_stats_t;
void store_get_stats(store_t *s, store_stats_t *out);

#endif
