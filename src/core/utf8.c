#include "core/utf8.h"

#include <string.h>

#define HIGH_BITS 0x8080808080808080ull

void utf8_stream_init(utf8_stream_t *st) { st->need = 0, st->lo = 0x80, st->hi = 0xBF; }

bool utf8_stream_complete(const utf8_stream_t *st) { return st->need == 0; }

bool utf8_stream_feed(utf8_stream_t *st, const uint8_t *s, size_t len) {
  size_t i = 0;
  uint8_t need = st->need, lo = st->lo, hi = st->hi;
  while (i < len) {
    if (need == 0) {
      /* Text is mostly ASCII: skip it a word at a time. */
      while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & HIGH_BITS) break;
        i += 8;
      }
      if (i == len) break;
      uint8_t c = s[i++];
      if (c < 0x80) continue;
      lo = 0x80, hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;      /* below: overlong 3-byte forms */
        else if (c == 0xED) hi = 0x9F; /* above: surrogates U+D800..U+DFFF */
      } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;      /* below: overlong 4-byte forms */
        else if (c == 0xF4) hi = 0x8F; /* above: beyond U+10FFFF */
      } else {
        return false; /* 80..C1 (stray continuation, overlong 2-byte lead), F5..FF */
      }
    } else {
      uint8_t c = s[i++];
      if (c < lo || c > hi) return false;
      need--;
      lo = 0x80, hi = 0xBF;
    }
  }
  st->need = need, st->lo = lo, st->hi = hi;
  return true;
}

bool utf8_valid(const uint8_t *s, size_t len) {
  utf8_stream_t st;
  utf8_stream_init(&st);
  return utf8_stream_feed(&st, s, len) && utf8_stream_complete(&st);
}

/* The same rules as the stream, for one sequence at a time (no state to carry). */
size_t utf8_sequence_len(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && p[1] > 0x9F) return 0; /* UTF-16 surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && p[1] > 0x8F) return 0; /* above U+10FFFF */
    return 4;
  }
  return 0;
}
