// Activity streams end to end (issue 5, "Done when"): samples on `activity:server` every interval
// with increasing `t` and counters that match the traffic this test generated, per-second rates
// consistent with the counter deltas, the kept history in join replies (capped by
// --activity-history), `activity:doc:<name>` while watched, business series fed by
// POST /api/events, read-only channels and refused stream names. Real phoenix.js clients (and a
// raw V2 client where the exact bytes matter) against 2 workers; every wait is on an event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as Y from 'yjs';
import { PhoenixChannelProvider } from 'y-phoenix-channel';
import { startServer } from './server.mjs';
import { connectSocket, join, receive, workerOf } from './clients.mjs';
import { rawWebSocket, frame, OP, untilAccepting, logLine, within } from './raw.mjs';

const INTERVAL = 150;
const SERVER_COUNTERS = ['messages_in', 'messages_out', 'broadcasts', 'bytes_in', 'bytes_out',
  'doc_updates', 'awareness_updates', 'storage_writes'];
const SERVER_KEYS = ['t', 'node', 'connections', 'channels', 'documents', 'rss_bytes',
  ...SERVER_COUNTERS.flatMap((c) => [c, `${c}_per_s`])].sort();

// Each test has its own server; whatever happens, its sockets are closed and the server stopped
// when the test ends (a failed assertion must not leave phoenix.js reconnecting to a live server).
const opened = new Map(); // server -> sockets
async function serve(t, args = [], opts = {}) {
  const server = await startServer({ workers: 2, args: ['--activity-interval', String(INTERVAL), ...args], ...opts });
  opened.set(server, []);
  t.after(async () => {
    for (const c of providers) await closeProvider(c);
    for (const s of opened.get(server)) s.disconnect();
    opened.delete(server);
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  });
  await untilAccepting(server.port);
  return server;
}

async function stopOk(server) {
  for (const s of opened.get(server)) s.disconnect();
  assert.equal((await server.stop()).code, 0);
}

async function track(server, socketPromise) {
  const s = await socketPromise;
  opened.get(server).push(s);
  return s;
}

// A phoenix.js socket that sends nothing on its own (no heartbeat during a test), so the
// server's inbound counters move only with the traffic a test makes on purpose.
function quietSocket(server) {
  return track(server, connectSocket(server.url, { heartbeatIntervalMs: 600000 }));
}

// Every `sample` of a channel, in arrival order (with the local arrival time), and a way to
// await the first one (from an index on) that satisfies a predicate.
function sampleLog(channel, event = 'sample') {
  const samples = [];
  const rx = [];
  let waiters = [];
  channel.on(event, (s) => {
    samples.push(s);
    rx.push(Date.now());
    waiters = waiters.filter((w) => !w.check());
  });
  return {
    samples,
    rx,
    until(pred, { from = 0, ms = 10000, what = 'a matching sample' } = {}) {
      return within(new Promise((res) => {
        const check = () => {
          for (let i = from; i < samples.length; i++) {
            if (pred(samples[i], i)) { res(samples[i]); return true; }
          }
          return false;
        };
        if (!check()) waiters.push({ check });
      }), ms, `${what}; last samples: ${JSON.stringify(samples.slice(-3))}`);
    },
    // The next sample sampled after wall-clock time `ms` (t is the sampler's CLOCK_REALTIME in ms,
    // taken before it reads the counters: t > ms means the counters were read after ms).
    after(ms, opts = {}) {
      return this.until((s) => s.t > ms, { what: `a sample with t > ${ms}`, ...opts });
    },
  };
}

// Rates are the counter deltas over the time between two consecutive samples (t is also the
// time the rate was measured against): for every consecutive pair, rate == Δcounter·1000/Δt.
function assertRatesConsistent(samples, counters, rateName = (c) => `${c}_per_s`) {
  assert.ok(samples.length >= 2, 'at least two samples');
  for (let i = 1; i < samples.length; i++) {
    const [p, s] = [samples[i - 1], samples[i]];
    const dt = s.t - p.t;
    assert.ok(dt > 0, `t strictly increases: ${p.t} then ${s.t}`);
    for (const c of counters) {
      const rate = s[rateName(c)];
      assert.equal(typeof rate, 'number', `${rateName(c)} is a number`);
      assert.ok(rate >= 0, `${rateName(c)} is not negative: ${rate}`);
      assert.ok(s[c] >= p[c], `${c} never decreases (${p[c]} then ${s[c]})`);
      const want = ((s[c] - p[c]) * 1000) / dt;
      assert.ok(Math.abs(rate - want) <= 1e-9 * Math.max(1, want),
        `${rateName(c)} = ${rate}, but Δ${c}·1000/Δt = ${want} (sample ${i})`);
    }
  }
}

// The spacing of consecutive samples is about the interval: never much shorter (a repeating
// timer), and typically not much longer (loose: 2 slow cores under ASan).
function assertSpacing(samples, interval) {
  const gaps = samples.slice(1).map((s, i) => s.t - samples[i].t);
  for (const g of gaps) assert.ok(g >= 0.5 * interval, `samples ${g} ms apart (interval ${interval})`);
  const sorted = [...gaps].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  assert.ok(median <= 3 * interval, `median spacing ${median} ms (interval ${interval}): ${gaps}`);
}

test('activity:server samples every interval, with counters that follow the traffic', async (t) => {
  const server = await serve(t);
  const watcher = await quietSocket(server);
  const ch = watcher.channel('activity:server');
  const log = sampleLog(ch);
  const joined = await receive(ch.join());
  assert.equal(joined.status, 'ok');
  assert.ok(Array.isArray(joined.response.samples));

  // Only the watcher: one connection (the startup probe has gone), one channel.
  const idle = await log.until((s) => s.connections === 1 && s.channels === 1 && s.documents === 0,
    { what: 'a sample with only the watcher' });
  assert.deepEqual(Object.keys(idle).sort(), SERVER_KEYS);
  // rss_bytes is the process's resident memory: what /proc says of the server, read about now
  // (loose: memory moves between the two readings).
  const vmRss = Number(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
  assert.ok(Number.isInteger(idle.rss_bytes) && idle.rss_bytes > 0, `rss_bytes ${idle.rss_bytes}`);
  assert.ok(idle.rss_bytes > vmRss / 2 && idle.rss_bytes < vmRss * 2, `rss_bytes ${idle.rss_bytes}, VmRSS ${vmRss}`);

  // K more sockets on both workers, two channels each (and one activity channel): gauges follow.
  const sockets = [];
  const seen = new Set();
  while (sockets.length < 3 || seen.size < 2) {
    assert.ok(sockets.length < 32, 'sockets on both workers');
    const s = await quietSocket(server);
    sockets.push(s);
    seen.add(workerOf(s));
  }
  const K = sockets.length;
  const channels = [];
  for (const [i, s] of sockets.entries()) {
    for (const topic of ['room:act-a', 'room:act-b']) {
      const { channel, reply } = await join(s, topic, { user: `u${i}` });
      assert.equal(reply.status, 'ok');
      channels.push(channel);
    }
  }
  const { reply: again } = await join(sockets[0], 'activity:server');
  assert.equal(again.status, 'ok');
  const J = 2 * K + 1;
  let mark = log.samples.length;
  await log.until((s) => s.connections === 1 + K && s.channels === 1 + J,
    { from: mark, what: `connections ${1 + K} and channels ${1 + J}` });

  // A leave and a dropped socket come off the gauges too.
  assert.equal((await receive(channels[0].leave())).status, 'ok');
  sockets[K - 1].disconnect();
  await log.until((s) => s.connections === K && s.channels === J - 2,
    { from: log.samples.length, what: `connections ${K} and channels ${J - 2}` });
  for (const s of sockets) s.disconnect();
  await log.until((s) => s.connections === 1 && s.channels === 1,
    { from: log.samples.length, what: 'back to the watcher alone' });

  // Exact traffic on a raw V2 client (every byte it sends is counted here). Join, then take the
  // "before" sample: one whose counters were read after the join's reply arrived.
  const { client } = await rawWebSocket(server.port);
  let sent = 0;
  const send = (msg) => {
    const f = frame(OP.TEXT, JSON.stringify(msg));
    sent += f.length;
    client.send(f);
  };
  send(['1', '1', 'room:exact', 'phx_join', {}]);
  assert.equal((await client.reply('1'))[4].status, 'ok');
  const before = await log.after(Date.now());
  // Nothing moves while nobody talks (the sampler's own broadcasts aside).
  sent = 0;
  const M = 25;
  let replyBytes = 0;
  for (let i = 0; i < M; i++) send(['1', String(100 + i), 'room:exact', 'ping', { i, pad: 'x'.repeat(i) }]);
  send([null, 'hb', 'phoenix', 'heartbeat', {}]);
  send([null, 'nope', 'room:unjoined', 'ping', {}]); // answered with an error reply
  for (let i = 0; i < M; i++) {
    const r = await client.reply(String(100 + i));
    assert.deepEqual(r[4], { status: 'ok', response: { i, pad: 'x'.repeat(i) } });
    replyBytes += JSON.stringify(r).length;
  }
  assert.equal((await client.reply('hb'))[4].status, 'ok');
  assert.equal((await client.reply('nope'))[4].status, 'error');
  const done = Date.now();
  const after = await log.after(done);
  assert.equal(after.messages_in - before.messages_in, M + 2, 'messages_in: exactly the messages sent');
  assert.equal(after.bytes_in - before.bytes_in, sent, 'bytes_in: exactly the bytes sent');
  assert.ok(after.messages_out - before.messages_out >= M + 2, 'messages_out: at least the replies');
  assert.ok(after.bytes_out - before.bytes_out >= replyBytes, 'bytes_out: at least the replies');
  assert.equal(after.connections, 2);
  assert.equal(after.channels, 2);
  // Some sample in the window measured a positive rate.
  const window = log.samples.filter((s) => s.t > before.t && s.t <= after.t);
  assert.ok(window.some((s) => s.messages_in_per_s > 0 && s.bytes_in_per_s > 0));
  client.destroy();

  // The whole run: strictly increasing t, about one interval apart, consistent rates.
  assertSpacing(log.samples, INTERVAL);
  assertRatesConsistent(log.samples, SERVER_COUNTERS);
  for (const s of log.samples) {
    for (const g of ['connections', 'channels', 'documents', 'rss_bytes']) assert.ok(Number.isInteger(s[g]) && s[g] >= 0);
  }

  // A late joiner's reply carries the history: at least every sample the watcher has seen
  // (the server keeps 300), oldest first, the same samples.
  const N = log.samples.length;
  const late = await quietSocket(server);
  const { reply } = await join(late, 'activity:server');
  const hist = reply.response.samples;
  assert.ok(hist.length >= N - 1, `history of ${hist.length} after ${N} samples`);
  for (let i = 1; i < hist.length; i++) assert.ok(hist[i].t > hist[i - 1].t);
  await log.until((s) => s.t === hist.at(-1).t, { what: 'the newest kept sample' });
  const at = log.samples.findIndex((s) => s.t === hist[0].t);
  assert.ok(at >= 0 || hist[0].t < log.samples[0].t, 'history overlaps what the watcher saw');
  for (const s of hist) {
    const seenAs = log.samples.find((x) => x.t === s.t);
    if (seenAs) assert.deepEqual(s, seenAs);
  }
  late.disconnect();
  watcher.disconnect();
  await stopOk(server);
});

test('the join reply history is capped by --activity-history', async (t) => {
  const server = await serve(t, ['--activity-history', '5']);
  const a = await quietSocket(server);
  const ch = a.channel('activity:server');
  const log = sampleLog(ch);
  assert.equal((await receive(ch.join())).status, 'ok');
  await log.until((_, i) => i >= 7, { what: '8 samples' });
  const b = await quietSocket(server);
  const { reply } = await join(b, 'activity:server');
  const hist = reply.response.samples;
  assert.equal(hist.length, 5);
  for (let i = 1; i < hist.length; i++) assert.ok(hist[i].t > hist[i - 1].t, 'oldest first');
  // The last five samples, exactly as they were broadcast.
  await log.until((s) => s.t === hist[4].t, { what: 'the newest kept sample' });
  const at = log.samples.findIndex((s) => s.t === hist[0].t);
  assert.ok(at >= 0);
  assert.deepEqual(hist, log.samples.slice(at, at + 5));
  a.disconnect();
  b.disconnect();
  await stopOk(server);
});

// phoenix.js starts a 10 s reply timer for every push; the provider's `yjs` pushes get no reply,
// so unreference those timers (they would hold the process after the test).
function unrefPushTimers(socket) {
  const probe = socket.channel('__probe__', {});
  const Push = probe.joinPush.constructor;
  socket.remove(probe);
  if (Push.prototype.__cinderUnref) return;
  const start = Push.prototype.startTimeout;
  Push.prototype.startTimeout = function patched() {
    start.call(this);
    this.timeoutTimer?.unref?.();
  };
  Push.prototype.__cinderUnref = true;
}

const providers = new Set();
function provider(socket, room) {
  unrefPushTimers(socket);
  const doc = new Y.Doc();
  const p = new PhoenixChannelProvider(socket, `y_doc_room:${room}`, doc, { disableBc: true });
  const synced = within(new Promise((res) => {
    if (p.synced) res();
    else p.on('sync', (s) => { if (s) res(); });
  }), 10000, `provider on ${room} synced`);
  const c = { doc, p, synced };
  providers.add(c);
  return c;
}

// Leaves the room, then ends the Y.Doc and its awareness (whose 3 s check interval would keep
// the process alive).
async function closeProvider(c) {
  const { p, doc } = c;
  providers.delete(c);
  const ch = p.channel;
  const left = ch && ch.state === 'joined'
    ? new Promise((res) => { ch.onClose(res); setTimeout(res, 2000).unref(); })
    : Promise.resolve();
  p.destroy();
  await left;
  p.awareness.destroy();
  doc.destroy();
}

test('documents, doc updates, awareness and storage writes; activity:doc:<name> while watched', async (t) => {
  const server = await serve(t, ['--doc-unload', '200']);
  const room = 'act-doc';
  const watcher = await quietSocket(server);
  const srvCh = watcher.channel('activity:server');
  const srv = sampleLog(srvCh);
  assert.equal((await receive(srvCh.join())).status, 'ok');
  const docCh = watcher.channel(`activity:doc:${room}`);
  const dlog = sampleLog(docCh);
  const docJoin = await receive(docCh.join());
  assert.deepEqual(docJoin, { status: 'ok', response: { samples: [] } }, 'nothing kept before');
  const before = await srv.until((s) => s.documents === 0, { what: 'no document open' });

  // Two providers on two sockets (both workers where the kernel spreads them).
  const s1 = await track(server, connectSocket(server.url));
  const s2 = await track(server, connectSocket(server.url));
  const c1 = provider(s1, room);
  await c1.synced;
  await srv.until((s) => s.documents === 1, { what: 'one document open' });
  await dlog.until((s) => s.subscribers === 1, { what: 'one subscriber' });
  const c2 = provider(s2, room);
  await c2.synced;
  await dlog.until((s) => s.subscribers === 2, { what: 'two subscribers' });

  // N edits (one update each) and an awareness change; the second client sees them all.
  const N = 6;
  const text = c1.doc.getText('t');
  const arrived = within(new Promise((res) => {
    const check = () => { if (c2.doc.getText('t').toString().length === N) res(); };
    c2.doc.on('update', check);
    check();
  }), 10000, 'the edits at the second client');
  for (let i = 0; i < N; i++) text.insert(i, String(i));
  c1.p.awareness.setLocalStateField('user', { name: 'ada' });
  await arrived;
  const edited = Date.now();
  const after = await srv.until((s) => s.t > edited && s.doc_updates - before.doc_updates >= N
    && s.awareness_updates > before.awareness_updates && s.storage_writes > before.storage_writes,
  { what: `doc_updates +${N}, awareness and storage writes` });
  assert.equal(after.documents, 1);
  assert.equal(after.doc_updates - before.doc_updates, N, 'one update per edit');
  const d = await dlog.until((s) => s.t > edited && s.updates >= N, { what: `updates ${N} on the doc stream` });
  assert.equal(d.updates, N);
  assert.equal(d.subscribers, 2);
  assert.ok(d.awareness_updates >= 1);
  assert.ok(d.bytes_in > 0);
  assert.ok(dlog.samples.some((s) => s.updates_per_s > 0), 'an update rate was measured');
  assert.deepEqual(Object.keys(d).sort(), ['awareness_per_s', 'awareness_updates', 'bytes_in',
    'bytes_in_per_s', 'subscribers', 't', 'updates', 'updates_per_s']);
  assertRatesConsistent(dlog.samples, ['updates', 'bytes_in'], (c) => `${c}_per_s`);
  assertRatesConsistent(dlog.samples, ['awareness_updates'], () => 'awareness_per_s');
  assertSpacing(dlog.samples, INTERVAL);

  // A second watcher gets the document stream's history so far.
  const w2 = await quietSocket(server);
  const { channel: docCh2, reply: r2 } = await join(w2, `activity:doc:${room}`);
  assert.equal(r2.status, 'ok');
  assert.ok(r2.response.samples.length >= 2);
  assert.ok(r2.response.samples.every((s) => typeof s.subscribers === 'number'));

  // One provider leaves: subscribers follow.
  await closeProvider(c2);
  await dlog.until((s) => s.subscribers === 1, { from: dlog.samples.length, what: 'one subscriber again' });

  // Unwatched, the stream keeps nothing: once both watchers left, a new watcher starts empty
  // although the document is still open and was sampled before.
  assert.equal((await receive(docCh.leave())).status, 'ok');
  assert.equal((await receive(docCh2.leave())).status, 'ok');
  const unwatched = srv.samples.length;
  await srv.until((_, i) => i >= unwatched + 2, { what: 'two more server samples' });
  const { channel: docCh3, reply: r3 } = await join(w2, `activity:doc:${room}`);
  assert.deepEqual(r3, { status: 'ok', response: { samples: [] } });
  const d3 = sampleLog(docCh3);
  await d3.until((s) => s.subscribers === 1, { what: 'sampling resumes while watched' });

  // The last client leaves: the document unloads (--doc-unload 200) and `documents` drops.
  await closeProvider(c1);
  await srv.until((s) => s.documents === 0, { from: srv.samples.length, what: 'the document unloaded' });
  for (const s of [s1, s2, w2, watcher]) s.disconnect();
  await stopOk(server);
});

test('client pushes get an error reply; unknown stream names are refused at join', async (t) => {
  const server = await serve(t);
  const socket = await quietSocket(server);
  const ch = socket.channel('activity:server');
  const log = sampleLog(ch);
  assert.equal((await receive(ch.join())).status, 'ok');
  const pushed = await receive(ch.push('sample', { t: 1, connections: 1e9 }));
  assert.deepEqual(pushed, { status: 'error', response: { reason: 'activity streams are read-only' } });
  assert.deepEqual(await receive(ch.push('hello', {})),
    { status: 'error', response: { reason: 'activity streams are read-only' } });
  await logLine(server, /activity activity:server: client push 'hello' refused/);
  // Still joined, still sampled; the pushed "sample" went to nobody.
  const n = log.samples.length;
  const s = await log.until((_, i) => i >= n, { what: 'a sample after the pushes' });
  assert.notEqual(s.connections, 1e9);

  const refused = ['activity:bad name!', 'activity:', 'activity:doc', 'activity:doc:', 'activity:docs',
    'activity:x/y', `activity:${'a'.repeat(65)}`, 'activity:sérvice'];
  for (const topic of refused) {
    const c = socket.channel(topic);
    const r = await receive(c.join());
    assert.deepEqual(r, { status: 'error', response: { reason: 'unknown activity stream' } }, topic);
    assert.equal((await receive(c.leave())).status, 'ok'); // no rejoin attempts
  }
  await logLine(server, /join of 'activity:bad name!' refused/);
  // Valid names: a business stream (no events yet: empty history) and a document stream.
  for (const topic of [`activity:${'a'.repeat(64)}`, 'activity:orders.eu-1_x', 'activity:doc:any name']) {
    const { reply } = await join(socket, topic);
    assert.deepEqual(reply, { status: 'ok', response: { samples: [] } }, topic);
  }
  // The socket works as before.
  assert.equal(await new Promise((res) => socket.ping(res)) >= 0, true);
  socket.disconnect();
  await stopOk(server);
});

async function postEvent(server, body) {
  const res = await fetch(`${server.http}/api/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test('POST /api/events values appear in the activity:<stream> samples', async (t) => {
  const server = await serve(t);
  const socket = await quietSocket(server);
  const ch = socket.channel('activity:sales');
  const log = sampleLog(ch);
  const joined = await receive(ch.join());
  assert.deepEqual(joined, { status: 'ok', response: { samples: [] } });

  // 3 + 4 now (one interval, or split over two), then 2.5 later.
  assert.deepEqual(await postEvent(server, { stream: 'sales', value: 3 }), { status: 202, body: { status: 'accepted' } });
  assert.equal((await postEvent(server, { stream: 'sales', value: 4 })).status, 202);
  const sum = (from = 0) => log.samples.slice(from).reduce((a, s) => ({ value: a.value + s.value, count: a.count + s.count }), { value: 0, count: 0 });
  await log.until(() => sum().count >= 2, { what: 'both events sampled' });
  assert.deepEqual(sum(), { value: 7, count: 2 });
  const first = log.samples.findIndex((s) => s.count > 0);
  assert.ok(log.samples.slice(first).filter((s) => s.count > 0).length <= 2);
  const mark = log.samples.length;
  await postEvent(server, { stream: 'sales', value: 2.5 });
  await postEvent(server, { stream: 'sales', value: -1 }); // any finite number adds
  await log.until(() => sum(mark).count >= 2, { from: mark, what: 'the later events' });
  assert.deepEqual(sum(mark), { value: 1.5, count: 2 });
  // The series goes on with empty intervals (a chart's zeros).
  const quiet = log.samples.length;
  const zero = await log.until((_, i) => i >= quiet, { from: quiet, what: 'an empty interval' });
  assert.deepEqual([zero.value, zero.count, zero.per_s], [0, 0, 0]);
  for (const s of log.samples) assert.deepEqual(Object.keys(s).sort(), ['count', 'per_s', 't', 'value']);
  // per_s is the interval's sum per second; t increases by about one interval.
  for (let i = 1; i < log.samples.length; i++) {
    const [p, s] = [log.samples[i - 1], log.samples[i]];
    const want = (s.value * 1000) / (s.t - p.t);
    assert.ok(Math.abs(s.per_s - want) <= 1e-9 * Math.max(1, Math.abs(want)), `per_s ${s.per_s} vs ${want}`);
  }
  assertSpacing(log.samples, INTERVAL);

  // A business stream keeps its history for later joiners (watched or not).
  assert.equal((await receive(ch.leave())).status, 'ok');
  const { reply } = await join(socket, 'activity:sales');
  const hist = reply.response.samples;
  assert.ok(hist.length >= log.samples.length);
  assert.equal(hist.reduce((a, s) => a + s.count, 0), 4);
  assert.equal(hist.reduce((a, s) => a + s.value, 0), 8.5);

  // Events on a stream nobody watches yet: a later joiner sees them in its history.
  assert.equal((await postEvent(server, { stream: 'signups', value: 1 })).status, 202);
  let hist2 = [];
  for (let tries = 0; !hist2.some((s) => s.count === 1); tries++) {
    assert.ok(tries < 100, 'the signups event reaches the history');
    const { channel, reply: r } = await join(socket, 'activity:signups');
    hist2 = r.response.samples;
    if (!hist2.some((s) => s.count === 1)) await next(channel, 'sample');
    await receive(channel.leave());
  }
  socket.disconnect();
  await stopOk(server);
});

function next(channel, event) {
  return within(new Promise((res) => {
    const ref = channel.on(event, (p) => { channel.off(event, ref); res(p); });
  }), 5000, `event ${event}`);
}

test('a watched document that unloads and loads again: its stream rates stay non-negative', async (t) => {
  const server = await serve(t, ['--doc-unload', '100']);
  const room = 'act-reload';
  const watcher = await quietSocket(server);
  const srvCh = watcher.channel('activity:server');
  const srv = sampleLog(srvCh);
  assert.equal((await receive(srvCh.join())).status, 'ok');
  const docCh = watcher.channel(`activity:doc:${room}`);
  const dlog = sampleLog(docCh);
  assert.equal((await receive(docCh.join())).status, 'ok');

  // First load: 5 updates.
  const s1 = await track(server, connectSocket(server.url));
  const c1 = provider(s1, room);
  await c1.synced;
  for (let i = 0; i < 5; i++) c1.doc.getText('t').insert(0, 'x');
  await dlog.until((s) => s.updates === 5, { what: '5 updates sampled' });
  await closeProvider(c1);
  await srv.until((s) => s.documents === 0, { from: srv.samples.length, what: 'the document unloaded' });

  // Watched all along, loaded again (its counters start over): one more update.
  const mark = dlog.samples.length;
  const c2 = provider(s1, room);
  await c2.synced;
  c2.doc.getText('t').insert(0, 'y');
  await dlog.until((s) => s.updates >= 1 && s.updates < 5, { from: mark, what: 'the reloaded document sampled' });
  const n = dlog.samples.length;
  await dlog.until((_, i) => i >= n, { from: n, what: 'one more sample' });
  for (const s of dlog.samples) {
    for (const k of ['updates_per_s', 'awareness_per_s', 'bytes_in_per_s']) {
      assert.ok(s[k] >= 0, `${k} = ${s[k]} in ${JSON.stringify(s)}`);
    }
  }
  await closeProvider(c2);
  await stopOk(server);
});
