import { customType, timestamp } from 'drizzle-orm/pg-core';

/** Timestamps every row carries; `updatedAt` is set by the code that updates the row. */
export const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

/** Raw bytes, exactly as received: signatures are computed over them. */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  // PGlite hands back a Uint8Array, postgres.js a Buffer; callers always get a Buffer.
  fromDriver: (value) =>
    Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  toDriver: (value) => value,
});
