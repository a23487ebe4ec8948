#ifndef CINDER_AUTH_AUTH_H
#define CINDER_AUTH_AUTH_H
/* Access control with signed tokens (issue 13): verifying a compact JWS (a JWT) and answering
 * which topics its claims let a socket join and write. Pure: no I/O, no clock (the caller passes
 * the time), no logging; the reasons it returns are static strings fit for a log line and never
 * contain the token or any part of it.
 *
 * Accepted: HS256/HS384/HS512 with the configured secret, RS256 with a configured RSA public key
 * (2048 bits or more), ES256 with a configured EC P-256 public key. The algorithm in the token's
 * header must be one the configured key is for: `alg: none` (any case) is always refused, and an
 * HS* token is refused by a server that has only a public key (the "HMAC signed with the public
 * key's PEM text" forgery), an RS256/ES256 token by one that has only a secret. Why this is
 * written here rather than taken from libjwt: see auth.c.
 *
 * Thread-safety: an auth_t is immutable once made; any number of threads may call auth_verify on
 * one auth_t at once. auth_claims_t belongs to whoever received it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_TOKEN 8192       /* bytes of a compact token */
#define AUTH_MAX_JSON_DEPTH 16    /* nesting of the header's and the payload's JSON */
#define AUTH_MAX_SUB 255          /* bytes of sub */
#define AUTH_MAX_PATTERNS 256     /* entries of channels, of write */
#define AUTH_MAX_PATTERN_LEN 255  /* bytes of one pattern */
#define AUTH_MIN_RSA_BITS 2048

typedef struct auth_config {
  const char *secret;         /* HMAC secret for HS256/HS384/HS512 (its bytes up to the NUL); NULL: none */
  const char *public_key_pem; /* PEM text of an RSA (RS256) or EC P-256 (ES256) public key, a
                                 "-----BEGIN PUBLIC KEY-----" block (SubjectPublicKeyInfo, what
                                 `openssl pkey -pubout` and node's `{type: 'spki', format: 'pem'}`
                                 write); NULL: none */
  const char *audience;       /* when set, the token's aud (a string or an array of strings) must contain it */
  const char *issuer;         /* when set, the token's iss must equal it */
  unsigned leeway_s;          /* tolerance for exp and nbf (the server uses 5) */
} auth_config_t;

typedef struct auth auth_t;

/* NULL with a message in err when the key cannot be used (bad PEM, a private key, unsupported key
 * type or curve, an RSA key under AUTH_MIN_RSA_BITS) or neither key is set; an empty secret,
 * audience or issuer is refused too (a misconfiguration, not "unset"). The message never contains
 * the secret. cfg's strings are copied: they need not outlive the call. */
auth_t *auth_new(const auth_config_t *cfg, char *err, size_t errlen);
void auth_free(auth_t *a);

typedef struct auth_claims {
  char *sub;                 /* the user (required claim; a non-empty string) */
  int64_t exp;               /* seconds since the epoch; 0 when absent (a fractional exp is rounded down) */
  char **channels; size_t nchannels; bool has_channels; /* topic patterns the socket may join */
  char **write; size_t nwrite; bool has_write;          /* patterns where it may push or edit */
} auth_claims_t;

/* Verify a compact JWS (header.payload.signature, base64url without padding). 0 with *out filled
 * (release with auth_claims_free), or -1 with *why: a short static reason fit for a log line —
 * never the token or any part of it — and *out zeroed (nothing to free). Reasons:
 *   "malformed token"       not three base64url parts, bad base64url, JSON that is not an object,
 *                           too deep, has duplicate keys, or a header without a string alg;
 *   "token too long"        over AUTH_MAX_TOKEN bytes;
 *   "unsupported algorithm" alg none (any case) or one not listed above;
 *   "unsupported token type" typ present and not "JWT" (any case);
 *   "unsupported critical header" a crit header (no extension is understood);
 *   "algorithm does not match the configured key";
 *   "bad signature";
 *   "bad exp claim", "bad nbf claim" (not numbers); "token expired" (now > exp + leeway);
 *   "token not yet valid" (now + leeway < nbf);
 *   "missing sub" (absent, not a string, empty, over AUTH_MAX_SUB bytes);
 *   "wrong audience", "wrong issuer" (only checked when configured);
 *   "bad channels claim", "bad write claim" (not an array of at most AUTH_MAX_PATTERNS non-empty
 *                           strings of at most AUTH_MAX_PATTERN_LEN bytes).
 * The payload is parsed only once the signature is good. token may hold any bytes (NULs
 * included); it need not be NUL-terminated. */
int auth_verify(const auth_t *a, const char *token, size_t len, int64_t now_s, auth_claims_t *out,
                const char **why);
void auth_claims_free(auth_claims_t *c); /* frees the members and zeroes *c; NULL is fine */

/* A pattern is an exact topic, or a prefix ending in '*' (e.g. "room:*", "y_doc_room:team-*",
 * "*"). A '*' anywhere else is a literal character. */
bool auth_pattern_match(const char *pattern, const char *topic);
/* No channels claim: any topic. c NULL (a socket without a token, where the server lets such
 * sockets in): no restriction either — the caller decides whether tokenless sockets are allowed. */
bool auth_may_join(const auth_claims_t *c, const char *topic);
/* Only topics it may join; within those, no write claim: any, else those matching write. */
bool auth_may_write(const auth_claims_t *c, const char *topic);
/* Whether claims verified by `a` have run out at now_s, by the rule auth_verify applies (past exp
 * plus the leeway): a socket closed then cannot come straight back with the same token. */
bool auth_expired(const auth_t *a, const auth_claims_t *c, int64_t now_s);

#endif
