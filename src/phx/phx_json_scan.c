#include "phx/phx_json_scan.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The scanner is a small state machine over three states, written as labels:
 *   value  a value must start here (after '[', ',' in an array, ':' or at the top)
 *   key    an object key must start here (after '{' or ',' in an object)
 *   after  a value has just ended: ',' / the closing bracket of the container, or the end
 * The open containers are a bit stack (1 = object), so closing brackets are matched without
 * recursion or allocation. */

const char *phx_json_scan_strerror(int rc) {
  switch (rc) {
  case PHX_JSON_SCAN_OK: return "ok";
  case PHX_JSON_SCAN_MALFORMED: return "invalid JSON";
  case PHX_JSON_SCAN_TOO_DEEP: return "JSON nested too deeply";
  case PHX_JSON_SCAN_TOO_MANY: return "too many JSON values";
  default: return "unknown error";
  }
}

typedef const unsigned char *ptr_t;

static inline ptr_t skip_ws(ptr_t p, ptr_t end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether one of the 8 bytes in x is '"', '\\' or below 0x20 (exact as a yes/no answer: the
 * classic has-zero-byte and has-less-than tests, see "Bit Twiddling Hacks"). */
static inline bool special8(uint64_t x) {
  uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
  return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x)) & HIGHS;
}

/* p is just after the opening quote. Returns the byte after the closing quote, or NULL. */
static ptr_t scan_string(ptr_t p, ptr_t end) {
  for (;;) {
    while (end - p >= 8) {
      uint64_t x;
      memcpy(&x, p, 8);
      if (special8(x)) break;
      p += 8;
    }
    /* The byte that stopped the fast loop is among the next 8 (or the text ends first). */
    for (;;) {
      if (p >= end) return NULL;
      unsigned char c = *p;
      if (c == '"') return p + 1;
      if (c < 0x20) return NULL;
      if (c != '\\') {
        p++;
        continue;
      }
      if (end - p < 2) return NULL;
      switch (p[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        p += 2;
        break;
      case 'u':
        if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
          return NULL;
        p += 6;
        break;
      default:
        return NULL;
      }
      break; /* back to the fast loop */
    }
  }
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? starting at p. Returns its end, or NULL. What
 * follows is the caller's business: "01" ends after the 0, and the 1 is then out of place. */
static ptr_t scan_number(ptr_t p, ptr_t end) {
  if (*p == '-' && ++p == end) return NULL;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    do p++;
    while (p < end && is_digit(*p));
  } else {
    return NULL;
  }
  if (p < end && *p == '.') {
    if (++p == end || !is_digit(*p)) return NULL;
    do p++;
    while (p < end && is_digit(*p));
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-')) p++;
    if (p == end || !is_digit(*p)) return NULL;
    do p++;
    while (p < end && is_digit(*p));
  }
  return p;
}

static inline ptr_t scan_literal(ptr_t p, ptr_t end, const char *lit, size_t n) {
  return (size_t)(end - p) >= n && !memcmp(p, lit, n) ? p + n : NULL;
}

int phx_json_scan(const char *text, size_t len, const phx_json_limits_t *limits,
                  phx_json_stats_t *stats) {
  ptr_t start = (ptr_t)text, p = start, end = start + len;
  size_t max_values = limits && limits->max_values ? limits->max_values : SIZE_MAX;
  unsigned max_depth = limits && limits->max_depth && limits->max_depth < PHX_JSON_SCAN_DEPTH_CAP
                           ? limits->max_depth
                           : PHX_JSON_SCAN_DEPTH_CAP;
  uint64_t objects[PHX_JSON_SCAN_DEPTH_CAP / 64]; /* bit d-1: the container at depth d is an object */
  size_t values = 0;
  unsigned depth = 0, deepest = 0;
  bool in_object;
  ptr_t tok = p; /* start of the string, number or literal being read */
  int rc;

value:
  p = skip_ws(p, end);
  if (p == end) goto malformed;
  if (values == max_values) {
    values++;
    rc = PHX_JSON_SCAN_TOO_MANY;
    goto done;
  }
  values++;
  tok = p;
  switch (*p) {
  case '[':
  case '{':
    if (depth == max_depth) {
      deepest = depth + 1;
      rc = PHX_JSON_SCAN_TOO_DEEP;
      goto done;
    }
    in_object = *p == '{';
    {
      uint64_t bit = UINT64_C(1) << (depth & 63);
      if (!(depth & 63)) objects[depth >> 6] = 0; /* entering this word: clear what is stale */
      if (in_object) objects[depth >> 6] |= bit;
      else objects[depth >> 6] &= ~bit;
    }
    if (++depth > deepest) deepest = depth;
    p = skip_ws(p + 1, end);
    if (p == end) goto malformed;
    if (*p == (in_object ? '}' : ']')) {
      p++;
      depth--;
      goto after;
    }
    if (in_object) goto key;
    goto value;
  case '"':
    p = scan_string(p + 1, end);
    break;
  case 't':
    p = scan_literal(p, end, "true", 4);
    break;
  case 'f':
    p = scan_literal(p, end, "false", 5);
    break;
  case 'n':
    p = scan_literal(p, end, "null", 4);
    break;
  default:
    p = scan_number(p, end);
    break;
  }
  if (!p) goto malformed_token;
  goto after;

key: /* p < end, not whitespace */
  if (*p != '"') goto malformed;
  tok = p;
  if (!(p = scan_string(p + 1, end))) goto malformed_token;
  p = skip_ws(p, end);
  if (p == end || *p != ':') goto malformed;
  p++;
  goto value;

after:
  p = skip_ws(p, end);
  if (!depth) {
    if (p != end) goto malformed;
    rc = PHX_JSON_SCAN_OK;
    goto done;
  }
  if (p == end) goto malformed;
  in_object = objects[(depth - 1) >> 6] >> ((depth - 1) & 63) & 1;
  if (*p == ',') {
    p = skip_ws(p + 1, end);
    if (p == end) goto malformed;
    if (in_object) goto key;
    goto value;
  }
  if (*p == (in_object ? '}' : ']')) {
    p++;
    depth--;
    goto after;
  }
  goto malformed;

malformed_token: /* p is NULL: report where the token began */
  p = tok;
malformed:
  rc = PHX_JSON_SCAN_MALFORMED;
done:
  if (stats) {
    stats->values = values;
    stats->depth = deepest;
    stats->offset = (size_t)(p - start);
  }
  return rc;
}
