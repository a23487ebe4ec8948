#ifndef CINDER_PHX_PRESENCE_H
#define CINDER_PHX_PRESENCE_H
/* Presence, compatible with phoenix.js `Presence` (spec §8): per topic, presences by key, each
 * tracked channel contributing one meta with a unique `phx_ref`. `presence_state` is pushed to a
 * joiner that asks for it; `presence_diff` {joins, leaves} is broadcast on every change; a channel
 * that ends (leave, crash, dropped socket) leaves with all its metas.
 *
 * The presence of a topic is owned by one worker (by hash of the topic), like a document: track
 * and untrack are tasks to the owner, which keeps the only copy, broadcasts the diffs through
 * the pubsub and answers queries. So every worker's clients see one consistent list. */
#include <jansson.h>
#include <stdbool.h>

#include "phx/phx_channel.h"
#include "phx/phx_pubsub.h"

/* Limits on what one presence may hold: every tracked meta is kept by the topic's owner for the
 * channel's life and sent in every presence_state and presence_diff of the topic. */
#define PHX_PRESENCE_MAX_KEY 255   /* bytes of a key */
#define PHX_PRESENCE_MAX_META 4096 /* bytes of a meta as compact JSON, before its phx_ref */
enum { PHX_PRESENCE_E_KEY = -1, PHX_PRESENCE_E_META = -2 };

/* Whether key and meta (NULL = {}) are within the limits: 0, or PHX_PRESENCE_E_KEY / _E_META with
 * *why (may be NULL) set to "presence key too long" / "presence meta too large" — a reason fit for
 * an error reply. Logs nothing: for a channel that refuses its join beforehand. */
int phx_presence_check(const char *key, const json_t *meta, const char **why);
/* Track ch on its topic under key with meta (a JSON object, borrowed; NULL = {}). With
 * push_state, the channel's client first gets `presence_state` (the full list, itself included).
 * Refuses (and logs) a key or meta over the limits: returns phx_presence_check's error and tracks
 * nothing; 0 when tracked. */
int phx_presence_track(phx_channel_t *ch, const char *key, const json_t *meta, bool push_state);
/* Drop every meta of ch (called by the socket when a tracked channel ends). */
void phx_presence_untrack(phx_channel_t *ch);
/* The presence list of a topic, as the JSON text of a presence_state payload, delivered to done
 * on the calling worker (the text is malloc'd; done frees it). */
void phx_presence_query(phx_pubsub_t *ps, const char *topic,
                        void (*done)(void *ctx, char *state_json), void *ctx);
/* Metas tracked on this worker's topics (for metrics). */
size_t phx_presence_count(const phx_pubsub_t *ps);
void phx_presence_free(phx_pubsub_t *ps);

#endif
