/* libFuzzer target for the WebSocket upgrade checks: an HTTP head through http_parse_request and
 * ws_handshake_check (sub-protocol list, auth-token base64), the raw input through the
 * two-alphabet base64 decoder that LongPoll's binary lines and the auth token share, and through
 * the Origin parser (as a header value and as a --check-origin list). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_origin.h"
#include "http/http_parser.h"
#include "ws/ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *out = malloc(size * 3 / 4 + 1);
  long n = ws_base64_decode_any((const char *)data, size, out);
  if (n > (long)(size * 3 / 4 + 1)) abort();
  free(out);

  /* The input as an Origin header against a list, and as a list itself. */
  static http_origin_list_t list;
  if (!list.n) http_origin_list_parse("https://app.example.com,//*.example.org,localhost", &list, NULL);
  (void)http_origin_allowed(&list, (const char *)data, size);
  char *csv = malloc(size + 1);
  memcpy(csv, data, size);
  csv[size] = 0;
  http_origin_list_t mine;
  if (http_origin_list_parse(csv, &mine, NULL) == 0) {
    (void)http_origin_allowed(&mine, "https://a.example.org:8443", 26);
    http_origin_list_free(&mine);
  }
  free(csv);

  http_request_t req;
  if (http_parse_request((const char *)data, size, &req) > 0) {
    ws_handshake_t hs;
    const char *reason = NULL;
    int status = ws_handshake_check(&req, &hs, &reason);
    if (status == 0) {
      char accept[29];
      ws_handshake_accept_key(hs.key, hs.key_len, accept);
      if (strlen(accept) != 28) abort();
      ws_handshake_free(&hs);
    } else if (!reason || (status != 400 && status != 403 && status != 426)) {
      abort();
    }
  }
  return 0;
}
