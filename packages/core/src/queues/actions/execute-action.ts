import { type ChildProcess, spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { split } from 'shlex';
import { z } from 'zod';
import { ok } from '../../shared/result.ts';
import {
  type ActionFactory,
  compileSetting,
  invalidAction,
  parseSettings,
  renderSetting,
} from './action-definition.ts';
import type { StepResult } from './action-types.ts';
import type { Template } from './template.ts';

/**
 * `execute`: runs a command, as webhook-proxy's (src/actions/action_execute.py in rycus86/webhook-proxy)
 * does, its output passed to the `output` template as `result`. Two ways to run one:
 *
 * - Without `shell` (the default here), `command` is a list of arguments, or a string split into one
 *   the POSIX shell way (npm `shlex`). Each argument is a template rendered into exactly one argv entry
 *   and no shell ever reads it, so request data cannot become a second command.
 * - With `shell` (`true`: `/bin/sh -c`; a string: that shell with `-c`; a list: that prefix), `command`
 *   is one shell line (a list is joined with spaces) and is NOT a template: rendering request data into
 *   a line a shell parses would be an injection. Request values reach such a command only through `env`,
 *   as variables the line quotes (`"$BRANCH"`).
 *
 * The child sees PATH and the action's `env`, never the server's environment (it holds secrets).
 */

const DEFAULT_SHELL = '/bin/sh';
/** How long a command gets after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for pipes a process outside the group may hold open. */
const CLOSE_GRACE_MS = 1000;
const MAX_OUTPUT_LIMIT = 16 * 1024 * 1024;

const settingsSchema = z.strictObject({
  command: z.union([z.string(), z.array(z.string())], { error: 'must be a command line or a list of arguments' }),
  shell: z
    .union([z.boolean(), z.string().min(1), z.array(z.string().min(1)).min(1)], {
      error: (issue) =>
        issue.code === 'invalid_union'
          ? 'must be true/false, a shell taking -c, or a list like ["bash", "-c"]'
          : undefined,
    })
    .default(false),
  output: z.string().default('{{ result }}'),
  /** Seconds. */
  timeout: z.number().positive().max(3600).default(30),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string(), {
      error: (issue) =>
        issue.code === 'invalid_key'
          ? 'is not a variable name (letters, digits and _, not starting with a digit)'
          : undefined,
    })
    .default({}),
  cwd: z.string().min(1).optional(),
  /** Bytes of stdout and stderr kept, together. */
  max_output: z.number().int().min(0).max(MAX_OUTPUT_LIMIT).default(65_536),
});

type Settings = z.output<typeof settingsSchema>;

/** What to spawn: a shell line as it stands, or argv entries rendered one by one. */
type Invocation = { kind: 'shell'; argv: string[]; line: string } | { kind: 'argv'; templates: Template[] };

/**
 * Splits a command line into arguments with each `{{ … }}`, `{% … %}` or `{# … #}` kept whole, so that
 * `cmd {{ request.json.x }}` is two arguments and the quotes inside a template are its own.
 */
function splitCommandLine(line: string): string[] {
  const spans: string[] = [];
  const masked = line.replace(
    /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g,
    (span) => `\uE000${spans.push(span) - 1}\uE001`,
  );
  return split(masked).map((word) =>
    word.replace(/\uE000(\d+)\uE001/g, (_, index: string) => spans[Number(index)] ?? ''),
  );
}

function compileInvocation(settings: Settings, path: string) {
  const { command, shell } = settings;
  if (shell !== false) {
    const line = Array.isArray(command) ? command.join(' ') : command;
    if (line.trim() === '') return invalidAction(`${path}.command`, 'must not be empty');
    const prefix = shell === true ? [DEFAULT_SHELL, '-c'] : typeof shell === 'string' ? [shell, '-c'] : shell;
    return ok<Invocation>({ kind: 'shell', argv: [...prefix, line], line });
  }
  let words: string[];
  try {
    words = Array.isArray(command) ? command : splitCommandLine(command);
  } catch (error) {
    return invalidAction(`${path}.command`, `cannot be split into arguments: ${(error as Error).message}`);
  }
  if (words.length === 0 || words[0]?.trim() === '')
    return invalidAction(`${path}.command`, 'must name a program to run');
  const templates: Template[] = [];
  for (const [index, word] of words.entries()) {
    const compiled = compileSetting(word, `${path}.command[${index}]`);
    if (!compiled.ok) return compiled;
    templates.push(compiled.value);
  }
  return ok<Invocation>({ kind: 'argv', templates });
}

export const executeAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(settingsSchema, settings, path);
  if (!parsed.ok) return parsed;
  const invocation = compileInvocation(parsed.value, path);
  if (!invocation.ok) return invocation;
  const output = compileSetting(parsed.value.output, `${path}.output`);
  if (!output.ok) return output;
  const env: Array<[string, Template]> = [];
  for (const [name, source] of Object.entries(parsed.value.env)) {
    const compiled = compileSetting(source, `${path}.env.${name}`);
    if (!compiled.ok) return compiled;
    env.push([name, compiled.value]);
  }
  const { timeout, cwd, max_output: maxOutput } = parsed.value;

  return ok({
    async run(input, services): Promise<StepResult> {
      if (!services.allowCommands) {
        return {
          kind: 'failed',
          error: 'execute runs commands, which this server refuses; set ALLOW_COMMANDS=true to allow them',
          retryable: false,
        };
      }
      let argv: string[];
      if (invocation.value.kind === 'shell') {
        argv = invocation.value.argv;
      } else {
        argv = [];
        for (const template of invocation.value.templates) {
          const rendered = renderSetting(template, input.scope);
          if (!rendered.ok) return rendered.result;
          argv.push(rendered.value);
        }
        if (argv[0]?.trim() === '')
          return { kind: 'failed', error: 'the command renders to an empty program name', retryable: false };
      }
      const childEnv: Record<string, string> = {};
      if (services.env.PATH !== undefined) childEnv.PATH = services.env.PATH;
      for (const [name, template] of env) {
        const rendered = renderSetting(template, input.scope);
        if (!rendered.ok) return rendered.result;
        childEnv[name] = rendered.value;
      }
      if (input.signal.aborted) return { kind: 'failed', error: 'stopped before the command started', retryable: true };

      const ran = await runCommand(argv, {
        env: childEnv,
        cwd,
        timeoutMs: timeout * 1000,
        maxOutput,
        signal: input.signal,
      });
      const program = nameCommand(invocation.value.kind === 'shell' ? invocation.value.line : (argv[0] ?? ''));
      if (ran.kind === 'not-started') {
        const { code, message } = ran.error;
        // A missing program or folder is the file's mistake: another attempt would fail the same way.
        return {
          kind: 'failed',
          error: `could not start "${program}": ${message}`,
          retryable: code !== 'ENOENT' && code !== 'EACCES',
        };
      }
      if (ran.ending === 'timeout') {
        return {
          kind: 'failed',
          error: `"${program}" did not finish within ${timeout} s and was stopped`,
          output: ran.output,
          retryable: true,
        };
      }
      if (ran.ending === 'abort')
        return { kind: 'failed', error: `"${program}" was stopped`, output: ran.output, retryable: true };
      if (ran.code !== 0) {
        const how = ran.code === null ? `was ended by signal ${ran.signal}` : `exited with code ${ran.code}`;
        return { kind: 'failed', error: `"${program}" ${how}`, output: ran.output, retryable: true };
      }
      const rendered = renderSetting(output.value, { ...input.scope, result: ran.output });
      if (!rendered.ok) return rendered.result;
      return { kind: 'done', output: rendered.value };
    },
  });
};

/** How problems name the command: its program, or the start of its shell line. */
function nameCommand(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 60 ? `${oneLine.slice(0, 59)}…` : oneLine;
}

type Ran =
  | { kind: 'not-started'; error: NodeJS.ErrnoException }
  | {
      kind: 'ended';
      output: string;
      code: number | null;
      signal: NodeJS.Signals | null;
      ending: 'timeout' | 'abort' | null;
    };

interface RunOptions {
  env: Record<string, string>;
  cwd: string | undefined;
  timeoutMs: number;
  maxOutput: number;
  signal: AbortSignal;
}

/**
 * Runs argv in a process group of its own, so that a timeout or an abort ends what a shell started too
 * (a pipeline's other commands), not only the process spawned. Never rejects.
 */
function runCommand(argv: string[], options: RunOptions): Promise<Ran> {
  return new Promise((resolve) => {
    const [file = '', ...args] = argv;
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        shell: false,
        detached: true,
        env: options.env,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      // Arguments Node refuses outright (a NUL byte in a rendered value) land here rather than in 'error'.
      resolve({ kind: 'not-started', error: error as NodeJS.ErrnoException });
      return;
    }

    const chunks: Buffer[] = [];
    let kept = 0;
    let dropped = 0;
    const collect = (chunk: Buffer) => {
      const room = options.maxOutput - kept;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        chunks.push(part);
        kept += part.length;
      }
      dropped += Math.max(0, chunk.length - Math.max(room, 0));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);

    const timers: NodeJS.Timeout[] = [];
    let ending: 'timeout' | 'abort' | null = null;
    let settled = false;
    const settle = (ran: Ran) => {
      if (settled) return;
      settled = true;
      // No signal may be sent once settled: the group's id could belong to someone else by then.
      for (const timer of timers) clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      resolve(ran);
    };
    const collected = (): string => {
      const bytes = Buffer.concat(chunks);
      if (dropped === 0) return bytes.toString('utf8');
      // write() holds back a character cut in half by the limit rather than printing U+FFFD.
      return `${new StringDecoder('utf8').write(bytes)}\n[output truncated: ${dropped} more bytes not kept]`;
    };
    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group has already gone.
      }
    };
    const stop = (why: 'timeout' | 'abort') => {
      if (ending !== null || settled) return;
      ending = why;
      signalGroup('SIGTERM');
      timers.push(
        setTimeout(() => {
          signalGroup('SIGKILL');
          timers.push(
            setTimeout(() => {
              child.stdout?.destroy();
              child.stderr?.destroy();
              settle({ kind: 'ended', output: collected(), code: child.exitCode, signal: child.signalCode, ending });
            }, CLOSE_GRACE_MS),
          );
        }, KILL_GRACE_MS),
      );
    };
    const onAbort = () => stop('abort');

    timers.push(setTimeout(() => stop('timeout'), options.timeoutMs));
    options.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      if (child.pid === undefined) settle({ kind: 'not-started', error });
    });
    child.on('close', (code, signal) => settle({ kind: 'ended', output: collected(), code, signal, ending }));
  });
}
