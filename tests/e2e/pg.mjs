// A throwaway PostgreSQL 15 (Debian `postgresql-15`) for a test file, the way tests/unit/pg_env.sh
// starts one for the C tests: a temporary directory owned by the `postgres` user, `initdb` (trust
// authentication, UTF8, C locale) and `postgres` run as that user when the tests run as root
// (PostgreSQL refuses root; CI runs as root), fsync off, listening on a free loopback port only,
// its socket in that directory, and one empty database.
//
// startPostgres() resolves once the server logs that it accepts connections and the database is
// created: {url, port, db, dir, stop(), kill9(), restart(), running(), log(), query(sql),
// storedRows(doc)}. stop() is a fast shutdown (SIGINT: sessions are ended, as a restart does);
// kill9() SIGKILLs the server and all its processes; restart() starts it again on the same port
// and data directory. Whatever is still running is killed, and the directory removed, when the
// test process exits.
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, spawnReady } from './services.mjs';

const exec = promisify(execFile);
export const PG_BIN = process.env.CINDER_PG_BIN || '/usr/lib/postgresql/15/bin';

const liveDirs = new Set();
process.on('exit', () => {
  for (const d of liveDirs) { try { rmSync(d, { recursive: true, force: true }); } catch { /* busy */ } }
});

// Root runs the server as `postgres` (spawn's uid/gid: the same pid, so signals reach it).
function runAs() {
  if (process.getuid() !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

// Spawns `postgres` on port; resolves with {proc, log(), exited} once it accepts connections, or
// rejects (err.retry when the port was taken or the previous run's processes still hold on).
function spawnPostgres(dir, port, as) {
  const args = ['-D', join(dir, 'data'), '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
  // detached: its own process group, so kill9() reaches every backend at once.
  return spawnReady(join(PG_BIN, 'postgres'), args, { ...as, cwd: dir, detached: true }, {
    ready: /database system is ready to accept connections/,
    retryIf: /could not bind|already in use|could not create any TCP|pre-existing shared memory|lock file .* already exists/i,
    name: `postgres on port ${port}`,
  });
}

export async function startPostgres({ db = 'cinder' } = {}) {
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'cinder-pg-'));
  liveDirs.add(dir);
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid);
  try {
    await exec(join(PG_BIN, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust',
      '-E', 'UTF8', '--locale=C', '--no-sync'], { ...as, cwd: dir });
  } catch (e) {
    throw new Error(`initdb failed (is postgresql-15 installed? make deps): ${e.stderr || e.message}`);
  }
  let cur;
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      cur = await spawnPostgres(dir, port, as);
      break;
    } catch (e) {
      if (!e.retry || attempt >= 10) throw e;
    }
  }
  const client = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  await exec(join(PG_BIN, 'createdb'), [...client, db]);

  const logs = [];
  const pg = {
    port,
    db,
    dir,
    url: `postgresql://postgres@127.0.0.1:${port}/${db}`,
    get proc() { return cur?.proc ?? null; },
    running() { return cur != null && cur.proc.exitCode === null && cur.proc.signalCode === null; },
    log() { return [...logs, cur ? cur.log() : ''].join(''); },
    async stop() { return halt('SIGINT'); },
    async kill9() { return halt('SIGKILL'); },
    // Starts again on the same port and data directory (a few tries: the port, the shared memory
    // of a killed server's last processes, are released a moment later).
    async restart() {
      if (pg.running()) throw new Error('postgres is still running');
      for (let attempt = 0; ; attempt++) {
        try {
          cur = await spawnPostgres(dir, port, as);
          return pg;
        } catch (e) {
          if (!e.retry || attempt >= 50) throw e;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    },
    // Runs SQL with psql; resolves with its rows as arrays of strings (unaligned, tuples only).
    async query(sql) {
      const { stdout } = await exec(join(PG_BIN, 'psql'), [...client, '-d', db, '-X', '-A', '-t', '-q',
        '-v', 'ON_ERROR_STOP=1', '-c', sql], { maxBuffer: 256 << 20 });
      return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
    },
    // A document's stored entries: [{seq, bytes: Uint8Array}] (none before the tables exist).
    async storedRows(doc) {
      const [[exists]] = await pg.query("SELECT to_regclass('cinder_doc_updates') IS NOT NULL");
      if (exists !== 't') return [];
      const rows = await pg.query(`SELECT seq, encode(data, 'hex') FROM cinder_doc_updates WHERE doc = '${doc.replace(/'/g, "''")}' ORDER BY seq`);
      return rows.map(([seq, hex]) => ({ seq: Number(seq), bytes: Uint8Array.from(Buffer.from(hex || '', 'hex')) }));
    },
    // Stops the server (if running) and removes its directory.
    async close() {
      await halt('SIGINT');
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };

  async function halt(signal) {
    if (!cur) return null;
    const run = cur;
    cur = null;
    if (run.proc.exitCode === null && run.proc.signalCode === null) {
      try { process.kill(signal === 'SIGKILL' ? -run.proc.pid : run.proc.pid, signal); } catch { /* gone */ }
    }
    const [code, sig] = await run.exited;
    logs.push(run.log());
    if (signal === 'SIGKILL') {
      // The backends of the group die with it; wait (bounded) until none is left.
      for (let i = 0; i < 250; i++) {
        try { process.kill(-run.proc.pid, 0); } catch { break; }
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    return { code, signal: sig };
  }
  return pg;
}
