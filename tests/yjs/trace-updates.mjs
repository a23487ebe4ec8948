// Replay of the editing traces in tests/data/editing-traces (from josephg/editing-traces; the README
// there gives their origin and license) with the real `yjs` package, producing the Yjs update of
// every transaction. Shared by traces.test.mjs and bench/yjs-engine.mjs.
//
// Sequential traces: one Y.Doc, one transaction (and so one update) per trace transaction.
// Concurrent traces: one Y.Doc per agent. Transaction i was typed against the merge of its
// `parents`; every agent's transactions form a chain, so a version is one count per agent
// ("the first k transactions of agent a") and the merge of parents is the element-wise maximum.
// Before applying transaction i, its agent's doc receives the updates it lacks up to that version.
// Positions in the traces count code points; Y.Text counts UTF-16 units (converted when the trace
// contains characters outside the BMP).
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
// Inside the repository, relative to this file (not the cwd): a fresh clone has everything.
export const TRACE_DIR = path.resolve(REPO, 'tests/data/editing-traces')

export function listTraces () {
  if (!fs.existsSync(TRACE_DIR)) return []
  return fs.readdirSync(TRACE_DIR).filter((f) => f.endsWith('.json.gz')).map((f) => f.replace(/\.json\.gz$/, '')).sort()
}

export function loadTrace (name) {
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(TRACE_DIR, name + '.json.gz'))).toString('utf8'))
}

const hasAstral = (s) => /[\uD800-\uDBFF]/.test(s)

function traceHasAstral (trace) {
  if (hasAstral(trace.endContent) || hasAstral(trace.startContent ?? '')) return true
  for (const t of trace.txns) for (const p of t.patches) if (hasAstral(p[2])) return true
  return false
}

// UTF-16 offset of code point `cp` in string s.
function cpToUnits (s, cp) {
  let u = 0
  for (let i = 0; i < cp && u < s.length; i++) {
    const c = s.charCodeAt(u)
    u += c >= 0xd800 && c <= 0xdbff && u + 1 < s.length ? 2 : 1
  }
  return u
}

function applyPatches (ytext, patches, astral) {
  for (const [pos, del, ins] of patches) {
    if (!astral) {
      if (del > 0) ytext.delete(pos, del)
      if (ins) ytext.insert(pos, ins)
    } else {
      const s = ytext.toString()
      const from = cpToUnits(s, pos)
      if (del > 0) ytext.delete(from, cpToUnits(s, pos + del) - from)
      if (ins) ytext.insert(from, ins)
    }
  }
}

/**
 * Generate the Yjs updates of a trace.
 * @returns {{ updates: Uint8Array[], text: string, kind: string }}
 *   updates: one per transaction (in trace order; for concurrent traces each agent's own updates),
 *   text: the content of a Yjs doc with all updates applied.
 */
export function traceUpdates (trace, rootName = 'text') {
  const astral = traceHasAstral(trace)
  if (trace.kind !== 'concurrent') {
    const doc = new Y.Doc()
    doc.clientID = 1
    const updates = []
    doc.on('update', (u) => updates.push(u))
    const ytext = doc.getText(rootName)
    if (trace.startContent) ytext.insert(0, trace.startContent)
    for (const t of trace.txns) doc.transact(() => applyPatches(ytext, t.patches, astral))
    return { updates, text: ytext.toString(), kind: 'sequential' }
  }
  const nAgents = trace.numAgents ?? 1 + Math.max(...trace.txns.map((t) => t.agent))
  const docs = []
  const have = [] // have[a][b]: how many of agent b's transactions doc a has
  const own = [] // own[b]: agent b's updates, one per transaction
  const ownIndex = [] // ownIndex[b][k]: trace index of agent b's k-th transaction
  for (let a = 0; a < nAgents; a++) {
    const doc = new Y.Doc()
    doc.clientID = a + 1
    docs.push(doc)
    have.push(new Array(nAgents).fill(0))
    own.push([])
    ownIndex.push([])
  }
  const versions = [] // per transaction: Int32Array of counts per agent
  const updates = []
  for (let i = 0; i < trace.txns.length; i++) {
    const t = trace.txns[i]
    const target = new Int32Array(nAgents)
    for (const p of t.parents) {
      const v = versions[p]
      for (let b = 0; b < nAgents; b++) if (v[b] > target[b]) target[b] = v[b]
    }
    const a = t.agent
    const doc = docs[a]
    if (target[a] !== own[a].length) throw new Error(`trace txn ${i}: agent ${a}'s transactions do not form a chain`)
    // Deliver what the doc lacks in trace order (dependencies first: no pending structs).
    const missing = []
    for (let b = 0; b < nAgents; b++) {
      if (have[a][b] > target[b]) throw new Error(`trace txn ${i}: doc of agent ${a} is ahead of the parents`)
      for (let k = have[a][b]; k < target[b]; k++) missing.push(ownIndex[b][k])
      have[a][b] = target[b]
    }
    missing.sort((x, y) => x - y)
    for (const j of missing) Y.applyUpdate(doc, updates[j], 'remote')
    let u = null
    const onUpdate = (upd) => { u = upd }
    doc.on('update', onUpdate)
    doc.transact(() => applyPatches(doc.getText(rootName), t.patches, astral))
    doc.off('update', onUpdate)
    // A transaction that changes nothing (no patches) emits no update: keep an empty one in its place.
    u ??= Uint8Array.of(0, 0)
    own[a].push(u)
    ownIndex[a].push(i)
    updates.push(u)
    have[a][a]++
    target[a]++
    versions.push(target)
  }
  const merged = new Y.Doc()
  for (const u of updates) Y.applyUpdate(merged, u)
  return { updates, text: merged.getText(rootName).toString(), kind: 'concurrent' }
}
