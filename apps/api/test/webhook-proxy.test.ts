import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { systemPrincipal } from '@switchboard/core';
import { webhookProxyExample } from '@switchboard/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './delivery-fixtures.ts';
import { startTestServer, type TestServer } from './harness.ts';

/**
 * webhook-proxy's README examples, from its own YAML as it stands, served by Switchboard: each
 * endpoint is a queue at its own path that answers as webhook-proxy did (`200 OK`, `400 No
 * payload`, `409 Invalid payload`, `500 Internal Server Error`), with its rules and its actions.
 */

const SHORT_EXAMPLE = webhookProxyExample('readme-short');
const GITHUB_EXAMPLE = webhookProxyExample('readme-github');

/** What Jinja2 renders from the log template above for fixtures/github-push.json (checked with Jinja2 3.1). */
const GITHUB_LOG =
  'Received a GitHub push from the sample/hello-world repo:\n- Pushed by octocat <octocat@github.com>\n- Commits included:\n\n+   0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\n+   Mona Lisa at 2026-12-01T16:20:41-08:00\n+   Update README.md\n\n\n+   76ae82b4d3a1e7c98f2b1a0c5d6e7f8091a2b3c4\n+   GitHub at 2026-12-01T16:25:02-08:00\n+   Add the parser; quote "it" & <tags>\n\n\nCheck this change out at https://github.com/sample/hello-world/compare/6113728f27ae...76ae82b4d3a1';

const GITHUB_SECRET = 'It is a secret to everybody';
const PUSH = readFileSync(new URL('./fixtures/github-push.json', import.meta.url));

const githubHeaders = (body: Buffer, secret = GITHUB_SECRET) => ({
  'content-type': 'application/json',
  'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  'x-github-event': 'push',
  'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
});

async function send(
  server: TestServer,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body: Buffer.isBuffer(body) ? new Uint8Array(body) : body,
    headers,
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function queueCount(server: TestServer, name: string): Promise<number> {
  const queue = await server.core.queues.getByName(systemPrincipal, name);
  if (!queue.ok) throw new Error(queue.error.message);
  return queue.value.messageCount;
}

async function runOf(server: TestServer, queue: string, seq: number) {
  const run = await server.core.actionRuns.find(systemPrincipal, queue, seq);
  if (!run.ok) throw new Error(run.error.message);
  return run.value;
}

describe("webhook-proxy's README examples, from its YAML unchanged", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ actions: { env: { GITHUB_SECRET } } });
  });
  afterAll(() => server.close());

  it('serves the short example at its own path: header rule, nested body rule, list elements one by one', async () => {
    const applied = await server.core.config.apply(SHORT_EXAMPLE);
    expect(applied.ok, JSON.stringify(applied)).toBe(true);
    const good = JSON.stringify({
      project: {
        name: 'regex for project.name in the JSON payload!',
        items: [{ name: 'example_12' }, { name: 'example_7' }],
      },
    });
    const headers = { 'content-type': 'application/json', 'x-sender': 'regex for X-Sender HTTP header' };
    expect(await send(server, '/endpoint/path', good, headers)).toEqual({
      status: 200,
      type: 'text/plain',
      text: 'OK\n',
    });
    expect(await queueCount(server, 'endpoint-path')).toBe(1);
    const run = await runOf(server, 'endpoint-path', 1);
    expect(run.status).toBe('succeeded');
    expect(run.actions.map((a) => [a.action, a.status, a.output])).toEqual([
      ['log', 'succeeded', 'Processing /endpoint/path ...'],
    ]);

    // One list element that fails its rule refuses the whole request, which is not stored.
    const badItem = JSON.stringify({
      project: {
        name: 'regex for project.name in the JSON payload',
        items: [{ name: 'example_1' }, { name: 'sample_2' }],
      },
    });
    expect(await send(server, '/endpoint/path', badItem, headers)).toEqual({
      status: 409,
      type: 'text/plain',
      text: 'Invalid payload',
    });
    expect(await send(server, '/endpoint/path', good, { ...headers, 'x-sender': 'somebody else' })).toMatchObject({
      status: 409,
    });
    expect(await send(server, '/endpoint/path', 'not json', headers)).toEqual({
      status: 400,
      type: 'text/plain',
      text: 'No payload',
    });
    expect(await send(server, '/endpoint/path', '{}', headers)).toMatchObject({ status: 400, text: 'No payload' });
    expect(await queueCount(server, 'endpoint-path')).toBe(1);
    // The route takes its method only, as Flask's did.
    const get = await fetch(`${server.url}/endpoint/path`);
    expect(get.status).toBe(405);
  });

  it('runs the GitHub push example end to end: rules, the multi-line log template, github-verify from GITHUB_SECRET', async () => {
    const applied = await server.core.config.apply(GITHUB_EXAMPLE);
    expect(applied.ok, JSON.stringify(applied)).toBe(true);
    expect(await send(server, '/github', PUSH, githubHeaders(PUSH))).toEqual({
      status: 200,
      type: 'text/plain',
      text: 'OK\n',
    });
    const run = await runOf(server, 'github', 1);
    expect(run.status).toBe('succeeded');
    expect(run.actions.map((a) => [a.action, a.status])).toEqual([
      ['log', 'succeeded'],
      ['github-verify', 'succeeded'],
    ]);
    expect(run.actions[0]?.output).toBe(GITHUB_LOG);

    // A wrong signature fails the action after the log: webhook-proxy answers 500; the message is
    // stored (it passed the rules) with its failed run, which an admin can see and run again.
    const forged = await send(server, '/github', PUSH, githubHeaders(PUSH, 'not the secret'));
    expect(forged).toEqual({ status: 500, type: 'text/plain', text: 'Internal Server Error' });
    const failed = await runOf(server, 'github', 2);
    expect(failed.status).toBe('failed');
    expect(failed.actions[1]).toMatchObject({ action: 'github-verify', status: 'failed' });
    expect(failed.error).toMatch(/github-verify \(action 2\) failed: github signature/);

    // Another event, or a commit id that is not 40 hex digits, is refused by the rules and not stored.
    const before = await queueCount(server, 'github');
    expect(await send(server, '/github', PUSH, { ...githubHeaders(PUSH), 'x-github-event': 'issues' })).toMatchObject({
      status: 409,
    });
    const push = JSON.parse(PUSH.toString());
    push.commits[1].id = 'not-a-commit';
    const bad = Buffer.from(JSON.stringify(push));
    expect(await send(server, '/github', bad, githubHeaders(bad))).toMatchObject({
      status: 409,
      text: 'Invalid payload',
    });
    expect(await queueCount(server, 'github')).toBe(before);
  });

  it('changes nothing when one endpoint of the file has an action that does not compile', async () => {
    const before = await server.core.queues.list(systemPrincipal);
    const broken = `endpoints:
  - /first-of-two:
      actions:
        - log:
            message: 'fine'
  - /second-of-two:
      actions:
        - log:
            message: '{% for x in y %}never closed'
`;
    const applied = await server.core.config.apply(broken);
    expect(applied.ok).toBe(false);
    if (applied.ok) return;
    expect(applied.error.message).toMatch(/^Queue "second-of-two": /);
    expect(applied.error.fields?.[0]?.path).toBe('second-of-two.actions[0].log.message');
    const after = await server.core.queues.list(systemPrincipal);
    expect(after.ok && after.value.map((q) => q.name)).toEqual(before.ok && before.value.map((q) => q.name));
  });

  it('keeps serving /github after the file is applied again, and drops the path when the file drops the endpoint', async () => {
    expect((await server.core.config.apply(GITHUB_EXAMPLE)).ok).toBe(true);
    expect(await send(server, '/github', PUSH, githubHeaders(PUSH))).toMatchObject({ status: 200 });
    expect((await server.core.config.apply(SHORT_EXAMPLE)).ok).toBe(true);
    await eventually(
      () => fetch(`${server.url}/github`, { method: 'POST', body: '{}' }).then((r) => r.status),
      (status) => status === 404,
    );
  });
});
