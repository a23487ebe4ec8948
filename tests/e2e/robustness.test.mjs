// Robustness of the connection layer against hostile and careless clients (issue 9): running
// out of file descriptors, connection caps, the slow-consumer rule, deadlines for what has begun,
// error answers that reach the client (lingering close), and the API behind a proxy. Each case
// checks the refused client's answer, the server's log line, and that a bystander is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import WebSocket from 'ws';

import { startServer, getJSON } from './server.mjs';
import { OP, frame, rawWebSocket, rawHttp, within, logLine, untilAccepting, upgradeRequest } from './raw.mjs';

function count(log, re) {
  return (log.match(new RegExp(re.source, 'g')) || []).length;
}

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
}

// GET /healthz from a given local address; resolves with {status, body} once the server closes.
function getFrom(port, localAddress) {
  return new Promise((res, rej) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    let b = '';
    sock.on('error', rej);
    sock.on('data', (d) => { b += d; });
    sock.on('close', () => res({ status: Number(b.split(' ')[1]), headers: b.split('\r\n\r\n')[0], body: b.split('\r\n\r\n')[1] }));
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

// The server's sockets (client connections and listeners): the descriptors a connection could
// leak. Other descriptors come and go with the test harness (inherited pipes) and libuv.
function fdCount(pid) {
  let n = 0;
  for (const f of readdirSync(`/proc/${pid}/fd`)) {
    try { if (readlinkSync(`/proc/${pid}/fd/${f}`).startsWith('socket:')) n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

// A phoenix V2 WebSocket through the `ws` package (it handles large frames efficiently).
async function wsClient(server, { localAddress } = {}) {
  const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`, { localAddress, maxPayload: 64 << 20 });
  ws.msgs = [];
  ws.waiters = [];
  ws.on('message', (data, binary) => {
    if (binary) return;
    ws.msgs.push(JSON.parse(data.toString()));
    for (const w of ws.waiters.splice(0)) w();
  });
  ws.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise((res, rej) => { ws.once('open', res); ws.once('unexpected-response', (_, r) => rej(Object.assign(new Error(`HTTP ${r.statusCode}`), { status: r.statusCode }))); });
  ws.next = (pred, ms = 10000) => within(new Promise((res) => {
    const check = () => {
      const i = ws.msgs.findIndex(pred);
      if (i >= 0) res(ws.msgs.splice(i, 1)[0]);
      else ws.waiters.push(check);
    };
    check();
  }), ms, 'a message');
  ws.push = (topic, event, payload, ref) => ws.send(JSON.stringify(['1', ref, topic, event, payload]));
  ws.join = async (topic) => {
    ws.send(JSON.stringify(['1', 'j', topic, 'phx_join', {}]));
    const r = await ws.next((m) => m[1] === 'j' && m[2] === topic);
    assert.equal(r[4].status, 'ok');
  };
  ws.ping = async (topic, ref = String(Math.random())) => {
    ws.push(topic, 'ping', { ref }, ref);
    const r = await ws.next((m) => m[1] === ref);
    assert.equal(r[4].status, 'ok');
  };
  return ws;
}

// A member that reads everything as fast as the network allows but only looks at the first bytes
// of each frame: 30 of them take 1.8 GB in this test, more than full \`ws\` clients in one Node
// process can parse in reasonable time.
async function skimmingMember(port, topic) {
  const { client } = await rawWebSocket(port);
  client.sendJSON(['1', 'j', topic, 'phx_join', {}]);
  await client.reply('j');
  const sock = client.sock;
  sock.removeAllListeners('data');
  const m = { heads: [], closed: false, waiters: [] };
  sock.on('close', () => { m.closed = true; for (const w of m.waiters.splice(0)) w(); });
  let hdr = Buffer.alloc(0); // a frame header's bytes gathered so far
  let left = 0;              // payload bytes of the current frame still to skip
  let first = null;          // the first bytes of the current frame's payload
  const done = () => { m.heads.push(first.toString('latin1')); first = null; for (const w of m.waiters.splice(0)) w(); };
  sock.on('data', (d) => {
    let off = 0;
    const take = (n) => { const k = Math.min(n, d.length - off); hdr = Buffer.concat([hdr, d.subarray(off, off + k)]); off += k; };
    while (off < d.length) {
      if (left > 0) {
        const n = Math.min(left, d.length - off);
        if (first.length < 48) first = Buffer.concat([first, d.subarray(off, off + Math.min(n, 48 - first.length))]);
        off += n;
        left -= n;
        if (left === 0) done();
        continue;
      }
      if (hdr.length < 2) { take(2 - hdr.length); if (hdr.length < 2) continue; }
      const l7 = hdr[1] & 0x7f;
      const hl = l7 === 126 ? 4 : l7 === 127 ? 10 : 2;
      if (hdr.length < hl) { take(hl - hdr.length); if (hdr.length < hl) continue; }
      left = l7 === 126 ? hdr.readUInt16BE(2) : l7 === 127 ? Number(hdr.readBigUInt64BE(2)) : l7;
      hdr = Buffer.alloc(0);
      first = Buffer.alloc(0);
      if (left === 0) done();
    }
  });
  m.next = (ms) => within(new Promise((res, rej) => {
    const check = () => {
      if (m.heads.length) res(m.heads.shift());
      else if (m.closed) rej(new Error('member disconnected'));
      else m.waiters.push(check);
    };
    check();
  }), ms, 'a broadcast');
  m.destroy = () => sock.destroy();
  return m;
}

// --- running out of file descriptors -------------------------------------------------------------

test('3,000 sockets against ulimit -n 2000: refusals are answered, nothing spins, /healthz within 5 s after, SIGTERM exits 0', async (t) => {
  const server = await startServer({ workers: 2, wrap: ['prlimit', '--nofile=2000:2000', '--'] });
  const sockets = [];
  try {
    await untilAccepting(server.port);
    const limit = Number(server.log().match(/accepting up to (\d+) connections/)[1]);
    t.diagnostic(`connection cap derived from the descriptor limit: ${limit}`);
    assert.ok(limit < 2000 && limit > 1500);
    const outcomes = { upgraded: 0, refused503: 0, reset: 0 };
    const { req } = upgradeRequest();
    const one = () => new Promise((res) => {
      const sock = net.connect({ port: server.port, host: '127.0.0.1' });
      let buf = '';
      sock.on('error', () => { outcomes.reset++; res(); });
      sock.on('connect', () => sock.write(req));
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        if (buf.startsWith('HTTP/1.1 101')) { outcomes.upgraded++; sockets.push(sock); res(); return; }
        assert.match(buf, /^HTTP\/1\.1 503 /);
        assert.match(buf, /"error":"(server at its connection limit|server out of file descriptors)"/);
        outcomes.refused503++;
        sock.destroy();
        res();
      });
    });
    for (let i = 0; i < 3000; i += 250) await Promise.all(Array.from({ length: 250 }, one));
    t.diagnostic(JSON.stringify(outcomes));
    assert.equal(outcomes.upgraded + outcomes.refused503 + outcomes.reset, 3000);
    assert.ok(outcomes.upgraded <= limit, `at most the cap is admitted (${outcomes.upgraded})`);
    assert.ok(outcomes.upgraded >= limit - 50, `the cap is used (${outcomes.upgraded} of ${limit})`);
    assert.ok(outcomes.refused503 >= 1000 - 50, `refusals are answered with 503 (${outcomes.refused503})`);

    // Not spinning: over a second with every socket open, the server uses little CPU.
    const c0 = cpuSeconds(server.proc.pid);
    await new Promise((r) => setTimeout(r, 1000));
    const used = cpuSeconds(server.proc.pid) - c0;
    t.diagnostic(`CPU while full and idle: ${used.toFixed(2)} s in 1 s`);
    assert.ok(used < 0.5, `the server spins at capacity (${used} s of CPU in 1 s)`);
    // Logged, but not flooded: refusals are rate-limited to a line a second per worker.
    const lines = count(server.log(), /refused: (server at its connection limit|too many)|out of file descriptors/);
    assert.ok(lines >= 1 && lines < 40, `refusal log lines: ${lines}`);

    for (const s of sockets.splice(0)) s.destroy();
    const t0 = Date.now();
    for (;;) {
      try {
        const h = await getJSON(`${server.http}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (h.status === 200 && h.body.connections <= 1) break;
      } catch { /* not yet */ }
      assert.ok(Date.now() - t0 < 5000, '/healthz answers within 5 s after the sockets closed');
      await new Promise((r) => setTimeout(r, 100));
    }
    t.diagnostic(`/healthz back after ${Date.now() - t0} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    const t1 = Date.now();
    const { code } = await server.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - t1 < 5000, 'SIGTERM: exits within 5 s');
  }
});

// --- connection caps ------------------------------------------------------------------------------

test('--max-connections and --max-conns-per-ip: 503 with the reason, one log line; other addresses and bystanders unaffected', async () => {
  const server = await startServer({ workers: 1, args: ['--max-connections', '6', '--max-conns-per-ip', '3'] });
  const open = [];
  try {
    await untilAccepting(server.port);
    const bystander = await wsClient(server, { localAddress: '127.0.0.9' });
    await bystander.join('room:caps');
    open.push(bystander);
    for (let i = 0; i < 3; i++) open.push(await wsClient(server));
    const perIp = await wsClient(server).catch((e) => e);
    assert.equal(perIp.status, 503);
    const r = await getFrom(server.port, '127.0.0.1');
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body), { error: 'too many connections from this address' });
    assert.match(r.headers, /\r\nRetry-After: 1/);
    await logLine(server, /refused: too many connections from this address/);

    // Other addresses still get in, up to the server's cap.
    open.push(await wsClient(server, { localAddress: '127.0.0.2' }));
    open.push(await wsClient(server, { localAddress: '127.0.0.3' }));
    const fullRes = await getFrom(server.port, '127.0.0.4');
    assert.equal(fullRes.status, 503);
    assert.deepEqual(JSON.parse(fullRes.body), { error: 'server at its connection limit' });

    // The bystander is unaffected, and a closed connection frees its place.
    await bystander.ping('room:caps');
    const gone = open.pop();
    gone.close();
    await gone.closed;
    let again;
    for (let i = 0; i < 50 && !again; i++) {
      again = await wsClient(server, { localAddress: '127.0.0.5' }).catch(() => null);
      if (!again) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(again, 'a place freed by a close is taken again');
    open.push(again);
  } finally {
    for (const c of open) c.terminate();
    assert.equal((await server.stop()).code, 0);
  }
});

test('--max-longpoll-per-ip: a session beyond it gets HTTP 503 with {"status":500} (phoenix.js retries later)', async () => {
  const server = await startServer({ workers: 2, args: ['--max-longpoll-per-ip', '2'] });
  try {
    await untilAccepting(server.port);
    const open = async () => {
      const res = await fetch(`${server.http}/socket/longpoll?vsn=2.0.0`);
      return { status: res.status, body: await res.json() };
    };
    const a = await open();
    const b = await open();
    assert.equal(a.body.status, 410);
    assert.equal(b.body.status, 410);
    const c = await open();
    assert.equal(c.status, 503);
    assert.deepEqual(c.body, { status: 500, error: 'too many LongPoll sessions from this address' });
    await logLine(server, /longpoll: session refused: 127\.0\.0\.1 holds 2 sessions/);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

// --- the slow-consumer rule -----------------------------------------------------------------------

test('ten back-to-back 6 MB broadcasts reach 30 reading members with no disconnect (default caps)', async (t) => {
  const server = await startServer({ workers: 2 });
  const members = [];
  let sender;
  try {
    await untilAccepting(server.port);
    for (let i = 0; i < 30; i++) members.push(await skimmingMember(server.port, 'room:big'));
    sender = await wsClient(server);
    await sender.join('room:big');
    const blob = 'y'.repeat(6 << 20);
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) sender.push('room:big', 'big', { i, blob }, `b${i}`);
    await Promise.all(members.map(async (m) => {
      for (let i = 0; i < 10; i++) {
        let head;
        do head = await m.next(60000); while (!head.includes(',"big",')); // presence frames too
        assert.ok(head.startsWith(`[null,null,"room:big","big",{"i":${i},"blob":"yyy`), head);
      }
    }));
    t.diagnostic(`600 deliveries of 6 MB in ${Date.now() - t0} ms`);
    for (const m of members) assert.equal(m.closed, false);
    assert.equal(count(server.log(), /slow consumer/), 0);
    await sender.ping('room:big');
  } finally {
    for (const m of members) m.destroy();
    sender?.terminate();
    assert.equal((await server.stop()).code, 0);
  }
});

test('a member that stops reading is cut once over --max-queue for --queue-grace, with 1013; a reading member is not', async (t) => {
  const server = await startServer({ workers: 1, args: ['--max-queue', '65536', '--queue-grace', '1000'] });
  let slow;
  const others = [];
  try {
    await untilAccepting(server.port);
    ({ client: slow } = await rawWebSocket(server.port));
    slow.sendJSON(['1', 'j', 'room:grace', 'phx_join', {}]);
    await slow.reply('j');
    const reader = await wsClient(server);
    await reader.join('room:grace');
    const sender = await wsClient(server);
    await sender.join('room:grace');
    others.push(reader, sender);
    slow.sock.pause(); // stops reading: first the kernel's buffers fill, then the server's queue
    const blob = 'z'.repeat(32 * 1024);
    let i = 0;
    const evicted = logLine(server, /slow consumer: \d+ bytes unsent, over the soft limit for \d+ ms.*held past the grace; disconnecting with 1013/, 30000);
    let done = false;
    evicted.then(() => { done = true; }, () => { done = true; });
    while (!done) { // a steady trickle, well within what a reading client takes
      sender.push('room:grace', 'tick', { i: i++, blob }, null);
      await new Promise((r) => setTimeout(r, 20));
    }
    await evicted;
    t.diagnostic(`evicted after ${i} broadcasts of 32 KiB`);
    slow.sock.resume();
    const close = await within(slow.nextOf(OP.CLOSE, 10000), 10000, 'the close frame');
    assert.equal(close.code, 1013);
    assert.equal(close.reason, 'slow consumer');
    // The reader got every tick, and is still connected.
    for (let k = 0; k < i; k++) await reader.next((x) => x[3] === 'tick' && x[4].i === k);
    await reader.ping('room:grace');
  } finally {
    slow?.destroy();
    for (const o of others) o.terminate();
    assert.equal((await server.stop()).code, 0);
  }
});

// --- error answers reach the client ----------------------------------------------------------------

test('a 9 MB message gets close 1009 at the Node ws client, 20 of 20 times', async () => {
  const server = await startServer({ workers: 2 });
  try {
    await untilAccepting(server.port);
    const big = Buffer.alloc(9 << 20, 0x61);
    for (let i = 0; i < 20; i++) {
      const ws = new WebSocket(`${server.url}/websocket?vsn=2.0.0`);
      ws.on('error', () => {});
      await new Promise((res) => ws.once('open', res));
      const closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
      ws.send(big);
      const c = await within(closed, 10000, `close ${i}`);
      assert.equal(c.code, 1009, `attempt ${i}: close ${c.code}`);
    }
    await logLine(server, /WebSocket protocol error: message too big/);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

test('a 20 MB POST gets 413 at Node fetch, 20 of 20 times', async () => {
  const server = await startServer({ workers: 2 });
  try {
    await untilAccepting(server.port);
    const body = Buffer.alloc(20 << 20, 0x20);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.http}/api/broadcast`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body,
      });
      assert.equal(res.status, 413, `attempt ${i}`);
      assert.deepEqual(await res.json(), { error: 'request body too large' });
    }
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

// --- deadlines for what has begun -------------------------------------------------------------------

test('slowloris: a head trickled a byte at a time is answered 408 after --http-timeout although bytes keep coming', async () => {
  const server = await startServer({ workers: 1, args: ['--http-timeout', '1000'] });
  try {
    await untilAccepting(server.port);
    const parts = ['GET /healthz HTTP/1.1\r\nHost: x\r\n', ...'X-Slow: abcdefghijklmnopqrstuvwxyz'.split('')];
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    sock.on('error', () => {});
    let got = '';
    sock.on('data', (d) => { got += d; });
    const closed = new Promise((res) => sock.on('close', res));
    await new Promise((res) => sock.once('connect', res));
    const t0 = Date.now();
    let k = 0;
    const timer = setInterval(() => { if (k < parts.length && !sock.destroyed) sock.write(parts[k++]); }, 200);
    await within(closed, 6000, 'the server closes the trickling connection');
    clearInterval(timer);
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.ok(k < parts.length, 'answered while the client was still sending');
    assert.ok(Date.now() - t0 < 3000);
    await logLine(server, /HTTP request timed out \(not complete after \d+ ms\)/);
    const h = await getJSON(`${server.http}/healthz`);
    assert.equal(h.status, 200);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

test('a trickled body is answered 408 after --http-timeout plus 1 s per 64 KiB declared', async () => {
  const server = await startServer({ workers: 1, args: ['--http-timeout', '1000'] });
  try {
    await untilAccepting(server.port);
    const head = 'POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n';
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    sock.on('error', () => {});
    let got = '';
    sock.on('data', (d) => { got += d; });
    const closed = new Promise((res) => sock.on('close', res));
    await new Promise((res) => sock.once('connect', res));
    sock.write(head);
    const t0 = Date.now();
    const timer = setInterval(() => { if (!sock.destroyed) sock.write(' '.repeat(16)); }, 100);
    await within(closed, 8000, 'the server closes the trickling upload');
    clearInterval(timer);
    const took = Date.now() - t0;
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.ok(took > 1500 && took < 4000, `answered after ${took} ms (1 s + 1 s for 64 KiB)`);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

test('a WebSocket message trickled after it began is closed with 1008 after --message-timeout; a bystander is unaffected', async () => {
  const server = await startServer({ workers: 1, args: ['--message-timeout', '1000'] });
  let client;
  try {
    await untilAccepting(server.port);
    const bystander = await wsClient(server);
    await bystander.join('room:trickle');
    ({ client } = await rawWebSocket(server.port));
    const whole = frame(OP.TEXT, Buffer.alloc(1000, 0x20));
    client.send(whole.subarray(0, 8)); // the header and a little: a message has begun
    let k = 8;
    const timer = setInterval(() => { if (k < whole.length && !client.sock.destroyed) client.send(whole.subarray(k, ++k)); }, 100);
    const close = await within(client.nextOf(OP.CLOSE, 8000), 8000, 'the close frame');
    clearInterval(timer);
    assert.equal(close.code, 1008);
    assert.equal(close.reason, 'message timeout');
    await logLine(server, /message not complete after \d+ ms/);
    await bystander.ping('room:trickle');
    bystander.terminate();
  } finally {
    client?.destroy();
    assert.equal((await server.stop()).code, 0);
  }
});

// --- behind a proxy -----------------------------------------------------------------------------------

test('the API without a key: a loopback request carrying Forwarded or X-Forwarded-For is not local (401)', async () => {
  const server = await startServer({ workers: 1 });
  try {
    await untilAccepting(server.port);
    assert.equal((await fetch(`${server.http}/api/topics`)).status, 200);
    for (const h of [{ forwarded: 'for=203.0.113.7' }, { 'x-forwarded-for': '203.0.113.7' }, { 'x-real-ip': '203.0.113.7' }]) {
      const res = await fetch(`${server.http}/api/topics`, { headers: h });
      assert.equal(res.status, 401, JSON.stringify(h));
      assert.match((await res.json()).error, /not through a proxy/);
    }
    await logLine(server, /not local \(or came through a proxy\)/);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

// --- no descriptor leak across all of the above ----------------------------------------------------

test('refused and lingering connections leave no descriptor behind', async () => {
  const server = await startServer({ workers: 1, args: ['--max-connections', '4'] });
  try {
    await untilAccepting(server.port);
    // One request first: libuv opens a descriptor of its own (/dev/null) on first use.
    await rawHttp(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const fds = () => readdirSync(`/proc/${server.proc.pid}/fd`).map((f) => { try { return `${f}:${readlinkSync(`/proc/${server.proc.pid}/fd/${f}`)}`; } catch { return '?'; } }).join(' ');
    // The warm-up connection may still be closing: the baseline is taken once the count is steady.
    let before = fdCount(server.proc.pid);
    for (let k = 0; k < 30; k++) {
      await new Promise((r) => setTimeout(r, 100));
      const n = fdCount(server.proc.pid);
      if (n === before) break;
      before = n;
    }
    const beforeList = fds();
    await Promise.all(Array.from({ length: 40 }, () => rawHttp(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').catch(() => null)));
    await Promise.all(Array.from({ length: 10 }, () => rawHttp(server.port, 'POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nxx').catch(() => null)));
    const t0 = Date.now();
    while (fdCount(server.proc.pid) > before && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(fdCount(server.proc.pid), before, `before: ${beforeList}\nafter: ${fds()}`);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
