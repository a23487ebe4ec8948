#ifndef CINDER_NET_LISTENER_H
#define CINDER_NET_LISTENER_H
/* The accepting side of a worker: its SO_REUSEPORT socket, watched with uv_poll so that cinder,
 * not libuv, decides what happens when accept fails.
 *
 * Why not uv_listen: when the process is out of descriptors, libuv's accept loop calls back with
 * EMFILE and tries again at once; with several workers racing for the one descriptor its
 * "emfile trick" frees, it loops forever — the worker spins at 100% CPU, serves nothing, and a
 * SIGTERM is never seen. Here, out of descriptors:
 *   - the listener frees its reserve descriptor, accepts what is pending and answers each with
 *     503 (Retry-After) and a close, then takes the reserve back;
 *   - it stops watching the socket for LISTENER_PAUSE_MS, so the loop goes on serving (and
 *     closing) the connections it has;
 *   - it logs the condition at most once a second, with the number refused.
 * Each wake-up accepts at most LISTENER_BATCH connections, so a connection storm cannot starve
 * the sockets the worker already serves. */
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/log.h"

typedef struct worker worker_t;

#define LISTENER_BATCH 64
#define LISTENER_PAUSE_MS 100

typedef struct listener {
  worker_t *w;
  uv_poll_t poll;
  uv_timer_t pause;
  int fd;
  int reserve_fd;   /* /dev/null, given up to refuse politely when out of descriptors */
  bool watching;
  bool closed;
  uint64_t refused; /* connections refused for lack of descriptors, since the last log line */
  log_limit_t emfile_log, error_log;
} listener_t;

/* On the main thread: listen on the bound socket fd and start watching it. */
int listener_start(listener_t *l, worker_t *w, int fd);
/* Stop accepting for good (drain): the socket is closed. */
void listener_close(listener_t *l);

#endif
