// --check-origin (spec §1.4): a cross-site page cannot open the socket. WebSocket refusals are
// HTTP 403 with an empty body; LongPoll answers {"status":403}; a missing Origin (not a browser)
// is allowed; the refusal is logged and affects no one else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from './server.mjs';
import { connectSocket, join, receive } from './clients.mjs';

let server;
before(async () => {
  server = await startServer({ workers: 2, args: ['--check-origin', 'https://app.example.com,//*.example.org:8443,localhost'] });
});
after(async () => { assert.equal((await server.stop()).code, 0); });

function upgrade(origin) {
  return new Promise((res) => {
    const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`, { headers: origin ? { Origin: origin } : {} });
    ws.once('open', () => { ws.close(); res(101); });
    ws.once('unexpected-response', (req, r) => { res(r.statusCode); r.resume(); });
    ws.once('error', () => {});
  });
}

test('WebSocket: listed origins open, others get 403', async () => {
  assert.equal(await upgrade('https://app.example.com'), 101);
  assert.equal(await upgrade('https://eu.example.org:8443'), 101);
  assert.equal(await upgrade('http://localhost:5173'), 101);
  assert.equal(await upgrade(null), 101, 'no Origin: not a browser');
  assert.equal(await upgrade('https://evil.example'), 403);
  assert.equal(await upgrade('https://eu.example.org'), 403, 'port 443 is not 8443');
  assert.equal(await upgrade('http://app.example.com'), 403, 'scheme differs');
  assert.equal(await upgrade('null'), 403);
  await server.waitForLog(/origin https:\/\/evil\.example refused/);
  // Everyone else is unaffected.
  const s = await connectSocket(server.url, { headers: {} });
  const { channel } = await join(s, 'room:origin');
  assert.equal((await receive(channel.push('ping', {}))).status, 'ok');
  s.disconnect();
});

test('LongPoll: a refused origin gets {"status":403}', async () => {
  const get = (origin) => fetch(`${server.http}/socket/longpoll?vsn=2.0.0`, { headers: { origin } }).then((r) => r.json());
  assert.deepEqual(await get('https://evil.example'), { status: 403 });
  assert.equal((await get('https://app.example.com')).status, 410);
});
