import { systemPrincipal } from '@switchboard/core';
import { eventually } from './delivery-fixtures.ts';
import type { TestServer } from './harness.ts';

/** A message's action run once it has ended (succeeded or failed); fails the test if it never does. */
export async function settledRun(server: TestServer, queue: string, seq = 1) {
  return eventually(
    async () => {
      const run = await server.core.actionRuns.find(systemPrincipal, queue, seq);
      if (!run.ok) throw new Error(run.error.message);
      return run.value;
    },
    (run) => run.status === 'succeeded' || run.status === 'failed',
  );
}
