/* Signed tokens (issue 13), the token itself: the algorithms, the algorithm rules (none, the
 * key decides, the HMAC-with-the-PEM-text forgery), strict base64url and JSON, limits, keys.
 * Tokens are built here with OpenSSL (test_auth_util.h), never with src/auth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"
#include "test_auth_util.h"

#define SECRET "test-signing-secret-0123456789"
#define NOW 1700000000
#define PAYLOAD "{\"sub\":\"user?id=1\",\"exp\":1700000100,\"jti\":\"x\",\"purpose\":\"user\"}"

static EVP_PKEY *rsa, *rsa_other, *ec, *ec_other;
static char *rsa_pem, *ec_pem;
static auth_t *a_secret, *a_rsa, *a_ec, *a_both;

static auth_t *make(const char *secret, const char *pem) {
  char err[256];
  auth_config_t cfg = {.secret = secret, .public_key_pem = pem, .leeway_s = 5};
  auth_t *a = auth_new(&cfg, err, sizeof err);
  if (!a) fail_msg("auth_new: %s", err);
  return a;
}

static int setup(void **state) {
  rsa = t_keygen("RSA", 2048, NULL);
  rsa_other = t_keygen("RSA", 2048, NULL);
  ec = t_keygen("EC", 0, "P-256");
  ec_other = t_keygen("EC", 0, "P-256");
  rsa_pem = t_public_pem(rsa);
  ec_pem = t_public_pem(ec);
  a_secret = make(SECRET, NULL);
  a_rsa = make(NULL, rsa_pem);
  a_ec = make(NULL, ec_pem);
  a_both = make(SECRET, rsa_pem);
  return 0;
}

static int teardown(void **state) {
  auth_free(a_secret);
  auth_free(a_rsa);
  auth_free(a_ec);
  auth_free(a_both);
  free(rsa_pem);
  free(ec_pem);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa_other);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(ec_other);
  return 0;
}

/* The token verifies on a with the expected sub. */
static void expect_ok(const auth_t *a, const char *token) {
  auth_claims_t c;
  const char *why = NULL;
  if (auth_verify(a, token, strlen(token), NOW, &c, &why) != 0) fail_msg("refused: %s", why);
  assert_string_equal(c.sub, "user?id=1");
  assert_int_equal(c.exp, 1700000100);
  auth_claims_free(&c);
  assert_null(c.sub);
}

/* The token (len bytes) is refused on a with exactly this reason, and *out is left zeroed. */
static void expect_why_n(const auth_t *a, const char *token, size_t len, const char *want) {
  auth_claims_t c;
  memset(&c, 0xA5, sizeof c);
  const char *why = NULL;
  if (auth_verify(a, token, len, NOW, &c, &why) == 0) {
    auth_claims_free(&c);
    fail_msg("accepted, want \"%s\"", want);
  }
  assert_non_null(why);
  if (strcmp(why, want) != 0) fail_msg("refused with \"%s\", want \"%s\"", why, want);
  assert_null(c.sub);
  assert_null(c.channels);
  assert_null(c.write);
  assert_false(c.has_channels);
  assert_false(c.has_write);
  assert_int_equal(c.nchannels + c.nwrite, 0);
}

static void expect_why(const auth_t *a, const char *token, const char *want) {
  expect_why_n(a, token, strlen(token), want);
}

/* --- valid tokens ------------------------------------------------------------------------ */

static void test_valid_hmac(void **state) {
  char *t = t_hs256(PAYLOAD, SECRET);
  expect_ok(a_secret, t);
  expect_ok(a_both, t);
  free(t);
  t = t_hmac_token("{\"alg\":\"HS384\"}", PAYLOAD, "SHA384", SECRET, strlen(SECRET));
  expect_ok(a_secret, t);
  free(t);
  t = t_hmac_token("{\"typ\":\"jwt\",\"alg\":\"HS512\",\"kid\":\"k1\"}", PAYLOAD, "SHA512", SECRET,
                   strlen(SECRET));
  expect_ok(a_secret, t);
  free(t);
  /* Another secret: a bad signature, not a mismatch. */
  t = t_hs256(PAYLOAD, "another secret");
  expect_why(a_secret, t, "bad signature");
  free(t);
}

static void test_valid_rs256(void **state) {
  char *t = t_signed_token(T_RS256, PAYLOAD, rsa);
  expect_ok(a_rsa, t);
  expect_ok(a_both, t);
  free(t);
  t = t_signed_token(T_RS256, PAYLOAD, rsa_other);
  expect_why(a_rsa, t, "bad signature");
  free(t);
}

static void test_valid_es256(void **state) {
  char *t = t_signed_token(T_ES256, PAYLOAD, ec);
  expect_ok(a_ec, t);
  free(t);
  t = t_signed_token(T_ES256, PAYLOAD, ec_other);
  expect_why(a_ec, t, "bad signature");
  free(t);
  /* A DER signature where the raw 64 bytes belong is refused. */
  char *input = t_signing_input(T_ES256, PAYLOAD);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t der[80];
  size_t n = sizeof der;
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec), 1);
  assert_int_equal(EVP_DigestSign(ctx, der, &n, (const unsigned char *)input, strlen(input)), 1);
  EVP_MD_CTX_free(ctx);
  t = t_join(input, der, n);
  expect_why(a_ec, t, "bad signature");
  free(t);
  /* r = 0 or s = 0, and all bits set. */
  uint8_t raw[64] = {0};
  t = t_join(input, raw, 64);
  expect_why(a_ec, t, "bad signature");
  free(t);
  memset(raw, 0xFF, sizeof raw);
  t = t_join(input, raw, 64);
  expect_why(a_ec, t, "bad signature");
  free(t);
  free(input);
}

/* --- the algorithm rules ------------------------------------------------------------------- */

static void test_alg_none(void **state) {
  static const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                                  "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}", "{\"alg\":\"nOnE\"}"};
  const auth_t *auths[] = {a_secret, a_rsa, a_ec, a_both};
  for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
    char *input = t_signing_input(headers[i], PAYLOAD);
    char *unsigned_token = t_printf("%s.", input);
    char *with_sig = t_hmac_token(headers[i], PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    for (size_t k = 0; k < 4; k++) {
      expect_why(auths[k], unsigned_token, "unsupported algorithm");
      expect_why(auths[k], with_sig, "unsupported algorithm");
      expect_why(auths[k], input, "malformed token"); /* no third part at all */
    }
    free(input);
    free(unsigned_token);
    free(with_sig);
  }
}

static void test_alg_mismatch(void **state) {
  /* The classic forgery: HS256 with the server's RSA public key, PEM text and all, as the HMAC
   * secret. A verifier that trusted the header would accept it; this one refuses it. */
  char *forged = t_hmac_token(T_HS256, PAYLOAD, "SHA256", rsa_pem, strlen(rsa_pem));
  expect_why(a_rsa, forged, "algorithm does not match the configured key");
  /* (It is a well-made token: a server whose secret is that text accepts it.) */
  auth_t *pem_secret = make(rsa_pem, NULL);
  expect_ok(pem_secret, forged);
  auth_free(pem_secret);
  free(forged);
  /* The same with the EC key's PEM, and a plain HS256 token on public-key-only servers. */
  forged = t_hmac_token(T_HS256, PAYLOAD, "SHA256", ec_pem, strlen(ec_pem));
  expect_why(a_ec, forged, "algorithm does not match the configured key");
  free(forged);
  char *t = t_hs256(PAYLOAD, SECRET);
  expect_why(a_rsa, t, "algorithm does not match the configured key");
  expect_why(a_ec, t, "algorithm does not match the configured key");
  free(t);
  t = t_hmac_token("{\"alg\":\"HS512\"}", PAYLOAD, "SHA512", rsa_pem, strlen(rsa_pem));
  expect_why(a_rsa, t, "algorithm does not match the configured key");
  free(t);
  /* RS256 to a secret-only server, and across key types. */
  t = t_signed_token(T_RS256, PAYLOAD, rsa);
  expect_why(a_secret, t, "algorithm does not match the configured key");
  expect_why(a_ec, t, "algorithm does not match the configured key");
  free(t);
  t = t_signed_token(T_ES256, PAYLOAD, ec);
  expect_why(a_secret, t, "algorithm does not match the configured key");
  expect_why(a_rsa, t, "algorithm does not match the configured key");
  expect_why(a_both, t, "algorithm does not match the configured key");
  free(t);
  /* An RSA signature labelled ES256 and an ECDSA one labelled RS256. */
  t = t_signed_token(T_ES256, PAYLOAD, rsa);
  expect_why(a_ec, t, "bad signature");
  free(t);
  t = t_signed_token(T_RS256, PAYLOAD, ec);
  expect_why(a_rsa, t, "bad signature");
  free(t);
}

static void test_alg_unsupported(void **state) {
  static const char *algs[] = {"RS384", "RS512", "PS256", "ES384", "ES512", "EdDSA", "HS1",
                               "hs256", "Hs256", "rs256", "HS256 ", " HS256", "", "HS2560"};
  for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
    char *h = t_printf("{\"alg\":\"%s\"}", algs[i]);
    char *t = t_hmac_token(h, PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    expect_why(a_secret, t, "unsupported algorithm");
    expect_why(a_both, t, "unsupported algorithm");
    free(t);
    free(h);
  }
  /* alg missing or not a string. */
  static const char *bad[] = {"{}", "{\"typ\":\"JWT\"}", "{\"alg\":256}", "{\"alg\":null}",
                              "{\"alg\":[\"HS256\"]}", "{\"ALG\":\"HS256\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *t = t_hmac_token(bad[i], PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    expect_why(a_secret, t, "malformed token");
    free(t);
  }
}

static void test_header_typ_crit(void **state) {
  static const char *ok[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"Jwt\"}", "{\"alg\":\"HS256\"}",
                             "{\"alg\":\"HS256\",\"kid\":\"a\",\"x\":{\"y\":[1,2]}}"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    char *t = t_hmac_token(ok[i], PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    expect_ok(a_secret, t);
    free(t);
  }
  static const char *typ[] = {"{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
                              "{\"alg\":\"HS256\",\"typ\":1}", "{\"alg\":\"HS256\",\"typ\":null}",
                              "{\"alg\":\"HS256\",\"typ\":\"\"}"};
  for (size_t i = 0; i < sizeof typ / sizeof *typ; i++) {
    char *t = t_hmac_token(typ[i], PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    expect_why(a_secret, t, "unsupported token type");
    free(t);
  }
  char *t = t_hmac_token("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", PAYLOAD, "SHA256",
                         SECRET, strlen(SECRET));
  expect_why(a_secret, t, "unsupported critical header");
  free(t);
}

/* --- tampering ---------------------------------------------------------------------------- */

/* Flips one bit of the decoded signature of token and re-encodes it. */
static char *flip_sig_bit(const char *token, size_t bit) {
  const char *d2 = strrchr(token, '.');
  uint8_t sig[600];
  long n = auth_base64url_decode(d2 + 1, strlen(d2 + 1), sig);
  assert_true(n > 0);
  sig[bit / 8 % (size_t)n] ^= (uint8_t)(1u << (bit % 8));
  char *input = t_printf("%.*s", (int)(d2 - token), token);
  char *t = t_join(input, sig, (size_t)n);
  free(input);
  return t;
}

static void test_tampered(void **state) {
  struct {
    const auth_t *a;
    char *token;
  } cases[] = {
    {a_secret, t_hs256(PAYLOAD, SECRET)},
    {a_secret, t_hmac_token("{\"alg\":\"HS512\"}", PAYLOAD, "SHA512", SECRET, strlen(SECRET))},
    {a_rsa, t_signed_token(T_RS256, PAYLOAD, rsa)},
    {a_ec, t_signed_token(T_ES256, PAYLOAD, ec)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *t = cases[i].token;
    expect_ok(cases[i].a, t);
    /* Another payload under the same header and signature. */
    const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    char *p64 = t_b64url("{\"sub\":\"admin\",\"exp\":1700000100}", 33);
    char *swapped = t_printf("%.*s.%s%s", (int)(d1 - t), t, p64, d2);
    expect_why(cases[i].a, swapped, "bad signature");
    free(swapped);
    free(p64);
    /* One character of the payload changed (to another of the alphabet). */
    char *m = strdup(t);
    size_t at = (size_t)(d1 - t) + 3;
    m[at] = m[at] == 'A' ? 'B' : 'A';
    expect_why(cases[i].a, m, "bad signature");
    free(m);
    /* Bits of the signature flipped. */
    for (size_t bit = 0; bit < 512; bit += 37) {
      char *f = flip_sig_bit(t, bit);
      expect_why(cases[i].a, f, "bad signature");
      free(f);
    }
    /* The signature one byte short, one byte long, and empty. */
    uint8_t sig[600];
    long n = auth_base64url_decode(d2 + 1, strlen(d2 + 1), sig);
    char *input = t_printf("%.*s", (int)(d2 - t), t);
    sig[n] = 0;
    char *shortened = t_join(input, sig, (size_t)n - 1), *longer = t_join(input, sig, (size_t)n + 1);
    char *empty = t_printf("%s.", input);
    expect_why(cases[i].a, shortened, "bad signature");
    expect_why(cases[i].a, longer, "bad signature");
    expect_why(cases[i].a, empty, "bad signature");
    free(shortened);
    free(longer);
    free(empty);
    free(input);
    /* Every proper prefix is refused. */
    size_t len = strlen(t);
    for (size_t k = 0; k < len; k++) {
      auth_claims_t c;
      const char *why = NULL;
      if (auth_verify(cases[i].a, t, k, NOW, &c, &why) == 0) fail_msg("prefix of %zu accepted", k);
      assert_non_null(why);
    }
    free(cases[i].token);
  }
}

/* --- structure and base64url ----------------------------------------------------------------- */

static void test_structure(void **state) {
  char *t = t_hs256(PAYLOAD, SECRET);
  const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
  int hl = (int)(d1 - t), pl = (int)(d2 - d1 - 1);
  const char *h = t, *p = d1 + 1, *s = d2 + 1;
  char *cases[] = {
    t_printf("%s.", t),                         /* extra dot at the end */
    t_printf("%s.%s", t, s),                    /* four parts */
    t_printf(".%s", t),                         /* extra dot in front */
    t_printf("%.*s..%.*s.%s", hl, h, pl, p, s), /* doubled dot */
    t_printf(".%.*s.%s", pl, p, s),             /* empty header */
    t_printf("%.*s..%s", hl, h, s),             /* empty payload */
    t_printf("%.*s.%.*s", hl, h, pl, p),        /* two parts */
    t_printf("%.*s", hl, h),                    /* one part */
    t_printf(""), t_printf("."), t_printf(".."), t_printf("..."),
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    expect_why(a_secret, cases[i], "malformed token");
    free(cases[i]);
  }
  expect_why_n(a_secret, NULL, 0, "malformed token");
  free(t);
}

static void test_base64url_strict(void **state) {
  char *t = t_hs256(PAYLOAD, SECRET);
  size_t len = strlen(t);
  const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
  size_t at[] = {0, (size_t)(d1 - t) + 1, (size_t)(d2 - t) + 1, len - 1, (size_t)(d1 - t) - 1};
  const char bad[] = {'+', '/', '=', ' ', '\n', '\t', '\0', '\x80', '\xff', '%', '~', '!'};
  for (size_t i = 0; i < sizeof at / sizeof *at; i++)
    for (size_t k = 0; k < sizeof bad; k++) {
      char *m = malloc(len);
      memcpy(m, t, len);
      m[at[i]] = bad[k];
      expect_why_n(a_secret, m, len, "malformed token");
      free(m);
    }
  /* A character inserted (whitespace between parts; a NUL before the end). */
  char *ws = t_printf("%.*s. %s", (int)(d1 - t), t, d1 + 1);
  expect_why(a_secret, ws, "malformed token");
  free(ws);
  char *nul = malloc(len + 1);
  memcpy(nul, t, len);
  nul[len] = '\0';
  expect_why_n(a_secret, nul, len + 1, "malformed token");
  free(nul);
  /* Padding on the signature (43 chars: one '=') and on the header. */
  char *pad = t_printf("%s=", t);
  expect_why(a_secret, pad, "malformed token");
  free(pad);
  size_t hl = (size_t)(d1 - t);
  char *hpad = t_printf("%.*s%s%s", (int)hl, t, hl % 4 == 2 ? "==" : hl % 4 == 3 ? "=" : "", d1);
  if (hl % 4) expect_why(a_secret, hpad, "malformed token");
  free(hpad);
  /* Non-canonical last character: the signature's 43rd character carries 2 unused bits. Setting
   * one leaves the decoded bytes the same for a lax decoder; here it is refused. */
  assert_int_equal(strlen(d2 + 1) % 4, 3);
  char *nc = strdup(t);
  char *last = nc + len - 1;
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int v = (int)(strchr(abc, *last) - abc);
  assert_int_equal(v & 3, 0);
  *last = abc[v | 1];
  expect_why(a_secret, nc, "malformed token");
  *last = abc[v | 2];
  expect_why(a_secret, nc, "malformed token");
  free(nc);
  /* A part whose length is 1 mod 4 (the signature, 43 characters, with two more). */
  char *one = t_printf("%sAA", t);
  expect_why(a_secret, one, "malformed token");
  free(one);
  free(t);
}

static void test_base64url_decoder(void **state) {
  uint8_t out[16];
  assert_int_equal(auth_base64url_decode("", 0, out), 0);
  assert_int_equal(auth_base64url_decode("Zg", 2, out), 1);
  assert_int_equal(out[0], 'f');
  assert_int_equal(auth_base64url_decode("Zm8", 3, out), 2);
  assert_int_equal(auth_base64url_decode("Zm9v", 4, out), 3);
  assert_memory_equal(out, "foo", 3);
  assert_int_equal(auth_base64url_decode("-_-_", 4, out), 3);
  assert_memory_equal(out, "\xfb\xff\xbf", 3);
  assert_int_equal(auth_base64url_decode("Z", 1, out), -1);
  assert_int_equal(auth_base64url_decode("Zm9vY", 5, out), -1);
  assert_int_equal(auth_base64url_decode("Zh", 2, out), -1);  /* unused bits set */
  assert_int_equal(auth_base64url_decode("Zm9", 3, out), -1); /* unused bits set */
  assert_int_equal(auth_base64url_decode("Zg==", 4, out), -1);
  assert_int_equal(auth_base64url_decode("+/+/", 4, out), -1);
}

/* --- JSON -------------------------------------------------------------------------------------- */

static void test_json(void **state) {
  /* Headers that are not one JSON object. */
  static const char *headers[] = {"[]", "[\"HS256\"]", "\"HS256\"", "1", "null", "true", "{",
                                  "{\"alg\":\"HS256\"", "{\"alg\":\"HS256\"} x",
                                  "{\"alg\":\"HS256\"}{}", "{'alg':'HS256'}",
                                  "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                                  "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                                  "{\"alg\":\"HS\\u0000256\"}", "{\"alg\":\"HS256\",}", ""};
  for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
    char *t = t_hmac_token(headers[i], PAYLOAD, "SHA256", SECRET, strlen(SECRET));
    expect_why(a_secret, t, "malformed token");
    free(t);
  }
  /* Payloads, well signed, that are not one JSON object. */
  static const char *payloads[] = {"[]", "\"user\"", "42", "null", "{\"sub\":\"a\",\"sub\":\"b\"}",
                                   "{\"sub\":\"a\"", "{\"sub\":\"a\"}garbage",
                                   "{\"sub\":\"a\\u0000b\"}", "{\"sub\":\"\xff\"}",
                                   "{\"sub\":\"\xc0\x80\"}", "{\"sub\":\"a\",\"exp\":1e999}",
                                   "{\"sub\":\"a\",\"exp\":99999999999999999999}", "{sub:1}"};
  for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
    char *t = t_hs256(payloads[i], SECRET);
    expect_why(a_secret, t, "malformed token");
    free(t);
  }
}

static char *nested(const char *before, int arrays, const char *after) {
  size_t n = strlen(before) + strlen(after) + 2 * (size_t)arrays + 1;
  char *s = malloc(n), *o = s;
  o += sprintf(o, "%s", before);
  for (int i = 0; i < arrays; i++) *o++ = '[';
  for (int i = 0; i < arrays; i++) *o++ = ']';
  sprintf(o, "%s", after);
  return s;
}

static void test_depth(void **state) {
  /* The object itself is depth 1: AUTH_MAX_JSON_DEPTH - 1 nested arrays fit, one more does not. */
  char *p = nested("{\"sub\":\"user?id=1\",\"exp\":1700000100,\"x\":", AUTH_MAX_JSON_DEPTH - 1, "}");
  char *t = t_hs256(p, SECRET);
  expect_ok(a_secret, t);
  free(t);
  free(p);
  p = nested("{\"sub\":\"user?id=1\",\"exp\":1700000100,\"x\":", AUTH_MAX_JSON_DEPTH, "}");
  t = t_hs256(p, SECRET);
  expect_why(a_secret, t, "malformed token");
  free(t);
  free(p);
  /* Brackets inside strings (escaped quotes too) do not count. */
  t = t_hs256("{\"sub\":\"user?id=1\",\"exp\":1700000100,\"x\":\"[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}", SECRET);
  expect_ok(a_secret, t);
  free(t);
  char *h = nested("{\"alg\":\"HS256\",\"x\":", AUTH_MAX_JSON_DEPTH - 1, "}");
  t = t_hmac_token(h, PAYLOAD, "SHA256", SECRET, strlen(SECRET));
  expect_ok(a_secret, t);
  free(t);
  free(h);
  h = nested("{\"alg\":\"HS256\",\"x\":", AUTH_MAX_JSON_DEPTH, "}");
  t = t_hmac_token(h, PAYLOAD, "SHA256", SECRET, strlen(SECRET));
  expect_why(a_secret, t, "malformed token");
  free(t);
  free(h);
  /* Deep enough to hurt a recursive parser: refused before parsing. */
  p = nested("{\"sub\":\"u\",\"x\":", 3000, "}");
  t = t_hs256(p, SECRET);
  expect_why(a_secret, t, strlen(t) > AUTH_MAX_TOKEN ? "token too long" : "malformed token");
  free(t);
  free(p);
}

static void test_length_limit(void **state) {
  /* Find a padding and kid length that make a valid token exactly AUTH_MAX_TOKEN long. */
  bool found = false;
  for (size_t kid = 0; kid < 4 && !found; kid++)
    for (size_t pad = 5800; pad < 6200 && !found; pad++) {
      char *h = t_printf("{\"alg\":\"HS256\",\"kid\":\"%.*s\"}", (int)kid, "kkkk");
      char *padding = malloc(pad + 1);
      memset(padding, 'x', pad);
      padding[pad] = '\0';
      char *p = t_printf("{\"sub\":\"user?id=1\",\"exp\":1700000100,\"pad\":\"%s\"}", padding);
      char *t = t_hmac_token(h, p, "SHA256", SECRET, strlen(SECRET));
      if (strlen(t) == AUTH_MAX_TOKEN) {
        found = true;
        expect_ok(a_secret, t);
        char *more = t_printf("{\"sub\":\"user?id=1\",\"exp\":1700000100,\"pad\":\"%sxxx\"}", padding);
        char *t2 = t_hmac_token(h, more, "SHA256", SECRET, strlen(SECRET));
        assert_int_equal(strlen(t2), AUTH_MAX_TOKEN + 4);
        expect_why(a_secret, t2, "token too long");
        /* One byte over, whatever the byte. */
        char *t3 = t_printf("%sA", t);
        expect_why(a_secret, t3, "token too long");
        free(t3);
        free(t2);
        free(more);
      }
      free(t);
      free(p);
      free(padding);
      free(h);
    }
  assert_true(found);
}

/* --- keys ------------------------------------------------------------------------------------ */

static void expect_new_fails(const auth_config_t *cfg, const char *needle) {
  char err[256] = "unset";
  auth_t *a = auth_new(cfg, err, sizeof err);
  if (a) {
    auth_free(a);
    fail_msg("auth_new accepted, want an error containing \"%s\"", needle);
  }
  if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
  if (cfg && cfg->secret && cfg->secret[0]) assert_null(strstr(err, cfg->secret));
  /* No room for the message is fine too. */
  assert_null(auth_new(cfg, NULL, 0));
}

static void test_auth_new(void **state) {
  expect_new_fails(NULL, "neither");
  auth_config_t cfg = {0};
  expect_new_fails(&cfg, "neither");
  cfg = (auth_config_t){.secret = ""};
  expect_new_fails(&cfg, "empty");
  cfg = (auth_config_t){.secret = "s3cr3t", .audience = ""};
  expect_new_fails(&cfg, "audience");
  cfg = (auth_config_t){.secret = "s3cr3t", .issuer = ""};
  expect_new_fails(&cfg, "issuer");
  cfg = (auth_config_t){.secret = "s3cr3t", .public_key_pem = "not a key"};
  expect_new_fails(&cfg, "not a PEM public key");
  cfg = (auth_config_t){.public_key_pem = ""};
  expect_new_fails(&cfg, "not a PEM public key");
  /* A PEM cut short. */
  char *cut = strdup(rsa_pem);
  cut[strlen(cut) / 2] = '\0';
  cfg = (auth_config_t){.public_key_pem = cut};
  expect_new_fails(&cfg, "not a PEM public key");
  free(cut);
  /* A private key where the public one belongs. */
  char *priv = t_private_pem(rsa);
  cfg = (auth_config_t){.public_key_pem = priv};
  expect_new_fails(&cfg, "private key");
  free(priv);
  /* PKCS#1 "RSA PUBLIC KEY": named in the message. */
  cfg = (auth_config_t){.public_key_pem = "-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n"};
  expect_new_fails(&cfg, "PKCS#1");
  /* Too small an RSA key, another curve, another key type. */
  EVP_PKEY *small = t_keygen("RSA", 1024, NULL), *p384 = t_keygen("EC", 0, "P-384"),
           *k1 = t_keygen("EC", 0, "secp256k1"), *ed = t_keygen("ED25519", 0, NULL);
  struct {
    EVP_PKEY *k;
    const char *needle;
  } keys[] = {{small, "1024 bits"}, {p384, "P-256"}, {k1, "P-256"}, {ed, "unsupported key type"}};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    char *pem = t_public_pem(keys[i].k);
    cfg = (auth_config_t){.secret = "s3cr3t", .public_key_pem = pem};
    expect_new_fails(&cfg, keys[i].needle);
    free(pem);
    EVP_PKEY_free(keys[i].k);
  }
  /* The configuration's strings are copied. */
  char *secret = strdup(SECRET), *pem = strdup(rsa_pem);
  cfg = (auth_config_t){.secret = secret, .public_key_pem = pem, .leeway_s = 5};
  auth_t *a = auth_new(&cfg, NULL, 0);
  assert_non_null(a);
  memset(secret, 'x', strlen(secret));
  memset(pem, 'x', strlen(pem));
  free(secret);
  free(pem);
  char *t = t_hs256(PAYLOAD, SECRET);
  expect_ok(a, t);
  free(t);
  t = t_signed_token(T_RS256, PAYLOAD, rsa);
  expect_ok(a, t);
  free(t);
  auth_free(a);
  auth_free(NULL);
  auth_claims_free(NULL);
}

/* --- threads ------------------------------------------------------------------------------- */

typedef struct {
  const char *tokens[4];
  int failures;
} worker_arg_t;

static void *worker(void *p) {
  worker_arg_t *w = p;
  for (int i = 0; i < 60; i++) {
    const char *t = w->tokens[i % 4];
    auth_claims_t c;
    const char *why;
    int rc = auth_verify(a_both, t, strlen(t), NOW, &c, &why);
    bool want_ok = i % 4 < 2;
    if ((rc == 0) != want_ok) w->failures++;
    if (rc == 0) {
      if (strcmp(c.sub, "user?id=1") != 0) w->failures++;
      auth_claims_free(&c);
    }
  }
  return NULL;
}

static void test_concurrent(void **state) {
  char *hs = t_hs256(PAYLOAD, SECRET), *rs = t_signed_token(T_RS256, PAYLOAD, rsa);
  char *bad_rs = t_signed_token(T_RS256, PAYLOAD, rsa_other);
  char *bad_hs = t_hs256(PAYLOAD, "nope");
  enum { N = 8 };
  pthread_t th[N];
  worker_arg_t args[N];
  for (int i = 0; i < N; i++) {
    args[i] = (worker_arg_t){.tokens = {hs, rs, bad_rs, bad_hs}};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
  free(hs);
  free(rs);
  free(bad_rs);
  free(bad_hs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_hmac),
    cmocka_unit_test(test_valid_rs256),
    cmocka_unit_test(test_valid_es256),
    cmocka_unit_test(test_alg_none),
    cmocka_unit_test(test_alg_mismatch),
    cmocka_unit_test(test_alg_unsupported),
    cmocka_unit_test(test_header_typ_crit),
    cmocka_unit_test(test_tampered),
    cmocka_unit_test(test_structure),
    cmocka_unit_test(test_base64url_strict),
    cmocka_unit_test(test_base64url_decoder),
    cmocka_unit_test(test_json),
    cmocka_unit_test(test_depth),
    cmocka_unit_test(test_length_limit),
    cmocka_unit_test(test_auth_new),
    cmocka_unit_test(test_concurrent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
