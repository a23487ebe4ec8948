/* libFuzzer target for the static files' path normaliser (http/http_path.h): never crashes; an
 * accepted result is relative (no leading '/'), has no "..", NUL, backslash, control byte or
 * empty segment, and normalising it again ('%' written as %25) gives it back unchanged. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http/http_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char out[4200];
  long n = http_path_normalize((const char *)data, size, out, sizeof out);
  if (n < 0) {
    CHECK(n >= HTTP_PATH_E_TOO_LONG);
    return 0;
  }
  CHECK(n > 0 && (size_t)n == strlen(out));
  CHECK(out[0] != '/' && out[n - 1] != '/');
  CHECK(!strchr(out, '\\') && !strstr(out, "//"));
  for (long i = 0; i < n; i++) CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
  /* no ".." (nor ".") segment */
  for (const char *s = out;;) {
    const char *e = strchr(s, '/');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    CHECK(l > 0);
    CHECK(!(l == 2 && s[0] == '.' && s[1] == '.'));
    CHECK(!(l == 1 && s[0] == '.'));
    if (!e) break;
    s = e + 1;
  }
  /* stable: the result, '%' escaped, normalises to itself (with or without a leading '/') */
  char esc[3 * sizeof out + 1];
  size_t e = 0;
  esc[e++] = '/';
  for (long i = 0; i < n; i++) {
    if (out[i] == '%') {
      memcpy(esc + e, "%25", 3);
      e += 3;
    } else {
      esc[e++] = out[i];
    }
  }
  char again[sizeof esc];
  CHECK(http_path_normalize(esc, e, again, sizeof again) == n && !strcmp(again, out));
  CHECK(http_path_normalize(esc + 1, e - 1, again, sizeof again) == n && !strcmp(again, out));
  return 0;
}
