/* Leases: one holder of a name in the cluster, kept in Redis (see cluster.h).
 *
 * Each operation is one Lua script, so that checking the holder and changing the key are one
 * atomic step in Redis (a GET then a SET from the client could interleave with another node's):
 *   take/renew: SET NX PX; if the key exists and holds us, extend its TTL; else answer the holder.
 *   release:    delete the key only if it holds us (a lease that expired and went to another node
 *               is not ours to delete).
 * Every lease this node takes is also listed in the set cinder:leases:<incarnation>, so that a
 * node stopping gives them all back in one script before its goodbye: the peers then take its
 * documents over at once instead of after the TTL. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cluster/cluster_internal.h"
#include "core/log.h"
#include "core/mem.h"

static const char lease_take_script[] =
    "local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) "
    "if ok then redis.call('SADD', KEYS[2], KEYS[1]) return 1 end "
    "local v = redis.call('GET', KEYS[1]) "
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "if v then return v end "
    "return 0";

static const char lease_release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end "
    "redis.call('SREM', KEYS[2], KEYS[1]) return 1";

static const char lease_release_all_script[] =
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end end "
    "redis.call('DEL', KEYS[1]) return 1";

typedef struct lease_req {
  cluster_t *c;
  int worker;
  cluster_lease_fn done;
  size_t len;
  char name[];
} lease_req_t;

static void lease_keys(const cluster_t *c, char *self, char *set) {
  snprintf(self, 17, "%016" PRIx64, c->self);
  snprintf(set, 40, "cinder:leases:%016" PRIx64, c->self);
}

static void on_lease_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)ac;
  lease_req_t *req = privdata;
  redisReply *r = reply;
  int result = CLUSTER_LEASE_UNKNOWN;
  uint64_t holder = 0;
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
    result = CLUSTER_LEASE_HELD;
  } else if (r && r->type == REDIS_REPLY_STRING) {
    char *end = NULL;
    holder = strtoull(r->str, &end, 16);
    result = end && *end == '\0' && holder ? CLUSTER_LEASE_TAKEN : CLUSTER_LEASE_UNKNOWN;
  } else if (r && r->type == REDIS_REPLY_ERROR) {
    log_warn("cluster: lease script failed: %s", r->str);
  }
  cluster_post_lease_done(req->c, req->worker, req->done, req->name, req->len, result, holder);
  free(req);
}

void cluster_lease_run(cluster_t *c, bus_item_t *it) {
  char self[17], set[40], key[64 + CLUSTER_MSG_MAX_NAME];
  lease_keys(c, self, set);
  int klen = snprintf(key, sizeof key, "cinder:lease:%.*s", (int)it->len, (const char *)it->data);
  if (!c->pub || !c->subscribed) {
    if (it->kind == BUS_LEASE)
      cluster_post_lease_done(c, it->worker, it->lease_done, (const char *)it->data, it->len,
                              CLUSTER_LEASE_UNKNOWN, 0);
    return;
  }
  if (it->kind == BUS_RELEASE) {
    redisAsyncCommand(c->pub, NULL, NULL, "EVAL %s 2 %b %s %s", lease_release_script, key,
                      (size_t)klen, set, self);
    return;
  }
  lease_req_t *req = xmalloc(sizeof *req + it->len);
  req->c = c;
  req->worker = it->worker;
  req->done = it->lease_done;
  req->len = it->len;
  memcpy(req->name, it->data, it->len);
  redisAsyncCommand(c->pub, on_lease_reply, req, "EVAL %s 2 %b %s %s %u", lease_take_script, key,
                    (size_t)klen, set, self, it->ttl_ms);
}

void cluster_lease_release_all(cluster_t *c) {
  if (!c->pub || !c->subscribed) return;
  char self[17], set[40];
  lease_keys(c, self, set);
  redisAsyncCommand(c->pub, NULL, NULL, "EVAL %s 1 %s %s", lease_release_all_script, set, self);
}

/* --- any thread ---------------------------------------------------------------------------------- */

void cluster_lease_acquire(cluster_t *c, const char *name, unsigned ttl_ms, int worker,
                           cluster_lease_fn done) {
  size_t n = strlen(name);
  if (n > CLUSTER_MSG_MAX_NAME || atomic_load(&c->stopping)) {
    cluster_post_lease_done(c, worker, done, name, n, CLUSTER_LEASE_UNKNOWN, 0);
    return;
  }
  bus_item_t *it = cluster_item_new(BUS_LEASE, name, n);
  it->worker = worker;
  it->lease_done = done;
  it->ttl_ms = ttl_ms;
  cluster_push(c, it);
}

void cluster_lease_release(cluster_t *c, const char *name) {
  size_t n = strlen(name);
  if (n > CLUSTER_MSG_MAX_NAME) return;
  cluster_push(c, cluster_item_new(BUS_RELEASE, name, n));
}

uint64_t cluster_self(const cluster_t *c) { return c->self; }
