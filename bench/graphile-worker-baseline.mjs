// The delivery baseline: graphile-worker draining the same jobs with a bare HTTP POST each, in its
// own process. Settings are those of graphile-worker's performance page (concurrency 24, local
// queue of 500, batched completion): the fastest configuration it documents, so that the ratio
// is against the best it can do here. No signature, no attempt log: only the POST.
import { Logger, run } from 'graphile-worker';
import { Agent, request } from 'undici';

const { DATABASE_URL, RECEIVER_URL } = process.env;
if (!DATABASE_URL || !RECEIVER_URL) throw new Error('DATABASE_URL and RECEIVER_URL are required');

// Keep-alive pool to the receiver, sized like Switchboard's sender.
const agent = new Agent({ connections: 128, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });

// graphile-worker logs every completed job at `info`; writing 20,000 lines would slow it down.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`${level}: ${message}\n`);
});

/** @type {import('graphile-worker').TaskList} */
const taskList = {
  post: async (payload) => {
    const { body } = /** @type {{ body: string }} */ (payload);
    const response = await request(RECEIVER_URL, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`HTTP ${response.statusCode}`);
  },
};

const runner = await run({
  taskList,
  noHandleSignals: true,
  preset: {
    worker: {
      connectionString: DATABASE_URL,
      concurrentJobs: 24,
      maxPoolSize: 25,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
      logger,
    },
  },
});

process.on('SIGTERM', () => {
  runner
    .stop()
    .then(() => agent.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
});
