// The HTTP document API (issue 14, part 2): read and write a document without a WebSocket, on the
// same documents the y-phoenix-channel and y-websocket clients edit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { startServer } from './server.mjs';
import { logLine } from './raw.mjs';
import {
  Y, DocClient, openSocket, converged, until, abandonAll, canon, docJSON, storedDoc, poll,
} from './ydoc.mjs';

const servers = [];
const providers = new Set();
// A provider's Awareness keeps a timer until its Y.Doc is destroyed.
const dropProvider = (p) => { p.destroy(); p.doc.destroy(); providers.delete(p); };
after(async () => {
  for (const p of [...providers]) dropProvider(p);
  abandonAll();
  for (const s of servers) await s.stop();
});
async function serve(args = [], opts = {}) {
  const s = await startServer({ args, ...opts });
  servers.push(s);
  return s;
}

async function ywsClient(server, room) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/yjs`, room, doc, { WebSocketPolyfill: WebSocket });
  providers.add(provider);
  await until(() => provider.synced, (f) => { provider.on('sync', f); return () => provider.off('sync', f); });
  return { name: 'yws', doc, provider, json: () => docJSON(doc) };
}

// A client's JSON names every root type it ever touched (an empty 'a' included); the server's only
// those the document has.
const norm = (j) => Object.fromEntries(Object.entries(j).filter(([, v]) => !(Array.isArray(v) && v.length === 0)));

const api = (server, path, init) => fetch(`${server.http}/api/docs${path}`, init);
const postUpdate = (server, room, u) => api(server, `/${encodeURIComponent(room)}/update`,
  { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: u });

test('GET update and JSON round-trip; POST reaches both protocols and survives a restart', async () => {
  const server = await serve(['--doc-unload', '300']);
  const room = 'api rt';
  const phx = new DocClient(await openSocket(server.url), room, { name: 'phx' });
  await phx.synced();
  const yws = await ywsClient(server, room);
  phx.doc.getText('t').insert(0, 'from the client');
  await converged([phx, yws]);

  // GET: the full state as an update, and the JSON the engine renders.
  let r = await api(server, `/${encodeURIComponent(room)}/update`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  const copy = new Y.Doc();
  Y.applyUpdate(copy, new Uint8Array(await r.arrayBuffer()));
  assert.equal(canon(norm(docJSON(copy))), canon(norm(phx.json())));
  r = await api(server, `/${encodeURIComponent(room)}`);
  assert.deepEqual(await r.json(), { t: 'from the client' });

  // POST: a server-side edit, live on both protocols, stored.
  const edit = new Y.Doc();
  Y.applyUpdate(edit, Y.encodeStateAsUpdate(copy));
  edit.getMap('m').set('seeded', [1, 2, 3]);
  edit.getText('t').insert(0, '» ');
  r = await postUpdate(server, room, Y.encodeStateAsUpdate(edit, Y.encodeStateVector(copy)));
  assert.equal(r.status, 200);
  await phx.waitFor((j) => j.m?.seeded?.length === 3 && j.t === '» from the client');
  await until(() => yws.doc.getMap('m').get('seeded')?.length === 3, (f) => { yws.doc.on('update', f); return () => yws.doc.off('update', f); });
  const final = await converged([phx, yws]);

  // ?sv=: the diff completes a lagging copy.
  const sv = Buffer.from(Y.encodeStateVector(copy)).toString('base64');
  r = await api(server, `/${encodeURIComponent(room)}/update?sv=${encodeURIComponent(sv)}`);
  const diff = new Uint8Array(await r.arrayBuffer());
  assert.ok(diff.length < Y.encodeStateAsUpdate(edit).length, 'a diff, not the whole state');
  Y.applyUpdate(copy, diff);
  assert.equal(canon(norm(docJSON(copy))), canon(norm(final)));

  // Malformed: 400 with the engine's reason; the document is untouched.
  r = await postUpdate(server, room, new Uint8Array([1, 2, 3]));
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /^malformed update: /);
  r = await api(server, `/${encodeURIComponent(room)}`);
  assert.equal(canon(await r.json()), canon(norm(final)));

  // A restart: the document comes back from the store with the API's edit.
  for (const p of [...providers]) dropProvider(p);
  phx.abandon();
  await server.stop({ keepData: true });
  servers.splice(servers.indexOf(server), 1);
  const again = await serve([], { dataDir: server.data });
  r = await api(again, `/${encodeURIComponent(room)}`);
  assert.equal(canon(await r.json()), canon(norm(final)));
});

test('a cold document is loaded, served and unloaded again; GET /api/docs lists the store', async () => {
  const server = await serve(['--doc-unload', '200']);
  const d = new Y.Doc();
  d.getText('t').insert(0, 'cold');
  assert.equal((await postUpdate(server, 'cold-one', Y.encodeStateAsUpdate(d))).status, 200);
  await logLine(server, /doc cold-one: unloaded/);
  const before = server.log().match(/doc cold-one: unloaded/g).length;
  const r = await api(server, '/cold-one');
  assert.deepEqual(await r.json(), { t: 'cold' });
  await poll(() => server.log().match(/doc cold-one: unloaded/g).length > before,
    { describe: () => 'unloaded again' });
  const list = await (await api(server, '')).json();
  const entry = list.find((e) => e.name === 'cold-one');
  assert.ok(entry, JSON.stringify(list));
  assert.equal(entry.entries, 1);
  assert.ok(entry.bytes > 0);
  assert.equal(entry.loaded, false);
  assert.equal(entry.clients, 0);
  // Loaded with a client: listed so.
  const phx = new DocClient(await openSocket(server.url), 'cold-one', { name: 'phx' });
  await phx.synced();
  const live = (await (await api(server, '')).json()).find((e) => e.name === 'cold-one');
  assert.equal(live.loaded, true);
  assert.equal(live.clients, 1);
  phx.abandon();
});

test('DELETE disconnects the clients and removes the stored document', async () => {
  const server = await serve();
  const room = 'to-delete';
  const phx = new DocClient(await openSocket(server.url), room, { name: 'phx' });
  await phx.synced();
  phx.doc.getText('t').insert(0, 'bye');
  await poll(async () => (await storedDoc(server.data, room)).rows.length > 0, { describe: () => 'stored' });
  let down = 0;
  phx.provider.channel.on('yjs_server_down', () => { down++; });
  const r = await api(server, `/${room}`, { method: 'DELETE' });
  assert.deepEqual(await r.json(), { status: 'deleted' });
  await until(() => down > 0, (f) => { const t = setInterval(f, 20); return () => clearInterval(t); });
  await poll(async () => (await storedDoc(server.data, room)).rows.length === 0, { describe: () => 'deleted' });
  await logLine(server, /doc to-delete: deleted through the API; 1 subscriber\(s\) disconnected/);
  phx.abandon();
  // Bad names and methods.
  assert.equal((await api(server, '/%zz')).status, 400);
  assert.equal((await api(server, '/x/update', { method: 'PUT', body: 'x' })).status, 405);
});
