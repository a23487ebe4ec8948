/* libFuzzer target: the documents' messages between nodes (src/docs/doc_wire.c).
 *
 * Properties: decoding never reads outside the input; what it accepts holds what doc_wire.h
 * promises (names of 1..DOC_WIRE_MAX_NAME bytes without NUL, events of 1..31, at most 3 parts
 * adding up to a binary note's payload, JSON for a text note); and the fields, encoded again in
 * the documented order, give back the input byte for byte (nothing is skipped or guessed). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "docs/doc_wire.h"
#include "fuzz_check.h"

static bool inside(cluster_str_t s, const uint8_t *data, size_t size) {
  return !s.len || ((const uint8_t *)s.p >= data && (const uint8_t *)s.p + s.len <= data + size);
}

static bool name_ok(cluster_str_t s, size_t max) {
  return s.len >= 1 && s.len <= max && !memchr(s.p, '\0', s.len);
}

static void put(buf_t *b, cluster_str_t s) { cluster_msg_put_str(b, s.p, s.len); }

static void reencode(const doc_wire_t *w, buf_t *b) {
  doc_wire_begin(b, w->kind);
  switch (w->kind) {
  case DOC_WIRE_JOIN:
    put(b, w->doc);
    put(b, w->topic);
    cluster_msg_put_u32(b, w->worker);
    cluster_msg_put_u64(b, w->channel);
    break;
  case DOC_WIRE_MESSAGE:
    put(b, w->doc);
    cluster_msg_put_u32(b, w->worker);
    cluster_msg_put_u64(b, w->channel);
    put(b, w->data);
    break;
  case DOC_WIRE_LEAVE:
    put(b, w->doc);
    cluster_msg_put_u32(b, w->worker);
    cluster_msg_put_u64(b, w->channel);
    break;
  case DOC_WIRE_NOTE:
    cluster_msg_put_u32(b, w->worker);
    cluster_msg_put_u64(b, w->channel);
    cluster_msg_put_u8(b, w->note);
    put(b, w->event);
    cluster_msg_put_u8(b, w->nparts);
    for (uint8_t i = 0; i < w->nparts; i++) cluster_msg_put_u32(b, w->part_len[i]);
    put(b, w->data);
    break;
  case DOC_WIRE_OWNED:
  case DOC_WIRE_RELEASED:
  case DOC_WIRE_NOT_OWNER:
    put(b, w->doc);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  doc_wire_t w;
  const char *why = NULL;
  if (doc_wire_decode(data, size, &w, &why)) {
    CHECK(why != NULL);
    return 0;
  }
  CHECK(w.kind >= DOC_WIRE_JOIN && w.kind <= DOC_WIRE_KIND_MAX);
  CHECK(inside(w.doc, data, size) && inside(w.topic, data, size) && inside(w.data, data, size) &&
        inside(w.event, data, size));
  if (w.kind != DOC_WIRE_NOTE) CHECK(name_ok(w.doc, DOC_WIRE_MAX_NAME));
  if (w.kind == DOC_WIRE_JOIN) CHECK(name_ok(w.topic, DOC_WIRE_MAX_NAME));
  if (w.kind == DOC_WIRE_NOTE) {
    CHECK(name_ok(w.event, 31) && w.note <= DOC_WIRE_NOTE_CRASH && w.nparts <= DOC_WIRE_MAX_PARTS);
    if (w.note == DOC_WIRE_NOTE_BINARY) {
      size_t sum = 0;
      for (uint8_t i = 0; i < w.nparts; i++) sum += w.part_len[i];
      CHECK(w.nparts > 0 && sum == w.data.len);
    } else {
      CHECK(w.nparts == 0 && w.data.len > 0);
    }
  }
  buf_t b = BUF_INIT;
  reencode(&w, &b);
  CHECK(b.len == size && !memcmp(b.data, data, size));
  buf_free(&b);
  return 0;
}
