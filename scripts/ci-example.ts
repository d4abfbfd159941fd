/**
 * Runs .github/workflows/netplumb-example.yml locally, step by step, the way a runner would: each `run:` in bash
 * (-e -o pipefail) with the job's and the step's env, `${{ … }}` filled in, $GITHUB_ENV carried between steps,
 * steps after a failure skipped unless `if: always()`. The Docker hosts are sandbox hosts (npm run sandbox -- up,
 * without dockerd: the example's members are namespaces); `uses:` steps are skipped. The steps run in a fresh project
 * directory outside the repository holding only the example's topology file, with netplumb's package tarball
 * (`npm pack` of this checkout, or --package FILE) as $NETPLUMB_PACKAGE: the workflow's own install step installs it,
 * and every `npx netplumb` runs the installed package. Root needed (the sandbox).
 * npx tsx scripts/ci-example.ts [--prefix P] [--package netplumb-<v>.tgz]
 * test/integration/package.test.ts runs the same through runCiExample().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { down, up } from '../test/testbed/sandbox.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}

export interface StepResult {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  output: string;
}

const ROOT = path.resolve(import.meta.dirname, '..');

export interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

/** `npm pack` of this checkout into dir (prepack builds dist/ first); what npm says it packed. */
export function packTarball(dir: string): Packed {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  // The JSON follows the prepack build's own lines.
  return (JSON.parse(out.slice(out.search(/^\[/m))) as Packed[])[0]!;
}

/** PATH without this checkout's directories (its node_modules/.bin): an `npx netplumb` must find the installed one. */
export function pathOutsideCheckout(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((p) => p && !path.resolve(p).startsWith(ROOT + path.sep))
    .join(':');
}

/** The workflow's steps against sandbox hosts `prefix`, installing netplumb from `packageFile`; each step's outcome. */
export async function runCiExample(opts: {
  prefix: string;
  packageFile: string;
  /** where the project is (created, and left for the caller to look into); default a temp dir removed at the end */
  projectDir?: string;
  /** more environment for every step (the test sets JOBS=max: node-gyp builds better-sqlite3 on both cores) */
  env?: Record<string, string>;
  log?: (s: string) => void;
}): Promise<{ ok: boolean; steps: StepResult[] }> {
  const t0 = Date.now();
  const say = (s: string) => (opts.log ?? console.log)(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);
  const workflow = parse(readFileSync(path.join(ROOT, '.github/workflows/netplumb-example.yml'), 'utf8')) as {
    jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
  };
  const job = Object.values(workflow.jobs)[0]!;
  const temp = mkdtempSync(path.join(os.tmpdir(), 'runner-temp-'));
  const project = opts.projectDir ?? path.join(temp, 'project');
  mkdirSync(path.join(project, 'examples/ci'), { recursive: true });
  // The project the pipeline checks out: its own package.json (so npm installs here, not in a directory above).
  writeFileSync(path.join(project, 'package.json'), `${JSON.stringify({ name: 'ci-example-project', private: true }, null, 2)}\n`);
  copyFileSync(path.join(ROOT, 'examples/ci/topology.yaml'), path.join(project, 'examples/ci/topology.yaml'));
  const PATH = pathOutsideCheckout();
  const steps: StepResult[] = [];
  say(`sandbox ${opts.prefix}: two hosts (docker1, docker3) standing in for the runner's Docker hosts`);
  await down(opts.prefix).catch(() => undefined);
  const sb = await up({ prefix: opts.prefix, withDocker: false });
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
        steps.push({ name, status: 'skipped', output: '' });
        continue;
      }
      if (step.uses) {
        say(`== ${name}: skipped here (this machine's node; the project directory stands for the checkout)`);
        steps.push({ name, status: 'skipped', output: '' });
        continue;
      }
      say(`== ${name}`);
      writeFileSync(githubEnv, '');
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        PATH,
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        RUNNER_TEMP: temp,
        GITHUB_ENV: githubEnv,
        ...carried,
        ...Object.fromEntries(Object.entries({ ...job.env, ...step.env }).map(([k, v]) => [k, fill(String(v))])),
        ...opts.env,
        NETPLUMB_PACKAGE: opts.packageFile,
      };
      const r = spawnSync('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', `exec 2>&1\n${fill(step.run!)}`], {
        cwd: project,
        env,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      const output = r.stdout ?? '';
      for (const line of output.trimEnd().split('\n')) if (line) (opts.log ?? console.log)(`         ${line}`);
      for (const line of readFileSync(githubEnv, 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) carried[line.slice(0, eq)] = line.slice(eq + 1);
      }
      if (r.status !== 0) {
        say(`== ${name}: FAILED (exit ${r.status})`);
        failed = true;
      }
      steps.push({ name, status: r.status === 0 ? 'ok' : 'failed', output });
    }
  } finally {
    await sb.down();
    rmSync(temp, { recursive: true, force: true });
    say(`sandbox ${opts.prefix} down; workflow ${failed ? 'FAILED' : 'succeeded'}`);
  }
  return { ok: !failed, steps };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  let packageFile = arg('--package');
  const packDir = packageFile ? null : mkdtempSync(path.join(os.tmpdir(), 'netplumb-pack-'));
  try {
    if (packDir) {
      packageFile = path.join(packDir, packTarball(packDir).filename);
    }
    const { ok } = await runCiExample({ prefix: arg('--prefix') ?? 'cix', packageFile: path.resolve(packageFile!) });
    process.exitCode = ok ? 0 : 1;
  } finally {
    if (packDir) rmSync(packDir, { recursive: true, force: true });
  }
}
