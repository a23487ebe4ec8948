// HTTP/1.1 end to end against the real binary: every malformed request gets its status, a reason,
// a log line and a closed connection; the upgrade endpoint's refusals (spec §1.2, §1.3); /healthz;
// keep-alive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import {
  OP, rawHttp, httpOnce, rawWebSocket, upgradeRequest, tcpConnect, logLine, untilAccepting,
} from './raw.mjs';

let server;

before(async () => {
  server = await startServer({ workers: 2 });
  await untilAccepting(server.port);
});

after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0);
});

const peer = (port) => `conn 127\\.0\\.0\\.1:${port}: `;

// Sends `req`, expects `status` with a JSON {"error": reason} body, the connection closed, and a
// log line naming this connection.
async function expectError(req, status, reasonRe, logRe = 'bad request: ') {
  const r = await httpOnce(server.port, req);
  assert.equal(r.status, status, `status for ${JSON.stringify(String(req).slice(0, 60))}: ${r.body}`);
  assert.equal(r.closed, true, 'the server closes the connection after an error');
  assert.equal(r.headers.connection, 'close');
  if (reasonRe) {
    assert.match(r.headers['content-type'], /^application\/json/);
    const body = JSON.parse(r.body);
    assert.match(body.error, reasonRe);
  }
  await logLine(server, new RegExp(peer(r.localPort) + logRe));
  return r;
}

const GET = (path, headers = 'Host: x\r\n') => `GET ${path} HTTP/1.1\r\n${headers}\r\n`;

// --- malformed requests --------------------------------------------------------------------------

test('garbage request line -> 400', async () => {
  await expectError('HELLO\r\n\r\n', 400, /./);
  await expectError('GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, /malformed request line/);
  await expectError('GET /healthz HTTP/one\r\nHost: x\r\n\r\n', 400, /malformed HTTP version/);
  await expectError('G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, /invalid method/);
  await expectError('GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, /invalid request target/);
  await expectError('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400, /./); // a TLS ClientHello
});

test('bare LF line endings -> 400', async () => {
  await expectError('GET /healthz HTTP/1.1\nHost: x\n\n', 400, /CRLF/);
  await expectError('GET /healthz HTTP/1.1\r\nHost: x\n\r\n', 400, /CRLF/);
});

test('HTTP/2.0 and HTTP/0.9-style versions -> 505', async () => {
  await expectError('GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', 505, /version not supported/);
  await expectError('GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n', 505, /version not supported/);
});

test('header without a colon, whitespace before the colon, control characters -> 400', async () => {
  await expectError('GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n', 400, /invalid header name/);
  await expectError('GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n', 400, /invalid header name/);
  await expectError('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400, /invalid character/);
});

test('obs-fold (continuation line) -> 400', async () => {
  await expectError('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n  b\r\n\r\n', 400, /folded header/);
});

test('Transfer-Encoding -> 501', async () => {
  await expectError('POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 501,
    /Transfer-Encoding/);
});

test('bad or conflicting Content-Length -> 400', async () => {
  await expectError('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 400, /Content-Length/);
  await expectError('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400,
    /Content-Length/);
});

test('request head over 16 KiB -> 431, request target over it -> 414', async () => {
  await expectError(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n`, 431, /too large/,
    '(request head too large|bad request: request header too large)');
  // Sent in pieces: the cap holds however the bytes arrive.
  const big = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}`;
  const r = await httpOnce(server.port, [big.slice(0, 8000), big.slice(8000)]);
  assert.equal(r.status, 431);
  await expectError(`GET /${'p'.repeat(17000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, /too long/);
});

test('more than 64 header fields -> 431', async () => {
  let h = 'Host: x\r\n';
  for (let i = 0; i < 70; i++) h += `X-H${i}: v\r\n`;
  await expectError(GET('/healthz', h), 431, /too many header/);
});

test('missing Host (HTTP/1.1) -> 400, duplicate Host -> 400; HTTP/1.0 without Host is fine', async () => {
  await expectError('GET /healthz HTTP/1.1\r\n\r\n', 400, /missing Host/);
  await expectError('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, /more than one Host/);
  const r = await httpOnce(server.port, 'GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(r.status, 200);
  assert.equal(r.closed, true, 'HTTP/1.0 without keep-alive closes');
});

test('unknown path -> 404 with a JSON error body', async () => {
  const r = await expectError(GET('/nope'), 404, /not found/, 'GET /nope: not found');
  assert.deepEqual(JSON.parse(r.body), { error: 'not found' });
  await expectError(GET('/socket/websocketx'), 404, /not found/, 'GET /socket/websocketx: not found');
  await expectError(GET('/socket/longpollx'), 404, /not found/, 'GET /socket/longpollx: not found');
});

test('request body over the cap (1 MiB) -> 413 before the body is read', async () => {
  await expectError('POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n', 413, /too large/,
    'request body of 2000000 bytes refused');
});

test('/healthz: other methods -> 405', async () => {
  await expectError('DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 405, /method not allowed/,
    'DELETE /healthz: method not allowed');
});

test('slowloris: a partial head is answered 408 after the HTTP timeout, and the connection closes', async () => {
  const s = await startServer({ workers: 1, args: ['--http-timeout', '300'] });
  try {
    const started = Date.now();
    const r = await httpOnce(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.equal(r.status, 408);
    assert.match(JSON.parse(r.body).error, /timeout/);
    assert.equal(r.closed, true);
    assert.ok(Date.now() - started >= 250, 'not before the timeout');
    await logLine(s, /HTTP request timed out/);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

// --- the WebSocket endpoint ------------------------------------------------------------------------

test('POST (and other methods) on /socket/websocket -> 400 with an empty body', async () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await httpOnce(server.port, `${method} /socket/websocket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    assert.equal(r.status, 400);
    assert.equal(r.body, '');
    assert.equal(r.closed, true);
    await logLine(server, new RegExp(`${peer(r.localPort)}${method} on the WebSocket endpoint`));
  }
});

test('GET /socket/websocket without upgrade headers -> 400 with the reason', async () => {
  await expectError(GET('/socket/websocket?vsn=2.0.0'), 400, /'upgrade' header must contain 'websocket'/,
    'upgrade refused with 400');
  const { req } = upgradeRequest({ omit: ['Connection'] });
  await expectError(req, 400, /'connection' header must contain 'upgrade'/, 'upgrade refused with 400');
  const { req: req10 } = upgradeRequest();
  await expectError(req10.replace('HTTP/1.1', 'HTTP/1.0'), 400, /HTTP\/1\.1/, 'upgrade refused with 400');
});

test('Sec-WebSocket-Version other than 13 -> 426 with Sec-WebSocket-Version: 13', async () => {
  for (const v of ['8', '14']) {
    const { req } = upgradeRequest({ headers: { 'Sec-WebSocket-Version': v } });
    const r = await expectError(req, 426, /sec-websocket-version/, 'upgrade refused with 426');
    assert.equal(r.headers['sec-websocket-version'], '13');
  }
  const { req } = upgradeRequest({ omit: ['Sec-WebSocket-Version'] });
  await expectError(req, 426, /sec-websocket-version/, 'upgrade refused with 426');
});

test('bad Sec-WebSocket-Key -> 400', async () => {
  for (const key of ['short', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAA!==', 'AAAAAAAAAAAAAAAAAAAAAAAB']) {
    const { req } = upgradeRequest({ key });
    await expectError(req, 400, /sec-websocket-key/, 'upgrade refused with 400');
  }
  const { req } = upgradeRequest({ omit: ['Sec-WebSocket-Key'] });
  await expectError(req, 400, /sec-websocket-key/, 'upgrade refused with 400');
});

test('unsupported vsn -> 403 (3.0.0, 123.1.1, garbage, vsn[]=x)', async () => {
  for (const q of ['vsn=3.0.0', 'vsn=123.1.1', 'vsn=banana', 'vsn[]=x', 'vsn[a]=2.0.0']) {
    const { req } = upgradeRequest({ path: `/socket/websocket?${q}` });
    await expectError(req, 403, /unsupported vsn/, 'upgrade refused: unsupported vsn');
  }
});

test('vsn absent -> upgrade OK and V1 JSON objects spoken', async () => {
  const { client, response } = await rawWebSocket(server.port, { path: '/socket/websocket?token=abc' });
  assert.equal(response.status, 101);
  client.sendJSON({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 'v1' });
  const f = await client.nextOf(OP.TEXT);
  assert.deepEqual(JSON.parse(f.text),
    { topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: 'v1' });
  client.sendJSON({ topic: 'room:v1', event: 'phx_join', payload: {}, ref: 'j' });
  const j = JSON.parse((await client.nextOf(OP.TEXT)).text);
  assert.equal(j.event, 'phx_reply');
  assert.equal(j.payload.status, 'ok');
  assert.ok(!('join_ref' in j), 'V1 never emits join_ref');
  client.destroy();
  // vsn=1.0.x too.
  const { client: c2 } = await rawWebSocket(server.port, { path: '/socket/websocket?vsn=1.0.7' });
  c2.sendJSON({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 'v2' });
  assert.equal(JSON.parse((await c2.nextOf(OP.TEXT)).text).ref, 'v2');
  c2.destroy();
});

test('sub-protocols offered without phoenix -> 403; a bad auth token -> 403', async () => {
  const { req } = upgradeRequest({ protocols: ['mqtt', 'chat'] });
  await expectError(req, 403, /sub-protocol/, 'upgrade refused: no supported sub-protocol offered');
  const { req: bad } = upgradeRequest({ protocols: ['phoenix', 'base64url.bearer.phx.@@@'] });
  await expectError(bad, 403, /auth token/, 'upgrade refused with 403');
});

test('trailing slash: /socket/websocket/ upgrades', async () => {
  const { client, response } = await rawWebSocket(server.port, { path: '/socket/websocket/?vsn=2.0.0' });
  assert.equal(response.status, 101);
  const reply = await client.heartbeat('slash');
  assert.equal(reply[4].status, 'ok');
  client.destroy();
});

test('GET /healthz -> 200 JSON; connections counts open sockets', async () => {
  const s = await startServer({ workers: 2, args: ['--log-level', 'debug'] });
  try {
    const probe = await untilAccepting(s.port);
    await logLine(s, new RegExp(`${peer(probe)}closed`));
    const health = async () => {
      const r = await httpOnce(s.port, GET('/healthz'), { keepAlive: true });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.equal(r.headers['cache-control'], 'no-store');
      return JSON.parse(r.body);
    };
    const h0 = await health();
    assert.equal(h0.status, 'ok');
    assert.match(h0.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof h0.uptime_s, 'number');
    assert.ok(h0.uptime_s >= 0 && h0.uptime_s < 60);
    assert.deepEqual(h0.workers.map((w) => w.id), [0, 1]);
    assert.equal(h0.connections, 1, 'only the health request itself');
    assert.equal(h0.workers.reduce((a, w) => a + w.connections, 0), h0.connections);

    const clients = [];
    for (let i = 0; i < 3; i++) clients.push((await rawWebSocket(s.port)).client);
    const h1 = await health();
    assert.equal(h1.connections, 4, '3 sockets + the health request');
    assert.equal(h1.workers.reduce((a, w) => a + w.connections, 0), 4);

    const ports = clients.map((c) => c.localPort);
    for (const c of clients) c.destroy();
    for (const p of ports) await logLine(s, new RegExp(`${peer(p)}closed`));
    const h2 = await health();
    assert.equal(h2.connections, 1);
    // HEAD works too (same headers).
    const r = await httpOnce(s.port, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200);
  } finally {
    const { code } = await s.stop();
    assert.equal(code, 0);
  }
});

test('HTTP keep-alive: two requests on one connection, sequential and pipelined', async () => {
  const sock = await tcpConnect(server.port);
  let buf = '';
  const waitFor = (n) => new Promise((res) => {
    const check = () => {
      const count = buf.split('HTTP/1.1 200 OK').length - 1;
      if (count >= n) { sock.off('data', onData); res(); }
    };
    const onData = (d) => { buf += d; check(); };
    sock.on('data', onData);
    check();
  });
  sock.write(GET('/healthz'));
  await waitFor(1);
  sock.write(GET('/healthz'));
  await waitFor(2);
  // Pipelined: two more in one write.
  sock.write(GET('/healthz') + GET('/healthz'));
  await waitFor(4);
  assert.equal(buf.split('\r\n\r\n{"status":"ok"').length - 1, 4);
  assert.ok(!buf.includes('Connection: close'));
  // Connection: close on the last one: answered, then the server closes.
  const closed = new Promise((res) => sock.once('close', res));
  sock.on('data', (d) => { buf += d; });
  sock.write(GET('/healthz', 'Host: x\r\nConnection: close\r\n'));
  await closed;
  assert.equal(buf.split('HTTP/1.1 200 OK').length - 1, 5);
});

test('an error mid keep-alive answers the earlier request and then closes', async () => {
  const { responses, closed } = await rawHttp(server.port, GET('/healthz') + 'BROKEN\r\n\r\n');
  assert.deepEqual(responses.map((r) => r.status), [200, 400]);
  assert.equal(closed, true);
});
