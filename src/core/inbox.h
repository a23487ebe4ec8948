#ifndef CINDER_CORE_INBOX_H
#define CINDER_CORE_INBOX_H
/* inbox_t: a lock-free multi-producer, single-consumer queue of messages — how threads talk to a
 * worker. Any thread pushes; only the owning worker drains, from its uv_async callback.
 *
 * Producers push onto an atomic LIFO list with a compare-and-swap. The consumer takes the whole
 * list at once with an atomic exchange and reverses it, which restores FIFO order. Because the
 * consumer never pops single nodes with a CAS, the ABA problem of Treiber stacks cannot occur.
 * Messages are intrusive: embed inbox_node_t first in your message struct. */
#include <stdatomic.h>
#include <stddef.h>

typedef struct inbox_node {
  struct inbox_node *next;
} inbox_node_t;

typedef struct inbox {
  _Atomic(inbox_node_t *) head;
} inbox_t;

void inbox_init(inbox_t *q);
/* Returns true when the inbox was empty before this push (the consumer may need a wake-up). */
int inbox_push(inbox_t *q, inbox_node_t *node);
/* Takes every queued message, oldest first, as a NULL-terminated list. */
inbox_node_t *inbox_take_all(inbox_t *q);

#endif
