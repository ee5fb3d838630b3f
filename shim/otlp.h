/*
 * OTLP's protobuf encoding of spans (rule O): an
 * opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest with
 * one Resource, one InstrumentationScope and N spans, written into the
 * caller's buffer.  Pure: no allocation, no lock, no system call.  Field
 * numbers are those of opentelemetry-proto's trace.proto, common.proto,
 * resource.proto and trace_service.proto (Span.flags: 16, fixed32, since
 * opentelemetry-proto 1.1.0).
 */
#ifndef CARRY_OTLP_H
#define CARRY_OTLP_H

#include "common.h"

/* A span's attributes, already encoded as the Span's `attributes` fields
 * (field 9, KeyValue), so that the encoder copies them as they are. */
#define CARRY__SPAN_ATTRS 480

/* One span, as the exporter's queue holds it. */
struct carry__span {
    uint8_t trace_id[16];       /* W3C bytes */
    uint64_t span_id;           /* host order; big-endian on the wire (W3C byte order) */
    uint64_t parent_span_id;    /* 0: a root span */
    uint64_t start_ns, end_ns;  /* CLOCK_REALTIME, ns since the epoch */
    uint8_t flags;              /* W3C trace-flags */
    uint8_t kind;               /* OTLP SpanKind; SERVER = 2 */
    char name[40];              /* span name, NUL-terminated */
    uint16_t attrs_len;         /* bytes used in attrs */
    char attrs[CARRY__SPAN_ATTRS];
};

/* OTLP's SpanKind values carry uses. */
enum { CARRY__SPAN_SERVER = 2 };

/* Field numbers of KeyValue lists: Resource.attributes, Span.attributes. */
enum { CARRY__OTLP_RESOURCE_ATTR = 1, CARRY__OTLP_SPAN_ATTR = 9 };

/*
 * Appends field `field` (a KeyValue whose AnyValue is a string_value or an
 * int_value) to buf, whose first *len of cap bytes are used; true and *len
 * updated, or false and nothing appended when it does not fit.
 */
bool carry__otlp_put_str(uint8_t *buf, size_t cap, size_t *len, unsigned field, const char *key,
                         size_t key_len, const char *value, size_t value_len);
bool carry__otlp_put_int(uint8_t *buf, size_t cap, size_t *len, unsigned field, const char *key,
                         size_t key_len, int64_t value);

/*
 * Encodes an ExportTraceServiceRequest of spans[0..n) under one Resource
 * (resource: its attributes, as carry__otlp_put_* wrote them with
 * CARRY__OTLP_RESOURCE_ATTR) and the scope "carry" of version; returns its
 * length, or 0 when it does not fit in cap bytes.
 */
size_t carry__otlp_request(uint8_t *buf, size_t cap, const uint8_t *resource, size_t resource_len,
                           const char *version, const struct carry__span *const *spans, size_t n);

#endif /* CARRY_OTLP_H */
