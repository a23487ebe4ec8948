#ifndef CINDER_CLUSTER_URL_H
#define CINDER_CLUSTER_URL_H
/* Redis URLs as Redis clients write them: redis://[[user]:password@]host[:port][/db]
 * (user and password percent-decoded; host a name, an IPv4 address or [an IPv6 address];
 * port 6379 by default; db 0 by default, 0..15 as in a stock redis.conf — pub/sub ignores it, the
 * keys of a cluster's leases use it). */
#include <stdbool.h>

typedef struct cluster_redis_url {
  char host[256];
  int port;
  char user[128];     /* empty: none (AUTH password only, the pre-ACL form) */
  char password[256]; /* empty: no AUTH */
  int db;
} cluster_redis_url_t;

/* 0, or -1 with *why (a static string) set. */
int cluster_redis_url_parse(const char *url, cluster_redis_url_t *out, const char **why);

#endif
