#ifndef CINDER_CORE_BUF_H
#define CINDER_CORE_BUF_H
/* buf_t: a growable byte string. Used for read buffers, message assembly and encoding.
 * The owner decides the lifetime; buf_release() hands the storage over to someone else
 * (see frame_from_buf()). A zeroed buf_t is a valid empty buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
void buf_free(buf_t *b);
/* Make room for at least `extra` more bytes; returns a pointer to the first free byte. */
uint8_t *buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_append_byte(buf_t *b, uint8_t c);
void buf_append_str(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Drop the first n bytes (a consumed prefix of a read buffer). */
void buf_consume(buf_t *b, size_t n);
void buf_clear(buf_t *b);
/* Give up the storage: returns data (possibly NULL) and leaves b empty. */
uint8_t *buf_release(buf_t *b);

#endif
