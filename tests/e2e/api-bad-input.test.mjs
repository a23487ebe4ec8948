// The server API's "Bad input" (issue 5): malformed JSON and JSON that is not an object → 400,
// a wrong content type → 415 (the issue lists 400/413/404/401; the server answers an unsupported
// media type with 415), a body over 1 MiB → 413, unknown routes → 404, a wrong method → 405 with
// Allow, invalid fields → 400, too many business streams → 429. Every error is a JSON
// {"error": ...}, every refusal has a log line, and a client on the same server is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { connectSocket, join, receive, next } from './clients.mjs';
import { rawWebSocket, httpOnce, untilAccepting, within } from './raw.mjs';

async function serve(t, opts = {}) {
  const server = await startServer({ workers: 2, ...opts });
  t.after(async () => {
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  });
  await untilAccepting(server.port);
  return server;
}

const count = (text, re) => (text.match(new RegExp(re.source, 'g')) || []).length;

// Resolves once the server log has at least n lines matching re (at most 5 s).
function logCount(server, re, n) {
  const atLeast = new RegExp(`(?:${re.source}[^]*?){${n}}`);
  return within(server.waitForLog(atLeast), 5000, `${n} log lines ${re}`);
}

async function request(server, path, { method = 'POST', body, type = 'application/json', headers = {} } = {}) {
  const h = { ...headers };
  if (type) h['content-type'] = type;
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: h,
    // A Buffer body gets no default content type (a string would be text/plain).
    body: body === undefined ? undefined
      : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// An error answer: the status, a JSON object {"error": non-empty string}, application/json.
function assertError(res, status, what, errorRe = /./) {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.match(res.headers.get('content-type'), /^application\/json/, what);
  const body = JSON.parse(res.text);
  assert.deepEqual(Object.keys(body), ['error'], what);
  assert.equal(typeof body.error, 'string');
  assert.match(body.error, errorRe, what);
}

const MALFORMED = /api: .*: malformed JSON body/;
const CONTENT_TYPE = /api: .*: content type is not application\/json/;
const NOT_FOUND = /conn .*: \S+ \S+: not found/;
const METHOD = /api: \S+ \S+: method not allowed/;
const BROADCAST = /api: broadcast refused: /;
const EVENT = /api: event refused: /;
const PRESENCE = /api: presence query without a topic/;
const TOO_LARGE = /conn .*: request body of \d+ bytes refused/;

test('bad input: 400/415/413/404/405 with JSON errors and a log line each; nothing else affected', async (t) => {
  const server = await serve(t);
  // Bystanders: a phoenix.js client in a room (with presence) and a raw V2 client.
  const socket = await connectSocket(server.url);
  t.after(() => socket.disconnect());
  const { channel } = await join(socket, 'room:calm', { user: 'ada' });
  const { client } = await rawWebSocket(server.port);
  t.after(() => client.destroy());
  client.sendJSON(['1', '1', 'room:calm', 'phx_join', { user: 'raw' }]);
  assert.equal((await client.reply('1'))[4].status, 'ok');

  const cases = [
    // [what, path, options, status, error, log line]
    ['truncated JSON', '/api/broadcast', { body: '{"topic":' }, 400, /JSON object/, MALFORMED],
    ['empty body', '/api/broadcast', { body: '' }, 400, /JSON object/, MALFORMED],
    ['no body', '/api/events', {}, 400, /JSON object/, MALFORMED],
    ['trailing garbage', '/api/broadcast', { body: '{"topic":"room:calm","event":"e"} x' }, 400, /JSON object/, MALFORMED],
    ['single quotes', '/api/events', { body: "{'stream':'s','value':1}" }, 400, /JSON object/, MALFORMED],
    ['invalid UTF-8', '/api/events', { body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) }, 400, /JSON object/, MALFORMED],
    ['an array', '/api/broadcast', { body: '[{"topic":"room:calm","event":"e"}]' }, 400, /JSON object/, MALFORMED],
    ['a string', '/api/events', { body: '"sales"' }, 400, /JSON object/, MALFORMED],
    ['a number', '/api/events', { body: '42' }, 400, /JSON object/, MALFORMED],
    ['null', '/api/broadcast', { body: 'null' }, 400, /JSON object/, MALFORMED],
    ['a number too large', '/api/events', { body: '{"stream":"s","value":1e999}' }, 400, /./, MALFORMED],
    ['text/plain', '/api/broadcast', { body: { topic: 'room:calm', event: 'e' }, type: 'text/plain' }, 415, /application\/json/, CONTENT_TYPE],
    ['no content type', '/api/broadcast', { body: { topic: 'room:calm', event: 'e' }, type: null }, 415, /application\/json/, CONTENT_TYPE],
    ['application/jsonp', '/api/events', { body: { stream: 's', value: 1 }, type: 'application/jsonp' }, 415, /application\/json/, CONTENT_TYPE],
    ['form', '/api/events', { body: 'stream=s&value=1', type: 'application/x-www-form-urlencoded' }, 415, /application\/json/, CONTENT_TYPE],
    ['no topic', '/api/broadcast', { body: { event: 'e', payload: {} } }, 400, /topic/, BROADCAST],
    ['a numeric topic', '/api/broadcast', { body: { topic: 7, event: 'e' } }, 400, /topic/, BROADCAST],
    ['an empty event', '/api/broadcast', { body: { topic: 'room:calm', event: '' } }, 400, /event/, BROADCAST],
    ['a reserved event', '/api/broadcast', { body: { topic: 'room:calm', event: 'phx_reply', payload: {} } }, 400, /phx_/, BROADCAST],
    ['an array payload', '/api/broadcast', { body: { topic: 'room:calm', event: 'e', payload: [1] } }, 400, /payload/, BROADCAST],
    ['a string payload', '/api/broadcast', { body: { topic: 'room:calm', event: 'e', payload: 'hi' } }, 400, /payload/, BROADCAST],
    ['no stream', '/api/events', { body: { value: 1 } }, 400, /stream/, EVENT],
    ['a bad stream name', '/api/events', { body: { stream: 'bad name!', value: 1 } }, 400, /stream/, EVENT],
    ['stream "server"', '/api/events', { body: { stream: 'server', value: 1 } }, 400, /stream/, EVENT],
    ['stream "doc..."', '/api/events', { body: { stream: 'doc:x', value: 1 } }, 400, /stream/, EVENT],
    ['a long stream name', '/api/events', { body: { stream: 'a'.repeat(65), value: 1 } }, 400, /stream/, EVENT],
    ['a string value', '/api/events', { body: { stream: 's', value: '3' } }, 400, /value/, EVENT],
    ['a null value', '/api/events', { body: { stream: 's', value: null } }, 400, /value/, EVENT],
    ['no value', '/api/events', { body: { stream: 's' } }, 400, /value/, EVENT],
    ['a boolean value', '/api/events', { body: { stream: 's', value: true } }, 400, /value/, EVENT],
    ['presence without topic', '/api/presence', { method: 'GET', type: null }, 400, /topic/, PRESENCE],
    ['presence with an empty topic', '/api/presence?topic=', { method: 'GET', type: null }, 400, /topic/, PRESENCE],
    ['presence with another parameter', '/api/presence?room=room:calm', { method: 'GET', type: null }, 400, /topic/, PRESENCE],
    ['/api', '/api', { method: 'GET', type: null }, 404, /not found/, NOT_FOUND],
    ['/api/', '/api/', { method: 'GET', type: null }, 404, /not found/, NOT_FOUND],
    ['/api/nope', '/api/nope', { body: {} }, 404, /not found/, NOT_FOUND],
    ['/api/broadcast/x', '/api/broadcast/x', { body: { topic: 'room:calm', event: 'e' } }, 404, /not found/, NOT_FOUND],
    ['/api/BROADCAST', '/api/BROADCAST', { body: { topic: 'room:calm', event: 'e' } }, 404, /not found/, NOT_FOUND],
    ['/metricsz', '/metricsz', { method: 'GET', type: null }, 404, /not found/, NOT_FOUND],
  ];
  const methods = [
    ['GET', '/api/broadcast', 'POST'],
    ['PUT', '/api/events', 'POST'],
    ['POST', '/api/topics', 'GET'],
    ['DELETE', '/api/presence?topic=room:calm', 'GET'],
    ['POST', '/metrics', 'GET'],
  ];

  const expected = new Map();
  const refused = async (re, send) => {
    const n = count(server.log(), re);
    const res = await send();
    await logCount(server, re, n + 1);
    expected.set(re, (expected.get(re) ?? 0) + 1);
    return res;
  };
  for (const [what, path, opts, status, errorRe, logRe] of cases) {
    assertError(await refused(logRe, () => request(server, path, opts)), status, what, errorRe);
  }
  for (const [method, path, allow] of methods) {
    const res = await refused(METHOD, () => request(server, path, { method, type: null, body: method === 'GET' ? undefined : '{}' }));
    assertError(res, 405, `${method} ${path}`, /method not allowed/);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}: Allow`);
  }

  // Over 1 MiB: refused from the head alone (the body is never read) and the connection closed.
  const head = (len) => `POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n`;
  for (const len of [1048577, 1 << 30]) {
    const big = await refused(TOO_LARGE, () => httpOnce(server.port, head(len)));
    assert.equal(big.status, 413);
    assert.equal(big.headers.connection, 'close');
    assert.ok(big.closed, 'the server closed the connection');
    assert.deepEqual(JSON.parse(big.body), { error: 'request body too large' });
    assert.match(big.headers['content-type'], /^application\/json/);
  }
  // Exactly 1 MiB is within the cap.
  const prefix = '{"stream":"big","value":1,"pad":"';
  const exact = prefix + 'x'.repeat((1 << 20) - prefix.length - 2) + '"}';
  assert.equal(Buffer.byteLength(exact), 1 << 20);
  const fits = await httpOnce(server.port, head(1 << 20) + exact, { keepAlive: true });
  assert.equal(fits.status, 202, fits.body);

  // Content types with parameters and any case are JSON.
  for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8']) {
    assert.equal((await request(server, '/api/events', { body: { stream: 's', value: 1 }, type })).status, 202, type);
  }

  // Exactly one log line per refusal, of the kind expected.
  const log = server.log();
  for (const [re, n] of expected) assert.equal(count(log, re), n, `${n} log lines ${re}`);

  // Nothing else was affected: the bystanders' heartbeats and channels work, a new client
  // connects, the API serves a valid request, and the broadcast reaches both bystanders.
  assert.ok(await within(new Promise((res) => socket.ping(res)), 5000, 'phoenix.js heartbeat') >= 0);
  assert.equal((await client.heartbeat('hb'))[4].status, 'ok');
  assert.deepEqual(await receive(channel.push('ping', { still: 'here' })), { status: 'ok', response: { still: 'here' } });
  const fresh = await connectSocket(server.url);
  t.after(() => fresh.disconnect());
  assert.equal((await join(fresh, 'room:calm', { user: 'new' })).reply.status, 'ok');
  const heard = next(channel, 'after');
  assert.equal((await request(server, '/api/broadcast', { body: { topic: 'room:calm', event: 'after', payload: { ok: 1 } } })).status, 202);
  assert.deepEqual(await within(heard, 5000, 'the broadcast'), { ok: 1 });
  for (;;) {
    const f = JSON.parse((await client.nextFrame()).text);
    if (f[3] === 'after') { assert.deepEqual(f, [null, null, 'room:calm', 'after', { ok: 1 }]); break; }
  }
  const health = await (await fetch(`${server.http}/healthz`)).json();
  assert.equal(health.status, 'ok');

  socket.disconnect();
  fresh.disconnect();
  client.destroy();
  assert.equal((await server.stop()).code, 0);
});

test('too many business streams: 429 past 1000, existing streams still accepted', async (t) => {
  // A long interval and a short history: 1000 streams sample once a second into 2 slots.
  const server = await serve(t, { args: ['--activity-interval', '1000', '--activity-history', '2'] });
  const post = (stream, value = 1) => request(server, '/api/events', { body: { stream, value } });
  for (let i = 0; i < 1000; i++) {
    const r = await post(`s${i}`);
    assert.equal(r.status, 202, `stream ${i}: ${r.text}`);
  }
  const before = count(server.log(), /api: event refused: too many streams/);
  const over = await post('one-more');
  assertError(over, 429, 'the 1001st stream', /too many streams/);
  await logCount(server, /api: event refused: too many streams/, before + 1);
  assert.equal((await post('s0', 2)).status, 202, 'an existing stream');
  assert.equal((await post('s999', 3)).status, 202, 'an existing stream');
  // A refused stream has no channel history either; an existing one does.
  const socket = await connectSocket(server.url);
  t.after(() => socket.disconnect());
  const { channel, reply } = await join(socket, 'activity:s999');
  assert.equal(reply.status, 'ok');
  const s = reply.response.samples.length ? reply.response.samples : [await within(next(channel, 'sample'), 5000, 'an s999 sample')];
  assert.deepEqual(Object.keys(s[0]).sort(), ['count', 'per_s', 't', 'value']);
  assert.deepEqual((await join(socket, 'activity:one-more')).reply, { status: 'ok', response: { samples: [] } });
  socket.disconnect();
  assert.equal((await server.stop()).code, 0);
});
