/*
 * OTLP's protobuf encoding (otlp.h).  Each message's length prefix is
 * known before it is written: the sizes are computed first, then the
 * bytes written in one pass, so nothing is moved afterwards.
 */
#include <string.h>

#include "otlp.h"

/* Protobuf's wire types. */
enum { CARRY__WIRE_VARINT = 0, CARRY__WIRE_I64 = 1, CARRY__WIRE_LEN = 2, CARRY__WIRE_I32 = 5 };

/* Field numbers (opentelemetry-proto). */
enum {
    CARRY__REQ_RESOURCE_SPANS = 1, /* ExportTraceServiceRequest.resource_spans */
    CARRY__RS_RESOURCE = 1,        /* ResourceSpans.resource */
    CARRY__RS_SCOPE_SPANS = 2,     /* ResourceSpans.scope_spans */
    CARRY__SS_SCOPE = 1,           /* ScopeSpans.scope */
    CARRY__SS_SPANS = 2,           /* ScopeSpans.spans */
    CARRY__SCOPE_NAME = 1,         /* InstrumentationScope.name */
    CARRY__SCOPE_VERSION = 2,      /* InstrumentationScope.version */
    CARRY__KV_KEY = 1,             /* KeyValue.key */
    CARRY__KV_VALUE = 2,           /* KeyValue.value */
    CARRY__ANY_STRING = 1,         /* AnyValue.string_value */
    CARRY__ANY_INT = 3,            /* AnyValue.int_value */
    CARRY__SPAN_TRACE_ID = 1,
    CARRY__SPAN_SPAN_ID = 2,
    CARRY__SPAN_PARENT_SPAN_ID = 4,
    CARRY__SPAN_NAME = 5,
    CARRY__SPAN_KIND = 6,
    CARRY__SPAN_START = 7,
    CARRY__SPAN_END = 8,
    CARRY__SPAN_FLAGS = 16,
};

static const char carry__scope_name[] = "carry";

static size_t carry__varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t carry__tag_size(unsigned field)
{
    return carry__varint_size((uint64_t)field << 3);
}

/* A length-delimited field of len bytes, whole. */
static size_t carry__len_field_size(unsigned field, size_t len)
{
    return carry__tag_size(field) + carry__varint_size(len) + len;
}

/* Bytes written at buf[len..cap); over once something did not fit. */
struct carry__writer {
    uint8_t *buf;
    size_t cap, len;
    bool over;
};

static void carry__put_raw(struct carry__writer *w, const void *bytes, size_t n)
{
    if (n == 0)
        return; /* bytes may be NULL then, which memcpy does not take */
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

static void carry__put_varint(struct carry__writer *w, uint64_t v)
{
    uint8_t bytes[10];
    size_t n = 0;
    while (v >= 0x80) {
        bytes[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    bytes[n++] = (uint8_t)v;
    carry__put_raw(w, bytes, n);
}

static void carry__put_tag(struct carry__writer *w, unsigned field, unsigned wire)
{
    carry__put_varint(w, (uint64_t)field << 3 | wire);
}

/* The tag and length of a length-delimited field whose len bytes follow. */
static void carry__put_len(struct carry__writer *w, unsigned field, size_t len)
{
    carry__put_tag(w, field, CARRY__WIRE_LEN);
    carry__put_varint(w, len);
}

static void carry__put_bytes(struct carry__writer *w, unsigned field, const void *bytes, size_t n)
{
    carry__put_len(w, field, n);
    carry__put_raw(w, bytes, n);
}

/* Little-endian, as protobuf's fixed32 and fixed64 are. */
static void carry__put_fixed(struct carry__writer *w, unsigned field, uint64_t v, size_t n)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    carry__put_tag(w, field, n == 8 ? CARRY__WIRE_I64 : CARRY__WIRE_I32);
    carry__put_raw(w, bytes, n);
}

/* A span id in W3C byte order: big-endian. */
static void carry__put_span_id(struct carry__writer *w, unsigned field, uint64_t id)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(id >> (56 - 8 * i));
    carry__put_bytes(w, field, bytes, sizeof bytes);
}

/* Appends KeyValue{key, AnyValue{any_field: ...}} as field `field`: a
 * string (wire LEN: value, value_len) or a varint (scalar). */
static bool carry__put_kv(uint8_t *buf, size_t cap, size_t *len, unsigned field, const char *key,
                          size_t key_len, unsigned any_field, unsigned wire, uint64_t scalar,
                          const char *value, size_t value_len)
{
    size_t any_body = wire == CARRY__WIRE_LEN
                          ? carry__len_field_size(any_field, value_len)
                          : carry__tag_size(any_field) + carry__varint_size(scalar);
    size_t kv = carry__len_field_size(CARRY__KV_KEY, key_len) +
                carry__len_field_size(CARRY__KV_VALUE, any_body);
    struct carry__writer w = {buf, cap, *len, false};
    if (carry__len_field_size(field, kv) > cap - *len)
        return false;
    carry__put_len(&w, field, kv);
    carry__put_bytes(&w, CARRY__KV_KEY, key, key_len);
    carry__put_len(&w, CARRY__KV_VALUE, any_body);
    if (wire == CARRY__WIRE_LEN) {
        carry__put_bytes(&w, any_field, value, value_len);
    } else {
        carry__put_tag(&w, any_field, CARRY__WIRE_VARINT);
        carry__put_varint(&w, scalar);
    }
    *len = w.len;
    return true;
}

bool carry__otlp_put_str(uint8_t *buf, size_t cap, size_t *len, unsigned field, const char *key,
                         size_t key_len, const char *value, size_t value_len)
{
    return carry__put_kv(buf, cap, len, field, key, key_len, CARRY__ANY_STRING, CARRY__WIRE_LEN, 0,
                         value, value_len);
}

bool carry__otlp_put_int(uint8_t *buf, size_t cap, size_t *len, unsigned field, const char *key,
                         size_t key_len, int64_t value)
{
    /* int64 is a varint of the two's complement: ten bytes when negative. */
    return carry__put_kv(buf, cap, len, field, key, key_len, CARRY__ANY_INT, CARRY__WIRE_VARINT,
                         (uint64_t)value, NULL, 0);
}

static size_t carry__span_name_len(const struct carry__span *s)
{
    return strnlen(s->name, sizeof s->name);
}

/* The Span message's body; fields in the order of their numbers. */
static size_t carry__span_size(const struct carry__span *s)
{
    size_t n = carry__len_field_size(CARRY__SPAN_TRACE_ID, sizeof s->trace_id) +
               carry__len_field_size(CARRY__SPAN_SPAN_ID, 8) +
               carry__len_field_size(CARRY__SPAN_NAME, carry__span_name_len(s)) +
               2 * (carry__tag_size(CARRY__SPAN_START) + 8) + s->attrs_len;
    if (s->parent_span_id != 0)
        n += carry__len_field_size(CARRY__SPAN_PARENT_SPAN_ID, 8);
    if (s->kind != 0)
        n += carry__tag_size(CARRY__SPAN_KIND) + carry__varint_size(s->kind);
    if (s->flags != 0)
        n += carry__tag_size(CARRY__SPAN_FLAGS) + 4;
    return n;
}

static void carry__put_span(struct carry__writer *w, const struct carry__span *s)
{
    carry__put_len(w, CARRY__SS_SPANS, carry__span_size(s));
    carry__put_bytes(w, CARRY__SPAN_TRACE_ID, s->trace_id, sizeof s->trace_id);
    carry__put_span_id(w, CARRY__SPAN_SPAN_ID, s->span_id);
    if (s->parent_span_id != 0)
        carry__put_span_id(w, CARRY__SPAN_PARENT_SPAN_ID, s->parent_span_id);
    carry__put_bytes(w, CARRY__SPAN_NAME, s->name, carry__span_name_len(s));
    if (s->kind != 0) {
        carry__put_tag(w, CARRY__SPAN_KIND, CARRY__WIRE_VARINT);
        carry__put_varint(w, s->kind);
    }
    carry__put_fixed(w, CARRY__SPAN_START, s->start_ns, 8);
    carry__put_fixed(w, CARRY__SPAN_END, s->end_ns, 8);
    carry__put_raw(w, s->attrs, s->attrs_len);
    if (s->flags != 0)
        carry__put_fixed(w, CARRY__SPAN_FLAGS, s->flags, 4);
}

size_t carry__otlp_request(uint8_t *buf, size_t cap, const uint8_t *resource, size_t resource_len,
                           const char *version, const struct carry__span *const *spans, size_t n)
{
    size_t version_len = strlen(version);
    size_t scope = carry__len_field_size(CARRY__SCOPE_NAME, sizeof carry__scope_name - 1) +
                   carry__len_field_size(CARRY__SCOPE_VERSION, version_len);
    size_t scope_spans = carry__len_field_size(CARRY__SS_SCOPE, scope);
    for (size_t i = 0; i < n; i++)
        scope_spans += carry__len_field_size(CARRY__SS_SPANS, carry__span_size(spans[i]));
    size_t resource_spans = carry__len_field_size(CARRY__RS_RESOURCE, resource_len) +
                            carry__len_field_size(CARRY__RS_SCOPE_SPANS, scope_spans);

    struct carry__writer w = {buf, cap, 0, false};
    carry__put_len(&w, CARRY__REQ_RESOURCE_SPANS, resource_spans);
    carry__put_bytes(&w, CARRY__RS_RESOURCE, resource, resource_len);
    carry__put_len(&w, CARRY__RS_SCOPE_SPANS, scope_spans);
    carry__put_len(&w, CARRY__SS_SCOPE, scope);
    carry__put_bytes(&w, CARRY__SCOPE_NAME, carry__scope_name, sizeof carry__scope_name - 1);
    carry__put_bytes(&w, CARRY__SCOPE_VERSION, version, version_len);
    for (size_t i = 0; i < n; i++)
        carry__put_span(&w, spans[i]);
    return w.over ? 0 : w.len;
}
