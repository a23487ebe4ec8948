// Helpers for the cluster tests (issue 11): a real `redis-server` on a free loopback port, spoken to
// with a minimal RESP client on a raw socket (no npm redis client), and N cinder nodes joined
// through it.
//
// startRedis() resolves once Redis answers PING; stop() (SIGTERM), kill9() and restart() (the same
// port) each resolve when the process has exited / answers again. publishRaw() PUBLISHes arbitrary
// bytes; subscribeRaw() watches a channel. startCluster(n) starts Redis and nodes n1..nN and
// resolves once every node's /healthz reports the whole cluster up.
import net from 'node:net';
import { once } from 'node:events';
import { startServer, getJSON } from './server.mjs';
import { untilAccepting } from './raw.mjs';
import { freePort, spawnReady } from './services.mjs';

export const REDIS_BIN = process.env.REDIS_SERVER || '/usr/bin/redis-server';

// Every redis-server this process started: killed if the test process exits without stopping them.

// ---- RESP ----------------------------------------------------------------------------------------

// One command as an array of binary-safe bulk strings.
export function respCommand(...args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : a instanceof Uint8Array ? Buffer.from(a) : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// Parses one RESP value from buf at off: {value, end}, or null when incomplete. Bulk strings are
// Buffers; errors are Error objects (not thrown).
export function respParse(buf, off = 0) {
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('latin1', off + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+': return { value: line, end: after };
    case '-': return { value: new Error(line), end: after };
    case ':': return { value: Number(line), end: after };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: after };
      if (buf.length < after + n + 2) return null;
      return { value: buf.subarray(after, after + n), end: after + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: after };
      const out = [];
      let pos = after;
      for (let i = 0; i < n; i++) {
        const r = respParse(buf, pos);
        if (!r) return null;
        out.push(r.value);
        pos = r.end;
      }
      return { value: out, end: pos };
    }
    default: throw new Error(`bad RESP type byte ${buf[off]} at ${off}`);
  }
}

function connect(port) {
  return new Promise((res, rej) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => { sock.off('error', rej); res(sock); });
    sock.once('error', rej);
  });
}

// Sends one command on a fresh connection and resolves with its reply (an error reply rejects).
export async function redisCommand(port, ...args) {
  const sock = await connect(port);
  try {
    sock.write(respCommand(...args));
    let buf = Buffer.alloc(0);
    for (;;) {
      const chunk = await new Promise((res, rej) => {
        const onData = (d) => { cleanup(); res(d); };
        const onEnd = () => { cleanup(); rej(new Error(`redis closed the connection before replying to ${args[0]}`)); };
        const onErr = (e) => { cleanup(); rej(e); };
        const cleanup = () => { sock.off('data', onData); sock.off('end', onEnd); sock.off('error', onErr); };
        sock.on('data', onData);
        sock.on('end', onEnd);
        sock.on('error', onErr);
      });
      buf = Buffer.concat([buf, chunk]);
      const r = respParse(buf);
      if (r) {
        if (r.value instanceof Error) throw r.value;
        return r.value;
      }
    }
  } finally {
    sock.destroy();
  }
}

// PUBLISH channel message (bytes as given); resolves with the number of subscribers reached.
export async function publishRaw(port, channel, message) {
  const n = await redisCommand(port, 'PUBLISH', channel, message);
  if (typeof n !== 'number') throw new Error(`PUBLISH answered ${n}`);
  return n;
}

// A SUBSCRIBE connection to one channel: `messages` (Buffers, in order) and next(pred, ms).
export async function subscribeRaw(port, channel) {
  const sock = await connect(port);
  const messages = [];
  let waiters = [];
  let buf = Buffer.alloc(0);
  let confirmed;
  const subscribed = new Promise((res) => { confirmed = res; });
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const r = respParse(buf);
      if (!r) break;
      buf = buf.subarray(r.end);
      const [kind, , payload] = r.value;
      const k = Buffer.isBuffer(kind) ? kind.toString() : String(kind);
      if (k === 'subscribe') confirmed();
      else if (k === 'message') {
        messages.push(payload);
        waiters = waiters.filter((w) => !w());
      }
    }
  });
  sock.on('error', () => { /* redis killed under us: the test sees no more messages */ });
  sock.write(respCommand('SUBSCRIBE', channel));
  await subscribed;
  return {
    messages,
    // The first message (from index `from` on) satisfying pred.
    next(pred = () => true, { from = 0, ms = 5000 } = {}) {
      return new Promise((res, rej) => {
        let timer;
        const check = () => {
          for (let i = from; i < messages.length; i++) {
            if (pred(messages[i])) { clearTimeout(timer); res(messages[i]); return true; }
          }
          return false;
        };
        if (check()) return;
        timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          rej(new Error(`no message on ${channel} within ${ms} ms (${messages.length} seen)`));
        }, ms);
        waiters.push(check);
      });
    },
    close() { sock.destroy(); },
  };
}

// ---- redis-server --------------------------------------------------------------------------------

// Spawns redis-server on port; resolves with {proc, log(), exited} once it is ready, or rejects
// (err.retry when the port was taken).
async function spawnRedis(port) {
  const run = await spawnReady(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save',
    '', '--appendonly', 'no', '--daemonize', 'no'], {},
  { ready: /Ready to accept connections/, retryIf: /already in use/i, name: `redis-server on port ${port}` });
  // The log line comes once it listens; PING must answer too.
  const pong = await redisCommand(port, 'PING');
  if (pong !== 'PONG') throw new Error(`redis PING answered ${pong}`);
  return run;
}

// A redis-server on a free loopback port, persistence off.
export async function startRedis() {
  let cur;
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      cur = await spawnRedis(port);
      break;
    } catch (e) {
      if (!e.retry || attempt >= 10) throw e;
    }
  }
  const logs = [];
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get proc() { return cur?.proc ?? null; },
    running() { return cur !== null && cur.proc.exitCode === null && cur.proc.signalCode === null; },
    // All output of every run so far.
    log() { return [...logs, cur ? cur.log() : ''].join(''); },
    async stop() { return halt('SIGTERM'); },
    async kill9() { return halt('SIGKILL'); },
    // Starts again on the same port (a few tries: the port was just released).
    async restart() {
      if (redis.running()) throw new Error('redis is still running');
      for (let attempt = 0; ; attempt++) {
        try {
          cur = await spawnRedis(port);
          return redis;
        } catch (e) {
          if (!e.retry || attempt >= 20) throw e;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    },
  };
  async function halt(signal) {
    if (!cur) return null;
    const run = cur;
    if (run.proc.exitCode === null && run.proc.signalCode === null) run.proc.kill(signal);
    const [code, sig] = await run.exited;
    logs.push(run.log());
    cur = null;
    return { code, signal: sig };
  }
  return redis;
}

// ---- polling (only where the server offers no event to await) -----------------------------------

// Calls fn every `interval` ms until it returns without throwing (its result) or `ms` have passed
// (then throws fn's last error, prefixed with `what`).
export async function eventually(fn, { ms = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) {
        e.message = `not within ${ms} ms: ${what}: ${e.message}`;
        throw e;
      }
    }
    await new Promise((res) => setTimeout(res, interval));
  }
}

// /metrics as {name: sum over its label sets} (counters). gauge(m, name) reads a gauge: every
// label set must carry the same value (one line per node, or one per worker).
export async function metrics(node) {
  const res = await fetch(`${node.http}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = {};
  const values = {};
  for (const line of (await res.text()).split('\n')) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
    (values[m[1]] ??= []).push(Number(m[2]));
  }
  Object.defineProperty(out, 'values', { value: values });
  return out;
}

export function gauge(m, name) {
  const v = m.values[name];
  if (!v) throw new Error(`/metrics has no ${name}`);
  if (!v.every((x) => x === v[0])) throw new Error(`${name} differs between its label sets: ${v}`);
  return v[0];
}

export async function healthz(node) {
  const { status, body } = await getJSON(`${node.http}/healthz`);
  if (status !== 200) throw new Error(`/healthz answered ${status}`);
  return body;
}

// Resolves once every node's /healthz reports the cluster up with `count` live nodes.
export async function untilClusterUp(nodes, count, ms = 15000) {
  await Promise.all(nodes.map((node) => eventually(async () => {
    const h = await healthz(node);
    if (!(h.cluster && h.cluster.up === true && h.cluster.nodes === count)) {
      throw new Error(`${node.name} /healthz: ${JSON.stringify(h)}`);
    }
    return h;
  }, { ms, what: `${node.name} reports ${count} live nodes` })));
}

// ---- a cluster -----------------------------------------------------------------------------------

// Redis plus nodes n1..nN (`node.name`), each `cinder serve --redis ... --node-name nI
// --cluster-timeout 3000 ...args`. stop() stops the nodes (SIGTERM; server.stop() checks the
// sanitizer log) and then Redis, and resolves with the nodes' exit results; it is safe to call
// after a failure or a second time. killNode(i) SIGKILLs one; restartNode(i) starts it again with
// the same name (and the same port unless { samePort: false }).
export async function startCluster(n, { args = [], workers = 2, env = {} } = {}) {
  const redis = await startRedis();
  const cluster = {
    redis,
    nodes: [],
    all: [], // every node process started, restarts included (for stop())
    async stop() {
      const results = [];
      let failure = null;
      for (const node of cluster.all) {
        try {
          const r = await node.stop();
          results.push({ name: node.name, ...r });
        } catch (e) {
          failure ??= e; // a sanitizer report: stop the others and Redis all the same
        }
      }
      cluster.all = [];
      await redis.stop();
      if (failure) throw failure;
      return results;
    },
    async startNode(i, { port = 0 } = {}) {
      const name = `n${i + 1}`;
      const node = await startServer({
        workers,
        port,
        env,
        args: ['--redis', redis.url, '--node-name', name, '--cluster-timeout', '3000', ...args],
      });
      node.name = name;
      cluster.all.push(node);
      cluster.nodes[i] = node;
      await untilAccepting(node.port);
      return node;
    },
    async killNode(i) {
      const node = cluster.nodes[i];
      const r = await node.stop({ signal: 'SIGKILL' });
      cluster.all = cluster.all.filter((x) => x !== node);
      return r;
    },
    async restartNode(i, { samePort = true } = {}) {
      const old = cluster.nodes[i];
      if (old.proc.exitCode === null && old.proc.signalCode === null) throw new Error(`${old.name} still runs`);
      return cluster.startNode(i, { port: samePort ? old.port : 0 });
    },
  };
  try {
    const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => cluster.startNode(i)));
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    await untilClusterUp(cluster.nodes, n);
  } catch (e) {
    await cluster.stop().catch(() => {});
    throw e;
  }
  return cluster;
}
