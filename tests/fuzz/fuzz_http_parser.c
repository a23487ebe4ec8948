/* libFuzzer target for the HTTP head parser (and, on the heads it accepts, the WebSocket upgrade
 * check). Invariants beyond "no crash": an accepted head lies within the input and the cap, every
 * pointer points into it, the fields obey the grammar; an error has an HTTP status; a prefix of
 * the input is incomplete or fails the same way. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "ws/ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static bool inside(const char *base, size_t len, const char *p, size_t n) {
  return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_request(const char *buf, int r, const http_request_t *req) {
  size_t head = (size_t)r;
  CHECK(req->head_len == head && head <= HTTP_MAX_HEAD);
  CHECK(head >= 4 && memcmp(buf + head - 4, "\r\n\r\n", 4) == 0);
  CHECK(inside(buf, head, req->method, req->method_len) && req->method_len > 0);
  CHECK(inside(buf, head, req->target, req->target_len) && req->target_len > 0);
  CHECK(req->target[0] == '/' || (req->target_len == 1 && req->target[0] == '*'));
  CHECK(req->path == req->target && req->path_len <= req->target_len);
  CHECK(!memchr(req->path, '?', req->path_len));
  if (req->query) {
    CHECK(req->query == req->path + req->path_len + 1);
    CHECK(req->path_len + 1 + req->query_len == req->target_len);
  } else {
    CHECK(req->path_len == req->target_len);
  }
  for (size_t i = 0; i < req->target_len; i++) CHECK(req->target[i] > 0x20 && req->target[i] < 0x7F);
  CHECK(req->version_minor == 0 || req->version_minor == 1);
  CHECK(req->num_headers <= HTTP_MAX_HEADERS);
  CHECK(req->content_length >= -1);
  size_t hosts = 0;
  for (size_t k = 0; k < req->num_headers; k++) {
    const http_header_t *h = &req->headers[k];
    CHECK(inside(buf, head, h->name, h->name_len) && h->name_len > 0);
    CHECK(inside(buf, head, h->value, h->value_len));
    CHECK(h->name[h->name_len] == ':');
    for (size_t i = 0; i < h->value_len; i++) {
      unsigned char c = (unsigned char)h->value[i];
      CHECK(c >= 0x20 || c == '\t');
      CHECK(c != 0x7F);
    }
    if (h->value_len) {
      CHECK(h->value[0] != ' ' && h->value[0] != '\t');
      CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
    }
    if (h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0) hosts++;
    CHECK(http_header_find(req, "host") != NULL || hosts == 0);
  }
  CHECK(hosts <= 1 && (hosts == 1 || req->version_minor == 0));
  (void)http_header_has_token(http_header_find(req, "connection"), "upgrade");

  ws_handshake_t hs;
  const char *reason = NULL;
  int st = ws_handshake_check(req, &hs, &reason);
  CHECK(st == 0 || st == 400 || st == 403 || st == 426);
  CHECK((st == 0) == (reason == NULL));
  if (st == 0) {
    CHECK(hs.key_len == 24 && inside(buf, head, hs.key, hs.key_len));
    char accept[29];
    ws_handshake_accept_key(hs.key, hs.key_len, accept);
    CHECK(strlen(accept) == 28);
  } else {
    CHECK(hs.auth_token == NULL);
  }
  ws_handshake_free(&hs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  http_request_t req;
  int r = http_parse_request(buf, size, &req);
  if (r > 0) {
    CHECK((size_t)r <= size);
    check_request(buf, r, &req);
  } else if (r == 0) {
    CHECK(size < HTTP_MAX_HEAD);
  } else {
    int st = http_error_status(r);
    CHECK(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
    CHECK(http_strerror(r) != NULL);
  }

  /* Prefixes: all of them for small inputs, a sample for large ones (each parse is O(n)). */
  size_t step = size <= 256 ? 1 : size / 64;
  http_request_t tmp;
  for (size_t cut = 0; cut < size; cut += step) {
    int p = http_parse_request(buf, cut, &tmp);
    if (r > 0) CHECK(p == 0 || (p == r && cut >= (size_t)r));
    else CHECK(p == 0 || p == r);
  }
  return 0;
}
