#ifndef CINDER_DOCS_YMSG_H
#define CINDER_DOCS_YMSG_H
/* y-protocols messages, as y-phoenix-channel carries them in binary `yjs` / `yjs_sync` payloads
 * (spec phoenix-channels §9.3, yjs-formats §7–8):
 *
 *   00 00 varbytes(state vector)   sync step 1
 *   00 01 varbytes(update v1)      sync step 2
 *   00 02 varbytes(update v1)      update
 *   01    varbytes(awareness)      awareness update
 *   03                             query awareness
 *
 * Parsing is strict: one whole message per payload, nothing after it. The body bytes are only
 * framed here; the engine (src/yjs) and awareness.c validate them. */
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum {
  YMSG_SYNC_STEP1 = 0,
  YMSG_SYNC_STEP2 = 1,
  YMSG_SYNC_UPDATE = 2,
  YMSG_AWARENESS = 3,
  YMSG_QUERY_AWARENESS = 4,
} ymsg_type_t;

typedef struct ymsg {
  ymsg_type_t type;
  const uint8_t *body; /* into the payload */
  size_t body_len;
} ymsg_t;

/* 0, or -1 with *why set to a short static reason. */
int ymsg_parse(const uint8_t *p, size_t len, ymsg_t *out, const char **why);

/* lib0 varUint (up to 53 bits, as JavaScript numbers) */
void ymsg_write_varuint(buf_t *b, uint64_t v);
/* Returns the bytes read, 0 on truncation or overflow. */
size_t ymsg_read_varuint(const uint8_t *p, size_t len, uint64_t *out);

/* 00 <subtype> varbytes(data) */
void ymsg_encode_sync(buf_t *b, int subtype, const uint8_t *data, size_t len);
/* 01 varbytes(awareness update) */
void ymsg_encode_awareness(buf_t *b, const uint8_t *update, size_t len);

#endif
