#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activity/activity.h"
#include "api/api.h"
#include "auth/auth.h"
#include "channels/activity_channel.h"
#include "channels/room_channel.h"
#include "channels/ydoc_channel.h"
#include "cluster/cluster.h"
#include "cmd/cmd.h"
#include "core/buf.h"
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
  const char *store_url;  /* NULL: SQLite in data_dir */
  const char *doc_prefixes;
  shared_docs_config_t docs;
  unsigned activity_interval_ms;
  size_t activity_history;
  const char *api_key;
  const char *log_level;
  const char *redis_url;  /* NULL: a single node */
  const char *node_name;  /* NULL: hostname:port */
  unsigned cluster_timeout_ms;
  size_t cluster_max_queue;
  const char *auth_secret;     /* HS256/384/512 */
  const char *auth_public_key; /* a PEM file: RS256 / ES256 */
  const char *auth_mode;       /* "required" (default once a key is set) or "optional" */
  const char *auth_audience, *auth_issuer;
} serve_settings_t;

static void serve_defaults(serve_settings_t *st) {
  memset(st, 0, sizeof *st);
  server_config_defaults(&st->server);
  st->data_dir = "./data";
  st->doc_prefixes = "y_doc_room:";
  st->docs.unload_ms = 5000;
  st->docs.compact_threshold = 400;
  st->docs.awareness_window_ms = 50;
  st->docs.max_doc_bytes = 64u << 20;
  st->docs.max_docs = 10000;
  st->docs.max_awareness_states = 1000;
  st->docs.max_awareness_state_bytes = 64u << 10;
  st->docs.max_doc_opens_per_min = 120;
  st->activity_interval_ms = 1000;
  st->activity_history = 300;
  st->cluster_timeout_ms = 5000;
  st->cluster_max_queue = 100000;
}

/* Every flag has a CINDER_* environment variable; the flag wins. Each option names the field it
 * sets and how its text is read. */
typedef enum {
  OPT_TEXT,      /* a string, kept as given */
  OPT_TEXT_NULL, /* a string; empty means "none" (NULL) */
  OPT_PATH,      /* a string that must start with '/' */
  OPT_INT,       /* int in [min, max] */
  OPT_UINT,      /* unsigned in [min, max] */
  OPT_SIZE,      /* size_t in [min, max] */
  OPT_LOG_LEVEL,
} serve_kind_t;

typedef struct serve_option {
  const char *flag;
  const char *env;
  const char *arg;
  const char *help;
  serve_kind_t kind;
  size_t offset; /* of the field in serve_settings_t */
  long long min, max;
} serve_option_t;

#define SRV(f) offsetof(serve_settings_t, server.f)
#define SET(f) offsetof(serve_settings_t, f)
static const serve_option_t serve_options[] = {
    {"host", "CINDER_HOST", "ADDR", "address to listen on (default 127.0.0.1)", OPT_TEXT, SRV(host), 0, 0},
    {"port", "CINDER_PORT", "PORT", "TCP port (default 4000; 0 picks a free one)", OPT_INT, SRV(port), 0, 65535},
    {"workers", "CINDER_WORKERS", "N", "worker threads (default: one per CPU)", OPT_INT, SRV(workers), 0, 1024},
    {"data", "CINDER_DATA", "DIR", "data directory (default ./data)", OPT_TEXT, SET(data_dir), 0, 0},
    {"store", "CINDER_STORE", "URL", "document store: sqlite:DIR or postgresql://user[:pw]@host:port/db (default sqlite:<--data>)", OPT_TEXT_NULL, SET(store_url), 0, 0},
    {"log-level", "CINDER_LOG_LEVEL", "LEVEL", "debug, info, warn, error or off (default info)", OPT_LOG_LEVEL, SET(log_level), 0, 0},
    {"socket-path", "CINDER_SOCKET_PATH", "PATH", "Phoenix socket mount (default /socket)", OPT_PATH, SRV(socket_path), 0, 0},
    {"yws-path", "CINDER_YWS_PATH", "PATH", "y-websocket endpoint: PATH/<name> serves document <name> (default /yjs; empty: off)", OPT_TEXT, SRV(yws_path), 0, 0},
    {"web", "CINDER_WEB", "DIR", "serve static files from DIR for paths no route takes (default: the bundled web app beside the binary, web/ or ../share/cinder/web/; empty: off)", OPT_TEXT, SRV(web_root), 0, 0},
    {"max-message", "CINDER_MAX_MESSAGE", "BYTES", "WebSocket message cap (default 8388608)", OPT_SIZE, SRV(max_message), 126, 1LL << 30},
    {"max-queue", "CINDER_MAX_QUEUE", "BYTES", "per-socket unsent bytes tolerated for --queue-grace (default 16777216)", OPT_SIZE, SRV(max_queue), 4096, 1LL << 32},
    {"max-queue-hard", "CINDER_MAX_QUEUE_HARD", "BYTES", "per-socket unsent bytes never exceeded (default 268435456)", OPT_SIZE, SRV(max_queue_hard), 4096, 1LL << 36},
    {"queue-grace", "CINDER_QUEUE_GRACE", "MS", "how long a socket may stay over --max-queue (default 30000)", OPT_UINT, SRV(queue_grace_ms), 0, 3600000},
    {"idle-timeout", "CINDER_IDLE_TIMEOUT", "MS", "close a silent WebSocket after (default 60000)", OPT_UINT, SRV(idle_timeout_ms), 100, 86400000},
    {"message-timeout", "CINDER_MESSAGE_TIMEOUT", "MS", "a WebSocket message, once begun, must complete within (default 30000, plus 1 s per 64 KiB)", OPT_UINT, SRV(message_timeout_ms), 100, 3600000},
    {"max-channels", "CINDER_MAX_CHANNELS", "N", "channels per socket (default 100)", OPT_SIZE, SRV(max_channels), 1, 100000},
    {"max-joins", "CINDER_MAX_JOINS", "N", "joins per socket per second, bursts up to --max-channels (default 20)", OPT_UINT, SRV(max_joins_per_s), 1, 100000},
    {"max-topic", "CINDER_MAX_TOPIC", "BYTES", "longest topic name (default 255)", OPT_SIZE, SRV(max_topic), 8, 65535},
    {"max-json-depth", "CINDER_MAX_JSON_DEPTH", "N", "deepest nesting of a client's JSON message (default 64)", OPT_UINT, SRV(max_json_depth), 4, 10000},
    {"max-json-elements", "CINDER_MAX_JSON_ELEMENTS", "N", "values in a client's JSON message (default 100000)", OPT_SIZE, SRV(max_json_elements), 16, 100000000},
    {"max-connections", "CINDER_MAX_CONNECTIONS", "N", "open connections (default: the descriptor limit less a reserve)", OPT_SIZE, SRV(max_connections), 1, 100000000},
    {"max-conns-per-ip", "CINDER_MAX_CONNS_PER_IP", "N", "open connections per client address (default 0: no limit)", OPT_SIZE, SRV(max_conns_per_ip), 0, 100000000},
    {"max-longpoll-per-ip", "CINDER_MAX_LONGPOLL_PER_IP", "N", "LongPoll sessions per client address (default 0: no limit)", OPT_SIZE, SRV(max_longpoll_per_ip), 0, 100000000},
    {"doc-prefixes", "CINDER_DOC_PREFIXES", "LIST", "document room topic prefixes (default y_doc_room:)", OPT_TEXT, SET(doc_prefixes), 0, 0},
    {"doc-unload", "CINDER_DOC_UNLOAD", "MS", "unload a document this long after its last client (default 5000)", OPT_UINT, SET(docs.unload_ms), 0, 86400000},
    {"compact-threshold", "CINDER_COMPACT_THRESHOLD", "N", "stored updates that trigger a compaction (default 400)", OPT_SIZE, SET(docs.compact_threshold), 2, 1LL << 30},
    {"max-doc-bytes", "CINDER_MAX_DOC_BYTES", "BYTES", "largest document state; updates beyond are refused (default 67108864)", OPT_SIZE, SET(docs.max_doc_bytes), 1024, 1LL << 40},
    {"max-docs", "CINDER_MAX_DOCS", "N", "documents loaded at once; idle ones unload first (default 10000)", OPT_SIZE, SET(docs.max_docs), 1, 100000000},
    {"max-doc-opens", "CINDER_MAX_DOC_OPENS", "N", "documents one socket may open per minute (default 120)", OPT_UINT, SET(docs.max_doc_opens_per_min), 1, 1000000},
    {"max-awareness-states", "CINDER_MAX_AWARENESS_STATES", "N", "awareness states per document (default 1000)", OPT_SIZE, SET(docs.max_awareness_states), 1, 10000000},
    {"max-awareness-bytes", "CINDER_MAX_AWARENESS_BYTES", "BYTES", "largest awareness state of one client (default 65536)", OPT_SIZE, SET(docs.max_awareness_state_bytes), 64, 1LL << 30},
    {"activity-interval", "CINDER_ACTIVITY_INTERVAL", "MS", "activity sampling period (default 1000)", OPT_UINT, SET(activity_interval_ms), 10, 3600000},
    {"presence-interval", "CINDER_PRESENCE_INTERVAL", "MS", "presence_diffs of a topic coalesced over this window (default 50; 0: each change at once)", OPT_UINT, SRV(presence_interval_ms), 0, 60000},
    {"activity-history", "CINDER_ACTIVITY_HISTORY", "N", "samples kept per activity stream (default 300)", OPT_SIZE, SET(activity_history), 1, 100000},
    {"api-key", "CINDER_API_KEY", "KEY", "bearer key for /api (default: none, loopback only)", OPT_TEXT_NULL, SET(api_key), 0, 0},
    {"http-timeout", "CINDER_HTTP_TIMEOUT", "MS", "a request head must arrive within (its body: plus 1 s per 64 KiB; default 10000)", OPT_UINT, SRV(http_timeout_ms), 100, 3600000},
    {"redis", "CINDER_REDIS", "URL", "join a cluster through Redis: redis://[[user]:password@]host[:port][/db] (default: none, a single node)", OPT_TEXT_NULL, SET(redis_url), 0, 0},
    {"node-name", "CINDER_NODE_NAME", "NAME", "this node's name in logs, /healthz, /metrics, Presence metas (default hostname:port)", OPT_TEXT_NULL, SET(node_name), 0, 0},
    {"cluster-timeout", "CINDER_CLUSTER_TIMEOUT", "MS", "a node not heard from for this long is down and its members leave (default 5000)", OPT_UINT, SET(cluster_timeout_ms), 500, 600000},
    {"cluster-max-queue", "CINDER_CLUSTER_MAX_QUEUE", "N", "bus messages waiting for Redis past which new ones are dropped (default 100000)", OPT_SIZE, SET(cluster_max_queue), 16, 100000000},
    {"auth-secret", "CINDER_AUTH_SECRET", "SECRET", "verify socket tokens (JWT) signed HS256/HS384/HS512 with this secret (default: no tokens)", OPT_TEXT_NULL, SET(auth_secret), 0, 0},
    {"auth-public-key", "CINDER_AUTH_PUBLIC_KEY", "FILE", "verify socket tokens signed RS256/ES256 with this PEM public key", OPT_TEXT_NULL, SET(auth_public_key), 0, 0},
    {"auth", "CINDER_AUTH", "MODE", "with a key: required (every socket needs a valid token; default) or optional (sockets without one are anonymous)", OPT_TEXT_NULL, SET(auth_mode), 0, 0},
    {"auth-audience", "CINDER_AUTH_AUDIENCE", "AUD", "tokens must name this audience (aud)", OPT_TEXT_NULL, SET(auth_audience), 0, 0},
    {"auth-issuer", "CINDER_AUTH_ISSUER", "ISS", "tokens must come from this issuer (iss)", OPT_TEXT_NULL, SET(auth_issuer), 0, 0},
    {"check-origin", "CINDER_CHECK_ORIGIN", "LIST", "allowed Origins of the socket, e.g. https://app.example.com,//*.example.com (default: any)", OPT_TEXT_NULL, SRV(check_origin), 0, 0},
};
#undef SRV
#undef SET
#define SERVE_NOPTIONS (sizeof serve_options / sizeof serve_options[0])

static void serve_usage(FILE *out) {
  fprintf(out, "usage: cinder serve [options]\n\noptions (each also read from its environment "
               "variable):\n");
  for (size_t i = 0; i < SERVE_NOPTIONS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s %s", serve_options[i].flag, serve_options[i].arg);
    fprintf(out, "  %-26s %-27s %s\n", left, serve_options[i].env, serve_options[i].help);
  }
  fprintf(out, "  %-26s %-27s %s\n", "--help", "", "this text");
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
  const serve_option_t *o = &serve_options[opt];
  void *field = (char *)st + o->offset;
  long long n = 0;
  switch (o->kind) {
  case OPT_TEXT: *(const char **)field = value; return 0;
  case OPT_TEXT_NULL: *(const char **)field = *value ? value : NULL; return 0;
  case OPT_PATH:
    if (value[0] != '/') {
      fprintf(stderr, "cinder serve: --%s must start with '/'\n", o->flag);
      return -1;
    }
    *(const char **)field = value;
    return 0;
  case OPT_LOG_LEVEL: {
    int level = log_level_parse(value);
    if (level < 0) {
      fprintf(stderr, "cinder serve: --log-level: unknown level '%s'\n", value);
      return -1;
    }
    log_set_level((log_level_t)level);
    *(const char **)field = value;
    return 0;
  }
  case OPT_INT:
  case OPT_UINT:
  case OPT_SIZE:
    if (serve_number(o->flag, value, o->min, o->max, &n)) return -1;
    if (o->kind == OPT_INT) *(int *)field = (int)n;
    else if (o->kind == OPT_UINT) *(unsigned *)field = (unsigned)n;
    else *(size_t *)field = (size_t)n;
    return 0;
  }
  return -1;
}

/* What the server's hooks work on. */
typedef struct serve_run_state {
  serve_settings_t *st;
  server_t *srv;
  store_t *store;
  cluster_t *cluster;
  char node_name[256];
  bool web_bundled; /* serving the web app the build bundled (not a --web DIR of one's own) */
} serve_run_state_t;

static void serve_on_quiesced(void *arg) {
  serve_run_state_t *rs = arg;
  store_close(rs->store); /* commits and delivers all that is queued */
  rs->store = NULL;
  /* Then the bus: every document this node owned is stored, so its leases go back, and the
   * goodbye tells the peers to drop this node's members and take its documents over at once. */
  if (rs->cluster) cluster_stop(rs->cluster);
}

/* The port is known: name the node and start the bus before the workers run. */
static void serve_on_started(void *arg) {
  serve_run_state_t *rs = arg;
  if (rs->st->node_name) {
    snprintf(rs->node_name, sizeof rs->node_name, "%s", rs->st->node_name);
  } else {
    char host[200] = "cinder";
    gethostname(host, sizeof host - 1);
    snprintf(rs->node_name, sizeof rs->node_name, "%s:%d", host, rs->srv->cfg.port);
  }
  if (rs->cluster) cluster_start(rs->cluster, &rs->srv->poster, rs->node_name);
  else log_info("node %s (single node: no --redis)", rs->node_name);
  if (rs->web_bundled) {
    const char *host = rs->srv->cfg.host; /* a wildcard address is reached on loopback here */
    if (!strcmp(host, "0.0.0.0") || !*host) host = "127.0.0.1";
    else if (!strcmp(host, "::")) host = "::1";
    bool v6 = strchr(host, ':') != NULL;
    log_info("web app: http://%s%s%s:%d/ (canvas: /canvas.html#lobby, activity: /activity.html)",
             v6 ? "[" : "", host, v6 ? "]" : "", rs->srv->cfg.port);
  }
}

static void serve_on_health(void *arg, json_t *health) {
  serve_run_state_t *rs = arg;
  json_object_set_new(health, "node", json_string(rs->node_name));
  if (!rs->cluster) {
    json_object_set_new(health, "cluster", json_null());
    return;
  }
  cluster_stats_t cs;
  cluster_stats(rs->cluster, &cs);
  json_object_set_new(health, "cluster", json_pack("{sbsi}", "up", cs.up, "nodes", cs.nodes));
}

/* What cinder serves, registered on the server as Phoenix registers channels in its socket and
 * plugs in its endpoint. */
/* The token verifier, from the --auth-* settings: NULL with *failed false when none is set. */
static auth_t *serve_auth(const serve_settings_t *st, bool *failed) {
  *failed = false;
  if (st->auth_mode && strcmp(st->auth_mode, "required") && strcmp(st->auth_mode, "optional")) {
    log_error("--auth: '%s' is neither required nor optional", st->auth_mode);
    *failed = true;
    return NULL;
  }
  if (!st->auth_secret && !st->auth_public_key) {
    if (st->auth_mode || st->auth_audience || st->auth_issuer) {
      log_error("--auth, --auth-audience, --auth-issuer need --auth-secret or --auth-public-key");
      *failed = true;
    }
    return NULL;
  }
  char *pem = NULL;
  if (st->auth_public_key) {
    FILE *f = fopen(st->auth_public_key, "rb");
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20)) buf_append(&b, chunk, n);
    if (!f) {
      log_error("--auth-public-key %s: %s", st->auth_public_key, strerror(errno));
      *failed = true;
      return NULL;
    }
    fclose(f);
    buf_append_byte(&b, '\0');
    pem = (char *)buf_release(&b);
  }
  auth_config_t cfg = {st->auth_secret, pem, st->auth_audience, st->auth_issuer, 5};
  char err[256];
  auth_t *a = auth_new(&cfg, err, sizeof err);
  free(pem);
  if (!a) {
    log_error("auth: %s", err);
    *failed = true;
    return NULL;
  }
  bool optional = st->auth_mode && !strcmp(st->auth_mode, "optional");
  log_info("auth: sockets need %s token (%s%s%s)", optional ? "no token, but a valid" : "a valid",
           st->auth_secret ? "HS256/384/512" : "", st->auth_secret && pem ? ", " : "",
           st->auth_public_key ? "RS256/ES256" : "");
  return a;
}

/* The web app the build bundles (web/build.mjs) lies beside the binary: build/web next to
 * build/cinder, or share/cinder/web after `cmake --install`. Found from the binary's own path, so
 * `make run` serves it from any working directory; absent (a C-only build), static files are off. */
static void serve_find_web(serve_settings_t *st, char *dir, size_t size) {
  if (st->server.web_root) return; /* --web DIR, or --web '' (off) */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  *slash = '\0';
  static const char *const candidates[] = {"%s/web", "%s/../share/cinder/web"};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    char index[PATH_MAX + 64];
    snprintf(dir, size, candidates[i], exe);
    snprintf(index, sizeof index, "%s/index.html", dir);
    if (access(index, R_OK) == 0) {
      st->server.web_root = dir;
      return;
    }
  }
  log_info("web: no bundled web app beside %s (static files off; --web DIR serves one)", exe);
}

static int serve_run(serve_settings_t *st) {
  serve_run_state_t rs = {.st = st};
  char web_dir[PATH_MAX + 32];
  serve_find_web(st, web_dir, sizeof web_dir);
  rs.web_bundled = st->server.web_root == web_dir;
  if (st->server.web_root && *st->server.web_root)
    log_info("web: static files from %s", st->server.web_root);
  bool auth_failed;
  auth_t *auth = serve_auth(st, &auth_failed);
  if (auth_failed) return 1;
  st->server.auth = auth;
  st->server.auth_optional = st->auth_mode && !strcmp(st->auth_mode, "optional");
  if (st->redis_url) {
    const char *why;
    cluster_config_t cc = {st->redis_url, st->cluster_timeout_ms, st->cluster_max_queue};
    rs.cluster = cluster_new(&cc, &why);
    if (!rs.cluster) {
      log_error("--redis %s: %s", st->redis_url, why);
      auth_free(auth);
      return 1;
    }
  }
  char err[512];
  rs.store = store_open(st->store_url ? st->store_url : st->data_dir, err, sizeof err);
  if (!rs.store) {
    log_error("cannot open the store: %s", err);
    cluster_free(rs.cluster);
    auth_free(auth);
    return 1;
  }
  /* y-websocket clients join the documents under the first document topic prefix */
  char yws_prefix[256];
  snprintf(yws_prefix, sizeof yws_prefix, "%.*s", (int)strcspn(st->doc_prefixes, ","),
           st->doc_prefixes);
  st->server.yws_topic_prefix = yws_prefix;
  if (st->server.yws_path[0] && st->server.yws_path[0] != '/') {
    log_error("--yws-path must start with '/' (or be empty: off)");
    store_close(rs.store);
    cluster_free(rs.cluster);
    auth_free(auth);
    return 1;
  }
  server_t *srv = server_new(&st->server);
  if (!srv) {
    store_close(rs.store);
    cluster_free(rs.cluster);
    auth_free(auth);
    return 1;
  }
  rs.srv = srv;
  activity_t *activity = activity_new(st->activity_history);
  activity_config_t activity_cfg = {activity, srv, st->activity_interval_ms, rs.node_name,
                                    rs.cluster};
  api_t api = {st->api_key, activity, srv, rs.cluster, rs.node_name, rs.store};
  st->docs.store = rs.store;
  if (rs.cluster && !strcmp(store_kind(rs.store), "postgresql")) {
    /* One owner per document in the cluster, over the store every node reaches. */
    st->docs.cluster = rs.cluster;
    doc_cluster_attach(&st->docs);
  } else if (rs.cluster) {
    /* A SQLite file is one node's: serving documents per node would split every room in two. */
    st->docs.refuse_joins = "documents are not available in a cluster over the SQLite store: "
                            "each node would keep its own copy (a shared PostgreSQL store is "
                            "needed)";
    log_warn("cluster over the SQLite store: y_doc_room joins are refused (documents need a "
             "store the nodes share: --store postgresql://...)");
  }

  server_add_service(srv, &shared_docs_service, &st->docs);
  server_add_service(srv, &activity_service, &activity_cfg);
  phx_router_add(server_router(srv), "room:*", &room_channel, NULL);
  activity_channel_register(server_router(srv), activity);
  ydoc_channel_register(server_router(srv), st->doc_prefixes);
  api_register(srv, &api);
  if (rs.cluster) server_set_cluster(srv, cluster_link(rs.cluster));
  server_on_started(srv, serve_on_started, &rs);
  server_on_health(srv, serve_on_health, &rs);
  server_on_quiesced(srv, serve_on_quiesced, &rs);

  int rc = server_run(srv);
  if (rs.store) store_close(rs.store); /* the server did not start */
  server_free(srv);
  cluster_free(rs.cluster); /* after the workers: tasks they held may have named it */
  activity_free(activity);
  auth_free(auth);
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
  if (!st.store_url && mkdir(st.data_dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "cinder serve: cannot create data directory %s: %s\n", st.data_dir,
            strerror(errno));
    return 1;
  }
  return serve_run(&st);
}
