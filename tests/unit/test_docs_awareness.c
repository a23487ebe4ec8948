/* The server's awareness table (docs/awareness.h): y-protocols' applyAwarenessUpdate /
 * removeAwarenessStates / encodeAwarenessUpdate rules (yjs-formats §8) on a table with no local
 * client. Updates are written here by hand, independently of the code under test:
 *   varUint(n) n × ( varUint(clientID) varUint(clock) varString(JSON state) )
 * with lib0 varUints (7 bits per byte, low first, high bit = more). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "docs/awareness.h"
#include "awareness_test_util.h"

/* --- hand decoder ------------------------------------------------------------------------------ */

typedef struct {
  uint64_t client, clock;
  char json[256];
} entry_t;

static size_t get_varuint(const uint8_t *p, size_t len, size_t *off, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; *off < len && shift < 64; shift += 7) {
    uint8_t c = p[(*off)++];
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 1;
    }
  }
  fail_msg("bad varuint in encoded update");
  return 0;
}

/* Decodes an encoded update into entries; returns the count. */
static size_t decode(const buf_t *b, entry_t *out, size_t cap) {
  size_t off = 0;
  uint64_t n, len;
  get_varuint(b->data, b->len, &off, &n);
  assert_true(n <= cap);
  for (uint64_t i = 0; i < n; i++) {
    get_varuint(b->data, b->len, &off, &out[i].client);
    get_varuint(b->data, b->len, &off, &out[i].clock);
    get_varuint(b->data, b->len, &off, &len);
    assert_true(len < sizeof out[i].json && off + len <= b->len);
    memcpy(out[i].json, b->data + off, len);
    out[i].json[len] = '\0';
    off += len;
  }
  assert_int_equal(off, b->len);
  return (size_t)n;
}

static const entry_t *find(const entry_t *es, size_t n, uint64_t client) {
  for (size_t i = 0; i < n; i++)
    if (es[i].client == client) return &es[i];
  return NULL;
}

/* --- helpers ---------------------------------------------------------------------------------- */

/* Applies u, expects success, checks the changes against want (n pairs client, kind). */
static void apply_ok(awareness_t *a, const upd_t *u, size_t nwant, ...) {
  awareness_change_t *ch = (awareness_change_t *)1;
  const char *why = NULL;
  int r = awareness_apply(a, u->b, u->n, &ch, &why);
  if (r < 0) fail_msg("apply failed: %s", why ? why : "(no reason)");
  assert_int_equal(r, (int)nwant);
  if (nwant == 0) assert_null(ch);
  va_list ap;
  va_start(ap, nwant);
  for (size_t i = 0; i < nwant; i++) {
    uint64_t client = va_arg(ap, uint64_t);
    awareness_kind_t kind = va_arg(ap, awareness_kind_t);
    assert_true(ch[i].client == client);
    assert_int_equal(ch[i].kind, kind);
  }
  va_end(ap);
  free(ch);
}
#define C(client, kind) (uint64_t)(client), (awareness_kind_t)(kind)

/* encode(clients) decoded; n == 0 with clients == NULL: every client with a state. */
static size_t enc(const awareness_t *a, const uint64_t *clients, size_t n, entry_t *out, size_t cap,
                  buf_t *raw) {
  buf_t b = BUF_INIT;
  awareness_encode(a, clients, n, &b);
  size_t got = decode(&b, out, cap);
  if (raw) {
    buf_clear(raw);
    buf_append(raw, b.data, b.len);
  }
  buf_free(&b);
  return got;
}

/* Clock and state of one client as encode(id) reports them. */
static void expect_client(const awareness_t *a, uint64_t client, uint64_t clock, const char *json) {
  entry_t e[1];
  assert_int_equal(enc(a, &client, 1, e, 1, NULL), 1);
  assert_true(e[0].client == client);
  if (e[0].clock != clock) fail_msg("client %llu: clock %llu, want %llu", (unsigned long long)client,
                                    (unsigned long long)e[0].clock, (unsigned long long)clock);
  assert_string_equal(e[0].json, json);
  assert_int_equal(awareness_has_state(a, client), strcmp(json, "null") != 0);
}

/* --- tests ------------------------------------------------------------------------------------ */

static void test_hand_encoding_matches_spec(void **state) {
  /* The examples of yjs-formats §8.1 / §8.4, byte for byte. */
  upd_t u = make(1, E(1, 0, "{}"));
  static const uint8_t ex1[] = {0x01, 0x01, 0x00, 0x02, 0x7b, 0x7d};
  assert_int_equal(u.n, sizeof ex1);
  assert_memory_equal(u.b, ex1, sizeof ex1);
  u = make(1, E(1, 2, "null"));
  static const uint8_t ex2[] = {0x01, 0x01, 0x02, 0x04, 'n', 'u', 'l', 'l'};
  assert_int_equal(u.n, sizeof ex2);
  assert_memory_equal(u.b, ex2, sizeof ex2);
}

static void test_empty_table(void **state) {
  awareness_t a;
  awareness_init(&a);
  entry_t e[4];
  buf_t raw = BUF_INIT;
  assert_int_equal(enc(&a, NULL, 0, e, 4, &raw), 0);
  assert_int_equal(raw.len, 1); /* just the count 0 */
  assert_false(awareness_has_state(&a, 1));
  /* An empty update changes nothing. */
  upd_t u = make(0);
  apply_ok(&a, &u, 0);
  /* An unknown client encodes as clock 0, null. */
  expect_client(&a, 77, 0, "null");
  buf_free(&raw);
  awareness_free(&a);
}

static void test_newer_clock_wins(void **state) {
  awareness_t a;
  awareness_init(&a);
  /* A never-seen client at clock 0 is ignored (0 < 0 is false), as in y-protocols. */
  upd_t u = make(1, E(1, 0, "{}"));
  apply_ok(&a, &u, 0);
  assert_false(awareness_has_state(&a, 1));

  u = make(1, E(1, 1, "{\"user\":\"ada\"}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_ADDED));
  expect_client(&a, 1, 1, "{\"user\":\"ada\"}");

  /* Same clock, other state: ignored. Older clock: ignored. */
  u = make(1, E(1, 1, "{\"user\":\"eve\"}"));
  apply_ok(&a, &u, 0);
  u = make(1, E(1, 0, "{\"user\":\"eve\"}"));
  apply_ok(&a, &u, 0);
  expect_client(&a, 1, 1, "{\"user\":\"ada\"}");

  /* Newer clock: updated, and clocks may jump. A renewal with the same state is an update too. */
  u = make(1, E(1, 5, "{\"user\":\"ada\",\"c\":1}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_UPDATED));
  expect_client(&a, 1, 5, "{\"user\":\"ada\",\"c\":1}");
  u = make(1, E(1, 6, "{\"user\":\"ada\",\"c\":1}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_UPDATED));
  u = make(1, E(1, 3, "{\"old\":true}"));
  apply_ok(&a, &u, 0);
  expect_client(&a, 1, 6, "{\"user\":\"ada\",\"c\":1}");

  /* Several entries in one update: each judged on its own, changes in update order. */
  u = make(4, E(2, 1, "{\"n\":2}"), E(1, 2, "{}"), E(3, 4, "[1,2]"), E(1, 7, "\"str\""));
  apply_ok(&a, &u, 3, C(2, AWARENESS_ADDED), C(3, AWARENESS_ADDED), C(1, AWARENESS_UPDATED));
  expect_client(&a, 1, 7, "\"str\"");
  expect_client(&a, 2, 1, "{\"n\":2}");
  expect_client(&a, 3, 4, "[1,2]");

  /* Big ids and clocks (multi-byte varuints, up to JavaScript's 2^53 - 1). */
  uint64_t big = (1ULL << 53) - 1;
  u = make(1, E(big, 300, "{\"big\":1}"));
  apply_ok(&a, &u, 1, C(big, AWARENESS_ADDED));
  expect_client(&a, big, 300, "{\"big\":1}");
  awareness_free(&a);
}

static void test_null_state_removes_keeps_clock(void **state) {
  awareness_t a;
  awareness_init(&a);
  upd_t u = make(2, E(1, 2, "{\"a\":1}"), E(2, 2, "{\"b\":1}"));
  apply_ok(&a, &u, 2, C(1, AWARENESS_ADDED), C(2, AWARENESS_ADDED));

  /* Equal clock + null while a state is stored: removed, clock kept (client's own removal when
   * a server relays "id, same clock, null"). */
  u = make(1, E(1, 2, "null"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_REMOVED));
  expect_client(&a, 1, 2, "null");
  /* The same null again: no state stored any more, nothing happens. */
  apply_ok(&a, &u, 0);
  /* Re-announcing at the same clock is ignored; clock + 1 is accepted, as an update (meta kept). */
  u = make(1, E(1, 2, "{\"a\":2}"));
  apply_ok(&a, &u, 0);
  expect_client(&a, 1, 2, "null");
  u = make(1, E(1, 3, "{\"a\":3}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_UPDATED));
  expect_client(&a, 1, 3, "{\"a\":3}");

  /* A newer clock with null removes and takes the clock. */
  u = make(1, E(2, 9, "null"));
  apply_ok(&a, &u, 1, C(2, AWARENESS_REMOVED));
  expect_client(&a, 2, 9, "null");
  u = make(1, E(2, 9, "{\"b\":2}"));
  apply_ok(&a, &u, 0);
  /* An older null is ignored. */
  u = make(1, E(1, 1, "null"));
  apply_ok(&a, &u, 0);
  expect_client(&a, 1, 3, "{\"a\":3}");

  /* A null for a never-seen client records its clock silently (no change reported); its next
   * announcement must be newer, and counts as an update. */
  u = make(1, E(5, 4, "null"));
  apply_ok(&a, &u, 0);
  expect_client(&a, 5, 4, "null");
  u = make(1, E(5, 4, "{\"e\":1}"));
  apply_ok(&a, &u, 0);
  u = make(1, E(5, 5, "{\"e\":1}"));
  apply_ok(&a, &u, 1, C(5, AWARENESS_UPDATED));
  expect_client(&a, 5, 5, "{\"e\":1}");

  /* Encode-all lists only clients with a state. */
  entry_t e[8];
  size_t n = enc(&a, NULL, 0, e, 8, NULL);
  assert_int_equal(n, 2);
  assert_non_null(find(e, n, 1));
  assert_non_null(find(e, n, 5));
  assert_null(find(e, n, 2));
  awareness_free(&a);
}

static void test_remove(void **state) {
  awareness_t a;
  awareness_init(&a);
  upd_t u = make(3, E(1, 3, "{\"a\":1}"), E(2, 4, "{\"b\":1}"), E(3, 5, "{\"c\":1}"));
  apply_ok(&a, &u, 3, C(1, AWARENESS_ADDED), C(2, AWARENESS_ADDED), C(3, AWARENESS_ADDED));
  u = make(1, E(2, 5, "null"));
  apply_ok(&a, &u, 1, C(2, AWARENESS_REMOVED));

  /* 2 has no state, 99 is unknown: only 3 and 1 are removed, compacted to the front in order. */
  uint64_t ids[] = {3, 2, 99, 1};
  assert_int_equal(awareness_remove(&a, ids, 4), 2);
  assert_true(ids[0] == 3);
  assert_true(ids[1] == 1);
  assert_false(awareness_has_state(&a, 1));
  assert_false(awareness_has_state(&a, 3));
  /* Clocks are kept, not bumped (§8.4): what we then relay is "id, same clock, null". */
  expect_client(&a, 1, 3, "null");
  expect_client(&a, 3, 5, "null");
  expect_client(&a, 99, 0, "null");
  entry_t e[4];
  assert_int_equal(enc(&a, NULL, 0, e, 4, NULL), 0);

  /* Removing again finds nothing. */
  uint64_t again[] = {1, 3};
  assert_int_equal(awareness_remove(&a, again, 2), 0);
  assert_int_equal(awareness_remove(&a, NULL, 0), 0);

  /* The client's own next announcement (clock + 1) is accepted; the same clock is not. */
  u = make(1, E(1, 3, "{\"a\":2}"));
  apply_ok(&a, &u, 0);
  u = make(1, E(1, 4, "{\"a\":2}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_UPDATED));
  expect_client(&a, 1, 4, "{\"a\":2}");
  awareness_free(&a);
}

static void test_encode_round_trip(void **state) {
  awareness_t a;
  awareness_init(&a);
  upd_t u = make(5, E(10, 1, "{\"user\":{\"name\":\"Ada\",\"color\":\"#f00\"}}"), E(200, 7, "{}"),
                 E(70000, 2, "{\"cursor\":{\"anchor\":3,\"head\":5}}"), E(4, 3, "\"x\""), E(5, 1, "0"));
  apply_ok(&a, &u, 5, C(10, AWARENESS_ADDED), C(200, AWARENESS_ADDED), C(70000, AWARENESS_ADDED),
           C(4, AWARENESS_ADDED), C(5, AWARENESS_ADDED));
  u = make(1, E(4, 3, "null"));
  apply_ok(&a, &u, 1, C(4, AWARENESS_REMOVED));

  /* All: the four clients with a state, each with its clock and exact JSON text. */
  entry_t all[8];
  buf_t raw = BUF_INIT;
  size_t n = enc(&a, NULL, 0, all, 8, &raw);
  assert_int_equal(n, 4);
  assert_string_equal(find(all, n, 10)->json, "{\"user\":{\"name\":\"Ada\",\"color\":\"#f00\"}}");
  assert_true(find(all, n, 10)->clock == 1);
  assert_true(find(all, n, 200)->clock == 7);
  assert_string_equal(find(all, n, 70000)->json, "{\"cursor\":{\"anchor\":3,\"head\":5}}");
  assert_string_equal(find(all, n, 5)->json, "0");
  assert_null(find(all, n, 4));

  /* A fresh table fed that update holds the same states, and encodes them the same way. */
  awareness_t b;
  awareness_init(&b);
  awareness_change_t *ch = NULL;
  const char *why = NULL;
  assert_int_equal(awareness_apply(&b, raw.data, raw.len, &ch, &why), 4);
  free(ch);
  entry_t back[8];
  assert_int_equal(enc(&b, NULL, 0, back, 8, NULL), 4);
  for (size_t i = 0; i < n; i++) {
    const entry_t *o = find(back, 4, all[i].client);
    assert_non_null(o);
    assert_true(o->clock == all[i].clock);
    assert_string_equal(o->json, all[i].json);
  }
  /* Applying it again to either table changes nothing (an echo). */
  ch = (awareness_change_t *)1;
  assert_int_equal(awareness_apply(&a, raw.data, raw.len, &ch, &why), 0);
  assert_null(ch);
  assert_int_equal(awareness_apply(&b, raw.data, raw.len, &ch, &why), 0);
  assert_null(ch);

  /* Some ids: in the given order, removed and unknown ones as null with their clock (0 unknown). */
  uint64_t some[] = {4, 70000, 12345, 10};
  entry_t e[4];
  buf_t raw_some = BUF_INIT;
  assert_int_equal(enc(&a, some, 4, e, 4, &raw_some), 4);
  assert_true(e[0].client == 4 && e[0].clock == 3);
  assert_string_equal(e[0].json, "null");
  assert_true(e[1].client == 70000 && e[1].clock == 2);
  assert_string_equal(e[1].json, "{\"cursor\":{\"anchor\":3,\"head\":5}}");
  assert_true(e[2].client == 12345 && e[2].clock == 0);
  assert_string_equal(e[2].json, "null");
  assert_true(e[3].client == 10 && e[3].clock == 1);
  /* Byte for byte what the hand encoder writes for the same entries. */
  upd_t want = make(4, E(4, 3, "null"), E(70000, 2, "{\"cursor\":{\"anchor\":3,\"head\":5}}"),
                    E(12345, 0, "null"), E(10, 1, "{\"user\":{\"name\":\"Ada\",\"color\":\"#f00\"}}"));
  assert_int_equal(raw_some.len, want.n);
  assert_memory_equal(raw_some.data, want.b, want.n);
  /* Zero ids: just the count. */
  assert_int_equal(enc(&a, some, 0, e, 4, &raw_some), 0);
  assert_int_equal(raw_some.len, 1);

  /* b takes that update too: 4 (never seen there) only gets its clock, 70000 is an echo, 10 was
   * removed by nobody; nothing changes in b's states. */
  assert_int_equal(awareness_apply(&b, want.b, want.n, &ch, &why), 0);
  assert_null(ch);
  expect_client(&b, 4, 3, "null");
  buf_free(&raw_some);
  buf_free(&raw);
  awareness_free(&b);
  awareness_free(&a);
}

/* Every malformed update is refused whole, with a reason, and leaves the table as it was. */
static void test_malformed_rejected_atomically(void **state) {
  awareness_t a;
  awareness_init(&a);
  upd_t good = make(2, E(1, 2, "{\"a\":1}"), E(2, 3, "{\"b\":1}"));
  apply_ok(&a, &good, 2, C(1, AWARENESS_ADDED), C(2, AWARENESS_ADDED));
  buf_t before = BUF_INIT, after = BUF_INIT;
  uint64_t ids[] = {1, 2, 3};
  entry_t e[4];
  enc(&a, ids, 3, e, 4, &before);

  upd_t cases[16];
  const char *names[16];
  size_t nc = 0;
  /* Empty input: no count. */
  names[nc] = "empty", cases[nc++] = (upd_t){.n = 0};
  /* A count with an unterminated varuint. */
  names[nc] = "count varuint cut", cases[nc] = (upd_t){.n = 0}, cases[nc].b[cases[nc].n++] = 0x81,
  nc++;
  /* More entries announced than there are bytes. */
  names[nc] = "count too large", cases[nc] = make(0), cases[nc].b[0] = 0x7f, nc++;
  /* Two entries announced, one present. */
  upd_t u = make(1, E(3, 5, "{}"));
  u.b[0] = 2;
  names[nc] = "missing entry", cases[nc++] = u;
  /* The state string runs past the end. */
  u = make(1, E(1, 9, "{\"a\":2}"));
  u.n -= 2;
  names[nc] = "truncated state", cases[nc++] = u;
  /* Cut inside the clock varuint. */
  u = (upd_t){.n = 0};
  put_varuint(&u, 1);
  put_varuint(&u, 1);
  u.b[u.n++] = 0x80;
  names[nc] = "truncated clock", cases[nc++] = u;
  /* A state that is not JSON — after a valid newer entry that must not be applied either. */
  names[nc] = "not JSON", cases[nc++] = make(2, E(1, 9, "{\"a\":2}"), E(3, 1, "{oops"));
  names[nc] = "empty state", cases[nc++] = make(2, E(2, 9, "null"), E(3, 1, ""));
  names[nc] = "two JSON values", cases[nc++] = make(1, E(1, 9, "{} {}"));
  /* Bytes after the last entry. */
  u = make(1, E(1, 9, "{\"a\":2}"));
  u.b[u.n++] = 0;
  names[nc] = "trailing byte", cases[nc++] = u;
  /* A varuint over 64 bits. */
  u = (upd_t){.n = 0};
  put_varuint(&u, 1);
  for (int i = 0; i < 11; i++) u.b[u.n++] = 0xff;
  u.b[u.n++] = 0x01;
  put_varuint(&u, 9);
  put_varuint(&u, 2);
  memcpy(u.b + u.n, "{}", 2), u.n += 2;
  names[nc] = "overlong client varuint", cases[nc++] = u;

  for (size_t i = 0; i < nc; i++) {
    awareness_change_t *ch = (awareness_change_t *)1;
    const char *why = NULL;
    int r = awareness_apply(&a, cases[i].b, cases[i].n, &ch, &why);
    if (r != -1) fail_msg("%s: accepted (%d)", names[i], r);
    if (!why || !*why) fail_msg("%s: no reason given", names[i]);
    if (ch != NULL) fail_msg("%s: changes not NULL", names[i]);
    enc(&a, ids, 3, e, 4, &after);
    if (after.len != before.len || memcmp(after.data, before.data, before.len))
      fail_msg("%s: table changed", names[i]);
    assert_true(awareness_has_state(&a, 1) && awareness_has_state(&a, 2));
    assert_false(awareness_has_state(&a, 3));
  }
  /* Encode-all still counts two states. */
  assert_int_equal(enc(&a, NULL, 0, e, 4, NULL), 2);
  /* And the table still takes good updates. */
  u = make(1, E(1, 3, "{\"a\":3}"));
  apply_ok(&a, &u, 1, C(1, AWARENESS_UPDATED));
  buf_free(&before);
  buf_free(&after);
  awareness_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hand_encoding_matches_spec),
    cmocka_unit_test(test_empty_table),
    cmocka_unit_test(test_newer_clock_wins),
    cmocka_unit_test(test_null_state_removes_keeps_clock),
    cmocka_unit_test(test_remove),
    cmocka_unit_test(test_encode_round_trip),
    cmocka_unit_test(test_malformed_rejected_atomically),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
