// The activity page (web/activity.html, issue 15) in real Chromium against the built binary: the
// server charts are filled from the join reply's history at once and gain a point per interval;
// a POST /api/events value is plotted on the business chart; the document chart follows
// activity:doc:<name> and its picker moves it to another document (the old channel left, as the
// server's /api/topics shows); a reconnect replaces the series without doubling points; the
// LongPoll transport gets samples too; no console errors. Ends with a screenshot of the page after
// some varied traffic (build/test/screenshots/activity.png).
//
// Every wait is on an event: the page's data-points / data-topic hooks (page.waitForFunction) or
// the `sample` pushes a Node phoenix.js watcher receives, which also pace the generated traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { PhoenixChannelProvider } from 'y-phoenix-channel';
import { startServer, getJSON } from '../e2e/server.mjs';
import { connectSocket, join, cast } from '../e2e/clients.mjs';
import { within } from '../e2e/raw.mjs';
import { launchBrowser, openPage, screenshot } from './browser.mjs';

const INTERVAL = 200;
const DOC = 'activity-page-doc';
const OTHER_DOC = 'activity-page-other';
const STREAM = 'activity-page-orders';
const WAIT = { timeout: 15000 };

// The page's test hooks, read in the browser.
const points = (page, id) => page.$eval(`#${id}`, (el) => Number(el.dataset.points));
const serverTs = (page) => page.evaluate(() => window.cinderActivity.streams.server.samples.map((s) => s.t));

// Resolves once chart `id` plots at least `min` points.
function untilPoints(page, id, min, what) {
  return page.waitForFunction(([sel, m]) => Number(document.getElementById(sel)?.dataset.points) >= m,
    [id, min], WAIT).catch((e) => { throw new Error(`${what}: ${e.message}`); });
}

// Every `sample` the Node watcher gets, and a promise for the n-th one from now.
function sampleLog(channel) {
  const samples = [];
  let waiters = [];
  channel.on('sample', (s) => {
    samples.push(s);
    waiters = waiters.filter((w) => (samples.length >= w.n ? (w.res(s), false) : true));
  });
  return {
    samples,
    next(k = 1) {
      const n = samples.length + k;
      return within(new Promise((res) => waiters.push({ n, res })), 5000, `${k} more samples`);
    },
  };
}

// phoenix.js gives every push a 10 s reply timer; the provider's pushes get no reply, and those
// timers would hold the process after the test.
function unrefPushTimers(socket) {
  const probe = socket.channel('__probe__', {});
  const Push = probe.joinPush.constructor;
  socket.remove(probe);
  if (Push.prototype.cinderUnref) return;
  const start = Push.prototype.startTimeout;
  Push.prototype.startTimeout = function startUnref() {
    start.call(this);
    this.timeoutTimer?.unref?.();
  };
  Push.prototype.cinderUnref = true;
}

// A y-phoenix-channel client editing `room`, resolved once synced.
async function docClient(socket, room) {
  unrefPushTimers(socket);
  const doc = new Y.Doc();
  const provider = new PhoenixChannelProvider(socket, `y_doc_room:${room}`, doc, { disableBc: true });
  await within(new Promise((res) => {
    if (provider.synced) res();
    else provider.on('sync', (s) => { if (s) res(); });
  }), 10000, `${room} synced`);
  return {
    doc,
    provider,
    close() {
      provider.destroy();
      provider.awareness.destroy();
      doc.destroy();
    },
  };
}

function postEvent(server, stream, value) {
  return getJSON(`${server.http}/api/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ stream, value }),
  });
}

test('the activity page: live charts from history and samples, over WebSocket and LongPoll', async (t) => {
  const started = Date.now();
  const server = await startServer({ workers: 2, args: ['--activity-interval', String(INTERVAL)] });
  const browser = await launchBrowser();
  const sockets = [];
  const clients = [];
  t.after(async () => {
    for (const c of clients) c.close();
    for (const s of sockets) s.disconnect();
    await browser.close();
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
  });
  const socket = async () => {
    const s = await connectSocket(server.url);
    sockets.push(s);
    return s;
  };

  // A watcher in Node: the server has kept a few samples before the page opens.
  const watcher = await socket();
  const { channel: srvCh, reply: srvJoin } = await join(watcher, 'activity:server');
  assert.equal(srvJoin.status, 'ok');
  const log = sampleLog(srvCh);
  await log.next(3);

  const index = await fetch(`${server.http}/activity.html`);
  assert.equal(index.status, 200, `GET /activity.html (is the web app built beside ${process.env.CINDER_BIN}?)`);
  const seenBefore = log.samples.length;
  const { page } = await openPage(browser, `${server.http}/activity.html?doc=${DOC}&stream=${STREAM}`,
    { viewport: { width: 1200, height: 640 } });

  await t.test('the server charts are filled from the join reply at once', async () => {
    await untilPoints(page, 'chart-server-counts', 1, 'the server history plotted');
    const ts = await serverTs(page);
    // More points than could have arrived live since the page opened: they came with the join.
    assert.ok(ts.length >= seenBefore && ts.length >= 2, `${ts.length} points, ${seenBefore} samples before`);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], 'oldest first, no duplicates');
    // Exactly the server's history up to the page's newest point.
    const { reply } = await join(await socket(), 'activity:server');
    const hist = reply.response.samples.map((s) => s.t).filter((x) => x <= ts.at(-1));
    assert.deepEqual(ts, hist);
    for (const id of ['chart-server-counts', 'chart-server-rates', 'chart-server-memory']) {
      assert.equal(await page.$eval(`#${id}`, (el) => el.dataset.topic), 'activity:server');
    }
    // The memory chart plots rss_bytes in MB.
    const mb = await page.evaluate(() => window.cinderActivity.charts.memory.plot.data[1].at(-1));
    assert.ok(mb > 1 && mb < 4096, `RSS ${mb} MB`);
    assert.equal(await page.$eval('#status', (el) => el.dataset.state), 'connected');
    assert.match(await page.$eval('#status', (el) => el.textContent), /Connected · WebSocket/);
  });

  await t.test('a point per interval, its t advancing', async () => {
    const [n0, ts0] = [await points(page, 'chart-server-counts'), await serverTs(page)];
    await untilPoints(page, 'chart-server-counts', n0 + 2, 'two more points');
    const ts1 = await serverTs(page);
    assert.ok(ts1.at(-1) > ts0.at(-1), 'the newest point is newer');
    for (const id of ['chart-server-rates', 'chart-server-memory']) {
      assert.ok(await points(page, id) >= n0 + 2, `${id} grows too`);
    }
  });

  await t.test('a POST /api/events value is plotted on the business chart', async () => {
    assert.equal(await page.$eval('#chart-business', (el) => el.dataset.topic), `activity:${STREAM}`);
    assert.equal((await postEvent(server, STREAM, 42.5)).status, 202);
    await page.waitForFunction(() => window.cinderActivity.charts.business.plot.data[1].includes(42.5), null, WAIT);
    const n = await points(page, 'chart-business');
    assert.ok(n >= 1);
    assert.equal(await page.$eval('#chart-business .chart-note', (el) => el.hidden), true, 'no "no samples" note');
  });

  const editor = await docClient(await socket(), DOC);
  clients.push(editor);
  await t.test('the document chart follows activity:doc:<name>', async () => {
    assert.equal(await page.$eval('#chart-doc', (el) => el.dataset.topic), `activity:doc:${DOC}`);
    // The first sample of a document is the baseline of its rates: edit after it.
    await untilPoints(page, 'chart-doc', 1, 'the document sampled');
    editor.doc.getText('t').insert(0, 'hello');
    editor.provider.awareness.setLocalStateField('cursor', { x: 1 });
    await page.waitForFunction(() => {
      const [, updates, , clients] = window.cinderActivity.charts.doc.plot.data;
      return updates.some((v) => v > 0) && clients.includes(1);
    }, null, WAIT);
  });

  await t.test('a reconnect replaces the series: no duplicated points', async () => {
    const context = page.context();
    await context.setOffline(true);
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'offline', null, WAIT);
    const before = await serverTs(page);
    await log.next(2); // the server goes on sampling meanwhile
    await context.setOffline(false);
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected', null, WAIT);
    await untilPoints(page, 'chart-server-counts', before.length + 3, 'points after the rejoin');
    // One reading of both (a sample may arrive between two).
    const [ts, plotted] = await page.evaluate(() => [window.cinderActivity.streams.server.samples.map((s) => s.t),
      Number(document.getElementById('chart-server-counts').dataset.points)]);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], `no duplicate at ${i}: ${ts[i - 1]}, ${ts[i]}`);
    assert.deepEqual(ts.slice(0, before.length), before, 'the history kept the points seen before');
    // The samples taken while the page was offline came back with the rejoin's history.
    const missed = log.samples.map((s) => s.t).filter((x) => x > before.at(-1) && x <= ts.at(-1));
    assert.ok(missed.length >= 2);
    assert.deepEqual(ts.slice(before.length, before.length + missed.length), missed);
    assert.equal(plotted, ts.length);
  });

  await t.test('over LongPoll: samples arrive; the picker moves the document chart', async () => {
    const { page: lp } = await openPage(browser, `${server.http}/activity.html?transport=longpoll&doc=${OTHER_DOC}`);
    await lp.waitForFunction(() => document.getElementById('status').dataset.transport === 'LongPoll'
      && document.getElementById('status').dataset.state === 'connected', null, WAIT);
    await untilPoints(lp, 'chart-server-counts', 1, 'history over LongPoll');
    const n0 = await points(lp, 'chart-server-counts');
    await untilPoints(lp, 'chart-server-counts', n0 + 2, 'samples over LongPoll');
    assert.equal(await lp.$eval('#chart-doc', (el) => el.dataset.topic), `activity:doc:${OTHER_DOC}`);
    const watched = async (topic) => (await getJSON(`${server.http}/api/topics`)).body.topics
      .some((x) => x.topic === topic && x.subscribers > 0);
    assert.ok(await watched(`activity:doc:${OTHER_DOC}`));

    await lp.fill('#chart-doc input', DOC);
    await lp.click('#chart-doc button[type=submit]');
    await lp.waitForFunction((topic) => document.getElementById('chart-doc').dataset.topic === topic,
      `activity:doc:${DOC}`, WAIT);
    assert.match(lp.url(), new RegExp(`doc=${DOC}`), 'the URL remembers the document');
    await untilPoints(lp, 'chart-doc', 1, 'the edited document sampled over LongPoll');
    // The old channel was left: the server stops counting its subscriber (checked each interval).
    while (await watched(`activity:doc:${OTHER_DOC}`)) await log.next();

    // "server" is no business stream (it would take over the server chart's channel): refused
    // on the page, and the server chart goes on.
    await lp.fill('#chart-business input', 'server');
    await lp.click('#chart-business button[type=submit]');
    await lp.waitForFunction(() => /Not a stream name/.test(document.querySelector('#chart-business .chart-note').textContent), null, WAIT);
    const n1 = await points(lp, 'chart-server-counts');
    await untilPoints(lp, 'chart-server-counts', n1 + 2, 'server samples after the refused name');
    assert.deepEqual(lp.errors, []);
    await lp.context().close();
  });

  await t.test('after some varied traffic: a screenshot, and no console errors', async () => {
    // One step per server sample: rooms with pings, sockets coming and going, edits and cursor
    // moves, business events of varying value — so the lines have shape.
    const pinger = await socket();
    const { channel: room } = await join(pinger, 'room:activity-page', { user: 'pinger' });
    const extra = [];
    const text = editor.doc.getText('t');
    for (let i = 0; i < 18; i++) {
      const wave = Math.round(6 + 5 * Math.sin(i / 2.5));
      for (let k = 0; k < wave * 3; k++) cast(room, 'tick', { i, k });
      if (i % 3 === 0 && extra.length < 4) extra.push(await socket());
      if (i === 14) while (extra.length > 1) extra.pop().disconnect();
      for (let k = 0; k < 1 + (i % 4); k++) text.insert(text.length, String.fromCharCode(97 + ((i + k) % 26)));
      editor.provider.awareness.setLocalStateField('cursor', { x: i });
      for (let k = 0; k <= i % 3; k++) await postEvent(server, STREAM, wave * 4 + k * 5);
      await log.next();
    }
    await untilPoints(page, 'chart-doc', 15, 'document points');
    await untilPoints(page, 'chart-server-counts', 15, 'server points');
    await untilPoints(page, 'chart-business', 15, 'business points');
    // The picture shows the sample of the last step (its traffic in the legend's latest values).
    const last = log.samples.at(-1).t;
    await page.waitForFunction((tl) => window.cinderActivity.streams.server.samples.at(-1).t >= tl, last, WAIT);
    const path = await screenshot(page, 'activity');
    t.diagnostic(`screenshot: ${path}`);
    assert.deepEqual(page.errors, []);
  });

  t.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)} s`);
});
