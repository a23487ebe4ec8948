/* cinder yjs: drive the Yjs engine from the command line on raw update-v1 files.
 *
 *   cinder yjs merge [--log] [--stats] FILE...        full state of the doc built from FILEs
 *   cinder yjs sv    [--log] [--stats] FILE...        its state vector
 *   cinder yjs diff  SV_FILE [--log] [--stats] FILE... what a peer with that state vector lacks
 *   cinder yjs json  [--log] [--stats] FILE...        its content as JSON (+ newline)
 *
 * --log: each FILE is a sequence of updates, each framed as a lib0 varUint8Array.
 * Exit status: 0 ok, 1 usage or I/O error, 2 malformed input. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cmd/cmd.h"
#include "yjs/yjs.h"

static void yjs_usage(FILE *out) {
  fputs("usage: cinder yjs <verb> [options] FILE...\n"
        "\n"
        "verbs (FILEs are applied in order to one document; '-' is stdin):\n"
        "  merge FILE...          the document's full state as one update v1 (stdout, binary)\n"
        "  sv FILE...             the document's state vector (stdout, binary)\n"
        "  diff SV_FILE FILE...   the update a peer with state vector SV_FILE is missing\n"
        "  json FILE...           the document's content as JSON text\n"
        "\n"
        "options:\n"
        "  --log     each FILE holds many updates, each framed as varUint length + bytes\n"
        "  --stats   print {\"updates\",\"apply_ms\",\"encode_ms\",\"max_rss_kb\"} to stderr\n"
        "  --help    this text\n"
        "\n"
        "exit status: 0 ok, 1 usage or I/O error, 2 malformed input\n",
        out);
}

typedef struct file_buf {
  uint8_t *data;
  size_t len;
} file_buf;

static int read_file(const char *path, file_buf *fb) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) {
    fprintf(stderr, "cinder yjs: %s: %s\n", path, strerror(errno));
    return 1;
  }
  size_t cap = 1 << 16, len = 0;
  uint8_t *data = malloc(cap);
  if (!data) {
    if (f != stdin) fclose(f);
    fprintf(stderr, "cinder yjs: out of memory\n");
    return 1;
  }
  for (;;) {
    if (len == cap) {
      cap *= 2;
      uint8_t *n = realloc(data, cap);
      if (!n) {
        free(data);
        if (f != stdin) fclose(f);
        fprintf(stderr, "cinder yjs: out of memory\n");
        return 1;
      }
      data = n;
    }
    size_t got = fread(data + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  if (f != stdin) fclose(f);
  if (bad) {
    free(data);
    fprintf(stderr, "cinder yjs: %s: read error\n", path);
    return 1;
  }
  fb->data = data;
  fb->len = len;
  return 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Read a lib0 varUint from p[*pos..n); returns 0 on success. */
static int read_var_uint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return -1;
    uint8_t c = p[(*pos)++];
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

static int write_all(const void *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) {
    fprintf(stderr, "cinder yjs: write error: %s\n", strerror(errno));
    return 1;
  }
  if (fflush(stdout)) {
    fprintf(stderr, "cinder yjs: write error: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}

int cmd_yjs(int argc, char **argv) {
  if (argc < 2) {
    yjs_usage(stderr);
    return 1;
  }
  const char *verb = argv[1];
  if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
    yjs_usage(stdout);
    return 0;
  }
  enum { V_MERGE, V_SV, V_DIFF, V_JSON } v;
  if (!strcmp(verb, "merge"))
    v = V_MERGE;
  else if (!strcmp(verb, "sv"))
    v = V_SV;
  else if (!strcmp(verb, "diff"))
    v = V_DIFF;
  else if (!strcmp(verb, "json"))
    v = V_JSON;
  else {
    fprintf(stderr, "cinder yjs: unknown verb '%s'\n\n", verb);
    yjs_usage(stderr);
    return 1;
  }
  bool log = false, stats = false;
  const char **files = calloc((size_t)argc, sizeof(*files));
  size_t nfiles = 0;
  const char *sv_path = NULL;
  if (!files) return 1;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--log")) {
      log = true;
    } else if (!strcmp(a, "--stats")) {
      stats = true;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      yjs_usage(stdout);
      free(files);
      return 0;
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "cinder yjs: unknown option '%s'\n", a);
      free(files);
      return 1;
    } else if (v == V_DIFF && !sv_path) {
      sv_path = a;
    } else {
      files[nfiles++] = a;
    }
  }
  if (v == V_DIFF && !sv_path) {
    fprintf(stderr, "cinder yjs diff: missing SV_FILE\n");
    free(files);
    return 1;
  }
  int rc = 0;
  file_buf sv = {0};
  if (sv_path && (rc = read_file(sv_path, &sv))) {
    free(files);
    return rc;
  }
  yjs_doc *doc = yjs_doc_new(0);
  if (!doc) {
    free(files);
    free(sv.data);
    return 1;
  }
  /* read everything first so that apply time excludes I/O */
  file_buf *bufs = calloc(nfiles ? nfiles : 1, sizeof(*bufs));
  for (size_t i = 0; i < nfiles && !rc; i++) rc = read_file(files[i], &bufs[i]);
  uint64_t nupdates = 0;
  double t0 = now_ms();
  for (size_t i = 0; i < nfiles && !rc; i++) {
    yjs_error err;
    if (!log) {
      int e = yjs_doc_apply_update_v1(doc, bufs[i].data, bufs[i].len, NULL, &err);
      nupdates++;
      if (e) {
        fprintf(stderr, "cinder yjs: %s: malformed update: %s\n", files[i], err.msg);
        rc = 2;
      }
      continue;
    }
    size_t pos = 0;
    for (uint64_t k = 0; pos < bufs[i].len; k++) {
      uint64_t n;
      if (read_var_uint(bufs[i].data, bufs[i].len, &pos, &n) || n > bufs[i].len - pos) {
        fprintf(stderr, "cinder yjs: %s: update %llu: truncated log frame\n", files[i],
                (unsigned long long)k);
        rc = 2;
        break;
      }
      int e = yjs_doc_apply_update_v1(doc, bufs[i].data + pos, (size_t)n, NULL, &err);
      nupdates++;
      if (e) {
        fprintf(stderr, "cinder yjs: %s: update %llu: malformed update: %s\n", files[i],
                (unsigned long long)k, err.msg);
        rc = 2;
        break;
      }
      pos += (size_t)n;
    }
  }
  double t1 = now_ms();
  uint8_t *out = NULL;
  size_t out_len = 0;
  if (!rc) {
    int e = 0;
    yjs_error err;
    memset(&err, 0, sizeof(err));
    switch (v) {
      case V_MERGE: e = yjs_doc_encode_state_as_update_v1(doc, NULL, 0, &out, &out_len, &err); break;
      case V_SV: e = yjs_doc_encode_state_vector(doc, &out, &out_len); break;
      case V_DIFF:
        e = yjs_doc_encode_state_as_update_v1(doc, sv.data, sv.len, &out, &out_len, &err);
        break;
      case V_JSON: e = yjs_doc_to_json(doc, (char **)&out, &out_len); break;
    }
    if (e) {
      fprintf(stderr, "cinder yjs: %s: %s\n", v == V_DIFF ? sv_path : "encode",
              err.msg[0] ? err.msg : yjs_strerror(e));
      rc = e == YJS_EINVAL || e == YJS_ENOMEM ? 1 : 2;
    }
  }
  double t2 = now_ms();
  if (!rc) {
    rc = write_all(out, out_len);
    if (!rc && v == V_JSON) rc = write_all("\n", 1);
  }
  if (stats) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "{\"updates\":%llu,\"apply_ms\":%.3f,\"encode_ms\":%.3f,\"max_rss_kb\":%ld}\n",
            (unsigned long long)nupdates, t1 - t0, t2 - t1, ru.ru_maxrss);
  }
  yjs_free(out);
  for (size_t i = 0; i < nfiles; i++) free(bufs[i].data);
  free(bufs);
  free(sv.data);
  free(files);
  yjs_doc_free(doc);
  return rc;
}
