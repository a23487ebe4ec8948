#include "cmd/cmd.h"

#include <stdio.h>

/* Placeholder until the Yjs engine lands; replaced by the engine's CLI. */
int cmd_yjs(int argc, char **argv) {
  fprintf(stderr, "cinder yjs: not built yet\n");
  return 1;
}
