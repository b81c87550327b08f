import type Dockerode from 'dockerode';
import { split as splitShellWords } from 'shlex';
import {
  type Arguments,
  callEngine,
  DockerActionError,
  describeContainer,
  pullImage,
  readLogs,
  withSignal,
} from './docker-engine.ts';

/**
 * The container invocations of the docker action (queues/actions/docker.ts): create, run, start,
 * stop, restart and remove, with the Python Docker SDK's keyword arguments mapped to the Engine's
 * create body.
 */

type Operation = (docker: Dockerode, args: Arguments, signal: AbortSignal | undefined) => Promise<unknown>;

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Arguments of containers.create/run, as the Python Docker SDK names them. */
export const CREATE_ARGS = [
  'image',
  'command',
  'name',
  'environment',
  'labels',
  'entrypoint',
  'working_dir',
  'user',
  'hostname',
  'tty',
  'detach',
  'network',
  'network_mode',
  'volumes',
  'ports',
  'restart_policy',
  'privileged',
  'auto_remove',
] as const;

const toList = (value: unknown): string[] | undefined =>
  value === undefined ? undefined : (Array.isArray(value) ? value : [value]).map(String);

/** The Engine's create body from the SDK's keyword arguments. */
export function buildCreateBody(args: Arguments): Record<string, unknown> {
  const command = args.value('command');
  const entrypoint = args.value('entrypoint');
  const environment = args.value('environment');
  const labels = args.value('labels');
  const network = args.string('network');
  const networkMode = args.string('network_mode');
  if (network && networkMode)
    throw new DockerActionError(`${args.name}: give either network or network_mode, not both`);
  const ports = args.mapping('ports') ?? {};
  const portKey = (port: string) => (port.includes('/') ? port : `${port}/tcp`);
  return {
    Image: args.string('image', true),
    Cmd: typeof command === 'string' ? splitShellWords(command) : toList(command),
    Entrypoint: typeof entrypoint === 'string' ? splitShellWords(entrypoint) : toList(entrypoint),
    Env: isMapping(environment)
      ? Object.entries(environment).map(([key, value]) => (value === null ? key : `${key}=${String(value)}`))
      : toList(environment),
    Labels: Array.isArray(labels)
      ? Object.fromEntries(labels.map((label) => [String(label), '']))
      : isMapping(labels)
        ? Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, String(value)]))
        : undefined,
    WorkingDir: args.string('working_dir'),
    User: args.string('user'),
    Hostname: args.string('hostname'),
    Tty: args.boolean('tty'),
    ExposedPorts: Object.keys(ports).length
      ? Object.fromEntries(Object.keys(ports).map((p) => [portKey(p), {}]))
      : undefined,
    HostConfig: {
      Binds: bindsOf(args),
      PortBindings: Object.fromEntries(
        Object.entries(ports).map(([port, host]) => [portKey(port), portBindingsOf(host)]),
      ),
      NetworkMode: network ?? networkMode,
      RestartPolicy: args.mapping('restart_policy'),
      Privileged: args.boolean('privileged'),
      AutoRemove: args.boolean('auto_remove'),
    },
    NetworkingConfig: network ? { EndpointsConfig: { [network]: {} } } : undefined,
  };
}

function bindsOf(args: Arguments): string[] | undefined {
  const volumes = args.value('volumes');
  if (!isMapping(volumes)) return toList(volumes);
  return Object.entries(volumes).map(([host, target]) =>
    isMapping(target)
      ? `${host}:${String(target.bind)}:${String(target.mode ?? 'rw')}`
      : `${host}:${String(target)}:rw`,
  );
}

/** SDK port values: null (any host port), a port, [host_ip, port], or a list of ports. */
function portBindingsOf(host: unknown): Array<{ HostIp: string; HostPort: string }> {
  if (host === null || host === undefined) return [{ HostIp: '', HostPort: '' }];
  if (Array.isArray(host)) {
    if (host.length === 2 && typeof host[0] === 'string' && host[0].includes('.')) {
      return [{ HostIp: host[0], HostPort: String(host[1]) }];
    }
    return host.map((port) => ({ HostIp: '', HostPort: String(port) }));
  }
  return [{ HostIp: '', HostPort: String(host) }];
}

export async function createContainer(docker: Dockerode, args: Arguments, signal?: AbortSignal) {
  const id = await createEngineContainer(docker, args.string('name'), buildCreateBody(args), signal, false);
  return describeContainer(docker, id, signal);
}

/** POSTs /containers/create, pulling the image first when `pullMissing` and the Engine lacks it. */
export async function createEngineContainer(
  docker: Dockerode,
  name: string | undefined,
  body: Record<string, unknown>,
  signal: AbortSignal | undefined,
  pullMissing: boolean,
): Promise<string> {
  // _query/_body keep the body (environment included) out of the URL, where docker-modem would copy it.
  const options = withSignal({ _query: name ? { name } : {}, _body: body }, signal);
  const create = () => docker.createContainer(options as unknown as Dockerode.ContainerCreateOptions);
  const what = `creating a container from ${String(body.Image)}`;
  try {
    return (await callEngine(what, create)).id;
  } catch (error) {
    // A 404 also answers a missing network; only a missing image is worth a pull (as in the SDK).
    const missing =
      error instanceof DockerActionError && error.statusCode === 404 && /no such image/i.test(error.message);
    if (!missing || !pullMissing) throw error;
    await pullImage(docker, String(body.Image), undefined, false, signal);
    return (await callEngine(what, create)).id;
  }
}

/** Like the SDK's containers.run: detached returns the container, otherwise its output once it exits. */
export async function runContainer(docker: Dockerode, args: Arguments, signal?: AbortSignal): Promise<unknown> {
  const detach = args.boolean('detach') ?? false;
  const remove = args.boolean('remove') ?? false;
  const body = buildCreateBody(args);
  const hostConfig = body.HostConfig as Record<string, unknown>;
  // Detached containers cannot be removed by us once they exit, so the Engine does it.
  if (detach && remove) hostConfig.AutoRemove = true;
  const id = await createEngineContainer(docker, args.string('name'), body, signal, true);
  const container = docker.getContainer(id);
  try {
    await callEngine(`starting container ${id.slice(0, 12)}`, () => container.start(withSignal({}, signal)));
    if (detach) return await describeContainer(docker, id, signal);
    return await collectRun(docker, args, id, signal);
  } finally {
    if (remove && !detach) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
    }
  }
}

async function collectRun(
  docker: Dockerode,
  args: Arguments,
  id: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const container = docker.getContainer(id);
  const attrs = await callEngine(`inspecting container ${id.slice(0, 12)}`, () =>
    container.inspect(withSignal({}, signal)),
  );
  const driver = attrs.HostConfig.LogConfig?.Type ?? 'json-file';
  const readable = ['json-file', 'journald', 'local'].includes(driver);
  const streams = { stdout: args.boolean('stdout') ?? true, stderr: args.boolean('stderr') ?? false };
  const output = readable ? readLogs(docker, id, attrs.Config.Tty, { ...streams, follow: true }, signal) : null;
  output?.catch(() => undefined);
  const waited = await callEngine(`waiting for container ${id.slice(0, 12)}`, () =>
    container.wait(withSignal({}, signal)),
  );
  const status = Number((waited as { StatusCode?: number }).StatusCode ?? 0);
  if (status === 0) return output ? await output : null;
  const stderr = hostAutoRemoves(attrs)
    ? ''
    : await readLogs(docker, id, attrs.Config.Tty, { stdout: false, stderr: true, follow: false }, signal).catch(
        () => '',
      );
  const command = args.value('command');
  const shown = Array.isArray(command) ? command.join(' ') : String(command ?? '');
  throw new DockerActionError(
    `Command '${shown}' in image '${String(args.value('image'))}' returned non-zero exit status ${status}: ${stderr}`,
  );
}

const hostAutoRemoves = (attrs: Dockerode.ContainerInspectInfo) => Boolean(attrs.HostConfig.AutoRemove);

const VERBS = { start: 'starting', stop: 'stopping', restart: 'restarting', remove: 'removing' } as const;

/** start/stop/restart/remove of one container by id or name; returns the container (null once removed). */
export function changeContainer(action: 'start' | 'stop' | 'restart' | 'remove'): Operation {
  return async (docker, args, signal) => {
    const id = args.string('container_id', true);
    const container = docker.getContainer(id);
    const timeout = args.integer('timeout');
    const what = `${VERBS[action]} container ${id}`;
    if (action === 'remove') {
      const options = { force: args.boolean('force') ?? false, v: args.boolean('v') ?? false };
      await callEngine(what, () => container.remove(withSignal(options, signal)));
      return null;
    }
    const options = withSignal(timeout === undefined ? {} : { t: timeout }, signal);
    // 304 (already started / already stopped) is success, as in the Docker SDK.
    const change = container[action].bind(container) as (options: object) => Promise<unknown>;
    await callEngine(what, () => change(options), [304]);
    return describeContainer(docker, id, signal);
  };
}
