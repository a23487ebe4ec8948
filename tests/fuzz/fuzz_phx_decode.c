/* libFuzzer target for the Phoenix message decoder (src/phx/phx_serializer.c).
 *
 * Every input is offered to phx_decode_text (V2 and V1) and phx_decode_binary. Whatever decodes is
 * encoded again in every shape the server sends — text push / reply / broadcast / message in both
 * versions, binary push / reply / broadcast — and each output is checked: the JSON parses with
 * jansson and decodes back to the same topic, event, refs and payload; the binary frames parse as
 * phoenix.js reads them and carry the same fields. Any disagreement aborts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phx/phx_serializer.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes a ref occupies in a binary frame, computed independently of the encoder. */
static char *ref_text(const json_t *v, size_t *n) {
  char *s;
  if (!v || json_is_null(v)) {
    s = strdup("");
    *n = 0;
  } else if (json_is_string(v)) {
    *n = json_string_length(v);
    s = malloc(*n + 1);
    memcpy(s, json_string_value(v), *n);
    s[*n] = '\0';
  } else if (json_is_integer(v)) {
    s = malloc(32);
    *n = (size_t)snprintf(s, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  } else {
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    *n = strlen(s);
  }
  CHECK(s != NULL);
  return s;
}

static bool ref_equal(const json_t *got, const json_t *want) {
  bool want_null = !want || json_is_null(want);
  if (want_null) return got == NULL;
  return got && json_equal(got, want);
}

/* Decode a text frame we produced and compare it with what went in. */
static void check_text_frame(const buf_t *b, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                             const char *topic, const char *event, const json_t *payload) {
  json_t *any = json_loadb((const char *)b->data, b->len, JSON_ALLOW_NUL, NULL);
  CHECK(any != NULL);
  json_decref(any);

  phx_msg_t m;
  const char *err = NULL;
  CHECK(phx_decode_text(vsn, (const char *)b->data, b->len, &m, &err) == 0);
  CHECK(strcmp(m.topic, topic) == 0);
  CHECK(strcmp(m.event, event) == 0);
  CHECK(ref_equal(m.ref, ref));
  CHECK(ref_equal(m.join_ref, vsn == PHX_V2 ? join_ref : NULL));
  CHECK(json_equal(m.payload, payload));
  phx_msg_free(&m);
}

static void check_text_encoders(const phx_msg_t *m, const json_t *payload) {
  char *p = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
  CHECK(p != NULL);
  size_t pl = strlen(p);
  json_t *reply = json_pack("{s:s,s:O}", "status", "ok", "response", payload);
  CHECK(reply != NULL);

  for (int v = 1; v <= 2; v++) {
    phx_vsn_t vsn = (phx_vsn_t)v;
    buf_t b = BUF_INIT;
    phx_encode_message(&b, vsn, m->join_ref, m->ref, m->topic, m->event, p, pl);
    check_text_frame(&b, vsn, m->join_ref, m->ref, m->topic, m->event, payload);
    buf_clear(&b);
    phx_encode_push(&b, vsn, m->join_ref, m->topic, m->event, p, pl);
    check_text_frame(&b, vsn, m->join_ref, NULL, m->topic, m->event, payload);
    buf_clear(&b);
    phx_encode_broadcast(&b, vsn, m->topic, m->event, p, pl);
    check_text_frame(&b, vsn, NULL, NULL, m->topic, m->event, payload);
    buf_clear(&b);
    phx_encode_reply(&b, vsn, m->join_ref, m->ref, m->topic, "ok", p, pl);
    check_text_frame(&b, vsn, m->join_ref, m->ref, m->topic, "phx_reply", reply);
    /* the event used as a reply status: escaping of an arbitrary string in the payload object */
    buf_clear(&b);
    phx_encode_reply(&b, vsn, m->join_ref, m->ref, m->topic, m->event, "{}", 2);
    json_t *any = json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL, NULL);
    CHECK(any != NULL);
    json_decref(any);
    buf_free(&b);
  }
  json_decref(reply);
  free(p);
}

/* Parse a server binary frame the way phoenix.js does and compare every field. */
static void check_binary_frame(const buf_t *b, int kind, const char *const *want, const size_t *wn,
                               size_t nf, const uint8_t *payload, size_t len) {
  CHECK(b->len >= 1 + nf);
  CHECK(b->data[0] == kind);
  size_t off = 1 + nf;
  for (size_t i = 0; i < nf; i++) {
    size_t n = b->data[1 + i];
    CHECK(n == wn[i]);
    CHECK(off + n <= b->len);
    CHECK(n == 0 || memcmp(b->data + off, want[i], n) == 0);
    off += n;
  }
  CHECK(b->len - off == len);
  CHECK(len == 0 || memcmp(b->data + off, payload, len) == 0);
}

static void check_binary_encoders(const phx_msg_t *m, const uint8_t *payload, size_t len) {
  size_t jn, rn, tn = strlen(m->topic), en = strlen(m->event);
  char *jr = ref_text(m->join_ref, &jn), *r = ref_text(m->ref, &rn);
  buf_t b = BUF_INIT;

  int rc = phx_encode_binary_push(&b, m->join_ref, m->topic, m->event, payload, len);
  if (jn > 255 || tn > 255 || en > 255) {
    CHECK(rc == PHX_E_TOO_LONG && b.len == 0);
  } else {
    CHECK(rc == 0);
    const char *f[3] = {jr, m->topic, m->event};
    size_t n[3] = {jn, tn, en};
    check_binary_frame(&b, 0, f, n, 3, payload, len);
  }
  buf_clear(&b);
  rc = phx_encode_binary_reply(&b, m->join_ref, m->ref, m->topic, m->event, payload, len);
  if (jn > 255 || rn > 255 || tn > 255 || en > 255) {
    CHECK(rc == PHX_E_TOO_LONG && b.len == 0);
  } else {
    CHECK(rc == 0);
    const char *f[4] = {jr, r, m->topic, m->event};
    size_t n[4] = {jn, rn, tn, en};
    check_binary_frame(&b, 1, f, n, 4, payload, len);
  }
  buf_clear(&b);
  rc = phx_encode_binary_broadcast(&b, m->topic, m->event, payload, len);
  if (tn > 255 || en > 255) {
    CHECK(rc == PHX_E_TOO_LONG && b.len == 0);
  } else {
    CHECK(rc == 0);
    const char *f[2] = {m->topic, m->event};
    size_t n[2] = {tn, en};
    check_binary_frame(&b, 2, f, n, 2, payload, len);
  }

  /* the same fields as a client push decode back to themselves */
  if (jn <= 255 && rn <= 255 && tn <= 255 && en <= 255) {
    buf_clear(&b);
    uint8_t head[5] = {0, (uint8_t)jn, (uint8_t)rn, (uint8_t)tn, (uint8_t)en};
    buf_append(&b, head, 5);
    buf_append(&b, jr, jn);
    buf_append(&b, r, rn);
    buf_append(&b, m->topic, tn);
    buf_append(&b, m->event, en);
    buf_append(&b, payload, len);
    phx_msg_t back;
    const char *err = NULL;
    int drc = phx_decode_binary(b.data, b.len, &back, &err);
    /* refs dumped from non-string JSON are UTF-8 as well, so this always decodes */
    CHECK(drc == 0);
    CHECK(strcmp(back.topic, m->topic) == 0);
    CHECK(strcmp(back.event, m->event) == 0);
    CHECK(jn ? json_string_length(back.join_ref) == jn &&
                   memcmp(json_string_value(back.join_ref), jr, jn) == 0
             : back.join_ref == NULL);
    CHECK(rn ? json_string_length(back.ref) == rn && memcmp(json_string_value(back.ref), r, rn) == 0
             : back.ref == NULL);
    CHECK(back.bin_len == len && (len == 0 || memcmp(back.bin, payload, len) == 0));
    phx_msg_free(&back);
  }
  buf_free(&b);
  free(jr);
  free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  phx_msg_t m;
  const char *err = NULL;

  for (int v = 1; v <= 2; v++) {
    if (phx_decode_text((phx_vsn_t)v, (const char *)data, size, &m, &err) == 0) {
      CHECK(m.topic && m.event && m.payload && !m.binary);
      if (m.payload_text) { /* the located payload lies in the input and is that JSON value */
        CHECK(m.payload_text >= (const char *)data &&
              m.payload_text + m.payload_text_len <= (const char *)data + size);
        json_t *raw = json_loadb(m.payload_text, m.payload_text_len,
                                 JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        CHECK(raw != NULL);
        json_decref(raw);
      }
      check_text_encoders(&m, m.payload);
      check_binary_encoders(&m, data, size);
      phx_msg_free(&m);
    } else {
      CHECK(err != NULL && m.topic == NULL && m.root_ == NULL);
    }
  }

  if (phx_decode_binary(data, size, &m, &err) == 0) {
    CHECK(m.binary && m.payload == NULL && m.bin >= data && m.bin + m.bin_len == data + size);
    CHECK(!m.join_ref || json_is_string(m.join_ref));
    CHECK(!m.ref || json_is_string(m.ref));
    check_binary_encoders(&m, m.bin, m.bin_len);
    json_t *empty = json_object();
    check_text_encoders(&m, empty);
    json_decref(empty);
    phx_msg_free(&m);
  } else {
    CHECK(err != NULL && m.topic == NULL);
  }

  /* binary as text (LongPoll): refused, or a V2 message whose payload is the frame's tail as bytes */
  buf_t t = BUF_INIT;
  if (phx_binary_as_text(&t, data, size) == 0) {
    json_t *msg = json_loadb((const char *)t.data, t.len, JSON_ALLOW_NUL, NULL);
    CHECK(msg && json_is_array(msg) && json_array_size(msg) == 5);
    json_t *p = json_array_get(msg, 4);
    if (data[0] == PHX_BIN_REPLY) p = json_object_get(p, "response");
    CHECK(json_is_array(p) && json_array_size(p) <= size);
    size_t tail = size - json_array_size(p);
    for (size_t i = 0; i < json_array_size(p); i++)
      CHECK(json_integer_value(json_array_get(p, i)) == data[tail + i]);
    json_decref(msg);
  } else {
    CHECK(t.len == 0);
  }
  buf_free(&t);

  /* the vsn parser on the input as a C string */
  if (size < 64) {
    char s[64];
    memcpy(s, data, size);
    s[size] = '\0';
    int vsn = phx_vsn_parse(s);
    CHECK(vsn == -1 || vsn == PHX_V1 || vsn == PHX_V2);
  }
  return 0;
}
