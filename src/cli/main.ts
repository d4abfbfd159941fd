/**
 * netplumb CLI: `netplumb <command> …` (netplumb --help). Built on the SDK; talks to a service (--server /
 * NETPLUMB_URL) or runs one in-process on a state directory (--state DIR; up/down). Errors end with one message
 * and a documented exit code, never a stack trace (NETPLUMB_DEBUG=1 prints it).
 */
import { pathToFileURL } from 'node:url';
import { NetplumbError } from '../../sdk/src/index.js';
import { CliError, EXIT, USAGE, parseCommandLine, type Invocation } from './args.js';
import { down, up } from './embedded.js';
import { hosts } from './hosts.js';
import { tokens } from './tokens.js';
import { logs } from './logs.js';
import { formatProblem } from './output.js';
import { embeddedSession, serviceSession, type Session } from './session.js';
import { VERSION } from '../version.js';
import { apply, destroy, get, graph, plan, status, type Io } from './topology.js';

const COMMANDS: Record<string, (s: Session, io: Io, inv: Invocation) => Promise<number>> = {
  apply,
  plan,
  get,
  status,
  destroy,
  graph,
  logs,
  hosts,
  tokens,
};

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let where = '';
  try {
    const inv = parseCommandLine(argv);
    if (inv.command === 'help') {
      io.out(USAGE);
      return EXIT.ok;
    }
    if (inv.command === 'version') {
      io.out(VERSION);
      return EXIT.ok;
    }
    if (inv.command === 'serve') {
      // The service (src/server.ts: settings from the environment, as `npm start`), in this process; it exits itself
      // (SIGTERM/SIGINT after draining its jobs, or a start-up failure's status), so this never returns.
      await import('../server.js');
      return await new Promise<number>(() => undefined);
    }
    if (inv.command === 'up') return await up(io, inv);
    if (inv.command === 'down') return await down(io, inv);
    const state = typeof inv.values.state === 'string' ? inv.values.state : undefined;
    const session = state
      ? await embeddedSession(state, io.env, { create: false })
      : serviceSession(inv.values.server as string | undefined, io.env);
    where = session.where;
    try {
      return await COMMANDS[inv.command]!(session, io, inv);
    } finally {
      await session.close();
    }
  } catch (e) {
    if (io.env.NETPLUMB_DEBUG === '1') io.err(e instanceof Error ? (e.stack ?? e.message) : String(e));
    if (e instanceof CliError) {
      io.err(`netplumb: ${e.message}`);
      return e.code;
    }
    if (e instanceof NetplumbError) {
      // No answer at all (the SDK tried again first, NETPLUMB_RETRIES): the problem says why (ECONNREFUSED, …).
      if (e.transport) {
        io.err(`netplumb: cannot reach ${where || 'the service'}: ${e.problem.detail}; set --server or NETPLUMB_URL`);
        return EXIT.unreachable;
      }
      io.err(formatProblem(e.problem));
      // Exit 1 only for a job that ran and failed; a problem that names another job (a busy resource's, a key's
      // first request) is a refusal like any 4xx.
      if (e.jobFailed) return EXIT.jobFailed;
      return e.status >= 400 && e.status < 500 ? EXIT.usage : EXIT.service;
    }
    io.err(`netplumb: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.service;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain || process.env.NETPLUMB_CLI_MAIN === '1') {
  const io: Io = {
    out: (s) => void process.stdout.write(`${s}\n`),
    err: (s) => void process.stderr.write(`${s}\n`),
    progressStream: process.stderr,
    env: process.env,
  };
  run(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
      // Pooled SSH connections and timers of the embedded service must not keep the process alive.
      setTimeout(() => process.exit(code), 50).unref();
    },
    (e: unknown) => {
      process.stderr.write(`netplumb: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(EXIT.service);
    },
  );
}
