export * from './api-tokens.ts';
export * from './clients.ts';
export * from './event-types.ts';
export * from './messages.ts';
export * from './queue-listeners.ts';
export * from './queues.ts';
export * from './sessions.ts';
export * from './users.ts';
