/** The Debian packages the sandbox needs, installed on first use. */
import { must, run } from './run.js';

export const PACKAGES = [
  'openvswitch-switch',
  'docker.io',
  'openssh-server',
  'openssh-client',
  'ethtool',
  'busybox-static',
  'iproute2',
  'iputils-ping',
  'curl',
  'arping',
  'tcpdump',
];

let packagesChecked: Promise<void> | undefined;

/** Install the Debian packages the sandbox needs when any is missing (apt-get update once). */
export function ensurePackages(log?: (s: string) => void): Promise<void> {
  packagesChecked ??= (async () => {
    const missing = await missingPackages(PACKAGES);
    if (missing.length === 0) return;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update'];
    const install = ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends'];
    log?.(`installing packages: ${missing.join(' ')}`);
    await must(update, { env, timeoutMs: 600_000 });
    await must([...install, ...missing], { env, timeoutMs: 1_200_000 });
  })();
  packagesChecked.catch(() => (packagesChecked = undefined));
  return packagesChecked;
}

async function missingPackages(names: readonly string[]): Promise<string[]> {
  const r = await run(['dpkg-query', '-W', '-f=${Package} ${db:Status-Status}\\n', ...names]);
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter((f) => f[1] === 'installed')
      .map((f) => f[0]!.split(':')[0]),
  );
  return names.filter((p) => !installed.has(p));
}
