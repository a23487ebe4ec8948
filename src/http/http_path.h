#ifndef CINDER_HTTP_PATH_H
#define CINDER_HTTP_PATH_H
/* A request path made safe to join to a web root (static files), strictly; pure, no I/O.
 *
 * The path (as in the request line, up to '?') is split on '/', each segment percent-decoded
 * (%XX; an invalid escape is refused), and:
 *   - empty segments (repeated slashes) and "." segments are dropped;
 *   - a ".." segment is refused — also when spelled with escapes ("%2e%2e"): nothing is ever
 *     resolved upwards, so no input can name anything above the root;
 *   - a NUL, a backslash, '/' spelled as %2F, or any other control byte (< 0x20, 0x7f), raw or
 *     encoded, is refused, as is a result that is not valid UTF-8;
 *   - a path naming a directory ("/", "" or a trailing '/' or "/.") gets "index.html" appended.
 * The result is relative to the root, without a leading '/': "index.html", "a/b.js". A leading
 * '/' on the input is optional. The result contains no "..", NUL, backslash, control byte or
 * empty segment, and normalising it again ('%' written as %25) gives it back unchanged. */
#include <stddef.h>

#define HTTP_PATH_INDEX "index.html"

enum {
  HTTP_PATH_E_ESCAPE = -1,    /* '%' not followed by two hex digits */
  HTTP_PATH_E_NUL = -2,       /* a NUL or another control byte, raw or encoded */
  HTTP_PATH_E_BACKSLASH = -3, /* a backslash, raw or encoded */
  HTTP_PATH_E_DOTDOT = -4,    /* a ".." segment, raw or encoded */
  HTTP_PATH_E_SLASH = -5,     /* an encoded '/' (%2F) inside a segment */
  HTTP_PATH_E_UTF8 = -6,      /* the decoded path is not valid UTF-8 */
  HTTP_PATH_E_TOO_LONG = -7,  /* the result does not fit cap - 1 bytes */
};

/* Writes the normalised path into out (NUL-terminated) and returns its length (> 0), or a
 * negative HTTP_PATH_E_*; out's content is then unspecified. p may be NULL when len is 0. */
long http_path_normalize(const char *p, size_t len, char *out, size_t cap);
/* A short reason for an HTTP_PATH_E_* code, for log lines. */
const char *http_path_strerror(long err);

#endif
