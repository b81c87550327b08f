// Compatibility: webhook-proxy. Its `server.yml` (`server:`, `endpoints:`), read as its README writes it.

import { z } from 'zod';
import { actionListSchema } from '../queues/actions/action-definition.ts';
import { QUEUE_NAME_PATTERN, type QueueDefinition, queueDefinitionSchema } from '../queues/queue-definition.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { describeUnknownKey, rememberKnownKeys } from '../shared/unknown-keys.ts';
import { toConfigProblems } from './servo-webhooks.ts';

/**
 * How webhook-proxy's file maps onto Switchboard (rycus86/webhook-proxy: src/app.py, src/server.py,
 * src/endpoints.py):
 *
 * - A file whose top level has `endpoints` (or `server`) is webhook-proxy's. It may not be mixed
 *   with Switchboard's own keys (`queues`, `users`, `webhooks`, ...): each is refused by name.
 * - `server.host` and `server.port` are accepted and ignored, with a notice: Switchboard listens on
 *   HOST and PORT. `server.imports` (Python modules adding actions) is refused, as it cannot be
 *   honoured; an empty one is a no-op there and is accepted. Other keys under `server` are refused,
 *   as webhook-proxy refuses them too.
 * - Each endpoint `- /path: {settings}` (one list item may hold several routes, as there) becomes
 *   a queue:
 *   - `name`: the route without its outer slashes, inner runs of slashes as `-` (`/github` ->
 *     `github`, `/webhook/dockerhub` -> `webhook-dockerhub`); it must satisfy QUEUE_NAME_PATTERN,
 *     and two routes giving the same name are refused, naming both.
 *   - `path`: the route. A route with Flask variables (`/x/<id>`) is refused: a queue has one path.
 *   - `dialect: 'webhook-proxy'`, verification `{ method: 'none' }` (webhook-proxy checks callers
 *     only through its rules and a `github-verify` action).
 *   - `rules`: `{ method, headers, body }`, the method POST when not given (any case, as in Flask),
 *     headers and body only when given.
 *   - `actions`: the list as it stands; only its shape is checked here, and `docker-swarm`
 *     (deprecated in webhook-proxy) refused by name. The names and settings of the others are
 *     checked where actions are compiled (action-catalog.ts).
 *   - `respond`: `async: true` answers at once; otherwise webhook-proxy runs the actions before it
 *     answers, so `after-actions`.
 *   - Keys other than method, headers, body, async and actions are refused by name. Empty settings
 *     (`- /path:`) take the defaults.
 * - Problems are named by webhook-proxy's own keys: `endpoints[0]./github.async`.
 */

export interface WebhookProxyConfig {
  queues: QueueDefinition[];
  notices: string[];
}

type Problem = { path: string; message: string };

const SERVER_KEYS = ['host', 'port', 'imports'];
const ENDPOINT_KEYS = ['method', 'headers', 'body', 'async', 'actions'];

/** Switchboard's keys that tell a file apart; the config file passes the full list it knows. */
const SWITCHBOARD_KEYS = ['queues', 'users', 'webhooks'];

/** Only the keys and `async` are checked here; method, headers and body are the rules' to check. */
const endpointSchema = z.strictObject({
  method: z.unknown().optional(),
  headers: z.unknown().optional(),
  body: z.unknown().optional(),
  async: z.boolean({ error: 'must be true or false' }).optional(),
  actions: z.unknown().optional(),
});

/** Unknown keys with the keys known there; a value of the wrong kind said in the file's terms. */
const describeIssue: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'unrecognized_keys') return rememberKnownKeys(issue);
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.expected === 'string') return 'must be a string; quote it in YAML';
  if (issue.expected === 'record' || issue.expected === 'object') return 'must be a mapping';
  if (issue.expected === 'array') return 'must be a list';
  return undefined;
};

/**
 * Refused here as well as by the action compiler, which the config file does not load: it would
 * bring every action's dependencies (Docker, child processes) into reading a file.
 */
const DOCKER_SWARM_REFUSED =
  'docker-swarm is not supported (webhook-proxy deprecated it); restart or update the service with an execute action running `docker service update` instead';

/** True for a parsed file that is webhook-proxy's rather than Switchboard's own. */
export function isWebhookProxyFile(raw: unknown): raw is Record<string, unknown> {
  return isMapping(raw) && ('endpoints' in raw || 'server' in raw);
}

/**
 * Reads webhook-proxy's file (already parsed from YAML) into queue definitions, or refuses it with
 * every problem at once. `switchboardKeys` are the top-level keys of Switchboard's own file.
 */
export function parseWebhookProxyFile(
  raw: Record<string, unknown>,
  switchboardKeys: readonly string[] = SWITCHBOARD_KEYS,
): Result<WebhookProxyConfig> {
  const problems: Problem[] = [];
  for (const key of Object.keys(raw)) {
    if (key === 'server' || key === 'endpoints') continue;
    problems.push({
      path: key,
      message: switchboardKeys.includes(key)
        ? "is Switchboard's own key, which cannot be mixed with webhook-proxy's endpoints: write the file in one format"
        : describeUnknownKey(key, ['server', 'endpoints']),
    });
  }
  const notices = readServer(raw.server, problems);
  const queues = readEndpoints(raw.endpoints, problems);
  if (problems.length > 0) {
    return fail('INVALID', "The config file (webhook-proxy's server.yml) is not valid", { fields: problems });
  }
  return ok({ queues, notices });
}

function readServer(server: unknown, problems: Problem[]): string[] {
  if (server === undefined || server === null) return [];
  if (!isMapping(server)) {
    problems.push({ path: 'server', message: 'must be a mapping of host, port and imports' });
    return [];
  }
  for (const key of Object.keys(server)) {
    if (!SERVER_KEYS.includes(key))
      problems.push({ path: `server.${key}`, message: describeUnknownKey(key, SERVER_KEYS) });
  }
  const imports = server.imports;
  if (imports !== undefined && imports !== null && !(Array.isArray(imports) && imports.length === 0)) {
    problems.push({
      path: 'server.imports',
      message:
        'loads Python modules of extra actions, which Switchboard cannot run: remove it, and use the actions Switchboard has instead',
    });
  }
  if (server.host === undefined && server.port === undefined) return [];
  return ['server.host and server.port are ignored: Switchboard listens on HOST and PORT'];
}

function readEndpoints(endpoints: unknown, problems: Problem[]): QueueDefinition[] {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    problems.push({
      path: 'endpoints',
      message:
        endpoints === undefined
          ? 'is required: list the endpoints as - /path: {settings}'
          : 'must list at least one endpoint, as - /path: {settings}',
    });
    return [];
  }
  const queues: QueueDefinition[] = [];
  const takenBy = new Map<string, string>();
  endpoints.forEach((entry, index) => {
    if (!isMapping(entry) || Object.keys(entry).length === 0) {
      problems.push({
        path: `endpoints[${index}]`,
        message: 'must be a route and its settings, as - /path: {settings}',
      });
      return;
    }
    for (const [route, settings] of Object.entries(entry)) {
      const at = `endpoints[${index}].${route}`;
      const name = readRoute(route, at, problems);
      if (name !== null) {
        const other = takenBy.get(name);
        if (other !== undefined)
          problems.push({ path: at, message: `gives the queue name "${name}", as ${other} does` });
        else takenBy.set(name, at);
      }
      const queue = readEndpoint(route, name, settings, at, problems);
      if (queue) queues.push(queue);
    }
  });
  return queues;
}

/** The queue name a route gives, or null when the route cannot be a queue's path. */
function readRoute(route: string, at: string, problems: Problem[]): string | null {
  if (!route.startsWith('/')) {
    problems.push({ path: at, message: 'must start with /, as /github' });
    return null;
  }
  if (/[<>]/.test(route)) {
    problems.push({
      path: at,
      message: 'has a Flask variable (<name>), which Switchboard cannot route: a queue has one fixed path',
    });
    return null;
  }
  const name = route.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '-');
  if (!QUEUE_NAME_PATTERN.test(name)) {
    problems.push({
      path: at,
      message: `gives the queue name "${name}", which must be 1 to 128 letters, digits, dots, dashes or underscores`,
    });
    return null;
  }
  return name;
}

function readEndpoint(
  route: string,
  name: string | null,
  raw: unknown,
  at: string,
  problems: Problem[],
): QueueDefinition | null {
  if (raw !== null && raw !== undefined && !isMapping(raw)) {
    problems.push({ path: at, message: `must be a mapping of ${ENDPOINT_KEYS.join(', ')}` });
    return null;
  }
  const settings = raw ?? {};
  const before = problems.length;
  const parsed = endpointSchema.safeParse(settings, { error: describeIssue });
  if (!parsed.success) {
    for (const problem of toConfigProblems(parsed.error.issues))
      problems.push({ ...problem, path: `${at}.${problem.path}` });
  }
  const actions = readActions(settings.actions, `${at}.actions`, problems);
  const rules: Record<string, unknown> = { method: settings.method ?? 'POST' };
  if (settings.headers !== undefined) rules.headers = settings.headers;
  if (settings.body !== undefined) rules.body = settings.body;
  // Every field is given, so that a reload replaces what another file had set on the same queue.
  const definition: QueueDefinition = {
    name: name ?? 'unnamed',
    description: null,
    path: name === null ? null : route,
    dialect: 'webhook-proxy',
    verification: { method: 'none' },
    allowedNetworks: [],
    maxMessageCount: null,
    maxMessageSize: null,
    maxQueueBytes: null,
    retentionSeconds: null,
    dedup: null,
    rules: rules as QueueDefinition['rules'],
    actions: actions ?? [],
    respond: settings.async === true ? 'at-once' : 'after-actions',
    response: null,
    rejected: 'refuse',
  };
  // Checked even when the route or the settings are refused, so that one pass reports everything.
  const valid = queueDefinitionSchema.safeParse(definition, { error: describeIssue });
  if (!valid.success) {
    for (const problem of toConfigProblems(valid.error.issues)) {
      problems.push({ path: toEndpointPath(problem.path, at), message: problem.message });
    }
  }
  return name !== null && problems.length === before ? definition : null;
}

/**
 * The list's shape, and the actions refused by name (`docker-swarm`, deprecated in webhook-proxy);
 * each action's settings are the action compiler's to check.
 */
function readActions(raw: unknown, at: string, problems: Problem[]): QueueDefinition['actions'] | null {
  if (raw === undefined || raw === null) return [];
  const parsed = actionListSchema.safeParse(raw, { error: describeIssue });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push({ path: joinPath(at, issue.path), message: issue.message });
    return null;
  }
  const before = problems.length;
  parsed.data.forEach((action, index) => {
    if ('docker-swarm' in action)
      problems.push({ path: `${at}[${index}].docker-swarm`, message: DOCKER_SWARM_REFUSED });
  });
  return problems.length === before ? parsed.data.map(withWebhookProxyDefaults) : null;
}

/**
 * webhook-proxy ran an `execute` command through a shell unless told otherwise (`shell: True`);
 * Switchboard's own default is no shell. Its files keep their meaning: the shell is written out.
 * The command is not a template in shell mode (execute-action.ts), so no request value reaches it.
 */
function withWebhookProxyDefaults(action: Record<string, unknown>): Record<string, unknown> {
  const settings = action.execute;
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings) || 'shell' in settings)
    return action;
  return { execute: { ...settings, shell: true } };
}

/** A queue definition's field named by the endpoint key that set it (`rules.headers.X` -> `headers.X`). */
function toEndpointPath(path: string, at: string): string {
  if (path === 'path' || path === 'name' || path === 'rules' || path === '(root)') return at;
  if (path.startsWith('rules.')) return `${at}.${path.slice('rules.'.length)}`;
  if (path.startsWith('actions.')) return `${at}.${path.replace(/^actions\.(\d+)/, 'actions[$1]')}`;
  return `${at}.${path}`;
}

function joinPath(base: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (joined, key) => (typeof key === 'number' ? `${joined}[${key}]` : `${joined}.${String(key)}`),
    base,
  );
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
