// Helpers for the document-room tests: real y-phoenix-channel 0.1.1 providers over phoenix.js
// (with `ws` as transport), a raw V2 client for exact frames, a seeded PRNG, random edits, and
// promise helpers that await events (document updates, awareness changes, frames) with a bound,
// never a blind sleep.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { PhoenixChannelProvider } from 'y-phoenix-channel';
import { connectSocket, workerOf } from './clients.mjs';
import { CINDER_BIN, startServer } from './server.mjs';

const exec = promisify(execFile);

// phoenix.js starts a 10 s reply timer for every push; the provider's `yjs` pushes never get a
// reply (spec §9.2), so those timers would hold the test process for 10 s after the last push.
// Unreference them (they still fire if the process is alive anyway).
let pushPatched = false;
function unrefPushTimers(socket) {
  if (pushPatched) return;
  const probe = socket.channel('__probe__', {});
  const Push = probe.joinPush.constructor;
  socket.remove(probe);
  const start = Push.prototype.startTimeout;
  Push.prototype.startTimeout = function patched() {
    start.call(this);
    this.timeoutTimer?.unref?.();
  };
  pushPatched = true;
}

// mulberry32: a small seeded PRNG (deterministic tests).
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[next.int(arr.length)];
  next.word = (n = 3) => Array.from({ length: n }, () => String.fromCharCode(97 + next.int(26))).join('');
  next.bytes = (n) => Uint8Array.from({ length: n }, () => next.int(256));
  return next;
}

// Resolves with the value of check() once it is truthy; re-checks whenever subscribe's callback
// fires. Rejects after timeoutMs with describe()'s text.
export function until(check, subscribe, { timeoutMs = 15000, describe = () => '' } = {}) {
  return new Promise((res, rej) => {
    let done = false;
    let unsub = () => {};
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsub();
      fn(v);
    };
    const timer = setTimeout(() => finish(rej, new Error(`timed out after ${timeoutMs} ms: ${describe()}`)), timeoutMs);
    const test = () => {
      let v;
      try { v = check(); } catch (e) { finish(rej, e); return; }
      if (v) finish(res, v);
    };
    unsub = subscribe(test) || (() => {});
    test();
  });
}

// Bounded polling for what has no event (the database file written by another process).
export async function poll(check, { timeoutMs = 5000, everyMs = 50, describe = () => '' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`poll timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// n phoenix.js sockets, alternately on worker A and worker B (X-Cinder-Worker), so that every
// test spreads its clients over both workers.
export async function socketsOnBothWorkers(url, n, opts = {}) {
  const byWorker = new Map();
  const extra = [];
  for (let i = 0; i < 64 * n && [...byWorker.values()].reduce((s, l) => s + l.length, 0) < n; i++) {
    const s = await connectSocket(url, opts);
    unrefPushTimers(s);
    const w = workerOf(s);
    const list = byWorker.get(w) || [];
    if (list.length < Math.ceil(n / 2)) {
      list.push(s);
      byWorker.set(w, list);
    } else {
      extra.push(s);
    }
  }
  for (const s of extra) s.disconnect();
  const lists = [...byWorker.values()];
  if (lists.length < 2) throw new Error('connections did not land on two workers');
  const out = [];
  for (let i = 0; out.length < n; i++) {
    for (const l of lists) if (i < l.length && out.length < n) out.push(l[i]);
  }
  return out;
}

export async function openSocket(url, opts = {}) {
  const s = await connectSocket(url, opts);
  unrefPushTimers(s);
  return s;
}

// JSON text with object keys sorted (map key order differs between replicas).
export function canon(v) {
  return JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x));
}

// Every provider adds a process 'exit' listener.
process.setMaxListeners(200);

// The content every test document has: text `t`, map `m`, array `a`.
export function docJSON(doc) {
  return {
    t: doc.getText('t').toString(),
    m: doc.getMap('m').toJSON(),
    a: doc.getArray('a').toJSON(),
  };
}

export function stateVectorKey(doc) {
  return [...Y.decodeStateVector(Y.encodeStateVector(doc)).entries()]
    .sort((x, y) => x[0] - y[0]).map(([c, k]) => `${c}:${k}`).join(',');
}

const liveClients = new Set();

// Drops every client still open (after a failure): no leave, no reconnect, no timers left.
export function abandonAll() {
  for (const c of liveClients) c.abandon();
}

// A start() for a test file whose every server is shown in a failing test's output (a server that
// died early shows up as ECONNREFUSED in the clients) and killed after each test, with its clients.
// Pass node:test's afterEach.
export function serversPerTest(afterEach) {
  const started = [];
  afterEach((t) => {
    if (t.passed === false || process.env.CINDER_E2E_VERBOSE) {
      for (const s of started) console.error(`--- server on port ${s.port} (exit ${s.proc.exitCode} ${s.proc.signalCode}):\n${s.log().slice(-4000)}`);
    }
    abandonAll();
    for (const s of started.splice(0)) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  });
  return async (opts) => {
    const s = await startServer(opts);
    started.push(s);
    return s;
  };
}

// A real y-phoenix-channel provider with its own Y.Doc on a phoenix.js socket.
export class DocClient {
  constructor(socket, room, { name = '', topic = `y_doc_room:${room}` } = {}) {
    liveClients.add(this);
    this.name = name;
    this.socket = socket;
    this.room = room;
    this.doc = new Y.Doc();
    this.provider = new PhoenixChannelProvider(socket, topic, this.doc, { disableBc: true });
    this.awareness = this.provider.awareness;
  }

  get worker() { return workerOf(this.socket); }

  json() { return docJSON(this.doc); }

  // Resolves once the provider has applied the server's step 2 (the 'sync' event).
  synced(timeoutMs = 10000) {
    return until(() => this.provider.synced, (f) => {
      this.provider.on('sync', f);
      return () => this.provider.off('sync', f);
    }, { timeoutMs, describe: () => `${this.name} never synced` });
  }

  // Resolves once pred(json) holds, re-checked on every document update.
  waitFor(pred, timeoutMs = 15000) {
    return until(() => pred(this.json()), (f) => {
      this.doc.on('update', f);
      return () => this.doc.off('update', f);
    }, { timeoutMs, describe: () => `${this.name}: ${JSON.stringify(this.json()).slice(0, 400)}` });
  }

  // Resolves with the first awareness 'change' event (as {added, updated, removed}) for which
  // pred holds.
  awarenessChange(pred, timeoutMs = 10000) {
    let hit = null;
    return until(() => hit, (f) => {
      const h = (ev, origin) => { if (!hit && pred(ev, origin)) { hit = ev; f(); } };
      this.awareness.on('change', h);
      return () => this.awareness.off('change', h);
    }, { timeoutMs, describe: () => `${this.name}: no matching awareness change; states ${JSON.stringify([...this.awareness.getStates()])}` });
  }

  // Resolves once pred(states) holds (the awareness states map, re-checked on every change).
  awarenessStates(pred, timeoutMs = 10000) {
    return until(() => pred(this.awareness.getStates()), (f) => {
      this.awareness.on('change', f);
      return () => this.awareness.off('change', f);
    }, { timeoutMs, describe: () => `${this.name}: states ${JSON.stringify([...this.awareness.getStates()])}` });
  }

  // Leaves the channel (the provider announces its awareness removal first), waits for the leave
  // to complete, then closes the socket.
  async close() {
    const ch = this.provider.channel;
    const left = ch && ch.state === 'joined'
      ? new Promise((res) => { ch.onClose(res); setTimeout(res, 2000).unref(); })
      : Promise.resolve();
    this.provider.destroy();
    await left;
    this.socket.disconnect();
    this.dispose();
  }

  // The provider does not own its Awareness: its 3 s check interval would keep the process alive.
  dispose() {
    liveClients.delete(this);
    this.awareness.destroy();
    this.doc.destroy();
  }

  // Drops the client without a goodbye (its server is gone, or the test failed).
  abandon() {
    this.provider.destroy();
    this.socket.disconnect();
    this.dispose();
  }
}

// Opens `n` providers on `room`, spread over both workers, and waits until all have synced.
export async function openClients(url, room, n, opts = {}) {
  const sockets = await socketsOnBothWorkers(url, n, opts);
  const clients = sockets.map((s, i) => new DocClient(s, room, { name: `c${i}@w${workerOf(s)}` }));
  await Promise.all(clients.map((c) => c.synced()));
  return clients;
}

export async function openClient(url, room, name = 'fresh') {
  const c = new DocClient(await openSocket(url), room, { name });
  await c.synced();
  return c;
}

// Resolves when every client has the same state vector and the same content (checked on every
// update of any of them); returns that content.
export function converged(clients, timeoutMs = 20000) {
  const check = () => {
    const sv = stateVectorKey(clients[0].doc);
    const j = canon(clients[0].json());
    for (const c of clients.slice(1)) {
      if (stateVectorKey(c.doc) !== sv || canon(c.json()) !== j) return null;
    }
    return clients[0].json();
  };
  return until(check, (f) => {
    for (const c of clients) c.doc.on('update', f);
    return () => { for (const c of clients) c.doc.off('update', f); };
  }, {
    timeoutMs,
    describe: () => clients.map((c) => `${c.name} sv=${stateVectorKey(c.doc)} ${JSON.stringify(c.json()).slice(0, 200)}`).join('\n'),
  });
}

// One random edit on a client: text insert/delete, map set/delete, array insert/delete.
export function randomEdit(client, rnd) {
  const d = client.doc;
  const t = d.getText('t');
  const m = d.getMap('m');
  const a = d.getArray('a');
  switch (rnd.int(6)) {
    case 0:
    case 1:
      t.insert(rnd.int(t.length + 1), rnd.word(1 + rnd.int(4)));
      break;
    case 2:
      if (t.length > 0) {
        const at = rnd.int(t.length);
        t.delete(at, Math.min(1 + rnd.int(3), t.length - at));
      } else t.insert(0, rnd.word(2));
      break;
    case 3:
      m.set(`k${rnd.int(8)}`, rnd.pick([rnd.int(1000), rnd.word(3), { n: rnd.int(10) }, [rnd.int(5)], null, true]));
      break;
    case 4:
      if (rnd.int(4) === 0 && m.size) m.delete(rnd.pick([...m.keys()]));
      else a.insert(rnd.int(a.length + 1), [rnd.pick([rnd.int(100), rnd.word(2), { x: rnd.int(3) }])]);
      break;
    case 5:
      if (a.length > 0) a.delete(rnd.int(a.length), 1);
      else a.push([rnd.word(2)]);
      break;
  }
}

// --- a raw Phoenix V2 client (exact frames) ------------------------------------------------------

export function phxPush(joinRef, ref, topic, event, payload) {
  const parts = [joinRef, ref, topic, event].map((s) => Buffer.from(s));
  return Buffer.concat([Buffer.from([0, ...parts.map((p) => p.length)]), ...parts, Buffer.from(payload)]);
}

function decodeBinary(buf) {
  const kind = buf[0];
  if (kind === 0) { // push: join_ref, topic, event
    const [j, t, e] = [buf[1], buf[2], buf[3]];
    let o = 4;
    const joinRef = buf.subarray(o, o += j).toString();
    const topic = buf.subarray(o, o += t).toString();
    const event = buf.subarray(o, o += e).toString();
    return { binary: true, kind: 'push', joinRef, topic, event, payload: buf.subarray(o) };
  }
  if (kind === 1) { // reply: join_ref, ref, topic, status
    const [j, r, t, s] = [buf[1], buf[2], buf[3], buf[4]];
    let o = 5;
    const joinRef = buf.subarray(o, o += j).toString();
    const ref = buf.subarray(o, o += r).toString();
    const topic = buf.subarray(o, o += t).toString();
    const status = buf.subarray(o, o += s).toString();
    return { binary: true, kind: 'reply', joinRef, ref, topic, event: 'phx_reply', status, payload: buf.subarray(o) };
  }
  if (kind === 2) { // broadcast: topic, event
    const [t, e] = [buf[1], buf[2]];
    let o = 3;
    const topic = buf.subarray(o, o += t).toString();
    const event = buf.subarray(o, o += e).toString();
    return { binary: true, kind: 'broadcast', topic, event, payload: buf.subarray(o) };
  }
  return { binary: true, kind: 'unknown', payload: buf };
}

export class RawPhx {
  static async open(url) {
    const ws = new WebSocket(`${url}/websocket?vsn=2.0.0`);
    const c = new RawPhx(ws);
    await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
    return c;
  }

  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.listeners = new Set();
    this.ref = 0;
    this.worker = null;
    ws.on('upgrade', (res) => { this.worker = res.headers['x-cinder-worker']; });
    ws.on('message', (data, isBinary) => {
      let f;
      if (isBinary) f = decodeBinary(Buffer.from(data));
      else {
        const [joinRef, ref, topic, event, payload] = JSON.parse(data.toString());
        f = { binary: false, joinRef, ref, topic, event, payload };
      }
      this.frames.push(f);
      for (const l of [...this.listeners]) l();
    });
  }

  // Resolves with the first frame (from index `from`) matching pred.
  next(pred, { from = 0, timeoutMs = 10000 } = {}) {
    return until(() => this.frames.slice(from).find(pred), (f) => {
      this.listeners.add(f);
      return () => this.listeners.delete(f);
    }, { timeoutMs, describe: () => `raw client frames: ${this.frames.map(describeFrame).join(' | ').slice(-1500)}` });
  }

  sendText(joinRef, topic, event, payload) {
    const ref = String(++this.ref);
    this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
    return ref;
  }

  async join(topic, payload = {}) {
    const ref = this.sendText(null, topic, 'phx_join', payload);
    // phx_join carries its own ref as join_ref
    const reply = await this.next((f) => f.event === 'phx_reply' && f.ref === ref && f.topic === topic);
    return reply;
  }

  // Like join but with join_ref = ref (as phoenix.js does), which later pushes must carry.
  async joinAs(topic, payload = {}) {
    const ref = String(++this.ref);
    this.ws.send(JSON.stringify([ref, ref, topic, 'phx_join', payload]));
    this.joinRefs = { ...(this.joinRefs || {}), [topic]: ref };
    const reply = await this.next((f) => f.event === 'phx_reply' && f.ref === ref && f.topic === topic);
    return reply;
  }

  pushBinary(topic, event, bytes) {
    const ref = String(++this.ref);
    this.ws.send(phxPush(this.joinRefs?.[topic] ?? '', ref, topic, event, bytes));
    return ref;
  }

  pushText(topic, event, payload) {
    return this.sendText(this.joinRefs?.[topic] ?? null, topic, event, payload);
  }

  close() { this.ws.terminate(); }
}

export function describeFrame(f) {
  if (f.binary) return `${f.kind}:${f.event}:${Buffer.from(f.payload).toString('hex').slice(0, 40)}`;
  return `${f.event}:${JSON.stringify(f.payload).slice(0, 80)}`;
}

// --- y-protocols message bytes ------------------------------------------------------------------

export function varuint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}

export const ymsg = {
  step1: (sv) => Uint8Array.from([0, 0, ...varuint(sv.length), ...sv]),
  step2: (u) => Uint8Array.from([0, 1, ...varuint(u.length), ...u]),
  update: (u) => Uint8Array.from([0, 2, ...varuint(u.length), ...u]),
  awareness: (a) => Uint8Array.from([1, ...varuint(a.length), ...a]),
};

// Decodes an awareness message body (after `01 varuint(len)`): [{client, clock, state}].
export function decodeAwarenessMessage(payload) {
  const p = Buffer.from(payload);
  let o = 0;
  const rd = () => {
    let v = 0; let mul = 1; let b;
    do { b = p[o++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  };
  if (rd() !== 1) return null;
  rd(); // length
  const n = rd();
  const out = [];
  for (let i = 0; i < n; i++) {
    const client = rd();
    const clock = rd();
    const len = rd();
    const state = JSON.parse(p.subarray(o, o + len).toString());
    o += len;
    out.push({ client, clock, state });
  }
  return out;
}

// --- the data directory -------------------------------------------------------------------------

// Rows of a document in <data>/cinder.db, read with the sqlite3 shell (read-only; WAL allows a
// reader next to the running server): [{seq, bytes: Uint8Array}].
export async function storedRows(dataDir, name) {
  const db = pathJoin(dataDir, 'cinder.db');
  if (!existsSync(db)) return [];
  const sql = `SELECT seq, hex(data) FROM doc_updates WHERE doc = '${name.replace(/'/g, "''")}' ORDER BY seq;`;
  const { stdout } = await exec('sqlite3', ['-readonly', '-separator', ' ', db, sql]);
  return stdout.split('\n').filter(Boolean).map((l) => {
    const [seq, hex] = l.split(' ');
    return { seq: Number(seq), bytes: Uint8Array.from(Buffer.from(hex || '', 'hex')) };
  });
}

// The stored document, as yjs sees it: every stored entry applied to a fresh Y.Doc.
export async function storedDoc(dataDir, name) {
  const rows = await storedRows(dataDir, name);
  const doc = new Y.Doc();
  for (const r of rows) Y.applyUpdate(doc, r.bytes);
  return { doc, rows, bytes: rows.reduce((s, r) => s + r.bytes.length, 0) };
}

// `cinder doc ...` when this binary has it (it is landing separately); null otherwise.
let docCliChecked = null;
export async function docCli() {
  if (docCliChecked !== null) return docCliChecked;
  try {
    const { stdout, stderr } = await exec(CINDER_BIN, ['doc', '--help']);
    docCliChecked = /export/.test(stdout + stderr) ? true : false;
  } catch (e) {
    docCliChecked = /export/.test(`${e.stdout}${e.stderr}`) && !/unknown command/.test(`${e.stderr}`);
  }
  return docCliChecked;
}

export async function cinderDoc(args) {
  const { stdout } = await exec(CINDER_BIN, ['doc', ...args], { encoding: 'buffer', maxBuffer: 64 << 20 });
  return stdout;
}

export { Y };
