// The worker side of pg-sync.ts: owns the `pg` connections of the synchronous PostgreSQL store and answers one
// request at a time. The main thread posts a request on the port, then sleeps in Atomics.wait on `flag`; this
// thread runs the query, posts the answer and wakes it. Plain JavaScript: it loads the same under tsx, vitest and node.
import { workerData } from 'node:worker_threads';
import pg from 'pg';

const { port, flag } = workerData;
const state = new Int32Array(flag);
/** @type {Map<number, pg.Client>} */
const clients = new Map();
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
      const client = new pg.Client({ connectionString: req.url, application_name: req.name ?? 'netplumb' });
      // A connection that drops is reported at the next query (it fails with the error); never crash the worker.
      client.on('error', () => {});
      await client.connect();
      for (const sql of req.init ?? []) await client.query(sql);
      const id = nextId++;
      clients.set(id, client);
      return { id };
    }
    case 'query': {
      const client = clients.get(req.conn);
      if (!client) throw Object.assign(new Error('the store connection is closed'), { code: 'ECONNCLOSED' });
      const r = await client.query({ text: req.sql, values: req.params ?? [] });
      // A multi-statement string answers an array: the last result is what the caller wants.
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    }
    case 'close': {
      const client = clients.get(req.conn);
      clients.delete(req.conn);
      await client?.end().catch(() => {});
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
