#ifndef CINDER_NET_HTTP_HANDLER_H
#define CINDER_NET_HTTP_HANDLER_H
/* HTTP/1.1 on a connection before (or instead of) a WebSocket upgrade: reads request heads and
 * Content-Length bodies, routes them, writes responses. Routes: GET /healthz, the Phoenix
 * WebSocket endpoint <socket_path>/websocket, and the handlers added with http_route_add. */
#include <stdbool.h>
#include <stddef.h>

#include "http/http_parser.h"

typedef struct conn conn_t;

typedef void (*http_route_fn)(conn_t *c, const http_request_t *req, const char *body,
                              size_t body_len);

/* Consumes request bytes; returns how many were used (0: need more). */
size_t http_handler_input(conn_t *c, char *data, size_t len);
/* The head or body did not arrive in time: 408 and close. */
void http_handler_timeout(conn_t *c);

/* Register a handler for an exact path (any method; the handler checks it). Before start only. */
void http_route_add(const char *path, http_route_fn fn);
void http_routes_clear(void);

/* Write a complete response. extra_headers: "Name: value\r\n..." or NULL. */
void http_respond(conn_t *c, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers, bool keep_alive);
/* The Origin check of the Phoenix socket (--check-origin); logs a refusal. */
bool http_origin_check(conn_t *c, const http_request_t *req);
/* A JSON error body {"error": reason} with the given status; the connection closes after it. */
void http_respond_error(conn_t *c, int status, const char *reason);

#endif
