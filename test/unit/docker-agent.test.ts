/**
 * The Docker agent's kept-alive streams. An ssh2 channel's destroy() only asks the server to close: `destroyed`
 * stays false and 'close' comes a round trip later. A stream the idle timer closes must leave the agent's free list
 * at once, or a request in that round trip is written to a channel that is going away (CI saw it once:
 * "cannot reach the Docker engine: ECONNRESET" on a PATCH made ~5 s after the last Docker lookup).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Dockerode from 'dockerode';
import { DialStdioAgent } from '../../src/docker/client.js';
import { resolveContainer } from '../../src/docker/containers.js';
import { ExecError } from '../../src/exec/errors.js';
import type { SshExecutor } from '../../src/exec/ssh.js';

let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('{"ok":true}'));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Streams that close like ssh2 channels: destroy() ends the stream now and really closes it `closeMs` later. */
function channelLikeExecutor(closeMs: number) {
  const opened: net.Socket[] = [];
  const executor = {
    openStream: async (): Promise<Duplex> => {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const realDestroy = socket.destroy.bind(socket);
      socket.destroy = () => {
        socket.end();
        setTimeout(() => realDestroy(), closeMs);
        return socket;
      };
      opened.push(socket);
      return socket;
    },
  };
  return { executor: executor as unknown as SshExecutor, opened };
}

function get(agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: 'docker', port: 2375, path: '/version', agent }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DialStdioAgent', () => {
  it('reuses a kept-alive stream for the next request within the idle time', async () => {
    const { executor, opened } = channelLikeExecutor(100);
    const agent = new DialStdioAgent(executor, ['docker', 'system', 'dial-stdio'], 1_000);
    expect(await get(agent)).toBe('{"ok":true}');
    expect(await get(agent)).toBe('{"ok":true}');
    expect(opened).toHaveLength(1);
    agent.destroy();
  });

  it('a request made while an idle stream is closing gets a new stream, not the closing one', async () => {
    const { executor, opened } = channelLikeExecutor(300);
    const agent = new DialStdioAgent(executor, ['docker', 'system', 'dial-stdio'], 50);
    expect(await get(agent)).toBe('{"ok":true}');
    // The idle timer has fired (50 ms) and the stream is ending, but it is not closed yet (300 ms).
    await sleep(120);
    expect(opened[0]!.destroyed).toBe(false);
    expect(await get(agent)).toBe('{"ok":true}');
    expect(opened).toHaveLength(2);
    agent.destroy();
  });
});

describe('resolveContainer on a connection that is reset', () => {
  const info = { Id: 'abc', Name: '/web', State: { Pid: 42, Running: true, Status: 'running' } };
  const reset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  const dockerAnswering = (answers: Array<() => unknown>) => {
    let calls = 0;
    const docker = {
      getContainer: () => ({
        inspect: async () => answers[Math.min(calls++, answers.length - 1)]!(),
      }),
    };
    return { docker: docker as unknown as Dockerode, calls: () => calls };
  };

  it('asks once more on a new connection after one reset', async () => {
    const d = dockerAnswering([
      () => {
        throw reset();
      },
      () => info,
    ]);
    expect(await resolveContainer(d.docker, 'web')).toMatchObject({ id: 'abc', name: 'web', pid: 42 });
    expect(d.calls()).toBe(2);
  });

  it('a second reset is the answer: host-unreachable, asked twice only', async () => {
    const d = dockerAnswering([
      () => {
        throw reset();
      },
    ]);
    const err = await resolveContainer(d.docker, 'web').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).message).toMatch(/cannot reach the Docker engine: ECONNRESET/);
    expect(d.calls()).toBe(2);
  });

  it('a refused connection is not asked again', async () => {
    const d = dockerAnswering([
      () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
    ]);
    await expect(resolveContainer(d.docker, 'web')).rejects.toThrow(/ECONNREFUSED/);
    expect(d.calls()).toBe(1);
  });
});
