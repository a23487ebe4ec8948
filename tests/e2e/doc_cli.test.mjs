// `cinder doc` on a data directory, checked with the real `yjs` package: updates made by Y.Docs
// are imported (`cinder doc import`), listed, exported (binary and --json) and compared with the
// Y.Doc that made them; compaction keeps the content identical and shrinks the stored size;
// unknown documents and malformed data give the documented exit statuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { runDoc, docOk } from './server.mjs';


// The C engine's JSON convention: one key per root type (text -> string, map -> object,
// array -> array).
function contentOf(doc) {
  return {
    arr: doc.getArray('arr').toJSON(),
    map: doc.getMap('map').toJSON(),
    text: doc.getText('text').toString(),
  };
}

function docFrom(update) {
  const d = new Y.Doc();
  Y.applyUpdate(d, update);
  return d;
}

// Two clients editing concurrently, with many deletions (so that a GC'd state is smaller than the
// log). Returns the reference doc and every update in the order a server would have stored them.
function session(rounds) {
  const a = new Y.Doc();
  const b = new Y.Doc();
  const updates = [];
  a.on('update', (u, origin) => { if (origin !== 'remote') { updates.push(u); Y.applyUpdate(b, u, 'remote'); } });
  b.on('update', (u, origin) => { if (origin !== 'remote') { updates.push(u); Y.applyUpdate(a, u, 'remote'); } });
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let i = 0; i < rounds; i++) {
    const d = rnd(2) ? a : b;
    const text = d.getText('text');
    switch (rnd(5)) {
      case 0:
        text.insert(rnd(text.length + 1), `word${i} `);
        break;
      case 1:
        if (text.length > 4) text.delete(rnd(text.length - 3), 3);
        else text.insert(0, 'abc');
        break;
      case 2:
        d.getMap('map').set(`k${rnd(5)}`, { i, s: 'x'.repeat(rnd(40)) });
        break;
      case 3:
        d.getArray('arr').push([i, `v${i}`]);
        break;
      default: {
        const arr = d.getArray('arr');
        if (arr.length > 2) arr.delete(0, 1);
        else arr.push([null, true]);
      }
    }
  }
  assert.deepEqual(contentOf(a), contentOf(b));
  return { doc: a, updates };
}

function listed(stdout) {
  return Object.fromEntries(stdout.toString().trim().split('\n').filter(Boolean).map((line) => {
    const [name, entries, bytes] = line.split('\t');
    return [name, { entries: Number(entries), bytes: Number(bytes) }];
  }));
}

test('import, list, export, compact: content identical, size shrinks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cinder-doc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  const { doc, updates } = session(150);
  let stored = 0;
  for (const [i, u] of updates.entries()) {
    // Alternate a file argument and stdin.
    if (i % 2) {
      const file = join(dir, `u${i}.bin`);
      writeFileSync(file, u);
      const r = await docOk(['import', 'notes', file, '--data', data]);
      assert.match(r.stdout.toString(), new RegExp(`notes: appended entry ${i + 1} `));
    } else {
      await docOk(['import', 'notes', '-'], { input: u, env: { CINDER_DATA: data } });
    }
    stored += u.length;
  }
  await docOk(['import', 'other doc', '-', `--data=${data}`], { input: Y.encodeStateAsUpdate(docFrom(updates[0])) });

  let l = listed((await docOk(['list', '--data', data])).stdout);
  assert.deepEqual(Object.keys(l), ['notes', 'other doc']);
  assert.deepEqual(l.notes, { entries: updates.length, bytes: stored });
  const j = JSON.parse((await docOk(['list', '--json', '--data', data])).stdout);
  assert.deepEqual(j[0], { name: 'notes', entries: updates.length, bytes: stored, last_seq: updates.length });

  // Export: one update that a fresh Y.Doc turns into exactly the reference content.
  const exported = (await docOk(['export', 'notes', '--data', data])).stdout;
  const d1 = docFrom(exported);
  assert.deepEqual(contentOf(d1), contentOf(doc));
  assert.deepEqual(Y.encodeStateVector(d1), Y.encodeStateVector(doc));
  const json = JSON.parse((await docOk(['export', 'notes', '--json', '--data', data])).stdout);
  assert.deepEqual(json, contentOf(doc));

  // Compact: one entry, smaller, same content.
  const c = await docOk(['compact', 'notes', '--data', data]);
  assert.match(c.stdout.toString(), new RegExp(`notes: ${updates.length} entries, ${stored} bytes -> 1 entry, \\d+ bytes`));
  l = listed((await docOk(['list', '--data', data])).stdout);
  assert.equal(l.notes.entries, 1);
  assert.ok(l.notes.bytes < stored, `compacted ${l.notes.bytes} bytes, log was ${stored}`);
  assert.deepEqual(l['other doc'].entries, 1);
  const d2 = docFrom((await docOk(['export', 'notes', '--data', data])).stdout);
  assert.deepEqual(contentOf(d2), contentOf(doc));
  assert.deepEqual(Y.encodeStateVector(d2), Y.encodeStateVector(doc));

  // Later updates land after the compacted state; compacting again folds them in.
  doc.getText('text').insert(0, 'after compaction ');
  const more = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(d2));
  await docOk(['import', 'notes', '-', '--data', data], { input: more });
  assert.deepEqual(JSON.parse((await docOk(['export', 'notes', '--json', '--data', data])).stdout), contentOf(doc));
  await docOk(['compact', 'notes', '--data', data]);
  assert.deepEqual(contentOf(docFrom((await docOk(['export', 'notes', '--data', data])).stdout)), contentOf(doc));

  // Delete.
  await docOk(['delete', 'other doc', '--data', data]);
  assert.deepEqual(Object.keys(listed((await docOk(['list', '--data', data])).stdout)), ['notes']);
});

test('unknown documents, missing data, malformed input: exit statuses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cinder-doc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');

  // No database yet: reading commands fail with 1 and create nothing.
  let r = await runDoc(['list', '--data', data]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no database/);
  r = await runDoc(['export', 'x', '--data', data]);
  assert.equal(r.code, 1);

  // Not an update: refused with 2, nothing stored.
  r = await runDoc(['import', 'bad', '-', '--data', data], { input: Buffer.from([0xff, 0xff, 0xff, 0x01]) });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /not a Yjs update/);

  const d = new Y.Doc();
  d.getText('text').insert(0, 'hello');
  await docOk(['import', 'good', '-', '--data', data], { input: Y.encodeStateAsUpdate(d) });
  for (const args of [['export', 'nope'], ['export', 'nope', '--json'], ['compact', 'nope'], ['delete', 'nope']]) {
    r = await runDoc([...args, '--data', data]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /no document 'nope'/);
  }
  r = await runDoc(['frobnicate', '--data', data]);
  assert.equal(r.code, 1);
  r = await runDoc(['export', '--data', data]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /usage/);

  // Malformed stored data (written behind cinder's back): 2, and compaction changes nothing.
  const sqlite = spawnSync('sqlite3', ['-version']);
  if (sqlite.status !== 0) {
    t.diagnostic('sqlite3 command not found: malformed-storage check skipped');
    return;
  }
  const db = join(data, 'cinder.db');
  const s = spawnSync('sqlite3', [db, "INSERT INTO doc_updates(doc, seq, data) VALUES ('good', 2, x'0102ffffffff')"]);
  assert.equal(s.status, 0, s.stderr.toString());
  for (const args of [['export', 'good'], ['export', 'good', '--json'], ['compact', 'good']]) {
    r = await runDoc([...args, '--data', data]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /stored entry 2 .* malformed/);
  }
  const l = listed((await docOk(['list', '--data', data])).stdout);
  assert.equal(l.good.entries, 2);
});
