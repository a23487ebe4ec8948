// A document is unloaded --doc-unload ms after its last subscriber leaves — unless someone joins
// within that window, which cancels the unload. Proven without sleeping: a second document left
// later than the first marks the end of the first one's window in the server log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { RawPhx, ymsg } from './ydoc.mjs';

async function joined(server, room) {
  const c = await RawPhx.open(server.url);
  const topic = `y_doc_room:${room}`;
  assert.equal((await c.joinAs(topic)).payload.status, 'ok');
  c.pushBinary(topic, 'yjs_sync', ymsg.step1(Uint8Array.from([0])));
  await c.next((f) => f.binary && f.event === 'yjs' && f.payload[0] === 0 && f.payload[1] === 1);
  return { c, topic };
}

async function leave(c, topic) {
  const ref = c.pushText(topic, 'phx_leave', {});
  await c.next((f) => f.event === 'phx_reply' && f.ref === ref);
}

test('a join within the unload window keeps the document; without one it unloads', async () => {
  const server = await startServer({ workers: 1, args: ['--doc-unload', '400'] });
  try {
    const keep = await joined(server, 'keep');
    const probe = await joined(server, 'probe');
    await leave(keep.c, keep.topic);        // keep's window starts
    const again = await joined(server, 'keep'); // ...and a join cancels it
    await leave(probe.c, probe.topic);      // probe's window starts after keep's
    await server.waitForLog(/doc probe: unloaded/);
    assert.doesNotMatch(server.log(), /doc keep: unloaded/, 'the rejoin cancelled the unload');
    // Once everyone has left, keep unloads too.
    await leave(again.c, again.topic);
    await server.waitForLog(/doc keep: unloaded/);
    for (const x of [keep, probe, again]) x.c.close();
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
