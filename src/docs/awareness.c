#include "docs/awareness.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "docs/ymsg.h"

typedef struct awareness_client {
  uint64_t clock;
  char *state; /* JSON text, NULL when removed */
  size_t state_len;
} awareness_client_t;

#define AWARENESS_MAX_ENTRIES 65536

void awareness_init(awareness_t *a) {
  dict_init(&a->clients);
  a->with_state = 0;
}

void awareness_free(awareness_t *a) {
  for (dict_iter_t it = dict_iter(&a->clients); dict_next(&it);) {
    awareness_client_t *c = it.entry->value;
    free(c->state);
    free(c);
  }
  dict_free(&a->clients);
}

static awareness_client_t *awareness_get(const awareness_t *a, uint64_t id) {
  return dict_get(&a->clients, (const char *)&id, sizeof id);
}

bool awareness_has_state(const awareness_t *a, uint64_t client) {
  awareness_client_t *c = awareness_get(a, client);
  return c && c->state;
}

typedef struct awareness_entry {
  uint64_t client, clock;
  const uint8_t *json;
  size_t json_len;
  bool null_state;
} awareness_entry_t;

static size_t awareness_read_string(const uint8_t *p, size_t len, const uint8_t **s,
                                    size_t *slen) {
  uint64_t n;
  size_t hl = ymsg_read_varuint(p, len, &n);
  if (!hl || n > len - hl) return 0;
  *s = p + hl;
  *slen = (size_t)n;
  return hl + (size_t)n;
}

/* Clients with a state once the entries are applied: the clock rules of awareness_apply played
 * on a copy of what the entries touch (one client may appear several times). */
static size_t awareness_states_after(const awareness_t *a, const awareness_entry_t *entries,
                                     uint64_t count) {
  typedef struct {
    uint64_t clock;
    bool state;
  } sim_t;
  size_t states = a->with_state;
  if (!count) return states;
  sim_t *sims = xcalloc(count, sizeof *sims);
  size_t nsims = 0;
  dict_t seen;
  dict_init(&seen);
  for (uint64_t i = 0; i < count; i++) {
    const awareness_entry_t *e = &entries[i];
    sim_t *s = dict_get(&seen, (const char *)&e->client, sizeof e->client);
    if (!s) {
      const awareness_client_t *c = awareness_get(a, e->client);
      s = &sims[nsims++];
      *s = (sim_t){c ? c->clock : 0, c && c->state};
      dict_set(&seen, (const char *)&e->client, sizeof e->client, s);
    }
    bool accept = s->clock < e->clock || (s->clock == e->clock && e->null_state && s->state);
    if (!accept) continue;
    s->clock = e->clock;
    if (e->null_state) {
      if (s->state) states--;
      s->state = false;
    } else {
      if (!s->state) states++;
      s->state = true;
    }
  }
  dict_free(&seen);
  free(sims);
  return states;
}

size_t awareness_count(const awareness_t *a) { return a->with_state; }

int awareness_apply(awareness_t *a, const uint8_t *p, size_t len, awareness_change_t **changes,
                    const char **why) {
  return awareness_apply_limited(a, p, len, NULL, changes, why);
}

int awareness_apply_limited(awareness_t *a, const uint8_t *p, size_t len,
                            const awareness_limits_t *lim, awareness_change_t **changes,
                            const char **why) {
  *changes = NULL;
  uint64_t count;
  size_t off = ymsg_read_varuint(p, len, &count);
  if (!off) {
    *why = "truncated awareness count";
    return AWARENESS_EMALFORMED;
  }
  if (count > AWARENESS_MAX_ENTRIES || count > len) {
    *why = "awareness count too large";
    return AWARENESS_EMALFORMED;
  }
  awareness_entry_t *entries = xcalloc(count ? count : 1, sizeof *entries);
  for (uint64_t i = 0; i < count; i++) {
    awareness_entry_t *e = &entries[i];
    size_t n1 = ymsg_read_varuint(p + off, len - off, &e->client);
    size_t n2 = n1 ? ymsg_read_varuint(p + off + n1, len - off - n1, &e->clock) : 0;
    size_t n3 = n2 ? awareness_read_string(p + off + n1 + n2, len - off - n1 - n2, &e->json,
                                           &e->json_len)
                   : 0;
    if (!n3) {
      free(entries);
      *why = "truncated awareness entry";
      return AWARENESS_EMALFORMED;
    }
    off += n1 + n2 + n3;
    /* Larger than any state may be: refused before parsing it (a removal never is). */
    bool is_null = e->json_len == 4 && !memcmp(e->json, "null", 4);
    if (lim && lim->max_state_bytes && e->json_len > lim->max_state_bytes && !is_null) {
      free(entries);
      *why = "awareness state too large";
      return AWARENESS_ELIMIT;
    }
    /* y-protocols JSON.parse()s every state; an unparsable one is refused here, whole. */
    json_error_t jerr;
    json_t *v = json_loadb((const char *)e->json, e->json_len, JSON_DECODE_ANY, &jerr);
    if (!v) {
      free(entries);
      *why = "awareness state is not JSON";
      return AWARENESS_EMALFORMED;
    }
    e->null_state = json_is_null(v);
    json_decref(v);
  }
  if (off != len) {
    free(entries);
    *why = "bytes after the awareness update";
    return AWARENESS_EMALFORMED;
  }
  if (lim && lim->max_states) {
    size_t after = awareness_states_after(a, entries, count);
    if (after > lim->max_states && after > a->with_state) {
      free(entries);
      *why = "too many awareness states";
      return AWARENESS_ELIMIT;
    }
  }

  awareness_change_t *out = NULL;
  size_t nout = 0;
  for (uint64_t i = 0; i < count; i++) {
    awareness_entry_t *e = &entries[i];
    awareness_client_t *c = awareness_get(a, e->client);
    uint64_t cur = c ? c->clock : 0;
    bool accept = cur < e->clock || (cur == e->clock && e->null_state && c && c->state);
    if (!accept) continue;
    bool had_meta = c != NULL;
    if (!c) {
      c = xcalloc(1, sizeof *c);
      dict_set(&a->clients, (const char *)&e->client, sizeof e->client, c);
    }
    c->clock = e->clock;
    awareness_kind_t kind;
    if (e->null_state) {
      if (c->state) a->with_state--;
      free(c->state);
      c->state = NULL;
      if (!had_meta) continue; /* a null for a never-seen client only records its clock */
      kind = AWARENESS_REMOVED;
    } else {
      if (!c->state) a->with_state++;
      free(c->state);
      c->state = xstrndup((const char *)e->json, e->json_len);
      c->state_len = e->json_len;
      kind = had_meta ? AWARENESS_UPDATED : AWARENESS_ADDED;
    }
    out = xrealloc(out, (nout + 1) * sizeof *out);
    out[nout++] = (awareness_change_t){e->client, kind};
  }
  free(entries);
  *changes = out;
  return (int)nout;
}

size_t awareness_remove(awareness_t *a, uint64_t *clients, size_t n) {
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    awareness_client_t *c = awareness_get(a, clients[i]);
    if (!c || !c->state) continue;
    free(c->state);
    c->state = NULL;
    a->with_state--;
    clients[kept++] = clients[i];
  }
  return kept;
}

static void awareness_encode_one(buf_t *out, uint64_t id, const awareness_client_t *c) {
  ymsg_write_varuint(out, id);
  ymsg_write_varuint(out, c ? c->clock : 0);
  if (c && c->state) {
    ymsg_write_varuint(out, c->state_len);
    buf_append(out, c->state, c->state_len);
  } else {
    ymsg_write_varuint(out, 4);
    buf_append(out, "null", 4);
  }
}

void awareness_encode(const awareness_t *a, const uint64_t *clients, size_t n, buf_t *out) {
  if (clients) {
    ymsg_write_varuint(out, n);
    for (size_t i = 0; i < n; i++) awareness_encode_one(out, clients[i], awareness_get(a, clients[i]));
    return;
  }
  ymsg_write_varuint(out, a->with_state);
  for (dict_iter_t it = dict_iter(&a->clients); dict_next(&it);) {
    const awareness_client_t *c = it.entry->value;
    uint64_t id;
    memcpy(&id, it.entry->key, sizeof id);
    if (c->state) awareness_encode_one(out, id, c);
  }
}
