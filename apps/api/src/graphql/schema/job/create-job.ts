import type { JobDefinition } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { HeaderInput, RetryPolicyInput, stripNulls } from '../subscription/subscription-input.ts';
import { HttpMethodEnum, JobRef } from './job.ts';

const JobInput = builder.inputType('JobInput', {
  description: 'The request to make, and where to report its outcome.',
  fields: (t) => ({
    url: t.string({ required: true, description: 'http(s), without credentials in it.' }),
    method: t.field({ type: HttpMethodEnum, description: 'POST when left out.' }),
    headers: t.field({
      type: [HeaderInput],
      description: 'Sent as given; Host, Content-Length, Connection and Transfer-Encoding are refused.',
    }),
    body: t.string({ description: 'Sent as UTF-8 text. Give this or bodyBase64, at most 1 MiB.' }),
    bodyBase64: t.string({ description: 'Sent as these exact bytes.' }),
    callbackUrl: t.string({
      description:
        'Told the outcome once the job ends (`job.succeeded`, `job.failed` or `job.cancelled`), signed the Standard Webhooks way with your job signing secret.',
    }),
    timeoutMs: t.int({ description: '100 to 60000; 15000 when left out.' }),
    retryPolicy: t.field({ type: RetryPolicyInput, description: 'How the request is retried.' }),
    callbackRetryPolicy: t.field({ type: RetryPolicyInput, description: 'How the callback is retried.' }),
    acceptedStatuses: t.intList({ description: 'Statuses that count as success; any 2xx when left out.' }),
  }),
});

/** GraphQL tells a null apart from a field left out; core's definition wants either as "the default". */
function toJobDefinition(input: typeof JobInput.$inferInput): JobDefinition {
  return {
    url: input.url,
    method: input.method ?? undefined,
    headers: input.headers ? Object.fromEntries(input.headers.map((h) => [h.name, h.value])) : undefined,
    body: input.body ?? null,
    bodyBase64: input.bodyBase64 ?? null,
    callbackUrl: input.callbackUrl ?? null,
    timeoutMs: input.timeoutMs ?? undefined,
    retryPolicy: input.retryPolicy ? stripNulls(input.retryPolicy) : undefined,
    callbackRetryPolicy: input.callbackRetryPolicy ? stripNulls(input.callbackRetryPolicy) : undefined,
    acceptedStatuses: input.acceptedStatuses ?? null,
  };
}

builder.mutationFields((t) => ({
  createJob: t.field({
    type: JobRef,
    description:
      'Needs jobs:write. The job is stored and its request made at once, then retried on its policy until it succeeds or runs out of attempts.',
    args: { input: t.arg({ type: JobInput, required: true }) },
    errors: { types: commonErrors, dataField: { name: 'job' } },
    resolve: async (_root, { input }, ctx) =>
      unwrap(await ctx.core.jobs.create(requirePrincipal(ctx), toJobDefinition(input))),
  }),
}));
