#ifndef CINDER_NET_HTTP_HANDLER_H
#define CINDER_NET_HTTP_HANDLER_H
/* HTTP/1.1 on a connection before (or instead of) a WebSocket upgrade: reads request heads and
 * Content-Length bodies, routes them, writes responses. Routes: GET /healthz, the Phoenix
 * WebSocket endpoint <socket_path>/websocket, LongPoll, and the handlers registered with the
 * server (server_route_add). */
#include <stdbool.h>
#include <stddef.h>

#include "http/http_parser.h"

typedef struct conn conn_t;

/* A route's handler (net/server.h: server_route_add); arg is the registration's. */
typedef void (*http_route_fn)(conn_t *c, const http_request_t *req, const char *body,
                              size_t body_len, void *arg);

/* Consumes request bytes; returns how many were used (0: need more). */
size_t http_handler_input(conn_t *c, char *data, size_t len);
/* The head or body did not arrive in time: 408 and close. */
void http_handler_timeout(conn_t *c);

/* Write a complete response. extra_headers: "Name: value\r\n..." or NULL. */
void http_respond(conn_t *c, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers, bool keep_alive);
/* The request comes from this machine itself: a loopback peer, and no proxy header. A reverse
 * proxy on the same host connects from loopback for everyone it forwards; a request carrying
 * Forwarded, X-Forwarded-For or X-Real-IP is therefore never local. */
bool http_request_is_local(const conn_t *c, const http_request_t *req);
/* The Origin check of the Phoenix socket (--check-origin); logs a refusal. */
bool http_origin_check(conn_t *c, const http_request_t *req);
/* A JSON error body {"error": reason} with the given status; the connection closes after it. */
void http_respond_error(conn_t *c, int status, const char *reason);
/* The same with extra headers ("Name: value\r\n...", e.g. Allow or WWW-Authenticate). */
void http_respond_error_with(conn_t *c, int status, const char *reason, const char *extra_headers);
/* 405 with an Allow header and a log line "<who>: METHOD PATH: method not allowed", unless the
 * request's method is `method`. */
bool http_require_method(conn_t *c, const http_request_t *req, const char *method,
                         const char *who);

#endif
