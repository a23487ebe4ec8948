// Client process of bench/fanout.mjs (run by it, not by hand). Raw y-protocols clients over `ws`
// for three protocols, so that every server gets byte-identical work and the client side costs
// the same: cinder (Phoenix V2 binary frames on `y_doc_room:*`), the y-websocket server (one
// y-protocols message per frame, room = URL path; also cinder's y-websocket endpoint, server
// `cinder-yws`: the same bytes both ways, only the URL differs, `<ywsPath>/<doc>`) and
// Hocuspocus 2 (each message prefixed by the document name, an auth message first).
//
// Roles (argv[2] is a JSON config; one JSON line per event on stdout, commands on stdin):
//   readers  — opens `clients` connections to each doc, syncs each (step 1 → step 2), prints
//              {ready}; then counts update messages per connection and prints {done, t} (absolute
//              ms) when every connection has `updates` of them.
//   writer   — one connection per doc, synced, prints {ready}; on "go" sends every doc's updates
//              (round robin over docs, back to back) and prints {sent, t0}.
//   latency  — one writer and one reader connection on one doc; sends `updates` small updates one
//              at a time, each after the previous one reached the reader; prints percentiles.
// Every connection goes to `port`, except (a cluster of cinder nodes, bench/fanout.mjs --nodes):
// readers with `ports` deal their connections round robin over those ports (client index `first`
// + i, shifted by the doc's index, so each doc's readers spread over every node), and the latency
// role's reader connects to `readerPort`.
import WebSocket from 'ws';
import * as Y from 'yjs';
import { createInterface } from 'node:readline';

const cfg = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function varuint(n) {
  const b = [];
  while (n >= 0x80) { b.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  b.push(n);
  return b;
}
const varbytes = (u) => Buffer.concat([Buffer.from(varuint(u.length)), Buffer.from(u)]);
const varstring = (s) => varbytes(Buffer.from(s));
function readVaruint(buf, o) {
  let v = 0; let mul = 1; let b;
  do { b = buf[o++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
  return [v, o];
}

const STEP1_EMPTY = Buffer.from([0, 0, 1, 0]); // sync step 1 of an empty document
const updateMsg = (u) => Buffer.concat([Buffer.from([0, 2]), varbytes(u)]);

// Each adapter: url(doc), open(conn) after the socket opened, classify(conn, data, isBinary) →
// 'synced' | 'update' | null, wrap(conn, yprotocolsMessage) → frame.
const adapters = {
  cinder: {
    url: (doc, port) => `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`,
    open(c) {
      c.topic = `y_doc_room:${c.doc}`;
      c.ref = 1;
      c.ws.send(JSON.stringify(['1', '1', c.topic, 'phx_join', {}]));
      c.hb = setInterval(() => c.ws.send(JSON.stringify([null, String(++c.ref), 'phoenix', 'heartbeat', {}])), 20000);
    },
    push(c, msg) {
      const ref = Buffer.from(String(++c.ref));
      const parts = [Buffer.from('1'), ref, Buffer.from(c.topic), Buffer.from('yjs')];
      return Buffer.concat([Buffer.from([0, ...parts.map((p) => p.length)]), ...parts, msg]);
    },
    classify(c, data, isBinary) {
      if (!isBinary) {
        const [, ref, , event, payload] = JSON.parse(data.toString());
        if (event === 'phx_reply' && ref === '1') {
          if (payload.status !== 'ok') throw new Error(`join refused: ${JSON.stringify(payload)}`);
          c.ws.send(this.push(c, STEP1_EMPTY));
        }
        return null;
      }
      let o;
      if (data[0] === 0) o = 4 + data[1] + data[2] + data[3]; // push
      else if (data[0] === 2) o = 3 + data[1] + data[2]; // broadcast
      else return null;
      if (data[o] !== 0) return null;
      if (data[o + 1] === 1) return 'synced';
      if (data[o + 1] === 2) return 'update';
      return null;
    },
    wrap(c, msg) { return this.push(c, msg); },
  },
  'y-websocket': {
    url: (doc, port) => `ws://127.0.0.1:${port}/${doc}`,
    open(c) { c.ws.send(STEP1_EMPTY); },
    classify(c, data) {
      if (data[0] !== 0) return null;
      if (data[1] === 1) return 'synced';
      if (data[1] === 2) return 'update';
      return null;
    },
    wrap(c, msg) { return msg; },
  },
  hocuspocus: {
    url: (doc, port) => `ws://127.0.0.1:${port}/`,
    open(c) {
      c.prefix = varstring(c.doc);
      c.ws.send(Buffer.concat([c.prefix, Buffer.from([2, 0]), varstring('')])); // auth, empty token
      c.ws.send(Buffer.concat([c.prefix, STEP1_EMPTY]));
    },
    classify(c, data) {
      let [n, o] = readVaruint(data, 0);
      o += n; // document name
      const type = data[o];
      if ((type === 0 || type === 4) && data[o + 1] === 1) return 'synced';
      if (type === 0 && data[o + 1] === 2) return 'update';
      return null;
    },
    wrap(c, msg) { return Buffer.concat([c.prefix, msg]); },
  },
};
// cinder's y-websocket endpoint (`ws://HOST:PORT/yjs/<doc>`, the path from cfg.ywsPath): the
// y-websocket adapter itself, only its URL differs.
adapters['cinder-yws'] = {
  ...adapters['y-websocket'],
  url: (doc, port) => `ws://127.0.0.1:${port}${cfg.ywsPath ?? '/yjs'}/${encodeURIComponent(doc)}`,
};
const A = adapters[cfg.server];
if (!A) throw new Error(`fanout-client: unknown server ${cfg.server}`);

// Opens a synced connection (to `port`); onUpdate(conn) for each update message afterwards.
function connect(doc, onUpdate = () => {}, port = cfg.port) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(A.url(doc, port), { perMessageDeflate: false });
    const c = { ws, doc, synced: false, updates: 0 };
    ws.on('open', () => A.open(c));
    ws.on('error', rej);
    ws.on('message', (data, isBinary) => {
      const k = A.classify(c, data, isBinary);
      if (k === 'synced' && !c.synced) { c.synced = true; res(c); }
      else if (k === 'update' && c.synced) { c.updates++; onUpdate(c); }
    });
  });
}

// A doc's updates: `n` appends of `size` characters, each its own update (clientID fixed per doc).
function makeUpdates(seed, n, size) {
  const d = new Y.Doc();
  d.clientID = 1000 + seed;
  const t = d.getText('t');
  const ups = [];
  d.on('update', (u) => ups.push(updateMsg(u)));
  for (let i = 0; i < n; i++) t.insert(t.length, String.fromCharCode(97 + ((seed + i) % 26)).repeat(size));
  return ups;
}

async function inBatches(items, size, fn) {
  const outs = [];
  for (let i = 0; i < items.length; i += size) outs.push(...await Promise.all(items.slice(i, i + size).map(fn)));
  return outs;
}

function closeAll(conns) {
  for (const c of conns) { clearInterval(c.hb); c.ws.terminate(); }
}

const stdinLines = () => createInterface({ input: process.stdin });

if (cfg.role === 'readers') {
  let remaining = 0;
  let doneAt = 0;
  const specs = [];
  cfg.docs.forEach((doc, d) => {
    for (let i = 0; i < cfg.clients; i++) {
      specs.push({ doc, port: cfg.ports ? cfg.ports[((cfg.first || 0) + i + d) % cfg.ports.length] : cfg.port });
    }
  });
  const conns = await inBatches(specs, 50, ({ doc, port }) => connect(doc, (c) => {
    if (c.updates === cfg.updates && --remaining === 0) {
      doneAt = now();
      out({ done: true, t: doneAt });
    }
  }, port));
  remaining = conns.length;
  out({ ready: true, conns: conns.length });
  stdinLines().on('line', (l) => {
    if (l === 'stop') {
      const short = conns.filter((c) => c.updates !== cfg.updates).length;
      out({ stopped: true, short, extra: conns.reduce((s, c) => s + Math.max(0, c.updates - cfg.updates), 0) });
      closeAll(conns);
      process.exit(0);
    }
  });
} else if (cfg.role === 'writer') {
  const conns = await inBatches(cfg.docs, 50, (doc) => connect(doc));
  const ups = cfg.docs.map((_, i) => makeUpdates(i, cfg.updates, cfg.size));
  out({ ready: true, conns: conns.length });
  stdinLines().on('line', (l) => {
    if (l === 'go') {
      const t0 = now();
      for (let i = 0; i < cfg.updates; i++) {
        for (let d = 0; d < conns.length; d++) conns[d].ws.send(A.wrap(conns[d], ups[d][i]));
      }
      out({ sent: true, t0 });
    } else if (l === 'stop') {
      closeAll(conns);
      process.exit(0);
    }
  });
} else if (cfg.role === 'latency') {
  let waiter = null;
  const reader = await connect(cfg.doc, () => { const w = waiter; waiter = null; w?.(); }, cfg.readerPort ?? cfg.port);
  const writer = await connect(cfg.doc);
  const ups = makeUpdates(7, cfg.warmup + cfg.updates, 1);
  const lat = [];
  for (let i = 0; i < ups.length; i++) {
    const got = new Promise((r) => { waiter = r; });
    const t = performance.now();
    writer.ws.send(A.wrap(writer, ups[i]));
    await got;
    if (i >= cfg.warmup) lat.push(performance.now() - t);
  }
  lat.sort((x, y) => x - y);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  out({ latency: true, n: lat.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat[lat.length - 1], mean: lat.reduce((s, x) => s + x, 0) / lat.length });
  closeAll([reader, writer]);
  process.exit(0);
}
