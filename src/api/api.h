#ifndef CINDER_API_API_H
#define CINDER_API_API_H
/* The server API (HTTP, JSON) for a backend, and Prometheus metrics:
 *
 *   POST /api/broadcast  {"topic","event","payload"}  → every subscriber on every worker
 *   POST /api/events     {"stream","value"}           → the activity:<stream> series
 *   GET  /api/topics                                  → [{"topic","subscribers"}]
 *   GET  /api/presence?topic=T                        → {"topic":T,"presences":{...}}
 *   GET  /metrics                                     → Prometheus text format 0.0.4
 *
 * Access: with an API key (--api-key / CINDER_API_KEY) every request needs
 * `Authorization: Bearer <key>`; without one, only loopback clients are answered. Errors are JSON
 * {"error": reason} with 400 (malformed), 401 (key), 404, 405, 413 (body too large), 415
 * (content type), 429 (too many streams). */

#include "activity/activity.h"
#include "cluster/cluster.h"
#include "net/server.h"

typedef struct api {
  const char *key;      /* bearer key; NULL: loopback clients only */
  activity_t *activity; /* where POST /api/events goes */
  server_t *server;     /* what /metrics reads */
  cluster_t *cluster;   /* NULL: one node; else /api/topics asks every node */
  const char *node_name; /* the `node` label of /metrics (read when rendered) */
  struct store *store;   /* GET /api/docs lists it */
} api_t;

/* Add the routes; api must outlive the server. */
void api_register(server_t *srv, api_t *api);

#endif
