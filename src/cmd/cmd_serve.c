#include "cmd/cmd.h"

#include <stdio.h>

int cmd_serve(int argc, char **argv) {
  fprintf(stderr, "cinder serve: not built yet\n");
  return 1;
}
