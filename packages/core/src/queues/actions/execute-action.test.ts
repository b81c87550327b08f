import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { quote } from 'shlex';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.ts';
import { fail } from '../../shared/result.ts';
import type { ActionServices, StepInput, StepResult } from './action-types.ts';
import { executeAction } from './execute-action.ts';

const NODE = process.execPath;
const PATH = `${dirname(NODE)}:/usr/local/bin:/usr/bin:/bin`;
const EVIL = '; rm -rf / $(id) `x` | & > < "q" \'s\' \\ $HOME *';
/** Prints the arguments it was given, as JSON. */
const PRINT_ARGS = 'process.stdout.write(JSON.stringify(process.argv.slice(1)))';

function makeServices(overrides: Partial<ActionServices> = {}): ActionServices {
  return {
    logger: silentLogger,
    clock: { now: () => new Date() },
    env: { PATH, SWITCHBOARD_SECRET_KEY: 'hunter2', DATABASE_URL: 'postgres://user:pw@db/x' },
    readFile: () => null,
    allowCommands: true,
    dockerHost: undefined,
    metrics: { register: () => fail('UNAVAILABLE', 'no metrics here') },
    publish: async () => fail('UNAVAILABLE', 'no publishing here'),
    send: async () => {
      throw new Error('no sending here');
    },
    ...overrides,
  };
}

function makeInput(scope: Record<string, unknown> = {}, signal = new AbortController().signal): StepInput {
  return {
    scope,
    message: { body: Buffer.from('{}'), headers: {}, method: 'POST' },
    mode: 'worker',
    signal,
    retry: { maxAttempts: 1, scheduleMs: [0] },
  };
}

function compile(settings: Record<string, unknown>) {
  const made = executeAction(settings, 'actions[0].execute');
  if (!made.ok) throw new Error(made.error.message);
  return made.value;
}

async function runWith(
  settings: Record<string, unknown>,
  scope: Record<string, unknown> = {},
  services = makeServices(),
) {
  return compile(settings).run(makeInput(scope), services);
}

function doneOutput(result: StepResult): string | null {
  if (result.kind !== 'done') throw new Error(`expected done, got ${JSON.stringify(result)}`);
  return result.output;
}

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
function makeFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'execute-action-'));
  folders.push(folder);
  return folder;
}

describe('execute action', () => {
  it('refuses to run anything unless the server allows commands', async () => {
    const marker = join(makeFolder(), 'ran');
    const action = compile({ command: [NODE, '-e', 'require("node:fs").writeFileSync(process.argv[1], "")', marker] });
    const result = await action.run(makeInput(), makeServices({ allowCommands: false }));
    expect(result).toMatchObject({ kind: 'failed', retryable: false });
    expect(result.kind === 'failed' && result.error).toContain('ALLOW_COMMANDS');
    expect(existsSync(marker)).toBe(false);
    expect(doneOutput(await action.run(makeInput(), makeServices()))).toBe('');
    expect(existsSync(marker)).toBe(true);
  });

  it('passes a templated argument holding shell metacharacters as one argument, uninterpreted (command line)', async () => {
    const command = `${quote(NODE)} -e ${quote(PRINT_ARGS)} -- {{ request.json.x }} plain`;
    const output = doneOutput(await runWith({ command }, { request: { json: { x: EVIL } } }));
    expect(JSON.parse(output ?? '')).toEqual([EVIL, 'plain']);
  });

  it('passes a templated argument holding shell metacharacters as one argument, uninterpreted (list)', async () => {
    const command = [NODE, '-e', PRINT_ARGS, '--', 'x={{ request.json.x }}', '{{ request.json.missing }}'];
    const output = doneOutput(await runWith({ command }, { request: { json: { x: EVIL } } }));
    expect(JSON.parse(output ?? '')).toEqual([`x=${EVIL}`, '']);
  });

  it('runs a pipeline through /bin/sh with shell: true', async () => {
    expect(doneOutput(await runWith({ command: 'printf "b\\na\\n" | sort | tr a-z A-Z', shell: true }))).toBe('A\nB\n');
  });

  it('runs a shell named by a string or a prefix list, the list command joined with spaces', async () => {
    expect(doneOutput(await runWith({ command: ['echo', 'one', '|', 'tr', 'o', '0'], shell: 'sh' }))).toBe('0ne\n');
    expect(doneOutput(await runWith({ command: 'echo "$0"', shell: ['bash', '-c'] }))).toBe('bash\n');
  });

  it('leaves a shell command unrendered; request values reach it only through env', async () => {
    const scope = { request: { json: { x: EVIL } } };
    const literal = await runWith({ command: "printf %s '{{ request.json.x }}'", shell: true }, scope);
    expect(doneOutput(literal)).toBe('{{ request.json.x }}');
    const viaEnv = await runWith({ command: 'printf %s "$X"', shell: true, env: { X: '{{ request.json.x }}' } }, scope);
    expect(doneOutput(viaEnv)).toBe(EVIL);
  });

  it('gives the command only PATH and its own env, never the rest of the server environment', async () => {
    const output = doneOutput(
      await runWith(
        {
          command: [NODE, '-e', 'process.stdout.write(JSON.stringify(process.env))'],
          env: { GREETING: 'hi {{ who }}' },
        },
        { who: 'there' },
      ),
    );
    const env = JSON.parse(output ?? '') as Record<string, string>;
    expect(env).toEqual({ PATH, GREETING: 'hi there' });
    expect(output).not.toContain('hunter2');
  });

  it('renders output with the captured text as result, stdout and stderr interleaved as they came', async () => {
    const command = 'echo out; sleep 0.1; echo err >&2; sleep 0.1; echo again';
    const result = await runWith({ command, shell: true, output: '[{{ result }}] for {{ who }}' }, { who: 'ann' });
    expect(doneOutput(result)).toBe('[out\nerr\nagain\n] for ann');
  });

  it('runs in cwd when given', async () => {
    const folder = makeFolder();
    const result = await runWith({ command: [NODE, '-e', 'process.stdout.write(process.cwd())'], cwd: folder });
    expect(doneOutput(result)).toBe(realpathSync(folder));
  });

  it('keeps at most max_output bytes and says how much was left out', async () => {
    const command = [NODE, '-e', 'process.stdout.write("x".repeat(60000)); process.stderr.write("y".repeat(40000))'];
    const output = doneOutput(await runWith({ command, max_output: 1000 })) ?? '';
    expect(output).toBe(`${'x'.repeat(1000)}\n[output truncated: 99000 more bytes not kept]`);
  });

  it('does not cut a character in half at the limit', async () => {
    const output = doneOutput(await runWith({ command: [NODE, '-e', 'process.stdout.write("aé")'], max_output: 2 }));
    expect(output).toBe('a\n[output truncated: 1 more bytes not kept]');
  });

  it('fails, retryably, on a non-zero exit, naming the code and keeping the output', async () => {
    const result = await runWith({ command: 'echo partial; exit 3', shell: true });
    expect(result).toEqual({
      kind: 'failed',
      error: '"echo partial; exit 3" exited with code 3',
      output: 'partial\n',
      retryable: true,
    });
  });

  it('names the signal that ended a command', async () => {
    const result = await runWith({ command: 'kill -9 $$', shell: true });
    expect(result).toMatchObject({ kind: 'failed', retryable: true });
    expect(result.kind === 'failed' && result.error).toContain('SIGKILL');
  });

  it('stops a command past its timeout, with what a shell started', async () => {
    const started = Date.now();
    // Without killing the group, `sleep` would keep the pipe open after sh died.
    const result = await runWith({ command: 'sleep 5 | cat', shell: true, timeout: 1 });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result).toMatchObject({
      kind: 'failed',
      retryable: true,
      error: '"sleep 5 | cat" did not finish within 1 s and was stopped',
    });
  });

  it('kills a command that ignores SIGTERM 2 s after asking', async () => {
    const started = Date.now();
    const result = await runWith({ command: ['sh', '-c', 'trap "" TERM; sleep 5'], timeout: 0.3 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2200);
    expect(elapsed).toBeLessThan(4000);
    expect(result).toMatchObject({ kind: 'failed', retryable: true });
  });

  it('stops the command when the run is aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    const result = await compile({ command: 'sleep 5' }).run(makeInput({}, controller.signal), makeServices());
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result).toMatchObject({ kind: 'failed', error: '"sleep" was stopped', retryable: true });
  });

  it('fails without retrying when the program does not exist', async () => {
    const result = await runWith({ command: ['/nonexistent/program', 'x'] });
    expect(result).toMatchObject({ kind: 'failed', retryable: false });
    expect(result.kind === 'failed' && result.error).toMatch(/could not start "\/nonexistent\/program".*ENOENT/);
  });

  it('refuses invalid settings when the file is loaded', () => {
    const refused = (settings: Record<string, unknown>) => {
      const made = executeAction(settings, 'actions[0].execute');
      if (made.ok) throw new Error(`accepted ${JSON.stringify(settings)}`);
      return made.error.message;
    };
    expect(refused({ command: 'ls', comand: 'ls' })).toBe('actions[0].execute: unknown key "comand"');
    expect(refused({ command: '' })).toBe('actions[0].execute.command: must name a program to run');
    expect(refused({ command: '   ' })).toBe('actions[0].execute.command: must name a program to run');
    expect(refused({ command: [] })).toBe('actions[0].execute.command: must name a program to run');
    expect(refused({ command: '', shell: true })).toBe('actions[0].execute.command: must not be empty');
    expect(refused({})).toMatch(/^actions\[0\]\.execute\.command: /);
    expect(refused({ command: 42 })).toBe('actions[0].execute.command: must be a command line or a list of arguments');
    expect(refused({ command: 'echo "open' })).toMatch(/^actions\[0\]\.execute\.command: cannot be split/);
    expect(refused({ command: ['echo', '{{ broken'] })).toMatch(/^actions\[0\]\.execute\.command\[1\]: /);
    expect(refused({ command: 'ls', shell: 3 })).toMatch(/^actions\[0\]\.execute\.shell: must be true\/false/);
    expect(refused({ command: 'ls', timeout: 0 })).toMatch(/^actions\[0\]\.execute\.timeout: /);
    expect(refused({ command: 'ls', timeout: 3601 })).toMatch(/^actions\[0\]\.execute\.timeout: /);
    expect(refused({ command: 'ls', max_output: -1 })).toMatch(/^actions\[0\]\.execute\.max_output: /);
    expect(refused({ command: 'ls', env: { 'BAD-NAME': 'x' } })).toMatch(
      /^actions\[0\]\.execute\.env\.BAD-NAME: is not a variable name/,
    );
    expect(refused({ command: 'ls', env: { OK: '{{ broken' } })).toMatch(/^actions\[0\]\.execute\.env\.OK: /);
    expect(refused({ command: 'ls', output: '{% if %}' })).toMatch(/^actions\[0\]\.execute\.output: /);
  });
});
