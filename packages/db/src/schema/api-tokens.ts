import { relations, sql } from 'drizzle-orm';
import { index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { UserId } from '../ids.ts';
import { users } from './users.ts';

export const apiTokens = pgTable(
  'api_tokens',
  {
    /** The public part of the token, shown in listings and used to find the row. */
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .$type<UserId>()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 (hex) of the secret part; the secret itself is shown once and never stored. */
    secretHash: text('secret_hash').notNull(),
    scopes: text('scopes').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('api_tokens_user_idx').on(t.userId),
    // A name is unique among a user's live tokens; a revoked token frees its name.
    uniqueIndex('api_tokens_user_name_live_idx').on(t.userId, t.name).where(sql`${t.revokedAt} is null`),
  ],
);

export const apiTokensRelations = relations(apiTokens, ({ one }) => ({
  user: one(users, { fields: [apiTokens.userId], references: [users.id] }),
}));
