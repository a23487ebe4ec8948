/* libFuzzer target: the lib0 decoders (varUint, varInt, varString, varUint8Array, Any) and the
 * JSON-text validator, driven by the first input byte as an opcode. Every read must stay inside
 * the input; decoding must be deterministic. */
#include <stdint.h>
#include <stdlib.h>

#include "yjs/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!size) return 0;
  uint8_t op = data[0];
  ydec d;
  ydec_init(&d, data + 1, size - 1);
  while (d.p < d.end) {
    const uint8_t *before = d.p;
    int rc = 0;
    uint64_t u;
    int64_t i;
    yslice s;
    switch (op % 6) {
      case 0: rc = ydec_var_uint(&d, &u); if (!rc && u > YJS_MAX_SAFE) abort(); break;
      case 1: rc = ydec_var_int(&d, &i, NULL); break;
      case 2: rc = ydec_var_string(&d, &s, &u); break;
      case 3: rc = ydec_var_bytes(&d, &s); break;
      case 4: rc = ydec_any(&d, 0); break;
      default: {
        bool ok = yjs_json_valid(d.p, (size_t)(d.end - d.p));
        (void)ok;
        d.p = d.end;
        break;
      }
    }
    if (d.p > d.end || d.p < before) abort();
    if (rc) break;
    if (d.p == before) break;
  }
  /* round trip of a varUint through the encoder */
  ydec_init(&d, data, size);
  uint64_t v;
  if (!ydec_var_uint(&d, &v)) {
    ybuf b = {0};
    ybuf_var_uint(&b, v);
    ydec e;
    ydec_init(&e, b.data, b.len);
    uint64_t w;
    if (ydec_var_uint(&e, &w) || w != v) abort();
    ybuf_free(&b);
  }
  /* UTF-8: units from validation agree with offset walking */
  uint64_t units;
  if (yjs_utf8_valid(data, size, &units)) {
    bool mid;
    if (yjs_utf8_offset(data, size, units, &mid) != size || mid) abort();
  }
  return 0;
}
