#ifndef CINDER_DOCS_AWARENESS_H
#define CINDER_DOCS_AWARENESS_H
/* The server's awareness table for one document: remote client id -> (clock, JSON state), kept
 * exactly as a y-protocols peer keeps it (yjs-formats §8), so what we relay is what every client
 * would accept:
 *   - an entry is applied iff its clock is newer than the known one (0 if unknown), or equal
 *     with a null state while a state is stored (a removal);
 *   - a removal deletes the state and keeps the clock, so the client's own next announcement
 *     (clock + 1) is still accepted everywhere;
 *   - echoes with unchanged clocks change nothing and produce no broadcast.
 * The server holds no local state of its own. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/dict.h"

typedef enum { AWARENESS_ADDED, AWARENESS_UPDATED, AWARENESS_REMOVED } awareness_kind_t;

typedef struct awareness_change {
  uint64_t client;
  awareness_kind_t kind;
} awareness_change_t;

typedef struct awareness {
  dict_t clients; /* 8-byte client id -> awareness_client_t* */
  size_t with_state;
} awareness_t;

void awareness_init(awareness_t *a);
void awareness_free(awareness_t *a);

/* Limits on what an update may leave in the table; 0 means no limit. */
typedef struct awareness_limits {
  size_t max_states;      /* clients with a state, after the update */
  size_t max_state_bytes; /* one client's state, its JSON text */
} awareness_limits_t;

#define AWARENESS_EMALFORMED (-1)
#define AWARENESS_ELIMIT (-2)

/* Apply an awareness update. Atomic: the whole update (every JSON state) is validated first; a
 * malformed one returns AWARENESS_EMALFORMED (-1) with *why set and changes nothing. Otherwise
 * returns the number of changes written to *changes (xmalloc'd, caller frees; NULL when 0).
 * No limits. */
int awareness_apply(awareness_t *a, const uint8_t *update, size_t len,
                    awareness_change_t **changes, const char **why);
/* The same within limits (NULL: none). An update that carries a state longer than
 * max_state_bytes (even one its clock would make ignored), or after which more than max_states
 * clients would have a state, returns AWARENESS_ELIMIT with *why set ("awareness state too
 * large", "too many awareness states") and changes nothing. An update that does not add states
 * is accepted at the cap: existing clients can always update or remove theirs. */
int awareness_apply_limited(awareness_t *a, const uint8_t *update, size_t len,
                            const awareness_limits_t *limits, awareness_change_t **changes,
                            const char **why);
/* Clients with a state. */
size_t awareness_count(const awareness_t *a);
/* Remove the states of these clients (clocks kept); returns how many had a state. The ids that
 * had one are compacted to the front of `clients`. */
size_t awareness_remove(awareness_t *a, uint64_t *clients, size_t n);
/* Encode an awareness update for the given clients with their current clocks and states
 * (null for removed ones). clients == NULL: every client that has a state. */
void awareness_encode(const awareness_t *a, const uint64_t *clients, size_t n, buf_t *out);
bool awareness_has_state(const awareness_t *a, uint64_t client);

#endif
