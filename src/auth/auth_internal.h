#ifndef CINDER_AUTH_AUTH_INTERNAL_H
#define CINDER_AUTH_AUTH_INTERNAL_H
/* Shared between auth.c (the token: base64url, header, signature) and auth_claims.c (the
 * payload's claims, patterns). Not for other layers; tests may use it. */
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth/auth.h"

struct auth {
  unsigned char *secret; /* NULL: no HS* */
  size_t secret_len;
  EVP_PKEY *pkey;        /* NULL: no RS256/ES256 */
  int pkey_kind;         /* AUTH_KEY_RSA or AUTH_KEY_EC_P256 when pkey is set */
  size_t rsa_sig_len;    /* the modulus size in bytes, for RS256 */
  /* Fetched once here, so that concurrent verifications do not each fetch them (OpenSSL 3's
   * implicit fetch takes a global lock). */
  EVP_MD *sha256, *sha384, *sha512;
  char *audience, *issuer; /* NULL: not checked */
  unsigned leeway_s;
};

enum { AUTH_KEY_NONE, AUTH_KEY_RSA, AUTH_KEY_EC_P256 };

/* Strict base64url (RFC 4648 §5, RFC 7515 §2): only A-Z a-z 0-9 - _, no padding, no whitespace,
 * len % 4 != 1, and the unused bits of the last character zero (one encoding per byte string).
 * out has room for len * 3 / 4 bytes. The decoded length, or -1. */
long auth_base64url_decode(const char *s, size_t len, uint8_t *out);

/* Whether [s, s + len) nests arrays and objects no deeper than max (outside strings; an object at
 * the top is depth 1). Only a bound before parsing: the JSON itself is checked by jansson. */
bool auth_json_depth_ok(const char *s, size_t len, int max);

/* The claims of a verified payload (a JSON object) against a's audience, issuer and leeway at
 * now_s: 0 with *out filled, or -1 with *why (out untouched, nothing allocated). */
int auth_claims_check(const auth_t *a, json_t *payload, int64_t now_s, auth_claims_t *out,
                      const char **why);

#endif
