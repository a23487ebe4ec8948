#ifndef CINDER_HTTP_PARSER_H
#define CINDER_HTTP_PARSER_H
/* Strict, bounded HTTP/1.1 request-head parser (RFC 9112), zero-copy: every pointer in
 * http_request_t points into the caller's buffer, which must outlive the request.
 *
 * Stateless: call it again on the whole buffer each time more bytes arrive. An error is returned
 * as soon as the bytes seen so far make one certain, so a prefix of the input never gives an
 * answer the whole input would not (a prefix is either incomplete or fails the same way). The
 * head is bounded by HTTP_MAX_HEAD bytes, so re-parsing costs at most that much per read.
 *
 * What is refused, and why: we speak to browsers and WebSocket clients, never to proxies, so
 * every leniency RFC 9112 permits (bare LF, obs-fold, whitespace before ':', absolute-form,
 * Transfer-Encoding) is a request-smuggling or confusion risk we do not need to take. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD 16384 /* bytes of request line + headers; more -> 431 (414 in the target) */
#define HTTP_MAX_HEADERS 64 /* more -> 431 */

#define HTTP_INCOMPLETE 0

enum {
  HTTP_E_REQUEST_LINE = -1,     /* 400 malformed request line */
  HTTP_E_METHOD = -2,           /* 400 method is not a token */
  HTTP_E_TARGET = -3,           /* 400 not origin-form ("*" only for OPTIONS) or bad byte */
  HTTP_E_VERSION = -4,          /* 400 not HTTP/DIGIT.DIGIT */
  HTTP_E_VERSION_UNSUPPORTED = -5, /* 505 HTTP/x.y other than 1.0 and 1.1 */
  HTTP_E_LINE_ENDING = -6,      /* 400 bare LF or CR */
  HTTP_E_OBS_FOLD = -7,         /* 400 header line starting with whitespace */
  HTTP_E_HEADER_NAME = -8,      /* 400 header name not a token, or whitespace before ':' */
  HTTP_E_HEADER_VALUE = -9,     /* 400 control character in a header value */
  HTTP_E_CONTENT_LENGTH = -10,  /* 400 not digits, overflow, or disagreeing duplicates */
  HTTP_E_TRANSFER_ENCODING = -11, /* 501 bodies are read only by Content-Length */
  HTTP_E_NO_HOST = -12,         /* 400 HTTP/1.1 without Host */
  HTTP_E_DUPLICATE_HOST = -13,  /* 400 more than one Host */
  HTTP_E_URI_TOO_LONG = -14,    /* 414 request line does not fit in HTTP_MAX_HEAD */
  HTTP_E_HEAD_TOO_LARGE = -15,  /* 431 head does not fit in HTTP_MAX_HEAD */
  HTTP_E_TOO_MANY_HEADERS = -16, /* 431 more than HTTP_MAX_HEADERS */
};

typedef struct {
  const char *name;
  size_t name_len;
  const char *value; /* OWS trimmed on both sides */
  size_t value_len;
} http_header_t;

typedef struct http_request {
  const char *method;
  size_t method_len;
  const char *target; /* origin-form as sent: path[?query] */
  size_t target_len;
  const char *path; /* target up to '?' */
  size_t path_len;
  const char *query; /* after '?', excluding it; NULL if none */
  size_t query_len;
  int version_minor; /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */
  http_header_t headers[HTTP_MAX_HEADERS];
  size_t num_headers;
  int64_t content_length; /* -1 when absent */
  bool keep_alive;        /* per version + Connection header */
  size_t head_len;        /* bytes of the head incl. the final CRLFCRLF (and leading CRLFs) */
} http_request_t;

/* Returns head_len (>0) when a complete head was parsed, HTTP_INCOMPLETE (0) when more bytes are
 * needed (only while len < HTTP_MAX_HEAD), or a negative HTTP_E_* error. Reads nothing past len;
 * allocates nothing. */
int http_parse_request(const char *buf, size_t len, http_request_t *req);

/* HTTP status to answer an error with: 400, 414, 431, 501 or 505. */
int http_error_status(int err);
/* Short human reason, for the 4xx body and the log line. */
const char *http_strerror(int err);

/* First header with this name (case-insensitive), or NULL. */
const http_header_t *http_header_find(const http_request_t *req, const char *name);
/* The request's method is exactly `method` (methods are case-sensitive, RFC 9110 §9.1). */
bool http_method_is(const http_request_t *req, const char *method);
/* The next header with this name after prev (NULL: the first): for fields that may repeat. */
const http_header_t *http_header_find_next(const http_request_t *req, const char *name,
                                           const http_header_t *prev);
/* Whether a comma-separated header value lists token (case-insensitive, OWS trimmed). */
bool http_header_has_token(const http_header_t *h, const char *token);

#endif
