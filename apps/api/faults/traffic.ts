/**
 * A bounded, steady stream of ingests, publishes and GraphQL queries against one server, every
 * request recorded with its start, end, status and Retry-After, so that a fault test can judge
 * each request against the moment the database failed or came back.
 */
export type RequestKind = 'ingest' | 'publish' | 'graphql';

export interface Sample {
  kind: RequestKind;
  startedAt: number;
  endedAt: number;
  /** 0 when no answer came (refused, cut off or timed out). */
  status: number;
  retryAfter: string | null;
  /** For GraphQL: the first error's code. */
  errorCode?: string | undefined;
  /** For a 2xx ingest: the message's sequence number and body; for a 2xx publish: the event's id. */
  acknowledged?: { seq: number; body: string } | { eventId: string } | undefined;
}

export interface TrafficTarget {
  url: string;
  queue: string;
  eventType: string;
  /** Authorization for publish and GraphQL. */
  authorization: string;
}

export interface Traffic {
  readonly samples: Sample[];
  /** Resolves once every loop has stopped and every request has an outcome. */
  stop(): Promise<void>;
  /** The first sample of a kind that matches, waited for up to `timeoutMs`. */
  waitFor(what: string, predicate: (sample: Sample) => boolean, timeoutMs: number): Promise<Sample>;
  /** Resolves once no request started before `time` is still waiting for its answer. */
  settled(time: number, timeoutMs: number): Promise<void>;
}

const PACE_MS = 40;
/** No request waits longer than this, so that a test of a hanging server still ends. */
const REQUEST_TIMEOUT_MS = 30_000;
/** The whole stream is bounded in count as well as in time. */
const MAX_REQUESTS_PER_LOOP = 5_000;

const GRAPHQL_QUERY = 'query($name: String!) { queue(name: $name) { messages(first: 1) { edges { node { seq } } } } }';

export function startTraffic(target: TrafficTarget, loops: Record<RequestKind, number>): Traffic {
  const samples: Sample[] = [];
  let stopped = false;
  let counter = 0;

  const inFlight = new Set<{ startedAt: number }>();

  const send = async (kind: RequestKind): Promise<Sample> => {
    const startedAt = Date.now();
    const request = { startedAt };
    inFlight.add(request);
    try {
      return await attempt(kind, startedAt);
    } finally {
      inFlight.delete(request);
    }
  };

  const attempt = async (kind: RequestKind, startedAt: number): Promise<Sample> => {
    const n = counter++;
    const base = { kind, startedAt };
    try {
      const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      if (kind === 'ingest') {
        const body = JSON.stringify({ n, at: startedAt });
        const response = await fetch(`${target.url}/q/${target.queue}`, { method: 'POST', body, signal });
        const answer = (await response.json().catch(() => ({}))) as { id?: number };
        return {
          ...base,
          endedAt: Date.now(),
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          acknowledged: response.ok && typeof answer.id === 'number' ? { seq: answer.id, body } : undefined,
        };
      }
      if (kind === 'publish') {
        const response = await fetch(`${target.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: target.authorization },
          body: JSON.stringify({ type: target.eventType, payload: { n } }),
          signal,
        });
        const answer = (await response.json().catch(() => ({}))) as { id?: string };
        return {
          ...base,
          endedAt: Date.now(),
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          acknowledged: response.ok && answer.id ? { eventId: answer.id } : undefined,
        };
      }
      const response = await fetch(`${target.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json;q=0.9',
          authorization: target.authorization,
        },
        body: JSON.stringify({ query: GRAPHQL_QUERY, variables: { name: target.queue } }),
        signal,
      });
      const answer = (await response.json().catch(() => ({}))) as {
        errors?: Array<{ extensions?: { code?: string } }>;
      };
      const errorCode = answer.errors?.[0]?.extensions?.code;
      return {
        ...base,
        endedAt: Date.now(),
        // A GraphQL answer with errors is not a success, whatever its status.
        status: response.status === 200 && answer.errors?.length ? 500 : response.status,
        retryAfter: response.headers.get('retry-after'),
        errorCode,
      };
    } catch {
      return { ...base, endedAt: Date.now(), status: 0, retryAfter: null };
    }
  };

  const loop = async (kind: RequestKind) => {
    for (let i = 0; i < MAX_REQUESTS_PER_LOOP && !stopped; i++) {
      samples.push(await send(kind));
      await new Promise((resolve) => setTimeout(resolve, PACE_MS));
    }
  };
  const running = Promise.all(
    (Object.entries(loops) as Array<[RequestKind, number]>).flatMap(([kind, count]) =>
      Array.from({ length: count }, () => loop(kind)),
    ),
  );

  return {
    samples,
    async stop() {
      stopped = true;
      await running;
    },
    async settled(time, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while ([...inFlight].some((request) => request.startedAt <= time)) {
        if (Date.now() > deadline)
          throw new Error(`requests started before the return still unanswered after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async waitFor(what, predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = samples.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          const recent = samples.slice(-5).map((s) => `${s.kind} ${s.status} ${s.errorCode ?? ''}`);
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last answers: ${recent.join(', ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
