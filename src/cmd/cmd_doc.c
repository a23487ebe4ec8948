/* `cinder doc`: the stored documents of a store (a data directory or a PostgreSQL database), for
 * operators.
 *
 * Uses the storage backend directly (synchronously) on the same store as a running server. On
 * SQLite, WAL mode lets it read while the server writes, and busy_timeout makes its writes
 * (compact, import, delete) wait for the server's transaction instead of failing; on PostgreSQL
 * the database does the same. A compaction runs in one transaction — load, rebuild, replace —
 * and replaces only the entries it loaded, so nothing the server appends meanwhile can be lost: it
 * either lands before (and is part of the state) or after (and stays after it).
 *
 * Exit status: 0 ok, 1 usage / I/O / unknown document, 2 malformed stored data or input. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/mem.h"
#include "store/store_backend.h"
#include "core/utf8.h"
#include "yjs/yjs.h"

typedef struct doc_args {
  const char *store; /* a store URL (store_backend.h); a bare directory is SQLite */
  bool json;
  const char *pos[3]; /* positional arguments after the subcommand */
  int npos;
} doc_args_t;

static void doc_usage(FILE *out) {
  fprintf(out,
          "usage: cinder doc <command> [--store URL | --data DIR] [options]\n"
          "\n"
          "commands (on the stored documents; safe while the server runs):\n"
          "  list [--json]             one line per document: name, entries, bytes (tab separated)\n"
          "  export NAME [--json]      the document's full state as one Yjs update (v1) on stdout;\n"
          "                            --json: its content as JSON\n"
          "  compact NAME              replace the document's log by one state update (atomic)\n"
          "  import NAME FILE          append the Yjs update (v1) in FILE (- for stdin)\n"
          "  delete NAME               remove the document\n"
          "\n"
          "options:\n"
          "  --store URL               sqlite:DIR or postgresql://user[:pw]@host:port/db\n"
          "                            (default: $CINDER_STORE, else sqlite:<--data>)\n"
          "  --data DIR                data directory: the store DIR/cinder.db\n"
          "                            (default: $CINDER_DATA, else ./data)\n"
          "  --json                    JSON output (list, export)\n"
          "  --help                    this text\n"
          "\n"
          "exit status: 0 ok, 1 usage, I/O error or unknown document, 2 malformed data\n");
}

/* --store (else $CINDER_STORE) wins over --data (else $CINDER_DATA), as in `cinder serve`. */
static int doc_parse(int argc, char **argv, int first, doc_args_t *a) {
  const char *env = getenv("CINDER_DATA");
  const char *data_dir = env && *env ? env : "./data";
  env = getenv("CINDER_STORE");
  const char *store = env && *env ? env : NULL;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--json")) {
      a->json = true;
    } else if (!strcmp(arg, "--data") || !strcmp(arg, "--store")) {
      if (++i == argc) {
        fprintf(stderr, "cinder doc: %s needs a %s\n", arg, arg[2] == 'd' ? "directory" : "URL");
        return -1;
      }
      *(arg[2] == 'd' ? &data_dir : &store) = argv[i];
    } else if (!strncmp(arg, "--data=", 7)) {
      data_dir = arg + 7;
    } else if (!strncmp(arg, "--store=", 8)) {
      store = arg + 8;
    } else if (!strcmp(arg, "--")) {
      for (i++; i < argc; i++) {
        if (a->npos == 3) goto too_many;
        a->pos[a->npos++] = argv[i];
      }
    } else if (arg[0] == '-' && arg[1]) {
      fprintf(stderr, "cinder doc: unknown option '%s'\n", arg);
      return -1;
    } else {
      if (a->npos == 3) goto too_many;
      a->pos[a->npos++] = arg;
    }
  }
  a->store = store ? store : data_dir;
  return 0;
too_many:
  fprintf(stderr, "cinder doc: too many arguments\n");
  return -1;
}

static store_backend_t *doc_open(const doc_args_t *a, bool create) {
  char err[512];
  int code = 0;
  store_backend_t *b =
      store_backend_open_url(a->store, create ? 0 : STORE_OPEN_NOCREATE, err, sizeof err, &code);
  if (!b) {
    if (code == STORE_ENOENT)
      fprintf(stderr, "cinder doc: %s (use --store URL, --data DIR, CINDER_STORE or CINDER_DATA)\n",
              err);
    else
      fprintf(stderr, "cinder doc: %s\n", err);
  }
  return b;
}

static int doc_fail(store_backend_t *b, const char *what) {
  fprintf(stderr, "cinder doc: %s: %s\n", what, store_backend_errmsg(b));
  return 1;
}

/* Rebuilds the document from its entries. Returns NULL (message printed) if one is malformed. */
static yjs_doc *doc_build(const char *name, const store_load_result_t *r) {
  yjs_doc *doc = yjs_doc_new(0);
  if (!doc) {
    fprintf(stderr, "cinder doc: out of memory\n");
    return NULL;
  }
  for (size_t i = 0; i < r->count; i++) {
    yjs_error e = {0};
    int rc = yjs_doc_apply_update_v1(doc, r->data[i], r->len[i], NULL, &e);
    if (rc < 0) {
      fprintf(stderr, "cinder doc: %s: stored entry %lld (%zu bytes) is malformed at byte %zu: %s\n",
              name, (long long)r->seq[i], r->len[i], e.offset, e.msg[0] ? e.msg : yjs_strerror(rc));
      yjs_doc_free(doc);
      return NULL;
    }
  }
  return doc;
}

static int doc_write_all(const void *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) return -1;
  return fflush(stdout);
}

/* --- list ------------------------------------------------------------------------------------ */

static int doc_list(const doc_args_t *a) {
  if (a->npos) {
    fprintf(stderr, "cinder doc list: no arguments expected\n");
    return 1;
  }
  store_backend_t *b = doc_open(a, false);
  if (!b) return 1;
  store_doc_info_t *docs;
  size_t n;
  if (store_backend_list(b, &docs, &n)) {
    int rc = doc_fail(b, "list");
    store_backend_close(b);
    return rc;
  }
  store_backend_close(b);
  int rc = 0;
  if (a->json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}", "name", docs[i].name,
                                           "entries", (json_int_t)docs[i].entries, "bytes",
                                           (json_int_t)docs[i].bytes, "last_seq",
                                           (json_int_t)docs[i].last_seq));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text || printf("%s\n", text) < 0) rc = 1;
    free(text);
  } else {
    for (size_t i = 0; i < n && !rc; i++)
      if (printf("%s\t%zu\t%zu\n", docs[i].name, docs[i].entries, docs[i].bytes) < 0) rc = 1;
  }
  if (fflush(stdout)) rc = 1;
  if (rc) fprintf(stderr, "cinder doc list: cannot write: %s\n", strerror(errno));
  store_doc_info_free(docs, n);
  return rc;
}

/* --- export ---------------------------------------------------------------------------------- */

static int doc_export(const doc_args_t *a) {
  if (a->npos != 1) {
    fprintf(stderr, "usage: cinder doc export NAME [--json]\n");
    return 1;
  }
  const char *name = a->pos[0];
  if (!a->json && isatty(STDOUT_FILENO)) {
    fprintf(stderr, "cinder doc export: refusing to write a binary update to a terminal "
                    "(redirect stdout, or use --json)\n");
    return 1;
  }
  store_backend_t *b = doc_open(a, false);
  if (!b) return 1;
  store_load_result_t r;
  if (store_backend_load(b, name, &r)) {
    int rc = doc_fail(b, "load");
    store_backend_close(b);
    return rc;
  }
  store_backend_close(b);
  if (r.count == 0) {
    fprintf(stderr, "cinder doc: no document '%s'\n", name);
    store_load_result_clear(&r);
    return 1;
  }
  yjs_doc *doc = doc_build(name, &r);
  store_load_result_clear(&r);
  if (!doc) return 2;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc;
  if (a->json) {
    rc = yjs_doc_to_json(doc, (char **)&out, &out_len);
  } else {
    yjs_error e = {0};
    rc = yjs_doc_encode_state_as_update_v1(doc, NULL, 0, &out, &out_len, &e);
  }
  yjs_doc_free(doc);
  if (rc < 0) {
    fprintf(stderr, "cinder doc: %s: cannot encode: %s\n", name, yjs_strerror(rc));
    return 2;
  }
  int wrc = doc_write_all(out, out_len);
  if (!wrc && a->json) wrc = doc_write_all("\n", 1);
  yjs_free(out);
  if (wrc) {
    fprintf(stderr, "cinder doc export: cannot write: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}

/* --- compact --------------------------------------------------------------------------------- */

static int doc_compact(const doc_args_t *a) {
  if (a->npos != 1) {
    fprintf(stderr, "usage: cinder doc compact NAME\n");
    return 1;
  }
  const char *name = a->pos[0];
  store_backend_t *b = doc_open(a, false);
  if (!b) return 1;
  int rc = 0;
  store_load_result_t r = {0};
  uint8_t *state = NULL;
  size_t state_len = 0;
  /* One write transaction from the load to the replacement: nothing can slip in between. */
  if (store_backend_begin(b)) {
    rc = doc_fail(b, "begin");
    goto out;
  }
  if (store_backend_load(b, name, &r)) {
    rc = doc_fail(b, "load");
    goto out;
  }
  if (r.count == 0) {
    fprintf(stderr, "cinder doc: no document '%s'\n", name);
    rc = 1;
    goto out;
  }
  yjs_doc *doc = doc_build(name, &r);
  if (!doc) {
    rc = 2;
    goto out;
  }
  yjs_error e = {0};
  int yrc = yjs_doc_encode_state_as_update_v1(doc, NULL, 0, &state, &state_len, &e);
  yjs_doc_free(doc);
  if (yrc < 0) {
    fprintf(stderr, "cinder doc: %s: cannot encode: %s\n", name, yjs_strerror(yrc));
    rc = 2;
    goto out;
  }
  if (store_backend_compact(b, name, state, state_len, r.last_seq)) {
    rc = doc_fail(b, "compact");
    goto out;
  }
  if (store_backend_commit(b)) {
    rc = doc_fail(b, "commit");
    goto out;
  }
  printf("%s: %zu entries, %zu bytes -> 1 entry, %zu bytes\n", name, r.count, r.total_bytes,
         state_len);
out:
  if (rc) store_backend_rollback(b);
  store_backend_close(b);
  store_load_result_clear(&r);
  yjs_free(state);
  return rc;
}

/* --- import ---------------------------------------------------------------------------------- */

static int doc_read_file(const char *path, buf_t *out) {
  FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!fp) {
    fprintf(stderr, "cinder doc import: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (;;) {
    uint8_t *p = buf_reserve(out, 65536);
    size_t n = fread(p, 1, 65536, fp);
    out->len += n;
    if (n < 65536) break;
  }
  int err = ferror(fp);
  if (fp != stdin) fclose(fp);
  if (err) {
    fprintf(stderr, "cinder doc import: %s: read error\n", path);
    return -1;
  }
  return 0;
}

static int doc_import(const doc_args_t *a) {
  if (a->npos != 2) {
    fprintf(stderr, "usage: cinder doc import NAME FILE\n");
    return 1;
  }
  const char *name = a->pos[0], *path = a->pos[1];
  if (!*name || !utf8_valid((const uint8_t *)name, strlen(name))) {
    fprintf(stderr, "cinder doc import: a document name is non-empty UTF-8\n");
    return 1;
  }
  buf_t in = BUF_INIT;
  if (doc_read_file(path, &in)) {
    buf_free(&in);
    return 1;
  }
  /* Decodes and validates it completely (an update may depend on entries already stored: those
   * parts just stay pending in this scratch document). */
  yjs_doc *doc = yjs_doc_new(0);
  yjs_error e = {0};
  int yrc = yjs_doc_apply_update_v1(doc, in.data, in.len, NULL, &e);
  yjs_doc_free(doc);
  if (yrc < 0) {
    fprintf(stderr, "cinder doc import: %s is not a Yjs update (v1): at byte %zu: %s\n", path,
            e.offset, e.msg[0] ? e.msg : yjs_strerror(yrc));
    buf_free(&in);
    return 2;
  }
  store_backend_t *b = doc_open(a, true);
  if (!b) {
    buf_free(&in);
    return 1;
  }
  int64_t seq;
  int rc = 0;
  if (store_backend_append(b, name, in.data, in.len, &seq)) rc = doc_fail(b, "append");
  else printf("%s: appended entry %lld (%zu bytes)\n", name, (long long)seq, in.len);
  store_backend_close(b);
  buf_free(&in);
  return rc;
}

/* --- delete ---------------------------------------------------------------------------------- */

static int doc_delete(const doc_args_t *a) {
  if (a->npos != 1) {
    fprintf(stderr, "usage: cinder doc delete NAME\n");
    return 1;
  }
  store_backend_t *b = doc_open(a, false);
  if (!b) return 1;
  size_t removed = 0;
  int rc = 0;
  if (store_backend_delete(b, a->pos[0], &removed)) {
    rc = doc_fail(b, "delete");
  } else if (removed == 0) {
    fprintf(stderr, "cinder doc: no document '%s'\n", a->pos[0]);
    rc = 1;
  } else {
    printf("%s: deleted %zu entries\n", a->pos[0], removed);
  }
  store_backend_close(b);
  return rc;
}

int cmd_doc(int argc, char **argv) {
  /* argv[0] is "doc" */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      doc_usage(stdout);
      return 0;
    }
  }
  if (argc < 2) {
    doc_usage(stderr);
    return 1;
  }
  const char *verb = argv[1];
  doc_args_t a = {0};
  if (doc_parse(argc, argv, 2, &a)) return 1;
  if (!strcmp(verb, "list")) return doc_list(&a);
  if (!strcmp(verb, "export")) return doc_export(&a);
  if (!strcmp(verb, "compact")) return doc_compact(&a);
  if (!strcmp(verb, "import")) return doc_import(&a);
  if (!strcmp(verb, "delete")) return doc_delete(&a);
  fprintf(stderr, "cinder doc: unknown command '%s'\n\n", verb);
  doc_usage(stderr);
  return 1;
}
