#include "docs/ymsg.h"

#define YMSG_MAX_SAFE ((1ULL << 53) - 1)

size_t ymsg_read_varuint(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 8; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      if (v > YMSG_MAX_SAFE) return 0;
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

void ymsg_write_varuint(buf_t *b, uint64_t v) {
  while (v >= 0x80) {
    buf_append_byte(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  buf_append_byte(b, (uint8_t)v);
}

/* varbytes that must end exactly at the end of the payload */
static int ymsg_varbytes_tail(const uint8_t *p, size_t len, ymsg_t *out, const char **why) {
  uint64_t n;
  size_t hl = ymsg_read_varuint(p, len, &n);
  if (!hl) {
    *why = "truncated length";
    return -1;
  }
  if (n > len - hl) {
    *why = "length beyond the payload";
    return -1;
  }
  if (n != len - hl) {
    *why = "bytes after the message";
    return -1;
  }
  out->body = p + hl;
  out->body_len = (size_t)n;
  return 0;
}

int ymsg_parse(const uint8_t *p, size_t len, ymsg_t *out, const char **why) {
  if (len == 0) {
    *why = "empty payload";
    return -1;
  }
  switch (p[0]) {
  case 0:
    if (len < 2 || p[1] > 2) {
      *why = len < 2 ? "truncated sync message" : "unknown sync message type";
      return -1;
    }
    out->type = (ymsg_type_t)p[1];
    return ymsg_varbytes_tail(p + 2, len - 2, out, why);
  case 1:
    out->type = YMSG_AWARENESS;
    return ymsg_varbytes_tail(p + 1, len - 1, out, why);
  case 3:
    if (len != 1) {
      *why = "bytes after query-awareness";
      return -1;
    }
    out->type = YMSG_QUERY_AWARENESS;
    out->body = p + 1;
    out->body_len = 0;
    return 0;
  default:
    *why = "unknown message type";
    return -1;
  }
}

void ymsg_encode_sync(buf_t *b, int subtype, const uint8_t *data, size_t len) {
  buf_append_byte(b, 0);
  buf_append_byte(b, (uint8_t)subtype);
  ymsg_write_varuint(b, len);
  buf_append(b, data, len);
}

void ymsg_encode_awareness(buf_t *b, const uint8_t *update, size_t len) {
  buf_append_byte(b, 1);
  ymsg_write_varuint(b, len);
  buf_append(b, update, len);
}
