import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP relay between the service and the test Postgres that a test can make fail the ways a
 * database does: `refuse` ends every connection and refuses new ones (a stopped server), `freeze`
 * keeps every socket open and relays nothing (a SIGSTOP'd or unreachable server), `pass` relays
 * again. Loopback only.
 */
export interface FaultProxy {
  readonly port: number;
  readonly mode: 'pass' | 'refuse' | 'freeze';
  pass(): void;
  refuse(): void;
  freeze(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<{ client: Socket; server: Socket }>();
  let mode: FaultProxy['mode'] = 'pass';
  const server: Server = createServer((client) => {
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    const pair = { client, server: upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(target.port, target.host, () => {
      client.pipe(upstream);
      upstream.pipe(client);
      if (mode === 'freeze') hold(pair);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the proxy has no port');

  // Unpiped and paused, a socket buffers what arrives and passes nothing on, as a frozen peer would.
  const hold = (pair: { client: Socket; server: Socket }) => {
    pair.client.unpipe(pair.server);
    pair.server.unpipe(pair.client);
    pair.client.pause();
    pair.server.pause();
  };
  const release = (pair: { client: Socket; server: Socket }) => {
    pair.client.pipe(pair.server);
    pair.server.pipe(pair.client);
  };

  return {
    port: address.port,
    get mode() {
      return mode;
    },
    pass() {
      if (mode === 'freeze') for (const pair of pairs) release(pair);
      mode = 'pass';
    },
    refuse() {
      mode = 'refuse';
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      pairs.clear();
    },
    freeze() {
      mode = 'freeze';
      for (const pair of pairs) hold(pair);
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
