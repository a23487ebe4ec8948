#include "http/http_origin.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

static int http_origin_default_port(const char *scheme) {
  if (!strcmp(scheme, "http") || !strcmp(scheme, "ws")) return 80;
  if (!strcmp(scheme, "https") || !strcmp(scheme, "wss")) return 443;
  return -1;
}

int http_origin_parse(const char *s, size_t len, http_origin_t *out) {
  memset(out, 0, sizeof *out);
  out->port = -1;
  while (len && (*s == ' ' || *s == '\t')) s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  const char *end = s + len, *p = s;
  const char *sep = NULL;
  for (const char *q = s; q + 3 <= end; q++)
    if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
      sep = q;
      break;
    }
  if (sep) { /* scheme://host[:port] */
    size_t sl = (size_t)(sep - s);
    if (sl == 0 || sl >= sizeof out->scheme) return -1;
    for (size_t i = 0; i < sl; i++) {
      char c = (char)tolower((unsigned char)s[i]);
      if (!(isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.')) return -1;
      out->scheme[i] = c;
    }
    p = sep + 3;
  } else if (len >= 2 && s[0] == '/' && s[1] == '/') { /* //host[:port] */
    p = s + 2;
  }
  if (end - p >= 2 && p[0] == '*' && p[1] == '.') {
    out->wildcard = true;
    p += 2;
  }
  const char *host = p;
  if (p < end && *p == '[') { /* an IPv6 literal */
    while (p < end && *p != ']') p++;
    if (p == end) return -1;
    p++;
  }
  while (p < end && *p != ':' && *p != '/') p++;
  size_t hl = (size_t)(p - host);
  if (hl == 0 || hl >= sizeof out->host) return -1;
  for (size_t i = 0; i < hl; i++) {
    char c = (char)tolower((unsigned char)host[i]);
    if (!(isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '[' || c == ']' ||
          (c == ':' && host[0] == '[')))
      return -1;
    out->host[i] = c;
  }
  if (p < end && *p == ':') {
    p++;
    long port = 0;
    const char *digits = p;
    while (p < end && isdigit((unsigned char)*p) && port <= 65535) port = port * 10 + (*p++ - '0');
    if (p == digits || port > 65535) return -1;
    out->port = (int)port;
  }
  if (p < end && !(*p == '/' && p + 1 == end)) return -1; /* only a trailing "/" may follow */
  if (out->port < 0 && out->scheme[0]) out->port = http_origin_default_port(out->scheme);
  return 0;
}

int http_origin_list_parse(const char *csv, http_origin_list_t *out, const char **bad) {
  out->entries = NULL;
  out->n = 0;
  const char *p = csv;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    http_origin_t o;
    const char *q = p;
    size_t ql = len;
    while (ql && (*q == ' ' || *q == '\t')) q++, ql--;
    if (ql) {
      if (http_origin_parse(q, ql, &o) < 0) {
        if (bad) *bad = q;
        http_origin_list_free(out);
        return -1;
      }
      out->entries = xrealloc(out->entries, (out->n + 1) * sizeof *out->entries);
      out->entries[out->n++] = o;
    }
    p = comma ? comma + 1 : NULL;
  }
  return 0;
}

void http_origin_list_free(http_origin_list_t *list) {
  free(list->entries);
  list->entries = NULL;
  list->n = 0;
}

static bool http_origin_host_matches(const http_origin_t *entry, const char *host) {
  if (!strcmp(entry->host, host)) return true;
  if (!entry->wildcard) return false;
  size_t hl = strlen(host), el = strlen(entry->host);
  return hl > el + 1 && host[hl - el - 1] == '.' && !strcmp(host + hl - el, entry->host);
}

bool http_origin_allowed(const http_origin_list_t *list, const char *origin, size_t len) {
  if (!list || list->n == 0 || !origin) return true;
  http_origin_t o;
  if (http_origin_parse(origin, len, &o) < 0 || !o.scheme[0]) return false;
  for (size_t i = 0; i < list->n; i++) {
    const http_origin_t *e = &list->entries[i];
    if (e->scheme[0] && strcmp(e->scheme, o.scheme)) continue;
    if (e->port >= 0 && e->port != o.port) continue;
    if (http_origin_host_matches(e, o.host)) return true;
  }
  return false;
}
