// Awareness in document rooms (spec §9.5–9.6, yjs-formats §8): states relay between real
// y-phoenix-channel 0.1.1 providers; when a client drops (abruptly or cleanly) its state disappears
// for the others — removal relayed as the same clock with a null state, no ghost cursors; the
// 0.1.1 provider's awareness echoes (unchanged clocks) are not broadcast again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { Y, openClients, openClient, RawPhx, ymsg, decodeAwarenessMessage, abandonAll,
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

// Awareness entries of every awareness frame (push or broadcast) a raw client received.
function awarenessFrames(raw, from = 0) {
  return raw.frames.slice(from)
    .filter((f) => f.binary && f.event === 'yjs' && f.payload[0] === 1)
    .map((f) => decodeAwarenessMessage(f.payload));
}

test('awareness relays, echoes are not rebroadcast, and a dropped client leaves no ghost', { timeout: 45000 }, async () => {
  const room = 'aw';
  const topic = `y_doc_room:${room}`;
  const watcher = await RawPhx.open(server.url); // counts frames
  try {
    await watcher.joinAs(topic);
    const [a, b] = await openClients(server.url, room, 2);
    open.push(a, b);
    assert.notEqual(a.worker, b.worker, 'A and B on different workers');
    const A = a.doc.clientID;
    const B = b.doc.clientID;

    // B marks the moment right after its provider echoed A's state back to the server: B's own
    // change then goes out after the echo, through the same channel, so once the watcher has
    // seen B's marker, any rebroadcast of the echo would have reached it (within the same 50 ms
    // window, or before it).
    b.awareness.on('update', ({ added, updated }, origin) => {
      if (origin !== 'local' && [...added, ...updated].includes(A) && !b.awareness.getLocalState().marker) {
        setImmediate(() => b.awareness.setLocalStateField('marker', 1));
      }
    });

    const bSeesA = b.awarenessChange(({ added, updated }) => [...added, ...updated].includes(A));
    a.awareness.setLocalStateField('user', { name: 'a' });
    await bSeesA;
    assert.deepEqual(b.awareness.getStates().get(A), { user: { name: 'a' } });
    await watcher.next((f) => f.binary && f.payload[0] === 1
      && decodeAwarenessMessage(f.payload).some((e) => e.client === B && e.state?.marker === 1));
    await a.awarenessStates((st) => st.get(B)?.marker === 1);
    const entriesA = awarenessFrames(watcher).flat().filter((e) => e.client === A);
    assert.deepEqual(entriesA, [{ client: A, clock: 1, state: { user: { name: 'a' } } }],
      'A\'s state went out once; B\'s echo of it (same clock) was not broadcast');

    // A drops without a word (no leave, no awareness null): the server removes the states that
    // A's channel announced and relays the removal, same clock + null (spec §8.4).
    const clockA = a.awareness.meta.get(A).clock;
    const mark = watcher.frames.length;
    const bLosesA = b.awarenessChange(({ removed }) => removed.includes(A));
    a.socket.conn.terminate();
    await bLosesA;
    assert.equal(b.awareness.getStates().has(A), false, 'no ghost of A at B');
    await watcher.next((f) => f.binary && f.payload[0] === 1
      && decodeAwarenessMessage(f.payload).some((e) => e.client === A), { from: mark });
    const removal = awarenessFrames(watcher, mark).flat().filter((e) => e.client === A);
    assert.deepEqual(removal[0], { client: A, clock: clockA, state: null }, 'removal = same clock, null state');

    // The clean path: C joins, announces itself, then destroys its provider.
    const c = await openClient(server.url, room, 'c');
    const C = c.doc.clientID;
    const bSeesC = b.awarenessChange(({ added, updated }) => [...added, ...updated].includes(C));
    c.awareness.setLocalStateField('user', { name: 'c' });
    await bSeesC;
    const bLosesC = b.awarenessChange(({ removed }) => removed.includes(C));
    await c.close();
    await bLosesC;
    assert.equal(b.awareness.getStates().has(C), false, 'no ghost of C at B');

    // Whoever joins now gets an awareness snapshot without A or C.
    const probe = await RawPhx.open(server.url);
    try {
      await probe.joinAs(topic);
      probe.pushBinary(topic, 'yjs_sync', ymsg.step1(Y.encodeStateVector(new Y.Doc())));
      const snap = await probe.next((f) => f.binary && f.kind === 'push' && f.payload[0] === 1);
      const states = decodeAwarenessMessage(snap.payload);
      assert.deepEqual(states.map((e) => e.client), [B], 'snapshot holds B only');
      assert.deepEqual(states[0].state, { marker: 1 });
    } finally {
      probe.close();
    }
  } finally {
    watcher.close();
  }
});

test('a client that leaves and comes back is shown again, then removed again', { timeout: 45000 }, async () => {
  const room = 'aw-rejoin';
  const [a, b] = await openClients(server.url, room, 2);
  open.push(a, b);
  const A = a.doc.clientID;
  const seen = b.awarenessChange(({ added, updated }) => [...added, ...updated].includes(A));
  a.awareness.setLocalStateField('user', { name: 'a' });
  await seen;
  // The socket goes away and comes back: phoenix.js rejoins, the provider syncs and re-announces
  // its state at its current clock — which the server removed at that same clock, so the state
  // comes back only with a newer clock (y-protocols: a removed client needs clock + 1).
  const gone = b.awarenessChange(({ removed }) => removed.includes(A));
  a.socket.disconnect();
  await gone;
  a.socket.connect();
  await a.synced();
  const back = b.awarenessChange(({ added, updated }) => [...added, ...updated].includes(A));
  a.awareness.setLocalStateField('user', { name: 'a2' });
  await back;
  assert.deepEqual(b.awareness.getStates().get(A), { user: { name: 'a2' } });
  const goneAgain = b.awarenessChange(({ removed }) => removed.includes(A));
  a.socket.conn.terminate();
  await goneAgain;
  assert.equal(b.awareness.getStates().has(A), false);
});

test('query awareness (03) is answered with one awareness push of all states (spec §9.5)', { timeout: 45000 }, async () => {
  const room = 'aw-query';
  const topic = `y_doc_room:${room}`;
  const [a, b] = await openClients(server.url, room, 2);
  open.push(a, b);
  a.awareness.setLocalStateField('user', { name: 'a' });
  b.awareness.setLocalStateField('user', { name: 'b' });
  await a.awarenessStates((st) => st.get(b.doc.clientID)?.user?.name === 'b');
  await b.awarenessStates((st) => st.get(a.doc.clientID)?.user?.name === 'a');
  const raw = await RawPhx.open(server.url);
  try {
    await raw.joinAs(topic);
    const from = raw.frames.length;
    raw.pushBinary(topic, 'yjs', Uint8Array.from([3]));
    const push = await raw.next((f) => f.binary && f.kind === 'push', { from });
    assert.equal(push.payload[0], 1, 'an awareness message');
    const states = decodeAwarenessMessage(push.payload);
    assert.deepEqual(new Map(states.map((e) => [e.client, e.state])), new Map([
      [a.doc.clientID, { user: { name: 'a' } }], [b.doc.clientID, { user: { name: 'b' } }],
    ]));
    assert.ok(!raw.frames.some((f) => f.event === 'phx_reply' && f.ref !== raw.joinRefs[topic]), 'no reply');
  } finally {
    raw.close();
  }
});
