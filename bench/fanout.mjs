#!/usr/bin/env node
// Document-room benchmark: update fan-out (many docs × many clients) and update-to-peer latency,
// for cinder (release build), the y-websocket 2 server and Hocuspocus 2, in the same run on the
// same machine, clients in separate processes from the server, 127.0.0.1 only. Results go to the
// "Document rooms" section of BENCHMARKS.md (by hand).
//
//   node bench/fanout.mjs [--docs 20] [--clients 25] [--updates 200] [--size 8] [--reps 3]
//                         [--latency 2000] [--reader-procs 2] [--workers 2]
//                         [--servers cinder,y-websocket,hocuspocus] [--json]
//
// Fan-out: `clients` reader connections per doc (split over `reader-procs` processes) and one
// writer connection per doc (another process). All connect and sync first; then the writer sends
// `updates` updates per doc (each `size` characters appended to a Y.Text, round robin over the
// docs, back to back), and the time runs until every reader connection has every update of its
// doc. Deliveries = docs × clients × updates. Median of `reps` runs (fresh doc names each run).
// Latency: one writer and one reader connection on one doc; one small update at a time, the next
// once the reader has the previous one; time from send to receipt (p50/p99).
// The clients speak raw y-protocols (see bench/fanout-client.mjs): the same bytes for every server.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const cfg = {
  docs: Number(opt('docs', 20)),
  clients: Number(opt('clients', 25)),
  updates: Number(opt('updates', 200)),
  size: Number(opt('size', 8)),
  reps: Number(opt('reps', 3)),
  latency: Number(opt('latency', 2000)),
  readerProcs: Number(opt('reader-procs', 2)),
  workers: Number(opt('workers', 2)),
  servers: opt('servers', 'cinder,y-websocket,hocuspocus').split(','),
  cinder: opt('cinder', process.env.CINDER_BIN || join(root, 'build/cinder')),
};
const TIMEOUT_MS = 120000; // per phase: everything is bounded

function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100 Hz)
  } catch { return NaN; }
}

function waitLine(proc, re, what) {
  return new Promise((res, rej) => {
    let log = '';
    const timer = setTimeout(() => rej(new Error(`${what}: no ${re} within 20 s:\n${log}`)), 20000);
    const on = (chunk) => {
      log += chunk;
      const m = log.match(re);
      if (m) { clearTimeout(timer); proc.stdout.off('data', on); proc.stderr.off('data', on); res(m); }
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    proc.once('exit', (c) => rej(new Error(`${what} exited (${c}):\n${log}`)));
  });
}

async function startServer(kind) {
  let proc; let port; let data = null;
  if (kind === 'cinder') {
    data = mkdtempSync(join(tmpdir(), 'cinder-bench-'));
    proc = spawn(cfg.cinder, ['serve', '--host', '127.0.0.1', '--port', '0', '--workers', String(cfg.workers),
      '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    port = Number((await waitLine(proc, /listening on [^\s]+:(\d+)/, 'cinder'))[1]);
  } else if (kind === 'y-websocket') {
    port = await freePort();
    proc = spawn(process.execPath, [join(root, 'node_modules/y-websocket/bin/server.cjs')],
      { env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    await waitLine(proc, /running at/, 'y-websocket');
  } else if (kind === 'hocuspocus') {
    proc = spawn(process.execPath, [join(here, 'peers/hocuspocus-server.mjs')],
      { env: { ...process.env, HOST: '127.0.0.1', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    port = Number((await waitLine(proc, /listening (\d+)/, 'hocuspocus'))[1]);
  } else throw new Error(`unknown server ${kind}`);
  // Keep draining its output (a full pipe would block the server).
  proc.stdout.on('data', () => {});
  proc.stderr.on('data', () => {});
  return {
    kind, proc, port,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
      if (data) rmSync(data, { recursive: true, force: true });
    },
  };
}

// A client process: JSON lines out, commands in.
function client(server, conf) {
  const proc = spawn(process.execPath, [join(here, 'fanout-client.mjs'), JSON.stringify({ server: server.kind, port: server.port, ...conf })],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const events = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (l) => {
    const e = JSON.parse(l);
    events.push(e);
    for (const w of waiters.slice()) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.res(e); }
  });
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    proc,
    send: (line) => proc.stdin.write(`${line}\n`),
    wait(pred, what) {
      const hit = events.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${server.kind}: timed out waiting for ${what}`)), TIMEOUT_MS);
        waiters.push({ pred, res: (e) => { clearTimeout(t); res(e); } });
        exited.then((code) => { clearTimeout(t); rej(new Error(`${server.kind}: client exited (${code}) waiting for ${what}`)); });
      });
    },
    exited,
  };
}

async function fanout(server, rep) {
  const docs = Array.from({ length: cfg.docs }, (_, i) => `r${rep}-doc${i}`);
  const per = Math.ceil(cfg.clients / cfg.readerProcs);
  const readers = [];
  for (let p = 0, left = cfg.clients; p < cfg.readerProcs && left > 0; p++, left -= per) {
    readers.push(client(server, { role: 'readers', docs, clients: Math.min(per, left), updates: cfg.updates }));
  }
  const writer = client(server, { role: 'writer', docs, updates: cfg.updates, size: cfg.size });
  await Promise.all([...readers, writer].map((c) => c.wait((e) => e.ready, 'ready')));
  const cpu0 = cpuSeconds(server.proc.pid);
  writer.send('go');
  const { t0 } = await writer.wait((e) => e.sent, 'sent');
  const dones = await Promise.all(readers.map((r) => r.wait((e) => e.done, 'all updates')));
  const elapsed = Math.max(...dones.map((d) => d.t)) - t0;
  const cpu = cpuSeconds(server.proc.pid) - cpu0;
  for (const r of readers) r.send('stop');
  const stops = await Promise.all(readers.map((r) => r.wait((e) => e.stopped, 'stop')));
  writer.send('stop');
  await Promise.all([...readers, writer].map((c) => c.exited));
  const short = stops.reduce((s, x) => s + x.short, 0);
  const extra = stops.reduce((s, x) => s + x.extra, 0);
  if (short || extra) throw new Error(`${server.kind}: ${short} connections short, ${extra} extra updates`);
  const deliveries = cfg.docs * cfg.clients * cfg.updates;
  return { ms: elapsed, deliveriesPerSec: deliveries / (elapsed / 1000), cpuSec: cpu };
}

async function latency(server) {
  const c = client(server, { role: 'latency', doc: 'latency', updates: cfg.latency, warmup: 100 });
  const r = await c.wait((e) => e.latency, 'latency');
  await c.exited;
  return r;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (cfg.servers.includes('cinder') && !existsSync(cfg.cinder)) {
    throw new Error(`${cfg.cinder} not found: build it with \`make build\``);
  }
  const machine = `${(cpus()[0]?.model || '?').trim()}, ${cpus().length} CPUs, Node ${process.version}`;
  const results = {};
  for (const kind of cfg.servers) {
    const server = await startServer(kind);
    try {
      const runs = [];
      for (let rep = 0; rep < cfg.reps; rep++) runs.push(await fanout(server, rep));
      const lat = await latency(server);
      results[kind] = {
        fanoutMs: median(runs.map((r) => r.ms)),
        fanoutRuns: runs.map((r) => Math.round(r.ms)),
        deliveriesPerSec: median(runs.map((r) => r.deliveriesPerSec)),
        serverCpuSec: median(runs.map((r) => r.cpuSec)),
        latency: lat,
      };
      process.stderr.write(`${kind}: ${JSON.stringify(results[kind])}\n`);
    } finally {
      await server.stop();
    }
  }
  if (args.includes('--json')) {
    console.log(JSON.stringify({ machine, cfg, results }, null, 2));
    return;
  }
  const base = results.cinder;
  const f = (x, d = 1) => x.toFixed(d);
  console.log(`machine: ${machine}`);
  console.log(`fan-out: ${cfg.docs} docs × ${cfg.clients} clients × ${cfg.updates} updates (${cfg.size} chars each) = ${cfg.docs * cfg.clients * cfg.updates} deliveries, median of ${cfg.reps}; latency: ${cfg.latency} updates, 1 writer → 1 reader\n`);
  console.log('| server | fan-out time (ms) | deliveries/s | server CPU (s) | vs cinder (time) | latency p50 (ms) | p99 (ms) | vs cinder (p50) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [kind, r] of Object.entries(results)) {
    const ratio = base ? `${f(r.fanoutMs / base.fanoutMs, 2)}×` : '–';
    const lratio = base ? `${f(r.latency.p50 / base.latency.p50, 2)}×` : '–';
    console.log(`| ${kind} | ${f(r.fanoutMs, 0)} (${r.fanoutRuns.join(', ')}) | ${f(r.deliveriesPerSec, 0)} | ${f(r.serverCpuSec, 2)} | ${ratio} | ${f(r.latency.p50, 3)} | ${f(r.latency.p99, 3)} | ${lratio} |`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
