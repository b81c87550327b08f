import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DockerApiStub, startDockerApiStub } from '../../../test/support/docker-api-stub.ts';
import { createDockerClient, invokeDocker, parseDockerInvocation } from './docker.ts';
import {
  COMPOSE_INVOCATIONS,
  type ComposeContainerResult,
  type ComposeProject,
  invokeCompose,
} from './docker-compose.ts';

const COMPOSE_FILE = `
version: '2'
services:
  web:
    image: somebody/web:latest
    command: serve --port 80
    environment:
      GREETING: \${GREETING}
      LEVEL: \${LEVEL:-info}
    ports:
      - "127.0.0.1:8080:80"
    volumes:
      - data:/srv/data
      - ./conf:/etc/web:ro
    depends_on: [db]
  db:
    image: postgres:16
volumes:
  data:
`;

describe('invokeCompose against the Engine API', () => {
  let stub: DockerApiStub;
  let docker: ReturnType<typeof createDockerClient>;
  let directory: string;
  let project: ComposeProject;
  const readFile = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  };
  const invocation = (settings: Record<string, unknown>) => {
    const parsed = parseDockerInvocation(settings);
    if (!parsed.ok) throw new Error(parsed.error.message);
    return parsed.value;
  };
  const compose = async (settings: Record<string, unknown>) =>
    invokeCompose(docker, project, invocation(settings), readFile);
  const requestsTo = (method: string, path: RegExp) =>
    stub.requests.filter((r) => r.method === method && path.test(r.path));

  beforeEach(async () => {
    stub = await startDockerApiStub();
    docker = createDockerClient(`unix://${stub.socketPath}`);
    directory = mkdtempSync(join(tmpdir(), 'compose-project-'));
    writeFileSync(join(directory, 'docker-compose.yml'), COMPOSE_FILE);
    writeFileSync(join(directory, '.env'), 'GREETING=hello\n');
    project = { projectName: 'backend', directory };
    stub.addImage('somebody/web:latest');
    stub.publishImage('postgres:16');
  });
  afterEach(async () => {
    await stub.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('$get_services lists the services of the file in dependency order', async () => {
    const services = (await compose({ $get_services: null })) as Array<{ name: string; image: string }>;
    expect(services.map((s) => `${s.name} ${s.image}`)).toEqual(['db postgres:16', 'web somebody/web:latest']);
    expect(stub.requests).toEqual([]);
  });

  it('$up, then $ps and $containers.$list show the project, then $down removes it', async () => {
    const started = (await compose({ $up: { detached: true } })) as ComposeContainerResult[];

    expect(started.map((c) => `${c.name} ${c.service} ${c.status}`)).toEqual([
      'backend_db_1 db running',
      'backend_web_1 web running',
    ]);
    expect(requestsTo('POST', /^\/images\/create$/).map((r) => r.query)).toEqual([
      { fromImage: 'postgres', tag: '16' },
    ]);
    expect(requestsTo('POST', /^\/networks\/create$/)[0]?.body).toMatchObject({
      Name: 'backend_default',
      Labels: { 'com.docker.compose.project': 'backend', 'com.docker.compose.network': 'default' },
    });
    const web = requestsTo('POST', /^\/containers\/create$/).find((r) => r.query.name === 'backend_web_1');
    expect(web?.body).toMatchObject({
      Image: 'somebody/web:latest',
      Cmd: ['serve', '--port', '80'],
      Env: ['GREETING=hello', 'LEVEL=info'],
      Labels: { 'com.docker.compose.project': 'backend', 'com.docker.compose.service': 'web' },
      HostConfig: {
        NetworkMode: 'backend_default',
        Binds: ['backend_data:/srv/data', `${directory}/conf:/etc/web:ro`],
        PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
      },
      NetworkingConfig: { EndpointsConfig: { backend_default: { Aliases: ['web'] } } },
    });

    const ps = (await compose({ $ps: null })) as ComposeContainerResult[];
    expect(ps.map((c) => [c.name, c.short_id, c.is_running])).toEqual(started.map((c) => [c.name, c.short_id, true]));
    const listed = (await invokeDocker(
      docker,
      invocation({ $containers: { $list: { filters: { label: 'com.docker.compose.project=backend' } } } }),
    )) as Array<{
      name: string;
    }>;
    expect(listed.map((c) => c.name).sort()).toEqual(['backend_db_1', 'backend_web_1']);

    expect(await compose({ $down: { remove_image_type: false, include_volumes: true } })).toBeNull();
    expect(await compose({ $ps: null })).toEqual([]);
    expect(await invokeDocker(docker, invocation({ $containers: { $list: { all: true } } }))).toEqual([]);
    expect(requestsTo('DELETE', /^\/networks\//)).toHaveLength(1);
    expect(requestsTo('DELETE', /^\/volumes\//).map((r) => r.path)).toEqual(['/volumes/backend_data']);
  });

  it('$up again keeps unchanged containers and recreates the ones whose image was updated', async () => {
    const first = (await compose({ $up: { detached: true } })) as ComposeContainerResult[];
    const unchanged = (await compose({ $up: { detached: true } })) as ComposeContainerResult[];
    expect(unchanged.map((c) => c.id)).toEqual(first.map((c) => c.id));

    stub.publishImage('somebody/web:latest', { labels: { release: '2' } });
    await invokeDocker(docker, invocation({ $images: { $pull: { repository: 'somebody/web' } } }));
    const updated = (await compose({ $up: { detached: true } })) as ComposeContainerResult[];

    expect(updated[0]?.id).toBe(first[0]?.id);
    expect(updated[1]?.id).not.toBe(first[1]?.id);
    expect(updated[1]).toMatchObject({ name: 'backend_web_1', status: 'running', image: { labels: { release: '2' } } });
    expect(await compose({ $ps: null })).toHaveLength(2);
  });

  it('$stop, $start and $restart act on the chosen services', async () => {
    await compose({ $up: { detached: true } });
    expect(await compose({ $stop: { service_names: ['web'], timeout: 2 } })).toBeNull();
    expect(requestsTo('POST', /\/stop$/).map((r) => r.query)).toEqual([{ t: '2' }]);
    const ps = (await compose({ $ps: null })) as ComposeContainerResult[];
    expect(ps.map((c) => `${c.service} ${c.status}`)).toEqual(['db running', 'web exited']);
    expect(await compose({ $containers: null })).toHaveLength(1);
    const restarted = (await compose({ $start: null })) as ComposeContainerResult[];
    expect(restarted.map((c) => c.service)).toEqual(['web']);
    const all = (await compose({ $restart: null })) as ComposeContainerResult[];
    expect(all.map((c) => `${c.service} ${c.status}`)).toEqual(['db running', 'web running']);
  });

  it('$pull pulls every service image', async () => {
    stub.publishImage('somebody/web:latest');
    expect(await compose({ $pull: null })).toBeNull();
    expect(requestsTo('POST', /^\/images\/create$/).map((r) => r.query.fromImage)).toEqual([
      'postgres',
      'somebody/web',
    ]);
  });

  it('refuses an unsupported invocation, naming it and listing the supported ones', async () => {
    await expect(compose({ $scale: { web: 2 } })).rejects.toThrow(
      `The docker-compose action does not support $scale; supported: ${COMPOSE_INVOCATIONS.join(', ')}`,
    );
    await expect(compose({ $down: { remove_image_type: 'some' } })).rejects.toThrow(
      'remove_image_type must be none, local or all',
    );
    expect(stub.requests).toEqual([]);
  });

  it('explains compose files it cannot use', async () => {
    project = { projectName: 'backend', directory, composefile: 'missing.yml' };
    await expect(compose({ $up: null })).rejects.toThrow(`Cannot read the compose file ${directory}/missing.yml`);

    writeFileSync(join(directory, 'other.yml'), 'services:\n  app:\n    image: x\n    deploy: {replicas: 2}\n');
    project = { projectName: 'backend', directory, composefile: 'other.yml' };
    await expect(compose({ $up: null })).rejects.toThrow(/service app uses deploy, which this action does not support/);

    writeFileSync(join(directory, '.env'), '');
    project = { projectName: 'backend', directory };
    await expect(compose({ $up: null })).rejects.toThrow(
      /GREETING is not set \(at \.services\.web\.environment\.GREETING\)/,
    );
    project = { projectName: 'backend', directory, environment: { GREETING: 'hi' } };
    await expect(compose({ $get_services: null })).resolves.toHaveLength(2);

    project = { projectName: 'Back End', directory };
    await expect(compose({ $ps: null })).rejects.toThrow('Project name "Back End" must be lowercase');
    expect(stub.requests).toEqual([]);
  });
});
