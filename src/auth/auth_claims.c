/* Signed tokens (issue 13): the claims of a verified payload, and the topic patterns of the
 * channels and write claims. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"
#include "core/mem.h"

/* A string of 1..max bytes without NULs (jansson refuses \u0000 already; this keeps the C strings
 * we hand out equal to the JSON ones even if it did not). */
static bool bounded_string(json_t *v, size_t max) {
  if (!json_is_string(v)) return false;
  size_t n = json_string_length(v);
  return n >= 1 && n <= max && strlen(json_string_value(v)) == n;
}

static bool string_equals(json_t *v, const char *s) {
  return json_is_string(v) && json_string_length(v) == strlen(s) &&
         memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

/* exp (round_up false) or nbf (round_up true): 0 absent, 1 *out set, -1 not a number. A real is
 * rounded towards the side that keeps "now > exp" and "now < nbf" exact for integer now, and
 * clamped to int64. */
static int time_claim(json_t *payload, const char *key, bool round_up, int64_t *out) {
  json_t *v = json_object_get(payload, key);
  if (!v) return 0;
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return 1;
  }
  if (!json_is_real(v)) return -1;
  double d = json_real_value(v); /* finite: jansson refuses overflowing reals */
  if (d >= 9223372036854775808.0) {
    *out = INT64_MAX;
  } else if (d < -9223372036854775808.0) {
    *out = INT64_MIN;
  } else {
    int64_t t = (int64_t)d; /* towards zero */
    if (!round_up && (double)t > d) t--;
    if (round_up && (double)t < d) t++;
    *out = t;
  }
  return 1;
}

/* A pattern list claim: 0 absent, 1 present and well-formed, -1 malformed. */
static int check_patterns(json_t *payload, const char *key, json_t **arr) {
  json_t *v = json_object_get(payload, key);
  *arr = v;
  if (!v) return 0;
  if (!json_is_array(v) || json_array_size(v) > AUTH_MAX_PATTERNS) return -1;
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) if (!bounded_string(x, AUTH_MAX_PATTERN_LEN)) return -1;
  return 1;
}

static char **copy_patterns(json_t *arr, size_t *n) {
  *n = json_array_size(arr);
  char **list = xcalloc(*n ? *n : 1, sizeof *list);
  for (size_t i = 0; i < *n; i++) list[i] = xstrdup(json_string_value(json_array_get(arr, i)));
  return list;
}

int auth_claims_check(const auth_t *a, json_t *payload, int64_t now_s, auth_claims_t *out,
                      const char **why) {
  int64_t exp = 0, nbf = 0;
  int has_exp = time_claim(payload, "exp", false, &exp);
  if (has_exp < 0) {
    *why = "bad exp claim";
    return -1;
  }
  int has_nbf = time_claim(payload, "nbf", true, &nbf);
  if (has_nbf < 0) {
    *why = "bad nbf claim";
    return -1;
  }
  /* now > exp + leeway and now + leeway < nbf, without overflow at either end of int64. */
  if (has_exp && now_s > exp && (uint64_t)now_s - (uint64_t)exp > a->leeway_s) {
    *why = "token expired";
    return -1;
  }
  if (has_nbf && nbf > now_s && (uint64_t)nbf - (uint64_t)now_s > a->leeway_s) {
    *why = "token not yet valid";
    return -1;
  }
  json_t *sub = json_object_get(payload, "sub");
  if (!bounded_string(sub, AUTH_MAX_SUB)) {
    *why = "missing sub";
    return -1;
  }
  if (a->audience) {
    json_t *aud = json_object_get(payload, "aud");
    bool ok = string_equals(aud, a->audience);
    if (json_is_array(aud)) {
      size_t i;
      json_t *x;
      json_array_foreach(aud, i, x) {
        if (!json_is_string(x)) {
          ok = false; /* a malformed list is refused even when it also names us */
          break;
        }
        if (string_equals(x, a->audience)) ok = true;
      }
    }
    if (!ok) {
      *why = "wrong audience";
      return -1;
    }
  }
  if (a->issuer && !string_equals(json_object_get(payload, "iss"), a->issuer)) {
    *why = "wrong issuer";
    return -1;
  }
  json_t *channels, *write;
  int has_channels = check_patterns(payload, "channels", &channels);
  if (has_channels < 0) {
    *why = "bad channels claim";
    return -1;
  }
  int has_write = check_patterns(payload, "write", &write);
  if (has_write < 0) {
    *why = "bad write claim";
    return -1;
  }

  /* Everything checked: only now allocate, so a refusal leaves nothing to free. */
  memset(out, 0, sizeof *out);
  out->sub = xstrdup(json_string_value(sub));
  out->exp = has_exp ? exp : 0;
  if (has_channels) {
    out->has_channels = true;
    out->channels = copy_patterns(channels, &out->nchannels);
  }
  if (has_write) {
    out->has_write = true;
    out->write = copy_patterns(write, &out->nwrite);
  }
  return 0;
}

void auth_claims_free(auth_claims_t *c) {
  if (!c) return;
  free(c->sub);
  for (size_t i = 0; i < c->nchannels; i++) free(c->channels[i]);
  free(c->channels);
  for (size_t i = 0; i < c->nwrite; i++) free(c->write[i]);
  free(c->write);
  memset(c, 0, sizeof *c);
}

/* --- patterns ------------------------------------------------------------------------------ */

bool auth_pattern_match(const char *pattern, const char *topic) {
  if (!pattern || !topic) return false;
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return strncmp(pattern, topic, n - 1) == 0;
  return strcmp(pattern, topic) == 0;
}

static bool any_match(char *const *patterns, size_t n, const char *topic) {
  for (size_t i = 0; i < n; i++)
    if (auth_pattern_match(patterns[i], topic)) return true;
  return false;
}

bool auth_may_join(const auth_claims_t *c, const char *topic) {
  if (!topic) return false;
  if (!c || !c->has_channels) return true;
  return any_match(c->channels, c->nchannels, topic);
}

bool auth_may_write(const auth_claims_t *c, const char *topic) {
  if (!auth_may_join(c, topic)) return false;
  if (!c || !c->has_write) return true;
  return any_match(c->write, c->nwrite, topic);
}

bool auth_expired(const auth_t *a, const auth_claims_t *c, int64_t now_s) {
  return c && c->exp && now_s > c->exp && (uint64_t)now_s - (uint64_t)c->exp > a->leeway_s;
}
