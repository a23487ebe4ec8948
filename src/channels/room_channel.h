#ifndef CINDER_CHANNELS_ROOM_CHANNEL_H
#define CINDER_CHANNELS_ROOM_CHANNEL_H
/* room:* — the generic channel. Every join succeeds unless its presence would exceed the limits
 * of phx_presence.h (error reply {"reason":"presence key too long" | "presence meta too large"}).
 * A client event E with payload P (JSON or
 * binary) is broadcast as E to the other subscribers of the topic; the event "ping" is answered
 * with the reply {"status":"ok","response":P} instead. Events reserved by the protocol
 * (phx_*, chan_reply_*, presence_*) are refused with an error reply, so one client cannot
 * forge protocol frames for the others.
 * Presence: a member with an identity is tracked under the `user` of its join payload, else the
 * `user` connect param of its socket, with the meta of its join payload's `meta` object (if any)
 * plus the server's `online_at`. A member with neither is an anonymous listener: not tracked (on
 * nobody's list, no diff for its join or leave). Every member gets `presence_state` after its join
 * reply (the list as of the last diff) and then the topic's `presence_diff`s, coalesced over
 * `--presence-interval` (phx_presence.h).
 */
#include "phx/phx_channel.h"

extern const phx_channel_type_t room_channel;

#endif
