// node_server.js PORT — the peer for scripts/bench/servers: a minimal Node
// HTTP server on 127.0.0.1:PORT, its handler chosen by BENCH_NODE_MODE:
//
//   plain (default)  an async handler that makes a per-request object,
//                    awaits twice (a resolved promise, then setImmediate:
//                    a trip through the event loop) and answers with a
//                    field of that object;
//   als              the same handler run inside AsyncLocalStorage.run()
//                    with that object as the store, which it reads back
//                    with getStore() after the awaits.
//
// So the two differ only by AsyncLocalStorage: its run, its propagation
// across the two awaits, and the read.  The body names the mode ("plain 17"
// or "als 17", the request's number), which the driver checks.  Stops on
// SIGTERM.
'use strict';

const http = require('http');
const { AsyncLocalStorage } = require('async_hooks');

const port = Number(process.argv[2]);
const mode = process.env.BENCH_NODE_MODE || 'plain';
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node node_server.js PORT (BENCH_NODE_MODE=plain|als)');
  process.exit(2);
}
if (mode !== 'plain' && mode !== 'als') {
  console.error(`node_server: BENCH_NODE_MODE must be plain or als, not '${mode}'`);
  process.exit(2);
}

const als = new AsyncLocalStorage();
const immediate = () => new Promise((resolve) => setImmediate(resolve));
let served = 0;

function reply(res, text) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function plain(req, res) {
  const store = { id: ++served, url: req.url };
  await Promise.resolve();
  await immediate();
  reply(res, `plain ${store.id}\n`);
}

async function withStore(req, res) {
  await Promise.resolve();
  await immediate();
  const store = als.getStore();
  reply(res, `als ${store.id}\n`);
}

function fail(res, err) {
  console.error(err);
  res.statusCode = 500;
  res.end();
}

const handler = mode === 'als'
  ? (req, res) => als.run({ id: ++served, url: req.url }, withStore, req, res).catch((e) => fail(res, e))
  : (req, res) => plain(req, res).catch((e) => fail(res, e));

const server = http.createServer(handler);
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
