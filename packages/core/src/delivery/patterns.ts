/**
 * Event-type patterns of subscriptions: `invoice.paid` matches itself; `*` as a segment matches one
 * segment (`*.created`); a trailing `*` matches one or more (`invoice.*` takes `invoice.paid` and
 * `invoice.payment.failed`); `*` alone matches every type.
 */
export const PATTERN = /^(\*|[a-z0-9][a-z0-9_-]*)(\.(\*|[a-z0-9][a-z0-9_-]*))*$/;

export function isValidPattern(pattern: string): boolean {
  return pattern.length <= 200 && PATTERN.test(pattern);
}

export function matchesPattern(pattern: string, eventType: string): boolean {
  const wanted = pattern.split('.');
  const actual = eventType.split('.');
  for (let i = 0; i < wanted.length; i++) {
    const segment = wanted[i];
    const last = i === wanted.length - 1;
    if (segment === '*' && last) return actual.length > i;
    if (i >= actual.length) return false;
    if (segment !== '*' && segment !== actual[i]) return false;
  }
  return wanted.length === actual.length;
}
