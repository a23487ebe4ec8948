#ifndef CINDER_CHANNELS_YDOC_CHANNEL_H
#define CINDER_CHANNELS_YDOC_CHANNEL_H
/* y_doc_room:* — collaborative Yjs documents for the y-phoenix-channel client (spec §9).
 * The document name is the topic after its prefix (names may contain colons). The client pushes
 * binary `yjs_sync` / `yjs` payloads (y-protocols messages); they go to the document's owner
 * (docs/shared_doc.c), which answers with binary `yjs` pushes and broadcasts. */
#include "phx/phx_channel.h"

extern const phx_channel_type_t ydoc_channel;

/* Register the channel under each comma-separated prefix ("y_doc_room:,notes:"). The documents
 * are the shared_docs_service, which the server must host. */
void ydoc_channel_register(phx_router_t *router, const char *prefixes);

#endif
