/**
 * Items pushed by a producer (a notification handler) and taken by one consumer (a live stream),
 * keeping only the newest `limit` when the consumer reads slower than items come.
 */
export class PushQueue<T> {
  private items: T[] = [];
  private wake: (() => void) | null = null;

  constructor(private readonly limit: number) {}

  readonly push = (item: T): void => {
    this.items.push(item);
    if (this.items.length > this.limit) this.items.shift();
    this.wake?.();
  };

  /** Puts an item before every other (the state a stream starts from). */
  first(item: T): void {
    this.items.unshift(item);
    this.wake?.();
  }

  /** Every item as it comes, until `signal` aborts. */
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        if (this.items.length > 0) {
          yield this.items.shift() as T;
          continue;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
