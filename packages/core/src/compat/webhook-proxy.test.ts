import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { webhookProxyExample } from '../testing.ts';
import { isWebhookProxyFile, parseWebhookProxyFile } from './webhook-proxy.ts';

/** webhook-proxy's README examples, as they stand. */
const README_SHORT_EXAMPLE = webhookProxyExample('readme-short');
const README_GITHUB_EXAMPLE = webhookProxyExample('readme-github');
const README_COMPOSE_EXAMPLE = webhookProxyExample('readme-dockerhub');

function read(text: string) {
  const raw: unknown = parse(text);
  if (!isWebhookProxyFile(raw)) throw new Error('not read as a webhook-proxy file');
  return parseWebhookProxyFile(raw);
}

function accepted(text: string) {
  const parsed = read(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

function problemsOf(text: string) {
  const parsed = read(text);
  if (parsed.ok) throw new Error('the file was accepted');
  return parsed.error.fields ?? [];
}

const HOST_PORT_NOTICE = 'server.host and server.port are ignored: Switchboard listens on HOST and PORT';

describe("webhook-proxy's server.yml", () => {
  it("reads the README's short example into one queue on the endpoint's path, its actions run before the answer", () => {
    const config = accepted(README_SHORT_EXAMPLE);
    expect(config.notices).toEqual([HOST_PORT_NOTICE]);
    expect(config.queues).toEqual([
      {
        name: 'endpoint-path',
        description: null,
        path: '/endpoint/path',
        dialect: 'webhook-proxy',
        verification: { method: 'none' },
        allowedNetworks: [],
        maxMessageCount: null,
        maxMessageSize: null,
        maxQueueBytes: null,
        retentionSeconds: null,
        dedup: null,
        rules: {
          method: 'POST',
          headers: { 'X-Sender': 'regex for X-Sender HTTP header' },
          body: {
            project: { name: 'regex for project.name in the JSON payload', items: { name: '^example_[0-9]+' } },
          },
        },
        actions: [{ log: { message: 'Processing {{ request.path }} ...' } }],
        respond: 'after-actions',
        response: null,
        rejected: 'refuse',
      },
    ]);
  });

  it("reads the README's GitHub push example: patterns kept as written, actions in their order", () => {
    const [queue, ...rest] = accepted(README_GITHUB_EXAMPLE).queues;
    expect(rest).toEqual([]);
    expect(queue).toMatchObject({
      name: 'github',
      path: '/github',
      dialect: 'webhook-proxy',
      respond: 'after-actions',
    });
    expect(queue?.rules).toEqual({
      method: 'POST',
      headers: { 'X-GitHub-Delivery': '^[0-9a-f\\-]+$', 'X-GitHub-Event': 'push' },
      body: {
        ref: 'refs/heads/.+',
        before: '^[0-9a-f]{40}',
        after: '^[0-9a-f]{40}',
        repository: { id: '^[0-9]+$', full_name: 'sample/.+', owner: { email: '.+@.+\\..+' } },
        commits: {
          id: '^[0-9a-f]{40}',
          message: '.+',
          author: { name: '.+' },
          added: '^(src/.+)?',
          removed: '^(src/.+)?',
        },
        pusher: { name: '.+', email: '.+@.+\\..+' },
      },
    });
    expect(queue?.actions?.map((action) => Object.keys(action))).toEqual([['log'], ['github-verify']]);
    expect(queue?.actions?.[0]).toEqual({ log: { message: expect.stringMatching(/^Received a GitHub push from/) } });
    expect(queue?.actions?.[1]).toEqual({
      'github-verify': { secret: '{{ read_config("GITHUB_SECRET", "/var/run/secrets/github") }}' },
    });
  });

  it("reads the README's Docker Compose example: a nested route gives a dashed name, actions pass as written", () => {
    const [queue, ...rest] = accepted(README_COMPOSE_EXAMPLE).queues;
    expect(rest).toEqual([]);
    expect(queue).toMatchObject({
      name: 'webhook-dockerhub',
      path: '/webhook/dockerhub',
      dialect: 'webhook-proxy',
      respond: 'after-actions',
      rules: {
        method: 'POST',
        body: { repository: { repo_name: 'somebody/.+', owner: 'somebody' }, push_data: { tag: 'latest' } },
      },
    });
    expect(queue?.rules).not.toHaveProperty('headers');
    expect(queue?.actions).toHaveLength(3);
    expect(queue?.actions?.[0]).toEqual({ docker: { $containers: { $list: null }, output: expect.any(String) } });
    expect(queue?.actions?.[2]).toMatchObject({
      'docker-compose': { project_name: 'autoupdate', directory: '/var/compose/project', $up: { detached: true } },
    });
  });

  it('answers at once for async endpoints, and takes the defaults for an endpoint without settings', () => {
    const config = accepted(`
endpoints:
  - /later:
      async: true
      method: get
  - /bare:
  - /one: {}
    /two/: { async: false }
`);
    expect(config.notices).toEqual([]);
    expect(
      config.queues.map(({ name, path, respond, rules, actions }) => ({ name, path, respond, rules, actions })),
    ).toEqual([
      { name: 'later', path: '/later', respond: 'at-once', rules: { method: 'get' }, actions: [] },
      { name: 'bare', path: '/bare', respond: 'after-actions', rules: { method: 'POST' }, actions: [] },
      { name: 'one', path: '/one', respond: 'after-actions', rules: { method: 'POST' }, actions: [] },
      { name: 'two', path: '/two/', respond: 'after-actions', rules: { method: 'POST' }, actions: [] },
    ]);
  });

  it("refuses server.imports, as Switchboard cannot load webhook-proxy's Python modules", () => {
    expect(
      problemsOf(`
server:
  port: 5000
  imports:
    - /opt/actions/extra.py
endpoints:
  - /github:
`),
    ).toEqual([{ path: 'server.imports', message: expect.stringMatching(/^loads Python modules .*cannot run/) }]);
    // Listing nothing imports nothing, there as here.
    expect(accepted('server: { imports: [] }\nendpoints: [/github: null]').queues).toHaveLength(1);
  });

  it('refuses a docker-swarm action by name, leaving other names to the action compiler', () => {
    expect(
      problemsOf(`
endpoints:
  - /swarm:
      actions:
        - log:
        - docker-swarm:
            $restart:
              service_id: '{{ request.json.service }}'
        - made-up-action:
`),
    ).toEqual([
      {
        path: 'endpoints[0]./swarm.actions[1].docker-swarm',
        message: expect.stringMatching(/^docker-swarm is not supported/),
      },
    ]);
  });

  it('refuses keys it does not know, under an endpoint, under server and at the top, each by its path', () => {
    expect(
      problemsOf(`
server:
  hostname: example.com
endpoints:
  - /github:
      asyncc: true
      timeout: 5
  - /other:
      headers: { X-A: a }
listen_port: 8080
`),
    ).toEqual([
      { path: 'listen_port', message: expect.stringMatching(/^is not a known key/) },
      { path: 'server.hostname', message: 'is not a known key; did you mean "host"?' },
      { path: 'endpoints[0]./github.asyncc', message: 'is not a known key; did you mean "async"?' },
      {
        path: 'endpoints[0]./github.timeout',
        message: expect.stringMatching(/^is not a known key; known keys are method, /),
      },
    ]);
  });

  it("refuses Switchboard's own keys beside the endpoints, naming each", () => {
    expect(
      problemsOf(`
queues:
  - name: a
users: []
endpoints:
  - /github:
`),
    ).toEqual([
      { path: 'queues', message: expect.stringMatching(/^is Switchboard's own key, which cannot be mixed/) },
      { path: 'users', message: expect.stringMatching(/^is Switchboard's own key, which cannot be mixed/) },
    ]);
  });

  it('refuses routes that cannot be a queue: Flask variables, no leading slash, a name given twice', () => {
    expect(
      problemsOf(`
endpoints:
  - /hooks/<id>:
  - github:
  - /deploy:
  - /deploy/:
  - /~home:
`),
    ).toEqual([
      { path: 'endpoints[0]./hooks/<id>', message: expect.stringMatching(/Flask variable/) },
      { path: 'endpoints[1].github', message: 'must start with /, as /github' },
      { path: 'endpoints[3]./deploy/', message: 'gives the queue name "deploy", as endpoints[2]./deploy does' },
      { path: 'endpoints[4]./~home', message: expect.stringMatching(/^gives the queue name "~home", which must be/) },
    ]);
  });

  it('reports bad values by the endpoint key that holds them, all at once', () => {
    expect(
      problemsOf(`
endpoints:
  - /a:
      async: 'yes'
      actions: { log: {} }
  - /b:
      method: 'P O S T'
      headers: { X-Event: 3 }
      body: { ref: 5 }
  - /c:
      actions:
        - { log: {}, eval: {} }
`),
    ).toEqual([
      { path: 'endpoints[0]./a.async', message: 'must be true or false' },
      { path: 'endpoints[0]./a.actions', message: expect.any(String) },
      { path: 'endpoints[1]./b.method', message: 'must be an HTTP method such as POST' },
      { path: 'endpoints[1]./b.headers.X-Event', message: expect.any(String) },
      { path: 'endpoints[1]./b.body.ref', message: expect.stringMatching(/^must be a pattern/) },
      { path: 'endpoints[2]./c.actions[0]', message: 'each action is a mapping with exactly one key, its name' },
    ]);
  });

  it('refuses a file without endpoints, as webhook-proxy does', () => {
    expect(problemsOf("server: { host: '0.0.0.0' }")).toEqual([
      { path: 'endpoints', message: expect.stringMatching(/^is required/) },
    ]);
    expect(problemsOf('endpoints: []')).toEqual([
      { path: 'endpoints', message: expect.stringMatching(/at least one endpoint/) },
    ]);
  });
});
