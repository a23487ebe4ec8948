#ifndef CINDER_PHX_CHANNEL_H
#define CINDER_PHX_CHANNEL_H
/* Channels: the server side of one topic on one socket, as in Phoenix.
 *
 * An application channel is a small vtable (phx_channel_type_t) registered for a topic pattern
 * with phx_router_add("room:*", &room_channel), like Phoenix's `channel "room:*", RoomChannel`.
 * The socket protocol (phx_socket.c) creates a phx_channel_t per successful join and calls the
 * vtable; the channel answers through the functions below, which encode Phoenix frames for the
 * socket's serializer. Everything here runs on the worker thread that owns the socket. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phx/phx_pubsub.h"
#include "phx/phx_serializer.h"

typedef struct phx_socket phx_socket_t;
typedef struct phx_channel phx_channel_t;
typedef struct phx_route phx_route_t;

/* Why a channel ends; decides the frame the client sees (see phx_socket.c). */
typedef enum {
  PHX_EXIT_LEFT,           /* client sent phx_leave: reply ok, then phx_close */
  PHX_EXIT_CLOSED,         /* the connection went away: nothing can be sent */
  PHX_EXIT_DUPLICATE_JOIN, /* a new join replaced it: phx_close after the new join's reply */
  PHX_EXIT_STOPPED,        /* the server stopped it gracefully: phx_close, client does not rejoin */
  PHX_EXIT_CRASHED,        /* the server gave up on it: phx_error, client rejoins */
} phx_exit_t;

enum { PHX_JOIN_OK = 0, PHX_JOIN_ERROR = -1 };

typedef struct phx_channel_type {
  const char *name;
  size_t state_size; /* zeroed private state at phx_channel_state() */
  /* Accept (PHX_JOIN_OK) or refuse (PHX_JOIN_ERROR) a join. *reply may be set to a JSON
   * object (ownership passes to the caller) for the ok or error reply; NULL means {}. */
  int (*join)(phx_channel_t *ch, json_t *payload, json_t **reply);
  /* Called after the join reply was queued, so pushes made here follow it on the wire. */
  void (*after_join)(phx_channel_t *ch);
  /* A client message for this channel (never phx_join / phx_leave / heartbeat). */
  void (*handle_in)(phx_channel_t *ch, const phx_msg_t *msg);
  /* Last call; the channel is already unsubscribed. May not push when reason is CLOSED. */
  void (*terminate)(phx_channel_t *ch, phx_exit_t reason);
  /* Access control (auth/auth.h): a socket whose token does not let it write in a topic has every
   * push refused there ("unauthorized") before handle_in — unless the channel sorts its messages
   * itself (filters_writes, with phx_channel_may_write), as a document room does: a read-only
   * client still syncs and sends its cursor, only its edits are refused. */
  bool filters_writes;
} phx_channel_type_t;

struct phx_channel {
  phx_subscriber_t sub; /* first: the pubsub delivers to channels through it */
  const phx_channel_type_t *type;
  const phx_route_t *route; /* the route that matched its topic */
  phx_socket_t *socket;
  char *topic;
  json_t *join_ref;       /* CJ0: join_ref as sent with the join (NULL for null) */
  json_t *reply_join_ref; /* CJ: join_ref, or the join's ref when join_ref was null */
  bool stopping;
  bool stopped_crashed;
  bool presence_tracked; /* untracked automatically when the channel ends */
  void *state;
};

/* --- routing ---------------------------------------------------------------------------------- */
/* A router maps topic patterns to channel types, like Phoenix's `channel "room:*", RoomChannel`.
 * The server owns one; it is filled before the workers start and read-only afterwards. */
struct phx_route {
  char *pattern;
  size_t prefix_len; /* bytes before '*', or the whole length for an exact topic */
  bool wildcard;
  const phx_channel_type_t *type;
  void *arg;         /* the registration's argument, for the channel (phx_channel_route) */
};

typedef struct phx_router {
  phx_route_t *routes;
  size_t n, cap;
} phx_router_t;

void phx_router_init(phx_router_t *r);
/* pattern: an exact topic, or a prefix ending in '*' ("room:*"). First match wins. */
void phx_router_add(phx_router_t *r, const char *pattern, const phx_channel_type_t *type,
                    void *arg);
const phx_route_t *phx_router_match(const phx_router_t *r, const char *topic);
void phx_router_free(phx_router_t *r);

/* --- what a channel can do --------------------------------------------------------------------- */
void *phx_channel_state(phx_channel_t *ch);
/* A process-unique id: how other threads (a document's owner) name this channel in messages.
 * phx_channel_lookup finds a joined channel of this worker by id, or NULL once it has ended. */
uint64_t phx_channel_id(const phx_channel_t *ch);
phx_channel_t *phx_channel_lookup(phx_pubsub_t *ps, uint64_t id);
const char *phx_channel_topic(const phx_channel_t *ch);
/* The route its topic matched (its pattern, prefix length and registration argument). */
const phx_route_t *phx_channel_route(const phx_channel_t *ch);
/* The context of the worker the channel lives on: its services (task_ctx_service). */
task_ctx_t *phx_channel_ctx(const phx_channel_t *ch);
/* Connect params of the socket (the query string, parsed Plug-style). Borrowed. */
json_t *phx_channel_params(const phx_channel_t *ch);
/* The socket's assigns, as Phoenix's socket.assigns: one JSON object per socket (connection or
 * LongPoll session), shared by all of its channels, created empty with the socket and freed with
 * it. Borrowed: a channel reads and writes it in place (json_object_set_new ...) and must not
 * keep the pointer beyond the channel. Use it for per-connection state that outlives one channel,
 * e.g. counters for a per-socket rate. Keys are the channels' business: prefix them with the
 * channel type ("ydoc.opened") so that channels do not collide. Worker thread only, like the
 * rest of the socket. */
json_t *phx_channel_assigns(phx_channel_t *ch);

/* Inside a join callback: the reply is this already-encoded JSON object (a frame_t holding only
 * the text; the reference passes to the socket), instead of *reply. For big replies that many
 * joiners share, such as a stream's history: encoded once, copied once into each reply frame,
 * never parsed or re-encoded per join. */
void phx_channel_join_reply_shared(phx_channel_t *ch, frame_t *json);

/* The socket's user: the `sub` of its token; NULL without one (no auth, or an anonymous socket
 * under --auth optional). */
const char *phx_channel_user(const phx_channel_t *ch);
/* Whether the socket may push or edit in this channel's topic (its token's `write` claim). */
bool phx_channel_may_write(const phx_channel_t *ch);

/* Reply to msg (echoing its ref) with a JSON response (borrowed; NULL = {}) or binary bytes. */
void phx_channel_reply(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                       const json_t *response);
/* The same with an already encoded JSON response (e.g. a client's payload relayed verbatim). */
void phx_channel_reply_text(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                            const char *json, size_t len);
void phx_channel_reply_binary(phx_channel_t *ch, const phx_msg_t *msg, const char *status,
                              const uint8_t *data, size_t len);
/* An error reply {"reason": reason}, as Phoenix apps answer {:reply, {:error, %{reason: ...}}}. */
void phx_channel_reply_error(phx_channel_t *ch, const phx_msg_t *msg, const char *reason);
/* Push an event to this channel's own client. */
void phx_channel_push(phx_channel_t *ch, const char *event, const json_t *payload);
void phx_channel_push_binary(phx_channel_t *ch, const char *event, const uint8_t *data,
                             size_t len);
/* Broadcast on the channel's topic to every subscriber on every worker but this channel. */
void phx_channel_broadcast_from(phx_channel_t *ch, const char *event, const json_t *payload);
void phx_channel_broadcast_from_text(phx_channel_t *ch, const char *event, const char *json,
                                     size_t len);
void phx_channel_broadcast_from_binary(phx_channel_t *ch, const char *event, const uint8_t *data,
                                       size_t len);
/* End the channel from the server side: gracefully (phx_close) or as a crash (phx_error). */
void phx_channel_stop(phx_channel_t *ch, bool crashed);

#endif
