/* A document's lifetime. Everything a document owns hangs off struct yjs_doc (internal.h): the
 * struct store, the types, pending structs and deletions, and the scratch arrays of the running
 * transaction, which are kept between transactions so that applying an update allocates nothing
 * for its bookkeeping once they have grown. */
#include "yjs/internal.h"

#include <stdlib.h>

yjs_doc *yjs_doc_new(unsigned flags) {
  yjs_doc *doc = calloc(1, sizeof(*doc));
  if (!doc) return NULL;
  doc->gc = !(flags & YJS_DOC_NO_GC);
  return doc;
}

int yjs_doc_has_pending(const yjs_doc *doc) {
  return doc && (doc->pending != NULL || doc->pending_ds.n > 0);
}

void yjs_doc_free(yjs_doc *doc) {
  if (!doc) return;
  ystore_free(doc);
  for (size_t i = 0; i < doc->nroots; i++) ytype_free(doc->roots[i]);
  free(doc->roots);
  free(doc->root_tab);
  ydoc_free_pending(doc);
  free(doc->missing);
  yds_free(&doc->pending_ds);
  yds_free(&doc->tx_ds);
  free(doc->tx_merge);
  free(doc->tx_clients);
  free(doc);
}
