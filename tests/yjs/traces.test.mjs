// Editing-trace replay: the real editing histories in tests/data/editing-traces are turned into
// Yjs updates with the real `yjs` package (one update per transaction; concurrent traces with one
// Y.Doc per agent, see trace-updates.mjs), given to the C engine as one --log file, and the C doc
// must end in the trace's endContent — as JSON (`json`) and as full state (`merge`) read back by
// a fresh Yjs doc.
//
// Environment: CINDER_BIN (default build/test/cinder), CINDER_TRACES (comma-separated subset).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as Y from 'yjs'
import { encodeLog } from './session.mjs'
import { REPO, TRACE_DIR, listTraces, loadTrace, traceUpdates } from './trace-updates.mjs'

const BIN = path.resolve(REPO, process.env.CINDER_BIN ?? 'build/test/cinder')
const ONLY = process.env.CINDER_TRACES?.split(',').filter(Boolean)

function cli (args, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['yjs', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const out = []; const err = []
    p.stdout.on('data', (d) => out.push(d))
    p.stderr.on('data', (d) => err.push(d))
    p.on('error', reject)
    p.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }))
    p.stdin.on('error', () => {})
    p.stdin.end(input ? Buffer.from(input.buffer, input.byteOffset, input.length) : undefined)
  })
}

function ok (r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code ?? r.signal}: ${r.stderr.slice(0, 2000)}`)
  return r
}

const traces = listTraces().filter((n) => !ONLY || ONLY.includes(n))

test('editing traces are present', () => {
  assert.ok(fs.existsSync(TRACE_DIR), `trace directory missing: ${TRACE_DIR}`)
  assert.ok(traces.length >= (ONLY ? 1 : 4), `expected the 4 traces in ${TRACE_DIR}, found ${traces.join(', ')}`)
})

test('cinder yjs CLI is built', async () => {
  assert.ok(fs.existsSync(BIN), `cinder binary not found at ${BIN} (set CINDER_BIN or build it)`)
  const r = await cli(['json', '-'], Uint8Array.of(0, 0))
  assert.equal(r.code, 0, `\`${BIN} yjs json -\` on the empty update exited ${r.code ?? r.signal}: ` +
    `${r.stderr.trim()} — the Yjs engine CLI is not built yet or broken`)
})

for (const name of traces) {
  test(`trace ${name} replays to endContent`, { timeout: 5 * 60 * 1000 }, async (t) => {
    const t0 = performance.now()
    const trace = loadTrace(name)
    const { updates, text } = traceUpdates(trace)
    assert.equal(text, trace.endContent, 'yjs itself does not reach endContent: the replay is wrong')
    const log = encodeLog(updates)
    const t1 = performance.now()
    const [rJson, rMerge] = await Promise.all([
      cli(['json', '--log', '--stats', '-'], log),
      cli(['merge', '--log', '-'], log)
    ])
    const t2 = performance.now()
    ok(rJson, 'json')
    const json = JSON.parse(rJson.stdout.toString('utf8'))
    assert.deepEqual(Object.keys(json), ['text'], 'one root, "text"')
    if (json.text !== trace.endContent) {
      let i = 0
      while (i < json.text.length && json.text[i] === trace.endContent[i]) i++
      assert.fail(`C text differs from endContent at UTF-16 offset ${i} (C length ${json.text.length}, ` +
        `expected ${trace.endContent.length}): C ${JSON.stringify(json.text.slice(i, i + 40))} vs ` +
        `${JSON.stringify(trace.endContent.slice(i, i + 40))}`)
    }
    ok(rMerge, 'merge')
    const d = new Y.Doc()
    Y.applyUpdate(d, new Uint8Array(rMerge.stdout))
    assert.equal(d.getText('text').toString(), trace.endContent, 'C full state read by a fresh Yjs doc')
    assert.equal(d.store.pendingStructs, null, 'C full state leaves pending structs')
    const stats = rJson.stderr.trim().split('\n').pop()
    t.diagnostic(`${updates.length} updates (${log.length} bytes): yjs generation ${((t1 - t0) / 1000).toFixed(1)} s, ` +
      `C json+merge ${((t2 - t1) / 1000).toFixed(1)} s wall; C apply_ms ${JSON.parse(stats).apply_ms}`)
  })
}

// Pending-heavy delivery: the start of a concurrent trace delivered agent by agent (the last agent
// first), so most updates arrive before what they depend on and wait as pending structs. The whole
// trace takes minutes under ASan (pending handling is quadratic, in yjs as in the engine), so a
// prefix; the oracle is yjs applying the same updates in trace order.
const PENDING_PREFIX = Number(process.env.CINDER_TRACE_PENDING_PREFIX ?? 4000)
for (const name of traces.filter((n) => ['friendsforever', 'clownschool'].includes(n))) {
  test(`trace ${name}: first ${PENDING_PREFIX} transactions delivered agent by agent (pending)`, { timeout: 5 * 60 * 1000 }, async (t) => {
    const trace = loadTrace(name)
    const { updates } = traceUpdates({ ...trace, txns: trace.txns.slice(0, PENDING_PREFIX) })
    const inOrder = new Y.Doc()
    for (const u of updates) Y.applyUpdate(inOrder, u)
    const want = inOrder.getText('text').toString()
    const byAgent = new Map()
    updates.forEach((u, i) => {
      const a = trace.txns[i].agent
      if (!byAgent.has(a)) byAgent.set(a, [])
      byAgent.get(a).push(u)
    })
    const order = [...byAgent.keys()].sort((a, b) => b - a).flatMap((a) => byAgent.get(a))
    const t0 = performance.now()
    const r = ok(await cli(['json', '--log', '--stats', '-'], encodeLog(order)), 'json')
    const got = JSON.parse(r.stdout.toString('utf8')).text
    assert.equal(got.length, want.length, 'length of the C text')
    assert.equal(got, want)
    t.diagnostic(`${updates.length} updates, C ${((performance.now() - t0) / 1000).toFixed(1)} s wall; ` +
      `C apply_ms ${JSON.parse(r.stderr.trim().split('\n').pop()).apply_ms}`)
  })
}
