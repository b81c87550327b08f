/**
 * Postgres `text` and `jsonb` cannot hold U+0000: a statement carrying one fails with a server
 * error (22021, or 22P05 for jsonb). Every string from outside is checked against this rule
 * before it can reach a statement, so that the caller hears which field to change instead.
 */
export const NUL_PROBLEM = 'must not contain the NUL character (\\u0000)';
export const CONTROL_PROBLEM = 'must not contain control characters';

export interface TextProblem {
  path: string;
  message: string;
}

export function hasNul(text: string): boolean {
  return text.includes('\u0000');
}

/** C0 controls and DEL: names and ids are typed by people and never need them. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** For names and ids: NUL named as such, any other control character as one. */
export function identifierProblem(text: string, path: string): TextProblem | null {
  if (hasNul(text)) return { path, message: NUL_PROBLEM };
  return hasControlCharacter(text) ? { path, message: CONTROL_PROBLEM } : null;
}

function joinPath(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

/**
 * The first string (or object key) holding a NUL anywhere in `value`, by its dotted path under
 * `path`. Iterative, so that a hostile nesting depth cannot overflow the stack; `skip` names
 * paths whose content is stored as bytes, where a NUL is harmless.
 */
export function findNul(value: unknown, path = '', skip: ReadonlySet<string> = new Set()): TextProblem | null {
  const pending: Array<[unknown, string]> = [[value, path]];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const [current, at] = pending.pop() as [unknown, string];
    if (skip.has(at)) continue;
    if (typeof current === 'string') {
      if (hasNul(current)) return { path: at, message: NUL_PROBLEM };
      continue;
    }
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([current[i], joinPath(at, i)]);
      continue;
    }
    if (current instanceof Date || Buffer.isBuffer(current) || ArrayBuffer.isView(current)) continue;
    const entries = Object.entries(current);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, inner] = entries[i] as [string, unknown];
      if (hasNul(key)) return { path: joinPath(at, key.replaceAll('\u0000', '\\u0000')), message: NUL_PROBLEM };
      pending.push([inner, joinPath(at, key)]);
    }
  }
  return null;
}
