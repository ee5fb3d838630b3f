/*
 * Rule O's exporter end to end: span_emitter (the core linked in) commits
 * spans; tests/support/otlp/receiver.js, a stand-in collector, decodes
 * each request with the official opentelemetry-proto definitions and
 * writes every span to a file before it answers, so the file is complete
 * once the emitter has exited (its flush at exit waits for the answers).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlp.h"
#include "run.h"

/* Runs span_emitter COUNT [CHILD] with env plus CARRY_STATS=stderr. */
static struct carry_run_result emit(const char *const *env, const char *count, const char *child)
{
    const char *full[16] = {"CARRY_STATS=stderr"};
    size_t n = 1;
    for (; env != NULL && *env != NULL; env++)
        full[n++] = *env;
    full[n] = NULL;
    const char *argv[] = {carry_test_fixture("span_emitter"), count, child, NULL};
    struct carry_run_result r = carry_run_program(false, full, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    return r;
}

static char endpoint[64];

static const char *endpoint_of(int port)
{
    snprintf(endpoint, sizeof endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", port);
    return endpoint;
}

struct spans_line {
    long exported, dropped, failed, truncated;
};

/* The "spans:" line of the report in text that starts at from. */
static struct spans_line spans_line(const char *text)
{
    const char *line = strstr(text, "  spans: ");
    cr_assert(line != NULL, "no spans line in %s", text);
    struct spans_line s = {carry_number_after(line, "spans: "),
                           carry_number_after(line, "exported, "),
                           carry_number_after(line, "(queue full), "),
                           carry_number_after(line, "sends, ")};
    return s;
}

/* Asserts that the spans of process `who` (span ids who << 60 | i) in the
 * receiver's text are exactly 0..count-1, once each, from pid. */
static void assert_spans_once(const char *text, int who, long count, long pid)
{
    char *seen = calloc((size_t)count, 1);
    long total = 0;
    char prefix[32], pid_text[64];
    snprintf(prefix, sizeof prefix, "\"span_id\":\"%x", who);
    snprintf(pid_text, sizeof pid_text, "\"process.pid\":{\"int\":\"%ld\"}", pid);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++) {
        long i = strtol(p + strlen(prefix), NULL, 16);
        cr_assert(i >= 0 && i < count, "span id %.30s", p);
        cr_assert_eq(seen[i], 0, "span %ld arrived twice", i);
        seen[i] = 1;
        total++;
        const char *eol = strchr(p, '\n');
        const char *pid_at = strstr(p, pid_text);
        cr_assert(pid_at != NULL && pid_at < eol, "span %ld not from pid %ld: %.*s", i, pid,
                  (int)(eol - p), p);
    }
    cr_assert_eq(total, count, "%ld spans of %d arrived, %ld committed", total, who, count);
    free(seen);
}

Test(export, every_span_arrives_exactly_once)
{
    struct carry_otlp s;
    carry_otlp_start(&s, NULL);
    const char *env[] = {s.endpoint, "OTEL_EXPORTER_OTLP_HEADERS=x-carry-test=yes%21",
                         "OTEL_SERVICE_NAME=emitter-test", NULL};
    struct carry_run_result r = emit(env, "1000", NULL);
    char *text = carry_otlp_stop(&s);
    long pid = carry_number_after(r.out, "emitter pid=");
    cr_assert(strstr(r.out, "on=1 committed=1000 ") != NULL, "%s", r.out);
    assert_spans_once(text, 1, 1000, pid);
    struct spans_line l = spans_line(r.err);
    cr_assert(l.exported == 1000 && l.dropped == 0 && l.failed == 0 && l.truncated == 0, "%s",
              r.err);
    cr_assert(strstr(text, "\"service.name\":\"emitter-test\"") != NULL);
    /* The Resource the process context publishes too. */
    cr_assert(strstr(text, "\"telemetry.sdk.language\":\"cpp\"") != NULL, "%.400s", text);
    cr_assert(strstr(text, "\"process.executable.name\":\"span_emitter\"") != NULL, "%.400s",
              text);
    cr_assert(strstr(text, "\"parent_span_id\":\"abcdef0123456789\"") != NULL);
    cr_assert(strstr(text, "\"content_type\":\"application/x-protobuf\"") != NULL);
    cr_assert(strstr(text, "\"headers\":{\"x-carry-test\":\"yes!\"}") != NULL, "%.400s", text);
    cr_assert_eq(carry_count(text, "\"status\":200"), carry_count(text, "\"request\":"));
    free(text);
    carry_run_free(&r);
}

/* The exporter and the process context share one Resource: a bad item of
 * OTEL_RESOURCE_ATTRIBUTES is said once. */
Test(export, a_bad_resource_attribute_is_said_once)
{
    struct carry_otlp s;
    carry_otlp_start(&s, NULL);
    const char *env[] = {s.endpoint, "OTEL_RESOURCE_ATTRIBUTES=novalue,team=t1", NULL};
    struct carry_run_result r = emit(env, "10", NULL);
    char *text = carry_otlp_stop(&s);
    cr_assert_eq(carry_count(r.err, "OTEL_RESOURCE_ATTRIBUTES: ignoring 'novalue'"), 1, "%s",
                 r.err);
    cr_assert(strstr(text, "\"team\":\"t1\"") != NULL, "%.400s", text);
    free(text);
    carry_run_free(&r);
}

Test(export, answers_503_are_retried)
{
    struct carry_otlp s;
    carry_otlp_start(&s, (const char *[]){"--fail", "2", NULL});
    const char *env[] = {s.endpoint, NULL};
    struct carry_run_result r = emit(env, "100", NULL);
    char *text = carry_otlp_stop(&s);
    assert_spans_once(text, 1, 100, carry_number_after(r.out, "emitter pid="));
    cr_assert_eq(carry_count(text, "\"status\":503"), 2, "%s", text);
    struct spans_line l = spans_line(r.err);
    cr_assert(l.exported == 100 && l.dropped == 0 && l.failed == 0, "%s", r.err);
    free(text);
    carry_run_free(&r);
}

Test(export, a_dead_collector_never_blocks_a_commit)
{
    int port = carry_free_port(SOCK_STREAM);
    const char *env[] = {endpoint_of(port), "OTEL_EXPORTER_OTLP_TIMEOUT=300", NULL};
    struct carry_run_result r = emit(env, "10000", NULL);
    long committed = carry_number_after(r.out, "committed=");
    struct spans_line l = spans_line(r.err);
    cr_assert_eq(l.exported, 0, "%s", r.err);
    cr_assert_gt(l.dropped, 0, "%s", r.err);
    cr_assert_eq(l.dropped, 10000 - committed, "%s%s", r.out, r.err);
    cr_assert_eq(l.dropped + l.failed, 10000, "%s", r.err);
    cr_assert(strstr(r.err, "carry: cannot export spans to http://127.0.0.1:") != NULL, "%s",
              r.err);
    carry_run_free(&r);
}

Test(export, a_slow_collector_fills_the_queue)
{
    struct carry_otlp s;
    carry_otlp_start(&s, (const char *[]){"--delay", "2000", NULL});
    const char *env[] = {s.endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT=300", NULL};
    struct carry_run_result r = emit(env, "10000", NULL);
    free(carry_otlp_stop(&s));
    struct spans_line l = spans_line(r.err);
    cr_assert_gt(l.dropped, 0, "%s", r.err);
    cr_assert_eq(l.exported + l.dropped + l.failed, 10000, "%s", r.err);
    carry_run_free(&r);
}

/* The threads of a run without export, to compare with (a sanitizer's
 * runtime may have one of its own). */
static long threads_without_export(void)
{
    struct carry_run_result r = emit(NULL, "10", NULL);
    long n = carry_number_after(r.out, "threads=");
    cr_assert(strstr(r.out, "on=0 committed=0 ") != NULL, "%s", r.out);
    cr_assert_null(strstr(r.err, "spans:"), "%s", r.err);
    carry_run_free(&r);
    return n;
}

static void assert_no_export(const char *const *env, const char *warning)
{
    long base = threads_without_export();
    struct carry_run_result r = emit(env, "10", NULL);
    cr_assert(strstr(r.out, "on=0 committed=0 ") != NULL, "%s", r.out);
    cr_assert_eq(carry_number_after(r.out, "threads="), base, "%s", r.out);
    cr_assert_null(strstr(r.err, "spans:"), "%s", r.err);
    if (warning != NULL)
        cr_assert(strstr(r.err, warning) != NULL, "%s", r.err);
    else
        cr_assert_null(strstr(r.err, "carry: "), "%s", r.err);
    carry_run_free(&r);
}

Test(export, what_disables_export_starts_no_thread)
{
    assert_no_export((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1",
                                      "OTEL_SDK_DISABLED=true", NULL},
                     NULL);
    assert_no_export((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1",
                                      "OTEL_TRACES_EXPORTER=none", NULL},
                     NULL);
    assert_no_export((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=https://127.0.0.1:4318", NULL},
                     "carry: OTEL_EXPORTER_OTLP_ENDPOINT=https://127.0.0.1:4318: carry has no TLS");
    assert_no_export((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1",
                                      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL},
                     "carry: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: carry exports over http/protobuf "
                     "only; spans are not exported");
}

Test(export, a_forked_child_exports_its_own_spans)
{
    /* GCC 12's AddressSanitizer does not hold its allocator's locks across
     * fork: a child forked while the exporter thread is inside malloc or
     * free waits for ever on a lock nobody holds (seen in its runtime's
     * Mutex::Lock, one run in a few dozen).  The plain and TSan builds run
     * this test. */
    const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
    if (runtime != NULL && strstr(runtime, "libasan") != NULL)
        cr_skip_test("fork with threads deadlocks inside GCC 12's ASan allocator");
    struct carry_otlp s;
    carry_otlp_start(&s, NULL);
    /* ThreadSanitizer refuses threads in the child of a process with
     * threads unless told otherwise: the exporter makes the parent one. */
    char tsan[512];
    const char *tsan_options = getenv("TSAN_OPTIONS");
    snprintf(tsan, sizeof tsan, "TSAN_OPTIONS=%s%sdie_after_fork=0",
             tsan_options ? tsan_options : "", tsan_options ? ":" : "");
    const char *env[] = {s.endpoint, tsan, NULL};
    struct carry_run_result r = emit(env, "100", "50");
    char *text = carry_otlp_stop(&s);
    long parent = carry_number_after(r.out, "emitter pid="),
         child = carry_number_after(r.out, "child pid=");
    cr_assert(strstr(r.out, "child pid=") != NULL && strstr(r.out, "committed=50") != NULL, "%s",
              r.out);
    assert_spans_once(text, 1, 100, parent);
    assert_spans_once(text, 2, 50, child);
    char label[64];
    snprintf(label, sizeof label, "carry stats: pid %ld ", child);
    cr_assert(strstr(r.err, label) != NULL, "%s", r.err);
    struct spans_line lc = spans_line(strstr(r.err, label));
    snprintf(label, sizeof label, "carry stats: pid %ld ", parent);
    struct spans_line lp = spans_line(strstr(r.err, label));
    cr_assert(lc.exported == 50 && lc.dropped == 0 && lc.failed == 0, "%s", r.err);
    cr_assert(lp.exported == 100 && lp.dropped == 0 && lp.failed == 0, "%s", r.err);
    free(text);
    carry_run_free(&r);
}
