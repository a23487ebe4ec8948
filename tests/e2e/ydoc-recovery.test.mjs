// Document fault recovery (issue 4 "Fault isolation", spec §9.6): a storage failure reloads the
// document from storage and tells its clients `yjs_resync`; a document that cannot be loaded
// sends `yjs_server_down` and crashes the channel (phx_error), so phoenix.js rejoins later.
// Faults are injected into the real SQLite file with the sqlite3 command (Debian `sqlite3`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { RawPhx, ymsg, Y, cinderDoc } from './ydoc.mjs';

function sql(dataDir, statement) {
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', join(dataDir, 'cinder.db'), statement]);
}

// A raw phoenix client holding its own Y.Doc: it answers the server's protocol by hand, so the
// test sees every frame.
async function rawDocClient(server, room) {
  const c = await RawPhx.open(server.url);
  const topic = `y_doc_room:${room}`;
  assert.equal((await c.joinAs(topic)).payload.status, 'ok');
  const doc = new Y.Doc();
  const from = c.frames.length;
  c.pushBinary(topic, 'yjs_sync', ymsg.step1(Y.encodeStateVector(doc)));
  await c.next((f) => f.binary && f.event === 'yjs' && f.payload[0] === 0 && f.payload[1] === 1, { from });
  return { c, doc, topic };
}

test('a failed write reloads the document and its clients get yjs_resync', async () => {
  const server = await startServer({ workers: 2 });
  const { c, doc, topic } = await rawDocClient(server, 'rec');
  const other = await rawDocClient(server, 'rec');
  try {
    // Writes of this document now fail inside the store's transaction.
    sql(server.data, "CREATE TRIGGER inject_fault BEFORE INSERT ON doc_updates WHEN NEW.doc = 'rec' "
      + "BEGIN SELECT RAISE(ABORT, 'injected fault'); END;");
    const from = c.frames.length;
    const fromOther = other.c.frames.length;
    doc.getText('t').insert(0, 'lost then restored');
    c.pushBinary(topic, 'yjs', ymsg.update(Y.encodeStateAsUpdate(doc)));
    const resync = await c.next((f) => !f.binary && f.event === 'yjs_resync', { from });
    assert.deepEqual(resync.payload, {});
    assert.equal(resync.joinRef, c.joinRefs[topic], 'a push of this channel incarnation');
    await other.c.next((f) => !f.binary && f.event === 'yjs_resync', { from: fromOther });
    await server.waitForLog(/doc rec: .*reloading from storage/);

    // Storage works again; the client resyncs as y-phoenix-channel does: step 1, then its step 2.
    sql(server.data, 'DROP TRIGGER inject_fault;');
    const from2 = c.frames.length;
    c.pushBinary(topic, 'yjs_sync', ymsg.step1(Y.encodeStateVector(doc)));
    const serverStep1 = await c.next((f) => f.binary && f.payload[0] === 0 && f.payload[1] === 0, { from: from2 });
    const sv = Buffer.from(serverStep1.payload).subarray(2);
    const svLen = sv[0]; // small document: one-byte length
    // Counted from here: the first push was broadcast to the other client before its write failed
    // (so before the yjs_resync it awaited), and that broadcast must not pass for this one.
    const fromOther2 = other.c.frames.length;
    c.pushBinary(topic, 'yjs', ymsg.step2(Y.encodeStateAsUpdate(doc, sv.subarray(1, 1 + svLen))));
    // The other client gets the update that was lost, and the store has it.
    await other.c.next((f) => f.binary && f.kind === 'broadcast' && f.payload[0] === 0 && f.payload[1] === 2, { from: fromOther2 });
  } finally {
    c.close();
    other.c.close();
    assert.equal((await server.stop({ keepData: true })).code, 0);
  }
  const stdout = await cinderDoc(['export', 'rec', '--json', '--data', server.data]);
  assert.deepEqual(JSON.parse(stdout.toString()), { t: 'lost then restored' });
  rmSync(server.data, { recursive: true, force: true });
});

test('a document that cannot be loaded: yjs_server_down, then phx_error', async () => {
  const server = await startServer({ workers: 2 });
  try {
    sql(server.data, "INSERT INTO doc_updates(doc, seq, data) VALUES ('broken', 1, x'ffffffff01');");
    const c = await RawPhx.open(server.url);
    const topic = 'y_doc_room:broken';
    assert.equal((await c.joinAs(topic)).payload.status, 'ok');
    c.pushBinary(topic, 'yjs_sync', ymsg.step1(Uint8Array.from([0])));
    const down = await c.next((f) => !f.binary && f.event === 'yjs_server_down');
    assert.deepEqual(down.payload, {});
    const err = await c.next((f) => !f.binary && f.event === 'phx_error');
    assert.deepEqual(err.payload, { reason: 'channel_crash' });
    assert.equal(err.joinRef, c.joinRefs[topic]);
    assert.equal(err.ref, c.joinRefs[topic]);
    await server.waitForLog(/doc broken: cannot load/);
    // Nothing else is affected: another document on the same server works.
    const ok = await rawDocClient(server, 'fine');
    ok.c.close();
    c.close();
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
