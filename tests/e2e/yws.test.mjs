// The y-websocket endpoint (issue 14, part 1): the real `y-websocket` 2.x WebsocketProvider at
// /yjs/<name> and real y-phoenix-channel clients edit one document, see each other's awareness,
// and garbage on /yjs/<name> affects only that socket.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { startServer } from './server.mjs';
import { httpOnce, upgradeRequest, rawWebSocket, frame, OP, logLine, within } from './raw.mjs';
import {
  Y, DocClient, openSocket, converged, randomEdit, prng, until, abandonAll, canon, docJSON,
  storedDoc, poll,
} from './ydoc.mjs';

const servers = [];
const providers = new Set();
after(async () => {
  for (const p of providers) { p.destroy(); p.doc.destroy(); } /* its Awareness's timer goes with the doc */
  abandonAll();
  for (const s of servers) await s.stop();
});
async function serve(args = []) {
  const s = await startServer({ args });
  servers.push(s);
  return s;
}

// A y-websocket client, shaped like DocClient for converged(): {doc, name, json()}.
async function ywsClient(server, room, { name = 'yws', params } = {}) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/yjs`, room, doc,
    { WebSocketPolyfill: WebSocket, params, maxBackoffTime: 500 });
  providers.add(provider);
  await until(() => provider.synced, (f) => { provider.on('sync', f); return () => provider.off('sync', f); },
    { describe: () => `${name} never synced` });
  return {
    name, doc, provider, awareness: provider.awareness,
    json: () => docJSON(doc),
    destroy() { provider.destroy(); providers.delete(provider); doc.destroy(); },
  };
}

test('y-websocket and y-phoenix-channel clients edit one document, both ways, stored once', async () => {
  const server = await serve();
  const room = 'yws-both';
  const phx = [];
  for (let i = 0; i < 2; i++) {
    const c = new DocClient(await openSocket(server.url), room, { name: `phx${i}` });
    await c.synced();
    phx.push(c);
  }
  const yws = [await ywsClient(server, room, { name: 'yws0' }), await ywsClient(server, room, { name: 'yws1' })];
  const all = [...phx, ...yws];
  const rnd = prng(77);
  for (let i = 0; i < 120; i++) randomEdit(all[rnd.int(all.length)], rnd); // text, map and array
  const final = await converged(all, 20000);
  // A late y-websocket joiner gets everything; so does the store.
  const late = await ywsClient(server, room, { name: 'late' });
  assert.equal(canon(await converged([...all, late], 10000)), canon(final));
  await poll(async () => canon(docJSON((await storedDoc(server.data, room)).doc)) === canon(final),
    { describe: () => 'the store holds the document' });
  for (const c of [...yws, late]) c.destroy();
});

test('awareness crosses protocols; a dropped y-websocket client\'s cursor disappears', async () => {
  const server = await serve();
  const room = 'yws-aw';
  const phx = new DocClient(await openSocket(server.url), room, { name: 'phx' });
  await phx.synced();
  const yws = await ywsClient(server, room);
  const ywsId = yws.doc.clientID;
  yws.awareness.setLocalStateField('cursor', { at: 3 });
  await phx.awarenessStates((s) => s.get(ywsId)?.cursor?.at === 3);
  phx.awareness.setLocalStateField('cursor', { at: 7 });
  await until(() => yws.awareness.getStates().get(phx.doc.clientID)?.cursor?.at === 7,
    (f) => { yws.awareness.on('change', f); return () => yws.awareness.off('change', f); },
    { describe: () => JSON.stringify([...yws.awareness.getStates()]) });
  // Dropped without a goodbye: the server removes its state for everyone.
  yws.provider.ws.terminate?.() ?? yws.provider.ws.close();
  yws.provider.shouldConnect = false;
  await phx.awarenessStates((s) => !s.has(ywsId), 15000);
  yws.destroy();
});

test('garbage on /yjs/<name> affects only that socket', async () => {
  const server = await serve();
  const room = 'yws-garbage';
  const phx = new DocClient(await openSocket(server.url), room, { name: 'phx' });
  await phx.synced();
  const yws = await ywsClient(server, room);
  // A text frame: not the protocol; closed with 1003.
  const { client } = await rawWebSocket(server.port, { path: `/yjs/${room}` });
  client.send(frame(OP.TEXT, 'hello'));
  const close = await client.expectClose();
  assert.equal(close.code, 1003);
  await logLine(server, /y-websocket: text frame; closing with 1003/);
  // A malformed binary message: refused and logged, the socket and the document carry on.
  const raw = await rawWebSocket(server.port, { path: `/yjs/${room}` });
  raw.client.send(frame(OP.BINARY, Buffer.from([0, 2, 0xff, 0xff, 0xff])));
  await logLine(server, /doc yws-garbage: (update from channel \d+ refused|malformed message)/);
  phx.doc.getText('t').insert(0, 'still fine');
  await converged([phx, yws], 10000);
  assert.equal(yws.doc.getText('t').toString(), 'still fine');
  // A bad name: 400. The endpoint switched off: not found.
  const bad = await httpOnce(server.port, upgradeRequest({ path: '/yjs/%zz' }).req, { keepAlive: true });
  assert.equal(bad.status, 400);
  const off = await serve(['--yws-path', '']);
  const none = await httpOnce(off.port, upgradeRequest({ path: `/yjs/${room}` }).req, { keepAlive: true });
  assert.equal(none.status, 404);
  yws.destroy();
});

test('with access control the token comes as the token query parameter', async () => {
  const secret = 'yws-secret';
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const jwt = (claims) => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const server = await serve(['--auth-secret', secret]);
  const room = 'yws-auth';
  const denied = await httpOnce(server.port, upgradeRequest({ path: `/yjs/${room}` }).req, { keepAlive: true });
  assert.equal(denied.status, 403);
  const ok = await ywsClient(server, room, { params: { token: jwt({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 600 }) } });
  ok.doc.getText('t').insert(0, 'authorized');
  const phx = new DocClient(await openSocket(server.url, { params: { token: jwt({ sub: 'p', exp: Math.floor(Date.now() / 1000) + 600 }) } }), room, { name: 'phx' });
  await phx.synced();
  await phx.waitFor((j) => j.t === 'authorized');
  ok.destroy();
});
