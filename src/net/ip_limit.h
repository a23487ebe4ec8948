#ifndef CINDER_NET_IP_LIMIT_H
#define CINDER_NET_IP_LIMIT_H
/* ip_limit_t: how many of something (connections, LongPoll sessions) each client address holds,
 * server-wide, with a cap. Workers accept on their own, so the table is shared: a mutex guards it,
 * taken once when a connection or session opens and once when it ends — never per message.
 * A cap of 0 turns the table off (nothing is counted, everything is admitted). */
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/dict.h"

typedef struct ip_limit {
  size_t cap;
  uv_mutex_t lock;
  dict_t counts; /* address text -> (void *)count */
} ip_limit_t;

void ip_limit_init(ip_limit_t *l, size_t cap);
void ip_limit_free(ip_limit_t *l);
/* Count one more for ip unless it already holds `cap`; false: refused (nothing counted). */
bool ip_limit_enter(ip_limit_t *l, const char *ip);
/* One fewer for ip (after a successful enter). */
void ip_limit_leave(ip_limit_t *l, const char *ip);

/* The address part of "ip:port" (IPv4 or IPv6 without brackets) into out. */
void ip_of_peer(const char *peer, char *out, size_t outlen);

#endif
