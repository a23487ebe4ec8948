#include "core/frame.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void frame_buf_begin(buf_t *b) {
  b->len = 0;
  buf_reserve(b, FRAME_HEADROOM + 64);
  b->len = FRAME_HEADROOM;
}

frame_t *frame_from_buf(buf_t *b, size_t offset) {
  frame_t *f = xmalloc(sizeof *f);
  atomic_init(&f->refs, 1);
  f->len = b->len - offset;
  f->payload_off = 0;
  f->mem = buf_release(b);
  f->data = f->mem + offset;
  return f;
}

frame_t *frame_copy(const void *data, size_t len) {
  buf_t b = BUF_INIT;
  buf_append(&b, data, len);
  if (!b.data) buf_reserve(&b, 1);
  return frame_from_buf(&b, 0);
}

frame_t *frame_ref(frame_t *f) {
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return f;
}

void frame_unref(frame_t *f) {
  if (!f) return;
  /* acq_rel: the last owner must see every write made through other references before freeing. */
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
    free(f->mem);
    free(f);
  }
}
