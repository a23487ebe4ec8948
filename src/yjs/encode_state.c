/* Encoding a document: its state vector (Y.encodeStateVector) and its state as an update against
 * a state vector (Y.encodeStateAsUpdate, the sync step-2 reply), pending data included. */
#include "yjs/internal.h"

#include <stdlib.h>

static int client_desc_cmp(const void *a, const void *b) {
  uint64_t x = (*(yclient *const *)a)->client, y = (*(yclient *const *)b)->client;
  return x > y ? -1 : x < y;
}

void yclients_sort_desc(yclient **cs, size_t n) {
  if (n > 1) qsort(cs, n, sizeof(*cs), client_desc_cmp);
}

/* Clients of the store that hold structs, in descending client order. */
static yclient **sorted_clients(const yjs_doc *doc, size_t *n) {
  yclient **cs = yjs__malloc((doc->nclients ? doc->nclients : 1) * sizeof(*cs));
  size_t k = 0;
  for (size_t i = 0; i < doc->ccap; i++)
    if (doc->clients[i] && doc->clients[i]->n) cs[k++] = doc->clients[i];
  yclients_sort_desc(cs, k);
  *n = k;
  return cs;
}

void yclient_write_structs(const yclient *c, uint64_t clock, ybuf *out) {
  size_t start = yclient_find(c, clock);
  ybuf_var_uint(out, c->n - start);
  ybuf_var_uint(out, c->client);
  ybuf_var_uint(out, clock);
  yblock_write(c->blocks[start], out, clock - c->blocks[start]->clock);
  for (size_t k = start + 1; k < c->n; k++) yblock_write(c->blocks[k], out, 0);
}

int yjs_doc_encode_state_vector(const yjs_doc *doc, uint8_t **out, size_t *out_len) {
  if (!doc || !out || !out_len) return YJS_EINVAL;
  size_t n;
  yclient **cs = sorted_clients(doc, &n);
  ybuf b = {0};
  ybuf_var_uint(&b, n);
  for (size_t i = 0; i < n; i++) {
    ybuf_var_uint(&b, cs[i]->client);
    ybuf_var_uint(&b, yclient_state(cs[i]));
  }
  free(cs);
  *out = ybuf_take(&b, out_len);
  return 0;
}

/* writeStateAsUpdate: structs the peer lacks, then the delete set rebuilt from the store. */
void ydoc_write_state(const yjs_doc *doc, const ysv *sv, ybuf *out) {
  size_t n;
  yclient **cs = sorted_clients(doc, &n);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (yclient_state(cs[i]) > ysv_get(sv, cs[i]->client)) m++;
  ybuf_var_uint(out, m);
  for (size_t i = 0; i < n; i++) {
    yclient *c = cs[i];
    uint64_t clock = ysv_get(sv, c->client);
    if (yclient_state(c) <= clock) continue;
    if (clock < c->blocks[0]->clock) clock = c->blocks[0]->clock;
    yclient_write_structs(c, clock, out);
  }
  /* delete set: maximal runs of deleted structs (GC included) */
  size_t nds = 0;
  for (size_t i = 0; i < n; i++) {
    yclient *c = cs[i];
    for (size_t k = 0; k < c->n; k++)
      if (yblock_deleted(c->blocks[k])) {
        nds++;
        break;
      }
  }
  ybuf_var_uint(out, nds);
  ybuf ranges = {0};
  for (size_t i = 0; i < n; i++) {
    yclient *c = cs[i];
    uint64_t count = 0;
    ranges.len = 0;
    for (size_t k = 0; k < c->n; k++) {
      if (!yblock_deleted(c->blocks[k])) continue;
      uint64_t clock = c->blocks[k]->clock, len = c->blocks[k]->len;
      while (k + 1 < c->n && yblock_deleted(c->blocks[k + 1])) len += c->blocks[++k]->len;
      ybuf_var_uint(&ranges, clock);
      ybuf_var_uint(&ranges, len);
      count++;
    }
    if (!count) continue;
    ybuf_var_uint(out, c->client);
    ybuf_var_uint(out, count);
    ybuf_write(out, ranges.data, ranges.len);
  }
  ybuf_free(&ranges);
  free(cs);
}

int yjs_doc_encode_state_as_update_v1(const yjs_doc *doc, const uint8_t *sv, size_t sv_len,
                                      uint8_t **out, size_t *out_len, yjs_error *err) {
  if (err) memset(err, 0, sizeof(*err));
  if (!doc || !out || !out_len || (!sv && sv_len)) return YJS_EINVAL;
  ysv s;
  int rc = ysv_decode(&s, sv, sv_len, err);
  if (rc) return rc;
  ybuf state = {0};
  ydoc_write_state(doc, &s, &state);
  if (!doc->pending && !doc->pending_ds.n) {
    ysv_free(&s);
    *out = ybuf_take(&state, out_len);
    return 0;
  }
  /* as yjs: mergeUpdates([state, pendingDs, diffUpdate(pendingStructs, sv)]) */
  ybuf pds = {0}, pdiff = {0}, merged = {0};
  const uint8_t *ins[3];
  size_t lens[3], n = 0;
  ins[n] = state.data;
  lens[n++] = state.len;
  if (doc->pending_ds.n) {
    ybuf_var_uint(&pds, 0);
    yds_write(&doc->pending_ds, &pds);
    ins[n] = pds.data;
    lens[n++] = pds.len;
  }
  if (doc->pending) {
    yjs__diff(doc->pending, doc->pending_len, &s, &pdiff, NULL);
    ins[n] = pdiff.data;
    lens[n++] = pdiff.len;
  }
  rc = yjs__merge(ins, lens, n, &merged, err);
  ybuf_free(&state);
  ybuf_free(&pds);
  ybuf_free(&pdiff);
  ysv_free(&s);
  if (rc) {
    ybuf_free(&merged);
    return rc;
  }
  *out = ybuf_take(&merged, out_len);
  return 0;
}
