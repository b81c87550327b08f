import { z } from 'zod';
import { httpUrlSchema, retryPolicySchema } from '../delivery/subscription-definition.ts';
import { CLIENT_MANAGED_HEADERS, headersSchema } from '../shared/http-header.ts';

export const JOB_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** Headers a job may not set: HTTP itself manages them. */
const RESERVED_HEADERS = new Set(['host', 'content-length', ...CLIENT_MANAGED_HEADERS]);
/** A job's body is kept in the database until the job is deleted; this bounds it. */
export const MAX_JOB_BODY_BYTES = 1024 * 1024;

export const jobDefinitionSchema = z.object({
  url: httpUrlSchema,
  method: z.enum(JOB_METHODS, { error: `must be one of ${JOB_METHODS.join(', ')}` }).default('POST'),
  headers: headersSchema(8192)
    .default({})
    .refine((headers) => Object.keys(headers).every((h) => !RESERVED_HEADERS.has(h.toLowerCase())), {
      message: `may not set ${[...RESERVED_HEADERS].join(', ')}`,
    }),
  /** Sent as UTF-8 text. */
  body: z.string().nullable().optional(),
  /** Sent as these exact bytes. */
  bodyBase64: z.string().base64('must be base64').nullable().optional(),
  callbackUrl: httpUrlSchema.nullable().optional(),
  timeoutMs: z.number().int().min(100).max(60_000).default(15_000),
  retryPolicy: retryPolicySchema.default({}),
  callbackRetryPolicy: retryPolicySchema.default({}),
  /** Statuses that count as success; by default any 2xx. */
  acceptedStatuses: z.array(z.number().int().min(100).max(599)).min(1).max(50).nullable().optional(),
});

export type JobDefinition = z.input<typeof jobDefinitionSchema>;
