/** 1,234 B, 12.3 KB, 4.5 MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes.toLocaleString('en')} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A time as the reader's clock shows it, to the second. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "5 s ago", "3 min ago", "2 h ago", or the date. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return formatTime(iso);
}

/** The body for display: JSON pretty-printed, text as it is, binary as base64 (and which it is). */
export function presentBody(body: string, base64: string, contentType: string | null | undefined) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  let text: string | null = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { kind: 'binary' as const, text: base64 };
  }
  const looksJson = contentType?.includes('json') || /^\s*[[{]/.test(text);
  if (looksJson) {
    try {
      return { kind: 'json' as const, text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { kind: 'text' as const, text: text ?? body };
}

/** A shell-quoted string for a curl command line. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A verification method as people read it: `STANDARD_WEBHOOKS` → "standard webhooks". */
export function methodLabel(method: string): string {
  return method.replaceAll('_', ' ').toLowerCase();
}
