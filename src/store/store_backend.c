#include "store/store_backend.h"

#include <stdlib.h>
#include <string.h>

const char *store_strerror(int code) {
  switch (code) {
  case 0: return "ok";
  case STORE_EIO: return "storage error";
  case STORE_EBUSY: return "database locked by another process";
  case STORE_ECORRUPT: return "database file damaged or not a database";
  case STORE_EFULL: return "disk full";
  case STORE_EINVAL: return "invalid argument";
  case STORE_ENOENT: return "not found";
  case STORE_ESCHEMA: return "database written by a newer cinder";
  default: return "unknown storage error";
  }
}

void store_load_result_clear(store_load_result_t *r) {
  if (!r) return;
  for (size_t i = 0; i < r->count; i++) free(r->data[i]);
  free(r->data);
  free(r->len);
  free(r->seq);
  int status = r->status;
  memset(r, 0, sizeof *r);
  r->status = status;
}

void store_load_result_free(store_load_result_t *r) {
  if (!r) return;
  store_load_result_clear(r);
  free(r);
}

void store_doc_info_free(store_doc_info_t *docs, size_t n) {
  if (!docs) return;
  for (size_t i = 0; i < n; i++) free(docs[i].name);
  free(docs);
}

store_backend_t *store_backend_open(const char *data_dir, unsigned flags, char *err,
                                    size_t errlen, int *code) {
  return store_sqlite_backend.open(data_dir, flags, err, errlen, code);
}
