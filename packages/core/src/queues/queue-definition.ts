import { getHashes } from 'node:crypto';
import { z } from 'zod';
import { parseNetwork } from '../shared/network.ts';
import { actionListSchema } from './actions/action-definition.ts';
import { rulesSchema } from './rules/rule-definition.ts';
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

/**
 * Paths the server answers itself, which a queue's own path may not take: these and everything
 * under them, and the exact ones below. Kept in one place with the routes they name, which
 * apps/api/src/server.ts and its route files register.
 */
export const RESERVED_PATHS = [
  '/q',
  '/graphql',
  '/events',
  '/jobs',
  '/read',
  '/listen',
  '/unlisten',
  '/webhooks',
  '/_next',
  '/login',
  '/account',
  '/queues',
  '/queue',
  '/message',
  '/clients',
  '/users',
  '/tokens',
];
/** Paths the server answers exactly, whose sub-paths are free (`/webhook/dockerhub` may be a queue's). */
export const RESERVED_EXACT_PATHS = [
  '/webhook',
  '/status',
  '/time',
  '/reload',
  '/setPassword',
  '/healthz',
  '/readyz',
  '/metrics',
  '/404',
  '/favicon.ico',
  '/index.html',
];

const queuePathSchema = z
  .string()
  .regex(/^\/[A-Za-z0-9._~\-/]{1,255}$/, 'must start with / and hold only letters, digits and . _ ~ - /')
  .refine(
    (path) =>
      !RESERVED_EXACT_PATHS.includes(path) &&
      !RESERVED_PATHS.some((reserved) => path === reserved || path.startsWith(`${reserved}/`)),
    'is a path the server answers itself',
  );

/**
 * What a queue that answers after its actions says: templates for the status, headers and body
 * (rendered with the actions' scope), or a preset for a provider's handshake.
 */
export const responseSchema = z.union([
  z.strictObject({
    status: z.union([z.number().int().min(200).max(599), z.string().min(1)]).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().max(65_536).optional(),
  }),
  /** `slack`: Slack's url_verification answered with its challenge; `challenge`: a `challenge` (or `hub.challenge`) parameter echoed. */
  z.strictObject({ preset: z.enum(['slack', 'challenge']) }),
]);
export type ResponseDefinition = z.infer<typeof responseSchema>;

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
  /** A path of its own that ingests into the queue beside `/q/:name` (webhook-proxy's endpoints). */
  path: queuePathSchema.nullable().optional(),
  rules: rulesSchema.nullable().optional(),
  actions: actionListSchema.default([]),
  respond: z.enum(['at-once', 'after-actions']).default('at-once'),
  response: responseSchema.nullable().optional(),
  rejected: z.enum(['refuse', 'store']).default('refuse'),
  dialect: z.enum(['switchboard', 'webhook-proxy']).default('switchboard'),
});

export type QueueDefinition = z.input<typeof queueDefinitionSchema>;
export type ValidQueueDefinition = z.output<typeof queueDefinitionSchema>;

/** Zod's issues as the field problems core reports. */
export function toFieldProblems(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
}
