/*
 * Rule W outgoing (CARRY_TRACE=inject): inject_client, under carry, writes
 * HTTP requests to a server in this process (not under carry), which
 * records every byte it receives; what arrives must be exactly the
 * client's bytes with one "traceparent: <the client's context>" line after
 * each request line (or its own trace's parent-id rewritten), and nothing
 * else.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../fixtures/inject_requests.h"
#include "run.h"

/* The recording server: one connection; answers each request as soon as
 * its head has arrived, and reads in small pieces, so that a client's
 * writes find its socket full. */
struct recorder {
    int listener, port;
    pthread_t thread;
    struct carry_text got;
};

static void *record(void *arg)
{
    struct recorder *r = arg;
    int fd = accept(r->listener, NULL, NULL);
    cr_assert_geq(fd, 0);
    size_t pos = 0, body = 0;
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        carry_text_add(&r->got, buf, (size_t)n);
        for (;;) {
            if (body > 0) {
                size_t take = r->got.len - pos < body ? r->got.len - pos : body;
                pos += take;
                body -= take;
                if (body > 0)
                    break;
            }
            char *end = strstr(r->got.s + pos, "\r\n\r\n");
            if (end == NULL)
                break;
            *end = 0;
            const char *cl = strcasestr(r->got.s + pos, "\r\ncontent-length: ");
            body = cl ? strtoul(cl + 18, NULL, 10) : 0;
            *end = '\r';
            pos = (size_t)(end + 4 - r->got.s);
            cr_assert_eq(write(fd, INJECT_RESPONSE, strlen(INJECT_RESPONSE)),
                         (ssize_t)strlen(INJECT_RESPONSE));
        }
    }
    close(fd);
    return NULL;
}

static void recorder_start(struct recorder *r)
{
    *r = (struct recorder){0};
    r->listener = carry_listen(4, &r->port);
    cr_assert_eq(pthread_create(&r->thread, NULL, record, r), 0);
}

/* What the client printed and what the server received. */
struct run {
    char tp[56], id[17];
    size_t wrote, partial, eagain;
    char *got;
    size_t got_len;
};

static struct run run_client(const char *mode, const char *trace)
{
    struct recorder rec;
    recorder_start(&rec);
    char port[16];
    snprintf(port, sizeof port, "%d", rec.port);
    const char *env[] = {trace, NULL};
    const char *argv[] = {carry_test_fixture("inject_client"), mode, port, NULL};
    struct carry_run_result r = carry_run_program(true, trace ? env : NULL, argv);
    cr_assert_eq(r.status, 0, "inject_client %s: %s%s", mode, r.out, r.err);
    pthread_join(rec.thread, NULL);
    close(rec.listener);
    struct run out = {.got = rec.got.s ? rec.got.s : strdup(""), .got_len = rec.got.len};
    cr_assert_eq(sscanf(r.out, "ctx tp=%55s id=%16s\nwrote %zu partial %zu eagain %zu", out.tp,
                        out.id, &out.wrote, &out.partial, &out.eagain),
                 5, "%s", r.out);
    carry_run_free(&r);
    return out;
}

#define INJECT "CARRY_TRACE=inject"

/* "traceparent: <tp>\r\n". */
static char *line_of(const struct run *r)
{
    char *line;
    cr_assert(asprintf(&line, "traceparent: %s\r\n", r->tp) > 0);
    return line;
}

/* program with line after the request line of each request that starts at
 * one of the offsets at[0..n). */
static char *inserted(const char *program, const char *line, const size_t *at, size_t n)
{
    struct carry_text t = {0};
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eol = strchr(program + at[i], '\n') + 1;
        carry_text_add(&t, program + from, (size_t)(eol - (program + from)));
        carry_text_add(&t, line, strlen(line));
        from = (size_t)(eol - program);
    }
    carry_text_add(&t, program + from, strlen(program + from));
    return t.s;
}

static void expect_got(const struct run *r, const char *want)
{
    cr_assert_eq(r->got_len, strlen(want), "received %zu bytes, want %zu:\n%s", r->got_len,
                 strlen(want), r->got);
    cr_assert_str_eq(r->got, want);
}

/* Runs inject_client in mode under trace: the program must hear of
 * exactly program's bytes, and the server receive them with the client's
 * traceparent line after the request line of each request that starts at
 * one of the offsets at[0..n) (none when n is 0).  Returns the run, its
 * received bytes freed. */
static struct run expect_lines(const char *mode, const char *trace, const char *program,
                               const size_t *at, size_t n)
{
    struct run r = run_client(mode, trace);
    cr_assert_eq(r.wrote, strlen(program), "the program hears of its own bytes");
    char *line = line_of(&r), *want = inserted(program, line, at, n);
    expect_got(&r, want);
    free(want);
    free(line);
    free(r.got);
    r.got = NULL;
    return r;
}

static void check_post(const char *trace, bool injected)
{
    struct run r = expect_lines("post", trace, INJECT_POST, (size_t[]){0}, injected ? 1 : 0);
    /* The header names the client's context: its trace, its span. */
    cr_assert_eq(strncmp(r.tp + 36, r.id, 16), 0, "%s %s", r.tp, r.id);
}

TestSuite(inject, .timeout = 60);

/* (1) One write: the line after the request line, the body untouched. */
Test(inject, a_request_in_one_write_gets_the_contexts_traceparent)
{
    check_post(INJECT, true);
}

/* (6) adopt (the default) and off put nothing in. */
Test(inject, adopt_and_off_inject_nothing)
{
    check_post(NULL, false);
    check_post("CARRY_TRACE=adopt", false);
    check_post("CARRY_TRACE=off", false);
}

/* (2) writev with the request line cut between buffers. */
Test(inject, a_head_across_buffers_of_one_writev)
{
    expect_lines("split", INJECT, INJECT_SPLIT_1 INJECT_SPLIT_2 INJECT_SPLIT_3, (size_t[]){0}, 1);
}

/* (3) Another trace's traceparent stays as the program wrote it. */
Test(inject, another_traces_header_is_left_alone)
{
    struct run r = run_client("foreign", INJECT);
    expect_got(&r, INJECT_FOREIGN);
    free(r.got);
}

/* (3) The client's own trace (a forwarded header): the parent-id becomes
 * the client's span-id, in place (sent with send and MSG_NOSIGNAL). */
Test(inject, the_own_trace_gets_the_contexts_span_as_parent)
{
    struct run r = run_client("own", INJECT);
    char sent[56], head[256], want[256];
    memcpy(sent, r.tp, sizeof sent);
    memcpy(sent + 36, INJECT_OWN_PARENT, 16);
    snprintf(head, sizeof head, INJECT_OWN, sent);
    snprintf(want, sizeof want, INJECT_OWN, r.tp);
    cr_assert_eq(r.wrote, strlen(head));
    expect_got(&r, want);
    free(r.got);
}

/* (4) Keep-alive: each request after a response gets its line; a POST's
 * body that is a request head, written before any read, does not. */
Test(inject, keepalive_requests_each_get_one_and_bodies_none)
{
    size_t get = strlen(INJECT_GET);
    expect_lines("keepalive", INJECT, INJECT_GET INJECT_GET INJECT_POST_HEAD INJECT_POST_BODY,
                 (size_t[]){0, get, 2 * get}, 3);
}

/* (5) A small send buffer and a non-blocking socket: the kernel takes
 * part of the writes, often none at a request's start (the server is
 * still reading the last body); what arrives is still exactly the
 * program's bytes and one line per request, and its counts add up to its
 * own bytes. */
Test(inject, partial_writes_keep_the_stream_and_the_counts)
{
    struct run r = run_client("partial", INJECT);
    size_t head = strlen(INJECT_PARTIAL_HEAD), one = head + INJECT_BODY;
    cr_assert_eq(r.wrote, INJECT_PARTIAL_REQUESTS * one);
    cr_log_info("partial writes %zu, EAGAIN %zu", r.partial, r.eagain);
    cr_assert_gt(r.partial + r.eagain, 0, "the kernel took every write whole");
    char *line = line_of(&r);
    size_t first = strchr(INJECT_PARTIAL_HEAD, '\n') + 1 - INJECT_PARTIAL_HEAD;
    cr_assert_eq(r.got_len, INJECT_PARTIAL_REQUESTS * (one + strlen(line)));
    for (size_t i = 0; i < INJECT_PARTIAL_REQUESTS; i++) {
        const char *req = r.got + i * (one + strlen(line));
        cr_assert_eq(memcmp(req, INJECT_PARTIAL_HEAD, first), 0, "request %zu", i);
        cr_assert_eq(memcmp(req + first, line, strlen(line)), 0, "request %zu", i);
        const char *rest = req + first + strlen(line);
        cr_assert_eq(memcmp(rest, &INJECT_PARTIAL_HEAD[first], head - first), 0, "request %zu", i);
        for (size_t b = 0; b < INJECT_BODY; b++)
            if (rest[head - first + b] != inject_body_byte(b))
                cr_assert_fail("request %zu: body byte %zu", i, b);
    }
    free(line);
    free(r.got);
}

/* (7) No context current: nothing to name. */
Test(inject, no_context_no_header)
{
    struct run r = run_client("none", INJECT);
    cr_assert_str_eq(r.tp, "none");
    expect_got(&r, INJECT_POST);
    free(r.got);
}

/* (8) A server's writes on connections it accepted are never touched,
 * even when they look like a request. */
Test(inject, accepted_connections_get_nothing)
{
    const char *env[] = {INJECT, NULL};
    const char *argv[] = {carry_test_fixture("inject_client"), "server", NULL};
    struct carry_server s = carry_server_start(true, env, argv);
    char *got = carry_exchange(s.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    free(carry_server_stop(&s));
    cr_assert_str_eq(got, INJECT_REPLY);
    free(got);
}
