/*
 * OpenTelemetry's protobuf (rules O and P): a writer of the wire format,
 * the KeyValue attributes and Resource of opentelemetry-proto, and spans
 * encoded as an opentelemetry.proto.collector.trace.v1
 * .ExportTraceServiceRequest with one Resource, one InstrumentationScope
 * and N spans.  Everything is written into the caller's buffer.  Pure: no
 * allocation, no lock, no system call.  Field numbers are those of
 * opentelemetry-proto's trace.proto, common.proto, resource.proto and
 * trace_service.proto (Span.flags: 16, fixed32, since opentelemetry-proto
 * 1.1.0).
 */
#ifndef CARRY_OTLP_H
#define CARRY_OTLP_H

#include "common.h"

/* Bytes appended at buf[len..cap); over once anything did not fit, after
 * which nothing more is written: the message is dropped whole, or the
 * caller takes len back to where it was and clears over. */
struct carry__pb {
    uint8_t *buf;
    size_t cap, len;
    bool over;
};

/* Fields: bytes as they are (already encoded fields), a varint, a
 * little-endian fixed32 or fixed64 (n: 4 or 8), a length-delimited
 * field. */
void carry__pb_raw(struct carry__pb *pb, const void *bytes, size_t n);
void carry__pb_varint(struct carry__pb *pb, unsigned field, uint64_t v);
void carry__pb_fixed(struct carry__pb *pb, unsigned field, uint64_t v, size_t n);
void carry__pb_bytes(struct carry__pb *pb, unsigned field, const void *bytes, size_t n);

/* A nested message as field: open returns where its content starts, close
 * writes its length once the content is there (open leaves one byte for
 * it; a longer length moves the content up). */
size_t carry__pb_open(struct carry__pb *pb, unsigned field);
void carry__pb_close(struct carry__pb *pb, size_t start);

/* KeyValue{key, AnyValue} as field: a string_value, an int_value, an
 * array_value of strings.  False when it did not fit (pb is then over). */
bool carry__pb_attr_str(struct carry__pb *pb, unsigned field, const char *key, const char *value,
                        size_t value_len);
bool carry__pb_attr_int(struct carry__pb *pb, unsigned field, const char *key, int64_t value);
bool carry__pb_attr_strs(struct carry__pb *pb, unsigned field, const char *key,
                         const char *const *values, size_t count);

/* Field numbers of KeyValue lists: Resource.attributes, Span.attributes. */
enum { CARRY__OTLP_RESOURCE_ATTR = 1, CARRY__OTLP_SPAN_ATTR = 9 };

/* This process's Resource but process.pid, which each user adds (a forked
 * child has its own): Resource.attributes, encoded. */
struct carry__resource {
    uint8_t attrs[3072];
    size_t len;
};

/* Writes Resource{r's attributes, process.pid = pid} as field. */
void carry__otlp_resource(struct carry__pb *pb, unsigned field, const struct carry__resource *r,
                          long pid);

/*
 * A span's attributes as a server thread leaves them in its queue slot,
 * raw: the exporter's thread encodes them (carry__otlp_request), so that
 * a server thread only copies bytes.  Each entry: its kind, the key's
 * length (one byte), the value's length (two bytes, little-endian), the
 * key, the value.
 */
#define CARRY__SPAN_ATTRS 480

enum {
    CARRY__SPAN_STR,     /* a string */
    CARRY__SPAN_INT,     /* an int64, 8 bytes little-endian */
    CARRY__SPAN_ADDRESS, /* "host:port" ("[v6]:port"): KEY.address and KEY.port */
};

/* The most an entry of n raw bytes grows when encoded, plus 16 bytes:
 * the exporter's body holds a batch of spans at this rate. */
#define CARRY__SPAN_ENCODED_MAX (2 * CARRY__SPAN_ATTRS + 256)

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
enum { CARRY__SPAN_INTERNAL = 1, CARRY__SPAN_SERVER = 2 };

/* Appends an attribute entry of kind (CARRY__SPAN_*) to s; false, and
 * nothing appended, when it does not fit (or the key is longer than 255
 * bytes). */
bool carry__span_put(struct carry__span *s, unsigned kind, const char *key, const void *value,
                     size_t value_len);

/*
 * Encodes an ExportTraceServiceRequest of spans[0..n) under the Resource
 * r of process pid and the scope "carry" of version; returns its length,
 * or 0 when it does not fit in cap bytes.
 */
size_t carry__otlp_request(uint8_t *buf, size_t cap, const struct carry__resource *r, long pid,
                           const char *version, const struct carry__span *const *spans, size_t n);

#endif /* CARRY_OTLP_H */
