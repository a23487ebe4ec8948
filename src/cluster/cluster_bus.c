/* The bus thread: the protocol between nodes (see cluster_msg.h for the bytes).
 *
 * ONE CHANNEL. Every node publishes to and subscribes to one Redis channel, as Phoenix.PubSub's
 * Redis adapter does: each broadcast reaches each node once (one Redis message per node, never
 * per subscriber), and a node delivers it to its own subscribers with the usual shared frames.
 * Per-topic channels would spare a node the broadcasts of topics it has no subscriber for, but a
 * SUBSCRIBE takes a round trip to Redis: a client that joined and was answered could still miss
 * the broadcasts sent meanwhile from other nodes. With one channel a join is as good as on one
 * node: from the reply on, every broadcast of the topic reaches it. The price, a message to each
 * node for every broadcast, is a hash lookup on a node without subscribers (BENCHMARKS.md
 * "Cluster").
 *
 * ORDER AND LOSS. Redis keeps the order of one connection's PUBLISHes, the bus publishes in the
 * order workers handed messages over (one FIFO inbox), so one publisher's messages arrive in
 * order everywhere. Every message carries its sender's sequence number; a receiver that sees a
 * gap (Redis restarted, a connection dropped, a message dropped at a full queue) knows it may
 * have missed members joining or leaving, and asks that peer for its members again.
 *
 * PRESENCE, as Phoenix.Tracker does it: each node is the authority on its own members. It sends
 * each track and untrack (TRACK, UNTRACK); every node keeps the members of the others in the same
 * presence tables as its own (phx_presence_remote_*), so joins, diffs and /api/presence see the
 * whole cluster. A state transfer (DUMP_REQUEST → DUMP_PART… → DUMP_END) brings a peer's full
 * list when a node first hears of it or after a gap: parts confirm members (epoch e), the end
 * removes the members of that peer the transfer did not confirm. A member that stays is never
 * removed and added again, so lists do not flicker.
 *
 * LIVENESS. Heartbeats every timeout/5 (at least 100 ms); a peer silent for the timeout is down
 * and its members leave on every node. A node that restarts is a new incarnation: the old one is
 * dropped as soon as a heartbeat shows the same name with a new incarnation, so its old members
 * never come back. A node that stops says BYE. While Redis is unreachable every peer times out
 * here and every node serves its own clients; when it is back, heartbeats find the peers again
 * and transfers restore the lists. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/cluster_internal.h"
#include "core/log.h"
#include "core/mem.h"
#include "phx/phx_pubsub.h"

#define QUERY_TIMEOUT_MS 1000
#define STOP_DEADLINE_MS 1000
#define DEFAULT_MAX_QUEUE 100000

/* --- producers -------------------------------------------------------------------------------- */

bus_item_t *cluster_item_new(bus_item_kind_t kind, const void *data, size_t len) {
  bus_item_t *it = xmalloc(sizeof *it + len);
  memset(it, 0, sizeof *it);
  it->kind = kind;
  it->len = len;
  if (len) memcpy(it->data, data, len);
  return it;
}

void cluster_push(cluster_t *c, bus_item_t *it) {
  if (atomic_load_explicit(&c->stopping, memory_order_acquire) && it->kind != BUS_STOP) {
    free(it);
    return;
  }
  size_t q = atomic_fetch_add_explicit(&c->queued, 1, memory_order_relaxed);
  size_t qb = atomic_fetch_add_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
  if ((q >= c->max_queue || qb + it->len > CLUSTER_MAX_QUEUE_BYTES) && it->kind == BUS_PUBLISH) {
    /* Redis is slower than this node produces: drop, count, and leave a gap for the peers. */
    atomic_fetch_sub_explicit(&c->queued, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->lost, 1, memory_order_relaxed);
    free(it);
    return;
  }
  if (inbox_push(&c->inbox, &it->node)) uv_async_send(&c->wake);
}

void cluster_push_message(cluster_t *c, buf_t *msg) {
  bus_item_t *it = cluster_item_new(BUS_PUBLISH, msg->data, msg->len);
  buf_free(msg);
  cluster_push(c, it);
}

/* A message the bus itself sends (heartbeats, transfers, queries). */
static void bus_send(cluster_t *c, buf_t *msg) {
  bus_item_t *it = cluster_item_new(BUS_PUBLISH, msg->data, msg->len);
  buf_free(msg);
  atomic_fetch_add_explicit(&c->queued, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
  cluster_redis_send(c, it);
}

/* --- peers ------------------------------------------------------------------------------------- */

static cluster_peer_t *peer_get(cluster_t *c, uint64_t inc) {
  return dict_get(&c->peers, (const char *)&inc, sizeof inc);
}

static void bus_request_dump(cluster_t *c, cluster_peer_t *p) {
  p->epoch++;
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_DUMP_REQUEST, c->self);
  cluster_msg_put_u64(&b, p->incarnation);
  cluster_msg_put_u32(&b, p->epoch);
  bus_send(c, &b);
}

static cluster_peer_t *peer_add(cluster_t *c, uint64_t inc, uint64_t seq) {
  cluster_peer_t *p = xcalloc(1, sizeof *p);
  p->incarnation = inc;
  p->slot = ++c->next_slot;
  p->last_seq = seq;
  uv_mutex_lock(&c->lock);
  dict_set(&c->peers, (const char *)&inc, sizeof inc, p);
  uv_mutex_unlock(&c->lock);
  atomic_fetch_add(&c->nodes, 1);
  return p;
}

static void peer_down(cluster_t *c, cluster_peer_t *p, const char *why) {
  log_info("cluster: node %s (%016llx) is down: %s; its members leave", p->name ? p->name : "?",
           (unsigned long long)p->incarnation, why);
  cluster_post_sweep(c, p->slot, UINT32_MAX);
  if (c->app.node_down) c->app.node_down(c->app.arg, p->incarnation);
  uv_mutex_lock(&c->lock);
  dict_delete(&c->peers, (const char *)&p->incarnation, sizeof p->incarnation);
  uv_mutex_unlock(&c->lock);
  atomic_fetch_sub(&c->nodes, 1);
  free(p->name);
  free(p->sample);
  free(p);
}

static void bus_heartbeat(cluster_t *c) {
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_HEARTBEAT, c->self);
  cluster_msg_put_str(&b, c->node_name, strlen(c->node_name));
  uv_mutex_lock(&c->lock);
  cluster_msg_put_str(&b, c->sample ? c->sample : "", c->sample ? strlen(c->sample) : 0);
  uv_mutex_unlock(&c->lock);
  bus_send(c, &b);
}

static void on_heartbeat(cluster_t *c, cluster_peer_t *p, const cluster_msg_t *m) {
  bool named = p->name && strlen(p->name) == m->name.len && !memcmp(p->name, m->name.p, m->name.len);
  if (!named) {
    /* The same name under another incarnation: that node restarted; its past is gone. */
    cluster_peer_t *stale = NULL;
    for (dict_iter_t it = dict_iter(&c->peers); dict_next(&it) && !stale;) {
      cluster_peer_t *q = it.entry->value;
      if (q != p && q->name && strlen(q->name) == m->name.len &&
          !memcmp(q->name, m->name.p, m->name.len))
        stale = q;
    }
    if (stale) peer_down(c, stale, "restarted as a new incarnation");
    if (!p->name) log_info("cluster: node %.*s joined (%016llx)", (int)m->name.len, m->name.p,
                           (unsigned long long)p->incarnation);
  }
  uv_mutex_lock(&c->lock);
  if (!named) {
    free(p->name);
    p->name = xstrndup(m->name.p, m->name.len);
  }
  if (m->sample.len) {
    free(p->sample);
    p->sample = xstrndup(m->sample.p, m->sample.len);
  }
  uv_mutex_unlock(&c->lock);
}

/* --- queries and transfers --------------------------------------------------------------------- */

static void query_add_answer(cluster_t *c, uint64_t id, const char *body, size_t len) {
  for (cluster_query_t **link = &c->queries, *q; (q = *link); link = &q->next) {
    if (q->id != id) continue;
    if (q->nanswers == q->capanswers) {
      q->capanswers = q->capanswers ? 2 * q->capanswers : 4;
      q->answers = xrealloc(q->answers, q->capanswers * sizeof *q->answers);
    }
    q->answers[q->nanswers++] = xstrndup(body, len);
    if ((int)q->nanswers >= q->expected) {
      *link = q->next;
      cluster_post_query_done(c, q);
    }
    return;
  }
}

static void query_start(cluster_t *c, bus_item_t *it) {
  cluster_query_t *q = xcalloc(1, sizeof *q);
  q->id = ++c->next_id;
  q->worker = it->worker;
  q->done = it->done;
  q->ctx = it->ctx;
  q->expected = 1 + (c->subscribed ? (int)c->peers.count : 0);
  q->deadline = uv_now(&c->loop) + QUERY_TIMEOUT_MS;
  q->next = c->queries;
  c->queries = q;
  if (c->subscribed && c->peers.count) {
    buf_t b = BUF_INIT;
    cluster_msg_begin(&b, CLUSTER_MSG_QUERY, c->self);
    cluster_msg_put_u64(&b, q->id);
    cluster_msg_put_u8(&b, CLUSTER_QUERY_TOPICS);
    bus_send(c, &b);
  }
  cluster_post_topics(c, c->self, q->id);
}

static void queries_expire(cluster_t *c, bool all) {
  uint64_t now = uv_now(&c->loop);
  for (cluster_query_t **link = &c->queries, *q; (q = *link);) {
    if (!all && q->deadline > now) {
      link = &q->next;
      continue;
    }
    *link = q->next;
    cluster_post_query_done(c, q); /* with the answers that came */
  }
}

static void dump_done(cluster_t *c, uint64_t id) {
  for (cluster_dump_job_t **link = &c->jobs, *j; (j = *link); link = &j->next) {
    if (j->id != id) continue;
    if (--j->remaining) return;
    *link = j->next;
    buf_t b = BUF_INIT;
    cluster_msg_begin(&b, CLUSTER_MSG_DUMP_END, c->self);
    cluster_msg_put_u64(&b, j->target);
    cluster_msg_put_u32(&b, j->epoch);
    bus_send(c, &b);
    free(j);
    return;
  }
}

static void dump_start(cluster_t *c, uint64_t target, uint32_t epoch) {
  cluster_dump_job_t *j = xcalloc(1, sizeof *j);
  j->id = ++c->next_id;
  j->target = target;
  j->epoch = epoch;
  j->remaining = c->poster->nworkers;
  j->next = c->jobs;
  c->jobs = j;
  cluster_post_dump(c, j->id, target, epoch);
}

/* --- receiving --------------------------------------------------------------------------------- */

static void bus_invalid(cluster_t *c, const char *why, size_t len) {
  atomic_fetch_add_explicit(&c->invalid, 1, memory_order_relaxed);
  uint64_t now = uv_now(&c->loop);
  if (c->invalid_log_ms && now - c->invalid_log_ms < 1000) {
    c->invalid_skipped++;
    return;
  }
  log_warn("cluster: invalid bus message dropped (%s, %zu bytes) (%llu more since the last line)",
           why, len, (unsigned long long)c->invalid_skipped);
  c->invalid_log_ms = now ? now : 1;
  c->invalid_skipped = 0;
}

static void on_broadcast(cluster_t *c, const cluster_msg_t *m) {
  char topic[CLUSTER_MSG_MAX_NAME + 1], event[CLUSTER_MSG_MAX_NAME + 1];
  memcpy(topic, m->topic.p, m->topic.len);
  topic[m->topic.len] = '\0';
  memcpy(event, m->event.p, m->event.len);
  event[m->event.len] = '\0';
  /* Encoded once for this node; every worker queues references to the same frames. */
  phx_broadcast_t *bc = phx_broadcast_new(topic, event, m->binary, m->payload.p, m->payload.len);
  if (bc) phx_pubsub_post_all(c->poster, bc);
}

void cluster_bus_receive(cluster_t *c, const uint8_t *data, size_t len) {
  cluster_msg_t m;
  const char *why;
  if (cluster_msg_decode(data, len, &m, &why)) {
    bus_invalid(c, why, len);
    return;
  }
  if (m.node == c->self) { /* our own, delivered here already: proof the bus works */
    c->last_echo_ms = uv_now(&c->loop);
    return;
  }
  atomic_fetch_add_explicit(&c->messages_in, 1, memory_order_relaxed);
  cluster_peer_t *p = peer_get(c, m.node);
  if (!p) {
    if (m.type == CLUSTER_MSG_BYE) return;
    p = peer_add(c, m.node, m.seq);
    bus_request_dump(c, p);
  } else if (m.seq <= p->last_seq) {
    bus_invalid(c, "sequence went back", len);
    return;
  } else {
    bool gap = m.seq != p->last_seq + 1;
    p->last_seq = m.seq;
    if (gap) {
      log_info("cluster: messages from %s were lost; asking for its members again",
               p->name ? p->name : "a peer");
      bus_request_dump(c, p);
    }
  }
  p->last_seen = uv_now(&c->loop);
  switch (m.type) {
  case CLUSTER_MSG_HEARTBEAT:
    on_heartbeat(c, p, &m);
    break;
  case CLUSTER_MSG_BYE:
    peer_down(c, p, "it left");
    break;
  case CLUSTER_MSG_BROADCAST:
    on_broadcast(c, &m);
    break;
  case CLUSTER_MSG_TRACK:
    cluster_post_track(c, &m.topic, p->slot, p->epoch, m.channel_id, &m.key, &m.meta);
    break;
  case CLUSTER_MSG_UNTRACK:
    cluster_post_untrack(c, &m.topic, p->slot, m.channel_id);
    break;
  case CLUSTER_MSG_DUMP_REQUEST:
    if (m.target == c->self) dump_start(c, m.node, m.epoch);
    break;
  case CLUSTER_MSG_DUMP_PART:
    if (m.target != c->self || m.epoch != p->epoch) break; /* another's, or superseded */
    for (const uint8_t *pos = m.entries; pos < m.entries_end;) {
      uint64_t id;
      cluster_str_t key, meta;
      if (!cluster_msg_next_entry(&pos, m.entries_end, &id, &key, &meta)) break;
      cluster_post_track(c, &m.topic, p->slot, p->epoch, id, &key, &meta);
    }
    break;
  case CLUSTER_MSG_DUMP_END:
    if (m.target == c->self && m.epoch == p->epoch) cluster_post_sweep(c, p->slot, p->epoch);
    break;
  case CLUSTER_MSG_QUERY:
    cluster_post_topics(c, m.node, m.query_id);
    break;
  case CLUSTER_MSG_ANSWER:
    if (m.target == c->self) query_add_answer(c, m.query_id, m.body.p, m.body.len);
    break;
  case CLUSTER_MSG_APP:
    if ((!m.target || m.target == c->self) && c->app.message)
      c->app.message(c->app.arg, m.node, (const uint8_t *)m.body.p, m.body.len);
    break;
  }
}

void cluster_bus_connected(cluster_t *c) {
  atomic_store(&c->up, true);
  bus_heartbeat(c); /* the peers learn of us now, not a beat later */
}

void cluster_bus_disconnected(cluster_t *c) { atomic_store(&c->up, false); }

/* --- the loop ---------------------------------------------------------------------------------- */

static void on_beat(uv_timer_t *t) {
  cluster_t *c = t->data;
  cluster_redis_check(c);
  if (c->subscribed) bus_heartbeat(c);
  uint64_t now = uv_now(&c->loop);
  cluster_peer_t *silent[64];
  size_t n = 0;
  for (dict_iter_t it = dict_iter(&c->peers); dict_next(&it) && n < 64;) {
    cluster_peer_t *p = it.entry->value;
    if (now - p->last_seen > c->timeout_ms) silent[n++] = p;
  }
  for (size_t i = 0; i < n; i++) peer_down(c, silent[i], "no heartbeat within the timeout");
  queries_expire(c, false);
}

/* The loop stops here but keeps its handles until cluster_free: a worker may still hand over a
 * message (it is dropped) and wake the loop, which must then be a valid handle. */
void cluster_bus_redis_closed(cluster_t *c) {
  if (c->stopped_loop) return;
  c->stopped_loop = true;
  uv_timer_stop(&c->beat);
  uv_timer_stop(&c->retry);
  uv_timer_stop(&c->stop_deadline);
  uv_stop(&c->loop);
}

static void on_stop_deadline(uv_timer_t *t) {
  cluster_t *c = t->data;
  log_warn("cluster: Redis did not answer the goodbye in time; closing");
  cluster_redis_close(c);
  cluster_bus_redis_closed(c);
}

static void bus_stop(cluster_t *c) {
  uv_timer_stop(&c->beat);
  queries_expire(c, true);
  if (c->pub && c->subscribed) {
    cluster_lease_release_all(c); /* before the goodbye: peers take over at once */
    buf_t b = BUF_INIT;
    cluster_msg_begin(&b, CLUSTER_MSG_BYE, c->self);
    bus_send(c, &b);
  }
  atomic_store(&c->up, false);
  uv_timer_start(&c->stop_deadline, on_stop_deadline, STOP_DEADLINE_MS, 0);
  cluster_redis_stop(c);
}

static void on_wake(uv_async_t *a) {
  cluster_t *c = a->data;
  for (inbox_node_t *n = inbox_take_all(&c->inbox), *next; n; n = next) {
    next = n->next;
    bus_item_t *it = (bus_item_t *)n;
    if (c->stopped_loop) {
      atomic_fetch_sub_explicit(&c->queued, 1, memory_order_relaxed);
      atomic_fetch_sub_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
      free(it);
      continue;
    }
    switch (it->kind) {
    case BUS_PUBLISH:
      cluster_redis_send(c, it);
      continue; /* taken */
    case BUS_DUMP_DONE:
      dump_done(c, it->id);
      break;
    case BUS_QUERY:
      query_start(c, it);
      break;
    case BUS_ANSWER_LOCAL:
      query_add_answer(c, it->id, (const char *)it->data, it->len);
      break;
    case BUS_STOP:
      bus_stop(c);
      break;
    case BUS_LEASE:
    case BUS_RELEASE:
      cluster_lease_run(c, it);
      break;
    }
    atomic_fetch_sub_explicit(&c->queued, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
    free(it);
  }
}

static void bus_thread(void *arg) {
  cluster_t *c = arg;
  log_set_thread_name("bus");
  cluster_redis_connect(c);
  uv_timer_start(&c->beat, on_beat, c->beat_ms, c->beat_ms);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  /* Items pushed after the loop ended (a worker's late message) are freed by cluster_free. */
}

/* --- public ------------------------------------------------------------------------------------ */

static uint64_t random_u64(void) {
  uint64_t v = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f) {
    if (fread(&v, sizeof v, 1, f) != 1) v = 0;
    fclose(f);
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  v ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 32;
  return v ? v : 1;
}

cluster_t *cluster_new(const cluster_config_t *cfg, const char **why) {
  cluster_t *c = xcalloc(1, sizeof *c);
  if (cluster_redis_url_parse(cfg->redis_url, &c->url, why)) {
    free(c);
    return NULL;
  }
  c->self = random_u64();
  c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
  c->beat_ms = c->timeout_ms / 5 < 100 ? 100 : c->timeout_ms / 5;
  c->max_queue = cfg->max_queue ? cfg->max_queue : DEFAULT_MAX_QUEUE;
  inbox_init(&c->inbox);
  dict_init(&c->peers);
  uv_mutex_init(&c->lock);
  atomic_store(&c->nodes, 1);
  srand((unsigned)c->self);
  cluster_link_init(c);
  return c;
}

const phx_cluster_link_t *cluster_link(cluster_t *c) { return &c->link; }
const char *cluster_node_name(const cluster_t *c) { return c->node_name; }

int cluster_start(cluster_t *c, const task_poster_t *poster, const char *node_name) {
  c->poster = poster;
  c->node_name = xstrdup(node_name);
  json_t *js = json_string(node_name);
  c->node_json = js ? json_dumps(js, JSON_ENCODE_ANY) : xstrdup("\"?\"");
  json_decref(js);
  c->link.node_json = c->node_json;
  uv_loop_init(&c->loop);
  uv_async_init(&c->loop, &c->wake, on_wake);
  c->wake.data = c;
  uv_timer_init(&c->loop, &c->beat);
  c->beat.data = c;
  uv_timer_init(&c->loop, &c->retry);
  c->retry.data = c;
  uv_timer_init(&c->loop, &c->stop_deadline);
  c->stop_deadline.data = c;
  log_info("cluster: node %s, Redis at %s:%d, peers down after %u ms without a heartbeat",
           c->node_name, c->url.host, c->url.port, c->timeout_ms);
  if (uv_thread_create(&c->thread, bus_thread, c)) return -1;
  c->thread_started = true;
  return 0;
}

void cluster_stop(cluster_t *c) {
  if (!c->thread_started || atomic_exchange(&c->stopping, true)) return;
  cluster_push(c, cluster_item_new(BUS_STOP, NULL, 0));
  uv_thread_join(&c->thread);
  c->thread_started = false;
}

void cluster_free(cluster_t *c) {
  if (!c) return;
  cluster_stop(c);
  for (inbox_node_t *n = inbox_take_all(&c->inbox), *next; n; n = next) {
    next = n->next;
    free(n);
  }
  if (c->poster) {
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->beat, NULL);
    uv_close((uv_handle_t *)&c->retry, NULL);
    uv_close((uv_handle_t *)&c->stop_deadline, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT); /* the closes, and hiredis's own handles */
    uv_loop_close(&c->loop);
  }
  for (dict_iter_t it = dict_iter(&c->peers); dict_next(&it);) {
    cluster_peer_t *p = it.entry->value;
    free(p->name);
    free(p->sample);
    free(p);
  }
  dict_free(&c->peers);
  while (c->jobs) {
    cluster_dump_job_t *j = c->jobs;
    c->jobs = j->next;
    free(j);
  }
  uv_mutex_destroy(&c->lock);
  free(c->sample);
  free(c->node_name);
  free(c->node_json);
  free(c);
}

void cluster_stats(cluster_t *c, cluster_stats_t *out) {
  out->up = atomic_load(&c->up);
  out->nodes = atomic_load(&c->nodes);
  out->messages_out = atomic_load(&c->messages_out);
  out->messages_in = atomic_load(&c->messages_in);
  out->dropped = atomic_load(&c->dropped);
  out->invalid = atomic_load(&c->invalid);
  out->reconnects = atomic_load(&c->reconnects);
}

void cluster_set_sample(cluster_t *c, const char *json, size_t len) {
  uv_mutex_lock(&c->lock);
  free(c->sample);
  c->sample = xstrndup(json, len);
  uv_mutex_unlock(&c->lock);
}

void cluster_each_peer_sample(cluster_t *c, void (*each)(void *arg, const char *json), void *arg) {
  uv_mutex_lock(&c->lock);
  for (dict_iter_t it = dict_iter(&c->peers); dict_next(&it);) {
    const cluster_peer_t *p = it.entry->value;
    if (p->sample) each(arg, p->sample);
  }
  uv_mutex_unlock(&c->lock);
}

void cluster_query_topics(cluster_t *c, int worker, cluster_topics_done_fn done, void *ctx) {
  bus_item_t *it = cluster_item_new(BUS_QUERY, NULL, 0);
  it->worker = worker;
  it->done = done;
  it->ctx = ctx;
  if (atomic_load(&c->stopping)) {
    free(it);
    done(ctx, NULL, 0);
    return;
  }
  cluster_push(c, it);
}

void cluster_set_app_handler(cluster_t *c, const cluster_app_handler_t *h) { c->app = *h; }
const task_poster_t *cluster_poster(const cluster_t *c) { return c->poster; }

void cluster_send_app(cluster_t *c, uint64_t target, const void *body, size_t len) {
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_APP, c->self);
  cluster_msg_put_u64(&b, target);
  cluster_msg_put_str(&b, body, len);
  cluster_push_message(c, &b);
}
