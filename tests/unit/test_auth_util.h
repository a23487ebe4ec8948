#ifndef CINDER_TESTS_TEST_AUTH_UTIL_H
#define CINDER_TESTS_TEST_AUTH_UTIL_H
/* Building tokens for the auth tests, independently of src/auth: base64url, HMAC with OpenSSL,
 * RSA 2048 / EC P-256 keys made with EVP_PKEY_keygen and signatures with EVP_DigestSign (an ES256
 * signature turned from DER into the raw r || s that JWS uses). Everything returned is malloc'd. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

static inline char *t_b64url(const void *data, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const uint8_t *p = data;
  char *out = malloc(n / 3 * 4 + 5), *o = out;
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
  *o = '\0';
  return out;
}

static inline char *t_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

/* "b64(header).b64(payload)" */
static inline char *t_signing_input(const char *header, const char *payload) {
  char *h = t_b64url(header, strlen(header)), *p = t_b64url(payload, strlen(payload));
  char *s = t_printf("%s.%s", h, p);
  free(h);
  free(p);
  return s;
}

/* input "." b64(sig) */
static inline char *t_join(const char *input, const uint8_t *sig, size_t sig_len) {
  char *s64 = t_b64url(sig, sig_len);
  char *t = t_printf("%s.%s", input, s64);
  free(s64);
  return t;
}

static inline size_t t_hmac_raw(const char *md_name, const void *key, size_t key_len,
                                const char *input, uint8_t out[EVP_MAX_MD_SIZE]) {
  unsigned int n = 0;
  if (!HMAC(EVP_get_digestbyname(md_name), key, (int)key_len, (const unsigned char *)input,
            strlen(input), out, &n))
    abort();
  return n;
}

/* A token with the given header JSON, MAC'd with md_name ("SHA256", ...) and key. */
static inline char *t_hmac_token(const char *header, const char *payload, const char *md_name,
                                 const void *key, size_t key_len) {
  char *input = t_signing_input(header, payload);
  uint8_t mac[EVP_MAX_MD_SIZE];
  size_t n = t_hmac_raw(md_name, key, key_len, input, mac);
  char *t = t_join(input, mac, n);
  free(input);
  return t;
}

#define T_HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define T_RS256 "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define T_ES256 "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

static inline char *t_hs256(const char *payload, const char *secret) {
  return t_hmac_token(T_HS256, payload, "SHA256", secret, strlen(secret));
}

static inline EVP_PKEY *t_keygen(const char *type, int rsa_bits, const char *curve) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  EVP_PKEY *k = NULL;
  if (!ctx || EVP_PKEY_keygen_init(ctx) != 1) abort();
  if (rsa_bits && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, rsa_bits) != 1) abort();
  if (curve && EVP_PKEY_CTX_set_group_name(ctx, curve) != 1) abort();
  if (EVP_PKEY_keygen(ctx, &k) != 1) abort();
  EVP_PKEY_CTX_free(ctx);
  return k;
}

static inline char *t_public_pem(EVP_PKEY *k) {
  BIO *bio = BIO_new(BIO_s_mem());
  if (!bio || PEM_write_bio_PUBKEY(bio, k) != 1) abort();
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *pem = malloc((size_t)n + 1);
  memcpy(pem, data, (size_t)n);
  pem[n] = '\0';
  BIO_free(bio);
  return pem;
}

static inline char *t_private_pem(EVP_PKEY *k) {
  BIO *bio = BIO_new(BIO_s_mem());
  if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) abort();
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *pem = malloc((size_t)n + 1);
  memcpy(pem, data, (size_t)n);
  pem[n] = '\0';
  BIO_free(bio);
  return pem;
}

/* The JWS signature of input with k and SHA-256: the RSA signature as it is, an ECDSA one as raw
 * r || s (32 bytes each). Returns its length; out has room for 512 bytes. */
static inline size_t t_sign_raw(EVP_PKEY *k, const char *input, uint8_t *out) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t der[600];
  size_t n = sizeof der;
  if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1 ||
      EVP_DigestSign(ctx, der, &n, (const unsigned char *)input, strlen(input)) != 1)
    abort();
  EVP_MD_CTX_free(ctx);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) {
    memcpy(out, der, n);
    return n;
  }
  const unsigned char *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
  if (!sig) abort();
  const BIGNUM *r, *s;
  ECDSA_SIG_get0(sig, &r, &s);
  if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32) abort();
  ECDSA_SIG_free(sig);
  return 64;
}

static inline char *t_signed_token(const char *header, const char *payload, EVP_PKEY *k) {
  char *input = t_signing_input(header, payload);
  uint8_t sig[512];
  size_t n = t_sign_raw(k, input, sig);
  char *t = t_join(input, sig, n);
  free(input);
  return t;
}

#endif
