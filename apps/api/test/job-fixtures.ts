import { eventually, startDeliveryServer } from './delivery-fixtures.ts';
import { factories, gql } from './harness.ts';

export const CREATE_JOB = `mutation($input: JobInput!) {
  createJob(input: $input) {
    __typename
    ... on CreateJobSuccess { job { id state attemptCount userId } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
export const JOB = `query($id: ID!) { job(id: $id) {
  id userId url method headers { name value } body bodyBase64 callbackUrl timeoutMs
  retryPolicy { scheduleMs maxAttempts maxTotalMs } acceptedStatuses state attemptCount lastStatusCode lastError
  responseHeaders { name value } responseBody responseBodyBase64 responseTruncated
  notifyState notifyStatusCode notifyError finishedAt createdAt
  attempts { number statusCode responseBody succeeded error }
} }`;
export const JOBS = `query($state: [JobState!], $since: DateTime, $until: DateTime,
  $first: Int, $after: String, $last: Int, $before: String) {
  jobs(state: $state, since: $since, until: $until, first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id state } }
  }
}`;
export const CANCEL_JOB = `mutation($id: ID!) {
  cancelJob(id: $id) { __typename ... on CancelJobSuccess { job { id state notifyState } } ... on Error { message } }
}`;
export const SIGNING_SECRET = '{ jobSigningSecret }';
export const ROTATE_SIGNING_SECRET = `mutation { rotateJobSigningSecret {
  __typename ... on RotateJobSigningSecretSuccess { secret } ... on Error { message }
} }`;
export const JOB_UPDATES =
  'subscription($id: ID!) { jobUpdates(id: $id) { id state notifyState attempts { statusCode } } }';

/**
 * A server whose worker runs jobs against a local receiver (see startDeliveryServer), three
 * members, and helpers that go through GraphQL as one of them.
 */
export async function startJobsServer() {
  const env = await startDeliveryServer();
  const make = factories(env.server.core);
  const [alice, bob, carol] = [await make.user(), await make.user(), await make.user()];
  const as = async (authorization: string, query: string, variables: Record<string, unknown> = {}) =>
    (await gql(env.server, query, { authorization, variables })).body;
  return {
    ...env,
    alice,
    bob,
    carol,
    as,
    url: (path: string) => `${env.receiver.url}${path}`,
    /** Creates a job and answers its id; fails the test otherwise. */
    async create(authorization: string, input: Record<string, unknown>): Promise<string> {
      const result = (await as(authorization, CREATE_JOB, { input })).data?.createJob;
      if (result?.__typename !== 'CreateJobSuccess') throw new Error(`not created: ${JSON.stringify(result)}`);
      return result.job.id;
    },
    /** Reads the job until `done` holds for it. */
    settled: (authorization: string, id: string, done: (job: any) => boolean) =>
      eventually(
        async () => (await as(authorization, JOB, { id })).data?.job,
        (job) => job !== undefined && done(job),
      ),
    /** The ids `jobs` answers, a page of up to 100 unless told. */
    listed: async (authorization: string, variables: Record<string, unknown> = {}): Promise<string[] | undefined> =>
      (await as(authorization, JOBS, { first: 100, ...variables })).data?.jobs.edges.map(
        (e: { node: { id: string } }) => e.node.id,
      ),
  };
}
