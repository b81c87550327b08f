import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ResolveAll, SsrfGuard } from './ssrf-guard.ts';

const resolvesTo =
  (table: Record<string, string[]>): ResolveAll =>
  async (host) => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('SsrfGuard.checkAddress', () => {
  const guard = new SsrfGuard();

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['::127.0.0.1', 'loopback'],
    ['::169.254.169.254', 'linkLocal'],
  ])('refuses %s (%s)', (address, range) => {
    expect(guard.checkAddress(address)).toContain(range);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2001:4860:4860::8888'])('allows the public address %s', (address) => {
    expect(guard.checkAddress(address)).toBeNull();
  });

  it('allows a private network the operator lists, and nothing next to it', () => {
    const lenient = new SsrfGuard(['10.1.0.0/16', '::1/128']);
    expect(lenient.checkAddress('10.1.2.3')).toBeNull();
    expect(lenient.checkAddress('::1')).toBeNull();
    expect(lenient.checkAddress('10.2.0.1')).toContain('private');
    expect(lenient.checkAddress('127.0.0.1')).toContain('loopback');
  });

  it('refuses what is not an address', () => {
    expect(guard.checkAddress('not-an-ip')).toContain('not an IP address');
  });
});

describe('SsrfGuard.checkHost', () => {
  const guard = new SsrfGuard(
    [],
    resolvesTo({
      'internal.example': ['10.0.0.5'],
      'metadata.example': ['169.254.169.254'],
      'mixed.example': ['93.184.216.34', '127.0.0.1'],
      'mapped.example': ['::ffff:127.0.0.1'],
      'public.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    }),
  );

  it('refuses a hostname that resolves to a forbidden address', async () => {
    for (const host of ['internal.example', 'metadata.example', 'mapped.example']) {
      const result = await guard.checkHost(host);
      expect(result.ok, host).toBe(false);
      expect(!result.ok && result.reason).toContain(`${host} resolves to`);
    }
  });

  it('refuses a hostname with any forbidden address among public ones', async () => {
    const result = await guard.checkHost('mixed.example');
    expect(!result.ok && result.reason).toContain('127.0.0.1 is a loopback address');
  });

  it('refuses IP literals, bracketed IPv6 included, without resolving', async () => {
    for (const host of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '[::ffff:127.0.0.1]', '[::1]']) {
      expect((await guard.checkHost(host)).ok, host).toBe(false);
    }
  });

  it('hands back every checked address of a public host, and explains a name that does not resolve', async () => {
    const result = await guard.checkHost('public.example');
    expect(result.ok && result.addresses.map((a) => a.address)).toEqual([
      '93.184.216.34',
      '2606:2800:220:1:248:1893:25c8:1946',
    ]);
    const missing = await guard.checkHost('nowhere.example');
    expect(!missing.ok && missing.reason).toContain('could not be resolved');
  });
});

describe('SsrfGuard.lookup on a real connection', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((_req, res) => res.end('reached'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const get = async (guard: SsrfGuard, host: string) => {
    const dispatcher = new Agent({ connect: { lookup: guard.lookup as never } });
    try {
      const response = await request(`http://${host}:${port}/`, { dispatcher });
      return await response.body.text();
    } catch (error) {
      return `refused: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`;
    } finally {
      await dispatcher.close();
    }
  };

  it('refuses to connect to a name that resolves to loopback', async () => {
    const guard = new SsrfGuard([], resolvesTo({ 'sneaky.example': ['127.0.0.1'] }));
    expect(await get(guard, 'sneaky.example')).toContain(
      'refused: sneaky.example resolves to 127.0.0.1 is a loopback address',
    );
  });

  it('connects to the address it checked when the operator allows the network', async () => {
    const guard = new SsrfGuard(['127.0.0.0/8'], resolvesTo({ 'allowed.example': ['127.0.0.1'] }));
    expect(await get(guard, 'allowed.example')).toBe('reached');
  });
});
