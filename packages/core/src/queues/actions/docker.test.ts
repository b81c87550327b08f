import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DockerApiStub, startDockerApiStub } from '../../../test/support/docker-api-stub.ts';
import {
  createDockerClient,
  DOCKER_INVOCATIONS,
  DockerActionError,
  type DockerInvocation,
  invokeDocker,
  parseDockerInvocation,
} from './docker.ts';

function parsed(settings: Record<string, unknown>): DockerInvocation {
  const result = parseDockerInvocation(settings);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

describe('parseDockerInvocation', () => {
  it('reads the one $ chain and its arguments, ignoring the other settings', () => {
    expect(parsed({ $containers: { $list: { all: true, filters: { name: 'web' } } }, output: '{{ result }}' })).toEqual(
      {
        chain: ['containers', 'list'],
        args: { all: true, filters: { name: 'web' } },
      },
    );
  });

  it('treats a null value as a call without arguments', () => {
    expect(parsed({ $info: null })).toEqual({ chain: ['info'], args: {} });
    expect(parsed({ $containers: { $list: null } })).toEqual({ chain: ['containers', 'list'], args: {} });
  });

  it('refuses settings without any $ key', () => {
    const result = parseDockerInvocation({ output: 'x' });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('INVALID');
      expect(result.error.message).toMatch(/exactly one invocation.*found none/);
    }
  });

  it('refuses two $ keys, naming both', () => {
    const result = parseDockerInvocation({ $info: null, $version: null });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toContain('several ($info, $version)');
  });

  it('refuses a level mixing a $ key with arguments, and arguments that are not a mapping', () => {
    const mixed = parseDockerInvocation({ $containers: { $list: null, all: true } });
    expect(mixed.ok || mixed.error.message).toMatch(/either one \$ key .* or arguments/);
    const scalar = parseDockerInvocation({ $images: { $get: 'alpine' } });
    expect(scalar.ok || scalar.error.message).toMatch(/\$images\.\$get must be a mapping.*not a string/);
  });
});

describe('createDockerClient', () => {
  const modemOf = (host: string | undefined) =>
    createDockerClient(host).modem as unknown as {
      socketPath?: string;
      host?: string;
      port?: string;
      protocol?: string;
    };

  it('reads the DOCKER_HOST forms', () => {
    expect(modemOf(undefined).socketPath).toBe('/var/run/docker.sock');
    expect(modemOf('unix:///run/user/1000/docker.sock').socketPath).toBe('/run/user/1000/docker.sock');
    expect(modemOf('tcp://10.1.2.3:2375')).toMatchObject({ host: '10.1.2.3', port: '2375', protocol: 'http' });
    expect(modemOf('https://docker.example:2376')).toMatchObject({ host: 'docker.example', protocol: 'https' });
  });

  it('refuses a form it cannot dial', () => {
    expect(() => createDockerClient('ssh://user@host')).toThrow(/DOCKER_HOST "ssh:\/\/user@host" is not supported/);
  });
});

describe('invokeDocker against the Engine API', () => {
  let stub: DockerApiStub;
  let docker: ReturnType<typeof createDockerClient>;
  const invoke = (settings: Record<string, unknown>, signal?: AbortSignal) =>
    invokeDocker(docker, parsed(settings), signal);
  const requestsTo = (method: string, path: RegExp) =>
    stub.requests.filter((r) => r.method === method && path.test(r.path));

  beforeEach(async () => {
    stub = await startDockerApiStub({
      program: ({ cmd }) => {
        if (cmd[0] === 'echo') return { stdout: `${cmd.slice(1).join(' ')}\n` };
        if (cmd[0] === 'fail') return { stderr: 'disk full\n', exitCode: 3 };
        return { keepsRunning: true };
      },
    });
    docker = createDockerClient(`unix://${stub.socketPath}`);
  });
  afterEach(() => stub.close());

  it('$info returns the Engine info, as the README output template reads it', async () => {
    const info = (await invoke({ $info: null })) as Record<string, unknown>;
    expect(`Docker version: ${info.ServerVersion} on ${info.OperatingSystem}`).toBe(
      'Docker version: 26.1.0 on Debian GNU/Linux 12 (bookworm)',
    );
    expect(requestsTo('GET', /^\/info$/)).toHaveLength(1);
  });

  it('$version and $ping answer', async () => {
    expect(await invoke({ $version: null })).toMatchObject({ ApiVersion: '1.45', Version: '26.1.0' });
    expect(await invoke({ $ping: null })).toBe(true);
  });

  it('$containers.$list sends filters as the Engine expects and returns SDK-shaped containers', async () => {
    stub.addImage('somebody/web:latest');
    await invoke({
      $containers: {
        $run: { image: 'somebody/web', command: 'serve', detach: true, name: 'web-1', labels: { tier: 'front' } },
      },
    });
    await invoke({ $containers: { $create: { image: 'somebody/web', name: 'other' } } });

    const result = (await invoke({
      $containers: { $list: { all: 'true', filters: { name: 'web', label: ['tier=front'], exited: 0 } } },
    })) as Array<Record<string, unknown>>;

    const listing = requestsTo('GET', /^\/containers\/json$/).at(-1);
    expect(listing?.query.all).toBe('true');
    expect(JSON.parse(listing?.query.filters ?? 'null')).toEqual({
      name: ['web'],
      label: ['tier=front'],
      exited: ['0'],
    });
    expect(result).toHaveLength(0);

    const running = (await invoke({ $containers: { $list: { filters: { name: 'web' } } } })) as Array<
      Record<string, any>
    >;
    expect(running.map((c) => c.name)).toEqual(['web-1']);
    const [container] = running;
    expect(container?.short_id).toBe(String(container?.id).slice(0, 12));
    expect(container).toMatchObject({
      status: 'running',
      labels: { tier: 'front' },
      image: { tags: ['somebody/web:latest'] },
    });
    expect(container?.image.short_id).toMatch(/^sha256:[0-9a-f]{10}$/);
  });

  it('$images.$pull asks the Engine for fromImage and tag, and returns the pulled image', async () => {
    stub.publishImage('somebody/app:1.2');
    const image = (await invoke({ $images: { $pull: { repository: 'somebody/app', tag: '1.2' } } })) as Record<
      string,
      unknown
    >;
    const pull = requestsTo('POST', /^\/images\/create$/).at(-1);
    expect(pull?.query).toEqual({ fromImage: 'somebody/app', tag: '1.2' });
    expect(image).toMatchObject({ tags: ['somebody/app:1.2'] });
    expect(await invoke({ $images: { $get: { name: 'somebody/app:1.2' } } })).toEqual(image);
  });

  it('$images.$pull takes the tag from the repository, else latest', async () => {
    stub.publishImage('alpine:3.19');
    stub.publishImage('alpine:latest');
    await invoke({ $images: { $pull: { repository: 'alpine:3.19' } } });
    await invoke({ $images: { $pull: { repository: 'alpine' } } });
    expect(requestsTo('POST', /^\/images\/create$/).map((r) => r.query)).toEqual([
      { fromImage: 'alpine', tag: '3.19' },
      { fromImage: 'alpine', tag: 'latest' },
    ]);
  });

  it('$images.$pull reports a refused pull and an error inside the progress stream', async () => {
    await expect(invoke({ $images: { $pull: { repository: 'nobody/nothing' } } })).rejects.toThrow(
      /pulling image nobody\/nothing:latest failed: pull access denied .*HTTP 404/,
    );
    stub.publishImage('somebody/broken:1', { pullError: 'unexpected EOF' });
    await expect(invoke({ $images: { $pull: { repository: 'somebody/broken', tag: '1' } } })).rejects.toThrow(
      'pulling image somebody/broken:1 failed: unexpected EOF',
    );
  });

  it('$containers.$run with remove: true returns the output and leaves no container behind', async () => {
    stub.addImage('alpine:latest');
    const output = await invoke({
      $containers: { $run: { image: 'alpine', command: 'echo "Hello world!"', remove: true, name: 'hello' } },
    });

    expect(output).toBe('Hello world!\n');
    const create = requestsTo('POST', /^\/containers\/create$/)[0];
    // The body (environment included) stays out of the URL.
    expect(create?.query).toEqual({ name: 'hello' });
    expect(create?.body).toMatchObject({ Image: 'alpine', Cmd: ['echo', 'Hello world!'], HostConfig: {} });
    expect(stub.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{64}/, 'ID')}`)).toEqual(
      expect.arrayContaining([
        'POST /containers/ID/start',
        'POST /containers/ID/wait',
        'GET /containers/ID/logs',
        'DELETE /containers/ID',
      ]),
    );
    expect(await invoke({ $containers: { $list: { all: true } } })).toEqual([]);
  });

  it('$containers.$run pulls a missing image, and a failing command is an error carrying its stderr', async () => {
    stub.publishImage('tools:latest');
    await expect(
      invoke({ $containers: { $run: { image: 'tools', command: 'fail now', remove: true } } }),
    ).rejects.toThrow("Command 'fail now' in image 'tools' returned non-zero exit status 3: disk full");
    expect(requestsTo('POST', /^\/images\/create$/)[0]?.query).toEqual({ fromImage: 'tools', tag: 'latest' });
    expect(await invoke({ $containers: { $list: { all: true } } })).toEqual([]);
  });

  it('$containers.$run detached with remove leaves removal to the Engine and returns the container', async () => {
    stub.addImage('alpine:latest');
    const container = await invoke({
      $containers: {
        $run: { image: 'alpine', command: ['sleep', '60'], detach: true, remove: true, environment: { MODE: 'x' } },
      },
    });
    expect(container).toMatchObject({ status: 'running', image: { tags: ['alpine:latest'] } });
    expect(requestsTo('POST', /^\/containers\/create$/)[0]?.body).toMatchObject({
      Env: ['MODE=x'],
      HostConfig: { AutoRemove: true },
    });
  });

  it('an aborted run stops waiting and removes the container it made', async () => {
    stub.addImage('alpine:latest');
    const controller = new AbortController();
    const running = invoke(
      { $containers: { $run: { image: 'alpine', command: 'sleep 600', remove: true } } },
      controller.signal,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await invoke({ $containers: { $list: { all: true } } })).toEqual([]);
  });

  it('starts, stops, restarts and removes a container by id or name', async () => {
    stub.addImage('alpine:latest');
    await invoke({ $containers: { $create: { image: 'alpine', command: 'serve', name: 'svc' } } });
    expect(await invoke({ $containers: { $start: { container_id: 'svc' } } })).toMatchObject({ status: 'running' });
    expect(await invoke({ $containers: { $start: { container_id: 'svc' } } })).toMatchObject({ status: 'running' });
    expect(await invoke({ $containers: { $stop: { container_id: 'svc', timeout: '1' } } })).toMatchObject({
      status: 'exited',
    });
    expect(requestsTo('POST', /\/stop$/)[0]?.query).toEqual({ t: '1' });
    expect(await invoke({ $containers: { $restart: { container_id: 'svc' } } })).toMatchObject({ status: 'running' });
    await expect(invoke({ $containers: { $remove: { container_id: 'svc' } } })).rejects.toThrow(
      /You cannot remove a running container.*HTTP 409/,
    );
    expect(await invoke({ $containers: { $remove: { container_id: 'svc', force: true } } })).toBeNull();
    await expect(invoke({ $containers: { $get: { container_id: 'svc' } } })).rejects.toThrow(
      'inspecting container svc failed: No such container: svc (Docker Engine answered HTTP 404)',
    );
  });

  it('refuses an unsupported invocation, naming it and listing the supported ones', async () => {
    const error = await invoke({ $containers: { $prune: null } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DockerActionError);
    expect((error as Error).message).toBe(
      `The docker action does not support $containers.$prune; supported: ${DOCKER_INVOCATIONS.join(', ')}`,
    );
    expect(DOCKER_INVOCATIONS).toEqual(
      expect.arrayContaining(['$info', '$containers.$list', '$containers.$run', '$images.$pull']),
    );
    expect(stub.requests).toEqual([]);
  });

  it('refuses arguments the invocation does not take, and values of the wrong kind', async () => {
    await expect(invoke({ $containers: { $list: { everything: true } } })).rejects.toThrow(
      '$containers.$list does not take everything; it takes all, filters, limit, before, since, sparse, ignore_removed',
    );
    await expect(invoke({ $containers: { $list: { all: 'yes please' } } })).rejects.toThrow(
      'all must be true or false',
    );
    expect(stub.requests).toEqual([]);
  });

  it('says when the Engine cannot be reached', async () => {
    const nowhere = createDockerClient(`unix://${stub.socketPath}.missing`);
    await expect(invokeDocker(nowhere, parsed({ $info: null }))).rejects.toThrow(
      /reading the Docker info failed: cannot reach the Docker Engine/,
    );
  });
});
