#ifndef CINDER_WS_PARSER_H
#define CINDER_WS_PARSER_H
/* Server-side RFC 6455 message parser: turns the bytes a client sent into complete messages
 * (TEXT / BINARY, reassembled from fragments) and control frames (CLOSE / PING / PONG), and
 * enforces every rule a server must: masking, RSV bits, opcodes, control-frame limits, fragment
 * sequencing, the message size cap, UTF-8 of text and close reasons, close codes.
 *
 * Zero copy where it can be: a control frame, or an unfragmented data frame that is wholly in the
 * caller's buffer, is unmasked in place and handed out as a pointer into that buffer. Only
 * fragmented messages, and frames whose payload arrives in pieces, are copied into the parser's
 * assembly buffer -- piece by piece as they arrive, so the caller's read buffer never has to hold a
 * whole large frame. The declared length is checked against the cap as soon as a header is read,
 * and the assembly buffer grows only as payload actually arrives, never beyond the cap.
 *
 * The result does not depend on how the input is split: the same bytes fed in any pieces produce
 * the same messages and the same error (the fuzz target checks this). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "ws/ws_frame.h"

enum { WS_PARSE_NEED_MORE = 0, WS_PARSE_MESSAGE = 1 };

/* Errors (negative); ws_parser_close_code() gives the close code to send. */
enum {
  WS_E_UNMASKED = -1,         /* 1002: client frames must be masked */
  WS_E_RSV = -2,              /* 1002: RSV bits set, no extension negotiated */
  WS_E_OPCODE = -3,           /* 1002: reserved opcode */
  WS_E_CONTROL_FRAGMENTED = -4, /* 1002: control frame with FIN=0 */
  WS_E_CONTROL_TOO_BIG = -5,  /* 1002: control frame payload > 125 */
  WS_E_UNEXPECTED_CONT = -6,  /* 1002: continuation without a message in progress */
  WS_E_EXPECTED_CONT = -7,    /* 1002: new data frame while a fragmented message is in progress */
  WS_E_LENGTH = -8,           /* 1002: 64-bit length with the MSB set */
  WS_E_TOO_BIG = -9,          /* 1009: message larger than max_message_size */
  WS_E_UTF8 = -10,            /* 1007: text message is not valid UTF-8 */
  WS_E_CLOSE_PAYLOAD = -11,   /* 1002: close frame with a 1-byte payload */
  WS_E_CLOSE_CODE = -12,      /* 1002: close code a peer may not send */
  WS_E_CLOSE_UTF8 = -13,      /* 1007: close reason is not valid UTF-8 */
};

/* Assembly buffers larger than this are freed after their message instead of being kept for the
 * next one, so an idle connection that once received a big message does not hold on to it. */
#define WS_PARSER_KEEP_BUFFER 65536

typedef struct ws_parser {
  size_t max_message_size;
  int error;             /* sticky: once failed, every later call returns the same error */
  bool delivered;        /* the last call handed out `msg`: reset it on the next call */
  uint8_t msg_opcode;    /* TEXT or BINARY while a message is being assembled, else 0 */
  buf_t msg;             /* the message being assembled, unmasked */
  utf8_stream_t utf8;    /* validity of msg so far (TEXT only) */
  bool in_payload;       /* a data frame's payload is being absorbed into msg */
  bool frame_fin;
  uint8_t frame_mask[4];
  uint64_t frame_left;   /* payload bytes of that frame still to come */
  uint64_t frame_off;    /* payload bytes of that frame already absorbed (mask position) */
} ws_parser_t;

typedef struct {
  uint8_t opcode; /* TEXT, BINARY, CLOSE, PING or PONG */
  uint8_t *data;  /* unmasked payload: points into the caller's input for an unfragmented frame,
                     or into the parser's assembly buffer; valid until the next ws_parser_next
                     call. Never NULL. For CLOSE, the whole payload (code + reason). */
  size_t len;
  uint16_t close_code; /* for CLOSE: 1005 (WS_CLOSE_NO_STATUS) if the frame carried no code */
  const uint8_t *close_reason;
  size_t close_reason_len;
} ws_message_t;

void ws_parser_init(ws_parser_t *p, size_t max_message_size);
void ws_parser_free(ws_parser_t *p);

/* Consume frames from buf[0..len). Returns WS_PARSE_MESSAGE with *out filled and *consumed set
 * when one complete data message or control frame is ready; WS_PARSE_NEED_MORE with *consumed
 * set (> 0 when a fragment was absorbed into the assembly buffer) when more input is needed: the
 * caller drops the consumed prefix, keeps the rest and calls again with more bytes appended; or a
 * negative WS_E_* error. Unmasks in place (buf is writable). Reads nothing past len. */
int ws_parser_next(ws_parser_t *p, uint8_t *buf, size_t len, size_t *consumed, ws_message_t *out);

uint16_t ws_parser_close_code(int err);
const char *ws_parser_strerror(int err);

#endif
