// Persistence of document rooms (issue 4 item 3): content survives a graceful restart and a
// kill -9 (of what was committed), compaction keeps content identical (checked with yjs) and
// shrinks the stored log, unload leaves one compact entry, and the SQLite file is the only state.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Y, prng, openClients, openClient, converged, randomEdit, storedDoc, storedRows, docJSON, poll,
  canon, docCli, cinderDoc, serversPerTest } from './ydoc.mjs';

const start = serversPerTest(afterEach);

function tmpData() {
  return mkdtempSync(join(tmpdir(), 'cinder-ydoc-'));
}

async function closeAll(clients) {
  for (const c of clients) await c.close().catch(() => {});
}

// Drops clients whose server is gone: no leave can be sent; stop reconnecting.
function abandon(clients) {
  for (const c of clients) c.abandon();
}

// Waits until the store holds `content` for `room` (commits are batched and asynchronous).
function durable(data, room, content) {
  return poll(async () => canon(docJSON((await storedDoc(data, room)).doc)) === canon(content),
    { timeoutMs: 5000, describe: () => `store of ${room} never matched the clients` });
}

test('content survives a graceful restart and a kill -9', { timeout: 45000 }, async () => {
  const data = tmpData();
  try {
    const room = 'persist';
    const rnd = prng(404);

    // 1. Edit, then SIGTERM with the clients still connected: the shutdown commits the store.
    let server = await start({ workers: 2, dataDir: data });
    let cs = await openClients(server.url, room, 3);
    for (let i = 0; i < 80; i++) randomEdit(rnd.pick(cs), rnd);
    const first = await converged(cs);
    const { code } = await server.stop();
    assert.equal(code, 0, 'graceful stop exits 0');
    abandon(cs);

    server = await start({ workers: 2, dataDir: data });
    let f = await openClient(server.url, room);
    assert.deepEqual(f.json(), first, 'content intact after a graceful restart');
    await server.waitForLog(/doc persist: loaded [1-9]\d* entries/);
    await f.close();

    // 2. More edits; once the store has them (bounded poll), kill -9.
    cs = await openClients(server.url, room, 2);
    for (let i = 0; i < 60; i++) randomEdit(rnd.pick(cs), rnd);
    cs[0].doc.getMap('m').set('before-kill', 9);
    const second = await converged(cs);
    assert.equal(second.m['before-kill'], 9);
    await durable(data, room, second);
    const killed = await server.stop({ signal: 'SIGKILL' });
    assert.equal(killed.signal, 'SIGKILL');
    abandon(cs);

    server = await start({ workers: 2, dataDir: data });
    f = await openClient(server.url, room);
    assert.deepEqual(f.json(), second, 'committed content intact after kill -9');
    await f.close();
    assert.equal((await server.stop()).code, 0);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('compaction keeps content identical and shrinks the log; unload leaves one entry', { timeout: 45000 }, async () => {
  const data = tmpData();
  try {
    const room = 'compact';
    const server = await start({
      workers: 2, dataDir: data, args: ['--compact-threshold', '20', '--doc-unload', '200'],
    });
    const cs = await openClients(server.url, room, 3);
    let sentBytes = 0;
    let sentUpdates = 0;
    for (const c of cs) {
      c.doc.on('update', (u, origin) => {
        if (origin !== c.provider) { sentBytes += u.length; sentUpdates++; }
      });
    }
    const rnd = prng(2020);
    // 150 edits, each its own update; every few, let them travel so the store sees many appends.
    for (let i = 0; i < 150; i++) {
      randomEdit(rnd.pick(cs), rnd);
      if (i % 10 === 9) await converged(cs);
    }
    const content = await converged(cs);
    assert.ok(sentUpdates >= 150);

    // The store holds the same document (checked with yjs), in far fewer entries than updates.
    await durable(data, room, content);
    const stored = await storedDoc(data, room);
    assert.ok(stored.rows.length <= 21 + 10,
      `compaction bounds the log (threshold 20): ${stored.rows.length} entries for ${sentUpdates} updates`);
    assert.ok(stored.bytes < sentBytes,
      `stored ${stored.bytes} bytes < ${sentBytes} bytes of updates sent`);
    // Exactly the same Yjs state, not only the same JSON: same state vector as the clients.
    assert.deepEqual(Y.decodeStateVector(Y.encodeStateVector(stored.doc)),
      Y.decodeStateVector(Y.encodeStateVector(cs[0].doc)));

    if (await docCli()) {
      const listed = JSON.parse((await cinderDoc(['list', '--json', '--data', data])).toString());
      const entry = listed.find((d) => d.name === room);
      assert.ok(entry && entry.entries <= 21 + 10, `cinder doc list: ${JSON.stringify(listed)}`);
      assert.ok(entry.bytes < sentBytes, `cinder doc list: ${JSON.stringify(entry)}`);
      const exported = new Y.Doc();
      Y.applyUpdate(exported, new Uint8Array(await cinderDoc(['export', room, '--data', data])));
      assert.deepEqual(canon(docJSON(exported)), canon(content), 'cinder doc export = clients (yjs)');
      const json = JSON.parse((await cinderDoc(['export', room, '--json', '--data', data])).toString());
      assert.equal(canon(json), canon(cs[0].doc.toJSON()), 'cinder doc export --json = clients');
    }

    // Unload: 200 ms after the last client leaves, compacted to one entry, then gone.
    await closeAll(cs);
    await server.waitForLog(/doc compact: unloaded/);
    const rows = await storedRows(data, room);
    assert.equal(rows.length, 1, 'one compact entry after unload');
    const one = new Y.Doc();
    Y.applyUpdate(one, rows[0].bytes);
    assert.equal(canon(docJSON(one)), canon(content), 'the compact entry is the whole document');

    // A new client loads it again and gets everything.
    const f = await openClient(server.url, room);
    assert.deepEqual(f.json(), content);
    await server.waitForLog(/doc compact: loaded 1 entries/);
    await f.close();
    assert.equal((await server.stop()).code, 0);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('the SQLite file is the only state: a copy of it alone serves the same documents', { timeout: 45000 }, async () => {
  const data = tmpData();
  const copy = tmpData();
  try {
    const rooms = ['only-a', 'only-b', 'name:with:colons'];
    const server = await start({ workers: 2, dataDir: data });
    const contents = {};
    const rnd = prng(8);
    for (const room of rooms) {
      const cs = await openClients(server.url, room, 2);
      for (let i = 0; i < 30; i++) randomEdit(rnd.pick(cs), rnd);
      contents[room] = await converged(cs);
      await closeAll(cs);
    }
    assert.equal((await server.stop()).code, 0);

    // `cinder doc compact` on the stopped server's data: one entry, the same content.
    if (await docCli()) {
      await cinderDoc(['compact', 'only-a', '--data', data]);
      assert.equal((await storedRows(data, 'only-a')).length, 1);
    }

    // After a clean stop the data directory holds the database file only (WAL checkpointed).
    const files = readdirSync(data);
    assert.ok(files.includes('cinder.db'), `data dir: ${files}`);
    assert.deepEqual(files.filter((n) => !/^cinder\.db(-wal|-shm)?$/.test(n)), [], `data dir: ${files}`);
    mkdirSync(copy, { recursive: true });
    copyFileSync(join(data, 'cinder.db'), join(copy, 'cinder.db'));
    rmSync(data, { recursive: true, force: true });

    const again = await start({ workers: 2, dataDir: copy });
    for (const room of rooms) {
      const f = await openClient(again.url, room);
      assert.deepEqual(f.json(), contents[room], `${room} intact from the copied file`);
      await f.close();
    }
    assert.equal((await again.stop()).code, 0);
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
  }
});
