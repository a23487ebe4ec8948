#include "phx/phx_socket.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vec.h"
#include "phx/phx_frame.h"
#include "phx/phx_json_scan.h"
#include "phx/phx_presence.h"
#include "ws/ws_frame.h"

static uint64_t phx_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t phx_join_capacity(const phx_socket_t *s) {
  return s->config.max_channels ? s->config.max_channels : 1;
}

/* Connect params, kept lazily. Most sockets are phoenix.js sockets whose only param is
 * {"vsn": "2.0.0"}: a JSON object for that costs ~300 bytes per socket, held for the socket's
 * life and read by nobody. Such a socket keeps the vsn text, and the object is built on first use
 * (phx_socket_params). */
static void phx_socket_keep_params(phx_socket_t *s, json_t *params) {
  const char *vsn = json_string_value(json_object_get(params, "vsn"));
  if (!params || json_object_size(params) == 0 ||
      (json_object_size(params) == 1 && vsn && strlen(vsn) < sizeof s->vsn_text)) {
    if (vsn) snprintf(s->vsn_text, sizeof s->vsn_text, "%s", vsn);
    json_decref(params);
    s->params = NULL;
  } else {
    s->params = params;
  }
}

json_t *phx_socket_params(phx_socket_t *s) {
  if (!s->params) s->params = s->vsn_text[0] ? json_pack("{ss}", "vsn", s->vsn_text) : json_object();
  return s->params;
}

phx_socket_t *phx_socket_new(phx_pubsub_t *ps, phx_transport_t *t, phx_vsn_t vsn, json_t *params,
                             uint8_t *auth_token, size_t auth_token_len,
                             const phx_socket_config_t *config) {
  phx_socket_t *s = xcalloc(1, sizeof *s);
  s->transport = t;
  s->pubsub = ps;
  s->vsn = vsn;
  phx_socket_keep_params(s, params);
  s->auth_token = auth_token;
  s->auth_token_len = auth_token_len;
  s->config = *config;
  if (!s->config.now_ns) s->config.now_ns = phx_monotonic_ns;
  /* The channel array and the assigns grow on first use: most sockets join one or two topics and
   * never touch assigns, and an idle socket should cost little (≤ 2 KB of server memory). */
  s->join_tat_ns = s->config.now_ns(); /* full */
  return s;
}

void phx_socket_send(phx_socket_t *s, frame_t *f) {
  if (s->closed) return;
  /* A y-websocket client reads binary y-protocols messages only: replies, presence and other
   * text pushes are Phoenix's, not its. */
  if (s->vsn == PHX_RAW && (f->data[0] & 0x0F) == WS_OP_TEXT) return;
  PHX_COUNT(s->pubsub->frames_out, 1);
  s->transport->send(s->transport, f);
}

phx_channel_t *phx_socket_find(const phx_socket_t *s, const char *topic) {
  for (size_t i = 0; i < s->nchannels; i++)
    if (!strcmp(s->channels[i]->topic, topic)) return s->channels[i];
  return NULL;
}

static void phx_socket_remove(phx_socket_t *s, phx_channel_t *ch) {
  for (size_t i = 0; i < s->nchannels; i++)
    if (s->channels[i] == ch) {
      s->channels[i] = s->channels[--s->nchannels];
      return;
    }
}

/* --- frames the protocol itself sends ------------------------------------------------------------ */

static void phx_send_text(phx_socket_t *s, buf_t *b) {
  frame_t *f = phx_frame_finish(b, WS_OP_TEXT);
  phx_socket_send(s, f);
  frame_unref(f);
}

static void phx_send_reply_len(phx_socket_t *s, const json_t *join_ref, const json_t *ref,
                               const char *topic, const char *status, const char *response,
                               size_t len) {
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_reply(&b, s->vsn, join_ref, ref, topic, status, response, len);
  phx_send_text(s, &b);
}

static void phx_send_reply(phx_socket_t *s, const json_t *join_ref, const json_t *ref,
                           const char *topic, const char *status, const char *response) {
  phx_send_reply_len(s, join_ref, ref, topic, status, response, strlen(response));
}

/* phx_close / phx_error carry the join_ref stored at join in both ref positions (spec §4.8).
 * A y-websocket socket has nothing but its one channel: its connection closes instead (1011 when
 * the channel crashed, e.g. the document cannot be served: the client reconnects later). */
static void phx_send_exit(phx_socket_t *s, const json_t *join_ref, const char *topic,
                          bool crashed) {
  if (s->vsn == PHX_RAW) {
    s->transport->close(s->transport, crashed ? WS_CLOSE_INTERNAL : WS_CLOSE_NORMAL,
                        crashed ? "document unavailable" : "closed");
    return;
  }
  static const char close_payload[] = "{}";
  static const char error_payload[] = "{\"reason\":\"channel_crash\"}";
  const char *payload = crashed ? error_payload : close_payload;
  buf_t b = BUF_INIT;
  frame_buf_begin(&b);
  phx_encode_message(&b, s->vsn, join_ref, join_ref, topic, crashed ? "phx_error" : "phx_close",
                     payload, strlen(payload));
  phx_send_text(s, &b);
}

/* --- channel lifecycle ------------------------------------------------------------------------- */

static void phx_channel_deliver(phx_subscriber_t *sub, phx_broadcast_t *bc) {
  phx_channel_t *ch = (phx_channel_t *)sub;
  frame_t *f = phx_broadcast_frame(bc, ch->socket->vsn);
  if (f) phx_socket_send(ch->socket, f);
}

static phx_channel_t *phx_channel_new(phx_socket_t *s, const phx_route_t *route,
                                      const phx_msg_t *join) {
  phx_channel_t *ch = xcalloc(1, sizeof *ch);
  ch->sub.deliver = phx_channel_deliver;
  ch->sub.id = phx_subscriber_next_id();
  ch->type = route->type;
  ch->route = route;
  ch->socket = s;
  ch->topic = xstrdup(join->topic);
  ch->join_ref = join->join_ref ? json_incref(join->join_ref) : NULL;
  const json_t *cj = join->join_ref ? join->join_ref : join->ref;
  ch->reply_join_ref = cj ? json_incref((json_t *)cj) : NULL;
  ch->state = ch->type->state_size ? xcalloc(1, ch->type->state_size) : NULL;
  return ch;
}

static void phx_channel_free(phx_channel_t *ch) {
  json_decref(ch->join_ref);
  json_decref(ch->reply_join_ref);
  free(ch->topic);
  free(ch->state);
  free(ch);
}

/* Detach a channel from its socket and the pubsub, run its terminate hook, free it. */
static void phx_channel_end(phx_socket_t *s, phx_channel_t *ch, phx_exit_t reason) {
  phx_socket_remove(s, ch);
  phx_pubsub_unsubscribe(s->pubsub, &ch->sub);
  phx_presence_untrack(ch);
  dict_delete(&s->pubsub->channels, (const char *)&ch->sub.id, sizeof ch->sub.id);
  atomic_fetch_sub_explicit(&s->pubsub->channels_joined, 1, memory_order_relaxed);
  if (ch->type->terminate) ch->type->terminate(ch, reason);
  phx_channel_free(ch);
}

void phx_channel_stop(phx_channel_t *ch, bool crashed) {
  if (ch->stopping) return;
  ch->stopping = true;
  ch->stopped_crashed = crashed;
  phx_socket_t *s = ch->socket;
  /* Inside a callback of this socket the exit waits until the callback returns (phx_socket_reap),
   * so a channel is never freed under its own feet. */
  if (s->dispatching > 0) return;
  phx_send_exit(s, ch->join_ref, ch->topic, crashed);
  phx_channel_end(s, ch, crashed ? PHX_EXIT_CRASHED : PHX_EXIT_STOPPED);
}

static void phx_socket_reap(phx_socket_t *s) {
  for (size_t i = 0; i < s->nchannels;) {
    phx_channel_t *ch = s->channels[i];
    if (!ch->stopping) {
      i++;
      continue;
    }
    phx_send_exit(s, ch->join_ref, ch->topic, ch->stopped_crashed);
    phx_channel_end(s, ch, ch->stopped_crashed ? PHX_EXIT_CRASHED : PHX_EXIT_STOPPED);
  }
}

void phx_socket_free(phx_socket_t *s) {
  s->closed = true;
  while (s->nchannels) phx_channel_end(s, s->channels[s->nchannels - 1], PHX_EXIT_CLOSED);
  json_decref(s->params);
  json_decref(s->assigns);
  free(s->auth_token);
  free(s->channels);
  if (s->auth) {
    auth_claims_free(s->auth);
    free(s->auth);
  }
  free(s);
}

void phx_socket_set_auth(phx_socket_t *s, auth_claims_t *claims) {
  if (s->auth) {
    auth_claims_free(s->auth);
    free(s->auth);
  }
  s->auth = claims;
}

bool phx_socket_expired(const phx_socket_t *s, const auth_t *auth, int64_t now_s) {
  return auth && s->auth && auth_expired(auth, s->auth, now_s);
}

const char *phx_socket_user(const phx_socket_t *s) { return s->auth ? s->auth->sub : NULL; }

/* --- limits ------------------------------------------------------------------------------------
 *
 * How a refusal is answered. A message that can be answered safely — decoded, with refs the
 * client can route a reply by — gets an error reply {"reason": ...}, exactly as a channel refuses
 * a join: a topic over max_topic, a join beyond the bucket. phoenix.js then treats it as any
 * failed join (its rejoin backoff retries later) and the socket's other channels carry on.
 *
 * A message that cannot be answered closes the connection, as a malformed one does (1007 text,
 * 1003 binary): one over the JSON limits was never decoded (no ref to reply to), and one whose
 * join_ref or ref is unusable cannot be replied to without echoing what we refuse to keep. Each
 * gets the code that says why rather than "malformed": 1009 (too big to process) for the JSON
 * limits, the code --max-message already uses for size; 1008 (policy violation) for refs, which
 * are valid JSON and a valid Phoenix message, only not one we accept. The transport's close hook
 * carries the reason to the client (the close code returned by phx_socket_handle_text only
 * names malformed input), so these close the transport themselves and return 0 — after which the
 * transport releases the socket as after any close asked for during a message.
 *
 * Every refusal logs one line (warn) with sizes and at most a short, sanitised prefix of a topic
 * or event — never the payload. The error replies leave the socket open, so a client can repeat
 * them as fast as it sends: those lines are limited to one a second per socket, each with the
 * count of refusals not logged since the previous one. */

static bool phx_log_due(phx_socket_t *s, log_limit_t *l, unsigned long long *skipped) {
  uint64_t n = 0;
  bool due = log_limit_due(l, s->config.now_ns() / 1000000u, 1000, &n);
  *skipped = n;
  return due;
}

static void phx_socket_refuse(phx_socket_t *s, uint16_t code, const char *reason) {
  if (s->closed) return;
  s->transport->close(s->transport, code, reason);
  s->closed = true; /* nothing more is sent on a connection that is closing */
}

/* A log-safe prefix of client text for out[size]: at most size - 8 bytes of it (32 for the usual
 * 40), anything but printable ASCII as '?', "..." when cut. */
static const char *phx_snippet(const char *in, char *out, size_t size) {
  size_t n = 0;
  for (; in[n] && n < size - 8; n++) out[n] = in[n] >= 0x20 && in[n] < 0x7f ? in[n] : '?';
  if (in[n]) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

/* join_ref and ref: null, a number, or a string of at most PHX_REF_MAX bytes (phoenix.js sends
 * strings of digits). Anything else would be kept and echoed for the channel's life. */
static bool phx_ref_ok(const json_t *v) {
  if (!v) return true; /* null or absent */
  if (json_is_string(v)) return json_string_length(v) <= PHX_REF_MAX;
  return json_is_number(v);
}

static const char *phx_ref_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_STRING: return "a long string";
  case JSON_ARRAY: return "an array";
  case JSON_OBJECT: return "an object";
  default: return "a boolean";
  }
}

static bool phx_refs_admit(phx_socket_t *s, const phx_msg_t *m) {
  bool jr_ok = phx_ref_ok(m->join_ref);
  if (jr_ok && phx_ref_ok(m->ref)) return true;
  const char *field = jr_ok ? "ref" : "join_ref";
  const json_t *v = jr_ok ? m->ref : m->join_ref;
  char ev[40];
  if (json_is_string(v))
    log_warn("socket: '%s' refused: %s is a string of %zu bytes (limit %d); closing with 1008",
             phx_snippet(m->event, ev, sizeof ev), field, json_string_length(v), PHX_REF_MAX);
  else
    log_warn("socket: '%s' refused: %s is %s, not null, a number or a string; closing with 1008",
             phx_snippet(m->event, ev, sizeof ev), field, phx_ref_kind(v));
  phx_socket_refuse(s, WS_CLOSE_POLICY, jr_ok ? "invalid ref" : "invalid join_ref");
  return false;
}

static bool phx_topic_admit(phx_socket_t *s, const phx_msg_t *m, bool join) {
  size_t tl = s->config.max_topic ? strlen(m->topic) : 0;
  if (tl <= s->config.max_topic) return true;
  char ev[40], tp[40];
  unsigned long long more;
  if (phx_log_due(s, &s->topic_log, &more))
    log_warn("socket: '%s' refused: topic of %zu bytes (limit %zu): '%s' (%llu more since the "
             "last line)", phx_snippet(m->event, ev, sizeof ev), tl, s->config.max_topic,
             phx_snippet(m->topic, tp, sizeof tp), more);
  phx_send_reply(s, join ? m->join_ref : NULL, m->ref, m->topic, "error",
                 "{\"reason\":\"topic too long\"}");
  return false;
}

/* The join bucket: max_channels tokens refilled at max_joins_per_s, on the monotonic clock. Kept
 * as the generic cell rate algorithm, in integer nanoseconds (exact, one word): each join costs
 * T = 1 s / rate; the theoretical arrival time `tat` moves T ahead per join and never lags behind
 * now; a join is admitted while tat stays within capacity * T of now (the bucket not empty). */
static bool phx_join_admit(phx_socket_t *s, const phx_msg_t *m) {
  if (!s->config.max_joins_per_s) return true;
  uint64_t now = s->config.now_ns(), cap = phx_join_capacity(s);
  uint64_t t = 1000000000u / s->config.max_joins_per_s;
  uint64_t tat = (s->join_tat_ns > now ? s->join_tat_ns : now) + t;
  if (tat - now <= cap * t) {
    s->join_tat_ns = tat;
    return true;
  }
  char tp[40];
  unsigned long long more;
  if (phx_log_due(s, &s->join_log, &more))
    log_warn("socket: join of '%s' refused: more than %u joins per second (bursts of %llu) "
             "(%llu more since the last line)", phx_snippet(m->topic, tp, sizeof tp),
             s->config.max_joins_per_s, (unsigned long long)cap, more);
  phx_send_reply(s, m->join_ref, m->ref, m->topic, "error", "{\"reason\":\"too many joins\"}");
  return false;
}

/* --- message handling -------------------------------------------------------------------------- */

static bool phx_ref_matches(const json_t *sent, const phx_channel_t *ch) {
  /* A null join_ref is accepted (V1 and other clients); otherwise it must be this incarnation's. */
  if (!sent) return true;
  return (ch->join_ref && json_equal((json_t *)sent, ch->join_ref)) ||
         (ch->reply_join_ref && json_equal((json_t *)sent, ch->reply_join_ref));
}

static void phx_handle_join(phx_socket_t *s, phx_msg_t *m) {
  const phx_route_t *route = phx_router_match(s->config.router, m->topic);
  if (!route) {
    log_warn("socket: join of unmatched topic '%s'", m->topic);
    phx_send_reply(s, NULL, m->ref, m->topic, "error", "{\"reason\":\"unmatched topic\"}");
    return;
  }
  if (s->auth && !auth_may_join(s->auth, m->topic)) {
    char tp[72];
    unsigned long long more;
    if (phx_log_due(s, &s->refused_log, &more))
      log_info("socket: join of '%s' refused: not in the token's channels (user %s) (%llu more "
               "since the last line)", phx_snippet(m->topic, tp, sizeof tp), s->auth->sub, more);
    phx_send_reply(s, m->join_ref, m->ref, m->topic, "error", "{\"reason\":\"unauthorized\"}");
    return;
  }
  phx_channel_t *old = phx_socket_find(s, m->topic);
  if (!old && s->nchannels >= s->config.max_channels) {
    log_warn("socket: join of '%s' refused: %zu channels joined", m->topic, s->nchannels);
    phx_send_reply(s, m->join_ref, m->ref, m->topic, "error",
                   "{\"reason\":\"too many channels joined\"}");
    return;
  }
  /* The bucket guards the work of a join (a rejoin too: it ends a channel and starts one, with
   * their presence diffs); the cheaper refusals above keep their own, more precise reasons. */
  if (!phx_join_admit(s, m)) return;
  /* Duplicate join: the old incarnation ends first; its phx_close follows the new reply. */
  json_t *old_join_ref = NULL;
  if (old) {
    old_join_ref = old->join_ref ? json_incref(old->join_ref) : NULL;
    phx_channel_end(s, old, PHX_EXIT_DUPLICATE_JOIN);
  }

  const phx_channel_type_t *type = route->type;
  phx_channel_t *ch = phx_channel_new(s, route, m);
  json_t *payload = m->binary || !m->payload ? json_object() : json_incref(m->payload);
  json_t *reply = NULL;
  int rc = type->join ? type->join(ch, payload, &reply) : PHX_JOIN_OK;
  json_decref(payload);

  frame_t *shared = s->join_reply; /* phx_channel_join_reply_shared: already encoded */
  s->join_reply = NULL;
  char *response = reply && !shared ? json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  char why[72] = "";
  const char *reason = json_string_value(json_object_get(reply, "reason"));
  if (rc != PHX_JOIN_OK && reason) phx_snippet(reason, why, sizeof why);
  json_decref(reply);
  if (rc == PHX_JOIN_OK) {
    VEC_PUSH(s->channels, s->nchannels, s->cap_channels, 2, ch);
    phx_pubsub_subscribe(s->pubsub, ch->topic, &ch->sub);
    dict_set(&s->pubsub->channels, (const char *)&ch->sub.id, sizeof ch->sub.id, ch);
    atomic_fetch_add_explicit(&s->pubsub->channels_joined, 1, memory_order_relaxed);
    if (shared)
      phx_send_reply_len(s, m->join_ref, m->ref, m->topic, "ok", (const char *)shared->data,
                         shared->len);
    else
      phx_send_reply(s, m->join_ref, m->ref, m->topic, "ok", response ? response : "{}");
    log_debug("socket: joined '%s' (%s)", ch->topic, type->name);
  } else {
    /* The line for a refused join, with its reason: channels need not log their own. */
    char tp[72];
    unsigned long long more;
    if (phx_log_due(s, &s->refused_log, &more))
      log_info("socket: join of '%s' refused by %s%s%s (%llu more since the last line)",
               phx_snippet(m->topic, tp, sizeof tp), type->name, *why ? ": " : "", why, more);
    if (shared)
      phx_send_reply_len(s, m->join_ref, m->ref, m->topic, "error", (const char *)shared->data,
                         shared->len);
    else
      phx_send_reply(s, m->join_ref, m->ref, m->topic, "error", response ? response : "{}");
    phx_channel_free(ch);
    ch = NULL;
  }
  free(response);
  if (shared) frame_unref(shared);
  if (old) {
    phx_send_exit(s, old_join_ref, m->topic, false);
    json_decref(old_join_ref);
  }
  if (ch && type->after_join) type->after_join(ch);
}

static void phx_handle_leave(phx_socket_t *s, phx_msg_t *m) {
  phx_channel_t *ch = phx_socket_find(s, m->topic);
  if (!ch) {
    phx_send_reply(s, m->join_ref, m->ref, m->topic, "ok", "{}");
    return;
  }
  if (!phx_ref_matches(m->join_ref, ch)) {
    log_debug("socket: stale phx_leave for '%s' dropped", m->topic);
    return;
  }
  phx_send_reply(s, ch->reply_join_ref, m->ref, m->topic, "ok", "{}");
  phx_send_exit(s, ch->join_ref, ch->topic, false);
  phx_channel_end(s, ch, PHX_EXIT_LEFT);
}

static void phx_dispatch(phx_socket_t *s, phx_msg_t *m) {
  PHX_COUNT(s->pubsub->messages_in, 1);
  if (!strcmp(m->topic, "phoenix") && !strcmp(m->event, "heartbeat")) {
    phx_send_reply(s, NULL, m->ref, "phoenix", "ok", "{}");
    return;
  }
  bool join = !strcmp(m->event, "phx_join");
  if (!phx_topic_admit(s, m, join)) return;
  s->dispatching++;
  if (join) {
    phx_handle_join(s, m);
  } else if (!strcmp(m->event, "phx_leave")) {
    phx_handle_leave(s, m);
  } else {
    phx_channel_t *ch = phx_socket_find(s, m->topic);
    if (!ch) {
      log_debug("socket: '%s' to unjoined topic '%s'", m->event, m->topic);
      phx_send_reply(s, NULL, m->ref, m->topic, "error", "{\"reason\":\"unmatched topic\"}");
    } else if (!phx_ref_matches(m->join_ref, ch)) {
      log_debug("socket: stale '%s' for '%s' dropped", m->event, m->topic);
    } else if (s->auth && !ch->type->filters_writes && !auth_may_write(s->auth, ch->topic)) {
      char tp[72];
      unsigned long long more;
      if (phx_log_due(s, &s->refused_log, &more))
        log_info("socket: '%s' on '%s' refused: read-only for user %s (%llu more since the last "
                 "line)", m->event, phx_snippet(ch->topic, tp, sizeof tp), s->auth->sub, more);
      phx_send_reply(s, m->join_ref, m->ref, m->topic, "error", "{\"reason\":\"unauthorized\"}");
    } else if (!ch->stopping && ch->type->handle_in) {
      ch->type->handle_in(ch, m);
    }
  }
  s->dispatching--;
  if (!s->dispatching) phx_socket_reap(s);
}

uint16_t phx_socket_handle_text(phx_socket_t *s, const char *data, size_t len) {
  /* The pre-scan first: jansson never sees a text over the limits, nor one the scan already
   * knows to be malformed (jansson would refuse it too, see phx_json_scan.h). */
  phx_json_limits_t limits = {.max_depth = s->config.max_json_depth,
                              .max_values = s->config.max_json_elements};
  phx_json_stats_t st;
  int scan = phx_json_scan(data, len, &limits, &st);
  if (scan == PHX_JSON_SCAN_MALFORMED) {
    log_warn("socket: malformed text message (invalid JSON at byte %zu of %zu); closing with 1007",
             st.offset, len);
    return WS_CLOSE_INVALID_DATA;
  }
  if (scan == PHX_JSON_SCAN_TOO_DEEP) {
    log_warn("socket: text message of %zu bytes refused: JSON nested deeper than %u levels; "
             "closing with 1009", len, st.depth - 1);
    phx_socket_refuse(s, WS_CLOSE_TOO_BIG, phx_json_scan_strerror(scan));
    return 0;
  }
  if (scan == PHX_JSON_SCAN_TOO_MANY) {
    log_warn("socket: text message of %zu bytes refused: more than %zu JSON values; "
             "closing with 1009", len, st.values - 1);
    phx_socket_refuse(s, WS_CLOSE_TOO_BIG, phx_json_scan_strerror(scan));
    return 0;
  }

  phx_msg_t m;
  const char *why = NULL;
  if (phx_decode_text(s->vsn, data, len, &m, &why) != 0) {
    log_warn("socket: malformed text message (%s); closing with 1007", why ? why : "?");
    return WS_CLOSE_INVALID_DATA;
  }
  if (phx_refs_admit(s, &m)) phx_dispatch(s, &m);
  phx_msg_free(&m);
  return 0;
}

uint16_t phx_socket_handle_binary(phx_socket_t *s, const uint8_t *data, size_t len) {
  if (s->vsn != PHX_V2) {
    log_warn("socket: binary message on a vsn 1 socket; closing with 1003");
    return WS_CLOSE_UNSUPPORTED;
  }
  phx_msg_t m;
  const char *why = NULL;
  if (phx_decode_binary(data, len, &m, &why) != 0) {
    log_warn("socket: malformed binary message (%s); closing with 1003", why ? why : "?");
    return WS_CLOSE_UNSUPPORTED;
  }
  if (phx_refs_admit(s, &m)) phx_dispatch(s, &m);
  phx_msg_free(&m);
  return 0;
}

/* --- y-websocket sockets (PHX_RAW) ------------------------------------------------------------- */

bool phx_socket_join_raw(phx_socket_t *s, const char *topic) {
  char *t = xstrdup(topic);
  phx_msg_t m = {0};
  m.topic = t;
  m.event = (char *)"phx_join";
  m.join_ref = json_string("1");
  m.ref = json_string("1");
  m.payload = json_object();
  phx_dispatch(s, &m);
  json_decref(m.join_ref);
  json_decref(m.ref);
  json_decref(m.payload);
  bool joined = phx_socket_find(s, t) != NULL;
  free(t);
  return joined;
}

uint16_t phx_socket_handle_raw(phx_socket_t *s, const uint8_t *data, size_t len) {
  if (!s->nchannels) return WS_CLOSE_POLICY; /* its one channel ended */
  phx_msg_t m = {0};
  m.topic = s->channels[0]->topic;
  m.event = (char *)"yjs";
  m.binary = true;
  m.bin = data;
  m.bin_len = len;
  phx_dispatch(s, &m);
  return 0;
}
