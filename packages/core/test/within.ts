/**
 * Waits for `promise`, failing with what was awaited if it takes longer than `ms`: a test that
 * waits for an event fails by naming it, not by the test's own timeout or a later assertion.
 */
export async function within<T>(ms: number, awaited: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${awaited}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
