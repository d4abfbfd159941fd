/**
 * down: remove exactly what a sandbox made, as its manifest records it — containers,
 * daemons (by pid file, checked), leftover processes, mounts, namespaces, links, state.
 * Works on a half-made sandbox too (up crashed or failed).
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { dockerPing } from './host.js';
import { DEFAULT_PREFIX, defaultBaseDir, hostEnv, hostPaths, readManifest, validatePrefix } from './manifest.js';
import { netnsExists, netnsId } from './network.js';
import { killByPidFile, must, procInfo, readText, run, terminate, type ProcInfo } from './run.js';

export async function down(prefix: string = DEFAULT_PREFIX, baseDir?: string): Promise<void> {
  validatePrefix(prefix);
  const stateDir = path.resolve(baseDir ?? defaultBaseDir(prefix));
  if (!existsSync(stateDir)) return;
  const m = await readManifest(stateDir);
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };

  if (m) {
    if (m.prefix !== prefix) throw new Error(`${stateDir} holds sandbox ${m.prefix}, not ${prefix}`);
    const nsIds = new Map<string, string>();
    for (const ns of m.netns) nsIds.set(ns, await netnsId(ns));

    // 1. per host: containers, then daemons (pid files, checked), then anything left
    await Promise.all(
      m.hosts.map(async (h) => {
        const P = hostPaths(h.dir);
        const env = hostEnv(h);
        if (existsSync(P.dockerSock) && (await dockerPing(P.dockerSock))) {
          await attempt(`${h.name}: removing containers`, async () => {
            const ids = (await must(['docker', 'ps', '-aq'], { env, timeoutMs: 20_000 })).split('\n').filter(Boolean);
            if (ids.length) await must(['docker', 'rm', '-f', '-v', ...ids], { env, timeoutMs: 60_000 });
          });
        }
        const daemons = m.daemons.filter((d) => d.host === h.name);
        await Promise.all(
          daemons.map((d) =>
            attempt(`${h.name}: stopping ${d.kind}`, async () => {
              for (const f of d.pidFiles) await killByPidFile(f, d.match, d.kind === 'dockerd' ? 15_000 : 3000);
            }),
          ),
        );
        await attempt(`${h.name}: stopping leftover processes`, async () => {
          const left = await findSandboxProcesses([h.dir + '/'], [nsIds.get(h.netns) ?? '']);
          await terminate(left, 2000);
        });
        await attempt(`${h.name}: unmounting`, async () => {
          const left = await unmountUnder(h.dir);
          if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
        });
      }),
    );
    // the router namespace, and anything still living in any of our namespaces
    await attempt('stopping processes in the sandbox namespaces', async () => {
      const left = await findSandboxProcesses([stateDir + '/'], [...nsIds.values()]);
      await terminate(left, 2000);
    });

    // 2. namespaces (veths inside them go too), then root-namespace links
    await Promise.all(
      [...m.netns].reverse().map((ns) =>
        attempt(`deleting namespace ${ns}`, async () => {
          if (!(await netnsExists(ns))) return;
          const r = await run(['ip', 'netns', 'delete', ns]);
          if (r.exitCode !== 0 && (await netnsExists(ns))) {
            await run(['umount', '-l', `/run/netns/${ns}`]);
            await fs.rm(`/run/netns/${ns}`, { force: true });
          }
          if (await netnsExists(ns)) throw new Error(r.stderr.trim());
        }),
      ),
    );
    for (const dir of m.etcDirs ?? []) {
      await attempt(`removing ${dir}`, async () => {
        if (!dir.startsWith(`/etc/netns/${prefix}-`)) throw new Error('not a sandbox folder');
        await fs.rm(dir, { recursive: true, force: true });
      });
    }
    for (const link of [...m.rootLinks].reverse()) {
      await attempt(`deleting link ${link}`, async () => {
        if (!existsSync(`/sys/class/net/${link}`)) return;
        // A veth goes with its peer when the namespace holding the peer is cleaned up, which the kernel does
        // asynchronously: the link may vanish between the check and the delete.
        const r = await run(['ip', 'link', 'delete', link]);
        if (r.exitCode !== 0 && existsSync(`/sys/class/net/${link}`)) throw new Error(`ip link delete ${link}: ${r.stderr.trim()}`);
      });
    }
  }

  // 3. the state directory — never rm through a mount point
  await attempt('unmounting under the state dir', async () => {
    const left = await unmountUnder(stateDir);
    if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
  });
  if (errors.length === 0) {
    await attempt('removing the state dir', () => fs.rm(stateDir, { recursive: true, force: true }));
  }
  if (errors.length) throw new Error(`sandbox ${prefix}: down incomplete (state kept in ${stateDir}):\n${errors.join('\n')}`);
}

// ---------------------------------------------------------------------------
// Processes and mounts left behind

/**
 * Every process that belongs to a sandbox namespace or host: its command line names
 * one of `dirs` (the daemons, containerd and its shims), or it lives in one of the
 * network namespaces (`netnsIds`, "net:[inode]") that the sandbox made (sshd sessions,
 * ovs daemons, whatever a test left there), and all their descendants (containers are
 * children of the shims). Never this process or its ancestors.
 */
async function findSandboxProcesses(dirs: string[], netnsIds: string[]): Promise<number[]> {
  const entries = await fs.readdir('/proc');
  const infos = (await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => procInfo(Number(e))))).filter(
    (p): p is ProcInfo => !!p,
  );
  const byPid = new Map(infos.map((p) => [p.pid, p]));
  const protectedPids = new Set<number>();
  for (let p: number | undefined = process.pid; p && p > 0 && !protectedPids.has(p); p = byPid.get(p)?.ppid) protectedPids.add(p);
  const ns = new Set(netnsIds.filter(Boolean));
  const matched = new Set<number>();
  for (const p of infos) {
    if (p.zombie) continue;
    if (dirs.some((d) => p.cmdline.includes(d)) || ns.has(p.netns)) matched.add(p.pid);
  }
  // descendants
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of infos) {
      if (!p.zombie && !matched.has(p.pid) && matched.has(p.ppid)) {
        matched.add(p.pid);
        grew = true;
      }
    }
  }
  return [...matched].filter((p) => !protectedPids.has(p));
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const mi = (await readText('/proc/self/mountinfo')) ?? '';
  const out: string[] = [];
  for (const line of mi.split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    if (!mp) continue;
    const p = unescapeMount(mp);
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out;
}

/** Unmount everything mounted at or below dir, deepest first; lazily when busy. */
async function unmountUnder(dir: string): Promise<string[]> {
  for (let round = 0; round < 3; round++) {
    const mps = await mountsUnder(dir);
    if (mps.length === 0) return [];
    mps.sort((a, b) => b.length - a.length);
    for (const mp of mps) {
      const r = await run(['umount', mp], { timeoutMs: 10_000 });
      if (r.exitCode !== 0) await run(['umount', '-l', mp], { timeoutMs: 10_000 });
    }
  }
  return mountsUnder(dir);
}
