// The delivery benchmark's receiver: answers every webhook 200 at once, with an empty body, and
// counts them. It runs as its own process so that neither the sender nor the load generator
// shares its event loop. Control routes (under /_bench/) read and reset the counters between phases.
//
// Times are epoch milliseconds with a fraction (performance.timeOrigin + performance.now()), so
// that they compare with times taken the same way in the load generator's process.
import { createServer } from 'node:http';

const now = () => performance.timeOrigin + performance.now();
// The publisher puts its send time in the payload; read it without parsing the whole body. The
// envelope's `timestamp` is when the server took the event (millisecond precision).
const SENT_AT = /"sentAt":(\d+(?:\.\d+)?)/;
const TIMESTAMP = /"timestamp":"([^"]+)"/;

let count = 0;
let first = 0;
let last = 0;
let recordLatency = false;
/** Receive time minus the send time carried by the payload, in ms, one per request (latency phase). */
let latencies = [];
/** Receive time minus the envelope's timestamp, in ms: the part after the server took the event. */
let sinceAccepted = [];
/** Requests whose payload carried no send time while latencies were being recorded. */
let unstamped = 0;
const paths = new Set();

function reset(latency) {
  count = 0;
  first = 0;
  last = 0;
  recordLatency = latency;
  latencies = [];
  sinceAccepted = [];
  unstamped = 0;
  paths.clear();
}

function sendJson(response, value) {
  const body = Buffer.from(JSON.stringify(value));
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  response.end(body);
}

const server = createServer((request, response) => {
  const receivedAt = now();
  const url = request.url ?? '/';
  if (url.startsWith('/_bench/')) {
    request.resume();
    if (url === '/_bench/stats') return sendJson(response, { count, first, last, distinctPaths: paths.size });
    if (url === '/_bench/latencies') return sendJson(response, { latencies, sinceAccepted, unstamped });
    if (url.startsWith('/_bench/reset')) {
      reset(url.includes('latency=1'));
      return sendJson(response, { ok: true });
    }
    response.writeHead(404).end();
    return;
  }
  count++;
  if (first === 0) first = receivedAt;
  last = receivedAt;
  paths.add(url);
  if (!recordLatency) {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-length': 0 });
      response.end();
    });
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    response.writeHead(200, { 'content-length': 0 });
    response.end();
    const body = Buffer.concat(chunks).toString('latin1');
    const sentAt = SENT_AT.exec(body);
    if (sentAt) latencies.push(receivedAt - Number(sentAt[1]));
    else unstamped++;
    const timestamp = TIMESTAMP.exec(body);
    if (timestamp) sinceAccepted.push(receivedAt - Date.parse(timestamp[1]));
  });
});
// Senders keep their connections; none of them should pay for reconnects.
server.keepAliveTimeout = 72_000;
server.headersTimeout = 80_000;
const { PORT } = process.env;
server.listen(Number(PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
