/**
 * tsx test/testbed/cli.ts up|down|status [--prefix P] [--base-dir DIR] [--json] [--no-docker] [--ipv6] [--quiet]
 * (npm run sandbox -- up|down|status ...)
 */
import { writeFileSync } from 'node:fs';
import { DEFAULT_PREFIX, down, open, SEED_HOSTS, SEED_HOSTS_IPV6, status, up, type Sandbox } from './sandbox.js';

const USAGE = `usage: sandbox up|down|status [--prefix P] [--base-dir DIR] [--json] [--no-docker] [--ipv6] [--quiet]
  up      bring up the simulated Docker hosts (docker1, docker3) and print how to reach them
  down    remove everything the sandbox with this prefix made (also after a crash)
  status  show what exists and what answers
  --prefix P    name prefix, /^[a-z][a-z0-9]{0,5}$/ (default ${DEFAULT_PREFIX}; env NETPLUMB_SANDBOX_PREFIX)
  --base-dir D  state directory (default /run/netplumb-sandbox/<prefix>)
  --ipv6        an IPv6 underlay beside the IPv4 one (fd00:18:1::101/64, fd00:18:2::101/64; the router forwards both)`;

function describe(sb: Sandbox) {
  return {
    prefix: sb.prefix,
    stateDir: sb.stateDir,
    clientKeyPath: sb.clientKeyPath,
    routerNetns: sb.routerNetns,
    routerIfaces: sb.routerIfaces,
    hosts: sb.hosts.map((h) => ({
      name: h.name,
      netns: h.netns,
      mgmtIp: h.mgmtIp,
      sshPort: h.sshPort,
      underlayIp: h.underlayIp,
      ...(h.underlayIp6 ? { underlayIp6: h.underlayIp6 } : {}),
      hostKeySha256: h.hostKeySha256,
      ovsRundir: h.ovsRundir,
      dockerSocket: h.dockerSocket,
      sshdLog: h.sshdLog,
    })),
  };
}

async function main(argv: string[]): Promise<number> {
  let cmd: string | undefined;
  let prefix = process.env.NETPLUMB_SANDBOX_PREFIX || DEFAULT_PREFIX;
  let baseDir: string | undefined;
  let json = false;
  let withDocker = true;
  let quiet = false;
  let ipv6 = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--prefix' || a === '-p') prefix = val();
    else if (a.startsWith('--prefix=')) prefix = a.slice('--prefix='.length);
    else if (a === '--base-dir') baseDir = val();
    else if (a.startsWith('--base-dir=')) baseDir = a.slice('--base-dir='.length);
    else if (a === '--json') json = true;
    else if (a === '--no-docker') withDocker = false;
    else if (a === '--quiet' || a === '-q') quiet = true;
    else if (a === '--ipv6') ipv6 = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else if (!cmd && !a.startsWith('-')) cmd = a;
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  const log = quiet || json ? undefined : (s: string) => console.error(s);

  switch (cmd ?? '') {
    case 'up': {
      const t0 = Date.now();
      const sb = await up({ prefix, baseDir, withDocker, log, hosts: ipv6 ? SEED_HOSTS_IPV6 : SEED_HOSTS });
      const ms = Date.now() - t0;
      if (json) {
        console.log(JSON.stringify({ ...describe(sb), upMs: ms }, null, 2));
      } else {
        // Host keys pinned for a person's ssh too (the state dir goes with `down`).
        const knownHosts = `${sb.stateDir}/known_hosts`;
        writeFileSync(knownHosts, sb.hosts.map((h) => `${h.mgmtIp} ${h.hostKeyPub}\n`).join(''));
        console.log(`sandbox ${sb.prefix} up in ${ms} ms`);
        console.log(`  state dir   ${sb.stateDir}`);
        console.log(`  client key  ${sb.clientKeyPath}`);
        console.log(`  router      ${sb.routerNetns}`);
        for (const h of sb.hosts) {
          console.log(
            `  ${h.name.padEnd(10)} mgmt ${h.mgmtIp.padEnd(15)} underlay ${h.underlayIp.padEnd(15)}${h.underlayIp6 ? ` ${h.underlayIp6}` : ''} netns ${h.netns}`,
          );
          console.log(`  ${''.padEnd(10)} host key ${h.hostKeySha256}`);
          console.log(`  ${''.padEnd(10)} ssh -i ${sb.clientKeyPath} -o UserKnownHostsFile=${knownHosts} root@${h.mgmtIp}`);
        }
      }
      return 0;
    }
    case 'down': {
      const t0 = Date.now();
      await down(prefix, baseDir);
      if (json) console.log(JSON.stringify({ prefix, down: true, downMs: Date.now() - t0 }));
      else console.log(`sandbox ${prefix} down in ${Date.now() - t0} ms`);
      return 0;
    }
    case 'status': {
      if (json) {
        let sb: ReturnType<typeof describe> | undefined;
        try {
          sb = describe(await open(prefix, baseDir));
        } catch {
          sb = undefined;
        }
        console.log(JSON.stringify({ prefix, up: !!sb, sandbox: sb, text: await status(prefix, baseDir) }, null, 2));
      } else {
        console.log(await status(prefix, baseDir));
      }
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`sandbox: ${e.message}`);
    process.exit(1);
  },
);
