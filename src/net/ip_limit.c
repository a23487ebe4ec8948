#include "net/ip_limit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void ip_limit_init(ip_limit_t *l, size_t cap) {
  l->cap = cap;
  uv_mutex_init(&l->lock);
  dict_init(&l->counts);
}

void ip_limit_free(ip_limit_t *l) {
  dict_free(&l->counts);
  uv_mutex_destroy(&l->lock);
}

bool ip_limit_enter(ip_limit_t *l, const char *ip) {
  if (!l->cap) return true;
  size_t len = strlen(ip);
  uv_mutex_lock(&l->lock);
  uintptr_t n = (uintptr_t)dict_get(&l->counts, ip, len);
  bool ok = n < l->cap;
  if (ok) dict_set(&l->counts, ip, len, (void *)(n + 1));
  uv_mutex_unlock(&l->lock);
  return ok;
}

void ip_limit_leave(ip_limit_t *l, const char *ip) {
  if (!l->cap) return;
  size_t len = strlen(ip);
  uv_mutex_lock(&l->lock);
  uintptr_t n = (uintptr_t)dict_get(&l->counts, ip, len);
  if (n <= 1) dict_delete(&l->counts, ip, len); /* an idle address costs nothing */
  else dict_set(&l->counts, ip, len, (void *)(n - 1));
  uv_mutex_unlock(&l->lock);
}

void ip_of_peer(const char *peer, char *out, size_t outlen) {
  const char *colon = strrchr(peer, ':');
  size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
  snprintf(out, outlen, "%.*s", (int)n, peer);
}
