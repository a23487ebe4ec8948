#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_INFO;
static _Thread_local char log_thread[16] = "main";
static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(log_level_t level) { atomic_store(&log_level, (int)level); }
log_level_t log_get_level(void) { return (log_level_t)atomic_load(&log_level); }
bool log_enabled(log_level_t level) { return (int)level >= atomic_load(&log_level); }

int log_level_parse(const char *name) {
  for (int i = 0; i <= LOG_OFF; i++)
    if (strcmp(name, log_names[i]) == 0) return i;
  return -1;
}

void log_set_thread_name(const char *name) {
  snprintf(log_thread, sizeof log_thread, "%s", name);
}

void log_write(log_level_t level, const char *fmt, ...) {
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, log_names[level], log_thread);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  /* Control characters from peers must not forge log lines. */
  for (size_t i = (size_t)n; i < len; i++)
    if ((unsigned char)line[i] < 0x20) line[i] = '?';
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

bool log_limit_due(log_limit_t *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *skipped) {
  if (l->last_ms && now_ms - l->last_ms < interval_ms) {
    l->skipped++;
    return false;
  }
  *skipped = l->skipped;
  l->skipped = 0;
  l->last_ms = now_ms ? now_ms : 1;
  return true;
}
