/** logs JOB [-f]: the log so far (paged), or live over SSE until the job ends (exit 1 if it failed). */
import { EXIT, type Invocation } from './args.js';
import { formatLogLine, formatProblem } from './output.js';
import type { Session } from './session.js';
import type { Io } from './topology.js';

export async function logs(s: Session, io: Io, inv: Invocation): Promise<number> {
  const id = inv.args[0]!;
  if (inv.values.follow) {
    const stream = s.np.streamJobLogs(id);
    let r = await stream.next();
    for (; !r.done; r = await stream.next()) io.out(formatLogLine(r.value));
    const job = await s.np.jobs.get(id);
    io.err(`job ${id} ${job.status}`);
    if (job.status === 'succeeded') return EXIT.ok;
    if (job.error) io.err(formatProblem(job.error));
    return EXIT.jobFailed;
  }
  let after: number | undefined;
  for (;;) {
    const page = await s.np.jobs.logs(id, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const l of page.items) io.out(formatLogLine(l));
    if (!page.nextCursor || !page.items.length) return EXIT.ok;
    after = page.items[page.items.length - 1]!.seq;
  }
}
