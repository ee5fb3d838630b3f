/*
 * OpenTelemetry's protobuf (otlp.h).  A nested message's length is
 * written when it is closed, in the byte its opening left, the content
 * moved up when the length needs more: one pass, and no size computed
 * apart from the writing (only the exporter's requests, off every server
 * thread, are long enough for the move to matter).
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
    CARRY__ANY_ARRAY = 5,          /* AnyValue.array_value */
    CARRY__ARRAY_VALUES = 1,       /* ArrayValue.values */
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

/* ---- The writer ------------------------------------------------------------ */

/* v as a varint into out; its length. */
static size_t carry__varint_encode(uint8_t out[10], uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void carry__pb_raw(struct carry__pb *pb, const void *bytes, size_t n)
{
    if (n == 0)
        return; /* bytes may be NULL then, which memcpy does not take */
    if (pb->over || n > pb->cap - pb->len) {
        pb->over = true;
        return;
    }
    memcpy(pb->buf + pb->len, bytes, n);
    pb->len += n;
}

/* Spans are encoded on server threads (into their queue slot): the
 * common case, room for the longest varint, writes in place. */
static inline void carry__pb_uint(struct carry__pb *pb, uint64_t v)
{
    /* Tags and short lengths: one byte. */
    if (CARRY__LIKELY(v < 0x80 && !pb->over && pb->len < pb->cap)) {
        pb->buf[pb->len++] = (uint8_t)v;
        return;
    }
    if (CARRY__LIKELY(!pb->over && pb->cap - pb->len >= 10)) {
        pb->len += carry__varint_encode(pb->buf + pb->len, v);
        return;
    }
    uint8_t bytes[10];
    carry__pb_raw(pb, bytes, carry__varint_encode(bytes, v));
}

static void carry__pb_tag(struct carry__pb *pb, unsigned field, unsigned wire)
{
    carry__pb_uint(pb, (uint64_t)field << 3 | wire);
}

void carry__pb_varint(struct carry__pb *pb, unsigned field, uint64_t v)
{
    carry__pb_tag(pb, field, CARRY__WIRE_VARINT);
    carry__pb_uint(pb, v);
}

void carry__pb_fixed(struct carry__pb *pb, unsigned field, uint64_t v, size_t n)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    carry__pb_tag(pb, field, n == 8 ? CARRY__WIRE_I64 : CARRY__WIRE_I32);
    carry__pb_raw(pb, bytes, n);
}

void carry__pb_bytes(struct carry__pb *pb, unsigned field, const void *bytes, size_t n)
{
    carry__pb_tag(pb, field, CARRY__WIRE_LEN);
    carry__pb_uint(pb, n);
    carry__pb_raw(pb, bytes, n);
}

size_t carry__pb_open(struct carry__pb *pb, unsigned field)
{
    carry__pb_tag(pb, field, CARRY__WIRE_LEN);
    carry__pb_uint(pb, 0);
    return pb->len;
}

void carry__pb_close(struct carry__pb *pb, size_t start)
{
    if (pb->over)
        return;
    size_t len = pb->len - start;
    uint8_t bytes[10];
    size_t n = carry__varint_encode(bytes, len);
    if (n - 1 > pb->cap - pb->len) {
        pb->over = true;
        return;
    }
    if (n > 1)
        memmove(pb->buf + start + n - 1, pb->buf + start, len);
    memcpy(pb->buf + start - 1, bytes, n);
    pb->len += n - 1;
}

/* ---- Attributes ------------------------------------------------------------ */

/* KeyValue{key, value: AnyValue{...}} as field: the pair's start, and (the
 * return value) where the AnyValue's content starts; the caller writes it,
 * then closes both with carry__pb_attr_close. */
static size_t carry__pb_attr_open(struct carry__pb *pb, unsigned field, const char *key,
                                  size_t *pair)
{
    *pair = carry__pb_open(pb, field);
    carry__pb_bytes(pb, CARRY__KV_KEY, key, strlen(key));
    return carry__pb_open(pb, CARRY__KV_VALUE);
}

static bool carry__pb_attr_close(struct carry__pb *pb, size_t pair, size_t value)
{
    carry__pb_close(pb, value);
    carry__pb_close(pb, pair);
    return !pb->over;
}

bool carry__pb_attr_str(struct carry__pb *pb, unsigned field, const char *key, const char *value,
                        size_t value_len)
{
    size_t pair, any = carry__pb_attr_open(pb, field, key, &pair);
    carry__pb_bytes(pb, CARRY__ANY_STRING, value, value_len);
    return carry__pb_attr_close(pb, pair, any);
}

bool carry__pb_attr_int(struct carry__pb *pb, unsigned field, const char *key, int64_t value)
{
    size_t pair, any = carry__pb_attr_open(pb, field, key, &pair);
    /* int64 is a varint of the two's complement: ten bytes when negative. */
    carry__pb_varint(pb, CARRY__ANY_INT, (uint64_t)value);
    return carry__pb_attr_close(pb, pair, any);
}

bool carry__pb_attr_strs(struct carry__pb *pb, unsigned field, const char *key,
                         const char *const *values, size_t count)
{
    size_t pair, any = carry__pb_attr_open(pb, field, key, &pair);
    size_t array = carry__pb_open(pb, CARRY__ANY_ARRAY);
    for (size_t i = 0; i < count; i++) {
        size_t item = carry__pb_open(pb, CARRY__ARRAY_VALUES);
        carry__pb_bytes(pb, CARRY__ANY_STRING, values[i], strlen(values[i]));
        carry__pb_close(pb, item);
    }
    carry__pb_close(pb, array);
    return carry__pb_attr_close(pb, pair, any);
}

void carry__otlp_resource(struct carry__pb *pb, unsigned field, const struct carry__resource *r,
                          long pid)
{
    size_t resource = carry__pb_open(pb, field);
    carry__pb_raw(pb, r->attrs, r->len);
    carry__pb_attr_int(pb, CARRY__OTLP_RESOURCE_ATTR, "process.pid", pid);
    carry__pb_close(pb, resource);
}

/* ---- Spans ----------------------------------------------------------------- */

/* A span id in W3C byte order: big-endian. */
static void carry__pb_span_id(struct carry__pb *pb, unsigned field, uint64_t id)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(id >> (56 - 8 * i));
    carry__pb_bytes(pb, field, bytes, sizeof bytes);
}

bool carry__span_put(struct carry__span *s, unsigned kind, const char *key, const void *value,
                     size_t value_len)
{
    size_t key_len = strlen(key), at = s->attrs_len;
    if (key_len > UINT8_MAX || value_len > UINT16_MAX ||
        4 + key_len + value_len > sizeof s->attrs - at)
        return false;
    uint8_t *p = (uint8_t *)s->attrs + at;
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)key_len;
    p[2] = (uint8_t)value_len;
    p[3] = (uint8_t)(value_len >> 8);
    memcpy(p + 4, key, key_len);
    memcpy(p + 4 + key_len, value, value_len);
    s->attrs_len = (uint16_t)(at + 4 + key_len + value_len);
    return true;
}

/* An address entry: KEY.address (without an IPv6 address's brackets) and
 * KEY.port. */
static void carry__pb_address(struct carry__pb *pb, const char *key, size_t key_len,
                              const char *text, size_t len)
{
    const char *colon = memrchr(text, ':', len);
    if (colon == NULL || key_len > 64)
        return;
    const char *host = text;
    size_t host_len = (size_t)(colon - text);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    int64_t port = 0;
    for (const char *p = colon + 1; p < text + len && *p >= '0' && *p <= '9' && port < 65536; p++)
        port = port * 10 + (*p - '0');
    char name[80];
    memcpy(name, key, key_len);
    memcpy(name + key_len, ".address", sizeof ".address");
    carry__pb_attr_str(pb, CARRY__OTLP_SPAN_ATTR, name, host, host_len);
    memcpy(name + key_len, ".port", sizeof ".port");
    carry__pb_attr_int(pb, CARRY__OTLP_SPAN_ATTR, name, port);
}

/* The raw attribute entries of s (carry__span_put) as the Span's
 * attributes. */
static void carry__pb_span_attrs(struct carry__pb *pb, const struct carry__span *s)
{
    const uint8_t *p = (const uint8_t *)s->attrs, *end = p + s->attrs_len;
    while (end - p >= 4) {
        size_t key_len = p[1], value_len = (size_t)p[2] | (size_t)p[3] << 8;
        if ((size_t)(end - p) < 4 + key_len + value_len)
            return;
        char key[UINT8_MAX + 1];
        memcpy(key, p + 4, key_len);
        key[key_len] = '\0';
        const char *value = (const char *)p + 4 + key_len;
        if (p[0] == CARRY__SPAN_STR) {
            carry__pb_attr_str(pb, CARRY__OTLP_SPAN_ATTR, key, value, value_len);
        } else if (p[0] == CARRY__SPAN_INT && value_len == 8) {
            uint64_t v = 0;
            for (size_t i = 0; i < 8; i++)
                v |= (uint64_t)(uint8_t)value[i] << (8 * i);
            carry__pb_attr_int(pb, CARRY__OTLP_SPAN_ATTR, key, (int64_t)v);
        } else if (p[0] == CARRY__SPAN_ADDRESS) {
            carry__pb_address(pb, key, key_len, value, value_len);
        }
        p += 4 + key_len + value_len;
    }
}

/* The Span message; fields in the order of their numbers. */
static void carry__pb_span(struct carry__pb *pb, const struct carry__span *s)
{
    size_t span = carry__pb_open(pb, CARRY__SS_SPANS);
    carry__pb_bytes(pb, CARRY__SPAN_TRACE_ID, s->trace_id, sizeof s->trace_id);
    carry__pb_span_id(pb, CARRY__SPAN_SPAN_ID, s->span_id);
    if (s->parent_span_id != 0)
        carry__pb_span_id(pb, CARRY__SPAN_PARENT_SPAN_ID, s->parent_span_id);
    carry__pb_bytes(pb, CARRY__SPAN_NAME, s->name, strnlen(s->name, sizeof s->name));
    if (s->kind != 0)
        carry__pb_varint(pb, CARRY__SPAN_KIND, s->kind);
    carry__pb_fixed(pb, CARRY__SPAN_START, s->start_ns, 8);
    carry__pb_fixed(pb, CARRY__SPAN_END, s->end_ns, 8);
    carry__pb_span_attrs(pb, s);
    if (s->flags != 0)
        carry__pb_fixed(pb, CARRY__SPAN_FLAGS, s->flags, 4);
    carry__pb_close(pb, span);
}

size_t carry__otlp_request(uint8_t *buf, size_t cap, const struct carry__resource *r, long pid,
                           const char *version, const struct carry__span *const *spans, size_t n)
{
    struct carry__pb pb = {buf, cap, 0, false};
    size_t resource_spans = carry__pb_open(&pb, CARRY__REQ_RESOURCE_SPANS);
    carry__otlp_resource(&pb, CARRY__RS_RESOURCE, r, pid);
    size_t scope_spans = carry__pb_open(&pb, CARRY__RS_SCOPE_SPANS);
    size_t scope = carry__pb_open(&pb, CARRY__SS_SCOPE);
    carry__pb_bytes(&pb, CARRY__SCOPE_NAME, carry__scope_name, sizeof carry__scope_name - 1);
    carry__pb_bytes(&pb, CARRY__SCOPE_VERSION, version, strlen(version));
    carry__pb_close(&pb, scope);
    for (size_t i = 0; i < n; i++)
        carry__pb_span(&pb, spans[i]);
    carry__pb_close(&pb, scope_spans);
    carry__pb_close(&pb, resource_spans);
    return pb.over ? 0 : pb.len;
}
