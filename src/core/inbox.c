#include "core/inbox.h"

void inbox_init(inbox_t *q) { atomic_init(&q->head, NULL); }

int inbox_push(inbox_t *q, inbox_node_t *node) {
  inbox_node_t *old = atomic_load_explicit(&q->head, memory_order_relaxed);
  do {
    node->next = old;
  } while (!atomic_compare_exchange_weak_explicit(&q->head, &old, node, memory_order_release,
                                                  memory_order_relaxed));
  return old == NULL;
}

inbox_node_t *inbox_take_all(inbox_t *q) {
  inbox_node_t *lifo = atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
  inbox_node_t *fifo = NULL;
  while (lifo) {
    inbox_node_t *next = lifo->next;
    lifo->next = fifo;
    fifo = lifo;
    lifo = next;
  }
  return fifo;
}
