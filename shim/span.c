/* Rule O, requests as spans (span.h). */
#include <string.h>

#include "span.h"

void carry__span_wrote_now(struct carry__trace *t)
{
    __atomic_store_n(&t->end_ns, carry__now_ns(), __ATOMIC_RELAXED);
}

/* The attribute a key becomes: for one of carry's own, the OpenTelemetry
 * attribute, or NULL when the span says it otherwise (its ids; url.path,
 * client.address, server.port... split from http.target, peer and local
 * below); for one the program set, the key itself.  A switch on the first
 * byte: this runs for every key of every span on a server thread. */
static const char *carry__span_attribute(const char *key)
{
    switch (key[0]) {
    case 'h':
        if (strcmp(key, "http.method") == 0)
            return "http.request.method";
        return strcmp(key, "http.target") == 0 ? NULL : key;
    case 'r':
        return strcmp(key, "request_id") == 0 ? "http.request.header.x-request-id" : key;
    case 't':
        return strcmp(key, "traceparent") == 0 || strcmp(key, "trace_id") == 0 ? NULL : key;
    case 's':
        return strcmp(key, "seq") == 0 || strcmp(key, "span_id") == 0 ||
                       strcmp(key, "span.name") == 0
                   ? NULL
                   : key;
    case 'c':
        return strcmp(key, "conn") == 0 ? NULL : key;
    case 'p':
        return strcmp(key, "peer") == 0 ? NULL : key;
    case 'l':
        return strcmp(key, "local") == 0 ? NULL : key;
    default:
        return key;
    }
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

void carry__span_end(const struct carry__trace *t, uint64_t start, uint64_t id,
                     struct carry__store *own, struct carry__store *conn, const char *peer,
                     const char *local)
{
    struct carry__span *span = carry__export_claim();
    if (span == NULL)
        return;
    memcpy(span->trace_id, t->trace_id, sizeof span->trace_id);
    span->span_id = id;
    span->parent_span_id = t->parent_span;
    span->start_ns = start;
    span->flags = t->flags;
    /* A context begun inside a span (carry_begin) is INTERNAL, and lasts
     * until it dies; a request or a datagram is SERVER, and ends at its
     * last write. */
    bool internal = conn == NULL && t->parent_span != 0;
    span->kind = internal ? CARRY__SPAN_INTERNAL : CARRY__SPAN_SERVER;
    span->end_ns = internal ? carry__now_ns() : __atomic_load_n(&t->end_ns, __ATOMIC_RELAXED);

    /* client.address and .port, server.address and .port: split by the
     * exporter's thread. */
    if (peer != NULL)
        carry__span_attr_address(span, "client", peer);
    if (local != NULL)
        carry__span_attr_address(span, "server", local);
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
    const char *name = carry__store_get(own, "span.name");
    if (name == NULL)
        name = method != NULL ? method : internal ? "internal" : conn != NULL ? "request" : "datagram";
    size_t name_len = strnlen(name, sizeof span->name - 1);
    memcpy(span->name, name, name_len);
    span->name[name_len] = '\0';

    /* The program's keys: the request's, then its connection's. */
    carry__span_keys_of(span, own, NULL);
    if (conn != NULL)
        carry__span_keys_of(span, conn, own);
    carry__export_commit(span);
}
