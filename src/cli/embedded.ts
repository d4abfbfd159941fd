/**
 * Embedded mode, for a pipeline on one runner: `up` runs the service in this process on DIR/netplumb.db, registers
 * the hosts file and applies the document; `down` opens the same database, destroys every topology in it on every
 * host, forgets the hosts, and removes the database. Nothing listens and nothing is left running between the two.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Topology } from '../../sdk/src/index.js';
import { EXIT, optionalString, requireString, type Invocation } from './args.js';
import { readHostsFile, registerHosts } from './hosts.js';
import { DB_FILE, embeddedSession, removeState } from './session.js';
import { apply, destroyTopology, type Io } from './topology.js';

export async function up(io: Io, inv: Invocation): Promise<number> {
  const dir = requireString(inv, 'state', 'the directory that keeps the embedded service’s database');
  requireString(inv, 'file', '-f FILE: the topology document');
  const hostsFile = optionalString(inv, 'hosts');
  const bodies = hostsFile ? readHostsFile(hostsFile) : [];
  const s = await embeddedSession(dir, io.env, { create: true });
  try {
    if (bodies.length) await registerHosts(s, io, bodies);
    const code = await apply(s, io, inv);
    if (code === EXIT.ok) io.out(`state in ${path.resolve(dir)} (netplumb down --state ${dir} removes it all)`);
    return code;
  } finally {
    await s.close();
  }
}

export async function down(io: Io, inv: Invocation): Promise<number> {
  const dir = requireString(inv, 'state', 'the directory netplumb up used');
  if (!existsSync(path.join(dir, DB_FILE))) {
    io.out(`no netplumb state in ${dir}: nothing to tear down`);
    return EXIT.ok;
  }
  const s = await embeddedSession(dir, io.env, { create: false });
  let code: number = EXIT.ok;
  try {
    const topologies: Topology[] = (await s.np.topologies.list({ limit: 100 })).items;
    for (const t of topologies) {
      const c = await destroyTopology(s, io, t.name);
      if (c !== EXIT.ok) code = c;
    }
    if (code === EXIT.ok) {
      for (const h of (await s.np.hosts.list({ limit: 100 })).items) {
        await s.np.hosts.delete(h.id);
        io.out(`host ${h.name}: forgotten`);
      }
    }
  } finally {
    await s.close();
  }
  if (code !== EXIT.ok) {
    io.err(`kept ${path.join(dir, DB_FILE)}: run netplumb down --state ${dir} again once the hosts answer`);
    return code;
  }
  removeState(dir);
  io.out(`removed the netplumb state in ${dir}`);
  return EXIT.ok;
}
