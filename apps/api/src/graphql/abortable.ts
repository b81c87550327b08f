/**
 * Wraps a stream so that the subscriber going away (graphql-ws calls `return()`) aborts it at
 * once, even while it is waiting for news rather than sitting at a `yield`.
 */
export function abortable<T>(start: (signal: AbortSignal) => AsyncGenerator<T>): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const inner = start(controller.signal);
  return {
    next: () => inner.next(),
    return: async (value?: unknown) => {
      controller.abort();
      await inner.return(undefined as never).catch(() => {});
      return { done: true, value: value as T };
    },
    throw: async (error?: unknown) => {
      controller.abort();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
