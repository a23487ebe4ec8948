#ifndef CINDER_CORE_CLOCK_H
#define CINDER_CORE_CLOCK_H
/* Wall-clock time, for what people and other machines read (sample times, uptime, presence
 * online_at). Timeouts use the loop's monotonic time (uv_now), never this. */
#include <stdint.h>

uint64_t clock_wall_ms(void);

#endif
