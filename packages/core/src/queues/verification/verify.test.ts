import { createHash, createHmac } from 'node:crypto';
import { sign as signGithub } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../shared/clock.ts';
import type { HashAlgorithm, InboundRequest, Verification, VerificationOutcome } from './types.ts';
import { verifyInbound } from './verify.ts';

// Signatures here come from node:crypto or the providers' own libraries, never from the code under test.

const NOW = 1_750_000_000;
const clockAt = (seconds: number): Clock => ({ now: () => new Date(seconds * 1000) });
const clock = clockAt(NOW);

const TOKEN = 'tok-Vq3Zr8wLqA';
const BASIC_PASSWORD = 'pw-Hn4kTt9sB';
const HMAC_SECRET = 'hmac-secret-Qe7Lp2';
const GITHUB_SECRET = 'gh-secret-Yu8Wm1';
const STRIPE_SECRET = 'whsec_stripeTestK3y9xx';
const SHOPIFY_SECRET = 'shpss-Jd5Rx0Fq';
const SLACK_SECRET = 'slack-signing-Pz6Nb4';
const SW_KEY = Buffer.from('standard-webhooks-key-Mw2Tc8', 'utf8');
const SW_SECRET = `whsec_${SW_KEY.toString('base64')}`;
const SECRETS = [TOKEN, BASIC_PASSWORD, HMAC_SECRET, GITHUB_SECRET, STRIPE_SECRET, SHOPIFY_SECRET, SLACK_SECRET];
const SECRET_TEXTS = [...SECRETS, SW_SECRET, SW_KEY.toString('base64'), SW_KEY.toString('utf8')];

const BODY = Buffer.from('{"event":"ping","id":42,"note":"café"}');
// Invalid UTF-8: decoding it to a string and back would change the bytes, and so the signature.
const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a, 0xed, 0xa0, 0x80]);

function tamper(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x01;
  return copy;
}

function request(
  body: Buffer,
  headers: Record<string, string> = {},
  query: Record<string, string> = {},
): InboundRequest {
  // Node hands header names over in lower case.
  const lower = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { body, headers: lower, query };
}

const verify = (config: Verification, req: InboundRequest, at: Clock = clock) => verifyInbound(config, req, at);

function accepted(outcome: VerificationOutcome): void {
  expect(outcome).toEqual({ ok: true });
}

/** Refused, optionally for the given reason, and the reason never quotes a secret. */
function refused(outcome: VerificationOutcome, reason?: RegExp): string {
  expect(outcome.ok).toBe(false);
  const text = outcome.ok ? '' : outcome.reason;
  expect(text.length).toBeGreaterThan(0);
  if (reason) expect(text).toMatch(reason);
  for (const secret of SECRET_TEXTS) expect(text).not.toContain(secret);
  return text;
}

const mac = (algorithm: string, key: string | Buffer, ...parts: (string | Buffer)[]) => {
  const h = createHmac(algorithm, key);
  for (const part of parts) h.update(part);
  return h.digest();
};

describe('none', () => {
  it('accepts anything', () => {
    accepted(verify({ method: 'none' }, request(BODY)));
  });
});

describe('token', () => {
  const config: Verification = { method: 'token', token: TOKEN };

  it('accepts the token in the default X-Webhook-Token header', () => {
    accepted(verify(config, request(BODY, { 'X-Webhook-Token': TOKEN })));
  });

  it('accepts the token in a configured header named in any case', () => {
    accepted(verify({ ...config, header: 'X-Relay-KEY' }, request(BODY, { 'x-relay-key': TOKEN })));
  });

  it('accepts the token in the configured query parameter', () => {
    const withQuery: Verification = { ...config, query: 'token' };
    accepted(verify(withQuery, request(BODY, {}, { token: TOKEN })));
    refused(verify(withQuery, request(BODY, {}, { token: 'nope' })), /wrong token/);
  });

  it('ignores the query string when no query parameter is configured', () => {
    refused(verify(config, request(BODY, {}, { token: TOKEN })), /missing X-Webhook-Token header/);
  });

  it('refuses a wrong token, a prefix of it and a longer one', () => {
    for (const presented of ['tok-wrong', TOKEN.slice(0, -1), `${TOKEN}x`]) {
      refused(verify(config, request(BODY, { 'x-webhook-token': presented })), /wrong token in X-Webhook-Token/);
    }
  });

  it('refuses a missing token, naming where it was expected', () => {
    refused(verify(config, request(BODY)), /missing X-Webhook-Token header/);
    refused(verify({ ...config, query: 'key' }, request(BODY)), /missing X-Webhook-Token header or key query/);
  });

  it('refuses everything when the configured token is empty', () => {
    refused(verify({ method: 'token', token: '' }, request(BODY, { 'x-webhook-token': '' })), /misconfigured/);
  });
});

describe('basic', () => {
  const config: Verification = { method: 'basic', username: 'relay', password: BASIC_PASSWORD };
  const basic = (user: string, password: string) => ({
    Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });

  it('accepts the right username and password', () => {
    accepted(verify(config, request(BODY, basic('relay', BASIC_PASSWORD))));
    accepted(
      verify(
        config,
        request(BODY, { authorization: basic('relay', BASIC_PASSWORD).Authorization.replace('Basic', 'basic') }),
      ),
    );
  });

  it('refuses a wrong username or a wrong password without saying which', () => {
    const a = refused(verify(config, request(BODY, basic('relay2', BASIC_PASSWORD))), /wrong username or password/);
    const b = refused(verify(config, request(BODY, basic('relay', 'pw-wrong'))), /wrong username or password/);
    expect(a).toBe(b);
  });

  it('refuses a missing, non-Basic or malformed Authorization header', () => {
    refused(verify(config, request(BODY)), /missing Authorization header/);
    refused(verify(config, request(BODY, { authorization: `Bearer ${BASIC_PASSWORD}` })), /not Basic/);
    const noColon = `Basic ${Buffer.from('relay').toString('base64')}`;
    refused(verify(config, request(BODY, { authorization: noColon })), /malformed/);
  });
});

describe('hmac', () => {
  const algorithms: HashAlgorithm[] = ['sha1', 'sha256', 'sha512'];
  const cases = algorithms.flatMap((algorithm) =>
    (['hex', 'base64'] as const).flatMap((encoding) =>
      [undefined, `${algorithm}=`].map((prefix) => ({ algorithm, encoding, prefix })),
    ),
  );

  it.each(cases)('$algorithm $encoding with prefix $prefix', ({ algorithm, encoding, prefix }) => {
    const config: Verification = { method: 'hmac', secret: HMAC_SECRET, algorithm, encoding, header: 'X-Signature' };
    if (prefix) config.prefix = prefix;
    const sign = (key: string, body: Buffer) => `${prefix ?? ''}${mac(algorithm, key, body).toString(encoding)}`;

    accepted(verify(config, request(BODY, { 'x-signature': sign(HMAC_SECRET, BODY) })));
    accepted(verify(config, request(BINARY, { 'x-signature': sign(HMAC_SECRET, BINARY) })));
    refused(verify(config, request(BODY, { 'x-signature': sign('other-secret', BODY) })), /does not match/);
    refused(verify(config, request(tamper(BODY), { 'x-signature': sign(HMAC_SECRET, BODY) })), /does not match/);
    refused(verify(config, request(BODY)), /missing X-Signature header/);
    if (prefix) {
      const bare = mac(algorithm, HMAC_SECRET, BODY).toString(encoding);
      refused(verify(config, request(BODY, { 'x-signature': bare })), /does not start with/);
    }
  });

  it('accepts hex in upper case', () => {
    const config: Verification = {
      method: 'hmac',
      secret: HMAC_SECRET,
      algorithm: 'sha256',
      encoding: 'hex',
      header: 'X-Signature',
      prefix: 'sha256=',
    };
    const upper = mac('sha256', HMAC_SECRET, BODY).toString('hex').toUpperCase();
    accepted(verify(config, request(BODY, { 'x-signature': `sha256=${upper}` })));
  });

  it('refuses a right digest followed by junk, which a lenient decoder would drop', () => {
    const config: Verification = {
      method: 'hmac',
      secret: HMAC_SECRET,
      algorithm: 'sha256',
      encoding: 'hex',
      header: 'X-Sig',
    };
    const hex = mac('sha256', HMAC_SECRET, BODY).toString('hex');
    refused(verify(config, request(BODY, { 'x-sig': `${hex}zz` })), /not a hex digest/);
    const b64 = mac('sha256', HMAC_SECRET, BODY).toString('base64');
    refused(verify({ ...config, encoding: 'base64' }, request(BODY, { 'x-sig': `${b64}!!` })), /not a base64 digest/);
  });

  it('refuses everything when the secret is empty', () => {
    const config: Verification = { method: 'hmac', secret: '', algorithm: 'sha256', encoding: 'hex', header: 'X-Sig' };
    const forged = mac('sha256', '', BODY).toString('hex');
    refused(verify(config, request(BODY, { 'x-sig': forged })), /misconfigured/);
  });
});

/** A Webhook Queue `auth` block, as its README writes it, turned into our config. */
function fromWebhookQueue(auth: { method: string; key: string; header_name: string }): Verification {
  const dash = auth.method.indexOf('-');
  const process = auth.method.slice(0, dash) as 'hmac' | 'hash';
  return {
    method: 'webhook-queue',
    process,
    algorithm: auth.method.slice(dash + 1),
    key: auth.key,
    header: auth.header_name,
  };
}

describe('webhook-queue', () => {
  it("accepts hmac-sha256 exactly as the README's sample config (key 12345, header Foo-Auth)", () => {
    const config = fromWebhookQueue({ method: 'hmac-sha256', key: '12345', header_name: 'Foo-Auth' });
    const signature = mac('sha256', '12345', BODY).toString('hex');
    accepted(verify(config, request(BODY, { 'Foo-Auth': signature })));
    accepted(verify(config, request(BODY, { 'foo-auth': signature.toUpperCase() })));
    accepted(verify(config, request(BINARY, { 'foo-auth': mac('sha256', '12345', BINARY).toString('hex') })));
    refused(
      verify(config, request(BODY, { 'foo-auth': mac('sha256', '54321', BODY).toString('hex') })),
      /does not match/,
    );
    refused(verify(config, request(tamper(BODY), { 'foo-auth': signature })), /does not match/);
    refused(verify(config, request(BODY)), /missing Foo-Auth header/);
  });

  it('accepts hash-sha512 with the key before or after the body', () => {
    const config = fromWebhookQueue({ method: 'hash-sha512', key: '12345', header_name: 'Foo-Auth' });
    const hash = (...parts: Buffer[]) => createHash('sha512').update(Buffer.concat(parts)).digest('hex');
    const key = Buffer.from('12345');
    accepted(verify(config, request(BODY, { 'foo-auth': hash(key, BODY) })));
    accepted(verify(config, request(BODY, { 'foo-auth': hash(BODY, key) })));
    accepted(verify(config, request(BINARY, { 'foo-auth': hash(BINARY, key) })));
    refused(verify(config, request(BODY, { 'foo-auth': hash(BODY) })), /does not match/);
    refused(verify(config, request(BODY, { 'foo-auth': hash(Buffer.from('99999'), BODY) })), /does not match/);
    refused(verify(config, request(tamper(BODY), { 'foo-auth': hash(key, BODY) })), /does not match/);
  });

  it('accepts other node:crypto hashes such as sha3-256', () => {
    const config = fromWebhookQueue({ method: 'hmac-sha3-256', key: '12345', header_name: 'Foo-Auth' });
    accepted(verify(config, request(BODY, { 'foo-auth': mac('sha3-256', '12345', BODY).toString('hex') })));
  });

  it('refuses unknown algorithms with a clear reason', () => {
    for (const method of ['hmac-sha257', 'hash-whirlpool9', 'hmac-shake256', 'hash-']) {
      const config = fromWebhookQueue({ method, key: '12345', header_name: 'Foo-Auth' });
      const reason = refused(verify(config, request(BODY, { 'foo-auth': 'ab' })), /unknown hash algorithm/);
      expect(reason).toContain(`"${method.slice(method.indexOf('-') + 1)}"`);
    }
  });
});

describe('github', () => {
  const config: Verification = { method: 'github', secret: GITHUB_SECRET };

  it('accepts a signature made by @octokit/webhooks-methods', async () => {
    const signature = await signGithub(GITHUB_SECRET, BODY.toString());
    accepted(verify(config, request(BODY, { 'X-Hub-Signature-256': signature })));
  });

  it('refuses a wrong secret, a tampered body, a bare hex digest and a missing header', async () => {
    const wrong = await signGithub('another-secret', BODY.toString());
    refused(verify(config, request(BODY, { 'x-hub-signature-256': wrong })), /does not match/);
    const right = await signGithub(GITHUB_SECRET, BODY.toString());
    refused(verify(config, request(tamper(BODY), { 'x-hub-signature-256': right })), /does not match/);
    refused(verify(config, request(BODY, { 'x-hub-signature-256': right.slice(7) })), /does not start with "sha256="/);
    refused(verify(config, request(BODY)), /missing X-Hub-Signature-256 header/);
  });

  it('falls back to the legacy sha1 header only when the sha256 one is absent', async () => {
    const sha1 = `sha1=${mac('sha1', GITHUB_SECRET, BODY).toString('hex')}`;
    accepted(verify(config, request(BODY, { 'x-hub-signature': sha1 })));
    const wrong256 = await signGithub('another-secret', BODY.toString());
    refused(verify(config, request(BODY, { 'x-hub-signature-256': wrong256, 'x-hub-signature': sha1 })));
    const wrong1 = `sha1=${mac('sha1', 'another-secret', BODY).toString('hex')}`;
    refused(verify(config, request(BODY, { 'x-hub-signature': wrong1 })), /X-Hub-Signature signature does not match/);
  });

  it('verifies a binary body', () => {
    const signature = `sha256=${mac('sha256', GITHUB_SECRET, BINARY).toString('hex')}`;
    accepted(verify(config, request(BINARY, { 'x-hub-signature-256': signature })));
  });
});

const stripeV1 = (secret: string, t: number, body: Buffer) => mac('sha256', secret, `${t}.`, body).toString('hex');
const slackV0 = (secret: string, t: number, body: Buffer) =>
  `v0=${mac('sha256', secret, `v0:${t}:`, body).toString('hex')}`;
const standardSignature = (secret: string, id: string, t: number, body: string) =>
  new Webhook(secret).sign(id, new Date(t * 1000), body);

describe('stripe', () => {
  const config: Verification = { method: 'stripe', secret: STRIPE_SECRET };
  const header = (t: number, ...v1: string[]) => ({
    'Stripe-Signature': [`t=${t}`, ...v1.map((s) => `v1=${s}`)].join(','),
  });

  it('accepts a correct signature', () => {
    accepted(verify(config, request(BODY, header(NOW, stripeV1(STRIPE_SECRET, NOW, BODY)))));
    accepted(verify(config, request(BINARY, header(NOW, stripeV1(STRIPE_SECRET, NOW, BINARY)))));
  });

  it('accepts two v1 signatures where only the second is right, and ignores v0', () => {
    const right = stripeV1(STRIPE_SECRET, NOW, BODY);
    const wrong = stripeV1('whsec_old', NOW, BODY);
    accepted(verify(config, request(BODY, header(NOW, wrong, right))));
    const onlyV0 = { 'stripe-signature': `t=${NOW},v1=${wrong},v0=${right}` };
    refused(verify(config, request(BODY, onlyV0)), /no Stripe-Signature v1 signature matches/);
  });

  it('refuses a wrong secret, a tampered body, a missing header or a header without t or v1', () => {
    refused(verify(config, request(BODY, header(NOW, stripeV1('whsec_other', NOW, BODY)))), /matches/);
    refused(verify(config, request(tamper(BODY), header(NOW, stripeV1(STRIPE_SECRET, NOW, BODY)))), /matches/);
    refused(verify(config, request(BODY)), /missing Stripe-Signature header/);
    refused(verify(config, request(BODY, { 'stripe-signature': `v1=${stripeV1(STRIPE_SECRET, NOW, BODY)}` })), /t=/);
    refused(verify(config, request(BODY, { 'stripe-signature': `t=${NOW}` })), /no v1/);
  });
});

describe('shopify', () => {
  const config: Verification = { method: 'shopify', secret: SHOPIFY_SECRET };
  const sign = (secret: string, body: Buffer) => mac('sha256', secret, body).toString('base64');

  it('accepts a base64 HMAC-SHA256 of the body', () => {
    accepted(verify(config, request(BODY, { 'X-Shopify-Hmac-Sha256': sign(SHOPIFY_SECRET, BODY) })));
    accepted(verify(config, request(BINARY, { 'x-shopify-hmac-sha256': sign(SHOPIFY_SECRET, BINARY) })));
  });

  it('refuses a wrong secret, a tampered body, a hex digest and a missing header', () => {
    refused(verify(config, request(BODY, { 'x-shopify-hmac-sha256': sign('other', BODY) })), /does not match/);
    refused(verify(config, request(tamper(BODY), { 'x-shopify-hmac-sha256': sign(SHOPIFY_SECRET, BODY) })));
    const hex = mac('sha256', SHOPIFY_SECRET, BODY).toString('hex');
    refused(verify(config, request(BODY, { 'x-shopify-hmac-sha256': hex })), /does not match/);
    refused(verify(config, request(BODY)), /missing X-Shopify-Hmac-Sha256 header/);
  });
});

describe('slack', () => {
  const config: Verification = { method: 'slack', secret: SLACK_SECRET };
  const headers = (t: number, signature: string) => ({
    'X-Slack-Request-Timestamp': String(t),
    'X-Slack-Signature': signature,
  });

  it('accepts a v0 signature over v0:timestamp:body', () => {
    accepted(verify(config, request(BODY, headers(NOW, slackV0(SLACK_SECRET, NOW, BODY)))));
    accepted(verify(config, request(BINARY, headers(NOW, slackV0(SLACK_SECRET, NOW, BINARY)))));
  });

  it('refuses a wrong secret, a tampered body, a changed timestamp and missing headers', () => {
    refused(verify(config, request(BODY, headers(NOW, slackV0('other', NOW, BODY)))), /does not match/);
    refused(verify(config, request(tamper(BODY), headers(NOW, slackV0(SLACK_SECRET, NOW, BODY)))), /does not match/);
    refused(verify(config, request(BODY, headers(NOW + 1, slackV0(SLACK_SECRET, NOW, BODY)))), /does not match/);
    const signature = slackV0(SLACK_SECRET, NOW, BODY);
    refused(verify(config, request(BODY, { 'x-slack-signature': signature })), /missing X-Slack-Request-Timestamp/);
    refused(verify(config, request(BODY, { 'x-slack-request-timestamp': String(NOW) })), /missing X-Slack-Signature/);
  });
});

describe('standard-webhooks', () => {
  const config: Verification = { method: 'standard-webhooks', secret: SW_SECRET };
  const id = 'msg_2Lh8Y1vQ9';
  const headers = (prefix: 'webhook' | 'svix', t: number, signature: string) => ({
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(t),
    [`${prefix}-signature`]: signature,
  });

  it.each(['webhook', 'svix'] as const)('accepts a signature made by the standardwebhooks package (%s-*)', (prefix) => {
    const signature = standardSignature(SW_SECRET, id, NOW, BODY.toString());
    accepted(verify(config, request(BODY, headers(prefix, NOW, signature))));
  });

  it('accepts a secret without the whsec_ prefix', () => {
    const signature = standardSignature(SW_SECRET, id, NOW, BODY.toString());
    const bare: Verification = { method: 'standard-webhooks', secret: SW_KEY.toString('base64') };
    accepted(verify(bare, request(BODY, headers('webhook', NOW, signature))));
  });

  it('accepts any one valid v1 among several, ignoring other versions', () => {
    const right = standardSignature(SW_SECRET, id, NOW, BODY.toString());
    const wrong = standardSignature(`whsec_${Buffer.from('old-key').toString('base64')}`, id, NOW, BODY.toString());
    const v1a = `v1a,${right.slice(3)}`;
    accepted(verify(config, request(BODY, headers('webhook', NOW, `${wrong} v1a,AAAA ${right}`))));
    refused(verify(config, request(BODY, headers('webhook', NOW, `${wrong} ${v1a}`))), /no webhook-signature v1/);
    refused(verify(config, request(BODY, headers('webhook', NOW, v1a))), /has no v1 signature/);
  });

  it('refuses a wrong secret, a tampered body and another message id', () => {
    const other = `whsec_${Buffer.from('other-key').toString('base64')}`;
    refused(verify(config, request(BODY, headers('webhook', NOW, standardSignature(other, id, NOW, BODY.toString())))));
    const right = standardSignature(SW_SECRET, id, NOW, BODY.toString());
    refused(
      verify(config, request(tamper(BODY), headers('svix', NOW, right))),
      /no svix-signature v1 signature matches/,
    );
    const renamed = { ...headers('webhook', NOW, right), 'webhook-id': 'msg_other' };
    refused(verify(config, request(BODY, renamed)), /matches/);
  });

  it('refuses missing headers, naming them', () => {
    const signature = standardSignature(SW_SECRET, id, NOW, BODY.toString());
    for (const prefix of ['webhook', 'svix'] as const) {
      for (const name of ['id', 'timestamp', 'signature']) {
        const partial: Record<string, string> = headers(prefix, NOW, signature);
        delete partial[`${prefix}-${name}`];
        refused(verify(config, request(BODY, partial)), new RegExp(`missing ${prefix}-${name} header`));
      }
    }
    refused(verify(config, request(BODY)), /missing svix-id header/);
  });

  it('verifies a binary body (signed with node:crypto, since the package decodes bodies as UTF-8)', () => {
    const signature = `v1,${mac('sha256', SW_KEY, `${id}.${NOW}.`, BINARY).toString('base64')}`;
    accepted(verify(config, request(BINARY, headers('webhook', NOW, signature))));
  });
});

describe('timestamps (Stripe, Slack, Standard Webhooks)', () => {
  const signers: Record<string, { config: Verification; sign: (t: number) => InboundRequest }> = {
    stripe: {
      config: { method: 'stripe', secret: STRIPE_SECRET },
      sign: (t) => request(BODY, { 'stripe-signature': `t=${t},v1=${stripeV1(STRIPE_SECRET, t, BODY)}` }),
    },
    slack: {
      config: { method: 'slack', secret: SLACK_SECRET },
      sign: (t) =>
        request(BODY, { 'x-slack-request-timestamp': String(t), 'x-slack-signature': slackV0(SLACK_SECRET, t, BODY) }),
    },
    'standard-webhooks': {
      config: { method: 'standard-webhooks', secret: SW_SECRET },
      sign: (t) =>
        request(BODY, {
          'webhook-id': 'msg_1',
          'webhook-timestamp': String(t),
          'webhook-signature': standardSignature(SW_SECRET, 'msg_1', t, BODY.toString()),
        }),
    },
  };

  describe.each(Object.keys(signers))('%s', (name) => {
    const { config, sign } = signers[name]!;

    it('refuses a replay 6 minutes old and a timestamp 6 minutes ahead', () => {
      refused(verify(config, sign(NOW - 360)), /timestamp is outside the 300-second tolerance/);
      refused(verify(config, sign(NOW + 360)), /timestamp is outside the 300-second tolerance/);
    });

    it('accepts timestamps within the tolerance, up to its edge', () => {
      for (const t of [NOW - 240, NOW + 240, NOW - 300, NOW + 300]) accepted(verify(config, sign(t)));
      refused(verify(config, sign(NOW - 301)), /tolerance/);
      // A clock between two seconds still counts whole seconds, as the providers do.
      accepted(verify(config, sign(NOW - 300), clockAt(NOW + 0.999)));
    });

    it('honours a configured toleranceSeconds', () => {
      const wide = { ...config, toleranceSeconds: 600 } as Verification;
      accepted(verify(wide, sign(NOW - 360)));
      refused(verify(wide, sign(NOW - 660)), /outside the 600-second tolerance/);
      const narrow = { ...config, toleranceSeconds: 60 } as Verification;
      refused(verify(narrow, sign(NOW - 120)), /outside the 60-second tolerance/);
      refused(verify(narrow, sign(NOW + 120)), /outside the 60-second tolerance/);
      accepted(verify(narrow, sign(NOW - 30)));
    });

    it('uses the injected clock, not the system time', () => {
      const later = NOW + 86_400;
      accepted(verify(config, sign(later), clockAt(later)));
      refused(verify(config, sign(later)), /tolerance/);
    });
  });
});

describe('reasons', () => {
  it('never contain a secret or the expected signature', () => {
    const expectedHex = (algorithm: string, key: string | Buffer, ...parts: (string | Buffer)[]) =>
      mac(algorithm, key, ...parts).toString('hex');
    const failures: Array<[Verification, InboundRequest, string[]]> = [
      [{ method: 'token', token: TOKEN }, request(BODY, { 'x-webhook-token': 'x' }), [TOKEN]],
      [
        { method: 'basic', username: 'u', password: BASIC_PASSWORD },
        request(BODY, { authorization: 'Basic dTp4' }),
        [],
      ],
      [
        { method: 'hmac', secret: HMAC_SECRET, algorithm: 'sha256', encoding: 'hex', header: 'X-Sig' },
        request(BODY, { 'x-sig': '00' }),
        [expectedHex('sha256', HMAC_SECRET, BODY)],
      ],
      [
        { method: 'webhook-queue', process: 'hmac', algorithm: 'sha256', key: '12345', header: 'Foo-Auth' },
        request(BODY, { 'foo-auth': '00' }),
        ['12345', expectedHex('sha256', '12345', BODY)],
      ],
      [{ method: 'github', secret: GITHUB_SECRET }, request(BODY, { 'x-hub-signature-256': 'sha256=00' }), []],
      [
        { method: 'stripe', secret: STRIPE_SECRET },
        request(BODY, { 'stripe-signature': `t=${NOW},v1=00` }),
        [stripeV1(STRIPE_SECRET, NOW, BODY)],
      ],
      [
        { method: 'shopify', secret: SHOPIFY_SECRET },
        request(BODY, { 'x-shopify-hmac-sha256': 'AA==' }),
        [mac('sha256', SHOPIFY_SECRET, BODY).toString('base64')],
      ],
      [
        { method: 'slack', secret: SLACK_SECRET },
        request(BODY, { 'x-slack-request-timestamp': String(NOW), 'x-slack-signature': 'v0=00' }),
        [slackV0(SLACK_SECRET, NOW, BODY)],
      ],
      [
        { method: 'standard-webhooks', secret: SW_SECRET },
        request(BODY, { 'webhook-id': 'm', 'webhook-timestamp': String(NOW), 'webhook-signature': 'v1,AA==' }),
        [standardSignature(SW_SECRET, 'm', NOW, BODY.toString()).slice(3)],
      ],
    ];
    for (const [config, req, hidden] of failures) {
      const reason = refused(verify(config, req));
      for (const value of hidden) expect(reason).not.toContain(value);
    }
  });

  it('refuses, without throwing, a config that cannot be applied', () => {
    refused(
      verify({ method: 'carrier-pigeon' } as unknown as Verification, request(BODY)),
      /unknown verification method/,
    );
    const noSecret = { method: 'github' } as unknown as Verification;
    refused(verify(noSecret, request(BODY, { 'x-hub-signature-256': 'sha256=00' })), /misconfigured/);
    refused(verify({ method: 'standard-webhooks', secret: 'whsec_' }, request(BODY)), /misconfigured/);
  });
});
