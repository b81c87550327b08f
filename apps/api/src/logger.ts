import { describeError } from '@switchboard/core';
import pino, { type Logger } from 'pino';

/**
 * Requests are logged by path alone: query strings may carry credentials (the Webhook Queue's and
 * Webhook As A Service clients send them there) and shared tokens.
 */
const serializers = {
  req: (req: { method?: string; url?: string; id?: unknown; ip?: string }) => ({
    method: req.method,
    url: req.url?.split('?')[0],
    id: req.id,
    ip: req.ip,
  }),
  // Every error, whoever logs it (core, Fastify's request log, Yoga), is reduced to its type, code,
  // constraint and a capped message: database errors carry the statement's parameters otherwise.
  err: describeError,
  error: (value: unknown) => (value instanceof Error ? describeError(value) : value),
};

function heldError(value: unknown): Error | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { err, error } = value as { err?: unknown; error?: unknown };
  if (err instanceof Error) return err;
  return error instanceof Error ? error : undefined;
}

/** JSON logs; credentials and secrets are redacted wherever they might appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchboard' },
      serializers,
      hooks: {
        // pino takes the message of an error logged alone (as Yoga logs them) from the error itself;
        // a database error's message can hold every parameter, so the capped one is used.
        logMethod(args, method) {
          const [first, second] = args as unknown[];
          if (first instanceof Error && typeof second !== 'string') {
            return method.apply(this, [{ err: first }, describeError(first).message]);
          }
          // So does an object holding one as `err` (or `error`) with no message of its own.
          const held = heldError(first);
          if (held && typeof second !== 'string') {
            return method.apply(this, [first as object, describeError(held).message]);
          }
          // Several arguments (as Yoga's logging may pass them) arrive as one array, where no
          // serializer looks: an error among them is reduced here.
          if (Array.isArray(first)) {
            const reduced = first.map((item: unknown) => (item instanceof Error ? describeError(item) : item));
            return method.apply(this, [reduced, ...(args.slice(1) as string[])] as Parameters<typeof method>);
          }
          return method.apply(this, args);
        },
      },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'res.headers["set-cookie"]',
          '*.password',
          '*.secret',
          '*.token',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
