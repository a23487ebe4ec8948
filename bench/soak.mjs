#!/usr/bin/env node
// Soak: churns connections, joins, documents and broadcasts against one cinder process for a set
// time, and watches the process from /proc every second (RSS, open fds, CPU). It starts the binary
// itself (`--port 0`, `--doc-unload 1000`, a fresh data directory removed afterwards; the binary is
// --bin, else CINDER_BIN, else build/cinder), on 127.0.0.1 only, and stops by itself: every client
// loop checks the deadline between steps and every wait has a bound.
//
//   node bench/soak.mjs [--seconds 60] [--clients 40] [--bin PATH] [--workers 2] [--json]
//                       [--doc-clients N] [--seed N] [--only room,doc,lp,raw,api]
//
// --workers is the server's worker threads; --only runs some kinds of client alone. Exit status 0
// when the server settled, exited 0 on SIGTERM and its log has no sanitizer report.
//
// Load, all at once for `seconds`:
//   - `clients` phoenix.js sockets (`ws` transport), each in a loop: connect, join 1-3 `room:soak-*`
//     topics with presence (`user` in the join payload; some with phoenix.js `Presence`), pings
//     (reply checked) and broadcasts (casts of 0-2 kB), then one of: leave + disconnect; disconnect
//     without leaving; the transport cut under phoenix.js (`terminate()`), which reconnects and
//     rejoins by itself, a few more pushes, then disconnect;
//   - `doc-clients` (default clients/4) y-phoenix-channel + yjs providers in a loop: open a
//     `y_doc_room:` document (from a small pool, now and then a new one), sync, edit and move an
//     awareness cursor, close (mostly a clean leave, sometimes the transport cut);
//   - a phoenix.js LongPoll client every 2 s: join, ping, broadcast, leave, disconnect;
//   - two raw TCP/WebSocket clients that hang up abruptly (socket.destroy()): in the middle of the
//     upgrade request, right after the upgrade, in the middle of a frame after a room join or a
//     document join;
//   - `POST /api/broadcast` to the rooms every 100 ms, `/api/topics`, `/api/presence`, `/api/events`
//     now and then.
// Then every client leaves; "settled" is when /healthz counts no connection but the sampler's own.
//
// Sampling: every second, /proc/<pid>/status (VmRSS), /proc/<pid>/fd (entries), /proc/<pid>/stat
// (utime + stime → CPU % of one core since the previous sample) and /healthz over one keep-alive
// connection (the `conns` column excludes that connection). Output: a table over time, a summary
// (RSS at start / peak / end, fds at start / peak / end, CPU) and the operation counts; `--json`
// prints one JSON object instead. runSoak() is also what tests/e2e/soak.test.mjs runs (25 s of
// load against the ASan build, in `make test`).
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import WebSocket from 'ws';
import { Socket, LongPoll, Presence } from 'phoenix';
import { receive, cast } from '../tests/e2e/clients.mjs';
import { rawWebSocket, tcpConnect, frame, OP, untilAccepting } from '../tests/e2e/raw.mjs';
import { assertCleanLog } from '../tests/e2e/server.mjs';
import { DocClient, prng, randomEdit } from '../tests/e2e/ydoc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { /* 100 */ }

// --- the process, from /proc ---------------------------------------------------------------------

export function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  return { rssKb, fds, ticks, at: performance.now() };
}

// /healthz over one keep-alive HTTP/1.1 connection, so that sampling opens no connection per
// sample (a closed one would linger in the count until the server has read its EOF).
async function healthProbe(port) {
  const sock = await tcpConnect(port);
  sock.setNoDelay(true);
  sock.on('error', () => {});
  let buf = Buffer.alloc(0);
  let waiter = null;
  let closed = false;
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); waiter?.(); });
  sock.on('close', () => { closed = true; waiter?.(); });
  let busy = Promise.resolve();
  const once = async () => {
    if (closed) throw new Error('health connection closed');
    sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const deadline = Date.now() + 5000;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const len = Number(buf.subarray(0, end).toString('latin1').match(/content-length:\s*(\d+)/i)?.[1] ?? 0);
        if (buf.length >= end + 4 + len) {
          const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
          buf = buf.subarray(end + 4 + len);
          return JSON.parse(body);
        }
      }
      if (closed) throw new Error('health connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('/healthz did not answer within 5 s');
      await new Promise((res) => { waiter = res; setTimeout(res, left).unref(); });
      waiter = null;
    }
  };
  return {
    // One request at a time on the connection.
    get() { const p = busy.then(once); busy = p.catch(() => {}); return p; },
    close() { sock.destroy(); },
  };
}

// --- helpers -------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

// phoenix.js starts a 10 s reply timer for every push (the provider's `yjs` pushes never get a
// reply): unreference them, so that they hold no process open once the soak is over.
let pushPatched = false;
function unrefPushTimers() {
  if (pushPatched) return;
  const s = new Socket('ws://127.0.0.1:1/socket', { transport: WebSocket });
  const probe = s.channel('__probe__', {});
  const Push = probe.joinPush.constructor;
  s.remove(probe);
  const start = Push.prototype.startTimeout;
  Push.prototype.startTimeout = function patched() {
    start.call(this);
    this.timeoutTimer?.unref?.();
  };
  pushPatched = true;
}

// A phoenix.js socket, open within ms, else disconnected (no reconnect loop left behind).
async function openSocket(url, transport = WebSocket, params = {}, ms = 10000) {
  const socket = new Socket(url, { transport, params, reconnectAfterMs: () => 100, rejoinAfterMs: () => 200 });
  const opened = new Promise((res) => {
    const r = socket.onOpen(() => { socket.off([r]); res(); });
  });
  socket.connect();
  try {
    await within(opened, ms, 'socket open');
  } catch (e) {
    socket.disconnect();
    throw e;
  }
  return socket;
}

// Resolves once every channel is joined again (after phoenix.js has reconnected and rejoined).
async function rejoined(channels, ms) {
  const deadline = Date.now() + ms;
  while (!channels.every((c) => c.state === 'joined')) {
    if (Date.now() > deadline) throw new Error(`channels not rejoined within ${ms} ms: ${channels.map((c) => c.state)}`);
    await sleep(20);
  }
}

async function leaveAll(channels) {
  await Promise.all(channels.filter((c) => c.state === 'joined').map((c) => within(new Promise((res) => {
    c.leave(5000).receive('ok', res).receive('timeout', res).receive('error', res);
  }), 6000, 'leave')));
}

// --- the soak ------------------------------------------------------------------------------------

// Runs the load against a started server ({port, url, http, proc: {pid}}) for `seconds`, lets every
// client leave, waits until the server counts no client connection, and returns the samples,
// summary and counts. onSample(sample) is called with every sample as it is taken.
export async function runSoak({
  server, seconds = 60, clients = 40, docClients = Math.max(1, Math.round(clients / 4)),
  rooms = 8, docs = 6, longpollEveryMs = 2000, rawClients = 2, rawEveryMs = 100, apiEveryMs = 100,
  settleMs = 30000, seed = 1, only = null, onSample = () => {},
} = {}) {
  unrefPushTimers();
  const pid = server.proc.pid;
  const { url, port } = server;
  const http = server.http;
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const counts = {};
  const count = (k, n = 1) => { counts[k] = (counts[k] || 0) + n; };
  const errors = {};
  const fail = (kind, e) => {
    count(`errors.${kind}`);
    const msg = String(e?.message || e).slice(0, 200);
    const seen = (errors[kind] ||= new Set());
    if (seen.size < 5) seen.add(msg);
  };

  const health = await healthProbe(port);
  const samples = [];
  let prev = procSample(pid);
  const t0 = performance.now();
  let phase = 'start';
  const sample = async () => {
    const p = procSample(pid);
    let conns = null;
    try { conns = (await within(health.get(), 2000, '/healthz')).connections - 1; } catch { /* null */ }
    const dt = (p.at - prev.at) / 1000;
    const s = {
      t: Math.round((p.at - t0) / 100) / 10,
      phase,
      rssMb: Math.round(p.rssKb / 102.4) / 10,
      fds: p.fds,
      cpuPct: phase !== 'start' && dt > 0 ? Math.round(((p.ticks - prev.ticks) / CLK_TCK / dt) * 1000) / 10 : 0,
      conns,
      joins: counts['room.joined'] || 0,
      pushes: (counts['room.ping'] || 0) + (counts['room.cast'] || 0),
      edits: counts['doc.edit'] || 0,
    };
    prev = p;
    samples.push(s);
    onSample(s);
    return s;
  };
  const start = await sample();
  const cpuStart = prev.ticks;
  const tLoad = performance.now();

  phase = 'load';
  const deadline = Date.now() + seconds * 1000;
  const running = () => Date.now() < deadline;
  const sampler = setInterval(() => { sample().catch(() => {}); }, 1000);
  const rnd = prng(seed);
  const room = () => `room:soak-${rnd.int(rooms)}`;
  const pad = (n) => 'x'.repeat(n);

  // phoenix.js WebSocket clients.
  const phoenixClient = async (id) => {
    for (let gen = 0; running(); gen++) {
      let socket;
      try {
        socket = await openSocket(url);
        count('room.connect');
        const channels = [];
        const topics = new Set();
        const want = 1 + rnd.int(3);
        while (topics.size < want) topics.add(room());
        for (const topic of topics) {
          const ch = socket.channel(topic, { user: `u${id}-${gen}` });
          if (rnd.int(3) === 0) new Presence(ch); // handles presence_state / presence_diff
          ch.on('shout', () => count('room.received'));
          ch.on('api', () => count('room.received_api'));
          const r = await receive(ch.join());
          if (r.status !== 'ok') { fail('room.join', `${topic}: ${JSON.stringify(r)}`); continue; }
          count('room.joined');
          channels.push(ch);
        }
        const ops = async (n) => {
          for (let i = 0; i < n && channels.length && running(); i++) {
            const ch = rnd.pick(channels);
            if (ch.state !== 'joined') { await sleep(20); continue; }
            if (rnd.int(4) === 0) {
              const r = await receive(ch.push('ping', { id, i }));
              if (r.status === 'ok' && r.response?.i === i) count('room.ping');
              else fail('room.ping', JSON.stringify(r));
            } else {
              cast(ch, 'shout', { from: id, i, pad: pad(rnd.int(4) === 0 ? rnd.int(2048) : rnd.int(64)) });
              count('room.cast');
            }
            await sleep(20 + rnd.int(180));
          }
        };
        await ops(5 + rnd.int(16));
        const how = running() ? rnd.int(4) : 0;
        if (how === 2) {
          // Cut the transport: phoenix.js reconnects and rejoins every channel by itself.
          socket.conn?.terminate?.();
          count('room.cut');
          await rejoined(channels, 15000);
          count('room.reconnected');
          await ops(3 + rnd.int(5));
          await leaveAll(channels);
        } else if (how !== 1) {
          await leaveAll(channels);
          count('room.left', channels.length);
        }
        socket.disconnect();
        socket = null;
        count('room.disconnect');
      } catch (e) {
        fail('room', e);
        socket?.disconnect();
      }
      await sleep(rnd.int(200));
    }
  };

  // y-phoenix-channel + yjs document clients.
  let fresh = 0;
  const docClient = async (id) => {
    while (running()) {
      let c = null;
      try {
        const socket = await openSocket(url);
        const name = rnd.int(5) === 0 ? `soak-${runId}-new-${fresh++}` : `soak-${runId}-${rnd.int(docs)}`;
        c = new DocClient(socket, name, { name: `d${id}` });
        count('doc.open');
        await c.synced(15000);
        count('doc.synced');
        c.awareness.setLocalStateField('user', { name: `d${id}`, color: rnd.int(360) });
        const edits = 5 + rnd.int(30);
        for (let i = 0; i < edits && running(); i++) {
          randomEdit(c, rnd);
          count('doc.edit');
          if (rnd.int(3) === 0) {
            c.awareness.setLocalStateField('cursor', { anchor: rnd.int(100), head: rnd.int(100) });
            count('doc.awareness');
          }
          await sleep(30 + rnd.int(150));
        }
        if (rnd.int(5) === 0 && running()) {
          c.socket.conn?.terminate?.(); // gone without a leave
          count('doc.cut');
          c.abandon();
        } else {
          await c.close();
          count('doc.closed');
        }
        c = null;
      } catch (e) {
        fail('doc', e);
        c?.abandon();
      }
      await sleep(rnd.int(300));
    }
  };

  // phoenix.js over LongPoll, now and then.
  const longPollClient = async () => {
    for (let n = 0; running(); n++) {
      let socket;
      try {
        socket = await openSocket(url, LongPoll, { token: `lp${n}` });
        count('lp.connect');
        const ch = socket.channel(room(), { user: `lp-${n}` });
        const r = await receive(ch.join());
        if (r.status !== 'ok') throw new Error(`join: ${JSON.stringify(r)}`);
        const p = await receive(ch.push('ping', { n }));
        if (p.status !== 'ok' || p.response?.n !== n) throw new Error(`ping: ${JSON.stringify(p)}`);
        cast(ch, 'shout', { lp: n });
        await leaveAll([ch]);
        count('lp.ok');
      } catch (e) {
        fail('lp', e);
      }
      socket?.disconnect();
      await sleep(longpollEveryMs);
    }
  };

  // Raw clients that hang up in the middle of something (socket.destroy()).
  const rawClient = async () => {
    for (let n = 0; running(); n++) {
      const kind = rnd.int(5);
      try {
        if (kind === 0) { // half an upgrade request
          const sock = await tcpConnect(port);
          sock.on('error', () => {});
          sock.write('GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webso');
          await sleep(rnd.int(20));
          sock.destroy();
        } else {
          const { client } = await within(rawWebSocket(port), 5000, 'raw upgrade');
          if (kind === 1) { // right after the upgrade
            client.destroy();
          } else if (kind === 2) { // a room join, then half of a 4 kB text frame
            client.sendJSON(['1', '1', room(), 'phx_join', { user: `raw-${n}` }]);
            await client.reply('1', 5000);
            const f = frame(OP.TEXT, JSON.stringify(['1', '2', 'room:soak-0', 'shout', { pad: pad(4000) }]));
            client.send(f.subarray(0, 100 + rnd.int(f.length - 200)));
            await sleep(rnd.int(10));
            client.destroy();
          } else if (kind === 3) { // a document join, then half of a binary frame
            client.sendJSON(['1', '1', `y_doc_room:soak-${runId}-${rnd.int(docs)}`, 'phx_join', {}]);
            await client.reply('1', 5000);
            const f = frame(OP.BINARY, Buffer.alloc(3000, 7));
            client.send(f.subarray(0, 1 + rnd.int(f.length - 1)));
            client.destroy();
          } else { // a heartbeat, then one byte of a frame header
            await client.heartbeat();
            client.send(Buffer.from([0x81]));
            client.destroy();
          }
        }
        count(`raw.${['half_upgrade', 'after_upgrade', 'mid_room_frame', 'mid_doc_frame', 'mid_header'][kind]}`);
      } catch (e) {
        fail('raw', e);
      }
      await sleep(rawEveryMs);
    }
  };

  // The HTTP API.
  const apiClient = async () => {
    const post = (path, body) => fetch(`${http}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    for (let n = 0; running(); n++) {
      try {
        const r = await within(post('/api/broadcast', { topic: room(), event: 'api', payload: { n } }), 5000, 'broadcast');
        await r.arrayBuffer();
        if (r.ok) count('api.broadcast'); else fail('api', `broadcast ${r.status}`);
        if (n % 10 === 3) {
          const t = await within(fetch(`${http}/api/topics`), 5000, 'topics');
          await t.arrayBuffer();
          if (t.status === 200) count('api.topics'); else fail('api', `topics ${t.status}`);
        }
        if (n % 10 === 7) {
          const t = await within(fetch(`${http}/api/presence?topic=${encodeURIComponent(room())}`), 5000, 'presence');
          await t.arrayBuffer();
          if (t.status === 200) count('api.presence'); else fail('api', `presence ${t.status}`);
        }
        if (n % 20 === 11) {
          const t = await within(post('/api/events', { stream: 'soak', value: n }), 5000, 'events');
          await t.arrayBuffer();
          if (t.ok) count('api.events'); else fail('api', `events ${t.status}`);
        }
      } catch (e) {
        fail('api', e);
      }
      await sleep(apiEveryMs);
    }
  };

  const on = (kind) => !only || only.includes(kind);
  const actors = [
    ...(on('room') ? Array.from({ length: clients }, (_, i) => phoenixClient(i)) : []),
    ...(on('doc') ? Array.from({ length: docClients }, (_, i) => docClient(i)) : []),
    ...(on('lp') ? [longPollClient()] : []),
    ...(on('raw') ? Array.from({ length: rawClients }, () => rawClient()) : []),
    ...(on('api') ? [apiClient()] : []),
  ];
  await Promise.all(actors);
  const atDrain = procSample(pid);
  const tDrained = atDrain.at;
  const loadSeconds = (tDrained - tLoad) / 1000;

  // Every client has left: wait until the server has closed their connections (idle keep-alive
  // connections of fetch close after a few seconds).
  phase = 'settle';
  let settled = false;
  const settleDeadline = Date.now() + settleMs;
  while (Date.now() < settleDeadline) {
    let conns = null;
    try { conns = (await within(health.get(), 2000, '/healthz')).connections - 1; } catch { /* retry */ }
    if (conns === 0) { settled = true; break; }
    await sleep(100);
  }
  clearInterval(sampler);
  const settleSeconds = (performance.now() - tDrained) / 1000;
  phase = 'end';
  const end = await sample();
  health.close();

  const rss = samples.map((s) => s.rssMb);
  const cpus = samples.filter((s) => s.phase === 'load').map((s) => s.cpuPct);
  const summary = {
    seconds: Math.round(loadSeconds * 10) / 10,
    settleSeconds: Math.round(settleSeconds * 10) / 10,
    settled,
    rssStartMb: start.rssMb,
    rssPeakMb: Math.max(...rss),
    rssEndMb: end.rssMb,
    fdsStart: start.fds,
    fdsPeak: Math.max(...samples.map((s) => s.fds)),
    fdsEnd: end.fds,
    cpuSeconds: Math.round(((prev.ticks - cpuStart) / CLK_TCK) * 10) / 10,
    cpuAvgPct: Math.round(((atDrain.ticks - cpuStart) / CLK_TCK / loadSeconds) * 1000) / 10,
    cpuPeakPct: cpus.length ? Math.max(...cpus) : 0,
    connsPeak: Math.max(...samples.map((s) => s.conns ?? 0)),
  };
  const errorTotal = Object.entries(counts).filter(([k]) => k.startsWith('errors.')).reduce((s, [, v]) => s + v, 0);
  return {
    config: { seconds, clients, docClients, rooms, docs, longpollEveryMs, rawClients, rawEveryMs, apiEveryMs, seed, only },
    samples,
    summary,
    counts: Object.fromEntries(Object.entries(counts).sort()),
    errorTotal,
    errors: Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, [...v]])),
  };
}

// --- output --------------------------------------------------------------------------------------

const COLS = [['t', 6], ['phase', 7], ['rssMb', 8], ['fds', 5], ['cpuPct', 7], ['conns', 6], ['joins', 7], ['pushes', 8], ['edits', 7]];
const HEAD = { t: 't s', phase: 'phase', rssMb: 'RSS MB', fds: 'fds', cpuPct: 'CPU %', conns: 'conns', joins: 'joins', pushes: 'pushes', edits: 'edits' };
export function tableHeader() { return COLS.map(([k, w]) => String(HEAD[k]).padStart(w)).join(' '); }
export function tableRow(s) { return COLS.map(([k, w]) => String(s[k] ?? '-').padStart(w)).join(' '); }

export function describe(result) {
  const s = result.summary;
  const lines = [
    `load ${s.seconds} s, settled ${s.settled ? 'in' : 'NOT within'} ${s.settleSeconds} s`,
    `RSS MB: start ${s.rssStartMb}, peak ${s.rssPeakMb}, end ${s.rssEndMb}`,
    `fds: start ${s.fdsStart}, peak ${s.fdsPeak}, end ${s.fdsEnd}`,
    `CPU: ${s.cpuSeconds} s in all, ${s.cpuAvgPct} % of a core on average under load, peak ${s.cpuPeakPct} %`,
    `connections (peak, from /healthz): ${s.connsPeak}`,
    `counts: ${Object.entries(result.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`,
  ];
  for (const [k, v] of Object.entries(result.errors)) lines.push(`errors ${k}: ${v.join(' | ')}`);
  return lines.join('\n');
}

// --- the server ----------------------------------------------------------------------------------

// `cinder serve` on a free port of 127.0.0.1 with a fresh data directory, like startServer() of
// tests/e2e/server.mjs but with the binary given here (that module reads CINDER_BIN when it is
// first imported). stop() sends SIGTERM, removes the data directory and throws if a sanitizer
// reported anything.
export async function startCinder(bin, workers, args = []) {
  const data = mkdtempSync(join(tmpdir(), 'cinder-soak-'));
  const proc = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', '0', '--workers', String(workers),
    '--data', data, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = once(proc, 'exit');
  const listening = new Promise((res, rej) => {
    const on = (chunk) => {
      log += chunk;
      const m = log.match(/listening on [^\s]+:(\d+)/);
      if (m) res(Number(m[1]));
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    exited.then(() => rej(new Error(`${bin} exited before listening:\n${log}`)));
    proc.once('error', rej);
  });
  const port = await within(listening, 20000, `${bin} listening`);
  await untilAccepting(port);
  return {
    proc, port, data,
    http: `http://127.0.0.1:${port}`,
    url: `ws://127.0.0.1:${port}/socket`,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const [code, signal] = await exited;
      rmSync(data, { recursive: true, force: true });
      assertCleanLog(log);
      return { code, signal };
    },
  };
}

// --- command line --------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const json = args.includes('--json');
  const bin = resolve(opt('bin', process.env.CINDER_BIN || join(root, 'build/cinder')));
  const seconds = Number(opt('seconds', 60));
  const clients = Number(opt('clients', 40));
  const workers = Number(opt('workers', 2));
  const docClients = opt('doc-clients') !== undefined ? Number(opt('doc-clients')) : undefined;
  const seed = Number(opt('seed', 1));
  const only = opt('only')?.split(',') ?? null;
  const server = await startCinder(bin, workers, ['--doc-unload', '1000']);
  const out = (l) => { if (!json) console.log(l); };
  out(`cinder soak: ${bin}, ${workers} workers, ${clients} phoenix clients, ${seconds} s`);
  out(tableHeader());
  let result;
  let stopped;
  try {
    result = await runSoak({ server, seconds, clients, docClients, seed, only, onSample: (s) => out(tableRow(s)) });
  } finally {
    const logLines = server.log().split('\n').filter(Boolean);
    try {
      const r = await server.stop();
      stopped = { code: r.code, signal: r.signal, sanitizerReport: false };
    } catch (e) {
      stopped = { code: server.proc.exitCode, signal: server.proc.signalCode, sanitizerReport: true, error: String(e.message).slice(0, 4000) };
    }
    stopped.warnLines = logLines.filter((l) => / (warn|error) /.test(l)).length;
  }
  result.exit = stopped;
  result.bin = bin;
  result.workers = workers;
  if (json) console.log(JSON.stringify(result, null, 1));
  else {
    console.log(describe(result));
    console.log(`exit on SIGTERM: code ${stopped.code}${stopped.signal ? ` signal ${stopped.signal}` : ''}, ` +
      `${stopped.sanitizerReport ? 'SANITIZER REPORT' : 'no sanitizer report'}, ${stopped.warnLines} warn/error log lines`);
    if (stopped.error) console.log(stopped.error);
  }
  const ok = result.summary.settled && stopped.code === 0 && !stopped.sanitizerReport;
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(e); process.exit(2); });
}
