#include "http/http_parser.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~" */
static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool name_is(const http_header_t *h, const char *name, size_t n) {
  return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* Content-Length per RFC 9110 §8.6: 1*DIGIT; no sign, no list, no overflow. */
static bool parse_length(const char *s, size_t n, int64_t *out) {
  if (n == 0) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* The semantic checks once the whole head is in. */
static int finish(http_request_t *req) {
  size_t hosts = 0;
  bool chunked_or_te = false;
  req->content_length = -1;
  for (size_t k = 0; k < req->num_headers; k++) {
    const http_header_t *h = &req->headers[k];
    if (name_is(h, "content-length", 14)) {
      int64_t v;
      if (!parse_length(h->value, h->value_len, &v)) return HTTP_E_CONTENT_LENGTH;
      if (req->content_length >= 0 && req->content_length != v) return HTTP_E_CONTENT_LENGTH;
      req->content_length = v;
    } else if (name_is(h, "transfer-encoding", 17)) {
      chunked_or_te = true;
    } else if (name_is(h, "host", 4)) {
      hosts++;
    }
  }
  if (chunked_or_te) return HTTP_E_TRANSFER_ENCODING;
  if (hosts > 1) return HTTP_E_DUPLICATE_HOST;
  if (hosts == 0 && req->version_minor == 1) return HTTP_E_NO_HOST;
  const http_header_t *conn = NULL;
  bool close = false, keep = false;
  while ((conn = http_header_find_next(req, "connection", conn))) {
    close |= http_header_has_token(conn, "close");
    keep |= http_header_has_token(conn, "keep-alive");
  }
  req->keep_alive = req->version_minor == 1 ? !close : keep && !close;
  return 0;
}

int http_parse_request(const char *buf, size_t len, http_request_t *req) {
  /* Bytes past HTTP_MAX_HEAD can never belong to an acceptable head: running out of bytes at the
   * cap means "too large", before it "incomplete". */
  const bool capped = len >= HTTP_MAX_HEAD;
  const size_t limit = capped ? HTTP_MAX_HEAD : len;
#define OUT_OF_BYTES(err) return capped ? (err) : HTTP_INCOMPLETE
  size_t i = 0;
  req->num_headers = 0;

  /* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line. */
  while (i < limit && buf[i] == '\r') {
    if (i + 1 >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    if (buf[i + 1] != '\n') return HTTP_E_LINE_ENDING;
    i += 2;
  }

  size_t start = i;
  while (i < limit && is_tchar((unsigned char)buf[i])) i++;
  if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
  if (buf[i] == '\n') return HTTP_E_LINE_ENDING;
  if (i == start || buf[i] != ' ') return HTTP_E_METHOD;
  req->method = buf + start;
  req->method_len = i - start;

  start = ++i;
  /* Visible ASCII only: no controls, no spaces, no raw non-ASCII. Clients percent-encode the
   * rest, but some leave brackets or pipes in queries as they are, so we do not insist on the
   * RFC 3986 subset. */
  while (i < limit && buf[i] > 0x20 && buf[i] < 0x7F) i++;
  if (i >= limit) OUT_OF_BYTES(HTTP_E_URI_TOO_LONG);
  if (i == start) return buf[i] == ' ' ? HTTP_E_REQUEST_LINE : HTTP_E_TARGET;
  if (buf[i] != ' ') return buf[i] == '\r' || buf[i] == '\n' ? HTTP_E_REQUEST_LINE : HTTP_E_TARGET;
  req->target = buf + start;
  req->target_len = i - start;
  bool asterisk = req->target_len == 1 && req->target[0] == '*';
  if (asterisk) {
    if (!http_method_is(req, "OPTIONS")) return HTTP_E_TARGET;
  } else if (req->target[0] != '/') {
    return HTTP_E_TARGET;
  }
  const char *q = memchr(req->target, '?', req->target_len);
  req->path = req->target;
  req->path_len = q ? (size_t)(q - req->target) : req->target_len;
  req->query = q ? q + 1 : NULL;
  req->query_len = q ? req->target_len - req->path_len - 1 : 0;

  i++;
  static const char proto[] = "HTTP/";
  for (size_t k = 0; k < 5; k++, i++) {
    if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    if (buf[i] != proto[k]) return buf[i] == '\n' ? HTTP_E_LINE_ENDING : HTTP_E_VERSION;
  }
  if (limit - i < 3) {
    /* Check what is there so that a prefix never disagrees with the whole. */
    for (size_t k = 0; i + k < limit; k++) {
      char c = buf[i + k];
      if (k == 1 ? c != '.' : (c < '0' || c > '9')) return HTTP_E_VERSION;
    }
    OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
  }
  char major = buf[i], dot = buf[i + 1], minor = buf[i + 2];
  if (major < '0' || major > '9' || dot != '.' || minor < '0' || minor > '9') return HTTP_E_VERSION;
  i += 3;
  if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
  if (buf[i] == '\n') return HTTP_E_LINE_ENDING;
  if (buf[i] != '\r') return HTTP_E_VERSION;
  if (i + 1 >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
  if (buf[i + 1] != '\n') return HTTP_E_LINE_ENDING;
  i += 2;
  if (major != '1' || minor > '1') return HTTP_E_VERSION_UNSUPPORTED;
  req->version_minor = minor - '0';

  for (;;) {
    if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    char c = buf[i];
    if (c == '\r') {
      if (i + 1 >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
      if (buf[i + 1] != '\n') return HTTP_E_LINE_ENDING;
      i += 2;
      break;
    }
    if (c == '\n') return HTTP_E_LINE_ENDING;
    /* obs-fold, or whitespace between the request line and the first field (RFC 9112 §2.2). */
    if (is_ows(c)) return HTTP_E_OBS_FOLD;
    if (req->num_headers == HTTP_MAX_HEADERS) return HTTP_E_TOO_MANY_HEADERS;

    start = i;
    while (i < limit && is_tchar((unsigned char)buf[i])) i++;
    if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    if (buf[i] == '\n') return HTTP_E_LINE_ENDING;
    if (i == start || buf[i] != ':') return HTTP_E_HEADER_NAME;
    http_header_t *h = &req->headers[req->num_headers];
    h->name = buf + start;
    h->name_len = i - start;
    i++;
    while (i < limit && is_ows(buf[i])) i++;
    size_t vstart = i, vend = i;
    while (i < limit) {
      unsigned char v = (unsigned char)buf[i];
      if (v == '\r') break;
      if (v == '\n') return HTTP_E_LINE_ENDING;
      if ((v < 0x20 && v != '\t') || v == 0x7F) return HTTP_E_HEADER_VALUE;
      i++;
      if (!is_ows((char)v)) vend = i;
    }
    if (i >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    if (i + 1 >= limit) OUT_OF_BYTES(HTTP_E_HEAD_TOO_LARGE);
    if (buf[i + 1] != '\n') return HTTP_E_LINE_ENDING;
    h->value = buf + vstart;
    h->value_len = vend - vstart;
    req->num_headers++;
    i += 2;
  }
#undef OUT_OF_BYTES

  int err = finish(req);
  if (err) return err;
  req->head_len = i;
  return (int)i;
}

int http_error_status(int err) {
  switch (err) {
    case HTTP_E_VERSION_UNSUPPORTED: return 505;
    case HTTP_E_TRANSFER_ENCODING: return 501;
    case HTTP_E_URI_TOO_LONG: return 414;
    case HTTP_E_HEAD_TOO_LARGE:
    case HTTP_E_TOO_MANY_HEADERS: return 431;
    default: return 400;
  }
}

const char *http_strerror(int err) {
  switch (err) {
    case HTTP_INCOMPLETE: return "incomplete request";
    case HTTP_E_REQUEST_LINE: return "malformed request line";
    case HTTP_E_METHOD: return "invalid method";
    case HTTP_E_TARGET: return "invalid request target";
    case HTTP_E_VERSION: return "malformed HTTP version";
    case HTTP_E_VERSION_UNSUPPORTED: return "HTTP version not supported";
    case HTTP_E_LINE_ENDING: return "lines must end with CRLF";
    case HTTP_E_OBS_FOLD: return "folded header line";
    case HTTP_E_HEADER_NAME: return "invalid header name";
    case HTTP_E_HEADER_VALUE: return "invalid character in header value";
    case HTTP_E_CONTENT_LENGTH: return "invalid Content-Length";
    case HTTP_E_TRANSFER_ENCODING: return "Transfer-Encoding not supported";
    case HTTP_E_NO_HOST: return "missing Host header";
    case HTTP_E_DUPLICATE_HOST: return "more than one Host header";
    case HTTP_E_URI_TOO_LONG: return "request target too long";
    case HTTP_E_HEAD_TOO_LARGE: return "request header too large";
    case HTTP_E_TOO_MANY_HEADERS: return "too many header fields";
    default: return "bad request";
  }
}

bool http_method_is(const http_request_t *req, const char *method) {
  size_t n = strlen(method);
  return req->method_len == n && memcmp(req->method, method, n) == 0;
}

const http_header_t *http_header_find_next(const http_request_t *req, const char *name,
                                           const http_header_t *prev) {
  size_t n = strlen(name);
  size_t k = prev ? (size_t)(prev - req->headers) + 1 : 0;
  for (; k < req->num_headers; k++)
    if (name_is(&req->headers[k], name, n)) return &req->headers[k];
  return NULL;
}

const http_header_t *http_header_find(const http_request_t *req, const char *name) {
  return http_header_find_next(req, name, NULL);
}

bool http_header_has_token(const http_header_t *h, const char *token) {
  if (!h) return false;
  size_t tlen = strlen(token);
  if (tlen == 0) return false;
  const char *s = h->value, *end = h->value + h->value_len;
  while (s < end) {
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    const char *a = s, *b = e;
    while (a < b && is_ows(*a)) a++;
    while (b > a && is_ows(b[-1])) b--;
    if ((size_t)(b - a) == tlen && strncasecmp(a, token, tlen) == 0) return true;
    s = comma ? comma + 1 : end;
  }
  return false;
}
