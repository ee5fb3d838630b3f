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

#include <stdbool.h>
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

/* Waits until the receiver has written at least n spans in all: true; false
 * when it ends, or says nothing for a minute (the caller's assertions on
 * what it wrote then say what is missing).  A test that counts spans
 * waits for them before it stops the server, rather than leave them to the
 * exporter's flush at exit, which has a deadline. */
bool carry_otlp_wait_spans(struct carry_otlp *r, unsigned long n);

/* Stops it and returns what it wrote (malloc'd): one JSON object per line,
 * a span's (with "trace_id") or a request's (with "request"). */
char *carry_otlp_stop(struct carry_otlp *r);

/* The value of "key" in a receiver's JSON line: a string's, or an int
 * attribute's ({"int":"N"}), into buf (size bytes); NULL if absent. */
const char *carry_otlp_field(const char *line, const char *key, char *buf, size_t size);

#endif /* CARRY_TEST_OTLP_H */
