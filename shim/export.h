/*
 * Rule O's transport: spans go through a bounded queue to a background
 * thread that sends them to an OpenTelemetry collector over OTLP/HTTP
 * with protobuf encoding (otlp.h).
 *
 * A server thread claims a slot, fills it and commits it: no lock, no
 * system call, no allocation (one compare-and-swap and a few atomic
 * loads); when the queue is full the claim fails and the span is counted
 * as dropped.  The exporter thread, started lazily by the first commit
 * (again in a forked child), wakes every 200 ms or when a server thread
 * sees a batch's worth queued while it sleeps (one futex wake per batch at
 * most), sends up to CARRY__EXPORT_BATCH spans per request, and retries
 * with back-off.  It makes its system calls raw (sys.h), so no wrapper of
 * libcarry sees its socket, and runs in no context.
 */
#ifndef CARRY_EXPORT_H
#define CARRY_EXPORT_H

#include "calls.h"
#include "common.h"
#include "config.h"
#include "otlp.h"

#define CARRY__EXPORT_SLOTS 2048 /* a power of two */
#define CARRY__EXPORT_BATCH 512

/* Export is configured and not disabled (set once at start-up). */
extern bool carry__export_configured;

static inline bool carry__export_on(void)
{
    return CARRY__UNLIKELY(carry__export_configured);
}

/* A free slot, or NULL when the queue is full (counted as dropped).
 * Only while carry__export_on(). */
struct carry__span *carry__export_claim(void);

/* Appends a string or integer attribute; false (and nothing appended) when
 * it does not fit: the caller goes on (counted as truncated).  key is
 * NUL-terminated. */
bool carry__span_attr(struct carry__span *span, const char *key, const char *value,
                      size_t value_len);
bool carry__span_attr_int(struct carry__span *span, const char *key, int64_t value);
/* "host:port" (an IPv6 host in brackets) as KEY.address and KEY.port. */
bool carry__span_attr_address(struct carry__span *span, const char *key, const char *text);

/* Publishes a claimed span; starts the exporter thread if it is not
 * running. */
void carry__export_commit(struct carry__span *span);

/* The OTEL_* variables, as parsed. */
struct carry__export_config {
    bool on;                  /* an endpoint is set, and nothing disables export */
    char host[256];           /* as the URL names it (an IPv6 literal without brackets) */
    char authority[264];      /* host[:port] as the URL gives it: the Host header */
    uint16_t port;
    char path[512];           /* /v1/traces, or the traces endpoint's own path */
    char headers[2048];       /* OTEL_EXPORTER_OTLP_HEADERS as "Name: value\r\n" lines */
    unsigned timeout_ms;      /* OTEL_EXPORTER_OTLP_TIMEOUT */
};

/*
 * Parses the exporter's OTEL_* variables into *out, warning once per bad
 * value through carry__warn (the default is used, or export is off when
 * the endpoint cannot be used).
 */
void carry__export_parse(struct carry__export_config *out, carry__getenv_fn *getenv_fn);

/*
 * This process's Resource, which the exporter's requests and the process
 * context (procctx.h) both send: OTEL_RESOURCE_ATTRIBUTES (a bad item
 * warned about and left out), service.name (OTEL_SERVICE_NAME, else the
 * list's, else program), telemetry.sdk.*, process.executable.name
 * (program).  init.c parses it at start-up, before either user starts.
 */
extern struct carry__resource carry__resource;
void carry__resource_parse(struct carry__resource *out, carry__getenv_fn *getenv_fn,
                           const char *program);

/* Start-up (init.c): parses the variables and, when export is on,
 * readies the queue and arranges the flush at exit. */
void carry__export_init(carry__getenv_fn *getenv_fn);

/* The real pthread_create, handed over by interpose/pthread.c (hooks.h):
 * until it is, the exporter thread waits to be started. */
void carry__export_set_thread_create(carry__thread_create_fn *fn);

/* A forked child has no exporter thread: it drops the spans its parent
 * queued (the parent sends them) and starts its own at its first commit. */
void carry__export_atfork_child(void);

#endif /* CARRY_EXPORT_H */
