#include "api/metrics.h"

#include <stdlib.h>

#include "cluster/cluster.h"
#include "core/mem.h"
#include "docs/shared_doc.h"
#include "net/server.h"

typedef struct metric {
  const char *name;
  const char *type; /* counter or gauge */
  const char *help;
  uint64_t (*read)(const server_stats_t *st, const shared_docs_stats_t *ds);
} metric_t;

static uint64_t m_connections(const server_stats_t *s, const shared_docs_stats_t *d) { return (uint64_t)s->connections; }
static uint64_t m_channels(const server_stats_t *s, const shared_docs_stats_t *d) { return (uint64_t)s->channels; }
static uint64_t m_messages_in(const server_stats_t *s, const shared_docs_stats_t *d) { return s->messages_in; }
static uint64_t m_frames_out(const server_stats_t *s, const shared_docs_stats_t *d) { return s->frames_out; }
static uint64_t m_broadcasts(const server_stats_t *s, const shared_docs_stats_t *d) { return s->broadcasts; }
static uint64_t m_bytes_in(const server_stats_t *s, const shared_docs_stats_t *d) { return s->bytes_in; }
static uint64_t m_bytes_out(const server_stats_t *s, const shared_docs_stats_t *d) { return s->bytes_out; }
static uint64_t m_docs(const server_stats_t *s, const shared_docs_stats_t *d) { return (uint64_t)d->open; }
static uint64_t m_updates(const server_stats_t *s, const shared_docs_stats_t *d) { return d->updates; }
static uint64_t m_awareness(const server_stats_t *s, const shared_docs_stats_t *d) { return d->awareness_updates; }
static uint64_t m_writes(const server_stats_t *s, const shared_docs_stats_t *d) { return d->storage_writes; }

static const metric_t metrics[] = {
    {"cinder_connections", "gauge", "Open client connections.", m_connections},
    {"cinder_channels", "gauge", "Channels joined.", m_channels},
    {"cinder_documents", "gauge", "Yjs documents loaded.", m_docs},
    {"cinder_messages_in_total", "counter", "Phoenix messages received.", m_messages_in},
    {"cinder_messages_out_total", "counter", "Frames queued to clients (replies, pushes, broadcasts).", m_frames_out},
    {"cinder_broadcasts_total", "counter", "Broadcasts published.", m_broadcasts},
    {"cinder_bytes_in_total", "counter", "Bytes received from clients.", m_bytes_in},
    {"cinder_bytes_out_total", "counter", "Bytes queued to clients.", m_bytes_out},
    {"cinder_document_updates_total", "counter", "Yjs updates that changed a document.", m_updates},
    {"cinder_awareness_updates_total", "counter", "Awareness updates applied.", m_awareness},
    {"cinder_storage_writes_total", "counter", "Document appends and compactions committed.", m_writes},
};

/* The node's name as a Prometheus label value (backslash, quote and newline escaped). */
static void metrics_label(buf_t *out, const char *node) {
  for (const char *p = node; *p; p++) {
    if (*p == '\\' || *p == '"') buf_append_byte(out, '\\');
    if (*p == '\n') {
      buf_append_str(out, "\\n");
      continue;
    }
    buf_append_byte(out, (uint8_t)*p);
  }
}

static void metrics_one(buf_t *out, const char *name, const char *type, const char *help,
                        const char *node, unsigned long long value) {
  buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"", name, help, name, type, name);
  metrics_label(out, node);
  buf_printf(out, "\"} %llu\n", value);
}

static void metrics_cluster(buf_t *out, cluster_t *cluster, const char *node) {
  cluster_stats_t cs;
  cluster_stats(cluster, &cs);
  metrics_one(out, "cinder_cluster_up", "gauge", "1 while connected to Redis and subscribed.", node, cs.up);
  metrics_one(out, "cinder_cluster_nodes", "gauge", "Live nodes of the cluster, this one included.", node, (unsigned long long)cs.nodes);
  metrics_one(out, "cinder_cluster_messages_out_total", "counter", "Messages published on the bus.", node, cs.messages_out);
  metrics_one(out, "cinder_cluster_messages_in_total", "counter", "Messages received from other nodes.", node, cs.messages_in);
  metrics_one(out, "cinder_cluster_dropped_total", "counter", "Bus messages dropped (Redis down or too slow).", node, cs.dropped);
  metrics_one(out, "cinder_cluster_invalid_total", "counter", "Malformed or foreign bus messages ignored.", node, cs.invalid);
  metrics_one(out, "cinder_cluster_reconnects_total", "counter", "Attempts to reconnect to Redis.", node, cs.reconnects);
}

void metrics_render(const server_t *srv, cluster_t *cluster, const char *node, buf_t *out) {
  /* One snapshot per worker, so every metric of a worker comes from the same reading. */
  server_stats_t *st = xcalloc((size_t)srv->nworkers, sizeof *st);
  shared_docs_stats_t *ds = xcalloc((size_t)srv->nworkers, sizeof *ds);
  for (int w = 0; w < srv->nworkers; w++) {
    server_stats(srv, w, &st[w]);
    shared_docs_stats(server_service_state(srv, w, &shared_docs_service), &ds[w]);
  }
  for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
    const metric_t *m = &metrics[i];
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
    for (int w = 0; w < srv->nworkers; w++) {
      buf_printf(out, "%s{node=\"", m->name);
      metrics_label(out, node);
      buf_printf(out, "\",worker=\"%d\"} %llu\n", w, (unsigned long long)m->read(&st[w], &ds[w]));
    }
  }
  free(st);
  free(ds);
  buf_printf(out, "# HELP cinder_uptime_seconds Seconds since the server started.\n"
                  "# TYPE cinder_uptime_seconds gauge\ncinder_uptime_seconds{node=\"");
  metrics_label(out, node);
  buf_printf(out, "\"} %.3f\n", server_uptime_s(srv));
  metrics_one(out, "cinder_workers", "gauge", "Worker threads.", node, (unsigned long long)srv->nworkers);
  metrics_one(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", node,
              (unsigned long long)mem_rss_bytes());
  buf_printf(out, "# HELP cinder_info Build information.\n# TYPE cinder_info gauge\n"
                  "cinder_info{node=\"");
  metrics_label(out, node);
  buf_printf(out, "\",version=\"%s\"} 1\n", CINDER_VERSION);
  if (cluster) metrics_cluster(out, cluster, node);
}
