/* The awareness table's limits (docs/awareness.h, awareness_apply_limited): states per document
 * and bytes per state. An update that passes either is refused whole — nothing of it applied, the
 * states already there unchanged — and one that does not add states is accepted at the cap.
 * Updates are written by hand:
 *   varUint(n) n × ( varUint(clientID) varUint(clock) varString(JSON state) ) */
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

/* A JSON string state of exactly `len` bytes: "xxx…" (len >= 2). */
static char *state_of_len(size_t len) {
  char *s = malloc(len + 1);
  s[0] = '"';
  memset(s + 1, 'x', len - 2);
  s[len - 1] = '"';
  s[len] = 0;
  return s;
}

/* Applies with limits; returns the result, frees the changes, records *why. */
static int apply(awareness_t *a, const upd_t *u, const awareness_limits_t *lim, int *nchanges,
                 const char **why) {
  awareness_change_t *ch = NULL;
  const char *w = NULL;
  int n = awareness_apply_limited(a, u->b, u->n, lim, &ch, &w);
  if (nchanges) *nchanges = n;
  if (why) *why = w;
  free(ch);
  return n;
}

/* The encoded entry of one client (clock + state), to compare before and after. */
static void snapshot(const awareness_t *a, uint64_t client, buf_t *out) {
  buf_clear(out);
  awareness_encode(a, &client, 1, out);
}

static void assert_same_entry(const awareness_t *a, uint64_t client, const buf_t *before) {
  buf_t now = BUF_INIT;
  snapshot(a, client, &now);
  assert_int_equal(now.len, before->len);
  assert_memory_equal(now.data, before->data, now.len);
  buf_free(&now);
}

/* --- bytes per state --------------------------------------------------------------------------- */

static void state_at_the_limit_is_accepted_one_byte_more_is_refused(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 0, .max_state_bytes = 100};
  awareness_t a;
  awareness_init(&a);
  char *at = state_of_len(100), *over = state_of_len(101);
  const char *why = NULL;

  upd_t ok = make(1, E(1, 1, at));
  assert_int_equal(apply(&a, &ok, &lim, NULL, NULL), 1);
  assert_true(awareness_has_state(&a, 1));

  buf_t before = BUF_INIT;
  snapshot(&a, 1, &before);
  upd_t big = make(1, E(1, 2, over));
  assert_int_equal(apply(&a, &big, &lim, NULL, &why), AWARENESS_ELIMIT);
  assert_string_equal(why, "awareness state too large");
  assert_same_entry(&a, 1, &before); /* clock 1 and the old state */

  buf_free(&before);
  free(at);
  free(over);
  awareness_free(&a);
}

static void an_oversized_state_refuses_the_whole_update(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_state_bytes = 64};
  awareness_t a;
  awareness_init(&a);
  char *over = state_of_len(65);
  const char *why = NULL;
  /* A fine entry first, then an oversized one: neither is applied. */
  upd_t u = make(2, E(7, 1, "{\"user\":\"a\"}"), E(8, 1, over));
  assert_int_equal(apply(&a, &u, &lim, NULL, &why), AWARENESS_ELIMIT);
  assert_string_equal(why, "awareness state too large");
  assert_false(awareness_has_state(&a, 7));
  assert_false(awareness_has_state(&a, 8));
  assert_int_equal(awareness_count(&a), 0);
  /* ...and no clock was recorded for 7: its clock-1 state is still accepted afterwards. */
  upd_t again = make(1, E(7, 1, "{\"user\":\"a\"}"));
  assert_int_equal(apply(&a, &again, &lim, NULL, NULL), 1);
  free(over);
  awareness_free(&a);
}

static void an_oversized_state_is_refused_even_with_a_stale_clock(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_state_bytes = 64};
  awareness_t a;
  awareness_init(&a);
  upd_t first = make(1, E(3, 5, "{}"));
  assert_int_equal(apply(&a, &first, &lim, NULL, NULL), 1);
  char *over = state_of_len(1000);
  upd_t stale = make(1, E(3, 2, over)); /* clock 2 < 5: ignored anyway, still refused */
  assert_int_equal(apply(&a, &stale, &lim, NULL, NULL), AWARENESS_ELIMIT);
  free(over);
  awareness_free(&a);
}

static void a_removal_is_never_too_large(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 1, .max_state_bytes = 2}; /* "null" is 4 */
  awareness_t a;
  awareness_init(&a);
  upd_t add = make(1, E(9, 1, "{}"));
  assert_int_equal(apply(&a, &add, &lim, NULL, NULL), 1);
  upd_t rm = make(1, E(9, 2, "null"));
  int n = 0;
  assert_int_equal(apply(&a, &rm, &lim, &n, NULL), 1);
  assert_false(awareness_has_state(&a, 9));
  awareness_free(&a);
}

/* --- states per document ----------------------------------------------------------------------- */

static void past_the_count_the_update_is_refused_and_existing_states_stay(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 2};
  awareness_t a;
  awareness_init(&a);
  upd_t ab = make(2, E(1, 1, "{\"n\":\"a\"}"), E(2, 1, "{\"n\":\"b\"}"));
  assert_int_equal(apply(&a, &ab, &lim, NULL, NULL), 2);
  assert_int_equal(awareness_count(&a), 2);
  buf_t b1 = BUF_INIT, b2 = BUF_INIT;
  snapshot(&a, 1, &b1);
  snapshot(&a, 2, &b2);

  const char *why = NULL;
  upd_t c = make(1, E(3, 1, "{\"n\":\"c\"}"));
  assert_int_equal(apply(&a, &c, &lim, NULL, &why), AWARENESS_ELIMIT);
  assert_string_equal(why, "too many awareness states");
  assert_false(awareness_has_state(&a, 3));
  assert_int_equal(awareness_count(&a), 2);
  assert_same_entry(&a, 1, &b1);
  assert_same_entry(&a, 2, &b2);

  /* An update that carries an existing client's change and a new one is refused whole. */
  upd_t mixed = make(2, E(1, 2, "{\"n\":\"a2\"}"), E(3, 1, "{\"n\":\"c\"}"));
  assert_int_equal(apply(&a, &mixed, &lim, NULL, NULL), AWARENESS_ELIMIT);
  assert_same_entry(&a, 1, &b1);
  assert_false(awareness_has_state(&a, 3));

  buf_free(&b1);
  buf_free(&b2);
  awareness_free(&a);
}

static void at_the_count_existing_clients_update_and_remove(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 2};
  awareness_t a;
  awareness_init(&a);
  upd_t ab = make(2, E(1, 1, "{}"), E(2, 1, "{}"));
  assert_int_equal(apply(&a, &ab, &lim, NULL, NULL), 2);
  /* An update of a client that has a state: accepted at the cap. */
  upd_t upd = make(1, E(1, 2, "{\"moved\":1}"));
  assert_int_equal(apply(&a, &upd, &lim, NULL, NULL), 1);
  /* Removal of one and addition of another in the same update: still 2 states. */
  upd_t swap = make(2, E(2, 2, "null"), E(3, 1, "{}"));
  assert_int_equal(apply(&a, &swap, &lim, NULL, NULL), 2);
  assert_false(awareness_has_state(&a, 2));
  assert_true(awareness_has_state(&a, 3));
  assert_int_equal(awareness_count(&a), 2);
  /* A removal frees a place for a later update. */
  upd_t rm = make(1, E(1, 3, "null"));
  assert_int_equal(apply(&a, &rm, &lim, NULL, NULL), 1);
  upd_t d = make(1, E(4, 1, "{}"));
  assert_int_equal(apply(&a, &d, &lim, NULL, NULL), 1);
  assert_int_equal(awareness_count(&a), 2);
  awareness_free(&a);
}

static void the_count_follows_the_clock_rules(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 1};
  awareness_t b;
  awareness_init(&b);
  /* Client 2 added and removed at clock 5 (its clock is kept). */
  upd_t two = make(2, E(2, 5, "{}"), E(2, 5, "null"));
  assert_int_equal(apply(&b, &two, NULL, NULL, NULL), 2);
  upd_t first = make(1, E(1, 1, "{}"));
  assert_int_equal(apply(&b, &first, &lim, NULL, NULL), 1);
  /* At the cap, a stale clock-3 state for client 2 would be ignored: it adds no state, so the
   * update is accepted (and changes nothing). */
  upd_t stale = make(1, E(2, 3, "{}"));
  int n = -9;
  assert_int_equal(apply(&b, &stale, &lim, &n, NULL), 0);
  assert_false(awareness_has_state(&b, 2));
  /* The same client twice in one update, added then removed: no state left, accepted. */
  upd_t twice = make(2, E(3, 1, "{}"), E(3, 1, "null"));
  assert_int_equal(apply(&b, &twice, &lim, NULL, NULL), 2);
  assert_false(awareness_has_state(&b, 3));
  assert_int_equal(awareness_count(&b), 1);
  /* Removed, then a state and its echo (same clock) in one update: one state. */
  upd_t rm1 = make(1, E(1, 2, "null"));
  assert_int_equal(apply(&b, &rm1, &lim, NULL, NULL), 1);
  upd_t echo = make(2, E(4, 1, "{}"), E(4, 1, "{}"));
  assert_int_equal(apply(&b, &echo, &lim, NULL, NULL), 1);
  assert_int_equal(awareness_count(&b), 1);
  /* Two new clients where one would fit: refused whole. */
  upd_t rm4 = make(1, E(4, 2, "null"));
  assert_int_equal(apply(&b, &rm4, &lim, NULL, NULL), 1);
  upd_t pair = make(2, E(5, 1, "{}"), E(6, 1, "{}"));
  assert_int_equal(apply(&b, &pair, &lim, NULL, NULL), AWARENESS_ELIMIT);
  assert_int_equal(awareness_count(&b), 0);
  assert_false(awareness_has_state(&b, 5));
  awareness_free(&b);
}

static void many_entries_at_once(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 100};
  awareness_t a;
  awareness_init(&a);
  upd_t u = {.n = 0};
  put_varuint(&u, 101);
  for (uint64_t c = 1; c <= 101; c++) put_entry(&u, c * 1000003, 1, "{}");
  assert_int_equal(apply(&a, &u, &lim, NULL, NULL), AWARENESS_ELIMIT);
  assert_int_equal(awareness_count(&a), 0);
  u.n = 0;
  put_varuint(&u, 100);
  for (uint64_t c = 1; c <= 100; c++) put_entry(&u, c * 1000003, 1, "{}");
  assert_int_equal(apply(&a, &u, &lim, NULL, NULL), 100);
  assert_int_equal(awareness_count(&a), 100);
  awareness_free(&a);
}

/* --- no limits, and malformed input -------------------------------------------------------------- */

static void zero_or_null_limits_mean_none(void **unused) {
  (void)unused;
  awareness_limits_t zero = {0, 0};
  awareness_t a;
  awareness_init(&a);
  char *big = state_of_len(5000);
  upd_t u = make(3, E(1, 1, big), E(2, 1, "{}"), E(3, 1, "{}"));
  assert_int_equal(apply(&a, &u, &zero, NULL, NULL), 3);
  upd_t v = make(1, E(4, 1, big));
  assert_int_equal(apply(&a, &v, NULL, NULL, NULL), 1);
  /* awareness_apply is the unlimited one. */
  awareness_change_t *ch = NULL;
  const char *why = NULL;
  upd_t w = make(1, E(5, 1, big));
  assert_int_equal(awareness_apply(&a, w.b, w.n, &ch, &why), 1);
  free(ch);
  assert_int_equal(awareness_count(&a), 5);
  free(big);
  awareness_free(&a);
}

static void malformed_is_not_a_limit(void **unused) {
  (void)unused;
  awareness_limits_t lim = {.max_states = 1, .max_state_bytes = 64};
  awareness_t a;
  awareness_init(&a);
  const char *why = NULL;
  upd_t bad = make(1, E(1, 1, "{nope"));
  assert_int_equal(apply(&a, &bad, &lim, NULL, &why), AWARENESS_EMALFORMED);
  assert_string_equal(why, "awareness state is not JSON");
  upd_t trunc = make(1, E(1, 1, "{}"));
  trunc.n -= 1;
  assert_int_equal(apply(&a, &trunc, &lim, NULL, NULL), AWARENESS_EMALFORMED);
  assert_int_equal(awareness_count(&a), 0);
  awareness_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(state_at_the_limit_is_accepted_one_byte_more_is_refused),
      cmocka_unit_test(an_oversized_state_refuses_the_whole_update),
      cmocka_unit_test(an_oversized_state_is_refused_even_with_a_stale_clock),
      cmocka_unit_test(a_removal_is_never_too_large),
      cmocka_unit_test(past_the_count_the_update_is_refused_and_existing_states_stay),
      cmocka_unit_test(at_the_count_existing_clients_update_and_remove),
      cmocka_unit_test(the_count_follows_the_clock_rules),
      cmocka_unit_test(many_entries_at_once),
      cmocka_unit_test(zero_or_null_limits_mean_none),
      cmocka_unit_test(malformed_is_not_a_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
