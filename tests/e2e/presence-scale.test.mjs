// Presence that scales (issue 10), with the real phoenix.js `Presence` on both workers: diffs of a
// topic coalesced over --presence-interval (here a long window, so that a burst falls inside
// one), a joiner's presence_state being the list of the last diff, and anonymous listeners seeing
// the identified members without being on the list. Every list must end exactly equal — keys,
// metas and phx_refs — on every client and to GET /api/presence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Presence } from 'phoenix';
import { startServer, getJSON } from './server.mjs';
import { connectSocket, receive, workerOf } from './clients.mjs';
import { within } from './raw.mjs';

const WINDOW = 400;
let server;
before(async () => { server = await startServer({ workers: 2, args: ['--presence-interval', String(WINDOW)] }); });
const opened = []; // every socket, disconnected at the end even when a test failed
after(async () => {
  for (const s of opened) s.disconnect();
  assert.equal((await server.stop()).code, 0);
});

// A list in a canonical form: keys sorted, each key's metas sorted by phx_ref.
const canonical = (state) => JSON.stringify(Object.keys(state).sort().map((k) =>
  [k, [...state[k].metas].sort((a, b) => a.phx_ref.localeCompare(b.phx_ref))]));
const counts = (state) => Object.fromEntries(Object.keys(state).sort().map((k) => [k, state[k].metas.length]));
const sameCounts = (state, expected) => JSON.stringify(Object.entries(counts(state))) ===
  JSON.stringify(Object.keys(expected).sort().map((k) => [k, expected[k]]));

// A member: a channel with a phoenix.js Presence; until(expected) resolves on the sync (onSync)
// where the list has exactly these keys with these meta counts. Every presence_diff is kept, and
// the list's counts at every sync.
function member(socket, topic, params) {
  const channel = socket.channel(topic, params);
  const presence = new Presence(channel);
  const diffs = [];
  const syncs = [];
  channel.on('presence_diff', (d) => diffs.push(d));
  let waiters = [];
  const matches = (expected) => sameCounts(presence.state, expected);
  presence.onSync(() => {
    syncs.push(counts(presence.state));
    waiters = waiters.filter((w) => { if (matches(w.expected)) { w.res(); return false; } return true; });
  });
  return {
    channel,
    presence,
    diffs,
    syncs,
    join: () => receive(channel.join()),
    until(expected, what = JSON.stringify(expected)) {
      return within(new Promise((res) => {
        if (matches(expected)) res();
        else waiters.push({ expected, res });
      }), 15000, `${params.user ?? 'listener'} synced to ${what} (has ${JSON.stringify(counts(presence.state))})`);
    },
  };
}

// n sockets, on both workers: the kernel spreads connections, so open more (bounded) until one
// landed on the worker the first n missed.
async function sockets(n) {
  const open = async () => { const s = await connectSocket(server.url); opened.push(s); return s; };
  const out = await Promise.all(Array.from({ length: n }, open));
  for (let i = 0; i < 64 && new Set(out.map(workerOf)).size < 2; i++) {
    const s = await open();
    if (workerOf(s) !== workerOf(out[0])) out[0] = s;
  }
  assert.deepEqual([...new Set(out.map(workerOf))].sort(), ['0', '1'], 'clients on both workers');
  return out;
}

// Every live member's list is the expected one, identical on all of them and to the API's.
async function allExact(members, expected) {
  await Promise.all(members.map((m) => m.until(expected)));
  const api = await getJSON(`${server.http}/api/presence?topic=${encodeURIComponent(members[0].channel.topic)}`);
  const want = canonical(api.body.presences);
  assert.deepEqual(counts(api.body.presences), expected);
  for (const m of members) assert.equal(canonical(m.presence.state), want);
}

const keysOf = (diffs) => new Set(diffs.flatMap((d) => [...Object.keys(d.joins), ...Object.keys(d.leaves)]));

test('phoenix.js lists stay exact through bursts of joins and leaves inside one window', async () => {
  const topic = 'room:burst';
  const socks = await sockets(26);
  // Burst 1, all at once: 16 identified members (u0..u3 twice: two metas), 4 listeners.
  const users = ['u0', 'u1', 'u2', 'u3', 'u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', 'u10', 'u11'];
  const members = users.map((user, i) => member(socks[i], topic, { user }));
  const listeners = [16, 17, 18, 19].map((i) => member(socks[i], topic, {}));
  const all = [...members, ...listeners];
  for (const r of await Promise.all(all.map((m) => m.join()))) assert.equal(r.status, 'ok');
  const expected1 = { u0: 2, u1: 2, u10: 1, u11: 1, u2: 2, u3: 2, u4: 1, u5: 1, u6: 1, u7: 1, u8: 1, u9: 1 };
  await allExact(all, expected1);

  // Burst 2, all at once: 4 leave (one of the two metas of u0, u1, u2, u3), 2 sockets drop (u8,
  // u9), 3 new members (u12, u13 and a second u6 meta), a listener, and "flash" who joins and
  // leaves at once.
  const leaving = [members[0], members[5], members[6], members[7]];
  const dropped = [socks[12], socks[13]];
  const newcomers = [member(socks[20], topic, { user: 'u12' }), member(socks[21], topic, { user: 'u13' }),
    member(socks[22], topic, { user: 'u6' }), member(socks[23], topic, {})];
  const flash = member(socks[24], topic, { user: 'flash' });
  await Promise.all([
    ...leaving.map((m) => receive(m.channel.leave())),
    ...dropped.map((s) => { s.conn.terminate(); s.disconnect(); }),
    ...newcomers.map((m) => m.join()),
    flash.join().then(() => receive(flash.channel.leave())),
  ]);
  const gone = new Set([...leaving, members[12], members[13], flash]);
  const live = [...all.filter((m) => !gone.has(m)), ...newcomers];
  const expected2 = { u0: 1, u1: 1, u10: 1, u11: 1, u12: 1, u13: 1, u2: 1, u3: 1, u4: 1, u5: 1, u6: 2, u7: 1 };
  await allExact(live, expected2);
  // flash joined and left within one window: in no diff anyone got.
  for (const m of live) assert.ok(!keysOf(m.diffs).has('flash'), 'flash cancelled out');
  // A handful of windows, not a diff per change (27 changes; a window is 400 ms).
  const watcher = listeners[0];
  assert.ok(watcher.diffs.length <= 8, `${watcher.diffs.length} diffs`);
  for (const s of socks) s.disconnect();
});

test('anonymous listeners see the identified members, are not on the list and cost no diff', async () => {
  const topic = 'room:listeners';
  const [sa, sl, sl2, sb] = await sockets(4);
  const ann = member(sa, topic, { user: 'ann' });
  assert.equal((await ann.join()).status, 'ok');
  await ann.until({ ann: 1 });
  // Two listeners (no user in the payload, none in the connect params).
  const l1 = member(sl, topic, {});
  const l2 = member(sl2, topic, { meta: { name: 'nobody' } });
  await Promise.all([l1.join(), l2.join()]);
  await Promise.all([l1.until({ ann: 1 }), l2.until({ ann: 1 })]);
  assert.deepEqual(counts((await getJSON(`${server.http}/api/presence?topic=${topic}`)).body.presences), { ann: 1 });
  // A listener leaves, then bob joins: ann's next diff is bob's alone (diffs leave in order).
  await receive(l1.channel.leave());
  const bob = member(sb, topic, { user: 'bob' });
  await bob.join();
  await allExact([ann, l2, bob], { ann: 1, bob: 1 });
  // Every diff anyone got names ann or bob only: listeners never appear.
  for (const m of [ann, l1, l2, bob]) {
    for (const k of keysOf(m.diffs)) assert.ok(k === 'ann' || k === 'bob', `diff names ${k}`);
    for (const d of m.diffs) assert.deepEqual(d.leaves, {});
  }
  for (const s of [sa, sl, sl2, sb]) s.disconnect();
});

test('a joiner\'s state is the last diff\'s list: it sees itself with the next diff', async () => {
  const topic = 'room:versions';
  const [s1, s2] = await sockets(2);
  const first = member(s1, topic, { user: 'first' });
  await first.join();
  await first.until({ first: 1 });
  // second's Presence syncs first on the state (first only), then on the diff with itself.
  const second = member(s2, topic, { user: 'second' });
  await second.join();
  await allExact([first, second], { first: 1, second: 1 });
  assert.deepEqual(second.syncs, [{ first: 1 }, { first: 1, second: 1 }]);
  s1.disconnect();
  s2.disconnect();
});
