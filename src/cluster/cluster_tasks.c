/* The cluster's side of the workers: the link hooks (a worker encodes one bus message and hands
 * it over) and the tasks the bus posts to workers (members of other nodes, state transfers,
 * topic counts, query answers). */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_internal.h"
#include "core/mem.h"
#include "phx/phx_presence.h"

#define DUMP_PART_BYTES 65536 /* a state transfer's messages stay about this size */

/* --- link hooks (worker threads) --------------------------------------------------------------- */

static void link_publish(void *arg, const phx_broadcast_t *bc) {
  cluster_t *c = arg;
  size_t len;
  const void *payload = phx_broadcast_payload(bc, &len);
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_BROADCAST, c->self);
  cluster_msg_put_str(&b, bc->topic, strlen(bc->topic));
  cluster_msg_put_str(&b, bc->event, strlen(bc->event));
  cluster_msg_put_u8(&b, bc->binary);
  cluster_msg_put_str(&b, payload, len);
  cluster_push_message(c, &b);
}

static void link_track(void *arg, const char *topic, uint64_t channel_id, const char *key,
                       const char *meta, size_t meta_len) {
  cluster_t *c = arg;
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_TRACK, c->self);
  cluster_msg_put_str(&b, topic, strlen(topic));
  cluster_msg_put_u64(&b, channel_id);
  cluster_msg_put_str(&b, key, strlen(key));
  cluster_msg_put_str(&b, meta, meta_len);
  cluster_push_message(c, &b);
}

static void link_untrack(void *arg, const char *topic, uint64_t channel_id) {
  cluster_t *c = arg;
  buf_t b = BUF_INIT;
  cluster_msg_begin(&b, CLUSTER_MSG_UNTRACK, c->self);
  cluster_msg_put_str(&b, topic, strlen(topic));
  cluster_msg_put_u64(&b, channel_id);
  cluster_push_message(c, &b);
}

void cluster_link_init(cluster_t *c) {
  c->link = (phx_cluster_link_t){
      .arg = c,
      .node_json = c->node_json,
      .publish = link_publish,
      .presence_track = link_track,
      .presence_untrack = link_untrack,
  };
}

/* --- members of other nodes -------------------------------------------------------------------- */

typedef struct remote_task {
  task_t task;
  uint32_t slot, epoch;
  uint64_t channel_id;
  bool track;
  char *key, *meta;
  size_t meta_len;
  char topic[];
} remote_task_t;

static void remote_task_run(task_t *t, task_ctx_t *ctx) {
  remote_task_t *rt = (remote_task_t *)t;
  phx_pubsub_t *ps = ctx ? phx_pubsub_of(ctx) : NULL;
  if (ps && rt->track)
    phx_presence_remote_track(ps, rt->topic, rt->slot, rt->epoch, rt->channel_id, rt->key,
                              rt->meta, rt->meta_len);
  else if (ps)
    phx_presence_remote_untrack(ps, rt->topic, rt->slot, rt->channel_id);
  free(rt->key);
  free(rt->meta);
  free(rt);
}

static remote_task_t *remote_task_new(const cluster_str_t *topic, uint32_t slot,
                                      uint64_t channel_id) {
  remote_task_t *rt = xcalloc(1, sizeof *rt + topic->len + 1);
  rt->task.run = remote_task_run;
  memcpy(rt->topic, topic->p, topic->len);
  rt->slot = slot;
  rt->channel_id = channel_id;
  return rt;
}

static void remote_task_post(cluster_t *c, remote_task_t *rt) {
  task_post(c->poster, task_owner_of(c->poster, rt->topic, strlen(rt->topic)), &rt->task);
}

void cluster_post_track(cluster_t *c, const cluster_str_t *topic, uint32_t slot, uint32_t epoch,
                        uint64_t channel_id, const cluster_str_t *key, const cluster_str_t *meta) {
  remote_task_t *rt = remote_task_new(topic, slot, channel_id);
  rt->track = true;
  rt->epoch = epoch;
  rt->key = xstrndup(key->p, key->len);
  rt->meta = xstrndup(meta->p, meta->len);
  rt->meta_len = meta->len;
  remote_task_post(c, rt);
}

void cluster_post_untrack(cluster_t *c, const cluster_str_t *topic, uint32_t slot,
                          uint64_t channel_id) {
  remote_task_post(c, remote_task_new(topic, slot, channel_id));
}

typedef struct sweep_task {
  task_t task;
  uint32_t slot, before;
} sweep_task_t;

static void sweep_task_run(task_t *t, task_ctx_t *ctx) {
  sweep_task_t *st = (sweep_task_t *)t;
  phx_pubsub_t *ps = ctx ? phx_pubsub_of(ctx) : NULL;
  if (ps) phx_presence_remote_sweep(ps, st->slot, st->before);
  free(st);
}

void cluster_post_sweep(cluster_t *c, uint32_t slot, uint32_t before_epoch) {
  for (int w = 0; w < c->poster->nworkers; w++) {
    sweep_task_t *st = xcalloc(1, sizeof *st);
    st->task.run = sweep_task_run;
    st->slot = slot;
    st->before = before_epoch;
    task_post(c->poster, w, &st->task);
  }
}

/* --- state transfer: this node's members, from every worker ------------------------------------ */

typedef struct dump_task {
  task_t task;
  cluster_t *c;
  uint64_t job, target;
  uint32_t epoch;
  /* while running: the part being filled */
  buf_t part;
  char *topic;
  uint32_t count;
  size_t count_off;
} dump_task_t;

static void dump_flush(dump_task_t *d) {
  if (!d->topic) return;
  uint8_t *p = d->part.data + d->count_off;
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(d->count >> (8 * i));
  cluster_push_message(d->c, &d->part);
  free(d->topic);
  d->topic = NULL;
}

static void dump_each(void *arg, const char *topic, uint64_t channel_id, const char *key,
                      const char *meta, size_t meta_len) {
  dump_task_t *d = arg;
  if (d->topic && (strcmp(d->topic, topic) || d->part.len > DUMP_PART_BYTES)) dump_flush(d);
  if (!d->topic) {
    d->topic = xstrdup(topic);
    d->count = 0;
    cluster_msg_begin(&d->part, CLUSTER_MSG_DUMP_PART, d->c->self);
    cluster_msg_put_u64(&d->part, d->target);
    cluster_msg_put_u32(&d->part, d->epoch);
    cluster_msg_put_str(&d->part, topic, strlen(topic));
    d->count_off = d->part.len;
    cluster_msg_put_u32(&d->part, 0);
  }
  cluster_msg_put_u64(&d->part, channel_id);
  cluster_msg_put_str(&d->part, key, strlen(key));
  cluster_msg_put_str(&d->part, meta, meta_len);
  d->count++;
}

static void dump_task_run(task_t *t, task_ctx_t *ctx) {
  dump_task_t *d = (dump_task_t *)t;
  phx_pubsub_t *ps = ctx ? phx_pubsub_of(ctx) : NULL;
  if (ps) {
    phx_presence_local_each(ps, dump_each, d);
    dump_flush(d);
    /* After this worker's parts, in the same FIFO: the bus ends the transfer after the last. */
    bus_item_t *it = cluster_item_new(BUS_DUMP_DONE, NULL, 0);
    it->id = d->job;
    cluster_push(d->c, it);
  }
  free(d);
}

void cluster_post_dump(cluster_t *c, uint64_t job, uint64_t target, uint32_t epoch) {
  for (int w = 0; w < c->poster->nworkers; w++) {
    dump_task_t *d = xcalloc(1, sizeof *d);
    d->task.run = dump_task_run;
    d->c = c;
    d->job = job;
    d->target = target;
    d->epoch = epoch;
    task_post(c->poster, w, &d->task);
  }
}

/* --- topic counts: every worker adds its part, the last one answers ---------------------------- */

typedef struct topics_gather {
  cluster_t *c;
  uint64_t target, query_id;
  atomic_int remaining;
  uv_mutex_t lock;
  buf_t body; /* a JSON array of ["topic", count] pairs */
} topics_gather_t;

typedef struct topics_task {
  task_t task;
  topics_gather_t *g;
} topics_task_t;

static void topics_answer(topics_gather_t *g) {
  buf_append_byte(&g->body, ']');
  cluster_t *c = g->c;
  if (g->target == c->self) {
    bus_item_t *it = cluster_item_new(BUS_ANSWER_LOCAL, g->body.data, g->body.len);
    it->id = g->query_id;
    cluster_push(c, it);
  } else {
    buf_t b = BUF_INIT;
    cluster_msg_begin(&b, CLUSTER_MSG_ANSWER, c->self);
    cluster_msg_put_u64(&b, g->target);
    cluster_msg_put_u64(&b, g->query_id);
    cluster_msg_put_str(&b, g->body.data, g->body.len);
    cluster_push_message(c, &b);
  }
  buf_free(&g->body);
  uv_mutex_destroy(&g->lock);
  free(g);
}

static void topics_task_run(task_t *t, task_ctx_t *ctx) {
  topics_task_t *tt = (topics_task_t *)t;
  topics_gather_t *g = tt->g;
  phx_pubsub_t *ps = ctx ? phx_pubsub_of(ctx) : NULL;
  if (ps) {
    buf_t part = BUF_INIT;
    for (dict_iter_t it = dict_iter(&ps->topics); dict_next(&it);) {
      if (!strncmp(it.entry->key, "cinder:", 7)) continue; /* internal (net/server.h) */
      json_t *name = json_string(it.entry->key);
      char *q = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
      json_decref(name);
      if (!q) continue;
      buf_printf(&part, ",[%s,%zu]", q, phx_pubsub_local_count(ps, it.entry->key));
      free(q);
    }
    uv_mutex_lock(&g->lock);
    if (part.len) {
      bool first = g->body.len == 1; /* only the '[' so far */
      buf_append(&g->body, part.data + (first ? 1 : 0), part.len - (first ? 1 : 0));
    }
    uv_mutex_unlock(&g->lock);
    buf_free(&part);
  }
  free(tt);
  /* Released without running (shutdown): still count down, so the gather is freed. */
  if (atomic_fetch_sub(&g->remaining, 1) == 1) topics_answer(g);
}

void cluster_post_topics(cluster_t *c, uint64_t target, uint64_t query_id) {
  topics_gather_t *g = xcalloc(1, sizeof *g);
  g->c = c;
  g->target = target;
  g->query_id = query_id;
  atomic_init(&g->remaining, c->poster->nworkers);
  uv_mutex_init(&g->lock);
  buf_append_byte(&g->body, '[');
  for (int w = 0; w < c->poster->nworkers; w++) {
    topics_task_t *tt = xcalloc(1, sizeof *tt);
    tt->task.run = topics_task_run;
    tt->g = g;
    task_post(c->poster, w, &tt->task);
  }
}

/* --- a query's answers, back to the asking worker ---------------------------------------------- */

typedef struct query_done_task {
  task_t task;
  cluster_query_t *q;
} query_done_task_t;

static void query_done_run(task_t *t, task_ctx_t *ctx) {
  query_done_task_t *qt = (query_done_task_t *)t;
  cluster_query_t *q = qt->q;
  if (ctx) q->done(q->ctx, q->answers, q->nanswers);
  else q->done(q->ctx, NULL, 0); /* released at shutdown: the asker frees its context */
  for (size_t i = 0; i < q->nanswers; i++) free(q->answers[i]);
  free(q->answers);
  free(q);
  free(qt);
}

void cluster_post_query_done(cluster_t *c, cluster_query_t *q) {
  query_done_task_t *qt = xcalloc(1, sizeof *qt);
  qt->task.run = query_done_run;
  qt->q = q;
  task_post(c->poster, q->worker, &qt->task);
}

/* --- a lease's answer, back to the asking worker ---------------------------------------------- */

typedef struct lease_done_task {
  task_t task;
  cluster_lease_fn done;
  int result;
  uint64_t holder;
  char name[];
} lease_done_task_t;

static void lease_done_run(task_t *t, task_ctx_t *ctx) {
  lease_done_task_t *lt = (lease_done_task_t *)t;
  if (ctx) lt->done(ctx, lt->name, lt->result, lt->holder);
  free(lt);
}

void cluster_post_lease_done(cluster_t *c, int worker, cluster_lease_fn done, const char *name,
                             size_t name_len, int result, uint64_t holder) {
  lease_done_task_t *lt = xcalloc(1, sizeof *lt + name_len + 1);
  lt->task.run = lease_done_run;
  lt->done = done;
  lt->result = result;
  lt->holder = holder;
  memcpy(lt->name, name, name_len);
  task_post(c->poster, worker, &lt->task);
}
