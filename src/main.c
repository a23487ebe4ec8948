/* cinder: command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

int main(int argc, char **argv) { return cmd_main(argc, argv); }
