import type { Server } from 'node:http';
import type { Logger } from 'pino';

const WARN_EVERY_MS = 10_000;

/**
 * Caps the sockets (HTTP and upgraded WebSockets) this process holds open. Past the cap Node
 * closes each newly accepted socket at once, before reading a byte; a flood of them is logged
 * as one warning with a count every ten seconds, never once per socket.
 */
export function capConnections(server: Server, maxConnections: number, logger: Logger): void {
  server.maxConnections = maxConnections;
  let dropped = 0;
  let warnedAt = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - warnedAt < WARN_EVERY_MS) return;
    logger.warn({ dropped, maxConnections }, 'connections refused: MAX_CONNECTIONS reached');
    dropped = 0;
    warnedAt = now;
  });
}
