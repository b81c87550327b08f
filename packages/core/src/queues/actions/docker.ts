import Dockerode from 'dockerode';
import { fail, ok, type Result } from '../../shared/result.ts';
import { CREATE_ARGS, changeContainer, createContainer, runContainer } from './docker-containers.ts';
import {
  type Arguments,
  callEngine,
  DockerActionError,
  describeContainer,
  describeImage,
  type ImageCache,
  pullImage,
  readArguments,
  withSignal,
} from './docker-engine.ts';

export type { ContainerResult, ImageResult } from './docker-engine.ts';
export { DockerActionError } from './docker-engine.ts';

/** One invocation of a docker action: `$containers: {$list: {all: true}}` is chain ['containers', 'list']. */
export interface DockerInvocation {
  chain: string[];
  args: Record<string, unknown>;
}

const INVOCATION_KEY = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The one `$` chain of an action's settings; other keys (`output`, `project_name`, ...) belong to the
 * action and are ignored here. Each level must hold exactly one `$` key and nothing else, so the call
 * never depends on the order of keys in the file.
 */
export function parseDockerInvocation(settings: Record<string, unknown>): Result<DockerInvocation> {
  const top = Object.keys(settings).filter((key) => key.startsWith('$'));
  if (top.length !== 1) {
    const found = top.length === 0 ? 'none' : `several (${top.join(', ')})`;
    return fail(
      'INVALID',
      `A docker action needs exactly one invocation, a key such as $info or $containers; found ${found}`,
    );
  }
  const chain: string[] = [];
  let key = top[0] as string;
  let value: unknown = settings[key];
  for (;;) {
    const name = INVOCATION_KEY.exec(key)?.[1];
    if (!name) return fail('INVALID', `"${key}" is not an invocation name: use $ followed by letters, digits or _`);
    chain.push(name);
    const at = chain.map((part) => `$${part}`).join('.');
    if (value === null || value === undefined) return ok({ chain, args: {} });
    if (!isMapping(value)) {
      return fail('INVALID', `The arguments of ${at} must be a mapping of names to values, not ${describeType(value)}`);
    }
    const keys = Object.keys(value);
    const nested = keys.filter((k) => k.startsWith('$'));
    if (nested.length === 0) return ok({ chain, args: { ...value } });
    if (keys.length !== 1) {
      return fail(
        'INVALID',
        `Under ${at} put either one $ key (such as $list) or arguments, not both: found ${keys.join(', ')}`,
      );
    }
    key = nested[0] as string;
    value = value[key];
  }
}

const describeType = (value: unknown) => (Array.isArray(value) ? 'a list' : `a ${typeof value}`);

export const formatInvocation = (chain: readonly string[]) => chain.map((part) => `$${part}`).join('.');

/**
 * A client for DOCKER_HOST (unix:///path, tcp://host:port, http(s)://host:port); none means the local
 * socket. Throws DockerActionError for any other form, since that is a deployment mistake.
 */
export function createDockerClient(dockerHost: string | undefined): Dockerode {
  if (!dockerHost) return new Dockerode({ socketPath: '/var/run/docker.sock' });
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw hostError(dockerHost);
  }
  if (url.protocol === 'unix:' && url.pathname) return new Dockerode({ socketPath: url.pathname });
  if (['tcp:', 'http:', 'https:'].includes(url.protocol) && url.hostname) {
    const protocol = url.protocol === 'https:' ? 'https' : 'http';
    const port = url.port || (protocol === 'https' ? '2376' : '2375');
    return new Dockerode({ host: url.hostname.replace(/^\[|\]$/g, ''), port, protocol });
  }
  throw hostError(dockerHost);
}

const hostError = (value: string) =>
  new DockerActionError(
    `DOCKER_HOST "${value}" is not supported: use unix:///var/run/docker.sock, tcp://host:2375 or https://host:2376`,
  );

/** dockerode's system calls take options (the abort signal) although its type definitions omit them. */
const system = (docker: Dockerode) =>
  docker as unknown as Record<'info' | 'version' | 'ping', (options: object) => Promise<unknown>>;

type Operation = (docker: Dockerode, args: Arguments, signal: AbortSignal | undefined) => Promise<unknown>;

const OPERATIONS: Record<string, { args: readonly string[]; run: Operation }> = {
  info: {
    args: [],
    run: (docker, _, signal) =>
      callEngine('reading the Docker info', () => system(docker).info(withSignal({}, signal))),
  },
  version: {
    args: [],
    run: (docker, _, signal) =>
      callEngine('reading the Docker version', () => system(docker).version(withSignal({}, signal))),
  },
  ping: {
    args: [],
    run: async (docker, _, signal) => {
      await callEngine('pinging Docker', () => system(docker).ping(withSignal({}, signal)));
      return true;
    },
  },
  'containers.list': {
    args: ['all', 'filters', 'limit', 'before', 'since', 'sparse', 'ignore_removed'],
    run: listContainers,
  },
  'containers.get': {
    args: ['container_id'],
    run: (docker, args, signal) => describeContainer(docker, args.string('container_id', true), signal),
  },
  'containers.create': { args: CREATE_ARGS, run: createContainer },
  'containers.run': { args: [...CREATE_ARGS, 'remove', 'stdout', 'stderr'], run: runContainer },
  'containers.start': { args: ['container_id'], run: changeContainer('start') },
  'containers.stop': { args: ['container_id', 'timeout'], run: changeContainer('stop') },
  'containers.restart': { args: ['container_id', 'timeout'], run: changeContainer('restart') },
  'containers.remove': { args: ['container_id', 'force', 'v'], run: changeContainer('remove') },
  'images.list': { args: ['name', 'all', 'filters'], run: listImages },
  'images.get': {
    args: ['name'],
    run: (docker, args, signal) => describeImage(docker, args.string('name', true), signal),
  },
  'images.pull': {
    args: ['repository', 'tag', 'all_tags'],
    run: (docker, args, signal) =>
      pullImage(docker, args.string('repository', true), args.string('tag'), args.boolean('all_tags') ?? false, signal),
  },
};

/** Every invocation the docker action supports, as written in a configuration. */
export const DOCKER_INVOCATIONS = Object.keys(OPERATIONS).map((name) => formatInvocation(name.split('.')));

/**
 * Runs one invocation the way the Python Docker SDK would and returns a plain JSON-like value shaped
 * like the SDK's objects (container.name, image.tags, ...). Throws DockerActionError with a message a
 * person can act on; an aborted signal rejects with the AbortError unchanged.
 */
export async function invokeDocker(
  docker: Dockerode,
  invocation: DockerInvocation,
  signal?: AbortSignal,
): Promise<unknown> {
  const name = formatInvocation(invocation.chain);
  const operation = OPERATIONS[invocation.chain.join('.')];
  if (!operation) {
    throw new DockerActionError(
      `The docker action does not support ${name}; supported: ${DOCKER_INVOCATIONS.join(', ')}`,
    );
  }
  return operation.run(docker, readArguments(name, invocation.args, operation.args), signal);
}

/** Docker SDK filters: each value a list of strings, booleans as 'true'/'false'. */
export function convertFilters(args: Arguments, key: string): string | undefined {
  const filters = args.mapping(key);
  if (!filters) return undefined;
  const converted = Object.fromEntries(
    Object.entries(filters).map(([name, value]) => [name, (Array.isArray(value) ? value : [value]).map(String)]),
  );
  return JSON.stringify(converted);
}

async function listContainers(docker: Dockerode, args: Arguments, signal?: AbortSignal) {
  const limit = args.integer('limit');
  const query = {
    all: args.boolean('all') ?? false,
    filters: convertFilters(args, 'filters'),
    limit: limit !== undefined && limit > 0 ? limit : undefined,
    before: args.string('before'),
    since: args.string('since'),
  };
  const found = await callEngine('listing containers', () => docker.listContainers(withSignal(query, signal)));
  if (args.boolean('sparse')) {
    return found.map((summary) => ({
      id: summary.Id,
      short_id: summary.Id.slice(0, 12),
      name: (summary.Names[0] ?? '').replace(/^\//, ''),
      status: summary.State,
      labels: summary.Labels ?? {},
      attrs: summary,
    }));
  }
  const images: ImageCache = new Map();
  const ignoreRemoved = args.boolean('ignore_removed') ?? false;
  const containers = [];
  for (const summary of found) {
    try {
      containers.push(await describeContainer(docker, summary.Id, signal, images));
    } catch (error) {
      // A container may be removed between the listing and its inspection.
      if (!(ignoreRemoved && error instanceof DockerActionError && error.statusCode === 404)) throw error;
    }
  }
  return containers;
}

async function listImages(docker: Dockerode, args: Arguments, signal?: AbortSignal) {
  const filters = JSON.parse(convertFilters(args, 'filters') ?? '{}') as Record<string, string[]>;
  const name = args.string('name');
  if (name) filters.reference = [...(filters.reference ?? []), name];
  const query = { all: args.boolean('all') ?? false, filters: JSON.stringify(filters) };
  const found = await callEngine('listing images', () => docker.listImages(withSignal(query, signal)));
  const images = [];
  for (const summary of found) images.push(await describeImage(docker, summary.Id, signal));
  return images;
}
