export * from './availability.ts';
export * from './client.ts';
export type * from './ids.ts';
export * from './migrate.ts';
export * from './schema/index.ts';
