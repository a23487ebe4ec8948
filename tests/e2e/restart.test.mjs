// A server restart: clients are closed with 1012 (never 1000), reconnect on their own, and every
// channel rejoins automatically once the server is back on the same port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { connectSocket, receive, next, cast } from './clients.mjs';

test('automatic reconnect and rejoin after the server restarts', async () => {
  const first = await startServer({ workers: 2 });
  const port = first.port;
  const socket = await connectSocket(first.url, { reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 });
  const channel = socket.channel('room:restart', { user: 'lin' });
  // The join push's ok hook fires for the first join and again for every automatic rejoin.
  let joins = 0;
  const waiters = [];
  const joined = (n) => new Promise((res) => waiters.push({ n, res }));
  channel.join().receive('ok', () => {
    joins++;
    for (const w of waiters.splice(0)) (w.n <= joins ? w.res() : waiters.push(w));
  });
  const rejoinedP = joined(2);
  await joined(1);

  const closeCodes = [];
  const closed = new Promise((res) => socket.onClose((e) => { closeCodes.push(e.code); res(); }));
  const errored = new Promise((res) => channel.onError(res));
  const { code } = await first.stop();
  assert.equal(code, 0, 'first server exits 0');
  await closed;
  await errored;
  assert.equal(closeCodes[0], 1012, 'drain closes with 1012 (service restart)');

  const second = await startServer({ workers: 2, port });
  try {
    await rejoinedP;
    assert.equal(joins, 2);
    const other = await connectSocket(second.url);
    const oc = other.channel('room:restart');
    await receive(oc.join());
    const got = next(oc, 'after_restart');
    cast(channel, 'after_restart', { ok: true });
    assert.deepEqual(await got, { ok: true });
    other.disconnect();
  } finally {
    socket.disconnect();
    const { code: code2 } = await second.stop();
    assert.equal(code2, 0);
  }
});
