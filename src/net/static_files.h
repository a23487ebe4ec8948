#ifndef CINDER_NET_STATIC_FILES_H
#define CINDER_NET_STATIC_FILES_H
/* Static files under a web root (server_config_t.web_root, `cinder serve --web DIR`), for the
 * paths no other route takes. See static_files.c for the rules. */
#include <stdbool.h>

#include "http/http_parser.h"

typedef struct conn conn_t;

/* Whether static files may answer this request: a web root is configured and the path is not
 * under a mount of the server's own (the socket, /api/) whose unknown paths stay JSON 404s. */
bool static_files_take(const conn_t *c, const http_request_t *req);
/* Answers the request from the web root: 200, 304, 400, 404, 405 or 500 (logged refusals). */
void static_files_serve(conn_t *c, const http_request_t *req);

#endif
