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
};

/** JSON logs; credentials and secrets are redacted wherever they might appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchboard' },
      serializers,
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
