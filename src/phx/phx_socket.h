#ifndef CINDER_PHX_SOCKET_H
#define CINDER_PHX_SOCKET_H
/* The Phoenix socket protocol over one connection: decodes client messages, answers heartbeats,
 * joins and leaves channels (join_ref bookkeeping, duplicate joins, the channel limit), routes
 * messages to channels, and turns channel exits into phx_close / phx_error frames.
 * See the Phoenix wire protocol spec (phoenix-channels.md), §2–§4. A socket lives on one worker for life.
 *
 * Below it sits a transport (WebSocket today, LongPoll later) reached through phx_transport_t:
 * the socket hands it finished frames and asks it to close. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/frame.h"
#include "core/log.h"
#include "phx/phx_channel.h"
#include "phx/phx_pubsub.h"
#include "phx/phx_serializer.h"

typedef struct phx_transport {
  /* Queue f for the client; the callee takes its own reference if it keeps it. */
  void (*send)(struct phx_transport *t, frame_t *f);
  /* Close the connection with a WebSocket close code (the transport maps it as it can). */
  void (*close)(struct phx_transport *t, uint16_t code, const char *reason);
} phx_transport_t;

/* Limits on what one client may send, and how each refusal is answered (phx_socket.c explains
 * the choice). Every refusal is logged (warn), without the payload, and touches only the socket
 * that sent it; those answered by an error reply leave the socket open and can repeat, so they
 * are logged at most once a second per socket, with the count of the others.
 *
 *   JSON text over max_json_depth / max_json_elements   close 1009 "JSON nested too deeply" /
 *     (counted by phx_json_scan before jansson parses)  "too many JSON values"
 *   join_ref or ref not null, a number or a string of   close 1008 "invalid join_ref" /
 *     at most PHX_REF_MAX bytes                          "invalid ref"
 *   topic longer than max_topic                          error reply {"reason":"topic too long"}
 *   phx_join beyond the join bucket                      error reply {"reason":"too many joins"}
 *
 * The join bucket holds max_channels tokens (at least 1) and refills at max_joins_per_s; it
 * starts full, so a client may (re)join all its channels at once. */
#define PHX_REF_MAX 64

typedef struct phx_socket_config {
  size_t max_channels;        /* per socket; Phoenix's default is 100 */
  const phx_router_t *router; /* topic patterns -> channel types (the server's) */
  unsigned max_joins_per_s;   /* join rate, in a bucket of max_channels (0: no limit) */
  size_t max_topic;           /* bytes of a topic name (0: no limit) */
  unsigned max_json_depth;    /* nesting of a client's JSON message (0: jansson's 2048) */
  size_t max_json_elements;   /* values in a client's JSON message (0: no limit) */
  /* Monotonic nanoseconds for the join bucket; NULL: CLOCK_MONOTONIC (tests inject a clock). */
  uint64_t (*now_ns)(void);
} phx_socket_config_t;

struct phx_socket {
  phx_transport_t *transport;
  phx_pubsub_t *pubsub;
  phx_vsn_t vsn;
  json_t *params;     /* connect params (owned); NULL until first use when they were only vsn */
  char vsn_text[16];  /* the vsn param as sent, while params is NULL */
  uint8_t *auth_token;
  size_t auth_token_len;
  phx_socket_config_t config;
  phx_channel_t **channels; /* at most config.max_channels; a linear scan beats hashing here */
  size_t nchannels, cap_channels;
  json_t *assigns;     /* Phoenix's socket assigns: a JSON object, owned, created on first use
                          (phx_channel_assigns) */
  uint64_t join_tat_ns; /* the join bucket, as GCRA: when it would be full again (see .c) */
  log_limit_t join_log, topic_log, refused_log; /* refusals leaving it open: a line a second */
  frame_t *join_reply; /* set by phx_channel_join_reply_shared while a join callback runs */
  auth_claims_t *auth; /* the verified token's claims (owned); NULL: no token */
  bool closed;
  int dispatching; /* > 0 while a message is being handled */
};

/* Takes ownership of params and auth_token. */
phx_socket_t *phx_socket_new(phx_pubsub_t *ps, phx_transport_t *t, phx_vsn_t vsn, json_t *params,
                             uint8_t *auth_token, size_t auth_token_len,
                             const phx_socket_config_t *config);
/* Terminates every channel (PHX_EXIT_CLOSED) and frees the socket. */
void phx_socket_free(phx_socket_t *s);

/* Handle one client message. A malformed message returns a close code (1003 binary / 1007 text
 * or similar) that the transport should close with; 0 otherwise. A message refused by a limit
 * (above) that cannot be answered has already closed the transport with its own code and reason
 * when this returns 0. */
uint16_t phx_socket_handle_text(phx_socket_t *s, const char *data, size_t len);
uint16_t phx_socket_handle_binary(phx_socket_t *s, const uint8_t *data, size_t len);

/* The connect params (the query string, parsed Plug-style). Borrowed. */
json_t *phx_socket_params(phx_socket_t *s);
/* A y-websocket socket (PHX_RAW) has one channel, joined by the server as soon as it opens, as its
 * client would join it (access control included); whether the join succeeded. */
bool phx_socket_join_raw(phx_socket_t *s, const char *topic);
/* A binary message of a y-websocket client: a "yjs" push on its channel. A close code when the
 * socket has no channel left; 0 otherwise. */
uint16_t phx_socket_handle_raw(phx_socket_t *s, const uint8_t *data, size_t len);
/* The claims of the token the socket was let in with (takes ownership); checked on every join
 * (channels) and push (write). */
void phx_socket_set_auth(phx_socket_t *s, auth_claims_t *claims);
/* Whether the token (verified by `auth`) has run out at `now_s` (seconds since the epoch): the
 * transport closes the socket (1008 "token expired"). */
bool phx_socket_expired(const phx_socket_t *s, const auth_t *auth, int64_t now_s);
/* The token's user (sub), NULL without a token. */
const char *phx_socket_user(const phx_socket_t *s);
/* Queue a frame built for this socket (used by channels). */
void phx_socket_send(phx_socket_t *s, frame_t *f);
phx_channel_t *phx_socket_find(const phx_socket_t *s, const char *topic);

#endif
