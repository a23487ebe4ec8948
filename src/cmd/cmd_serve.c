#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "channels/activity_channel.h"
#include "channels/room_channel.h"
#include "channels/ydoc_channel.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "net/http_handler.h"
#include "net/server.h"
#include "phx/phx_channel.h"

/* Every flag has a CINDER_* environment variable; the flag wins. */
typedef struct serve_option {
  const char *flag;
  const char *env;
  const char *arg;
  const char *help;
} serve_option_t;

static const serve_option_t serve_options[] = {
    {"host", "CINDER_HOST", "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", "CINDER_PORT", "PORT", "TCP port (default 4000; 0 picks a free one)"},
    {"workers", "CINDER_WORKERS", "N", "worker threads (default: one per CPU)"},
    {"data", "CINDER_DATA", "DIR", "data directory (default ./data)"},
    {"log-level", "CINDER_LOG_LEVEL", "LEVEL", "debug, info, warn, error or off (default info)"},
    {"socket-path", "CINDER_SOCKET_PATH", "PATH", "Phoenix socket mount (default /socket)"},
    {"max-message", "CINDER_MAX_MESSAGE", "BYTES", "WebSocket message cap (default 8388608)"},
    {"max-queue", "CINDER_MAX_QUEUE", "BYTES", "per-socket output cap (default 16777216)"},
    {"idle-timeout", "CINDER_IDLE_TIMEOUT", "MS", "close a silent WebSocket after (default 60000)"},
    {"max-channels", "CINDER_MAX_CHANNELS", "N", "channels per socket (default 100)"},
    {"doc-prefixes", "CINDER_DOC_PREFIXES", "LIST", "document room topic prefixes (default y_doc_room:)"},
    {"doc-unload", "CINDER_DOC_UNLOAD", "MS", "unload a document this long after its last client (default 5000)"},
    {"compact-threshold", "CINDER_COMPACT_THRESHOLD", "N", "stored updates that trigger a compaction (default 400)"},
    {"activity-interval", "CINDER_ACTIVITY_INTERVAL", "MS", "activity sampling period (default 1000)"},
    {"activity-history", "CINDER_ACTIVITY_HISTORY", "N", "samples kept per activity stream (default 300)"},
    {"api-key", "CINDER_API_KEY", "KEY", "bearer key for /api (default: none, loopback only)"},
    {"http-timeout", "CINDER_HTTP_TIMEOUT", "MS", "a request head or body must arrive within (default 10000)"},
    {"check-origin", "CINDER_CHECK_ORIGIN", "LIST", "allowed Origins of the socket, e.g. https://app.example.com,//*.example.com (default: any)"},
};
#define SERVE_NOPTIONS (sizeof serve_options / sizeof serve_options[0])

static void serve_usage(FILE *out) {
  fprintf(out, "usage: cinder serve [options]\n\noptions (each also read from its environment "
               "variable):\n");
  for (size_t i = 0; i < SERVE_NOPTIONS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s %s", serve_options[i].flag, serve_options[i].arg);
    fprintf(out, "  %-26s %-20s %s\n", left, serve_options[i].env, serve_options[i].help);
  }
  fprintf(out, "  %-26s %-20s %s\n", "--help", "", "this text");
}

static int serve_number(const char *name, const char *value, long long min, long long max,
                        long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end || v < min || v > max) {
    fprintf(stderr, "cinder serve: --%s: '%s' is not a number in [%lld, %lld]\n", name, value,
            min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int serve_apply(server_config_t *cfg, size_t opt, const char *value) {
  const char *name = serve_options[opt].flag;
  long long n;
  switch (opt) {
  case 0: cfg->host = value; return 0;
  case 1: if (serve_number(name, value, 0, 65535, &n)) return -1; cfg->port = (int)n; return 0;
  case 2: if (serve_number(name, value, 0, 1024, &n)) return -1; cfg->workers = (int)n; return 0;
  case 3: cfg->data_dir = value; return 0;
  case 4: {
    int level = log_level_parse(value);
    if (level < 0) {
      fprintf(stderr, "cinder serve: --log-level: unknown level '%s'\n", value);
      return -1;
    }
    log_set_level((log_level_t)level);
    return 0;
  }
  case 5:
    if (value[0] != '/') {
      fprintf(stderr, "cinder serve: --socket-path must start with '/'\n");
      return -1;
    }
    cfg->socket_path = value;
    return 0;
  case 6: if (serve_number(name, value, 126, 1LL << 30, &n)) return -1; cfg->max_message = (size_t)n; return 0;
  case 7: if (serve_number(name, value, 4096, 1LL << 32, &n)) return -1; cfg->max_queue = (size_t)n; return 0;
  case 8: if (serve_number(name, value, 100, 86400000, &n)) return -1; cfg->idle_timeout_ms = (unsigned)n; return 0;
  case 9: if (serve_number(name, value, 1, 100000, &n)) return -1; cfg->max_channels = (size_t)n; return 0;
  case 10: cfg->doc_prefixes = value; return 0;
  case 11: if (serve_number(name, value, 0, 86400000, &n)) return -1; cfg->doc_unload_ms = (unsigned)n; return 0;
  case 12: if (serve_number(name, value, 2, 1LL << 30, &n)) return -1; cfg->doc_compact_threshold = (size_t)n; return 0;
  case 13: if (serve_number(name, value, 10, 3600000, &n)) return -1; cfg->activity_interval_ms = (unsigned)n; return 0;
  case 14: if (serve_number(name, value, 1, 100000, &n)) return -1; cfg->activity_history = (size_t)n; return 0;
  case 15: cfg->api_key = *value ? value : NULL; return 0;
  case 16: if (serve_number(name, value, 100, 3600000, &n)) return -1; cfg->http_timeout_ms = (unsigned)n; return 0;
  case 17: cfg->check_origin = *value ? value : NULL; return 0;
  }
  return -1;
}

int cmd_serve(int argc, char **argv) {
  server_config_t cfg;
  server_config_defaults(&cfg);

  for (size_t i = 0; i < SERVE_NOPTIONS; i++) {
    const char *v = getenv(serve_options[i].env);
    if (v && *v && serve_apply(&cfg, i, v)) return 1;
  }
  struct option longopts[SERVE_NOPTIONS + 2];
  for (size_t i = 0; i < SERVE_NOPTIONS; i++)
    longopts[i] = (struct option){serve_options[i].flag, required_argument, NULL, (int)i};
  longopts[SERVE_NOPTIONS] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[SERVE_NOPTIONS + 1] = (struct option){NULL, 0, NULL, 0};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (c == 'h') {
      serve_usage(stdout);
      return 0;
    }
    if (c == '?' || c < 0 || (size_t)c >= SERVE_NOPTIONS) {
      serve_usage(stderr);
      return 1;
    }
    if (serve_apply(&cfg, (size_t)c, optarg)) return 1;
  }
  if (optind < argc) {
    fprintf(stderr, "cinder serve: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (mkdir(cfg.data_dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "cinder serve: cannot create data directory %s: %s\n", cfg.data_dir,
            strerror(errno));
    return 1;
  }

  phx_router_add("room:*", &room_channel);
  phx_router_add("activity:*", &activity_channel);
  api_register();
  ydoc_channel_register(cfg.doc_prefixes);
  int rc = server_run(&cfg);
  phx_router_clear();
  ydoc_channel_unregister();
  http_routes_clear();
  return rc;
}
