/*
 * Fuzz target: rule W's outgoing traceparent (inject.h), which rewrites
 * the bytes a program sends.  The input is a request (any bytes), how the
 * program's buffers split it, and how much of each write the connection
 * takes (none: EAGAIN).  The program writes until all its bytes are out,
 * as a program on a non-blocking socket does; the connection must then
 * have received exactly the program's bytes with carry's line after the
 * request line, or its own traceparent's parent-id rewritten, or nothing
 * changed, as inject.h says for that head; and each write must have told
 * the program of its own bytes only, never of 0.
 */
#include <errno.h>
#include <string.h>

#include "current.h"
#include "fuzz.h"
#include "http.h"
#include "inject.h"
#include "trace.h"

#define FD 40
#define CUTS 3
#define BUDGETS 5
#define CONTROL (1 + 2 * CUTS + BUDGETS)
#define GATHER 4096 /* inject.h: a head spread over buffers is looked for in its first 4 KiB */

/* The context's trace: fixed, so that inputs can name it. */
static const char own_traceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

static carry_ctx *ctx;
static struct carry__fd *e;

static struct fuzz_peer peer;

/* The connection: the peer's budgets, then everything. */
static ssize_t connection(const void *call, int fd, const struct iovec *iov, int cnt)
{
    (void)call;
    FUZZ_CHECK(fd == FD, "a write on fd %d", fd);
    return fuzz_peer_take(&peer, iov, cnt);
}

static void setup_once(void)
{
    e = carry__fd_ensure(FD);
    FUZZ_CHECK(e != NULL, "out of memory");
    carry__fd_own(e, CARRY__FD_CONNECTED, NULL);
    ctx = carry__ctx_new();
    FUZZ_CHECK(ctx != NULL, "out of memory");
    carry__trace_adopt(&ctx->trace, own_traceparent);
    carry__trace_put_be64(ctx->trace.span_id, ctx->trace.parent_span);
    carry__current_switch(ctx);
}

/* What the connection must receive for msg[0..len), whose first write's
 * buffers begin with one of first bytes. */
static size_t expected(const char *msg, size_t len, size_t first, char *out)
{
    const char *view = msg;
    size_t view_len = first < len && first < GATHER ? (len < GATHER ? len : GATHER) : first;
    struct carry__http_head h;
    char own[CARRY__TRACEPARENT_TEXT];
    carry__trace_format(own, &ctx->trace);
    memcpy(out, msg, len);
    if (!carry__http_head_read(view, view_len, &h) || h.head_len == 0 || h.traceparent_rejected)
        return len;
    if (h.traceparent != NULL) {
        /* Another trace's, or one naming this span already: untouched. */
        if (memcmp(h.traceparent + 3, own + 3, 32) != 0 ||
            memcmp(h.traceparent + 36, own + 36, 16) == 0)
            return len;
        memcpy(out + (h.traceparent - view) + 36, own + 36, 16);
        return len;
    }
    size_t at = h.line_len, n = 0;
    memcpy(out, msg, at);
    n = at;
    memcpy(out + n, "traceparent: ", 13);
    n += 13;
    memcpy(out + n, own, CARRY__TRACEPARENT_TEXT);
    n += CARRY__TRACEPARENT_TEXT;
    memcpy(out + n, "\r\n", 2);
    n += 2;
    memcpy(out + n, msg + at, len - at);
    return n + len - at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ctx == NULL)
        setup_once();
    if (size <= CONTROL)
        return 0;
    const uint8_t *control = data;
    char *msg = fuzz_exact_copy(data + CONTROL, size - CONTROL);
    size_t len = size - CONTROL;
    /* Cut points, sorted: the program's buffers end there, whichever
     * write they belong to. */
    size_t cuts[CUTS + 1];
    int ncuts = control[0] % (CUTS + 1);
    for (int i = 0; i < ncuts; i++)
        cuts[i] = (size_t)(control[1 + 2 * i] | control[2 + 2 * i] << 8) % (len + 1);
    for (int i = 1; i < ncuts; i++)
        for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    cuts[ncuts] = len;
    peer = (struct fuzz_peer){malloc(len + 128), 0, control + 1 + 2 * CUTS, BUDGETS};
    FUZZ_CHECK(peer.bytes != NULL, "out of memory");
    atomic_store(&e->turn, CARRY__INJECT_NEXT);

    /* The first write's first non-empty buffer. */
    size_t first = 0;
    for (int i = 0; i <= ncuts && first == 0; i++)
        first = cuts[i] - (i > 0 ? cuts[i - 1] : 0);
    char *want = malloc(len + 128);
    FUZZ_CHECK(want != NULL, "out of memory");
    size_t want_len = expected(msg, len, first, want);

    size_t off = 0;
    for (int calls = 0; off < len; calls++) {
        FUZZ_CHECK(calls < 2 * BUDGETS + 4, "the program never got its bytes out");
        struct iovec iov[CUTS + 1];
        int cnt = 0;
        /* The buffers of what is left, empty ones included. */
        for (int i = 0; i <= ncuts; i++) {
            size_t from = i > 0 ? cuts[i - 1] : 0, a = from > off ? from : off;
            if (cuts[i] >= a)
                iov[cnt++] = (struct iovec){msg + a, cuts[i] - a};
        }
        ssize_t r = carry__inject_writev(FD, iov, cnt, true, connection, NULL);
        if (r < 0) {
            FUZZ_CHECK(errno == EAGAIN, "errno %d, where the connection said EAGAIN", errno);
            continue;
        }
        FUZZ_CHECK(r > 0 && (size_t)r <= len - off, "told of %zd bytes with %zu to go", r,
                   len - off);
        off += (size_t)r;
    }
    FUZZ_CHECK(!(atomic_load(&e->turn) & CARRY__INJECT_WAITING),
               "carry's bytes still wait after the program's last");
    FUZZ_CHECK(peer.len == want_len && memcmp(peer.bytes, want, want_len) == 0,
               "sent %zu bytes, want %zu: %.*s", peer.len, want_len, (int)peer.len, peer.bytes);
    carry__inject_closed(FD);
    free(want);
    free(peer.bytes);
    free(msg);
    return 0;
}
