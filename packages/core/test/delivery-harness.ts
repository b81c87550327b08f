import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { type Core, type CoreDeps, createCore, type Principal, scopesForRole, systemPrincipal } from '../src/index.ts';
import { startReceiver, type TestReceiver } from '../src/testing.ts';

export { must } from '../src/testing.ts';

/**
 * A core on a fresh database with a clock the test moves, loopback allowed for deliveries, and a
 * receiver to deliver to. The worker is driven with `runOnce`, so that time only passes when the
 * test says so.
 */
export interface DeliveryHarness {
  database: TestDatabase;
  core: Core;
  receiver: TestReceiver;
  clock: { now: () => Date; set(date: Date): void; advance(ms: number): void };
  admin: Principal;
  user(username: string, role?: 'admin' | 'member'): Promise<Principal>;
  /** Sends what is due now, repeatedly, until nothing is left due; answers how many were sent. */
  drain(): Promise<number>;
  close(): Promise<void>;
}

export async function startDeliveryHarness(
  options: { delivery?: CoreDeps['delivery'] } = {},
): Promise<DeliveryHarness> {
  const database = await createTestDatabase();
  let current = new Date('2026-06-01T12:00:00.000Z');
  const clock = {
    now: () => new Date(current),
    set: (date: Date) => {
      current = new Date(date);
    },
    advance: (ms: number) => {
      current = new Date(current.getTime() + ms);
    },
  };
  const core = createCore({
    db: database.client.db,
    clock,
    pubsub: database.client,
    logger: process.env.DEBUG_LOG ? (console as never) : undefined,
    delivery: { allowedNetworks: ['127.0.0.0/8', '::1/128'], ...options.delivery },
  });
  const receiver = await startReceiver();
  const user = async (username: string, role: 'admin' | 'member' = 'member'): Promise<Principal> => {
    const created = await core.users.create(systemPrincipal, { username, password: `${username}-password`, role });
    if (!created.ok) throw new Error(created.error.message);
    return { user: created.value, via: 'password', scopes: scopesForRole(role) };
  };
  const admin = await user('root', 'admin');
  return {
    database,
    core,
    receiver,
    clock,
    admin,
    user,
    async drain() {
      let total = 0;
      for (let sent = await core.worker.runOnce(); sent > 0; sent = await core.worker.runOnce()) total += sent;
      return total;
    },
    async close() {
      await core.stop();
      await receiver.close();
      await database.drop();
    },
  };
}
