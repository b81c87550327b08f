import { relations, sql } from 'drizzle-orm';
import { boolean, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { UserId } from '../ids.ts';
import { apiTokens } from './api-tokens.ts';
import { timestamps } from './columns.ts';
import { sessions } from './sessions.ts';

export const userRole = pgEnum('user_role', ['admin', 'member']);

export const users = pgTable(
  'users',
  {
    id: uuid('id').$type<UserId>().primaryKey().defaultRandom(),
    username: text('username').notNull(),
    /** An argon2id PHC string; legacy formats are upgraded on the first successful login. */
    passwordHash: text('password_hash').notNull(),
    role: userRole('role').notNull().default('member'),
    /** May re-apply the declarative config file (`POST /reload`); admins always may. */
    canReload: boolean('can_reload').notNull().default(false),
    /** `config` users belong to the declarative config file and are removed when it drops them. */
    managedBy: text('managed_by').$type<'api' | 'config'>().notNull().default('api'),
    /**
     * The `pass_hash` the config file last gave this user. The file's password is applied only
     * when this changes, so a password changed since (setPassword) survives a reload.
     */
    configPassHash: text('config_pass_hash'),
    /**
     * `webhook-test` for an account made through the Webhook test tool's `/webhooks/account`: only
     * those are given further tokens there, never a console user or an admin.
     */
    accountSource: text('account_source').$type<'webhook-test'>(),
    /**
     * Signs the callbacks of this user's jobs (Standard Webhooks, `whsec_`): 32 random bytes from
     * two UUIDs, so that existing users get one too.
     */
    signingSecret: text('signing_secret')
      .notNull()
      .default(
        sql`'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64')`,
      ),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    ...timestamps,
  },
  (t) => [uniqueIndex('users_username_lower_idx').on(sql`lower(${t.username})`)],
);

export const usersRelations = relations(users, ({ many }) => ({
  tokens: many(apiTokens),
  sessions: many(sessions),
}));
