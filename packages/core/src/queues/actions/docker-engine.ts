import type Dockerode from 'dockerode';

/**
 * The calls shared by the docker and docker-compose actions (queues/actions/docker.ts,
 * queues/actions/docker-compose.ts): Engine errors turned into messages, arguments read the way the
 * Python Docker SDK reads keyword arguments, and results shaped like the SDK's objects so that
 * webhook-proxy's output templates (container.name, image.tags, ...) keep working.
 */

/**
 * A failed invocation; `statusCode` is the Engine's HTTP status when it answered. `retryable`: a
 * later attempt may succeed (the Engine was away or failed, 5xx); bad arguments, a missing image or
 * an unsupported invocation fail the same way every time.
 */
export class DockerActionError extends Error {
  override name = 'DockerActionError';
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly statusCode?: number,
    retryable?: boolean,
  ) {
    super(message);
    this.retryable = retryable ?? (statusCode !== undefined && statusCode >= 500);
  }
}

/** What an Engine container looks like through the SDK (docker.models.containers.Container). */
export interface ContainerResult {
  id: string;
  short_id: string;
  name: string;
  status: string;
  labels: Record<string, string>;
  image: ImageResult | null;
  health: string;
  ports: Record<string, unknown>;
  attrs: Record<string, unknown>;
}

/** What an Engine image looks like through the SDK (docker.models.images.Image). */
export interface ImageResult {
  id: string;
  short_id: string;
  tags: string[];
  labels: Record<string, string>;
  attrs: Record<string, unknown>;
}

/** Image inspections already made in one invocation, by id; null when the image is gone. */
export type ImageCache = Map<string, ImageResult | null>;

/**
 * docker-modem copies every option into the query string, undefined ones as empty values, so only
 * defined options are passed, and the signal only when there is one.
 */
export function withSignal<T extends Record<string, unknown>>(options: T, signal: AbortSignal | undefined): T {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
  return signal ? { ...defined, abortSignal: signal } : defined;
}

const isAbort = (error: unknown) =>
  error instanceof Error && (error.name === 'AbortError' || ('code' in error && error.code === 'ABORT_ERR'));

/** Runs one Engine call; failures become DockerActionError naming `what` (aborts pass through). */
export async function callEngine<T>(what: string, call: () => Promise<T>, okStatuses: number[] = []): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isAbort(error)) throw error;
    const failure = error as { statusCode?: number; json?: unknown; reason?: string; message?: string };
    const status = failure.statusCode;
    if (status !== undefined && okStatuses.includes(status)) return undefined as T;
    if (status === undefined) {
      throw new DockerActionError(
        `${what} failed: cannot reach the Docker Engine (${failure.message ?? String(error)})`,
        undefined,
        true,
      );
    }
    const body = failure.json as { message?: unknown } | string | null | undefined;
    // Streamed calls (pulls, logs) leave the body unparsed; docker-modem puts it in the message then.
    const fromMessage = /^\(HTTP code \d+\) .*? - (.*)$/s.exec(failure.message ?? '')?.[1]?.trim();
    const said =
      typeof body === 'string'
        ? body
        : typeof body?.message === 'string'
          ? body.message
          : fromMessage || failure.reason;
    throw new DockerActionError(
      `${what} failed: ${said ?? 'no reason given'} (Docker Engine answered HTTP ${status})`,
      status,
    );
  }
}

/** Typed access to an invocation's arguments; names outside `allowed` are an error, never ignored. */
export interface Arguments {
  readonly name: string;
  value(key: string): unknown;
  string(key: string, required: true): string;
  string(key: string, required?: boolean): string | undefined;
  boolean(key: string): boolean | undefined;
  integer(key: string): number | undefined;
  mapping(key: string): Record<string, unknown> | undefined;
}

export function readArguments(name: string, args: Record<string, unknown>, allowed: readonly string[]): Arguments {
  const unknown = Object.keys(args).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    const takes = allowed.length > 0 ? `it takes ${allowed.join(', ')}` : 'it takes no arguments';
    throw new DockerActionError(`${name} does not take ${unknown.join(', ')}; ${takes}`);
  }
  const wrong = (key: string, expected: string) =>
    new DockerActionError(`${name}: ${key} must be ${expected}, got ${JSON.stringify(args[key])}`);
  const present = (key: string) => args[key] !== undefined && args[key] !== null;
  return {
    name,
    value: (key) => (present(key) ? args[key] : undefined),
    string: ((key: string, required = false) => {
      const value = args[key];
      if (!present(key)) {
        if (required) throw new DockerActionError(`${name} needs ${key}`);
        return undefined;
      }
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      throw wrong(key, 'a string');
    }) as Arguments['string'],
    boolean: (key) => {
      const value = args[key];
      if (!present(key)) return undefined;
      if (typeof value === 'boolean') return value;
      // Rendered templates give strings; "false" must not count as true.
      if (value === 'true' || value === 'True') return true;
      if (value === 'false' || value === 'False' || value === '') return false;
      throw wrong(key, 'true or false');
    },
    integer: (key) => {
      const value = args[key];
      if (!present(key)) return undefined;
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && Number.isInteger(number)) return number;
      throw wrong(key, 'a whole number');
    },
    mapping: (key) => {
      const value = args[key];
      if (!present(key)) return undefined;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
      throw wrong(key, 'a mapping');
    },
  };
}

/** The SDK's parse_repository_tag: 'repo:tag', 'repo@digest' or 'host:5000/repo' (no tag). */
export function parseRepositoryTag(name: string): [string, string | undefined] {
  const at = name.lastIndexOf('@');
  if (at > 0) return [name.slice(0, at), name.slice(at + 1)];
  const colon = name.lastIndexOf(':');
  if (colon > 0 && !name.slice(colon + 1).includes('/')) return [name.slice(0, colon), name.slice(colon + 1)];
  return [name, undefined];
}

const asRecord = (value: unknown) => value as Record<string, unknown>;
const labelsOf = (config: unknown) => (asRecord(config ?? {}).Labels ?? {}) as Record<string, string>;

export async function describeImage(
  docker: Dockerode,
  name: string,
  signal?: AbortSignal,
  cache?: ImageCache,
): Promise<ImageResult> {
  const attrs = await callEngine(`inspecting image ${name}`, () =>
    docker.getImage(name).inspect(withSignal({}, signal)),
  );
  const image: ImageResult = {
    id: attrs.Id,
    short_id: attrs.Id.startsWith('sha256:') ? attrs.Id.slice(0, 17) : attrs.Id.slice(0, 10),
    tags: (attrs.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>'),
    labels: labelsOf(attrs.Config),
    attrs: asRecord(attrs),
  };
  cache?.set(attrs.Id, image);
  return image;
}

/** containers.get: the container with its image; its image is null when that image is gone. */
export async function describeContainer(
  docker: Dockerode,
  id: string,
  signal?: AbortSignal,
  images: ImageCache = new Map(),
): Promise<ContainerResult> {
  const attrs = await callEngine(`inspecting container ${id}`, () =>
    docker.getContainer(id).inspect(withSignal({}, signal)),
  );
  const imageId = attrs.Image;
  if (imageId && !images.has(imageId)) {
    await describeImage(docker, imageId, signal, images).catch((error: unknown) => {
      if (!(error instanceof DockerActionError && error.statusCode === 404)) throw error;
      images.set(imageId, null);
    });
  }
  const state = attrs.State as unknown;
  const health = (attrs.State as { Health?: { Status?: string } }).Health?.Status;
  return {
    id: attrs.Id,
    short_id: attrs.Id.slice(0, 12),
    name: (attrs.Name ?? '').replace(/^\//, ''),
    status: typeof state === 'string' ? state : attrs.State.Status,
    labels: labelsOf(attrs.Config),
    image: images.get(imageId) ?? null,
    health: health || 'unknown',
    ports: (attrs.NetworkSettings?.Ports ?? {}) as Record<string, unknown>,
    attrs: asRecord(attrs),
  };
}

/**
 * images.pull: POST /images/create, then the pulled image (all tags of the repository with `allTags`).
 * The Engine reports most pull failures inside a 200 progress stream, so every event is checked.
 */
export async function pullImage(
  docker: Dockerode,
  repository: string,
  tag: string | undefined,
  allTags: boolean,
  signal?: AbortSignal,
): Promise<ImageResult | ImageResult[]> {
  const [name, ownTag] = parseRepositoryTag(repository);
  const pulled = allTags ? undefined : tag || ownTag || 'latest';
  const reference = pulled ? `${name}${pulled.startsWith('sha256:') ? '@' : ':'}${pulled}` : name;
  const what = `pulling image ${reference}`;
  const stream = await callEngine(what, () => docker.createImage(withSignal({ fromImage: name, tag: pulled }, signal)));
  const events = await callEngine(
    what,
    () =>
      new Promise<Array<{ error?: string }>>((resolve, reject) =>
        docker.modem.followProgress(stream, (error: Error | null, output: Array<{ error?: string }>) =>
          error ? reject(error) : resolve(output),
        ),
      ),
  );
  const failed = events.find((event) => event.error);
  if (failed) throw new DockerActionError(`${what} failed: ${failed.error}`);
  if (pulled) return describeImage(docker, reference, signal);
  const filters = JSON.stringify({ reference: [name] });
  const found = await callEngine(`listing images of ${name}`, () => docker.listImages(withSignal({ filters }, signal)));
  const images: ImageResult[] = [];
  for (const summary of found) images.push(await describeImage(docker, summary.Id, signal));
  return images;
}

/**
 * A container's logs as text. Without a TTY the Engine multiplexes stdout and stderr in frames of an
 * 8-byte header (stream type, 3 zero bytes, big-endian length) and the payload.
 */
export async function readLogs(
  docker: Dockerode,
  id: string,
  tty: boolean,
  streams: { stdout: boolean; stderr: boolean; follow: boolean },
  signal?: AbortSignal,
): Promise<string> {
  const container = docker.getContainer(id);
  const what = `reading the logs of container ${id.slice(0, 12)}`;
  let raw: Buffer;
  if (streams.follow) {
    const stream = await callEngine(what, () =>
      container.logs({ ...withSignal({}, signal), ...streams, follow: true }),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    raw = Buffer.concat(chunks);
  } else {
    raw = await callEngine(what, () => container.logs({ ...withSignal({}, signal), ...streams, follow: false }));
  }
  return tty ? raw.toString('utf8') : demultiplex(raw);
}

function demultiplex(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const type = raw[at] as number;
    const size = raw.readUInt32BE(at + 4);
    if (type > 2 || at + 8 + size > raw.length) return raw.toString('utf8');
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return at === raw.length ? Buffer.concat(parts).toString('utf8') : raw.toString('utf8');
}
