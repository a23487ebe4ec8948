#include "ws/ws_handshake.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define PREFIX_LEN (sizeof(WS_AUTH_TOKEN_PREFIX) - 1)

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

long ws_base64_decode_any(const char *s, size_t len, uint8_t *out) {
  /* Padding is optional, but if present it must complete the last quantum. */
  size_t pad = 0;
  while (pad < 2 && len > pad && s[len - 1 - pad] == '=') pad++;
  if (pad && len % 4 != 0) return -1;
  size_t n = len - pad;
  if (n % 4 == 1) return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(s[i]);
    if (v < 0) return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* Leftover bits must be zero, so that every byte string has exactly one encoding. */
  if (bits && (acc & ((1u << bits) - 1))) return -1;
  return (long)o;
}

/* The Sec-WebSocket-Protocol entries, over every instance of the header (it may repeat). */
static int scan_protocols(const http_request_t *req, ws_handshake_t *hs) {
  const char *token = NULL;
  size_t token_len = 0, tokens = 0;
  const http_header_t *h = NULL;
  while ((h = http_header_find_next(req, "sec-websocket-protocol", h))) {
    const char *s = h->value, *end = h->value + h->value_len;
    while (s < end) {
      const char *comma = memchr(s, ',', (size_t)(end - s));
      const char *e = comma ? comma : end;
      const char *a = s, *b = e;
      while (a < b && (*a == ' ' || *a == '\t')) a++;
      while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
      size_t n = (size_t)(b - a);
      /* Sub-protocol names are case-sensitive (RFC 6455 §4.1). */
      if (n == 7 && memcmp(a, "phoenix", 7) == 0) hs->offers_phoenix = true;
      if (n >= PREFIX_LEN && memcmp(a, WS_AUTH_TOKEN_PREFIX, PREFIX_LEN) == 0) {
        tokens++;
        token = a + PREFIX_LEN;
        token_len = n - PREFIX_LEN;
      }
      s = comma ? comma + 1 : end;
    }
  }
  /* Several token entries: Phoenix treats the token as absent, and so do we. */
  if (tokens != 1) return 0;
  uint8_t *out = xmalloc(token_len * 3 / 4 + 2);
  long n = ws_base64_decode_any(token, token_len, out);
  if (n < 0) {
    free(out);
    return -1;
  }
  out[n] = 0;
  hs->auth_token = out;
  hs->auth_token_len = (size_t)n;
  return 0;
}

int ws_handshake_check(const http_request_t *req, ws_handshake_t *hs, const char **reason) {
  memset(hs, 0, sizeof(*hs));
  if (!http_method_is(req, "GET")) {
    *reason = "WebSocket upgrade requires GET";
    return 400;
  }
  if (req->version_minor < 1) {
    *reason = "WebSocket upgrade requires HTTP/1.1";
    return 400;
  }
  bool upgrade = false, connection = false;
  const http_header_t *h = NULL;
  while ((h = http_header_find_next(req, "upgrade", h))) upgrade |= http_header_has_token(h, "websocket");
  while ((h = http_header_find_next(req, "connection", h))) connection |= http_header_has_token(h, "upgrade");
  if (!upgrade) {
    *reason = "'upgrade' header must contain 'websocket'";
    return 400;
  }
  if (!connection) {
    *reason = "'connection' header must contain 'upgrade'";
    return 400;
  }
  const http_header_t *version = http_header_find(req, "sec-websocket-version");
  if (!version || http_header_find_next(req, "sec-websocket-version", version) ||
      version->value_len != 2 || memcmp(version->value, "13", 2) != 0) {
    *reason = "'sec-websocket-version' header must be 13";
    return 426;
  }
  const http_header_t *key = http_header_find(req, "sec-websocket-key");
  uint8_t raw[24];
  if (!key || http_header_find_next(req, "sec-websocket-key", key) || key->value_len != 24 ||
      key->value[22] != '=' || key->value[23] != '=' ||
      ws_base64_decode_any(key->value, key->value_len, raw) != 16) {
    *reason = "'sec-websocket-key' header must be the base64 of 16 bytes";
    return 400;
  }
  hs->key = key->value;
  hs->key_len = key->value_len;
  if (scan_protocols(req, hs) < 0) {
    *reason = "invalid auth token";
    return 403;
  }
  *reason = NULL;
  return 0;
}

void ws_handshake_free(ws_handshake_t *hs) {
  free(hs->auth_token);
  hs->auth_token = NULL;
  hs->auth_token_len = 0;
}

void ws_handshake_accept_key(const char *key, size_t key_len, char out[29]) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) || !EVP_DigestUpdate(ctx, key, key_len) ||
      !EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) || !EVP_DigestFinal_ex(ctx, md, &md_len)) {
    /* Only allocation can fail here; like xmalloc, there is no sensible way on. */
    abort();
  }
  EVP_MD_CTX_free(ctx);
  EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
  out[28] = 0;
}

void ws_handshake_write_response(const ws_handshake_t *hs, buf_t *out) {
  char accept[29];
  ws_handshake_accept_key(hs->key, hs->key_len, accept);
  buf_printf(out,
             "HTTP/1.1 101 Switching Protocols\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n"
             "%s"
             "\r\n",
             accept, hs->offers_phoenix ? "Sec-WebSocket-Protocol: phoenix\r\n" : "");
}
