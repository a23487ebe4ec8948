// The canvas page in real Chromium (issue 15): two browser contexts (two users, the first coming
// through the home page's form) on one board; a stroke drawn with mouse events in one appears in
// the other, cursors and names through awareness, undo/redo of one's own edits, the eraser (its
// erase undoable too), one context taken offline draws while the other draws too and both
// converge when it is back, a third context on LongPoll sees and edits the same board, a reload
// keeps the drawing, and so does a server restart under the open pages (persistence; the pages
// reconnect by themselves and merge what was drawn meanwhile), and a shape drawn offline in a tab
// closed before the network came back reaches everyone on the next visit (the browser's copy).
// Every wait is on the page's state (page.waitForFunction / locators), never a sleep.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer } from '../e2e/server.mjs';
import { launchBrowser, openPage, pageIn, screenshot } from './browser.mjs';

let server;
let browser;
const contexts = [];

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  if (server && server.proc.exitCode === null) await server.stop();
  if (server) rmSync(server.data, { recursive: true, force: true });
});

async function user(name, extra = '', { onPage } = {}) {
  const { context, page } = await openPage(browser, `${server.http}/canvas.html?name=${name}${extra}#${board}`,
    { viewport: { width: 1280, height: 720 }, onPage });
  contexts.push(context);
  await live(page);
  return { context, page };
}

const board = `board-${process.pid}`;
const live = (page) => page.locator('#status[data-state="connected"]').waitFor();
const shapesOf = (page) => page.evaluate(() => window.cinderCanvas.shapes.toJSON());
const countIs = (page, n) => page.waitForFunction((n) => document.getElementById('board').dataset.shapes === String(n), n);

// The board every client ends up with. The same number of shapes is not yet the same board: the
// last points of a drag may still be on their way while the shape itself has arrived. So, once each
// page shows n shapes, wait until all pages hold the same board, awaiting a change on any page
// while they differ (the page that drew has its final state once the mouse is up: finish() flushes).
const boardText = (page) => page.evaluate(() => JSON.stringify(window.cinderCanvas.shapes.toJSON()));
const boardChanged = (page, text) => page.waitForFunction(
  (text) => JSON.stringify(window.cinderCanvas.shapes.toJSON()) !== text, text, { polling: 'raf' });
async function converged(pages, n) {
  for (const p of pages) await countIs(p, n);
  for (;;) {
    const texts = await Promise.all(pages.map(boardText));
    if (texts.every((t) => t === texts[0])) break;
    // A losing wait is left to end by itself (a change or its timeout); it must not reject unhandled.
    await Promise.race(pages.map((p, i) => boardChanged(p, texts[i]).catch(() => {})));
  }
  for (const p of pages) await countIs(p, n);
  return shapesOf(pages[0]);
}

// A drag with the mouse over the canvas, from (x0, y0) to (x1, y1) in canvas coordinates, or
// through every point of a path.
async function drag(page, from, to, steps = 12) {
  await stroke(page, [from, to], steps);
}
async function stroke(page, path, steps = 1) {
  const box = await page.locator('#board').boundingBox();
  await page.mouse.move(box.x + path[0][0], box.y + path[0][1]);
  await page.mouse.down();
  for (const [x, y] of path.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps });
  await page.mouse.up();
}
// A wave from (x, y), `length` pixels long: a stroke worth looking at in the screenshot.
const wave = (x, y, length, amplitude = 40) => Array.from({ length: 41 }, (_, i) =>
  [Math.round(x + (i * length) / 40), Math.round(y + amplitude * Math.sin((i / 40) * Math.PI * 3))]);

// The canvas pixel at (x, y) in canvas coordinates is painted (not transparent). Read in an
// animation frame callback: a change to the board schedules its redraw in an earlier one, so the
// pixels read are those of the board as it is now.
const painted = (page, x, y) => page.evaluate(async ([x, y]) => {
  await new Promise((resolve) => requestAnimationFrame(resolve));
  const c = document.getElementById('board');
  const dpr = window.devicePixelRatio || 1;
  return c.getContext('2d').getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data[3] > 0;
}, [x, y]);

// Console errors a page may log while the network is really gone (the browser's own messages about
// failed connections), which are not the app's errors.
const appErrors = (page) => page.errors.filter((e) =>
  !/ERR_INTERNET_DISCONNECTED|WebSocket connection to .* failed|Failed to load resource/.test(e));

test('two users draw on one board: strokes, cursors, undo, offline merge, reload, LongPoll, server restart', async () => {
  server = await startServer({ workers: 2 });
  // Alice comes through the home page: its form opens the board; she then types her name.
  const home = await openPage(browser, `${server.http}/`, { viewport: { width: 1280, height: 720 } });
  contexts.push(home.context);
  const alice = home;
  await alice.page.locator('#health', { hasText: 'node' }).waitFor(); // /healthz answered
  await alice.page.fill('#board-name', board);
  await alice.page.click('#open-canvas button[type="submit"]');
  await alice.page.waitForURL(`**/canvas.html#${board}`);
  await live(alice.page);
  await alice.page.fill('#name', 'Alice');
  await alice.page.press('#name', 'Enter');
  const bob = await user('Bob');
  await bob.page.locator('#peers .peer', { hasText: 'Alice' }).waitFor();

  // A stroke drawn with the mouse in one context appears in the other, point for point.
  const path = wave(80, 120, 300);
  await stroke(alice.page, path);
  const [first] = await converged([alice.page, bob.page], 1);
  assert.equal(first.type, 'pen');
  assert.deepEqual(first.points, path.flat(), 'every point the mouse went through, in order');
  assert.ok(await painted(bob.page, ...path[20]), 'Bob sees the stroke on his canvas');
  assert.ok(!(await painted(bob.page, 500, 500)), 'and nothing where nobody drew');

  // Cursors and names: Alice's pointer shows on Bob's board with her name, and the reverse.
  const box = await alice.page.locator('#board').boundingBox();
  await alice.page.mouse.move(box.x + 400, box.y + 300);
  const aliceOnBob = bob.page.locator('#cursors .cursor', { hasText: 'Alice' });
  await aliceOnBob.waitFor();
  await bob.page.waitForFunction(() => {
    const el = document.querySelector('#cursors .cursor');
    return el && el.style.left === '400px' && el.style.top === '300px';
  });
  await bob.page.mouse.move(box.x + 150, box.y + 350);
  await alice.page.locator('#cursors .cursor', { hasText: 'Bob' }).waitFor();
  for (const p of [alice.page, bob.page]) {
    await p.locator('#peers .peer', { hasText: 'Alice' }).waitFor();
    await p.locator('#peers .peer', { hasText: 'Bob' }).waitFor();
  }

  // Shapes with other tools and colours; undo takes back one's own last edit only, redo restores.
  await alice.page.click('[data-tool="rect"]');
  await alice.page.click('.swatch[data-color="#2563eb"]');
  await drag(alice.page, [420, 60], [560, 160]);
  await bob.page.click('[data-tool="ellipse"]');
  await bob.page.click('.swatch[data-color="#16a34a"]');
  await drag(bob.page, [120, 260], [300, 380]);
  let shapes = await converged([alice.page, bob.page], 3);
  assert.deepEqual(shapes.map((s) => [s.type, s.color]).slice(1).sort(),
    [['ellipse', '#16a34a'], ['rect', '#2563eb']]);
  const rect = shapes.find((s) => s.type === 'rect');
  assert.deepEqual([rect.x0, rect.y0, rect.x1, rect.y1], [420, 60, 560, 160]);
  await alice.page.click('#undo');
  shapes = await converged([alice.page, bob.page], 2);
  assert.deepEqual(shapes.map((s) => s.type).sort(), ['ellipse', 'pen'], "Alice's rect is gone, Bob's ellipse stays");
  await alice.page.keyboard.press('Control+Shift+Z');
  shapes = await converged([alice.page, bob.page], 3);
  assert.ok(shapes.some((s) => s.type === 'rect'), 'redo brings the rect back');
  assert.equal(await bob.page.locator('#redo').isDisabled(), true, 'Bob has nothing to redo');

  // The eraser: Alice swipes across the left edge of Bob's ellipse (through its outline, not the
  // pen stroke above nor the rect); it is gone for both, and her undo brings it back: the erase is
  // her edit, whoever drew the shape.
  const ellipse = shapes.find((s) => s.type === 'ellipse');
  await alice.page.click('[data-tool="eraser"]');
  await drag(alice.page, [100, 320], [140, 320]);
  shapes = await converged([alice.page, bob.page], 2);
  assert.deepEqual(shapes.map((s) => s.type).sort(), ['pen', 'rect'], 'the swipe took the ellipse only');
  await alice.page.keyboard.press('Control+Z');
  shapes = await converged([alice.page, bob.page], 3);
  assert.deepEqual(shapes.find((s) => s.type === 'ellipse'), ellipse, 'undo restores it as it was');

  // Offline: Alice's network goes; she sees it and draws on; Bob draws meanwhile; when she is back,
  // both boards hold all four edits.
  await alice.context.setOffline(true);
  await alice.page.locator('#status[data-state="offline"]').waitFor();
  await alice.page.click('[data-tool="line"]');
  await drag(alice.page, [600, 300], [760, 420]);
  await alice.page.click('[data-tool="pen"]');
  await drag(alice.page, [620, 480], [800, 520]);
  await alice.page.locator('#status[data-state="offline"][data-pending="2"]').waitFor();
  assert.match(await alice.page.locator('#status').textContent(), /2 local edits/);
  await bob.page.click('[data-tool="pen"]');
  await drag(bob.page, [60, 420], [200, 560]);
  await countIs(bob.page, 4); // Bob's own edit; Alice's are not there while she is offline
  await alice.context.setOffline(false);
  await live(alice.page);
  const before = await converged([alice.page, bob.page], 6);
  assert.equal(await alice.page.locator('#status').getAttribute('data-pending'), '0');

  // A third user on LongPoll only sees the same board and draws on it.
  // Counted from before the page loads: not a single WebSocket, not even a first attempt.
  const transports = { longpoll: 0, websocket: 0 };
  const carol = await user('Carol', '&transport=longpoll', {
    onPage: (page) => {
      page.on('request', (r) => { if (r.url().includes('/socket/longpoll')) transports.longpoll++; });
      page.on('websocket', () => transports.websocket++);
    },
  });
  assert.match(await carol.page.locator('#status').textContent(), /LongPoll/);
  await converged([carol.page, alice.page], 6);
  await carol.page.click('.swatch[data-color="#9333ea"]');
  await stroke(carol.page, wave(380, 560, 260, -30));
  const all = await converged([alice.page, bob.page, carol.page], 7);
  assert.ok(transports.longpoll > 0 && transports.websocket === 0, JSON.stringify(transports));
  await bob.page.locator('#cursors .cursor', { hasText: 'Carol' }).waitFor();

  // The picture for the README: Alice's view, with Bob's and Carol's cursors.
  await bob.page.mouse.move(box.x + 330, box.y + 250);
  await carol.page.mouse.move(box.x + 700, box.y + 200);
  await alice.page.locator('#cursors .cursor', { hasText: 'Carol' }).waitFor();
  await alice.page.locator('#cursors .cursor', { hasText: 'Bob' }).waitFor();
  await screenshot(alice.page, 'canvas');

  // A reload keeps the drawing.
  await bob.page.reload();
  await live(bob.page);
  assert.deepEqual(await converged([bob.page], 7), all);
  assert.notDeepEqual(before, all);

  // A server restart under the open pages: they say "Reconnecting…", keep what is drawn meanwhile,
  // come back by themselves, and the board returns from the store with that edit merged.
  for (const c of [alice, bob, carol]) assert.deepEqual(appErrors(c.page), []);
  await carol.context.close();
  const { port, data } = server;
  assert.equal((await server.stop({ keepData: true })).code, 0);
  await alice.page.locator('#status[data-state="reconnecting"]').waitFor();
  await alice.page.click('[data-tool="ellipse"]');
  await drag(alice.page, [900, 120], [1100, 260]);
  await alice.page.locator('#status[data-state="reconnecting"][data-pending="1"]').waitFor();
  server = await startServer({ workers: 2, port, dataDir: data });
  await live(alice.page);
  await live(bob.page);
  const restored = await converged([alice.page, bob.page], 8);
  assert.deepEqual(restored.slice(0, 7), all);

  // A newcomer after the restart loads the whole board from the store.
  const dave = await user('Dave');
  assert.deepEqual(await converged([dave.page], 8), restored);

  // Drawn offline, the tab closed before the network came back: the browser kept it (IndexedDB),
  // and the next visit online sends it to everyone.
  await dave.context.setOffline(true);
  await dave.page.locator('#status[data-state="offline"]').waitFor();
  await dave.page.click('[data-tool="rect"]');
  await drag(dave.page, [40, 40], [140, 100]);
  // Stored: a read of the updates store is ordered after the page's pending writes to it.
  const stored = await dave.page.evaluate((name) => new Promise((resolve, reject) => {
    const open = indexedDB.open(name);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const count = open.result.transaction('updates', 'readonly').objectStore('updates').count();
      count.onsuccess = () => { open.result.close(); resolve(count.result); };
      count.onerror = () => reject(count.error);
    };
  }), `cinder-canvas:${board}`);
  assert.ok(stored > 0, `the browser holds the board (${stored} updates)`);
  await countIs(dave.page, 9);
  // counted as waiting, so never sent: the indicator counts edits made while not in sync
  await dave.page.locator('#status[data-state="offline"][data-pending="1"]').waitFor();
  assert.deepEqual(appErrors(dave.page), []);
  await dave.page.close();
  await countIs(alice.page, 8); // nobody else has it
  await dave.context.setOffline(false);
  const again = await pageIn(dave.context, `${server.http}/canvas.html?name=Dave#${board}`);
  const final = await converged([again, alice.page, bob.page], 9);
  assert.deepEqual(final.filter((s) => s.type === 'rect').map((r) => [r.x0, r.y0, r.x1, r.y1]).sort(),
    [[40, 40, 140, 100], [420, 60, 560, 160]]);
  for (const p of [alice.page, bob.page, again]) assert.deepEqual(appErrors(p), []);
});
