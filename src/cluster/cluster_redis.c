/* The bus's two Redis connections, on the bus thread: one publishes, one subscribes (a
 * subscribed connection can do nothing else). hiredis's async API on the bus's own libuv loop,
 * so a slow or dead Redis never blocks anything but this thread, and this thread only queues.
 *
 * Both connections live and die together: when either is lost the other is closed, the cluster
 * is down (cinder_cluster_up 0) and one timer reconnects both, with a backoff that doubles from
 * 100 ms to 2 s and a ±25% jitter (so that nodes do not all knock at once when Redis is back).
 *
 * Sending: at most BUS_MAX_INFLIGHT PUBLISHes await their reply; more wait in a queue, bounded
 * by the producers' count (cluster_push: --cluster-max-queue). While Redis is down nothing is
 * queued: a message that cannot go is dropped and counted — after its sequence was stamped, so
 * the peers see the gap and ask for this node's members again (cluster_bus.c). */
#include <hiredis/adapters/libuv.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_internal.h"
#include "core/log.h"

#define BUS_CHANNEL "cinder:bus"
#define BUS_MAX_INFLIGHT 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_MS 1000

static void redis_schedule_retry(cluster_t *c);

static void redis_item_done(cluster_t *c, bus_item_t *it) {
  atomic_fetch_sub_explicit(&c->queued, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->queued_bytes, it->len, memory_order_relaxed);
  free(it);
}

static bool redis_can_send(const cluster_t *c) {
  return c->inflight < BUS_MAX_INFLIGHT && c->inflight_bytes < CLUSTER_MAX_INFLIGHT_BYTES;
}

static void redis_drop_queue(cluster_t *c) {
  while (c->queue_head) {
    bus_item_t *it = c->queue_head;
    c->queue_head = it->next;
    atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
    redis_item_done(c, it);
  }
  c->queue_tail = NULL;
}

static void redis_publish_now(cluster_t *c, bus_item_t *it);

/* privdata: the message's length (the bus is the one cluster of the process: c from ac). */
static void on_published(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)reply; /* NULL when the connection went: the message may or may not have gone out */
  cluster_t *c = ac->data;
  c->inflight--;
  c->inflight_bytes -= (size_t)(uintptr_t)privdata;
  while (c->queue_head && redis_can_send(c) && c->pub && c->subscribed) {
    bus_item_t *it = c->queue_head;
    c->queue_head = it->next;
    if (!c->queue_head) c->queue_tail = NULL;
    redis_publish_now(c, it);
  }
}

static void redis_publish_now(cluster_t *c, bus_item_t *it) {
  redisAsyncCommand(c->pub, on_published, (void *)(uintptr_t)it->len, "PUBLISH %s %b",
                    BUS_CHANNEL, it->data, it->len);
  c->inflight++;
  c->inflight_bytes += it->len;
  atomic_fetch_add_explicit(&c->messages_out, 1, memory_order_relaxed);
  redis_item_done(c, it);
}

void cluster_redis_send(cluster_t *c, bus_item_t *it) {
  /* Messages dropped before they reached us leave a gap too: skip their sequence numbers. */
  uint64_t lost = atomic_exchange_explicit(&c->lost, 0, memory_order_relaxed);
  c->seq += lost + 1;
  cluster_msg_stamp(it->data, c->seq);
  if (!c->pub || !c->subscribed) {
    atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
    redis_item_done(c, it);
    return;
  }
  if (redis_can_send(c) && !c->queue_head) {
    redis_publish_now(c, it);
    return;
  }
  it->next = NULL;
  if (c->queue_tail) c->queue_tail->next = it;
  else c->queue_head = it;
  c->queue_tail = it;
}

/* --- connections ------------------------------------------------------------------------------- */

/* One connection is gone (hiredis frees it after this): close the other, go down, retry. */
static void redis_lost(cluster_t *c, const redisAsyncContext *ac, const char *why) {
  bool was_up = c->subscribed;
  if (ac == c->pub) c->pub = NULL;
  if (ac == c->sub) c->sub = NULL;
  if (atomic_load(&c->stopping)) { /* cluster_redis_stop's goodbye went out (or failed) */
    cluster_redis_close(c);
    cluster_bus_redis_closed(c);
    return;
  }
  c->subscribed = false;
  if (c->pub) {
    redisAsyncContext *other = c->pub;
    c->pub = NULL;
    redisAsyncFree(other);
  }
  if (c->sub) {
    redisAsyncContext *other = c->sub;
    c->sub = NULL;
    redisAsyncFree(other);
  }
  redis_drop_queue(c);
  if (was_up) {
    log_warn("cluster: lost Redis at %s:%d (%s); serving local clients only, reconnecting",
             c->url.host, c->url.port, why);
    cluster_bus_disconnected(c);
  }
  if (!atomic_load(&c->stopping)) redis_schedule_retry(c);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  cluster_t *c = ac->data;
  log_debug("cluster: %s connection: %s", ac == c->pub ? "publishing" : "subscribing",
            status == REDIS_OK ? "connected" : ac->errstr);
  if (status != REDIS_OK) redis_lost(c, ac, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  cluster_t *c = ac->data;
  if (ac != c->pub && ac != c->sub) return; /* one we closed ourselves */
  redis_lost(c, ac, status == REDIS_OK ? "closed" : ac->errstr[0] ? ac->errstr : "error");
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata) {
  redisReply *r = reply;
  cluster_t *c = privdata;
  if (r && r->type == REDIS_REPLY_ERROR) {
    log_error("cluster: Redis refused AUTH: %s", r->str);
    if (ac == c->pub || ac == c->sub) redisAsyncDisconnect(ac);
  }
}

static void on_message(redisAsyncContext *ac, void *reply, void *privdata) {
  cluster_t *c = privdata;
  redisReply *r = reply;
  if (!r || ac != c->sub) return;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
    return;
  const char *kind = r->element[0]->str;
  if (!strcmp(kind, "subscribe")) {
    if (c->subscribed) return;
    c->subscribed = true;
    c->backoff_ms = 0;
    c->last_echo_ms = uv_now(&c->loop);
    log_info("cluster: node %s joined the bus at %s:%d", c->node_name, c->url.host, c->url.port);
    cluster_bus_connected(c);
  } else if (!strcmp(kind, "message") && r->element[2]->type == REDIS_REPLY_STRING) {
    cluster_bus_receive(c, (const uint8_t *)r->element[2]->str, r->element[2]->len);
  }
}

static redisAsyncContext *redis_open(cluster_t *c) {
  redisAsyncContext *ac = redisAsyncConnect(c->url.host, c->url.port);
  if (!ac) return NULL;
  if (ac->err) {
    log_warn("cluster: cannot connect to Redis at %s:%d: %s", c->url.host, c->url.port,
             ac->errstr);
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = c;
  redisLibuvAttach(ac, &c->loop);
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (c->url.password[0]) {
    if (c->url.user[0])
      redisAsyncCommand(ac, on_auth, c, "AUTH %s %s", c->url.user, c->url.password);
    else
      redisAsyncCommand(ac, on_auth, c, "AUTH %s", c->url.password);
  }
  if (c->url.db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", c->url.db); /* the leases' keys */
  return ac;
}

void cluster_redis_connect(cluster_t *c) {
  if (c->pub || c->sub || atomic_load(&c->stopping)) return;
  c->connect_started_ms = uv_now(&c->loop);
  c->pub = redis_open(c);
  c->sub = c->pub ? redis_open(c) : NULL;
  if (!c->pub || !c->sub) {
    if (c->pub) redisAsyncFree(c->pub);
    c->pub = c->sub = NULL;
    redis_schedule_retry(c);
    return;
  }
  redisAsyncCommand(c->sub, on_message, c, "SUBSCRIBE %s", BUS_CHANNEL);
}

static void on_retry(uv_timer_t *t) {
  cluster_t *c = t->data;
  log_debug("cluster: reconnecting to Redis at %s:%d", c->url.host, c->url.port);
  atomic_fetch_add_explicit(&c->reconnects, 1, memory_order_relaxed);
  cluster_redis_connect(c);
}

static void redis_schedule_retry(cluster_t *c) {
  if (uv_is_active((uv_handle_t *)&c->retry)) return;
  c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (c->backoff_ms > BACKOFF_MAX_MS) c->backoff_ms = BACKOFF_MAX_MS;
  unsigned jitter = c->backoff_ms / 4;
  unsigned delay = c->backoff_ms - jitter + (unsigned)(rand() % (int)(2 * jitter + 1));
  uv_timer_start(&c->retry, on_retry, delay, 0);
}

void cluster_redis_close(cluster_t *c) {
  uv_timer_stop(&c->retry);
  c->subscribed = false;
  redis_drop_queue(c);
  redisAsyncContext *pub = c->pub, *sub = c->sub;
  c->pub = c->sub = NULL;
  if (pub) redisAsyncFree(pub);
  if (sub) redisAsyncFree(sub);
}

void cluster_redis_stop(cluster_t *c) {
  if (!c->pub || !c->subscribed) {
    cluster_redis_close(c);
    cluster_bus_redis_closed(c);
    return;
  }
  /* The publishing connection closes once its pending replies (the goodbye's) are in. */
  redisAsyncContext *sub = c->sub;
  c->sub = NULL;
  redisAsyncFree(sub);
  redisAsyncDisconnect(c->pub);
}

/* hiredis does not see every failure: its libuv adapter ignores a poll error (libuv reports a
 * refused connect or a reset socket as one and stops the poll), so such a connection would hang
 * forever. So the bus judges the connections by their results: subscribed within
 * CONNECT_TIMEOUT_MS of connecting, and — once up — its own messages (every heartbeat) coming
 * back through the subscription within the timeout. Either failing is a lost connection. */
void cluster_redis_check(cluster_t *c) {
  uint64_t now = uv_now(&c->loop);
  if ((c->pub || c->sub) && !c->subscribed && now - c->connect_started_ms > CONNECT_TIMEOUT_MS)
    redis_lost(c, NULL, "no answer within 1 s");
  else if (c->subscribed && now - c->last_echo_ms > c->timeout_ms)
    redis_lost(c, NULL, "our own messages stopped coming back");
}
