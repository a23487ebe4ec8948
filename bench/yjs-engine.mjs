#!/usr/bin/env node
// Benchmark of the Yjs engine: the C engine (`cinder yjs merge --log --stats`, release build)
// against `yjs` (JavaScript) and `ywasm` (yrs compiled to WebAssembly) in Node, on the same
// update streams, each peer in its own child process (so that peak RSS is its own):
//   automerge-paper  the automerge-paper editing trace (tests/data/editing-traces, read through
//                    tests/yjs/trace-updates.mjs) turned into Yjs updates by yjs,
//                    one update per patch (259,778 updates), applied one by one to a fresh doc
//   many-clients     50 clients editing one Y.Text (and a Y.Map) concurrently in rounds:
//                    every round each client makes 10 transactions from the same synced state;
//                    the server receives the clients' streams interleaved (each in order)
// Time: applying every update (and, separately, encoding the full state once). Memory: peak RSS
// of the process (C: getrusage maxrss from --stats; Node peers: process.resourceUsage().maxRSS,
// which includes Node itself — the table also gives the RSS before the first update).
//
//   node bench/yjs-engine.mjs [--runs N] [--clients 50] [--edits 200] [--write] [--bin build/cinder]
// --write replaces the "## Yjs engine" section of BENCHMARKS.md with the table.
import { spawn, execFileSync } from 'node:child_process'
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '..')

// ---------------------------------------------------------------------------------------------
// Child mode: apply one log with one engine and report.
if (process.argv[2] === '--child') {
  const [, , , engine, file] = process.argv
  const log = fs.readFileSync(file)
  const rssBefore = process.memoryUsage().rss
  let n = 0
  let doc, text, encode
  // Frames are decoded lazily (views into one buffer) so that no update list inflates the heap.
  const each = (fn) => {
    let pos = 0
    while (pos < log.length) {
      let len = 0; let mult = 1; let b
      do { b = log[pos++]; len += (b & 0x7f) * mult; mult *= 128 } while (b & 0x80)
      fn(log.subarray(pos, pos + len))
      pos += len
      n++
    }
  }
  let t0, t1
  if (engine === 'yjs') {
    const Y = await import('yjs')
    doc = new Y.Doc()
    t0 = performance.now()
    each((u) => Y.applyUpdate(doc, u))
    t1 = performance.now()
    encode = () => Y.encodeStateAsUpdate(doc)
    text = () => doc.getText('text').toString()
  } else {
    const { default: ywasm } = await import('ywasm')
    doc = new ywasm.YDoc({})
    t0 = performance.now()
    each((u) => ywasm.applyUpdate(doc, u, undefined))
    t1 = performance.now()
    encode = () => ywasm.encodeStateAsUpdate(doc)
    text = () => doc.getText('text').toString(undefined)
  }
  const state = encode()
  const t2 = performance.now()
  const ru = process.resourceUsage()
  process.stdout.write(JSON.stringify({
    updates: n,
    apply_ms: t1 - t0,
    encode_ms: t2 - t1,
    max_rss_kb: ru.maxRSS,
    rss_before_kb: Math.round(rssBefore / 1024),
    state_bytes: state.length,
    text_sha1: crypto.createHash('sha1').update(text()).digest('hex')
  }) + '\n')
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// Parent mode.
const args = process.argv.slice(2)
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def }
const RUNS = Number(opt('--runs', 3))
const CLIENTS = Number(opt('--clients', 50))
const EDITS = Number(opt('--edits', 1000)) // per client
const ONLY = opt('--only', null) // automerge-paper | clients
const BIN = path.resolve(REPO, opt('--bin', 'build/cinder'))
const WRITE = args.includes('--write')
const NOTE = opt('--note', null) // e.g. which commit the binary was built from
const LOAD = os.loadavg()[0]

const { traceUpdates, loadTrace } = await import('../tests/yjs/trace-updates.mjs')
const { encodeLog, makeRng } = await import('../tests/yjs/session.mjs')
const Y = await import('yjs')

function manyClients (clients, editsPerClient, seed = 42) {
  const rng = makeRng(seed)
  const ROUND_EDITS = 10
  const rounds = Math.ceil(editsPerClient / ROUND_EDITS)
  const hub = new Y.Doc()
  const docs = []
  for (let c = 0; c < clients; c++) {
    const d = new Y.Doc()
    d.clientID = 1000 + c * 7919
    docs.push(d)
  }
  // No characters outside the BMP here: deletes may cut a surrogate pair (yjs then writes U+FFFD
  // halves), which makes ywasm 0.18.3 panic ("RuntimeError: unreachable"). The differential suite
  // covers surrogate pairs.
  const words = ['the ', 'quick ', 'brown ', 'fox ', 'jumps ', 'über ', 'lazy ', 'dog ', '中文 ', '\n']
  const updates = []
  for (let r = 0; r < rounds; r++) {
    const queues = []
    for (const d of docs) {
      Y.applyUpdate(d, Y.encodeStateAsUpdate(hub, Y.encodeStateVector(d)))
      const queue = []
      queues.push(queue)
      const onUpdate = (u) => queue.push(u)
      d.on('update', onUpdate)
      const t = d.getText('text')
      let cursor = rng.int(t.length + 1)
      for (let e = 0; e < ROUND_EDITS && r * ROUND_EDITS + e < editsPerClient; e++) {
        d.transact(() => {
          const k = rng.next()
          if (k < 0.75 || t.length < 10) {
            const w = rng.pick(words)
            t.insert(cursor, w)
            cursor += w.length
          } else if (k < 0.95) {
            const p = Math.max(0, cursor - rng.range(1, 4))
            t.delete(p, cursor - p)
            cursor = p
          } else {
            d.getMap('meta').set('cursor-' + d.clientID, cursor)
          }
        })
      }
      d.off('update', onUpdate)
    }
    // The server receives the clients' streams interleaved at random, each one in order.
    for (let left = queues.reduce((a, q) => a + q.length, 0); left > 0; left--) {
      let q
      do q = rng.pick(queues); while (!q.length)
      const u = q.shift()
      Y.applyUpdate(hub, u)
      updates.push(u)
    }
  }
  return { updates, text: hub.getText('text').toString() }
}

// Every peer is started through `sh -c '"$@"; exit $?'`: a process that Node spawns directly
// (vfork + exec) inherits Node's peak RSS in getrusage's maxrss (Linux keeps the old mm's high-water
// mark across exec); the shell's fork gives the peer a fresh one.
function run (cmd, argv, { stdoutFile } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const out = stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe'
    const p = spawn('sh', ['-c', '"$@"; exit $?', 'sh', cmd, ...argv], { stdio: ['ignore', out, 'pipe'] })
    const so = []; const se = []
    p.stdout?.on('data', (d) => so.push(d))
    p.stderr.on('data', (d) => se.push(d))
    p.on('error', reject)
    p.on('close', (code) => {
      if (stdoutFile) fs.closeSync(out)
      resolve({ code, wall_ms: performance.now() - t0, stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString() })
    })
  })
}

async function cPeer (logFile, tmp) {
  const r = await run(BIN, ['yjs', 'merge', '--log', '--stats', logFile], { stdoutFile: path.join(tmp, 'c-state.bin') })
  if (r.code !== 0) return { error: r.stderr.trim().split('\n').pop() || `exit ${r.code}` }
  const s = JSON.parse(r.stderr.trim().split('\n').pop())
  return { ...s, wall_ms: r.wall_ms, state_bytes: fs.statSync(path.join(tmp, 'c-state.bin')).size }
}

async function nodePeer (engine, logFile) {
  const r = await run(process.execPath, [fileURLToPath(import.meta.url), '--child', engine, logFile])
  if (r.code !== 0) return { error: r.stderr.trim().slice(0, 300) }
  return { ...JSON.parse(r.stdout), wall_ms: r.wall_ms }
}

// Generated update logs are kept in the temp dir (keyed by workload, yjs version and this file's
// generator revision), so reruns skip the generation.
const CACHE = path.join(os.tmpdir(), 'cinder-bench-yjs-cache')
const GEN_REV = 1
function cached (key, generate) {
  const base = path.join(CACHE, `${key}-yjs${pkgVersion('yjs')}-r${GEN_REV}`)
  if (fs.existsSync(base + '.log') && fs.existsSync(base + '.json')) {
    const meta = JSON.parse(fs.readFileSync(base + '.json', 'utf8'))
    return { ...meta, file: base + '.log' }
  }
  const { updates, text } = generate()
  fs.mkdirSync(CACHE, { recursive: true })
  fs.writeFileSync(base + '.log', encodeLog(updates))
  fs.writeFileSync(base + '.json', JSON.stringify({ updates: updates.length, text }))
  return { updates: updates.length, text, file: base + '.log' }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

async function cText (logFile) {
  const r = await run(BIN, ['yjs', 'json', '--log', logFile])
  if (r.code !== 0) return null
  return crypto.createHash('sha1').update(JSON.parse(r.stdout).text ?? '').digest('hex')
}

function machine () {
  let model = os.cpus()[0]?.model ?? 'unknown'
  try {
    const l = execFileSync('lscpu', { encoding: 'utf8' })
    model = /Model name:\s*(.+)/.exec(l)?.[1]?.trim() ?? model
  } catch {}
  return `${model}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
    `Linux ${os.release()}, Node ${process.version}`
}

const pkgVersion = (name) => JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version

async function main () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cinder-bench-yjs-'))
  try {
    const workloads = []
    let tg = performance.now()
    if (!ONLY || ONLY === 'automerge-paper') {
      const { updates, text, file } = cached('automerge-paper', () => {
        const trace = loadTrace('automerge-paper')
        const r = traceUpdates(trace)
        if (r.text !== trace.endContent) throw new Error('yjs replay of automerge-paper does not reach endContent')
        return r
      })
      workloads.push({ name: 'automerge-paper', desc: 'automerge-paper trace, 1 update per patch', updates, file, sha1: crypto.createHash('sha1').update(text).digest('hex') })
      console.error(`generated automerge-paper updates with yjs in ${((performance.now() - tg) / 1000).toFixed(1)} s`)
    }
    tg = performance.now()
    if (!ONLY || ONLY === 'clients') {
      const { updates, text, file } = cached(`clients-${CLIENTS}-${EDITS}`, () => manyClients(CLIENTS, EDITS))
      workloads.push({ name: `${CLIENTS}-clients`, desc: `${CLIENTS} clients × ${EDITS} edits, concurrent rounds of 10 edits per client`, updates, file, sha1: crypto.createHash('sha1').update(text).digest('hex') })
      console.error(`generated the ${CLIENTS}-client session with yjs in ${((performance.now() - tg) / 1000).toFixed(1)} s`)
    }
    const cReady = fs.existsSync(BIN) && (await run(BIN, ['yjs', 'sv', '--log', workloads[0].file])).code === 0
    const cVersion = cReady ? (await run(BIN, ['--version'])).stdout.trim() : 'not built'
    const rows = []
    for (const w of workloads) {
      const size = fs.statSync(w.file).size
      const results = {}
      const peers = [...(cReady ? ['C (cinder)'] : []), 'yjs', 'ywasm']
      for (const peer of peers) {
        const runs = []
        for (let i = 0; i < RUNS; i++) {
          const r = peer === 'yjs' || peer === 'ywasm' ? await nodePeer(peer, w.file) : await cPeer(w.file, tmp)
          if (r.error) { console.error(`${w.name} ${peer}: ${r.error}`); break }
          runs.push(r)
        }
        if (!runs.length) { results[peer] = null; continue }
        let sha1 = runs[0].text_sha1
        if (peer === 'C (cinder)') sha1 = await cText(w.file)
        results[peer] = {
          apply_ms: median(runs.map((r) => r.apply_ms)),
          encode_ms: median(runs.map((r) => r.encode_ms)),
          wall_ms: median(runs.map((r) => r.wall_ms)),
          max_rss_kb: median(runs.map((r) => r.max_rss_kb)),
          rss_before_kb: runs[0].rss_before_kb,
          state_bytes: runs[0].state_bytes,
          correct: sha1 === w.sha1
        }
        console.error(`${w.name} ${peer}: ${JSON.stringify(results[peer])}`)
      }
      rows.push({ w, size, results })
    }
    const lines = []
    lines.push('## Yjs engine', '')
    lines.push(`Measured ${new Date().toISOString().slice(0, 10)} with \`node bench/yjs-engine.mjs --runs ${RUNS}\` on ${machine()}; ` +
      `load average ${LOAD.toFixed(1)} when it started (a shared machine: absolute times are noisy, the ratios less so).`)
    const binName = BIN.startsWith(REPO + path.sep) ? path.relative(REPO, BIN) : BIN
    lines.push(`Peers: C engine \`${binName}\` (${cVersion}${NOTE ? ', ' + NOTE : ''}, release build, \`yjs merge --log --stats\`), ` +
      `yjs ${pkgVersion('yjs')} and ywasm ${pkgVersion('ywasm')} in Node, each in its own process; median of ${RUNS} runs.`)
    lines.push('Apply: every update applied one by one to a fresh doc. Encode: the full state once (encodeStateAsUpdate). ' +
      'Wall: the whole process (start, reading the log, apply, encode, exit; includes a `sh` wrapper). Peak RSS: getrusage maxrss of the process ' +
      '(Node peers include Node itself; their RSS before the first update is in parentheses).')
    lines.push('')
    lines.push('| workload | updates | engine | apply ms | encode ms | wall ms | peak RSS MB | apply time ÷ C | peak RSS ÷ C | state bytes | result |')
    lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const { w, size, results } of rows) {
      const c = results['C (cinder)']
      for (const [peer, r] of Object.entries(results)) {
        if (!r) { lines.push(`| ${w.name} | ${w.updates} | ${peer} | failed | | | | | | | |`); continue }
        const mb = (kb) => (kb / 1024).toFixed(1)
        const ratio = (a, b) => (c ? (a / b).toFixed(2) + '×' : 'n/a')
        lines.push(`| ${w.name} | ${w.updates} | ${peer} | ${r.apply_ms.toFixed(0)} | ${r.encode_ms.toFixed(1)} | ${r.wall_ms.toFixed(0)} | ` +
          `${mb(r.max_rss_kb)}${r.rss_before_kb ? ` (${mb(r.rss_before_kb)})` : ''} | ${c ? ratio(r.apply_ms, c.apply_ms) : 'n/a'} | ` +
          `${c ? ratio(r.max_rss_kb, c.max_rss_kb) : 'n/a'} | ${r.state_bytes} | ${r.correct ? 'ok' : 'WRONG'} |`)
      }
      if (!c) lines.push(`| ${w.name} | ${w.updates} | C (cinder) | pending | | | | | | | engine not built yet |`)
    }
    lines.push('')
    for (const { w, size } of rows) lines.push(`- ${w.name}: ${w.desc}; ${w.updates} updates, ${(size / 1024).toFixed(0)} KiB as a --log file.`)
    lines.push('- The many-client session has no characters outside the BMP: ywasm 0.18.3 panics ("RuntimeError: unreachable") ' +
      'on updates where yjs cut a surrogate pair into U+FFFD halves; the differential suite covers those for the C engine.')
    lines.push('')
    const table = lines.join('\n')
    console.log(table)
    if (WRITE) {
      const file = path.join(REPO, 'BENCHMARKS.md')
      let md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\n'
      const start = md.indexOf('## Yjs engine')
      if (start >= 0) {
        const next = md.indexOf('\n## ', start + 1)
        md = md.slice(0, start) + table + (next >= 0 ? md.slice(next + 1) : '')
      } else {
        md = md.trimEnd() + '\n\n' + table
      }
      fs.writeFileSync(file, md)
      console.error(`wrote ${file}`)
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
