// Compatibility: the Webhook test tool. Its account registration, as users with scoped tokens.

import { createHash, randomBytes } from 'node:crypto';
import { isAdmin, type Principal, type Scope } from '../access/principal.ts';
import type { SubscriptionDefinition } from '../delivery/subscription-definition.ts';
import type { UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { TokensService } from '../tokens/tokens-service.ts';
import { checkUsername, type UserAccount, type UsersService } from '../users/users-service.ts';

/** What an account's token may do: manage its own subscriptions, as the tool's access tokens did. */
export const WEBHOOK_TEST_ACCOUNT_SCOPES: readonly Scope[] = ['subscriptions:read', 'subscriptions:write'];

/**
 * A Webhook test subscription is set inactive once more attempts than this have failed. The tool's
 * README names no number; five lets one delivery's first retries run (about 7.6 hours on the
 * default schedule) and stops long before its last.
 */
export const WEBHOOK_TEST_MAX_FAILED_ATTEMPTS = 5;

/** Kept from before the failed-attempt count existed; that count disables such a subscription first. */
const WEBHOOK_TEST_DISABLE_AFTER_FAILURES = 5;

/**
 * The subscription `/webhooks/subscribe` makes: the tool's body and its failure counting. The name
 * comes from the event and URL, so the same subscription made twice meets its own name.
 */
export function webhookTestSubscription(event: string, url: string): SubscriptionDefinition {
  return {
    name: `webhook-test ${createHash('sha256').update(`${event}\n${url}`).digest('hex').slice(0, 16)}`,
    description: `${event} (Webhook test subscription)`,
    url,
    eventTypes: [event],
    bodyFormat: 'webhook-test',
    maxFailedAttempts: WEBHOOK_TEST_MAX_FAILED_ATTEMPTS,
    disableAfterFailures: WEBHOOK_TEST_DISABLE_AFTER_FAILURES,
  };
}

export interface WebhookTestAccountsDeps {
  logger: Logger;
  users: UsersService;
  tokens: TokensService;
}

/**
 * The Webhook test tool's account registration. The tool kept accounts in a table of their own;
 * here they are members marked as made this way, and only those are given further tokens, so a
 * `user_id` that names a console user or an admin never yields a token for them.
 */
export class WebhookTestAccounts {
  constructor(private readonly deps: WebhookTestAccountsDeps) {}

  async register(
    actor: Principal,
    username: string,
  ): Promise<Result<{ userId: UserId; created: boolean; token: string }>> {
    // Checked before any look-up, so that a caller who may not register learns nothing of who exists.
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Registering accounts needs an admin token');
    const problem = checkUsername(username);
    if (problem)
      return fail('INVALID', 'The account is not valid', { fields: [{ path: 'user_id', message: problem }] });

    const found = await this.deps.users.findAccount(actor, username);
    if (!found.ok) return found;
    let account: Pick<UserAccount, 'id' | 'accountSource' | 'role'> | null = found.value;
    let created = false;
    if (!account) {
      // Nobody signs in with this password: the account works through its tokens. An admin may set one.
      const made = await this.deps.users.create(actor, {
        username,
        password: randomBytes(24).toString('base64url'),
        accountSource: 'webhook-test',
      });
      if (!made.ok && made.error.code !== 'CONFLICT') return made;
      created = made.ok;
      if (made.ok) {
        account = { id: made.value.id, accountSource: 'webhook-test', role: 'member' };
      } else {
        const again = await this.deps.users.findAccount(actor, username);
        if (!again.ok) return again;
        account = again.value;
      }
      if (!account) return fail('CONFLICT', 'The account was removed while it was being made; try again');
    }
    if (account.accountSource !== 'webhook-test' || account.role !== 'member') {
      return fail('CONFLICT', `The user "${username}" was not made through /webhooks/account; choose another user_id`);
    }
    // Tokens are stored hashed, so an existing account cannot be given its old token again: it gets
    // another one, and the earlier ones stay valid until revoked.
    const token = await this.deps.tokens.create(actor, {
      name: `webhook-test ${new Date().toISOString()} ${randomBytes(3).toString('hex')}`,
      scopes: WEBHOOK_TEST_ACCOUNT_SCOPES,
      userId: account.id,
    });
    if (!token.ok) return token;
    return ok({ userId: account.id, created, token: token.value.secret });
  }
}
