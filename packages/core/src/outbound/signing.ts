import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { headerNameSchema } from '../shared/http-header.ts';

/** How an outbound request is signed: Standard Webhooks, or a plain HMAC header over the body. */
export const signingSchema = z.discriminatedUnion('scheme', [
  z.object({ scheme: z.literal('standard-webhooks') }),
  z.object({
    scheme: z.literal('hmac'),
    header: headerNameSchema.default('X-Signature'),
    algorithm: z.enum(['sha1', 'sha256', 'sha512']).default('sha256'),
    encoding: z.enum(['hex', 'base64']).default('hex'),
    prefix: z.string().max(32).default(''),
  }),
]);
export type Signing = z.infer<typeof signingSchema>;

/**
 * The headers that sign one attempt. Standard Webhooks (`webhook-signature: v1,<base64 HMAC-SHA256
 * of "id.timestamp.body">`, verifiable with the `standardwebhooks` and `svix` libraries) or a
 * plain HMAC header over the body, as servo-webhooks sends `X-Servo-Signature`. Every secret
 * given signs: after a rotation the old one signs too, until its grace period ends.
 * `webhook-id` and `webhook-timestamp` are sent with either scheme, for de-duplication.
 */
export function signAttempt(input: {
  signing: Signing;
  secrets: readonly string[];
  webhookId: string;
  timestamp: Date;
  body: Buffer;
}): Record<string, string> {
  const seconds = String(Math.floor(input.timestamp.getTime() / 1000));
  const headers: Record<string, string> = { 'webhook-id': input.webhookId, 'webhook-timestamp': seconds };
  const { signing } = input;
  if (signing.scheme === 'standard-webhooks') {
    const signatures = input.secrets.map((secret) => {
      const hmac = createHmac('sha256', standardWebhooksKey(secret));
      hmac.update(`${input.webhookId}.${seconds}.`);
      hmac.update(input.body);
      return `v1,${hmac.digest('base64')}`;
    });
    headers['webhook-signature'] = signatures.join(' ');
    return headers;
  }
  const signatures = input.secrets.map(
    (secret) => `${signing.prefix}${createHmac(signing.algorithm, secret).update(input.body).digest(signing.encoding)}`,
  );
  // A receiver with either secret finds its signature in the list.
  headers[signing.header] = signatures.join(', ');
  return headers;
}

/** The key of a `whsec_<base64>` secret, as the Standard Webhooks libraries derive it. */
export function standardWebhooksKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/**
 * A secret in the form the scheme signs with. Standard Webhooks secrets are `whsec_<base64>`; a
 * secret given in any other form (servo-webhooks' `s3cr3t`) becomes the base64 of its bytes, so that
 * it signs with the key the user meant and receivers can use it with the libraries as shown.
 */
export function normaliseSecret(signing: Signing, secret: string): string {
  if (signing.scheme !== 'standard-webhooks' || secret.startsWith('whsec_')) return secret;
  return `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
}
