#include "phx/phx_frame.h"

#include <string.h>

#include "ws/ws_frame.h"

frame_t *phx_frame_finish(buf_t *b, uint8_t ws_opcode) {
  uint8_t hdr[10];
  size_t payload_len = b->len - FRAME_HEADROOM;
  size_t hl = ws_frame_encode_header(hdr, true, ws_opcode, payload_len);
  size_t off = FRAME_HEADROOM - hl;
  memcpy(b->data + off, hdr, hl);
  frame_t *f = frame_from_buf(b, off);
  f->payload_off = hl;
  return f;
}
