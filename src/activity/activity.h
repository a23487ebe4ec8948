#ifndef CINDER_ACTIVITY_ACTIVITY_H
#define CINDER_ACTIVITY_ACTIVITY_H
/* Activity streams: what charts draw, pushed by the server on a timer.
 *
 *   activity:server       this node: connections, channels, documents, messages and bytes
 *                         in/out, document and awareness updates, storage writes (totals and
 *                         per-second rates), its resident memory (rss_bytes) and the node's
 *                         name. Sampled by worker 0.
 *   activity:cluster      the sum of every live node's latest activity:server sample (each
 *                         travels with the node's heartbeats), with `nodes`: what a dashboard of
 *                         the whole cluster draws. On a single node, that node's own.
 *   activity:doc:<name>   one document: subscribers, updates, awareness updates, bytes — sampled
 *                         by the document's owner, only while someone watches the stream.
 *   activity:<stream>     a business series fed by POST /api/events: the values added during
 *                         each interval. Kept by worker 0.
 *
 * Each sample is encoded once and broadcast as event `sample` (one frame for every subscriber).
 * The last N samples of each stream are kept, so a join reply can fill a chart at once; that
 * history (activity_t) is shared by all workers under a mutex, touched once per sample and once
 * per join — never on a per-message path.
 *
 * The samplers are a worker service (activity_service); the channel and the API reach the shared
 * history through the activity_t they were registered with. */
#include <jansson.h>
#include <stdbool.h>

#include "core/frame.h"
#include "core/service.h"
#include "cluster/cluster.h"
#include "core/task.h"
#include "net/server.h"

typedef struct activity activity_t;

/* history: samples kept per stream. */
activity_t *activity_new(size_t history);
void activity_free(activity_t *a);

typedef struct activity_config {
  activity_t *activity;
  const server_t *server; /* read by worker 0's sampler: connections, counters, documents */
  unsigned interval_ms;
  const char *node_name;  /* in every activity:server sample (read at sampling time) */
  cluster_t *cluster;     /* NULL on a single node */
} activity_config_t;

/* Every worker samples its watched documents; worker 0 also the server and the business
 * streams. Registration argument: an activity_config_t that outlives the server. */
extern const service_t activity_service;

/* A join's reply for a stream: {"samples":[...]}, the kept samples oldest first, as JSON text in
 * a frame (a new reference). Encoded once per new sample and shared by every joiner until the
 * next one: thousands of dashboards joining at once cost one copy each, not a parse and an
 * encode of the whole history. */
frame_t *activity_history_reply(activity_t *a, const char *topic);
/* An activity channel joined (+1) or left (-1) topic: document streams are sampled only while
 * watched. */
void activity_watch(activity_t *a, const char *topic, int delta);

/* Business events. A stream name: 1–64 of [A-Za-z0-9_.-], not "server" or "cluster", not
 * starting "doc". */
bool activity_stream_name_valid(const char *name);
/* Adds value to the stream's current interval, from any worker (posted to worker 0 with the
 * caller's task poster). Returns false when the stream limit is reached. */
bool activity_add_event(activity_t *a, const task_poster_t *poster, const char *stream,
                        double value);

#endif
