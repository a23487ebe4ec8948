#ifndef CINDER_PHX_FRAME_H
#define CINDER_PHX_FRAME_H
/* Turning an encoded Phoenix message into a shareable WebSocket frame without copying it:
 * the message is encoded after FRAME_HEADROOM reserved bytes (frame_buf_begin) and the WebSocket
 * header is written into the headroom, right before the message. */
#include <stdint.h>

#include "core/buf.h"
#include "core/frame.h"

frame_t *phx_frame_finish(buf_t *b, uint8_t ws_opcode);

#endif
