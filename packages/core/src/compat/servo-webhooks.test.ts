import { describe, expect, it } from 'vitest';
import { parseConfigFile } from '../config/config-file.ts';
import { toSubscriptionName } from './servo-webhooks.ts';

const hook = (extra: string) =>
  `  - events: [after:measure]\n    url: https://example.com/hook\n    secret: a-secret-long-enough\n${extra}`;

function problemsOf(text: string) {
  const parsed = parseConfigFile(text);
  if (parsed.ok) throw new Error('the file was accepted');
  return parsed.error.fields ?? [];
}

function namesOf(text: string) {
  const parsed = parseConfigFile(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value.webhooks.subscriptions.map((s) => s.definition.name);
}

describe('servo-webhooks entries of the config file', () => {
  it('maps names into the subscription name rule', () => {
    expect(toSubscriptionName('my_measure_handler')).toBe('my_measure_handler');
    expect(toSubscriptionName('my:handler!')).toBe('my_handler_');
    expect(toSubscriptionName('__private hook')).toBe('private hook');
    expect(toSubscriptionName('élan')).toBe('lan');
    expect(toSubscriptionName('!!!')).toBe('');
    expect(toSubscriptionName('x'.repeat(200))).toHaveLength(93);
  });

  it('derives names from the URL, numbering those that would clash, and suffixes the before: half', () => {
    const names = namesOf(
      `webhooks:\n${hook('')}${hook('')}  - name: both\n    events: [before:adjust, after:adjust]\n    url: https://example.com/x\n    secret: s\n`,
    );
    expect(names).toEqual(['example.com_hook', 'example.com_hook 2', 'both', 'both before']);
  });

  it('refuses two webhooks that end up with the same subscription name', () => {
    const problems = problemsOf(`webhooks:\n${hook('    name: "a:b"\n')}${hook('    name: "a/b"\n')}`);
    expect(problems).toEqual([
      { path: 'webhooks.1.name', message: expect.stringContaining('"a_b", as webhooks.0 does') },
    ]);
    const twin = problemsOf(
      `webhooks:\n${hook('    name: x before\n')}  - name: x\n    events: [before:a, after:a]\n    url: https://example.com/x\n    secret: s\n`,
    );
    expect(twin.map((p) => p.path)).toEqual(['webhooks.0.name']);
  });

  it('reports problems under the servo keys, every entry at once', () => {
    const problems = problemsOf(`webhooks:
  - events: [during:measure]
    url: https://example.com/a
    secret: s
    backoff: { max_tries: 99, max_time: soon }
  - events: after:measure
    url: https://example.com/b
    backoff: maybe
    headers: [{ name: x-a }]
    colour: red
  - events: [after:measure]
    url: ftp://example.com/c
    secret: s
    headers: { content-type: text/plain }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'webhooks.0.events.0', message: expect.stringContaining('before:<event> or after:<event>') },
        { path: 'webhooks.0.backoff.max_time', message: 'must be a duration such as 30s, 5m or 2h' },
        { path: 'webhooks.0.backoff.max_tries', message: expect.stringContaining('50') },
        { path: 'webhooks.1.colour', message: expect.stringMatching(/^is not a known key; known keys are name, /) },
        { path: 'webhooks.1.events', message: 'must be a list, such as [after:measure]' },
        { path: 'webhooks.1.secret', message: 'is required' },
        { path: 'webhooks.1.backoff', message: 'must be true, false, or max_tries and max_time' },
        { path: 'webhooks.1.headers.0.value', message: 'is required' },
        { path: 'webhooks.2.url', message: 'must be an http(s) URL without credentials in it' },
        { path: 'webhooks.2.headers', message: expect.stringContaining('may not set') },
      ]),
    );
  });

  it('reads backoff: true as the default schedule, a bare max_time as seconds, headers as a mapping', () => {
    const parsed = parseConfigFile(
      `webhooks:\n${hook('    backoff: true\n')}${hook('    name: b\n    backoff: { max_time: 90 }\n    headers: { x-a: "1" }\n')}`,
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
    const [first, second] = parsed.value.webhooks.subscriptions;
    expect(first?.definition.retryPolicy).toEqual({});
    expect(second?.definition).toMatchObject({ retryPolicy: { maxTotalMs: 90_000 }, headers: { 'x-a': '1' } });
    expect(parsed.value.webhooks.eventTypes).toEqual(['measure']);
    expect(parsed.value.notices).toEqual([]);
  });
});
