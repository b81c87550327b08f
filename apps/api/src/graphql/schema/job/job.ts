import { resolveCursorConnection } from '@pothos/plugin-relay';
import { JOB_METHODS, type Job, type JobId, jobCursor, type RetryPolicy } from '@switchboard/core';
import { abortable } from '../../abortable.ts';
import { builder } from '../../builder.ts';
import { type GraphQLContext, requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { parseJobCursor, parseUuid } from '../common/ids.ts';
import { DeliveryAttemptRef } from '../delivery/delivery-attempt.ts';
import { HeaderRef } from '../queue/message.ts';
import { RetryPolicyRef } from '../subscription/subscription.ts';
import { UserRef } from '../user/user.ts';

export const HttpMethodEnum = builder.enumType('HttpMethod', { values: JOB_METHODS });

export const JobStateEnum = builder.enumType('JobState', {
  values: {
    ACCEPTED: { value: 'accepted', description: 'Stored; its first attempt has not started.' },
    RUNNING: { value: 'running', description: 'An attempt is under way.' },
    RETRYING: { value: 'retrying', description: 'An attempt failed; the next one waits on the retry policy.' },
    SUCCEEDED: { value: 'succeeded', description: 'The service answered with an accepted status.' },
    FAILED: { value: 'failed', description: 'No attempts left.' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

export const JobNotifyStateEnum = builder.enumType('JobNotifyState', {
  description: 'Where the report to the callback URL stands, once the job has ended.',
  values: {
    PENDING: { value: 'pending', description: 'Being sent, or waiting for its next attempt.' },
    NOTIFIED: { value: 'notified', description: 'The callback URL answered 2xx.' },
    NOTIFY_FAILED: { value: 'notify_failed', description: 'The callback retry policy ran out.' },
  } as const,
});

/** Core keeps a job's bodies as bytes: shown as text for people and as base64 for the exact bytes. */
const asText = (bytes: Buffer | null) => bytes?.toString('utf8') ?? null;
const asBase64 = (bytes: Buffer | null) => bytes?.toString('base64') ?? null;

export const JobRef = builder.objectRef<Job>('Job').implement({
  description:
    'An HTTP request Switchboard makes for you, retried on its policy, whose outcome it then reports to your callback URL.',
  fields: (t) => ({
    id: t.exposeID('id'),
    userId: t.exposeID('userId'),
    user: t.field({ type: UserRef, resolve: (j) => j.userId }),
    url: t.exposeString('url'),
    // Core accepts only these methods, so what it stores is always one of them.
    method: t.field({ type: HttpMethodEnum, resolve: (j) => j.method as (typeof JOB_METHODS)[number] }),
    headers: t.field({ type: [HeaderRef], resolve: (j) => Object.entries(j.headers) }),
    body: t.string({
      nullable: true,
      description:
        'The request body as UTF-8 text (bytes that are not UTF-8 are replaced); see bodyBase64 for the exact bytes.',
      resolve: (j) => asText(j.body),
    }),
    bodyBase64: t.string({ nullable: true, resolve: (j) => asBase64(j.body) }),
    callbackUrl: t.exposeString('callbackUrl', { nullable: true }),
    timeoutMs: t.exposeInt('timeoutMs'),
    // Core stored these after checking them against its retry policy schema.
    retryPolicy: t.field({ type: RetryPolicyRef, resolve: (j) => j.retryPolicy as RetryPolicy }),
    callbackRetryPolicy: t.field({ type: RetryPolicyRef, resolve: (j) => j.callbackRetryPolicy as RetryPolicy }),
    acceptedStatuses: t.intList({
      nullable: true,
      description: 'Statuses that count as success; null: any 2xx.',
      resolve: (j) => j.acceptedStatuses,
    }),
    state: t.field({ type: JobStateEnum, resolve: (j) => j.state }),
    attemptCount: t.exposeInt('attempts', { description: 'Attempts started so far.' }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    responseHeaders: t.field({
      type: [HeaderRef],
      nullable: true,
      description: 'Of the last response.',
      resolve: (j) => (j.responseHeaders ? Object.entries(j.responseHeaders) : null),
    }),
    responseBody: t.string({
      nullable: true,
      description:
        'The last response body as UTF-8 text (bytes that are not UTF-8 are replaced); see responseBodyBase64 for the exact bytes.',
      resolve: (j) => asText(j.responseBody),
    }),
    responseBodyBase64: t.string({ nullable: true, resolve: (j) => asBase64(j.responseBody) }),
    responseTruncated: t.exposeBoolean('responseTruncated', {
      description: 'Only the start of a long response body is kept.',
    }),
    notifyState: t.field({
      type: JobNotifyStateEnum,
      nullable: true,
      description: 'Null while there is nothing to report: no callback URL, or the job has not ended.',
      resolve: (j) => j.notifyState,
    }),
    notifyStatusCode: t.exposeInt('notifyStatusCode', { nullable: true }),
    notifyError: t.exposeString('notifyError', { nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    attempts: t.loadableList({
      type: DeliveryAttemptRef,
      description: 'Every attempt of the request, oldest first.',
      // Not cached: a graphql-ws subscription keeps one context for all its updates (see Delivery.attempts).
      loaderOptions: { cache: false },
      load: async (ids: JobId[], ctx: GraphQLContext) => {
        const attempts = await ctx.core.jobs.attemptsOf(ids);
        return ids.map((id) => attempts.get(id) ?? []);
      },
      resolve: (j) => j.id,
    }),
  }),
});

const JobConnection = builder.connectionObject({ type: JobRef, name: 'JobConnection' }, { name: 'JobEdge' });

builder.queryFields((t) => ({
  jobs: t.connection(
    {
      type: JobRef,
      description:
        "Your jobs (admins: everyone's), newest first. `since` is inclusive, `until` exclusive, both on the creation time.",
      args: {
        state: t.arg({ type: [JobStateEnum] }),
        since: t.arg({ type: 'DateTime' }),
        until: t.arg({ type: 'DateTime' }),
      },
      resolve: (_root, args, ctx) => {
        const principal = requirePrincipal(ctx);
        const filter = {
          state: args.state ?? undefined,
          since: args.since ?? undefined,
          until: args.until ?? undefined,
        };
        return resolveCursorConnection<Promise<Job[]>>(
          { args, toCursor: jobCursor },
          async ({ before, after, limit, inverted }) =>
            unwrapQuery(
              await ctx.core.jobs.list(principal, filter, {
                after: parseJobCursor(after),
                before: parseJobCursor(before),
                limit,
                inverted,
              }),
            ),
        );
      },
    },
    JobConnection,
  ),
  job: t.field({
    type: JobRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.jobs.get(requirePrincipal(ctx), parseUuid(args.id, 'The job id'))),
  }),
}));

builder.mutationFields((t) => ({
  cancelJob: t.field({
    type: JobRef,
    description:
      'Stops a job that has not ended: it is not tried again, and its callback URL is told it was cancelled. An attempt already under way runs to its end but no longer changes the job. A job that has ended is a ConflictError.',
    args: { id: t.arg.id({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'job' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.jobs.cancel(requirePrincipal(ctx), parseUuid(args.id, 'The job id'))),
  }),
}));

builder.subscriptionFields((t) => ({
  jobUpdates: t.field({
    type: JobRef,
    description: 'The job as it is now, then again on every change: each attempt, its end, and its callback.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const principal = requirePrincipal(ctx);
      const job = unwrapQuery(await ctx.core.jobUpdates.open(principal, parseUuid(args.id, 'The job id')));
      return abortable((signal) => ctx.core.jobUpdates.follow(job, signal));
    },
    resolve: (job) => job,
  }),
}));
