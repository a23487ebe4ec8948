#include "api/api.h"

#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activity/activity.h"
#include "api/metrics.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "docs/shared_doc.h"
#include "http/http_query.h"
#include "net/conn.h"
#include "net/http_handler.h"
#include "net/worker.h"
#include "phx/phx_json_scan.h"
#include "phx/phx_presence.h"
#include "phx/phx_pubsub.h"
#include "store/store.h"

/* --- access and request checks ------------------------------------------------------------------ */

static bool api_authorized(const api_t *api, conn_t *c, const http_request_t *req) {
  const char *key = api->key;
  const http_header_t *h = key ? http_header_find(req, "authorization") : NULL;
  size_t klen = key ? strlen(key) : 0;
  bool ok = key ? h && h->value_len == 7 + klen && !strncasecmp(h->value, "Bearer ", 7) &&
                      CRYPTO_memcmp(h->value + 7, key, klen) == 0
                : http_request_is_local(c, req);
  if (ok) return true;
  const char *why = !key ? "API key required (none is configured: local clients only, not through a proxy)"
                    : h ? "invalid API key" : "missing API key";
  log_warn("api: %s refused: %s", c->peer, !key ? "no API key configured and the client is not local (or came through a proxy)"
                                             : h ? "wrong API key" : "missing API key");
  http_respond_error_with(c, 401, why, "WWW-Authenticate: Bearer realm=\"cinder\"\r\n");
  return false;
}

/* The key and the method: what every API request must pass first. */
static bool api_admit(const api_t *api, conn_t *c, const http_request_t *req, const char *method) {
  return api_authorized(api, c, req) && http_require_method(c, req, method, "api");
}

/* A JSON object body with Content-Type application/json. */
static json_t *api_json_body(conn_t *c, const http_request_t *req, const char *body, size_t len) {
  const http_header_t *ct = http_header_find(req, "content-type");
  if (!ct || ct->value_len < 16 || strncasecmp(ct->value, "application/json", 16) ||
      (ct->value_len > 16 && ct->value[16] != ';' && ct->value[16] != ' ')) {
    log_info("api: %s: content type is not application/json", c->peer);
    http_respond_error(c, 415, "content type must be application/json");
    return NULL;
  }
  /* The socket's JSON limits hold for API bodies too, checked before jansson builds a tree. */
  const server_config_t *cfg = &c->w->server->cfg;
  phx_json_limits_t limits = {.max_depth = cfg->max_json_depth, .max_values = cfg->max_json_elements};
  phx_json_stats_t st;
  int scan = phx_json_scan(body, len, &limits, &st);
  if (scan == PHX_JSON_SCAN_TOO_DEEP || scan == PHX_JSON_SCAN_TOO_MANY) {
    char why[96];
    if (scan == PHX_JSON_SCAN_TOO_DEEP)
      snprintf(why, sizeof why, "JSON body nested deeper than %u levels", st.depth - 1);
    else
      snprintf(why, sizeof why, "JSON body has more than %zu values", st.values - 1);
    log_info("api: %s: %s (%zu bytes)", c->peer, why, len);
    http_respond_error(c, 400, why);
    return NULL;
  }
  json_error_t err;
  json_t *o = scan == PHX_JSON_SCAN_OK ? json_loadb(body, len, 0, &err) : NULL;
  if (!o && scan != PHX_JSON_SCAN_OK)
    snprintf(err.text, sizeof err.text, "invalid JSON at byte %zu", st.offset);
  if (!json_is_object(o)) {
    log_info("api: %s: malformed JSON body: %s", c->peer, o ? "not an object" : err.text);
    json_decref(o);
    http_respond_error(c, 400, "body must be a JSON object");
    return NULL;
  }
  return o;
}

static void api_ok(conn_t *c, const http_request_t *req, int status, json_t *o) {
  char *body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
  http_respond(c, status, "application/json", body, strlen(body), "Cache-Control: no-store\r\n",
               req->keep_alive);
  free(body);
  json_decref(o);
}

static const char *api_string(json_t *o, const char *field) {
  const char *s = json_string_value(json_object_get(o, field));
  return s && *s ? s : NULL;
}

/* --- POST /api/broadcast ------------------------------------------------------------------------- */

static void api_broadcast(conn_t *c, const http_request_t *req, const char *body, size_t len,
                          void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "POST")) return;
  json_t *o = api_json_body(c, req, body, len);
  if (!o) return;
  const char *topic = api_string(o, "topic"), *event = api_string(o, "event");
  json_t *payload = json_object_get(o, "payload");
  const char *why = !topic ? "topic must be a non-empty string"
                    : !event ? "event must be a non-empty string"
                    : payload && !json_is_object(payload) ? "payload must be a JSON object"
                    : !strncmp(event, "phx_", 4) ? "event names starting with phx_ are reserved"
                                                  : NULL;
  if (why) {
    log_info("api: broadcast refused: %s", why);
    http_respond_error(c, 400, why);
    json_decref(o);
    return;
  }
  char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
                       : xstrdup("{}");
  phx_broadcast_t *bc = phx_broadcast_new(topic, event, false, text, strlen(text));
  free(text);
  phx_pubsub_publish_cluster(&c->w->pubsub, bc);
  log_debug("api: broadcast '%s' on %s", event, topic);
  json_decref(o);
  api_ok(c, req, 202, json_pack("{ss}", "status", "accepted"));
}

/* --- POST /api/events ------------------------------------------------------------------------------ */

static void api_events(conn_t *c, const http_request_t *req, const char *body, size_t len,
                       void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "POST")) return;
  json_t *o = api_json_body(c, req, body, len);
  if (!o) return;
  const char *stream = api_string(o, "stream");
  json_t *value = json_object_get(o, "value");
  const char *why = !stream || !activity_stream_name_valid(stream)
                        ? "stream must be 1-64 of [A-Za-z0-9_.-] (not server or doc*)"
                    : !json_is_number(value) || !isfinite(json_number_value(value))
                        ? "value must be a finite number"
                        : NULL;
  if (why) {
    log_info("api: event refused: %s", why);
    http_respond_error(c, 400, why);
  } else if (!activity_add_event(api->activity, &c->w->server->poster, stream,
                                 json_number_value(value))) {
    log_warn("api: event refused: too many streams");
    http_respond_error(c, 429, "too many streams");
  } else {
    api_ok(c, req, 202, json_pack("{ss}", "status", "accepted"));
  }
  json_decref(o);
}

/* --- POST /api/disconnect: close every socket of a user, on every node -------------------------- */

static void api_disconnect(conn_t *c, const http_request_t *req, const char *body, size_t len,
                           void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "POST")) return;
  json_t *o = api_json_body(c, req, body, len);
  if (!o) return;
  const char *user = api_string(o, "user");
  if (!user) {
    log_info("api: disconnect refused: user must be a non-empty string");
    http_respond_error(c, 400, "user must be a non-empty string");
    json_decref(o);
    return;
  }
  json_t *payload = json_pack("{ss}", "user", user);
  char *text = json_dumps(payload, JSON_COMPACT);
  json_decref(payload);
  phx_broadcast_t *bc = phx_broadcast_new(SERVER_KICK_TOPIC, "disconnect", false, text, strlen(text));
  free(text);
  phx_pubsub_publish_cluster(&c->w->pubsub, bc);
  log_info("api: disconnect user %s", user);
  json_decref(o);
  api_ok(c, req, 202, json_pack("{ss}", "status", "accepted"));
}

/* --- asynchronous answers ------------------------------------------------------------------------- */

/* Names the waiting connection by (worker, id): it may close before the answer is ready. */
typedef struct api_wait {
  worker_t *w;
  uint64_t conn_id;
  bool keep_alive;
} api_wait_t;

static conn_t *api_wait_begin(conn_t *c, const http_request_t *req, api_wait_t *wait) {
  wait->w = c->w;
  wait->conn_id = c->id;
  wait->keep_alive = req->keep_alive;
  c->http_pending = true;
  return c;
}

static void api_wait_end(api_wait_t *wait, json_t *o) {
  conn_t *c = worker_find_conn(wait->w, wait->conn_id);
  if (c && c->state == CONN_HTTP) {
    char *body = json_dumps(o, JSON_COMPACT);
    http_respond(c, 200, "application/json", body, strlen(body), "Cache-Control: no-store\r\n",
                 wait->keep_alive);
    free(body);
    conn_resume(c);
  }
  json_decref(o);
}

/* --- /api/docs/<name>[/update]: read and write a document without a WebSocket --------------------- */

typedef struct api_doc {
  api_wait_t wait;
} api_doc_t;

static void api_doc_done(void *ctx, doc_api_result_t *r) {
  api_doc_t *a = ctx;
  conn_t *c = r ? worker_find_conn(a->wait.w, a->wait.conn_id) : NULL;
  if (c && c->state == CONN_HTTP) {
    http_respond(c, r->status, r->binary ? "application/octet-stream" : "application/json",
                 (const char *)r->body, r->len, "Cache-Control: no-store\r\n", a->wait.keep_alive);
    conn_resume(c);
  }
  free(a);
}

/* Standard or URL-safe base64, padding optional; -1 when malformed. */
static long api_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = in[i];
    int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
            : ch >= '0' && ch <= '9' ? ch - '0' + 52 : ch == '+' || ch == '-' ? 62
            : ch == '/' || ch == '_' ? 63 : ch == '=' ? -2 : -1;
    if (v == -2) break;
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) return -1;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (long)o;
}

static void api_docs_one(conn_t *c, const http_request_t *req, const char *body, size_t len,
                         void *arg) {
  const api_t *api = arg;
  if (!api_authorized(api, c, req)) return;
  static const char base[] = "/api/docs/";
  const char *rest = req->path + sizeof base - 1;
  size_t rest_len = req->path_len - (sizeof base - 1);
  bool update = rest_len > 7 && !memcmp(rest + rest_len - 7, "/update", 7);
  if (update) rest_len -= 7;
  char name[1024];
  long n = http_path_decode(rest, rest_len, name, sizeof name);
  if (n <= 0 || !utf8_valid((const uint8_t *)name, (size_t)n) || memchr(name, '/', (size_t)n)) {
    log_info("api: document request with a bad name");
    http_respond_error(c, 400, "bad document name");
    return;
  }
  doc_api_op_t op;
  uint8_t *data = NULL;
  size_t data_len = 0;
  if (!update && http_method_is(req, "GET")) {
    op = DOC_API_JSON;
  } else if (!update && http_method_is(req, "DELETE")) {
    op = DOC_API_DELETE;
  } else if (update && http_method_is(req, "GET")) {
    op = DOC_API_STATE;
    json_t *q = req->query ? http_query_parse(req->query, req->query_len) : NULL;
    const char *sv = json_string_value(json_object_get(q, "sv"));
    if (sv) {
      size_t cap = strlen(sv);
      data = xmalloc(cap + 1);
      long m = api_base64_decode(sv, cap, data, cap + 1);
      if (m < 0) {
        free(data);
        json_decref(q);
        log_info("api: document %s: sv is not base64", name);
        http_respond_error(c, 400, "sv must be a base64 state vector");
        return;
      }
      data_len = (size_t)m;
    }
    json_decref(q);
  } else if (update && http_method_is(req, "POST")) {
    op = DOC_API_APPLY;
    data = (uint8_t *)body;
    data_len = len;
    if (!len) {
      log_info("api: document %s: empty update", name);
      http_respond_error(c, 400, "the body must be a Yjs update (v1)");
      return;
    }
  } else {
    log_info("api: %.*s on a document refused", (int)req->method_len, req->method);
    http_respond_error(c, 405, "method not allowed");
    return;
  }
  api_doc_t *a = xcalloc(1, sizeof *a);
  api_wait_begin(c, req, &a->wait);
  shared_doc_api(&c->w->ctx, name, op, data, data_len, api_doc_done, a);
  if (op == DOC_API_STATE) free(data);
}

/* --- GET /api/docs: the stored documents, and which are loaded with how many clients ------------- */

static int api_strcmp_ptr(const void *a, const void *b);

typedef struct api_docs {
  api_wait_t wait;
  json_t *list;   /* name -> {"name","entries","bytes","loaded","clients"} */
  atomic_int remaining;
  uv_mutex_t lock;
} api_docs_t;

static json_t *api_docs_entry(api_docs_t *g, const char *name) {
  json_t *e = json_object_get(g->list, name);
  if (!e) {
    e = json_pack("{sssisisbsi}", "name", name, "entries", 0, "bytes", 0, "loaded", 0, "clients", 0);
    json_object_set_new(g->list, name, e);
  }
  return e;
}

static void api_docs_loaded(void *arg, const char *name, size_t clients) {
  api_docs_t *g = arg;
  uv_mutex_lock(&g->lock);
  json_t *e = api_docs_entry(g, name);
  json_object_set_new(e, "loaded", json_true());
  json_object_set_new(e, "clients", json_integer((json_int_t)clients));
  uv_mutex_unlock(&g->lock);
}

static void api_docs_finish(api_docs_t *g) {
  json_t *arr = json_array();
  const char *k;
  json_t *v;
  const char **names = xcalloc(json_object_size(g->list) + 1, sizeof *names);
  size_t n = 0;
  json_object_foreach(g->list, k, v) names[n++] = k;
  qsort(names, n, sizeof *names, api_strcmp_ptr);
  for (size_t i = 0; i < n; i++) json_array_append(arr, json_object_get(g->list, names[i]));
  free(names);
  json_decref(g->list);
  uv_mutex_destroy(&g->lock);
  api_wait_end(&g->wait, arr);
  free(g);
}

typedef struct api_docs_task {
  task_t task;
  api_docs_t *g;
} api_docs_task_t;

/* The answer, on the worker that holds the connection (the only one that may touch it). */
static void api_docs_answer(task_t *t, task_ctx_t *ctx) {
  api_docs_task_t *dt = (api_docs_task_t *)t;
  api_docs_t *g = dt->g;
  free(dt);
  if (ctx) {
    api_docs_finish(g);
  } else { /* shutting down: nobody to answer */
    json_decref(g->list);
    uv_mutex_destroy(&g->lock);
    free(g);
  }
}

static void api_docs_collect(task_t *t, task_ctx_t *ctx) {
  api_docs_task_t *dt = (api_docs_task_t *)t;
  api_docs_t *g = dt->g;
  if (ctx) shared_docs_each_served(ctx, api_docs_loaded, g);
  if (atomic_fetch_sub(&g->remaining, 1) != 1) {
    free(dt);
    return;
  }
  dt->task.run = api_docs_answer; /* the last one to add its part hands the list back */
  if (ctx) task_post(&g->wait.w->server->poster, g->wait.w->id, &dt->task);
  else api_docs_answer(&dt->task, NULL); /* shutting down: freed here */
}

static void api_docs_stored(void *ctx, int status, store_doc_info_t *docs, size_t n) {
  api_docs_t *g = ctx;
  for (size_t i = 0; i < n; i++) {
    json_t *e = api_docs_entry(g, docs[i].name);
    json_object_set_new(e, "entries", json_integer((json_int_t)docs[i].entries));
    json_object_set_new(e, "bytes", json_integer((json_int_t)docs[i].bytes));
  }
  store_doc_info_free(docs, n);
  if (status) log_warn("api: listing the stored documents failed: %s", store_strerror(status));
  /* Then every worker adds what it has loaded. */
  const task_poster_t *poster = &g->wait.w->server->poster;
  atomic_init(&g->remaining, poster->nworkers);
  for (int w = 0; w < poster->nworkers; w++) {
    api_docs_task_t *dt = xcalloc(1, sizeof *dt);
    dt->task.run = api_docs_collect;
    dt->g = g;
    task_post(poster, w, &dt->task);
  }
}

static void api_docs(conn_t *c, const http_request_t *req, const char *body, size_t len,
                     void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "GET")) return;
  api_docs_t *g = xcalloc(1, sizeof *g);
  api_wait_begin(c, req, &g->wait);
  g->list = json_object();
  uv_mutex_init(&g->lock);
  if (api->store) store_list(api->store, &c->w->executor, api_docs_stored, g);
  else api_docs_stored(g, 0, NULL, 0);
}

/* --- GET /api/presence?topic=T ------------------------------------------------------------------ */

typedef struct api_presence {
  api_wait_t wait;
  char *topic;
} api_presence_t;

static void api_presence_done(void *ctx, char *state_json) {
  api_presence_t *p = ctx;
  json_t *state = json_loads(state_json, 0, NULL);
  api_wait_end(&p->wait, json_pack("{ssso}", "topic", p->topic, "presences",
                                   state ? state : json_object()));
  free(state_json);
  free(p->topic);
  free(p);
}

static void api_presence(conn_t *c, const http_request_t *req, const char *body, size_t len,
                         void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "GET")) return;
  json_t *q = req->query ? http_query_parse(req->query, req->query_len) : NULL;
  const char *topic = q ? api_string(q, "topic") : NULL;
  if (!topic) {
    json_decref(q);
    log_info("api: presence query without a topic");
    http_respond_error(c, 400, "query parameter topic is required");
    return;
  }
  api_presence_t *p = xcalloc(1, sizeof *p);
  api_wait_begin(c, req, &p->wait);
  p->topic = xstrdup(topic);
  json_decref(q);
  phx_presence_query(&c->w->pubsub, p->topic, api_presence_done, p);
}

/* --- GET /api/topics: every worker (in a cluster: every node) lists its topics; the asking worker
 * adds them up ---------------------------------------------------------------------------------- */

typedef struct api_topics {
  api_wait_t wait;
  int remaining;
  json_t *counts; /* topic -> subscribers */
} api_topics_t;

typedef struct api_topics_task {
  task_t task;
  api_topics_t *gather;
  char *part; /* JSON object text: topic -> local subscribers */
} api_topics_task_t;

static int api_strcmp_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void api_topics_merge(task_t *t, task_ctx_t *ctx) {
  api_topics_task_t *tt = (api_topics_task_t *)t;
  api_topics_t *g = tt->gather;
  json_t *part = json_loads(tt->part, 0, NULL);
  const char *topic;
  json_t *n;
  json_object_foreach(part, topic, n) {
    json_int_t have = json_integer_value(json_object_get(g->counts, topic));
    json_object_set_new(g->counts, topic, json_integer(have + json_integer_value(n)));
  }
  json_decref(part);
  free(tt->part);
  free(tt);
  if (--g->remaining) return;
  json_t *list = json_array();
  const char **names = xcalloc(json_object_size(g->counts) + 1, sizeof *names);
  size_t k = 0;
  json_object_foreach(g->counts, topic, n) names[k++] = topic;
  qsort(names, k, sizeof *names, api_strcmp_ptr);
  for (size_t i = 0; i < k; i++) {
    json_t *e = json_pack("{sssO}", "topic", names[i], "subscribers", json_object_get(g->counts, names[i]));
    json_array_append_new(list, e);
  }
  free(names);
  json_decref(g->counts);
  api_wait_end(&g->wait, json_pack("{so}", "topics", list));
  free(g);
}

static void api_topics_collect(task_t *t, task_ctx_t *ctx) {
  api_topics_task_t *tt = (api_topics_task_t *)t;
  phx_pubsub_t *ps = phx_pubsub_of(ctx);
  if (!ps) { /* shutting down: the asking connection is gone too */
    free(tt);
    return;
  }
  json_t *part = json_object();
  for (dict_iter_t it = dict_iter(&ps->topics); dict_next(&it);)
    if (strncmp(it.entry->key, SERVER_INTERNAL_PREFIX, sizeof SERVER_INTERNAL_PREFIX - 1))
    json_object_set_new(part, it.entry->key, json_integer((json_int_t)phx_pubsub_local_count(ps, it.entry->key)));
  tt->part = json_dumps(part, JSON_COMPACT);
  json_decref(part);
  tt->task.run = api_topics_merge;
  phx_pubsub_submit(ps, tt->gather->wait.w->id, &tt->task);
}

/* In a cluster every node answers (this one included) with ["topic", count] pairs. */
static void api_topics_cluster_done(void *ctx, char **answers, size_t n) {
  api_topics_t *g = ctx;
  if (!answers) { /* shutting down: nobody to answer */
    json_decref(g->counts);
    free(g);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *pairs = json_loads(answers[i], 0, NULL);
    size_t k;
    json_t *pair;
    json_array_foreach(pairs, k, pair) {
      const char *topic = json_string_value(json_array_get(pair, 0));
      json_int_t subs = json_integer_value(json_array_get(pair, 1));
      if (!topic) continue;
      json_int_t have = json_integer_value(json_object_get(g->counts, topic));
      json_object_set_new(g->counts, topic, json_integer(have + subs));
    }
    json_decref(pairs);
  }
  api_topics_task_t *tt = xcalloc(1, sizeof *tt);
  tt->gather = g;
  tt->part = xstrdup("{}");
  g->remaining = 1;
  api_topics_merge(&tt->task, NULL); /* the sorted list and the answer, as on one node */
}

static void api_topics(conn_t *c, const http_request_t *req, const char *body, size_t len,
                       void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "GET")) return;
  api_topics_t *g = xcalloc(1, sizeof *g);
  api_wait_begin(c, req, &g->wait);
  g->counts = json_object();
  if (api->cluster) {
    cluster_query_topics(api->cluster, c->w->id, api_topics_cluster_done, g);
    return;
  }
  const task_poster_t *poster = &c->w->server->poster;
  g->remaining = poster->nworkers;
  for (int i = 0; i < poster->nworkers; i++) {
    api_topics_task_t *tt = xcalloc(1, sizeof *tt);
    tt->task.run = api_topics_collect;
    tt->gather = g;
    task_post(poster, i, &tt->task);
  }
}

/* --- GET /metrics --------------------------------------------------------------------------------- */

static void api_metrics(conn_t *c, const http_request_t *req, const char *body, size_t len,
                        void *arg) {
  const api_t *api = arg;
  if (!api_admit(api, c, req, "GET")) return;
  buf_t text = BUF_INIT;
  metrics_render(api->server, api->cluster, api->node_name, &text);
  http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", (const char *)text.data,
               text.len, "Cache-Control: no-store\r\n", req->keep_alive);
  buf_free(&text);
}

void api_register(server_t *srv, api_t *api) {
  server_route_add(srv, "/api/broadcast", api_broadcast, api);
  server_route_add(srv, "/api/events", api_events, api);
  server_route_add(srv, "/api/topics", api_topics, api);
  server_route_add(srv, "/api/presence", api_presence, api);
  server_route_add(srv, "/api/disconnect", api_disconnect, api);
  server_route_add(srv, "/api/docs", api_docs, api);
  server_route_add(srv, "/api/docs/*", api_docs_one, api);
  server_route_add(srv, "/metrics", api_metrics, api);
}
