/**
 * Per host: Docker's container events (dockerode getEvents, over the host's own connection: for SSH hosts a
 * `docker system dial-stdio` channel on the same SSH connection), reconnecting with backoff. Only what the
 * reconcile loop needs: start, die and stop of containers, by id and name.
 */
import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';

export interface ContainerEvent {
  action: 'start' | 'die' | 'stop';
  id: string;
  name: string | null;
}

export interface DockerEventsOptions {
  /** The host's Docker client (asked again at each reconnect: the connection may have been replaced). */
  docker: () => Promise<Dockerode>;
  onEvent: (e: ContainerEvent) => void;
  /** The stream is open (first time or after a reconnect): events in between may have been missed. */
  onConnect: () => void;
  log: (text: string) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class DockerEventWatcher {
  private stopped = false;
  private stream: Readable | null = null;
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: DockerEventsOptions) {
    this.backoff = o.minBackoffMs ?? 500;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.destroy();
    this.stream = null;
  }

  private retry(why: string): void {
    if (this.stopped) return;
    this.stream = null;
    this.o.log(`docker events: ${why}; reconnecting in ${this.backoff} ms`);
    this.timer = setTimeout(() => void this.connect(), this.backoff);
    this.timer.unref();
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 30_000);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let stream: Readable;
    try {
      stream = (await (
        await this.o.docker()
      ).getEvents({
        filters: { type: ['container'], event: ['start', 'die', 'stop'] },
      })) as unknown as Readable;
    } catch (e) {
      return this.retry(`cannot open the stream (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
    if (this.stopped) {
      stream.destroy();
      return;
    }
    this.stream = stream;
    this.backoff = this.o.minBackoffMs ?? 500;
    let buf = '';
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      this.retry(why);
    };
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) this.handle(line);
      }
    });
    stream.on('error', (e) => end(`stream error (${e.message})`));
    stream.on('end', () => end('stream ended'));
    stream.on('close', () => end('stream closed'));
    this.o.onConnect();
  }

  private handle(line: string): void {
    let e: { Type?: string; Action?: string; status?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    const action = e.Action ?? e.status;
    if ((e.Type ?? 'container') !== 'container' || (action !== 'start' && action !== 'die' && action !== 'stop')) return;
    const id = e.Actor?.ID ?? e.id;
    if (!id) return;
    this.o.onEvent({ action, id, name: e.Actor?.Attributes?.name ?? null });
  }
}
