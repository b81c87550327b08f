import { configure } from 'safe-stable-stringify';
import { hashSha256Hex } from '../shared/crypto.ts';

/** Types only Switchboard publishes: their audience rules hold because nobody else can send them. */
export const SYSTEM_EVENT_TYPES: ReadonlySet<string> = new Set(['subscription.disabled']);

/** A payload nested hundreds of thousands deep parses, but cannot be written out again. */
export function isSerializable(payload: unknown): boolean {
  try {
    JSON.stringify(payload);
    return true;
  } catch {
    return false;
  }
}

/** JSON with object keys sorted, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` hash alike. */
const canonicalJson = configure({ deterministic: true, circularValue: Error, bigint: false });

/** SHA-256 of the type and the canonical JSON of the payload: key order does not matter. */
export function hashContent(type: string, payload: unknown): string {
  return hashSha256Hex(`${type}\n${canonicalJson(payload) ?? 'null'}`);
}
