import { describeErrorForPeople, systemPrincipal } from '@switchboard/core';
import { createSwitchboard, type Switchboard } from './app.ts';
import { type Env, EnvError, loadEnv } from './env.ts';
import { createLogger } from './logger.ts';

/** `switchboard serve`: start, announce, and stop cleanly on SIGTERM/SIGINT. */
export async function serve(): Promise<void> {
  let env: Env;
  try {
    env = loadEnv();
  } catch (error) {
    if (error instanceof EnvError) {
      process.stderr.write(`switchboard: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(env.LOG_LEVEL);
  let switchboard: Switchboard;
  try {
    switchboard = await createSwitchboard({ env, logger });
  } catch (error) {
    logger.fatal({ err: error }, 'could not start');
    process.stderr.write(`switchboard: could not start: ${describeErrorForPeople(error)}\n`);
    process.exit(1);
  }

  await switchboard.app.listen({ port: env.PORT, host: env.HOST });

  const shownHost =
    env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  const consoleUrl = `http://${shownHost}:${env.PORT}/`;
  if (switchboard.generatedAdminPassword) {
    // Shown once, on the terminal only: it is not written to the logs.
    process.stdout.write(
      `\n  Switchboard created the admin user "${env.ADMIN_USERNAME}".\n` +
        `  Password: ${switchboard.generatedAdminPassword}\n` +
        '  It is shown only this once; change it with `switchboard users passwd`.\n' +
        (env.ROLE === 'worker' ? '\n' : `  Sign in to the console at ${consoleUrl}\n\n`),
    );
  }
  if (env.ROLE !== 'worker') logger.info({ url: consoleUrl }, 'console and API ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: env.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
      process.exit(1);
    }, env.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    try {
      await switchboard.stop();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  // SIGHUP re-applies the config file, as POST /reload does; stored messages stay.
  process.on('SIGHUP', () => {
    switchboard.core.config
      .reload(systemPrincipal)
      .then((result) => {
        if (result.ok) logger.info({ summary: result.value }, 'configuration reloaded on SIGHUP');
        else logger.error({ error: result.error }, 'configuration reload failed; the previous one stays');
      })
      .catch((error) => logger.error({ err: error }, 'configuration reload failed'));
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
