import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type QueueDefinition, systemPrincipal } from '@switchboard/core';
import { type DockerApiStub, startDockerApiStub } from '@switchboard/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledRun } from './action-fixtures.ts';
import { startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * The actions that run programs (`execute`, `docker`, `docker-compose`), through a running server
 * with ALLOW_COMMANDS and DOCKER_HOST from its environment, against a Docker Engine API stub on a
 * unix socket; and the same actions refused, touching nothing, when commands are not allowed.
 */

/** Characters a shell would act on; each must reach the program as written. */
const HOSTILE = '; rm -rf / $(id) `whoami` | & > < * "q" \'s\' \\ $HOME\n';
const PRINT_ARGS = 'process.stdout.write(JSON.stringify(process.argv.slice(1)))';
const SERVER_SECRET = 'server-secret-never-for-commands';

async function makeQueue(server: TestServer, definition: Omit<QueueDefinition, 'name'>): Promise<string> {
  const name = uniqueName('q');
  const created = await server.core.queues.create(systemPrincipal, { name, ...definition });
  if (!created.ok) throw new Error(`${created.error.message}: ${JSON.stringify(created.error.fields)}`);
  return name;
}

async function post(server: TestServer, queue: string, body: unknown): Promise<number> {
  const response = await fetch(`${server.url}/q/${queue}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  await response.arrayBuffer();
  return response.status;
}

/** Posts `body` to a new queue with these actions and answers its settled run. */
async function runActions(server: TestServer, actions: QueueDefinition['actions'], body: unknown = {}) {
  const queue = await makeQueue(server, { actions });
  expect(await post(server, queue, body)).toBe(200);
  return settledRun(server, queue);
}

describe('actions that run programs, with ALLOW_COMMANDS=true', () => {
  let server: TestServer;
  let stub: DockerApiStub;
  let scratch: string;

  beforeAll(async () => {
    stub = await startDockerApiStub();
    stub.addImage('somebody/web:latest');
    scratch = mkdtempSync(join(tmpdir(), 'queue-actions-'));
    server = await startTestServer({
      env: { ALLOW_COMMANDS: 'true', DOCKER_HOST: `unix://${stub.socketPath}` },
      // The server's own environment, with a secret a command must never see.
      actions: { env: { ...process.env, SWITCHBOARD_TEST_SECRET: SERVER_SECRET } },
    });
  });
  afterAll(async () => {
    await server.close();
    await stub.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('execute gives a hostile request value to the program as exactly one argument, uninterpreted', async () => {
    const run = await runActions(
      server,
      [{ execute: { command: [process.execPath, '-e', PRINT_ARGS, '--', '{{ request.json.x }}', 'last'] } }],
      { x: HOSTILE },
    );
    expect(run.status, run.error ?? '').toBe('succeeded');
    expect(JSON.parse(run.actions[0]?.output ?? 'null')).toEqual([HOSTILE, 'last']);
  });

  it('execute with shell: true runs a pipeline, and request values reach it only as quoted variables', async () => {
    const run = await runActions(
      server,
      [
        {
          execute: {
            shell: true,
            command: 'printf "%s|" "$X" c b a | tr "|" "\\n" | sort -r | head -n 4 | tr "\\n" ","',
            env: { X: '{{ request.json.x }}' },
          },
        },
      ],
      { x: '$(touch pwned) `id`' },
    );
    expect(run.status, run.error ?? '').toBe('succeeded');
    // sort -r puts the lowercase letters first: the request value arrived as text, not as a command.
    expect(run.actions[0]?.output).toBe('c,b,a,$(touch pwned) `id`,');
  });

  it("execute's command sees PATH and its own env, never the server's environment", async () => {
    const run = await runActions(
      server,
      [{ execute: { command: ['env'], env: { GREETING: 'hi {{ request.json.n }}' } } }],
      {
        n: 'ada',
      },
    );
    expect(run.status, run.error ?? '').toBe('succeeded');
    const lines = (run.actions[0]?.output ?? '').trim().split('\n').sort();
    expect(lines).toEqual([`GREETING=hi ada`, `PATH=${process.env.PATH}`]);
    expect(run.actions[0]?.output).not.toContain(SERVER_SECRET);
  });

  it('docker $info renders the Engine answer into its output', async () => {
    const run = await runActions(server, [
      { docker: { $info: null, output: 'Docker version: {{ result.ServerVersion }} on {{ result.OperatingSystem }}' } },
    ]);
    expect(run.status, run.error ?? '').toBe('succeeded');
    expect(run.actions[0]?.output).toBe('Docker version: 26.1.0 on Debian GNU/Linux 12 (bookworm)');
    expect(stub.requests.some((r) => r.method === 'GET' && r.path === '/info')).toBe(true);
  });

  it('docker $containers.$run then $list sends the filters rendered from the request', async () => {
    const name = uniqueName('web');
    const run = await runActions(
      server,
      [
        {
          docker: {
            $containers: {
              $run: { image: 'somebody/web', command: 'serve', detach: true, name: '{{ request.json.name }}-1' },
            },
          },
        },
        {
          docker: {
            $containers: { $list: { filters: { name: '{{ request.json.name }}' } } },
            output: '{% for c in result %}{{ c.name }}:{{ c.status }};{% endfor %}',
          },
        },
      ],
      { name },
    );
    expect(run.status, run.error ?? '').toBe('succeeded');
    expect(run.actions[1]?.output).toBe(`${name}-1:running;`);
    const listing = stub.requests.filter((r) => r.method === 'GET' && r.path === '/containers/json').at(-1);
    expect(JSON.parse(listing?.query.filters ?? 'null')).toEqual({ name: [name] });
  });

  it('docker-compose $up reads the compose file from its directory and starts its services', async () => {
    const directory = mkdtempSync(join(scratch, 'project-'));
    writeFileSync(
      join(directory, 'docker-compose.yml'),
      'services:\n  web:\n    image: somebody/web:latest\n    command: serve --port 80\n',
    );
    const run = await runActions(server, [
      {
        'docker-compose': {
          project_name: 'shop',
          directory,
          $up: { detached: true },
          output: '{% for c in result %}{{ c.name }}={{ c.status }};{% endfor %}',
        },
      },
    ]);
    expect(run.status, run.error ?? '').toBe('succeeded');
    expect(run.actions[0]?.output).toBe('shop_web_1=running;');
    const created = stub.requests.find(
      (r) => r.method === 'POST' && r.path === '/containers/create' && r.query.name === 'shop_web_1',
    );
    expect(created?.body).toMatchObject({ Image: 'somebody/web:latest', Cmd: ['serve', '--port', '80'] });
  });

  it('retries an action that failed retryably, from where the list stopped, with the context set before', async () => {
    const flag = join(scratch, `${uniqueName('flag')}`);
    // Fails the first time (leaving the flag), succeeds once the flag is there.
    const failOnce = `const fs = require('node:fs'); if (!fs.existsSync(process.argv[1])) { fs.writeFileSync(process.argv[1], ''); process.exit(1) }`;
    const queue = await makeQueue(server, {
      actions: [
        { eval: { block: "{% set _ = context.set('token', request.json.token) %}" } },
        { execute: { command: [process.execPath, '-e', failOnce, flag], retry: { attempts: 3, delays: [0] } } },
        { log: { message: 'token={{ context.token }}' } },
      ],
    });
    expect(await post(server, queue, { token: 'tok-1' })).toBe(200);
    const run = await settledRun(server, queue);
    expect(existsSync(flag)).toBe(true);
    expect(run.status, run.error ?? '').toBe('succeeded');
    expect(run.actions.map((a) => [a.action, a.status, a.attempts])).toEqual([
      ['eval', 'succeeded', 1],
      ['execute', 'succeeded', 2],
      ['log', 'succeeded', 1],
    ]);
    expect(run.actions[2]?.output).toBe('token=tok-1');
  });
});

describe('actions that run programs, with commands not allowed', () => {
  let server: TestServer;
  let stub: DockerApiStub;

  beforeAll(async () => {
    stub = await startDockerApiStub();
    server = await startTestServer({ env: { DOCKER_HOST: `unix://${stub.socketPath}` } });
  });
  afterAll(async () => {
    await server.close();
    await stub.close();
  });

  it('refuses docker and docker-compose with a message naming ALLOW_COMMANDS, and the Engine hears nothing', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'compose-off-'));
    try {
      writeFileSync(join(directory, 'docker-compose.yml'), 'services:\n  web:\n    image: somebody/web\n');
      for (const action of [
        { docker: { $info: null } },
        { docker: { $containers: { $list: { filters: { name: 'x' } } } } },
        { 'docker-compose': { project_name: 'shop', directory, $up: null } },
      ]) {
        const run = await runActions(server, [action]);
        expect(run.status).toBe('failed');
        expect(run.actions[0]?.attempts).toBe(1);
        expect(run.error).toMatch(/ALLOW_COMMANDS=true/);
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
    expect(stub.requests).toEqual([]);
  });
});
