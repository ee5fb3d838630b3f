// Decodes an OpenTelemetry process context payload (OTEP 4719) with
// protobufjs and the official opentelemetry-proto definitions of Resource
// and KeyValue (as shipped in @opentelemetry/otlp-grpc-exporter-base):
// code carry did not write checks what carry publishes.  The envelope,
// ProcessContext, is in no package yet: its two fields are declared here
// as the OTEP defines them.
//
// node procctx.js FILE prints one line per attribute, "resource KEY=VALUE"
// or "extra KEY=VALUE" (an array as [a,b]), as test_profiler.c expects.
'use strict';

const fs = require('fs');
const protobuf = require('protobufjs');
const { officialRoot } = require('./decode.js');

const root = officialRoot('opentelemetry/proto/resource/v1/resource.proto');
root.define('opentelemetry.proto.processcontext.v1development').add(
  new protobuf.Type('ProcessContext')
    .add(new protobuf.Field('resource', 1, 'opentelemetry.proto.resource.v1.Resource'))
    .add(new protobuf.Field('extra_attributes', 2, 'opentelemetry.proto.common.v1.KeyValue',
                            'repeated')));
root.resolveAll();
const ProcessContext = root.lookupType(
  'opentelemetry.proto.processcontext.v1development.ProcessContext');

// An AnyValue as text; its oneof, value, names the field it holds.
function text(v) {
  switch (v.value) {
    case 'string_value': return v.string_value;
    case 'int_value': return v.int_value.toString();
    case 'array_value': return '[' + v.array_value.values.map(text).join(',') + ']';
    default: throw new Error(`an AnyValue holding ${v.value}`);
  }
}

const body = fs.readFileSync(process.argv[2]);
const msg = ProcessContext.decode(body);
// Unknown or misnumbered fields would be skipped silently: the message
// must encode back to the same bytes.
if (!Buffer.from(ProcessContext.encode(msg).finish()).equals(body))
  throw new Error('the payload does not re-encode to the same bytes');
for (const kv of msg.resource.attributes)
  console.log(`resource ${kv.key}=${text(kv.value)}`);
for (const kv of msg.extra_attributes)
  console.log(`extra ${kv.key}=${text(kv.value)}`);
