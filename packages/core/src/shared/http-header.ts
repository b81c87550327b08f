import { z } from 'zod';

/**
 * Header names and values that users give for outbound requests (subscriptions, jobs, the Webhook
 * As A Service route, config-file webhooks). A value with CR or LF would split the request
 * (header injection) and every HTTP client refuses to send it, so such a header is refused when it
 * is written, not discovered at each attempt.
 */

/** RFC 9110 `token`: what a field name may be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * RFC 9110 field-value characters as Node and undici accept them: tab, visible ASCII, space and
 * obs-text (Latin-1 0x80-0xFF). Everything else (CR, LF, NUL, other controls, DEL, characters past
 * Latin-1) cannot be sent as it is.
 */
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

export const HEADER_NAME_MESSAGE = "must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)";
export const HEADER_VALUE_MESSAGE = 'must not contain control characters (CR, LF, NUL…) or characters outside Latin-1';

/** Headers the HTTP client (undici) manages itself and refuses to take from the caller. */
export const CLIENT_MANAGED_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
];

export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

export function isHeaderValue(value: string): boolean {
  return !INVALID_VALUE_CHAR.test(value);
}

export const headerNameSchema = z.string().regex(TOKEN, HEADER_NAME_MESSAGE);

export function headerValueSchema(maxLength: number) {
  return z.string().max(maxLength).refine(isHeaderValue, HEADER_VALUE_MESSAGE);
}

/**
 * Names and values of a header map. Problems are reported at `<header name>`, as the value's
 * problem would be; a bad name is reported there too, so one path names one header.
 */
export function headersSchema(maxValueLength: number) {
  return z.record(z.string(), z.string()).superRefine((headers, ctx) => {
    for (const [name, value] of Object.entries(headers)) {
      if (!isHeaderName(name)) ctx.addIssue({ code: 'custom', path: [name], message: HEADER_NAME_MESSAGE });
      else if (value.length > maxValueLength)
        ctx.addIssue({ code: 'custom', path: [name], message: `must be at most ${maxValueLength} characters` });
      else if (!isHeaderValue(value)) ctx.addIssue({ code: 'custom', path: [name], message: HEADER_VALUE_MESSAGE });
    }
  });
}

/** The first header that cannot be sent as it is, by name only (its value may be a secret). */
export function findUnsendableHeader(headers: Record<string, string>): string | null {
  for (const [name, value] of Object.entries(headers)) {
    if (!isHeaderName(name)) return `header name ${JSON.stringify(name.slice(0, 64))} ${HEADER_NAME_MESSAGE}`;
    if (CLIENT_MANAGED_HEADERS.includes(name.toLowerCase())) return `header "${name}" cannot be set: HTTP manages it`;
    if (typeof value !== 'string' || !isHeaderValue(value))
      return `the value of header "${name}" ${HEADER_VALUE_MESSAGE}`;
  }
  return null;
}
