// Cluster, part 1 (issue 11): several cinder nodes share topics, Presence and the API through a
// real Redis (started here on a free loopback port). Real phoenix.js clients on every node:
// broadcasts reach every other subscriber on every node exactly once and in order; /api/broadcast,
// /api/topics and /api/presence are cluster-wide; phoenix.js Presence lists agree on all nodes
// through joins, leaves, a dropped socket, a node killed with -9 and restarted; Redis killed and
// restarted mid-traffic (local delivery never stops, cross-node delivery resumes); garbage on the
// bus is dropped and counted; activity:cluster sums the live nodes.
//
// Polling only where the server offers no event to await: /healthz (cluster membership),
// /metrics counters and the cluster-wide /api answers (nodes exchange them asynchronously).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Presence } from 'phoenix';
import { startServer, getJSON } from './server.mjs';
import { connectSocket, join, receive, next, collect, cast } from './clients.mjs';
import { untilAccepting, logLine, within } from './raw.mjs';
import {
  startCluster, publishRaw, subscribeRaw, redisCommand, eventually, metrics, gauge, healthz, untilClusterUp,
} from './cluster.mjs';

const ACTIVITY_INTERVAL = 200;

// ---- helpers ------------------------------------------------------------------------------------

// Sockets opened on a cluster, disconnected when the test (or the suite) ends, whatever happens
// (a failed assertion must not leave phoenix.js reconnecting to a live node).
function socketPool() {
  const sockets = new Set();
  return {
    async open(node, opts) {
      const s = await connectSocket(node.url, opts);
      sockets.add(s);
      return s;
    },
    // phoenix.js connection drop without a leave or a close frame, never reconnected.
    drop(s) {
      s.conn?.terminate?.();
      s.disconnect();
      sockets.delete(s);
    },
    close(s) { s.disconnect(); sockets.delete(s); },
    closeAll() { for (const s of sockets) s.disconnect(); sockets.clear(); },
  };
}

// A cluster of its own for one test: stopped (nodes, then Redis) when the test ends.
async function ownCluster(t, n, opts) {
  const cluster = await startCluster(n, opts);
  const pool = socketPool();
  t.after(async () => {
    pool.closeAll();
    await cluster.stop();
  });
  return { cluster, pool };
}

async function stopOk(cluster, pool) {
  pool.closeAll();
  for (const r of await cluster.stop()) assert.equal(r.code, 0, `${r.name} exits 0 on SIGTERM (${JSON.stringify(r)})`);
}

async function joinOk(socket, topic, params) {
  const { channel, reply } = await join(socket, topic, params);
  assert.equal(reply.status, 'ok', `join ${topic} ${JSON.stringify(params)}: ${JSON.stringify(reply)}`);
  return channel;
}

async function api(node, path, { method = 'GET', body } = {}) {
  const res = await fetch(`${node.http}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, body: json };
}

async function broadcastVia(node, topic, event, payload) {
  const res = await api(node, '/api/broadcast', { method: 'POST', body: { topic, event, payload } });
  assert.equal(res.status, 202, `POST /api/broadcast on ${node.name}: ${res.status} ${res.text}`);
  assert.deepEqual(res.body, { status: 'accepted' });
}

// Presence state with metas sorted by phx_ref and keys sorted (for comparisons).
function normState(state) {
  return Object.fromEntries(Object.entries(state).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, { metas }]) => [k, { metas: [...metas].sort((m, n) => m.phx_ref.localeCompare(n.phx_ref)) }]));
}

// phoenix.js Presence on a channel: every synced list (`seen`), and until(expected) where expected
// maps each key to the sorted node names of its metas ({alice: ['n1'], bob: ['n2', 'n3']}).
function watch(channel, label) {
  const presence = new Presence(channel);
  const seen = [];
  let waiters = [];
  const byNode = () => Object.fromEntries(
    presence.list((k, { metas }) => [k, metas.map((m) => m.node).sort()]).sort(([a], [b]) => a.localeCompare(b)));
  presence.onSync(() => {
    seen.push(byNode());
    waiters = waiters.filter((w) => !w());
  });
  return {
    label,
    presence,
    seen,
    byNode,
    state: () => normState(presence.state),
    until(expected, ms = 5000) {
      return new Promise((res, rej) => {
        let timer;
        const check = () => {
          if (!isDeepStrictEqual(byNode(), expected)) return false;
          clearTimeout(timer);
          res();
          return true;
        };
        if (check()) return;
        timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          rej(new Error(`${label}: presence list not ${JSON.stringify(expected)} within ${ms} ms; ` +
            `it is ${JSON.stringify(byNode())}`));
        }, ms);
        waiters.push(check);
      });
    },
  };
}

// Every watcher shows `expected`; then their states agree exactly (same keys, same phx_refs, same
// metas), and every meta carries phx_ref, online_at and node.
async function agree(watchers, expected, ms = 5000) {
  await Promise.all(watchers.map((w) => w.until(expected, ms)));
  const [first, ...rest] = watchers;
  for (const w of rest) assert.deepEqual(w.state(), first.state(), `${w.label} and ${first.label} agree`);
  for (const [key, { metas }] of Object.entries(first.state())) {
    for (const m of metas) {
      assert.match(m.phx_ref, /^[A-Za-z0-9_-]+$/, `${key}'s phx_ref`);
      assert.match(m.online_at, /^\d+$/, `${key}'s online_at`);
      assert.match(m.node, /^n\d$/, `${key}'s node`);
    }
  }
  const refs = Object.values(first.state()).flatMap(({ metas }) => metas.map((m) => m.phx_ref));
  assert.equal(new Set(refs).size, refs.length, 'phx_refs unique cluster-wide');
  return first.state();
}

// /api/presence on each node answers `state` (the agreed phoenix.js list).
async function apiPresenceIs(nodes, topic, state) {
  for (const node of nodes) {
    await eventually(async () => {
      const p = await api(node, `/api/presence?topic=${encodeURIComponent(topic)}`);
      assert.equal(p.status, 200);
      assert.equal(p.body.topic, topic);
      assert.deepEqual(normState(p.body.presences), state);
    }, { ms: 5000, what: `/api/presence on ${node.name}` });
  }
}

// Every `sample` of an activity channel, and the first one satisfying pred.
function sampleLog(channel) {
  const samples = [];
  let waiters = [];
  channel.on('sample', (s) => { samples.push(s); waiters = waiters.filter((w) => !w()); });
  return {
    samples,
    until(pred, ms, what) {
      return within(new Promise((res) => {
        const check = () => {
          const s = samples.find(pred);
          if (s) res(s);
          return !!s;
        };
        if (!check()) waiters.push(check);
      }), ms, `${what}; last samples: ${JSON.stringify(samples.slice(-2))}`);
    },
  };
}

// ---- one cluster of 3 nodes, shared by the tests that leave it as they found it ----------------

describe('a cluster of 3 nodes', () => {
  let cluster;
  const pool = socketPool();
  before(async () => {
    cluster = await startCluster(3, { args: ['--activity-interval', String(ACTIVITY_INTERVAL)] });
  });
  after(async () => {
    if (cluster) await stopOk(cluster, pool);
  });

  test('/healthz and /metrics name the node and show the cluster up', async () => {
    for (const node of cluster.nodes) {
      const h = await healthz(node);
      assert.equal(h.node, node.name);
      assert.deepEqual(h.cluster, { up: true, nodes: 3 });
      const m = await metrics(node);
      assert.equal(gauge(m, 'cinder_cluster_up'), 1, `${node.name} cinder_cluster_up`);
      assert.equal(gauge(m, 'cinder_cluster_nodes'), 3, `${node.name} cinder_cluster_nodes`);
      for (const name of ['cinder_cluster_messages_out_total', 'cinder_cluster_messages_in_total',
        'cinder_cluster_dropped_total', 'cinder_cluster_invalid_total']) {
        assert.equal(typeof m[name], 'number', `${node.name} /metrics has ${name}`);
        assert.ok(m[name] >= 0);
      }
      // Heartbeats have gone both ways by now.
      assert.ok(m.cinder_cluster_messages_out_total > 0, `${node.name} sent on the bus`);
      assert.ok(m.cinder_cluster_messages_in_total > 0, `${node.name} received from the bus`);
    }
  });

  test('a broadcast from n1 reaches n1, n2 and n3 exactly once and in order, never its sender', async () => {
    const [A, B, C] = cluster.nodes;
    const topic = 'room:order';
    const sender = await joinOk(await pool.open(A), topic, {});
    const receivers = [];
    for (const node of [A, B, C]) receivers.push(await joinOk(await pool.open(node), topic, {}));
    const names = ['n1 (another socket)', 'n2', 'n3'];
    const own = collect(sender, 'msg');
    const got = receivers.map((ch) => collect(ch, 'msg'));
    const ends = receivers.map((ch, k) => within(next(ch, 'end'), 10000, `'end' at the receiver on ${names[k]}`));

    const N = 200;
    for (let i = 0; i < N; i++) cast(sender, 'msg', { i, text: `é🔥"${'x'.repeat(i % 13)}` });
    cast(sender, 'end', {});
    await Promise.all(ends);
    // A fence from n3, through Redis to n1 and n2: a stray copy (an echo of n1's own messages, a
    // duplicate) published before it would have arrived before it.
    const fences = [sender, receivers[0], receivers[1]].map((ch, k) =>
      within(next(ch, 'fence'), 10000, `'fence' at ${['the sender', ...names][k]}`));
    cast(receivers[2], 'fence', {});
    await Promise.all(fences);

    const want = Array.from({ length: N }, (_, i) => i);
    got.forEach((msgs, k) => {
      assert.deepEqual(msgs.map((p) => p.i), want, `the receiver on ${names[k]}: all ${N}, once each, in order`);
      for (const p of msgs) assert.equal(p.text, `é🔥"${'x'.repeat(p.i % 13)}`, 'payload intact');
    });
    assert.deepEqual(own, [], 'the sender gets none of its own messages');
  });

  test('POST /api/broadcast on any node reaches subscribers on every node, once', async () => {
    const [A, B, C] = cluster.nodes;
    const topic = 'room:api-cluster';
    const where = [A, B, B, C];
    const channels = [];
    for (const node of where) channels.push(await joinOk(await pool.open(node), topic, {}));
    const payload = { text: 'héllo 🔥 "q" \\', n: [0, -1, 2.5, 1e300, null, true], nested: { a: [{}, []] } };
    for (const via of [B, A, C]) {
      const event = `headline_${via.name}`;
      const got = channels.map((ch) => collect(ch, event));
      const first = channels.map((ch, k) => within(next(ch, event), 10000, `${event} at a client on ${where[k].name}`));
      await broadcastVia(via, topic, event, payload);
      for (const p of await Promise.all(first)) assert.deepEqual(p, payload);
      // A second broadcast from the same node arrives after any duplicate of the first.
      const fences = channels.map((ch) => within(next(ch, 'fence'), 10000, 'fence'));
      await broadcastVia(via, topic, 'fence', {});
      await Promise.all(fences);
      got.forEach((g, k) => assert.equal(g.length, 1, `${event} once at the client on ${where[k].name}`));
    }
  });

  test('garbage on cinder:bus is dropped, logged and counted; the cluster keeps working', async () => {
    const { redis, nodes } = cluster;
    const before = await Promise.all(nodes.map(metrics));
    // A real bus message (a heartbeat, at the latest within a heartbeat period): the format's magic.
    const bus = await subscribeRaw(redis.port, 'cinder:bus');
    let real;
    try {
      real = await bus.next(() => true, { ms: 5000 });
    } finally {
      bus.close();
    }
    assert.equal(real.subarray(0, 4).toString('latin1'), 'CDR1', 'bus messages start with CDR1');

    const random = randomBytes(64);
    random[0] = 0xff; // never "CDR1"
    const garbage = [
      random,
      Buffer.from('hello'),
      Buffer.alloc(0),
      Buffer.from('CDR1'),                                   // the magic alone
      Buffer.concat([Buffer.from('CDR1'), Buffer.from([0xff, 0xff, 0xff])]),
      real.subarray(0, 5),                                   // a real message cut after its type
      real.subarray(0, real.length - 1),                     // ... or short of its last byte
      Buffer.concat([real, Buffer.from([0])]),               // ... or with a byte after its last field
      Buffer.concat([Buffer.from('CDR2'), real.subarray(4)]), // a foreign version
    ];
    const subs = await redisCommand(redis.port, 'PUBSUB', 'NUMSUB', 'cinder:bus');
    assert.ok(subs[1] >= nodes.length, `every node subscribes to cinder:bus (${subs[1]})`);
    for (const g of garbage) {
      assert.ok(await publishRaw(redis.port, 'cinder:bus', g) >= nodes.length, 'garbage reached every node');
    }
    for (const node of nodes) await logLine(node, /cluster: invalid bus message/, 5000);
    await Promise.all(nodes.map((node, k) => eventually(async () => {
      const m = await metrics(node);
      assert.ok(m.cinder_cluster_invalid_total - before[k].cinder_cluster_invalid_total >= garbage.length,
        `${node.name} cinder_cluster_invalid_total ${before[k].cinder_cluster_invalid_total} -> ${m.cinder_cluster_invalid_total}`);
    }, { ms: 5000, what: `${node.name} counted the invalid bus messages` })));

    // Still serving, still one cluster, and cross-node broadcasts still work.
    await untilClusterUp(nodes, 3, 5000);
    const topic = 'room:after-garbage';
    const chans = [];
    for (const node of nodes) chans.push(await joinOk(await pool.open(node), topic, {}));
    const got = [chans[0], chans[1]].map((ch) => within(next(ch, 'still'), 10000, 'a broadcast after the garbage'));
    cast(chans[2], 'still', { ok: true });
    for (const p of await Promise.all(got)) assert.deepEqual(p, { ok: true });
  });

  test('documents are refused in a cluster over SQLite, with a reason; room topics still work', async () => {
    const [A, B] = cluster.nodes;
    const socket = await pool.open(A);
    const { channel, reply } = await join(socket, 'y_doc_room:split', {});
    assert.equal(reply.status, 'error');
    assert.match(reply.response.reason, /cluster over the SQLite store/);
    channel.leave();
    // The node warned once at startup and logged the refusal; the socket serves other topics.
    assert.match(A.log(), /y_doc_room joins are refused/);
    await logLine(A, /join of 'y_doc_room:split' refused by y_doc_room: documents are not available/);
    const ch = await joinOk(socket, 'room:after-doc', {});
    const other = await joinOk(await pool.open(B), 'room:after-doc', {});
    const got = within(next(other, 'hi'), 10000, "'hi' on n2");
    cast(ch, 'hi', { ok: true });
    assert.deepEqual(await got, { ok: true });
  });

  test('/api/topics is cluster-wide; activity:cluster sums the live nodes; activity:server names its node', async () => {
    const [A, B, C] = cluster.nodes;
    const layout = [[A, 'room:t6-a'], [B, 'room:t6-a'], [B, 'room:t6-a'], [C, 'room:t6-a'], [C, 'room:t6-b']];
    const opened = [];
    for (const [node, topic] of layout) {
      const s = await pool.open(node);
      opened.push(s);
      await joinOk(s, topic, {});
    }
    const want = [{ topic: 'room:t6-a', subscribers: 4 }, { topic: 'room:t6-b', subscribers: 1 }];
    for (const node of cluster.nodes) {
      await eventually(async () => {
        const r = await api(node, '/api/topics');
        assert.equal(r.status, 200);
        assert.deepEqual(r.body.topics.filter((x) => x.topic.startsWith('room:t6-')), want);
      }, { ms: 5000, what: `/api/topics on ${node.name} sums over the nodes` });
    }

    const watcher = await pool.open(A);
    const cl = watcher.channel('activity:cluster');
    const clLog = sampleLog(cl);
    const joined = await receive(cl.join());
    assert.equal(joined.status, 'ok', JSON.stringify(joined));
    const K = opened.length + 1;
    const s = await clLog.until((x) => x.nodes === 3 && x.connections >= K, 10000,
      `an activity:cluster sample with nodes 3 and connections >= ${K}`);
    assert.equal(typeof s.t, 'number');

    const srv = (await pool.open(B)).channel('activity:server');
    const srvLog = sampleLog(srv);
    assert.equal((await receive(srv.join())).status, 'ok');
    const one = await srvLog.until(() => true, 5000, 'an activity:server sample');
    assert.equal(one.node, B.name, 'activity:server samples carry the node name');

    // The topics follow leaves and closed sockets.
    for (const x of opened) pool.close(x);
    for (const node of cluster.nodes) {
      await eventually(async () => {
        const r = await api(node, '/api/topics');
        assert.deepEqual(r.body.topics.filter((x) => x.topic.startsWith('room:t6-')), []);
      }, { ms: 5000, what: `/api/topics on ${node.name} after the sockets closed` });
    }
  });
});

test('without --redis: a single node, /healthz cluster null', async (t) => {
  const server = await startServer({ workers: 1 });
  t.after(() => server.stop());
  await untilAccepting(server.port);
  const h = (await getJSON(`${server.http}/healthz`)).body;
  assert.equal(h.cluster, null);
  assert.equal((await server.stop()).code, 0);
});

// ---- Presence across nodes, a node killed with -9 and restarted ---------------------------------

test('Presence lists agree on all nodes through joins, leaves, a dropped socket, kill -9 and a restart', async (t) => {
  const { cluster, pool } = await ownCluster(t, 3);
  const [A, B, C] = cluster.nodes;
  const topic = 'room:cluster-presence';
  const listener = async (node) => {
    const ch = (await pool.open(node)).channel(topic, {});
    const w = watch(ch, `the listener on ${node.name}`);
    assert.equal((await receive(ch.join())).status, 'ok');
    return w;
  };
  const wA = await listener(A);
  const wB = await listener(B);
  const wC = await listener(C);
  const member = async (node, user) => {
    const s = await pool.open(node);
    return { socket: s, channel: await joinOk(s, topic, { user }) };
  };

  const alice = await member(A, 'alice');
  const bobB = await member(B, 'bob');
  await member(B, 'erin');
  await agree([wA, wB, wC], { alice: ['n1'], bob: ['n2'], erin: ['n2'] });

  // The same key on two nodes: one key, two metas.
  const bobC = await member(C, 'bob');
  const carol = await member(C, 'carol');
  const dave = await member(C, 'dave');
  let state = await agree([wA, wB, wC], { alice: ['n1'], bob: ['n2', 'n3'], carol: ['n3'], dave: ['n3'], erin: ['n2'] });
  await apiPresenceIs([A, B, C], topic, state);

  assert.equal((await receive(carol.channel.leave())).status, 'ok');
  await agree([wA, wB, wC], { alice: ['n1'], bob: ['n2', 'n3'], dave: ['n3'], erin: ['n2'] });

  pool.drop(bobB.socket);
  state = await agree([wA, wB, wC], { alice: ['n1'], bob: ['n3'], dave: ['n3'], erin: ['n2'] });
  await apiPresenceIs([A, B, C], topic, state);

  // n3 killed with -9: its members (bob's second meta, dave) leave every other node's list.
  const killedAt = Date.now();
  await cluster.killNode(2);
  for (const s of [bobC.socket, carol.socket, dave.socket]) pool.close(s);
  const lastOfC = wC.byNode();
  assert.ok(lastOfC.dave, 'n3\'s listener had dave before the kill');
  state = await agree([wA, wB], { alice: ['n1'], erin: ['n2'] }, 15000);
  const mark = [wA.seen.length, wB.seen.length];
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < 15000, `n3's members gone within 15 s (${tookMs} ms)`);
  t.diagnostic(`n3's members gone from n1 and n2 ${tookMs} ms after kill -9`);
  await apiPresenceIs([A, B], topic, state);
  await untilClusterUp([A, B], 2, 15000);

  // n3 restarted (same name, same port): its old members do not come back, anywhere.
  const C2 = await cluster.restartNode(2);
  await untilClusterUp([A, B, C2], 3, 15000);
  const wC2 = await listener(C2);
  await member(C2, 'frank');
  state = await agree([wA, wB, wC2], { alice: ['n1'], erin: ['n2'], frank: ['n3'] });
  await apiPresenceIs([A, B, C2], topic, state);
  const stale = (list) => list.dave !== undefined || list.bob !== undefined;
  assert.deepEqual(wA.seen.slice(mark[0]).filter(stale), [], 'n1 never showed n3\'s old members again');
  assert.deepEqual(wB.seen.slice(mark[1]).filter(stale), [], 'n2 never showed n3\'s old members again');
  assert.deepEqual(wC2.seen.filter(stale), [], 'the restarted n3 never showed its old members');
  assert.ok(alice.channel);
  await stopOk(cluster, pool);
});

// ---- Redis killed and restarted mid-traffic -----------------------------------------------------

test('Redis killed and restarted mid-traffic: local delivery never stops, cross-node delivery resumes', async (t) => {
  const { cluster, pool } = await ownCluster(t, 2);
  const { redis } = cluster;
  const [A, B] = cluster.nodes;
  const topic = 'room:redis-faults';
  const sender = await joinOk(await pool.open(A), topic, {});
  const localCh = (await pool.open(A)).channel(topic, { user: 'alice' });
  const remoteCh = (await pool.open(B)).channel(topic, { user: 'bob' });
  const wA = watch(localCh, 'alice on n1');
  const wB = watch(remoteCh, 'bob on n2');
  assert.equal((await receive(localCh.join())).status, 'ok');
  assert.equal((await receive(remoteCh.join())).status, 'ok');
  await agree([wA, wB], { alice: ['n1'], bob: ['n2'] });

  // Ticks from n1, every 20 ms: each arrival recorded with its local time.
  const local = [];
  const remote = [];
  let waiters = [];
  const wake = () => { waiters = waiters.filter((w) => !w()); };
  localCh.on('tick', (p) => { local.push({ ...p, at: Date.now() }); wake(); });
  remoteCh.on('tick', (p) => { remote.push({ ...p, at: Date.now() }); wake(); });
  const arrival = (list, pred, ms, what) => within(new Promise((res) => {
    const check = () => { const x = list.find(pred); if (x) res(x); return !!x; };
    if (!check()) waiters.push(check);
  }), ms, what);
  let seq = 0;
  const timer = setInterval(() => cast(sender, 'tick', { i: seq++, sent: Date.now() }), 20);
  t.after(() => clearInterval(timer));

  await arrival(remote, () => true, 10000, 'a first tick across nodes');
  await arrival(local, () => true, 10000, 'a first tick on the same node');

  // Redis dies: cluster_up goes 0 on both nodes.
  const killedAt = Date.now();
  await redis.kill9();
  await Promise.all([A, B].map((node) => eventually(async () => {
    assert.equal(gauge(await metrics(node), 'cinder_cluster_up'), 0);
    assert.equal((await healthz(node)).cluster.up, false);
  }, { ms: 10000, what: `${node.name} reports the cluster down` })));

  // Local delivery goes on while Redis is down, past the cluster timeout (3 s: peers are declared
  // down, so presence must be re-announced later).
  await arrival(local, (x) => x.sent >= killedAt + 3500, 15000, 'local ticks 3.5 s into the outage');
  const apiLocal = within(next(localCh, 'local_api'), 5000, '/api/broadcast delivered locally while Redis is down');
  await broadcastVia(A, topic, 'local_api', { down: true });
  assert.deepEqual(await apiLocal, { down: true });

  // Redis back on the same port: cross-node delivery resumes within 10 s, cluster_up goes 1.
  await redis.restart();
  const backAt = Date.now();
  const iUp = seq;
  const resumed = await arrival(remote, (x) => x.i >= iUp, 10000, 'cross-node ticks within 10 s of Redis back');
  t.diagnostic(`cross-node delivery resumed ${resumed.at - backAt} ms after Redis came back`);
  await Promise.all([A, B].map((node) => eventually(async () => {
    assert.equal(gauge(await metrics(node), 'cinder_cluster_up'), 1);
  }, { ms: 10000, what: `${node.name} cinder_cluster_up back to 1` })));
  await untilClusterUp([A, B], 2, 10000);
  // And the other way.
  const back = within(next(sender, 'back'), 10000, 'a broadcast from n2 to n1 after the restart');
  cast(remoteCh, 'back', { from: 'n2' });
  assert.deepEqual(await back, { from: 'n2' });
  // Presence re-announced: both nodes list both members again, with the same metas.
  await agree([wA, wB], { alice: ['n1'], bob: ['n2'] }, 10000);

  clearInterval(timer);
  const fence = within(next(localCh, 'fence'), 5000, 'fence');
  cast(sender, 'fence', {});
  await fence;
  // Local: every tick, once, in order, with no long silence. Remote: in order, no duplicates
  // (ticks published while Redis was down may be lost).
  assert.deepEqual(local.map((x) => x.i), Array.from({ length: seq }, (_, i) => i), 'every tick delivered locally once, in order');
  const gaps = local.slice(1).map((x, k) => x.at - local[k].at);
  assert.ok(Math.max(...gaps) < 2000, `local delivery never paused 2 s (longest gap ${Math.max(...gaps)} ms)`);
  for (let k = 1; k < remote.length; k++) {
    assert.ok(remote[k].i > remote[k - 1].i, `remote ticks in order, no duplicate: ${remote[k - 1].i} then ${remote[k].i}`);
  }
  await stopOk(cluster, pool);
});
