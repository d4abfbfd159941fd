/**
 * What this machine's kernel can do, for tests that need a capability to be worth running. Tried once, when a test
 * file is collected, with the very scripts a host probe runs (src/ops/probe.ts) in a throwaway namespace: the sandbox
 * hosts are namespaces on this same kernel, so their probes find the same (each file's probe test checks that).
 *
 * A test whose subject is absent here is skipped, never passed: `it.skipIf(missing(...))('… (needs …)')`. `missing`
 * also records what was not exercised, one line each, in the file named by NETPLUMB_NOT_EXERCISED (set by
 * scripts/test.sh, which prints the list above its closing line).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import {
  linkTypesProbe,
  moduleProbe,
  parseLinkTypes,
  parseTrafficControl,
  trafficControlProbe,
  type LinkTypeFacts,
} from '../../src/ops/probe.js';

function tryRun(argv: readonly string[]): { exitCode: number; stdout: string } {
  try {
    return {
      exitCode: 0,
      stdout: execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] }),
    };
  } catch (e) {
    const err = e as { status?: number | null; stdout?: string };
    return { exitCode: err.status ?? 1, stdout: err.stdout ?? '' };
  }
}

export interface KernelCapabilities {
  /** The netem qdisc (delay, jitter, corruption, duplication). */
  netem: boolean;
  /** Device types, as the host probe reports them in `facts.linkTypes`. */
  linkTypes: LinkTypeFacts | null;
  /** The gre module, as the host probe reports it in `facts.kernelModules.gre` (what a Linux-bridge GRE end needs). */
  greModule: boolean;
  /** A kernel geneve device (a Linux-bridge Geneve end); the host probe does not ask, so tried here. */
  geneve: boolean;
}

let cached: KernelCapabilities | undefined;

/** The kernel's capabilities, tried on first use (about 100 ms). */
export function kernel(): KernelCapabilities {
  if (cached) return cached;
  const tc = tryRun(trafficControlProbe);
  const links = tryRun(linkTypesProbe);
  cached = {
    netem: parseTrafficControl(tc.exitCode, tc.stdout)?.netem ?? false,
    linkTypes: parseLinkTypes(links.exitCode, links.stdout),
    greModule: tryRun(moduleProbe('gre')).exitCode === 0,
    geneve: tryRun(['unshare', '-n', 'ip', 'link', 'add', 'npprobe9', 'type', 'geneve', 'id', '1', 'remote', '127.0.0.2']).exitCode === 0,
  };
  return cached;
}

/**
 * True when `present` is false: the test about `what` cannot run here, for reason `why` (e.g. `no sch_netem`). Meant
 * for `it.skipIf(missing(...))`; records `what (why)` for the run's "not exercised here" line.
 */
export function missing(what: string, present: boolean, why: string): boolean {
  if (present) return false;
  const file = process.env['NETPLUMB_NOT_EXERCISED'];
  if (file) appendFileSync(file, `${what} (${why})\n`);
  return true;
}
