/**
 * A throwaway PostgreSQL for the tests: Debian's binaries (the `postgresql` package scripts/setup.sh installs) make
 * a cluster in a temporary directory on a free loopback port, run as the `postgres` system user when the tests run
 * as root (PostgreSQL refuses root), and `stop()` stops it and removes the directory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** postgres://…/postgres (the maintenance database; tests create their own). */
  url: string;
  stop(): Promise<void>;
}

/** The newest installed server version's bin directory (/usr/lib/postgresql/<v>/bin). */
export function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length)
    throw new Error('no PostgreSQL server found under /usr/lib/postgresql: run scripts/setup.sh (installs the postgresql package)');
  return path.join(root, versions[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** True when a server answers at url. */
export async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** durable: fsync and synchronous commit on, as a production server runs (benchmarks); tests run without. */
export async function startCluster(opts: { durable?: boolean } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? 'postgres' : undefined;
  const run = (cmd: string, args: string[]) => {
    const argv = user ? ['runuser', '-u', user, '--', path.join(bin, cmd), ...args] : [path.join(bin, cmd), ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: '/' });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'netplumb-pg-'));
  if (user) {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'netplumb', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      '-t',
      '60',
      '-o',
      // Loopback only, the socket in our own directory; a test run skips fsync (not for production).
      `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c max_connections=400` +
        (opts.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'),
      'start',
    ]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `postgres://netplumb@127.0.0.1:${port}/postgres`,
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A fresh database on the server at url (its name made unique); returns its URL. */
export async function createDatabase(url: string, name: string): Promise<string> {
  const db = `${name
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${db}`);
  } finally {
    await c.end();
  }
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function dropDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const db = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
