#ifndef CINDER_CORE_TASK_H
#define CINDER_CORE_TASK_H
/* task_t, executor_t, task_poster_t and task_ctx_t: how a thread asks another thread to run
 * something, and what the task finds where it runs.
 *
 * A task is a heap message with a function; an executor is a thread that runs tasks in the order
 * they were submitted (a worker's loop, the storage thread). Submitting never blocks and takes no
 * lock (the executor's inbox is a lock-free MPSC queue, core/inbox.h). The task's run function
 * owns the task and frees it.
 *
 * A task runs with the context of the thread that runs it (task_ctx_t): which worker it is, its
 * loop, and the per-worker state of every service that worker hosts (core/service.h). So a layer
 * finds its own per-worker state from the task, without thread-locals or globals, and without
 * knowing what a worker is. */
#include <stddef.h>
#include <uv.h>

#include "core/dict.h"
#include "core/inbox.h"

typedef struct task_ctx task_ctx_t;

typedef struct task {
  inbox_node_t node; /* first: tasks are inbox nodes */
  /* ctx: the running worker's context; NULL when the task is only being released (a worker that
   * has stopped runs what is left in its inbox so that references and memory are let go). */
  void (*run)(struct task *t, task_ctx_t *ctx);
} task_t;

typedef struct executor {
  void (*submit)(struct executor *ex, task_t *t);
} executor_t;

static inline void executor_submit(executor_t *ex, task_t *t) { ex->submit(ex, t); }

/* Every worker of the process, by id: how one worker posts work to another without knowing what
 * a worker is. Injected into each layer that crosses threads (pubsub, presence, documents). */
typedef struct task_poster {
  void (*post)(void *ctx, int worker, task_t *t); /* ownership of t passes */
  void *ctx;
  int nworkers;
} task_poster_t;

static inline void task_post(const task_poster_t *p, int worker, task_t *t) {
  p->post(p->ctx, worker, t);
}

/* The worker that owns a name (a document, a presence topic): one hash for everything, so a
 * name's owner is the same whichever layer asks. */
static inline int task_owner_of(const task_poster_t *p, const char *name, size_t len) {
  return (int)(dict_hash(name, len) % (uint64_t)p->nworkers);
}

#define TASK_CTX_MAX_SERVICES 8

struct service;
typedef struct service_slot {
  const struct service *svc;
  void *state;
} service_slot_t;

/* What a task finds on the worker that runs it. Filled by the worker before its thread starts and
 * read-only afterwards, except by that worker's own thread. */
struct task_ctx {
  int worker;                  /* the running worker's id */
  uv_loop_t *loop;             /* its loop: timers of the services */
  executor_t *self;            /* the worker as an executor: where storage completions come back */
  const task_poster_t *poster; /* every worker, by id */
  service_slot_t slots[TASK_CTX_MAX_SERVICES];
  size_t nslots;
};

/* The running worker's state of a service (NULL if the worker does not host it). A linear scan:
 * a worker hosts a handful of services, and the pubsub, the most used, comes first. */
static inline void *task_ctx_service(const task_ctx_t *ctx, const struct service *svc) {
  for (size_t i = 0; ctx && i < ctx->nslots; i++)
    if (ctx->slots[i].svc == svc) return ctx->slots[i].state;
  return NULL;
}

#endif
