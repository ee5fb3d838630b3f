/* HTTP/1.x request heads and W3C traceparents (http.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"

/* The spec's examples (W3C Trace Context, §3.2.3, and its test suite). */
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TP_SUITE "00-12345678901234567890123456789012-1234567890123456-01"
#define TP_FUTURE "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"

/* Bytes with an explicit length: some hold a NUL. */
struct bytes {
    const char *s;
    size_t len;
};
#define B(lit) {lit, sizeof lit - 1}

/* s[0..n) is want; want NULL: s is NULL.  A traceparent may go on past its
 * first 55 bytes, so only want's length is compared for it. */
static void expect_text(const char *what, const char *s, size_t n, const char *want, const char *in)
{
    if (!want) {
        cr_assert_null(s, "%s in %s", what, in);
        return;
    }
    cr_assert_not_null(s, "%s in %s", what, in);
    cr_assert_eq(n, strlen(want), "%s in %s: %zu bytes", what, in, n);
    cr_assert_eq(memcmp(s, want, n), 0, "%s in %s: %.*s", what, in, (int)n, s);
}

static struct carry__http_head read_head(const char *bytes, size_t len)
{
    struct carry__http_head h;
    cr_assert(carry__http_head_read(bytes, len, &h), "not a head: %.*s", (int)len, bytes);
    return h;
}

struct head_case {
    const char *bytes;
    const char *method, *target, *traceparent, *request_id;
    bool rejected;
};

static void check_heads(const struct head_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct head_case *c = &cases[i];
        struct carry__http_head h = read_head(c->bytes, strlen(c->bytes));
        expect_text("method", h.method, h.method_len, c->method, c->bytes);
        expect_text("target", h.target, h.target_len, c->target, c->bytes);
        expect_text("traceparent", h.traceparent,
                    c->traceparent ? strlen(c->traceparent) : 0, c->traceparent, c->bytes);
        expect_text("x-request-id", h.request_id, h.request_id_len, c->request_id, c->bytes);
        cr_assert_eq(h.traceparent_rejected, c->rejected, "rejected in %s", c->bytes);
        /* Pointers into the bytes given, not copies. */
        cr_assert_eq(h.method, c->bytes, "%s", c->bytes);
    }
}

Test(http, heads_are_read)
{
    static const struct head_case cases[] = {
        {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/", NULL, NULL, false},
        {"POST /submit?a=1&b=2 HTTP/1.0\n\n", "POST", "/submit?a=1&b=2", NULL, NULL, false},
        {"GET /only-the-line HTTP/1.1\r\n", "GET", "/only-the-line", NULL, NULL, false},
        {"GET /x HTTP/1.1\r\ntraceparent: " TP "\r\nx-request-id: abc-123\r\n\r\n", "GET", "/x", TP,
         "abc-123", false},
        {"PUT /y HTTP/1.0\nTraceParent: " TP "\nX-Request-ID: r1\n\n", "PUT", "/y", TP, "r1", false},
        {"DELETE * HTTP/1.1\r\nTRACEPARENT:" TP "\r\nX-REQUEST-ID:Q\r\n\r\n", "DELETE", "*", TP, "Q",
         false},
        {"GET / HTTP/1.1\r\nTrAcEpArEnT: " TP_SUITE "\r\nx-ReQuEsT-iD: m\r\n\r\n", "GET", "/", TP_SUITE,
         "m", false},
        {"GET / HTTP/1.1\r\ntraceparent: \t " TP " \t\r\nx-request-id:\t id-7 \t\r\n\r\n", "GET", "/", TP,
         "id-7", false},
        {"GET / HTTP/1.1\r\nHost: a\ntraceparent: " TP "\r\n\n", "GET", "/", TP, NULL, false},
        {"GET / HTTP/1.1\r\ntraceparent: " TP_FUTURE "\r\n\r\n", "GET", "/", TP_FUTURE, NULL, false},
        {"ABCDEFGHIJKLMNOPQRST http://h/p HTTP/1.1\r\n\r\n", "ABCDEFGHIJKLMNOPQRST", "http://h/p", NULL,
         NULL, false},
        /* Names that only look alike, and a line that is no field. */
        {"GET / HTTP/1.1\r\ntrace-parent: " TP "\r\ntraceparents: " TP "\r\ntraceparent : " TP
         "\r\nx-request-ids: a\r\nnocolon\r\n\r\n",
         "GET", "/", NULL, NULL, false},
        {"GET / HTTP/1.1\r\nnocolon\r\n: empty name\r\ntraceparent: " TP "\r\n\r\n", "GET", "/", TP, NULL,
         false},
        /* obs-fold lines are ignored, whatever they look like. */
        {"GET / HTTP/1.1\r\nX-A: 1\r\n traceparent: " TP "\r\n\tx-request-id: f\r\n\r\n", "GET", "/", NULL,
         NULL, false},
    };
    check_heads(cases, CARRY__COUNT(cases));
}

Test(http, malformed_or_repeated_traceparents_are_rejected)
{
    static const struct head_case cases[] = {
        {"GET / HTTP/1.1\r\ntraceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\r\n\r\n",
         "GET", "/", NULL, NULL, true},
        {"GET / HTTP/1.1\r\ntraceparent:\r\n\r\n", "GET", "/", NULL, NULL, true},
        {"GET / HTTP/1.1\r\ntraceparent: " TP " x\r\n\r\n", "GET", "/", NULL, NULL, true},
        {"GET / HTTP/1.1\r\ntraceparent: " TP "\r\ntraceparent: " TP "\r\n\r\n", "GET", "/", NULL, NULL,
         true},
        {"GET / HTTP/1.1\r\ntraceparent: " TP "\r\nTraceparent: bad\r\n\r\n", "GET", "/", NULL, NULL,
         true},
        {"GET / HTTP/1.1\r\ntraceparent: bad\r\ntraceparent: " TP "\r\n\r\n", "GET", "/", NULL, NULL,
         true},
        {"GET / HTTP/1.1\r\ntraceparent: " TP "\r\nx: y\r\ntraceparent: " TP_SUITE "\r\n\r\n", "GET", "/",
         NULL, NULL, true},
    };
    check_heads(cases, CARRY__COUNT(cases));
}

Test(http, request_ids_are_taken_when_short_and_visible)
{
    static const struct head_case cases[] = {
        {"GET / HTTP/1.1\r\nx-request-id: a b\r\n\r\n", "GET", "/", NULL, NULL, false},
        {"GET / HTTP/1.1\r\nx-request-id: caf\xc3\xa9\r\n\r\n", "GET", "/", NULL, NULL, false},
        {"GET / HTTP/1.1\r\nx-request-id: \t \r\n\r\n", "GET", "/", NULL, NULL, false},
        {"GET / HTTP/1.1\r\nx-request-id: first\r\nx-request-id: second\r\n\r\n", "GET", "/", NULL,
         "first", false},
        {"GET / HTTP/1.1\r\nx-request-id: no good\r\nx-request-id: good\r\n\r\n", "GET", "/", NULL, "good",
         false},
    };
    check_heads(cases, CARRY__COUNT(cases));

    char id[CARRY__HTTP_REQUEST_ID_MAX + 2], head[400];
    for (size_t n = CARRY__HTTP_REQUEST_ID_MAX; n <= CARRY__HTTP_REQUEST_ID_MAX + 1; n++) {
        memset(id, 'r', n);
        id[n] = '\0';
        int len = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nx-request-id: %s\r\n\r\n", id);
        struct carry__http_head h = read_head(head, (size_t)len);
        expect_text("x-request-id", h.request_id, h.request_id_len,
                    n <= CARRY__HTTP_REQUEST_ID_MAX ? id : NULL, head);
    }
}

Test(http, bytes_after_the_head_are_not_looked_at)
{
    static const struct head_case cases[] = {
        {"POST /p HTTP/1.1\r\nContent-Length: 74\r\n\r\ntraceparent: " TP "\r\nx-request-id: body\r\n",
         "POST", "/p", NULL, NULL, false},
        {"GET /a HTTP/1.1\n\nGET /b HTTP/1.1\ntraceparent: " TP "\n\n", "GET", "/a", NULL, NULL, false},
        {"GET /a HTTP/1.1\r\n\r\ntraceparent: bad\r\n", "GET", "/a", NULL, NULL, false},
    };
    check_heads(cases, CARRY__COUNT(cases));
}

Test(http, other_protocols_and_malformed_request_lines_are_not_heads)
{
    static const struct bytes cases[] = {
        B(""),
        B("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        B("PING\r\n"),
        B("SET k v\r\n"),
        B("get k\r\n"),
        B("set k 0 0 1\r\nx\r\n"),
        B("\x80\x00\x00\x01\x00\x00\x00\x00"),
        B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        B("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        B("get / HTTP/1.1\r\n\r\n"),
        B("Get / HTTP/1.1\r\n\r\n"),
        B("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n\r\n"),
        B(" GET / HTTP/1.1\r\n\r\n"),
        B("GET\t/ HTTP/1.1\r\n\r\n"),
        B("GET  / HTTP/1.1\r\n\r\n"),
        B("GET /\x01 HTTP/1.1\r\n\r\n"),
        B("GET /\0 HTTP/1.1\r\n\r\n"),
        B("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"),
        B("GET /a b HTTP/1.1\r\n\r\n"),
        B("GET / http/1.1\r\n\r\n"),
        B("GET / HTTP/1.2\r\n\r\n"),
        B("GET / HTTP/2\r\n\r\n"),
        B("GET / HTTP/1.1 \r\n\r\n"),
        B("GET / HTTP/1.1\r\r\n"),
        B("GET / HTTP/1.1"),
        B("GET / HTTP/1.1\r"),
        B("GET /"),
    };
    for (size_t i = 0; i < CARRY__COUNT(cases); i++) {
        struct carry__http_head h;
        cr_assert_not(carry__http_head_read(cases[i].s, cases[i].len, &h), "case %zu: %.*s", i,
                      (int)cases[i].len, cases[i].s);
    }
}

/* A head cut at every length, with the rest of its bytes after the cut
 * (readable, so they must be ignored) and against an unreadable page (so a
 * read past the length faults). */
Test(http, cut_heads_yield_their_complete_lines)
{
    static const char full[] = "GET /cut HTTP/1.1\r\nx-request-id: r-9\r\ntraceparent: " TP_FUTURE
                               "\r\n\r\nbody";
    const size_t line_end = strlen("GET /cut HTTP/1.1\r\n");
    const size_t id_end = line_end + strlen("x-request-id: r-9\r\n");
    const size_t tp_end = id_end + strlen("traceparent: " TP_FUTURE "\r\n");
    long page = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
    for (size_t len = 0; len < sizeof full; len++) {
        char *edge = map + page - len;
        memcpy(edge, full, len);
        const char *where[] = {full, edge};
        for (size_t w = 0; w < 2; w++) {
            struct carry__http_head h;
            bool ok = carry__http_head_read(where[w], len, &h);
            cr_assert_eq(ok, len >= line_end, "len %zu", len);
            if (!ok)
                continue;
            expect_text("target", h.target, h.target_len, "/cut", full);
            expect_text("x-request-id", h.request_id, h.request_id_len, len >= id_end ? "r-9" : NULL,
                        full);
            expect_text("traceparent", h.traceparent, len >= tp_end ? strlen(TP_FUTURE) : 0,
                        len >= tp_end ? TP_FUTURE : NULL, full);
            cr_assert_not(h.traceparent_rejected, "len %zu", len);
        }
    }
    /* A traceparent ending at the page: nothing after it is looked at. */
    static const char *const tps[] = {TP, "cc-12345678901234567890123456789012-1234567890123456-01"};
    for (size_t i = 0; i < CARRY__COUNT(tps); i++) {
        char *edge = map + page - CARRY__TRACEPARENT_LEN;
        memcpy(edge, tps[i], CARRY__TRACEPARENT_LEN);
        cr_assert(carry__traceparent_valid(edge, CARRY__TRACEPARENT_LEN), "%s", tps[i]);
        cr_assert_not(carry__traceparent_valid(edge + 1, CARRY__TRACEPARENT_LEN - 1), "%s", tps[i]);
    }
    munmap(map, (size_t)page * 2);
}

Test(http, targets_are_bounded)
{
    static char head[CARRY__HTTP_TARGET_MAX + 64];
    for (size_t n = CARRY__HTTP_TARGET_MAX; n <= CARRY__HTTP_TARGET_MAX + 1; n++) {
        memcpy(head, "GET /", 5);
        memset(head + 5, 'a', n - 1);
        size_t len = 4 + n;
        memcpy(head + len, " HTTP/1.1\r\n\r\n", 13);
        len += 13;
        struct carry__http_head h;
        bool ok = carry__http_head_read(head, len, &h);
        cr_assert_eq(ok, n <= CARRY__HTTP_TARGET_MAX, "target of %zu bytes", n);
        if (ok)
            cr_assert_eq(h.target_len, n);
    }
}

/* A target is checked eight bytes at a time: any byte that is not
 * visible ASCII ends it wherever it falls in a word, and every visible
 * one, the extremes included, belongs to it. */
Test(http, targets_end_at_their_first_invisible_byte)
{
    static const unsigned char bad[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20, 0x7f, 0x80, 0xa0, 0xff};
    char head[128];
    for (size_t n = 1; n <= 40; n++) {
        memcpy(head, "GET ", 4);
        for (size_t k = 0; k < n; k++)
            head[4 + k] = (char)(k % 3 == 0 ? '!' : k % 3 == 1 ? '~' : 'a' + (char)(k % 26));
        memcpy(head + 4 + n, " HTTP/1.1\r\n\r\n", 13);
        size_t len = 4 + n + 13;
        struct carry__http_head h;
        cr_assert(carry__http_head_read(head, len, &h), "visible target of %zu bytes", n);
        cr_assert_eq(h.target_len, n);
        for (size_t at = 0; at < n; at++)
            for (size_t b = 0; b < sizeof bad; b++) {
                char saved = head[4 + at];
                head[4 + at] = (char)bad[b];
                cr_assert_not(carry__http_head_read(head, len, &h),
                              "byte %#x at %zu of a %zu-byte target", bad[b], at, n);
                head[4 + at] = saved;
            }
    }
}

/* Methods are read eight letters at a time: every length up to the
 * bound, 'A' to 'Z' in every position, and a byte just outside them at
 * every position (one lowercase letter, '@', '[', a control, a high byte)
 * ends the method there, which then is no method. */
Test(http, methods_are_capital_letters_up_to_their_bound)
{
    static const unsigned char bad[] = {'a', 'z', '@', '[', 0x00, 0x09, 0x7f, 0xc1};
    char head[64];
    for (size_t n = 1; n <= CARRY__HTTP_METHOD_MAX + 1; n++) {
        for (size_t k = 0; k < n; k++)
            head[k] = (char)('A' + (k * 7 + n) % 26);
        memcpy(head + n, " / HTTP/1.1\r\n\r\n", 15);
        size_t len = n + 15;
        struct carry__http_head h;
        if (n > CARRY__HTTP_METHOD_MAX) {
            cr_assert_not(carry__http_head_read(head, len, &h), "a %zu-letter method", n);
            continue;
        }
        cr_assert(carry__http_head_read(head, len, &h), "a %zu-letter method", n);
        cr_assert_eq(h.method_len, n);
        for (size_t at = 0; at < n; at++)
            for (size_t b = 0; b < sizeof bad; b++) {
                char saved = head[at];
                head[at] = (char)bad[b];
                cr_assert_not(carry__http_head_read(head, len, &h),
                              "byte %#x at %zu of a %zu-letter method", bad[b], at, n);
                head[at] = saved;
            }
    }
}

/* Header lines are told apart by their first byte first: names that
 * share it, in either case, still match only themselves. */
Test(http, header_names_sharing_a_first_letter)
{
    static const char head[] = "GET / HTTP/1.1\r\n"
                               "Tracestate: a=b\r\n"
                               "X-Request: no\r\n"
                               "X-REQUEST-ID: abc\r\n"
                               "TRACEPARENT: " TP "\r\n\r\n";
    struct carry__http_head h = read_head(head, sizeof head - 1);
    expect_text("x-request-id", h.request_id, h.request_id_len, "abc", head);
    expect_text("traceparent", h.traceparent, strlen(TP), TP, head);
}

static char buf[2 * CARRY__HTTP_HEAD_MAX];

/* In buf: a traceparent after `fillers` header lines of `pad` bytes each. */
static size_t head_with_fillers(unsigned fillers, size_t pad)
{
    static const char line[] = "GET / HTTP/1.1\r\n", tail[] = "traceparent: " TP "\r\n\r\n";
    cr_assert_leq(sizeof line + fillers * (7 + pad) + sizeof tail, sizeof buf);
    size_t len = sizeof line - 1;
    memcpy(buf, line, len);
    for (unsigned i = 0; i < fillers; i++) {
        memcpy(buf + len, "X-F: ", 5);
        for (size_t p = 0; p < pad; p++)
            buf[len + 5 + p] = 'p';
        memcpy(buf + len + 5 + pad, "\r\n", 2);
        len += 7 + pad;
    }
    memcpy(buf + len, tail, sizeof tail - 1);
    return len + sizeof tail - 1;
}

Test(http, header_lines_are_bounded)
{
    /* The traceparent as the 64th header line, then the 65th. */
    for (unsigned fillers = CARRY__HTTP_HEADERS_MAX - 1; fillers <= CARRY__HTTP_HEADERS_MAX; fillers++) {
        struct carry__http_head h = read_head(buf, head_with_fillers(fillers, 1));
        bool taken = fillers < CARRY__HTTP_HEADERS_MAX;
        cr_assert_eq(h.traceparent != NULL, taken, "after %u lines", fillers);
    }
    /* The traceparent line's LF as the last byte of the first 16 KiB, then
     * one byte further. */
    const size_t tail = strlen("traceparent: " TP "\r\n");
    const size_t pad = CARRY__HTTP_HEAD_MAX - 16 - 7 - tail;
    for (size_t extra = 0; extra <= 1; extra++) {
        struct carry__http_head h = read_head(buf, head_with_fillers(1, pad + extra));
        cr_assert_eq(buf[CARRY__HTTP_HEAD_MAX - 1 + extra], '\n');
        cr_assert_eq(h.traceparent != NULL, extra == 0, "%zu bytes past", extra);
    }
}

Test(http, traceparents_follow_the_w3c_rules)
{
    static const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {TP, true},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
        {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true},
        {"00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-ff", true},
        {TP_SUITE, true},
        {"cc-12345678901234567890123456789012-1234567890123456-01", true},
        {TP_FUTURE, true},
        {"01-12345678901234567890123456789012-1234567890123456-09-", true},
        {"fe-12345678901234567890123456789012-1234567890123456-01", true},
        {"", false},
        {"00", false},
        {"00-00000000000000000000000000000000-1234567890123456-01", false},
        {"00-12345678901234567890123456789012-0000000000000000-01", false},
        {"ff-12345678901234567890123456789012-1234567890123456-01", false},
        {".0-12345678901234567890123456789012-1234567890123456-01", false},
        {"0.-12345678901234567890123456789012-1234567890123456-01", false},
        {"000-12345678901234567890123456789012-1234567890123456-01", false},
        {"0000-12345678901234567890123456789012-1234567890123456-01", false},
        {"0-12345678901234567890123456789012-1234567890123456-01", false},
        {"00-.2345678901234567890123456789012-1234567890123456-01", false},
        {"00-1234567890123456789012345678901.-1234567890123456-01", false},
        {"00-123456789012345678901234567890123-1234567890123456-01", false},
        {"00-1234567890123456789012345678901-1234567890123456-01", false},
        {"00-12345678901234567890123456789012-.234567890123456-01", false},
        {"00-12345678901234567890123456789012-123456789012345.-01", false},
        {"00-12345678901234567890123456789012-12345678901234567-01", false},
        {"00-12345678901234567890123456789012-123456789012345-01", false},
        {"00-12345678901234567890123456789012-1234567890123456-.0", false},
        {"00-12345678901234567890123456789012-1234567890123456-0.", false},
        {"00-12345678901234567890123456789012-1234567890123456-001", false},
        {"00-12345678901234567890123456789012-1234567890123456-1", false},
        {"00-12345678901234567890123456789012-1234567890123456-01.", false},
        {"00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", false},
        {"cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like", false},
        {"cc-12345678901234567890123456789012-1234567890123456-0", false},
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", false},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", false},
        {"0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
        {"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", false},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", false},
        {" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
    };
    for (size_t i = 0; i < CARRY__COUNT(cases); i++)
        cr_assert_eq(carry__traceparent_valid(cases[i].text, strlen(cases[i].text)), cases[i].valid,
                     "%s", cases[i].text);
    /* The length given is the text's, whatever follows it. */
    cr_assert_not(carry__traceparent_valid(TP, CARRY__TRACEPARENT_LEN - 1));
    cr_assert(carry__traceparent_valid(TP "-and-more", CARRY__TRACEPARENT_LEN));
}
