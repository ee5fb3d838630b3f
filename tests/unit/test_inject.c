/* Rule W outgoing (inject.c): where the traceparent goes, and every way a
 * write can stop short. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "current.h"
#include "inject.h"

#define FD 40

/* A fake connection: writes append to sink; a call takes at most budget
 * bytes (SIZE_MAX: all), then budget becomes next; a budget of 0 fails
 * with EAGAIN, as a full non-blocking socket does. */
static char sink[1 << 16];
static size_t sink_len, budget, next;

static ssize_t fake_out(const void *call, int fd, const struct iovec *iov, int cnt)
{
    (void)call;
    cr_assert_eq(fd, FD);
    size_t take = budget;
    budget = next;
    if (take == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t n = 0;
    for (int i = 0; i < cnt && n < take; i++) {
        size_t len = iov[i].iov_len < take - n ? iov[i].iov_len : take - n;
        memcpy(sink + sink_len, iov[i].iov_base, len);
        sink_len += len;
        n += len;
    }
    return (ssize_t)n;
}

static carry_ctx *ctx;
static struct carry__fd *e;

/* FD is a connected stream about to begin a request, in a context of its
 * own. */
static void setup(void)
{
    sink_len = 0;
    budget = next = SIZE_MAX;
    e = carry__fd_ensure(FD);
    cr_assert_not_null(e);
    carry__fd_own(e, CARRY__FD_CONNECTED, NULL);
    atomic_store(&e->turn, CARRY__INJECT_NEXT);
    carry__inject_closed(FD);
    ctx = carry__ctx_new();
    carry__current_switch(ctx);
}

static void teardown(void)
{
    carry__current_switch(NULL);
    carry__ctx_unref(ctx);
    carry__fd_closed(FD);
}

TestSuite(inject, .init = setup, .fini = teardown);

/* The context's own "traceparent: ..." line. */
static void own_line(char out[71])
{
    char tp[56];
    carry__trace_format(tp, &ctx->trace);
    tp[55] = 0;
    snprintf(out, 71, "traceparent: %s\r\n", tp);
}

/* The bytes the program wrote, with line after the request line. */
static void expect_inserted(const char *program, const char *line)
{
    const char *eol = strchr(program, '\n') + 1;
    size_t before = (size_t)(eol - program);
    char want[4096];
    int n = snprintf(want, sizeof want, "%.*s%s%s", (int)before, program, line, eol);
    cr_assert_eq(sink_len, (size_t)n, "sent %zu bytes, want %d: %.*s", sink_len, n,
                 (int)sink_len, sink);
    cr_assert_eq(memcmp(sink, want, (size_t)n), 0, "sent %.*s", (int)sink_len, sink);
}

static void expect_sent(const char *want)
{
    cr_assert_eq(sink_len, strlen(want), "sent %.*s", (int)sink_len, sink);
    cr_assert_eq(memcmp(sink, want, sink_len), 0, "sent %.*s", (int)sink_len, sink);
}

/* The program writes n bytes of bytes from where its last write stopped,
 * as a program on a non-blocking socket does: again after EAGAIN, never
 * hearing of more than it wrote, never of 0. */
static void write_all(const char *bytes, size_t n, size_t piece)
{
    size_t off = 0;
    for (int calls = 0; off < n; calls++) {
        cr_assert_lt(calls, 1000);
        size_t len = n - off < piece ? n - off : piece;
        ssize_t r = carry__inject_writev(FD, &(struct iovec){(void *)(bytes + off), len}, 1, true,
                                         fake_out, NULL);
        if (r < 0) {
            cr_assert_eq(errno, EAGAIN);
            continue;
        }
        cr_assert_gt(r, 0);
        cr_assert_leq((size_t)r, len);
        off += (size_t)r;
    }
}

#define HEAD "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"

Test(inject, a_request_gets_the_line_after_its_request_line)
{
    char line[71];
    own_line(line);
    cr_assert_eq(carry__inject_writev(FD, &(struct iovec){HEAD, strlen(HEAD)}, 1, true, fake_out,
                                      NULL),
                 (ssize_t)strlen(HEAD));
    expect_inserted(HEAD, line);
    /* The rest of the request (a body) is not looked at. */
    sink_len = 0;
    cr_assert_eq(carry__inject_wants(e, ctx), false);
}

/* Every place the kernel can stop the first write, then the rest in one
 * go or byte by byte. */
Test(inject, a_partial_write_anywhere_keeps_the_stream_whole)
{
    char line[71];
    own_line(line);
    size_t n = strlen(HEAD);
    for (int slow = 0; slow < 2; slow++) {
        for (size_t cut = 0; cut <= n + 70; cut++) {
            sink_len = 0;
            atomic_store(&e->turn, CARRY__INJECT_NEXT);
            budget = cut;
            next = slow ? 3 : SIZE_MAX;
            write_all(HEAD, n, SIZE_MAX);
            expect_inserted(HEAD, line);
            cr_assert_eq(atomic_load(&e->turn) & CARRY__INJECT_WAITING, 0);
        }
    }
}

/* The program writes a byte at a time: the head is never whole in one
 * write, so it goes out untouched. */
Test(inject, a_head_split_across_writes_goes_untouched)
{
    write_all(HEAD, strlen(HEAD), 1);
    expect_sent(HEAD);
}

Test(inject, a_head_split_across_buffers_is_read_whole)
{
    char line[71];
    own_line(line);
    struct iovec v[] = {{"GET /b HT", 9}, {"TP/1.1\r\nHost: x\r\n", 17}, {"\r\n", 2}};
    cr_assert_eq(carry__inject_writev(FD, v, 3, true, fake_out, NULL), 28);
    expect_inserted("GET /b HTTP/1.1\r\nHost: x\r\n\r\n", line);
}

/* More buffers than one writev takes: several rounds. */
Test(inject, many_buffers)
{
    char line[71];
    own_line(line);
    static char text[] = "GET /many HTTP/1.1\r\nHost: x\r\n\r\n"
                         "0123456789012345678901234567890123456789012345678901234567890123456789";
    size_t n = strlen(text);
    struct iovec v[128];
    cr_assert_leq(n, 128);
    for (size_t i = 0; i < n; i++)
        v[i] = (struct iovec){text + i, 1};
    cr_assert_eq(carry__inject_writev(FD, v, (int)n, true, fake_out, NULL), (ssize_t)n);
    expect_inserted(text, line);
}

Test(inject, another_traces_header_stays)
{
    const char *h = "GET / HTTP/1.1\r\ntraceparent: "
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    cr_assert_eq(carry__inject_writev(FD, &(struct iovec){(void *)h, strlen(h)}, 1, true,
                                      fake_out, NULL),
                 (ssize_t)strlen(h));
    expect_sent(h);
}

Test(inject, a_malformed_header_stays)
{
    const char *h = "GET / HTTP/1.1\r\ntraceparent: nonsense\r\n\r\n";
    carry__inject_writev(FD, &(struct iovec){(void *)h, strlen(h)}, 1, true, fake_out, NULL);
    expect_sent(h);
}

/* A head that forwards the context's own traceparent (its trace, the
 * caller's span) gets the context's span-id in place, at every cut. */
Test(inject, the_own_trace_gets_the_span_as_parent_in_place)
{
    char tp[56], h[256], want[256];
    carry__trace_format(tp, &ctx->trace);
    tp[55] = 0;
    snprintf(want, sizeof want, "GET /p HTTP/1.1\r\nHost: x\r\ntraceparent: %s\r\n\r\n", tp);
    memcpy(tp + 36, "1111111111111111", 16);
    snprintf(h, sizeof h, "GET /p HTTP/1.1\r\nHost: x\r\ntraceparent: %s\r\n\r\n", tp);
    size_t n = strlen(h);
    for (size_t cut = 0; cut <= n; cut++) {
        sink_len = 0;
        atomic_store(&e->turn, CARRY__INJECT_NEXT);
        budget = cut;
        next = cut % 2 ? 5 : SIZE_MAX;
        write_all(h, n, SIZE_MAX);
        expect_sent(want);
    }
    /* One that names the context's span already needs nothing. */
    sink_len = 0;
    atomic_store(&e->turn, CARRY__INJECT_NEXT);
    write_all(want, n, SIZE_MAX);
    expect_sent(want);
}

Test(inject, no_context_no_header)
{
    carry__current_switch(NULL);
    cr_assert_eq(carry__inject_wants(e, NULL), false);
    carry__inject_writev(FD, &(struct iovec){HEAD, strlen(HEAD)}, 1, true, fake_out, NULL);
    expect_sent(HEAD);
}

/* A send whose flags forbid added bytes goes as it is. */
Test(inject, not_addable)
{
    carry__inject_writev(FD, &(struct iovec){HEAD, strlen(HEAD)}, 1, false, fake_out, NULL);
    expect_sent(HEAD);
}

/* Keep-alive: each request after a read gets one; a body that looks like
 * a request, written before any read, does not. */
Test(inject, turns)
{
    char line[71];
    own_line(line);
    const char *get = "GET / HTTP/1.1\r\nHost: y\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        sink_len = 0;
        write_all(get, strlen(get), SIZE_MAX);
        expect_inserted(get, line);
        sink_len = 0;
        write_all(get, strlen(get), SIZE_MAX);
        expect_sent(get);
        carry__inject_read(e);
    }
}

/* An error with nothing written is the program's, errno and all. */
Test(inject, errors_are_the_programs)
{
    budget = next = 0;
    errno = 0;
    cr_assert_eq(carry__inject_writev(FD, &(struct iovec){HEAD, strlen(HEAD)}, 1, true,
                                      fake_out, NULL),
                 -1);
    cr_assert_eq(errno, EAGAIN);
    cr_assert_eq(sink_len, 0);
    /* Still the request's first write. */
    cr_assert(atomic_load(&e->turn) & CARRY__INJECT_NEXT);
}
