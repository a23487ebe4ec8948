#ifndef CINDER_CORE_FRAME_H
#define CINDER_CORE_FRAME_H
/* frame_t: an immutable, reference-counted byte string — in practice one complete, encoded
 * WebSocket frame. A broadcast is encoded once into a frame and the same frame is queued on every
 * subscriber's socket, on every worker: each recipient costs one reference (an atomic increment),
 * never a copy. The bytes are released when the last socket has written them.
 *
 * Frames are built from a buf_t without copying: the encoder leaves FRAME_HEADROOM free bytes at
 * the front (frame_buf_begin), appends the payload, and the WebSocket header is then written
 * right-aligned into the headroom, just before the payload. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Longest server-to-client WebSocket header: 2 bytes + 8-byte extended length, no mask. */
#define FRAME_HEADROOM 10

typedef struct frame {
  atomic_uint refs;
  size_t len;
  size_t payload_off; /* where the message starts inside data (after the WebSocket header): the
                         LongPoll transport serves the same frame without the header */
  uint8_t *data;      /* points into mem */
  uint8_t *mem;  /* the allocation to free */
} frame_t;

/* Start a buffer for a frame: clears b and reserves the headroom. */
void frame_buf_begin(buf_t *b);
/* Take over b's storage; the frame's bytes are b->data[offset .. b->len). Leaves b empty.
 * The new frame has one reference. */
frame_t *frame_from_buf(buf_t *b, size_t offset);
/* A frame holding a copy of the given bytes (for small, rare frames such as close frames). */
frame_t *frame_copy(const void *data, size_t len);
frame_t *frame_ref(frame_t *f);
void frame_unref(frame_t *f);

#endif
