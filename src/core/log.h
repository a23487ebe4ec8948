#ifndef CINDER_CORE_LOG_H
#define CINDER_CORE_LOG_H
/* One line per event on stderr: "<UTC time> <level> [<thread>] <message>". Lines from different
 * threads never interleave (each line is written with a single write(2)). */
#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int log_level_parse(const char *name);
/* Names the calling thread in its log lines ("main", "w0", "store", ...). */
void log_set_thread_name(const char *name);
bool log_enabled(log_level_t level);
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A condition that can repeat thousands of times a second (out of descriptors, refusals under
 * attack) is logged at most once per interval, with the count of what was not logged:
 *   if (log_limit_due(&lim, now_ms, 1000, &skipped)) log_warn("... (%llu more)", skipped); */
typedef struct log_limit {
  uint64_t last_ms;
  uint64_t skipped;
} log_limit_t;
bool log_limit_due(log_limit_t *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *skipped);

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, __VA_ARGS__); } while (0)

#endif
