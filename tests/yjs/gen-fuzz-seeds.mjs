// Writes the seed corpus of the libFuzzer target fuzz_yjs_update (tests/fuzz/corpus/fuzz_yjs_update/):
// small, real update-v1 files made by `yjs` — single transactions, full states of GC'd and
// non-GC'd docs, state-vector diffs, Y.mergeUpdates results with Skip structs, pending updates,
// delete-set-only updates — from the differential generator (session.mjs) plus a few hand-made
// ones covering content kinds the generator does not produce (binary, subdocument, legacy JSON).
// Deterministic: rerun after changing the generator and commit the result.
//   node tests/yjs/gen-fuzz-seeds.mjs [OUT_DIR]
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as Y from 'yjs'
import { generateSession, makeRng } from './session.mjs'
import { REPO } from './trace-updates.mjs'

const OUT = path.resolve(process.argv[2] ?? path.join(REPO, 'tests/fuzz/corpus/fuzz_yjs_update'))
const MAX_FILE = 3000
const seeds = new Map() // name -> bytes

function add (name, bytes) {
  if (bytes.length > MAX_FILE) return false
  for (const b of seeds.values()) if (Buffer.compare(Buffer.from(b), Buffer.from(bytes)) === 0) return false
  seeds.set(name, bytes)
  return true
}

// Hand-made ones.
add('empty.bin', Uint8Array.of(0, 0))
{
  const d = new Y.Doc(); d.clientID = 3
  const ups = []
  d.on('update', (u) => ups.push(u))
  d.getArray('a').insert(0, [new Uint8Array([1, 2, 255]), -0, 1.5, 2 ** 53 - 1, 'x', null, true, { k: [1, { z: 'ü' }] }])
  d.getArray('a').insert(0, [new Y.Doc({ guid: 'sub-1', meta: { m: 1 } })])
  d.getMap('m').set('big', 10n) // bigint64
  d.getArray('a').delete(2, 3)
  ups.forEach((u, i) => add(`hand-any-${i}.bin`, u))
  add('hand-any-state.bin', Y.encodeStateAsUpdate(d))
}
{
  const d = new Y.Doc(); d.clientID = 4
  const x = d.getXmlFragment('x')
  const el = new Y.XmlElement('p')
  el.setAttribute('class', 'c')
  const hook = new Y.XmlHook('hook')
  el.insert(0, [new Y.XmlText('hi')])
  x.insert(0, [el, hook])
  const t = d.getText('t')
  t.insert(0, 'a😀b', { bold: true })
  t.insertEmbed(1, { image: 'i.png' })
  t.format(0, 2, { italic: true })
  add('hand-xml-text.bin', Y.encodeStateAsUpdate(d))
  const ups = []
  d.on('update', (u) => ups.push(u))
  t.delete(1, 2)
  x.delete(0, 1)
  add('hand-delete-only.bin', ups[0])
}
// Legacy ContentJSON (ref 2) with an "undefined" entry: client 1, clock 0, root "a".
add('hand-content-json.bin', Uint8Array.from(Buffer.from('010101000201016102' + '0131' + '09756e646566696e6564' + '00', 'hex')))
// Delete set with unsorted, overlapping ranges for an unknown client.
add('hand-ds-unsorted.bin', Uint8Array.from(Buffer.from('0001' + '07' + '03' + '0502' + '0001' + '0603', 'hex')))

// Generated sessions: a few of each kind of update.
for (let seed = 1; seed <= 14; seed++) {
  const { pool, docs } = generateSession(seed, { steps: 3 + (seed % 8) })
  const rng = makeRng(seed * 7919)
  const ref = new Y.Doc()
  for (const u of pool) Y.applyUpdate(ref, u)
  const small = pool.filter((u) => u.length < 400)
  if (small.length) add(`s${seed}-update.bin`, rng.pick(small))
  add(`s${seed}-state.bin`, Y.encodeStateAsUpdate(ref))
  const noGc = docs.find((d) => !d.gc)
  if (noGc) add(`s${seed}-state-nogc.bin`, Y.encodeStateAsUpdate(noGc))
  const lag = docs[rng.int(docs.length)]
  add(`s${seed}-diff.bin`, Y.encodeStateAsUpdate(ref, Y.encodeStateVector(lag)))
  if (pool.length >= 3) {
    // Non-adjacent updates merged: Skip structs; alone: pending structs.
    const sub = pool.filter((_, i) => i % 2 === 0)
    add(`s${seed}-merge-skip.bin`, Y.mergeUpdates(sub))
    add(`s${seed}-pending.bin`, pool[pool.length - 1])
  }
}

fs.mkdirSync(OUT, { recursive: true })
for (const f of fs.readdirSync(OUT)) if (f.endsWith('.bin')) fs.rmSync(path.join(OUT, f))
let total = 0
for (const [name, bytes] of seeds) { fs.writeFileSync(path.join(OUT, name), bytes); total += bytes.length }
console.log(`${seeds.size} seeds, ${total} bytes in ${path.relative(REPO, OUT)}`)
