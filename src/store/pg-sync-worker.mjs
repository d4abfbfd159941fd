// The worker side of pg-sync.ts: owns the `pg` connections of the synchronous PostgreSQL store and answers one
// request at a time. The main thread posts a request on the port, then sleeps in Atomics.wait on `flag`; this
// thread runs the query, posts the answer and wakes it. Plain JavaScript: it loads the same under tsx, vitest and node.
import { workerData } from 'node:worker_threads';
import pg from 'pg';

const { port, flag } = workerData;
const state = new Int32Array(flag);
/** @type {Map<number, { client: pg.Client, url: string, init: string[], name: string, broken: boolean }>} */
const clients = new Map();

async function connect(url, init, name) {
  const entry = { client: new pg.Client({ connectionString: url, application_name: name }), url, init, name, broken: false };
  // A connection that drops is reported at the next query (and reopened by the caller); never crash the worker.
  entry.client.on('error', () => (entry.broken = true));
  entry.client.on('end', () => (entry.broken = true));
  await entry.client.connect();
  for (const sql of init) await entry.client.query(sql);
  return entry;
}
let nextId = 1;

function answer(msg) {
  port.postMessage(msg);
  Atomics.store(state, 0, 1);
  Atomics.notify(state, 0);
}

function errorOf(e) {
  return {
    message: e instanceof Error ? e.message : String(e),
    code: e && typeof e === 'object' && 'code' in e ? String(e.code) : undefined,
    constraint: e && typeof e === 'object' && 'constraint' in e && e.constraint ? String(e.constraint) : undefined,
  };
}

async function handle(req) {
  switch (req.op) {
    case 'open': {
      const entry = await connect(req.url, req.init ?? [], req.name ?? 'netplumb');
      const id = nextId++;
      clients.set(id, entry);
      return { id };
    }
    case 'query': {
      const entry = clients.get(req.conn);
      if (!entry) throw Object.assign(new Error('the store connection is closed'), { code: 'ECONNCLOSED' });
      if (entry.broken) throw Object.assign(new Error('the connection to the database was lost'), { code: 'ECONNRESET' });
      const r = await entry.client.query({ text: req.sql, values: req.params ?? [] });
      // A multi-statement string answers an array: the last result is what the caller wants.
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    }
    case 'reopen': {
      // A new session for a connection that broke (the database restarted, the network dropped).
      const old = clients.get(req.conn);
      if (!old) throw Object.assign(new Error('the store connection is closed'), { code: 'ECONNCLOSED' });
      await old.client.end().catch(() => {});
      clients.set(req.conn, await connect(old.url, old.init, old.name));
      return {};
    }
    case 'close': {
      const entry = clients.get(req.conn);
      clients.delete(req.conn);
      await entry?.client.end().catch(() => {});
      return {};
    }
    default:
      throw new Error(`unknown request ${String(req.op)}`);
  }
}

port.on('message', (req) => {
  handle(req).then(
    (result) => answer({ seq: req.seq, ok: true, result }),
    (e) => answer({ seq: req.seq, ok: false, error: errorOf(e) }),
  );
});
