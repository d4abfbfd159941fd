/**
 * Runs .github/workflows/netplumb-example.yml locally, step by step, the way a runner would: each `run:` in bash
 * (-e -o pipefail) with the job's and the step's env, `${{ … }}` filled in, $GITHUB_ENV carried between steps,
 * steps after a failure skipped unless `if: always()`. The Docker hosts are sandbox hosts (npm run sandbox -- up,
 * without dockerd: the example's members are namespaces); `uses:` steps and `npm ci` are skipped (this checkout,
 * installed). Root needed (the sandbox). npx tsx scripts/ci-example.ts [--prefix P]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { down, up } from '../test/testbed/sandbox.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}

const ROOT = path.resolve(import.meta.dirname, '..');
const prefix = process.argv.includes('--prefix') ? process.argv[process.argv.indexOf('--prefix') + 1]! : 'cix';
const workflow = parse(readFileSync(path.join(ROOT, '.github/workflows/netplumb-example.yml'), 'utf8')) as {
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
};
const job = Object.values(workflow.jobs)[0]!;
const t0 = Date.now();
const say = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);

const temp = mkdtempSync(path.join(os.tmpdir(), 'runner-temp-'));
say(`sandbox ${prefix}: two hosts (docker1, docker3) standing in for the runner's Docker hosts`);
await down(prefix).catch(() => undefined);
const sb = await up({ prefix, withDocker: false });
let failed = false;
try {
  const context: Record<string, string> = {
    'github.run_id': String(process.pid),
    'runner.temp': temp,
    'secrets.NETPLUMB_SSH_KEY': readFileSync(sb.clientKeyPath, 'utf8').trim(),
  };
  for (const h of sb.hosts) {
    const n = h.name.toUpperCase();
    Object.assign(context, {
      [`vars.${n}_ADDR`]: h.mgmtIp,
      [`vars.${n}_TUNNEL_IP`]: h.underlayIp,
      [`vars.${n}_HOSTKEY`]: h.hostKeySha256,
    });
  }
  const fill = (s: string) =>
    s.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, k: string) => {
      if (!(k in context)) throw new Error(`no value for \${{ ${k} }}`);
      return context[k]!;
    });
  const githubEnv = path.join(temp, 'github_env');
  const carried: Record<string, string> = {};
  for (const step of job.steps) {
    const name = step.name ?? step.uses ?? step.run ?? '';
    if (failed && step.if !== 'always()') {
      say(`== ${name}: skipped (an earlier step failed)`);
      continue;
    }
    if (step.uses || step.run === 'npm ci') {
      say(`== ${name}: skipped here (${step.uses ? 'this checkout, this node' : 'node_modules is installed'})`);
      continue;
    }
    say(`== ${name}`);
    writeFileSync(githubEnv, '');
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: temp,
      GITHUB_ENV: githubEnv,
      ...carried,
      ...Object.fromEntries(Object.entries({ ...job.env, ...step.env }).map(([k, v]) => [k, fill(String(v))])),
    };
    const r = spawnSync('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', fill(step.run!)], {
      cwd: ROOT,
      env,
      stdio: 'inherit',
    });
    for (const line of readFileSync(githubEnv, 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) carried[line.slice(0, eq)] = line.slice(eq + 1);
    }
    if (r.status !== 0) {
      say(`== ${name}: FAILED (exit ${r.status})`);
      failed = true;
    }
  }
} finally {
  await sb.down();
  rmSync(temp, { recursive: true, force: true });
  say(`sandbox ${prefix} down; workflow ${failed ? 'FAILED' : 'succeeded'}`);
}
process.exit(failed ? 1 : 0);
