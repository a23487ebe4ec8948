// The server API end to end (issue 5, "Done when"): POST /api/broadcast reaches phoenix.js
// clients on both workers as a broadcast frame with its JSON payload intact; GET /api/topics sums
// subscribers across workers; GET /api/presence returns the state phoenix.js `Presence` syncs to;
// the bearer key (--api-key / CINDER_API_KEY) with 401s; GET /metrics parsed as strict
// Prometheus text, agreeing with /healthz. Bad input is in api-bad-input.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Presence } from 'phoenix';
import { startServer } from './server.mjs';
import { connectSocket, join, receive, next, cast, workerOf } from './clients.mjs';
import { rawWebSocket, tcpConnect, OP, untilAccepting, logLine, within } from './raw.mjs';

// Each test has its own server; its sockets are closed and the server stopped whatever happens.
const opened = new Map(); // server -> sockets
async function serve(t, opts = {}) {
  const server = await startServer({ workers: 2, ...opts });
  opened.set(server, []);
  t.after(async () => {
    for (const s of opened.get(server)) s.disconnect();
    opened.delete(server);
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  });
  await untilAccepting(server.port);
  return server;
}

async function stopOk(server) {
  for (const s of opened.get(server)) s.disconnect();
  assert.equal((await server.stop()).code, 0);
}

async function socket(server, opts) {
  const s = await connectSocket(server.url, opts);
  opened.get(server).push(s);
  return s;
}

// At least n phoenix.js sockets, with both workers among them (bounded).
async function socketsOnBothWorkers(server, n) {
  const out = [];
  const seen = new Set();
  while (out.length < n || seen.size < 2) {
    assert.ok(out.length < 32, 'sockets on both workers');
    const s = await socket(server);
    out.push(s);
    seen.add(workerOf(s));
  }
  return out;
}

async function api(server, path, { method = 'GET', body, key, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  if (key) h.authorization = `Bearer ${key}`;
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, body: json };
}

const PAYLOAD = {
  text: 'héllo 🔥 "quoted" \\ back\nslash',
  n: [0, -1, 2.5, 0.1, 1e300, -0.000001, 9007199254740991, true, false, null],
  nested: { deep: { deeper: [{}, [], { k: '' }] } },
  empty: '',
};

test('POST /api/broadcast reaches clients on both workers, payload intact, as a broadcast', async (t) => {
  const server = await serve(t);
  const topic = 'room:news';
  const sockets = await socketsOnBothWorkers(server, 3);
  const channels = [];
  for (const s of sockets) {
    const { channel, reply } = await join(s, topic);
    assert.equal(reply.status, 'ok');
    channels.push(channel);
  }
  // A raw V2 client shows the frame phoenix.js hides: join_ref and ref both null.
  const { client } = await rawWebSocket(server.port);
  client.sendJSON(['1', '1', topic, 'phx_join', {}]);
  assert.equal((await client.reply('1'))[4].status, 'ok');
  // An unrelated topic gets nothing.
  const other = await socket(server);
  const { channel: otherCh } = await join(other, 'room:elsewhere');
  const stray = [];
  otherCh.on('headline', (p) => stray.push(p));

  const got = channels.map((ch) => within(next(ch, 'headline'), 5000, 'headline at a phoenix.js client'));
  const res = await api(server, '/api/broadcast', { method: 'POST', body: { topic, event: 'headline', payload: PAYLOAD } });
  assert.equal(res.status, 202);
  assert.deepEqual(res.body, { status: 'accepted' });
  assert.match(res.headers.get('content-type'), /^application\/json/);
  for (const p of await Promise.all(got)) assert.deepEqual(p, PAYLOAD);
  const workers = new Set(sockets.map(workerOf));
  assert.deepEqual([...workers].sort(), ['0', '1'], 'delivered on both workers');

  let frame;
  for (;;) {
    const f = JSON.parse((await client.nextOf(OP.TEXT)).text);
    if (f[3] === 'headline') { frame = f; break; }
    assert.match(f[3], /^presence_/);
  }
  assert.deepEqual(frame, [null, null, topic, 'headline', PAYLOAD]);

  // Without a payload: {}. A topic nobody joined: accepted, delivered to nobody.
  const empty = channels.map((ch) => next(ch, 'ping_all'));
  assert.equal((await api(server, '/api/broadcast', { method: 'POST', body: { topic, event: 'ping_all' } })).status, 202);
  for (const p of await Promise.all(empty)) assert.deepEqual(p, {});
  assert.equal((await api(server, '/api/broadcast', { method: 'POST', body: { topic: 'room:nobody', event: 'x', payload: {} } })).status, 202);
  // The frames arrive in order: after ping_all, nothing stray reached room:elsewhere.
  await receive(otherCh.push('ping', {}));
  assert.deepEqual(stray, []);
  client.destroy();
  await stopOk(server);
});

test('GET /api/topics sums subscribers across workers; GET /api/presence matches phoenix.js Presence', async (t) => {
  const server = await serve(t);
  const [a, b, c] = await socketsOnBothWorkers(server, 3);
  const topic = 'room:tp';
  const ca = a.channel(topic, { user: 'alice' });
  const presence = new Presence(ca);
  let synced = () => {};
  presence.onSync(() => synced());
  assert.equal((await receive(ca.join())).status, 'ok');
  const cb = (await join(b, topic, { user: 'bob' })).channel;
  const cb2 = (await join(c, topic, { user: 'bob' })).channel;
  await join(c, 'room:other', { user: 'carol' });
  await join(a, 'activity:server');

  const topics = await api(server, '/api/topics');
  assert.equal(topics.status, 200);
  assert.equal(topics.headers.get('cache-control'), 'no-store');
  assert.deepEqual(topics.body, { topics: [
    { topic: 'activity:server', subscribers: 1 },
    { topic: 'room:other', subscribers: 1 },
    { topic: 'room:tp', subscribers: 3 },
  ] });

  // Presence: what the API returns is the state phoenix.js synced to (metas in any order).
  const norm = (state) => Object.fromEntries(Object.entries(state).sort(([x], [y]) => x.localeCompare(y))
    .map(([k, { metas }]) => [k, { metas: [...metas].sort((m, n) => m.phx_ref.localeCompare(n.phx_ref)) }]));
  const keys = () => presence.list((k, { metas }) => `${k}:${metas.length}`).sort().join(',');
  await within(new Promise((res) => { synced = () => { if (keys() === 'alice:1,bob:2') res(); }; synced(); }),
    5000, 'alice and bob (twice) in phoenix.js Presence');
  const p = await api(server, `/api/presence?topic=${encodeURIComponent(topic)}`);
  assert.equal(p.status, 200);
  assert.equal(p.body.topic, topic);
  assert.deepEqual(norm(p.body.presences), norm(presence.state));
  assert.deepEqual(Object.keys(p.body.presences).sort(), ['alice', 'bob']);
  for (const m of p.body.presences.bob.metas) {
    assert.match(m.phx_ref, /^[A-Za-z0-9_-]+$/);
    assert.match(m.online_at, /^\d+$/);
  }
  // Unencoded colon works too; a topic without presences has an empty state.
  assert.deepEqual((await api(server, `/api/presence?topic=${topic}`)).body.presences, p.body.presences);
  assert.deepEqual((await api(server, '/api/presence?topic=room:empty')).body, { topic: 'room:empty', presences: {} });

  // A leave on one worker and a dropped socket: topics and presence follow.
  assert.equal((await receive(cb.leave())).status, 'ok');
  c.conn.terminate();
  c.disconnect();
  await within(new Promise((res) => { synced = () => { if (keys() === 'alice:1') res(); }; synced(); }),
    5000, 'alice alone in phoenix.js Presence');
  assert.ok(cb2);
  const after = await api(server, '/api/topics');
  assert.deepEqual(after.body.topics.filter((x) => x.subscribers > 0),
    [{ topic: 'activity:server', subscribers: 1 }, { topic: 'room:tp', subscribers: 1 }]);
  assert.deepEqual(after.body.topics.filter((x) => x.subscribers === 0), [], 'no empty topics listed');
  assert.deepEqual(norm((await api(server, `/api/presence?topic=${topic}`)).body.presences), norm(presence.state));
  await stopOk(server);
});

test('the API key: 401 without or with a wrong key (JSON body, WWW-Authenticate), served with it', async (t) => {
  const server = await serve(t, { args: ['--api-key', 'secret'] });
  const routes = [
    ['POST', '/api/broadcast', { topic: 'room:k', event: 'e', payload: {} }, 202],
    ['POST', '/api/events', { stream: 'k', value: 1 }, 202],
    ['GET', '/api/topics', undefined, 200],
    ['GET', '/api/presence?topic=room:k', undefined, 200],
    ['GET', '/metrics', undefined, 200],
  ];
  let refusals = 0;
  for (const [method, path, body, ok] of routes) {
    const none = await api(server, path, { method, body });
    assert.equal(none.status, 401, `${method} ${path} without a key`);
    assert.deepEqual(none.body, { error: 'missing API key' });
    assert.match(none.headers.get('content-type'), /^application\/json/);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="cinder"');
    for (const auth of ['Bearer wrong', 'Bearer secret2', 'Bearer secre', 'Bearer  secret', 'Basic c2VjcmV0',
      'secret', 'Bearer', 'Bearer secretsecret']) {
      const bad = await api(server, path, { method, body, headers: { authorization: auth } });
      assert.equal(bad.status, 401, `${method} ${path} with '${auth}'`);
      assert.deepEqual(bad.body, { error: 'invalid API key' });
      assert.equal(bad.headers.get('www-authenticate'), 'Bearer realm="cinder"');
      refusals++;
    }
    refusals++;
    const good = await api(server, path, { method, body, key: 'secret' });
    assert.equal(good.status, ok, `${method} ${path} with the key: ${good.text}`);
    // The scheme is case-insensitive (RFC 9110 §11.1).
    assert.equal((await api(server, path, { method, body, headers: { authorization: 'bearer secret' } })).status, ok);
  }
  // One log line per refusal.
  await logLine(server, /refused: wrong API key/);
  const lines = server.log().split('\n').filter((l) => /api: .* refused: (missing|wrong) API key/.test(l));
  assert.equal(lines.length, refusals);
  // The key guards the API only: phoenix.js and /healthz need none.
  const s = await socket(server);
  assert.equal((await join(s, 'room:k')).reply.status, 'ok');
  assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
  await stopOk(server);

  // The key from CINDER_API_KEY; a flag wins over the variable.
  const env = await serve(t, { env: { CINDER_API_KEY: 'from-env' } });
  assert.equal((await api(env, '/api/topics')).status, 401);
  assert.equal((await api(env, '/api/topics', { key: 'from-env' })).status, 200);
  await stopOk(env);
  const both = await serve(t, { env: { CINDER_API_KEY: 'from-env' }, args: ['--api-key', 'flag'] });
  assert.equal((await api(both, '/api/topics', { key: 'from-env' })).status, 401);
  assert.equal((await api(both, '/api/topics', { key: 'flag' })).status, 200);
  await stopOk(both);
});

// --- Prometheus text format 0.0.4, parsed strictly ------------------------------------------------

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

// Returns {families: name -> {type, help, samples: [{labels, value}]}}; throws on anything that
// is not well-formed text exposition.
function parsePrometheus(text) {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const families = new Map();
  const seenSeries = new Set();
  const family = (name) => {
    if (!families.has(name)) families.set(name, { type: null, help: null, samples: [] });
    return families.get(name);
  };
  let current = null; // samples of a family must be contiguous
  const closed = new Set();
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    assert.ok(line.length > 0, `no empty lines (${where})`);
    if (line.startsWith('#')) {
      const m = line.match(/^# (HELP|TYPE) (\S+) (.*)$/);
      assert.ok(m, `comment is HELP or TYPE (${where})`);
      const [, kind, name, rest] = m;
      assert.match(name, NAME, where);
      const f = family(name);
      assert.ok(!closed.has(name) || current === name, `family ${name} is contiguous (${where})`);
      if (kind === 'TYPE') {
        assert.equal(f.type, null, `one TYPE per family (${where})`);
        assert.equal(f.samples.length, 0, `TYPE before samples (${where})`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), where);
        f.type = rest;
      } else {
        assert.equal(f.help, null, `one HELP per family (${where})`);
        f.help = rest;
      }
      if (current && current !== name) closed.add(current);
      current = name;
      continue;
    }
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/);
    assert.ok(m, `sample line (${where})`);
    const [, name, labelText, value] = m;
    assert.match(value, VALUE, `value is a number (${where})`);
    const labels = {};
    if (labelText !== undefined && labelText !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < labelText.length) {
        re.lastIndex = at;
        const lm = re.exec(labelText);
        assert.ok(lm, `label pairs (${where})`);
        assert.match(lm[1], LABEL);
        assert.ok(!(lm[1] in labels), `no repeated label (${where})`);
        labels[lm[1]] = lm[2];
        at = re.lastIndex;
        if (lm[3] === '') break;
      }
      assert.equal(at, labelText.length, `labels fully parsed (${where})`);
    }
    const f = families.get(name);
    assert.ok(f && f.type, `sample of ${name} has a TYPE before it (${where})`);
    assert.equal(current, name, `samples follow their family's comments (${where})`);
    const series = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
    assert.ok(!seenSeries.has(series), `series ${series} appears once`);
    seenSeries.add(series);
    f.samples.push({ labels, value: Number(value) });
  }
  for (const [name, f] of families) {
    assert.ok(f.type, `${name} has a TYPE`);
    if (f.type === 'counter') {
      assert.match(name, /_total$/, `counter ${name} ends in _total`);
      for (const s of f.samples) assert.ok(s.value >= 0 && Number.isFinite(s.value), `${name} >= 0`);
    }
  }
  return families;
}

const sum = (families, name) => families.get(name).samples.reduce((a, s) => a + s.value, 0);

// The complete HTTP/1.1 responses (Content-Length bodies) at the start of buf, in order.
function parseResponses(buf) {
  const out = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) return out;
    const [statusLine, ...lines] = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = statusLine.match(/^HTTP\/1\.1 (\d{3}) (.*)$/);
    assert.ok(m, `status line ${JSON.stringify(statusLine)}`);
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const len = Number(headers['content-length']);
    if (buf.length < end + 4 + len) return out;
    out.push({ status: Number(m[1]), reason: m[2], headers, body: buf.subarray(end + 4, end + 4 + len).toString('utf8') });
    at = end + 4 + len;
  }
}

// One keep-alive HTTP/1.1 connection for every scrape: /metrics and /healthz see the same set of
// connections, and scraping opens none (a closed scrape connection would linger in the counts
// until the server has read its EOF).
async function scraper(server) {
  const sock = await tcpConnect(server.port);
  let buf = Buffer.alloc(0);
  let wake = () => {};
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); wake(); });
  let used = 0;
  const response = async () => {
    for (;;) {
      const all = parseResponses(buf);
      if (all.length > used) return all[used++];
      await within(new Promise((res) => { wake = res; }), 5000, 'an HTTP response');
    }
  };
  const get = async (path) => {
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const r = await response();
    assert.equal(r.headers.connection, undefined, 'kept alive');
    return r;
  };
  return {
    async scrape() {
      const m = await get('/metrics');
      const h = await get('/healthz');
      assert.equal(m.status, 200);
      assert.equal(m.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(h.status, 200);
      return { families: parsePrometheus(m.body), health: JSON.parse(h.body) };
    },
    // Scrapes until pred holds (the server has taken note of closed connections), at most 5 s.
    async scrapeUntil(pred, what) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await this.scrape();
        if (pred(r)) return r;
        assert.ok(Date.now() < deadline, `timed out scraping for ${what}`);
        await new Promise((res) => setImmediate(res));
      }
    },
    close: () => sock.destroy(),
  };
}

test('GET /metrics is Prometheus text; counters never decrease; values agree with /healthz', async (t) => {
  const server = await serve(t);
  const http = await scraper(server);
  const first = await http.scrapeUntil((r) => sum(r.families, 'cinder_connections') === 1,
    'only the scraping connection');
  const expect = {
    cinder_connections: 'gauge', cinder_channels: 'gauge', cinder_documents: 'gauge',
    cinder_messages_in_total: 'counter', cinder_messages_out_total: 'counter',
    cinder_broadcasts_total: 'counter', cinder_bytes_in_total: 'counter', cinder_bytes_out_total: 'counter',
    cinder_document_updates_total: 'counter', cinder_awareness_updates_total: 'counter',
    cinder_storage_writes_total: 'counter', cinder_uptime_seconds: 'gauge', cinder_workers: 'gauge',
    cinder_info: 'gauge', process_resident_memory_bytes: 'gauge',
  };
  for (const [name, type] of Object.entries(expect)) {
    assert.equal(first.families.get(name)?.type, type, name);
    assert.ok(first.families.get(name).help.length > 0, `${name} has HELP`);
  }
  assert.deepEqual(first.families.get('cinder_connections').samples.map((s) => s.labels.worker).sort(), ['0', '1']);
  assert.equal(sum(first.families, 'cinder_workers'), 2);
  const rss = sum(first.families, 'process_resident_memory_bytes');
  assert.ok(rss > 2 ** 20 && rss < 2 ** 34, `resident memory ${rss} bytes`);
  assert.equal(first.health.workers.length, 2);
  assert.equal(sum(first.families, 'cinder_connections'), first.health.connections);

  // Traffic (no other HTTP connection, so the connection count is exact): sockets on both
  // workers, channels, messages, a broadcast.
  const sockets = await socketsOnBothWorkers(server, 3);
  const channels = [];
  for (const s of sockets) {
    const { channel } = await join(s, 'room:m');
    channels.push(channel);
    assert.equal((await receive(channel.push('ping', { x: 1 }))).status, 'ok');
  }
  const heard = next(channels[1], 'shout');
  cast(channels[0], 'shout', { loud: true });
  assert.deepEqual(await heard, { loud: true });
  const joined = channels.length;

  const second = await http.scrape();
  assert.equal(sum(second.families, 'cinder_connections'), second.health.connections);
  assert.equal(sum(second.families, 'cinder_connections'), sockets.length + 1);
  for (const w of second.health.workers) {
    const m = second.families.get('cinder_connections').samples.find((s) => s.labels.worker === String(w.id));
    assert.equal(m.value, w.connections, `worker ${w.id} connections`);
  }
  assert.equal(sum(second.families, 'cinder_channels'), joined);
  for (const [name, f] of second.families) {
    if (f.type !== 'counter') continue;
    for (const s of f.samples) {
      const before = first.families.get(name).samples.find((x) => x.labels.worker === s.labels.worker);
      assert.ok(s.value >= before.value, `${name}{worker=${s.labels.worker}} never decreases`);
    }
  }
  const grew = (n) => sum(second.families, n) - sum(first.families, n);
  assert.ok(grew('cinder_messages_in_total') >= 2 * sockets.length, 'joins and pings counted');
  assert.ok(grew('cinder_broadcasts_total') >= 1);
  assert.ok(grew('cinder_bytes_in_total') > 0 && grew('cinder_bytes_out_total') > 0);
  assert.ok(sum(second.families, 'cinder_uptime_seconds') >= sum(first.families, 'cinder_uptime_seconds'));
  http.close();
  await stopOk(server);
});

test('the strict Prometheus parser refuses malformed exposition', () => {
  const bad = [
    'cinder_x 1\n', // no TYPE
    '# TYPE a counter\na_total 1\n', // sample of an undeclared family
    '# TYPE a_total counter\na_total one\n',
    '# TYPE a_total counter\na_total{w="1} 1\n',
    '# TYPE a_total counter\na_total 1', // no final newline
    '# TYPE a_total counter\n# TYPE a_total counter\na_total 1\n',
    '# TYPE g gauge\ng{w="0"} 1\ng{w="0"} 2\n',
    '# TYPE a counter\na 1\n', // counter without _total
    '# COMMENT x\n',
  ];
  for (const text of bad) assert.throws(() => parsePrometheus(text), undefined, JSON.stringify(text));
  const ok = parsePrometheus('# HELP g A gauge.\n# TYPE g gauge\ng{a="x",b="y\\"z"} -1.5e3\ng 2\n');
  assert.deepEqual(ok.get('g').samples.map((s) => s.value), [-1500, 2]);
});

// HTTP/1.1 requests written back to back on one connection (the server answers one at a time,
// in order, including the routes that gather their answer from every worker).
test('pipelined API requests are answered in order; a client gone before its answer is harmless', async (t) => {
  const server = await serve(t);
  const s = await socket(server);
  await join(s, 'room:pipe', { user: 'ann' });
  const sock = await tcpConnect(server.port);
  let buf = Buffer.alloc(0);
  let wake = () => {};
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); wake(); });
  const get = (path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const body = JSON.stringify({ stream: 'pipe', value: 1 });
  const post = `POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  sock.write(get('/api/topics') + get('/api/presence?topic=room:pipe') + post + get('/metrics') + get('/api/topics'));
  let responses = [];
  await within(new Promise((res) => {
    const check = () => { responses = parseResponses(buf); if (responses.length === 5) res(); };
    wake = check;
    check();
  }), 5000, '5 responses');
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 202, 200, 200]);
  assert.deepEqual(JSON.parse(responses[0].body), { topics: [{ topic: 'room:pipe', subscribers: 1 }] });
  assert.deepEqual(Object.keys(JSON.parse(responses[1].body).presences), ['ann']);
  assert.deepEqual(JSON.parse(responses[2].body), { status: 'accepted' });
  assert.match(responses[3].body, /# TYPE cinder_connections gauge/);
  assert.deepEqual(JSON.parse(responses[4].body), JSON.parse(responses[0].body));
  sock.destroy();

  // Clients that hang up while their answer is being gathered from the workers.
  for (let i = 0; i < 40; i++) {
    const c = await tcpConnect(server.port);
    c.on('error', () => {});
    c.end(get(i % 2 ? '/api/topics' : '/api/presence?topic=room:pipe'));
    if (i % 3 === 0) c.destroy();
  }
  // Still serving.
  assert.equal((await api(server, '/api/topics')).body.topics.length, 1);
  await stopOk(server);
});

// The loopback rule covers IPv6: with no key, a client on [::1] is served. (A non-loopback peer
// would need another interface or a network namespace; these tests use loopback only.)
test('with no API key, the API answers an IPv6 loopback client', async (t) => {
  const server = await startServer({ workers: 2, args: ['--host', '::1'] });
  t.after(async () => {
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  });
  for (let i = 0; ; i++) { // until the workers listen (startServer resolves on the log line)
    try {
      (await tcpConnect(server.port, '::1')).destroy();
      break;
    } catch (e) {
      if (e.code !== 'ECONNREFUSED' || i > 500) throw e;
      await new Promise((res) => setTimeout(res, 10));
    }
  }
  const base = `http://[::1]:${server.port}`;
  const topics = await fetch(`${base}/api/topics`);
  assert.equal(topics.status, 200);
  assert.deepEqual(await topics.json(), { topics: [] });
  const ev = await fetch(`${base}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"stream":"v6","value":1}' });
  assert.equal(ev.status, 202);
  assert.equal((await fetch(`${base}/metrics`)).status, 200);
  assert.equal((await server.stop()).code, 0);
});

// src/net/http_handler.c http_status_text() has no entry for 202 or 429, so the API's 202 and
// 429 answers go out as "202 Unknown" / "429 Unknown" (clients ignore the phrase, but it is
// wrong). Fix: add `case 202: return "Accepted";` and `case 429: return "Too Many Requests";`.
test('status lines carry the standard reason phrase for 202', async (t) => {
  const server = await serve(t);
  const body = '{"stream":"phrase","value":1}';
  const sock = await tcpConnect(server.port);
  let buf = Buffer.alloc(0);
  const got = within(new Promise((res) => {
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); if (parseResponses(buf).length) res(parseResponses(buf)[0]); });
  }), 5000, 'the response');
  sock.write(`POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const r = await got;
  sock.destroy();
  assert.equal(r.status, 202);
  assert.equal(r.reason, 'Accepted');
  await stopOk(server);
});
