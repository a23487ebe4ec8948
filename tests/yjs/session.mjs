// Seeded random multi-client Yjs sessions, generated with the real `yjs` package.
// Shared by the differential suite (differential.test.mjs), the fuzz seed writer
// (gen-fuzz-seeds.mjs) and the engine benchmark (bench/yjs-engine.mjs).
//
// A session is several Y.Docs (distinct client ids, some with gc:false) that edit the same root
// types — text with formatting, embeds and surrogate pairs, arrays and maps of Any values and nested
// types, XML fragments with elements, attributes and formatted XmlText — and exchange their
// updates partially, out of order and duplicated, sometimes as state-vector diffs. Every update
// event of every doc (local edits and the normalised relays of remote ones) and every diff goes
// into `pool`: applying all of it, in any order, builds the complete document.
//
// Root types (fixed names and kinds so that the C side can infer them from content alone):
//   t  Y.Text (formatting, embeds)      u  Y.Text (plain)          a  Y.Array
//   m  Y.Map                            ü📝 Y.Map (non-ASCII name)  x  Y.XmlFragment
// Arrays and maps nest Y.Map / Y.Array / Y.Text and subdocuments (and XML types as map values); XML types are never
// put into arrays (an array root holding XML children could not be told from an XML fragment).
import * as Y from 'yjs'

export const ROOTS = [
  ['t', 'text'], ['u', 'text'], ['a', 'array'], ['m', 'map'], ['ü📝', 'map'], ['x', 'xml']
]
// The same roots with a tag in their names ("t.17"): sessions with different tags (and disjoint
// client ids, see `idSlot`) can live in one document without touching each other.
export function rootsFor (tag) {
  return tag === undefined ? ROOTS : ROOTS.map(([n, k]) => [`${n}.${tag}`, k])
}

// sfc32, seeded through splitmix32: small, fast, deterministic across platforms.
export function makeRng (seed) {
  let s = seed >>> 0
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split(); let b = split(); let c = split(); let d = split()
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t / 4294967296
  }
  const rng = {
    next,
    int: (n) => Math.floor(next() * n), // 0..n-1
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // lo..hi
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    shuffle: (arr) => {
      for (let i = arr.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1)); const t = arr[i]; arr[i] = arr[j]; arr[j] = t
      }
      return arr
    }
  }
  return rng
}

// Text pieces: ASCII, 2/3-byte UTF-8, surrogate pairs (emoji, flags, modifiers, U+1D11E),
// combining marks, newline, characters JSON and XML escape.
const PIECES = [
  'a', 'b', 'c', 'x', 'y', 'z', 'hello', ' ', ' world', 'é', 'ß', 'ü', '中文', '한', '😀', '👍🏽',
  '🇩🇪', '𝄞', 'e\u0301', '\n', '"', '\\', '<', '&', '\t', '🙂🙃', 'ab😀cd', '\u00a0', '\u2028'
]
const KEYS = ['k0', 'k1', 'k2', 'k3', 'key', 'ключ', '🔑', '', 'a b', '"q"']
const NODE_NAMES = ['p', 'div', 'h1', 'span', 'my-el', 'li']
const ATTR_NAMES = ['id', 'class', 'data-x', 'href']
const FORMATS = [
  { bold: true }, { bold: null }, { italic: true }, { italic: null }, { color: '#f00' },
  { color: null }, { link: { href: 'https://example.com/ü' } }, { size: 12 }, { bold: true, italic: true }
]
const XML_FORMATS = [
  { b: {} }, { b: null }, { i: {} }, { a: { href: 'x.html', title: 't' } }, { a: null }, { u: true }
]
const EMBEDS = [{ image: 'a.png' }, { formula: 'e=mc^2' }, { mention: { id: 7, name: 'Zoë' } }]

function randString (rng) {
  let s = ''
  const n = rng.range(1, 3)
  for (let i = 0; i < n; i++) s += rng.pick(PIECES)
  return s
}

function randNumber (rng) {
  switch (rng.int(8)) {
    case 0: return rng.int(100)
    case 1: return -rng.int(100000)
    case 2: return 2147483647 + rng.int(3) // around 2^31: varInt vs float64
    case 3: return 2 ** 40 + rng.int(1000)
    case 4: return rng.pick([0.5, -1.25, 3.75, 1024.5]) // exact float32
    case 5: return rng.pick([0.1, 1e-7, 123456.789, -2.5e300, Math.PI])
    case 6: return rng.pick([Number.MAX_SAFE_INTEGER, -0, 1e21, -1e-300])
    default: return rng.int(2147483647)
  }
}

function randAny (rng, depth = 0) {
  const k = rng.int(depth > 1 ? 5 : 7)
  if (rng.chance(0.04)) return Uint8Array.from({ length: rng.int(5) }, () => rng.int(256)) // ContentBinary / Any 116
  if (rng.chance(0.02)) return undefined // JSON: null in arrays, omitted in objects
  switch (k) {
    case 0: return randNumber(rng)
    case 1: return randString(rng)
    case 2: return rng.chance(0.5)
    case 3: return null
    case 4: return rng.pick(KEYS) + rng.int(10)
    case 5: {
      const arr = []
      const n = rng.int(4)
      for (let i = 0; i < n; i++) arr.push(randAny(rng, depth + 1))
      return arr
    }
    default: {
      const o = {}
      const n = rng.int(4)
      for (let i = 0; i < n; i++) o[rng.pick(KEYS)] = randAny(rng, depth + 1)
      return o
    }
  }
}

// yjs's Y.Array.insert refuses a top-level undefined (maps and nested values take it).
function randItem (rng) {
  const v = randAny(rng)
  return v === undefined ? null : v
}

// A new nested type with some preliminary content. `inMap`: XML types are allowed too.
function newNestedType (rng, depth, inMap) {
  const k = rng.int(inMap ? 5 : 3)
  if (k === 0) {
    const m = new Y.Map()
    const n = rng.int(3)
    for (let i = 0; i < n; i++) m.set(rng.pick(KEYS), depth < 3 && rng.chance(0.3) ? newNestedType(rng, depth + 1, true) : randAny(rng))
    return m
  }
  if (k === 1) {
    const a = new Y.Array()
    const n = rng.int(3)
    const items = []
    for (let i = 0; i < n; i++) items.push(depth < 3 && rng.chance(0.3) ? newNestedType(rng, depth + 1, false) : randItem(rng))
    a.insert(0, items)
    return a
  }
  if (k === 2) return new Y.Text(rng.chance(0.7) ? randString(rng) : undefined)
  if (k === 3) return newXmlElement(rng, depth)
  const xt = new Y.XmlText()
  if (rng.chance(0.7)) xt.insert(0, randString(rng))
  return xt
}

function newXmlElement (rng, depth) {
  const el = new Y.XmlElement(rng.pick(NODE_NAMES))
  if (rng.chance(0.5)) el.setAttribute(rng.pick(ATTR_NAMES), randString(rng))
  const n = depth < 3 ? rng.int(3) : 0
  const kids = []
  for (let i = 0; i < n; i++) kids.push(newXmlChild(rng, depth + 1))
  if (kids.length) el.insert(0, kids)
  return el
}

function newXmlChild (rng, depth) {
  if (rng.chance(0.5)) return newXmlElement(rng, depth)
  const xt = new Y.XmlText()
  if (rng.chance(0.8)) xt.insert(0, randString(rng), rng.chance(0.3) ? rng.pick(XML_FORMATS) : undefined)
  return xt
}

function rootOf (doc, name, kind) {
  if (kind === 'text') return doc.getText(name)
  if (kind === 'array') return doc.getArray(name)
  if (kind === 'map') return doc.getMap(name)
  return doc.getXmlFragment(name)
}

// All live shared types of a doc, with their depth.
function collectTypes (doc, roots) {
  const out = []
  const visit = (t, depth) => {
    out.push([t, depth])
    if (depth > 4) return
    if (t instanceof Y.Map) {
      t.forEach((v) => { if (v instanceof Y.AbstractType) visit(v, depth + 1) })
    } else if (t instanceof Y.Array || t instanceof Y.XmlFragment) { // XmlElement extends XmlFragment
      for (const v of t.toArray()) if (v instanceof Y.AbstractType) visit(v, depth + 1)
    }
  }
  for (const [name, kind] of roots) visit(rootOf(doc, name, kind), 0)
  return out
}

// UTF-16 units of a Y.Text with embeds as one placeholder unit each.
function textUnits (ytext) {
  let s = ''
  for (const d of ytext.toDelta()) s += typeof d.insert === 'string' ? d.insert : '\u0000'
  return s
}

// A position in [0, len]; usually not between the halves of a surrogate pair.
function textPos (rng, units, allowSplit) {
  let p = rng.int(units.length + 1)
  if (!allowSplit && p > 0 && p < units.length) {
    const c = units.charCodeAt(p - 1)
    if (c >= 0xd800 && c <= 0xdbff) p += rng.chance(0.5) ? 1 : -1
  }
  return p
}

function editText (rng, t, isXml, plain) {
  const units = textUnits(t)
  const allowSplit = rng.chance(0.05)
  const op = rng.int(10)
  if (op < 5 || units.length === 0) {
    const p = textPos(rng, units, allowSplit)
    const attrs = plain ? undefined : rng.chance(0.25) ? rng.pick(isXml ? XML_FORMATS : FORMATS) : undefined
    t.insert(p, randString(rng), attrs)
  } else if (op < 8) {
    const p = textPos(rng, units, allowSplit)
    let q = Math.min(units.length, p + rng.range(1, 4))
    if (!allowSplit && q < units.length && q > 0) {
      const c = units.charCodeAt(q - 1)
      if (c >= 0xd800 && c <= 0xdbff) q++
    }
    if (q > p) t.delete(p, q - p)
  } else if (op === 8 && !plain) {
    const p = textPos(rng, units, allowSplit)
    const len = Math.min(units.length - p, rng.range(1, 6))
    if (len > 0) t.format(p, len, rng.pick(isXml ? XML_FORMATS : FORMATS))
  } else if (!isXml && !plain) {
    t.insertEmbed(textPos(rng, units, false), rng.pick(EMBEDS), rng.chance(0.3) ? rng.pick(FORMATS) : undefined)
  } else {
    t.insert(textPos(rng, units, false), randString(rng))
  }
}

// A subdocument (ContentDoc): JSON {} on both sides (an unloaded Y.Doc's toJSON). The guid comes
// from the seed (yjs would draw a random uuid); options exercise ContentDoc's opts encoding.
function newSubdoc (rng) {
  return new Y.Doc({
    guid: `sub-${rng.int(1e9)}`,
    gc: rng.chance(0.7),
    autoLoad: rng.chance(0.3),
    meta: rng.chance(0.5) ? randAny(rng, 1) ?? null : null
  })
}

function editArray (rng, a, depth) {
  const op = rng.int(10)
  if (op < 6 || a.length === 0) {
    const n = rng.range(1, 3)
    const items = []
    for (let i = 0; i < n; i++) {
      items.push(rng.chance(0.03) ? newSubdoc(rng) : depth < 4 && rng.chance(0.3) ? newNestedType(rng, depth + 1, false) : randItem(rng))
    }
    a.insert(rng.int(a.length + 1), items)
  } else {
    const p = rng.int(a.length)
    a.delete(p, Math.min(a.length - p, rng.range(1, 3)))
  }
}

function editMap (rng, m, depth) {
  if (rng.chance(0.2) && m.size > 0) {
    m.delete(rng.pick([...m.keys()]))
  } else {
    m.set(rng.pick(KEYS), rng.chance(0.03) ? newSubdoc(rng) : depth < 4 && rng.chance(0.3) ? newNestedType(rng, depth + 1, true) : randAny(rng))
  }
}

function editXml (rng, x, depth) {
  const op = rng.int(10)
  if (x instanceof Y.XmlElement && op >= 7) {
    const name = rng.pick(ATTR_NAMES)
    if (op === 9 && x.getAttribute(name) !== undefined) x.removeAttribute(name)
    else x.setAttribute(name, randString(rng))
  } else if (op < 5 || x.length === 0) {
    x.insert(rng.int(x.length + 1), [newXmlChild(rng, depth + 1)])
  } else {
    const p = rng.int(x.length)
    x.delete(p, Math.min(x.length - p, rng.range(1, 2)))
  }
}

function editRandom (rng, doc, roots) {
  const types = collectTypes(doc, roots)
  // Favour roots a bit, so that roots get content early.
  const [t, depth] = rng.chance(0.4) ? types[rng.int(roots.length)] : rng.pick(types)
  if (t instanceof Y.XmlText) editText(rng, t, true, false)
  else if (t instanceof Y.Text) editText(rng, t, false, t === doc.getText(roots[1][0]))
  else if (t instanceof Y.Array) editArray(rng, t, depth)
  else if (t instanceof Y.Map) editMap(rng, t, depth)
  else editXml(rng, t, depth)
}

// Several docs insert at the same index of the same root (same origins when they are in sync).
function conflictBurst (rng, docs, roots) {
  const [name, kind] = rng.pick(roots)
  const atEnd = rng.chance(0.3)
  for (const doc of docs) {
    if (!rng.chance(0.7)) continue
    const t = rootOf(doc, name, kind)
    if (kind === 'map') { t.set(rng.pick(KEYS.slice(0, 3)), randAny(rng)); continue }
    const len = t.length
    const p = atEnd ? len : Math.min(len, rng.int(3))
    if (kind === 'text') t.insert(p, rng.pick(['A', 'B', '😀', 'xy']) + doc.clientID % 10)
    else if (kind === 'array') t.insert(p, [doc.clientID % 1000])
    else t.insert(p, [newXmlChild(rng, 1)])
  }
}

// slot 0..11: sessions with different slots get disjoint small ids (random uint32 ids may still
// collide, with negligible probability; callers that mix sessions check).
function distinctClientIds (rng, n, slot = 0) {
  const ids = new Set()
  const style = rng.int(3)
  while (ids.size < n) {
    if (style === 0) ids.add(10 * slot + rng.range(1, 9)) // small ids: one-byte varUints, ordering ties
    else if (style === 1) ids.add(rng.int(4294967295) + 1) // full uint32 range like yjs
    else ids.add((rng.chance(0.5) ? 0 : 2147483600) + 200 * slot + rng.range(1, 200))
  }
  return [...ids]
}

/**
 * Generate a session.
 * opts: docs, steps (defaults drawn from the seed), tag (root names, see rootsFor), idSlot (0..11).
 * @returns {{ pool: Uint8Array[], docs: Y.Doc[], clientIds: number[], roots, rng }}
 *   pool: every update event of every doc and every sync diff, in creation order.
 */
export function generateSession (seed, opts = {}) {
  const rng = makeRng(seed)
  const roots = rootsFor(opts.tag)
  const nDocs = opts.docs ?? rng.range(2, 5)
  const drawnSteps = rng.range(4, 40) // drawn even when overridden: same ids either way
  const steps = opts.steps ?? drawnSteps
  const ids = distinctClientIds(rng, nDocs, opts.idSlot ?? 0)
  const pool = []
  const docs = []
  const logs = []
  for (let i = 0; i < nDocs; i++) {
    const doc = new Y.Doc({ gc: !rng.chance(0.3) })
    doc.clientID = ids[i]
    const log = []
    doc.on('update', (u) => { pool.push(u); log.push(u) })
    docs.push(doc)
    logs.push(log)
  }
  for (let s = 0; s < steps; s++) {
    const r = rng.next()
    if (r < 0.55) {
      const i = rng.int(nDocs)
      const doc = docs[i]
      const nOps = rng.range(1, 3)
      doc.transact(() => { for (let k = 0; k < nOps; k++) editRandom(rng, doc, roots) })
    } else if (r < 0.65) {
      conflictBurst(rng, docs, roots)
    } else if (r < 0.92) {
      // Partial exchange: some of A's updates reach B, shuffled, some twice.
      const a = rng.int(nDocs); const b = rng.int(nDocs)
      if (a === b) continue
      const p = 0.3 + 0.7 * rng.next()
      const sel = logs[a].filter(() => rng.chance(p))
      rng.shuffle(sel)
      for (const u of sel) {
        Y.applyUpdate(docs[b], u)
        if (rng.chance(0.1)) Y.applyUpdate(docs[b], u)
      }
    } else {
      // State-vector sync from A to B (the diff itself is a pool member too).
      const a = rng.int(nDocs); const b = rng.int(nDocs)
      if (a === b) continue
      const diff = Y.encodeStateAsUpdate(docs[a], Y.encodeStateVector(docs[b]))
      pool.push(diff)
      Y.applyUpdate(docs[b], diff)
    }
  }
  return { pool, docs, clientIds: ids, roots, rng }
}

// Oracle docs: Y.Docs that, like the engine (a server), never change the document on their own.
// A yjs Y.Text that receives formatting in a remote transaction "cleans up" format items it
// considers redundant, deleting them in that doc only (YText._callObserver sets
// transaction._needFormattingCleanup; readUpdateV2 forces transactions to be remote). Content
// integrated later can then be formatted differently than in a doc that did not clean up, and
// the GC'd deletions shrink its state. The session docs keep this behaviour (their cleanup
// deletions are part of their updates); oracle docs have it switched off.
const oracleDocs = new WeakSet()
const textCallObserver = Y.Text.prototype._callObserver
Y.Text.prototype._callObserver = function (transaction, parentSubs) {
  textCallObserver.call(this, transaction, parentSubs)
  if (oracleDocs.has(transaction.doc)) transaction._needFormattingCleanup = false
}
export function oracleDoc () {
  const d = new Y.Doc()
  d.clientID = 0 // never a session client (those are >= 1)
  oracleDocs.add(d)
  return d
}

// Content of a doc under the CLI's JSON convention: one key per non-empty root.
export function docJson (doc, roots = ROOTS) {
  const out = {}
  for (const [name, kind] of roots) {
    const t = rootOf(doc, name, kind)
    const v = kind === 'text' ? t.toString() : kind === 'xml' ? t.toString() : t.toJSON()
    if (isEmpty(v)) continue
    out[name] = v
  }
  return out
}

// docJson over every root the doc has, kinds from the names (untagged or tagged, "t" / "t.17").
export function docJsonAuto (doc) {
  const kinds = new Map(ROOTS)
  const roots = [...doc.share.keys()].filter((n) => kinds.has(n.split('.')[0])).map((n) => [n, kinds.get(n.split('.')[0])])
  return docJson(doc, roots)
}

export function isEmpty (v) {
  return v === '' || (Array.isArray(v) && v.length === 0) ||
    (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
}

// Canonical JSON text: object keys sorted at every depth; empty roots dropped.
export function canonicalJson (obj, dropEmptyRoots = true) {
  obj = JSON.parse(JSON.stringify(obj)) // undefined, Uint8Array, -0 as JSON.stringify has them
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort)
    if (v !== null && typeof v === 'object') {
      const o = {}
      for (const k of Object.keys(v).sort()) o[k] = sort(v[k])
      return o
    }
    return v
  }
  const top = {}
  for (const k of Object.keys(obj)) if (!(dropEmptyRoots && isEmpty(obj[k]))) top[k] = obj[k]
  return JSON.stringify(sort(top))
}

// lib0 varUint8Array framing of a list of updates (the CLI's --log format).
export function encodeLog (updates) {
  let total = 0
  for (const u of updates) total += u.length + 8
  const out = new Uint8Array(total)
  let pos = 0
  for (const u of updates) {
    let n = u.length
    while (n > 0x7f) { out[pos++] = 0x80 | (n & 0x7f); n = Math.floor(n / 128) }
    out[pos++] = n
    out.set(u, pos)
    pos += u.length
  }
  return out.subarray(0, pos)
}

export function decodeLog (buf) {
  const out = []
  let pos = 0
  while (pos < buf.length) {
    let n = 0; let mult = 1; let b
    do { b = buf[pos++]; n += (b & 0x7f) * mult; mult *= 128 } while (b & 0x80)
    out.push(buf.subarray(pos, pos + n))
    pos += n
  }
  return out
}

export const toHex = (u8) => Buffer.from(u8).toString('hex')
