// Differential suite: the C engine (`cinder yjs ...`) against the real `yjs` package (13.6.31).
//
// For every seed a random multi-client session is generated with yjs (tests/yjs/session.mjs); its
// updates (local edits, relays, sync diffs) are delivered to the C engine shuffled and with
// duplicates as one --log file, and the suite proves:
//   (a) JSON    the C doc's JSON equals the Yjs doc's built from the same sequence
//   (b) SV      the C state vector equals Yjs's, byte for byte
//   (c) state   the C full state (`merge`) applied to a fresh Yjs doc gives the same content and SV
//   (d) diff    `diff` against the state vector of a lagging peer (a session doc, or a doc built from
//               a random subset, plus unknown clients and clocks beyond the end) completes that peer,
//               and starts each client exactly at the peer's clock
//   (e) merge   the C merge of a random subset (missing dependencies → pending) carries the same
//               content as Y.mergeUpdates of that subset; both complete with the rest of the updates;
//               the C doc's JSON (odd seeds) / SV (even seeds) of that subset equals Yjs's
//   (f) size    the C encoding of the (GC'd) doc is no larger than Y.encodeStateAsUpdate
//
// Environment: CINDER_BIN (default build/test/cinder), CINDER_YJS_SEEDS (default 2000),
// CINDER_YJS_FIRST_SEED (default 1), CINDER_YJS_SEED (rerun one seed), CINDER_YJS_JOBS (parallel
// CLI processes). A failing seed's inputs are kept in a temp dir (printed) with a repro.sh.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import {
  generateSession, makeRng, docJson, canonicalJson, encodeLog, toHex
} from './session.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = path.resolve(ROOT, process.env.CINDER_BIN ?? 'build/test/cinder')
const ONE_SEED = process.env.CINDER_YJS_SEED
const FIRST = Number(process.env.CINDER_YJS_FIRST_SEED ?? 1)
const COUNT = ONE_SEED !== undefined ? 1 : Number(process.env.CINDER_YJS_SEEDS ?? 2000)
const JOBS = Number(process.env.CINDER_YJS_JOBS ?? Math.max(2, Math.min(6, os.availableParallelism() + 1)))

// ---------------------------------------------------------------------------------------------
// CLI runner with a small process pool

function semaphore (n) {
  let active = 0
  const waiting = []
  const release = () => { active--; if (waiting.length) waiting.shift()() }
  return async (fn) => {
    if (active >= n) await new Promise((resolve) => waiting.push(resolve))
    active++
    try { return await fn() } finally { release() }
  }
}
const pool = semaphore(JOBS)

function cli (args, input) {
  return pool(() => new Promise((resolve, reject) => {
    const p = spawn(BIN, ['yjs', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const out = []; const err = []
    p.stdout.on('data', (d) => out.push(d))
    p.stderr.on('data', (d) => err.push(d))
    p.on('error', reject)
    p.on('close', (code, signal) => resolve({
      code, signal, stdout: new Uint8Array(Buffer.concat(out)), stderr: Buffer.concat(err).toString()
    }))
    p.stdin.on('error', () => {}) // the CLI may exit before reading stdin
    p.stdin.end(input ? Buffer.from(input) : undefined)
  }))
}

// Is the engine's CLI there? A clear failure instead of hundreds of confusing ones.
let readyPromise = null
function engineReady () {
  readyPromise ??= (async () => {
    if (!fs.existsSync(BIN)) return `cinder binary not found at ${BIN} (set CINDER_BIN or build it)`
    const r = await cli(['json', '-'], Uint8Array.of(0, 0))
    if (r.code !== 0) {
      return `\`${BIN} yjs json -\` on the empty update exited ${r.code ?? r.signal}: ` +
        `${r.stderr.trim() || '(no stderr)'} — the Yjs engine CLI is not built yet or broken`
    }
    return null
  })()
  return readyPromise
}
async function requireEngine () {
  const why = await engineReady()
  if (why) assert.fail(why)
}

function ok (r, what) {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code ?? r.signal}: ${r.stderr.slice(0, 2000)}`)
  return r
}

function parseCJson (r, what) {
  const text = Buffer.from(ok(r, what).stdout).toString('utf8')
  try { return JSON.parse(text) } catch (e) { throw new Error(`${what}: stdout is not JSON (${e.message}): ${text.slice(0, 300)}`) }
}

const eqBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

function writeVarUint (arr, n) {
  while (n > 0x7f) { arr.push(0x80 | (n % 128)); n = Math.floor(n / 128) }
  arr.push(n)
}
function encodeSv (entries) {
  const a = []
  writeVarUint(a, entries.length)
  for (const [client, clock] of entries) { writeVarUint(a, client); writeVarUint(a, clock) }
  return Uint8Array.from(a)
}

function freshDoc (...updates) {
  const d = new Y.Doc()
  d.clientID = 0 // never a session client (those are >= 1)
  for (const u of updates) Y.applyUpdate(d, u)
  return d
}
const hasPending = (d) => d.store.pendingStructs !== null || d.store.pendingDs !== null

// yjs retries pending structs only when a client it recorded as missing advances, so a doc fed
// update by update can keep structs pending that are applicable (seen with seed 3 and a subset).
// The engine applies them as soon as they can be. `settle` gives the Yjs doc with everything
// applicable applied: its own state (pending included) read by a fresh doc in one pass.
function settle (doc) {
  for (let i = 0; i < 3 && hasPending(doc); i++) {
    const before = toHex(Y.encodeStateVector(doc))
    const next = freshDoc(Y.encodeStateAsUpdate(doc))
    if (toHex(Y.encodeStateVector(next)) === before && !hasPending(next)) return next
    doc = next
  }
  return doc
}

// ---------------------------------------------------------------------------------------------
// One seed

let tmpRoot = null
function tmp () {
  tmpRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'cinder-yjs-diff-'))
  return tmpRoot
}

async function checkSeed (seed) {
  const { pool: updates, docs, rng } = generateSession(seed)
  // Delivery to the engine: shuffled, ~10% delivered twice.
  const order = rng.shuffle([...updates])
  for (let i = 0, n = order.length; i < n; i++) {
    if (rng.chance(0.1)) order.splice(rng.int(order.length + 1), 0, order[i])
  }
  const ref = settle(freshDoc(...order))
  const expected = canonicalJson(docJson(ref))
  const refSv = Y.encodeStateVector(ref)
  const refState = Y.encodeStateAsUpdate(ref)
  const refClocks = Y.decodeStateVector(refSv)
  const allLog = encodeLog(order)

  // Lagging peer for (d): a session doc as it ended, or a doc built from a random subset.
  let peer
  if (rng.chance(0.5)) {
    peer = rng.pick(docs)
  } else {
    const p = rng.next()
    peer = freshDoc(...order.filter(() => rng.chance(p)))
  }
  const peerClocks = Y.decodeStateVector(Y.encodeStateVector(peer))
  const svEntries = [...peerClocks.entries()]
  if (rng.chance(0.3)) svEntries.push([987654321, rng.range(1, 50)]) // client the doc never saw
  for (const [client, clock] of refClocks) {
    // Clock beyond the end (harmless where the peer already has all of that client), or explicit 0.
    if (peerClocks.get(client) === clock && rng.chance(0.3)) {
      const i = svEntries.findIndex(([c]) => c === client)
      svEntries[i] = [client, clock + rng.range(1, 100)]
    } else if (!peerClocks.has(client) && rng.chance(0.3)) svEntries.push([client, 0])
  }
  rng.shuffle(svEntries) // any client order must be accepted
  const svBytes = encodeSv(svEntries)
  const svFile = path.join(tmp(), `s${seed}.sv`)
  fs.writeFileSync(svFile, svBytes)

  // Subset for (e): each update with probability 1/2, dependencies missing on purpose.
  const pick = order.map(() => rng.chance(0.5))
  const subset = order.filter((_, i) => pick[i])
  const rest = order.filter((_, i) => !pick[i])
  const subLog = encodeLog(subset)

  // On the subset, odd seeds also check the C doc's JSON, even seeds its SV (pending excluded).
  const subVerb = seed % 2 ? 'json' : 'sv'
  let rJson, rSv, rMerge, rDiff, rSub, rSub2
  try {
    [rJson, rSv, rMerge, rDiff, rSub, rSub2] = await Promise.all([
      cli(['json', '--log', '-'], allLog),
      cli(['sv', '--log', '-'], allLog),
      cli(['merge', '--log', '-'], allLog),
      cli(['diff', svFile, '--log', '-'], allLog),
      cli(['merge', '--log', '-'], subLog),
      cli([subVerb, '--log', '-'], subLog)
    ])
  } finally {
    fs.rmSync(svFile, { force: true })
  }

  const failures = []
  const check = (name, fn) => {
    try { fn() } catch (e) { failures.push(`${name}: ${e.message}`) }
  }
  check('sanity(yjs)', () => assert.ok(!hasPending(ref), 'the Yjs reference has pending structs'))
  check('(a) json', () => {
    assert.equal(canonicalJson(parseCJson(rJson, 'json')), expected)
  })
  check('(b) sv', () => {
    ok(rSv, 'sv')
    assert.ok(eqBytes(rSv.stdout, refSv), `C sv ${toHex(rSv.stdout)} != yjs ${toHex(refSv)}`)
  })
  check('(c) state', () => {
    ok(rMerge, 'merge')
    const d = freshDoc(rMerge.stdout)
    assert.equal(canonicalJson(docJson(d)), expected, 'content of C state in a fresh Yjs doc')
    assert.equal(toHex(Y.encodeStateVector(d)), toHex(refSv), 'SV of C state in a fresh Yjs doc')
    assert.ok(!hasPending(d), 'C state leaves pending structs/deletes in a fresh Yjs doc')
  })
  check('(f) size', () => {
    ok(rMerge, 'merge')
    assert.ok(rMerge.stdout.length <= refState.length,
      `C state ${rMerge.stdout.length} bytes > yjs encodeStateAsUpdate ${refState.length} bytes`)
  })
  check('(d) diff', () => {
    ok(rDiff, 'diff')
    const meta = Y.parseUpdateMeta(rDiff.stdout)
    const sv = new Map(svEntries)
    for (const [client, end] of refClocks) {
      const have = sv.get(client) ?? 0
      if (have >= end) {
        assert.ok(!meta.from.has(client), `diff has structs of client ${client} although sv has ${have} >= ${end}`)
      } else {
        assert.equal(meta.from.get(client), have, `diff of client ${client} starts at ${meta.from.get(client)}, sv clock ${have}`)
        assert.equal(meta.to.get(client), end, `diff of client ${client} ends at ${meta.to.get(client)}`)
      }
    }
    for (const client of meta.from.keys()) assert.ok(refClocks.has(client), `diff has unknown client ${client}`)
    Y.applyUpdate(peer, rDiff.stdout)
    const done = settle(peer)
    assert.equal(canonicalJson(docJson(done)), expected, 'lagging peer content after the C diff')
    assert.equal(toHex(Y.encodeStateVector(done)), toHex(refSv), 'lagging peer SV after the C diff')
    assert.ok(!hasPending(done), 'lagging peer still has pending structs/deletes after the C diff')
  })
  const fromY = settle(freshDoc(Y.mergeUpdates(subset)))
  const subJson = canonicalJson(docJson(fromY))
  const subSv = toHex(Y.encodeStateVector(fromY))
  check('(e) merge subset', () => {
    ok(rSub, 'merge(subset)')
    const fromC = settle(freshDoc(rSub.stdout))
    assert.equal(canonicalJson(docJson(fromC)), subJson, 'content of C merge(subset) != Y.mergeUpdates(subset)')
    assert.equal(toHex(Y.encodeStateVector(fromC)), subSv, 'SV of C merge(subset) != of Y.mergeUpdates(subset)')
    for (const u of rest) Y.applyUpdate(fromC, u)
    const done = settle(fromC)
    assert.equal(canonicalJson(docJson(done)), expected, 'C merge(subset) + rest: pending structs/deletes lost?')
    assert.equal(toHex(Y.encodeStateVector(done)), toHex(refSv), 'SV of C merge(subset) + rest')
  })
  check(`(e) ${subVerb} subset (pending)`, () => {
    if (subVerb === 'json') {
      assert.equal(canonicalJson(parseCJson(rSub2, 'json(subset)')), subJson, 'C json of a subset with missing dependencies')
    } else {
      ok(rSub2, 'sv(subset)')
      assert.equal(toHex(rSub2.stdout), subSv, 'C sv of a subset with missing dependencies')
    }
  })

  if (failures.length === 0) return null
  // Keep everything needed to reproduce.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cinder-yjs-seed${seed}-`))
  fs.writeFileSync(path.join(dir, 'all.log'), allLog)
  fs.writeFileSync(path.join(dir, 'subset.log'), subLog)
  fs.writeFileSync(path.join(dir, 'rest.log'), encodeLog(rest))
  fs.writeFileSync(path.join(dir, 'peer.sv'), svBytes)
  fs.writeFileSync(path.join(dir, 'expected.json'), expected + '\n')
  fs.writeFileSync(path.join(dir, 'yjs-state.bin'), refState)
  fs.writeFileSync(path.join(dir, 'c-json.out'), rJson.stdout)
  fs.writeFileSync(path.join(dir, 'c-merge.bin'), rMerge.stdout)
  fs.writeFileSync(path.join(dir, 'c-diff.bin'), rDiff.stdout)
  fs.writeFileSync(path.join(dir, 'c-merge-subset.bin'), rSub.stdout)
  fs.writeFileSync(path.join(dir, 'expected-subset.json'), subJson + '\n')
  fs.writeFileSync(path.join(dir, 'failures.txt'), failures.join('\n') + '\n')
  fs.writeFileSync(path.join(dir, 'repro.sh'), [
    '#!/bin/sh', `# seed ${seed}: CINDER_YJS_SEED=${seed} node --test tests/yjs/differential.test.mjs`,
    `B=\${CINDER_BIN:-${BIN}}`, 'cd "$(dirname "$0")"',
    '$B yjs json --log all.log; echo', '$B yjs sv --log all.log | xxd', '$B yjs merge --log all.log | xxd | tail -3',
    '$B yjs diff peer.sv --log all.log | xxd | tail -3', '$B yjs merge --log subset.log | xxd | tail -3', '$B yjs json --log subset.log; echo', ''
  ].join('\n'), { mode: 0o755 })
  return { seed, dir, failures }
}

// ---------------------------------------------------------------------------------------------
// Hand-made cases

// Real updates made by yjs, small enough to read in a failure message.
function twoStepText () {
  const d = new Y.Doc(); d.clientID = 1
  const ups = []
  d.on('update', (u) => ups.push(u))
  d.getText('t').insert(0, 'a😀')
  d.getText('t').insert(3, 'b')
  return ups
}

test('cinder yjs CLI is built', async () => {
  await requireEngine()
  const r = await cli(['merge', '-'], Uint8Array.of(0, 0))
  ok(r, 'merge of the empty update')
  assert.equal(toHex(Y.mergeUpdates([r.stdout])), '0000', 'empty doc encodes as 00 00')
  const sv = ok(await cli(['sv', '-'], Uint8Array.of(0, 0)), 'sv of the empty update')
  assert.equal(toHex(sv.stdout), '00')
  assert.deepEqual(parseCJson(await cli(['json', '-'], Uint8Array.of(0, 0)), 'json'), {})
})

test('raw files, several FILE arguments, stdin, and --log agree', async () => {
  await requireEngine()
  const [u1, u2] = twoStepText()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cinder-yjs-files-'))
  try {
    const f1 = path.join(dir, 'u1.bin'); const f2 = path.join(dir, 'u2.bin'); const fl = path.join(dir, 'ups.log')
    fs.writeFileSync(f1, u1); fs.writeFileSync(f2, u2); fs.writeFileSync(fl, encodeLog([u2, u1]))
    assert.deepEqual(parseCJson(await cli(['json', f1, f2]), 'json f1 f2'), { t: 'a😀b' })
    assert.deepEqual(parseCJson(await cli(['json', f2, f1]), 'json f2 f1 (pending first)'), { t: 'a😀b' })
    assert.deepEqual(parseCJson(await cli(['json', f1, '-'], u2), 'json f1 -'), { t: 'a😀b' })
    assert.deepEqual(parseCJson(await cli(['json', '--log', fl]), 'json --log'), { t: 'a😀b' })
    const sv = ok(await cli(['sv', '--log', fl]), 'sv --log')
    assert.equal(toHex(sv.stdout), toHex(Y.encodeStateVector(freshDoc(u1, u2))))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('pending structs: kept in the state, invisible in JSON and SV, applied when completed', async () => {
  await requireEngine()
  const [u1, u2] = twoStepText()
  // Only the second update: its predecessor (client 1, clock 0..2) is missing.
  assert.deepEqual(parseCJson(await cli(['json', '-'], u2), 'json(u2)'), {})
  assert.equal(toHex(ok(await cli(['sv', '-'], u2), 'sv(u2)').stdout), '00')
  const state = ok(await cli(['merge', '-'], u2), 'merge(u2)').stdout
  const d = freshDoc(state)
  assert.ok(d.store.pendingStructs !== null, `merge(u2) dropped the pending struct: ${toHex(state)}`)
  Y.applyUpdate(d, u1)
  assert.equal(d.getText('t').toString(), 'a😀b')
  // Pending delete set: a delete of content the doc has not seen yet.
  const a = new Y.Doc(); a.clientID = 5
  const ups = []
  a.on('update', (u) => ups.push(u))
  a.getArray('a').insert(0, [1, 2, 3])
  a.getArray('a').delete(1, 1)
  assert.deepEqual(parseCJson(await cli(['json', '--log', '-'], encodeLog([ups[1], ups[0]])), 'json(delete first)'), { a: [1, 3] })
  const st = ok(await cli(['merge', '-'], ups[1]), 'merge(delete only)').stdout
  const d2 = freshDoc(st, ups[0])
  assert.deepEqual(d2.getArray('a').toJSON(), [1, 3], `merge(delete only) lost the pending delete: ${toHex(st)}`)
})

test('concurrent inserts inside a surrogate pair and at the same position', async () => {
  await requireEngine()
  const a = new Y.Doc(); a.clientID = 2
  const b = new Y.Doc(); b.clientID = 1
  const ups = []
  a.on('update', (u) => ups.push(u)); b.on('update', (u) => ups.push(u))
  a.getText('t').insert(0, '😀🙂')
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  a.getText('t').insert(1, 'X') // between the halves of 😀: yjs writes U+FFFD halves
  b.getText('t').insert(2, 'Y')
  b.getText('t').insert(2, 'Z')
  a.getText('t').insert(2, 'W')
  const ref = freshDoc(...ups)
  const c = parseCJson(await cli(['json', '--log', '-'], encodeLog(ups)), 'json')
  assert.equal(canonicalJson(c), canonicalJson(docJson(ref)))
  const c2 = parseCJson(await cli(['json', '--log', '-'], encodeLog([...ups].reverse())), 'json reversed')
  assert.equal(canonicalJson(c2), canonicalJson(docJson(freshDoc(...[...ups].reverse()))))
})

test('malformed input: message on stderr, exit status 2', async () => {
  await requireEngine()
  const good = twoStepText()[0]
  const cases = {
    'truncated update': good.subarray(0, good.length - 3),
    'one byte': Uint8Array.of(0x01),
    'type ref 7': Uint8Array.from(Buffer.from('0101010007010174070000', 'hex')),
    'content ref 15': Uint8Array.from(Buffer.from('010101000f010174016100', 'hex')),
    'Any tag 0x10': Uint8Array.from(Buffer.from('0101010008010161011000', 'hex')),
    'varUint overflow': Uint8Array.from(Buffer.from('01ffffffffffffffffff7f', 'hex'))
  }
  for (const [name, bytes] of Object.entries(cases)) {
    for (const verb of [['json'], ['merge'], ['sv']]) {
      const r = await cli([...verb, '-'], bytes)
      assert.equal(r.code, 2, `${name} (${toHex(bytes)}) via ${verb}: exit ${r.code ?? r.signal}, stderr ${r.stderr.slice(0, 300)}`)
      assert.ok(r.stderr.trim().length > 0, `${name} via ${verb}: no message on stderr`)
    }
  }
  // A --log frame whose length runs past the end of the file.
  const r = await cli(['json', '--log', '-'], Uint8Array.of(0x20, 0x00, 0x00))
  assert.equal(r.code, 2, `bad --log framing: exit ${r.code ?? r.signal}`)
})

test('--stats prints one JSON line on stderr', async () => {
  await requireEngine()
  const ups = twoStepText()
  const r = ok(await cli(['json', '--log', '--stats', '-'], encodeLog(ups)), 'json --stats')
  const line = r.stderr.trim().split('\n').pop()
  const s = JSON.parse(line)
  for (const k of ['updates', 'apply_ms', 'encode_ms', 'max_rss_kb']) assert.equal(typeof s[k], 'number', `--stats lacks ${k}: ${line}`)
  assert.equal(s.updates, 2)
})

test(`differential against yjs: ${COUNT} seeded sessions`, { timeout: 30 * 60 * 1000 }, async (t) => {
  await requireEngine()
  const seeds = ONE_SEED !== undefined ? [Number(ONE_SEED)] : Array.from({ length: COUNT }, (_, i) => FIRST + i)
  const failed = []
  let next = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < seeds.length) {
      const seed = seeds[next++]
      let res
      try { res = await checkSeed(seed) } catch (e) { res = { seed, dir: null, failures: [`harness: ${e.stack}`] } }
      if (res) {
        failed.push(res)
        if (failed.length <= 10) {
          t.diagnostic(`seed ${seed} FAILED (rerun: CINDER_YJS_SEED=${seed}; inputs kept in ${res.dir})\n  ` +
            res.failures.map((f) => f.slice(0, 1500)).join('\n  '))
        }
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: JOBS }, worker))
  } finally {
    if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true })
  }
  t.diagnostic(`${seeds.length} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${JOBS} CLI processes at a time`)
  if (failed.length) {
    const byCheck = {}
    for (const f of failed) for (const m of f.failures) { const k = m.split(':')[0]; byCheck[k] = (byCheck[k] ?? 0) + 1 }
    assert.fail(`${failed.length}/${seeds.length} seeds failed; by check: ${JSON.stringify(byCheck)}; ` +
      `first seeds: ${failed.slice(0, 20).map((f) => f.seed).sort((a, b) => a - b).join(', ')}`)
  }
})
