#ifndef CINDER_WS_HANDSHAKE_H
#define CINDER_WS_HANDSHAKE_H
/* RFC 6455 §4.2 opening handshake, server side: validating the upgrade request, extracting the
 * phoenix.js auth token from Sec-WebSocket-Protocol (spec §1.5), computing Sec-WebSocket-Accept
 * and writing the 101 response. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/http_parser.h"

/* Exact prefix of the sub-protocol entry that carries the token, final dot included. */
#define WS_AUTH_TOKEN_PREFIX "base64url.bearer.phx."

typedef struct {
  const char *key; /* Sec-WebSocket-Key, points into the request */
  size_t key_len;
  bool offers_phoenix; /* client listed the "phoenix" sub-protocol: echo it in the 101 */
  uint8_t *auth_token; /* decoded token, NUL-terminated for convenience (it may itself contain
                          NULs: use auth_token_len); malloc'd, NULL if none; ws_handshake_free */
  size_t auth_token_len;
} ws_handshake_t;

/* Validates a request head as a WebSocket upgrade: GET, HTTP/1.1, Upgrade lists "websocket",
 * Connection lists "upgrade", Sec-WebSocket-Version: 13, one Sec-WebSocket-Key that is the base64
 * of exactly 16 bytes. Returns 0 (hs filled) or an HTTP status with *reason set to a short static
 * text: 400; 426 for a missing or other version (the response must then carry
 * "Sec-WebSocket-Version: 13"); 403 "invalid auth token" when a single token entry does not
 * decode. hs needs ws_handshake_free afterwards whatever the result. */
int ws_handshake_check(const http_request_t *req, ws_handshake_t *hs, const char **reason);
void ws_handshake_free(ws_handshake_t *hs);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)); out gets 28 chars + NUL. */
void ws_handshake_accept_key(const char *key, size_t key_len, char out[29]);

/* Appends the complete 101 Switching Protocols response (with the accept key, and
 * "Sec-WebSocket-Protocol: phoenix" when the client offered it; never the token entry). */
void ws_handshake_write_response(const ws_handshake_t *hs, buf_t *out);

/* Base64 decoding that accepts both alphabets (+/ and -_) and optional '=' padding, as the auth
 * token needs. out has room for len * 3 / 4 + 1 bytes. Returns the decoded length, or -1 when s
 * is not base64 (bad character, impossible length, misplaced padding, non-zero trailing bits). */
long ws_base64_decode_any(const char *s, size_t len, uint8_t *out);

#endif
