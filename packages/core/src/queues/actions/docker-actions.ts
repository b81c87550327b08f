import { z } from 'zod';
import { ok } from '../../shared/result.ts';
import {
  type ActionFactory,
  compileSetting,
  invalidAction,
  parseSettings,
  renderSetting,
} from './action-definition.ts';
import type { ActionServices, StepResult } from './action-types.ts';
import { createDockerClient, type DockerInvocation, invokeDocker, parseDockerInvocation } from './docker.ts';
import { invokeCompose } from './docker-compose.ts';
import { DockerActionError } from './docker-engine.ts';
import { renderTree } from './template.ts';

/**
 * `docker` and `docker-compose`, in webhook-proxy's invocation form (`$containers: {$list: ...}`),
 * through the Docker Engine API at DOCKER_HOST (docker.ts, docker-compose.ts). Like commands, they
 * are refused unless the server allows commands: the daemon's socket is root on its host.
 */

type Docker = ReturnType<typeof createDockerClient>;

const clients = new Map<string, Docker>();

function dockerFor(services: ActionServices): Docker {
  const key = services.dockerHost ?? '';
  let client = clients.get(key);
  if (!client) {
    client = createDockerClient(services.dockerHost);
    clients.set(key, client);
  }
  return client;
}

const COMMANDS_OFF: StepResult = {
  kind: 'failed',
  error: 'Docker actions are refused: the server does not allow commands (set ALLOW_COMMANDS=true to allow them)',
  retryable: false,
};

/** Splits the `$` invocation from the action's other settings, which `schema` checks. */
function splitSettings(settings: Record<string, unknown>) {
  const invocation: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) (key.startsWith('$') ? invocation : rest)[key] = value;
  return { invocation, rest };
}

function dockerFactory(
  schema: z.ZodObject,
  invoke: (
    docker: Docker,
    rest: Record<string, unknown>,
    invocation: DockerInvocation,
    services: ActionServices,
    signal: AbortSignal,
  ) => Promise<unknown>,
): ActionFactory {
  return (settings, path) => {
    const { invocation, rest } = splitSettings(settings);
    const parsed = parseSettings(schema, rest, path);
    if (!parsed.ok) return parsed;
    const chain = parseDockerInvocation(invocation);
    if (!chain.ok) return invalidAction(path, chain.error.message);
    const output = compileSetting(
      String((parsed.value as { output?: string }).output ?? '{{ result }}'),
      `${path}.output`,
    );
    if (!output.ok) return output;
    return ok({
      async run(input, services) {
        if (!services.allowCommands) return COMMANDS_OFF;
        let args: Record<string, unknown>;
        try {
          args = renderTree(chain.value.args, input.scope) as Record<string, unknown>;
        } catch (error) {
          return { kind: 'failed', error: (error as Error).message, retryable: false };
        }
        let result: unknown;
        try {
          result = await invoke(
            dockerFor(services),
            parsed.value as Record<string, unknown>,
            { chain: chain.value.chain, args },
            services,
            input.signal,
          );
        } catch (error) {
          return {
            kind: 'failed',
            error: `docker ${chain.value.chain.map((c) => `$${c}`).join('.')}: ${(error as Error).message}`,
            retryable: error instanceof DockerActionError ? error.retryable : true,
          };
        }
        const rendered = renderSetting(output.value, { ...input.scope, result });
        if (!rendered.ok) return rendered.result;
        return { kind: 'done', output: rendered.value };
      },
    });
  };
}

export const dockerAction = dockerFactory(
  z.strictObject({ output: z.string().optional() }),
  (docker, _rest, invocation, _services, signal) => invokeDocker(docker, invocation, signal),
);

export const dockerComposeAction = dockerFactory(
  z.strictObject({
    project_name: z.string().min(1),
    directory: z.string().min(1),
    composefile: z.string().min(1).optional(),
    output: z.string().optional(),
  }),
  (docker, rest, invocation, services, signal) =>
    invokeCompose(
      docker,
      {
        projectName: String(rest.project_name),
        directory: String(rest.directory),
        composefile: rest.composefile === undefined ? undefined : String(rest.composefile),
      },
      invocation,
      services.readFile,
      signal,
    ),
);
