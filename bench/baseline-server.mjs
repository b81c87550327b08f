// The ingest baseline: the least a Node HTTP server can do for the same request (read the whole
// body, answer a small JSON), so that Switchboard's figures can be read as a ratio of it.
import { createServer } from 'node:http';

const reply = Buffer.from('{"id":1}');
const server = createServer((request, response) => {
  request.on('data', () => {});
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': reply.length });
    response.end(reply);
  });
});
// Same keep-alive behaviour as Fastify's defaults, so neither side pays for reconnects.
server.keepAliveTimeout = 72_000;
const { PORT } = process.env;
server.listen(Number(PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
