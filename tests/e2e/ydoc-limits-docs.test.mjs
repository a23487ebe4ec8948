// Limits on opening documents (issue 9): --max-docs caps the documents loaded on the server —
// at the cap, a join of a document that is not loaded unloads the least recently used idle one
// first, or, with none idle, is refused (`yjs_error` {"reason":"too many documents"} then
// phx_error: the join had already been answered ok); --max-doc-opens caps the documents one
// socket opens per minute (join error {"reason":"too many documents opened"}), other sockets
// unaffected. Every refusal or early unload is one log line.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { openClient, RawPhx, ymsg, serversPerTest } from './ydoc.mjs';

const start = serversPerTest(afterEach);

// The cinder_documents gauge of /metrics, summed over the workers.
async function loadedDocs(server) {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  const ms = [...text.matchAll(/^cinder_documents(?:\{[^}]*\})? (\d+)$/mg)];
  assert.ok(ms.length, `no cinder_documents in /metrics:\n${text}`);
  return ms.reduce((s, m) => s + Number(m[1]), 0);
}

function count(log, re) {
  return (log.match(new RegExp(re.source, 'g')) || []).length;
}

// Opens `room` with a real provider, writes its name into it, and leaves (the document stays
// loaded, idle, for --doc-unload).
async function visit(server, room) {
  const c = await openClient(server.url, room, room);
  c.doc.getText('t').insert(0, room);
  await c.close();
}

test('--max-docs: at the cap, a new document unloads the least recently used idle one', { timeout: 120000 }, async () => {
  // One worker: every document is its own (each worker can unload only its own documents).
  const server = await start({ workers: 1, args: ['--max-docs', '3', '--doc-unload', '60000'] });
  const open = {};
  for (const room of ['m1', 'm2', 'm3']) {
    open[room] = await openClient(server.url, room, room);
    open[room].doc.getText('t').insert(0, room);
  }
  open.m2.doc.getText('t').insert(2, '!'); // a second stored entry: m2 unloads after compacting
  // Leave in the order m2, m3, m1: m2 is the least recently used.
  for (const room of ['m2', 'm3', 'm1']) await open[room].close();
  assert.equal(await loadedDocs(server), 3);

  await visit(server, 'm4');
  await server.waitForLog(/doc m2: unloaded/);
  assert.match(server.log(), /doc m2: unloading now to open m4: 3 documents loaded \(--max-docs 3\); idle for \d+ ms, the longest on worker 0/);
  assert.equal(await loadedDocs(server), 3);

  await visit(server, 'm5'); // next: m3
  await server.waitForLog(/doc m3: unloaded/);
  assert.doesNotMatch(server.log(), /doc m1: unloaded/);

  // m2 comes back from the store with its content, in place of m1.
  const again = await openClient(server.url, 'm2', 'm2-again');
  assert.equal(again.doc.getText('t').toString(), 'm2!');
  await server.waitForLog(/doc m1: unloaded/);
  assert.equal(await loadedDocs(server), 3);
  await again.close();
  assert.equal(count(server.log(), /not opened/), 0, 'nothing refused');
  assert.equal((await server.stop()).code, 0);
});

test('--max-docs: with every document busy, a new one is refused; a loaded one is not', { timeout: 60000 }, async () => {
  const server = await start({ workers: 2, args: ['--max-docs', '3', '--doc-unload', '300'] });
  const busy = [];
  for (const room of ['b1', 'b2', 'b3']) busy.push(await openClient(server.url, room, room));
  assert.equal(await loadedDocs(server), 3);

  // The join is answered ok at once; the owner refuses: yjs_error with the reason, then
  // phx_error (phoenix.js rejoins later).
  const raw = await RawPhx.open(server.url);
  const topic = 'y_doc_room:b4';
  assert.equal((await raw.joinAs(topic)).payload.status, 'ok');
  raw.pushBinary(topic, 'yjs_sync', ymsg.step1(Uint8Array.from([0])));
  const err = await raw.next((f) => !f.binary && f.topic === topic && f.event === 'yjs_error');
  assert.deepEqual(err.payload, { reason: 'too many documents' });
  await raw.next((f) => f.topic === topic && f.event === 'phx_error');
  assert.ok(!raw.frames.some((f) => f.binary && f.topic === topic), 'no document was served');
  await server.waitForLog(/doc b4: not opened: 3 documents loaded \(--max-docs 3\), none idle on worker \d/);
  assert.equal(await loadedDocs(server), 3);

  // A document already loaded is joined as usual at the cap.
  const second = await openClient(server.url, 'b1', 'b1-second');
  busy[0].doc.getText('t').insert(0, 'hi');
  await second.waitFor((j) => j.t === 'hi');

  // Once one document has unloaded (on whichever worker), the same join succeeds.
  await busy[2].close();
  await server.waitForLog(/doc b3: unloaded/);
  const mark = raw.frames.length;
  assert.equal((await raw.joinAs(topic)).payload.status, 'ok');
  raw.pushBinary(topic, 'yjs_sync', ymsg.step1(Uint8Array.from([0])));
  await raw.next((f) => f.binary && f.topic === topic && f.event === 'yjs' && f.payload[0] === 0 && f.payload[1] === 1, { from: mark });
  assert.ok(!raw.frames.slice(mark).some((f) => f.event === 'yjs_error'), 'not refused again');
  assert.equal(count(server.log(), /not opened/), 1, 'one log line');

  raw.close();
  for (const c of [busy[0], busy[1], second]) await c.close();
  assert.equal((await server.stop()).code, 0);
});

test('--max-doc-opens: a socket opening documents in a loop is refused past the cap; another is not', { timeout: 60000 }, async () => {
  const server = await start({ workers: 2, args: ['--max-doc-opens', '5'] });
  const looping = await RawPhx.open(server.url);
  for (let i = 1; i <= 5; i++) {
    const topic = `y_doc_room:o${i}`;
    assert.equal((await looping.joinAs(topic)).payload.status, 'ok', `join ${i}`);
    const ref = looping.pushText(topic, 'phx_leave', {});
    await looping.next((f) => f.event === 'phx_reply' && f.ref === ref);
  }
  const refused = await looping.joinAs('y_doc_room:o6');
  assert.deepEqual(refused.payload, { status: 'error', response: { reason: 'too many documents opened' } });
  // The same document again counts as well.
  assert.equal((await looping.joinAs('y_doc_room:o1')).payload.status, 'error');
  await server.waitForLog(/doc o6: join refused: the socket opened 5 documents within a minute \(--max-doc-opens\)/);

  // Another socket, on either worker, still opens documents.
  const other = await RawPhx.open(server.url);
  for (const room of ['o6', 'o7']) {
    const topic = `y_doc_room:${room}`;
    assert.equal((await other.joinAs(topic)).payload.status, 'ok');
    other.pushBinary(topic, 'yjs_sync', ymsg.step1(Uint8Array.from([0])));
    await other.next((f) => f.binary && f.topic === topic && f.event === 'yjs');
  }
  assert.equal(count(server.log(), /join refused/), 2, 'one log line per refusal');
  looping.close();
  other.close();
  assert.equal((await server.stop()).code, 0);
});
