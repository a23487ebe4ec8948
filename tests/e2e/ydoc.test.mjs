// Document rooms end to end (issue 4): real y-phoenix-channel 0.1.1 + yjs + phoenix.js clients
// against the binary with two workers — concurrent editing converges, a late joiner gets
// everything, an offline client catches up both ways, and the exact frames of a join (spec §9.4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import {
  Y, prng, openClients, openClient, openSocket, DocClient, converged, randomEdit, RawPhx, ymsg,
  storedDoc, docCli, cinderDoc, poll, describeFrame, canon, docJSON,
  abandonAll, socketsOnBothWorkers,
} from './ydoc.mjs';

let server;
const open = [];
before(async () => { server = await startServer({ workers: 2 }); });
after(async () => {
  for (const c of open) await c.close().catch(() => {});
  abandonAll();
  const { code } = await server.stop();
  assert.equal(code, 0, 'server exits 0');
});

async function clients(room, n) {
  const cs = await openClients(server.url, room, n);
  open.push(...cs);
  return cs;
}

async function fresh(room) {
  const c = await openClient(server.url, room);
  open.push(c);
  return c;
}

test('several clients on both workers edit text, maps and arrays concurrently and converge', { timeout: 45000 }, async () => {
  const room = 'converge';
  const cs = await clients(room, 6);
  assert.equal(new Set(cs.map((c) => c.worker)).size, 2, 'clients on both workers');
  const rnd = prng(0xC1D3);
  // Rounds of concurrent edits: every client edits before any of them hears from the others.
  for (let round = 0; round < 40; round++) {
    for (const c of cs) {
      const n = 1 + rnd.int(4);
      for (let i = 0; i < n; i++) randomEdit(c, rnd);
    }
    if (round % 3 === 2) await new Promise((r) => setImmediate(r));
  }
  // A few edits bundled into one transaction each (one update with several structs + deletes).
  for (const c of cs) c.doc.transact(() => { for (let i = 0; i < 5; i++) randomEdit(c, rnd); });
  const content = await converged(cs);
  assert.ok(content.t.length > 0 && Object.keys(content.m).length > 0, 'edits of every kind happened');

  // A fresh client sees the same content.
  const late = await fresh(room);
  assert.deepEqual(late.json(), content, 'a fresh client sees the converged content');

  // The stored document (what the server persisted, read back with yjs) is the same once the
  // store has committed (batched: bounded poll).
  await poll(async () => canon(docJSON((await storedDoc(server.data, room)).doc))
    === canon(late.json()), { describe: () => 'stored document != clients' });
  if (await docCli()) {
    const exported = JSON.parse((await cinderDoc(['export', room, '--json', '--data', server.data])).toString());
    assert.deepEqual(exported, late.doc.toJSON(), 'cinder doc export --json equals the clients');
  }
});

test('a late joiner gets everything', { timeout: 45000 }, async () => {
  const room = 'late';
  const cs = await clients(room, 4);
  const rnd = prng(7);
  for (let i = 0; i < 60; i++) randomEdit(rnd.pick(cs), rnd);
  const content = await converged(cs);
  // Several late joiners, on both workers, each gets it in its step 2.
  const lates = await clients(room, 2);
  for (const l of lates) assert.deepEqual(l.json(), content);
  // And keeps up with what comes next.
  cs[0].doc.getText('t').insert(0, 'after-late:');
  const all = await converged([...cs, ...lates]);
  assert.ok(all.t.startsWith('after-late:'));
});

test('a client offline during edits catches up on reconnect, and its offline edits reach the others', { timeout: 45000 }, async () => {
  const room = 'offline';
  const cs = await clients(room, 4);
  const [off, ...on] = cs;
  const rnd = prng(99);
  for (let i = 0; i < 10; i++) randomEdit(rnd.pick(cs), rnd);
  await converged(cs);

  // Go offline: the socket closes, the channel errors, updates stop flowing both ways.
  const ch = off.provider.channel;
  const errored = new Promise((res) => ch.onError(res));
  off.socket.disconnect();
  await errored;
  assert.equal(off.provider.synced, false);

  for (let i = 0; i < 30; i++) randomEdit(rnd.pick(on), rnd);
  for (let i = 0; i < 8; i++) randomEdit(off, rnd); // offline edits
  off.doc.getMap('m').set('offline', 'was here');
  on[0].doc.getMap('m').set('online', 'too');
  const onlineContent = await converged(on);
  assert.equal(onlineContent.m.offline, undefined, 'offline edits did not leak while offline');

  // Back online: phoenix.js rejoins, the provider syncs (step 1 / step 2 both ways).
  off.socket.connect();
  await off.synced();
  const content = await converged(cs);
  assert.equal(content.m.offline, 'was here');
  assert.equal(content.m.online, 'too');
  const f = await fresh(room);
  assert.deepEqual(f.json(), content);
});

test('join wire order (spec §9.4): step 1 answered by step 2, step 1, awareness; no replies', { timeout: 45000 }, async () => {
  const room = 'wire-order';
  // Content first, from a real client, so the step 2 is not empty.
  const [writer] = await clients(room, 2);
  writer.doc.getText('t').insert(0, 'hello');
  writer.awareness.setLocalStateField('user', { name: 'w' });

  const raw = await RawPhx.open(server.url);
  try {
    const topic = `y_doc_room:${room}`;
    const reply = await raw.joinAs(topic);
    assert.deepEqual(reply.payload, { status: 'ok', response: {} });
    const afterJoin = raw.frames.length;

    const mine = new Y.Doc();
    const stepRef = raw.pushBinary(topic, 'yjs_sync', ymsg.step1(Y.encodeStateVector(mine)));
    // The awareness snapshot holds the writer's state once the server has it; wait for the
    // three answers.
    const third = await raw.next((f) => f.binary && f.kind === 'push' && f.payload[0] === 1, { from: afterJoin });
    const pushes = raw.frames.slice(afterJoin).filter((f) => f.binary && f.kind === 'push');
    assert.ok(pushes.length >= 3, pushes.map(describeFrame).join(' | '));
    const [a, b, c] = pushes;
    assert.equal(c, third);
    for (const f of [a, b, c]) {
      assert.equal(f.event, 'yjs');
      assert.equal(f.topic, topic);
      assert.equal(f.joinRef, raw.joinRefs[topic], 'pushes carry the join_ref');
    }
    assert.deepEqual([...a.payload.subarray(0, 2)], [0, 1], 'first: sync step 2');
    assert.deepEqual([...b.payload.subarray(0, 2)], [0, 0], 'second: sync step 1');
    assert.equal(c.payload[0], 1, 'third: awareness');
    // The step 2 carries the document: apply it with yjs.
    Y.applyUpdate(mine, syncBody(a.payload));
    assert.equal(mine.getText('t').toString(), 'hello');
    // The server's step 1 is its state vector: the writer's clock.
    assert.deepEqual(Y.decodeStateVector(syncBody(b.payload)), Y.decodeStateVector(Y.encodeStateVector(writer.doc)));

    // A yjs update push gets no phx_reply either; a broadcast from a later edit proves the
    // server processed everything before it.
    const u = new Y.Doc();
    u.getText('t').insert(0, 'x');
    const mark = raw.frames.length;
    const updRef = raw.pushBinary(topic, 'yjs', ymsg.update(Y.encodeStateAsUpdate(u)));
    await writer.waitFor((j) => j.t.includes('x'));
    writer.doc.getText('t').insert(0, '!');
    await raw.next((f) => f.kind === 'broadcast' && isUpdateFrom(f, writer.doc.clientID), { from: mark });
    assert.ok(!raw.frames.some((f) => f.event === 'phx_reply' && (f.ref === stepRef || f.ref === updRef)),
      'no phx_reply to yjs / yjs_sync');
    assert.ok(!raw.frames.slice(mark).some((f) => isUpdateFrom(f, u.clientID)),
      'no echo of its own update to the sender');
  } finally {
    raw.close();
  }
});

// The varbytes body of a y-protocols sync message (`00 0x varbytes`).
function syncBody(payload) {
  let len = 0; let mul = 1; let o = 2;
  for (;;) { const x = payload[o++]; len += (x & 0x7f) * mul; mul *= 128; if (!(x & 0x80)) break; }
  return Uint8Array.from(payload.subarray(o, o + len));
}

function isUpdateFrom(f, client) {
  if (!f.binary || f.event !== 'yjs' || f.payload[0] !== 0 || f.payload[1] !== 2) return false;
  return Y.decodeUpdate(syncBody(f.payload)).structs.some((s) => s.id.client === client);
}

test('--doc-prefixes: topics under several prefixes share one document per name', { timeout: 45000 }, async () => {
  const other = await startServer({ workers: 2, args: ['--doc-prefixes', 'y_doc_room:,notes:'] });
  const mine = [];
  try {
    const sockets = await socketsOnBothWorkers(other.url, 4);
    const topics = ['y_doc_room:shared', 'notes:shared', 'y_doc_room:shared', 'notes:shared'];
    const cs = sockets.map((s, i) => new DocClient(s, 'shared', { name: `${topics[i]}#${i}`, topic: topics[i] }));
    mine.push(...cs);
    await Promise.all(cs.map((c) => c.synced()));
    const rnd = prng(31);
    for (let i = 0; i < 40; i++) randomEdit(rnd.pick(cs), rnd);
    const content = await converged(cs);
    // A document under another name is another document.
    const apart = new DocClient(await openSocket(other.url), 'apart', { topic: 'notes:apart' });
    mine.push(apart);
    await apart.synced();
    assert.deepEqual(apart.json(), { t: '', m: {}, a: [] });
    const f = new DocClient(await openSocket(other.url), 'shared', { topic: 'notes:shared' });
    mine.push(f);
    await f.synced();
    assert.deepEqual(f.json(), content);
    // The stored document is keyed by the name after the prefix.
    await poll(async () => canon(docJSON((await storedDoc(other.data, 'shared')).doc)) === canon(content));
  } finally {
    for (const c of mine) await c.close().catch(() => {});
    assert.equal((await other.stop()).code, 0);
  }
});
