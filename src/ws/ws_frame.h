#ifndef CINDER_WS_FRAME_H
#define CINDER_WS_FRAME_H
/* RFC 6455 §5.2 single-frame codec: header parsing, masking, server header encoding.
 * Policy (which opcodes, RSV bits and sizes a server accepts) lives in ws_parser; this layer only
 * knows the wire layout, so it can also serve a client or a test harness. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2, WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA };

/* Close codes used by the server */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL = 1002,
  WS_CLOSE_UNSUPPORTED = 1003,
  WS_CLOSE_NO_STATUS = 1005,
  WS_CLOSE_ABNORMAL = 1006,
  WS_CLOSE_INVALID_DATA = 1007,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL = 1011,
  WS_CLOSE_RESTART = 1012,
  WS_CLOSE_TRY_LATER = 1013
};

/* Largest header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WS_FRAME_MAX_HEADER 14
/* Control frames carry at most this many payload bytes (§5.5). */
#define WS_CONTROL_MAX_PAYLOAD 125

/* The only error the layout itself can have: a 64-bit length with its most significant bit set
 * (§5.2). Everything else is policy. */
#define WS_FRAME_E_LENGTH (-1)

typedef struct {
  bool fin;
  uint8_t rsv; /* the three RSV bits, RSV1 as 0x4 */
  uint8_t opcode;
  bool masked;
  uint8_t mask[4];
  uint64_t payload_len;
  size_t header_len;
} ws_frame_header_t;

static inline bool ws_opcode_is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

/* Returns the header length (>0) once the whole header is in buf[0..len), 0 when more bytes are
 * needed, or WS_FRAME_E_LENGTH. Reads nothing past len. */
int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header_t *h);

/* XOR data with the mask key in place; offset is the position of data[0] within the frame's
 * payload, so that a payload can be unmasked in pieces as it arrives. */
void ws_mask_apply(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/* Length of the unmasked (server->client) header for a payload: 2, 4 or 10. */
size_t ws_frame_header_len(uint64_t payload_len);

/* Server->client header (never masked). Writes at most 10 bytes into out, returns its length
 * (== ws_frame_header_len(payload_len)). */
size_t ws_frame_encode_header(uint8_t out[10], bool fin, uint8_t opcode, uint64_t payload_len);

/* RFC 6455 §7.4: codes a peer may send in a close frame: 1000-1003, 1007-1014 (1012-1014 are
 * registered with IANA since the RFC) and 3000-4999. */
bool ws_close_code_valid(uint16_t code);

#endif
