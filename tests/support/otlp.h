/*
 * A stand-in OpenTelemetry collector for the integration tests:
 * tests/support/otlp/receiver.js, which decodes what it receives with the
 * official opentelemetry-proto definitions (protobufjs, installed by
 * scripts/test into the build directory) and writes one JSON line per
 * span.  The tests skip, saying why, when node or the packages are
 * missing.
 */
#ifndef CARRY_TEST_OTLP_H
#define CARRY_TEST_OTLP_H

#include <stddef.h>

#include "run.h"

struct carry_otlp {
    struct carry_server server;
    char out[64];       /* the file it writes */
    char endpoint[80];  /* OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT */
};

/* Starts the receiver with extra options (NULL-terminated, may be NULL:
 * --fail N, --delay MS, ...). */
void carry_otlp_start(struct carry_otlp *r, const char *const *extra);

/* Stops it and returns what it wrote (malloc'd): one JSON object per line,
 * a span's (with "trace_id") or a request's (with "request"). */
char *carry_otlp_stop(struct carry_otlp *r);

/* The value of "key" in a receiver's JSON line: a string's, or an int
 * attribute's ({"int":"N"}), into buf (size bytes); NULL if absent. */
const char *carry_otlp_field(const char *line, const char *key, char *buf, size_t size);

#endif /* CARRY_TEST_OTLP_H */
