// Document and awareness size limits (issue 9): an update that would grow a document past
// --max-doc-bytes is refused (the sender gets `yjs_error` {"reason":"document too large"}, the
// other clients and the store never see it, even after a restart); an awareness update that
// would pass --max-awareness-states or carries a state over --max-awareness-bytes is refused
// whole, the states already there unchanged. Every refusal is one log line. Real y-phoenix-channel
// providers; no sleeps: each check waits for an event that follows the refusal at the owner.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClients, openClient, storedDoc, until, serversPerTest } from './ydoc.mjs';

const start = serversPerTest(afterEach);

// Resolves with the payload of the next `yjs_error` the client's channel receives.
function nextYjsError(client, timeoutMs = 10000) {
  let got = null;
  return until(() => got, (f) => {
    const ch = client.provider.channel;
    const ref = ch.on('yjs_error', (p) => { if (!got) { got = p; f(); } });
    return () => ch.off('yjs_error', ref);
  }, { timeoutMs, describe: () => `${client.name}: no yjs_error` });
}

function count(log, re) {
  return (log.match(new RegExp(re.source, 'g')) || []).length;
}

test('--max-doc-bytes: the update that would pass it is refused; nothing of it reaches others or the store', { timeout: 60000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'cinder-limits-'));
  try {
    const room = 'lim-size';
    let server = await start({ workers: 2, dataDir: data, args: ['--max-doc-bytes', '200000'] });
    const [a, b, c] = await openClients(server.url, room, 3);
    a.name = 'a'; b.name = 'b'; c.name = 'c';

    a.doc.getText('t').insert(0, 'a'.repeat(150000)); // ~150 KB: within the cap
    await b.waitFor((j) => j.t.length === 150000);

    const refused = nextYjsError(a);
    a.doc.getText('t').insert(0, 'b'.repeat(60000)); // 150 KB + 60 KB > 200 KB
    assert.deepEqual(await refused, { reason: 'document too large' });
    await server.waitForLog(/doc lim-size: update from channel \d+ refused: document too large \((about )?\d+ bytes \+ update \d+ > --max-doc-bytes 200000\)/);

    // Another client's small edit, made after the refusal, still goes through; b sees it and, as
    // the owner relays in order, would have seen the refused update before it.
    c.doc.getMap('m').set('after', 1);
    await b.waitFor((j) => j.m.after === 1);
    assert.equal(b.doc.getText('t').toString(), 'a'.repeat(150000), 'b never got the refused update');
    assert.equal(c.doc.getText('t').length, 150000);
    assert.equal(count(server.log(), /document too large/), 1, 'one log line');
    assert.ok(!server.log().includes('b'.repeat(100)), 'the payload is not logged');

    for (const x of [a, b, c]) await x.close();
    assert.equal((await server.stop({ keepData: true })).code, 0);

    // The store has nothing of it: read directly and through a restarted server.
    const stored = await storedDoc(data, room);
    assert.equal(stored.doc.getText('t').toString(), 'a'.repeat(150000));
    assert.equal(stored.doc.getMap('m').get('after'), 1);
    server = await start({ workers: 2, dataDir: data, args: ['--max-doc-bytes', '200000'] });
    const fresh = await openClient(server.url, room);
    assert.equal(fresh.doc.getText('t').toString(), 'a'.repeat(150000));
    // Within the cap the document still takes edits.
    const d = await openClient(server.url, room, 'd');
    d.doc.getText('t').insert(0, 'ok');
    await fresh.waitFor((j) => j.t.startsWith('ok'));
    await d.close();
    await fresh.close();
    assert.equal((await server.stop({ keepData: true })).code, 0);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('awareness: states past --max-awareness-states and a 100 KB state are refused whole', { timeout: 60000 }, async () => {
  const server = await start({ workers: 2, args: ['--max-awareness-states', '3'] });
  const room = 'lim-aw';
  // Three providers with a state each (a provider's initial {} has clock 0, which no peer
  // applies: a client counts from its first setLocalState).
  const [a, b, c] = await openClients(server.url, room, 3);
  a.name = 'a'; b.name = 'b'; c.name = 'c';
  a.awareness.setLocalStateField('user', { name: 'a' });
  b.awareness.setLocalStateField('user', { name: 'b' });
  c.awareness.setLocalStateField('user', { name: 'c' });
  const ids = [a, b, c].map((x) => x.doc.clientID);
  await a.awarenessStates((st) => st.get(ids[1])?.user?.name === 'b' && st.get(ids[2])?.user?.name === 'c');

  // A fourth client: its state would be the fourth of the document.
  const d = await openClient(server.url, room, 'd');
  const refused = nextYjsError(d);
  d.awareness.setLocalStateField('user', { name: 'd' });
  assert.deepEqual(await refused, { reason: 'too many awareness states' });
  await server.waitForLog(/doc lim-aw: awareness from channel \d+ refused: too many awareness states/);
  // d still sees the others (the snapshot of its sync), and the others never see d.
  await d.awarenessStates((st) => ids.every((id) => st.has(id)));
  b.awareness.setLocalStateField('user', { name: 'b2' });
  await a.awarenessStates((st) => st.get(ids[1])?.user?.name === 'b2');
  assert.equal(a.awareness.getStates().has(d.doc.clientID), false, 'a never saw d');

  // A 100 KB state (over the default 64 KiB): refused; the others keep c's previous state.
  const big = nextYjsError(c);
  c.awareness.setLocalStateField('user', { name: 'c', blob: 'x'.repeat(100 * 1024) });
  assert.deepEqual(await big, { reason: 'awareness state too large' });
  await server.waitForLog(/doc lim-aw: awareness from channel \d+ refused: awareness state too large/);
  b.awareness.setLocalStateField('user', { name: 'b3' });
  await a.awarenessStates((st) => st.get(ids[1])?.user?.name === 'b3');
  assert.deepEqual(a.awareness.getStates().get(ids[2]), { user: { name: 'c' } }, 'c\'s old state stays');
  assert.ok(!server.log().includes('x'.repeat(100)), 'the state is not logged');

  // A state leaves: d's next announcement now fits, and reaches the others.
  const aLosesC = a.awarenessChange(({ removed }) => removed.includes(ids[2]));
  await c.close();
  await aLosesC;
  d.awareness.setLocalStateField('user', { name: 'd2' });
  await a.awarenessStates((st) => st.get(d.doc.clientID)?.user?.name === 'd2');

  for (const x of [a, b, d]) await x.close();
  assert.equal((await server.stop()).code, 0);
});
