// Documents stored in PostgreSQL (issue 12: `--store postgresql://...`), with real
// y-phoenix-channel clients and a throwaway PostgreSQL 15 (pg.mjs): content survives a server
// restart and a kill -9 and is in the database (checked with yjs); compaction past
// --compact-threshold keeps every edit; `cinder doc list|export|compact|import|delete --store`
// work against PostgreSQL; PostgreSQL stopped mid-traffic: a loaded document goes on serving from
// memory and stores a snapshot once PostgreSQL is back, a document that cannot load sends
// yjs_server_down and crashes the channel, and no update any client made is lost.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { runDoc, docOk } from './server.mjs';
import { startPostgres } from './pg.mjs';
import {
  Y, prng, openClients, openClient, converged, randomEdit, docJSON, poll, canon, until,
  serversPerTest, DocClient, openSocket } from './ydoc.mjs';

const start = serversPerTest(afterEach);
let pg;
before(async () => { pg = await startPostgres(); });
after(async () => { if (pg) await pg.close(); });

// The stored document, as yjs sees it: every entry in PostgreSQL applied to a fresh Y.Doc.
async function storedDoc(room) {
  const rows = await pg.storedRows(room);
  const doc = new Y.Doc();
  for (const r of rows) Y.applyUpdate(doc, r.bytes);
  return { doc, rows, bytes: rows.reduce((s, r) => s + r.bytes.length, 0) };
}

function durable(room, content, timeoutMs = 10000) {
  return poll(async () => canon(docJSON((await storedDoc(room)).doc)) === canon(content),
    { timeoutMs, describe: () => `PostgreSQL never held the clients' content of ${room}` });
}

function abandon(clients) {
  for (const c of clients) c.abandon();
}

async function closeAll(clients) {
  for (const c of clients) await c.close().catch(() => {});
}


test('documents live in PostgreSQL: a restart and a kill -9 of the server lose nothing committed', { timeout: 60000 }, async () => {
  const room = 'pg-persist';
  const rnd = prng(1212);
  let server = await start({ args: ['--store', pg.url] });
  await server.waitForLog(/storage: postgresql:\/\/postgres@127\.0\.0\.1:\d+\/cinder \(postgresql\)/);
  let cs = await openClients(server.url, room, 3);
  for (let i = 0; i < 80; i++) randomEdit(rnd.pick(cs), rnd);
  const first = await converged(cs);
  assert.equal((await server.stop()).code, 0, 'graceful stop exits 0');
  abandon(cs);
  // Nothing in the data directory: the database is the only state.
  const stored = await storedDoc(room);
  assert.equal(canon(docJSON(stored.doc)), canon(first), 'PostgreSQL holds the document');
  const [[lastSeq]] = await pg.query(`SELECT last_seq FROM cinder_docs WHERE name = '${room}'`);
  assert.equal(Number(lastSeq), stored.rows.at(-1).seq, 'the counter is at the last entry');

  server = await start({ args: ['--store', pg.url] });
  let f = await openClient(server.url, room);
  assert.deepEqual(f.json(), first, 'content intact after a graceful restart');
  await f.close();

  cs = await openClients(server.url, room, 2);
  for (let i = 0; i < 60; i++) randomEdit(rnd.pick(cs), rnd);
  cs[0].doc.getMap('m').set('before-kill', 9);
  const second = await converged(cs);
  await durable(room, second);
  assert.equal((await server.stop({ signal: 'SIGKILL' })).signal, 'SIGKILL');
  abandon(cs);

  // CINDER_STORE works as the flag does.
  server = await start({ env: { CINDER_STORE: pg.url } });
  f = await openClient(server.url, room);
  assert.deepEqual(f.json(), second, 'committed content intact after kill -9');
  await f.close();
  assert.equal((await server.stop()).code, 0);
});

test('compaction past --compact-threshold keeps every edit; unload leaves one entry', { timeout: 60000 }, async () => {
  const room = 'pg-compact';
  const server = await start({ args: ['--store', pg.url, '--compact-threshold', '20', '--doc-unload', '200'] });
  const cs = await openClients(server.url, room, 3);
  let sentUpdates = 0;
  for (const c of cs) c.doc.on('update', (u, origin) => { if (origin !== c.provider) sentUpdates++; });
  const rnd = prng(77);
  for (let i = 0; i < 150; i++) {
    randomEdit(rnd.pick(cs), rnd);
    if (i % 10 === 9) await converged(cs);
  }
  const content = await converged(cs);
  assert.ok(sentUpdates >= 150);
  await durable(room, content);
  const stored = await storedDoc(room);
  // At most the threshold, plus what was appended while the last compaction was in flight (on a
  // loaded machine, a burst of edits).
  assert.ok(stored.rows.length <= 2 * 21 + 10, `compaction bounds the log: ${stored.rows.length} entries for ${sentUpdates} updates`);
  assert.deepEqual(Y.decodeStateVector(Y.encodeStateVector(stored.doc)),
    Y.decodeStateVector(Y.encodeStateVector(cs[0].doc)), 'the same Yjs state as the clients');
  for (let i = 1; i < stored.rows.length; i++) assert.ok(stored.rows[i].seq > stored.rows[i - 1].seq);

  await closeAll(cs);
  await server.waitForLog(/doc pg-compact: unloaded/);
  const rows = await pg.storedRows(room);
  assert.equal(rows.length, 1, 'one compact entry after unload');
  const f = await openClient(server.url, room);
  assert.deepEqual(f.json(), content);
  await f.close();
  assert.equal((await server.stop()).code, 0);
});

// Two Y.Docs editing; every update in the order a server would store them.
function session(rounds) {
  const a = new Y.Doc();
  const b = new Y.Doc();
  const updates = [];
  a.on('update', (u, origin) => { if (origin !== 'remote') { updates.push(u); Y.applyUpdate(b, u, 'remote'); } });
  b.on('update', (u, origin) => { if (origin !== 'remote') { updates.push(u); Y.applyUpdate(a, u, 'remote'); } });
  const rnd = prng(5);
  for (let i = 0; i < rounds; i++) {
    const d = rnd.int(2) ? a : b;
    const text = d.getText('text');
    if (rnd.int(3) === 0 && text.length > 4) text.delete(rnd.int(text.length - 3), 3);
    else if (rnd.int(2)) text.insert(rnd.int(text.length + 1), `w${i} `);
    else d.getMap('map').set(`k${rnd.int(5)}`, { i, s: 'x'.repeat(rnd.int(30)) });
  }
  return { doc: a, updates };
}

function contentOf(doc) {
  return { map: doc.getMap('map').toJSON(), text: doc.getText('text').toString() };
}

test('cinder doc list|export|compact|import|delete --store postgresql://', { timeout: 60000 }, async () => {
  const store = ['--store', pg.url];
  const { doc, updates } = session(40);
  let bytes = 0;
  for (const [i, u] of updates.entries()) {
    const r = i % 2
      ? await docOk(['import', 'cli notes', '-', ...store], { input: u })
      : await docOk(['import', 'cli notes', '-'], { input: u, env: { CINDER_STORE: pg.url } });
    assert.match(r.stdout.toString(), new RegExp(`cli notes: appended entry ${i + 1} `));
    bytes += u.length;
  }
  const list = JSON.parse((await docOk(['list', '--json', `--store=${pg.url}`])).stdout);
  assert.deepEqual(list.find((d) => d.name === 'cli notes'),
    { name: 'cli notes', entries: updates.length, bytes, last_seq: updates.length });
  const text = (await docOk(['list', ...store])).stdout.toString();
  assert.match(text, new RegExp(`^cli notes\\t${updates.length}\\t${bytes}$`, 'm'));

  const exported = new Y.Doc();
  Y.applyUpdate(exported, new Uint8Array((await docOk(['export', 'cli notes', ...store])).stdout));
  assert.deepEqual(contentOf(exported), contentOf(doc));
  assert.deepEqual(JSON.parse((await docOk(['export', 'cli notes', '--json', ...store])).stdout), contentOf(doc));

  const c = await docOk(['compact', 'cli notes', ...store]);
  assert.match(c.stdout.toString(), new RegExp(`cli notes: ${updates.length} entries, ${bytes} bytes -> 1 entry, \\d+ bytes`));
  const rows = await pg.storedRows('cli notes');
  assert.equal(rows.length, 1);
  assert.equal(rows[0].seq, updates.length, 'the state sits where the compacted entries ended');
  // Later updates land after the state.
  const d2 = new Y.Doc();
  Y.applyUpdate(d2, rows[0].bytes);
  doc.getText('text').insert(0, 'after compaction ');
  await docOk(['import', 'cli notes', '-', ...store], { input: Y.encodeStateAsUpdate(doc, Y.encodeStateVector(d2)) });
  assert.deepEqual(JSON.parse((await docOk(['export', 'cli notes', '--json', ...store])).stdout), contentOf(doc));

  const del = await docOk(['delete', 'cli notes', ...store]);
  assert.match(del.stdout.toString(), /cli notes: deleted 2 entries/);
  const gone = await runDoc(['export', 'cli notes', '--json', ...store]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no document 'cli notes'/);

  // --store wins over --data; a password never reaches the output; a database without cinder's
  // tables is "not found" for the read-only commands, and nothing is created there.
  const refused = await runDoc(['list', '--data', '/nonexistent', '--store', 'postgresql://postgres:hunter2@127.0.0.1:1/x']);
  assert.equal(refused.code, 1);
  assert.ok(!refused.stderr.includes('hunter2'), refused.stderr);
  assert.match(refused.stderr, /postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/x/);
  await pg.query('CREATE DATABASE empty_one');
  const emptyUrl = pg.url.replace(/\/cinder$/, '/empty_one');
  const none = await runDoc(['list', '--store', emptyUrl]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no cinder tables/);
  const unknown = await runDoc(['list', '--store', 'mysql://x/y']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown store URL scheme 'mysql'/);
});

test('PostgreSQL stopped mid-traffic: loaded documents go on from memory, unloaded ones get yjs_server_down, nothing is lost', { timeout: 90000 }, async () => {
  const room = 'pg-outage';
  const server = await start({ args: ['--store', pg.url] });
  const cs = await openClients(server.url, room, 3);
  const seen = cs.map(() => ({ down: 0, resync: 0, errors: 0 }));
  cs.forEach((c, i) => {
    const ch = c.provider.channel;
    ch.on('yjs_server_down', () => { seen[i].down++; });
    ch.on('yjs_resync', () => { seen[i].resync++; });
    ch.onError(() => { seen[i].errors++; });
  });
  const rnd = prng(4242);
  for (let i = 0; i < 40; i++) randomEdit(rnd.pick(cs), rnd);
  const before = await converged(cs);
  await durable(room, before);

  // Down: the next write finds the store unreachable; the document keeps serving from memory
  // (its clients go on converging, nobody is disconnected) and will store a snapshot later.
  await pg.stop();
  for (let i = 0; i < 30; i++) {
    randomEdit(rnd.pick(cs), rnd);
    if (i % 10 === 9) await new Promise((res) => setImmediate(res));
  }
  await server.waitForLog(/doc pg-outage: database server unreachable; serving from memory/);
  const during = await converged(cs, 20000);
  assert.notEqual(canon(during), canon(before), 'the edits of the outage went through');
  assert.deepEqual(seen, cs.map(() => ({ down: 0, resync: 0, errors: 0 })), 'no client was told anything');

  // A document that is not loaded cannot be: its client gets yjs_server_down and phx_error.
  const lonely = new DocClient(await openSocket(server.url), 'pg-outage-unloaded', { name: 'lonely' });
  const told = { down: 0, errors: 0 };
  lonely.provider.channel.on('yjs_server_down', () => { told.down++; });
  lonely.provider.channel.onError(() => { told.errors++; });
  await until(() => told.down >= 1 && told.errors >= 1, (f) => {
    const t = setInterval(f, 20);
    return () => clearInterval(t);
  }, { timeoutMs: 20000, describe: () => `lonely: ${JSON.stringify(told)}` });
  await server.waitForLog(/doc pg-outage-unloaded: cannot load/);
  assert.ok(!lonely.provider.synced, 'a document that cannot load never syncs');
  lonely.abandon();

  // Back: the snapshot is stored, appends resume, and PostgreSQL has every edit.
  await pg.restart();
  await server.waitForLog(/doc pg-outage: the store answers again; state stored/);
  for (let i = 0; i < 10; i++) randomEdit(rnd.pick(cs), rnd);
  const content = await converged(cs, 20000);
  await durable(room, content, 20000);
  const fresh = await openClient(server.url, room);
  assert.deepEqual(fresh.json(), content, 'a new client sees every edit');
  await fresh.close();

  // And PostgreSQL alone has it all: a restarted server serves it.
  await closeAll(cs);
  assert.equal((await server.stop()).code, 0);
  const again = await start({ args: ['--store', pg.url] });
  const last = await openClient(again.url, room);
  assert.deepEqual(last.json(), content, 'everything is in PostgreSQL');
  await last.close();
  assert.equal((await again.stop()).code, 0);
});
