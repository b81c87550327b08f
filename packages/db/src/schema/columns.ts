import { timestamp } from 'drizzle-orm/pg-core';

/** Timestamps every row carries; `updatedAt` is set by the code that updates the row. */
export const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};
