import { describeErrorForPeople, generateRandomString, parseInstant, SCOPES, systemPrincipal } from '@switchboard/core';
import { Command, InvalidArgumentError } from 'commander';
import { CliError, expect, findUser, withCore } from './cli/context.ts';
import { addDeliveryCommands } from './cli/deliveries.ts';
import { addEventTypeCommands } from './cli/event-types.ts';
import { addJobCommands } from './cli/jobs.ts';
import { addSubscriptionCommands } from './cli/subscriptions.ts';
import { addTriggerCommand } from './cli/trigger.ts';
import { EnvError, loadEnv } from './env.ts';
import { serve } from './main.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function choosePassword(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (fromStdin) return { password: await readStdin(), generated: false };
  return { password: generateRandomString(24), generated: true };
}

const program = new Command('switchboard').description('Switchboard, the self-hosted webhook hub');

program.command('serve').description('start the server (settings from the environment)').action(serve);

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    await withCore(async () => undefined);
    console.log('migrations applied');
  });

const users = program.command('users').description('manage users');
users
  .command('create <username>')
  .description('create a user; the password is read from stdin with --password-stdin, else generated')
  .option(
    '--role <role>',
    'admin or member',
    (value) => {
      if (value !== 'admin' && value !== 'member') throw new InvalidArgumentError('must be admin or member');
      return value;
    },
    'member',
  )
  .option('--password-stdin', 'read the password from standard input')
  .action(async (username: string, options: { role: 'admin' | 'member'; passwordStdin?: boolean }) => {
    const { password, generated } = await choosePassword(options.passwordStdin);
    const user = await withCore(async (core) =>
      expect(await core.users.create(systemPrincipal, { username, password, role: options.role })),
    );
    console.log(`created ${user.role} "${user.username}" (${user.id})`);
    if (generated) console.log(`password: ${password}`);
  });
users
  .command('passwd <username>')
  .description("set a user's password (ends their sessions); stdin with --password-stdin, else generated")
  .option('--password-stdin', 'read the password from standard input')
  .action(async (username: string, options: { passwordStdin?: boolean }) => {
    const { password, generated } = await choosePassword(options.passwordStdin);
    await withCore(async (core) => {
      const user = await findUser(core, username);
      expect(await core.users.setPassword(systemPrincipal, user.id, password));
    });
    console.log(`password of "${username}" changed; their sessions are ended`);
    if (generated) console.log(`password: ${password}`);
  });

const tokens = program.command('tokens').description('manage API tokens');
tokens
  .command('create')
  .description('create an API token for a user and print it (shown once)')
  .requiredOption('--user <username>', 'owner of the token')
  .requiredOption('--name <name>', 'a name to recognise it by')
  .requiredOption('--scopes <list>', `comma-separated, from: ${SCOPES.join(', ')}`)
  .option('--expires-at <iso>', 'expiry time, ISO 8601')
  .action(async (options: { user: string; name: string; scopes: string; expiresAt?: string }) => {
    const parsed = options.expiresAt ? parseInstant(options.expiresAt) : null;
    if (parsed && !parsed.ok) throw new CliError(`--expires-at ${parsed.message}`);
    const expiresAt = parsed?.ok ? parsed.date : null;
    const created = await withCore(async (core) => {
      const user = await findUser(core, options.user);
      return expect(
        await core.tokens.create(systemPrincipal, {
          userId: user.id,
          name: options.name,
          scopes: options.scopes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          expiresAt,
        }),
      );
    });
    console.log(created.secret);
  });

addSubscriptionCommands(program);
addEventTypeCommands(program);
addTriggerCommand(program);
addDeliveryCommands(program);
addJobCommands(program);

export async function runCli(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // One line a person can act on; the stack only when asked for with LOG_LEVEL=debug.
    const message = describeErrorForPeople(error);
    process.stderr.write(`switchboard: ${message}\n`);
    if (!(error instanceof CliError || error instanceof EnvError) && wantsDebug()) {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    process.exit(1);
  }
}

function wantsDebug(): boolean {
  try {
    return loadEnv().LOG_LEVEL === 'debug';
  } catch {
    return false;
  }
}
