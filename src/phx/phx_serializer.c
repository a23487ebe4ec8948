#include "phx/phx_serializer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/utf8.h"

const char *phx_strerror(int err) {
  switch (err) {
  case 0: return "ok";
  case PHX_E_JSON: return "invalid JSON";
  case PHX_E_SHAPE: return "not a Phoenix message";
  case PHX_E_BINARY: return "malformed binary frame";
  case PHX_E_UTF8: return "invalid UTF-8 in binary frame";
  case PHX_E_TOO_LONG: return "binary field longer than 255 bytes";
  default: return "unknown error";
  }
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

static int fail(phx_msg_t *out, const char **err, int code, const char *why) {
  phx_msg_free(out);
  if (err) *err = why;
  return code;
}

/* topic and event: one allocation, "topic\0event\0". */
static void set_strings(phx_msg_t *out, const char *t, size_t tl, const char *e, size_t el) {
  out->strs_ = xmalloc(tl + el + 2);
  memcpy(out->strs_, t, tl);
  out->strs_[tl] = '\0';
  memcpy(out->strs_ + tl + 1, e, el);
  out->strs_[tl + 1 + el] = '\0';
  out->topic = out->strs_;
  out->event = out->strs_ + tl + 1;
}

static json_t *ref_or_null(json_t *v) { return v && !json_is_null(v) ? json_incref(v) : NULL; }

/* --- locating the payload's own bytes in an already validated JSON text ---------------------- */

static const char *json_text_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* The end of the JSON value starting at p (the text is known to be valid JSON). */
static const char *json_text_skip(const char *p, const char *end) {
  if (p >= end) return NULL;
  if (*p == '"') {
    for (p++; p < end; p++) {
      if (*p == '\\') p++;
      else if (*p == '"') return p + 1;
    }
    return NULL;
  }
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (; p < end; p++) {
      if (*p == '"') {
        p = json_text_skip(p, end);
        if (!p) return NULL;
        p--;
      } else if (*p == '{' || *p == '[') {
        depth++;
      } else if ((*p == '}' || *p == ']') && --depth == 0) {
        return p + 1;
      }
    }
    return NULL;
  }
  while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' &&
         *p != '\n' && *p != '\r')
    p++;
  return p;
}

/* V2: the fifth element of the array; V1: the value of the (last) "payload" key. Leaves out
 * untouched when anything is unexpected (an escaped key, say): the caller then encodes. */
static void locate_payload(phx_vsn_t vsn, const char *data, size_t len, phx_msg_t *out) {
  const char *p = json_text_ws(data, data + len), *end = data + len;
  if (vsn == PHX_V2) {
    if (p >= end || *p != '[') return;
    p++;
    for (int i = 0; i < 4; i++) {
      p = json_text_skip(json_text_ws(p, end), end);
      if (!p) return;
      p = json_text_ws(p, end);
      if (p >= end || *p != ',') return;
      p++;
    }
    p = json_text_ws(p, end);
    const char *q = json_text_skip(p, end);
    if (!q) return;
    out->payload_text = p;
    out->payload_text_len = (size_t)(q - p);
    return;
  }
  if (p >= end || *p != '{') return;
  for (p++;;) {
    p = json_text_ws(p, end);
    if (p < end && *p == '}') return;
    const char *k = p, *ke = json_text_skip(p, end);
    if (!ke || *k != '"') return;
    if (memchr(k, '\\', (size_t)(ke - k))) { /* an escaped key could spell "payload" */
      out->payload_text = NULL;
      return;
    }
    p = json_text_ws(ke, end);
    if (p >= end || *p != ':') return;
    const char *v = json_text_ws(p + 1, end), *ve = json_text_skip(v, end);
    if (!ve) return;
    if (ke - k == 9 && !memcmp(k, "\"payload\"", 9)) {
      out->payload_text = v; /* the last one wins, as in jansson */
      out->payload_text_len = (size_t)(ve - v);
    }
    p = json_text_ws(ve, end);
    if (p >= end || *p != ',') return;
    p++;
  }
}

int phx_decode_text(phx_vsn_t vsn, const char *data, size_t len, phx_msg_t *out, const char **err) {
  memset(out, 0, sizeof *out);
  /* JSON_ALLOW_NUL: "\u0000" is valid JSON and Phoenix accepts it inside payloads; topic and
   * event are checked for NUL below because they are handed out as C strings. */
  json_error_t jerr;
  json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
  /* Integers beyond 64 bits are valid JSON (and plain numbers to JavaScript): read them as
   * reals rather than refusing the message. The payload is relayed from its own text anyway. */
  if (!root && strstr(jerr.text, "too big integer"))
    root = json_loadb(data, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
  if (!root) return fail(out, err, PHX_E_JSON, "invalid JSON");
  out->root_ = root;

  json_t *join_ref, *ref, *topic, *event, *payload;
  if (vsn == PHX_V1) {
    if (!json_is_object(root)) return fail(out, err, PHX_E_SHAPE, "message is not a JSON object");
    topic = json_object_get(root, "topic");
    event = json_object_get(root, "event");
    payload = json_object_get(root, "payload");
    ref = json_object_get(root, "ref");
    join_ref = json_object_get(root, "join_ref"); /* optional */
    if (!topic) return fail(out, err, PHX_E_SHAPE, "message has no topic");
    if (!event) return fail(out, err, PHX_E_SHAPE, "message has no event");
    if (!payload) return fail(out, err, PHX_E_SHAPE, "message has no payload");
    if (!ref) return fail(out, err, PHX_E_SHAPE, "message has no ref");
  } else {
    if (!json_is_array(root)) return fail(out, err, PHX_E_SHAPE, "message is not a JSON array");
    if (json_array_size(root) < 5)
      return fail(out, err, PHX_E_SHAPE, "message has fewer than 5 elements");
    join_ref = json_array_get(root, 0);
    ref = json_array_get(root, 1);
    topic = json_array_get(root, 2);
    event = json_array_get(root, 3);
    payload = json_array_get(root, 4);
  }
  if (!json_is_string(topic)) return fail(out, err, PHX_E_SHAPE, "topic is not a string");
  if (!json_is_string(event)) return fail(out, err, PHX_E_SHAPE, "event is not a string");
  const char *t = json_string_value(topic), *e = json_string_value(event);
  size_t tl = json_string_length(topic), el = json_string_length(event);
  if (memchr(t, '\0', tl)) return fail(out, err, PHX_E_SHAPE, "topic contains NUL");
  if (memchr(e, '\0', el)) return fail(out, err, PHX_E_SHAPE, "event contains NUL");

  set_strings(out, t, tl, e, el);
  out->join_ref = ref_or_null(join_ref);
  out->ref = ref_or_null(ref);
  out->payload = payload;
  locate_payload(vsn, data, len, out);
  return 0;
}

int phx_decode_binary(const uint8_t *data, size_t len, phx_msg_t *out, const char **err) {
  memset(out, 0, sizeof *out);
  if (len < 1) return fail(out, err, PHX_E_BINARY, "empty binary frame");
  if (data[0] != PHX_BIN_PUSH) return fail(out, err, PHX_E_BINARY, "unknown binary message kind");
  if (len < 5) return fail(out, err, PHX_E_BINARY, "binary frame shorter than its header");
  size_t jl = data[1], rl = data[2], tl = data[3], el = data[4];
  size_t head = 5 + jl + rl + tl + el;
  if (head > len) return fail(out, err, PHX_E_BINARY, "binary field sizes exceed the frame");

  const uint8_t *jr = data + 5, *r = jr + jl, *t = r + rl, *e = t + tl;
  if (!utf8_valid(jr, jl)) return fail(out, err, PHX_E_UTF8, "join_ref is not valid UTF-8");
  if (!utf8_valid(r, rl)) return fail(out, err, PHX_E_UTF8, "ref is not valid UTF-8");
  if (!utf8_valid(t, tl)) return fail(out, err, PHX_E_UTF8, "topic is not valid UTF-8");
  if (!utf8_valid(e, el)) return fail(out, err, PHX_E_UTF8, "event is not valid UTF-8");
  if (memchr(t, '\0', tl)) return fail(out, err, PHX_E_UTF8, "topic contains NUL");
  if (memchr(e, '\0', el)) return fail(out, err, PHX_E_UTF8, "event contains NUL");

  set_strings(out, (const char *)t, tl, (const char *)e, el);
  /* json_stringn only fails on invalid UTF-8 (checked above) or out of memory. */
  if (jl && !(out->join_ref = json_stringn((const char *)jr, jl))) abort();
  if (rl && !(out->ref = json_stringn((const char *)r, rl))) abort();
  out->binary = true;
  out->bin = data + head;
  out->bin_len = len - head;
  return 0;
}

void phx_msg_free(phx_msg_t *m) {
  if (!m) return;
  json_decref(m->join_ref);
  json_decref(m->ref);
  json_decref(m->root_);
  free(m->strs_);
  memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------------
 * Text encoding. Everything is appended by hand; jansson is only used to dump a join_ref/ref that
 * is neither a string, an integer, a boolean nor null (a client's odd choice, echoed verbatim).
 * ------------------------------------------------------------------------------------------- */

#define PUT_LIT(out, lit) buf_append((out), (lit), sizeof(lit) - 1)

static inline bool json_plain(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* Append s[0..n) as a JSON string literal. Fast path: one scan and one copy when nothing needs
 * escaping (every topic and event in practice). */
static void put_json_str(buf_t *out, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;
  while (i < n && json_plain(p[i])) i++;
  uint8_t *w = buf_reserve(out, n + 2);
  w[0] = '"';
  memcpy(w + 1, p, i);
  if (i == n) {
    w[1 + n] = '"';
    out->len += n + 2;
    return;
  }
  out->len += 1 + i;

  static const char hex[] = "0123456789ABCDEF";
  size_t run = i; /* start of the pending run of bytes copied as they are */
  while (i < n) {
    uint8_t c = p[i];
    if (json_plain(c)) {
      i++;
      continue;
    }
    size_t k = c >= 0x80 ? utf8_sequence_len(p + i, n - i) : 0;
    if (k) {
      i += k;
      continue;
    }
    buf_append(out, p + run, i - run);
    switch (c) {
    case '"': PUT_LIT(out, "\\\""); break;
    case '\\': PUT_LIT(out, "\\\\"); break;
    case '\b': PUT_LIT(out, "\\b"); break;
    case '\f': PUT_LIT(out, "\\f"); break;
    case '\n': PUT_LIT(out, "\\n"); break;
    case '\r': PUT_LIT(out, "\\r"); break;
    case '\t': PUT_LIT(out, "\\t"); break;
    default:
      if (c < 0x20) {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        buf_append(out, u, sizeof u);
      } else {
        PUT_LIT(out, "\xEF\xBF\xBD"); /* not UTF-8: U+FFFD REPLACEMENT CHARACTER */
      }
    }
    i++;
    run = i;
  }
  buf_append(out, p + run, n - run);
  buf_append_byte(out, '"');
}

/* Append a join_ref/ref exactly as the client sent it. */
static void put_json_ref(buf_t *out, const json_t *v) {
  switch (v ? json_typeof(v) : JSON_NULL) {
  case JSON_NULL: PUT_LIT(out, "null"); return;
  case JSON_STRING: put_json_str(out, json_string_value(v), json_string_length(v)); return;
  case JSON_INTEGER: buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return;
  case JSON_TRUE: PUT_LIT(out, "true"); return;
  case JSON_FALSE: PUT_LIT(out, "false"); return;
  default: {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) abort(); /* only out of memory: reals and containers from a decoded frame dump */
    buf_append_str(out, s);
    free(s);
  }
  }
}

/* V2 "[join_ref,ref,topic,event," / V1 "{"topic":T,"event":E,"payload":" — then the payload,
 * then put_tail. */
static void put_head(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                     const char *topic, const char *event, size_t extra) {
  size_t tl = strlen(topic), el = strlen(event);
  buf_reserve(out, tl + el + extra + 48);
  if (vsn == PHX_V1) {
    PUT_LIT(out, "{\"topic\":");
    put_json_str(out, topic, tl);
    PUT_LIT(out, ",\"event\":");
    put_json_str(out, event, el);
    PUT_LIT(out, ",\"payload\":");
  } else {
    buf_append_byte(out, '[');
    put_json_ref(out, join_ref);
    buf_append_byte(out, ',');
    put_json_ref(out, ref);
    buf_append_byte(out, ',');
    put_json_str(out, topic, tl);
    buf_append_byte(out, ',');
    put_json_str(out, event, el);
    buf_append_byte(out, ',');
  }
}

static void put_tail(buf_t *out, phx_vsn_t vsn, const json_t *ref) {
  if (vsn == PHX_V1) {
    PUT_LIT(out, ",\"ref\":");
    put_json_ref(out, ref);
    buf_append_byte(out, '}');
  } else {
    buf_append_byte(out, ']');
  }
}

void phx_encode_message(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                        const char *topic, const char *event, const char *payload_json, size_t len) {
  put_head(out, vsn, join_ref, ref, topic, event, len);
  buf_append(out, payload_json, len);
  put_tail(out, vsn, ref);
}

void phx_encode_reply(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                      const char *topic, const char *status, const char *response_json, size_t len) {
  size_t sl = strlen(status);
  put_head(out, vsn, join_ref, ref, topic, "phx_reply", sl + len + 32);
  PUT_LIT(out, "{\"status\":");
  put_json_str(out, status, sl);
  PUT_LIT(out, ",\"response\":");
  buf_append(out, response_json, len);
  buf_append_byte(out, '}');
  put_tail(out, vsn, ref);
}

void phx_encode_push(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const char *topic,
                     const char *event, const char *payload_json, size_t len) {
  phx_encode_message(out, vsn, join_ref, NULL, topic, event, payload_json, len);
}

void phx_encode_broadcast(buf_t *out, phx_vsn_t vsn, const char *topic, const char *event,
                          const char *payload_json, size_t len) {
  phx_encode_message(out, vsn, NULL, NULL, topic, event, payload_json, len);
}

/* ---------------------------------------------------------------------------------------------
 * Binary encoding (§3.1): one kind byte, one size byte per header string, the strings, then the
 * payload to the end of the frame.
 * ------------------------------------------------------------------------------------------- */

/* The bytes a join_ref/ref occupies in a binary header (Phoenix: to_string(join_ref)). */
typedef struct ref_bytes {
  const char *p;
  size_t n;
  char *dumped; /* json_dumps result to free, or NULL */
  char num[24];
} ref_bytes_t;

static void ref_bytes_init(ref_bytes_t *rb, const json_t *v) {
  rb->p = "";
  rb->n = 0;
  rb->dumped = NULL;
  if (!v) return;
  switch (json_typeof(v)) {
  case JSON_NULL: return;
  case JSON_STRING:
    rb->p = json_string_value(v);
    rb->n = json_string_length(v);
    return;
  case JSON_INTEGER: {
    int k = snprintf(rb->num, sizeof rb->num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    rb->p = rb->num;
    rb->n = (size_t)k;
    return;
  }
  default:
    rb->dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!rb->dumped) abort();
    rb->p = rb->dumped;
    rb->n = strlen(rb->dumped);
  }
}

static void put_bin_header(buf_t *out, uint8_t kind, const char *const *f, const size_t *n,
                           size_t count, size_t payload_len) {
  size_t total = 1 + count + payload_len;
  for (size_t i = 0; i < count; i++) total += n[i];
  uint8_t *w = buf_reserve(out, total);
  *w++ = kind;
  for (size_t i = 0; i < count; i++) *w++ = (uint8_t)n[i];
  for (size_t i = 0; i < count; i++) {
    if (n[i]) memcpy(w, f[i], n[i]);
    w += n[i];
  }
  out->len += total - payload_len;
}

static int put_bin(buf_t *out, uint8_t kind, const char *const *f, const size_t *n, size_t count,
                   const uint8_t *payload, size_t len) {
  for (size_t i = 0; i < count; i++)
    if (n[i] > PHX_BIN_FIELD_MAX) return PHX_E_TOO_LONG;
  put_bin_header(out, kind, f, n, count, len);
  buf_append(out, payload, len);
  return 0;
}

int phx_encode_binary_push(buf_t *out, const json_t *join_ref, const char *topic,
                           const char *event, const uint8_t *payload, size_t len) {
  ref_bytes_t jr;
  ref_bytes_init(&jr, join_ref);
  const char *f[3] = {jr.p, topic, event};
  size_t n[3] = {jr.n, strlen(topic), strlen(event)};
  int rc = put_bin(out, PHX_BIN_PUSH, f, n, 3, payload, len);
  free(jr.dumped);
  return rc;
}

int phx_encode_binary_reply(buf_t *out, const json_t *join_ref, const json_t *ref,
                            const char *topic, const char *status, const uint8_t *response,
                            size_t len) {
  ref_bytes_t jr, r;
  ref_bytes_init(&jr, join_ref);
  ref_bytes_init(&r, ref);
  const char *f[4] = {jr.p, r.p, topic, status};
  size_t n[4] = {jr.n, r.n, strlen(topic), strlen(status)};
  int rc = put_bin(out, PHX_BIN_REPLY, f, n, 4, response, len);
  free(jr.dumped);
  free(r.dumped);
  return rc;
}

int phx_encode_binary_broadcast(buf_t *out, const char *topic, const char *event,
                                const uint8_t *payload, size_t len) {
  const char *f[2] = {topic, event};
  size_t n[2] = {strlen(topic), strlen(event)};
  return put_bin(out, PHX_BIN_BROADCAST, f, n, 2, payload, len);
}

/* --- binary as text (LongPoll) ---------------------------------------------------------------- */

static void put_bytes_array(buf_t *out, const uint8_t *p, size_t n) {
  buf_reserve(out, 2 + n * 4);
  buf_append_byte(out, '[');
  for (size_t i = 0; i < n; i++) {
    char num[4];
    size_t k = 0;
    uint8_t b = p[i];
    if (b >= 100) num[k++] = (char)('0' + b / 100);
    if (b >= 10) num[k++] = (char)('0' + b / 10 % 10);
    num[k++] = (char)('0' + b % 10);
    if (i) buf_append_byte(out, ',');
    buf_append(out, num, k);
  }
  buf_append_byte(out, ']');
}

/* A join_ref/ref of a binary frame as the encoders take it: its bytes as a JSON string, none -> NULL
 * (null). No UTF-8 check here: put_json_str writes what is not UTF-8 as U+FFFD. */
static json_t *bin_ref(const char *p, size_t n) { return n ? json_stringn_nocheck(p, n) : NULL; }

int phx_binary_as_text(buf_t *out, const uint8_t *frame, size_t len) {
  if (len < 1) return PHX_E_BINARY;
  uint8_t kind = frame[0];
  size_t nsizes = kind == PHX_BIN_PUSH ? 3 : kind == PHX_BIN_REPLY ? 4 : kind == PHX_BIN_BROADCAST ? 2 : 0;
  if (!nsizes || len < 1 + nsizes) return PHX_E_BINARY;
  /* the header fields, NUL-terminated for the text encoders (each at most 255 bytes) */
  char f[4][PHX_BIN_FIELD_MAX + 1];
  size_t n[4];
  size_t off = 1 + nsizes;
  for (size_t i = 0; i < nsizes; i++) {
    n[i] = frame[1 + i];
    if (len - off < n[i]) return PHX_E_BINARY;
    memcpy(f[i], frame + off, n[i]);
    f[i][n[i]] = '\0';
    off += n[i];
  }
  buf_t bytes = BUF_INIT;
  put_bytes_array(&bytes, frame + off, len - off);
  const char *payload = (const char *)bytes.data;
  if (kind == PHX_BIN_BROADCAST) {
    phx_encode_broadcast(out, PHX_V2, f[0], f[1], payload, bytes.len);
  } else {
    json_t *join_ref = bin_ref(f[0], n[0]);
    if (kind == PHX_BIN_PUSH) {
      phx_encode_push(out, PHX_V2, join_ref, f[1], f[2], payload, bytes.len);
    } else {
      json_t *ref = bin_ref(f[1], n[1]);
      phx_encode_reply(out, PHX_V2, join_ref, ref, f[2], f[3], payload, bytes.len);
      json_decref(ref);
    }
    json_decref(join_ref);
  }
  buf_free(&bytes);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * vsn negotiation: Elixir's Version.parse + Version.match?(v, "~> X.0.0"), allow_pre: true.
 *
 * Parsing (Version.Parser.parse_version): split off "+build" at the first '+', then "-pre" at the
 * first '-', then exactly three '.'-separated parts, each digits without a leading zero. pre and
 * build are '.'-separated non-empty identifiers of [0-9A-Za-z-]; a numeric pre identifier may not
 * have a leading zero. Build metadata is then ignored.
 *
 * Matching: "~> X.0.0" is ">= X.0.0 and < X.1.0-0". ">= X.0.0" holds for X.0.0 itself (no pre)
 * and for every version whose X.Y.Z triple is greater (its pre-release does not matter with
 * allow_pre). "< X.1.0-0" excludes every X.1.0 pre-release. So: X.0.0 exactly, or X.0.P with
 * P > 0 and any pre-release.
 * ------------------------------------------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_ident_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

static bool all_digits(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[i])) return false;
  return true;
}

/* MAJOR, MINOR or PATCH: digits, no leading zero. */
static bool is_number(const char *s, size_t n) { return all_digits(s, n) && !(n > 1 && s[0] == '0'); }

static bool dot_identifiers(const char *s, size_t n, bool pre) {
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.') {
      if (!is_ident_char(s[i])) return false;
      continue;
    }
    size_t len = i - start;
    if (!len) return false;
    if (pre && all_digits(s + start, len) && len > 1 && s[start] == '0') return false;
    start = i + 1;
  }
  return true;
}

int phx_vsn_parse(const char *vsn) {
  if (!vsn) return PHX_V1;
  size_t n = strlen(vsn);
  const char *plus = memchr(vsn, '+', n);
  size_t vp = plus ? (size_t)(plus - vsn) : n; /* version with pre-release */
  if (plus && !dot_identifiers(plus + 1, n - vp - 1, false)) return -1;
  const char *dash = memchr(vsn, '-', vp);
  size_t core = dash ? (size_t)(dash - vsn) : vp;
  if (dash && !dot_identifiers(dash + 1, vp - core - 1, true)) return -1;

  const char *part[3];
  size_t len[3], k = 0, start = 0;
  for (size_t i = 0; i <= core; i++) {
    if (i < core && vsn[i] != '.') continue;
    if (k == 3) return -1; /* a fourth part */
    part[k] = vsn + start;
    len[k] = i - start;
    k++;
    start = i + 1;
  }
  if (k != 3) return -1;
  for (size_t i = 0; i < 3; i++)
    if (!is_number(part[i], len[i])) return -1;

  if (len[0] != 1 || (part[0][0] != '1' && part[0][0] != '2')) return -1;
  if (len[1] != 1 || part[1][0] != '0') return -1;
  if (len[2] == 1 && part[2][0] == '0' && dash) return -1; /* X.0.0-pre < X.0.0 */
  return part[0][0] == '1' ? PHX_V1 : PHX_V2;
}

int phx_vsn_from_params(const json_t *params) {
  const json_t *v = json_object_get(params, "vsn");
  if (!v) return PHX_V1;
  return json_is_string(v) ? phx_vsn_parse(json_string_value(v)) : -1;
}
