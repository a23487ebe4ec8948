// Starting and stopping the real cinder binary for end-to-end tests.
//
// startServer() spawns `cinder serve --port 0` (the kernel picks a free port, so test files run
// in parallel) and resolves once the server logs the port it listens on. stop() sends SIGTERM and
// resolves with the exit code; it also fails the test if a sanitizer reported anything.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import assert from 'node:assert/strict';

export const CINDER_BIN = process.env.CINDER_BIN || resolve('build/test/cinder');

// bin: another cinder binary (a copy elsewhere). wrap: a command that execs the server (same pid), e.g. ['prlimit', '--nofile=2000:2000', '--'].
export async function startServer({ workers = 2, args = [], env = {}, port = 0, dataDir, wrap = [], bin = CINDER_BIN } = {}) {
  const data = dataDir || mkdtempSync(join(tmpdir(), 'cinder-e2e-'));
  const argv = [bin, 'serve', '--host', '127.0.0.1', '--port', String(port),
    '--workers', String(workers), '--data', data, ...args];
  const [cmd, ...cmdArgs] = [...wrap, ...argv];
  const proc = spawn(cmd, cmdArgs, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const listeners = [];
  const onData = (chunk) => {
    log += chunk;
    for (const l of listeners.slice()) l();
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = once(proc, 'exit');

  // Resolves when the log contains a line matching re (checked on every new output).
  const waitForLog = (re) => new Promise((res, rej) => {
    const check = () => {
      const m = log.match(re);
      if (m) {
        listeners.splice(listeners.indexOf(check), 1);
        res(m);
      }
    };
    listeners.push(check);
    exited.then(() => rej(new Error(`server exited before logging ${re}:\n${log}`)));
    check();
  });

  const m = await waitForLog(/listening on [^\s]+:(\d+)/);
  const actualPort = Number(m[1]);
  const server = {
    proc,
    port: actualPort,
    data,
    http: `http://127.0.0.1:${actualPort}`,
    url: `ws://127.0.0.1:${actualPort}/socket`,
    log: () => log,
    waitForLog,
    async stop({ signal = 'SIGTERM', keepData = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const [code, sig] = await exited;
      if (!keepData && !dataDir) rmSync(data, { recursive: true, force: true });
      assertCleanLog(log);
      return { code, signal: sig };
    },
  };
  return server;
}

export function assertCleanLog(log) {
  for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'UndefinedBehavior']) {
    assert.ok(!log.includes(bad), `sanitizer report in server log:\n${log}`);
  }
}

export async function getJSON(url, opts) {
  const res = await fetch(url, opts);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

// `cinder doc ARGS` with stdin `input`: {code, signal, stdout (a Buffer), stderr}, its stderr free
// of sanitizer reports. docOk asserts exit 0.
export function runDoc(args, { input, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(CINDER_BIN, ['doc', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString();
      assertCleanLog(stderr);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input);
  });
}

export async function docOk(args, opts) {
  const r = await runDoc(args, opts);
  assert.equal(r.code, 0, `cinder doc ${args.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr}`);
  return r;
}
