#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static void cmd_usage(FILE *out) {
  fprintf(out,
          "cinder %s — real-time server for Phoenix channels and Yjs documents\n"
          "\n"
          "usage: cinder <command> [options]\n"
          "\n"
          "commands:\n"
          "  serve        run the server (cinder serve --help for its options)\n"
          "  yjs          work with Yjs update files (cinder yjs --help)\n"
          "  doc          stored documents: list, export, compact (cinder doc --help)\n"
          "\n"
          "  --help       this text\n"
          "  --version    print the version\n",
          CINDER_VERSION);
}

int cmd_main(int argc, char **argv) {
  if (argc < 2) {
    cmd_usage(stderr);
    return 1;
  }
  const char *verb = argv[1];
  if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
    cmd_usage(stdout);
    return 0;
  }
  if (!strcmp(verb, "--version") || !strcmp(verb, "-V")) {
    printf("cinder %s\n", CINDER_VERSION);
    return 0;
  }
  if (!strcmp(verb, "serve")) return cmd_serve(argc - 1, argv + 1);
  if (!strcmp(verb, "yjs")) return cmd_yjs(argc - 1, argv + 1);
  if (!strcmp(verb, "doc")) return cmd_doc(argc - 1, argv + 1);
  fprintf(stderr, "cinder: unknown command '%s'\n\n", verb);
  cmd_usage(stderr);
  return 1;
}
