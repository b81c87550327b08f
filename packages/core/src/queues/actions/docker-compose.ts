import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { stringify } from 'safe-stable-stringify';
import { type DockerInvocation, formatInvocation } from './docker.ts';
import { buildServiceBody, type ComposeModel, type ComposeService, loadComposeModel } from './docker-compose-file.ts';
import {
  type Arguments,
  type ContainerResult,
  callEngine,
  DockerActionError,
  describeContainer,
  type ImageCache,
  pullImage,
  readArguments,
  withSignal,
} from './docker-engine.ts';

/**
 * webhook-proxy's `docker-compose` action over the Engine API. The Engine has no Compose API, so the
 * project is what Compose itself would make of the file: one container per service named
 * <project>_<service>_1, labelled com.docker.compose.project / .service, on the network
 * <project>_default, recreated when its configuration or its image changed (the config-hash label).
 */
export interface ComposeProject {
  projectName: string;
  directory: string;
  composefile?: string;
  /** Variables for ${VAR} in the compose file; they override the project's .env file. */
  environment?: Record<string, string>;
}

/** A Compose container: the Docker SDK's shape plus what compose.container.Container adds. */
export interface ComposeContainerResult extends ContainerResult {
  service: string;
  number: number;
  name_without_project: string;
  is_running: boolean;
}

type Operation = (context: Context, args: Arguments) => Promise<unknown>;

interface Context {
  docker: Dockerode;
  model: ComposeModel;
  signal: AbortSignal | undefined;
}

const OPERATIONS: Record<string, { args: readonly string[]; run: Operation }> = {
  get_services: { args: ['service_names', 'include_deps'], run: getServices },
  up: { args: ['detached', 'service_names', 'timeout', 'remove_orphans', 'start'], run: up },
  down: { args: ['remove_image_type', 'include_volumes', 'timeout', 'remove_orphans'], run: down },
  ps: { args: ['service_names', 'stopped'], run: (context, args) => listProject(context, args, true) },
  containers: { args: ['service_names', 'stopped'], run: (context, args) => listProject(context, args, false) },
  restart: { args: ['service_names', 'timeout'], run: changeAll('restart') },
  stop: { args: ['service_names', 'timeout'], run: changeAll('stop') },
  start: { args: ['service_names'], run: changeAll('start') },
  pull: { args: ['service_names', 'ignore_pull_failures'], run: pull },
};

/** Every invocation the docker-compose action supports, as written in a configuration. */
export const COMPOSE_INVOCATIONS = Object.keys(OPERATIONS).map((name) => `$${name}`);

/**
 * Runs one Compose invocation against the project's compose file (read through `readFile`, null when
 * missing). Throws DockerActionError with a message a person can act on.
 */
export async function invokeCompose(
  docker: Dockerode,
  project: ComposeProject,
  invocation: DockerInvocation,
  readFile: (path: string) => string | null,
  signal?: AbortSignal,
): Promise<unknown> {
  const name = formatInvocation(invocation.chain);
  const operation = invocation.chain.length === 1 ? OPERATIONS[invocation.chain[0] as string] : undefined;
  if (!operation) {
    throw new DockerActionError(
      `The docker-compose action does not support ${name}; supported: ${COMPOSE_INVOCATIONS.join(', ')}`,
    );
  }
  const args = readArguments(name, invocation.args, operation.args);
  const model = loadComposeModel(project, readFile);
  return operation.run({ docker, model, signal }, args);
}

function selectServices(model: ComposeModel, args: Arguments, withDependencies: boolean): ComposeService[] {
  const names = args.value('service_names');
  if (names === undefined) return model.services;
  const wanted = new Set((Array.isArray(names) ? names : [names]).map(String));
  for (const name of wanted) {
    if (!model.services.some((service) => service.name === name)) {
      throw new DockerActionError(
        `No such service: ${name} (the compose file has ${model.services.map((s) => s.name).join(', ')})`,
      );
    }
  }
  // model.services is in dependency order, so one pass from the end collects every dependency.
  if (withDependencies) {
    for (const service of [...model.services].reverse()) {
      if (wanted.has(service.name)) for (const dependency of service.dependsOn) wanted.add(dependency);
    }
  }
  return model.services.filter((service) => wanted.has(service.name));
}

async function getServices({ model }: Context, args: Arguments) {
  return selectServices(model, args, args.boolean('include_deps') ?? false).map((service) => ({
    name: service.name,
    project: model.projectName,
    image: service.image,
    options: service.definition,
  }));
}

const projectLabel = (model: ComposeModel) => `com.docker.compose.project=${model.projectName}`;

/** The project's containers (one-off ones left out unless `oneOff`), in the services' dependency order. */
async function projectContainers(
  { docker, model, signal }: Context,
  all: boolean,
  services?: ComposeService[],
  oneOff = false,
) {
  const label = [projectLabel(model), ...(oneOff ? [] : ['com.docker.compose.oneoff=False'])];
  const filters = JSON.stringify({ label });
  const found = await callEngine(`listing the containers of project ${model.projectName}`, () =>
    docker.listContainers(withSignal({ all, filters }, signal)),
  );
  const wanted = services?.map((service) => service.name);
  const order = model.services.map((service) => service.name);
  const rank = (summary: Dockerode.ContainerInfo) => {
    const at = order.indexOf(summary.Labels['com.docker.compose.service'] ?? '');
    return at === -1 ? order.length : at;
  };
  return found
    .filter((summary) => !wanted || wanted.includes(summary.Labels['com.docker.compose.service'] ?? ''))
    .sort((a, b) => rank(a) - rank(b) || (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
}

async function describeComposeContainer(
  context: Context,
  id: string,
  images: ImageCache,
): Promise<ComposeContainerResult> {
  const container = await describeContainer(context.docker, id, context.signal, images);
  const service = container.labels['com.docker.compose.service'] ?? '';
  const number = Number(container.labels['com.docker.compose.container-number'] ?? 1);
  const prefix = `${context.model.projectName}_`;
  return {
    ...container,
    service,
    number,
    name_without_project: container.name.startsWith(prefix)
      ? container.name.slice(prefix.length)
      : `${service}_${number}`,
    is_running: (container.attrs.State as { Running?: boolean }).Running === true,
  };
}

async function describeAll(context: Context, ids: string[]) {
  const images: ImageCache = new Map();
  const containers: ComposeContainerResult[] = [];
  for (const id of ids) containers.push(await describeComposeContainer(context, id, images));
  return containers;
}

async function listProject(context: Context, args: Arguments, stoppedByDefault: boolean) {
  const services = selectServices(context.model, args, false);
  const found = await projectContainers(context, args.boolean('stopped') ?? stoppedByDefault, services);
  return describeAll(
    context,
    found.map((summary) => summary.Id),
  );
}

async function engineCall(
  context: Context,
  what: string,
  call: (options: object) => Promise<unknown>,
  okStatuses: number[] = [],
) {
  await callEngine(what, () => call(withSignal({}, context.signal)), okStatuses);
}

async function stopAndRemove(context: Context, id: string, running: boolean, timeout: number | undefined) {
  const container = context.docker.getContainer(id);
  const short = id.slice(0, 12);
  if (running) {
    await callEngine(
      `stopping container ${short}`,
      () => container.stop(withSignal({ t: timeout }, context.signal)),
      [304],
    );
  }
  await callEngine(`removing container ${short}`, () => container.remove(withSignal({}, context.signal)), [404]);
}

/** The service's image id, pulled first when the Engine lacks it (like Compose without --build). */
async function ensureImage(context: Context, service: ComposeService): Promise<string> {
  const { docker, signal } = context;
  const inspect = () => docker.getImage(service.image).inspect(withSignal({}, signal));
  try {
    return (await callEngine(`inspecting image ${service.image}`, inspect)).Id;
  } catch (error) {
    if (!(error instanceof DockerActionError && error.statusCode === 404)) throw error;
    if (service.definition.build !== undefined) {
      throw new DockerActionError(
        `Service ${service.name} needs to be built: build ${service.image} on the host first`,
      );
    }
    await pullImage(docker, service.image, undefined, false, signal);
    return (await callEngine(`inspecting image ${service.image}`, inspect)).Id;
  }
}

async function ensureNetworkAndVolumes(context: Context, services: ComposeService[]) {
  const { docker, model, signal } = context;
  const labels = { 'com.docker.compose.project': model.projectName };
  if (services.some((service) => service.definition.network_mode === undefined)) {
    const name = model.networkName;
    const existing = await callEngine('listing networks', () =>
      docker.listNetworks(withSignal({ filters: JSON.stringify({ name: [name] }) }, signal)),
    );
    if (!existing.some((network) => network.Name === name)) {
      const Labels = { ...labels, 'com.docker.compose.network': 'default' };
      await callEngine(`creating network ${name}`, () =>
        docker.createNetwork({ Name: name, Driver: 'bridge', Labels, ...withSignal({}, signal) }),
      );
    }
  }
  for (const [key, volume] of Object.entries(model.volumes)) {
    if (volume.external) continue;
    const Labels = { ...labels, 'com.docker.compose.volume': key };
    await callEngine(`creating volume ${volume.name}`, () =>
      docker.createVolume({ Name: volume.name, Labels, ...withSignal({}, signal) }),
    );
  }
}

/** Creates (or recreates, when its config hash changed) and starts one container per service. */
async function up(context: Context, args: Arguments) {
  const { docker, model, signal } = context;
  const services = selectServices(model, args, true);
  const timeout = args.integer('timeout');
  const start = args.boolean('start') ?? true;
  await ensureNetworkAndVolumes(context, services);
  const ids: string[] = [];
  for (const service of services) {
    const imageId = await ensureImage(context, service);
    const body = buildServiceBody(model, service);
    const hash = createHash('sha256')
      .update(stringify({ body, imageId }) ?? '')
      .digest('hex');
    (body.Labels as Record<string, string>)['com.docker.compose.config-hash'] = hash;
    const existing = await projectContainers(context, true, [service]);
    const current = existing.find((summary) => summary.Labels['com.docker.compose.config-hash'] === hash);
    for (const stale of existing.filter((summary) => summary !== current)) {
      await stopAndRemove(context, stale.Id, stale.State === 'running', timeout);
    }
    let id = current?.Id;
    if (!id) {
      const options = withSignal({ _query: { name: service.containerName }, _body: body }, signal);
      const created = await callEngine(`creating the container of service ${service.name}`, () =>
        docker.createContainer(options as unknown as Dockerode.ContainerCreateOptions),
      );
      id = created.id;
    }
    if (start && current?.State !== 'running') {
      const container = docker.getContainer(id);
      await engineCall(context, `starting the container of service ${service.name}`, (o) => container.start(o), [304]);
    }
    ids.push(id);
  }
  if (args.boolean('remove_orphans')) await removeOrphans(context, timeout);
  return describeAll(context, ids);
}

async function removeOrphans(context: Context, timeout: number | undefined) {
  const known = new Set(context.model.services.map((service) => service.name));
  for (const summary of await projectContainers(context, true)) {
    if (!known.has(summary.Labels['com.docker.compose.service'] ?? '')) {
      await stopAndRemove(context, summary.Id, summary.State === 'running', timeout);
    }
  }
}

/** Compose's ImageType for down: none (also false/null), local (images it built: none here), all. */
function imageRemoval(args: Arguments): 'none' | 'local' | 'all' {
  const value = args.value('remove_image_type');
  if (value === undefined || value === false || value === 'none' || value === 'false') return 'none';
  if (value === 'local' || value === 'all') return value;
  throw new DockerActionError(`$down: remove_image_type must be none, local or all, got ${JSON.stringify(value)}`);
}

async function down(context: Context, args: Arguments) {
  const { docker, model, signal } = context;
  const removeImages = imageRemoval(args);
  const timeout = args.integer('timeout');
  for (const summary of await projectContainers(context, true, undefined, true)) {
    const ours =
      args.boolean('remove_orphans') ||
      model.services.some((s) => s.name === summary.Labels['com.docker.compose.service']);
    if (ours) await stopAndRemove(context, summary.Id, summary.State === 'running', timeout);
  }
  const byProject = JSON.stringify({ label: [projectLabel(model)] });
  const networks = await callEngine('listing networks', () =>
    docker.listNetworks(withSignal({ filters: byProject }, signal)),
  );
  for (const network of networks) {
    await engineCall(
      context,
      `removing network ${network.Name}`,
      (o) => docker.getNetwork(network.Id).remove(o),
      [404],
    );
  }
  if (args.boolean('include_volumes')) {
    const { Volumes } = await callEngine('listing volumes', () =>
      docker.listVolumes(withSignal({ filters: byProject }, signal)),
    );
    for (const volume of Volumes ?? []) {
      await engineCall(
        context,
        `removing volume ${volume.Name}`,
        (o) => docker.getVolume(volume.Name).remove(o),
        [404],
      );
    }
  }
  if (removeImages === 'all') {
    for (const image of new Set(model.services.map((service) => service.image))) {
      await engineCall(context, `removing image ${image}`, (o) => docker.getImage(image).remove(o), [404]);
    }
  }
  return null;
}

function changeAll(action: 'restart' | 'stop' | 'start'): Operation {
  return async (context, args) => {
    const services = selectServices(context.model, args, false);
    const timeout = args.integer('timeout');
    const found = await projectContainers(context, action !== 'stop', services);
    const targets = found.filter((s) =>
      action === 'start' ? s.State !== 'running' : action === 'stop' ? s.State === 'running' : true,
    );
    for (const summary of targets) {
      const container = context.docker.getContainer(summary.Id);
      const options = withSignal(action === 'start' || timeout === undefined ? {} : { t: timeout }, context.signal);
      const change = container[action].bind(container) as (options: object) => Promise<unknown>;
      await callEngine(
        `${action === 'stop' ? 'stopping' : `${action}ing`} container ${summary.Names[0] ?? summary.Id}`,
        () => change(options),
        [304],
      );
    }
    return action === 'stop'
      ? null
      : describeAll(
          context,
          targets.map((summary) => summary.Id),
        );
  };
}

async function pull(context: Context, args: Arguments) {
  for (const service of selectServices(context.model, args, false)) {
    try {
      await pullImage(context.docker, service.image, undefined, false, context.signal);
    } catch (error) {
      if (!(args.boolean('ignore_pull_failures') && error instanceof DockerActionError)) throw error;
    }
  }
  return null;
}
