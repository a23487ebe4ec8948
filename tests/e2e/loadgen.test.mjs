// The load generator (bench/loadgen.c, built next to cinder as `loadgen`) against the test build:
// a smoke test that it connects, joins, fans out and measures, and that its JSON report says so.
// Small on purpose (200 sockets): the scale runs are by hand (bench/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { startServer, CINDER_BIN } from './server.mjs';

const LOADGEN = process.env.LOADGEN_BIN || join(dirname(CINDER_BIN), 'loadgen');
const run = promisify(execFile);

async function loadgen(server, args) {
  const argv = [...args, '--port', String(server.port), '--server-pid', String(server.proc.pid),
    '--threads', '2', '--json', '--quiet', '--connect-timeout', '15', '--timeout', '15'];
  const { stdout } = await run(LOADGEN, argv, { timeout: 30000 });
  return JSON.parse(stdout);
}

test('loadgen: connect and broadcast against the server, JSON report complete', async (t) => {
  assert.ok(existsSync(LOADGEN), `no loadgen binary at ${LOADGEN}`);
  const server = await startServer({ workers: 2 });
  t.after(() => server.stop());

  // 200 sockets joined to activity:server from spread source addresses, held 1 s.
  const c = await loadgen(server, ['connect', '--sockets', '200', '--topic', 'activity:server', '--seconds', '1']);
  assert.equal(c.ok, true, JSON.stringify(c));
  assert.equal(c.scenario, 'connect');
  assert.equal(c.joined, 200);
  assert.equal(c.connect_errors + c.handshake_errors + c.join_errors + c.disconnects, 0);
  assert.ok(c.joins_per_s > 0);
  assert.ok(c.server_rss_after_kb > 0 && c.server_rss_before_kb > 0, 'server RSS read from /proc');
  assert.ok(Number.isFinite(c.server_rss_per_socket_bytes));

  // 200 receivers x 20 messages through /api/broadcast, then 200 x 20 pushed by a room member.
  for (const via of ['api', 'push']) {
    const b = await loadgen(server, ['broadcast', '--sockets', '200', '--messages', '20', '--via', via, '--window', '2']);
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.equal(b.joined, 200);
    assert.equal(b.sent, 20);
    assert.equal(b.expected_deliveries, 4000);
    assert.equal(b.delivered, 4000, `${via}: delivered ${b.delivered} of 4000`);
    assert.equal(b.missing, 0);
    assert.equal(b.latency_samples, 4000);
    assert.ok(b.latency_p50_ms > 0 && b.latency_p50_ms <= b.latency_p99_ms && b.latency_p99_ms <= b.latency_p999_ms,
      `${via}: latency ${b.latency_p50_ms} / ${b.latency_p99_ms} / ${b.latency_p999_ms} ms`);
    assert.ok(b.latency_p999_ms <= b.latency_max_ms + 0.001);
    assert.ok(b.delivered_per_s > 0);
    assert.deepEqual(b.errors, []);
  }
});
