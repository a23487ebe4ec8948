// Differential suite: the C engine (`cinder yjs ...`) against the real `yjs` package (13.6.31).
//
// For every seed a random multi-client session is generated with yjs (tests/yjs/session.mjs); its
// updates (local edits, relays, sync diffs) are delivered to the C engine shuffled and with
// duplicates as a --log file, and the suite proves, per seed:
//   (a) JSON    the C doc's JSON equals that of a Yjs doc fed the same updates one by one
//   (b) SV      the C state vector equals Yjs's, byte for byte
//   (c) state   the C full state (`merge`) applied to a fresh Yjs doc gives the same content and SV
//   (d) diff    `diff` against the state vector of a lagging peer (a session doc, or a doc built from
//               a random subset, plus unknown clients and clocks beyond the end) completes that peer,
//               and starts each client exactly at the peer's clock
//   (e) pending the C merge of a random subset (missing dependencies → pending structs and deletes)
//               carries the same content as yjs's doc of that subset (and so as Y.mergeUpdates, except
//               where yjs slices a surrogate pair; counted), and completes with the rest of the
//               updates; the C doc's JSON and SV of that subset equal those of a Yjs doc fed it
//               (yjs retries pending structs only when a client it noted as missing advances, so
//               such a doc can keep applicable structs waiting; the engine's doc must equal either
//               that doc or the settled one — everything applicable applied, see settle() — and
//               full states read by fresh Yjs docs must equal the settled doc)
//   (f) size    the C encoding of the (GC'd) doc is no larger than Y.encodeStateAsUpdate
// Hand-made cases cover the CLI contract (files, stdin, --log, --stats, exit 2), pending structs
// and deletes, surrogate pairs, and 500 mutated updates (truncated, bit flips, random bytes): the
// engine must reject what yjs rejects, never crash, and agree on the content of what both accept.
// Each CLI call is an ASan process, the suite's main cost; so seeds run in batches of up to 8 in
// one document: every seed has its own root names ("t.17") and client ids, the updates of the
// batch are interleaved, and every check is made per seed (per root and per client). A failing
// batch's seeds are rerun alone to name the seeds that fail by themselves.
//
// Environment: CINDER_BIN (default build/test/cinder), CINDER_YJS_SEEDS (default 2000),
// CINDER_YJS_FIRST_SEED (default 1), CINDER_YJS_SEED (run one seed alone), CINDER_YJS_BATCH
// (seeds per document, default 8, 1 to disable), CINDER_YJS_JOBS (parallel CLI processes),
// CINDER_YJS_STEPS (steps of every session; default 4-40, 150 for every 50th seed).
// A failing batch's inputs are kept in a temp dir (printed) with a repro.sh. A long local run:
//   CINDER_YJS_SEEDS=100000 CINDER_YJS_FIRST_SEED=100000 node --test tests/yjs/differential.test.mjs
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import {
  generateSession, makeRng, docJson, docJsonAuto, canonicalJson, encodeLog, decodeLog, toHex, oracleDoc
} from './session.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = path.resolve(ROOT, process.env.CINDER_BIN ?? 'build/test/cinder')
const ONE_SEED = process.env.CINDER_YJS_SEED
const FIRST = Number(process.env.CINDER_YJS_FIRST_SEED ?? 1)
const COUNT = ONE_SEED !== undefined ? 1 : Number(process.env.CINDER_YJS_SEEDS ?? 2000)
const JOBS = Number(process.env.CINDER_YJS_JOBS ?? Math.max(3, Math.min(8, os.availableParallelism() + 1)))
const BATCH = Math.min(12, Number(process.env.CINDER_YJS_BATCH ?? 8)) // seeds per document (see checkBatch)
const MAX_FAILED_BATCHES = 25 // then stop: a broken engine fails fast
const STEPS = process.env.CINDER_YJS_STEPS ? Number(process.env.CINDER_YJS_STEPS) : undefined // session length override

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

// Oracle docs (session.mjs oracleDoc): no formatting cleanup of their own, like the engine. With
// it, seed 5200 differed in XmlText formatting and seeds 3210/5807 in state size.
function apply (doc, update) {
  Y.applyUpdate(doc, update)
}

function freshDoc (...updates) {
  const d = oracleDoc()
  for (const u of updates) apply(d, u)
  return d
}
const loosen = (canonical) => JSON.stringify(JSON.parse(canonical), (k, v) =>
  typeof v === 'string' ? v.replace(/[\uD800-\uDFFF\uFFFD]/g, '?') : v)
const hasPending = (d) => d.store.pendingStructs !== null || d.store.pendingDs !== null

// yjs retries pending structs only when a client it noted as missing advances past the noted
// clock, so a doc fed update by update can keep applicable structs pending (seen with seed 104 and
// a subset; the engine does the same). `settle` gives the doc with everything applicable applied:
// its own state (pending included) read by a fresh doc in one pass.
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

let yjsMs = 0 // time spent on the Node side (generation, yjs oracles, checks)
let yjsSelfDisagreements = 0 // batches where Y.mergeUpdates(subset) != applying the subset
let yjsLeftPending = 0 // batches where yjs, fed update by update, kept applicable structs pending
let sameStateBytes = 0 // batches where the C full state is byte-identical to yjs's
let eagerPending = 0 // checks where the engine applied pending structs that yjs (one by one) kept waiting

// One seed's session and the inputs derived from it. Its roots are tagged with the seed ("t.17")
// and its client ids come from slot seed % 12, so that up to 12 consecutive seeds share one doc.
function prepareSeed (seed) {
  const { pool: updates, docs, rng, roots, clientIds } = generateSession(seed, {
    tag: seed, idSlot: seed % 12, steps: STEPS ?? (seed % 50 === 0 ? 150 : undefined) // every 50th: long session
  })
  // Delivery to the engine: shuffled, ~10% delivered twice.
  const order = rng.shuffle([...updates])
  for (let i = 0, n = order.length; i < n; i++) {
    if (rng.chance(0.1)) order.splice(rng.int(order.length + 1), 0, order[i])
  }
  // Lagging peer for (d): a session doc as it ended, or a doc built from a random subset.
  let peer
  if (rng.chance(0.5)) {
    peer = rng.pick(docs)
  } else {
    const p = rng.next()
    peer = freshDoc(...order.filter(() => rng.chance(p)))
  }
  const peerClocks = Y.decodeStateVector(Y.encodeStateVector(peer))
  const sessionClocks = Y.decodeStateVector(Y.encodeStateVector(freshDoc(...updates)))
  const svEntries = [...peerClocks.entries()]
  if (rng.chance(0.3)) svEntries.push([987654321 + seed, rng.range(1, 50)]) // a client nobody has
  for (const [client, clock] of sessionClocks) {
    // Clock beyond the end (harmless where the peer already has all of that client), or explicit 0.
    if (peerClocks.get(client) === clock && rng.chance(0.3)) {
      const i = svEntries.findIndex(([c]) => c === client)
      svEntries[i] = [client, clock + rng.range(1, 100)]
    } else if (!peerClocks.has(client) && rng.chance(0.3)) svEntries.push([client, 0])
  }
  // Subset for (e): each update with probability 1/2, dependencies missing on purpose.
  const pick = order.map(() => rng.chance(0.5))
  const subset = order.filter((_, i) => pick[i])
  const rest = order.filter((_, i) => !pick[i])
  return { seed, roots, clientIds, order, peerState: Y.encodeStateAsUpdate(peer), svEntries, subset, rest }
}

// Random interleaving of several lists, each one's order kept.
function interleave (rng, lists) {
  const idx = lists.map(() => 0)
  const out = []
  let left = lists.reduce((a, l) => a + l.length, 0)
  while (left > 0) {
    let r = rng.int(left)
    let k = 0
    while (r >= lists[k].length - idx[k]) { r -= lists[k].length - idx[k]; k++ }
    out.push(lists[k][idx[k]++])
    left--
  }
  return out
}

// Seeds → batches of up to BATCH seeds whose client ids are disjoint.
function batchesOf (seeds) {
  const batches = []
  let cur = []; let taken = new Set()
  for (const seed of seeds) {
    const ids = generateSession(seed, { tag: seed, idSlot: seed % 12, steps: 0 }).clientIds
    if (cur.length >= BATCH || cur.some((s) => s % 12 === seed % 12) || ids.some((id) => taken.has(id))) {
      batches.push(cur); cur = []; taken = new Set()
    }
    cur.push(seed)
    for (const id of ids) taken.add(id)
  }
  if (cur.length) batches.push(cur)
  return batches
}

// Runs the seeds of one batch through the engine as one document (their roots and clients are
// disjoint) and checks everything per seed. Returns null or { seeds, failures, dir }.
async function checkBatch (seeds) {
  let tStart = performance.now()
  const ps = seeds.map(prepareSeed)
  const rng = makeRng(0x5eed ^ seeds[0] ^ (seeds.length << 20))
  const order = interleave(rng, ps.map((p) => p.order))
  const subset = interleave(rng, ps.map((p) => p.subset))
  const rest = ps.flatMap((p) => p.rest)
  const svEntries = rng.shuffle(ps.flatMap((p) => p.svEntries)) // any client order must be accepted
  const seedOfClient = new Map()
  for (const p of ps) for (const c of p.clientIds) seedOfClient.set(c, p.seed)

  // Two oracles: `refSeq`, a Yjs doc fed the same updates one by one — what the engine's own doc
  // (json, sv) must equal, pending heuristics included — and `ref`, the same settled (everything
  // applicable applied) — what any full state read by a fresh Yjs doc must equal.
  const refSeq = freshDoc(...order)
  const ref = settle(refSeq)
  if (ref !== refSeq) yjsLeftPending++
  const jsonOf = (d) => new Map(ps.map((p) => [p.seed, canonicalJson(docJson(d, p.roots))]))
  const expectedSeq = jsonOf(refSeq)
  const expected = ref === refSeq ? expectedSeq : jsonOf(ref)
  const refSeqSv = Y.encodeStateVector(refSeq)
  const refSv = Y.encodeStateVector(ref)
  const refState = Y.encodeStateAsUpdate(refSeq)
  const refClocks = Y.decodeStateVector(refSv)
  // The subset's oracle is a Yjs doc fed the same updates (pending settled, see settle()); yjs's
  // own Y.mergeUpdates is compared with it too, but it may differ where it slices a string inside
  // a surrogate pair (U+FFFD halves), so it is counted, not asserted.
  const subSeq = freshDoc(...subset)
  const subSeqJson = jsonOf(subSeq)
  const subSeqSv = toHex(Y.encodeStateVector(subSeq))
  const fromY = settle(subSeq)
  const subJson = fromY === subSeq ? subSeqJson : jsonOf(fromY)
  const subSv = toHex(Y.encodeStateVector(fromY))
  const yMerged = settle(freshDoc(Y.mergeUpdates(subset)))
  if (ps.some((p) => canonicalJson(docJson(yMerged, p.roots)) !== subJson.get(p.seed))) yjsSelfDisagreements++
  const allLog = encodeLog(order)
  const subLog = encodeLog(subset)
  const svBytes = encodeSv(svEntries)
  const svFile = path.join(tmp(), `b${seeds[0]}.sv`)
  fs.writeFileSync(svFile, svBytes)

  let rJson, rSv, rMerge, rDiff, rSub, rSubJson, rSubSv
  yjsMs += performance.now() - tStart
  try {
    [rJson, rSv, rMerge, rDiff, rSub, rSubJson, rSubSv] = await Promise.all([
      cli(['json', '--log', '-'], allLog),
      cli(['sv', '--log', '-'], allLog),
      cli(['merge', '--log', '-'], allLog),
      cli(['diff', svFile, '--log', '-'], allLog),
      cli(['merge', '--log', '-'], subLog),
      cli(['json', '--log', '-'], subLog),
      cli(['sv', '--log', '-'], subLog)
    ])
  } finally {
    fs.rmSync(svFile, { force: true })
  }
  tStart = performance.now()

  const failures = [] // { seed (or null: the batch), msg }
  const check = (name, fn) => {
    try { fn() } catch (e) { failures.push({ seed: e.seed ?? null, msg: `${name}: ${e.message}` }) }
  }
  // json: the doc's content as an object (all seeds); want: seed -> canonical JSON. `loose` for
  // docs that reached the same updates by different paths: where yjs splits an item inside a
  // surrogate pair it writes U+FFFD halves, and which pairs get split depends on the path (yjs
  // docs themselves diverge there, seed 5545), so surrogates and U+FFFD compare as equal.
  const perSeed = (json, want, what, loose = false) => {
    const known = new Set(ps.flatMap((p) => p.roots.map(([n]) => n)))
    for (const k of Object.keys(json)) if (!known.has(k)) throw new Error(`${what}: unexpected root ${JSON.stringify(k)}`)
    for (const p of ps) {
      const mine = {}
      for (const [n] of p.roots) if (n in json) mine[n] = json[n]
      try {
        if (loose) assert.equal(loosen(canonicalJson(mine)), loosen(want.get(p.seed)), `${what} (seed ${p.seed})`)
        else assert.equal(canonicalJson(mine), want.get(p.seed), `${what} (seed ${p.seed})`)
      } catch (e) { e.seed = p.seed; throw e }
    }
  }
  const docObj = (d) => docJson(d, ps.flatMap((p) => p.roots))
  const svFail = (got, want, what) => {
    if (got === want) return
    const g = Y.decodeStateVector(Buffer.from(got, 'hex')); const w = Y.decodeStateVector(Buffer.from(want, 'hex'))
    const bad = [...new Set([...g.keys(), ...w.keys()])].filter((c) => g.get(c) !== w.get(c))
    const e = new Error(`${what}: C ${got} != yjs ${want}; clients ${bad.map((c) => `${c}: ${g.get(c)} vs ${w.get(c)}`).join(', ')}`)
    e.seed = seedOfClient.get(bad[0]) ?? null
    throw e
  }

  check('sanity(yjs)', () => assert.ok(!hasPending(ref), 'the settled Yjs reference has pending structs'))
  // The engine's own doc: like yjs fed one by one, or — where yjs's retry heuristic leaves
  // applicable structs pending and the engine applies them — like the settled doc; per seed.
  const eitherJson = (json, seq, settled, what) => {
    try { perSeed(json, seq, what) } catch (e) {
      if (seq === settled) throw e
      perSeed(json, settled, what + ' (nor equal to the settled doc)')
      eagerPending++
    }
  }
  const eitherSv = (got, seq, settled, what) => {
    try { svFail(got, seq, what) } catch (e) {
      if (got !== settled) throw e
      eagerPending++
    }
  }
  check('(a) json', () => eitherJson(parseCJson(rJson, 'json'), expectedSeq, expected, 'C json'))
  check('(b) sv', () => { ok(rSv, 'sv'); eitherSv(toHex(rSv.stdout), toHex(refSeqSv), toHex(refSv), 'C sv') })
  check('(c) state', () => {
    ok(rMerge, 'merge')
    const d = freshDoc(rMerge.stdout)
    perSeed(docObj(d), expected, 'C state read by a fresh Yjs doc')
    svFail(toHex(Y.encodeStateVector(d)), toHex(refSv), 'SV of the C state in a fresh Yjs doc')
    assert.ok(!hasPending(d), 'C state leaves pending structs/deletes in a fresh Yjs doc')
  })
  check('(f) size', () => {
    ok(rMerge, 'merge')
    assert.ok(rMerge.stdout.length <= refState.length,
      `C state ${rMerge.stdout.length} bytes > yjs encodeStateAsUpdate ${refState.length} bytes`)
    if (eqBytes(rMerge.stdout, refState)) sameStateBytes++
  })
  check('(d) diff', () => {
    ok(rDiff, 'diff')
    const meta = Y.parseUpdateMeta(rDiff.stdout)
    const sv = new Map(svEntries)
    for (const [client, end] of refClocks) {
      const have = sv.get(client) ?? 0
      try {
        if (have >= end) {
          assert.ok(!meta.from.has(client), `diff has structs of client ${client} although the sv has ${have} >= ${end}`)
        } else {
          assert.equal(meta.from.get(client), have, `diff of client ${client} starts at ${meta.from.get(client)}, sv clock ${have}`)
          assert.equal(meta.to.get(client), end, `diff of client ${client} ends at ${meta.to.get(client)}`)
        }
      } catch (e) { e.seed = seedOfClient.get(client); throw e }
    }
    for (const client of meta.from.keys()) assert.ok(refClocks.has(client), `diff has unknown client ${client}`)
    // Oracle: the same peer completed by yjs's own diff (Y.encodeStateAsUpdate(ref, sv)). Where the
    // sv cuts a surrogate pair both sides write U+FFFD halves, so this can differ from `expected`.
    const peerY = freshDoc(...ps.map((p) => p.peerState))
    apply(peerY, Y.encodeStateAsUpdate(refSeq, svBytes))
    const wantPeer = settle(peerY)
    const peerJson = new Map(ps.map((p) => [p.seed, canonicalJson(docJson(wantPeer, p.roots))]))
    const peer = freshDoc(...ps.map((p) => p.peerState))
    apply(peer, rDiff.stdout)
    const done = settle(peer)
    perSeed(docObj(done), peerJson, 'lagging peer after the C diff vs after yjs\'s diff')
    svFail(toHex(Y.encodeStateVector(done)), toHex(refSv), 'lagging peer SV after the C diff')
    assert.ok(!hasPending(done), 'lagging peer still has pending structs/deletes after the C diff')
  })
  check('(e) merge subset', () => {
    ok(rSub, 'merge(subset)')
    const fromC = settle(freshDoc(rSub.stdout))
    perSeed(docObj(fromC), subJson, 'C merge(subset) read by a fresh Yjs doc vs the subset applied by yjs')
    svFail(toHex(Y.encodeStateVector(fromC)), subSv, 'SV of C merge(subset) vs the subset applied by yjs')
    for (const u of rest) apply(fromC, u)
    const done = settle(fromC)
    perSeed(docObj(done), expected, 'C merge(subset) + the rest (pending structs/deletes lost?)', true)
    svFail(toHex(Y.encodeStateVector(done)), toHex(refSv), 'SV of C merge(subset) + the rest')
  })
  check('(e) json subset (pending)', () => eitherJson(parseCJson(rSubJson, 'json(subset)'), subSeqJson, subJson, 'C json of a subset with missing dependencies'))
  check('(e) sv subset (pending)', () => { ok(rSubSv, 'sv(subset)'); eitherSv(toHex(rSubSv.stdout), subSeqSv, subSv, 'C sv of a subset with missing dependencies') })
  yjsMs += performance.now() - tStart
  if (failures.length === 0) return null

  // Keep everything needed to reproduce.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cinder-yjs-seed${seeds.length === 1 ? seeds[0] : `s${seeds[0]}-${seeds.at(-1)}`}-`))
  const w = (name, data) => fs.writeFileSync(path.join(dir, name), data)
  w('all.log', allLog); w('subset.log', subLog); w('rest.log', encodeLog(rest)); w('peer.sv', svBytes)
  w('peer-states.log', encodeLog(ps.map((p) => p.peerState)))
  w('expected.json', canonicalJson(docObj(refSeq)) + '\n'); w('expected-subset.json', canonicalJson(docObj(subSeq)) + '\n')
  w('yjs-state.bin', refState); w('c-json.out', rJson.stdout); w('c-merge.bin', rMerge.stdout)
  w('c-diff.bin', rDiff.stdout); w('c-merge-subset.bin', rSub.stdout)
  w('failures.txt', failures.map((f) => `[seed ${f.seed ?? 'batch ' + seeds.join(',')}] ${f.msg}`).join('\n') + '\n')
  fs.writeFileSync(path.join(dir, 'repro.sh'), [
    '#!/bin/sh', `# seeds ${seeds.join(', ')}: CINDER_YJS_SEED=<seed> node --test tests/yjs/differential.test.mjs`,
    '# shrink: node tests/yjs/minimize.mjs json|sv|state|crash all.log',
    `B=\${CINDER_BIN:-${BIN}}`, 'cd "$(dirname "$0")"',
    '$B yjs json --log all.log; echo', '$B yjs sv --log all.log | xxd', '$B yjs merge --log all.log | xxd | tail -3',
    '$B yjs diff peer.sv --log all.log | xxd | tail -3', '$B yjs merge --log subset.log | xxd | tail -3', '$B yjs json --log subset.log; echo', ''
  ].join('\n'), { mode: 0o755 })
  return { seeds, dir, failures }
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

test('a known struct received again still splits the item at its origin (surrogate pair → U+FFFD, as yjs)', async () => {
  await requireEngine()
  // Seed 739, shrunk: client 76 ("🇩🇪" at 76:3..6) and, first, a GC struct for 76:15..16; the last
  // update carries 76:15..16 again as format items with origin 76:5 / rightOrigin 76:6, inside 🇪.
  // yjs skips them as known but resolves their origins first (Item.getMissing → getItemCleanEnd),
  // which splits "🇩🇪" there and writes U+FFFD halves.
  const ups = [
    '01014c0f000200',
    '010a4c00070105782e3733390604004c0002c2a0844c010161c44c014c0208f09f87a9f09f87aa010105612e3733390321010ac3bcf09f939d2e373339026b33012101056d2e373339026b3001a74c0b0604004c0c016128010ac3bcf09f939d2e37333908d0bad0bbd18ed187017704f09f9880024d010f014c010705',
    '01064c0fc64c014c0301611d7b2268726566223a22782e68746d6c222c227469746c65223a2274227dc64c054c060161046e756c6c874d030606004c110169027b7d844c1204c3a9c39f864c140169046e756c6c00'
  ].map((h) => Uint8Array.from(Buffer.from(h, 'hex')))
  const want = canonicalJson(docJsonAuto(freshDoc(...ups)))
  assert.equal(canonicalJson(parseCJson(await cli(['json', '--log', '-'], encodeLog(ups)), 'json')), want)
})

test('GC runs coalesce as in yjs (vector: seed 30060 of 500-step sessions, shrunk to 21 updates)', async () => {
  await requireEngine()
  // The last update deletes nested types; their children (some deleted earlier, of two different
  // parents) become GC structs that yjs merges into one run 3:130+15, where the engine (at
  // fb6d638) leaves 3:130+14 and 3:144+1. The state must be no larger than yjs's.
  const log = new Uint8Array(fs.readFileSync(path.join(ROOT, 'tests/yjs/vectors/gc-runs-seed30060.log')))
  const ups = decodeLog(log)
  const ref = freshDoc(...ups)
  const want = Y.encodeStateAsUpdate(ref)
  const got = ok(await cli(['merge', '--log', '-'], log), 'merge').stdout
  assert.equal(canonicalJson(docJsonAuto(freshDoc(got))), canonicalJson(docJsonAuto(ref)), 'content')
  assert.ok(got.length <= want.length, `C state ${got.length} bytes > yjs ${want.length} bytes:\n C   ${toHex(got)}\n yjs ${toHex(want)}`)
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
  // A truncated state vector for diff (yjs: decodeStateVector throws).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cinder-yjs-badsv-'))
  try {
    const sv = path.join(dir, 'bad.sv')
    fs.writeFileSync(sv, Uint8Array.of(0x02, 0x01, 0x05))
    assert.throws(() => Y.decodeStateVector(Uint8Array.of(0x02, 0x01, 0x05)))
    const d = await cli(['diff', sv, '-'], good)
    assert.equal(d.code, 2, `diff with a truncated state vector: exit ${d.code ?? d.signal}`)
    assert.ok(d.stderr.trim().length > 0, 'diff with a truncated state vector: no message')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

// The CLI's JSON convention on the yjs side for any roots: the kind inferred from the items whose
// content is known (map entries → object; string/format/embed → text; XML children → XML; else
// array), roots without any such item left out.
function inferredJson (doc) {
  const out = {}
  for (const [name, type] of [...doc.share]) {
    let kind = type._map.size > 0 ? 'map' : null
    for (let it = type._start; it && !kind; it = it.right) {
      const c = it.content
      if (c instanceof Y.ContentDeleted) continue
      if (c instanceof Y.ContentString || c instanceof Y.ContentFormat || c instanceof Y.ContentEmbed) kind = 'text'
      else if (c instanceof Y.ContentType && (c.type instanceof Y.XmlElement || c.type instanceof Y.XmlText)) kind = 'xml'
      else kind = 'array'
    }
    if (kind === 'map') out[name] = doc.getMap(name).toJSON()
    else if (kind === 'text') out[name] = doc.getText(name).toString()
    else if (kind === 'xml') out[name] = doc.getXmlFragment(name).toString()
    else if (kind === 'array') out[name] = doc.getArray(name).toJSON()
  }
  return out
}

test('mutated updates: rejected (exit 2) where yjs rejects them, same content where both accept', async (t) => {
  await requireEngine()
  const rng = makeRng(4242)
  const cases = []
  for (let seed = 1; cases.length < 500; seed++) {
    const { pool } = generateSession(seed, { steps: 8, tag: seed })
    const u = rng.pick(pool)
    if (u.length < 4) continue
    const kind = rng.int(3)
    let m
    if (kind === 0) m = u.slice(0, rng.int(u.length)) // truncated
    else if (kind === 1) { m = u.slice(); m[rng.int(m.length)] ^= 1 << rng.int(8) } // one bit flipped
    else { m = u.slice(); m[rng.int(m.length)] = rng.int(256) } // one random byte
    let want = null
    try { want = canonicalJson(inferredJson(freshDoc(m))) } catch { want = null }
    cases.push({ m, want })
  }
  const results = await Promise.all(cases.map((c) => cli(['json', '-'], c.m)))
  const problems = []
  let stricter = 0
  let stricterExample = ''
  results.forEach((r, i) => {
    const { m, want } = cases[i]
    const hex = toHex(m)
    if (r.signal || (r.code !== 0 && r.code !== 2)) problems.push(`${hex}: exit ${r.code ?? r.signal}: ${r.stderr.slice(0, 400)}`)
    else if (want === null && r.code !== 2) problems.push(`${hex}: yjs rejects it, the engine exits ${r.code}`)
    else if (want !== null && r.code === 2) { // documented: the engine rejects some inputs yjs takes
      if (!stricter++) stricterExample = ` (e.g. ${hex}: ${r.stderr.trim().slice(0, 200)})`
    }
    else if (want !== null) {
      let got
      try { got = canonicalJson(JSON.parse(Buffer.from(r.stdout).toString('utf8'))) } catch (e) { got = `(not JSON: ${e.message})` }
      if (got !== want) problems.push(`${hex}: C ${got.slice(0, 300)} vs yjs ${want.slice(0, 300)}`)
    }
  })
  t.diagnostic(`${cases.length} mutated updates; the engine rejected ${stricter} that yjs accepts${stricterExample}`)
  assert.deepEqual(problems, [])
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
  const batches = batchesOf(seeds)
  const failed = []
  let next = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < batches.length && failed.length < MAX_FAILED_BATCHES) {
      const batch = batches[next++]
      let res
      try { res = await checkBatch(batch) } catch (e) { res = { seeds: batch, dir: null, failures: [{ seed: null, msg: `harness: ${e.stack}` }] } }
      if (res) failed.push(res)
    }
  }
  try {
    await Promise.all(Array.from({ length: 2 }, worker)) // one prepares while the other's CLI calls run
    t.diagnostic(`${seeds.length} seeds in ${batches.length} batches in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
      `(${(yjsMs / 1000).toFixed(1)} s of it generating and checking with yjs), ${JOBS} CLI processes at a time; ` +
      `Y.mergeUpdates(subset) differed from applying the subset in ${yjsSelfDisagreements} batches; ` +
      `yjs kept applicable structs pending after all updates in ${yjsLeftPending}; ` +
      `C full state byte-identical to Y.encodeStateAsUpdate in ${sameStateBytes}/${batches.length}; ` +
      `the engine applied pending structs that yjs kept waiting in ${eagerPending} checks`)
    // Which seeds fail on their own (the repro is CINDER_YJS_SEED=n)?
    const alone = new Map()
    for (const f of failed.slice(0, 8)) {
      if (f.seeds.length === 1) { alone.set(f.seeds[0], f); continue }
      const suspects = [...new Set(f.failures.map((x) => x.seed).filter((x) => x !== null))]
      for (const seed of (suspects.length ? suspects : f.seeds).slice(0, 4)) {
        const r = await checkBatch([seed])
        if (r) alone.set(seed, r)
      }
    }
    let shown = 0
    for (const f of failed) {
      if (shown++ >= 10) break
      const seedsMsg = f.seeds.length === 1 ? `seed ${f.seeds[0]}` : `batch of seeds ${f.seeds[0]}..${f.seeds.at(-1)}`
      t.diagnostic(`${seedsMsg} FAILED (inputs kept in ${f.dir})\n  ` +
        f.failures.map((x) => `[seed ${x.seed ?? '?'}] ${x.msg.slice(0, 1500)}`).join('\n  '))
    }
    if (alone.size) {
      t.diagnostic(`failing on their own (rerun: CINDER_YJS_SEED=n): ${[...alone.keys()].join(', ')}; inputs: ` +
        [...alone.values()].map((r) => r.dir).join(' '))
    }
  } finally {
    if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true })
  }
  if (failed.length) {
    const byCheck = {}
    const badSeeds = new Set()
    for (const f of failed) {
      for (const x of f.failures) {
        const k = x.msg.split(':')[0]; byCheck[k] = (byCheck[k] ?? 0) + 1
        if (x.seed !== null) badSeeds.add(x.seed)
      }
    }
    const stopped = next < batches.length ? ` (stopped after ${next} of ${batches.length} batches)` : ''
    assert.fail(`${failed.length}/${batches.length} batches failed${stopped}; failures by check: ${JSON.stringify(byCheck)}; ` +
      `seeds: ${[...badSeeds].sort((a, b) => a - b).slice(0, 30).join(', ')}`)
  }
})
