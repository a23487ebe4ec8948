/* libFuzzer target for signed tokens (src/auth). Two properties on every input:
 *
 *  1. The input as a token, verified by a server with an HS256 secret and by one with an RSA
 *     public key (generated once, at the first call): no crash, no leak; an acceptance carries a
 *     non-empty sub of at most AUTH_MAX_SUB bytes, a refusal one of the documented reasons and a
 *     zeroed *out.
 *  2. The input as the payload of a token built and HS256-signed here: it verifies iff the
 *     reference below (written apart from auth_claims.c, on jansson's tree) says its claims pass
 *     — on a server without audience/issuer and on one with both — and an acceptance hands out
 *     exactly the claims of the payload. The same payload MAC'd with the RSA key's PEM text as
 *     the HMAC secret (the algorithm-confusion forgery) never verifies on the RSA server. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/auth.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000
#define LEEWAY 5
#define SECRET "fuzz-auth-secret"
#define AUDIENCE "cinder"
#define ISSUER "ash"

static auth_t *a_hs, *a_full, *a_rsa;
static char *rsa_pem;

static void init(void) {
  if (a_hs) return;
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  CHECK(k);
  BIO *bio = BIO_new(BIO_s_mem());
  CHECK(bio && PEM_write_bio_PUBKEY(bio, k) == 1);
  char *pem;
  long n = BIO_get_mem_data(bio, &pem);
  rsa_pem = malloc((size_t)n + 1);
  memcpy(rsa_pem, pem, (size_t)n);
  rsa_pem[n] = '\0';
  BIO_free(bio);
  EVP_PKEY_free(k);
  char err[256];
  a_hs = auth_new(&(auth_config_t){.secret = SECRET, .leeway_s = LEEWAY}, err, sizeof err);
  a_full = auth_new(&(auth_config_t){.secret = SECRET, .audience = AUDIENCE, .issuer = ISSUER,
                                     .leeway_s = LEEWAY}, err, sizeof err);
  a_rsa = auth_new(&(auth_config_t){.public_key_pem = rsa_pem, .leeway_s = LEEWAY}, err, sizeof err);
  CHECK(a_hs && a_full && a_rsa);
}

static const char *const REASONS[] = {
  "malformed token", "token too long", "unsupported algorithm", "unsupported token type",
  "unsupported critical header", "algorithm does not match the configured key", "bad signature",
  "bad exp claim", "bad nbf claim", "token expired", "token not yet valid", "missing sub",
  "wrong audience", "wrong issuer", "bad channels claim", "bad write claim",
};

static bool known_reason(const char *why) {
  for (size_t i = 0; i < sizeof REASONS / sizeof *REASONS; i++)
    if (why == REASONS[i] || (why && strcmp(why, REASONS[i]) == 0)) return true;
  return false;
}

static bool zeroed(const auth_claims_t *c) {
  return !c->sub && !c->exp && !c->channels && !c->nchannels && !c->has_channels && !c->write &&
         !c->nwrite && !c->has_write;
}

/* Verifies; 0 or -1, checking the shape of the result either way. c is filled on 0. */
static int verify(const auth_t *a, const char *token, size_t len, auth_claims_t *c) {
  const char *why = NULL;
  memset(c, 0x5A, sizeof *c);
  int rc = auth_verify(a, token, len, NOW, c, &why);
  CHECK(rc == 0 || rc == -1);
  if (rc == 0) {
    CHECK(c->sub && c->sub[0] && strlen(c->sub) <= AUTH_MAX_SUB);
    CHECK(c->nchannels <= AUTH_MAX_PATTERNS && c->nwrite <= AUTH_MAX_PATTERNS);
    CHECK(c->has_channels || (!c->channels && !c->nchannels));
    CHECK(c->has_write || (!c->write && !c->nwrite));
  } else {
    CHECK(known_reason(why));
    CHECK(zeroed(c));
  }
  return rc;
}

/* --- the reference for property 2 --------------------------------------------------------------- */

static int depth(json_t *v) {
  if (!json_is_object(v) && !json_is_array(v)) return 0;
  int d = 0;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
      int e = depth(x);
      if (e > d) d = e;
    }
  } else {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      int e = depth(x);
      if (e > d) d = e;
    }
  }
  return d + 1;
}

static bool short_string(json_t *v, size_t max) {
  return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max;
}

static bool pattern_list_ok(json_t *v) {
  if (!v) return true;
  if (!json_is_array(v) || json_array_size(v) > AUTH_MAX_PATTERNS) return false;
  for (size_t i = 0; i < json_array_size(v); i++)
    if (!short_string(json_array_get(v, i), AUTH_MAX_PATTERN_LEN)) return false;
  return true;
}

static bool same_string(json_t *v, const char *s) {
  return json_is_string(v) && strcmp(json_string_value(v), s) == 0 &&
         json_string_length(v) == strlen(s);
}

/* Whether the claims of p pass at NOW; with_aud_iss: also audience AUDIENCE and issuer ISSUER. */
static bool reference(json_t *p, bool with_aud_iss) {
  if (!json_is_object(p) || depth(p) > AUTH_MAX_JSON_DEPTH) return false;
  json_t *exp = json_object_get(p, "exp"), *nbf = json_object_get(p, "nbf");
  if (exp) {
    if (json_is_integer(exp)) {
      if ((json_int_t)NOW - LEEWAY > json_integer_value(exp)) return false;
    } else if (json_is_real(exp)) {
      if ((double)(NOW - LEEWAY) > json_real_value(exp)) return false;
    } else {
      return false;
    }
  }
  if (nbf) {
    if (json_is_integer(nbf)) {
      if ((json_int_t)NOW + LEEWAY < json_integer_value(nbf)) return false;
    } else if (json_is_real(nbf)) {
      if ((double)(NOW + LEEWAY) < json_real_value(nbf)) return false;
    } else {
      return false;
    }
  }
  if (!short_string(json_object_get(p, "sub"), AUTH_MAX_SUB)) return false;
  if (with_aud_iss) {
    json_t *aud = json_object_get(p, "aud");
    bool found = same_string(aud, AUDIENCE);
    if (json_is_array(aud)) {
      for (size_t i = 0; i < json_array_size(aud); i++) {
        json_t *x = json_array_get(aud, i);
        if (!json_is_string(x)) return false;
        if (same_string(x, AUDIENCE)) found = true;
      }
    }
    if (!found || !same_string(json_object_get(p, "iss"), ISSUER)) return false;
  }
  return pattern_list_ok(json_object_get(p, "channels")) &&
         pattern_list_ok(json_object_get(p, "write"));
}

static void same_list(json_t *v, char **list, size_t n, bool has) {
  CHECK(has == (v != NULL));
  if (!v) return;
  CHECK(n == json_array_size(v));
  for (size_t i = 0; i < n; i++) CHECK(same_string(json_array_get(v, i), list[i]));
}

static void same_claims(json_t *p, const auth_claims_t *c) {
  CHECK(same_string(json_object_get(p, "sub"), c->sub));
  json_t *exp = json_object_get(p, "exp");
  if (!exp) CHECK(c->exp == 0);
  else if (json_is_integer(exp)) CHECK(c->exp == json_integer_value(exp));
  else {
    /* A real: rounded down, clamped to int64. */
    double x = json_real_value(exp);
    if (x >= 9223372036854775808.0) CHECK(c->exp == INT64_MAX);
    else if (x < -9223372036854775808.0) CHECK(c->exp == INT64_MIN);
    else CHECK((double)c->exp <= x && x - (double)c->exp < 1.0);
  }
  same_list(json_object_get(p, "channels"), c->channels, c->nchannels, c->has_channels);
  same_list(json_object_get(p, "write"), c->write, c->nwrite, c->has_write);
}

/* --- building tokens ------------------------------------------------------------------------ */

static size_t b64url(const uint8_t *p, size_t n, char *out) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = abc[v >> 18];
    *o++ = abc[v >> 12 & 63];
    *o++ = abc[v >> 6 & 63];
    *o++ = abc[v & 63];
  }
  if (n - i == 1) {
    *o++ = abc[p[i] >> 2];
    *o++ = abc[(p[i] & 3) << 4];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
    *o++ = abc[v >> 10];
    *o++ = abc[v >> 4 & 63];
    *o++ = abc[(v & 15) << 2];
  }
  return (size_t)(o - out);
}

/* An HS256 token of payload MAC'd with key; malloc'd, length in *len. */
static char *hs256_token(const uint8_t *payload, size_t n, const char *key, size_t *len) {
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char *t = malloc(64 + n / 3 * 4 + 8 + 64);
  size_t o = b64url((const uint8_t *)header, sizeof header - 1, t);
  t[o++] = '.';
  o += b64url(payload, n, t + o);
  uint8_t mac[32];
  unsigned int mac_len = 0;
  CHECK(HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)t, o, mac, &mac_len));
  t[o++] = '.';
  o += b64url(mac, mac_len, t + o);
  *len = o;
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  auth_claims_t c;

  /* 1. Arbitrary bytes as a token. */
  if (verify(a_hs, (const char *)data, size, &c) == 0) auth_claims_free(&c);
  if (verify(a_rsa, (const char *)data, size, &c) == 0) auth_claims_free(&c);

  /* 2. The bytes as the payload of a well-signed token. */
  size_t len;
  char *token = hs256_token(data, size, SECRET, &len);
  json_error_t jerr;
  json_t *p = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  bool fits = len <= AUTH_MAX_TOKEN;
  const auth_t *auths[] = {a_hs, a_full};
  for (int i = 0; i < 2; i++) {
    bool want = fits && p && reference(p, i == 1);
    int rc = verify(auths[i], token, len, &c);
    if (want != (rc == 0)) {
      fprintf(stderr, "server %d: %s, reference says %s\n", i, rc == 0 ? "accepted" : "refused",
              want ? "accept" : "refuse");
      CHECK(false);
    }
    if (rc == 0) {
      same_claims(p, &c);
      auth_claims_free(&c);
    }
  }
  free(token);
  json_decref(p);

  /* The forgery: HS256 with the RSA public key's PEM text as the secret. */
  token = hs256_token(data, size, rsa_pem, &len);
  const char *why = NULL;
  CHECK(auth_verify(a_rsa, token, len, NOW, &c, &why) == -1);
  CHECK(!strcmp(why, !fits       ? "token too long"
                     : size == 0 ? "malformed token" /* an empty payload part */
                                 : "algorithm does not match the configured key"));
  free(token);
  return 0;
}
