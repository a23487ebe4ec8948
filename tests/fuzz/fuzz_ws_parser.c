/* libFuzzer target for the server-side WebSocket message parser.
 *
 * Input: byte 0 chooses the mode and the message cap, bytes 1-2 seed how the stream is split,
 * the rest is the stream. In raw mode the rest is fed as it is; in builder mode it is read as
 * records [b0][len][payload] and each is encoded as a masked client frame, so that the fuzzer
 * reaches deep states (fragments, UTF-8 across frames, close frames) without having to discover
 * masking first.
 *
 * The stream is parsed whole and again in fuzzer-chosen pieces, as a connection would feed it
 * (keeping what was not consumed); both runs must produce the same messages and end the same
 * way. Every message is checked against the rules the parser enforces. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "ws/ws_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void record(buf_t *log, const ws_message_t *m, size_t max) {
  CHECK(m->data != NULL);
  switch (m->opcode) {
    case WS_OP_TEXT:
      CHECK(utf8_valid(m->data, m->len));
      /* fall through */
    case WS_OP_BINARY:
      CHECK(m->len <= max);
      break;
    case WS_OP_PING:
    case WS_OP_PONG:
      CHECK(m->len <= WS_CONTROL_MAX_PAYLOAD);
      break;
    case WS_OP_CLOSE:
      CHECK(m->len <= WS_CONTROL_MAX_PAYLOAD && m->len != 1);
      if (m->len == 0) {
        CHECK(m->close_code == WS_CLOSE_NO_STATUS && m->close_reason_len == 0);
      } else {
        CHECK(ws_close_code_valid(m->close_code));
        CHECK(m->close_reason == m->data + 2 && m->close_reason_len == m->len - 2);
        CHECK(utf8_valid(m->close_reason, m->close_reason_len));
      }
      break;
    default:
      abort();
  }
  uint8_t hdr[1 + sizeof(size_t) + 2];
  hdr[0] = m->opcode;
  memcpy(hdr + 1, &m->len, sizeof(size_t));
  memcpy(hdr + 1 + sizeof(size_t), &m->close_code, 2);
  buf_append(log, hdr, sizeof(hdr));
  buf_append(log, m->data, m->len);
}

typedef struct {
  uint32_t s;
} rng_t;

static uint32_t next(rng_t *r) {
  r->s = r->s * 1103515245u + 12345u;
  return r->s >> 16;
}

/* Parses `in` in pieces (chunk sizes from the rng; rng NULL: all at once) and logs the outcome. */
static void run(const uint8_t *in, size_t len, size_t max, rng_t *rng, buf_t *log) {
  ws_parser_t p;
  ws_parser_init(&p, max);
  buf_t pending = BUF_INIT;
  size_t off = 0;
  int r = WS_PARSE_NEED_MORE;
  for (;;) {
    size_t step = len - off;
    if (rng) {
      uint32_t x = next(rng);
      size_t want = (x & 3) == 0 ? (x >> 2) % 300 : (x >> 2) % 16;
      if (want < step) step = want;
    }
    if (step) buf_append(&pending, in + off, step);
    off += step;
    /* An exact-size copy: any read past len is an ASan report. */
    uint8_t *copy = malloc(pending.len ? pending.len : 1);
    if (pending.len) memcpy(copy, pending.data, pending.len);
    size_t used = 0;
    for (;;) {
      size_t consumed = 0;
      ws_message_t m;
      r = ws_parser_next(&p, copy + used, pending.len - used, &consumed, &m);
      if (r < 0) break;
      CHECK(consumed <= pending.len - used);
      used += consumed;
      CHECK(p.msg.cap <= max);
      if (r != WS_PARSE_MESSAGE) break;
      record(log, &m, max);
    }
    free(copy);
    if (r < 0) {
      CHECK(ws_parser_strerror(r) != NULL);
      uint16_t code = ws_parser_close_code(r);
      CHECK(code == 1002 || code == 1007 || code == 1009);
      break;
    }
    buf_consume(&pending, used);
    if (off == len) break;
  }
  buf_append(log, &r, sizeof(r));
  ws_parser_free(&p);
  buf_free(&pending);
}

/* Builder mode: [b0][len][payload...] records become masked frames. */
static void build(const uint8_t *d, size_t n, uint8_t mask_seed, buf_t *out) {
  const uint8_t mask[4] = {mask_seed, (uint8_t)(mask_seed * 3 + 1), 0x5A, (uint8_t)~mask_seed};
  size_t i = 0;
  while (i + 2 <= n) {
    uint8_t b0 = d[i];
    size_t plen = d[i + 1];
    i += 2;
    if (plen > n - i) plen = n - i;
    uint8_t hdr[8];
    size_t h = 0;
    hdr[h++] = b0;
    if (plen < 126) {
      hdr[h++] = 0x80 | (uint8_t)plen;
    } else {
      hdr[h++] = 0x80 | 126;
      hdr[h++] = 0;
      hdr[h++] = (uint8_t)plen;
    }
    memcpy(hdr + h, mask, 4);
    buf_append(out, hdr, h + 4);
    size_t at = out->len;
    buf_append(out, d + i, plen);
    ws_mask_apply(out->data + at, plen, mask, 0);
    i += plen;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  uint8_t cfg = data[0];
  rng_t rng = {(uint32_t)data[1] << 8 | data[2]};
  const uint8_t *in = data + 3;
  size_t len = size - 3;
  /* Small caps make 1009 reachable; the large one leaves room for everything else. */
  static const size_t caps[4] = {0, 7, 130, 1 << 20};
  size_t max = caps[cfg & 3];
  if ((cfg & 0x0C) == 0x04) max = (size_t)data[1] * 2;

  buf_t stream = BUF_INIT;
  if (cfg & 0x80) {
    build(in, len, data[2], &stream);
    in = stream.data;
    len = stream.len;
  }
  buf_t whole = BUF_INIT, split = BUF_INIT;
  run(in, len, max, NULL, &whole);
  run(in, len, max, &rng, &split);
  CHECK(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
  buf_free(&whole);
  buf_free(&split);
  buf_free(&stream);
  return 0;
}
