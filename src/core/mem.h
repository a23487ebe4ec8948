#ifndef CINDER_CORE_MEM_H
#define CINDER_CORE_MEM_H
/* Allocation that never returns NULL. A server that cannot get a few bytes more cannot keep its
 * promises to anyone; like Redis's zmalloc, we log and abort instead of threading ENOMEM through
 * every caller. Limits that protect memory (queue caps, frame caps) are enforced before we get
 * here, so reaching the abort means the machine itself is out of memory. */
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
