import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type TestReceiver } from '../testing.ts';
import { createHttpSender, type HttpSender, type OutboundRequest } from './http-sender.ts';
import { SsrfGuard } from './ssrf-guard.ts';

describe('HTTP sender', () => {
  let receiver: TestReceiver;
  let sender: HttpSender;

  beforeAll(async () => {
    receiver = await startReceiver();
    sender = createHttpSender(new SsrfGuard(['127.0.0.0/8']));
  });
  afterAll(async () => {
    await sender.close();
    await receiver.close();
  });

  const request = (extra: Partial<OutboundRequest>): OutboundRequest => ({
    url: `${receiver.url}/hook`,
    method: 'POST',
    headers: {},
    body: Buffer.from('{}'),
    timeoutMs: 2000,
    ...extra,
  });

  it('finding 10: a request that cannot be formed is reported as invalid, not as a connection failure, and is not sent', async () => {
    const unsendable: Array<Record<string, string>> = [
      { 'x-a': 'a\r\nInjected: 1' },
      { 'x-a': 'nul\u0000' },
      { 'bad name': 'x' },
      { expect: '100-continue' },
    ];
    for (const headers of unsendable) {
      const result = await sender.send(request({ headers }));
      expect(result).toMatchObject({ kind: 'invalid', error: expect.stringMatching(/^invalid request: /) });
      // The value may be a secret: it is never repeated.
      expect(result.kind === 'invalid' && result.error).not.toMatch(/Injected|nul/);
    }
    // One that only undici itself refuses.
    const method = await sender.send(request({ method: 'BAD METHOD' }));
    expect(method).toMatchObject({ kind: 'invalid', error: expect.stringMatching(/^invalid request: /) });
    expect(receiver.requests).toHaveLength(0);

    const fine = await sender.send(request({ headers: { 'x-note': 'a\tcafé' } }));
    expect(fine).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(receiver.requests[0]?.headers['x-note']).toBe('a\tcafé');
  });

  it('finding 10: a TypeError from the connection path is a connection failure, retried, not an invalid request', async () => {
    // A bug in the guard's lookup must not fail deliveries for good.
    class BrokenGuard extends SsrfGuard {
      override readonly lookup: SsrfGuard['lookup'] = () => {
        throw new TypeError('lookup broke');
      };
    }
    const broken = createHttpSender(new BrokenGuard(['127.0.0.0/8']));
    try {
      const result = await broken.send(request({ url: receiver.url.replace('127.0.0.1', 'localhost') }));
      expect(result).toMatchObject({
        kind: 'error',
        refused: false,
        error: expect.stringMatching(/^connection failed: /),
      });
    } finally {
      await broken.close();
    }
  });
});
