// Access control (issue 13): signed tokens (JWT) on connect, topic and write permissions, expiry,
// kicking a user. Tokens are made here with node:crypto (HS256 with a secret, RS256 with a key
// pair generated for the run); clients are the real phoenix.js and y-phoenix-channel.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { Presence } from 'phoenix';
import { startServer, getJSON } from './server.mjs';
import { connectSocket, join, receive, next, TracedWebSocket } from './clients.mjs';
import { httpOnce, upgradeRequest, logLine, within } from './raw.mjs';
import { DocClient, openSocket, converged, until, abandonAll, canon, storedDoc, poll } from './ydoc.mjs';
import { Socket } from 'phoenix';

const SECRET = 'test-secret-0123456789abcdef';
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims, { secret = SECRET, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
function rs256(claims) {
  const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const servers = [];
after(async () => {
  abandonAll();
  for (const s of servers) await s.stop();
});
async function serve(args) {
  const s = await startServer({ args });
  servers.push(s);
  return s;
}

// The upgrade's status with this query string / these sub-protocols.
async function upgradeStatus(server, { query = '', protocols } = {}) {
  const { req } = upgradeRequest({ path: `/socket/websocket?vsn=2.0.0${query}`, protocols });
  const res = await httpOnce(server.port, req, { keepAlive: true }); /* the first response */
  return res.status;
}

function socketWith(server, params, opts = {}) {
  return connectSocket(server.url, { params, ...opts });
}

test('every refusal is a 403 with its reason in the log, never the token', async () => {
  const server = await serve(['--auth-secret', SECRET]);
  const valid = hs256({ sub: 'alice', exp: now() + 600 });
  const cases = [
    ['', 'missing token'],
    ['&token=not-a-jwt', 'malformed token'],
    [`&token=${hs256({ sub: 'alice', exp: now() + 600 }, { secret: 'wrong' })}`, 'bad signature'],
    [`&token=${hs256({ sub: 'alice', exp: now() - 60 })}`, 'token expired'],
    [`&token=${hs256({ sub: 'alice', nbf: now() + 600 })}`, 'token not yet valid'],
    [`&token=${hs256({ exp: now() + 600 })}`, 'missing sub'],
    [`&token=${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice' })}.`, null],
  ];
  for (const [query, reason] of cases) {
    assert.equal(await upgradeStatus(server, { query }), 403, `refused: ${reason ?? 'alg none'}`);
    if (reason) await logLine(server, new RegExp(`socket refused with 403: ${reason}`));
  }
  assert.ok(!server.log().includes(valid.split('.')[2]), 'no token in the log');
  for (const [query] of cases.slice(1)) {
    const sig = query.split('.')[2];
    if (sig) assert.ok(!server.log().includes(sig), 'no signature in the log');
  }
  // The valid one gets in, by the connect param and by phoenix.js's authToken sub-protocol.
  assert.equal(await upgradeStatus(server, { query: `&token=${valid}` }), 101);
  const viaParam = await socketWith(server, { token: valid });
  const viaAuthToken = await connectSocket(server.url, { authToken: valid });
  for (const s of [viaParam, viaAuthToken]) {
    const { reply } = await join(s, 'room:auth', {});
    assert.equal(reply.status, 'ok');
    s.disconnect();
  }
  // LongPoll: the session is refused without a token ({"status":403} as Phoenix answers).
  const lp = await fetch(`${server.http}/socket/longpoll?vsn=2.0.0`);
  assert.deepEqual(await lp.json(), { status: 403 });
  const lpOk = await fetch(`${server.http}/socket/longpoll?vsn=2.0.0&token=${valid}`);
  assert.equal((await lpOk.json()).status, 410, 'a session opens with the token');
});

test('an HS256 token is refused by an RS256-only server; RS256 passes; --auth optional lets anonymous in', async () => {
  const dir = mkdtempSync(pathJoin(tmpdir(), 'cinder-auth-'));
  const pem = pathJoin(dir, 'key.pem');
  writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
  const server = await serve(['--auth-public-key', pem]);
  const claims = { sub: 'bob', exp: now() + 600 };
  assert.equal(await upgradeStatus(server, { query: `&token=${hs256(claims)}` }), 403);
  await logLine(server, /socket refused with 403: algorithm does not match the configured key/);
  // The classic forgery: HS256 "signed" with the public key's PEM text as the secret.
  const forged = hs256(claims, { secret: publicKey.export({ type: 'spki', format: 'pem' }) });
  assert.equal(await upgradeStatus(server, { query: `&token=${forged}` }), 403);
  assert.equal(await upgradeStatus(server, { query: `&token=${rs256(claims)}` }), 101);

  const optional = await serve(['--auth-secret', SECRET, '--auth', 'optional']);
  assert.equal(await upgradeStatus(optional, {}), 101, 'anonymous');
  assert.equal(await upgradeStatus(optional, { query: '&token=garbage' }), 403, 'a token is still checked');
});

test('sub is the presence key; channels patterns allow and refuse joins', async () => {
  const server = await serve(['--auth-secret', SECRET]);
  const alice = await socketWith(server, { token: hs256({ sub: 'alice', exp: now() + 600, channels: ['room:team-*'] }) });
  // A client-chosen user is ignored when the socket has a token.
  const channel = alice.channel('room:team-a', { user: 'mallory' });
  const presence = new Presence(channel); /* before the join: presence_state follows its reply */
  const reply = await receive(channel.join());
  assert.equal(reply.status, 'ok');
  await until(() => presence.list().length === 1, (f) => { presence.onSync(f); return () => {}; },
    { describe: () => JSON.stringify(presence.list()) });
  assert.deepEqual(presence.list((key) => key), ['alice']);
  const api = await getJSON(`${server.http}/api/presence?topic=room:team-a`);
  assert.deepEqual(Object.keys(api.body.presences), ['alice']);
  // Outside the patterns: unauthorized, with a log line.
  const refused = await join(alice, 'room:other', {});
  assert.deepEqual(refused.reply, { status: 'error', response: { reason: 'unauthorized' } });
  await logLine(server, /join of 'room:other' refused: not in the token's channels \(user alice\)/);
  const exact = await join(alice, 'room:team-', {});
  assert.equal(exact.reply.status, 'ok', 'the wildcard matches an empty rest');
  alice.disconnect();
});

test('a read-only document client syncs and sees edits; its own edits reach nobody and are not stored', async () => {
  const server = await serve(['--auth-secret', SECRET]);
  const room = 'auth-ro';
  const writer = new DocClient(await openSocket(server.url, { params: { token: hs256({ sub: 'w', exp: now() + 600 }) } }), room, { name: 'writer' });
  await writer.synced();
  writer.doc.getText('t').insert(0, 'hello');
  const reader = new DocClient(await openSocket(server.url, { params: { token: hs256({ sub: 'r', exp: now() + 600, write: ['room:*'] }) } }), room, { name: 'reader' });
  await reader.synced();
  await reader.waitFor((j) => j.t === 'hello');
  // Others' edits keep coming.
  writer.doc.getText('t').insert(5, ' world');
  await reader.waitFor((j) => j.t === 'hello world');
  // Its own edit is refused at the channel: the writer never gets it, nothing is stored.
  reader.doc.getText('t').insert(0, 'EVIL ');
  await logLine(server, /doc auth-ro: edit from read-only user r refused/);
  writer.doc.getText('t').insert(11, '!');
  await reader.waitFor((j) => j.t.endsWith('!'));
  assert.equal(writer.doc.getText('t').toString(), 'hello world!');
  const stored = await poll(async () => {
    const s = await storedDoc(server.data, room);
    return s.doc.getText('t').toString() === 'hello world!' ? s : null;
  }, { describe: () => 'the store holds the writer\'s edits' });
  assert.ok(!stored.doc.getText('t').toString().includes('EVIL'));
  // A room push outside `write` is refused with an error reply.
  const s = await socketWith(server, { token: hs256({ sub: 'r', exp: now() + 600, write: ['room:own'] }) });
  const { channel } = await join(s, 'room:shared', {});
  const r = await receive(channel.push('msg', { x: 1 }));
  assert.deepEqual(r, { status: 'error', response: { reason: 'unauthorized' } });
  s.disconnect();
  writer.abandon();
  reader.abandon();
});

test('past exp (and the 5 s leeway) the socket is closed (1008 "token expired"); the reconnect with it gets 403', async () => {
  const server = await serve(['--auth-secret', SECRET]);
  const token = hs256({ sub: 'shortlived', exp: now() + 2 });
  const ws = new TracedWebSocket(`${server.url}/websocket?vsn=2.0.0&token=${token}`);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const [code, reason] = await within(new Promise((res) => ws.once('close', (c, r) => res([c, r.toString()]))), 15000, 'the close at exp');
  assert.equal(code, 1008);
  assert.equal(reason, 'token expired');
  await logLine(server, /token of shortlived expired/);
  assert.equal(await upgradeStatus(server, { query: `&token=${token}` }), 403);
  await logLine(server, /socket refused with 403: token expired/);
});

test('POST /api/disconnect closes exactly that user\'s sockets', async () => {
  const server = await serve(['--auth-secret', SECRET]);
  const opts = { reconnectAfterMs: () => 60000 };
  const alice1 = await socketWith(server, { token: hs256({ sub: 'alice', exp: now() + 600 }) }, opts);
  const alice2 = await socketWith(server, { token: hs256({ sub: 'alice', exp: now() + 600 }) }, opts);
  const bob = await socketWith(server, { token: hs256({ sub: 'bob', exp: now() + 600 }) }, opts);
  const closed = (s) => new Promise((res) => s.onClose(res));
  const gone = [closed(alice1), closed(alice2)];
  let bobClosed = false;
  bob.onClose(() => { bobClosed = true; });
  const res = await fetch(`${server.http}/api/disconnect`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }),
  });
  assert.equal(res.status, 202);
  await within(Promise.all(gone), 5000, "alice's sockets closed");
  await logLine(server, /socket\(s\) of user alice disconnected/);
  // Bob is still served.
  const { reply } = await join(bob, 'room:still', {});
  assert.equal(reply.status, 'ok');
  assert.equal(bobClosed, false);
  const bad = await fetch(`${server.http}/api/disconnect`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 3 }),
  });
  assert.equal(bad.status, 400);
  // The internal topic is nobody's to list or join.
  const topics = await getJSON(`${server.http}/api/topics`);
  assert.ok(!topics.body.topics.some((t) => t.topic.startsWith('cinder:')));
  const { reply: j } = await join(bob, 'cinder:disconnect', {});
  assert.equal(j.status, 'error');
  bob.disconnect();
  alice1.disconnect();
  alice2.disconnect();
});

test('in a cluster, POST /api/disconnect on one node closes the user\'s sockets on every node', async (t) => {
  const { startCluster } = await import('./cluster.mjs');
  const cluster = await startCluster(2, { args: ['--auth-secret', SECRET] });
  t.after(() => cluster.stop());
  const [A, B] = cluster.nodes;
  const opts = { reconnectAfterMs: () => 60000 };
  const token = hs256({ sub: 'carol', exp: now() + 600 });
  const onA = await connectSocket(A.url, { params: { token }, ...opts });
  const onB = await connectSocket(B.url, { params: { token }, ...opts });
  const dave = await connectSocket(B.url, { params: { token: hs256({ sub: 'dave', exp: now() + 600 }) }, ...opts });
  const gone = [onA, onB].map((s) => new Promise((res) => s.onClose(res)));
  const res = await fetch(`${A.http}/api/disconnect`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'carol' }),
  });
  assert.equal(res.status, 202);
  await within(Promise.all(gone), 10000, "carol's sockets on both nodes closed");
  await logLine(B, /socket\(s\) of user carol disconnected/);
  const { reply } = await join(dave, 'room:after-kick', {});
  assert.equal(reply.status, 'ok', 'dave is still served');
  for (const s of [onA, onB, dave]) s.disconnect();
});
