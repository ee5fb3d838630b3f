/*
 * Rule P's process half (procctx.c): the OpenTelemetry process context of
 * OTEP 4719, which names the process to readers outside it (profilers)
 * and tells them how to read the thread context carry publishes as
 * otel_thread_ctx_v1 (OTEP 4947): the record's schema and the names of
 * its attribute key indexes.
 *
 * It is a small mapping, "OTEL_CTX" in /proc/PID/maps, holding a 32-byte
 * header and, after it, a protobuf ProcessContext (the process's Resource,
 * otlp.h, with its process.pid; extra attributes:
 * threadlocal.schema_version, threadlocal.attribute_key_map).  Published
 * once at start-up; a forked child, which does not inherit the mapping
 * (MADV_DONTFORK, so that it never shows its parent's pid), publishes its
 * own.  Nothing on a per-event path touches it.
 */
#ifndef CARRY_PROCCTX_H
#define CARRY_PROCCTX_H

#include "common.h"
#include "otlp.h"

/* The header as OTEP 4719 lays it out, native byte order. */
struct carry__procctx_header {
    char signature[8];          /* "OTEL_CTX", no NUL */
    uint32_t version;           /* CARRY__PROCCTX_VERSION */
    uint32_t payload_size;      /* bytes of the protobuf payload */
    uint64_t published_at_ns;   /* CLOCK_BOOTTIME; 0 while it is written */
    uint64_t payload;           /* its address in this process */
};

_Static_assert(sizeof(struct carry__procctx_header) == 32, "OTEP 4719's header is 32 bytes");

#define CARRY__PROCCTX_VERSION 2
/* OTEP 4947's name for the record layout of trace.h, the one readers of
 * otel_thread_ctx_v1 know today. */
#define CARRY__PROCCTX_SCHEMA "tlsdesc_v1_dev"
/* The most bytes of the payload: room for the largest Resource. */
#define CARRY__PROCCTX_PAYLOAD_MAX 4096

/* Publishes the process context at start-up with the process's Resource,
 * which outlives it.  A failure leaves the process without one (a debug
 * line says why). */
void carry__procctx_start(const struct carry__resource *resource);

/* In a forked child: the parent's mapping is not there; publishes the
 * child's own. */
void carry__procctx_atfork_child(void);

#endif /* CARRY_PROCCTX_H */
