// The real services the tests start themselves (redis-server, postgres): a free loopback port,
// and a child process awaited until its log says it is ready. Whatever is still running is
// killed when the test process exits (a detached one with its whole process group).
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { if (p.detachedGroup) process.kill(-p.pid, 'SIGKILL'); else p.kill('SIGKILL'); } catch { /* gone */ }
  }
});

// A port the kernel just gave out on 127.0.0.1 (another process may take it before us: callers
// retry when the service says so).
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// Spawns cmd and resolves with {proc, log(), exited} once its output matches `ready`; rejects if
// it exits first, with err.retry set when its output matches `retryIf` (a port taken, a previous
// run still holding on).
export async function spawnReady(cmd, args, opts, { ready, retryIf, name = cmd }) {
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.detachedGroup = !!opts.detached;
  live.add(proc);
  let log = '';
  let wake = () => {};
  const onData = (d) => { log += d; wake(); };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = once(proc, 'exit').then((r) => { live.delete(proc); return r; });
  const spawnFailed = once(proc, 'error').then(([e]) => { throw e; });
  const isReady = new Promise((res) => {
    wake = () => { if (ready.test(log)) res(); };
    wake();
  });
  await Promise.race([
    isReady,
    spawnFailed,
    exited.then(([code, sig]) => {
      const err = new Error(`${name} exited (${code ?? sig}) before it was ready:\n${log}`);
      err.retry = retryIf.test(log);
      throw err;
    }),
  ]);
  return { proc, log: () => log, exited };
}
