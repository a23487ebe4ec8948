#ifndef CINDER_PHX_SERIALIZER_H
#define CINDER_PHX_SERIALIZER_H
/* Phoenix Channels message serializers (spec: phoenix-channels.md §2, §3).
 *
 *   vsn 2.0.x  text frames are JSON arrays [join_ref, ref, topic, event, payload];
 *              binary frames carry ArrayBuffer payloads (client kind 0; server kinds 0, 1, 2).
 *   vsn 1.0.x  text frames are JSON objects {topic, event, payload, ref[, join_ref]};
 *              the server never emits join_ref, and there are no binary frames.
 *
 * Decoding parses with jansson and hands out an owned phx_msg_t. Encoding is on the broadcast hot
 * path (one encoding per broadcast, shared by every subscriber), so it writes JSON by hand into a
 * buf_t: the payload arrives already serialized and is copied verbatim; topic, event and status are
 * escaped with a fast path for strings that need no escaping. refs are opaque and are echoed with
 * their JSON type preserved: a client that sent "12" gets "12" back, one that sent 12 gets 12. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* PHX_RAW is not a Phoenix serializer: a socket of the y-websocket protocol (issue 14), one
 * channel joined by the server, whose client reads and writes bare y-protocols messages in binary
 * frames. Only binary pushes (their payload) and binary broadcasts (theirs) reach it. */
typedef enum { PHX_V1 = 1, PHX_V2 = 2, PHX_RAW = 3 } phx_vsn_t;

/* Errors, returned as negative ints; phx_strerror() names them. */
enum {
  PHX_E_JSON = -1,     /* text frame is not valid JSON (syntax, invalid UTF-8, integer overflow) */
  PHX_E_SHAPE = -2,    /* valid JSON but not a message: wrong container, fewer than 5 elements,
                          missing V1 key, topic/event not a string or containing NUL */
  PHX_E_BINARY = -3,   /* binary frame: unknown kind, shorter than its header or declared sizes */
  PHX_E_UTF8 = -4,     /* binary frame: a header string is not valid UTF-8 (or topic/event holds NUL) */
  PHX_E_TOO_LONG = -5, /* binary encoding: a header field is longer than 255 bytes */
};
const char *phx_strerror(int err);

/* Binary frame kinds (first byte). Clients only ever send PHX_BIN_PUSH. */
enum { PHX_BIN_PUSH = 0, PHX_BIN_REPLY = 1, PHX_BIN_BROADCAST = 2 };
/* Longest join_ref / ref / topic / event / status in a binary frame. */
#define PHX_BIN_FIELD_MAX 255

/* One decoded client message. Owns its strings and JSON; the binary payload points into the
 * caller's frame, so a binary message must not outlive the frame it was decoded from. */
typedef struct phx_msg {
  json_t *join_ref;   /* NULL when JSON null or absent; otherwise the JSON value exactly as sent
                         (a string in practice, any type echoed verbatim); a reference owned here */
  json_t *ref;        /* same */
  char *topic;        /* NUL-terminated UTF-8, no embedded NUL */
  char *event;        /* NUL-terminated UTF-8, no embedded NUL */
  json_t *payload;    /* text frames: the payload JSON value, never NULL (JSON null is json_null()),
                         borrowed from the message's own storage; NULL for binary frames.
                         json_incref() it to keep it beyond phx_msg_free(). */
  const char *payload_text; /* text frames: the payload exactly as the client wrote it (into the
                               input frame), so a relay re-sends it without re-encoding; NULL when
                               it could not be located (then encode `payload`) */
  size_t payload_text_len;
  const uint8_t *bin; /* binary frames: payload bytes (into the input frame); bin_len may be 0 */
  size_t bin_len;
  bool binary;
  /* private */
  json_t *root_; /* the decoded text frame, owner of payload */
  char *strs_;   /* one allocation: topic NUL event NUL */
} phx_msg_t;

/* Decode a text frame. V2: a JSON array of >= 5 elements (extra ones ignored); V1: a JSON object
 * with the required keys topic, event, payload, ref and the optional key join_ref.
 * topic and event must be strings without NUL; join_ref/ref may be any JSON (null -> NULL);
 * the payload may be any JSON value (phoenix.js sends objects). Strings inside the payload may
 * contain \u0000. Returns 0, or a negative PHX_E_* with *err set to a short static reason for the
 * log (err may be NULL); on error *out is zeroed and needs no phx_msg_free(). */
int phx_decode_text(phx_vsn_t vsn, const char *data, size_t len, phx_msg_t *out, const char **err);
/* Decode a binary frame: kind 0 with four size bytes (join_ref, ref, topic, event), then the
 * strings, then the payload (the rest, possibly empty). join_ref/ref become JSON strings, a
 * zero-length one becomes NULL. Unknown kind, a frame shorter than its header or its declared
 * sizes -> PHX_E_BINARY; a string that is not UTF-8, or NUL in topic/event -> PHX_E_UTF8. */
int phx_decode_binary(const uint8_t *data, size_t len, phx_msg_t *out, const char **err);
/* Release what a decoded message owns and zero it. Safe on a zeroed message; m may be NULL. */
void phx_msg_free(phx_msg_t *m);

/* Text encoders: append one complete frame payload (JSON text) to out. They never fail.
 * payload_json / response_json is already-serialized, valid JSON text of len bytes (the caller
 * dumps it once and may reuse it for many frames); it is copied verbatim.
 * join_ref/ref are echoed verbatim with their JSON type (NULL or json null -> null).
 * topic/event/status are NUL-terminated and JSON-escaped as needed; a byte sequence that is not
 * valid UTF-8 is written as U+FFFD so that the frame is always valid UTF-8.
 * V2: [join_ref,ref,topic,event,payload]
 * V1: {"topic":T,"event":E,"payload":P,"ref":R}  (V1 never emits join_ref) */
void phx_encode_message(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                        const char *topic, const char *event, const char *payload_json, size_t len);
/* V2: [join_ref,ref,topic,"phx_reply",{"status":S,"response":R}]
 * V1: {"topic":T,"event":"phx_reply","payload":{"status":S,"response":R},"ref":REF} */
void phx_encode_reply(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const json_t *ref,
                      const char *topic, const char *status, const char *response_json, size_t len);
/* A channel's push to its own client: [join_ref,null,T,E,P] (V1: ref null). */
void phx_encode_push(buf_t *out, phx_vsn_t vsn, const json_t *join_ref, const char *topic,
                     const char *event, const char *payload_json, size_t len);
/* A fan-out broadcast: [null,null,T,E,P] (V1: ref null). */
void phx_encode_broadcast(buf_t *out, phx_vsn_t vsn, const char *topic, const char *event,
                          const char *payload_json, size_t len);

/* Binary encoders (V2 only). Return 0, or PHX_E_TOO_LONG if a header field exceeds 255 bytes
 * (nothing is appended then). join_ref/ref: a JSON string's bytes; an integer is written as its
 * decimal text; another non-null value as its compact JSON text; NULL or json null -> empty.
 * payload/response may be NULL when len is 0. */
/* kind 0, three size bytes: 00 JR TL EL join_ref topic event payload (no ref) */
int phx_encode_binary_push(buf_t *out, const json_t *join_ref, const char *topic,
                           const char *event, const uint8_t *payload, size_t len);
/* kind 1: 01 JR RL TL SL join_ref ref topic status response */
int phx_encode_binary_reply(buf_t *out, const json_t *join_ref, const json_t *ref,
                            const char *topic, const char *status, const uint8_t *response,
                            size_t len);
/* kind 2: 02 TL EL topic event payload */
int phx_encode_binary_broadcast(buf_t *out, const char *topic, const char *event,
                                const uint8_t *payload, size_t len);

/* A server binary frame (kind 0, 1 or 2, as the encoders above write them) as the V2 text message
 * that carries the same payload bytes as a JSON array of numbers:
 *   kind 0  [join_ref,null,topic,event,[b,...]]
 *   kind 1  [join_ref,ref,topic,"phx_reply",{"status":status,"response":[b,...]}]
 *   kind 2  [null,null,topic,event,[b,...]]
 * join_ref and ref come back as JSON strings (empty: null). For LongPoll, whose answers are JSON
 * and cannot hold raw bytes (Phoenix drops binary pushes there, spec §3.4): a client that reads a
 * binary payload with `new Uint8Array(payload)`, as y-phoenix-channel does, gets the same bytes
 * with phoenix.js unchanged. A frame shorter than its header or its declared sizes, or of another
 * kind -> PHX_E_BINARY, nothing appended. */
int phx_binary_as_text(buf_t *out, const uint8_t *frame, size_t len);

/* Select the serializer from the `vsn` connect param as Phoenix does (Version.parse, then
 * Version.match? against "~> 1.0.0" and "~> 2.0.0", pre-releases allowed):
 * NULL (absent) -> PHX_V1; 1.0.x -> PHX_V1; 2.0.x -> PHX_V2; anything else -> -1 (HTTP 403).
 * Build metadata is ignored ("2.0.0+abc" -> V2). A pre-release of the lower bound is below it
 * ("2.0.0-rc.1" -> -1) while one of a later patch is inside ("2.0.1-rc.1" -> V2). Unparseable
 * strings ("", "2.0", "02.0.0", "2.0.0-", "2.0.0-01") and other versions (2.1.0, 123.1.1) -> -1. */
int phx_vsn_parse(const char *vsn);
/* The serializer a socket's connect params ask for: `vsn` absent means V1 (as Phoenix); -1 when
 * the value is not a supported version. */
int phx_vsn_from_params(const json_t *params);

#endif
