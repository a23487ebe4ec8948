// Presence with the real phoenix.js `Presence`: the synced list follows joins, leaves and dropped
// sockets, for clients on both workers (spec §8, issue 5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Presence } from 'phoenix';
import { startServer } from './server.mjs';
import { connectSocket, join, receive, workerOf } from './clients.mjs';

let server;
before(async () => { server = await startServer({ workers: 2 }); });
after(async () => { assert.equal((await server.stop()).code, 0); });

// Resolves when the presence list (sorted keys, with meta counts) equals `expected`.
function watch(channel) {
  const presence = new Presence(channel);
  let waiters = [];
  const snapshot = () => Object.fromEntries(
    presence.list((key, { metas }) => [key, metas.length]).sort(([a], [b]) => a.localeCompare(b)));
  presence.onSync(() => {
    const now = snapshot();
    waiters = waiters.filter((w) => {
      try { assert.deepEqual(now, w.expected); w.res(); return false; } catch { return true; }
    });
  });
  return {
    presence,
    until(expected) {
      return new Promise((res) => {
        waiters.push({ expected, res });
        try { assert.deepEqual(snapshot(), expected); waiters.pop(); res(); } catch { /* wait */ }
      });
    },
  };
}

// Sockets on both workers: keep opening until each worker has one (bounded).
async function socketsOnBothWorkers(n) {
  const out = [];
  const seen = new Set();
  for (let i = 0; i < 64 && (out.length < n || seen.size < 2); i++) {
    const s = await connectSocket(server.url);
    if (out.length < n && (seen.size === 2 || !seen.has(workerOf(s)) || out.length < n - 1)) {
      out.push(s);
      seen.add(workerOf(s));
    } else {
      s.disconnect();
    }
  }
  assert.ok(seen.size === 2, 'clients on both workers');
  return out;
}

test('Presence.onSync follows joins, leaves and dropped sockets across workers', async () => {
  const [sa, sb, sc, sd] = await socketsOnBothWorkers(4);
  const topic = 'room:presence';
  const ca = sa.channel(topic, { user: 'alice' });
  const wa = watch(ca);
  assert.equal((await receive(ca.join())).status, 'ok');
  await wa.until({ alice: 1 });

  const cb = sb.channel(topic, { user: 'bob' });
  const wb = watch(cb);
  await receive(cb.join());
  const cc = (await join(sc, topic, { user: 'carol' })).channel;
  await wa.until({ alice: 1, bob: 1, carol: 1 });
  await wb.until({ alice: 1, bob: 1, carol: 1 }); // a joiner's own state includes everyone

  // The same user twice: one key, two metas.
  const cb2 = (await join(sd, topic, { user: 'bob' })).channel;
  await wa.until({ alice: 1, bob: 2, carol: 1 });

  await receive(cc.leave());
  await wa.until({ alice: 1, bob: 2 });

  sd.conn.terminate(); // dropped: the TCP connection goes without a phx_leave or close frame
  sd.disconnect();     // and phoenix.js must not reconnect it
  await wa.until({ alice: 1, bob: 1 });
  await wb.until({ alice: 1, bob: 1 });
  assert.ok(cb2);

  sb.disconnect();
  await wa.until({ alice: 1 });
  for (const s of [sa, sc]) s.disconnect();
});

// A raw V2 client: its frames, and the next one matching a predicate.
async function rawV2(url) {
  const ws = new WebSocket(`${url}/websocket?vsn=2.0.0`);
  const frames = [];
  let wake = () => {};
  ws.on('message', (d) => { frames.push(JSON.parse(d.toString())); wake(); });
  await new Promise((res) => ws.once('open', res));
  const nextFrame = async (pred) => {
    for (;;) {
      const i = frames.findIndex(pred);
      if (i >= 0) return frames.splice(i, 1)[0];
      await new Promise((res) => { wake = res; });
    }
  };
  return { ws, nextFrame };
}

test('presence_state and presence_diff on the wire', async () => {
  const { ws, nextFrame } = await rawV2(server.url);
  ws.send(JSON.stringify(['7', '7', 'room:wire', 'phx_join', { user: 'zed' }]));
  const reply = await nextFrame((f) => f[3] === 'phx_reply');
  assert.deepEqual(reply, ['7', '7', 'room:wire', 'phx_reply', { status: 'ok', response: {} }]);
  // The state is the list as of the last diff: zed's own track comes with the window's diff.
  const state = await nextFrame((f) => f[3] === 'presence_state');
  assert.deepEqual(state, ['7', null, 'room:wire', 'presence_state', {}]);
  const diff = await nextFrame((f) => f[3] === 'presence_diff');
  assert.deepEqual(diff.slice(0, 4), [null, null, 'room:wire', 'presence_diff']);
  assert.deepEqual(Object.keys(diff[4]), ['joins', 'leaves']);
  assert.deepEqual(Object.keys(diff[4].joins), ['zed']);
  assert.deepEqual(diff[4].leaves, {});
  const [meta] = diff[4].joins.zed.metas;
  assert.match(meta.phx_ref, /^[A-Za-z0-9_-]{20}$/);
  assert.match(meta.online_at, /^\d+$/);
  // A later joiner's state has zed, with the same meta.
  const second = await rawV2(server.url);
  second.ws.send(JSON.stringify(['3', '3', 'room:wire', 'phx_join', { user: 'amy' }]));
  const state2 = await second.nextFrame((f) => f[3] === 'presence_state');
  assert.deepEqual(state2, ['3', null, 'room:wire', 'presence_state', { zed: { metas: [meta] } }]);
  second.ws.close();
  ws.close();
});

test('--presence-interval 0: every change at once, the joiner\'s state includes itself', async () => {
  const now = await startServer({ workers: 2, args: ['--presence-interval', '0'] });
  const { ws, nextFrame } = await rawV2(now.url);
  ws.send(JSON.stringify(['7', '7', 'room:now', 'phx_join', { user: 'zed' }]));
  const state = await nextFrame((f) => f[3] === 'presence_state');
  assert.equal(state[0], '7');
  assert.deepEqual(Object.keys(state[4]), ['zed']);
  const diff = await nextFrame((f) => f[3] === 'presence_diff');
  assert.deepEqual(diff[4], { joins: { zed: state[4].zed }, leaves: {} });
  ws.close();
  assert.equal((await now.stop()).code, 0);
});

test('connect params reach channels: the socket\'s `user` param keys its presence', async () => {
  const s = await connectSocket(server.url, { params: { user: 'dora', token: 'abc' } });
  const ch = s.channel('room:params-presence', {});
  const w = watch(ch);
  assert.equal((await receive(ch.join())).status, 'ok');
  await w.until({ dora: 1 });
  // A join payload's user wins over the connect param.
  const s2 = await connectSocket(server.url, { params: { user: 'dora' } });
  const ch2 = s2.channel('room:params-presence', { user: 'eve' });
  await receive(ch2.join());
  await w.until({ dora: 1, eve: 1 });
  s.disconnect();
  s2.disconnect();
});
