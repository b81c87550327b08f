import { isUtf8 } from 'node:buffer';

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

/** The member that carries a body that is not UTF-8 in the Webhook Queue's `MessageList` (see `toMessageListEntry`). */
const BASE64_MEMBER = ',"message_base64":';

/** Characters of a body's base64 as a JSON string: four a three bytes, padded, and two quotes. */
function base64StringLength(bytes: number): number {
  return 4 * Math.ceil(bytes / 3) + 2;
}

/**
 * An upper bound of the characters any body of `bytes` bytes takes once rendered (see
 * `renderedLengthBound`), known without reading it: six characters a byte as text, plus its
 * base64. Only a body over a rendering limit by this needs the scan.
 */
export function renderedLengthCeiling(bytes: number): number {
  return bytes * 6 + 2 + BASE64_MEMBER.length + base64StringLength(bytes);
}

/**
 * An upper bound of the characters a body takes in a `MessageList`: the length of
 * `JSON.stringify(body.toString('utf8'))`, and for a body that is not valid UTF-8 also its
 * `"message_base64"` member (4/3 of the body). As text, a control byte is escaped to at most six
 * characters, a quote or a backslash to two, and every other byte adds at most one (a multi-byte
 * sequence decodes to fewer characters than it has bytes; an invalid one to one U+FFFD per byte).
 */
export function renderedLengthBound(body: Uint8Array): number {
  let length = 2;
  for (const byte of body) {
    if (byte < 0x20)
      length += byte === 0x08 || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d ? 2 : 6;
    else if (byte === 0x22 || byte === 0x5c) length += 2;
    else length += 1;
  }
  if (!isUtf8(body)) length += BASE64_MEMBER.length + base64StringLength(body.length);
  return length;
}
