#ifndef CINDER_NET_AUTH_GATE_H
#define CINDER_NET_AUTH_GATE_H
/* Who may open a Phoenix socket (issue 13): the token, wherever the client put it, checked once
 * when the socket opens (WebSocket upgrade, LongPoll session), as Phoenix's connect/3 does. */
#include <stddef.h>

#include "auth/auth.h"
#include "net/server.h"

/* token: the bearer token (phoenix.js's authToken sub-protocol, or LongPoll's
 * X-Phoenix-AuthToken header), else the connect param `token`, else none (NULL). Returns 0 to let
 * the socket in — *claims is then the verified claims (malloc'd, for phx_socket_set_auth) or NULL
 * (no auth configured, or an anonymous socket under auth_optional) — or -1 to refuse it, with one
 * log line naming the peer and the reason (never the token) and *why set for the answer. */
int auth_gate_admit(const server_t *srv, const char *peer, const char *token, size_t len,
                    auth_claims_t **claims, const char **why);

#endif
