// Shrinks a failing update log to a small reproduction (a tool, not a test).
//   node tests/yjs/minimize.mjs CHECK LOGFILE
// CHECK: json | sv | state | size | crash   — what must still go wrong:
//   json   C `json --log` differs from yjs (fresh doc, same updates, pending settled)
//   sv     C `sv --log` differs from Y.encodeStateVector
//   state  C `merge --log` read by a fresh Yjs doc differs in content from yjs
//   size   C `merge --log` is larger than Y.encodeStateAsUpdate of the yjs doc
//   crash  the CLI exits with a status other than 0 and 2, or on a signal (ASan, UBSan)
// Delta-debugs the list of updates, then tries the result merged into one update with
// Y.mergeUpdates; prints the surviving updates in hex with both sides' output.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as Y from 'yjs'
import { decodeLog, encodeLog, docJsonAuto as docJson, canonicalJson, toHex, oracleDoc } from './session.mjs'
import { REPO } from './trace-updates.mjs'

const BIN = path.resolve(REPO, process.env.CINDER_BIN ?? 'build/test/cinder')
const [check, file] = process.argv.slice(2)
if (!check || !file) { console.error('usage: minimize.mjs json|sv|state|size|crash LOGFILE'); process.exit(64) }

function cli (args, input) {
  const r = spawnSync(BIN, ['yjs', ...args], { input: Buffer.from(input), maxBuffer: 1 << 28 })
  return { code: r.status, signal: r.signal, stdout: new Uint8Array(r.stdout), stderr: r.stderr.toString() }
}

// Oracle docs: no formatting cleanup of their own (see session.mjs oracleDoc).
// `settled`: pending structs that yjs left waiting are applied (its state read by a fresh doc).
function yjsDoc (updates, settled = false) {
  let d = oracleDoc()
  for (const u of updates) Y.applyUpdate(d, u)
  if (settled && (d.store.pendingStructs || d.store.pendingDs)) {
    const s = Y.encodeStateAsUpdate(d)
    d = oracleDoc()
    Y.applyUpdate(d, s)
  }
  return d
}

function outcome (updates) {
  const log = encodeLog(updates)
  let d
  try { d = yjsDoc(updates) } catch (e) { return { bad: false, why: 'yjs throws' } }
  if (check === 'crash') {
    for (const verb of ['json', 'merge', 'sv']) {
      const r = cli([verb, '--log', '-'], log)
      if (r.signal || (r.code !== 0 && r.code !== 2)) return { bad: true, why: `${verb}: ${r.signal ?? r.code} ${r.stderr.slice(0, 800)}` }
    }
    return { bad: false }
  }
  if (check === 'json') {
    const r = cli(['json', '--log', '-'], log)
    if (r.code !== 0) return { bad: true, why: `exit ${r.code}: ${r.stderr}` }
    let c
    try { c = canonicalJson(JSON.parse(Buffer.from(r.stdout).toString())) } catch (e) { return { bad: true, why: `bad JSON ${Buffer.from(r.stdout)}` } }
    const y = canonicalJson(docJson(d))
    return { bad: c !== y, why: `C   ${c}\nyjs ${y}` }
  }
  if (check === 'sv') {
    const r = cli(['sv', '--log', '-'], log)
    const y = toHex(Y.encodeStateVector(d))
    return { bad: r.code !== 0 || toHex(r.stdout) !== y, why: `C ${toHex(r.stdout)} ${r.stderr}\nyjs ${y}` }
  }
  const r = cli(['merge', '--log', '-'], log)
  if (r.code !== 0) return { bad: true, why: `exit ${r.code}: ${r.stderr}` }
  if (check === 'size') {
    const y = Y.encodeStateAsUpdate(d)
    return { bad: r.stdout.length > y.length, why: `C state ${r.stdout.length} bytes ${toHex(r.stdout)}\nyjs state ${y.length} bytes ${toHex(y)}` }
  }
  let c
  try { c = canonicalJson(docJson(yjsDoc([r.stdout], true))) } catch (e) { return { bad: true, why: `yjs rejects C state: ${e.message}; ${toHex(r.stdout)}` } }
  const y = canonicalJson(docJson(yjsDoc(updates, true)))
  return { bad: c !== y, why: `C state ${toHex(r.stdout)}\n  -> ${c}\nyjs ${y}` }
}

let cur = decodeLog(new Uint8Array(fs.readFileSync(file)))
if (!outcome(cur).bad) { console.error('the log does not fail this check'); process.exit(1) }
// ddmin over the list of updates
let n = 2
while (cur.length >= 2) {
  const chunk = Math.ceil(cur.length / n)
  let reduced = false
  for (let i = 0; i < cur.length; i += chunk) {
    const without = cur.slice(0, i).concat(cur.slice(i + chunk))
    if (without.length && outcome(without).bad) { cur = without; n = Math.max(n - 1, 2); reduced = true; break }
  }
  if (!reduced) { if (n >= cur.length) break; n = Math.min(cur.length, n * 2) }
}
if (cur.length > 1) {
  const merged = Y.mergeUpdates(cur)
  if (outcome([merged]).bad) cur = [merged]
}
console.log(`${cur.length} update(s):`)
for (const u of cur) console.log(toHex(u))
console.log(outcome(cur).why)
