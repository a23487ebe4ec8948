#ifndef CINDER_PHX_JSON_SCAN_H
#define CINDER_PHX_JSON_SCAN_H
/* A strict pre-scan of JSON text: counts its values and its nesting depth, and stops at the first
 * value beyond a limit — before jansson builds a tree (whose nodes cost ~100 bytes and an
 * allocation each: 8 MB of "[[],[],…" would otherwise become ~2.8 M nodes). The socket runs it on
 * every client text message (WebSocket and LongPoll), the HTTP API on every JSON body.
 *
 * Contract
 *  - Input: the bytes [text, text + len); no terminator needed, a NUL byte is just a byte.
 *  - Grammar: RFC 8259, one value of any type with optional whitespace (space, tab, LF, CR)
 *    around it. Checked in full: structure, commas and colons (no trailing comma), object keys are
 *    strings, the literals true / false / null, number syntax (no leading zero, no '+', a digit on
 *    both sides of '.', an exponent with digits), string escapes (\" \\ \/ \b \f \n \r \t and
 *    \u with four hex digits), no raw control character (< 0x20) inside a string.
 *  - Not checked (left to the parser, which refuses them): UTF-8 validity (text WebSocket frames
 *    are already validated), pairing of \u surrogates, number range (1e400), \u0000 in a key.
 *    So the scan is never stricter than jansson but in one case: jansson 2.14 silently drops one
 *    NUL byte right after a number or literal ("[1\0]" parses as [1], a quirk of its lexer's
 *    unget), which the scan calls malformed. Otherwise text that jansson accepts is OK here with
 *    the exact counts, and text the scan finds MALFORMED is refused by jansson too — a caller may
 *    refuse it without parsing. tests/fuzz/fuzz_phx_json_scan.c checks both against jansson.
 *  - Counting: `values` counts every value — each scalar, array and object, the outermost
 *    included; object keys are not values. `depth` is the deepest nesting of containers: 0 for
 *    a lone scalar, 1 for [] or {"a":1}, 2 for [[]] or [{}]. A Phoenix V2 message
 *    ["1","2","room:a","ev",{"k":"v"}] has 7 values and depth 2.
 *  - Limits: a text with exactly max_depth levels / max_values values passes; one more fails.
 *    0 means no limit, except that nesting is always capped at PHX_JSON_SCAN_DEPTH_CAP (jansson
 *    refuses beyond it as well).
 *  - Result: the first problem met from left to right — a text that passes the value limit
 *    before its syntax error is TOO_MANY, not MALFORMED.
 *  - Cost: one forward pass, no allocation, no recursion, PHX_JSON_SCAN_DEPTH_CAP / 8 bytes of
 *    stack; the bodies of strings are skipped 8 bytes at a time. */
#include <stddef.h>

/* jansson's own nesting limit (JSON_PARSER_MAX_DEPTH). */
#define PHX_JSON_SCAN_DEPTH_CAP 2048

enum {
  PHX_JSON_SCAN_OK = 0,
  PHX_JSON_SCAN_MALFORMED = -1, /* not JSON */
  PHX_JSON_SCAN_TOO_DEEP = -2,  /* nested deeper than max_depth (or the cap) */
  PHX_JSON_SCAN_TOO_MANY = -3,  /* more than max_values values */
};

typedef struct phx_json_limits {
  unsigned max_depth; /* 0: only PHX_JSON_SCAN_DEPTH_CAP */
  size_t max_values;  /* 0: none */
} phx_json_limits_t;

typedef struct phx_json_stats {
  size_t values;  /* OK: all of them; TOO_MANY: max_values + 1; otherwise those met so far */
  unsigned depth; /* OK: the deepest nesting; TOO_DEEP: the limit + 1; otherwise so far */
  size_t offset;  /* OK: len; otherwise the byte where the scan stopped */
} phx_json_stats_t;

/* Scan text against limits (NULL: no limits but the cap). Returns a PHX_JSON_SCAN_* code; fills
 * *stats when stats is not NULL. */
int phx_json_scan(const char *text, size_t len, const phx_json_limits_t *limits,
                  phx_json_stats_t *stats);
/* "ok", "invalid JSON", "JSON nested too deeply", "too many JSON values". */
const char *phx_json_scan_strerror(int rc);

#endif
