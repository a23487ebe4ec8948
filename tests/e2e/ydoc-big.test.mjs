// A document larger than the output-queue cap still syncs (issue 9): the cap judges a client
// that does not read, not one large message. A 50 MB document — built from updates under the
// 8 MB message cap — reaches a new y-phoenix-channel client in one sync step 2 with the default
// --max-queue (16 MiB), and so does a large awareness snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './server.mjs';
import { untilAccepting } from './raw.mjs';
import { openClient, openSocket, DocClient, abandonAll } from './ydoc.mjs';

test('a 50 MB document syncs to a new client with the default queue cap', async (t) => {
  const server = await startServer({ workers: 2, args: ['--max-doc-bytes', String(128 << 20)] });
  const clients = [];
  try {
    await untilAccepting(server.port);
    const writer = await openClient(server.url, 'big', 'writer');
    clients.push(writer);
    const chunk = 'q'.repeat(5 << 20);
    const map = writer.doc.getMap('m');
    for (let i = 0; i < 10; i++) map.set(`b${i}`, `${i}${chunk}`); // ten updates of ~5 MB
    // The server has them all once a second client, synced afterwards, sees all ten.
    const t0 = Date.now();
    const reader = await openClient(server.url, 'big', 'reader');
    clients.push(reader);
    await reader.waitFor((j) => Object.keys(j.m || {}).length === 10, 120000);
    t.diagnostic(`50 MB document synced in ${Date.now() - t0} ms`);
    const got = reader.doc.getMap('m');
    for (let i = 0; i < 10; i++) assert.equal(got.get(`b${i}`).length, chunk.length + 1);
    assert.equal(reader.socket.isConnected(), true);
    assert.ok(!/slow consumer/.test(server.log()), 'no client was cut as slow');
    assert.ok(/doc big: /.test(server.log()));
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    abandonAll();
    assert.equal((await server.stop()).code, 0);
  }
});

test('an awareness snapshot larger than the queue cap reaches a new joiner', async (t) => {
  const server = await startServer({ workers: 2, args: ['--max-awareness-bytes', String(4 << 20)] });
  const clients = [];
  try {
    await untilAccepting(server.port);
    const blob = 'c'.repeat(3 << 20);
    for (let i = 0; i < 6; i++) {
      const c = await openClient(server.url, 'cursors', `peer${i}`);
      c.awareness.setLocalStateField('user', { name: `peer${i}`, note: blob });
      clients.push(c);
    }
    const t0 = Date.now();
    const late = new DocClient(await openSocket(server.url), 'cursors', { name: 'late' });
    clients.push(late);
    await late.synced(60000);
    // 18 MB of states: over the default --max-queue (16 MiB), in one awareness message.
    await late.awarenessStates((states) => [...states.values()].filter((s) => s.user?.note?.length === blob.length).length === 6, 60000);
    t.diagnostic(`18 MB of awareness reached the late joiner in ${Date.now() - t0} ms`);
    assert.ok(!/slow consumer/.test(server.log()), 'no client was cut as slow');
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    abandonAll();
    assert.equal((await server.stop()).code, 0);
  }
});
