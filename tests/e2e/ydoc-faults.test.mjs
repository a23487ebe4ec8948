// Fault isolation in document rooms (issue 4 item 4): garbage and truncated binary payloads from
// one client are refused and logged, the sender gets a `yjs_error` push (an error reply for a text
// payload), and the document and the other clients carry on as if nothing happened.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import {
  Y, prng, openClients, openClient, converged, randomEdit, RawPhx, ymsg, varuint, docJSON,
  storedDoc, poll, canon,
  abandonAll,
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

// An update that inserts "EVIL" and deletes one of its characters: structs and a delete set.
function evilUpdate() {
  const d = new Y.Doc();
  d.clientID = 4242;
  d.getText('t').insert(0, 'EVIL');
  d.getText('t').delete(1, 1);
  d.getMap('m').set('evil', true);
  return Y.encodeStateAsUpdate(d);
}

function badPayloads(rnd) {
  const evil = evilUpdate();
  const list = [];
  // Random bytes whose first byte is no y-protocols message type.
  for (let i = 0; i < 6; i++) {
    const b = rnd.bytes(1 + rnd.int(40));
    b[0] = 4 + rnd.int(252);
    list.push([`random ${i}`, b]);
  }
  list.push(['empty payload', new Uint8Array(0)]);
  list.push(['truncated update (spec example)', Uint8Array.from([0x00, 0x02, 0x05, 0x01, 0x02])]);
  list.push(['sync header only', Uint8Array.from([0x00])]);
  list.push(['unknown sync type', Uint8Array.from([0x00, 0x07, 0x01, 0x00])]);
  list.push(['bytes after the update', Uint8Array.from([...ymsg.update(evil), 0x00])]);
  // Valid framing around a corrupt update: the real update cut short at several places
  // (inside the structs, inside the delete set at the end).
  for (const cut of [1, 2, 3, Math.floor(evil.length / 2), evil.length - 6]) {
    list.push([`update truncated by ${cut}`, ymsg.update(evil.subarray(0, evil.length - cut))]);
  }
  list.push(['step 2 truncated', ymsg.step2(evil.subarray(0, evil.length - 1))]);
  // Random bodies with a wrong varbytes length.
  for (let i = 0; i < 3; i++) {
    const body = rnd.bytes(3 + rnd.int(20));
    list.push([`update with lying length ${i}`, Uint8Array.from([0, 2, ...varuint(body.length + 1 + rnd.int(5)), ...body])]);
  }
  list.push(['malformed state vector', ymsg.step1(Uint8Array.from([0x05, 0x01]))]);
  list.push(['awareness not JSON', ymsg.awareness(Uint8Array.from([1, 5, 1, 3, 0x61, 0x62, 0x63]))]);
  list.push(['awareness truncated', ymsg.awareness(Uint8Array.from([2, 5, 1, 2, 0x7b, 0x7d]))]);
  list.push(['query awareness with trailing bytes', Uint8Array.from([3, 0])]);
  return list;
}

function refusals(log, room) {
  return log.split('\n').filter((l) => l.includes(`doc ${room}:`) && /refused|malformed/.test(l));
}

test('garbage and truncated payloads from one client leave the others and the document unaffected', { timeout: 45000 }, async () => {
  const room = 'faults';
  const topic = `y_doc_room:${room}`;
  const cs = await openClients(server.url, room, 3);
  open.push(...cs);
  const rnd = prng(0xBAD);
  for (let i = 0; i < 20; i++) randomEdit(rnd.pick(cs), rnd);
  await converged(cs);

  const bad = await RawPhx.open(server.url);
  try {
    await bad.joinAs(topic);
    const before = refusals(server.log(), room).length;
    const payloads = badPayloads(rnd);
    let errors = 0;
    for (const [what, bytes] of payloads) {
      const from = bad.frames.length;
      bad.pushBinary(topic, 'yjs', bytes);
      // The others keep editing meanwhile.
      randomEdit(rnd.pick(cs), rnd);
      const err = await bad.next((f) => !f.binary && f.event === 'yjs_error', { from })
        .catch((e) => assert.fail(`${what}: no yjs_error push (${e.message})`));
      assert.equal(typeof err.payload.reason, 'string', what);
      assert.equal(err.joinRef, bad.joinRefs[topic], `${what}: a push on the channel`);
      assert.equal(err.ref, null, `${what}: a push, not a reply`);
      errors++;
    }
    assert.equal(errors, payloads.length);

    // A text payload on `yjs` / `yjs_sync` gets an error reply.
    for (const event of ['yjs', 'yjs_sync']) {
      const ref = bad.pushText(topic, event, { not: 'binary' });
      const reply = await bad.next((f) => f.event === 'phx_reply' && f.ref === ref);
      assert.equal(reply.payload.status, 'error', `text on ${event}`);
    }

    // Every refusal has its log line.
    await poll(() => refusals(server.log(), room).length - before >= payloads.length + 2,
      { describe: () => refusals(server.log(), room).slice(before).join('\n') });
    if (process.env.SHOW_REFUSALS) console.log(refusals(server.log(), room).slice(before).join("\n"));
    assert.equal(refusals(server.log(), room).length - before, payloads.length + 2,
      refusals(server.log(), room).slice(before).join('\n'));

    // The bad client's channel still works: a valid update from it is applied.
    const ok = new Y.Doc();
    ok.getMap('m').set('from-bad-client', 'valid');
    bad.pushBinary(topic, 'yjs', ymsg.update(Y.encodeStateAsUpdate(ok)));

    // The others carried on, and converge with everything but the garbage.
    for (let i = 0; i < 20; i++) randomEdit(rnd.pick(cs), rnd);
    await cs[0].waitFor((j) => j.m['from-bad-client'] === 'valid');
    const content = await converged(cs);
    assert.ok(!content.t.includes('E') && !content.t.includes('VIL') && content.m.evil === undefined,
      'no part of a refused update reached the clients');
    const fresh = await openClient(server.url, room);
    open.push(fresh);
    assert.deepEqual(fresh.json(), content, 'the server document has no trace of the refused updates');
    assert.equal(Y.decodeStateVector(Y.encodeStateVector(fresh.doc)).get(4242), undefined,
      'no struct of the refused updates in the server document');
    await poll(async () => canon(docJSON((await storedDoc(server.data, room)).doc)) === canon(content),
      { describe: () => 'stored document != clients' });
  } finally {
    bad.close();
  }
});
