#ifndef CINDER_CORE_SERVICE_H
#define CINDER_CORE_SERVICE_H
/* service_t: something a worker hosts without knowing what it is — documents, activity samplers,
 * the pubsub — as Redis registers its cron and before-sleep hooks with `ae` and the loop knows
 * nothing of the server.
 *
 * A service is registered once (by the `serve` command, next to the channel routes) with an
 * argument of its own (its configuration, the store, shared tables). Every worker then calls
 * `start` while it is being set up, and keeps the returned state in a slot of its task context:
 * tasks reach it with task_ctx_service(ctx, &the_service). At shutdown the worker calls the other
 * hooks in the server's three steps (see net/server.h). Every hook is optional. */
#include "core/task.h"

typedef struct service {
  const char *name;
  /* On the main thread, before the worker's thread runs (its loop exists: handles may be
   * initialised on it). Returns this worker's state; NULL is a valid state. */
  void *(*start)(task_ctx_t *ctx, void *arg);
  /* Shutdown step 2, on the worker: issue no more storage requests (the store is about to
   * close). */
  void (*quiesce)(void *state);
  /* Shutdown step 3, on the worker, once the store has delivered every completion: close the
   * service's handles so the loop can end. */
  void (*stop)(void *state);
  /* After the worker's loop has ended (its thread, or the main thread at exit): free the state. */
  void (*free)(void *state);
} service_t;

#endif
