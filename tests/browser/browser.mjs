// Real Chromium for the web app's tests: Debian's `chromium` driven by playwright-core (npm),
// headless. Each test file launches one browser and opens a context per simulated user (separate
// cookies, storage and network, so one can be taken offline alone).
//
// CHROMIUM overrides the executable. Screenshots go to build/test/screenshots/<name>.png (the
// README's pictures in docs/ are copies of these).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = resolve(process.env.CINDER_SCREENSHOTS || 'build/test/screenshots');

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start; /dev/shm may be small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

// A context and a page on `url`, with the page's console errors and uncaught exceptions collected
// (page.errors) so a test can assert that the app ran cleanly. onPage(page) runs before the page
// loads (listeners that must see its first requests).
export async function openPage(browser, url, { viewport = { width: 1000, height: 700 }, onPage } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await pageIn(context, url, { onPage });
  return { context, page };
}

// Another page in an existing context (same storage, same network conditions), as openPage's.
export async function pageIn(context, url, { onPage } = {}) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  onPage?.(page);
  await page.goto(url);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
