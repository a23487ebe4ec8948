#ifndef CINDER_CORE_UTF8_H
#define CINDER_CORE_UTF8_H
/* Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF. WebSocket text messages (RFC 6455 §8.1) and close reasons must pass it.
 *
 * The streaming form lets the WebSocket parser fail a fragmented text message as soon as an
 * invalid byte arrives, instead of after buffering all of it: the state remembers how many
 * continuation bytes are still owed and the range the next one must fall in. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct utf8_stream {
  uint8_t need; /* continuation bytes still owed by the current sequence */
  uint8_t lo;   /* inclusive bounds of the next continuation byte: narrower than 80..BF */
  uint8_t hi;   /* right after E0, ED, F0 and F4, which is how overlongs etc. are excluded */
} utf8_stream_t;

bool utf8_valid(const uint8_t *s, size_t len);
/* Length of the well-formed sequence at p (n > 0 bytes available), or 0 if none starts there:
 * for encoders that copy valid text and replace the rest (phx_serializer's JSON strings). */
size_t utf8_sequence_len(const uint8_t *p, size_t n);

void utf8_stream_init(utf8_stream_t *st);
/* Feeds more bytes; false once the bytes seen so far cannot be the prefix of valid UTF-8
 * (the state is then meaningless). */
bool utf8_stream_feed(utf8_stream_t *st, const uint8_t *s, size_t len);
/* True when the bytes fed so far end on a character boundary. */
bool utf8_stream_complete(const utf8_stream_t *st);

#endif
