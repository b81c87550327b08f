import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';

describe('request logs', () => {
  it('leave query strings out, as credentials travel there', async () => {
    let written = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    const app = Fastify({ loggerInstance: createLogger('info', sink) as unknown as FastifyBaseLogger });
    app.get('/status', async () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/status?client_id=abc&verify_token=very-secret-token' });
    await app.close();
    expect(written).toContain('"url":"/status"');
    expect(written).not.toContain('very-secret-token');
    expect(written).not.toContain('client_id');
  });
});
