/**
 * How many messages, of those whose body sizes are given in page order, make a page within
 * `maxBytes`: at least one, so that a message larger than the bound is still read, alone.
 */
export function countWithinBytes(sizes: readonly number[], maxBytes: number): number {
  let bytes = 0;
  let count = 0;
  for (const size of sizes) {
    bytes += size;
    if (count > 0 && bytes > maxBytes) break;
    count += 1;
  }
  return count;
}
