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

/* The process's resident set size in bytes (what `ps` shows as RSS), or 0 where it cannot be read.
 * One small read of /proc/self/statm: cheap enough for a sampler's timer, not for a per-message
 * path. Lives here, the lowest layer, so any layer that reports memory (the activity samples
 * today; /metrics could too) reads it the same way. */
size_t mem_rss_bytes(void);

#endif
