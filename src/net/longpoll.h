#ifndef CINDER_NET_LONGPOLL_H
#define CINDER_NET_LONGPOLL_H
/* The Phoenix LongPoll transport at <socket_path>/longpoll (spec §7): the fallback of phoenix.js
 * when WebSocket cannot be used. A session is a Phoenix socket on one worker whose outgoing
 * frames wait in a buffer until the client's next poll. Its token names its worker
 * ("<worker>.<128 random bits in hex>"), so a poll or a post that lands on another worker (each
 * HTTP connection may) is handed to the session's worker as a task, and the answer comes back
 * the same way.
 *
 * All answers are HTTP 200 with a JSON {"status": ...} as phoenix.js expects: 410 + token for a
 * new session, 200 + messages, 204 after the 10 s poll window, 403 for a refused connect, 410 for
 * a POST to an unknown session. Server-to-client binary frames cannot travel in the JSON
 * `messages` array; they are dropped (logged) — the y_doc_room protocol is WebSocket-only. */
#include <stddef.h>

#include "http/http_parser.h"

typedef struct conn conn_t;
typedef struct worker worker_t;

void longpoll_handle(conn_t *c, const http_request_t *req, const char *body, size_t len);
/* The worker's flush: answer held polls of sessions that got frames this iteration. */
void longpoll_flush(worker_t *w);
/* The worker's sweep: poll windows that ended (204) and sessions without a poll for 15 s. */
void longpoll_sweep(worker_t *w, uint64_t now_ms);
/* Drain: end every session (held polls get 410). */
void longpoll_close_all(worker_t *w);
/* End this worker's sessions whose token's user is `user`; how many. */
size_t longpoll_kick_user(worker_t *w, const char *user);
/* After the worker's loop ended: free what is left. */
void longpoll_free(worker_t *w);

#endif
