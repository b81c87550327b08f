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

/**
 * An upper bound of the length of `JSON.stringify(body.toString('utf8'))`: a control byte is
 * escaped to at most six characters, a quote or a backslash to two, and every other byte adds at
 * most one (a multi-byte sequence decodes to fewer characters than it has bytes; an invalid one
 * to one U+FFFD per byte).
 */
export function renderedLengthBound(body: Uint8Array): number {
  let length = 2;
  for (const byte of body) {
    if (byte < 0x20)
      length += byte === 0x08 || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d ? 2 : 6;
    else if (byte === 0x22 || byte === 0x5c) length += 2;
    else length += 1;
  }
  return length;
}
