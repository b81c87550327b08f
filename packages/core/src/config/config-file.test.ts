import { describe, expect, it } from 'vitest';
import { webhookProxyExample } from '../testing.ts';
import { parseConfigFile } from './config-file.ts';

function problemsOf(text: string) {
  const parsed = parseConfigFile(text);
  if (parsed.ok) throw new Error('the file was accepted');
  return parsed.error.fields ?? [];
}

/** The Webhook Queue's sample file from its README, without the comments. */
const WEBHOOK_QUEUE_SAMPLE = JSON.stringify({
  listen_host: '0.0.0.0',
  listen_port: 8080,
  users: [{ name: 'John Doe', pass_hash: 'plain;;insecure', can_reload: false, queues: ['foo'] }],
  queues: [
    {
      name: 'foo',
      whitelist_ip: ['127.0.0.1'],
      auth: { method: 'hmac-sha256', key: '12345', header_name: 'Foo-Auth' },
      max_message_count: 10,
      max_message_size: 1000,
      max_queue_size: 5000,
    },
  ],
  max_message_count: 100,
  max_message_size: 10000,
  max_queue_size: 500000,
});

/** servo-webhooks' README example, as it stands. */
const SERVO_SAMPLE = `
webhooks:
  - name: my_measure_handler # Optional. Name of the webhook.
    description: Store measurement info into Elastic Search.
    events:
    - after:measure
    url: https://example.com/webhooks
    secret: s3cr3t
    headers:
      - name: x-some-header
        value: some value
    backoff:
      max_tries: 3
      max_time: 5m
`;

/** webhook-proxy's README: the short example under "Configuration", as it stands. */
const WEBHOOK_PROXY_SAMPLE = webhookProxyExample('readme-short');

describe('the config file refuses keys it does not know', () => {
  it('finding 11: a misspelt key inside a queue refuses the file, naming its path and the closest known key', () => {
    const problems = problemsOf(
      JSON.stringify({ queues: [{ name: 'open', whitelist_ips: ['10.0.0.1'] }, { name: 'fine' }] }),
    );
    expect(problems).toEqual([
      { path: 'queues.0.whitelist_ips', message: 'is not a known key; did you mean "whitelist_ip"?' },
    ]);
  });

  it('finding 11: unknown keys are refused at every level, each by its path, with a suggestion only when one is close', () => {
    // The file's own objects are read first; a file refused there reports all of their problems.
    expect(
      problemsOf(`
max_mesage_size: 10
users:
  - { name: ann, pass_hash: "plain;;pw", can_relaod: true }
queues:
  - name: a
    auth: { method: hmac-sha256, key: k, header: X-Sig }
zebra: 1
`),
    ).toEqual([
      { path: 'users.0.can_relaod', message: 'is not a known key; did you mean "can_reload"?' },
      { path: 'queues.0.auth.header', message: 'is not a known key; did you mean "header_name"?' },
      { path: 'max_mesage_size', message: 'is not a known key; did you mean "max_message_size"?' },
      { path: 'zebra', message: expect.stringMatching(/^is not a known key; known keys are listen_host, /) },
    ]);
    // Then what becomes queues and subscriptions: every queue and webhook at once.
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    expect(
      problemsOf(`
queues:
  - name: b
    verification: { method: hmac, secret: s, algorithm: sha256, encoding: hex, header: x-sig, prefx: "sha256=" }
  - name: c
    dedup: { header: x-id, window: 10 }
webhooks:
  - events: [after:measure]
    url: https://example.com/hook
    secret: a-secret-long-enough
    colour: red
    backoff: { max_tries: 2, max_tim: 5m }
    headers: [{ name: x-a, value: "1", vaule: "2" }]
`).sort(byPath),
    ).toEqual([
      { path: 'queues.0.verification.prefx', message: 'is not a known key; did you mean "prefix"?' },
      { path: 'queues.1.dedup.window', message: 'is not a known key; known keys are header' },
      { path: 'webhooks.0.backoff.max_tim', message: 'is not a known key; did you mean "max_time"?' },
      { path: 'webhooks.0.colour', message: expect.stringMatching(/^is not a known key; known keys are name, /) },
      { path: 'webhooks.0.headers.0.vaule', message: 'is not a known key; did you mean "value"?' },
    ]);
  });

  it("keeps accepting every key of the Webhook Queue's and servo-webhooks' documented files", () => {
    const queue = parseConfigFile(WEBHOOK_QUEUE_SAMPLE);
    if (!queue.ok) throw new Error(JSON.stringify(queue.error));
    expect(queue.value.queues[0]).toMatchObject({ name: 'foo', allowedNetworks: ['127.0.0.1'] });
    expect(queue.value.notices).toEqual([expect.stringContaining('listen_host and listen_port are ignored')]);
    const servo = parseConfigFile(SERVO_SAMPLE);
    if (!servo.ok) throw new Error(JSON.stringify(servo.error));
    expect(servo.value.webhooks.subscriptions).toHaveLength(1);
    // Our own additions, beside them.
    const ours = parseConfigFile(`
webhooks_owner: ops
retention_seconds: 60
queues:
  - name: gh
    description: GitHub
    retention_seconds: 30
    verification: { method: github, secret: s }
    dedup: { header: x-github-delivery }
webhooks:
  - events: [after:measure]
    url: https://example.com/hook
    secret: a-secret-long-enough
    signing: standard-webhooks
`);
    if (!ours.ok) throw new Error(JSON.stringify(ours.error));
  });
});

describe("webhook-proxy's server.yml as the config file", () => {
  it('reads its endpoints as queues, with no users and no webhooks, and says that host and port are ignored', () => {
    const parsed = parseConfigFile(WEBHOOK_PROXY_SAMPLE);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
    expect(parsed.value.queues).toEqual([
      expect.objectContaining({
        name: 'endpoint-path',
        path: '/endpoint/path',
        dialect: 'webhook-proxy',
        respond: 'after-actions',
        verification: { method: 'none' },
        rules: {
          method: 'POST',
          headers: { 'X-Sender': 'regex for X-Sender HTTP header' },
          body: {
            project: { name: 'regex for project.name in the JSON payload', items: { name: '^example_[0-9]+' } },
          },
        },
        actions: [{ log: { message: 'Processing {{ request.path }} ...' } }],
      }),
    ]);
    expect(parsed.value.users).toEqual([]);
    expect(parsed.value.webhooks).toEqual({ subscriptions: [], eventTypes: [], notices: [] });
    expect(parsed.value.webhooksOwner).toBeNull();
    expect(parsed.value.notices).toEqual([expect.stringContaining('server.host and server.port are ignored')]);
  });

  it("refuses it mixed with Switchboard's own keys, naming each of them", () => {
    const problems = problemsOf(`${WEBHOOK_PROXY_SAMPLE}
queues:
  - name: foo
listen_port: 8080
`);
    expect(problems.map((p) => p.path)).toEqual(['queues', 'listen_port']);
    for (const problem of problems) expect(problem.message).toMatch(/^is Switchboard's own key, which cannot be mixed/);
  });

  it('refuses what it cannot honour, by its path in the file', () => {
    expect(
      problemsOf(`
server:
  imports: [/opt/extra.py]
endpoints:
  - /github:
      actions:
        - docker-swarm: { $restart: { service_id: web } }
`).map((p) => p.path),
    ).toEqual(['server.imports', 'endpoints[0]./github.actions[0].docker-swarm']);
  });
});

describe("Switchboard's own queues with rules and actions", () => {
  it('passes path, rules, actions, respond, response and rejected into the queue definition', () => {
    const parsed = parseConfigFile(`
queues:
  - name: deploys
    path: /hooks/deploy
    rules:
      method: [POST, PUT]
      headers: { X-GitHub-Event: push }
      any:
        - body: { ref: refs/heads/main }
        - source: 10.0.0.0/8
    actions:
      - log: { message: 'deploying {{ request.json.ref }}' }
      - sleep: { seconds: 1 }
    respond: after-actions
    response: { status: 202, body: 'queued' }
    rejected: store
  - name: plain
`);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
    const [deploys, plain] = parsed.value.queues;
    expect(deploys).toMatchObject({
      name: 'deploys',
      path: '/hooks/deploy',
      rules: {
        method: ['POST', 'PUT'],
        headers: { 'X-GitHub-Event': 'push' },
        any: [{ body: { ref: 'refs/heads/main' } }, { source: '10.0.0.0/8' }],
      },
      actions: [{ log: { message: 'deploying {{ request.json.ref }}' } }, { sleep: { seconds: 1 } }],
      respond: 'after-actions',
      response: { status: 202, body: 'queued' },
      rejected: 'store',
    });
    // Left out, they are the defaults: no path of its own, no rules, no actions, answered at once.
    expect(plain).toMatchObject({
      path: null,
      rules: null,
      actions: [],
      respond: 'at-once',
      response: null,
      rejected: 'refuse',
    });
  });

  it('refuses bad rules, actions and answers by their path under the queue', () => {
    const problems = problemsOf(`
queues:
  - name: a
    path: /q/a
    rules: { methd: POST, body: { ref: 5 } }
    actions: [{ log: {}, eval: {} }]
    respond: later
    rejected: drop
`);
    expect(problems.map((p) => p.path).sort()).toEqual([
      'queues.0.actions.0',
      'queues.0.path',
      'queues.0.rejected',
      'queues.0.respond',
      'queues.0.rules.body.ref',
      'queues.0.rules.methd',
    ]);
    expect(problems.find((p) => p.path === 'queues.0.rules.methd')?.message).toBe(
      'is not a known key; did you mean "method"?',
    );
    expect(problems.find((p) => p.path === 'queues.0.path')?.message).toBe('is a path the server answers itself');
  });
});
