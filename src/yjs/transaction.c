/* A transaction: applying one update to a document, from decoding to the 'update' event
 * (yjs src/utils/Transaction.js transact / cleanupTransactions, applyUpdate).
 *
 * Atomicity: the update is decoded and validated completely (update.c) before the transaction
 * begins. Every later step works on validated records and cannot fail, so a rejected update
 * leaves the document untouched. (Out of memory aborts; it never half-applies.)
 *
 * What the transaction records while it runs (internal.h, "the running transaction"): the
 * clients it added structs to with their state before it (beforeState), the ranges it deleted
 * (deleteSet) and the splits to try to merge back (_mergeStructs). A generation counter marks
 * which clients' remembered states belong to the running transaction, so beginning one costs
 * nothing per client. The cleanup then runs in yjs's order: coalesce the delete set, collect and
 * merge (gc.c). The event is what yjs's 'update' event would carry: every struct added, written
 * from each client's state before the transaction, plus the delete set. */
#include "yjs/internal.h"

#include <stdlib.h>

static void write_tx_event(yjs_doc *doc, ybuf *out) {
  /* clients whose state advanced, descending, from their state before the transaction */
  yclient **cs = yjs__malloc((doc->ntx_clients ? doc->ntx_clients : 1) * sizeof(*cs));
  size_t n = 0;
  for (size_t i = 0; i < doc->ntx_clients; i++)
    if (yclient_state(doc->tx_clients[i]) != doc->tx_clients[i]->tx_before)
      cs[n++] = doc->tx_clients[i];
  yclients_sort_desc(cs, n);
  ybuf_var_uint(out, n);
  for (size_t i = 0; i < n; i++) yclient_write_structs(cs[i], cs[i]->tx_before, out);
  free(cs);
  yds_write(&doc->tx_ds, out);
}

static int apply(yjs_doc *doc, const uint8_t *update, size_t len, int *changed, ybuf *event,
                 yjs_error *err) {
  if (err) memset(err, 0, sizeof(*err));
  if (changed) *changed = 0;
  if (!doc || (!update && len)) {
    yjs__set_error(err, YJS_EINVAL, 0, "invalid argument");
    return YJS_EINVAL;
  }
  yupdate u;
  int rc = yupdate_decode(&u, update, len, true, err);
  if (rc) return rc;
  /* begin */
  doc->tx_gen++;
  doc->tx_ds.n = 0;
  doc->ntx_merge = 0;
  doc->ntx_clients = 0;
  ydoc_read_update(doc, &u);
  /* cleanup */
  yds_sort_merge(&doc->tx_ds);
  ytx_gc_and_merge(doc);
  bool advanced = false;
  for (size_t i = 0; i < doc->ntx_clients; i++)
    if (yclient_state(doc->tx_clients[i]) != doc->tx_clients[i]->tx_before) advanced = true;
  bool did = advanced || doc->tx_ds.n > 0;
  if (changed) *changed = did;
  if (event && did) write_tx_event(doc, event);
  yupdate_free(&u);
  return 0;
}

int yjs_doc_apply_update_v1(yjs_doc *doc, const uint8_t *update, size_t len, int *changed,
                            yjs_error *err) {
  return apply(doc, update, len, changed, NULL, err);
}

int yjs_doc_apply_update_v1_event(yjs_doc *doc, const uint8_t *update, size_t len,
                                  uint8_t **event, size_t *event_len, yjs_error *err) {
  if (!event || !event_len) return YJS_EINVAL;
  *event = NULL;
  *event_len = 0;
  ybuf b = {0};
  int rc = apply(doc, update, len, NULL, &b, err);
  if (!rc && b.len) *event = ybuf_take(&b, event_len);
  ybuf_free(&b);
  return rc;
}
