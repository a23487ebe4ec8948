/* State vectors: client -> next expected clock.
 *   StateVector := varUint(K) (varUint(client) varUint(clock))*K
 * Writers emit clients in descending order; the reader keeps the last value of a repeated
 * client and ignores trailing bytes, as yjs does. Decoded vectors are sorted by client for
 * binary-search lookup. */
#include "yjs/internal.h"

#include <stdlib.h>

typedef struct sv_tmp {
  yjs_id e;
  size_t i; /* wire position */
} sv_tmp;

static int sv_cmp(const void *a, const void *b) {
  const sv_tmp *x = a, *y = b;
  if (x->e.client != y->e.client) return x->e.client < y->e.client ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

int ysv_decode(ysv *sv, const uint8_t *p, size_t n, yjs_error *err) {
  memset(sv, 0, sizeof(*sv));
  if (!p || !n) return 0;
  ydec d;
  ydec_init(&d, p, n);
  uint64_t k;
  sv_tmp *t = NULL;
  size_t nt = 0, tcap = 0;
  int rc = ydec_var_uint(&d, &k);
  for (uint64_t i = 0; !rc && i < k; i++) {
    yjs_id e;
    if ((rc = ydec_var_uint(&d, &e.client))) break;
    if ((rc = ydec_var_uint(&d, &e.clock))) break;
    YJS_GROW(t, tcap, nt + 1);
    t[nt].e = e;
    t[nt].i = nt;
    nt++;
  }
  if (rc) {
    yjs__set_error(err, rc, (size_t)(d.p - d.start), "state vector at byte %zu: %s",
                   (size_t)(d.p - d.start), yjs_strerror(rc));
    free(t);
    return rc;
  }
  if (nt > 1) qsort(t, nt, sizeof(*t), sv_cmp);
  for (size_t i = 0; i < nt; i++) {
    if (sv->n && sv->e[sv->n - 1].client == t[i].e.client) {
      sv->e[sv->n - 1].clock = t[i].e.clock; /* a later duplicate wins */
      continue;
    }
    YJS_GROW(sv->e, sv->cap, sv->n + 1);
    sv->e[sv->n++] = t[i].e;
  }
  free(t);
  return 0;
}

uint64_t ysv_get(const ysv *sv, uint64_t client) {
  size_t lo = 0, hi = sv->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (sv->e[mid].client < client)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < sv->n && sv->e[lo].client == client ? sv->e[lo].clock : 0;
}

void ysv_free(ysv *sv) {
  free(sv->e);
  memset(sv, 0, sizeof(*sv));
}
