#include "cluster/cluster_msg.h"

#include <string.h>

#include "phx/phx_json_scan.h"
#include "core/utf8.h"

#define CLUSTER_MSG_MAX_META 8192 /* a presence meta: the 4 KiB a client may give, node, phx_ref */

/* --- encoding ------------------------------------------------------------------------------------ */

void cluster_msg_put_u8(buf_t *b, uint8_t v) { buf_append_byte(b, v); }

void cluster_msg_put_u32(buf_t *b, uint32_t v) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
  buf_append(b, x, sizeof x);
}

void cluster_msg_put_u64(buf_t *b, uint64_t v) {
  uint8_t x[8];
  for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
  buf_append(b, x, sizeof x);
}

void cluster_msg_put_str(buf_t *b, const void *p, size_t len) {
  cluster_msg_put_u32(b, (uint32_t)len);
  buf_append(b, p, len);
}

void cluster_msg_begin(buf_t *b, cluster_msg_type_t type, uint64_t node) {
  buf_append(b, CLUSTER_MSG_MAGIC, 4);
  cluster_msg_put_u8(b, (uint8_t)type);
  cluster_msg_put_u64(b, node);
  cluster_msg_put_u64(b, 0);
}

void cluster_msg_stamp(uint8_t *msg, uint64_t seq) {
  for (int i = 0; i < 8; i++) msg[CLUSTER_MSG_SEQ_OFF + i] = (uint8_t)(seq >> (8 * i));
}

/* --- decoding ------------------------------------------------------------------------------------ */

typedef struct reader {
  const uint8_t *p, *end;
  const char *why; /* the first problem */
} reader_t;

static bool fail(reader_t *r, const char *why) {
  if (!r->why) r->why = why;
  return false;
}

static bool get_u8(reader_t *r, uint8_t *v) {
  if (r->end - r->p < 1) return fail(r, "truncated");
  *v = *r->p++;
  return true;
}

static bool get_u32(reader_t *r, uint32_t *v) {
  if (r->end - r->p < 4) return fail(r, "truncated");
  *v = 0;
  for (int i = 0; i < 4; i++) *v |= (uint32_t)r->p[i] << (8 * i);
  r->p += 4;
  return true;
}

static bool get_u64(reader_t *r, uint64_t *v) {
  if (r->end - r->p < 8) return fail(r, "truncated");
  *v = 0;
  for (int i = 0; i < 8; i++) *v |= (uint64_t)r->p[i] << (8 * i);
  r->p += 8;
  return true;
}

static bool get_str(reader_t *r, cluster_str_t *s) {
  uint32_t n;
  if (!get_u32(r, &n)) return false;
  if ((size_t)(r->end - r->p) < n) return fail(r, "a field runs past the end");
  s->p = (const char *)r->p;
  s->len = n;
  r->p += n;
  return true;
}

/* A name (node, topic, event, presence key): 1..255 bytes of UTF-8 without NUL (it becomes a C
 * string and a JSON string). */
static bool get_name(reader_t *r, cluster_str_t *s, const char *what) {
  if (!get_str(r, s)) return false;
  if (!s->len || s->len > CLUSTER_MSG_MAX_NAME || memchr(s->p, '\0', s->len) ||
      !utf8_valid((const uint8_t *)s->p, s->len))
    return fail(r, what);
  return true;
}

/* JSON text (any value; `object`: an object), in UTF-8, at most max bytes (0: any). */
static bool json_ok(const cluster_str_t *s, bool object, size_t max) {
  if ((max && s->len > max) || !utf8_valid((const uint8_t *)s->p, s->len) ||
      phx_json_scan(s->p, s->len, NULL, NULL) != PHX_JSON_SCAN_OK)
    return false;
  if (!object) return true;
  size_t i = 0;
  while (s->p[i] == ' ' || s->p[i] == '\t' || s->p[i] == '\n' || s->p[i] == '\r') i++;
  return s->p[i] == '{'; /* a valid JSON text has a value after its whitespace */
}

static bool get_json(reader_t *r, cluster_str_t *s, bool object, size_t max, const char *what) {
  return get_str(r, s) && (json_ok(s, object, max) || fail(r, what));
}

static bool has_phx_ref(const cluster_str_t *meta) {
  static const char needle[] = "\"phx_ref\"";
  return memmem(meta->p, meta->len, needle, sizeof needle - 1) != NULL;
}

static bool get_entry(reader_t *r, uint64_t *channel_id, cluster_str_t *key, cluster_str_t *meta) {
  return get_u64(r, channel_id) && get_name(r, key, "bad presence key") &&
         get_json(r, meta, true, CLUSTER_MSG_MAX_META, "bad presence meta") &&
         (has_phx_ref(meta) || fail(r, "presence meta without phx_ref"));
}

int cluster_msg_decode(const uint8_t *data, size_t len, cluster_msg_t *m, const char **why) {
  memset(m, 0, sizeof *m);
  reader_t r = {data, data + len, NULL};
  uint8_t type = 0;
  if (len < CLUSTER_MSG_HEADER || memcmp(data, CLUSTER_MSG_MAGIC, 4)) {
    *why = "not a cinder bus message";
    return -1;
  }
  r.p += 4;
  get_u8(&r, &type);
  get_u64(&r, &m->node);
  get_u64(&r, &m->seq);
  m->type = (cluster_msg_type_t)type;
  bool ok = true;
  switch (type) {
  case CLUSTER_MSG_HEARTBEAT:
    ok = get_name(&r, &m->name, "bad node name") && get_str(&r, &m->sample) &&
         (!m->sample.len || json_ok(&m->sample, true, CLUSTER_MSG_MAX_SAMPLE) ||
          fail(&r, "bad activity sample"));
    break;
  case CLUSTER_MSG_BYE:
    break;
  case CLUSTER_MSG_BROADCAST: {
    uint8_t bin = 0;
    ok = get_name(&r, &m->topic, "bad topic") && get_name(&r, &m->event, "bad event") &&
         get_u8(&r, &bin) && (bin <= 1 || fail(&r, "bad binary flag"));
    m->binary = bin == 1;
    if (ok) ok = m->binary ? get_str(&r, &m->payload)
                           : get_json(&r, &m->payload, false, 0, "payload is not JSON");
    break;
  }
  case CLUSTER_MSG_TRACK:
    ok = get_name(&r, &m->topic, "bad topic") && get_entry(&r, &m->channel_id, &m->key, &m->meta);
    break;
  case CLUSTER_MSG_UNTRACK:
    ok = get_name(&r, &m->topic, "bad topic") && get_u64(&r, &m->channel_id);
    break;
  case CLUSTER_MSG_DUMP_REQUEST:
  case CLUSTER_MSG_DUMP_END:
    ok = get_u64(&r, &m->target) && get_u32(&r, &m->epoch);
    break;
  case CLUSTER_MSG_DUMP_PART:
    ok = get_u64(&r, &m->target) && get_u32(&r, &m->epoch) &&
         get_name(&r, &m->topic, "bad topic") && get_u32(&r, &m->nentries);
    m->entries = r.p;
    for (uint32_t i = 0; ok && i < m->nentries; i++) {
      uint64_t id;
      cluster_str_t key, meta;
      ok = get_entry(&r, &id, &key, &meta);
    }
    m->entries_end = r.p;
    break;
  case CLUSTER_MSG_QUERY:
    ok = get_u64(&r, &m->query_id) && get_u8(&r, &m->kind) &&
         (m->kind == CLUSTER_QUERY_TOPICS || fail(&r, "unknown query"));
    break;
  case CLUSTER_MSG_ANSWER:
    ok = get_u64(&r, &m->target) && get_u64(&r, &m->query_id) &&
         get_json(&r, &m->body, false, 0, "answer is not JSON");
    break;
  case CLUSTER_MSG_APP:
    ok = get_u64(&r, &m->target) && get_str(&r, &m->body);
    break;
  default:
    ok = fail(&r, "unknown message type");
  }
  if (ok && r.p != r.end) ok = fail(&r, "bytes after the last field");
  if (!ok) {
    *why = r.why ? r.why : "malformed";
    return -1;
  }
  return 0;
}

bool cluster_msg_next_entry(const uint8_t **pos, const uint8_t *end, uint64_t *channel_id,
                            cluster_str_t *key, cluster_str_t *meta) {
  if (*pos >= end) return false;
  reader_t r = {*pos, end, NULL};
  if (!get_u64(&r, channel_id) || !get_str(&r, key) || !get_str(&r, meta)) return false;
  *pos = r.p;
  return true;
}
