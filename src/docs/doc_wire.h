#ifndef CINDER_DOCS_DOC_WIRE_H
#define CINDER_DOCS_DOC_WIRE_H
/* The documents' messages between nodes, carried in the body of a bus APP message
 * (cluster_msg.h): an encoding and a strict decoder, no I/O (doc_cluster.c sends and handles).
 *
 *   kind u8, then by kind (strings: u32 length + bytes; integers little-endian):
 *   JOIN       doc, topic, worker u32, channel u64     a channel of the sender joins
 *   MESSAGE    doc, worker u32, channel u64, data      its y-protocols message
 *   LEAVE      doc, worker u32, channel u64            it left
 *   NOTE       worker u32, channel u64, note u8, event, nparts u8, part_len u32 × nparts, payload
 *                                                      the owner tells a channel of the receiver
 *   OWNED      doc                                     the sender owns doc now (to every node)
 *   RELEASED   doc                                     the sender gave doc up (to every node)
 *   NOT_OWNER  doc                                     "I do not serve doc": look for its owner
 *
 * What decoding checks, since a peer's bytes reach documents and clients: lengths within the
 * message and nothing after the last field, names (doc, topic) of 1..DOC_WIRE_MAX_NAME bytes of
 * UTF-8 without NUL, an event of 1..31 such bytes, a known note kind, at most 3 parts whose
 * lengths add up to the payload (binary notes), a JSON payload for text notes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster_msg.h"
#include "core/buf.h"

#define DOC_WIRE_MAX_NAME 4096

typedef enum doc_wire_kind {
  DOC_WIRE_JOIN = 1,
  DOC_WIRE_MESSAGE,
  DOC_WIRE_LEAVE,
  DOC_WIRE_NOTE,
  DOC_WIRE_OWNED,
  DOC_WIRE_RELEASED,
  DOC_WIRE_NOT_OWNER,
  DOC_WIRE_KIND_MAX = DOC_WIRE_NOT_OWNER,
} doc_wire_kind_t;

/* A note's kinds: the values of chan_task_kind_t (doc_internal.h). */
enum { DOC_WIRE_NOTE_BINARY = 0, DOC_WIRE_NOTE_TEXT = 1, DOC_WIRE_NOTE_CRASH = 2 };
#define DOC_WIRE_MAX_PARTS 3

typedef struct doc_wire {
  doc_wire_kind_t kind;
  cluster_str_t doc, topic, data, event; /* into the decoded bytes */
  uint32_t worker;
  uint64_t channel;
  uint8_t note;
  uint8_t nparts;
  uint32_t part_len[DOC_WIRE_MAX_PARTS];
} doc_wire_t;

/* 0, or -1 with *why (a static string) set. */
int doc_wire_decode(const uint8_t *data, size_t len, doc_wire_t *out, const char **why);

/* Encoding: the kind, then the fields in the order above (cluster_msg_put_*). */
void doc_wire_begin(buf_t *b, doc_wire_kind_t kind);

#endif
