import type { Database } from '@switchboard/db';
import { AuthService, type AuthServiceDeps } from './auth/auth-service.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import { type Logger, silentLogger } from './shared/logger.ts';
import { TokensService } from './tokens/tokens-service.ts';
import { UsersService } from './users/users-service.ts';

export * from './auth/auth-service.ts';
export * from './auth/login-throttle.ts';
export * from './auth/passwords.ts';
export * from './auth/principal.ts';
export * from './shared/clock.ts';
export * from './shared/crypto.ts';
export * from './shared/logger.ts';
export * from './shared/pagination.ts';
export * from './shared/result.ts';
export * from './tokens/tokens-service.ts';
export * from './users/users-service.ts';

export interface CoreDeps {
  db: Database;
  clock?: Clock;
  logger?: Logger;
  auth?: Pick<AuthServiceDeps, 'basicCacheTtlMs' | 'sessionTtlMs' | 'throttle'>;
}

export interface Core {
  users: UsersService;
  tokens: TokensService;
  auth: AuthService;
}

/** Builds every core service once, with the dependencies they share. */
export function createCore(deps: CoreDeps): Core {
  const shared = { db: deps.db, clock: deps.clock ?? systemClock, logger: deps.logger ?? silentLogger };
  const tokens = new TokensService(shared);
  return {
    users: new UsersService(shared),
    tokens,
    auth: new AuthService({ ...shared, tokens, ...deps.auth }),
  };
}
