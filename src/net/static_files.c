/* Static files (issue 15): GET and HEAD of the paths no other route takes, from the web root.
 *
 *   - the path goes through http_path_normalize (no "..", NUL, backslash, encoded '/'; "/" and a
 *     trailing '/' are index.html): a refusal is 400;
 *   - the file is opened under the root's real path with O_NOFOLLOW (a symlink as the last
 *     component is refused) and must be a regular file whose real path (of the open descriptor)
 *     lies under the root's real path, so a symlinked directory leading out is refused too:
 *     anything refused or missing is 404, with a log line;
 *   - Content-Type by extension; ETag "<size hex>-<mtime ns hex>" of the file served; a matching
 *     If-None-Match is 304 with no body;
 *   - with Accept-Encoding allowing gzip and "<file>.gz" beside it (checked the same way), that
 *     is served with Content-Encoding: gzip; every answer says Vary: Accept-Encoding;
 *   - Cache-Control: "public, max-age=31536000, immutable" for names carrying a content hash
 *     ("name-<8+ hex or base32 chars>.ext", esbuild's [name]-[hash]), "no-cache" otherwise.
 *
 * Files are small app assets: the file is read whole, on the worker, into the response, and a
 * file over STATIC_MAX_FILE is refused (500, logged). Future work: a large-file path (sendfile
 * from a separate thread, so a worker never waits on disk for long). */
#include "net/static_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/frame.h"
#include "core/log.h"
#include "http/http_path.h"
#include "net/conn.h"
#include "net/http_handler.h"
#include "net/server.h"
#include "net/worker.h"

#define STATIC_MAX_FILE ((size_t)16 << 20)

static bool has_prefix(const http_request_t *req, const char *prefix) {
  size_t n = strlen(prefix);
  return req->path_len >= n && !memcmp(req->path, prefix, n);
}

bool static_files_take(const conn_t *c, const http_request_t *req) {
  const server_config_t *cfg = &c->w->server->cfg;
  if (!cfg->web_root || !*cfg->web_root) return false;
  if (has_prefix(req, "/api/")) return false;
  size_t sl = strlen(cfg->socket_path);
  return !(req->path_len > sl && !memcmp(req->path, cfg->socket_path, sl) &&
           req->path[sl] == '/');
}

static const char *static_content_type(const char *name) {
  static const struct { const char *ext, *type; } types[] = {
      {"html", "text/html; charset=utf-8"},  {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},          {"svg", "image/svg+xml"},
      {"png", "image/png"},                  {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},                {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},          {"txt", "text/plain; charset=utf-8"},
      {"map", "application/json"},
  };
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (!strcmp(dot + 1, types[i].ext)) return types[i].type;
  return "application/octet-stream";
}

/* "name-<hash>.ext": the part after the last '-' of the base name, up to the next '.', is 8 or
 * more characters, all hex (one case) or all base32 (A-Z, 2-7). */
static bool static_name_hashed(const char *name) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  const char *dash = strrchr(base, '-');
  if (!dash || dash == base) return false;
  const char *h = dash + 1;
  size_t n = strcspn(h, ".");
  if (n < 8 || !h[n]) return false; /* a hash, then an extension */
  bool lower_hex = true, upper_hex = true, b32 = true;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    bool digit = c >= '0' && c <= '9';
    lower_hex = lower_hex && (digit || (c >= 'a' && c <= 'f'));
    upper_hex = upper_hex && (digit || (c >= 'A' && c <= 'F'));
    b32 = b32 && ((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'));
  }
  return lower_hex || upper_hex || b32;
}

/* Accept-Encoding allows gzip: "gzip" (or "x-gzip") listed without q=0, or "*" without q=0 and
 * gzip not listed. */
static bool static_accepts_gzip(const http_request_t *req) {
  int gzip = -1, star = -1; /* -1: not listed, 0: refused, 1: accepted */
  for (const http_header_t *h = NULL; (h = http_header_find_next(req, "accept-encoding", h));) {
    const char *s = h->value, *end = h->value + h->value_len;
    while (s < end) {
      const char *e = memchr(s, ',', (size_t)(end - s));
      if (!e) e = end;
      while (s < e && (*s == ' ' || *s == '\t')) s++;
      size_t tl = 0;
      while (s + tl < e && s[tl] != ';' && s[tl] != ' ' && s[tl] != '\t') tl++;
      bool q0 = false;
      for (const char *q = s + tl; q + 2 < e; q++)
        if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
          q += 2;
          q0 = *q == '0';
          for (q++; q0 && q < e && *q != ' ' && *q != ';'; q++) q0 = *q == '.' || *q == '0';
          break;
        }
      if ((tl == 4 && !strncasecmp(s, "gzip", 4)) || (tl == 6 && !strncasecmp(s, "x-gzip", 6)))
        gzip = !q0;
      else if (tl == 1 && *s == '*')
        star = !q0;
      s = e + 1;
    }
  }
  return gzip >= 0 ? gzip == 1 : star == 1;
}

/* Opens root/rel as a regular file whose real path lies under root (its real path, given);
 * -1 with errno (ENOENT also for anything refused; why says what). */
static int static_open(const char *root, const char *rel, struct stat *st, const char **why) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path) {
    *why = "path too long";
    return -1;
  }
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *why = errno == ELOOP ? "a symlink" : errno == ENOENT || errno == ENOTDIR ? NULL : strerror(errno);
    return -1;
  }
  char link[64], real[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof real - 1);
  if (n < 0 && realpath(path, real)) n = (ssize_t)strlen(real);
  size_t rl = strlen(root);
  if (n < 0 || (size_t)n <= rl || memcmp(real, root, rl) || real[rl] != '/') {
    *why = "outside the web root";
    close(fd);
    return -1;
  }
  if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
    *why = S_ISDIR(st->st_mode) ? NULL : "not a regular file";
    close(fd);
    return -1;
  }
  return fd;
}

/* If-None-Match lists this ETag (weak comparison) or is "*". */
static bool static_not_modified(const http_request_t *req, const char *etag) {
  const http_header_t *h = http_header_find(req, "if-none-match");
  if (!h) return false;
  size_t el = strlen(etag);
  const char *s = h->value, *end = h->value + h->value_len;
  while (s < end) {
    const char *e = memchr(s, ',', (size_t)(end - s));
    if (!e) e = end;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    const char *t = e;
    while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
    if (t - s == 1 && *s == '*') return true;
    if (t - s >= 2 && s[0] == 'W' && s[1] == '/') s += 2;
    if ((size_t)(t - s) == el && !memcmp(s, etag, el)) return true;
    s = e + 1;
  }
  return false;
}

static void static_refuse(conn_t *c, const http_request_t *req, int status, const char *why) {
  /* the words of the router's own refusals (http_handler.c), the static reason after them */
  const char *what = status == 404 ? "not found" : status == 400 ? "bad path"
                     : status == 405 ? "method not allowed" : why;
  log_info("conn %s: %.*s %.*s: %s (static files: %s)", c->peer, (int)req->method_len,
           req->method, (int)req->path_len, req->path, what, why);
  if (status == 405)
    http_respond_error_with(c, 405, what, "Allow: GET, HEAD\r\n");
  else
    http_respond_error(c, status, what);
}

void static_files_serve(conn_t *c, const http_request_t *req) {
  bool head = http_method_is(req, "HEAD");
  if (!head && !http_method_is(req, "GET")) {
    static_refuse(c, req, 405, "method not allowed");
    return;
  }
  char rel[2048];
  long rc = http_path_normalize(req->path, req->path_len, rel, sizeof rel - 3);
  if (rc < 0) {
    static_refuse(c, req, 400, http_path_strerror(rc));
    return;
  }
  char root[PATH_MAX];
  if (!realpath(c->w->server->cfg.web_root, root)) {
    static_refuse(c, req, 404, "the web root cannot be resolved");
    return;
  }
  struct stat st;
  const char *why = NULL;
  int fd = -1;
  bool gz = false;
  if (static_accepts_gzip(req)) {
    memcpy(rel + rc, ".gz", 4);
    fd = static_open(root, rel, &st, &why);
    rel[rc] = '\0';
    gz = fd >= 0;
    why = NULL;
  }
  if (fd < 0) fd = static_open(root, rel, &st, &why);
  if (fd < 0) {
    static_refuse(c, req, 404, why ? why : "no such file");
    return;
  }
  if ((size_t)st.st_size > STATIC_MAX_FILE) {
    close(fd);
    static_refuse(c, req, 500, "file too large to serve");
    return;
  }
  char etag[64];
  unsigned long long mtime_ns =
      (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec;
  snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size, mtime_ns,
           gz ? "-gz" : "");
  bool not_modified = static_not_modified(req, etag);
  size_t size = (size_t)st.st_size, got = 0;
  char *body = NULL;
  if (!not_modified && !head) {
    body = malloc(size ? size : 1);
    while (body && got < size) {
      ssize_t n = pread(fd, body + got, size - got, (off_t)got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    if (!body || got < size) {
      const char *what = body ? "read failed" : "out of memory";
      close(fd);
      free(body);
      static_refuse(c, req, 500, what);
      return;
    }
  }
  close(fd);
  buf_t b = BUF_INIT;
  buf_printf(&b, "HTTP/1.1 %s\r\nServer: cinder/%s\r\n", not_modified ? "304 Not Modified" : "200 OK",
             CINDER_VERSION);
  if (!not_modified)
    buf_printf(&b, "Content-Length: %zu\r\nContent-Type: %s\r\n", size, static_content_type(rel));
  if (gz) buf_append_str(&b, "Content-Encoding: gzip\r\n");
  buf_printf(&b, "ETag: %s\r\nCache-Control: %s\r\nVary: Accept-Encoding\r\n"
             "X-Content-Type-Options: nosniff\r\n%s\r\n",
             etag, static_name_hashed(rel) ? "public, max-age=31536000, immutable" : "no-cache",
             req->keep_alive ? "" : "Connection: close\r\n");
  if (body) buf_append(&b, body, size);
  free(body);
  frame_t *f = frame_from_buf(&b, 0);
  conn_send(c, f);
  frame_unref(f);
  if (!req->keep_alive) c->close_after_write = true;
}
