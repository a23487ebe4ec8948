#ifndef CINDER_TESTS_AWARENESS_TEST_UTIL_H
#define CINDER_TESTS_AWARENESS_TEST_UTIL_H
/* A hand encoder of y-protocols awareness updates for the awareness tests, written independently
 * of the code under test:
 *   varUint(n) n × ( varUint(clientID) varUint(clock) varString(JSON state) )
 * with lib0 varUints (7 bits per byte, low first, high bit = more). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  uint8_t b[8192];
  size_t n;
} upd_t;

static inline void put_varuint(upd_t *u, uint64_t v) {
  while (v >= 0x80) {
    u->b[u->n++] = (uint8_t)(0x80 | (v & 0x7f));
    v >>= 7;
  }
  u->b[u->n++] = (uint8_t)v;
}

static inline void put_entry(upd_t *u, uint64_t client, uint64_t clock, const char *json) {
  put_varuint(u, client);
  put_varuint(u, clock);
  size_t len = strlen(json);
  put_varuint(u, len);
  memcpy(u->b + u->n, json, len);
  u->n += len;
}

/* An update of `count` entries: (client, clock, json) triples, written with E(). */
static inline upd_t make(size_t count, ...) {
  upd_t u = {.n = 0};
  va_list ap;
  va_start(ap, count);
  put_varuint(&u, count);
  for (size_t i = 0; i < count; i++) {
    uint64_t client = va_arg(ap, uint64_t);
    uint64_t clock = va_arg(ap, uint64_t);
    const char *json = va_arg(ap, const char *);
    put_entry(&u, client, clock, json);
  }
  va_end(ap);
  return u;
}
#define E(client, clock, json) (uint64_t)(client), (uint64_t)(clock), (const char *)(json)

#endif
