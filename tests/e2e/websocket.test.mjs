// RFC 6455 end to end against the real binary: the handshake, every framing error a client can
// commit (each closes only that client, with the right code, and is logged), fragmentation,
// ping/pong, the close handshake, and malformed Phoenix messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from './server.mjs';
import {
  OP, frame, closePayload, phxBinaryPush, rawWebSocket, acceptKey, logLine, untilAccepting,
} from './raw.mjs';

const MAX_MESSAGE = 65536;
let server;
let bystanders = []; // one healthy raw client per worker

before(async () => {
  server = await startServer({ workers: 2, args: ['--max-message', String(MAX_MESSAGE)] });
  await untilAccepting(server.port);
  // Keep opening sockets until both workers hold one, so "affects only that client" is checked
  // on the bad client's own worker as well as on the other one.
  const byWorker = new Map();
  for (let i = 0; i < 32 && byWorker.size < 2; i++) {
    const { client, response } = await rawWebSocket(server.port);
    const w = response.headers['x-cinder-worker'];
    if (byWorker.has(w)) client.destroy();
    else byWorker.set(w, client);
  }
  assert.equal(byWorker.size, 2, 'could not reach both workers');
  bystanders = [...byWorker.values()];
});

after(async () => {
  for (const b of bystanders) b.destroy();
  const { code } = await server.stop();
  assert.equal(code, 0);
});

const peerRe = (port) => `conn 127\\.0\\.0\\.1:${port}: `;

// Every other client still works: a heartbeat round trip on each bystander.
async function assertOthersUnaffected() {
  for (const [i, b] of bystanders.entries()) {
    const ref = `hb-${i}-${Math.random()}`;
    const reply = await b.heartbeat(ref);
    assert.deepEqual(reply, [null, ref, 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  }
}

// Opens a raw socket, lets `act` misbehave, expects a close frame with `code` followed by the
// TCP close, a log line for the error, and healthy bystanders.
async function expectFailure(act, code, logRe, opts = {}) {
  const { client } = await rawWebSocket(server.port, opts);
  const port = client.localPort;
  await act(client);
  const f = await client.nextOf(OP.CLOSE);
  assert.equal(f.code, code, `close code (reason: ${f.reason})`);
  assert.ok(f.reason.length > 0, 'close frame carries a reason');
  assert.equal(f.masked, false, 'server frames are unmasked');
  // Answer the close as a client should; the server then closes TCP.
  client.send(frame(OP.CLOSE, closePayload(code)));
  await client.closed;
  await logLine(server, new RegExp(peerRe(port) + logRe));
  await logLine(server, new RegExp(`${peerRe(port)}closing WebSocket with ${code}`));
  await assertOthersUnaffected();
  return f;
}

// --- handshake ---------------------------------------------------------------------------------

test('handshake: 101 with the correct Sec-WebSocket-Accept, no sub-protocol when none offered', async () => {
  const { client, response, key } = await rawWebSocket(server.port);
  assert.equal(response.status, 101);
  assert.equal(response.headers['sec-websocket-accept'], acceptKey(key));
  assert.equal(response.headers.upgrade.toLowerCase(), 'websocket');
  assert.equal(response.headers.connection.toLowerCase(), 'upgrade');
  assert.equal(response.headers['sec-websocket-protocol'], undefined);
  assert.equal(response.headers['sec-websocket-extensions'], undefined);
  await client.heartbeat();
  client.destroy();
});

test('handshake: phoenix + auth token offered -> only "phoenix" echoed, token never', async () => {
  const token = Buffer.from('secret-token-123').toString('base64').replace(/=+$/, '');
  const { client, response, key } = await rawWebSocket(server.port, {
    protocols: ['phoenix', `base64url.bearer.phx.${token}`],
    headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' },
  });
  assert.equal(response.status, 101);
  assert.equal(response.headers['sec-websocket-accept'], acceptKey(key));
  assert.equal(response.headers['sec-websocket-protocol'], 'phoenix');
  assert.equal(response.headers['sec-websocket-extensions'], undefined, 'no permessage-deflate');
  const all = JSON.stringify(response.headers);
  assert.ok(!all.includes(token) && !all.includes('bearer'), 'the token is never echoed');
  await client.heartbeat();
  client.destroy();

  // The same through the ws package, which fails the handshake unless "phoenix" is selected.
  const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`, ['phoenix', `base64url.bearer.phx.${token}`]);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  assert.equal(ws.protocol, 'phoenix');
  ws.close(1000);
  await new Promise((res) => ws.once('close', res));
});

// --- framing errors (1002) -----------------------------------------------------------------------

test('unmasked client frame -> 1002', async () => {
  await expectFailure((c) => c.send(frame(OP.TEXT, '[null,"1","phoenix","heartbeat",{}]', { mask: false })),
    1002, 'WebSocket protocol error: client frame not masked');
});

test('RSV bits set -> 1002', async () => {
  for (const rsv of [4, 2, 1]) {
    await expectFailure((c) => c.send(frame(OP.TEXT, '[null,"1","phoenix","heartbeat",{}]', { rsv })),
      1002, 'WebSocket protocol error: reserved bits set');
  }
});

test('reserved opcode -> 1002', async () => {
  for (const op of [0x3, 0xb]) {
    await expectFailure((c) => c.send(frame(op, 'x')), 1002, 'WebSocket protocol error: unknown opcode');
  }
});

test('fragmented control frame -> 1002', async () => {
  await expectFailure((c) => c.send(frame(OP.PING, 'abc', { fin: false })),
    1002, 'WebSocket protocol error: fragmented control frame');
});

test('control frame payload over 125 bytes -> 1002', async () => {
  await expectFailure((c) => c.send(frame(OP.PING, Buffer.alloc(126, 0x61))),
    1002, 'WebSocket protocol error: control frame payload over 125 bytes');
});

test('continuation without a started message -> 1002', async () => {
  await expectFailure((c) => c.send(frame(OP.CONT, 'orphan')),
    1002, 'WebSocket protocol error: continuation frame without a message in progress');
});

test('new data frame during a fragmented message -> 1002', async () => {
  await expectFailure((c) => {
    c.send(frame(OP.TEXT, '[null,"1",', { fin: false }));
    c.send(frame(OP.TEXT, '"phoenix","heartbeat",{}]'));
  }, 1002, 'WebSocket protocol error: new data frame inside a fragmented message');
});

test('64-bit payload length with the most significant bit set -> 1002', async () => {
  await expectFailure((c) => {
    const head = Buffer.from([0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
    c.send(head);
  }, 1002, 'WebSocket protocol error: payload length has its most significant bit set');
});

// --- fragmentation, ping/pong --------------------------------------------------------------------

test('fragmented text message (3 fragments, ping interleaved) is reassembled and answered', async () => {
  const { client } = await rawWebSocket(server.port);
  client.send(frame(OP.TEXT, '[null,"frag-1",', { fin: false }));
  client.send(frame(OP.CONT, '"phoenix","heart', { fin: false }));
  client.send(frame(OP.PING, 'mid-message'));
  client.send(frame(OP.CONT, 'beat",{}]'));
  const pong = await client.nextFrame();
  assert.equal(pong.opcode, OP.PONG, 'the interleaved ping is answered first');
  assert.equal(pong.payload.toString(), 'mid-message');
  const reply = await client.nextFrame();
  assert.equal(reply.opcode, OP.TEXT);
  assert.equal(reply.fin, true);
  assert.deepEqual(JSON.parse(reply.text),
    [null, 'frag-1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  // Fragments split at byte level (a frame header in pieces) reassemble too.
  const whole = Buffer.concat([frame(OP.TEXT, '[null,"frag-2","phoenix",', { fin: false }),
    frame(OP.CONT, '"heartbeat",{}]')]);
  for (let i = 0; i < whole.length; i += 7) client.send(whole.subarray(i, i + 7));
  assert.equal((await client.reply('frag-2'))[3], 'phx_reply');
  client.destroy();
});

test('ping -> pong with the same payload (ws package), and an empty ping', async () => {
  const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const payload = Buffer.from([0, 1, 2, 250, 251, 252, 0x68, 0x69]);
  const pong = new Promise((res) => ws.once('pong', res));
  ws.ping(payload);
  assert.deepEqual(await pong, payload);
  const pong2 = new Promise((res) => ws.once('pong', res));
  ws.ping();
  assert.equal((await pong2).length, 0);
  // A 125-byte ping (the maximum) comes back whole.
  const pong3 = new Promise((res) => ws.once('pong', res));
  const big = Buffer.alloc(125, 0x7a);
  ws.ping(big);
  assert.deepEqual(await pong3, big);
  ws.close(1000);
  await new Promise((res) => ws.once('close', res));
});

// --- UTF-8 and size --------------------------------------------------------------------------------

test('invalid UTF-8 in a text message -> 1007 (whole frame, and split across fragments)', async () => {
  await expectFailure((c) => c.send(frame(OP.TEXT, Buffer.from([0x5b, 0xff, 0xfe, 0x5d]))),
    1007, 'WebSocket protocol error: text message is not valid UTF-8');
  // A 4-byte sequence (U+1F600) split across fragments is fine; an overlong / surrogate one is not.
  const { client } = await rawWebSocket(server.port);
  const smile = Buffer.from('"\u{1F600}"');
  const msg = Buffer.concat([Buffer.from('[null,"u8","phoenix","heartbeat",{"s":'), smile, Buffer.from('}]')]);
  const cut = msg.indexOf(0xf0) + 2;
  client.send(frame(OP.TEXT, msg.subarray(0, cut), { fin: false }));
  client.send(frame(OP.CONT, msg.subarray(cut)));
  assert.equal((await client.reply('u8'))[4].status, 'ok');
  client.destroy();
  await expectFailure((c) => {
    c.send(frame(OP.TEXT, Buffer.from([0x5b, 0x22, 0xed]), { fin: false }));
    c.send(frame(OP.CONT, Buffer.from([0xa0, 0x80, 0x22, 0x5d]))); // UTF-16 surrogate D800
  }, 1007, 'WebSocket protocol error: text message is not valid UTF-8');
});

test('message over --max-message -> 1009 (single frame)', async () => {
  await expectFailure((c) => c.send(frame(OP.TEXT, Buffer.alloc(MAX_MESSAGE + 1, 0x20))),
    1009, 'WebSocket protocol error: message too big');
  // Exactly the cap is accepted: a heartbeat padded with spaces to MAX_MESSAGE bytes.
  const { client } = await rawWebSocket(server.port);
  const hb = '[null,"cap","phoenix","heartbeat",{}]';
  client.sendText(hb + ' '.repeat(MAX_MESSAGE - hb.length));
  assert.equal((await client.reply('cap'))[4].status, 'ok');
  client.destroy();
});

test('message over --max-message -> 1009 (fragmented total)', async () => {
  await expectFailure((c) => {
    const part = Buffer.alloc(30000, 0x20);
    c.send(frame(OP.BINARY, part, { fin: false }));
    c.send(frame(OP.CONT, part, { fin: false }));
    c.send(frame(OP.CONT, part)); // 90000 > 65536
  }, 1009, 'WebSocket protocol error: message too big');
});

// --- close handshake -------------------------------------------------------------------------------

test('client close with 4000 -> the server echoes a close frame and closes TCP', async () => {
  const { client } = await rawWebSocket(server.port);
  await client.heartbeat();
  client.send(frame(OP.CLOSE, closePayload(4000, 'bye')));
  const f = await client.nextOf(OP.CLOSE);
  assert.equal(f.code, 4000);
  await client.closed; // the server closes TCP without further prompting
  await assertOthersUnaffected();
});

test('client close without a status -> empty close echoed', async () => {
  const { client } = await rawWebSocket(server.port);
  client.send(frame(OP.CLOSE));
  const f = await client.nextOf(OP.CLOSE);
  assert.equal(f.payload.length, 0);
  await client.closed;
});

test('close frame with a 1-byte payload -> 1002', async () => {
  await expectFailure((c) => c.send(frame(OP.CLOSE, Buffer.from([0x03]))),
    1002, 'WebSocket protocol error: close frame with a 1-byte payload');
});

test('close with a code a peer may not send (1005, 999, 1006, 1015, 5000) -> 1002', async () => {
  for (const code of [1005, 999, 1006, 1015, 5000]) {
    await expectFailure((c) => c.send(frame(OP.CLOSE, closePayload(code))),
      1002, 'WebSocket protocol error: invalid close code');
  }
});

test('close reason that is not UTF-8 -> 1007', async () => {
  await expectFailure((c) => c.send(frame(OP.CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xc3])]))),
    1007, 'WebSocket protocol error: close reason is not valid UTF-8');
});

// --- Phoenix-level bad input -------------------------------------------------------------------

test('malformed Phoenix JSON text -> 1007', async () => {
  const cases = [
    ['not json', 'this is not JSON'],
    ['not an array', '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}'],
    ['4 elements', '[null,"1","phoenix","heartbeat"]'],
    ['topic not a string', '[null,"1",42,"heartbeat",{}]'],
    ['event not a string', '[null,"1","phoenix",null,{}]'],
  ];
  for (const [, text] of cases) {
    await expectFailure((c) => c.sendText(text), 1007, 'closing WebSocket with 1007');
  }
});

test('malformed Phoenix binary -> 1003', async () => {
  const good = phxBinaryPush('1', '2', 'room:x', 'ping', Buffer.from([1, 2, 3]));
  const unknownKind = Buffer.from(good); unknownKind[0] = 7;
  const sizesBeyond = Buffer.from([0, 200, 200, 200, 200, 0x61, 0x62]);
  const shortHeader = Buffer.from([0, 1, 1]);
  for (const b of [unknownKind, sizesBeyond, shortHeader, Buffer.alloc(0)]) {
    await expectFailure((c) => c.sendBinary(b), 1003, 'closing WebSocket with 1003');
  }
});

test('a well-formed binary push is answered (control for the 1003 cases)', async () => {
  const { client } = await rawWebSocket(server.port);
  client.sendJSON(['1', '1', 'room:bin', 'phx_join', {}]);
  assert.equal((await client.reply('1'))[4].status, 'ok');
  client.sendBinary(phxBinaryPush('1', '2', 'room:bin', 'ping', Buffer.from([9, 8, 7])));
  const f = await client.nextOf(OP.BINARY);
  assert.equal(f.payload[0], 1, 'kind 1: reply');
  assert.deepEqual([...f.payload.subarray(-3)], [9, 8, 7]);
  client.destroy();
});

test('binary frame on a vsn=1.0.0 socket -> 1003', async () => {
  await expectFailure((c) => c.sendBinary(phxBinaryPush('1', '2', 'room:x', 'ping', Buffer.from([1]))),
    1003, 'closing WebSocket with 1003', { path: '/socket/websocket?vsn=1.0.0' });
});

test('a V1 JSON array on a vsn=1.0.0 socket -> 1007', async () => {
  await expectFailure((c) => c.sendJSON([null, '1', 'phoenix', 'heartbeat', {}]),
    1007, 'closing WebSocket with 1007', { path: '/socket/websocket?vsn=1.0.0' });
});

test('bad input after our close frame is ignored, not answered twice', async () => {
  // The server fails the connection; the client keeps sending garbage before answering.
  const { client } = await rawWebSocket(server.port);
  client.send(frame(OP.TEXT, 'x', { mask: false }));
  const f = await client.nextOf(OP.CLOSE);
  assert.equal(f.code, 1002);
  client.send(frame(OP.TEXT, 'still talking'));
  await client.closed;
  assert.equal(client.frames.filter((x) => x.opcode === OP.CLOSE).length, 0, 'exactly one close frame');
  await assertOthersUnaffected();
});
