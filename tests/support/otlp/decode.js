// Decodes OTLP/HTTP protobuf bodies with the official opentelemetry-proto
// definitions (as shipped in @opentelemetry/otlp-grpc-exporter-base) and
// protobufjs: code carry did not write checks what carry encodes.
//
// As a program: node decode.js FILE prints the spans of the
// ExportTraceServiceRequest in FILE, one JSON object per line.
'use strict';

const path = require('path');
const protobuf = require('protobufjs');

const protoRoot = path.join(
  path.dirname(require.resolve('@opentelemetry/otlp-grpc-exporter-base/package.json')),
  'build', 'protos');

// A protobufjs root with the official definitions in file (a path under
// opentelemetry-proto's tree) and those it imports, field names as the
// .proto files spell them.
function officialRoot(file) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => path.join(protoRoot, target);
  root.loadSync(file, { keepCase: true });
  return root;
}

const root = officialRoot('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const Span = root.lookupType('opentelemetry.proto.trace.v1.Span');

// The newest version of the package that ships the .proto files (0.38.0)
// has opentelemetry-proto from before Span.flags (added in 1.1.0 as
// `fixed32 flags = 16`): that one field is added here as 1.1.0 defines
// it, and only when the loaded definition lacks it.
const flagsAdded = !Span.fields.flags;
if (flagsAdded)
  Span.add(new protobuf.Field('flags', 16, 'fixed32'));

// Every field of Request must be one of the definitions: unknown fields
// would be skipped silently by protobufjs, so the decoded message is
// encoded again and must give back the same bytes.
function decode(body) {
  const msg = Request.decode(body);
  const again = Buffer.from(Request.encode(msg).finish());
  if (!again.equals(Buffer.from(body)))
    throw new Error('the body does not re-encode to the same bytes (unknown or misnumbered fields)');
  return msg;
}

function anyValue(v) {
  if (v.string_value !== undefined && v.string_value !== null && v.value !== 'int_value')
    return v.string_value;
  if (v.int_value !== undefined && v.int_value !== null)
    return { int: v.int_value.toString() };
  return null;
}

function attributes(list) {
  const out = {};
  for (const kv of list || [])
    out[kv.key] = anyValue(kv.value);
  return out;
}

function hex(bytes) {
  return bytes && bytes.length ? Buffer.from(bytes).toString('hex') : '';
}

// One object per span: ids in hex, times as decimal strings (they exceed
// JavaScript's exact integers), attributes by key.
function spans(msg) {
  const out = [];
  for (const rs of msg.resource_spans) {
    const resource = attributes(rs.resource && rs.resource.attributes);
    for (const ss of rs.scope_spans) {
      for (const s of ss.spans) {
        out.push({
          trace_id: hex(s.trace_id),
          span_id: hex(s.span_id),
          parent_span_id: hex(s.parent_span_id),
          flags: s.flags || 0,
          name: s.name,
          kind: s.kind,
          start: s.start_time_unix_nano.toString(),
          end: s.end_time_unix_nano.toString(),
          attributes: attributes(s.attributes),
          resource,
          scope: { name: ss.scope.name, version: ss.scope.version },
        });
      }
    }
  }
  return out;
}

module.exports = { decode, spans, flagsAdded, officialRoot };

if (require.main === module) {
  const body = require('fs').readFileSync(process.argv[2]);
  for (const s of spans(decode(body)))
    process.stdout.write(JSON.stringify(s) + '\n');
}
