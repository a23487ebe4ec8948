/* libFuzzer target for the bus message decoder (src/cluster/cluster_msg.c): what arrives on the
 * Redis channel comes from peers we do not trust, and what decodes reaches clients.
 *
 * Every input is decoded. A refusal must give a reason. A message that decodes is checked against
 * the promises of cluster_msg.h — names of 1..255 bytes of UTF-8 without NUL, strings within the
 * input, a dump part's entries exactly filling its tail — then encoded again from its fields with
 * the put_* calls: the encoding is canonical (every length explicit, nothing after the last
 * field), so the bytes must be the input's, and decoding them must give the same fields. The
 * input with one byte more or one byte less must be refused. Any disagreement aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_msg.h"
#include "core/buf.h"
#include "fuzz_check.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool in_input(cluster_str_t s, const uint8_t *data, size_t size) {
  const uint8_t *p = (const uint8_t *)s.p;
  return s.len == 0 || (p >= data && p + s.len <= data + size);
}

static bool name_ok(cluster_str_t s) {
  return s.len >= 1 && s.len <= CLUSTER_MSG_MAX_NAME && !memchr(s.p, '\0', s.len) &&
         utf8_valid((const uint8_t *)s.p, s.len);
}

static bool str_eq(cluster_str_t a, cluster_str_t b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* A JSON object's text starts with '{' after its whitespace. */
static bool starts_object(cluster_str_t s) {
  size_t i = 0;
  while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '\n' || s.p[i] == '\r')) i++;
  return i < s.len && s.p[i] == '{';
}

static void put(buf_t *b, cluster_str_t s) { cluster_msg_put_str(b, s.p, s.len); }

/* The message again, from its fields, in the order of the type's comment. */
static void reencode(const cluster_msg_t *m, buf_t *b) {
  cluster_msg_begin(b, m->type, m->node);
  switch (m->type) {
  case CLUSTER_MSG_HEARTBEAT:
    put(b, m->name);
    put(b, m->sample);
    break;
  case CLUSTER_MSG_BYE:
    break;
  case CLUSTER_MSG_BROADCAST:
    put(b, m->topic);
    put(b, m->event);
    cluster_msg_put_u8(b, m->binary ? 1 : 0);
    put(b, m->payload);
    break;
  case CLUSTER_MSG_TRACK:
    put(b, m->topic);
    cluster_msg_put_u64(b, m->channel_id);
    put(b, m->key);
    put(b, m->meta);
    break;
  case CLUSTER_MSG_UNTRACK:
    put(b, m->topic);
    cluster_msg_put_u64(b, m->channel_id);
    break;
  case CLUSTER_MSG_DUMP_REQUEST:
  case CLUSTER_MSG_DUMP_END:
    cluster_msg_put_u64(b, m->target);
    cluster_msg_put_u32(b, m->epoch);
    break;
  case CLUSTER_MSG_DUMP_PART: {
    cluster_msg_put_u64(b, m->target);
    cluster_msg_put_u32(b, m->epoch);
    put(b, m->topic);
    cluster_msg_put_u32(b, m->nentries);
    const uint8_t *pos = m->entries;
    uint64_t id;
    cluster_str_t key, meta;
    while (cluster_msg_next_entry(&pos, m->entries_end, &id, &key, &meta)) {
      cluster_msg_put_u64(b, id);
      put(b, key);
      put(b, meta);
    }
    break;
  }
  case CLUSTER_MSG_QUERY:
    cluster_msg_put_u64(b, m->query_id);
    cluster_msg_put_u8(b, m->kind);
    break;
  case CLUSTER_MSG_ANSWER:
    cluster_msg_put_u64(b, m->target);
    cluster_msg_put_u64(b, m->query_id);
    put(b, m->body);
    break;
  case CLUSTER_MSG_APP:
    cluster_msg_put_u64(b, m->target);
    put(b, m->body);
    break;
  }
  cluster_msg_stamp(b->data, m->seq);
}

/* Walks a dump part's entries: each checked as the decoder promised, exactly nentries of them,
 * ending at entries_end. Compares them with another decoding's when `other` is given. */
static void walk_entries(const cluster_msg_t *m, const cluster_msg_t *other) {
  const uint8_t *pos = m->entries, *opos = other ? other->entries : NULL;
  uint64_t id, oid;
  cluster_str_t key, meta, okey, ometa;
  uint32_t n = 0;
  while (cluster_msg_next_entry(&pos, m->entries_end, &id, &key, &meta)) {
    n++;
    CHECK(n <= m->nentries);
    CHECK(name_ok(key));
    CHECK(meta.len <= 8192 && starts_object(meta));
    if (other) {
      CHECK(cluster_msg_next_entry(&opos, other->entries_end, &oid, &okey, &ometa));
      CHECK(oid == id && str_eq(okey, key) && str_eq(ometa, meta));
    }
  }
  CHECK(n == m->nentries);
  CHECK(pos == m->entries_end);
  if (other) CHECK(opos == other->entries_end);
}

static void check_fields(const cluster_msg_t *m, const uint8_t *data, size_t size) {
  CHECK(m->type >= CLUSTER_MSG_HEARTBEAT && m->type <= CLUSTER_MSG_TYPE_MAX);
  const cluster_str_t all[] = {m->name, m->sample, m->topic, m->event, m->payload,
                               m->key,  m->meta,   m->body};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) CHECK(in_input(all[i], data, size));
  switch (m->type) {
  case CLUSTER_MSG_HEARTBEAT:
    CHECK(name_ok(m->name));
    CHECK(m->sample.len == 0 || starts_object(m->sample));
    break;
  case CLUSTER_MSG_BROADCAST:
    CHECK(name_ok(m->topic) && name_ok(m->event));
    CHECK(m->binary || utf8_valid((const uint8_t *)m->payload.p, m->payload.len));
    CHECK(m->binary || m->payload.len > 0);
    break;
  case CLUSTER_MSG_TRACK:
    CHECK(name_ok(m->topic) && name_ok(m->key));
    CHECK(m->meta.len <= 8192 && starts_object(m->meta));
    break;
  case CLUSTER_MSG_UNTRACK:
    CHECK(name_ok(m->topic));
    break;
  case CLUSTER_MSG_DUMP_PART:
    CHECK(name_ok(m->topic));
    CHECK(m->entries >= data && m->entries <= m->entries_end && m->entries_end == data + size);
    walk_entries(m, NULL);
    break;
  case CLUSTER_MSG_QUERY:
    CHECK(m->kind == CLUSTER_QUERY_TOPICS);
    break;
  case CLUSTER_MSG_ANSWER:
    CHECK(m->body.len > 0);
    break;
  default:
    break;
  }
}

static void check_same(const cluster_msg_t *a, const cluster_msg_t *b) {
  CHECK(a->type == b->type && a->node == b->node && a->seq == b->seq);
  CHECK(str_eq(a->name, b->name) && str_eq(a->sample, b->sample));
  CHECK(str_eq(a->topic, b->topic) && str_eq(a->event, b->event));
  CHECK(str_eq(a->payload, b->payload) && a->binary == b->binary);
  CHECK(a->channel_id == b->channel_id && str_eq(a->key, b->key) && str_eq(a->meta, b->meta));
  CHECK(a->target == b->target && a->epoch == b->epoch && a->nentries == b->nentries);
  CHECK(a->query_id == b->query_id && a->kind == b->kind && str_eq(a->body, b->body));
  if (a->type == CLUSTER_MSG_DUMP_PART) walk_entries(a, b);
}

/* Decodes an exact-size copy (so ASan sees a read past its end): 0 or -1. */
static int decode_copy(const uint8_t *data, size_t size, uint8_t **copy, cluster_msg_t *m) {
  *copy = malloc(size ? size : 1);
  CHECK(*copy != NULL);
  if (size) memcpy(*copy, data, size);
  const char *why = NULL;
  int rc = cluster_msg_decode(*copy, size, m, &why);
  CHECK(rc == 0 || rc == -1);
  CHECK(rc == 0 ? why == NULL : why != NULL);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cluster_msg_t m;
  const char *why = NULL;
  if (cluster_msg_decode(data, size, &m, &why) != 0) {
    CHECK(why != NULL && why[0] != '\0');
    return 0;
  }
  CHECK(why == NULL);
  check_fields(&m, data, size);

  /* Round trip: the same bytes, the same fields. */
  buf_t b = BUF_INIT;
  reencode(&m, &b);
  CHECK(b.len == size && memcmp(b.data, data, size) == 0);
  uint8_t *copy;
  cluster_msg_t again;
  CHECK(decode_copy(b.data, b.len, &copy, &again) == 0);
  check_same(&m, &again);
  free(copy);

  /* Self-delimiting: one byte less or more is refused. */
  CHECK(decode_copy(b.data, b.len - 1, &copy, &again) == -1);
  free(copy);
  buf_append_byte(&b, 0);
  CHECK(decode_copy(b.data, b.len, &copy, &again) == -1);
  free(copy);
  buf_free(&b);
  return 0;
}
