/** hosts add|list|probe|remove, and reading a hosts file (the POST /hosts bodies) for `up`. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { NetplumbError, type Host, type HostCreate } from '../../sdk/src/index.js';
import { CliError, EXIT, optionalString, type Invocation } from './args.js';
import { formatHosts, render } from './output.js';
import type { Session } from './session.js';
import type { Io } from './topology.js';

/** A hosts file: one POST /hosts body, a list of them, or `{hosts: [...]}` (YAML or JSON). */
export function readHostsFile(file: string): HostCreate[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file === '-' ? 0 : file, 'utf8'), { maxAliasCount: 64 });
  } catch (e) {
    throw new CliError(`cannot read hosts from ${file}: ${(e as Error).message.split('\n')[0]}`, EXIT.usage);
  }
  const list = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && 'hosts' in doc ? doc.hosts : [doc];
  if (!Array.isArray(list) || list.some((h) => !h || typeof h !== 'object' || typeof (h as { name?: unknown }).name !== 'string'))
    throw new CliError(`${file}: expected host bodies (POST /hosts), each with a name`, EXIT.usage);
  return list as HostCreate[];
}

/** `--ssh root@10.0.0.5:22 --key /path --host-key SHA256:…` or `--local` → a POST /hosts body. */
export function hostFromFlags(inv: Invocation): HostCreate {
  const name = inv.args[0];
  if (!name) throw new CliError('hosts add: give -f FILE, or NAME with --local or --ssh', EXIT.usage);
  const tunnelIp = optionalString(inv, 'tunnel-ip');
  if (inv.values.local) return { name, executor: { kind: 'local' }, ...(tunnelIp ? { tunnelIp } : {}) };
  const ssh = optionalString(inv, 'ssh');
  const m = ssh?.match(/^([^@\s]+)@([^:\s]+|\[[^\]]+\])(?::(\d+))?$/);
  if (!m) throw new CliError('hosts add NAME: --local, or --ssh USER@ADDRESS[:PORT] with --key and --host-key', EXIT.usage);
  const key = optionalString(inv, 'key');
  const hostKey = optionalString(inv, 'host-key');
  if (!key || !hostKey) throw new CliError('hosts add NAME --ssh: --key PATH and --host-key SHA256:… are required', EXIT.usage);
  return {
    name,
    executor: {
      kind: 'ssh',
      user: m[1]!,
      address: m[2]!.replace(/^\[|\]$/g, ''),
      port: m[3] ? Number(m[3]) : 22,
      privateKeyPath: key,
      hostKeySha256: hostKey,
    },
    ...(tunnelIp ? { tunnelIp } : {}),
  };
}

/** Registers each host not registered yet (by name); one already there is left as it is. */
export async function registerHosts(s: Session, io: Io, bodies: HostCreate[]): Promise<void> {
  for (const body of bodies) {
    try {
      await s.np.hosts.get(body.name);
      io.out(`host ${body.name}: already registered`);
      continue;
    } catch (e) {
      if (!(e instanceof NetplumbError && e.status === 404)) throw e;
    }
    const h = await s.np.hosts.create(body);
    io.out(`host ${h.name}: registered${h.job ? ` (job ${h.job.id})` : ''}`);
  }
}

export async function hosts(s: Session, io: Io, inv: Invocation): Promise<number> {
  switch (inv.sub) {
    case 'add': {
      const file = optionalString(inv, 'file');
      await registerHosts(s, io, file ? readHostsFile(file) : [hostFromFlags(inv)]);
      return EXIT.ok;
    }
    case 'list': {
      const items: Host[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.np.hosts.list({ limit: 100, ...(cursor ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      io.out(render(items, inv.output, formatHosts));
      return EXIT.ok;
    }
    case 'probe': {
      const h = await s.np.hosts.probe(need(inv));
      io.out(render(h, inv.output, (x) => `${formatHosts([x])}\n\nfacts: ${JSON.stringify(x.facts)}`));
      return EXIT.ok;
    }
    case 'remove':
      await s.np.hosts.delete(need(inv));
      io.out(`host ${inv.args[0]}: removed`);
      return EXIT.ok;
    case undefined:
    default:
      throw new CliError('hosts: give one of add, list, probe, remove', EXIT.usage);
  }
}

function need(inv: Invocation): string {
  if (!inv.args[0]) throw new CliError(`hosts ${inv.sub}: give the host's name`, EXIT.usage);
  return inv.args[0];
}
