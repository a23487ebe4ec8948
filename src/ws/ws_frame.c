#include "ws/ws_frame.h"

#include <string.h>

int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header_t *h) {
  if (len < 2) return 0;
  uint8_t b0 = buf[0], b1 = buf[1];
  uint8_t len7 = b1 & 0x7F;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  bool masked = (b1 & 0x80) != 0;
  size_t hlen = 2 + ext + (masked ? 4 : 0);
  /* The length's MSB is known as soon as its first byte arrives: fail before waiting for more. */
  if (ext == 8 && len > 2 && (buf[2] & 0x80)) return WS_FRAME_E_LENGTH;
  if (len < hlen) return 0;

  uint64_t plen = len7;
  if (ext == 2) {
    plen = (uint64_t)buf[2] << 8 | buf[3];
  } else if (ext == 8) {
    plen = 0;
    for (size_t i = 0; i < 8; i++) plen = plen << 8 | buf[2 + i];
  }
  h->fin = (b0 & 0x80) != 0;
  h->rsv = (b0 >> 4) & 0x7;
  h->opcode = b0 & 0x0F;
  h->masked = masked;
  if (masked) memcpy(h->mask, buf + 2 + ext, 4);
  else memset(h->mask, 0, 4);
  h->payload_len = plen;
  h->header_len = hlen;
  return (int)hlen;
}

void ws_mask_apply(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
  /* The key rotated to start at this offset, repeated to a word: then 8 bytes at a time. */
  uint8_t rot[8];
  for (size_t j = 0; j < 8; j++) rot[j] = mask[(offset + j) & 3];
  uint64_t m;
  memcpy(&m, rot, 8);
  size_t i = 0;
  for (; len - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, data + i, 8);
    w ^= m;
    memcpy(data + i, &w, 8);
  }
  for (; i < len; i++) data[i] ^= rot[i & 7];
}

size_t ws_frame_header_len(uint64_t payload_len) {
  return payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
}

size_t ws_frame_encode_header(uint8_t out[10], bool fin, uint8_t opcode, uint64_t payload_len) {
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
  if (payload_len < 126) {
    out[1] = (uint8_t)payload_len;
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    return 4;
  }
  out[1] = 127;
  for (size_t i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
  return 10;
}

bool ws_close_code_valid(uint16_t code) {
  /* 1004 is reserved, 1005/1006/1015 must never appear on the wire, 1016-2999 are unassigned. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}
