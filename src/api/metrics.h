#ifndef CINDER_API_METRICS_H
#define CINDER_API_METRICS_H
/* Prometheus text exposition (format 0.0.4) of the counters and gauges every worker keeps:
 * read with relaxed atomic loads from any thread, never by stopping the workers. */
#include "core/buf.h"

typedef struct server server_t;
typedef struct cluster cluster_t;

/* Every line carries the node's name as label `node`; cluster (NULL on one node) adds the
 * cinder_cluster_* metrics. */
void metrics_render(const server_t *srv, cluster_t *cluster, const char *node, buf_t *out);

#endif
