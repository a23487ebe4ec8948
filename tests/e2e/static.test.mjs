// Static files (issue 15, `--web DIR`): content types, index.html, ETag/If-None-Match, gzip
// when accepted, Cache-Control for hashed names, traversal and symlink escapes refused, HEAD,
// `--web ''` off, and by default the web app the build bundles beside the binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startServer, CINDER_BIN } from './server.mjs';
import { once } from 'node:events';
import { httpOnce, tcpConnect, untilAccepting, logLine } from './raw.mjs';

const SECRET = 'top-secret-outside-the-root';
const APP_JS = 'console.log("app");\n'.repeat(20);
let dir, root, server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cinder-static-'));
  root = join(dir, 'web');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>cinder</title>\n');
  writeFileSync(join(root, 'app-3f9a2c1d.js'), APP_JS);
  writeFileSync(join(root, 'app-3f9a2c1d.js.gz'), gzipSync(APP_JS));
  writeFileSync(join(root, 'style.css'), 'body{}\n');
  writeFileSync(join(root, 'data.json'), '{"a":1}\n');
  writeFileSync(join(root, 'logo.svg'), '<svg/>');
  writeFileSync(join(root, 'blob.bin'), Buffer.from([1, 2, 3]));
  writeFileSync(join(root, 'sub', 'index.html'), 'sub index\n');
  writeFileSync(join(dir, 'x'), SECRET);
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  symlinkSync(join(dir, 'secret.txt'), join(root, 'link.txt')); // a symlink out of the root
  symlinkSync(dir, join(root, 'updir')); // a symlinked directory out of the root
  server = await startServer({ workers: 2, args: ['--web', root] });
  await untilAccepting(server.port);
});

after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0);
  rmSync(dir, { recursive: true, force: true });
});

const get = (path, headers = {}) => fetch(server.http + path, { headers });
const raw = (port, path, headers = '') =>
  httpOnce(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, { keepAlive: true });

test('GET / is index.html; content types by extension', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await r.text(), /<title>cinder<\/title>/);
  const sub = await get('/sub/');
  assert.equal(await sub.text(), 'sub index\n');
  const types = {
    '/index.html': 'text/html; charset=utf-8',
    '/app-3f9a2c1d.js': 'text/javascript; charset=utf-8',
    '/style.css': 'text/css; charset=utf-8',
    '/data.json': 'application/json',
    '/logo.svg': 'image/svg+xml',
    '/blob.bin': 'application/octet-stream',
  };
  for (const [path, type] of Object.entries(types)) {
    const res = await get(path, { 'accept-encoding': 'identity' });
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), type, path);
    await res.arrayBuffer();
  }
});

test('ETag and If-None-Match: 304 with no body', async () => {
  const r = await get('/style.css');
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  await r.text();
  const nm = await raw(server.port, '/style.css', `If-None-Match: "nope", ${etag}\r\n`);
  assert.equal(nm.status, 304);
  assert.equal(nm.body, '');
  assert.equal(nm.headers.etag, etag);
  assert.equal(nm.headers['content-length'], undefined);
  const other = await raw(server.port, '/style.css', 'If-None-Match: "other"\r\n');
  assert.equal(other.status, 200);
  assert.equal(other.body, 'body{}\n');
});

test('gzip served when accepted, not otherwise; hashed names are immutable', async () => {
  const gz = await httpOnce(server.port,
    'GET /app-3f9a2c1d.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip\r\n\r\n', { keepAlive: true });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.equal(gz.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(gz.headers['cache-control'], 'public, max-age=31536000, immutable');
  // fetch decodes it: the same bytes as the plain file
  const viaFetch = await get('/app-3f9a2c1d.js', { 'accept-encoding': 'gzip' });
  assert.equal(viaFetch.headers.get('content-encoding'), 'gzip');
  assert.equal(await viaFetch.text(), APP_JS);
  for (const ae of [null, 'identity', 'gzip;q=0', 'br', '*;q=0']) {
    const r = await raw(server.port, '/app-3f9a2c1d.js', ae ? `Accept-Encoding: ${ae}\r\n` : '');
    assert.equal(r.status, 200, String(ae));
    assert.equal(r.headers['content-encoding'], undefined, String(ae));
    assert.equal(r.body, APP_JS, String(ae));
  }
  const star = await httpOnce(server.port,
    'GET /app-3f9a2c1d.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: *\r\n\r\n', { keepAlive: true });
  assert.equal(star.headers['content-encoding'], 'gzip');
  assert.equal(Number(star.headers['content-length']), gzipSync(APP_JS).length);
});

test('traversal, NUL, backslash and symlink escapes: 400/404, nothing outside the root', async () => {
  const attempts = {
    '/../x': [400, 404], '/%2e%2e/x': [400], '/a/%2E%2E/%2E%2E/x': [400], '/%00': [400],
    '/a\\..\\x': [400], '/..%2fx': [400], '/.%2e/secret.txt': [400], '/%zz': [400],
    '/link.txt': [404], '/updir/secret.txt': [404], '/updir/x': [404], '/sub': [404],
  };
  for (const [path, statuses] of Object.entries(attempts)) {
    let r;
    try {
      r = await httpOnce(server.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    } catch (e) {
      assert.fail(`${path}: ${e.message}`);
    }
    assert.ok(statuses.includes(r.status), `${path}: ${r.status} ${r.body}`);
    assert.ok(!r.body.includes(SECRET), `${path} served a file outside the root`);
    assert.equal(r.closed, true);
  }
  await logLine(server, /GET \/link\.txt: not found \(static files: a symlink\)/);
  await logLine(server, /GET \/updir\/secret\.txt: not found \(static files: outside the web root\)/);
  await logLine(server, /GET \/%2e%2e\/x: bad path \(static files: '\.\.' segment\)/);
});

test('unknown path 404; other methods 405; /api and /healthz untouched', async () => {
  const r = await get('/nope.js');
  assert.equal(r.status, 404);
  assert.deepEqual(await r.json(), { error: 'not found' });
  const post = await fetch(server.http + '/index.html', { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.text();
  const h = await get('/healthz');
  assert.equal(h.status, 200);
  assert.equal((await h.json()).status, 'ok');
  const api = await get('/api/no-such-thing');
  assert.equal(api.status, 404);
  await api.text();
});

test('HEAD: the headers of GET, no body', async () => {
  const r = await fetch(server.http + '/style.css', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-length'), '7');
  assert.equal(r.headers.get('content-type'), 'text/css; charset=utf-8');
  assert.ok(r.headers.get('etag'));
  assert.equal(await r.text(), '');
  // on the wire: the head, then nothing (the server closes after it)
  const sock = await tcpConnect(server.port);
  let bytes = Buffer.alloc(0);
  sock.on('data', (d) => { bytes = Buffer.concat([bytes, d]); });
  sock.write('HEAD /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await once(sock, 'close');
  const text = bytes.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nContent-Length: 7\r\n/);
  assert.ok(text.endsWith('\r\n\r\n'), JSON.stringify(text));
});

test("no --web: the bundled web app beside the binary; --web '' or no bundle: no static files", async () => {
  // The build bundles web/ into <build>/web beside the binary (web/build.mjs); serve finds it there.
  const s = await startServer({ workers: 1 });
  try {
    await untilAccepting(s.port);
    const home = await fetch(s.http + '/');
    assert.equal(home.status, 200);
    assert.match(home.headers.get('content-type'), /^text\/html/);
    const html = await home.text();
    assert.match(html, /href="\/activity\.html"/);
    assert.match(html, /action="\/canvas\.html"/);
    const script = html.match(/<script type="module" src="(\/assets\/index-[A-Z0-9]{8}\.js)">/);
    assert.ok(script, `the page names its hashed bundle: ${html}`);
    const js = await fetch(s.http + script[1]);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    assert.match(js.headers.get('cache-control'), /immutable/);
    await js.text();
    for (const page of ['/canvas.html', '/activity.html']) {
      const r = await fetch(s.http + page);
      assert.equal(r.status, 200, page);
      assert.match(await r.text(), /<script type="module" src="\/assets\//, page);
    }
  } finally {
    assert.equal((await s.stop()).code, 0);
  }

  // --web '' turns them off; so does a binary with no web/ beside it (a C-only build).
  const bare = mkdtempSync(join(tmpdir(), 'cinder-bare-'));
  copyFileSync(CINDER_BIN, join(bare, 'cinder'));
  chmodSync(join(bare, 'cinder'), 0o755);
  try {
    for (const opts of [{ args: ['--web', ''] }, { bin: join(bare, 'cinder') }]) {
      const s = await startServer({ workers: 1, ...opts });
      try {
        await untilAccepting(s.port);
        for (const path of ['/', '/index.html', '/app-3f9a2c1d.js']) {
          const r = await fetch(s.http + path);
          assert.equal(r.status, 404, `${JSON.stringify(opts)} ${path}`);
          await r.text();
        }
      } finally {
        const { code } = await s.stop();
        assert.equal(code, 0);
      }
    }
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});
