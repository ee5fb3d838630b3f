/*
 * Rule R on one connection, step by step (probe turns): the server's reads
 * and writes take turns, each turn a request context of its own, child of
 * the connection's; an HTTP/1.x head gives the request its keys; the end
 * of the connection gives the connection its context back.  And the
 * documented limits, as limits: a write before the whole request was read
 * begins the next request early; a push written with no request runs in
 * the last request's context.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "run.h"

struct turn {
    uint64_t id;
    char conn[32], seq[16], peer[64], user[16], method[16], target[32], traceparent[64],
        request_id[16];
};

/* The "turn NAME ..." line of out. */
static struct turn turn_of(const char *out, const char *name)
{
    char head[64];
    snprintf(head, sizeof head, "turn %s id=", name);
    const char *line = strstr(out, head);
    cr_assert_not_null(line, "no turn %s in:\n%s", name, out);
    struct turn t;
    int n = sscanf(line + strlen(head),
                   "%16" SCNx64 " conn=%31s seq=%15s peer=%63s user=%15s http.method=%15s "
                   "http.target=%31s traceparent=%63s request_id=%15s",
                   &t.id, t.conn, t.seq, t.peer, t.user, t.method, t.target, t.traceparent,
                   t.request_id);
    cr_assert_eq(n, 9, "turn %s: %s", name, line);
    return t;
}

static char *probe_turns(const char *scope)
{
    const char *env[] = {scope, NULL};
    const char *argv[] = {carry_test_probe(), "turns", NULL};
    struct carry_run_result r = carry_run_program(true, scope ? env : NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *out = strdup(r.out);
    carry_run_free(&r);
    return out;
}

TestSuite(requests, .timeout = 60);

Test(requests, each_turn_is_a_request_of_its_connection)
{
    char *out = probe_turns(NULL);
    struct turn conn = turn_of(out, "accepted"), first = turn_of(out, "first"),
                set = turn_of(out, "first-set"), rest = turn_of(out, "rest"),
                push = turn_of(out, "push"), http = turn_of(out, "http"),
                bad = turn_of(out, "badtrace"), held = turn_of(out, "held"),
                eof = turn_of(out, "eof");
    char conn_hex[17];
    snprintf(conn_hex, sizeof conn_hex, "%016" PRIx64, conn.id);

    /* The accept: the connection's own context, no request keys. */
    cr_assert_neq(conn.id, 0);
    cr_assert_str_eq(conn.conn, "-");
    cr_assert_str_eq(conn.seq, "-");
    cr_assert_str_neq(conn.peer, "-");

    /* Every turn: a request of its own, numbered, reading the connection's
     * keys through. */
    const struct turn *turns[] = {&first, &rest, &http, &bad};
    for (size_t i = 0; i < 4; i++) {
        char seq[8];
        snprintf(seq, sizeof seq, "%zu", i + 1);
        cr_assert(turns[i]->id != 0 && turns[i]->id != conn.id, "%s", out);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(turns[i]->id, turns[j]->id, "%s", out);
        cr_assert_str_eq(turns[i]->conn, conn_hex, "%s", out);
        cr_assert_str_eq(turns[i]->seq, seq, "%s", out);
        cr_assert_str_eq(turns[i]->peer, conn.peer, "%s", out);
    }
    /* A value set in a request is that request's: the next does not see it. */
    cr_assert_eq(set.id, first.id);
    cr_assert_str_eq(set.user, "alice");
    cr_assert_str_eq(rest.user, "-", "a request's value leaked into the next:\n%s", out);

    /* Limits: the early write ("100 Continue") began the next request; the
     * push ran in the last request's context. */
    cr_assert_neq(rest.id, first.id);
    cr_assert_eq(push.id, rest.id);

    /* An HTTP head: its keys; a malformed traceparent is not adopted. */
    cr_assert_str_eq(http.method, "GET");
    cr_assert_str_eq(http.target, "/items/7?x=1");
    cr_assert_str_eq(http.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert_str_eq(http.request_id, "req-42");
    cr_assert_str_eq(first.method, "-", "not HTTP: no keys");
    cr_assert_str_eq(bad.method, "GET");
    cr_assert_str_eq(bad.traceparent, "-", "uppercase hex is no traceparent");

    /* A request the program captured is still itself while the next runs. */
    cr_assert_eq(held.id, http.id, "%s", out);
    cr_assert_str_eq(held.seq, "3", "%s", out);
    cr_assert_str_eq(held.target, "/items/7?x=1", "%s", out);
    cr_assert_str_eq(held.request_id, "req-42", "%s", out);

    /* The end: the connection's context again. */
    cr_assert_eq(eof.id, conn.id, "%s", out);
    free(out);
}

/* CARRY_SCOPE=connection: one context for the connection's whole life,
 * and a value set in one request is still there in the next. */
Test(requests, connection_scope_keeps_one_context)
{
    char *out = probe_turns("CARRY_SCOPE=connection");
    struct turn conn = turn_of(out, "accepted"), first = turn_of(out, "first"),
                rest = turn_of(out, "rest"), http = turn_of(out, "http"),
                eof = turn_of(out, "eof");
    cr_assert_neq(conn.id, 0);
    cr_assert(first.id == conn.id && rest.id == conn.id && http.id == conn.id &&
                  eof.id == conn.id,
              "%s", out);
    cr_assert_str_eq(rest.user, "alice");
    cr_assert_str_eq(http.method, "-", "no request, no head read");
    cr_assert_str_eq(first.seq, "-");
    free(out);
}

/* The stats report counts requests, heads and traceparents. */
Test(requests, stats_count_requests_and_heads)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_probe(), "turns", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "  requests: 4 begun (each a new context), 4.0 per connection "
                                     "on average, 4 at most\n"),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "  http: 2 request heads read, traceparents 1 adopted, 1 "
                                     "rejected (malformed)\n"),
                       "%s", r.err);
    carry_run_free(&r);
}

/* The value of " key=" on the "turn NAME" line of out, in a static buffer. */
static const char *turn_key(const char *out, const char *name, const char *key)
{
    static char value[128];
    char head[64], needle[64];
    snprintf(head, sizeof head, "turn %s id=", name);
    snprintf(needle, sizeof needle, " %s=", key);
    const char *line = strstr(out, head), *end = line ? strchr(line, '\n') : NULL;
    const char *at = line ? strstr(line, needle) : NULL;
    cr_assert(at != NULL && at < end, "no %s on turn %s in:\n%s", key, name, out);
    at += strlen(needle);
    size_t n = strcspn(at, " \n");
    cr_assert_lt(n, sizeof value);
    memcpy(value, at, n);
    value[n] = '\0';
    return value;
}

/* Rule W: a request with a valid traceparent joins its trace, its own id
 * the span-id; any other request and the connection start traces of their
 * own; carry_traceparent() passes the request's trace on with its span. */
Test(requests, each_request_has_a_trace_identity)
{
    char *out = probe_turns(NULL);
    struct turn http = turn_of(out, "http"), first = turn_of(out, "first");
    char id[17], want[64];
    snprintf(id, sizeof id, "%016" PRIx64, http.id);
    cr_assert_str_eq(turn_key(out, "http", "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    cr_assert_str_eq(turn_key(out, "http", "span_id"), id);
    snprintf(want, sizeof want, "00-0af7651916cd43dd8448eb211c80319c-%s-01", id);
    cr_assert_str_eq(turn_key(out, "http", "carry_traceparent"), want);

    char first_trace[64], conn_trace[64], bad_trace[64];
    snprintf(first_trace, sizeof first_trace, "%s", turn_key(out, "first", "trace_id"));
    snprintf(conn_trace, sizeof conn_trace, "%s", turn_key(out, "accepted", "trace_id"));
    snprintf(bad_trace, sizeof bad_trace, "%s", turn_key(out, "badtrace", "trace_id"));
    cr_assert_eq(strlen(first_trace), 32);
    cr_assert_eq(strspn(first_trace, "0123456789abcdef"), 32);
    cr_assert_str_neq(first_trace, conn_trace, "a request starts a trace of its own");
    cr_assert_str_neq(first_trace, "0af7651916cd43dd8448eb211c80319c");
    cr_assert_str_neq(bad_trace, "0af7651916cd43dd8448eb211c80319c", "a bad traceparent is not adopted");
    snprintf(id, sizeof id, "%016" PRIx64, first.id);
    snprintf(want, sizeof want, "00-%s-%s-01", first_trace, id);
    cr_assert_str_eq(turn_key(out, "first", "carry_traceparent"), want);
    free(out);
}

/* CARRY_TRACE=off: the header is read (its key), its trace not adopted. */
Test(requests, trace_off_adopts_no_traceparent)
{
    char *out = probe_turns("CARRY_TRACE=off");
    struct turn http = turn_of(out, "http");
    cr_assert_str_eq(http.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert_str_neq(turn_key(out, "http", "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    free(out);
}

/* Rule O through the probe: each turn a SERVER span, with its HTTP
 * head's attributes and the keys the program set in it, and none of
 * carry's own keys. */
Test(requests, each_request_is_a_span_with_the_programs_keys)
{
    struct carry_otlp rec;
    carry_otlp_start(&rec, NULL);
    const char *env[] = {rec.endpoint, "OTEL_SERVICE_NAME=probe", NULL};
    const char *argv[] = {carry_test_probe(), "turns", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *text = carry_otlp_stop(&rec);
    char value[128];
    int spans = 0;
    const char *user = NULL, *http = NULL;
    for (const char *line = text; line != NULL && *line != '\0'; line = strchr(line, '\n') + 1) {
        if (carry_otlp_field(line, "trace_id", value, sizeof value) != NULL) {
            spans++;
            cr_assert_null(carry_otlp_field(line, "traceparent", value, sizeof value), "%s", line);
            cr_assert_null(carry_otlp_field(line, "conn", value, sizeof value), "%s", line);
            cr_assert_null(carry_otlp_field(line, "peer", value, sizeof value), "%s", line);
            cr_assert_not_null(carry_otlp_field(line, "client.port", value, sizeof value));
            if (strstr(line, "\"user\":\"alice\"") && strstr(line, "\"name\":\"request\""))
                user = line;
            if (strstr(line, "\"url.path\":\"/items/7\""))
                http = line;
        }
        if (strchr(line, '\n') == NULL)
            break;
    }
    /* first, rest, http, badtrace. */
    cr_assert_eq(spans, 4, "%s", text);
    cr_assert_not_null(user, "no span of the turn that set user=alice:\n%s", text);
    cr_assert_not_null(http, "no span of the HTTP turn:\n%s", text);
    static const char *const want[] = {
        "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"",
        "\"parent_span_id\":\"b7ad6b7169203331\"",
        "\"name\":\"GET\"",
        "\"url.query\":\"x=1\"",
        "\"http.request.method\":\"GET\"",
        "\"http.request.header.x-request-id\":\"req-42\"",
        "\"service.name\":\"probe\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *end = strchr(http, '\n'), *at = strstr(http, want[i]);
        cr_assert(at != NULL && (end == NULL || at < end), "%s not in %.*s", want[i],
                  (int)(end ? end - http : (long)strlen(http)), http);
    }
    carry_run_free(&r);
    free(text);
}

/* A context begun inside a request (carry_begin) is an INTERNAL span of
 * the request's trace, its parent the request's span, named by the key
 * span.name: the id that carry_traceparent() passes on names a span the
 * collector gets. */
Test(requests, a_context_begun_in_a_request_is_an_internal_span)
{
    struct carry_otlp rec;
    carry_otlp_start(&rec, NULL);
    const char *env[] = {rec.endpoint, NULL};
    const char *argv[] = {carry_test_probe(), "nested", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *text = carry_otlp_stop(&rec);
    char request[17], job[17], tp[64], want[64];
    cr_assert_eq(sscanf(r.out, "nested request=%16s job=%16s tp=%63s", request, job, tp), 3, "%s",
                 r.out);
    snprintf(want, sizeof want, "00-0af7651916cd43dd8448eb211c80319c-%s-01", job);
    cr_assert_str_eq(tp, want);
    char needle[64], value[64];
    snprintf(needle, sizeof needle, "\"span_id\":\"%s\"", job);
    const char *line = strstr(text, needle);
    cr_assert_not_null(line, "no span of the job:\n%s", text);
    cr_assert_str_eq(carry_otlp_field(line, "parent_span_id", value, sizeof value), request);
    cr_assert_str_eq(carry_otlp_field(line, "name", value, sizeof value), "job");
    cr_assert_str_eq(carry_otlp_field(line, "user", value, sizeof value), "bob");
    cr_assert_null(carry_otlp_field(line, "span.name", value, sizeof value));
    cr_assert_not_null(strstr(line, "\"kind\":1,"), "an INTERNAL span: %.300s", line);
    snprintf(needle, sizeof needle, "\"span_id\":\"%s\"", request);
    line = strstr(text, needle);
    cr_assert_not_null(line, "no span of the request:\n%s", text);
    cr_assert_str_eq(carry_otlp_field(line, "parent_span_id", value, sizeof value),
                     "b7ad6b7169203331");
    cr_assert_not_null(strstr(line, "\"kind\":2,"), "a SERVER span: %.300s", line);
    carry_run_free(&r);
    free(text);
}

/* Reads and writes the kernel refuses (NULL or unmapped buffers, too many
 * buffers) on every kind of fd carry watches, an accepted and a connected
 * stream, a hand-off pipe and a datagram socket, get the kernel's answer
 * and leave the data waiting: the same lines with and without libcarry,
 * in either epoll mode. */
Test(requests, bad_buffers_get_the_kernels_answer_on_every_fd_carry_watches)
{
    const char *argv[] = {carry_test_probe(), "badio", NULL};
    struct carry_run_result plain = carry_run_program(false, NULL, argv);
    cr_assert_eq(plain.status, 0, "%s", plain.err);
    cr_assert_eq(carry_count(plain.out, "\n"), 82, "%s", plain.out);
    cr_assert_neq(strstr(plain.out, "accepted-readv-null rc=-1 errno=Bad address\n"), NULL);
    cr_assert_neq(strstr(plain.out, "accepted-read-after rc=5 errno=0\n"), NULL);
    const char *split[] = {"CARRY_EPOLL=split", NULL};
    const char *const *envs[] = {NULL, split};
    for (int i = 0; i < 2; i++) {
        struct carry_run_result r = carry_run_program(true, envs[i], argv);
        cr_assert_eq(r.status, 0, "%s", r.err);
        cr_assert_str_eq(r.out, plain.out);
        carry_run_free(&r);
    }
    carry_run_free(&plain);
}

/* A connection closed inside libc, where carry sees no close (fclose of
 * the stream a server made of it, freopen, closefrom), after a request and
 * its reply: the file that then takes its number is only a file, whose
 * read keeps the program's own context instead of beginning a request of
 * the dead connection. */
Test(requests, a_connection_closed_inside_libc_leaves_its_number_free)
{
    const char *ways[] = {"fclose", "freopen", "closefrom"};
    for (size_t i = 0; i < sizeof ways / sizeof *ways; i++) {
        const char *argv[] = {carry_test_probe(), "streamclose", ways[i], NULL};
        struct carry_run_result r = carry_run_program(true, NULL, argv);
        cr_assert_eq(r.status, 0, "%s: %s%s", ways[i], r.out, r.err);
        char *conn_fd = carry_field(carry_line(r.out, "accepted"), "fd");
        char *file_fd = carry_field(carry_line(r.out, "mine"), "fd");
        cr_assert_str_eq(conn_fd, file_fd, "%s: the file reuses the number:\n%s", ways[i], r.out);
        uint64_t mine = carry_line_id(r.out, "mine");
        cr_assert(mine != 0 && mine != carry_line_id(r.out, "accepted"), "%s", r.out);
        cr_assert_eq(carry_line_id(r.out, "file-read"), mine, "%s:\n%s", ways[i], r.out);
        cr_assert_str_empty(r.err, "%s", ways[i]);
        free(conn_fd);
        free(file_fd);
        carry_run_free(&r);
    }
}

/* The probe's lines names[0..3) each name a request of its own (id=), all
 * requests of one connection (conn=). */
static void expect_three_requests(const char *out, const char *const names[3])
{
    char *conn = carry_field(carry_line(out, names[0]), "conn");
    cr_assert_eq(strlen(conn), 16, "a request of the connection:\n%s", out);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = carry_line_id(out, names[i]);
        char *parent = carry_field(carry_line(out, names[i]), "conn");
        cr_assert_str_eq(parent, conn, "%s", out);
        free(parent);
        for (int j = 0; j < i; j++)
            cr_assert_neq(ids[i], ids[j], "%s and %s are one request:\n%s", names[j], names[i],
                          out);
    }
    free(conn);
}

/* Requests answered with sendfile or splice, or read with splice, turn as
 * with write and read: the kernel's copies between fds are a connection's
 * I/O too, though carry sees none of their bytes. */
Test(requests, the_kernels_copies_between_fds_take_turns)
{
    const char *argv[] = {carry_test_probe(), "kernelcopy", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    expect_three_requests(r.out, (const char *const[]){"sendfile", "splice", "read"});
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}

/* The reads _FORTIFY_SOURCE makes (__read_chk, __recv_chk, __recvfrom_chk:
 * Debian builds its packages fortified) take turns as read and recv do;
 * one larger than its buffer is glibc's to refuse, as without carry. */
Test(requests, fortified_reads_take_turns)
{
    const char *argv[] = {carry_test_probe(), "fortified", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    expect_three_requests(r.out, (const char *const[]){"read_chk", "recv_chk", "recvfrom_chk"});
    carry_run_free(&r);

    const char *overflow[] = {carry_test_probe(), "fortified", "overflow", NULL};
    const char *no_report[] = {"CARRY_CRASH=0", NULL};
    struct carry_run_result plain = carry_run_program(false, NULL, overflow);
    struct carry_run_result under = carry_run_program(true, no_report, overflow);
    cr_assert_eq(under.status, plain.status, "%d vs %d", under.status, plain.status);
    cr_assert_not_null(strstr(plain.err, "buffer overflow detected"), "%s", plain.err);
    cr_assert_str_eq(under.err, plain.err);
    carry_run_free(&plain);
    carry_run_free(&under);
}

/* A read of no bytes returns 0 as an end of file does: in the middle of
 * a request (read, recv, readv, recvmsg of empty buffers) it keeps the
 * request; the real end of the file then makes the connection current. */
Test(requests, a_read_of_nothing_is_no_end_of_file)
{
    const char *argv[] = {carry_test_probe(), "zeroread", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    uint64_t request = carry_line_id(r.out, "request");
    cr_assert_neq(request, 0, "%s", r.out);
    cr_assert_eq(carry_line_id(r.out, "after-empty-reads"), request, "%s", r.out);
    uint64_t conn = carry_line_id(r.out, "after-eof");
    cr_assert(conn != 0 && conn != request, "the connection's own context:\n%s", r.out);
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}

/* A peek (MSG_PEEK, with recv, recvfrom or recvmsg) takes no bytes from
 * the stream: it begins no request and ends none, and the read that
 * follows begins the request and reads its HTTP head, traceparent and
 * all.  privoxy peeks at one byte of each request before it reads it. */
Test(requests, peeks_take_no_turn)
{
    const char *argv[] = {carry_test_probe(), "peek", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    uint64_t conn = carry_line_id(r.out, "accepted"), last = conn;
    cr_assert_neq(conn, 0, "%s", r.out);
    const char *const ways[] = {"recv", "recvfrom", "recvmsg"};
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-peeked", ways[i]);
        cr_assert_eq(carry_line_id(r.out, name), last, "the %s peek began a request:\n%s",
                     ways[i], r.out);
        snprintf(name, sizeof name, "%s-read", ways[i]);
        uint64_t request = carry_line_id(r.out, name);
        cr_assert(request != 0 && request != conn && request != last, "%s", r.out);
        char *read = carry_line(r.out, name);
        char *method = carry_field(read, "http.method"), *parent = carry_field(read, "traceparent");
        cr_assert_str_eq(method, "GET", "no head read after the %s peek:\n%s", ways[i], r.out);
        cr_assert_str_eq(parent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "no traceparent adopted after the %s peek:\n%s", ways[i], r.out);
        free(method);
        free(parent);
        free(read);
        last = request;
    }
    cr_assert_eq(carry_line_id(r.out, "end-peeked"), last, "a peek ended the request:\n%s",
                 r.out);
    cr_assert_eq(carry_line_id(r.out, "end-read"), conn, "%s", r.out);
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}
