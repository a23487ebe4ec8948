#include "cluster/cluster_url.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decode [s, s + n) into out (size cap, NUL-terminated). */
static bool decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) return false;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || o + 1 >= cap) return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

static bool parse_int(const char *s, size_t n, int lo, int hi, int *out) {
  if (!n || n > 5) return false;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

int cluster_redis_url_parse(const char *url, cluster_redis_url_t *u, const char **why) {
  memset(u, 0, sizeof *u);
  u->port = 6379;
  static const char scheme[] = "redis://";
  if (strncmp(url, scheme, sizeof scheme - 1)) {
    *why = "the URL must start with redis://";
    return -1;
  }
  const char *p = url + sizeof scheme - 1;
  const char *end = p + strlen(p);
  const char *slash = memchr(p, '/', (size_t)(end - p));
  const char *auth_end = NULL;
  for (const char *q = p; q < (slash ? slash : end); q++)
    if (*q == '@') auth_end = q; /* the last '@' before the path: a password may hold one */
  if (auth_end) {
    const char *colon = memchr(p, ':', (size_t)(auth_end - p));
    if (!colon) {
      *why = "credentials must be [user]:password@";
      return -1;
    }
    if (!decode(p, (size_t)(colon - p), u->user, sizeof u->user) ||
        !decode(colon + 1, (size_t)(auth_end - colon - 1), u->password, sizeof u->password)) {
      *why = "bad user or password (percent-encoding, length)";
      return -1;
    }
    p = auth_end + 1;
  }
  const char *host_end = slash ? slash : end;
  const char *port_colon = NULL;
  const char *h = p, *he;
  if (*p == '[') {
    const char *close = memchr(p, ']', (size_t)(host_end - p));
    if (!close) {
      *why = "unterminated [IPv6] host";
      return -1;
    }
    h = p + 1;
    he = close;
    if (close + 1 < host_end) {
      if (close[1] != ':') {
        *why = "junk after the [IPv6] host";
        return -1;
      }
      port_colon = close + 1;
    }
  } else {
    port_colon = memchr(p, ':', (size_t)(host_end - p));
    he = port_colon ? port_colon : host_end;
  }
  size_t hn = (size_t)(he - h);
  if (!hn || hn >= sizeof u->host) {
    *why = "missing or too long host";
    return -1;
  }
  memcpy(u->host, h, hn);
  u->host[hn] = '\0';
  if (port_colon &&
      !parse_int(port_colon + 1, (size_t)(host_end - port_colon - 1), 1, 65535, &u->port)) {
    *why = "bad port";
    return -1;
  }
  if (slash && slash + 1 < end && !parse_int(slash + 1, (size_t)(end - slash - 1), 0, 15, &u->db)) {
    *why = "bad database number (0-15)";
    return -1;
  }
  return 0;
}
