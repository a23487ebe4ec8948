#include "api/metrics.h"

#include <stdatomic.h>
#include <time.h>

#include "docs/shared_doc.h"
#include "net/worker.h"

typedef struct metric {
  const char *name;
  const char *type; /* counter or gauge */
  const char *help;
  uint64_t (*read)(worker_t *w);
} metric_t;

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))
static uint64_t m_connections(worker_t *w) { return LOAD(w->connections); }
static uint64_t m_channels(worker_t *w) { return LOAD(w->pubsub.channels_joined); }
static uint64_t m_messages_in(worker_t *w) { return LOAD(w->pubsub.messages_in); }
static uint64_t m_frames_out(worker_t *w) { return LOAD(w->pubsub.frames_out); }
static uint64_t m_broadcasts(worker_t *w) { return LOAD(w->pubsub.broadcasts); }
static uint64_t m_bytes_in(worker_t *w) { return LOAD(w->bytes_in); }
static uint64_t m_bytes_out(worker_t *w) { return LOAD(w->bytes_out); }
static uint64_t m_docs(worker_t *w) { shared_docs_stats_t s; shared_docs_stats(w, &s); return (uint64_t)s.open; }
static uint64_t m_updates(worker_t *w) { shared_docs_stats_t s; shared_docs_stats(w, &s); return s.updates; }
static uint64_t m_awareness(worker_t *w) { shared_docs_stats_t s; shared_docs_stats(w, &s); return s.awareness_updates; }
static uint64_t m_writes(worker_t *w) { shared_docs_stats_t s; shared_docs_stats(w, &s); return s.storage_writes; }
#undef LOAD

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

void metrics_render(server_t *srv, buf_t *out) {
  for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
    const metric_t *m = &metrics[i];
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
    for (int w = 0; w < srv->nworkers; w++)
      buf_printf(out, "%s{worker=\"%d\"} %llu\n", m->name, w,
                 (unsigned long long)m->read(&srv->workers[w]));
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  buf_printf(out, "# HELP cinder_uptime_seconds Seconds since the server started.\n"
                  "# TYPE cinder_uptime_seconds gauge\ncinder_uptime_seconds %.3f\n",
             (double)(now_ms - srv->started_ms) / 1000.0);
  buf_printf(out, "# HELP cinder_workers Worker threads.\n# TYPE cinder_workers gauge\n"
                  "cinder_workers %d\n", srv->nworkers);
  buf_printf(out, "# HELP cinder_info Build information.\n# TYPE cinder_info gauge\n"
                  "cinder_info{version=\"%s\"} 1\n", CINDER_VERSION);
}
