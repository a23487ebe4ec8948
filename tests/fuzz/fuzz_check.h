#ifndef CINDER_TESTS_FUZZ_CHECK_H
#define CINDER_TESTS_FUZZ_CHECK_H
/* CHECK for fuzz targets: a property that must hold for every input; on failure, say which and
 * abort, so libFuzzer keeps the input as a crash. */
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

#endif
