// autocannon ships no types and @types/autocannon is not a dependency: only what bench/ uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Options {
    url: string;
    method?: string;
    connections?: number;
    duration?: number;
    headers?: Record<string, string>;
    body?: string | Buffer;
    setupClient?: (client: EventEmitter) => void;
  }
  interface Result {
    requests: { average: number; sent: number };
    latency: { p50: number; p99: number };
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  }
  export default function autocannon(options: Options): Promise<Result>;
}
