#ifndef CINDER_HTTP_ORIGIN_H
#define CINDER_HTTP_ORIGIN_H
/* Origin checking for the Phoenix socket, as Phoenix's `check_origin` with a list (spec §1.4):
 * a cross-site page must not open a socket with a user's cookies or token.
 *
 * Allowed-origin entries: "example.com" (host only: any scheme and port), "//example.com:8080"
 * (host and port), "https://example.com" (scheme, host and the scheme's default port),
 * "//" "*.example.com", i.e. a wildcard host (the domain and any subdomain). An Origin header is "scheme://host[:port]";
 * one that does not parse (e.g. "null") is refused when a list is configured; a request without
 * an Origin header (not a browser) is allowed. */
#include <stdbool.h>
#include <stddef.h>

typedef struct http_origin {
  char scheme[16]; /* lowercase; empty when the entry has none */
  char host[256];  /* lowercase, without the "*." of a wildcard */
  int port;        /* explicit or implied by the scheme; -1 when neither */
  bool wildcard;   /* "*.host": the host and its subdomains */
} http_origin_t;

typedef struct http_origin_list {
  http_origin_t *entries;
  size_t n;
} http_origin_list_t;

/* Parses one origin (an Origin header value or a list entry). 0, or -1 when malformed. */
int http_origin_parse(const char *s, size_t len, http_origin_t *out);
/* Parses a comma-separated list; -1 (and *bad set to the offending entry's start) if an entry is
 * malformed. An empty list allows everything. */
int http_origin_list_parse(const char *csv, http_origin_list_t *out, const char **bad);
void http_origin_list_free(http_origin_list_t *list);
/* Whether an Origin header value (NULL: no header) passes the list. */
bool http_origin_allowed(const http_origin_list_t *list, const char *origin, size_t len);

#endif
