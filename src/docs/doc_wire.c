#include "docs/doc_wire.h"

#include <string.h>

#include "phx/phx_json_scan.h"
#include "core/utf8.h"

typedef struct rd {
  const uint8_t *p, *end;
  const char *why;
} rd_t;

static bool bad(rd_t *r, const char *why) {
  if (!r->why) r->why = why;
  return false;
}

static bool u8(rd_t *r, uint8_t *v) {
  if (r->end - r->p < 1) return bad(r, "truncated");
  *v = *r->p++;
  return true;
}

static bool u32(rd_t *r, uint32_t *v) {
  if (r->end - r->p < 4) return bad(r, "truncated");
  *v = 0;
  for (int i = 0; i < 4; i++) *v |= (uint32_t)r->p[i] << (8 * i);
  r->p += 4;
  return true;
}

static bool u64(rd_t *r, uint64_t *v) {
  if (r->end - r->p < 8) return bad(r, "truncated");
  *v = 0;
  for (int i = 0; i < 8; i++) *v |= (uint64_t)r->p[i] << (8 * i);
  r->p += 8;
  return true;
}

static bool str(rd_t *r, cluster_str_t *s) {
  uint32_t n;
  if (!u32(r, &n)) return false;
  if ((size_t)(r->end - r->p) < n) return bad(r, "a field runs past the end");
  s->p = (const char *)r->p;
  s->len = n;
  r->p += n;
  return true;
}

static bool name(rd_t *r, cluster_str_t *s, size_t max, const char *what) {
  if (!str(r, s)) return false;
  if (!s->len || s->len > max || memchr(s->p, '\0', s->len) ||
      !utf8_valid((const uint8_t *)s->p, s->len))
    return bad(r, what);
  return true;
}

static bool chan(rd_t *r, doc_wire_t *w) { return u32(r, &w->worker) && u64(r, &w->channel); }

static bool note(rd_t *r, doc_wire_t *w) {
  if (!chan(r, w) || !u8(r, &w->note)) return false;
  if (w->note > DOC_WIRE_NOTE_CRASH) return bad(r, "unknown note");
  if (!name(r, &w->event, 31, "bad event") || !u8(r, &w->nparts)) return false;
  if (w->nparts > DOC_WIRE_MAX_PARTS) return bad(r, "too many parts");
  uint64_t sum = 0;
  for (uint8_t i = 0; i < w->nparts; i++) {
    if (!u32(r, &w->part_len[i])) return false;
    sum += w->part_len[i];
  }
  if (!str(r, &w->data)) return false;
  if (w->note == DOC_WIRE_NOTE_BINARY) {
    if (!w->nparts || sum != w->data.len) return bad(r, "parts do not add up to the payload");
  } else if (w->nparts || !utf8_valid((const uint8_t *)w->data.p, w->data.len) ||
             phx_json_scan(w->data.p, w->data.len, NULL, NULL) != PHX_JSON_SCAN_OK) {
    return bad(r, "a text note's payload is not JSON");
  }
  return true;
}

int doc_wire_decode(const uint8_t *data, size_t len, doc_wire_t *w, const char **why) {
  memset(w, 0, sizeof *w);
  rd_t r = {data, data + len, NULL};
  uint8_t kind = 0;
  bool ok = u8(&r, &kind);
  w->kind = (doc_wire_kind_t)kind;
  if (ok) {
    switch (kind) {
    case DOC_WIRE_JOIN:
      ok = name(&r, &w->doc, DOC_WIRE_MAX_NAME, "bad document name") &&
           name(&r, &w->topic, DOC_WIRE_MAX_NAME, "bad topic") && chan(&r, w);
      break;
    case DOC_WIRE_MESSAGE:
      ok = name(&r, &w->doc, DOC_WIRE_MAX_NAME, "bad document name") && chan(&r, w) &&
           str(&r, &w->data);
      break;
    case DOC_WIRE_LEAVE:
      ok = name(&r, &w->doc, DOC_WIRE_MAX_NAME, "bad document name") && chan(&r, w);
      break;
    case DOC_WIRE_NOTE:
      ok = note(&r, w);
      break;
    case DOC_WIRE_OWNED:
    case DOC_WIRE_RELEASED:
    case DOC_WIRE_NOT_OWNER:
      ok = name(&r, &w->doc, DOC_WIRE_MAX_NAME, "bad document name");
      break;
    default:
      ok = bad(&r, "unknown kind");
    }
  }
  if (ok && r.p != r.end) ok = bad(&r, "bytes after the last field");
  if (!ok) {
    *why = r.why ? r.why : "malformed";
    return -1;
  }
  return 0;
}

void doc_wire_begin(buf_t *b, doc_wire_kind_t kind) { cluster_msg_put_u8(b, (uint8_t)kind); }
