#ifndef CINDER_HTTP_QUERY_H
#define CINDER_HTTP_QUERY_H
/* Query strings decoded the way Plug (Plug.Conn.Query.decode) does, since what Phoenix hands to
 * an application's connect/3 is what our channels must see (spec §1.1):
 *
 *   - pairs split on '&'; empty segments ignored (so a trailing '&' is fine); a key without '='
 *     gets the value "";
 *   - keys and values are www-form decoded: '+' is a space, %XX a byte. An invalid escape ('%'
 *     not followed by two hex digits) is kept literally, where Plug would refuse the whole
 *     request: a connect should not fail over a stray '%';
 *   - `a[b]=c` nests into objects, `a[b][c]=d` deeper, `a[]=x` appends to an array, `a[][b]=x`
 *     appends an object;
 *   - a repeated key: the last occurrence wins. Where occurrences disagree on the shape (`a=1`
 *     then `a[b]=2`), the last one wins too and earlier ones of another shape are dropped;
 *   - all leaf values are strings.
 *
 * Bounds, beyond Plug: at most HTTP_QUERY_MAX_PAIRS non-empty pairs are read (the rest ignored),
 * and a key nested deeper than HTTP_QUERY_MAX_DEPTH brackets is ignored, so a hostile query
 * costs bounded memory and time. */
#include <stddef.h>

#include <jansson.h>

#define HTTP_QUERY_MAX_PAIRS 256
#define HTTP_QUERY_MAX_DEPTH 8

/* A new JSON object (caller owns the reference), or NULL when a decoded key or value is not
 * valid UTF-8. q may be NULL when len is 0. */
json_t *http_query_parse(const char *q, size_t len);

/* A path segment percent-decoded (RFC 3986: %XX is a byte, '+' stays '+'), strictly: an invalid
 * escape, a decoded NUL or a result that does not fit cap - 1 bytes fails. The decoded length
 * (out NUL-terminated), or -1. UTF-8 validity is the caller's to check. */
long http_path_decode(const char *p, size_t len, char *out, size_t cap);

/* Decodes one www-form component (%XX and '+') into out, which has room for len bytes; returns
 * the decoded length. Invalid escapes are copied as they are. */
size_t http_query_unescape(const char *s, size_t len, char *out);

#endif
