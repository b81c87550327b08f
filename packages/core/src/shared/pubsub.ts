/** Postgres LISTEN/NOTIFY as core uses it; the database client provides it. */
export interface PubSub {
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
}

/** For tools that run alone (the CLI, unit tests): nothing to tell, nobody to hear. */
export const noPubSub: PubSub = {
  listen: async () => async () => {},
  notify: async () => {},
};

export const CHANNELS = {
  /** A queue was created, changed or removed: payload is its id. */
  queues: 'switchboard_queues',
  /** Messages were committed: payload is `{"queueId": "...", "lastSeq": n}`. */
  messages: 'switchboard_messages',
  /** A subscription was created, changed or removed. */
  subscriptions: 'switchboard_subscriptions',
  /** An event type was created or changed. */
  eventTypes: 'switchboard_event_types',
  /** A token (payload: its id, or `*` for all) may have lost its validity. */
  tokens: 'switchboard_tokens',
  /** Deliveries became due: workers should look. */
  deliveries: 'switchboard_deliveries',
  /** Jobs were created or cancelled: payload is a JSON array of their ids. */
  jobUpdates: 'switchboard_job_updates',
  /** Deliveries changed state: payload is a JSON array of their ids. */
  deliveryUpdates: 'switchboard_delivery_updates',
  /** Messages whose queue's actions are to run were committed: payload is the queue's id. */
  runs: 'switchboard_runs',
  /** Messages' action runs changed: payload is a JSON array of "queueId:seq" keys. */
  actionRuns: 'switchboard_action_runs',
} as const;
