#ifndef CINDER_ACTIVITY_ACTIVITY_H
#define CINDER_ACTIVITY_ACTIVITY_H
/* Activity streams: what charts draw, pushed by the server on a timer.
 *
 *   activity:server       the whole server: connections, channels, documents, messages and
 *                         bytes in/out, document and awareness updates, storage writes — totals
 *                         and per-second rates. Sampled by worker 0.
 *   activity:doc:<name>   one document: subscribers, updates, awareness updates, bytes — sampled
 *                         by the document's owner, only while someone watches the stream.
 *   activity:<stream>     a business series fed by POST /api/events: the values added during
 *                         each interval. Kept by worker 0.
 *
 * Each sample is encoded once and broadcast as event `sample` (one frame for every subscriber).
 * The last N samples of each stream are kept, so a join reply can fill a chart at once; that
 * history is shared by all workers under a mutex, touched once per sample and once per join —
 * never on a per-message path. */
#include <jansson.h>
#include <stdbool.h>

typedef struct server server_t;
typedef struct worker worker_t;

void activity_init(server_t *srv);
void activity_free(void);
/* On each worker's thread: start / stop its sampling timers. */
void activity_worker_start(worker_t *w);
void activity_worker_stop(worker_t *w);

/* The kept samples of a stream, oldest first (a new array). */
json_t *activity_history(const char *topic);
/* An activity channel joined (+1) or left (-1) topic: document streams are sampled only while
 * watched. */
void activity_watch(const char *topic, int delta);

/* Business events. A stream name: 1–64 of [A-Za-z0-9_.-], not "server", not starting "doc". */
bool activity_stream_name_valid(const char *name);
/* Adds value to the stream's current interval (from any worker). Returns false when the stream
 * limit is reached. */
bool activity_add_event(worker_t *from, const char *stream, double value);

#endif
