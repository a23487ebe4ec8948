#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "activity/activity.h"
#include "api/api.h"
#include "channels/activity_channel.h"
#include "channels/room_channel.h"
#include "channels/ydoc_channel.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "docs/shared_doc.h"
#include "net/server.h"
#include "phx/phx_channel.h"
#include "store/store.h"

/* Everything `serve` is configured with: the server's own settings and those of the services and
 * routes registered on it. */
typedef struct serve_settings {
  server_config_t server;
  const char *data_dir;
  const char *doc_prefixes;
  shared_docs_config_t docs;
  unsigned activity_interval_ms;
  size_t activity_history;
  const char *api_key;
} serve_settings_t;

static void serve_defaults(serve_settings_t *st) {
  memset(st, 0, sizeof *st);
  server_config_defaults(&st->server);
  st->data_dir = "./data";
  st->doc_prefixes = "y_doc_room:";
  st->docs.unload_ms = 5000;
  st->docs.compact_threshold = 400;
  st->docs.awareness_window_ms = 50;
  st->activity_interval_ms = 1000;
  st->activity_history = 300;
}

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

static int serve_apply(serve_settings_t *st, size_t opt, const char *value) {
  const char *name = serve_options[opt].flag;
  server_config_t *cfg = &st->server;
  long long n;
  switch (opt) {
  case 0: cfg->host = value; return 0;
  case 1: if (serve_number(name, value, 0, 65535, &n)) return -1; cfg->port = (int)n; return 0;
  case 2: if (serve_number(name, value, 0, 1024, &n)) return -1; cfg->workers = (int)n; return 0;
  case 3: st->data_dir = value; return 0;
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
  case 10: st->doc_prefixes = value; return 0;
  case 11: if (serve_number(name, value, 0, 86400000, &n)) return -1; st->docs.unload_ms = (unsigned)n; return 0;
  case 12: if (serve_number(name, value, 2, 1LL << 30, &n)) return -1; st->docs.compact_threshold = (size_t)n; return 0;
  case 13: if (serve_number(name, value, 10, 3600000, &n)) return -1; st->activity_interval_ms = (unsigned)n; return 0;
  case 14: if (serve_number(name, value, 1, 100000, &n)) return -1; st->activity_history = (size_t)n; return 0;
  case 15: st->api_key = *value ? value : NULL; return 0;
  case 16: if (serve_number(name, value, 100, 3600000, &n)) return -1; cfg->http_timeout_ms = (unsigned)n; return 0;
  case 17: cfg->check_origin = *value ? value : NULL; return 0;
  }
  return -1;
}

static void serve_close_store(void *arg) {
  store_t **store = arg;
  store_close(*store); /* commits and delivers all that is queued */
  *store = NULL;
}

/* What cinder serves, registered on the server as Phoenix registers channels in its socket and
 * plugs in its endpoint. */
static int serve_run(serve_settings_t *st) {
  char err[256];
  store_t *store = store_open(st->data_dir, err, sizeof err);
  if (!store) {
    log_error("cannot open the store in %s: %s", st->data_dir, err);
    return 1;
  }
  server_t *srv = server_new(&st->server);
  if (!srv) {
    store_close(store);
    return 1;
  }
  activity_t *activity = activity_new(st->activity_history);
  activity_config_t activity_cfg = {activity, srv, st->activity_interval_ms};
  api_t api = {st->api_key, activity, srv};
  st->docs.store = store;

  server_add_service(srv, &shared_docs_service, &st->docs);
  server_add_service(srv, &activity_service, &activity_cfg);
  phx_router_add(server_router(srv), "room:*", &room_channel, NULL);
  activity_channel_register(server_router(srv), activity);
  ydoc_channel_register(server_router(srv), st->doc_prefixes);
  api_register(srv, &api);
  server_on_quiesced(srv, serve_close_store, &store);

  int rc = server_run(srv);
  if (store) store_close(store); /* the server did not start */
  server_free(srv);
  activity_free(activity);
  return rc;
}

int cmd_serve(int argc, char **argv) {
  serve_settings_t st;
  serve_defaults(&st);

  for (size_t i = 0; i < SERVE_NOPTIONS; i++) {
    const char *v = getenv(serve_options[i].env);
    if (v && *v && serve_apply(&st, i, v)) return 1;
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
    if (serve_apply(&st, (size_t)c, optarg)) return 1;
  }
  if (optind < argc) {
    fprintf(stderr, "cinder serve: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (mkdir(st.data_dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "cinder serve: cannot create data directory %s: %s\n", st.data_dir,
            strerror(errno));
    return 1;
  }
  return serve_run(&st);
}
