// A stand-in OpenTelemetry collector for carry's tests: accepts
// POST /v1/traces (OTLP/HTTP, protobuf), decodes each body with the
// official definitions (decode.js) and appends one JSON line per span to
// the output file before it answers, so that a client that got its answer
// finds its spans in the file.
//
// node receiver.js --out FILE [--fail N] [--fail-status CODE]
//                  [--retry-after SECONDS] [--delay MS]
//   --fail N          answer the first N requests with CODE (503) instead
//   --retry-after S   with a Retry-After: S header on those answers
//   --delay MS        answer every request MS milliseconds late
// Listens on a free port of 127.0.0.1, prints "port=N", and exits at
// SIGTERM or at the end of its standard input.  Each
// request adds a line {"request": n, "status": code, "spans": count,
// "content_type": ..., "headers": {...}} to the file too.
'use strict';

const fs = require('fs');
const http = require('http');
const { decode, spans } = require('./decode.js');

const opts = { out: null, fail: 0, failStatus: 503, retryAfter: null, delay: 0 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const v = argv[i + 1];
  switch (argv[i]) {
  case '--out': opts.out = v; break;
  case '--fail': opts.fail = Number(v); break;
  case '--fail-status': opts.failStatus = Number(v); break;
  case '--retry-after': opts.retryAfter = v; break;
  case '--delay': opts.delay = Number(v); break;
  default:
    process.stderr.write(`receiver: unknown option ${argv[i]}\n`);
    process.exit(2);
  }
}
if (!opts.out) {
  process.stderr.write('receiver: --out FILE is required\n');
  process.exit(2);
}

let requests = 0, taken = 0;

function record(obj) {
  fs.appendFileSync(opts.out, JSON.stringify(obj) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const n = ++requests;
    const body = Buffer.concat(chunks);
    let status = 200, count = 0, error = null;
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      status = 404;
    } else if (n <= opts.fail) {
      status = opts.failStatus;
    } else {
      try {
        const list = spans(decode(body));
        count = list.length;
        for (const s of list)
          record(s);
      } catch (e) {
        status = 400;
        error = String(e && e.message || e);
      }
    }
    const headers = {};
    for (const [k, v] of Object.entries(req.headers))
      if (k.startsWith('x-'))
        headers[k] = v;
    record({ request: n, status, spans: count, method: req.method, url: req.url,
      content_type: req.headers['content-type'] || null, headers, error });
    taken += count;
    process.stdout.write(`spans=${taken}\n`);
    const answer = () => {
      const reply = status === 200 ? Buffer.alloc(0) : Buffer.from('no');
      const h = { 'Content-Type': 'application/x-protobuf', 'Content-Length': reply.length };
      if (status !== 200 && opts.retryAfter !== null)
        h['Retry-After'] = opts.retryAfter;
      res.writeHead(status, h);
      res.end(reply);
    };
    if (opts.delay > 0)
      setTimeout(answer, opts.delay);
    else
      answer();
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port=${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// A test that dies without stopping it closes its stdin: leave then.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
