#ifndef CINDER_PHX_PRESENCE_H
#define CINDER_PHX_PRESENCE_H
/* Presence, compatible with phoenix.js `Presence` (spec §8): per topic, presences by key, each
 * tracked channel contributing one meta with a unique `phx_ref`. `presence_state` is pushed to a
 * joiner that asks for it; `presence_diff` {joins, leaves} is broadcast when the presence changed;
 * a channel that ends (leave, crash, dropped socket) leaves with all its metas.
 *
 * The presence of a topic is owned by one worker (by hash of the topic), like a document: track
 * and untrack are tasks to the owner, which keeps the only copy, broadcasts the diffs through
 * the pubsub and answers queries. So every worker's clients see one consistent list.
 *
 * Scaling (issue 10): the changes of a topic are coalesced over a window of the owner's
 * presence_interval_ms (phx_pubsub_t; `--presence-interval`, 50 ms in the server, 0 = every change
 * at once): one presence_diff per window with the net joins and leaves, encoded once and shared by
 * every subscriber. A joiner's presence_state is the list as of the last diff broadcast — one
 * version per window — encoded once per version and pushed as one shared frame per serializer and
 * join_ref. Why this keeps every phoenix.js list exact:
 *
 * WHAT phoenix.js DOES (assets/js/phoenix/presence.js, 1.8):
 *   - Until a presence_state arrived for the channel's current join_ref, every presence_diff is
 *     queued (pendingDiffs). On presence_state: state = syncState(state, new), then every queued
 *     diff is applied with syncDiff, in order, and the queue is emptied.
 *   - syncDiff, joins: state[key] = the diff's metas for key, preceded by the current metas whose
 *     phx_ref is not among them: a join of a phx_ref already there is a no-op (it only moves that
 *     meta last). Leaves: the metas with a listed phx_ref are removed, a key left with none is
 *     deleted; a leave of a phx_ref that is not there is a no-op.
 *   So applying a diff is idempotent per phx_ref, but a leave applied BEFORE the join of the same
 *   phx_ref is lost — the join then leaves a ghost — and a diff missed is never repaired.
 *
 * WHAT WE SEND. Per topic the owner keeps every meta with two bits: in_state (part of the last
 * broadcast version V, i.e. what a client holding every diff so far has) and live (tracked now).
 * A track adds a live meta that is not in_state; an untrack clears live. At the end of the window
 * (presence_interval_ms after the first change; at once when it is 0) one presence_diff carries
 * joins = live and not in_state, leaves = in_state and not live; then in_state = live, the dead
 * metas are freed and the version moves to V+1. A join and a leave of the same meta within one
 * window is a meta that was never in_state and is no longer live: it simply disappears, in no
 * diff at all (cancel-out). Diffs leave the owner in order and the inboxes are FIFO, so every
 * worker's subscribers get D1, D2, ... in order.
 *
 * WHAT A JOINER GETS: presence_state = exactly the version V of the last diff broadcast when the
 * owner handles its request (the metas in_state) — not the pending changes of the window, its own
 * track included. Why that keeps the joiner's list exact:
 *   - the joiner's channel subscribed to the topic on its worker before its request was posted to
 *     the owner, so every diff broadcast after the owner answered (D(V+1), ...) reaches it;
 *   - diffs it may also get that are already in the state (D(k), k <= V, still in flight to its
 *     worker when it subscribed) come in order, before or after the state (phoenix.js queues the
 *     ones before): replayed in order on top of V they change nothing, per phx_ref: a meta in V
 *     was joined and not left (re-joining it is a no-op); a meta not in V either never joined in
 *     D(<=V), or joined and left there, and the replay has its leave after its join;
 *   - a diff broadcast before it subscribed and never delivered to it is in V.
 * Sending the pending changes too would not be exact: a meta tracked before the request and
 * untracked after it within the same window cancels out, so no leave would ever remove it from
 * that joiner (a ghost). So the state lags the diffs by at most one window; the joiner sees itself
 * with the next diff, like everyone else (Phoenix.Tracker also broadcasts on a period).
 * With interval 0 the change is broadcast first, then the state (now including it) is pushed.
 *
 * SHARING. Every joiner of a version gets the same state, so its payload is encoded once per
 * version (on first demand, from the tables: compact JSON texts, no JSON tree) and dropped when
 * the next diff changes the list. A push is [join_ref, null, topic, "presence_state", state] —
 * Phoenix pushes carry the channel's join_ref, and phoenix.js drops a message whose join_ref is
 * not its channel's current one (Channel.isMember), which is what protects a rejoined channel
 * from the previous join's state — so one frame cannot serve every channel. But join_refs are
 * per-socket counters ("1" for a socket's first join with phoenix.js), so the owner builds one
 * frame per (version, serializer, join_ref) — V1 frames carry no join_ref and are one per version —
 * caches up to PRESENCE_FRAMES_MAX of them, and hands joiners references to it (a task to the
 * joiner's worker carries the reference; on the owner's own worker it is queued at once). A
 * joiner with an uncommon join_ref costs one copy of the payload into its own frame, never an
 * encoding. */
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
 * *why (may be NULL) set to "presence key too long" (or "... not valid UTF-8") / "presence meta too
 * large" — a reason fit for an error reply. Logs nothing: for a channel that refuses its join
 * beforehand. */
int phx_presence_check(const char *key, const json_t *meta, const char **why);
/* Track ch on its topic under key with meta (a JSON object, borrowed; NULL = {}; a phx_ref or
 * phx_ref_prev of its own is dropped). With push_state, the channel's client gets
 * `presence_state`: the list as of the last presence_diff — without this meta, which reaches
 * everyone, the tracker included, in the next diff. Refuses (and logs) a key or meta over the
 * limits: returns phx_presence_check's error and tracks nothing; 0 when tracked. */
int phx_presence_track(phx_channel_t *ch, const char *key, const json_t *meta, bool push_state);
/* Push `presence_state` to ch's client without tracking it: a listener sees the list (and, being
 * subscribed to the topic, its diffs) but is not on it. */
void phx_presence_push_state(phx_channel_t *ch);
/* Drop every meta of ch (called by the socket when a tracked channel ends). */
void phx_presence_untrack(phx_channel_t *ch);
/* The presence list of a topic now (changes not yet broadcast included), as the JSON text of a
 * presence_state payload, delivered to done on the calling worker (the text is malloc'd; done
 * frees it). */
void phx_presence_query(phx_pubsub_t *ps, const char *topic,
                        void (*done)(void *ctx, char *state_json), void *ctx);
/* Broadcast now the pending changes of every topic this worker owns: the end of a window (the
 * owner's timer calls it; tests without a loop call it themselves). */
void phx_presence_flush(phx_pubsub_t *ps);
/* Metas tracked on this worker's topics (for metrics). */
size_t phx_presence_count(const phx_pubsub_t *ps);
/* Members of other nodes (the cluster's bus calls these on the topic's owner worker; see
 * cluster/cluster_bus.c for the protocol). A remote meta is known by its peer's slot `node` (> 0,
 * never reused in the process) and its channel id there; it arrives complete (phx_ref and node
 * included) and joins the lists and diffs of this node like a local one.
 * - remote_track: add it, or — the same meta text again — confirm it: its epoch becomes `epoch`
 *   (and it is live again, now under `node`, if a sweep had let it go within the window: no
 *   twin, no flicker).
 * - remote_untrack: every meta of that channel leaves.
 * - remote_sweep: every meta of the peer with an epoch below before_epoch leaves (the end of a
 *   state transfer: what it did not confirm is gone; UINT32_MAX: the peer is down). On every
 *   worker, for the topics it owns. */
void phx_presence_remote_track(phx_pubsub_t *ps, const char *topic, uint32_t node, uint32_t epoch,
                               uint64_t channel_id, const char *key, const char *meta,
                               size_t meta_len);
void phx_presence_remote_untrack(phx_pubsub_t *ps, const char *topic, uint32_t node,
                                 uint64_t channel_id);
void phx_presence_remote_sweep(phx_pubsub_t *ps, uint32_t node, uint32_t before_epoch);
/* Every live meta tracked on this node, of the topics this worker owns (a state transfer). */
typedef void (*phx_presence_each_fn)(void *arg, const char *topic, uint64_t channel_id,
                                     const char *key, const char *meta, size_t meta_len);
void phx_presence_local_each(phx_pubsub_t *ps, phx_presence_each_fn each, void *arg);
/* Bytes of memory the presence tables of this worker's topics hold, as the allocator counts them
 * (usable size plus an 8-byte chunk header per allocation): metas, keys, indexes, cached states. */
size_t phx_presence_memory(const phx_pubsub_t *ps);
/* What this worker's presence has done, as an owner (for tests and measurements). */
typedef struct phx_presence_stats {
  uint64_t diffs;         /* presence_diff broadcasts */
  uint64_t diff_bytes;    /* their payloads' bytes (each sent once per subscriber) */
  uint64_t states;        /* presence_state payloads encoded (one per version asked for) */
  uint64_t state_frames;  /* presence_state frames built (one per version, serializer, join_ref) */
  uint64_t state_pushes;  /* presence_state frames handed to joiners */
  uint64_t state_bytes;   /* bytes of the state payloads handed to joiners */
} phx_presence_stats_t;
void phx_presence_stats(const phx_pubsub_t *ps, phx_presence_stats_t *out);
/* Shutdown (the pubsub service's stop hook, on the worker): close the window's timer. Changes
 * after it are applied at once. */
void phx_presence_stop(phx_pubsub_t *ps);
void phx_presence_free(phx_pubsub_t *ps);

#endif
