#include "net/auth_gate.h"

#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"

int auth_gate_admit(const server_t *srv, const char *peer, const char *token, size_t len,
                    auth_claims_t **claims, const char **why) {
  *claims = NULL;
  const auth_t *auth = srv->cfg.auth;
  if (!auth) return 0;
  if (!token || !len) {
    if (srv->cfg.auth_optional) return 0; /* anonymous */
    *why = "missing token";
    log_info("conn %s: socket refused with 403: missing token", peer);
    return -1;
  }
  auth_claims_t *c = xcalloc(1, sizeof *c);
  if (auth_verify(auth, token, len, (int64_t)time(NULL), c, why)) {
    free(c);
    log_info("conn %s: socket refused with 403: %s", peer, *why);
    return -1;
  }
  *claims = c;
  return 0;
}
