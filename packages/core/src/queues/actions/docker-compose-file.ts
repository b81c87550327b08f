import { posix } from 'node:path';
import { split as splitShellWords } from 'shlex';
import { parse as parseYaml } from 'yaml';
import { DockerActionError } from './docker-engine.ts';

/**
 * A compose file read the way Compose reads it (variables from .env, services in dependency order),
 * limited to the keys below; any other key is an error rather than a setting silently dropped.
 */

export interface ComposeService {
  name: string;
  image: string;
  containerName: string;
  dependsOn: string[];
  definition: Record<string, unknown>;
}

export interface ComposeModel {
  projectName: string;
  directory: string;
  configFile: string;
  networkName: string;
  services: ComposeService[];
  volumes: Record<string, { name: string; external: boolean }>;
  environment: Record<string, string>;
  readFile: (path: string) => string | null;
}

const SERVICE_KEYS = [
  'image',
  'build',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'labels',
  'ports',
  'expose',
  'volumes',
  'restart',
  'working_dir',
  'user',
  'hostname',
  'container_name',
  'depends_on',
  'tty',
  'stdin_open',
  'privileged',
  'read_only',
  'extra_hosts',
  'dns',
  'cap_add',
  'cap_drop',
  'network_mode',
  'stop_signal',
  'init',
  'logging',
];
const TOP_KEYS = ['version', 'name', 'services', 'volumes'];

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const problem = (file: string, message: string) => new DockerActionError(`${file}: ${message}`);

/** KEY=VALUE lines, as in .env and env_file files. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    const raw = match[2] as string;
    values[match[1] as string] = /^(['"]).*\1$/.test(raw) ? raw.slice(1, -1) : raw.replace(/\s+#.*$/, '');
  }
  return values;
}

const VARIABLE = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$ in every value. */
function interpolate(value: unknown, env: Record<string, string>, file: string, at: string): unknown {
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, file, `${at}[${i}]`));
  if (isMapping(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, file, `${at}.${k}`)]));
  }
  if (typeof value !== 'string') return value;
  return value.replace(VARIABLE, (_all, dollar, braced, operator, operand, bare) => {
    if (dollar) return '$';
    const name = (braced ?? bare) as string;
    const set = env[name];
    const empty = set === undefined || (set === '' && String(operator).startsWith(':'));
    if (!empty) return set as string;
    if (operator === ':-' || operator === '-') return operand as string;
    if (operator === ':?' || operator === '?')
      throw problem(file, `${name} is required at ${at}: ${operand || 'not set'}`);
    throw problem(
      file,
      `${name} is not set (at ${at}): define it in the .env file beside the compose file or write \${${name}:-default}`,
    );
  });
}

/** Reads, interpolates and checks the project's compose file. */
export function loadComposeModel(
  project: { projectName: string; directory: string; composefile?: string; environment?: Record<string, string> },
  readFile: (path: string) => string | null,
): ComposeModel {
  const { projectName, directory } = project;
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(projectName)) {
    throw new DockerActionError(
      `Project name "${projectName}" must be lowercase letters, digits, dashes or underscores`,
    );
  }
  const file = posix.join(directory, project.composefile || 'docker-compose.yml');
  const text = readFile(file);
  if (text === null) throw new DockerActionError(`Cannot read the compose file ${file}`);
  const environment = { ...parseEnvFile(readFile(posix.join(directory, '.env')) ?? ''), ...project.environment };
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw problem(file, `not valid YAML: ${(error as Error).message}`);
  }
  if (!isMapping(document) || !isMapping(document.services)) throw problem(file, 'needs a services mapping');
  const model = interpolate(document, environment, file, '') as Record<string, unknown>;
  const unknownTop = Object.keys(model).filter((key) => !TOP_KEYS.includes(key) && !key.startsWith('x-'));
  if (unknownTop.length > 0)
    throw problem(file, `unsupported top-level ${unknownTop.join(', ')} (supported: ${TOP_KEYS.join(', ')})`);
  const volumes = Object.fromEntries(
    Object.entries(isMapping(model.volumes) ? model.volumes : {}).map(([key, spec]) => {
      const external = isMapping(spec) && Boolean(spec.external);
      const name =
        isMapping(spec) && typeof spec.name === 'string' ? spec.name : external ? key : `${projectName}_${key}`;
      return [key, { name, external }];
    }),
  );
  const services = Object.entries(model.services as Record<string, unknown>).map(([name, definition]) =>
    readService(file, projectName, name, definition),
  );
  return {
    projectName,
    directory,
    configFile: file,
    networkName: `${projectName}_default`,
    services: orderByDependencies(file, services),
    volumes,
    environment,
    readFile,
  };
}

function readService(file: string, project: string, name: string, definition: unknown): ComposeService {
  if (!/^[a-zA-Z0-9._-]+$/.test(name))
    throw problem(file, `service name "${name}" may hold only letters, digits, ., _ and -`);
  if (!isMapping(definition)) throw problem(file, `service ${name} must be a mapping`);
  const unknown = Object.keys(definition).filter((key) => !SERVICE_KEYS.includes(key) && !key.startsWith('x-'));
  if (unknown.length > 0) {
    throw problem(
      file,
      `service ${name} uses ${unknown.join(', ')}, which this action does not support (supported: ${SERVICE_KEYS.join(', ')})`,
    );
  }
  if (typeof definition.image !== 'string' || definition.image === '') {
    throw problem(file, `service ${name} needs an image (building images is not supported)`);
  }
  const dependsOn = definition.depends_on;
  return {
    name,
    image: definition.image,
    containerName: typeof definition.container_name === 'string' ? definition.container_name : `${project}_${name}_1`,
    dependsOn: (Array.isArray(dependsOn) ? dependsOn : isMapping(dependsOn) ? Object.keys(dependsOn) : []).map(String),
    definition,
  };
}

function orderByDependencies(file: string, services: ComposeService[]): ComposeService[] {
  const byName = new Map(services.map((service) => [service.name, service]));
  const ordered: ComposeService[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (service: ComposeService, path: string[]) => {
    if (state.get(service.name) === 'done') return;
    if (state.get(service.name) === 'visiting')
      throw problem(file, `circular depends_on: ${[...path, service.name].join(' -> ')}`);
    state.set(service.name, 'visiting');
    for (const dependency of service.dependsOn) {
      const next = byName.get(dependency);
      if (!next) throw problem(file, `service ${service.name} depends on ${dependency}, which is not in the file`);
      visit(next, [...path, service.name]);
    }
    state.set(service.name, 'done');
    ordered.push(service);
  };
  for (const service of services) visit(service, []);
  return ordered;
}

const words = (value: unknown) =>
  value === undefined || value === null
    ? undefined
    : typeof value === 'string'
      ? splitShellWords(value)
      : (value as unknown[]).map(String);
const list = (value: unknown) =>
  value === undefined ? undefined : (Array.isArray(value) ? value : [value]).map(String);

function environmentOf(model: ComposeModel, service: ComposeService): string[] | undefined {
  const values: Record<string, string> = {};
  for (const envFile of list(service.definition.env_file) ?? []) {
    const path = posix.resolve(model.directory, envFile);
    const text = model.readFile(path);
    if (text === null) throw problem(model.configFile, `service ${service.name}: cannot read env_file ${path}`);
    Object.assign(values, parseEnvFile(text));
  }
  const environment = service.definition.environment;
  const entries = isMapping(environment)
    ? Object.entries(environment)
    : (list(environment) ?? []).map((item) => item.split(/=(.*)/s).slice(0, 2) as [string, string | undefined]);
  for (const [key, value] of entries) {
    // A bare name takes its value from the project's variables, and is left out when they lack it.
    const resolved = value === undefined || value === null ? model.environment[key] : String(value);
    if (resolved !== undefined) values[key] = resolved;
  }
  const result = Object.entries(values).map(([key, value]) => `${key}=${value}`);
  return result.length > 0 ? result : undefined;
}

function bindOf(model: ComposeModel, service: ComposeService, volume: unknown): string {
  const fail = (why: string) =>
    problem(model.configFile, `service ${service.name}: volume ${JSON.stringify(volume)} ${why}`);
  let source: string | undefined;
  let target: string;
  let mode: string | undefined;
  if (isMapping(volume)) {
    source = volume.source === undefined ? undefined : String(volume.source);
    target = String(volume.target ?? '');
    mode = volume.read_only ? 'ro' : undefined;
  } else {
    const parts = String(volume).split(':');
    if (parts.length === 1) [target] = parts as [string];
    else [source, target, mode] = parts as [string, string, string | undefined];
  }
  if (!target.startsWith('/')) throw fail('needs an absolute target path');
  if (source === undefined) throw fail('is anonymous; give it a named volume or a host path');
  if (source.startsWith('~')) throw fail('starts with ~; use a path relative to the project directory');
  if (source.startsWith('.') || source.startsWith('/')) {
    source = posix.resolve(model.directory, source);
  } else {
    const named = model.volumes[source];
    if (!named) throw fail(`names volume ${source}, which the top-level volumes do not declare`);
    source = named.name;
  }
  return [source, target, ...(mode ? [mode] : [])].join(':');
}

type PortBinding = { HostIp: string; HostPort: string };

function portsOf(model: ComposeModel, service: ComposeService) {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const port of list(service.definition.expose) ?? []) exposed[port.includes('/') ? port : `${port}/tcp`] = {};
  for (const port of (service.definition.ports as unknown[] | undefined) ?? []) {
    let spec: { target: string; published: string; protocol: string; hostIp: string };
    if (isMapping(port)) {
      spec = {
        target: String(port.target),
        published: String(port.published ?? ''),
        protocol: String(port.protocol ?? 'tcp'),
        hostIp: String(port.host_ip ?? ''),
      };
    } else {
      const match = /^(?:(?:\[?([0-9a-fA-F.:]+?)\]?:)?(\d*):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(String(port));
      if (!match)
        throw problem(
          model.configFile,
          `service ${service.name}: port ${JSON.stringify(port)} is not [[ip:]host:]container[/protocol] (ranges are not supported)`,
        );
      spec = {
        hostIp: match[1] ?? '',
        published: match[2] ?? '',
        target: match[3] as string,
        protocol: match[4] ?? 'tcp',
      };
    }
    const key = `${spec.target}/${spec.protocol}`;
    exposed[key] = {};
    bindings[key] = [...(bindings[key] ?? []), { HostIp: spec.hostIp, HostPort: spec.published }];
  }
  return { exposed, bindings };
}

function restartPolicyOf(value: unknown) {
  if (value === undefined) return undefined;
  const [name, retries] = String(value).split(':');
  const Name = name === 'no' || name === 'false' ? '' : String(name);
  return { Name, MaximumRetryCount: Number(retries ?? 0) };
}

/** The Engine's create body for a service, labelled the way Compose labels its containers. */
export function buildServiceBody(model: ComposeModel, service: ComposeService): Record<string, unknown> {
  const d = service.definition;
  const { exposed, bindings } = portsOf(model, service);
  const labels = isMapping(d.labels)
    ? Object.fromEntries(Object.entries(d.labels).map(([key, value]) => [key, String(value ?? '')]))
    : Object.fromEntries(
        (list(d.labels) ?? []).map((label) =>
          label
            .split(/=(.*)/s)
            .slice(0, 2)
            .map((part) => part ?? ''),
        ),
      );
  const networkMode = d.network_mode === undefined ? model.networkName : String(d.network_mode);
  const logging = isMapping(d.logging) ? d.logging : undefined;
  return {
    Image: service.image,
    Cmd: words(d.command),
    Entrypoint: words(d.entrypoint),
    Env: environmentOf(model, service),
    WorkingDir: d.working_dir === undefined ? undefined : String(d.working_dir),
    User: d.user === undefined ? undefined : String(d.user),
    Hostname: d.hostname === undefined ? undefined : String(d.hostname),
    Tty: d.tty === undefined ? undefined : Boolean(d.tty),
    OpenStdin: d.stdin_open === undefined ? undefined : Boolean(d.stdin_open),
    StopSignal: d.stop_signal === undefined ? undefined : String(d.stop_signal),
    ExposedPorts: Object.keys(exposed).length > 0 ? exposed : undefined,
    Labels: {
      ...labels,
      'com.docker.compose.project': model.projectName,
      'com.docker.compose.service': service.name,
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.project.working_dir': model.directory,
      'com.docker.compose.project.config_files': model.configFile,
    },
    HostConfig: {
      Binds: ((d.volumes as unknown[] | undefined) ?? []).map((volume) => bindOf(model, service, volume)),
      PortBindings: bindings,
      NetworkMode: networkMode,
      RestartPolicy: restartPolicyOf(d.restart),
      Privileged: d.privileged === undefined ? undefined : Boolean(d.privileged),
      ReadonlyRootfs: d.read_only === undefined ? undefined : Boolean(d.read_only),
      ExtraHosts: isMapping(d.extra_hosts)
        ? Object.entries(d.extra_hosts).map(([h, ip]) => `${h}:${String(ip)}`)
        : list(d.extra_hosts),
      Dns: list(d.dns),
      CapAdd: list(d.cap_add),
      CapDrop: list(d.cap_drop),
      Init: d.init === undefined ? undefined : Boolean(d.init),
      LogConfig: logging ? { Type: String(logging.driver ?? 'json-file'), Config: logging.options ?? {} } : undefined,
    },
    NetworkingConfig:
      d.network_mode === undefined
        ? { EndpointsConfig: { [model.networkName]: { Aliases: [service.name] } } }
        : undefined,
  };
}
