import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Docker Engine API (v1.41+) served over a UNIX socket, with containers, images, networks and
 * volumes kept in memory. Paths, methods, query parameters, status codes and JSON shapes follow the
 * Engine (checked against a real API server); programs do not run: a started container's output
 * and exit come from `program`. Every request is recorded for assertions.
 */

export interface RecordedRequest {
  method: string;
  /** Without the /v1.xx prefix. */
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export interface StubImageSpec {
  cmd?: string[];
  entrypoint?: string[] | null;
  env?: string[];
  labels?: Record<string, string>;
  /** Registry images only: the pull answers 200 and reports this error in its progress stream. */
  pullError?: string;
}

/** What a started container does: prints, then exits with `exitCode`, unless it keeps running. */
export interface ProgramResult {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  keepsRunning?: boolean;
}

export type Program = (container: { name: string; cmd: string[]; env: string[]; image: string }) => ProgramResult;

export interface DockerApiStub {
  socketPath: string;
  requests: RecordedRequest[];
  /** An image present on the Engine; returns its id. */
  addImage(reference: string, spec?: StubImageSpec): string;
  /** An image the registry serves to pulls (replacing any earlier one under that reference). */
  publishImage(reference: string, spec?: StubImageSpec): void;
  close(): Promise<void>;
}

/** `echo` prints its arguments, `true`/`false` exit 0/1, anything else keeps running until stopped. */
export const defaultProgram: Program = ({ cmd }) => {
  if (cmd[0] === 'echo') return { stdout: `${cmd.slice(1).join(' ')}\n` };
  if (cmd[0] === 'true' || cmd[0] === 'false') return { exitCode: cmd[0] === 'true' ? 0 : 1 };
  return { keepsRunning: true };
};

interface Image {
  Id: string;
  RepoTags: string[];
  Created: Date;
  spec: StubImageSpec;
}

interface Container {
  id: string;
  name: string;
  created: Date;
  imageId: string;
  body: Record<string, unknown>;
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  networks: Record<string, { Aliases: string[] | null }>;
  state: { Status: string; Running: boolean; ExitCode: number; StartedAt: string; FinishedAt: string; Pid: number };
  logs: Array<[1 | 2, string]>;
  onExit: Array<() => void>;
}

class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** What the Engine fills in for a HostConfig field the create request left out. */
const HOST_CONFIG_DEFAULTS = {
  Binds: null,
  ContainerIDFile: '',
  LogConfig: { Type: 'json-file', Config: {} },
  NetworkMode: 'bridge',
  PortBindings: {},
  RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
  AutoRemove: false,
  VolumeDriver: '',
  VolumesFrom: null,
  CapAdd: null,
  CapDrop: null,
  CgroupnsMode: 'private',
  Dns: [],
  DnsOptions: [],
  DnsSearch: [],
  ExtraHosts: null,
  GroupAdd: null,
  IpcMode: 'private',
  Links: null,
  OomScoreAdj: 0,
  PidMode: '',
  Privileged: false,
  PublishAllPorts: false,
  ReadonlyRootfs: false,
  SecurityOpt: null,
  UTSMode: '',
  UsernsMode: '',
  ShmSize: 67108864,
  Runtime: 'runc',
  Isolation: '',
  CpuShares: 0,
  Memory: 0,
  NanoCpus: 0,
  Devices: [],
  Ulimits: null,
  Init: null,
};
const hex = (seed: string) => createHash('sha256').update(seed).digest('hex');
const record = (value: unknown) => (value ?? {}) as Record<string, unknown>;

/** Familiar form, as the Engine reports tags: docker.io/library/alpine -> alpine:latest. */
export function familiarReference(reference: string): string {
  let name = reference.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
  const slash = name.lastIndexOf('/');
  if (!name.includes('@') && !name.slice(slash + 1).includes(':')) name += ':latest';
  return name;
}

const boolParam = (value: string | undefined) =>
  value !== undefined && !['', '0', 'no', 'false', 'none'].includes(value);

function parseFilters(raw: string | undefined, allowed: readonly string[], implemented: readonly string[]) {
  if (!raw) return new Map<string, string[]>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new EngineError(400, `invalid filter: ${raw}`);
  }
  const filters = new Map<string, string[]>();
  for (const [key, value] of Object.entries(record(parsed))) {
    if (!allowed.includes(key)) throw new EngineError(400, `invalid filter '${key}'`);
    if (!implemented.includes(key)) throw new EngineError(500, `filter '${key}' is not implemented by the test stub`);
    // Engines accept both {"key": ["v"]} and the older {"key": {"v": true}}.
    filters.set(key, Array.isArray(value) ? value.map(String) : Object.keys(record(value)));
  }
  return filters;
}

function matchesLabels(labels: Record<string, string>, wanted: string[] | undefined) {
  return (wanted ?? []).every((label) => {
    const [key, value] = label.split(/=(.*)/s) as [string, string | undefined];
    return key in labels && (value === undefined || labels[key] === value);
  });
}

export async function startDockerApiStub(options: { program?: Program } = {}): Promise<DockerApiStub> {
  const program = options.program ?? defaultProgram;
  const dir = await mkdtemp(join(tmpdir(), 'docker-api-stub-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: RecordedRequest[] = [];
  const images = new Map<string, Image>();
  const registry = new Map<string, StubImageSpec>();
  const containers = new Map<string, Container>();
  const networks = new Map<string, Record<string, unknown>>();
  const volumes = new Map<string, Record<string, unknown>>();
  let clock = Date.parse('2024-05-01T12:00:00Z');
  const now = () => {
    clock += 1000;
    return new Date(clock);
  };

  for (const name of ['bridge', 'host', 'none']) {
    networks.set(name, networkShape(name, name === 'none' ? 'null' : name, {}));
  }

  function networkShape(name: string, driver: string, labels: Record<string, string>) {
    const id = hex(`network ${name} ${clock}`);
    return {
      Name: name,
      Id: id,
      Created: now().toISOString(),
      Scope: 'local',
      Driver: driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: {},
      Labels: labels,
    };
  }

  function addImage(reference: string, spec: StubImageSpec = {}) {
    const tag = familiarReference(reference);
    const id = `sha256:${hex(`${tag} ${JSON.stringify(spec)} ${clock}`)}`;
    for (const image of images.values()) image.RepoTags = image.RepoTags.filter((t) => t !== tag);
    images.set(id, { Id: id, RepoTags: [tag], Created: now(), spec });
    return id;
  }

  function findImage(name: string): Image {
    const tag = familiarReference(name);
    for (const image of images.values()) {
      const bareId = image.Id.slice('sha256:'.length);
      if (image.RepoTags.includes(tag) || image.Id === name || (name.length >= 4 && bareId.startsWith(name)))
        return image;
    }
    throw new EngineError(404, `No such image: ${tag}`);
  }

  function findContainer(ref: string): Container {
    const byName = [...containers.values()].find((c) => c.name === ref.replace(/^\//, '') || c.id === ref);
    const byPrefix = [...containers.values()].filter((c) => c.id.startsWith(ref));
    const found = byName ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
    if (!found) throw new EngineError(404, `No such container: ${ref}`);
    return found;
  }

  function findNetwork(ref: string) {
    const found = [...networks.values()].find((n) => n.Name === ref || n.Id === ref || String(n.Id).startsWith(ref));
    if (!found) throw new EngineError(404, `network ${ref} not found`);
    return found;
  }

  function imageInspect(image: Image) {
    return {
      Id: image.Id,
      RepoTags: image.RepoTags,
      RepoDigests: image.RepoTags.map((tag) => `${tag.split(':')[0]}@sha256:${hex(image.Id)}`),
      Parent: '',
      Comment: '',
      Created: image.Created.toISOString(),
      DockerVersion: '',
      Author: '',
      Config: {
        Hostname: '',
        Domainname: '',
        User: '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Image: '',
        Volumes: null,
        Env: image.spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: image.spec.cmd ?? ['/bin/sh'],
        Entrypoint: image.spec.entrypoint ?? null,
        WorkingDir: '',
        Labels: image.spec.labels ?? null,
        OnBuild: null,
      },
      Architecture: 'amd64',
      Os: 'linux',
      Size: 7_800_000,
      GraphDriver: { Data: null, Name: 'overlay2' },
      RootFS: { Type: 'layers', Layers: [`sha256:${hex(`layer ${image.Id}`)}`] },
      Metadata: { LastTagTime: ZERO_TIME },
    };
  }

  function imageSummary(image: Image) {
    const inspect = imageInspect(image);
    const users = [...containers.values()].filter((c) => c.imageId === image.Id).length;
    return {
      Id: image.Id,
      ParentId: '',
      RepoTags: image.RepoTags,
      RepoDigests: inspect.RepoDigests,
      Created: Math.floor(image.Created.getTime() / 1000),
      Size: inspect.Size,
      SharedSize: -1,
      Labels: inspect.Config.Labels,
      Containers: users,
    };
  }

  function statusText(c: Container) {
    if (c.state.Status === 'running') return 'Up 2 seconds';
    if (c.state.Status === 'exited') return `Exited (${c.state.ExitCode}) 1 second ago`;
    return 'Created';
  }

  function endpoints(c: Container) {
    return Object.fromEntries(
      Object.entries(c.networks).map(([name, endpoint]) => [
        name,
        {
          IPAMConfig: null,
          Links: null,
          Aliases: endpoint.Aliases,
          NetworkID: String(networks.get(name)?.Id ?? ''),
          EndpointID: c.state.Running ? hex(`endpoint ${c.id} ${name}`) : '',
          Gateway: c.state.Running ? '172.18.0.1' : '',
          IPAddress: c.state.Running ? '172.18.0.2' : '',
          IPPrefixLen: c.state.Running ? 16 : 0,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: '',
          DriverOpts: null,
        },
      ]),
    );
  }

  function mounts(c: Container) {
    return ((c.hostConfig.Binds as string[] | undefined) ?? []).map((bind) => {
      const [source = '', destination = '', mode = ''] = bind.split(':');
      const named = !source.startsWith('/');
      return {
        Type: named ? 'volume' : 'bind',
        ...(named ? { Name: source, Driver: 'local' } : {}),
        Source: named ? `/var/lib/docker/volumes/${source}/_data` : source,
        Destination: destination,
        Mode: mode,
        RW: !mode.split(',').includes('ro'),
        Propagation: named ? '' : 'rprivate',
      };
    });
  }

  function containerInspect(c: Container) {
    const cmd = (c.config.Cmd as string[]) ?? [];
    const entrypoint = (c.config.Entrypoint as string[] | null) ?? [];
    const [path = '', ...args] = [...entrypoint, ...cmd];
    return {
      Id: c.id,
      Created: c.created.toISOString(),
      Path: path,
      Args: args,
      State: { ...c.state, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Error: '' },
      Image: c.imageId,
      ResolvConfPath: `/var/lib/docker/containers/${c.id}/resolv.conf`,
      HostnamePath: `/var/lib/docker/containers/${c.id}/hostname`,
      HostsPath: `/var/lib/docker/containers/${c.id}/hosts`,
      LogPath: `/var/lib/docker/containers/${c.id}/${c.id}-json.log`,
      Name: `/${c.name}`,
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      HostConfig: c.hostConfig,
      GraphDriver: { Data: null, Name: 'overlay2' },
      Mounts: mounts(c),
      Config: c.config,
      NetworkSettings: {
        Bridge: '',
        SandboxID: c.state.Running ? hex(`sandbox ${c.id}`) : '',
        SandboxKey: '',
        HairpinMode: false,
        LinkLocalIPv6Address: '',
        LinkLocalIPv6PrefixLen: 0,
        SecondaryIPAddresses: null,
        SecondaryIPv6Addresses: null,
        // Deprecated top-level copies of the default network's endpoint, still sent by the Engine.
        EndpointID: '',
        Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        IPAddress: '',
        IPPrefixLen: 0,
        IPv6Gateway: '',
        MacAddress: '',
        Ports: c.state.Running ? (c.hostConfig.PortBindings ?? {}) : {},
        Networks: endpoints(c),
      },
    };
  }

  function containerSummary(c: Container) {
    const inspect = containerInspect(c);
    return {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: String(c.config.Image),
      ImageID: c.imageId,
      Command: [inspect.Path, ...inspect.Args].join(' '),
      Created: Math.floor(c.created.getTime() / 1000),
      Ports: [],
      Labels: c.config.Labels,
      State: c.state.Status,
      Status: statusText(c),
      HostConfig: { NetworkMode: String(c.hostConfig.NetworkMode) },
      NetworkSettings: { Networks: inspect.NetworkSettings.Networks },
      Mounts: inspect.Mounts,
    };
  }

  function exitContainer(c: Container, code: number) {
    c.state = { ...c.state, Status: 'exited', Running: false, Pid: 0, ExitCode: code, FinishedAt: now().toISOString() };
    for (const notify of c.onExit.splice(0)) notify();
    if (c.hostConfig.AutoRemove) containers.delete(c.id);
  }

  function startContainer(c: Container) {
    c.state = { ...c.state, Status: 'running', Running: true, Pid: 4242, ExitCode: 0, StartedAt: now().toISOString() };
    const image = images.get(c.imageId);
    const result = program({
      name: c.name,
      cmd: [...((c.config.Entrypoint as string[] | null) ?? []), ...((c.config.Cmd as string[] | null) ?? [])],
      env: (c.config.Env as string[]) ?? [],
      image: image?.RepoTags[0] ?? c.imageId,
    });
    if (result.stdout) c.logs.push([1, result.stdout]);
    if (result.stderr) c.logs.push([2, result.stderr]);
    // The process exits after the start request has been answered, as a real one would.
    if (!result.keepsRunning) setTimeout(() => c.state.Running && exitContainer(c, result.exitCode ?? 0), 5);
  }

  function createContainer(query: Record<string, string>, body: Record<string, unknown>) {
    if (typeof body.Image !== 'string' || body.Image === '') throw new EngineError(400, 'No image was specified');
    const name = query.name ?? `stub_${randomBytes(4).toString('hex')}`;
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
      throw new EngineError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const clash = [...containers.values()].find((c) => c.name === name.replace(/^\//, ''));
    if (clash) {
      throw new EngineError(
        409,
        `Conflict. The container name "/${clash.name}" is already in use by container "${clash.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const image = findImage(body.Image);
    const hostConfig: Record<string, unknown> = { ...HOST_CONFIG_DEFAULTS, ...record(body.HostConfig) };
    const networkMode = String(hostConfig.NetworkMode);
    const requested = record(record(body.NetworkingConfig).EndpointsConfig);
    if (!['bridge', 'host', 'none', 'default'].includes(networkMode) && !networkMode.startsWith('container:')) {
      findNetwork(networkMode);
    }
    for (const bind of (hostConfig.Binds as string[] | undefined) ?? []) {
      const source = bind.split(':')[0] ?? '';
      if (!source.startsWith('/') && !volumes.has(source)) volumes.set(source, volumeShape(source, {}));
    }
    const id = hex(`container ${name} ${clock} ${randomBytes(8).toString('hex')}`);
    const ownNetwork = networkMode === 'default' ? 'bridge' : networkMode;
    const attached = ['host', 'none'].includes(ownNetwork) ? {} : { [ownNetwork]: record(requested[ownNetwork]) };
    const config = {
      Hostname: id.slice(0, 12),
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      WorkingDir: '',
      Volumes: null,
      OnBuild: null,
      ...body,
      Env: [...((body.Env as string[] | undefined) ?? []), ...(imageInspect(image).Config.Env ?? [])],
      Cmd: (body.Cmd as string[] | undefined) ?? (body.Entrypoint ? null : imageInspect(image).Config.Cmd),
      Entrypoint: (body.Entrypoint as string[] | undefined) ?? imageInspect(image).Config.Entrypoint,
      Labels: { ...(image.spec.labels ?? {}), ...((body.Labels as Record<string, string> | undefined) ?? {}) },
    };
    delete (config as Record<string, unknown>).HostConfig;
    delete (config as Record<string, unknown>).NetworkingConfig;
    const container: Container = {
      id,
      name: name.replace(/^\//, ''),
      created: now(),
      imageId: image.Id,
      body,
      config,
      hostConfig,
      networks: Object.fromEntries(
        Object.entries(attached).map(([net, endpoint]) => [
          net,
          { Aliases: (record(endpoint).Aliases as string[]) ?? null },
        ]),
      ),
      state: { Status: 'created', Running: false, ExitCode: 0, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, Pid: 0 },
      logs: [],
      onExit: [],
    };
    containers.set(id, container);
    return { Id: id, Warnings: [] };
  }

  function volumeShape(name: string, labels: Record<string, string>) {
    return {
      CreatedAt: now().toISOString(),
      Driver: 'local',
      Labels: labels,
      Mountpoint: `/var/lib/docker/volumes/${name}/_data`,
      Name: name,
      Options: null,
      Scope: 'local',
    };
  }

  function listContainers(query: Record<string, string>) {
    const filters = parseFilters(
      query.filters,
      [
        'ancestor',
        'before',
        'expose',
        'exited',
        'health',
        'id',
        'isolation',
        'is-task',
        'label',
        'name',
        'network',
        'publish',
        'since',
        'status',
        'volume',
      ],
      ['ancestor', 'exited', 'id', 'label', 'name', 'status'],
    );
    const any = (key: string, test: (value: string) => boolean) =>
      !filters.has(key) || (filters.get(key) ?? []).some(test);
    const limit = Number(query.limit ?? 0);
    const all = boolParam(query.all) || limit > 0;
    const found = [...containers.values()]
      .filter((c) => all || c.state.Running)
      .filter((c) => any('id', (v) => c.id.startsWith(v)))
      .filter((c) => any('name', (v) => new RegExp(v).test(`/${c.name}`)))
      .filter((c) => any('status', (v) => c.state.Status === v))
      .filter((c) => any('exited', (v) => c.state.Status === 'exited' && String(c.state.ExitCode) === v))
      .filter((c) =>
        any('ancestor', (v) => images.get(c.imageId)?.RepoTags.includes(familiarReference(v)) || c.imageId === v),
      )
      .filter((c) => matchesLabels(c.config.Labels as Record<string, string>, filters.get('label')))
      .sort((a, b) => b.created.getTime() - a.created.getTime());
    return (limit > 0 ? found.slice(0, limit) : found).map(containerSummary);
  }

  function pull(query: Record<string, string>, res: ServerResponse) {
    const [repository, ownTag] = (query.fromImage ?? '').split(/:(?=[^/]*$)/) as [string, string | undefined];
    const tag = query.tag || ownTag;
    const base = familiarReference(repository).replace(/:latest$/, '');
    const published = [...registry.keys()].filter((ref) => ref.startsWith(`${base}:`));
    if (published.length === 0) {
      throw new EngineError(
        404,
        `pull access denied for ${base}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
      );
    }
    const wanted = tag ? [`${base}:${tag}`] : published;
    if (tag && !registry.has(`${base}:${tag}`)) {
      throw new EngineError(404, `manifest for ${base}:${tag} not found: manifest unknown: manifest unknown`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).flushHeaders();
    for (const ref of wanted) {
      const spec = registry.get(ref) ?? {};
      res.write(`${JSON.stringify({ status: `Pulling from ${base}`, id: ref.split(':')[1] })}\r\n`);
      if (spec.pullError) {
        res.end(`${JSON.stringify({ errorDetail: { message: spec.pullError }, error: spec.pullError })}\r\n`);
        return;
      }
      const id = addImage(ref, spec);
      res.write(`${JSON.stringify({ status: `Digest: sha256:${hex(id)}` })}\r\n`);
      res.write(`${JSON.stringify({ status: `Status: Downloaded newer image for ${ref}` })}\r\n`);
    }
    res.end();
  }

  function logs(c: Container, query: Record<string, string>, res: ServerResponse) {
    const wanted = new Set<number>([...(boolParam(query.stdout) ? [1] : []), ...(boolParam(query.stderr) ? [2] : [])]);
    if (wanted.size === 0) throw new EngineError(400, 'You must choose at least one stream');
    const tty = Boolean(c.config.Tty);
    const type = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
    res.writeHead(200, { 'Content-Type': type }).flushHeaders();
    for (const [stream, text] of c.logs.filter(([stream]) => wanted.has(stream))) {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      res.write(tty ? payload : Buffer.concat([header, payload]));
    }
    if (boolParam(query.follow) && c.state.Running) c.onExit.push(() => res.end());
    else res.end();
  }

  function removeImage(name: string, force: boolean) {
    const image = findImage(name);
    const tag = familiarReference(name);
    const untagged = image.RepoTags.includes(tag) ? [{ Untagged: tag }] : [];
    if (untagged.length > 0 && image.RepoTags.length > 1) {
      image.RepoTags = image.RepoTags.filter((t) => t !== tag);
      return untagged;
    }
    const user = [...containers.values()].find((c) => c.imageId === image.Id);
    if (user && !force) {
      throw new EngineError(
        409,
        `conflict: unable to remove repository reference "${name}" (must force) - container ${user.id.slice(0, 12)} is using its referenced image ${image.Id.slice(7, 19)}`,
      );
    }
    images.delete(image.Id);
    return [...untagged, { Deleted: image.Id }];
  }

  type Handler = (
    match: string[],
    query: Record<string, string>,
    body: Record<string, unknown>,
    res: ServerResponse,
  ) => unknown;
  const routes: Array<[string, RegExp, Handler]> = [
    [
      'GET',
      /^\/_ping$/,
      (_m, _q, _b, res) => void res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('OK'),
    ],
    [
      'HEAD',
      /^\/_ping$/,
      (_m, _q, _b, res) => void res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(),
    ],
    ['GET', /^\/info$/, () => info()],
    ['GET', /^\/version$/, () => version()],
    ['GET', /^\/containers\/json$/, (_m, query) => listContainers(query)],
    ['POST', /^\/containers\/create$/, (_m, query, body) => [201, createContainer(query, body)]],
    ['GET', /^\/containers\/([^/]+)\/json$/, ([, id]) => containerInspect(findContainer(String(id)))],
    ['GET', /^\/containers\/([^/]+)\/logs$/, ([, id], query, _b, res) => logs(findContainer(String(id)), query, res)],
    [
      'POST',
      /^\/containers\/([^/]+)\/(start|stop|restart|kill)$/,
      ([, id, action]) => {
        const c = findContainer(String(id));
        if (action === 'start' && c.state.Running) return [304, null];
        if ((action === 'stop' || action === 'kill') && !c.state.Running) {
          if (action === 'kill') throw new EngineError(409, `Container ${c.id} is not running`);
          return [304, null];
        }
        if (c.state.Running) exitContainer(c, action === 'kill' ? 137 : 143);
        if (action === 'start' || action === 'restart') startContainer(c);
        return [204, null];
      },
    ],
    [
      'POST',
      /^\/containers\/([^/]+)\/wait$/,
      async ([, id]) => {
        const c = findContainer(String(id));
        if (c.state.Running) await new Promise<void>((resolve) => c.onExit.push(resolve));
        return { Error: null, StatusCode: c.state.ExitCode };
      },
    ],
    [
      'DELETE',
      /^\/containers\/([^/]+)$/,
      ([, id], query) => {
        const c = findContainer(String(id));
        if (c.state.Running && !boolParam(query.force)) {
          throw new EngineError(
            409,
            `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`,
          );
        }
        if (c.state.Running) exitContainer(c, 137);
        containers.delete(c.id);
        return [204, null];
      },
    ],
    [
      'GET',
      /^\/images\/json$/,
      (_m, query) => {
        const filters = parseFilters(
          query.filters,
          ['before', 'dangling', 'label', 'reference', 'since', 'until'],
          ['dangling', 'label', 'reference'],
        );
        const refs = filters.get('reference');
        return [...images.values()]
          .filter(
            (i) => !filters.has('dangling') || (filters.get('dangling')?.[0] === 'true') === (i.RepoTags.length === 0),
          )
          .filter(
            (i) =>
              !refs || i.RepoTags.some((t) => refs.some((r) => t === familiarReference(r) || t.split(':')[0] === r)),
          )
          .filter((i) => matchesLabels(i.spec.labels ?? {}, filters.get('label')))
          .map(imageSummary);
      },
    ],
    ['POST', /^\/images\/create$/, (_m, query, _b, res) => pull(query, res)],
    ['GET', /^\/images\/(.+)\/json$/, ([, name]) => imageInspect(findImage(String(name)))],
    ['DELETE', /^\/images\/(.+)$/, ([, name], query) => removeImage(String(name), boolParam(query.force))],
    [
      'GET',
      /^\/networks$/,
      (_m, query) => {
        const filters = parseFilters(
          query.filters,
          ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'],
          ['id', 'label', 'name'],
        );
        return [...networks.values()]
          .filter((n) => !filters.has('name') || (filters.get('name') ?? []).some((v) => String(n.Name).includes(v)))
          .filter((n) => !filters.has('id') || (filters.get('id') ?? []).some((v) => String(n.Id).startsWith(v)))
          .filter((n) => matchesLabels(n.Labels as Record<string, string>, filters.get('label')));
      },
    ],
    ['GET', /^\/networks\/([^/]+)$/, ([, id]) => findNetwork(String(id))],
    [
      'POST',
      /^\/networks\/create$/,
      (_m, _q, body) => {
        const name = String(body.Name ?? '');
        if (!name) throw new EngineError(400, 'network name is required');
        if (networks.has(name)) throw new EngineError(409, `network with name ${name} already exists`);
        const network = networkShape(
          name,
          String(body.Driver ?? 'bridge'),
          (body.Labels as Record<string, string>) ?? {},
        );
        networks.set(name, network);
        return [201, { Id: network.Id, Warning: '' }];
      },
    ],
    [
      'DELETE',
      /^\/networks\/([^/]+)$/,
      ([, id]) => {
        const network = findNetwork(String(id));
        const name = String(network.Name);
        if (['bridge', 'host', 'none'].includes(name))
          throw new EngineError(403, `${name} is a pre-defined network and cannot be removed`);
        if ([...containers.values()].some((c) => name in c.networks)) {
          throw new EngineError(
            403,
            `error while removing network: network ${name} id ${String(network.Id)} has active endpoints`,
          );
        }
        networks.delete(name);
        return [204, null];
      },
    ],
    [
      'GET',
      /^\/volumes$/,
      (_m, query) => {
        const filters = parseFilters(query.filters, ['dangling', 'driver', 'label', 'name'], ['label', 'name']);
        const found = [...volumes.values()]
          .filter((v) => !filters.has('name') || (filters.get('name') ?? []).some((n) => String(v.Name).includes(n)))
          .filter((v) => matchesLabels(v.Labels as Record<string, string>, filters.get('label')));
        return { Volumes: found, Warnings: null };
      },
    ],
    [
      'POST',
      /^\/volumes\/create$/,
      (_m, _q, body) => {
        const name = String(body.Name || hex(`volume ${clock}`));
        if (!volumes.has(name)) volumes.set(name, volumeShape(name, (body.Labels as Record<string, string>) ?? {}));
        return [201, volumes.get(name)];
      },
    ],
    [
      'DELETE',
      /^\/volumes\/([^/]+)$/,
      ([, name]) => {
        if (!volumes.has(String(name))) throw new EngineError(404, `get ${String(name)}: no such volume`);
        const users = [...containers.values()].filter((c) => mounts(c).some((m) => m.Name === name));
        if (users.length > 0)
          throw new EngineError(
            409,
            `remove ${String(name)}: volume is in use - [${users.map((c) => c.id).join(', ')}]`,
          );
        volumes.delete(String(name));
        return [204, null];
      },
    ],
  ];

  function info() {
    const all = [...containers.values()];
    return {
      ID: 'STUB:ENGINE:0000',
      Containers: all.length,
      ContainersRunning: all.filter((c) => c.state.Running).length,
      ContainersPaused: 0,
      ContainersStopped: all.filter((c) => !c.state.Running).length,
      Images: images.size,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'null'],
        Authorization: null,
        Log: ['json-file', 'local'],
      },
      MemoryLimit: true,
      SwapLimit: true,
      Debug: false,
      SystemTime: new Date(clock).toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'systemd',
      CgroupVersion: '2',
      KernelVersion: '6.1.0-18-amd64',
      OperatingSystem: 'Debian GNU/Linux 12 (bookworm)',
      OSVersion: '12',
      OSType: 'linux',
      Architecture: 'x86_64',
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
      NCPU: 2,
      MemTotal: 25_275_953_152,
      DockerRootDir: '/var/lib/docker',
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: 'stub-host',
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: '26.1.0',
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: false,
      Isolation: '',
      SecurityOptions: ['name=seccomp,profile=builtin', 'name=cgroupns'],
      Warnings: null,
    };
  }

  function version() {
    const details = {
      ApiVersion: '1.45',
      Arch: 'amd64',
      GitCommit: 'stub',
      GoVersion: 'go1.21.9',
      KernelVersion: '6.1.0-18-amd64',
    };
    return {
      Platform: { Name: 'Docker Engine - Community' },
      Components: [{ Name: 'Engine', Version: '26.1.0', Details: { ...details, MinAPIVersion: '1.24', Os: 'linux' } }],
      Version: '26.1.0',
      ApiVersion: '1.45',
      MinAPIVersion: '1.24',
      GitCommit: 'stub',
      GoVersion: 'go1.21.9',
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: '6.1.0-18-amd64',
      BuildTime: '2024-04-22T16:51:00.000000000+00:00',
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v1\.\d+(?=\/)/, '');
    const query = Object.fromEntries(url.searchParams);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    requests.push({ method: req.method ?? 'GET', path, query, body });
    res.setHeader('Api-Version', '1.45');
    res.setHeader('Server', 'Docker/26.1.0 (linux)');
    try {
      if (text && (typeof body !== 'object' || body === null))
        throw new EngineError(400, 'invalid JSON in request body');
      for (const [method, pattern, handler] of routes) {
        const match = pattern.exec(path);
        if (!match || method !== req.method) continue;
        const decoded = match.map((part) => decodeURIComponent(part));
        const result = await handler(decoded, query, record(body), res);
        if (res.headersSent) return;
        const [status, payload] = Array.isArray(result) && typeof result[0] === 'number' ? result : [200, result];
        if (payload === null) res.writeHead(status).end();
        else res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(payload)}\n`);
        return;
      }
      throw new EngineError(404, 'page not found');
    } catch (error) {
      const status = error instanceof EngineError ? error.status : 500;
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ message: (error as Error).message })}\n`);
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    addImage,
    publishImage: (reference, spec = {}) => void registry.set(familiarReference(reference), spec),
    async close() {
      for (const c of containers.values()) for (const notify of c.onExit.splice(0)) notify();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
