import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

/**
 * Unknown keys in the config file. A misspelt key dropped in silence can leave a queue open
 * (`whitelist_ips` for `whitelist_ip`), so every object of the file is read strictly, and each
 * unknown key is reported at its own path with the closest key that is known there.
 *
 * zod reports unknown keys once per object, without the keys it knows; the error map below runs
 * while the schema is at hand and carries them in the issue's message, where `unknownKeyProblems`
 * reads them back. Paths inside a union's branch are relative to the branch, so the known keys
 * cannot be looked up by path afterwards.
 */
const MARK = 'known-keys:';

/** Pass as `safeParse(input, { error: rememberKnownKeys })` to any schema of the config file. */
export const rememberKnownKeys: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const shape = (issue.inst as { shape?: Record<string, unknown> } | undefined)?.shape;
  return `${MARK}${JSON.stringify(shape ? Object.keys(shape) : [])}`;
};

/** One problem per unknown key of an `unrecognized_keys` issue, at `<path>.<key>`. */
export function unknownKeyProblems(
  issue: z.core.$ZodIssueUnrecognizedKeys,
  path: PropertyKey[],
): Array<{ path: string; message: string }> {
  const known = readKnownKeys(issue.message);
  return issue.keys.map((key) => ({
    path: [...path, key].map(String).join('.'),
    message: describeUnknownKey(key, known),
  }));
}

export function describeUnknownKey(key: string, known: readonly string[]): string {
  const suggestion = suggestKey(key, known);
  if (suggestion) return `is not a known key; did you mean "${suggestion}"?`;
  if (known.length === 0) return 'is not a known key';
  return `is not a known key; known keys are ${known.join(', ')}`;
}

/** The known key a typo most likely meant: a few edits away, or one that contains it. */
export function suggestKey(key: string, known: readonly string[]): string | null {
  if (known.length === 0) return null;
  const lower = key.toLowerCase();
  const best = closest(lower, [...known]);
  if (distance(lower, best) <= Math.max(2, Math.floor(key.length / 3))) return best;
  // `header` for `header_name`: a shorter form of the key.
  const containing = known.filter((k) => lower.length >= 4 && (k.includes(lower) || lower.includes(k)));
  if (containing.length === 0) return null;
  return containing.reduce((a, b) => (distance(lower, a) <= distance(lower, b) ? a : b));
}

function readKnownKeys(message: string): string[] {
  if (!message.startsWith(MARK)) return [];
  try {
    const keys = JSON.parse(message.slice(MARK.length)) as unknown;
    return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}
