// Cluster, part 2 (issue 12): documents across nodes. A real Redis and a throwaway PostgreSQL
// (both started here on free loopback ports), 3 cinder nodes with `--store postgresql://...`, and
// real y-phoenix-channel + yjs clients on every node:
//   - concurrent random edits converge on all nodes and in the store; late joiners on any node
//     get everything; exactly one node owns (and applies to) a document;
//   - two nodes racing to own a new document: one owner, never two;
//   - the owner killed with -9 mid-editing: the survivors keep editing and converge, a new client
//     sees every edit they saw, and after a full cluster restart the store holds them all;
//   - PostgreSQL restarted mid-traffic: no update lost;
//   - a node stopped with SIGTERM hands its documents over at once.
// Polling only where nothing can be awaited: the store (another process writes it) and /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, eventually, metrics } from './cluster.mjs';
import { startPostgres } from './pg.mjs';
import {
  Y, DocClient, openSocket, converged, randomEdit, prng, canon, docJSON, abandonAll,
} from './ydoc.mjs';

// One cluster over one database per test; everything stopped when the test ends.
async function docCluster(t, n = 3) {
  const pg = await startPostgres();
  let cluster;
  try {
    cluster = await startCluster(n, { args: ['--store', pg.url, '--doc-unload', '2000'] });
  } catch (e) {
    await pg.stop();
    throw e;
  }
  t.after(async () => {
    abandonAll();
    try {
      await cluster.stop();
    } finally {
      await pg.stop();
    }
  });
  return { pg, cluster };
}

async function client(node, room, name) {
  const c = new DocClient(await openSocket(node.url), room, { name });
  await c.synced(20000);
  return c;
}

// The document as stored: every row applied to a fresh Y.Doc.
async function storedJSON(pg, room) {
  const doc = new Y.Doc();
  for (const r of await pg.storedRows(room)) Y.applyUpdate(doc, r.bytes);
  const j = docJSON(doc);
  doc.destroy();
  return j;
}

// Resolves once the store holds exactly `want` (the store is written by the owner's storage thread).
function storeHolds(pg, room, want, ms = 15000) {
  return eventually(async () => {
    assert.equal(canon(await storedJSON(pg, room)), canon(want));
  }, { ms, what: `the store holds ${room}` });
}

// The nodes whose log says they own the document (each says so when it takes the lease).
function owners(nodes, room) {
  const re = new RegExp(`doc ${room}: owned by this node`);
  return nodes.filter((n) => re.test(n.log()));
}

async function updatesApplied(node) {
  const m = await metrics(node);
  return m.cinder_document_updates_total ?? 0;
}

async function edits(clients, rnd, n, gapMs = 3) {
  for (let i = 0; i < n; i++) {
    randomEdit(clients[rnd.int(clients.length)], rnd);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
}

test('random edits on 3 nodes converge everywhere and in the store; one owner applies them', async (t) => {
  const { pg, cluster } = await docCluster(t);
  const room = 'c-converge';
  const clients = [];
  for (const [i, node] of cluster.nodes.entries())
    for (let k = 0; k < 2; k++) clients.push(await client(node, room, `c${k}@${node.name}#${i}`));
  const rnd = prng(11);
  await edits(clients, rnd, 150);
  const final = await converged(clients, 30000);
  assert.ok(JSON.stringify(final).length > 20, 'the edits made a document');

  // One node took the lease and applied every update; the others only relayed.
  const own = owners(cluster.nodes, room);
  assert.equal(own.length, 1, `exactly one owner: ${own.map((n) => n.name)}`);
  const applied = await Promise.all(cluster.nodes.map(updatesApplied));
  cluster.nodes.forEach((node, i) => {
    if (node === own[0]) assert.ok(applied[i] > 0, `${node.name} (the owner) applied the updates`);
    else assert.equal(applied[i], 0, `${node.name} applied none`);
  });

  // Late joiners on every node get everything.
  const late = [];
  for (const node of cluster.nodes) late.push(await client(node, room, `late@${node.name}`));
  const all = await converged([...clients, ...late], 20000);
  assert.equal(canon(all), canon(final));
  await storeHolds(pg, room, final);
});

test('two nodes racing to own a new document: one owner, never two', async (t) => {
  const { pg, cluster } = await docCluster(t, 2);
  const [A, B] = cluster.nodes;
  const rnd = prng(5);
  for (let r = 0; r < 4; r++) {
    const room = `c-race-${r}`;
    // Both nodes get a first join for the document at the same moment: both ask for its lease.
    const [sa, sb] = await Promise.all([openSocket(A.url), openSocket(B.url)]);
    const ca = new DocClient(sa, room, { name: `a@${A.name}` });
    const cb = new DocClient(sb, room, { name: `b@${B.name}` });
    await Promise.all([ca.synced(20000), cb.synced(20000)]);
    await edits([ca, cb], rnd, 40);
    const final = await converged([ca, cb], 20000);
    const own = owners(cluster.nodes, room);
    assert.equal(own.length, 1, `${room}: exactly one owner (${own.map((n) => n.name)})`);
    const other = own[0] === A ? B : A;
    assert.match(other.log(), new RegExp(`doc ${room}: owned by node [0-9a-f]{16}`),
      `${other.name} relays ${room} to the owner`);
    await storeHolds(pg, room, final);
  }
});

test('the owner killed with -9 mid-editing: survivors converge, nothing they saw is lost', async (t) => {
  const { pg, cluster } = await docCluster(t);
  const room = 'c-failover';
  const clients = [];
  for (const node of cluster.nodes)
    for (let k = 0; k < 2; k++) clients.push(await client(node, room, `c${k}@${node.name}`));
  const rnd = prng(23);
  await edits(clients, rnd, 60);
  await converged(clients, 20000);

  const [owner] = owners(cluster.nodes, room);
  assert.ok(owner, 'an owner');
  const ownerIndex = cluster.nodes.indexOf(owner);
  const survivors = clients.filter((c) => !c.name.endsWith(`@${owner.name}`));
  const lost = clients.filter((c) => c.name.endsWith(`@${owner.name}`));
  // Edits in flight while the owner dies, and right after.
  const during = edits(survivors, rnd, 40, 10);
  await cluster.killNode(ownerIndex);
  for (const c of lost) c.abandon();
  await during;
  await edits(survivors, rnd, 30, 20);
  const seen = await converged(survivors, 30000);

  // A new client on a surviving node gets every edit any survivor saw.
  const alive = cluster.nodes.filter((n) => n !== owner);
  const fresh = await client(alive[0], room, `fresh@${alive[0].name}`);
  const after = await converged([...survivors, fresh], 20000);
  assert.equal(canon(after), canon(seen));
  const newOwners = owners(alive, room);
  assert.equal(newOwners.length, 1, `one surviving node took the document over (${newOwners.map((n) => n.name)})`);

  // The whole cluster restarts: the document comes back from PostgreSQL with every edit.
  await storeHolds(pg, room, after, 20000);
  for (const c of [...survivors, fresh]) c.abandon();
  await cluster.stop();
  const again = await startCluster(2, { args: ['--store', pg.url] });
  t.after(() => again.stop());
  const reader = await client(again.nodes[1], room, 'reader');
  assert.equal(canon(reader.json()), canon(after));
  reader.abandon();
});

test('PostgreSQL restarted mid-traffic: no update is lost', async (t) => {
  const { pg, cluster } = await docCluster(t, 2);
  const room = 'c-pg-restart';
  const clients = [];
  for (const node of cluster.nodes) clients.push(await client(node, room, `c@${node.name}`));
  const rnd = prng(31);
  await edits(clients, rnd, 30);
  await converged(clients, 20000);
  await pg.stop();
  await edits(clients, rnd, 20, 20);
  await pg.restart();
  await edits(clients, rnd, 20, 20);
  const final = await converged(clients, 40000);
  // Whatever the owner could not store while PostgreSQL was down came back from the clients
  // (a failed write makes the owner reload and resync them): the store ends up with everything.
  await storeHolds(pg, room, final, 40000);
  const fresh = await client(cluster.nodes[0], room, 'fresh');
  assert.equal(canon(fresh.json()), canon(final));
});

test('a node stopped with SIGTERM hands its documents over at once', async (t) => {
  const { cluster } = await docCluster(t, 2);
  const room = 'c-handoff';
  const clients = [];
  for (const node of cluster.nodes) clients.push(await client(node, room, `c@${node.name}`));
  const rnd = prng(41);
  await edits(clients, rnd, 30);
  const before = await converged(clients, 20000);
  const [owner] = owners(cluster.nodes, room);
  const other = cluster.nodes.find((n) => n !== owner);
  const keep = clients.find((c) => c.name.endsWith(`@${other.name}`));
  for (const c of clients) if (c !== keep) c.abandon();
  const t0 = Date.now();
  await owner.stop(); // SIGTERM: final commit, leases given back, goodbye
  cluster.all = cluster.all.filter((n) => n !== owner);
  // The other node takes the document over on the goodbye, well before the 5 s lease runs out.
  await eventually(() => assert.match(other.log(), new RegExp(`doc ${room}: owned by this node`)),
    { ms: 10000, what: `${other.name} owns ${room}` });
  const took = Date.now() - t0;
  assert.ok(took < 4000, `taken over ${took} ms after the stop (the lease would take 5 s)`);
  const fresh = await client(other, room, 'fresh');
  assert.equal(canon(fresh.json()), canon(before));
  randomEdit(keep, rnd);
  await converged([keep, fresh], 20000);
});
