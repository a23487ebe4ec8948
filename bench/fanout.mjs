#!/usr/bin/env node
// Document-room benchmark: update fan-out (many docs × many clients) and update-to-peer latency,
// for cinder (release build), the y-websocket 2 server and Hocuspocus 2, in the same run on the
// same machine, clients in separate processes from the server, 127.0.0.1 only. Results go to the
// "Document rooms" section of BENCHMARKS.md (by hand).
//
// Servers (--servers, comma separated; all four by default):
//   cinder       build/cinder serve (--workers, a throwaway --data), clients on the Phoenix socket
//                (/socket/websocket, V2 binary pushes on y_doc_room:<doc>);
//   cinder-yws   the same binary started the same way, clients on its y-websocket endpoint
//                (ws://127.0.0.1:PORT/yjs/<doc>, cinder's default --yws-path) sending exactly the
//                bytes they send to the y-websocket server: a direct comparison with it;
//   y-websocket  node_modules/y-websocket/bin/server.cjs (y-websocket 2.x), ws://127.0.0.1:PORT/<doc>;
//   hocuspocus   bench/peers/hocuspocus-server.mjs (Hocuspocus 2).
//
//   node bench/fanout.mjs [--docs 20] [--clients 25] [--updates 200] [--size 8] [--reps 3]
//                         [--latency 2000] [--reader-procs 2] [--workers 2]
//                         [--servers cinder,cinder-yws,y-websocket,hocuspocus] [--json]
//                         [--nodes 1] [--poll-ms 5]
//
// Fan-out: `clients` reader connections per doc (split over `reader-procs` processes) and one
// writer connection per doc (another process). All connect and sync first; then the writer sends
// `updates` updates per doc (each `size` characters appended to a Y.Text, round robin over the
// docs, back to back), and the time runs until every reader connection has every update of its
// doc. Deliveries = docs × clients × updates. Median of `reps` runs (fresh doc names each run).
// Latency: one writer and one reader connection on one doc; one small update at a time, the next
// once the reader has the previous one; time from send to receipt (p50/p99).
// The clients speak raw y-protocols (see bench/fanout-client.mjs): the same bytes for every server.
//
// --nodes N (N > 1): cinder is measured twice in the same run, its reps alternating:
//   cinder          one node, SQLite store (--data, the default), as without --nodes;
//   cinder-cluster  N nodes (--node-name n1..nN, the same --workers each) through a redis-server
//                   (--save '' --appendonly no) and one PostgreSQL 15 store (--store
//                   postgresql://...; a throwaway cluster: initdb + postgres from
//                   /usr/lib/postgresql/15/bin, run as the `postgres` user when we are root,
//                   fsync=off, loopback port, trust authentication), all started here on 127.0.0.1.
//   Each doc's writer connects to n1; reader connections are dealt round robin over the nodes
//   (each doc's readers spread over all of them); latency: writer on n1, reader on n2.
//   For both, "persisted updates/s": the docs × updates appends of a rep (each update is one
//   stored entry) divided by the time from the first update sent until every one of them is
//   committed, i.e. until the nodes' cinder_storage_writes_total (appends and compactions
//   committed, summed over the nodes, read from /metrics every --poll-ms) has grown by
//   docs × updates. Before a rep the previous rep's docs have unloaded (cinder_documents 0: their
//   unload compactions committed), and with --updates at most the compaction threshold (400)
//   nothing compacts during a rep, so that growth is exactly this rep's appends; after it the
//   store itself is checked (psql / sqlite3: every doc of the rep has seq 1..updates). Server CPU
//   of the cluster is the nodes' CPU; Redis's and PostgreSQL's (all its processes) are listed
//   apart. Everything started is stopped on exit, on failure and on SIGINT/SIGTERM.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, readFileSync, readdirSync, existsSync, chownSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { promisify } from 'node:util';
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
  servers: opt('servers', 'cinder,cinder-yws,y-websocket,hocuspocus').split(','),
  cinder: opt('cinder', process.env.CINDER_BIN || join(root, 'build/cinder')),
  nodes: Number(opt('nodes', 1)),
  pollMs: Number(opt('poll-ms', 5)),
  pgBin: opt('pg-bin', process.env.CINDER_PG_BIN || '/usr/lib/postgresql/15/bin'),
};
const CLUSTER = cfg.nodes > 1; // --nodes N: cinder single (SQLite) and cinder-cluster (PostgreSQL)
const COMPACT_THRESHOLD = 400; // cinder's default --compact-threshold
const YWS_PATH = '/yjs'; // cinder's default --yws-path: cinder-yws clients connect to YWS_PATH/<doc>
const isCinder = (kind) => kind === 'cinder' || kind === 'cinder-yws'; // build/cinder, one node
const exec = promisify(execFile);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Everything started here, killed (SIGKILL, whole process group where detached) if still running
// when this process exits; temporary directories removed.
const live = new Set();
const liveDirs = new Set();
function track(proc, group = false) {
  const e = { proc, group };
  live.add(e);
  proc.once('exit', () => live.delete(e));
  return proc;
}
process.on('exit', () => {
  for (const { proc, group } of live) {
    try { process.kill(group ? -proc.pid : proc.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const d of liveDirs) { try { rmSync(d, { recursive: true, force: true }); } catch { /* busy */ } }
});
const stoppers = []; // async stops of running servers, for a signal
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => {
    process.stderr.write(`fanout: ${sig}, stopping everything\n`);
    Promise.allSettled(stoppers.map((f) => f())).finally(() => process.exit(code));
    setTimeout(() => process.exit(code), 15000).unref();
  });
}
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

// A process and its children (PostgreSQL: the postmaster and its backends and auxiliary
// processes, each in a session of its own), with the children it has reaped (cutime + cstime).
function treeCpuSeconds(pid) {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(d) === pid || Number(f[1]) === pid) sum += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
    } catch { /* gone */ }
  }
  return sum;
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
  if (isCinder(kind)) { // cinder-yws: the same server, started the same way
    data = mkdtempSync(join(tmpdir(), 'cinder-bench-'));
    liveDirs.add(data);
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
  track(proc);
  // Keep draining its output (a full pipe would block the server).
  proc.stdout.on('data', () => {});
  proc.stderr.on('data', () => {});
  return {
    kind, proc, port,
    ...(kind === 'cinder' ? { nodePorts: [port], pids: [proc.pid], store: { sqlite: join(data, 'cinder.db') } } : {}),
    ...(kind === 'cinder-yws' ? { nodePorts: [port], pids: [proc.pid] } : {}),
    async stop() {
      await stopProc(proc); // SIGTERM, SIGKILL after 10 s
      if (data) { rmSync(data, { recursive: true, force: true }); liveDirs.delete(data); }
    },
  };
}

// --- the cluster: redis-server, a throwaway PostgreSQL, N cinder nodes --------------------------

function drain(proc) {
  let log = '';
  const on = (d) => { log = (log + d).slice(-20000); };
  proc.stdout?.on('data', on);
  proc.stderr?.on('data', on);
  return () => log;
}

async function stopProc(proc, signal = 'SIGTERM', group = false) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  const kill = (sig) => { try { process.kill(group ? -proc.pid : proc.pid, sig); } catch { /* gone */ } };
  kill(signal);
  const t = setTimeout(() => kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(t);
}

async function startRedis() {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await waitLine(proc, /Ready to accept connections/, 'redis-server');
      drain(proc);
      return { proc, port, url: `redis://127.0.0.1:${port}`, stop: () => stopProc(proc) };
    } catch (e) {
      await stopProc(proc, 'SIGKILL');
      if (attempt >= 5 || !/in use|bind/i.test(e.message)) throw e;
    }
  }
}

// PostgreSQL refuses to run as root: then initdb and postgres run as the `postgres` user, in a
// temporary directory owned by it (tests/e2e/pg.mjs does the same for the tests).
async function startPostgres(db = 'cinder_bench') {
  let as = {};
  if (process.getuid() === 0) {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    as = { uid: id('-u'), gid: id('-g') };
  }
  const dir = mkdtempSync(join(tmpdir(), 'cinder-bench-pg-'));
  liveDirs.add(dir);
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid);
  try {
    await exec(join(cfg.pgBin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust',
      '-E', 'UTF8', '--locale=C', '--no-sync'], { ...as, cwd: dir });
  } catch (e) {
    throw new Error(`initdb failed (postgresql-15 installed? --pg-bin): ${e.stderr || e.message}`);
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    // detached: its own process group, so that the exit handler reaches it (its children follow
    // a postmaster that dies).
    const proc = track(spawn(join(cfg.pgBin, 'postgres'), ['-D', join(dir, 'data'), '-p', String(port), '-k', dir,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { ...as, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }), true);
    try {
      // Ready once it says so (no sleeping), then the database.
      await waitLine(proc, /database system is ready to accept connections/, 'postgres');
    } catch (e) {
      await stopProc(proc, 'SIGKILL', true);
      if (attempt >= 5 || !/could not bind|already in use|could not create any TCP/i.test(e.message)) throw e;
      continue;
    }
    drain(proc);
    const client = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
    await exec(join(cfg.pgBin, 'createdb'), [...client, db]);
    return {
      proc, port, dir,
      url: `postgresql://postgres@127.0.0.1:${port}/${db}`,
      async query(sql) {
        const { stdout } = await exec(join(cfg.pgBin, 'psql'), [...client, '-d', db, '-X', '-A', '-t', '-q',
          '-v', 'ON_ERROR_STOP=1', '-c', sql]);
        return stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|'));
      },
      async stop() {
        await stopProc(proc, 'SIGINT', true); // fast shutdown
        rmSync(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      },
    };
  }
}

async function metricsOf(port) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await r.text();
  const get = (name) => {
    const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm'));
    if (!m) throw new Error(`no ${name} in /metrics of port ${port}`);
    return Number(m[1]);
  };
  return { writes: get('cinder_storage_writes_total'), docs: get('cinder_documents') };
}
const sumMetrics = async (ports) => (await Promise.all(ports.map(metricsOf)))
  .reduce((a, m) => ({ writes: a.writes + m.writes, docs: a.docs + m.docs, per: [...a.per, m.writes] }), { writes: 0, docs: 0, per: [] });

async function startCluster() {
  const redis = await startRedis();
  let pg = null;
  const nodes = [];
  const data = mkdtempSync(join(tmpdir(), 'cinder-bench-cluster-'));
  liveDirs.add(data);
  const stop = async () => {
    await Promise.all(nodes.map((n) => stopProc(n.proc))); // SIGTERM: they commit and hand off
    await Promise.all([redis.stop(), pg?.stop()]);
    rmSync(data, { recursive: true, force: true });
    liveDirs.delete(data);
  };
  try {
    pg = await startPostgres();
    for (let i = 1; i <= cfg.nodes; i++) {
      const dir = join(data, `n${i}`);
      mkdirSync(dir);
      const proc = track(spawn(cfg.cinder, ['serve', '--host', '127.0.0.1', '--port', '0', '--workers', String(cfg.workers),
        '--data', dir, '--redis', redis.url, '--node-name', `n${i}`, '--store', pg.url], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const port = Number((await waitLine(proc, /listening on [^\s]+:(\d+)/, `cinder n${i}`))[1]);
      const log = drain(proc);
      nodes.push({ proc, port, log });
    }
    // Every node sees all of them.
    const deadline = Date.now() + 20000;
    for (const n of nodes) {
      for (;;) {
        const h = await fetch(`http://127.0.0.1:${n.port}/healthz`).then((r) => r.text()).catch(() => '');
        if (h.includes(`"nodes":${cfg.nodes}`)) break;
        if (Date.now() > deadline) throw new Error(`node on ${n.port} does not see ${cfg.nodes} nodes: ${h}\n${n.log()}`);
        await sleep(50);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const ports = nodes.map((n) => n.port);
  return {
    kind: 'cinder-cluster', adapter: 'cinder', port: ports[0], ports, readerPort: ports[1], nodePorts: ports,
    proc: nodes[0].proc, pids: nodes.map((n) => n.proc.pid), redis, pg, store: { pg },
    stop,
  };
}

// Every doc of rep `rep` holds the entries 1..updates (the last seq of each, their count).
async function checkStore(server, rep) {
  const sql = (table) => `SELECT count(*), coalesce(sum(n), 0), coalesce(min(m), 0), coalesce(max(m), 0) FROM (SELECT count(*) AS n, max(seq) AS m FROM ${table} WHERE doc LIKE 'r${rep}-doc%' GROUP BY doc) x`;
  let row;
  if (server.store.pg) [row] = await server.store.pg.query(sql('cinder_doc_updates'));
  else row = (await exec('sqlite3', [server.store.sqlite, sql('doc_updates')])).stdout.trim().split('|');
  const [docs, entries, minSeq, maxSeq] = row.map(Number);
  if (docs !== cfg.docs || minSeq !== cfg.updates || maxSeq !== cfg.updates || entries !== cfg.docs * cfg.updates) {
    throw new Error(`${server.kind}: rep ${rep}: the store holds ${docs} docs, ${entries} entries, last seq ${minSeq}..${maxSeq}; expected ${cfg.docs} docs × ${cfg.updates}`);
  }
}

// A client process: JSON lines out, commands in.
function client(server, conf) {
  const proc = track(spawn(process.execPath, [join(here, 'fanout-client.mjs'), JSON.stringify({ server: server.adapter || server.kind, port: server.port, ywsPath: YWS_PATH, ...conf })],
    { stdio: ['pipe', 'pipe', 'inherit'] }));
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
  const storage = CLUSTER && server.store;
  if (storage) {
    // The previous rep's docs unloaded (their last compactions committed): from here on, the
    // storage writes of the nodes are this rep's appends.
    for (const deadline = Date.now() + 60000; (await sumMetrics(server.nodePorts)).docs > 0;) {
      if (Date.now() > deadline) throw new Error(`${server.kind}: documents still loaded after 60 s`);
      await sleep(100);
    }
  }
  for (let p = 0, left = cfg.clients; p < cfg.readerProcs && left > 0; p++, left -= per) {
    readers.push(client(server, { role: 'readers', docs, clients: Math.min(per, left), updates: cfg.updates, ...(server.ports ? { ports: server.ports, first: p * per } : {}) }));
  }
  const writer = client(server, { role: 'writer', docs, updates: cfg.updates, size: cfg.size });
  await Promise.all([...readers, writer].map((c) => c.wait((e) => e.ready, 'ready')));
  const pids = server.pids || [server.proc.pid];
  const cpuOf = () => ({
    nodes: pids.reduce((s, p) => s + cpuSeconds(p), 0),
    redis: server.redis ? cpuSeconds(server.redis.proc.pid) : 0,
    pg: server.pg ? treeCpuSeconds(server.pg.proc.pid) : 0,
  });
  const cpu0 = cpuOf();
  const w0 = storage ? await sumMetrics(server.nodePorts) : null;
  const target = cfg.docs * cfg.updates;
  writer.send('go');
  // Persisted: poll the nodes' storage writes until this rep's appends are all committed.
  let persisted = null;
  if (storage) {
    persisted = (async () => {
      for (const deadline = Date.now() + TIMEOUT_MS; ;) {
        const t = now();
        const m = await sumMetrics(server.nodePorts);
        if (m.writes - w0.writes >= target) return { t: now(), per: m.per.map((w, i) => w - w0.per[i]) };
        if (Date.now() > deadline) throw new Error(`${server.kind}: ${m.writes - w0.writes} of ${target} updates stored after ${TIMEOUT_MS} ms`);
        await sleep(Math.max(0, cfg.pollMs - (now() - t)));
      }
    })();
  }
  const { t0 } = await writer.wait((e) => e.sent, 'sent');
  const dones = await Promise.all(readers.map((r) => r.wait((e) => e.done, 'all updates')));
  const elapsed = Math.max(...dones.map((d) => d.t)) - t0;
  const stored = storage ? await persisted : null;
  const cpu1 = cpuOf();
  const cpu = cpu1.nodes - cpu0.nodes;
  for (const r of readers) r.send('stop');
  const stops = await Promise.all(readers.map((r) => r.wait((e) => e.stopped, 'stop')));
  writer.send('stop');
  await Promise.all([...readers, writer].map((c) => c.exited));
  const short = stops.reduce((s, x) => s + x.short, 0);
  const extra = stops.reduce((s, x) => s + x.extra, 0);
  if (short || extra) throw new Error(`${server.kind}: ${short} connections short, ${extra} extra updates`);
  const deliveries = cfg.docs * cfg.clients * cfg.updates;
  const r = { ms: elapsed, deliveriesPerSec: deliveries / (elapsed / 1000), cpuSec: cpu };
  if (CLUSTER && (server.kind === 'cinder' || server.kind === 'cinder-cluster')) {
    r.redisCpuSec = cpu1.redis - cpu0.redis;
    r.pgCpuSec = cpu1.pg - cpu0.pg;
  }
  if (storage) {
    const w1 = await sumMetrics(server.nodePorts);
    if (w1.writes - w0.writes !== target) throw new Error(`${server.kind}: ${w1.writes - w0.writes} storage writes for ${target} updates`);
    await checkStore(server, rep);
    r.persistMs = stored.t - t0;
    r.persistedPerSec = target / (r.persistMs / 1000);
    r.writesPerNode = stored.per;
  }
  if (CLUSTER) process.stderr.write(`${server.kind} rep ${rep}: ${JSON.stringify(r)}\n`);
  return r;
}

async function latency(server) {
  const c = client(server, { role: 'latency', doc: 'latency', updates: cfg.latency, warmup: 100, ...(server.readerPort ? { readerPort: server.readerPort } : {}) });
  const r = await c.wait((e) => e.latency, 'latency');
  await c.exited;
  return r;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const onceOnly = (f) => { let p = null; return () => (p ??= f()); };

function summarize(runs, lat) {
  const r = {
    fanoutMs: median(runs.map((x) => x.ms)),
    fanoutRuns: runs.map((x) => Math.round(x.ms)),
    deliveriesPerSec: median(runs.map((x) => x.deliveriesPerSec)),
    serverCpuSec: median(runs.map((x) => x.cpuSec)),
    latency: lat,
  };
  if (runs[0].redisCpuSec !== undefined) {
    r.redisCpuSec = median(runs.map((x) => x.redisCpuSec));
    r.pgCpuSec = median(runs.map((x) => x.pgCpuSec));
  }
  if (runs[0].persistMs !== undefined) {
    r.persistMs = median(runs.map((x) => x.persistMs));
    r.persistRuns = runs.map((x) => Math.round(x.persistMs));
    r.persistedPerSec = median(runs.map((x) => x.persistedPerSec));
    r.writesPerNode = runs.map((x) => x.writesPerNode);
  }
  return r;
}

// --nodes N: the single node (SQLite) and the cluster (PostgreSQL) up together, their reps
// alternating (single first on even reps, the cluster first on odd ones) so that the drift of a
// shared machine spreads over both.
async function cinderPair(results) {
  const single = await startServer('cinder');
  single.stop = onceOnly(single.stop);
  stoppers.push(single.stop);
  let cluster = null;
  try {
    cluster = await startCluster();
    cluster.stop = onceOnly(cluster.stop);
    stoppers.push(cluster.stop);
    const runs = { cinder: [], 'cinder-cluster': [] };
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const s of rep % 2 ? [cluster, single] : [single, cluster]) runs[s.kind].push(await fanout(s, rep));
    }
    for (const s of [single, cluster]) {
      results[s.kind] = summarize(runs[s.kind], await latency(s));
      process.stderr.write(`${s.kind}: ${JSON.stringify(results[s.kind])}\n`);
    }
  } finally {
    await Promise.all([single.stop(), cluster?.stop()]);
  }
}

async function main() {
  const unknown = cfg.servers.filter((k) => !['cinder', 'cinder-yws', 'y-websocket', 'hocuspocus'].includes(k));
  if (unknown.length) throw new Error(`unknown server ${unknown.join(', ')} (cinder, cinder-yws, y-websocket, hocuspocus)`);
  if (cfg.servers.some(isCinder) && !existsSync(cfg.cinder)) {
    throw new Error(`${cfg.cinder} not found: build it with \`make build\``);
  }
  if (cfg.servers.includes('cinder-yws') && !/--yws-path/.test(execFileSync(cfg.cinder, ['serve', '--help']).toString())) {
    throw new Error(`${cfg.cinder} has no --yws-path (the y-websocket endpoint): rebuild it`);
  }
  if (CLUSTER) {
    if (!cfg.servers.includes('cinder')) throw new Error('--nodes needs cinder in --servers');
    if (cfg.updates > COMPACT_THRESHOLD) {
      throw new Error(`--nodes: --updates ${cfg.updates} > ${COMPACT_THRESHOLD} (the compaction threshold): compactions during a rep would count as storage writes`);
    }
    if (!/--store/.test(execFileSync(cfg.cinder, ['serve', '--help']).toString())) throw new Error(`${cfg.cinder} has no --store: rebuild it`);
    for (const bin of [join(cfg.pgBin, 'initdb'), join(cfg.pgBin, 'postgres'), join(cfg.pgBin, 'psql')]) {
      if (!existsSync(bin)) throw new Error(`${bin} not found (postgresql-15; --pg-bin DIR)`);
    }
    for (const bin of ['redis-server', 'sqlite3']) {
      try { execFileSync('sh', ['-c', `command -v ${bin}`]); } catch { throw new Error(`${bin} not found`); }
    }
  }
  const machine = `${(cpus()[0]?.model || '?').trim()}, ${cpus().length} CPUs, Node ${process.version}`;
  const results = {};
  for (const kind of cfg.servers) {
    if (kind === 'cinder' && CLUSTER) {
      await cinderPair(results);
      continue;
    }
    const server = await startServer(kind);
    server.stop = onceOnly(server.stop);
    stoppers.push(server.stop);
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
    console.log(JSON.stringify({ machine: CLUSTER ? `${machine}, Linux ${release()}` : machine, cfg, results }, null, 2));
    return;
  }
  const base = results.cinder;
  const f = (x, d = 1) => x.toFixed(d);
  const label = (kind) => {
    if (!CLUSTER) return kind;
    if (kind === 'cinder') return 'cinder, 1 node, SQLite';
    if (kind === 'cinder-cluster') return `cinder, ${cfg.nodes} nodes, PostgreSQL`;
    return kind;
  };
  console.log(`machine: ${machine}${CLUSTER ? `, Linux ${release()}` : ''}`);
  console.log(`fan-out: ${cfg.docs} docs × ${cfg.clients} clients × ${cfg.updates} updates (${cfg.size} chars each) = ${cfg.docs * cfg.clients * cfg.updates} deliveries, median of ${cfg.reps}; latency: ${cfg.latency} updates, 1 writer → 1 reader\n`);
  if (CLUSTER) {
    console.log(`cinder: --workers ${cfg.workers} on the single node and on each of the ${cfg.nodes} nodes (n1..n${cfg.nodes}, one redis-server, one PostgreSQL 15 with fsync=off); cluster: each doc's writer on n1, readers round robin over the nodes, latency writer on n1 → reader on n2; reps alternating between the two\n`);
  }
  console.log('| server | fan-out time (ms) | deliveries/s | server CPU (s) | vs cinder (time) | latency p50 (ms) | p99 (ms) | vs cinder (p50) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [kind, r] of Object.entries(results)) {
    const ratio = base ? `${f(r.fanoutMs / base.fanoutMs, 2)}×` : '–';
    const lratio = base ? `${f(r.latency.p50 / base.latency.p50, 2)}×` : '–';
    console.log(`| ${label(kind)} | ${f(r.fanoutMs, 0)} (${r.fanoutRuns.join(', ')}) | ${f(r.deliveriesPerSec, 0)} | ${f(r.serverCpuSec, 2)} | ${ratio} | ${f(r.latency.p50, 3)} | ${f(r.latency.p99, 3)} | ${lratio} |`);
  }
  // cinder against the y-websocket server, same run (cinder-yws: the same client bytes).
  const yws = results['y-websocket'];
  if (yws) {
    const against = ['cinder', 'cinder-yws'].filter((k) => results[k]);
    if (against.length) console.log('');
    for (const kind of against) {
      const r = results[kind];
      console.log(`${label(kind)} / y-websocket, same run: deliveries/s ${f(r.deliveriesPerSec / yws.deliveriesPerSec, 2)}×, latency p50 ${f(r.latency.p50 / yws.latency.p50, 2)}×, p99 ${f(r.latency.p99 / yws.latency.p99, 2)}×, server CPU ${f(r.serverCpuSec / yws.serverCpuSec, 2)}×`);
    }
  }
  if (CLUSTER) {
    const c = results['cinder-cluster'];
    const n = cfg.docs * cfg.updates;
    console.log(`\npersisted updates/s: the ${n} updates of a rep (${cfg.docs} docs × ${cfg.updates}, one stored entry each) ÷ the time from the first update sent until the nodes' cinder_storage_writes_total (summed, /metrics polled every ${cfg.pollMs} ms) has grown by ${n}, i.e. until every one is committed; the store is then checked to hold seq 1..${cfg.updates} for every doc. Median of ${cfg.reps}.\n`);
    console.log('| target | store | persisted updates/s | persist time (ms) | deliveries/s | node CPU (s) | Redis CPU (s) | PostgreSQL CPU (s) | writes per node, each rep |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---|');
    for (const kind of ['cinder', 'cinder-cluster']) {
      const r = results[kind];
      console.log(`| ${label(kind)} | ${kind === 'cinder' ? 'SQLite (WAL, synchronous=NORMAL)' : 'PostgreSQL 15 (fsync=off)'} | ${f(r.persistedPerSec, 0)} | ${f(r.persistMs, 0)} (${r.persistRuns.join(', ')}) | ${f(r.deliveriesPerSec, 0)} | ${f(r.serverCpuSec, 2)} | ${kind === 'cinder' ? '–' : f(r.redisCpuSec, 2)} | ${kind === 'cinder' ? '–' : f(r.pgCpuSec, 2)} | ${r.writesPerNode.map((w) => w.join('/')).join(', ')} |`);
    }
    console.log(`\ncluster (${cfg.nodes} nodes, PostgreSQL) / single node (SQLite), same run: deliveries/s ${f(c.deliveriesPerSec / base.deliveriesPerSec, 2)}×, persisted updates/s ${f(c.persistedPerSec / base.persistedPerSec, 2)}×, latency p50 ${f(c.latency.p50 / base.latency.p50, 2)}×, p99 ${f(c.latency.p99 / base.latency.p99, 2)}×`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
