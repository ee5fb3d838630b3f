/* Rule O, requests as spans (span.h). */
#include <stdlib.h>
#include <string.h>

#include "span.h"

/* carry's own keys, and the OpenTelemetry attributes they become (NULL:
 * not exported; the span's ids say it). */
static const struct {
    const char *key, *attribute;
} carry__span_keys[] = {
    {"http.method", "http.request.method"},
    {"http.target", NULL}, /* url.path and url.query, split below */
    {"request_id", "http.request.header.x-request-id"},
    {"traceparent", NULL},
    {"conn", NULL},
    {"seq", NULL},
    {"trace_id", NULL},
    {"span_id", NULL},
    {"peer", NULL}, /* client.address and client.port */
    {"local", NULL}, /* server.address and server.port */
};

/* The attribute a key becomes: NULL for none, key itself for one the
 * program set. */
static const char *carry__span_attribute(const char *key)
{
    for (size_t i = 0; i < CARRY__COUNT(carry__span_keys); i++)
        if (key[0] == carry__span_keys[i].key[0] && strcmp(key, carry__span_keys[i].key) == 0)
            return carry__span_keys[i].attribute;
    return key;
}

/* The keys of store as attributes, but those of skip (NULL: none), which
 * take precedence. */
static void carry__span_keys_of(struct carry__span *span, struct carry__store *store,
                                struct carry__store *skip)
{
    enum { KEYS = 64 };
    const char *keys[KEYS], *values[KEYS];
    size_t n = carry__store_list(store, keys, values, KEYS);
    for (size_t i = 0; i < n && i < KEYS; i++) {
        const char *attribute = carry__span_attribute(keys[i]);
        if (attribute != NULL && (skip == NULL || carry__store_get(skip, keys[i]) == NULL))
            carry__span_attr(span, attribute, values[i], strlen(values[i]));
    }
}

/* "address:port" (an IPv6 address in brackets) as two attributes. */
static void carry__span_address(struct carry__span *span, const char *text, const char *address,
                                const char *port)
{
    const char *colon = text != NULL ? strrchr(text, ':') : NULL;
    if (colon == NULL)
        return;
    const char *host = text;
    size_t host_len = (size_t)(colon - text);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    carry__span_attr(span, address, host, host_len);
    int64_t number = 0;
    for (const char *p = colon + 1; *p >= '0' && *p <= '9' && number < 65536; p++)
        number = number * 10 + (*p - '0');
    carry__span_attr_int(span, port, number);
}

void carry__span_end(const struct carry__trace *t, uint64_t start, uint64_t id,
                     struct carry__store *own, struct carry__store *conn)
{
    struct carry__span *span = carry__export_claim();
    if (span == NULL)
        return;
    memcpy(span->trace_id, t->trace_id, sizeof span->trace_id);
    span->span_id = id;
    span->parent_span_id = t->parent_span;
    span->start_ns = start;
    span->end_ns = __atomic_load_n(&t->end_ns, __ATOMIC_RELAXED);
    span->flags = t->flags;
    span->kind = CARRY__SPAN_SERVER;
    span->attrs_len = 0;

    struct carry__store *addresses = conn != NULL ? conn : own;
    carry__span_address(span, carry__store_get(addresses, "peer"), "client.address",
                        "client.port");
    carry__span_address(span, carry__store_get(addresses, "local"), "server.address",
                        "server.port");
    const char *method = carry__store_get(own, "http.method");
    const char *target = carry__store_get(own, "http.target");
    if (target != NULL) {
        size_t path = strcspn(target, "?");
        carry__span_attr(span, "url.path", target, path);
        if (target[path] == '?')
            carry__span_attr(span, "url.query", target + path + 1, strlen(target + path + 1));
    }
    /* An HTTP span is named by its method (OpenTelemetry's HTTP
     * conventions: the target is no name, too many of them). */
    const char *name = method != NULL ? method : conn != NULL ? "request" : "datagram";
    size_t name_len = strnlen(name, sizeof span->name - 1);
    memcpy(span->name, name, name_len);
    span->name[name_len] = '\0';

    /* The program's keys: the request's, then its connection's. */
    carry__span_keys_of(span, own, NULL);
    if (conn != NULL)
        carry__span_keys_of(span, conn, own);
    carry__export_commit(span);
}
