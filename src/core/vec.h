#ifndef CINDER_CORE_VEC_H
#define CINDER_CORE_VEC_H
/* Growing an array by doubling, written once. The array is three lvalues of the caller's struct
 * (pointer, length, capacity) rather than a generic vector type, so existing structs keep their
 * layout and element types stay checked by the compiler. */
#include "core/mem.h"

/* Make room for one more element: ptr[len] is writable afterwards. */
#define VEC_RESERVE(ptr, len, cap, initial)                          \
  do {                                                               \
    if ((len) >= (cap)) {                                            \
      (cap) = (cap) ? (cap) * 2 : (initial);                         \
      (ptr) = xrealloc((ptr), (size_t)(cap) * sizeof *(ptr));        \
    }                                                                \
  } while (0)

/* Append one element. */
#define VEC_PUSH(ptr, len, cap, initial, value) \
  do {                                          \
    VEC_RESERVE(ptr, len, cap, initial);        \
    (ptr)[(len)++] = (value);                   \
  } while (0)

#endif
