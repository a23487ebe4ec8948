#include "ws/ws_parser.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* out->data for an empty assembled message: callers may memcpy from it, so never NULL. */
static uint8_t empty_payload[1];

void ws_parser_init(ws_parser_t *p, size_t max_message_size) {
  memset(p, 0, sizeof(*p));
  p->max_message_size = max_message_size;
  buf_init(&p->msg);
  utf8_stream_init(&p->utf8);
}

void ws_parser_free(ws_parser_t *p) {
  buf_free(&p->msg);
  p->msg_opcode = 0;
  p->in_payload = false;
  p->delivered = false;
}

static int fail(ws_parser_t *p, int err) {
  p->error = err;
  return err;
}

static void reset_message(ws_parser_t *p) {
  p->msg_opcode = 0;
  p->msg.len = 0;
  if (p->msg.cap > WS_PARSER_KEEP_BUFFER) buf_free(&p->msg);
  utf8_stream_init(&p->utf8);
}

/* Everything the first two bytes decide, checked before the rest of the header is waited for. */
static int check_first_bytes(const ws_parser_t *p, uint8_t b0, uint8_t b1) {
  uint8_t op = b0 & 0x0F;
  if (b0 & 0x70) return WS_E_RSV;
  if ((op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG) return WS_E_OPCODE;
  if (!(b1 & 0x80)) return WS_E_UNMASKED;
  if (ws_opcode_is_control(op)) {
    if (!(b0 & 0x80)) return WS_E_CONTROL_FRAGMENTED;
    if ((b1 & 0x7F) > WS_CONTROL_MAX_PAYLOAD) return WS_E_CONTROL_TOO_BIG;
  } else if (op == WS_OP_CONT) {
    if (!p->msg_opcode) return WS_E_UNEXPECTED_CONT;
  } else if (p->msg_opcode) {
    return WS_E_EXPECTED_CONT;
  }
  return 0;
}

/* Room for n more bytes. Doubles (amortised O(1) per byte even for a flood of 1-byte fragments)
 * but never past the cap, which the caller has already checked len + n against. */
static void msg_grow(ws_parser_t *p, size_t n) {
  buf_t *b = &p->msg;
  if (b->cap - b->len >= n) return;
  size_t need = b->len + n;
  size_t cap = b->cap ? b->cap * 2 : 256;
  if (cap > p->max_message_size) cap = p->max_message_size;
  if (cap < need) cap = need;
  b->data = xrealloc(b->data, cap);
  b->cap = cap;
}

static int fill_control(uint8_t opcode, uint8_t *payload, size_t plen, ws_message_t *out) {
  out->opcode = opcode;
  out->data = payload;
  out->len = plen;
  out->close_code = 0;
  out->close_reason = NULL;
  out->close_reason_len = 0;
  if (opcode != WS_OP_CLOSE) return 0;
  out->close_code = WS_CLOSE_NO_STATUS;
  if (plen == 0) return 0;
  if (plen == 1) return WS_E_CLOSE_PAYLOAD;
  uint16_t code = (uint16_t)(payload[0] << 8 | payload[1]);
  if (!ws_close_code_valid(code)) return WS_E_CLOSE_CODE;
  if (!utf8_valid(payload + 2, plen - 2)) return WS_E_CLOSE_UTF8;
  out->close_code = code;
  out->close_reason = payload + 2;
  out->close_reason_len = plen - 2;
  return 0;
}

static void fill_data(uint8_t opcode, uint8_t *data, size_t len, ws_message_t *out) {
  out->opcode = opcode;
  out->data = data ? data : empty_payload;
  out->len = len;
  out->close_code = 0;
  out->close_reason = NULL;
  out->close_reason_len = 0;
}

int ws_parser_next(ws_parser_t *p, uint8_t *buf, size_t len, size_t *consumed, ws_message_t *out) {
  *consumed = 0;
  if (p->error) return p->error;
  if (p->delivered) {
    p->delivered = false;
    reset_message(p);
  }
  size_t pos = 0;
  for (;;) {
    if (p->in_payload) {
      size_t n = len - pos;
      if (n > p->frame_left) n = (size_t)p->frame_left;
      if (n) {
        msg_grow(p, n);
        uint8_t *dst = p->msg.data + p->msg.len;
        memcpy(dst, buf + pos, n);
        ws_mask_apply(dst, n, p->frame_mask, (size_t)(p->frame_off & 3));
        if (p->msg_opcode == WS_OP_TEXT && !utf8_stream_feed(&p->utf8, dst, n))
          return fail(p, WS_E_UTF8);
        p->msg.len += n;
        pos += n;
        p->frame_left -= n;
        p->frame_off += n;
      }
      if (p->frame_left) {
        *consumed = pos;
        return WS_PARSE_NEED_MORE;
      }
      p->in_payload = false;
      if (!p->frame_fin) continue;
      if (p->msg_opcode == WS_OP_TEXT && !utf8_stream_complete(&p->utf8)) return fail(p, WS_E_UTF8);
      fill_data(p->msg_opcode, p->msg.data, p->msg.len, out);
      p->delivered = true;
      *consumed = pos;
      return WS_PARSE_MESSAGE;
    }

    size_t avail = len - pos;
    if (avail < 2) {
      *consumed = pos;
      return WS_PARSE_NEED_MORE;
    }
    uint8_t *f = buf + pos;
    int err = check_first_bytes(p, f[0], f[1]);
    if (err) return fail(p, err);
    ws_frame_header_t h;
    int r = ws_frame_parse_header(f, avail, &h);
    if (r < 0) return fail(p, WS_E_LENGTH);
    if (r == 0) {
      *consumed = pos;
      return WS_PARSE_NEED_MORE;
    }
    size_t hlen = (size_t)r;

    if (ws_opcode_is_control(h.opcode)) {
      /* At most 125 bytes: wait for the whole frame rather than copy it. */
      if (avail - hlen < h.payload_len) {
        *consumed = pos;
        return WS_PARSE_NEED_MORE;
      }
      size_t plen = (size_t)h.payload_len;
      ws_mask_apply(f + hlen, plen, h.mask, 0);
      err = fill_control(h.opcode, f + hlen, plen, out);
      if (err) return fail(p, err);
      *consumed = pos + hlen + plen;
      return WS_PARSE_MESSAGE;
    }

    size_t have = p->msg_opcode ? p->msg.len : 0;
    if (h.payload_len > p->max_message_size - have) return fail(p, WS_E_TOO_BIG);
    size_t plen = (size_t)h.payload_len;

    if (h.opcode != WS_OP_CONT && h.fin && avail - hlen >= plen) {
      uint8_t *payload = f + hlen;
      ws_mask_apply(payload, plen, h.mask, 0);
      if (h.opcode == WS_OP_TEXT && !utf8_valid(payload, plen)) return fail(p, WS_E_UTF8);
      fill_data(h.opcode, payload, plen, out);
      *consumed = pos + hlen + plen;
      return WS_PARSE_MESSAGE;
    }

    if (h.opcode != WS_OP_CONT) {
      p->msg_opcode = h.opcode;
      p->msg.len = 0;
      utf8_stream_init(&p->utf8);
    }
    p->in_payload = true;
    p->frame_fin = h.fin;
    memcpy(p->frame_mask, h.mask, 4);
    p->frame_left = plen;
    p->frame_off = 0;
    pos += hlen;
  }
}

uint16_t ws_parser_close_code(int err) {
  switch (err) {
    case WS_E_TOO_BIG: return WS_CLOSE_TOO_BIG;
    case WS_E_UTF8:
    case WS_E_CLOSE_UTF8: return WS_CLOSE_INVALID_DATA;
    default: return WS_CLOSE_PROTOCOL;
  }
}

const char *ws_parser_strerror(int err) {
  switch (err) {
    case WS_E_UNMASKED: return "client frame not masked";
    case WS_E_RSV: return "reserved bits set";
    case WS_E_OPCODE: return "unknown opcode";
    case WS_E_CONTROL_FRAGMENTED: return "fragmented control frame";
    case WS_E_CONTROL_TOO_BIG: return "control frame payload over 125 bytes";
    case WS_E_UNEXPECTED_CONT: return "continuation frame without a message in progress";
    case WS_E_EXPECTED_CONT: return "new data frame inside a fragmented message";
    case WS_E_LENGTH: return "payload length has its most significant bit set";
    case WS_E_TOO_BIG: return "message too big";
    case WS_E_UTF8: return "text message is not valid UTF-8";
    case WS_E_CLOSE_PAYLOAD: return "close frame with a 1-byte payload";
    case WS_E_CLOSE_CODE: return "invalid close code";
    case WS_E_CLOSE_UTF8: return "close reason is not valid UTF-8";
    default: return "websocket protocol error";
  }
}
