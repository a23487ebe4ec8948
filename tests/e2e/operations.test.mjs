// Operational behaviour of the real binary: the per-socket output-queue cap, the idle timeout,
// graceful shutdown (1012, exit 0 within 5 s) on SIGTERM and SIGINT, the command line, CINDER_*
// environment variables, a port already in use, and accepting connections once "listening" is
// logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { startServer, CINDER_BIN, assertCleanLog } from './server.mjs';
import { connectSocket } from './clients.mjs';
import { freePort } from './services.mjs';
import {
  OP, frame, closePayload, rawWebSocket, tcpConnect, httpOnce, logLine, untilAccepting, within,
} from './raw.mjs';

const peer = (port) => `conn 127\\.0\\.0\\.1:${port}: `;
const GET = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

async function joinRaw(client, topic, ref = 'j') {
  client.sendJSON([ref, ref, topic, 'phx_join', {}]);
  const reply = await client.reply(ref);
  assert.equal(reply[4].status, 'ok');
}

// Runs the binary to completion: {code, stdout, stderr}.
function run(args, { env = {}, timeoutMs = 10000 } = {}) {
  return new Promise((res, rej) => {
    const p = spawn(CINDER_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); rej(new Error(`cinder ${args.join(' ')} did not exit`)); }, timeoutMs);
    p.on('exit', (code) => { clearTimeout(timer); res({ code, stdout, stderr }); });
  });
}

// `cinder serve` with exactly these arguments (no --port/--workers added, unlike startServer),
// resolving once it logs the port it listens on.
async function serveRaw(args, env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'cinder-ops-'));
  const proc = spawn(CINDER_BIN, ['serve', '--data', data, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = once(proc, 'exit');
  const listening = new Promise((res, rej) => {
    const onData = (d) => {
      log += d;
      const m = log.match(/listening on ([^\s]+):(\d+) \((\d+) workers/);
      if (m) res({ host: m[1], port: Number(m[2]), workers: Number(m[3]) });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exited.then(([code]) => rej(new Error(`exited with ${code} before listening:\n${log}`)));
  });
  const info = await within(listening, 10000, 'server listening');
  return {
    ...info,
    proc,
    async stop() {
      proc.kill('SIGTERM');
      const [code] = await exited;
      rmSync(data, { recursive: true, force: true });
      assertCleanLog(log);
      return code;
    },
  };
}


// --- output-queue cap --------------------------------------------------------------------------

// The cap counts every byte queued or in flight for one socket, so it must exceed one message (a
// 64 KiB broadcast frame alone is over 65536): 256 KiB. The broadcaster paces itself by what the
// normal subscriber has received, so only the paused client can fall behind.
const CAP = 262144;

// Opens clients until `want` (a list of worker ids, or nulls for "any") is satisfied, in order.
async function clientsOn(port, want) {
  const got = new Array(want.length).fill(null);
  const spare = [];
  for (let tries = 0; got.includes(null) && tries < 64; tries++) {
    const { client, response } = await rawWebSocket(port);
    const w = response.headers['x-cinder-worker'];
    const i = got.findIndex((g, k) => g === null && (want[k] === null || want[k] === w));
    if (i >= 0) got[i] = client;
    else spare.push(client);
  }
  for (const c of spare) c.destroy();
  assert.ok(!got.includes(null), 'could not place the clients on the wanted workers');
  return got;
}

async function outputQueueCase(t, { workers, placement }) {
  // A small ASan quarantine, so that RSS shows what the server holds, not what it freed.
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=8'].filter(Boolean).join(':');
  // The hard limit (4 × the soft one) is what cuts the slow client here, in the middle of a
  // delivery; the soft limit's grace is covered by robustness.test.mjs.
  const server = await startServer({
    workers,
    args: ['--max-queue', String(CAP), '--max-queue-hard', String(4 * CAP)],
    env: { ASAN_OPTIONS: asan },
  });
  let clients = [];
  try {
    await untilAccepting(server.port);
    clients = await clientsOn(server.port, placement);
    const [slow, sender, normal] = clients;
    for (const c of clients) await joinRaw(c, 'room:slow'); // subscription order: slow, sender, normal
    const slowPort = slow.localPort;
    slow.sock.pause(); // stops reading: the kernel buffers fill, then the server's queue

    const N = 400;
    const blob = 'x'.repeat(64 * 1024);
    const rssBefore = rssKiB(server.proc.pid);
    const nextBig = async (i) => {
      for (;;) {
        const f = await within(normal.nextOf(OP.TEXT, 60000), 5000, `the normal subscriber's broadcast ${i}`);
        const m = JSON.parse(f.text);
        if (m[3] === 'big') return m[4].i;
      }
    };
    for (let i = 0; i < N; i++) {
      sender.sendJSON(['j', `b${i}`, 'room:slow', 'big', { i, s: blob }]);
      assert.equal(await nextBig(i), i, 'the normal subscriber gets every broadcast, in order');
    }
    sender.sendJSON(['j', 'p', 'room:slow', 'ping', { after: N }]);
    const pong = await sender.reply('p', 20000);
    assert.deepEqual(pong[4], { status: 'ok', response: { after: N } });
    await logLine(server, new RegExp(`${peer(slowPort)}slow consumer: \\d+ bytes unsent.*hard limit would be passed; disconnecting with 1013`), 20000);

    // The slow client, once it reads again, finds some of the broadcasts and then the end.
    slow.sock.resume();
    await within(slow.closed, 5000, 'the slow client is disconnected');
    const got = slow.frames.filter((f) => f.opcode === OP.TEXT && JSON.parse(f.text)[3] === 'big').length;
    assert.ok(got < N, `the slow client got ${got} of ${N}: it was cut off`);
    t.diagnostic(`the slow client got ${got} of ${N} broadcasts`);

    // Broadcaster and subscriber keep working, and they still talk to each other.
    assert.equal((await sender.heartbeat('after'))[4].status, 'ok');
    sender.sendJSON(['j', 'x', 'room:slow', 'small', { ok: true }]);
    for (;;) {
      const m = JSON.parse((await normal.nextOf(OP.TEXT)).text);
      if (m[3] === 'small') { assert.deepEqual(m[4], { ok: true }); break; }
    }
    // The server did not keep what it could not deliver: N - got broadcasts of 64 KiB (about
    // 21 MiB when the kernel took 60 of them) would show; about 10 MiB of growth is normal.
    const grownMiB = (rssKiB(server.proc.pid) - rssBefore) / 1024;
    t.diagnostic(`server RSS grew by ${grownMiB.toFixed(1)} MiB`);
    assert.ok(grownMiB < 20, `RSS grew by ${grownMiB.toFixed(1)} MiB`);
  } finally {
    for (const c of clients) c?.destroy();
    const { code } = await server.stop();
    assert.equal(code, 0);
  }
}

test('output-queue cap: a client that stops reading is dropped; the others on its worker get every broadcast', async (t) => {
  // One worker: slow, sender and normal subscribe in this order, so dropping the slow client in
  // the middle of a delivery must not make the delivery loop skip the normal one.
  await outputQueueCase(t, { workers: 1, placement: [null, null, null] });
});

test('output-queue cap: a slow client alone on its worker is dropped without harm', async (t) => {
  // The slow client is the only subscriber of the topic on worker 0 (the broadcasts reach it
  // from worker 1): dropping it empties that worker's subscriber list in the middle of a delivery.
  await outputQueueCase(t, { workers: 2, placement: ['0', '1', '1'] });
});

// --- idle timeout ------------------------------------------------------------------------------

test('idle timeout: a silent socket is closed with 1001; heartbeats and pings keep sockets open', async () => {
  const server = await startServer({ workers: 2, args: ['--idle-timeout', '1000'] });
  let socket;
  let pingTimer;
  let pinger;
  try {
    await untilAccepting(server.port);
    // phoenix.js with a 300 ms heartbeat, on the same server.
    socket = await connectSocket(server.url, { heartbeatIntervalMs: 300, reconnectAfterMs: () => 60000 });
    let closes = 0;
    socket.onClose(() => { closes++; });
    const replies = new Promise((res) => {
      let n = 0;
      socket.onMessage((m) => { if (m.topic === 'phoenix' && m.event === 'phx_reply' && ++n === 8) res(); });
    });
    // A raw client that only sends WebSocket pings (any frame counts as activity).
    pinger = (await rawWebSocket(server.port)).client;
    pingTimer = setInterval(() => pinger.send(frame(OP.PING, 'alive')), 300);

    const t0 = Date.now();
    const { client: silent } = await rawWebSocket(server.port);
    const silentPort = silent.localPort;
    const f = await silent.nextOf(OP.CLOSE, 5000);
    const elapsed = Date.now() - t0;
    assert.equal(f.code, 1001, 'idle close is 1001 (going away), never 1000');
    assert.match(f.reason, /idle/);
    assert.ok(elapsed >= 900 && elapsed < 3000, `closed after ${elapsed} ms`);
    silent.send(frame(OP.CLOSE, closePayload(1001)));
    await silent.closed;
    await logLine(server, new RegExp(`${peer(silentPort)}idle for 1000 ms`));

    await within(replies, 10000, '8 heartbeat replies'); // 8 × 300 ms > 2 idle timeouts
    assert.equal(closes, 0, 'the heartbeating phoenix.js socket was never closed');
    assert.ok(socket.isConnected());
    clearInterval(pingTimer);
    assert.equal(pinger.frames.filter((x) => x.opcode === OP.CLOSE).length, 0, 'the pinging socket stayed open');
    assert.ok(pinger.frames.filter((x) => x.opcode === OP.PONG).length >= 5);
  } finally {
    clearInterval(pingTimer);
    pinger?.destroy();
    socket?.disconnect();
    const { code } = await server.stop();
    assert.equal(code, 0);
  }
});

// --- graceful shutdown -------------------------------------------------------------------------

async function shutdownTest(signal) {
  const server = await startServer({ workers: 2 });
  await untilAccepting(server.port);
  // Two ws-package clients (they answer the close frame) -- one in a channel -- and a raw client
  // that never answers: the server must still exit in time.
  const wsClients = [];
  for (let i = 0; i < 2; i++) {
    const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`);
    await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
    wsClients.push(ws);
  }
  wsClients[0].send(JSON.stringify(['1', '1', 'room:drain', 'phx_join', {}]));
  await new Promise((res) => wsClients[0].once('message', res));
  const { client: raw } = await rawWebSocket(server.port);
  await raw.heartbeat();

  const closes = wsClients.map((ws) => new Promise((res) => ws.once('close', (code) => res(code))));
  const t0 = Date.now();
  const stopped = server.stop({ signal });
  await logLine(server, new RegExp(`${signal}: draining`));
  const rawClose = await raw.nextOf(OP.CLOSE);
  // No new connections once draining.
  await assert.rejects(rawWebSocket(server.port));
  const { code, signal: sig } = await stopped;
  const elapsed = Date.now() - t0;
  assert.equal(code, 0, `exit code (signal ${sig})`);
  assert.ok(elapsed < 5000, `exited ${elapsed} ms after ${signal}`);
  assert.deepEqual(await Promise.all(closes), [1012, 1012]);
  assert.equal(rawClose.code, 1012);
  await raw.closed;
  return elapsed;
}

test('SIGTERM: every socket gets 1012 (never 1000), exit 0 within 5 s', async (t) => {
  const ms = await shutdownTest('SIGTERM');
  t.diagnostic(`SIGTERM to exit: ${ms} ms`);
});

test('SIGINT: the same', async (t) => {
  const ms = await shutdownTest('SIGINT');
  t.diagnostic(`SIGINT to exit: ${ms} ms`);
});

// --- command line ------------------------------------------------------------------------------

test('cinder --help, --version, serve --help exit 0 with text', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: cinder <command>/);
  assert.match(help.stdout, /serve/);
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^cinder \d+\.\d+\.\d+/);
  const serveHelp = await run(['serve', '--help']);
  assert.equal(serveHelp.code, 0);
  for (const flag of ['host', 'port', 'workers', 'data', 'log-level', 'max-message', 'max-queue', 'idle-timeout']) {
    assert.match(serveHelp.stdout, new RegExp(`--${flag} `));
    assert.match(serveHelp.stdout, new RegExp(`CINDER_${flag.toUpperCase().replace('-', '_')}`));
  }
});

test('bad command lines exit 1 with a message', async () => {
  const cases = [
    [['serve', '--no-such-flag'], /usage: cinder serve/],
    [['no-such-command'], /unknown command/],
    [[], /usage/],
    [['serve', '--port', 'eighty'], /--port: 'eighty' is not a number/],
    [['serve', '--port', '70000'], /--port/],
    [['serve', '--workers', '-1'], /--workers/],
    [['serve', '--log-level', 'loud'], /unknown level/],
    [['serve', '--socket-path', 'socket'], /must start with '\/'/],
    [['serve', 'extra'], /unexpected argument/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 1, `cinder ${args.join(' ')}`);
    assert.match(r.stderr, re, `cinder ${args.join(' ')}`);
  }
  const env = await run(['serve'], { env: { CINDER_PORT: 'x' } });
  assert.equal(env.code, 1);
  assert.match(env.stderr, /--port: 'x'/);
});

test('CINDER_PORT and CINDER_WORKERS are honoured; flags win over them', async () => {
  const port = await freePort();
  const s = await serveRaw(['--host', '127.0.0.1'], { CINDER_PORT: String(port), CINDER_WORKERS: '3' });
  try {
    assert.equal(s.port, port);
    assert.equal(s.workers, 3);
    await untilAccepting(port);
    const r = await httpOnce(port, GET('/healthz'), { keepAlive: true });
    const h = JSON.parse(r.body);
    assert.deepEqual(h.workers.map((w) => w.id), [0, 1, 2]);
  } finally {
    assert.equal(await s.stop(), 0);
  }
  const s2 = await serveRaw(['--host', '127.0.0.1', '--port', '0', '--workers', '1'],
    { CINDER_PORT: String(port), CINDER_WORKERS: '3', CINDER_IDLE_TIMEOUT: '500' });
  try {
    assert.notEqual(s2.port, port);
    assert.equal(s2.workers, 1);
    await untilAccepting(s2.port);
    // CINDER_IDLE_TIMEOUT reached the server too.
    const { client } = await rawWebSocket(s2.port);
    assert.equal((await client.nextOf(OP.CLOSE, 5000)).code, 1001);
    client.destroy();
  } finally {
    assert.equal(await s2.stop(), 0);
  }
});

test('--port in use by another program -> exit 1 with a message', async () => {
  const other = net.createServer();
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  const { port } = other.address();
  try {
    const r = await run(['serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '1',
      '--data', mkdtempSync(join(tmpdir(), 'cinder-ops-'))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
  } finally {
    other.close();
  }
});

test('--port in use by another cinder -> exit 1 (SO_REUSEPORT must not join its group)', async () => {
  const first = await startServer({ workers: 1 });
  try {
    const second = spawn(CINDER_BIN, ['serve', '--host', '127.0.0.1', '--port', String(first.port),
      '--workers', '1', '--data', first.data], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    second.stderr.on('data', (d) => { log += d; });
    const exited = once(second, 'exit');
    const listening = new Promise((r) => second.stderr.on('data', () => { if (/listening on/.test(log)) r('running'); }));
    const res = await within(Promise.race([exited.then(([code]) => code), listening]), 10000, 'the second server');
    if (res === 'running') {
      second.kill('SIGTERM');
      await exited;
    }
    assert.equal(res, 1, `the second server must refuse the port; it ${res === 'running' ? 'started' : `exited ${res}`}:\n${log}`);
    assert.match(log, /cannot listen|in use/);
  } finally {
    const { code } = await first.stop();
    assert.equal(code, 0);
  }
});

test('connections are accepted as soon as the server logs that it listens', async () => {
  // startServer() resolves on the "listening" line; connect at once, several times (the race
  // with the worker threads' listen() is lost about one start in ten under ASan).
  for (let i = 0; i < 20; i++) {
    const server = await startServer({ workers: 2 });
    try {
      const sock = await tcpConnect(server.port);
      sock.destroy();
    } finally {
      const { code } = await server.stop();
      assert.equal(code, 0);
    }
  }
});
