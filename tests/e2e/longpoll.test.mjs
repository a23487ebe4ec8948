// The LongPoll transport (spec §7) with the real phoenix.js LongPoll client, and its raw HTTP
// exchanges. Node 20 has fetch, which phoenix.js's Ajax uses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket, LongPoll, Presence } from 'phoenix';
import { startServer } from './server.mjs';
import { connectSocket, join, receive, next, cast, bytes } from './clients.mjs';
import { DocClient, converged, openSocket } from './ydoc.mjs';


let server;
before(async () => { server = await startServer({ workers: 2 }); });
after(async () => { assert.equal((await server.stop()).code, 0); });

function longPollSocket(params = {}) {
  const socket = new Socket(server.url, { transport: LongPoll, params, reconnectAfterMs: () => 50 });
  return new Promise((res, rej) => {
    const a = socket.onOpen(() => { socket.off([a, b]); res(socket); });
    const b = socket.onError((e) => { socket.off([a, b]); rej(new Error(`longpoll error ${e}`)); });
    socket.connect();
  });
}

test('phoenix.js over LongPoll: join, reply, broadcasts both ways with a WebSocket client', async () => {
  const lp = await longPollSocket({ token: 'user-token' });
  const ws = await connectSocket(server.url);
  const cl = lp.channel('room:lp', { user: 'poller' });
  const presence = new Presence(cl); // before the join: presence_state follows the join reply
  const synced = new Promise((res) => presence.onSync(() => {
    if (presence.list((k) => k).sort().join() === 'poller,socket') res();
  }));
  assert.equal((await receive(cl.join())).status, 'ok');
  const cw = (await join(ws, 'room:lp', { user: 'socket' })).channel;

  assert.deepEqual(await receive(cl.push('ping', { n: 1 })), { status: 'ok', response: { n: 1 } });
  const atLp = next(cl, 'msg');
  cast(cw, 'msg', { from: 'ws' });
  assert.deepEqual(await atLp, { from: 'ws' });
  const atWs = next(cw, 'msg');
  cast(cl, 'msg', { from: 'lp' });
  assert.deepEqual(await atWs, { from: 'lp' });

  await synced; // Presence works the same over LongPoll
  assert.equal((await receive(cl.leave())).status, 'ok');
  lp.disconnect();
  ws.disconnect();
});

test('raw LongPoll exchanges: session, poll, post, CORS, refusals', async () => {
  const base = `${server.http}/socket/longpoll`;
  const get = async (q, headers = {}) => {
    const r = await fetch(`${base}?${q}`, { headers });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.match(r.headers.get('content-type'), /^application\/json/);
    return r.json();
  };
  const post = (q, body, type = 'application/x-ndjson') =>
    fetch(`${base}?${q}`, { method: 'POST', headers: { 'content-type': type }, body }).then((r) => r.json());

  const first = await get('vsn=2.0.0&');
  assert.equal(first.status, 410);
  assert.match(first.token, /^\d+\.[0-9a-f]{32}$/);
  assert.deepEqual(first.messages, []);
  const tok = encodeURIComponent(first.token);

  // Frames posted as ndjson (a trailing newline is fine); replies come with the next poll.
  assert.deepEqual(await post(`vsn=2.0.0&token=${tok}`,
    '["1","1","room:raw","phx_join",{}]\n[null,"2","phoenix","heartbeat",{}]\n'), { status: 200 });
  const polled = await get(`vsn=2.0.0&token=${tok}`);
  assert.equal(polled.status, 200);
  assert.equal(polled.token, first.token);
  const frames = polled.messages.map((m) => JSON.parse(m)).filter((f) => !f[3].startsWith('presence_'));
  assert.deepEqual(frames, [
    ['1', '1', 'room:raw', 'phx_reply', { status: 'ok', response: {} }],
    [null, '2', 'phoenix', 'phx_reply', { status: 'ok', response: {} }],
  ]);
  // The token in a header works too (phoenix.js 1.9), and a held poll returns when a frame arrives.
  const held = get('vsn=2.0.0', { 'x-phoenix-longpoll-token': first.token });
  assert.deepEqual(await post(`vsn=2.0.0&token=${tok}`, '["1","3","room:raw","ping",{"x":1}]'), { status: 200 });
  const got = await held;
  assert.equal(got.status, 200);
  assert.deepEqual(got.messages.map((m) => JSON.parse(m)).filter((f) => f[3] === 'phx_reply'),
    [['1', '3', 'room:raw', 'phx_reply', { status: 'ok', response: { x: 1 } }]]);

  // Unknown sessions: a POST gets 410, a GET opens a new session.
  assert.deepEqual(await post('vsn=2.0.0&token=0.nope', '["1","1","room:x","phx_join",{}]'), { status: 410 });
  const fresh = await get('vsn=2.0.0&token=1.00000000000000000000000000000000');
  assert.equal(fresh.status, 410);
  assert.notEqual(fresh.token, first.token);
  // Refused connects.
  assert.deepEqual(await get('vsn=3.0.0'), { status: 403 });
  // Preflight.
  const opt = await fetch(base, { method: 'OPTIONS', headers: { 'access-control-request-headers': 'x-phoenix-authtoken' } });
  assert.equal(opt.status, 200);
  assert.equal(opt.headers.get('access-control-allow-methods'), 'get, post, options');
  assert.equal(opt.headers.get('access-control-allow-headers'), 'x-phoenix-authtoken');
  assert.equal(opt.headers.get('access-control-max-age'), '3600');
  // Other methods: 400.
  assert.equal((await fetch(base, { method: 'DELETE' })).status, 400);
  // A malformed frame ends the session: HTTP 400, then the token is unknown.
  const bad = await fetch(`${base}?vsn=2.0.0&token=${tok}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '[1,2]' });
  assert.equal(bad.status, 400);
  assert.deepEqual(await post(`vsn=2.0.0&token=${tok}`, '[null,"9","phoenix","heartbeat",{}]'), { status: 410 });
  await server.waitForLog(/longpoll [0-9a-f.]+: session ended \(malformed frame\)/);
});

// Binary over LongPoll: phoenix.js sends a binary push base64-encoded in the POST; the answers are
// JSON, which cannot hold bytes, so cinder sends a binary push, reply or broadcast as the same
// message with the payload as an array of byte values (Phoenix itself drops them). A client that
// reads the payload with `new Uint8Array(payload)` gets the same bytes: y-phoenix-channel works over
// LongPoll with phoenix.js unchanged.
test('binary over LongPoll: byte arrays out, so y-phoenix-channel syncs with a WebSocket client', async () => {
  const lp = await longPollSocket();
  const ws = await connectSocket(server.url);
  const cl = lp.channel('room:lp-bin', {});
  assert.equal((await receive(cl.join())).status, 'ok');
  const cw = (await join(ws, 'room:lp-bin', {})).channel;
  const atLp = next(cl, 'bin');
  cast(cw, 'bin', bytes(0, 1, 127, 128, 255));
  assert.deepEqual([...new Uint8Array(await atLp)], [0, 1, 127, 128, 255]);
  const atWs = next(cw, 'bin');
  cast(cl, 'bin', bytes(9, 8, 7)); // LongPoll → WebSocket: base64 in, a binary frame out
  assert.deepEqual([...new Uint8Array(await atWs)], [9, 8, 7]);
  lp.disconnect();
  ws.disconnect();

  // A document edited on both sides, one provider on LongPoll, one on WebSocket.
  const lpDoc = new DocClient(await longPollSocket(), 'lp-doc', { name: 'longpoll' });
  const wsDoc = new DocClient(await openSocket(server.url), 'lp-doc', { name: 'websocket' });
  try {
    await Promise.all([lpDoc.synced(), wsDoc.synced()]);
    lpDoc.doc.getText('t').insert(0, 'from longpoll ');
    wsDoc.doc.getText('t').insert(0, 'from websocket ');
    const content = await converged([lpDoc, wsDoc]);
    assert.match(content.t, /from longpoll/);
    assert.match(content.t, /from websocket/);
    // awareness (binary pushes too) reaches the LongPoll side
    wsDoc.awareness.setLocalStateField('user', { name: 'ws' });
    await lpDoc.awarenessStates((states) => [...states.values()].some((s) => s.user?.name === 'ws'));
  } finally {
    await lpDoc.close();
    await wsDoc.close();
  }
});
