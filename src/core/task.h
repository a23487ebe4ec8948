#ifndef CINDER_CORE_TASK_H
#define CINDER_CORE_TASK_H
/* task_t and executor_t: how a thread asks another thread to run something.
 *
 * A task is a heap message with a function; an executor is a thread that runs tasks in the order
 * they were submitted (a worker's loop, the storage thread). Submitting never blocks and takes no
 * lock (the executor's inbox is a lock-free MPSC queue, core/inbox.h). The task's run function
 * owns the task and frees it. */
#include "core/inbox.h"

typedef struct task {
  inbox_node_t node; /* first: tasks are inbox nodes */
  void (*run)(struct task *t);
} task_t;

typedef struct executor {
  void (*submit)(struct executor *ex, task_t *t);
} executor_t;

static inline void executor_submit(executor_t *ex, task_t *t) { ex->submit(ex, t); }

#endif
