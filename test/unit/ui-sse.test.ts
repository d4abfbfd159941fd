/** The page's SSE framing (src/ui/api.ts): the log stream is read with fetch, so the page parses events itself. */
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/ui/api.js';

describe('SseParser', () => {
  it('events split anywhere across chunks, LF or CRLF, comments skipped, multi-line data joined', () => {
    const stream =
      'event: log\nid: 1\ndata: {"seq":1}\n\n: keep-alive\n\nevent: log\r\nid: 2\r\ndata: {"seq":2}\r\n\r\nevent: end\ndata: a\ndata: b\n\n';
    for (const size of [1, 2, 3, 7, 1000]) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
      expect(got, `chunks of ${size}`).toEqual([
        { event: 'log', id: '1', data: '{"seq":1}' },
        { event: 'log', id: '2', data: '{"seq":2}' },
        { event: 'end', id: null, data: 'a\nb' },
      ]);
    }
  });
  it('an event is not given out before its blank line', () => {
    const p = new SseParser();
    expect(p.push('event: log\ndata: x\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'log', id: null, data: 'x' }]);
    expect(p.push('data:no-space\n\n')).toEqual([{ event: 'message', id: null, data: 'no-space' }]);
  });
});
