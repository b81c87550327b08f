import { getHashes } from 'node:crypto';
import { z } from 'zod';
import { parseNetwork } from '../shared/network.ts';
import type { Verification } from './verification/types.ts';

export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name')
  .transform((name) => name.toLowerCase());
const secret = z.string().min(1, 'must not be empty').max(4096);
const tolerance = z.number().int().min(1).max(86_400).optional();
const hashAlgorithm = z.enum(['sha1', 'sha256', 'sha512']);

// Strict: a misspelt key (`prefx`) would otherwise be dropped in silence.
export const verificationSchema: z.ZodType<Verification> = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('none') }),
  z.strictObject({
    method: z.literal('token'),
    token: secret,
    header: headerName.optional(),
    query: z.string().min(1).optional(),
  }),
  z.strictObject({ method: z.literal('basic'), username: z.string().min(1), password: secret }),
  z.strictObject({
    method: z.literal('hmac'),
    secret,
    algorithm: hashAlgorithm,
    encoding: z.enum(['hex', 'base64']),
    header: headerName,
    prefix: z.string().max(32).optional(),
  }),
  z.strictObject({
    method: z.literal('webhook-queue'),
    process: z.enum(['hmac', 'hash']),
    algorithm: z.string().refine((a) => getHashes().includes(a), 'is not a hash this server knows'),
    key: secret,
    header: headerName,
  }),
  z.strictObject({ method: z.literal('github'), secret }),
  z.strictObject({ method: z.literal('stripe'), secret, toleranceSeconds: tolerance }),
  z.strictObject({ method: z.literal('shopify'), secret }),
  z.strictObject({ method: z.literal('slack'), secret, toleranceSeconds: tolerance }),
  z.strictObject({ method: z.literal('standard-webhooks'), secret, toleranceSeconds: tolerance }),
]) as unknown as z.ZodType<Verification>;

export const dedupSchema = z.union([
  z.object({ header: headerName }).strict(),
  z.object({ bodyHash: z.literal(true) }).strict(),
]);
export type Dedup = z.infer<typeof dedupSchema>;

const positive = z.number().int().positive().nullable().optional();

export const queueDefinitionSchema = z.object({
  name: z.string().regex(QUEUE_NAME_PATTERN, 'must be 1 to 128 letters, digits, dots, dashes or underscores'),
  description: z.string().max(1000).nullable().optional(),
  verification: verificationSchema.default({ method: 'none' }),
  allowedNetworks: z
    .array(z.string().refine((n) => parseNetwork(n) !== null, 'is not an IP address or CIDR'))
    .default([]),
  maxMessageCount: positive,
  maxMessageSize: positive,
  maxQueueBytes: positive,
  retentionSeconds: positive,
  dedup: dedupSchema.nullable().optional(),
});

export type QueueDefinition = z.input<typeof queueDefinitionSchema>;
export type ValidQueueDefinition = z.output<typeof queueDefinitionSchema>;

/** Zod's issues as the field problems core reports. */
export function toFieldProblems(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
}
