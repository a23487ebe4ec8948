#include "net/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/worker.h"

/* Sent before closing a connection we have no descriptor budget for: enough for an HTTP client,
 * the WebSocket upgrade included, to see why. */
static const char listener_busy[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 40\r\n"
    "Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"server out of file descriptors\"}";

static void listener_on_readable(uv_poll_t *h, int status, int events);

static void listener_watch(listener_t *l) {
  if (l->closed || l->watching) return;
  l->watching = true;
  uv_poll_start(&l->poll, UV_READABLE, listener_on_readable);
}

static void listener_on_pause_end(uv_timer_t *t) { listener_watch(t->data); }

static void listener_pause(listener_t *l) {
  if (l->closed) return;
  l->watching = false;
  uv_poll_stop(&l->poll);
  uv_timer_start(&l->pause, listener_on_pause_end, LISTENER_PAUSE_MS, 0);
}

static void listener_out_of_descriptors(listener_t *l, int err) {
  if (l->reserve_fd >= 0) {
    close(l->reserve_fd);
    l->reserve_fd = -1;
  }
  for (int i = 0; i < LISTENER_BATCH; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    ssize_t n = write(fd, listener_busy, sizeof listener_busy - 1); /* best effort */
    (void)n;
    close(fd);
    l->refused++;
  }
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  uint64_t skipped;
  if (log_limit_due(&l->emfile_log, uv_now(&l->w->loop), 1000, &skipped)) {
    log_warn("out of file descriptors (%s): %llu connections refused with 503; accepting again "
             "in %d ms", strerror(err), (unsigned long long)l->refused, LISTENER_PAUSE_MS);
    l->refused = 0;
  }
  listener_pause(l);
}

static void listener_on_readable(uv_poll_t *h, int status, int events) {
  listener_t *l = h->data;
  if (status < 0) {
    uint64_t skipped;
    if (log_limit_due(&l->error_log, uv_now(&l->w->loop), 1000, &skipped))
      log_warn("listener: %s", uv_strerror(status));
    listener_pause(l);
    return;
  }
  for (int i = 0; i < LISTENER_BATCH && !l->closed; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      conn_open(l->w, fd, &ss);
      continue;
    }
    switch (errno) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
      return;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
      continue; /* that connection is gone; the next may be fine */
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      listener_out_of_descriptors(l, errno);
      return;
    default: {
      uint64_t skipped;
      int err = errno;
      if (log_limit_due(&l->error_log, uv_now(&l->w->loop), 1000, &skipped))
        log_warn("accept failed: %s (%llu more)", strerror(err), (unsigned long long)skipped);
      listener_pause(l);
      return;
    }
    }
  }
}

int listener_start(listener_t *l, worker_t *w, int fd) {
  memset(l, 0, sizeof *l);
  l->w = w;
  l->fd = fd;
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || listen(fd, 4096) < 0) {
    log_error("worker %d: listen failed: %s", w->id, strerror(errno));
    return -1;
  }
  uv_poll_init_socket(&w->loop, &l->poll, fd);
  l->poll.data = l;
  uv_timer_init(&w->loop, &l->pause);
  l->pause.data = l;
  listener_watch(l);
  return 0;
}

void listener_close(listener_t *l) {
  if (l->closed) return;
  l->closed = true;
  uv_close((uv_handle_t *)&l->poll, NULL);
  uv_close((uv_handle_t *)&l->pause, NULL);
  close(l->fd);
  if (l->reserve_fd >= 0) close(l->reserve_fd);
  l->reserve_fd = -1;
}
