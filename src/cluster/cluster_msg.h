#ifndef CINDER_CLUSTER_MSG_H
#define CINDER_CLUSTER_MSG_H
/* The messages nodes exchange on the Redis bus: a binary encoding and a strict decoder (no I/O).
 *
 *   "CDR1" | type u8 | sender incarnation u64 | sequence u64 | fields of the type
 *
 * Integers are little-endian; a string is a u32 length and its bytes. The incarnation is drawn at
 * random when a node starts (a restarted node is a new incarnation: nothing of its past life is
 * taken for its present); the sequence counts every message the incarnation published, so a
 * receiver sees a gap when one was lost (cluster_bus.c). The sequence sits at a fixed offset
 * (CLUSTER_MSG_SEQ_OFF) so that the bus stamps it when it sends, after a worker encoded the rest.
 *
 * Decoding checks everything a peer we do not trust could get wrong, because what it decodes
 * reaches clients: lengths within the message, nothing after the last field, names and keys in
 * valid UTF-8 within their limits, JSON fields (payloads, metas, samples) that are JSON (a full
 * grammar scan), a presence meta that is an object with a phx_ref (leaves are matched by it). A message that fails is dropped by the caller with a log line and a counter. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CLUSTER_MSG_MAGIC "CDR1"
#define CLUSTER_MSG_SEQ_OFF 13
#define CLUSTER_MSG_HEADER 21
#define CLUSTER_MSG_MAX_NAME 255  /* node names, topics, events, presence keys */
#define CLUSTER_MSG_MAX_SAMPLE 65536 /* a heartbeat's activity sample */

typedef enum cluster_msg_type {
  CLUSTER_MSG_HEARTBEAT = 1, /* name, sample (JSON object text or empty) */
  CLUSTER_MSG_BYE,           /* the sender is leaving: drop its members now */
  CLUSTER_MSG_BROADCAST,     /* topic, event, binary, payload (JSON text unless binary) */
  CLUSTER_MSG_TRACK,         /* topic, channel_id, key, meta (JSON object with phx_ref) */
  CLUSTER_MSG_UNTRACK,       /* topic, channel_id */
  CLUSTER_MSG_DUMP_REQUEST,  /* target, epoch: "send me your members" */
  CLUSTER_MSG_DUMP_PART,     /* target, epoch, topic, entries: count, then channel_id key meta */
  CLUSTER_MSG_DUMP_END,      /* target, epoch */
  CLUSTER_MSG_QUERY,         /* query_id, kind */
  CLUSTER_MSG_ANSWER,        /* target, query_id, body (JSON text) */
  CLUSTER_MSG_APP,           /* target (0: every node), body (opaque: a layer above decodes it) */
  CLUSTER_MSG_TYPE_MAX = CLUSTER_MSG_APP,
} cluster_msg_type_t;

enum { CLUSTER_QUERY_TOPICS = 1 };

typedef struct cluster_str {
  const char *p; /* into the decoded message: not NUL-terminated */
  size_t len;
} cluster_str_t;

typedef struct cluster_msg {
  cluster_msg_type_t type;
  uint64_t node; /* the sender's incarnation */
  uint64_t seq;
  cluster_str_t name, sample;                 /* heartbeat */
  cluster_str_t topic, event, payload;        /* broadcast; topic also track/untrack/dump part */
  bool binary;
  uint64_t channel_id;                        /* track, untrack */
  cluster_str_t key, meta;                    /* track */
  uint64_t target;                            /* dump request/part/end, answer, app */
  uint32_t epoch;                             /* dump request/part/end */
  uint32_t nentries;                          /* dump part: entries, each checked */
  const uint8_t *entries, *entries_end;
  uint64_t query_id;                          /* query, answer */
  uint8_t kind;                               /* query */
  cluster_str_t body;                         /* answer, app */
} cluster_msg_t;

/* Decode and check one message. 0, or -1 with *why (a static string) set. */
int cluster_msg_decode(const uint8_t *data, size_t len, cluster_msg_t *out, const char **why);

/* A dump part's entries, one at a time (already checked by the decoder): pos starts at
 * msg->entries; returns false after the last. */
bool cluster_msg_next_entry(const uint8_t **pos, const uint8_t *end, uint64_t *channel_id,
                            cluster_str_t *key, cluster_str_t *meta);

/* Encoding: begin writes the header (sequence 0, stamped by the bus), then the fields in the
 * order of the type's comment above. */
void cluster_msg_begin(buf_t *b, cluster_msg_type_t type, uint64_t node);
void cluster_msg_put_u8(buf_t *b, uint8_t v);
void cluster_msg_put_u32(buf_t *b, uint32_t v);
void cluster_msg_put_u64(buf_t *b, uint64_t v);
void cluster_msg_put_str(buf_t *b, const void *p, size_t len);
void cluster_msg_stamp(uint8_t *msg, uint64_t seq);

#endif
