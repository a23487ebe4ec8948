#ifndef CINDER_PHX_PHX_PRESENCE_INTERNAL_H
#define CINDER_PHX_PHX_PRESENCE_INTERNAL_H
/* The presence owner's tables, shared by phx_presence.c (the window, the tasks, the API) and
 * phx_presence_remote.c (members of other nodes). Everything here runs on the topic's owner
 * worker. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dict.h"
#include "core/frame.h"
#include "phx/phx_presence.h"
#include "phx/phx_serializer.h"

#define PRESENCE_FRAMES_MAX 16 /* cached presence_state frames per version */
#define PRESENCE_REF_LEN PHX_UNIQUE_REF_LEN

typedef struct pres_key pres_key_t;

typedef struct pres_meta {
  struct pres_meta *next;      /* the key's metas, oldest first (the order clients keep) */
  struct pres_meta *chan_next; /* the channel's other metas on this topic (while live) */
  pres_key_t *key;
  uint64_t channel_id;
  uint32_t node;  /* 0: tracked on this node; else the peer's slot (phx_presence_remote_track) */
  uint32_t epoch; /* a remote meta: the peer's state transfer that last confirmed it */
  uint32_t len;   /* bytes of json */
  bool in_state;  /* in the last version broadcast */
  bool live;     /* tracked now */
  char json[];   /* the meta, compact JSON with its phx_ref last; NUL-terminated */
} pres_meta_t;

struct pres_key {
  pres_meta_t *head, *tail;
  dict_entry_t *entry; /* in the topic's keys: its name is the raw key */
  bool dirty;          /* in its topic's dirty keys */
  uint32_t qlen;
  char quoted[]; /* the key as a JSON string, quotes included */
};

typedef struct pres_frame {
  phx_vsn_t vsn;
  char *join_ref; /* JSON text; NULL for V1 (which never sends it) */
  frame_t *frame;
} pres_frame_t;

typedef struct pres_topic {
  dict_entry_t *entry; /* in ps->presence: its name is the topic */
  dict_t keys;         /* key -> pres_key_t */
  dict_t channels;     /* channel id (8 bytes) -> its first live pres_meta_t */
  pres_key_t **dirty;  /* keys with changes not yet broadcast */
  size_t ndirty, capdirty;
  size_t live;         /* metas tracked now */
  bool queued;         /* in the owner's pending topics */
  uint64_t version;    /* diffs broadcast */
  char *state;         /* the presence_state payload of this version, encoded on first demand */
  size_t state_len;
  pres_frame_t *frames; /* the presence_state frames of this version */
  size_t nframes, capframes;
} pres_topic_t;

typedef struct phx_presence_owner {
  pres_topic_t **pending; /* topics with changes not yet broadcast */
  size_t npending, cappending;
  uv_timer_t timer;
  bool timer_init, timer_armed, stopped;
  phx_presence_stats_t stats;
} phx_presence_owner_t;

pres_topic_t *pres_topic_get(phx_pubsub_t *ps, const char *topic);
pres_topic_t *pres_topic_get_or_add(phx_pubsub_t *ps, const char *topic);
/* The key's entry in the topic (qkey: the key as a JSON string), created empty if new. */
pres_key_t *pres_key_get_or_add(pres_topic_t *pt, const char *key, const char *qkey);
void pres_key_mark_dirty(pres_topic_t *pt, pres_key_t *k);
/* Index m under its channel (cid: 8 bytes for a local channel, node + channel for a remote one)
 * and make it live. */
void pres_meta_index(pres_topic_t *pt, pres_meta_t *m, const char *cid, size_t cid_len);
/* Append m to its key's metas, then pres_meta_index. */
void pres_meta_append(pres_topic_t *pt, pres_key_t *k, pres_meta_t *m, const char *cid,
                      size_t cid_len);
/* Every meta of one channel leaves; whether any did. */
bool pres_channel_untrack(pres_topic_t *pt, const char *cid, size_t cid_len);
/* The topic changed: broadcast at once or at the end of the window. May free pt. */
void pres_topic_changed(phx_pubsub_t *ps, pres_topic_t *pt);

#endif
