#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void buf_init(buf_t *b) { b->data = NULL, b->len = 0, b->cap = 0; }

void buf_free(buf_t *b) {
  free(b->data);
  buf_init(b);
}

uint8_t *buf_reserve(buf_t *b, size_t extra) {
  if (b->cap - b->len < extra) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
  }
  return b->data + b->len;
}

void buf_append(buf_t *b, const void *p, size_t n) {
  if (!n) return;
  memcpy(buf_reserve(b, n), p, n);
  b->len += n;
}

void buf_append_byte(buf_t *b, uint8_t c) {
  *buf_reserve(b, 1) = c;
  b->len++;
}

void buf_append_str(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_vprintf(buf_t *b, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return;
  vsnprintf((char *)buf_reserve(b, (size_t)n + 1), (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void buf_clear(buf_t *b) { b->len = 0; }

uint8_t *buf_release(buf_t *b) {
  uint8_t *p = b->data;
  buf_init(b);
  return p;
}
