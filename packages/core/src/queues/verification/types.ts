/**
 * How a queue checks that a POST really comes from its provider. Every comparison of a presented
 * secret or signature with the expected one is constant-time.
 */
export type HashAlgorithm = 'sha1' | 'sha256' | 'sha512';
export type DigestEncoding = 'hex' | 'base64';

export type Verification =
  | { method: 'none' }
  /** A shared token, in a header (default `X-Webhook-Token`) or a query parameter. */
  | { method: 'token'; token: string; header?: string; query?: string }
  /** HTTP Basic with one fixed username and password. */
  | { method: 'basic'; username: string; password: string }
  /** An HMAC of the raw body in a header, optionally after a prefix such as `sha256=`. */
  | {
      method: 'hmac';
      secret: string;
      algorithm: HashAlgorithm;
      encoding: DigestEncoding;
      header: string;
      prefix?: string;
    }
  /**
   * The Webhook Queue's `<process>-<hash>` methods. `hmac`: the header holds the hex HMAC of the
   * body with `key`. `hash`: the header holds the hex digest of the key and the body, joined
   * (key first or body first, both are accepted).
   */
  | { method: 'webhook-queue'; process: 'hmac' | 'hash'; algorithm: string; key: string; header: string }
  /** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`. */
  | { method: 'github'; secret: string }
  /** Stripe: `Stripe-Signature: t=<ts>,v1=<hex>,v1=<hex>` over `<ts>.<body>`, within the tolerance. */
  | { method: 'stripe'; secret: string; toleranceSeconds?: number }
  /** Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`. */
  | { method: 'shopify'; secret: string }
  /** Slack: `X-Slack-Signature: v0=<hex>` over `v0:<X-Slack-Request-Timestamp>:<body>`, within the tolerance. */
  | { method: 'slack'; secret: string; toleranceSeconds?: number }
  /**
   * Standard Webhooks and Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature` (or the
   * `svix-` names), `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the secret's bytes after
   * `whsec_`; several space-separated signatures, any one valid is enough.
   */
  | { method: 'standard-webhooks'; secret: string; toleranceSeconds?: number };

export type VerificationMethod = Verification['method'];

export interface InboundRequest {
  /** The exact bytes received. */
  body: Buffer;
  /** Header names in lower case; a repeated header's values joined with ", " as Node does. */
  headers: Readonly<Record<string, string | undefined>>;
  /** Query parameters (first value of each). */
  query: Readonly<Record<string, string | undefined>>;
}

export type VerificationOutcome =
  | { ok: true }
  /** Why it failed, for the logs and the 401 body; never includes a secret or the expected value. */
  | { ok: false; reason: string };

/** Stripe, Slack and Standard Webhooks refuse timestamps further than this from now (seconds). */
export const DEFAULT_TOLERANCE_SECONDS = 300;
