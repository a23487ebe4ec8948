#ifndef CINDER_CHANNELS_ACTIVITY_CHANNEL_H
#define CINDER_CHANNELS_ACTIVITY_CHANNEL_H
/* activity:* — server push only (activity/activity.h). The join reply carries the stream's kept
 * samples as {"samples": [...]}, so a chart is full at once; then event `sample` arrives every
 * interval. Client pushes get an error reply. */
#include "activity/activity.h"
#include "phx/phx_channel.h"

extern const phx_channel_type_t activity_channel;

/* Serve activity:* from this shared history. */
void activity_channel_register(phx_router_t *router, activity_t *activity);

#endif
