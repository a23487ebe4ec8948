/* Signed tokens (issue 13): the compact JWS itself — splitting, strict base64url, the header, the
 * algorithm rules and the signature. The payload's claims are auth_claims.c's.
 *
 * Why written here and not taken from libjwt: Debian 12's libjwt (1.10) verifies with the
 * algorithm named in the token's own header. Given a server configured for RS256, a token whose
 * header says HS256 and whose MAC was computed with the RSA public key's PEM text as the HMAC
 * secret (the public key is public) passes — the classic algorithm-confusion forgery — unless the
 * caller parses the header first and checks alg against the key itself. Once the caller does
 * that, the library adds little beyond base64url and a JSON parse, and its own parsing (padding,
 * duplicate keys, depth) is not as strict as we want for bytes from the network. So OpenSSL's
 * libcrypto (already a dependency, for the WebSocket handshake) does the cryptography — HMAC,
 * RSASSA-PKCS1-v1_5, ECDSA — and this module does the rest, strictly:
 *
 *   - the token is at most AUTH_MAX_TOKEN bytes: exactly three parts separated by two dots, the
 *     header and the payload non-empty;
 *   - base64url with only A-Z a-z 0-9 - _, no padding, no whitespace, canonical last character;
 *   - header and payload are JSON objects nested at most AUTH_MAX_JSON_DEPTH deep (checked before
 *     jansson builds a tree), without duplicate keys (JSON_REJECT_DUPLICATES), in UTF-8, with no
 *     \u0000 (jansson's defaults);
 *   - the key decides the algorithm, never the token: HS256/HS384/HS512 only with a secret,
 *     RS256 only with an RSA public key, ES256 only with an EC P-256 public key; "none" never;
 *   - HMACs are compared in constant time (CRYPTO_memcmp); an ES256 signature is the raw 64-byte
 *     r || s of RFC 7518 §3.4, turned into DER for OpenSSL;
 *   - the payload is parsed only after the signature is found good.
 *
 * Thread-safety: auth_t is read-only after auth_new. The digests are fetched once there (OpenSSL
 * 3's implicit fetch on every EVP_sha256() use takes a global lock); each verification has its own
 * EVP_MD_CTX; sharing a read-only EVP_PKEY between threads is supported by OpenSSL 3. Failed
 * OpenSSL calls leave errors on the calling thread's queue: they are cleared before returning. */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "auth/auth_internal.h"
#include "core/mem.h"

#define AUTH_MAX_SECRET 65536

/* --- base64url and the JSON depth bound ---------------------------------------------------- */

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

long auth_base64url_decode(const char *s, size_t len, uint8_t *out) {
  if (len % 4 == 1) return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* What is left are the unused low bits of the last character: zero, so that each byte string
   * has exactly one encoding. */
  if (acc != 0) return -1;
  return (long)o;
}

bool auth_json_depth_ok(const char *s, size_t len, int max) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  return true;
}

/* --- the key ------------------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen) snprintf(err, errlen, "%s", msg);
}

static bool load_public_key(auth_t *a, const char *pem, char *err, size_t errlen) {
  if (strstr(pem, "PRIVATE KEY")) {
    set_err(err, errlen,
            "auth public key: this is a private key; give its public half (openssl pkey -pubout)");
    return false;
  }
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  if (!k) {
    ERR_clear_error();
    if (strstr(pem, "BEGIN RSA PUBLIC KEY"))
      set_err(err, errlen, "auth public key: PKCS#1 (BEGIN RSA PUBLIC KEY) is not read; convert it "
                           "with openssl rsa -RSAPublicKey_in -pubout");
    else if (strstr(pem, "BEGIN CERTIFICATE"))
      set_err(err, errlen, "auth public key: this is a certificate; extract its key with "
                           "openssl x509 -pubkey -noout");
    else
      set_err(err, errlen, "auth public key: not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    return false;
  }
  int id = EVP_PKEY_get_base_id(k);
  if (id == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(k);
    if (bits < AUTH_MIN_RSA_BITS) {
      if (err && errlen)
        snprintf(err, errlen, "auth public key: an RSA key of %d bits; RS256 needs at least %d",
                 bits, AUTH_MIN_RSA_BITS);
      EVP_PKEY_free(k);
      return false;
    }
    a->pkey_kind = AUTH_KEY_RSA;
    a->rsa_sig_len = (size_t)EVP_PKEY_get_size(k);
  } else if (id == EVP_PKEY_EC) {
    char group[80];
    size_t glen = 0;
    if (EVP_PKEY_get_group_name(k, group, sizeof group, &glen) != 1 ||
        OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
      ERR_clear_error();
      set_err(err, errlen, "auth public key: an EC key not on P-256 (ES256 needs P-256)");
      EVP_PKEY_free(k);
      return false;
    }
    a->pkey_kind = AUTH_KEY_EC_P256;
  } else {
    set_err(err, errlen,
            "auth public key: unsupported key type (RS256 needs an RSA key, ES256 an EC P-256 key)");
    EVP_PKEY_free(k);
    return false;
  }
  a->pkey = k;
  return true;
}

auth_t *auth_new(const auth_config_t *cfg, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!cfg || (!cfg->secret && !cfg->public_key_pem)) {
    set_err(err, errlen, "auth: neither a secret nor a public key is set");
    return NULL;
  }
  if (cfg->secret && !cfg->secret[0]) {
    set_err(err, errlen, "auth secret: empty");
    return NULL;
  }
  if (cfg->secret && strlen(cfg->secret) > AUTH_MAX_SECRET) {
    set_err(err, errlen, "auth secret: longer than 64 KiB");
    return NULL;
  }
  if (cfg->audience && !cfg->audience[0]) {
    set_err(err, errlen, "auth audience: empty");
    return NULL;
  }
  if (cfg->issuer && !cfg->issuer[0]) {
    set_err(err, errlen, "auth issuer: empty");
    return NULL;
  }
  auth_t *a = xcalloc(1, sizeof *a);
  a->leeway_s = cfg->leeway_s;
  a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  a->sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
  a->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
  if (!a->sha256 || !a->sha384 || !a->sha512) {
    ERR_clear_error();
    set_err(err, errlen, "auth: OpenSSL has no SHA-2 digests");
    auth_free(a);
    return NULL;
  }
  if (cfg->public_key_pem && !load_public_key(a, cfg->public_key_pem, err, errlen)) {
    auth_free(a);
    return NULL;
  }
  if (cfg->secret) {
    a->secret_len = strlen(cfg->secret);
    a->secret = xmalloc(a->secret_len);
    memcpy(a->secret, cfg->secret, a->secret_len);
  }
  if (cfg->audience) a->audience = xstrdup(cfg->audience);
  if (cfg->issuer) a->issuer = xstrdup(cfg->issuer);
  return a;
}

void auth_free(auth_t *a) {
  if (!a) return;
  if (a->secret) {
    OPENSSL_cleanse(a->secret, a->secret_len);
    free(a->secret);
  }
  EVP_PKEY_free(a->pkey);
  EVP_MD_free(a->sha256);
  EVP_MD_free(a->sha384);
  EVP_MD_free(a->sha512);
  free(a->audience);
  free(a->issuer);
  free(a);
}

/* --- the signature -------------------------------------------------------------------------- */

typedef enum { ALG_HS256, ALG_HS384, ALG_HS512, ALG_RS256, ALG_ES256 } alg_t;

static bool verify_hmac(const auth_t *a, const EVP_MD *md, const char *msg, size_t msg_len,
                        const uint8_t *sig, size_t sig_len) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if ((size_t)EVP_MD_get_size(md) != sig_len) return false;
  if (!HMAC(md, a->secret, (int)a->secret_len, (const unsigned char *)msg, msg_len, mac, &mac_len) ||
      mac_len != sig_len) {
    ERR_clear_error();
    return false;
  }
  bool ok = CRYPTO_memcmp(mac, sig, sig_len) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  return ok;
}

static bool verify_pkey(const auth_t *a, const char *msg, size_t msg_len, const uint8_t *sig,
                        size_t sig_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, a->sha256, NULL, a->pkey) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg, msg_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) ERR_clear_error();
  return ok;
}

/* ES256: the JWS signature is r || s, 32 bytes each, big-endian; OpenSSL wants DER. */
static bool verify_es256(const auth_t *a, const char *msg, size_t msg_len, const uint8_t *sig,
                         size_t sig_len) {
  if (sig_len != 64) return false;
  ECDSA_SIG *es = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
  unsigned char der[80];
  int der_len = -1;
  if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
    r = s = NULL; /* owned by es now */
    if (i2d_ECDSA_SIG(es, NULL) <= (int)sizeof der) {
      unsigned char *p = der;
      der_len = i2d_ECDSA_SIG(es, &p);
    }
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(es);
  if (der_len <= 0) {
    ERR_clear_error();
    return false;
  }
  return verify_pkey(a, msg, msg_len, der, (size_t)der_len);
}

static bool verify_signature(const auth_t *a, alg_t alg, const char *msg, size_t msg_len,
                             const uint8_t *sig, size_t sig_len) {
  switch (alg) {
  case ALG_HS256: return verify_hmac(a, a->sha256, msg, msg_len, sig, sig_len);
  case ALG_HS384: return verify_hmac(a, a->sha384, msg, msg_len, sig, sig_len);
  case ALG_HS512: return verify_hmac(a, a->sha512, msg, msg_len, sig, sig_len);
  case ALG_RS256:
    return sig_len == a->rsa_sig_len && verify_pkey(a, msg, msg_len, sig, sig_len);
  case ALG_ES256: return verify_es256(a, msg, msg_len, sig, sig_len);
  }
  return false;
}

/* --- the header ----------------------------------------------------------------------------- */

static json_t *parse_object(const uint8_t *s, size_t len) {
  if (!auth_json_depth_ok((const char *)s, len, AUTH_MAX_JSON_DEPTH)) return NULL;
  json_error_t jerr;
  json_t *j = json_loadb((const char *)s, len, JSON_REJECT_DUPLICATES, &jerr);
  if (j && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

/* The algorithm the header names, if the configured keys allow it: 0, or -1 with *why. */
static int check_header(const auth_t *a, json_t *h, alg_t *alg, const char **why) {
  json_t *jalg = json_object_get(h, "alg");
  if (!json_is_string(jalg)) {
    *why = "malformed token";
    return -1;
  }
  json_t *typ = json_object_get(h, "typ");
  if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) {
    *why = "unsupported token type";
    return -1;
  }
  /* RFC 7515 §4.1.11: extensions listed in crit must be understood; we understand none. */
  if (json_object_get(h, "crit")) {
    *why = "unsupported critical header";
    return -1;
  }
  const char *name = json_string_value(jalg);
  bool hs = false, ok;
  if (!strcmp(name, "HS256")) *alg = ALG_HS256, hs = true;
  else if (!strcmp(name, "HS384")) *alg = ALG_HS384, hs = true;
  else if (!strcmp(name, "HS512")) *alg = ALG_HS512, hs = true;
  else if (!strcmp(name, "RS256")) *alg = ALG_RS256;
  else if (!strcmp(name, "ES256")) *alg = ALG_ES256;
  else {
    /* "none" in any case lands here too. */
    *why = "unsupported algorithm";
    return -1;
  }
  if (hs) ok = a->secret != NULL;
  else if (*alg == ALG_RS256) ok = a->pkey_kind == AUTH_KEY_RSA;
  else ok = a->pkey_kind == AUTH_KEY_EC_P256;
  if (!ok) {
    *why = "algorithm does not match the configured key";
    return -1;
  }
  return 0;
}

/* --- verification ----------------------------------------------------------------------------- */

int auth_verify(const auth_t *a, const char *token, size_t len, int64_t now_s, auth_claims_t *out,
                const char **why) {
  const char *unused;
  if (!why) why = &unused;
  memset(out, 0, sizeof *out);
  if (!a || (!token && len)) {
    *why = "malformed token";
    return -1;
  }
  if (len > AUTH_MAX_TOKEN) {
    *why = "token too long";
    return -1;
  }
  *why = "malformed token";
  const char *end = token + len;
  const char *d1 = len ? memchr(token, '.', len) : NULL;
  if (!d1) return -1;
  const char *d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
  if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) return -1;
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1), slen = (size_t)(end - d2 - 1);
  if (!hlen || !plen) return -1;

  /* All three decoded into one buffer: together at most 3/4 of the token. */
  uint8_t buf[AUTH_MAX_TOKEN / 4 * 3 + 3];
  uint8_t *hdr = buf;
  long hn = auth_base64url_decode(token, hlen, hdr);
  if (hn < 0) return -1;
  uint8_t *pay = hdr + hn;
  long pn = auth_base64url_decode(d1 + 1, plen, pay);
  if (pn < 0) return -1;
  uint8_t *sig = pay + pn;
  long sn = auth_base64url_decode(d2 + 1, slen, sig);
  if (sn < 0) return -1;

  json_t *h = parse_object(hdr, (size_t)hn);
  if (!h) return -1;
  alg_t alg;
  int rc = check_header(a, h, &alg, why);
  json_decref(h);
  if (rc < 0) return -1;

  /* The signing input is the first two parts as they were sent (RFC 7515 §5.2). */
  if (!verify_signature(a, alg, token, (size_t)(d2 - token), sig, (size_t)sn)) {
    *why = "bad signature";
    return -1;
  }

  json_t *p = parse_object(pay, (size_t)pn);
  if (!p) {
    *why = "malformed token";
    return -1;
  }
  rc = auth_claims_check(a, p, now_s, out, why);
  json_decref(p);
  return rc;
}
