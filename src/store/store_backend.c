#include "store/store_backend.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

const char *store_strerror(int code) {
  switch (code) {
  case 0: return "ok";
  case STORE_EIO: return "storage error";
  case STORE_EBUSY: return "database locked by another process";
  case STORE_ECORRUPT: return "database file damaged or not a database";
  case STORE_EFULL: return "disk full";
  case STORE_EINVAL: return "invalid argument";
  case STORE_ENOENT: return "not found";
  case STORE_ESCHEMA: return "database written by a newer cinder";
  case STORE_EUNAVAIL: return "database server unreachable";
  default: return "unknown storage error";
  }
}

void store_load_result_clear(store_load_result_t *r) {
  if (!r) return;
  for (size_t i = 0; i < r->count; i++) free(r->data[i]);
  free(r->data);
  free(r->len);
  free(r->seq);
  int status = r->status;
  memset(r, 0, sizeof *r);
  r->status = status;
}

void store_load_result_free(store_load_result_t *r) {
  if (!r) return;
  store_load_result_clear(r);
  free(r);
}

void store_doc_info_free(store_doc_info_t *docs, size_t n) {
  if (!docs) return;
  for (size_t i = 0; i < n; i++) free(docs[i].name);
  free(docs);
}

store_backend_t *store_backend_open(const char *data_dir, unsigned flags, char *err,
                                    size_t errlen, int *code) {
  return store_sqlite_backend.open(data_dir, flags, err, errlen, code);
}

/* --- store URLs ---------------------------------------------------------------------------- */

/* Length of "scheme" when url starts with "scheme://", else 0. */
static size_t store_url_scheme_len(const char *url) {
  size_t i = 0;
  if (!url || !isalpha((unsigned char)url[0])) return 0;
  while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.') i++;
  return strncmp(url + i, "://", 3) ? 0 : i;
}

const store_backend_ops_t *store_backend_for_url(const char *url, const char **where, char *err,
                                                 size_t errlen) {
  if (!url || !*url) {
    *where = ".";
    return &store_sqlite_backend;
  }
  if (!strncmp(url, "sqlite:", 7)) {
    *where = url[7] ? url + 7 : ".";
    return &store_sqlite_backend;
  }
  if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
    *where = url;
    return &store_pg_backend;
  }
  size_t scheme = store_url_scheme_len(url);
  if (scheme) {
    snprintf(err, errlen, "unknown store URL scheme '%.*s' (sqlite:DIR, postgresql://... or a "
             "directory)", (int)(scheme > 32 ? 32 : scheme), url);
    *where = NULL;
    return NULL;
  }
  *where = url; /* a bare path: a SQLite data directory */
  return &store_sqlite_backend;
}

store_backend_t *store_backend_open_url(const char *url, unsigned flags, char *err, size_t errlen,
                                        int *code) {
  const char *where;
  const store_backend_ops_t *ops = store_backend_for_url(url, &where, err, errlen);
  if (!ops) {
    if (code) *code = STORE_EINVAL;
    return NULL;
  }
  return ops->open(where, flags, err, errlen, code);
}

/* The parts of a scheme:// URL that may hold a password: the userinfo's after its first ':'
 * ([*pw, *pw + *pwlen)), and the value of a password= parameter ([*q, *q + *qlen)). */
static void store_url_secrets(const char *url, const char **pw, size_t *pwlen, const char **q,
                              size_t *qlen) {
  *pw = *q = NULL;
  *pwlen = *qlen = 0;
  size_t scheme = store_url_scheme_len(url);
  if (!scheme) return;
  const char *auth = url + scheme + 3;
  size_t alen = strcspn(auth, "/?#");
  const char *at = NULL; /* the last '@' of the authority: a password may hold one */
  for (const char *p = auth; p < auth + alen; p++)
    if (*p == '@') at = p;
  if (at) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) {
      *pw = colon + 1;
      *pwlen = (size_t)(at - colon - 1);
    }
  }
  const char *query = strchr(auth + alen, '?');
  for (const char *p = query; p && *p;) {
    p++; /* past '?' or '&' */
    size_t plen = strcspn(p, "&#");
    if (plen > 9 && !strncmp(p, "password=", 9)) {
      *q = p + 9;
      *qlen = plen - 9;
    }
    p += plen;
    if (*p != '&') break;
  }
}

void store_url_redact(const char *url, char *out, size_t outlen) {
  if (!outlen) return;
  if (!url) url = "";
  const char *pw, *q;
  size_t pwlen, qlen;
  store_url_secrets(url, &pw, &pwlen, &q, &qlen);
  size_t at = 0;
  for (const char *p = url; *p && at + 1 < outlen;) {
    if ((p == pw && pwlen) || (p == q && qlen)) {
      for (const char *m = "***"; *m && at + 1 < outlen; m++) out[at++] = *m;
      p += p == pw ? pwlen : qlen;
      continue;
    }
    out[at++] = *p++;
  }
  out[at] = '\0';
}

static int store_url_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Masks every occurrence of secret[0..len) in msg. */
static void store_url_mask(char *msg, const char *secret, size_t len) {
  if (!len) return;
  size_t stars = len < 3 ? len : 3;
  for (char *from = msg, *hit; (hit = memmem(from, strlen(from), secret, len)); from = hit + stars) {
    memset(hit, '*', stars);
    memmove(hit + stars, hit + len, strlen(hit + len) + 1);
  }
}

/* Masks a secret as written in the URL and percent-decoded. */
static void store_url_mask_both(char *msg, const char *raw, size_t len) {
  if (!len) return;
  store_url_mask(msg, raw, len);
  char *dec = xmalloc(len + 1);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (raw[i] == '%' && i + 2 < len && (hi = store_url_hex(raw[i + 1])) >= 0 && (lo = store_url_hex(raw[i + 2])) >= 0) {
      dec[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      dec[n++] = raw[i];
    }
  }
  if (n != len && memchr(dec, '\0', n) == NULL) store_url_mask(msg, dec, n);
  free(dec);
}

void store_url_scrub(const char *url, char *msg) {
  if (!url || !msg) return;
  const char *pw, *q;
  size_t pwlen, qlen;
  store_url_secrets(url, &pw, &pwlen, &q, &qlen);
  store_url_mask_both(msg, pw, pwlen);
  store_url_mask_both(msg, q, qlen);
}

void store_url_describe(const char *url, char *out, size_t outlen) {
  const char *where;
  char err[8];
  const store_backend_ops_t *ops = store_backend_for_url(url, &where, err, sizeof err);
  if (ops == &store_sqlite_backend) snprintf(out, outlen, "%s/cinder.db", where);
  else store_url_redact(url, out, outlen);
}
