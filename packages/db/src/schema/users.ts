import { relations, sql } from 'drizzle-orm';
import { pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { apiTokens } from './api-tokens.ts';
import { timestamps } from './columns.ts';
import { sessions } from './sessions.ts';

export const userRole = pgEnum('user_role', ['admin', 'member']);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    username: text('username').notNull(),
    /** An argon2id PHC string; legacy formats are upgraded on the first successful login. */
    passwordHash: text('password_hash').notNull(),
    role: userRole('role').notNull().default('member'),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    ...timestamps,
  },
  (t) => [uniqueIndex('users_username_lower_idx').on(sql`lower(${t.username})`)],
);

export const usersRelations = relations(users, ({ many }) => ({
  tokens: many(apiTokens),
  sessions: many(sessions),
}));
