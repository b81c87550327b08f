export * from './api-tokens.ts';
export * from './sessions.ts';
export * from './users.ts';
