#include "http/http_path.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long http_path_normalize(const char *p, size_t len, char *out, size_t cap) {
  if (!cap) return HTTP_PATH_E_TOO_LONG;
  size_t o = 0;     /* bytes of out committed */
  bool dir = true;  /* the last segment seen names a directory */
  size_t i = 0;
  while (i < len) {
    if (p[i] == '/') {
      i++;
      dir = true;
      continue;
    }
    /* a segment: decoded after a separator written provisionally */
    size_t start = o;
    if (o) {
      if (o + 1 >= cap) return HTTP_PATH_E_TOO_LONG;
      out[o++] = '/';
    }
    size_t seg = o;
    for (; i < len && p[i] != '/'; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c == '%') {
        if (len - i < 3) return HTTP_PATH_E_ESCAPE;
        int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
        if (hi < 0 || lo < 0) return HTTP_PATH_E_ESCAPE;
        c = (unsigned char)(hi * 16 + lo);
        i += 2;
        if (c == '/') return HTTP_PATH_E_SLASH;
      }
      if (c < 0x20 || c == 0x7f) return HTTP_PATH_E_NUL;
      if (c == '\\') return HTTP_PATH_E_BACKSLASH;
      if (o + 1 >= cap) return HTTP_PATH_E_TOO_LONG;
      out[o++] = (char)c;
    }
    size_t n = o - seg;
    if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') return HTTP_PATH_E_DOTDOT;
    if (n == 1 && out[seg] == '.') {
      o = start; /* "." names the directory it is in */
      dir = true;
      continue;
    }
    dir = false;
  }
  if (dir) {
    size_t need = (o ? 1 : 0) + strlen(HTTP_PATH_INDEX);
    if (o + need >= cap) return HTTP_PATH_E_TOO_LONG;
    if (o) out[o++] = '/';
    memcpy(out + o, HTTP_PATH_INDEX, strlen(HTTP_PATH_INDEX));
    o += strlen(HTTP_PATH_INDEX);
  }
  out[o] = '\0';
  if (!utf8_valid((const uint8_t *)out, o)) return HTTP_PATH_E_UTF8;
  return (long)o;
}

const char *http_path_strerror(long err) {
  switch (err) {
  case HTTP_PATH_E_ESCAPE: return "invalid percent-escape";
  case HTTP_PATH_E_NUL: return "NUL or control byte";
  case HTTP_PATH_E_BACKSLASH: return "backslash";
  case HTTP_PATH_E_DOTDOT: return "'..' segment";
  case HTTP_PATH_E_SLASH: return "encoded '/'";
  case HTTP_PATH_E_UTF8: return "not valid UTF-8";
  case HTTP_PATH_E_TOO_LONG: return "path too long";
  default: return err >= 0 ? "ok" : "refused";
  }
}
