/** The command line: one parseArgs (node:util) per command, the usage text, and the exit codes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes (documented in the usage text and the README). */
export const EXIT = {
  ok: 0,
  /** the job ran and failed (or was interrupted); its problem is printed */
  jobFailed: 1,
  /** bad command line, or the service refused the request (4xx: a bad document, a missing name, auth) */
  usage: 2,
  /** the service could not be reached */
  unreachable: 3,
  /** --refuse-disruptive: the plan has link-flap or reattach changes; nothing was applied */
  disruptive: 4,
  /** the service answered an error that is not a job's (5xx, e.g. storage unavailable) */
  service: 5,
  /** apply: the topology changed between the plan shown and the apply (412); nothing was applied */
  changed: 6,
} as const;

/** An error that ends the CLI with its message on stderr and this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const USAGE = `usage: netplumb <command> [options]

topologies
  apply -f FILE [--name N] [--dry-run] [--refuse-disruptive]   plan, then apply onto the version planned against; follows the job
        [--if-match ETAG]                                      only onto the version a plan printed (else exit 6)
  plan -f FILE [--name N] [-o table|json|yaml]                 the plan only (nothing runs), with the ETag it was made against
  get NAME [--observe] [-o table|json|yaml]                    a topology (observe: drift from the hosts)
  status [NAME] [-o table|json|yaml]                           every topology, or one with its drift
  destroy NAME [--ignore-missing]                              remove everything it made, on every host
  graph NAME [--format mermaid|dot|svg]                        hosts, bridges, tunnels, members
jobs
  logs JOB [-f|--follow]                                       a job's log (-f: live until it ends)
hosts
  hosts add -f FILE                                            register hosts (POST /hosts bodies: one or a list)
  hosts add NAME (--local | --ssh USER@ADDR[:PORT] --key PATH --host-key SHA256:...) [--tunnel-ip IP]
  hosts list [-o table|json|yaml] | hosts probe NAME | hosts remove NAME
tokens (admin)
  tokens create NAME --scope read,write,hosts,admin [--topologies 'ci-*'] [--host-label pool=ci] [--expires 24h]
                                                               prints the token once, alone on stdout
  tokens list [-o table|json|yaml] | tokens revoke ID
embedded (no server: the service runs in this process on a SQLite file in DIR)
  up -f FILE --state DIR [--hosts FILE] [--name N] [--refuse-disruptive]
  down --state DIR                                             destroy every topology there, forget hosts, remove DIR's db
service
  serve                                                        run the service (settings from the environment, as npm start)
  version | --version | -V                                     this package's version

options
  --server URL   the service (default $NETPLUMB_URL, else http://127.0.0.1:8080); token from $NETPLUMB_TOKEN
                 (an API token np_…, a CI identity token, or the bootstrap token); 429/503 are tried again after
                 Retry-After, $NETPLUMB_RETRIES times (default 3)
  --state DIR    any command: run against the embedded service on DIR's database instead of a server
  -o, --output   table (default) | json | yaml
  -h, --help     this text
progress: on a terminal a live line per host; with no TTY or CI=true plain timestamped lines (on stderr)
exit codes: 0 ok, 1 job failed, 2 usage or request refused (4xx), 3 service unreachable,
            4 disruptive plan refused (--refuse-disruptive), 5 service error (5xx),
            6 apply refused: the topology changed after its plan was shown (nothing applied)`;

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  server: { type: 'string' },
  state: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};
const FILE: Options = { file: { type: 'string', short: 'f' }, name: { type: 'string' } };

interface CommandSpec {
  options: Options;
  /** positionals after the command (and sub-command): [min, max] */
  positionals: [number, number];
  subcommands?: readonly string[];
}

const COMMANDS: Record<string, CommandSpec> = {
  apply: {
    options: { ...FILE, 'dry-run': { type: 'boolean' }, 'refuse-disruptive': { type: 'boolean' }, 'if-match': { type: 'string' } },
    positionals: [0, 0],
  },
  plan: { options: FILE, positionals: [0, 0] },
  get: { options: { observe: { type: 'boolean' } }, positionals: [1, 1] },
  status: { options: {}, positionals: [0, 1] },
  destroy: { options: { 'ignore-missing': { type: 'boolean' } }, positionals: [1, 1] },
  graph: { options: { format: { type: 'string' } }, positionals: [1, 1] },
  logs: { options: { follow: { type: 'boolean', short: 'f' } }, positionals: [1, 1] },
  hosts: {
    options: {
      file: { type: 'string', short: 'f' },
      local: { type: 'boolean' },
      ssh: { type: 'string' },
      key: { type: 'string' },
      'host-key': { type: 'string' },
      'tunnel-ip': { type: 'string' },
    },
    positionals: [0, 1],
    subcommands: ['add', 'list', 'probe', 'remove'],
  },
  tokens: {
    options: {
      scope: { type: 'string' },
      topologies: { type: 'string' },
      'host-label': { type: 'string' },
      expires: { type: 'string' },
    },
    positionals: [0, 1],
    subcommands: ['create', 'list', 'revoke'],
  },
  up: { options: { ...FILE, hosts: { type: 'string' }, 'refuse-disruptive': { type: 'boolean' } }, positionals: [0, 0] },
  down: { options: {}, positionals: [0, 0] },
  serve: { options: {}, positionals: [0, 0] },
  version: { options: {}, positionals: [0, 0] },
  help: { options: {}, positionals: [0, 1] },
};

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Invocation {
  command: string;
  sub: string | undefined;
  args: string[];
  values: Record<string, string | boolean | undefined>;
  output: OutputFormat;
}

const usage = (msg: string) => new CliError(`${msg}\n(netplumb --help for usage)`, EXIT.usage);

/** argv (without node and the script) → the command, its positionals and its options; bad input is a CliError (exit 2). */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const first = commandIndex(argv);
  if (first < 0) {
    if (argv.includes('-h') || argv.includes('--help') || argv.length === 0) return help();
    if (argv.includes('-V') || argv.includes('--version')) return { ...help(), command: 'version' };
    throw usage(`no command given`);
  }
  const command = argv[first]!;
  const spec = COMMANDS[command];
  if (!spec) throw usage(`unknown command "${command}"`);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv.slice(0, first), ...argv.slice(first + 1)],
      options: { ...GLOBAL, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw usage(`${command}: ${(e as Error).message.split('\n')[0]}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help || command === 'help') return help();
  if (values.version) return { ...help(), command: 'version' };
  let args = parsed.positionals;
  let sub: string | undefined;
  if (spec.subcommands) {
    sub = args[0];
    if (!sub || !spec.subcommands.includes(sub)) throw usage(`${command}: give one of ${spec.subcommands.join(', ')}`);
    args = args.slice(1);
  }
  const [min, max] = spec.positionals;
  if (args.length < min) throw usage(`${[command, sub].filter(Boolean).join(' ')}: missing argument`);
  if (args.length > max) throw usage(`${[command, sub].filter(Boolean).join(' ')}: unexpected argument "${args[max]}"`);
  const output = (values.output ?? 'table') as string;
  if (!['table', 'json', 'yaml'].includes(output)) throw usage(`-o takes table, json or yaml (not "${output}")`);
  return { command, sub, args, values, output: output as OutputFormat };
}

/** Where the command is: the first word that is neither an option nor the value of a global option before it. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return i;
    const long = a.startsWith('--') ? a.slice(2) : Object.entries(GLOBAL).find(([, o]) => o.short === a.slice(1))?.[0];
    if (long && !long.includes('=') && GLOBAL[long]?.type === 'string') i++;
  }
  return -1;
}

function help(): Invocation {
  return { command: 'help', sub: undefined, args: [], values: {}, output: 'table' };
}

export function requireString(inv: Invocation, option: string, why = ''): string {
  const v = inv.values[option];
  if (typeof v !== 'string' || v === '') throw usage(`${inv.command}: --${option} is required${why ? ` (${why})` : ''}`);
  return v;
}

export function optionalString(inv: Invocation, option: string): string | undefined {
  const v = inv.values[option];
  return typeof v === 'string' ? v : undefined;
}
